//! Scaling profiles, config import/export and the StatusChecks gate against moto.

use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::config::document;
use ec2_tier_scheduler::ports::Cloud;
use ec2_tier_scheduler::summary::RunStatus;
use serde_json::json;

use crate::support::moto::Stack;
use crate::support::{request, run_fast, three_tiers, workload_item};

#[tokio::test]
async fn start_with_a_profile_resizes_stopped_instances_first() {
    let stack = Stack::start().await;
    let (_, subnet) = stack.vpc("10.5.0.0").await;
    let web = stack.launch_tier(&subnet, "Role_Web", 2).await;
    let db = stack.launch_tier(&subnet, "Role_DB", 1).await;
    stack
        .ec2
        .stop_instances()
        .set_instance_ids(Some([web.clone(), db.clone()].concat()))
        .send()
        .await
        .unwrap();
    let mut workload = workload_item("W");
    workload.as_object_mut().unwrap().remove("SNSTopicName");
    let mut tiers = three_tiers("W", 1);
    tiers[2].as_object_mut().unwrap().remove("TierScaling"); // DB has no profiles
    stack.put_config(workload, tiers).await;

    let mut req = request("W", Action::Start);
    req.scaling_profile = Some("performant".into());
    let report = run_fast(&stack.cloud(), &req).await;
    assert_eq!(
        report.summary.status,
        RunStatus::Completed,
        "{}",
        report.summary.to_table()
    );
    for id in &web {
        assert_eq!(
            stack.instance(id).await,
            ("running".to_string(), "m5.large".to_string())
        );
    }
    assert_eq!(
        stack.instance(&db[0]).await,
        ("running".to_string(), "t2.micro".to_string()),
        "no profile: unchanged"
    );
    let web_tier = report.summary.tiers.iter().find(|t| t.tier == "Role_Web").unwrap();
    assert_eq!(web_tier.resized.len(), 2);
    assert_eq!(
        (web_tier.resized[0].from.as_str(), web_tier.resized[0].to.as_str()),
        ("t2.micro", "m5.large")
    );
}

#[tokio::test]
async fn import_is_validated_and_export_round_trips() {
    let stack = Stack::start().await;
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/workload.json")).unwrap();
    let document::Parsed { items, config, .. } = document::parse(&text).unwrap();
    assert_eq!(config.tiers.len(), 3);
    let cloud = stack.cloud();
    let store = cloud.config_store("us-west-2");
    store.save(&items).await.unwrap();
    let back = store.load("BotoTestCase1").await.unwrap().unwrap();
    assert_eq!(back.workload, items.workload);
    let mut a = back.tiers.clone();
    let mut b = items.tiers.clone();
    a.sort_by_key(|t| t["TierTagValue"].as_str().unwrap().to_string());
    b.sort_by_key(|t| t["TierTagValue"].as_str().unwrap().to_string());
    assert_eq!(a, b, "strings stay strings through DynamoDB");

    // Re-import without Role_App: the stale tier is removed in the same transaction.
    let mut fewer = items.clone();
    fewer.tiers.retain(|t| t["TierTagValue"] != "Role_App");
    store.save(&fewer).await.unwrap();
    assert_eq!(store.load("BotoTestCase1").await.unwrap().unwrap().tiers.len(), 2);

    // A document with errors lists each with its path and writes nothing.
    let mut bad: serde_json::Value = serde_json::from_str(&text).unwrap();
    bad["tiers"][1]["TierStop"]["TierSequence"] = json!("two");
    bad["workload"]["WorkloadRegion"] = json!("moon");
    let err = document::parse(&bad.to_string()).unwrap_err().to_string();
    assert!(
        err.contains("tiers[1].TierStop.TierSequence: \"two\" is not a number"),
        "{err}"
    );
    assert!(err.contains("workload.WorkloadRegion"), "{err}");
}

#[tokio::test]
async fn status_checks_gate_polls_one_call_per_100_instances() {
    let stack = Stack::start().await;
    let (_, subnet) = stack.vpc("10.6.0.0").await;
    let db = stack.launch_tier(&subnet, "Role_DB", 150).await;
    stack
        .ec2
        .stop_instances()
        .set_instance_ids(Some(db.clone()))
        .send()
        .await
        .unwrap();
    let mut workload = workload_item("W");
    workload.as_object_mut().unwrap().remove("SNSTopicName");
    let mut tiers = three_tiers("W", 0);
    tiers[2]["TierStart"]["TierReadiness"] = json!("StatusChecks");
    tiers[2]["TierStart"]["TierReadinessTimeout"] = json!("30");
    stack.put_config(workload, tiers).await;
    let counter = ec2_tier_scheduler::aws::ApiCounter::new();
    let cloud = stack.cloud().with_counter(counter.clone());
    let report = run_fast(&cloud, &request("W", Action::Start)).await;
    assert_eq!(
        counter.count("EC2", "DescribeInstanceStatus"),
        2,
        "150 instances, one poll: two calls of at most 100 ids"
    );
    assert_eq!(counter.count("EC2", "StartInstances"), 1);
    let gate = report.summary.tiers[0].gate.as_ref().expect("gate ran");
    assert_eq!(gate.ready, 150, "{}", report.summary.to_table());
    assert!(!gate.timed_out);
    assert_eq!(report.summary.status, RunStatus::Completed);
}
