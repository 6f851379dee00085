//! KMS readiness of a Start (issue 21): the KMS adapter's answers for each
//! kind of key (aws-smithy-mocks: moto cannot refuse DescribeKey), the
//! volumes' keys from DescribeVolumes, and the key check through the ports
//! against the in-memory cloud.

use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kms::types::{KeyManagerType, KeyMetadata, KeyState};
use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode};
use aws_smithy_types::error::ErrorMetadata;
use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::aws::{Ec2Compute, KmsKeys};
use ec2_tier_scheduler::instance::InstanceState::*;
use ec2_tier_scheduler::orchestrator::{self, Prepared};
use ec2_tier_scheduler::plan::keys::{KeyFacts, KeyLookup, KeyManager, Severity, VolumeKey};
use ec2_tier_scheduler::plan::Plan;
use ec2_tier_scheduler::ports::Keys;

use crate::support::fake::FakeCloud;
use crate::support::{request, tier_item, workload_item};

const CUSTOMER: &str = "arn:aws:kms:us-west-2:111122223333:key/1111aaaa-0000-0000-0000-000000000001";
const AWS_EBS: &str = "arn:aws:kms:us-west-2:111122223333:key/3333cccc-0000-0000-0000-000000000003";
const DISABLED: &str = "arn:aws:kms:us-west-2:111122223333:key/2222bbbb-0000-0000-0000-000000000002";
const DELETING: &str = "arn:aws:kms:us-west-2:111122223333:key/5555eeee-0000-0000-0000-000000000005";
const DENIED: &str = "arn:aws:kms:us-west-2:111122223333:key/4444dddd-0000-0000-0000-000000000004";

fn interceptor(rules: &[&Rule]) -> MockResponseInterceptor {
    rules
        .iter()
        .fold(MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny), |i, r| {
            i.with_rule(r)
        })
}

/// The adapter on mocked EC2 and KMS clients.
fn keys(ec2_rules: &[&Rule], kms_rules: &[&Rule]) -> KmsKeys {
    let ec2 = aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(Credentials::new("a", "b", None, None, "test"))
        .http_client(create_mock_http_client())
        .interceptor(interceptor(ec2_rules))
        .build();
    let kms = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(Credentials::new("a", "b", None, None, "test"))
        .http_client(create_mock_http_client())
        .interceptor(interceptor(kms_rules))
        .build();
    KmsKeys::new(
        Ec2Compute::new(aws_sdk_ec2::Client::from_conf(ec2)),
        aws_sdk_kms::Client::from_conf(kms),
    )
}

/// DescribeKey of `key` answers with its manager and state.
fn key_rule(key: &'static str, manager: KeyManagerType, state: KeyState) -> Rule {
    use aws_sdk_kms::operation::describe_key::DescribeKeyOutput;
    mock!(aws_sdk_kms::Client::describe_key)
        .match_requests(move |r| r.key_id() == Some(key))
        .then_output(move || {
            DescribeKeyOutput::builder()
                .key_metadata(
                    KeyMetadata::builder()
                        .key_id(key.rsplit('/').next().unwrap())
                        .arn(key)
                        .key_manager(manager.clone())
                        .key_state(state.clone())
                        .build()
                        .unwrap(),
                )
                .build()
        })
}

fn lookup<'a>(facts: &'a [KeyFacts], key: &str) -> &'a KeyLookup {
    &facts.iter().find(|f| f.key_id == key).unwrap().lookup
}

#[tokio::test]
async fn describe_key_tells_managers_and_states_and_a_refusal_names_the_key() {
    use aws_sdk_kms::operation::describe_key::DescribeKeyError;
    let customer = key_rule(CUSTOMER, KeyManagerType::Customer, KeyState::Enabled);
    let aws = key_rule(AWS_EBS, KeyManagerType::Aws, KeyState::Enabled);
    let disabled = key_rule(DISABLED, KeyManagerType::Customer, KeyState::Disabled);
    let deleting = key_rule(DELETING, KeyManagerType::Customer, KeyState::PendingDeletion);
    let denied = mock!(aws_sdk_kms::Client::describe_key)
        .match_requests(|r| r.key_id() == Some(DENIED))
        .then_error(|| {
            DescribeKeyError::generic(
                ErrorMetadata::builder()
                    .code("AccessDeniedException")
                    .message(format!(
                        "User: arn:aws:sts::111122223333:assumed-role/fn is not authorized to perform: \
                         kms:DescribeKey on resource: {DENIED}"
                    ))
                    .build(),
            )
        });
    let adapter = keys(&[], &[&customer, &aws, &disabled, &deleting, &denied]);
    let asked: Vec<String> = [CUSTOMER, AWS_EBS, DISABLED, DELETING, DENIED]
        .map(String::from)
        .to_vec();
    let facts = adapter
        .describe(&asked)
        .await
        .expect("a refusal is an answer, not an error");
    assert_eq!(facts.len(), 5);
    let described = |arn: &str, manager, state: &str| KeyLookup::Described {
        arn: arn.into(),
        manager,
        state: state.into(),
    };
    assert_eq!(
        lookup(&facts, CUSTOMER),
        &described(CUSTOMER, KeyManager::Customer, "Enabled")
    );
    assert_eq!(lookup(&facts, AWS_EBS), &described(AWS_EBS, KeyManager::Aws, "Enabled"));
    assert_eq!(
        lookup(&facts, DISABLED),
        &described(DISABLED, KeyManager::Customer, "Disabled")
    );
    assert_eq!(
        lookup(&facts, DELETING),
        &described(DELETING, KeyManager::Customer, "PendingDeletion")
    );
    match lookup(&facts, DENIED) {
        KeyLookup::Unreadable { code, message } => {
            assert_eq!(code, "AccessDeniedException");
            assert!(message.contains(DENIED), "{message}");
        }
        other => panic!("AccessDenied became {other:?}"),
    }
    for rule in [&customer, &aws, &disabled, &deleting, &denied] {
        assert_eq!(rule.num_calls(), 1, "one DescribeKey per distinct key");
    }
}

