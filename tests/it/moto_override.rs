//! Override checks through SSM + S3 and SNS notifications against moto, with
//! the simulated SSM agent writing the output the real agent would.

use std::time::Duration;

use ec2_tier_scheduler::aws::ApiCounter;
use ec2_tier_scheduler::error::RunError;
use ec2_tier_scheduler::orchestrator::{self, Budget, Settings};
use ec2_tier_scheduler::plan::Action;
use serde_json::{json, Value};

use crate::support::moto::Stack;
use crate::support::{fast_settings, request, run_fast, three_tiers, workload_item};

/// Web has the override check for `os` at `path`; returns (stack, web ids, app ids).
async fn workload(os: &str, path: &str) -> (Stack, Vec<String>, Vec<String>) {
    let stack = Stack::start().await;
    stack
        .bucket_and_topic("ssm-output", "us-west-2", "SchedulerTesting")
        .await;
    let (_, subnet) = stack.vpc("10.7.0.0").await;
    let web = stack.launch_tier(&subnet, "Role_Web", 3).await;
    let app = stack.launch_tier(&subnet, "Role_App", 1).await;
    let mut tiers: Vec<Value> = three_tiers("W", 0);
    tiers[0]["TierStop"]["TierStopOverrideFilename"] = json!(path);
    tiers[0]["TierStop"]["TierStopOverrideOperatingSystem"] = json!(os);
    stack.put_config(workload_item("W"), tiers).await;
    (stack, web, app)
}

fn quick(timeout_secs: u64) -> Settings {
    Settings {
        override_timeout: Duration::from_secs(timeout_secs),
        ..fast_settings()
    }
}

#[tokio::test]
async fn linux_tier_bypasses_the_instance_holding_the_file_and_notifies() {
    let (stack, web, app) = workload("Linux", "/tmp/StopOverride").await;
    let _agent = stack.moto.agent(
        "us-west-2",
        &[
            format!("--file={}:/tmp/StopOverride", web[1]),
            format!("--file={}:/tmp/other", web[2]),
        ],
    );
    let counter = ApiCounter::new();
    let cloud = stack.cloud().with_counter(counter.clone());
    let report = orchestrator::run(&cloud, &request("W", Action::Stop), &Budget::unlimited(), &quick(30))
        .await
        .unwrap();
    let web_tier = &report.summary.tiers[0];
    assert_eq!(web_tier.bypassed.len(), 1, "{}", report.summary.to_table());
    assert_eq!(web_tier.bypassed[0].id, web[1]);
    assert!(web_tier.bypassed[0].reason.contains("/tmp/StopOverride present"));
    assert_eq!(web_tier.acted, vec![web[0].clone(), web[2].clone()]);
    assert_eq!(stack.instance(&web[1]).await.0, "running");
    assert_eq!(stack.instance(&web[0]).await.0, "stopped");
    assert_eq!(
        stack.instance(&app[0]).await.0,
        "stopped",
        "the rest of the run goes on"
    );

    // One SendCommand for the tier (3 instances <= 50), the Linux document, output in the bucket.
    assert_eq!(counter.count("SSM", "SendCommand"), 1);
    let commands = stack.commands().await;
    assert_eq!(commands.len(), 1);
    assert_eq!(commands[0].document_name(), Some("AWS-RunShellScript"));
    assert_eq!(commands[0].output_s3_bucket_name(), Some("ssm-output"));
    assert_eq!(commands[0].output_s3_key_prefix(), Some("ssmRemoteComandResults"));

    // SNS: one message per bypass and one summary, read back from the emulator.
    let messages = stack.moto.sns_messages().await;
    assert_eq!(messages.len(), 2, "{messages:#?}");
    let bypass = messages
        .iter()
        .find(|m| m.1.contains("bypassed"))
        .expect("bypass message");
    assert!(bypass.2.contains(&web[1]) && bypass.2.contains("Role_Web"));
    let summary = messages
        .iter()
        .find(|m| m.1.starts_with("EC2 scheduler: Stop W"))
        .expect("summary");
    assert!(summary.1.len() <= 100);
    assert!(
        summary
            .2
            .contains("Tier Role_Web (sequence 0): 2 stopped, 0 skipped, 1 bypassed"),
        "{}",
        summary.2
    );
    assert!(summary.2.contains(&format!("bypassed {}", web[1])));
}

