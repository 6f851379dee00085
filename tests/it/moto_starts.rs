//! Confirmed starts against moto, through the CLI: an instance whose EBS
//! volume is encrypted with a KMS key EC2 may not use goes back to
//! `stopped` with `Client.InternalError` (tests/support/moto_launcher.py
//! makes moto do what EC2 does); the run says so, with the fix, and exits
//! non-zero; the healthy instances run.

use aws_sdk_ec2::types::{BlockDeviceMapping, EbsBlockDevice, InstanceType, ResourceType, Tag, TagSpecification};
use serde_json::Value;

use crate::support::moto::Stack;
use crate::support::{three_tiers, workload_item};

/// A key policy that lets the account administer the key but denies the
/// grants EC2 creates to use it for a caller: EC2 cannot start an instance
/// whose volume it encrypts.
fn no_grants_policy() -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*", "Resource": "*"},
            {"Effect": "Deny", "Principal": "*", "Action": "kms:CreateGrant", "Resource": "*"}
        ]
    })
    .to_string()
}

/// One App instance with a data volume encrypted with `key`.
async fn launch_encrypted(stack: &Stack, subnet: &str, key: &str) -> String {
    let tags = TagSpecification::builder()
        .resource_type(ResourceType::Instance)
        .tags(Tag::builder().key("Environment").value("ENV001").build())
        .tags(Tag::builder().key("Role").value("Role_App").build())
        .build();
    let volume = BlockDeviceMapping::builder()
        .device_name("/dev/sdb")
        .ebs(
            EbsBlockDevice::builder()
                .volume_size(8)
                .encrypted(true)
                .kms_key_id(key)
                .build(),
        )
        .build();
    let out = stack
        .ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .min_count(1)
        .max_count(1)
        .instance_type(InstanceType::T2Micro)
        .subnet_id(subnet)
        .tag_specifications(tags)
        .block_device_mappings(volume)
        .send()
        .await
        .unwrap();
    out.instances()[0].instance_id().unwrap().to_string()
}

#[tokio::test]
async fn a_start_ec2_gives_up_on_is_a_failure_with_its_reason_and_the_fix_and_the_cli_exits_non_zero() {
    let stack = Stack::start().await;
    stack
        .bucket_and_topic("ssm-output", "us-west-2", "SchedulerTesting")
        .await;
    let (_, subnet) = stack.vpc("10.7.0.0").await;
    let kms = aws_sdk_kms::Client::new(&stack.config);
    let key = kms.create_key().policy(no_grants_policy()).send().await.unwrap();
    let key_arn = key.key_metadata().unwrap().arn().unwrap().to_string();
    let db = stack.launch_tier(&subnet, "Role_DB", 1).await;
    let mut app = stack.launch_tier(&subnet, "Role_App", 1).await;
    let bad = launch_encrypted(&stack, &subnet, &key_arn).await;
    app.push(bad.clone());
    let web = stack.launch_tier(&subnet, "Role_Web", 1).await;
    stack.put_config(workload_item("W"), three_tiers("W", 0)).await;
    let all: Vec<String> = db.iter().chain(&app).chain(&web).cloned().collect();
    stack
        .ec2
        .stop_instances()
        .set_instance_ids(Some(all.clone()))
        .send()
        .await
        .unwrap();

    // The plan warns (the key is not among EbsKmsKeyArns) but cannot know
    // the key policy: only the start proves whether EC2 may use the key.
    let (code, out, err) = stack
        .cli(&["-w", "W", "-r", "us-west-2", "-a", "Start", "--json"])
        .await;
    assert_eq!(code, 3, "a Start with a failed instance exits non-zero\n{out}\n{err}");
    let printed: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let summary = &printed["summary"];
    assert_eq!(summary["status"], "completedWithFailures", "{summary:#}");
    let app_tier = summary["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tier"] == "Role_App")
        .unwrap();
    let failed = app_tier["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{app_tier:#}");
    assert_eq!(failed[0]["id"], bad.as_str());
    assert_eq!(failed[0]["code"], "Client.InternalError");
    let reason = failed[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("KMS key") && reason.contains("EbsKmsKeyArns"),
        "{reason}"
    );
    assert_eq!(app_tier["acted"], serde_json::json!([app[0]]));

    // The healthy instances run; the one EC2 gave up on is stopped.
    for id in db.iter().chain(&web).chain(std::iter::once(&app[0])) {
        assert_eq!(stack.instance(id).await.0, "running", "{id}");
    }
    assert_eq!(stack.instance(&bad).await.0, "stopped");

    // SNS carries the instance, its reason and the fix.
    let messages = stack.moto.sns_messages().await;
    let (_, subject, body) = messages
        .iter()
        .find(|m| m.1.starts_with("EC2 scheduler: Start W"))
        .unwrap_or_else(|| panic!("a summary: {messages:#?}"));
    assert!(
        body.contains(&bad) && body.contains("Client.InternalError") && body.contains("EbsKmsKeyArns"),
        "{subject}\n{body}"
    );

    // Not recorded as a Start: the next Start tries again instead of being
    // skipped as a repeat.
    assert!(
        summary["workloadState"]
            .as_str()
            .unwrap_or_default()
            .contains("not recorded"),
        "{summary:#}"
    );
}