#[tokio::test]
async fn volume_keys_come_from_describe_volumes_by_attachment() {
    use aws_sdk_ec2::operation::describe_volumes::DescribeVolumesOutput;
    use aws_sdk_ec2::types::{Volume, VolumeAttachment};
    let attached = |id: &str| VolumeAttachment::builder().instance_id(id).build();
    let page = mock!(aws_sdk_ec2::Client::describe_volumes)
        .match_requests(|r| {
            r.filters().iter().any(|f| {
                f.name() == Some("attachment.instance-id") && f.values() == ["i-1".to_string(), "i-2".to_string()]
            })
        })
        .then_output(move || {
            DescribeVolumesOutput::builder()
                .volumes(
                    Volume::builder()
                        .volume_id("vol-1")
                        .encrypted(true)
                        .kms_key_id(CUSTOMER)
                        .attachments(attached("i-1"))
                        .build(),
                )
                .volumes(
                    Volume::builder()
                        .volume_id("vol-plain")
                        .encrypted(false)
                        .attachments(attached("i-1"))
                        .build(),
                )
                // Multi-attach: only the instances asked about.
                .volumes(
                    Volume::builder()
                        .volume_id("vol-shared")
                        .encrypted(true)
                        .kms_key_id(AWS_EBS)
                        .attachments(attached("i-2"))
                        .attachments(attached("i-9"))
                        .build(),
                )
                .build()
        });
    let adapter = keys(&[&page], &[]);
    let found = adapter
        .volume_keys(&["i-1".to_string(), "i-2".to_string()])
        .await
        .unwrap();
    let volume = |i: &str, v: &str, k: &str| VolumeKey {
        instance_id: i.into(),
        volume_id: v.into(),
        key_id: k.into(),
    };
    assert_eq!(
        found,
        [volume("i-1", "vol-1", CUSTOMER), volume("i-2", "vol-shared", AWS_EBS)]
    );
    assert_eq!(page.num_calls(), 1);
}

#[tokio::test]
async fn a_refused_describe_volumes_keeps_its_code() {
    use aws_sdk_ec2::operation::describe_volumes::DescribeVolumesError;
    let refused = mock!(aws_sdk_ec2::Client::describe_volumes).then_error(|| {
        DescribeVolumesError::generic(
            ErrorMetadata::builder()
                .code("UnauthorizedOperation")
                .message("You are not authorized to perform this operation.")
                .build(),
        )
    });
    let err = keys(&[&refused], &[])
        .volume_keys(&["i-1".to_string()])
        .await
        .unwrap_err();
    assert_eq!((err.service, err.operation), ("ec2", "DescribeVolumes"));
    assert_eq!(err.code.as_deref(), Some("UnauthorizedOperation"));
}

/// DB i-1 (customer key, granted), i-2 (disabled key), i-3 (aws/ebs),
/// i-4 (a customer key not granted), i-5 (running), all stopped but i-5.
fn encrypted_cloud() -> FakeCloud {
    let cloud = FakeCloud::new();
    cloud.put_config(workload_item("W"), vec![tier_item("W", "Role_DB", 0, 0, false, 0)]);
    for id in ["i-1", "i-2", "i-3", "i-4"] {
        cloud.add(id, "ENV001", "Role_DB", Stopped);
    }
    cloud.add("i-5", "ENV001", "Role_DB", Running);
    let mut s = cloud.lock();
    let other = "arn:aws:kms:us-west-2:111122223333:key/9999ffff-0000-0000-0000-000000000009";
    for (id, key) in [
        ("i-1", CUSTOMER),
        ("i-2", DISABLED),
        ("i-3", AWS_EBS),
        ("i-4", other),
        ("i-5", DISABLED),
    ] {
        s.volumes.insert(id.into(), vec![(format!("vol-{id}"), key.into())]);
    }
    s.volumes
        .get_mut("i-1")
        .unwrap()
        .push(("vol-i-1-data".into(), CUSTOMER.into()));
    let described = |arn: &str, manager, state: &str| KeyLookup::Described {
        arn: arn.into(),
        manager,
        state: state.into(),
    };
    s.keys
        .insert(CUSTOMER.into(), described(CUSTOMER, KeyManager::Customer, "Enabled"));
    s.keys
        .insert(DISABLED.into(), described(DISABLED, KeyManager::Customer, "Disabled"));
    s.keys
        .insert(AWS_EBS.into(), described(AWS_EBS, KeyManager::Aws, "Enabled"));
    s.keys
        .insert(other.into(), described(other, KeyManager::Customer, "Enabled"));
    drop(s);
    cloud
}