#[tokio::test]
async fn windows_tier_uses_powershell() {
    let (stack, web, _) = workload("Windows", "C:\\ignore.txt").await;
    let _agent = stack
        .moto
        .agent("us-west-2", &[format!("--file={}:C:\\ignore.txt", web[0])]);
    let report = orchestrator::run(
        &stack.cloud(),
        &request("W", Action::Stop),
        &Budget::unlimited(),
        &quick(30),
    )
    .await
    .unwrap();
    let web_tier = &report.summary.tiers[0];
    assert_eq!(
        web_tier.bypassed.iter().map(|b| b.id.clone()).collect::<Vec<_>>(),
        vec![web[0].clone()]
    );
    assert_eq!(web_tier.acted, vec![web[1].clone(), web[2].clone()]);
    assert_eq!(
        stack.commands().await[0].document_name(),
        Some("AWS-RunPowerShellScript")
    );
}

#[tokio::test]
async fn no_output_within_the_timeout_keeps_the_instance_running() {
    let (stack, web, _) = workload("Linux", "/tmp/StopOverride").await;
    let _agent = stack.moto.agent(
        "us-west-2",
        &[format!("--silent={}", web[0]), format!("--garbage={}", web[1])],
    );
    let report = orchestrator::run(
        &stack.cloud(),
        &request("W", Action::Stop),
        &Budget::unlimited(),
        &quick(4),
    )
    .await
    .unwrap();
    let web_tier = &report.summary.tiers[0];
    let reasons: Vec<(&str, &str)> = web_tier
        .bypassed
        .iter()
        .map(|b| (b.id.as_str(), b.reason.as_str()))
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].1.contains("no answer within 4s"), "{reasons:?}");
    assert!(reasons[1].1.contains("no clear answer"), "{reasons:?}");
    assert_eq!(web_tier.acted, vec![web[2].clone()]);
    assert_eq!(stack.instance(&web[0]).await.0, "running");
}

#[tokio::test]
async fn bucket_in_another_region_is_refused_before_any_action() {
    let stack = Stack::start().await;
    stack
        .bucket_and_topic("ssm-output", "eu-central-1", "SchedulerTesting")
        .await;
    let (_, subnet) = stack.vpc("10.8.0.0").await;
    let web = stack.launch_tier(&subnet, "Role_Web", 1).await;
    let mut tiers = three_tiers("W", 0);
    tiers[0]["TierStop"]["TierStopOverrideFilename"] = json!("/tmp/StopOverride");
    tiers[0]["TierStop"]["TierStopOverrideOperatingSystem"] = json!("Linux");
    stack.put_config(workload_item("W"), tiers).await;
    let err = orchestrator::run(
        &stack.cloud(),
        &request("W", Action::Stop),
        &Budget::unlimited(),
        &quick(4),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, RunError::Precondition { .. }));
    assert!(err.to_string().contains("is in eu-central-1"), "{err}");
    assert!(stack.commands().await.is_empty());
    assert_eq!(stack.instance(&web[0]).await.0, "running");
}

#[tokio::test]
async fn dry_run_sends_no_command_and_no_notification() {
    let (stack, web, _) = workload("Linux", "/tmp/StopOverride").await;
    let counter = ApiCounter::new();
    let cloud = stack.cloud().with_counter(counter.clone());
    let mut req = request("W", Action::Stop);
    req.dry_run = true;
    let report = orchestrator::run(&cloud, &req, &Budget::unlimited(), &quick(4))
        .await
        .unwrap();
    assert!(report.plan.groups[0].tiers[0]
        .instances
        .iter()
        .all(|i| i.check_override));
    let mutating = [
        "StopInstances",
        "StartInstances",
        "ModifyInstanceAttribute",
        "SendCommand",
        "Publish",
    ];
    for ((_, op), n) in counter.calls() {
        assert!(!mutating.contains(&op.as_str()), "dry run called {op} {n} times");
    }
    assert!(stack.commands().await.is_empty());
    assert!(stack.moto.sns_messages().await.is_empty());
    assert_eq!(stack.instance(&web[0]).await.0, "running");
}

#[tokio::test]
async fn missing_topic_is_reported_but_never_aborts() {
    let stack = Stack::start().await;
    let (_, subnet) = stack.vpc("10.9.0.0").await;
    let web = stack.launch_tier(&subnet, "Role_Web", 1).await;
    let mut workload = workload_item("W");
    workload["SNSTopicName"] = json!("NoSuchTopic");
    stack.put_config(workload, three_tiers("W", 0)).await;
    let report = run_fast(&stack.cloud(), &request("W", Action::Stop)).await;
    assert_eq!(report.summary.tiers[0].acted, web);
    assert_eq!(report.summary.notification_errors.len(), 1);
    assert!(report.summary.notification_errors[0].contains("NoSuchTopic"));
}
