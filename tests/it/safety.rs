//! Issue 15's safety and control features against the in-memory cloud:
//! Auto Scaling members, hibernation, expiring override tags, change
//! calendars and one-time Spot instances.

use std::time::Duration;

use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::clock::utc_timestamp;
use ec2_tier_scheduler::error::RunError;
use ec2_tier_scheduler::instance::InstanceState::*;
use ec2_tier_scheduler::orchestrator::AUTO_SCALING_PROCESSES as PROCESSES;
use ec2_tier_scheduler::records::Restore;
use ec2_tier_scheduler::summary::{RunStatus, TierOutcome};
use serde_json::json;

use crate::support::fake::FakeCloud;
use crate::support::{request, run, run_refused, tier_item, workload_item};

/// One tier Role_Web with i-1..i-3 in `state`.
fn web(state: ec2_tier_scheduler::instance::InstanceState) -> FakeCloud {
    let cloud = FakeCloud::new();
    let mut tier = tier_item("W", "Role_Web", 0, 0, false, 0);
    tier.as_object_mut().unwrap().remove("TierScaling");
    cloud.put_config(workload_item("W"), vec![tier]);
    for id in ["i-1", "i-2", "i-3"] {
        cloud.add(id, "ENV001", "Role_Web", state);
    }
    cloud
}

fn tag(cloud: &FakeCloud, id: &str, key: &str, value: &str) {
    cloud
        .lock()
        .instances
        .get_mut(id)
        .unwrap()
        .tags
        .insert(key.into(), value.into());
}

fn web_outcome(tiers: &[TierOutcome]) -> &TierOutcome {
    tiers.iter().find(|t| t.tier == "Role_Web").unwrap()
}

fn set_tier(cloud: &FakeCloud, section: &str, key: &str, value: serde_json::Value) {
    let mut s = cloud.lock();
    let items = s.items.get_mut("W").unwrap();
    items.tiers[0][section][key] = value;
}

#[tokio::test(start_paused = true)]
async fn auto_scaling_members_are_left_alone_by_default() {
    let cloud = web(Running);
    tag(&cloud, "i-2", "aws:autoscaling:groupName", "web-asg");
    let report = run(&cloud, &request("W", Action::Stop)).await;
    let web = web_outcome(&report.summary.tiers);
    assert_eq!(web.acted, ["i-1", "i-3"]);
    let skipped = &web.skipped[0];
    assert_eq!(skipped.id, "i-2");
    assert!(
        skipped.reason.contains("member of Auto Scaling group web-asg"),
        "{}",
        skipped.reason
    );
    assert!(report.plan.to_table().contains("member of Auto Scaling group web-asg"));
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(cloud.state_of("i-2"), Running);
}

#[tokio::test(start_paused = true)]
async fn override_tags_keep_instances_until_they_expire() {
    let cloud = web(Running);
    let now = ec2_tier_scheduler::clock::now();
    let later = format!("keep-running until {}Z", utc_timestamp(now + 3 * 3600));
    let past = format!("keep-running until {}Z", utc_timestamp(now - 60));
    tag(&cloud, "i-1", "SchedulerOverride", &later);
    tag(&cloud, "i-1", "SchedulerOverrideReason", "month-end batch");
    tag(&cloud, "i-2", "SchedulerOverride", &past);
    tag(
        &cloud,
        "i-3",
        "SchedulerOverride",
        "keep-stopped until 2099-01-01T00:00:00Z",
    );
    let report = run(&cloud, &request("W", Action::Stop)).await;
    let web = web_outcome(&report.summary.tiers);
    assert_eq!(
        web.acted,
        ["i-2", "i-3"],
        "expired and other-action tags have no effect"
    );
    assert!(web.skipped[0].reason.contains("keep-running until") && web.skipped[0].reason.contains("month-end batch"));
    assert!(
        report
            .summary
            .warnings
            .iter()
            .any(|w| w.starts_with("i-2: ") && w.contains("expired")),
        "{:?}",
        report.summary.warnings
    );
    // keep-stopped holds through Start; an unreadable value is ignored and said.
    tokio::time::sleep(Duration::from_secs(60)).await;
    tag(&cloud, "i-2", "SchedulerOverride", "until tomorrow");
    let report = run(&cloud, &request("W", Action::Start)).await;
    let web = web_outcome(&report.summary.tiers);
    assert_eq!(web.acted, ["i-2"]);
    assert!(web
        .skipped
        .iter()
        .any(|n| n.id == "i-3" && n.reason.contains("keep-stopped")));
    assert!(report
        .summary
        .warnings
        .iter()
        .any(|w| w.starts_with("i-2: override tag ignored")));
}

