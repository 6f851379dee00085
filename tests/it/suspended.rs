//! The Auto Scaling processes a Stop suspended (`TierAutoScalingGroups:
//! Suspend`) are recorded in the run ledger, never trusted from the
//! group's `ec2-tier-scheduler:suspended` tag: a tagger cannot make a
//! Start resume a process an operator suspended.

use std::time::Duration;

use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::instance::InstanceState::{self, Running};
use ec2_tier_scheduler::records::Restore;
use ec2_tier_scheduler::summary::TierOutcome;
use serde_json::json;

use crate::support::fake::FakeCloud;
use crate::support::{request, run, run_refused, tier_item, workload_item};

const FORGED: [&str; 5] = ["Launch", "Terminate", "HealthCheck", "ReplaceUnhealthy", "AZRebalance"];

/// Role_Web with i-1 (member of `web-asg`) and i-2, Suspend mode; the
/// operator suspended `Launch` on the group, and a tagger wrote
/// `ec2-tier-scheduler:suspended=Launch,...` on it.
fn forged(state: InstanceState) -> FakeCloud {
    let cloud = FakeCloud::new();
    let mut tier = tier_item("W", "Role_Web", 0, 0, false, 0);
    tier.as_object_mut().unwrap().remove("TierScaling");
    tier["TierStop"]["TierAutoScalingGroups"] = json!("Suspend");
    tier["TierStart"]["TierAutoScalingGroups"] = json!("Suspend");
    cloud.put_config(workload_item("W"), vec![tier]);
    for id in ["i-1", "i-2"] {
        cloud.add(id, "ENV001", "Role_Web", state);
    }
    cloud
        .lock()
        .instances
        .get_mut("i-1")
        .unwrap()
        .tags
        .insert("aws:autoscaling:groupName".into(), "web-asg".into());
    cloud.lock().groups.insert(
        "web-asg".into(),
        (
            ["Launch".to_string()].into_iter().collect(),
            FORGED.map(String::from).to_vec(),
        ),
    );
    cloud
}

fn web(tiers: &[TierOutcome]) -> &TierOutcome {
    tiers.iter().find(|t| t.tier == "Role_Web").unwrap()
}

fn suspended(cloud: &FakeCloud) -> Vec<String> {
    cloud.lock().groups["web-asg"].0.iter().cloned().collect()
}

#[tokio::test(start_paused = true)]
async fn a_forged_suspended_tag_resumes_nothing_and_is_reported() {
    let cloud = forged(Running);
    let report = run(&cloud, &request("W", Action::Start)).await;
    let web = web(&report.summary.tiers);
    assert!(
        cloud.calls_of("ResumeProcesses").is_empty(),
        "{}",
        report.summary.to_table()
    );
    assert_eq!(suspended(&cloud), ["Launch"], "the operator's Launch stays suspended");
    let change = &web.auto_scaling[0];
    assert!(change.resumed.is_empty());
    let error = change.error.as_deref().unwrap();
    assert!(
        error.contains("ec2-tier-scheduler:suspended=Launch") && error.contains("orchestrator records adopt -w W"),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stop_start_round_trip_resumes_exactly_what_it_suspended() {
    let cloud = forged(Running);
    let report = run(&cloud, &request("W", Action::Stop)).await;
    let change = &web(&report.summary.tiers).auto_scaling[0];
    let ours = ["Terminate", "HealthCheck", "ReplaceUnhealthy", "AZRebalance"];
    assert_eq!(change.suspended, ours);
    assert_eq!(change.left_alone, ["Launch"], "the tag's claim is not ours");
    assert_eq!(
        cloud.recorded("ASG", "suspended", "web-asg").map(|r| r.restore),
        Some(Restore::SuspendedProcesses(ours.map(String::from).to_vec()))
    );

    tokio::time::sleep(Duration::from_secs(60)).await;
    let report = run(&cloud, &request("W", Action::Start)).await;
    let change = &web(&report.summary.tiers).auto_scaling[0];
    assert_eq!(change.resumed, ours);
    assert!(
        change
            .error
            .as_deref()
            .unwrap()
            .contains("orchestrator records adopt -w W"),
        "the tag is still reported: {change:?}"
    );
    assert_eq!(suspended(&cloud), ["Launch"]);
    assert!(cloud.recorded("ASG", "suspended", "web-asg").is_none());
}

#[tokio::test(start_paused = true)]
async fn a_record_cleanup_failure_after_a_resume_is_a_warning() {
    let cloud = forged(Running);
    cloud.lock().groups.get_mut("web-asg").unwrap().1.clear();
    run(&cloud, &request("W", Action::Stop)).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    let writes = cloud.calls_of("TransactWriteItems").len();
    cloud.fault("TransactWriteItems", None, "InternalServerError", usize::MAX);
    let report = run(&cloud, &request("W", Action::Start)).await;
    let change = &web(&report.summary.tiers).auto_scaling[0];
    assert_eq!(change.resumed.len(), 4, "{change:?}");
    assert!(change.error.as_deref().unwrap().starts_with("warning"), "{change:?}");
    assert!(cloud.calls_of("TransactWriteItems").len() > writes);
    assert_eq!(suspended(&cloud), ["Launch"]);
}

#[tokio::test(start_paused = true)]
async fn suspend_mode_refuses_without_the_ledger_naming_the_flag() {
    let cloud = forged(Running);
    cloud.lock().no_records = true;
    let error = run_refused(&cloud, &request("W", Action::Stop)).await.to_string();
    assert!(
        error.contains("TierAutoScalingGroups Suspend") && error.contains("--ledger-table"),
        "{error}"
    );
    assert!(cloud.calls_of("SuspendProcesses").is_empty() && cloud.calls_of("StopInstances").is_empty());
}

#[tokio::test(start_paused = true)]
async fn records_adopt_sees_the_suspended_tag_claim() {
    let cloud = forged(Running);
    let (_, _, _, untrusted) = ec2_tier_scheduler::orchestrator::record_survey(&cloud, "W", "us-west-2")
        .await
        .unwrap();
    let claim = untrusted
        .iter()
        .find(|u| u.what == "suspended")
        .expect("the tag's claim");
    assert_eq!(claim.member, "asg:web-asg");
    assert_eq!(
        claim.restore,
        Some(Restore::SuspendedProcesses(FORGED.map(String::from).to_vec()))
    );
}
