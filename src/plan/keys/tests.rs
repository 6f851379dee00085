use serde_json::json;

use super::*;
use crate::config::{ItemNaming, WorkloadConfig};
use crate::instance::{Instance, InstanceState};

const CUSTOMER: &str = "arn:aws:kms:us-west-2:111122223333:key/1111aaaa-0000-0000-0000-000000000001";
const DISABLED: &str = "arn:aws:kms:us-west-2:111122223333:key/2222bbbb-0000-0000-0000-000000000002";
const AWS_EBS: &str = "arn:aws:kms:us-west-2:111122223333:key/3333cccc-0000-0000-0000-000000000003";
const DENIED: &str = "arn:aws:kms:us-west-2:111122223333:key/4444dddd-0000-0000-0000-000000000004";
const DELETING: &str = "arn:aws:kms:us-west-2:111122223333:key/5555eeee-0000-0000-0000-000000000005";

/// One tier `Role_DB`, in the scheduler's own account unless `role`.
fn config(role: Option<&str>) -> WorkloadConfig {
    let mut workload = json!({
        "SpecName": "W", "WorkloadFilterTagName": "Environment", "WorkloadFilterTagValue": "ENV001",
        "WorkloadRegion": "us-west-2", "TierFilterTagName": "Role"
    });
    if let Some(role) = role {
        workload["CrossAccountRole"] = json!(role);
    }
    let tier = json!({"SpecName": "W", "TierTagValue": "Role_DB",
                      "TierStart": {"TierSequence": "0"}, "TierStop": {"TierSequence": "0"}});
    WorkloadConfig::from_items("W", &workload, &[tier], ItemNaming::Table).unwrap()
}

fn inst(id: &str, state: InstanceState) -> Instance {
    Instance::new(id, "Role_DB", state, "t3.small")
}

fn volume(instance: &str, volume: &str, key: &str) -> VolumeKey {
    VolumeKey {
        instance_id: instance.into(),
        volume_id: volume.into(),
        key_id: key.into(),
    }
}

fn described(key: &str, manager: KeyManager, state: &str) -> KeyFacts {
    KeyFacts {
        key_id: key.into(),
        lookup: KeyLookup::Described {
            arn: key.into(),
            manager,
            state: state.into(),
        },
    }
}

fn denied(key: &str) -> KeyFacts {
    KeyFacts {
        key_id: key.into(),
        lookup: KeyLookup::Unreadable {
            code: "AccessDeniedException".into(),
            message: "User is not authorized to perform: kms:DescribeKey".into(),
        },
    }
}

/// i-1: a listed customer key and aws/ebs; i-2: a disabled key; i-3: a
/// customer key not listed; i-4: a key that cannot be described; i-5: a
/// key pending deletion; i-6: unencrypted.
fn survey() -> KeySurvey {
    KeySurvey {
        volumes: vec![
            volume("i-1", "vol-1a", CUSTOMER),
            volume("i-1", "vol-1b", AWS_EBS),
            volume("i-2", "vol-2", DISABLED),
            volume("i-3", "vol-3", CUSTOMER),
            volume("i-4", "vol-4", DENIED),
            volume("i-5", "vol-5", DELETING),
        ],
        facts: vec![
            described(CUSTOMER, KeyManager::Customer, "Enabled"),
            described(DISABLED, KeyManager::Customer, "Disabled"),
            described(AWS_EBS, KeyManager::Aws, "Enabled"),
            denied(DENIED),
            described(DELETING, KeyManager::Customer, "PendingDeletion"),
        ],
    }
}

fn stopped(ids: &[&str]) -> Vec<Instance> {
    ids.iter().map(|id| inst(id, InstanceState::Stopped)).collect()
}

fn start_plan(role: Option<&str>, granted: &str) -> Plan {
    let instances = stopped(&["i-1", "i-2", "i-3", "i-4", "i-5", "i-6"]);
    let mut plan = crate::plan::build(&config(role), &instances, Action::Start, None, 0);
    plan.apply_key_survey(&survey(), &GrantedKeys::parse("EbsKmsKeyArns", granted).unwrap());
    plan
}

fn instance<'a>(plan: &'a Plan, id: &str) -> &'a InstancePlan {
    plan.instances().map(|(_, i)| i).find(|i| i.id == id).unwrap()
}

#[test]
fn each_instance_lists_its_customer_managed_keys_with_what_they_mean() {
    // Only the customer key is granted; the disabled one is listed too,
    // as a grant does not make a disabled key usable.
    let plan = start_plan(None, &format!("{CUSTOMER}, {DISABLED}"));

    let one = instance(&plan, "i-1");
    assert_eq!(
        one.keys.len(),
        1,
        "aws/ebs needs nothing and is not listed: {:?}",
        one.keys
    );
    assert_eq!(one.keys[0].key, CUSTOMER);
    assert_eq!(one.keys[0].volumes, ["vol-1a"]);
    assert_eq!(one.keys[0].severity, Severity::Ok);
    assert_eq!(one.key_refusal(), None);

    let two = instance(&plan, "i-2");
    assert_eq!(two.keys[0].severity, Severity::Error);
    assert_eq!(two.keys[0].state.as_deref(), Some("Disabled"));
    let refusal = two.key_refusal().expect("a disabled key refuses the start");
    assert!(
        refusal.contains(DISABLED) && refusal.contains("vol-2") && refusal.contains("Disabled"),
        "{refusal}"
    );

    let three = instance(&plan, "i-3");
    assert_eq!(three.keys[0].severity, Severity::Ok, "the same key, granted");

    let four = instance(&plan, "i-4");
    assert_eq!(four.keys[0].severity, Severity::Warning);
    assert!(
        four.keys[0].message.contains("AccessDeniedException"),
        "{:?}",
        four.keys
    );
    assert_eq!(four.key_refusal(), None, "a warning does not refuse the start");

    let five = instance(&plan, "i-5");
    assert_eq!(five.keys[0].severity, Severity::Error);
    assert!(five.keys[0].message.contains("PendingDeletion"));

    assert!(instance(&plan, "i-6").keys.is_empty(), "unencrypted");
}