#[tokio::test(start_paused = true)]
async fn hibernation_is_used_where_configured_and_falls_back_to_a_normal_stop() {
    let cloud = web(Running);
    set_tier(&cloud, "TierStop", "TierHibernate", json!("True"));
    {
        let mut s = cloud.lock();
        s.instances.get_mut("i-1").unwrap().hibernation = true;
        s.instances.get_mut("i-2").unwrap().hibernation = true;
        s.hibernation_refused.insert("i-2".into());
    }
    let report = run(&cloud, &request("W", Action::Stop)).await;
    let web = web_outcome(&report.summary.tiers);
    assert_eq!(
        report.summary.status,
        RunStatus::Completed,
        "{}",
        report.summary.to_table()
    );
    let mut acted = web.acted.clone();
    acted.sort();
    assert_eq!(acted, ["i-1", "i-2", "i-3"]);
    assert_eq!(web.hibernated, ["i-1"]);
    assert_eq!(web.hibernation_fallback[0].id, "i-2");
    assert!(web.hibernation_fallback[0]
        .reason
        .contains("UnsupportedHibernationConfiguration"));
    assert!(cloud.lock().instances["i-1"].hibernated);
    assert!(
        !cloud.lock().instances["i-3"].hibernated,
        "not configured: a normal stop"
    );
    assert!(report.plan.to_table().contains("hibernate"));
}

#[tokio::test(start_paused = true)]
async fn a_one_time_spot_instance_is_skipped_not_failed() {
    let cloud = web(Running);
    cloud.lock().instances.get_mut("i-2").unwrap().spot = true;
    cloud.lock().one_time_spot.insert("i-2".into());
    let report = run(&cloud, &request("W", Action::Stop)).await;
    let web = web_outcome(&report.summary.tiers);
    assert_eq!(
        report.summary.status,
        RunStatus::Completed,
        "{}",
        report.summary.to_table()
    );
    assert!(web.failed.is_empty());
    assert_eq!(web.acted, ["i-1", "i-3"]);
    assert!(web
        .skipped
        .iter()
        .any(|n| n.id == "i-2" && n.reason.contains("one-time request")));
}

#[tokio::test(start_paused = true)]
async fn a_closed_change_calendar_skips_the_run_and_an_unreadable_one_refuses_it() {
    let cloud = web(Running);
    {
        let mut s = cloud.lock();
        let w = &mut s.items.get_mut("W").unwrap().workload;
        w["ChangeCalendarNames"] = json!("holidays");
        w["ChangeCalendarActions"] = json!("Stop");
        s.calendars.insert("holidays".into(), false);
    }
    let report = run(&cloud, &request("W", Action::Stop)).await;
    assert_eq!(report.summary.status, RunStatus::SkippedByCalendar);
    assert!(report
        .summary
        .message
        .contains("holidays are CLOSED until 2026-11-27T08:00:00Z"));
    assert!(
        cloud.calls_of("DescribeInstances").is_empty(),
        "no discovery, no action"
    );
    assert!(cloud
        .lock()
        .published
        .iter()
        .any(|(_, subject, _)| subject.contains("change calendar closed")));
    assert_eq!(
        serde_json::to_value(report.summary.status).unwrap(),
        json!("skippedByCalendar")
    );
    // Calendars gate only the actions they name.
    tokio::time::sleep(Duration::from_secs(60)).await;
    let report = run(&cloud, &request("W", Action::Start)).await;
    assert_eq!(report.summary.status, RunStatus::Completed);
    // Open: the run goes on.
    cloud.lock().calendars.insert("holidays".into(), true);
    let report = run(&cloud, &request("W", Action::Stop)).await;
    assert_eq!(report.summary.status, RunStatus::Completed);
    // A calendar that cannot be read refuses the run (fail closed).
    cloud.lock().calendars.clear();
    let err = run_refused(&cloud, &request("W", Action::Stop)).await;
    assert!(matches!(err, RunError::Precondition { .. }), "{err}");
    assert!(
        err.to_string().contains("cannot read Change Calendar(s) holidays"),
        "{err}"
    );
}

/// Web with i-1 (member of `web-asg`), i-2 (plain), Suspend mode on both sections.
fn suspend_mode(state: ec2_tier_scheduler::instance::InstanceState) -> FakeCloud {
    let cloud = web(state);
    tag(&cloud, "i-1", "aws:autoscaling:groupName", "web-asg");
    set_tier(&cloud, "TierStop", "TierAutoScalingGroups", json!("Suspend"));
    set_tier(&cloud, "TierStart", "TierAutoScalingGroups", json!("Suspend"));
    cloud.lock().groups.insert("web-asg".into(), Default::default());
    cloud
}

