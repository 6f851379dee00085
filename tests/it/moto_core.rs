//! The whole path against moto: DynamoDB config, EC2 discovery and actions
//! through the real adapters.

use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::handler;
use ec2_tier_scheduler::ports::Cloud;
use ec2_tier_scheduler::summary::RunStatus;
use serde_json::json;

use crate::support::moto::Stack;
use crate::support::{fast_settings, request, run_fast, three_tiers, workload_item};

#[tokio::test]
async fn stop_then_start_touches_only_the_workload_in_its_vpc() {
    let stack = Stack::start().await;
    let (vpc, subnet) = stack.vpc("10.1.0.0").await;
    let (_, other_subnet) = stack.vpc("10.2.0.0").await;
    let web = stack.launch_tier(&subnet, "Role_Web", 2).await;
    let app = stack.launch_tier(&subnet, "Role_App", 2).await;
    let db = stack.launch_tier(&subnet, "Role_DB", 2).await;
    let other_workload = stack
        .launch(&subnet, &[("Environment", "ENV002"), ("Role", "Role_Web")], 1)
        .await;
    let other_vpc = stack.launch_tier(&other_subnet, "Role_Web", 1).await;
    let untagged_tier = stack.launch(&subnet, &[("Environment", "ENV001")], 1).await;
    let untouched: Vec<String> = [other_workload, other_vpc, untagged_tier].concat();

    let mut workload = workload_item("W");
    workload["VPC_ID"] = json!(vpc);
    workload.as_object_mut().unwrap().remove("SNSTopicName");
    stack.put_config(workload, three_tiers("W", 1)).await;
    let cloud = stack.cloud();

    let report = run_fast(&cloud, &request("W", Action::Stop)).await;
    assert_eq!(
        report.summary.status,
        RunStatus::Completed,
        "{}",
        report.summary.to_table()
    );
    let acted: Vec<Vec<String>> = report.summary.tiers.iter().map(|t| t.acted.clone()).collect();
    assert_eq!(
        acted,
        vec![web.clone(), app.clone(), db.clone()],
        "Web, App, DB in stop order, ids sorted"
    );
    for id in web.iter().chain(&app).chain(&db) {
        assert_eq!(stack.instance(id).await.0, "stopped", "{id}");
    }
    for id in &untouched {
        assert_eq!(stack.instance(id).await.0, "running", "{id} must be untouched");
    }

    let report = run_fast(&cloud, &request("W", Action::Start)).await;
    let order: Vec<&str> = report.summary.tiers.iter().map(|t| t.tier.as_str()).collect();
    assert_eq!(order, ["Role_DB", "Role_App", "Role_Web"]);
    for id in web.iter().chain(&app).chain(&db) {
        assert_eq!(stack.instance(id).await.0, "running", "{id}");
    }
    // Starting again: the WorkloadState table says Start already, so the run
    // is skipped; with the override it finds nothing to do.
    let report = run_fast(&cloud, &request("W", Action::Start)).await;
    assert_eq!(report.summary.status, RunStatus::Skipped);
    let mut again = request("W", Action::Start);
    again.override_state = true;
    let report = run_fast(&cloud, &again).await;
    assert!(report.summary.tiers.iter().all(|t| t.acted.is_empty()));
    assert_eq!(report.summary.tiers[0].skipped[0].reason, "already running");
}

#[tokio::test]
async fn discovery_pages_through_large_fleets_and_ignores_terminated() {
    let stack = Stack::start().await;
    let (_, subnet) = stack.vpc("10.3.0.0").await;
    let ids = stack.launch_tier(&subnet, "Role_Web", 60).await;
    stack
        .ec2
        .terminate_instances()
        .instance_ids(&ids[0])
        .send()
        .await
        .unwrap();
    let cloud = stack.cloud();
    let found = cloud
        .workload_ports("us-west-2", None)
        .await
        .unwrap()
        .compute
        .discover(&ec2_tier_scheduler::instance::Discovery {
            workload_tag: ("Environment".into(), "ENV001".into()),
            tier_tag_key: "Role".into(),
            vpc_id: None,
            override_tag_key: "SchedulerOverride".into(),
            preferred_types_tag_key: "SchedulerPreferredTypes".into(),
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 59);
    assert!(found
        .iter()
        .all(|i| i.id != ids[0] && i.tier == "Role_Web" && i.instance_type == "t2.micro"));
}

#[tokio::test]
async fn lambda_handler_against_moto_reports_errors_by_type() {
    let stack = Stack::start().await;
    let cloud = stack.cloud();
    let settings = fast_settings();
    let missing = handler::handle(
        &cloud,
        Some("us-west-2"),
        &json!({"workloadIdentifier": "Ghost", "action": "Stop"}),
        None,
        &settings,
    )
    .await
    .unwrap_err();
    assert_eq!(missing.error_type(), "WorkloadNotFound");
    assert!(missing.to_string().contains("\"Ghost\""));

    let mut tiers = three_tiers("W", 1);
    tiers[1]["TierStart"]["TierSynchronization"] = json!("sometimes");
    stack.put_config(workload_item("W"), tiers).await;
    let invalid = handler::handle(
        &cloud,
        Some("us-west-2"),
        &json!({"workloadIdentifier": "W", "action": "Start"}),
        None,
        &settings,
    )
    .await
    .unwrap_err();
    assert_eq!(invalid.error_type(), "InvalidConfiguration");
    assert!(
        invalid
            .to_string()
            .contains("TierSpecification[Role_App].TierStart.TierSynchronization"),
        "{invalid}"
    );
    let diagnostic: lambda_runtime::Diagnostic = invalid.into();
    assert_eq!(diagnostic.error_type, "InvalidConfiguration");

    let bad_event = handler::handle(
        &cloud,
        Some("us-west-2"),
        &json!({"workloadIdentifier": "W", "action": "Pause"}),
        None,
        &settings,
    )
    .await
    .unwrap_err();
    assert_eq!(bad_event.error_type(), "InvalidEvent");
}

#[tokio::test]
async fn sample_events_drive_the_handler() {
    let stack = Stack::start().await;
    let (_, subnet) = stack.vpc("10.4.0.0").await;
    let web = stack.launch_tier(&subnet, "Role_Web", 2).await;
    let mut workload = workload_item("BotoTestCase1");
    workload.as_object_mut().unwrap().remove("SNSTopicName");
    stack.put_config(workload, three_tiers("BotoTestCase1", 1)).await;
    let cloud = stack.cloud();
    let event = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap())
            .unwrap()
    };
    let dry = handler::handle(
        &cloud,
        None,
        &event("eventbridge-envelope.json"),
        Some(std::time::Duration::from_secs(60)),
        &fast_settings(),
    )
    .await
    .unwrap();
    assert_eq!(dry["status"], "dryRun");
    assert_eq!(
        dry["plan"]["groups"][0]["tiers"][0]["instances"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(stack.instance(&web[0]).await.0, "running");

    let stopped = handler::handle(
        &cloud,
        None,
        &event("stop.json"),
        Some(std::time::Duration::from_secs(60)),
        &fast_settings(),
    )
    .await
    .unwrap();
    assert_eq!(stopped["status"], "completed", "{stopped}");
    assert_eq!(stopped["tiers"][0]["acted"], json!(web));
    assert!(stopped.get("plan").is_none());
    assert_eq!(stack.instance(&web[1]).await.0, "stopped");
}