#[test]
fn a_customer_key_outside_the_granted_list_is_a_warning_naming_it() {
    let plan = start_plan(None, "");
    let three = instance(&plan, "i-3");
    assert_eq!(three.keys[0].severity, Severity::Warning);
    assert!(three.keys[0].message.contains("EbsKmsKeyArns"));
    assert!(three.keys[0]
        .message
        .contains("unless the function may create grants on it"));
    // One plan warning per key, naming the key and the instances.
    let warning = plan
        .warnings
        .iter()
        .find(|w| w.contains(CUSTOMER))
        .expect("a warning for the key");
    assert!(warning.contains("i-1, i-3") && warning.contains("warning"), "{warning}");
    let error = plan.warnings.iter().find(|w| w.contains(DISABLED)).unwrap();
    assert!(error.contains("(error; volumes of i-2)"), "{error}");
    assert!(!plan.warnings.iter().any(|w| w.contains(AWS_EBS)));
}

#[test]
fn the_table_and_the_json_show_the_keys_and_the_refusal() {
    let plan = start_plan(None, CUSTOMER);
    let table = plan.to_table();
    assert!(
        table.contains(&format!("kms key: i-2 {DISABLED} (vol-2): ERROR: the key is Disabled")),
        "{table}"
    );
    assert!(
        table.contains(&format!("kms key: i-1 {CUSTOMER} (vol-1a): ok")),
        "{table}"
    );
    assert!(
        table.contains("not started: a KMS key of its volumes makes the start fail"),
        "{table}"
    );
    assert!(table.contains(&format!("warning: KMS key {DENIED}")), "{table}");

    let json = serde_json::to_value(&plan).unwrap();
    let instances = &json["groups"][0]["tiers"][0]["instances"];
    let two = instances.as_array().unwrap().iter().find(|i| i["id"] == "i-2").unwrap();
    assert_eq!(two["keys"][0]["key"], DISABLED);
    assert_eq!(two["keys"][0]["severity"], "error");
    assert_eq!(two["keys"][0]["state"], "Disabled");
    assert_eq!(two["keys"][0]["manager"], "CUSTOMER");
    assert_eq!(two["keys"][0]["volumes"], json!(["vol-2"]));
    let six = instances.as_array().unwrap().iter().find(|i| i["id"] == "i-6").unwrap();
    assert!(six.get("keys").is_none(), "no keys, no field: {six}");
}

#[test]
fn in_a_member_account_a_key_the_role_may_describe_counts_as_granted() {
    let plan = start_plan(Some("arn:aws:iam::222233334444:role/Member"), "");
    assert_eq!(instance(&plan, "i-3").keys[0].severity, Severity::Ok);
    assert_eq!(
        instance(&plan, "i-2").keys[0].severity,
        Severity::Error,
        "still disabled"
    );
    assert_eq!(
        instance(&plan, "i-4").keys[0].severity,
        Severity::Warning,
        "still denied"
    );
}

#[test]
fn only_the_instances_a_start_acts_on_are_checked() {
    let mut instances = stopped(&["i-1", "i-2"]);
    instances.push(inst("i-3", InstanceState::Running));
    instances.push(inst("i-4", InstanceState::Stopping));
    let start = crate::plan::build(&config(None), &instances, Action::Start, None, 0);
    assert_eq!(instances_to_check(&start), ["i-1", "i-2", "i-4"]);
    let mut stop = crate::plan::build(&config(None), &instances, Action::Stop, None, 0);
    assert!(instances_to_check(&stop).is_empty(), "a Stop never looks at keys");
    stop.apply_key_survey(&survey(), &GrantedKeys::default());
    assert!(stop.instances().all(|(_, i)| i.keys.is_empty()));
    assert!(stop.warnings.is_empty());
}

#[test]
fn a_key_kms_says_does_not_exist_is_an_error_and_a_failed_look_a_warning() {
    let instances = stopped(&["i-1"]);
    let mut plan = crate::plan::build(&config(None), &instances, Action::Start, None, 0);
    let gone = KeySurvey {
        volumes: vec![volume("i-1", "vol-1", DELETING)],
        facts: vec![KeyFacts {
            key_id: DELETING.into(),
            lookup: KeyLookup::Unreadable {
                code: "NotFoundException".into(),
                message: "Key does not exist".into(),
            },
        }],
    };
    plan.apply_key_survey(&gone, &GrantedKeys::default());
    assert!(instance(&plan, "i-1").key_refusal().is_some());

    let mut plan = crate::plan::build(&config(None), &instances, Action::Start, None, 0);
    plan.key_survey_failed("ec2:DescribeVolumes failed (UnauthorizedOperation): denied");
    assert!(
        plan.warnings[0].contains("KMS readiness not checked"),
        "{:?}",
        plan.warnings
    );
    assert!(plan.instances().all(|(_, i)| i.key_refusal().is_none()));
}