#[tokio::test(start_paused = true)]
async fn suspend_mode_suspends_before_stopping_and_resumes_after_starting() {
    let cloud = suspend_mode(Running);
    // Someone else suspended AZRebalance: it stays suspended throughout.
    cloud
        .lock()
        .groups
        .get_mut("web-asg")
        .unwrap()
        .0
        .insert("AZRebalance".into());
    let report = run(&cloud, &request("W", Action::Stop)).await;
    let web = web_outcome(&report.summary.tiers);
    assert_eq!(web.acted.len(), 3, "{}", report.summary.to_table());
    let change = &web.auto_scaling[0];
    assert_eq!(
        change.suspended,
        ["Launch", "Terminate", "HealthCheck", "ReplaceUnhealthy"]
    );
    assert_eq!(change.left_alone, ["AZRebalance"]);
    let suspend_at = cloud.calls_of("SuspendProcesses")[0].at;
    assert!(
        suspend_at <= cloud.calls_of("StopInstances")[0].at,
        "suspended before the stop"
    );
    // Recorded in the run ledger (before the suspension), never as a tag.
    assert_eq!(
        cloud.recorded("ASG", "suspended", "web-asg").map(|r| r.restore),
        Some(Restore::SuspendedProcesses(
            ["Launch", "Terminate", "HealthCheck", "ReplaceUnhealthy"]
                .map(String::from)
                .to_vec()
        ))
    );
    assert!(cloud.calls_of("TransactWriteItems")[0].at <= suspend_at);
    assert!(cloud.lock().groups["web-asg"].1.is_empty(), "no tag written");

    tokio::time::sleep(Duration::from_secs(60)).await;
    let report = run(&cloud, &request("W", Action::Start)).await;
    let web = web_outcome(&report.summary.tiers);
    assert_eq!(
        web.auto_scaling[0].resumed,
        ["Launch", "Terminate", "HealthCheck", "ReplaceUnhealthy"]
    );
    let groups = cloud.lock().groups.clone();
    let (suspended, _) = &groups["web-asg"];
    assert_eq!(
        suspended.iter().collect::<Vec<_>>(),
        ["AZRebalance"],
        "someone else's stays"
    );
    assert!(
        cloud.recorded("ASG", "suspended", "web-asg").is_none(),
        "the record is removed once resumed"
    );
    assert!(
        cloud.calls_of("ResumeProcesses")[0].at >= cloud.calls_of("StartInstances")[0].at + Duration::from_secs(30),
        "resumed once the member runs"
    );
}

#[tokio::test(start_paused = true)]
async fn a_member_whose_group_cannot_be_suspended_is_not_stopped() {
    let cloud = suspend_mode(Running);
    cloud.fault("SuspendProcesses", None, "AccessDenied", 1);
    let report = run(&cloud, &request("W", Action::Stop)).await;
    let web = web_outcome(&report.summary.tiers);
    assert_eq!(report.summary.status, RunStatus::CompletedWithFailures);
    assert_eq!(web.acted, ["i-2", "i-3"]);
    assert!(web.failed[0].id == "i-1" && web.failed[0].reason.contains("could not be suspended"));
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(cloud.state_of("i-1"), Running);
}

#[tokio::test(start_paused = true)]
async fn a_crashed_runs_suspension_is_resumed_by_the_next_start() {
    // The Stop suspended (and recorded) and stopped; the Start that should
    // have resumed crashed after starting. The next Start finds the member
    // running and still resumes what the scheduler suspended.
    let cloud = suspend_mode(Running);
    let ours = vec!["Launch".to_string(), "HealthCheck".to_string()];
    cloud
        .lock()
        .groups
        .insert("web-asg".into(), (ours.iter().cloned().collect(), Vec::new()));
    cloud.put_record("ASG", "web-asg", Restore::SuspendedProcesses(ours));
    let report = run(&cloud, &request("W", Action::Start)).await;
    let web = web_outcome(&report.summary.tiers);
    assert!(web.acted.is_empty());
    assert_eq!(web.auto_scaling[0].resumed, ["Launch", "HealthCheck"]);
    assert!(cloud.lock().groups["web-asg"].0.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_group_with_a_member_that_did_not_start_stays_suspended() {
    let cloud = suspend_mode(Stopped);
    let all: Vec<String> = PROCESSES.iter().map(|s| s.to_string()).collect();
    cloud
        .lock()
        .groups
        .insert("web-asg".into(), (all.iter().cloned().collect(), Vec::new()));
    cloud.put_record("ASG", "web-asg", Restore::SuspendedProcesses(all));
    cloud.fault(
        "StartInstances",
        Some("i-1"),
        "InsufficientInstanceCapacity",
        usize::MAX,
    );
    let report = run(&cloud, &request("W", Action::Start)).await;
    let web = web_outcome(&report.summary.tiers);
    let change = &web.auto_scaling[0];
    assert!(change.resumed.is_empty());
    assert!(
        change.error.as_deref().unwrap().contains("i-1 not running"),
        "{change:?}"
    );
    assert_eq!(cloud.lock().groups["web-asg"].0.len(), 5, "still suspended");
    assert!(
        cloud.recorded("ASG", "suspended", "web-asg").is_some(),
        "its record is kept"
    );
}