/// The plan every run and `plan` make: prepare checks the keys of a Start
/// against the stack's EbsKmsKeyArns (here: CUSTOMER).
async fn checked_plan(cloud: &FakeCloud, action: Action) -> Plan {
    cloud.lock().granted_keys = Some(CUSTOMER.to_string());
    let Prepared { plan, .. } = orchestrator::prepare(cloud, &request("W", action)).await.unwrap();
    plan
}

fn keys_of<'a>(plan: &'a Plan, id: &str) -> &'a [ec2_tier_scheduler::plan::keys::KeyNote] {
    &plan.instances().find(|(_, i)| i.id == id).unwrap().1.keys
}

#[tokio::test(start_paused = true)]
async fn a_start_plan_shows_each_instances_keys_and_a_disabled_key_as_an_error() {
    let cloud = encrypted_cloud();
    let plan = checked_plan(&cloud, Action::Start).await;

    let one = keys_of(&plan, "i-1");
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].volumes, ["vol-i-1", "vol-i-1-data"]);
    assert_eq!(one[0].severity, Severity::Ok);
    assert_eq!(keys_of(&plan, "i-2")[0].severity, Severity::Error);
    assert!(keys_of(&plan, "i-3").is_empty(), "aws/ebs needs nothing");
    assert_eq!(keys_of(&plan, "i-4")[0].severity, Severity::Warning);
    assert!(keys_of(&plan, "i-5").is_empty(), "running: not started, not checked");

    let table = plan.to_table();
    assert!(
        table.contains(&format!(
            "kms key: i-2 {DISABLED} (vol-i-2): ERROR: the key is Disabled"
        )),
        "{table}"
    );
    let refused: Vec<&str> = plan
        .instances()
        .filter(|(_, i)| i.key_refusal().is_some())
        .map(|(_, i)| i.id.as_str())
        .collect();
    assert_eq!(refused, ["i-2"], "only that instance");

    // One DescribeVolumes for the four it starts; one DescribeKey per distinct key.
    let volumes = cloud.calls_of("DescribeVolumes");
    assert_eq!(volumes.len(), 1);
    assert_eq!(volumes[0].ids, ["i-1", "i-2", "i-3", "i-4"]);
    assert_eq!(cloud.calls_of("DescribeKey").len(), 4);
    assert!(cloud.mutating_calls().is_empty(), "the check only reads");
}

#[tokio::test(start_paused = true)]
async fn a_start_run_does_not_start_an_instance_whose_key_ec2_cannot_use() {
    let cloud = encrypted_cloud();
    cloud.lock().granted_keys = Some(CUSTOMER.to_string());
    let report = crate::support::run(&cloud, &request("W", Action::Start)).await;
    let failed: Vec<_> = report.summary.tiers.iter().flat_map(|t| &t.failed).collect();
    assert_eq!(failed.len(), 1, "{}", report.summary.to_table());
    assert_eq!(
        (failed[0].id.as_str(), failed[0].code.as_deref()),
        ("i-2", Some("KmsKeyUnusable"))
    );
    assert!(failed[0].reason.contains("Disabled"), "{}", failed[0].reason);
    let started: Vec<String> = cloud
        .calls_of("StartInstances")
        .into_iter()
        .flat_map(|c| c.ids)
        .collect();
    assert!(!started.contains(&"i-2".to_string()), "{started:?}");
    assert!(started.contains(&"i-1".to_string()), "the others start: {started:?}");
}

#[tokio::test(start_paused = true)]
async fn a_stop_plan_never_looks_at_keys() {
    let cloud = encrypted_cloud();
    let plan = checked_plan(&cloud, Action::Stop).await;
    assert!(plan.instances().all(|(_, i)| i.keys.is_empty()));
    assert!(cloud.calls_of("DescribeVolumes").is_empty());
    assert!(cloud.calls_of("DescribeKey").is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_check_that_cannot_look_is_a_warning_not_a_refusal() {
    let cloud = encrypted_cloud();
    cloud.fault("DescribeVolumes", None, "UnauthorizedOperation", 1);
    let plan = checked_plan(&cloud, Action::Start).await;
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.contains("KMS readiness not checked") && w.contains("UnauthorizedOperation")),
        "{:?}",
        plan.warnings
    );
    assert!(plan.instances().all(|(_, i)| i.key_refusal().is_none()));
    assert!(cloud.calls_of("DescribeKey").is_empty());
}
