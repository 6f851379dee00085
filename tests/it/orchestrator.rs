//! The orchestrator against the in-memory cloud: order, batching, sync
//! tiers, delays, kill switch, dry run, deadlines and faults.

use std::time::Duration;

use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::error::RunError;
use ec2_tier_scheduler::instance::InstanceState::{self, *};
use ec2_tier_scheduler::orchestrator::{self, Budget, Settings};
use ec2_tier_scheduler::summary::RunStatus;
use serde_json::json;
use tokio::time::Instant;

use crate::support::fake::FakeCloud;
use crate::support::{request, run, run_refused, three_tiers, tier_item, workload_item};

/// Web, App, DB with two instances each, all in `state`.
fn spec_fleet(state: InstanceState, delay: u32) -> FakeCloud {
    let cloud = FakeCloud::new();
    let mut workload = workload_item("W");
    workload.as_object_mut().unwrap().remove("SNSTopicName");
    cloud.put_config(workload, three_tiers("W", delay));
    cloud.add_spec_instances(state);
    cloud
}

fn action_order(cloud: &FakeCloud, op: &str) -> Vec<Vec<String>> {
    cloud.calls_of(op).into_iter().map(|c| c.ids).collect()
}

fn assert_no_double_actions(cloud: &FakeCloud) {
    for (id, n) in cloud.action_counts() {
        assert_eq!(n, 1, "{id} was acted on {n} times");
    }
}

#[tokio::test(start_paused = true)]
async fn stop_runs_tiers_in_stop_sequence_then_start_in_reverse() {
    let cloud = spec_fleet(Running, 5);
    let report = run(&cloud, &request("W", Action::Stop)).await;
    assert_eq!(
        report.summary.status,
        RunStatus::Completed,
        "{}",
        report.summary.to_table()
    );
    assert_eq!(
        action_order(&cloud, "StopInstances"),
        vec![vec!["i-w1", "i-w2"], vec!["i-a1", "i-a2"], vec!["i-d1", "i-d2"]],
        "one batched call per tier, ids sorted"
    );
    tokio::time::sleep(Duration::from_secs(60)).await;
    for id in ["i-w1", "i-w2", "i-a1", "i-a2", "i-d1", "i-d2"] {
        assert_eq!(cloud.state_of(id), Stopped);
    }

    let report = run(&cloud, &request("W", Action::Start)).await;
    assert_eq!(report.summary.status, RunStatus::Completed);
    assert_eq!(
        action_order(&cloud, "StartInstances"),
        vec![vec!["i-d1", "i-d2"], vec!["i-a1", "i-a2"], vec!["i-w1", "i-w2"]]
    );
    let tiers: Vec<&str> = report.summary.tiers.iter().map(|t| t.tier.as_str()).collect();
    assert_eq!(tiers, ["Role_DB", "Role_App", "Role_Web"]);
}

#[tokio::test(start_paused = true)]
async fn inter_tier_delay_is_waited_between_tiers_but_not_after_the_last() {
    let cloud = spec_fleet(Running, 40);
    let began = Instant::now();
    let report = run(&cloud, &request("W", Action::Stop)).await;
    let at: Vec<u64> = cloud.call_seconds("StopInstances", began);
    assert_eq!(at, [0, 40, 80]);
    assert_eq!((Instant::now() - began).as_secs(), 80, "no delay after the last tier");
    assert_eq!(report.summary.tiers[2].started_at_ms, 80_000);
}

#[tokio::test(start_paused = true)]
async fn tiers_sharing_a_sequence_run_together() {
    let cloud = FakeCloud::new();
    cloud.put_config(
        workload_item("W"),
        vec![
            tier_item("W", "Role_Web", 0, 1, false, 30),
            tier_item("W", "Role_App", 0, 1, false, 10),
            tier_item("W", "Role_DB", 7, 0, false, 5),
        ],
    );
    for (id, tier) in [("i-1", "Role_Web"), ("i-2", "Role_App"), ("i-3", "Role_DB")] {
        cloud.add(id, "ENV001", tier, Running);
    }
    let began = Instant::now();
    run(&cloud, &request("W", Action::Stop)).await;
    let calls = cloud.calls_of("StopInstances");
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[0].at, calls[1].at, "Web and App start at the same instant");
    assert_eq!(
        (calls[2].at - began).as_secs(),
        30,
        "the longest delay of the group applies"
    );
}

#[tokio::test(start_paused = true)]
async fn synchronous_tier_waits_for_each_instance_in_id_order() {
    let cloud = FakeCloud::new();
    cloud.put_config(workload_item("W"), vec![tier_item("W", "Role_DB", 0, 0, true, 5)]);
    for id in ["i-c", "i-a", "i-b"] {
        cloud.add(id, "ENV001", "Role_DB", Running);
    }
    let began = Instant::now();
    let report = run(&cloud, &request("W", Action::Stop)).await;
    let calls = cloud.calls_of("StopInstances");
    let ids: Vec<&str> = calls.iter().map(|c| c.ids[0].as_str()).collect();
    assert_eq!(ids, ["i-a", "i-b", "i-c"]);
    assert!(calls.iter().all(|c| c.ids.len() == 1));
    for pair in calls.windows(2) {
        assert!(
            pair[1].at - pair[0].at >= cloud.transition,
            "next instance only after the previous stopped"
        );
    }
    for id in ["i-a", "i-b", "i-c"] {
        assert_eq!(cloud.state_of(id), Stopped);
    }
    assert_eq!(report.summary.tiers[0].acted.len(), 3);
    assert!((Instant::now() - began) >= cloud.transition * 3);

    // Start is synchronous too.
    run(&cloud, &request("W", Action::Start)).await;
    let starts = cloud.calls_of("StartInstances");
    assert_eq!(starts.len(), 3);
    for pair in starts.windows(2) {
        assert!(pair[1].at - pair[0].at >= cloud.transition);
    }
    assert_eq!(cloud.state_of("i-c"), Running);
}

#[tokio::test(start_paused = true)]
async fn kill_switch_actions_nothing() {
    let cloud = spec_fleet(Running, 5);
    let mut workload = workload_item("W");
    workload["DisableAllSchedulingActions"] = json!("1");
    cloud.put_config(workload, three_tiers("W", 5));
    let report = run(&cloud, &request("W", Action::Stop)).await;
    assert_eq!(report.summary.status, RunStatus::Disabled);
    assert!(report.summary.message.contains("DisableAllSchedulingActions"));
    // Only the original's notice that the kill switch is on.
    let mutating: Vec<&str> = cloud.mutating_calls().iter().map(|c| c.op).collect();
    assert_eq!(mutating, ["Publish"]);
    assert!(cloud.lock().published[0].1.contains("kill switch on for W"));
    assert_eq!(cloud.state_of("i-w1"), Running);
}

#[tokio::test(start_paused = true)]
async fn kill_switch_as_a_native_dynamodb_number_disables_the_workload() {
    let cloud = spec_fleet(Running, 5);
    let mut workload = workload_item("W");
    workload["DisableAllSchedulingActions"] = json!(1);
    cloud.put_config(workload, three_tiers("W", 5));
    let report = run(&cloud, &request("W", Action::Stop)).await;
    assert_eq!(report.summary.status, RunStatus::Disabled);
    assert!(cloud.calls_of("StopInstances").is_empty());
}

#[tokio::test(start_paused = true)]
async fn workload_state_round_trip_skips_a_second_start_unless_overridden() {
    let cloud = spec_fleet(Stopped, 5);
    let mut start = request("W", Action::Start);
    start.scaling_profile = Some("performant".into());
    run(&cloud, &start).await;
    let row = cloud.lock().workload_state.as_ref().unwrap()["W"].clone();
    assert_eq!(row.last_action_type, "Start");
    assert_eq!(row.profile.as_deref(), Some("performant"));
    // `%Y-%m-%d %H:%M:%S`
    assert_eq!(row.last_action_time.len(), 19);
    assert_eq!(&row.last_action_time[10..11], " ");

    // A second Start: skipped, nothing discovered, nothing touched.
    let before = cloud.calls().len();
    let report = run(&cloud, &request("W", Action::Start)).await;
    assert_eq!(report.summary.status, RunStatus::Skipped);
    assert!(
        report.summary.message.contains("overrideState"),
        "{}",
        report.summary.message
    );
    let ops: Vec<&str> = cloud.calls()[before..].iter().map(|c| c.op).collect();
    assert_eq!(ops, ["GetItem", "GetItem"], "the config and the state row only");

    // With the override it runs; a Stop is never skipped and is recorded.
    let mut forced = request("W", Action::Start);
    forced.override_state = true;
    assert_eq!(run(&cloud, &forced).await.summary.status, RunStatus::Completed);
    run(&cloud, &request("W", Action::Stop)).await;
    let row = cloud.lock().workload_state.as_ref().unwrap()["W"].clone();
    assert_eq!((row.last_action_type.as_str(), row.profile), ("Stop", None));
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        run(&cloud, &request("W", Action::Start)).await.summary.status,
        RunStatus::Completed
    );
}

#[tokio::test(start_paused = true)]
async fn without_a_workload_state_table_runs_go_on_and_say_so() {
    let cloud = spec_fleet(Stopped, 5);
    cloud.lock().workload_state = None;
    let report = run(&cloud, &request("W", Action::Start)).await;
    assert_eq!(report.summary.status, RunStatus::Completed);
    assert!(report
        .summary
        .workload_state
        .as_deref()
        .unwrap()
        .contains("does not exist"));
    assert!(report
        .summary
        .to_table()
        .contains("WorkloadState: table WorkloadState does not exist"));
}

#[tokio::test(start_paused = true)]
async fn a_dry_run_writes_no_workload_state() {
    let cloud = spec_fleet(Stopped, 5);
    let mut dry = request("W", Action::Start);
    dry.dry_run = true;
    run(&cloud, &dry).await;
    assert!(cloud.lock().workload_state.as_ref().unwrap().is_empty());
    assert!(cloud.calls_of("PutItem").is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_role_that_cannot_be_assumed_refuses_the_run_with_no_ec2_call() {
    let cloud = spec_fleet(Running, 5);
    let mut workload = workload_item("W");
    workload["CrossAccountRole"] = json!("arn:aws:iam::222233334444:role/Scheduler");
    workload["CrossAccountRoleExternalId"] = json!("s3cret");
    cloud.put_config(workload, three_tiers("W", 5));
    cloud
        .lock()
        .roles
        .insert("arn:aws:iam::222233334444:role/Scheduler".into(), "other".into());
    let err = run_refused(&cloud, &request("W", Action::Stop)).await;
    assert!(err.to_string().contains("AssumeRole"), "{err}");
    let ec2: Vec<&str> = cloud
        .calls()
        .iter()
        .map(|c| c.op)
        .filter(|op| !matches!(*op, "GetItem" | "AssumeRole(failed)" | "AssumeRole"))
        .collect();
    assert!(ec2.is_empty(), "{ec2:?}");
    assert!(
        cloud.lock().ports_given.is_empty(),
        "never the scheduler's own credentials"
    );

    // With the right ExternalId the run acts through the role.
    cloud
        .lock()
        .roles
        .insert("arn:aws:iam::222233334444:role/Scheduler".into(), "s3cret".into());
    let report = run(&cloud, &request("W", Action::Stop)).await;
    assert_eq!(report.summary.account.as_ref().unwrap().account_id, "222233334444");
    let given = cloud.lock().ports_given.clone();
    assert!(
        given.iter().all(|(_, who)| who.ends_with("role/Scheduler")),
        "{given:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn dry_run_makes_no_mutating_call_and_returns_the_plan() {
    let cloud = spec_fleet(Running, 5);
    let mut workload = workload_item("W");
    workload["SNSTopicName"] = json!("SchedulerTesting");
    let mut tiers = three_tiers("W", 5);
    tiers[0]["TierStop"]["TierStopOverrideFilename"] = json!("/tmp/StopOverride");
    tiers[0]["TierStop"]["TierStopOverrideOperatingSystem"] = json!("Linux");
    cloud.put_config(workload, tiers);
    let mut req = request("W", Action::Stop);
    req.dry_run = true;
    let report = run(&cloud, &req).await;
    assert_eq!(report.summary.status, RunStatus::DryRun);
    assert!(cloud.mutating_calls().is_empty(), "{:?}", cloud.mutating_calls());
    assert!(cloud.calls_of("GetBucketLocation").is_empty());
    let web = &report.plan.groups[0].tiers[0];
    assert!(
        web.instances.iter().all(|i| i.check_override),
        "the plan says which instances would be checked"
    );
    assert_eq!(report.plan.instances().count(), 6);

    let mut req = request("W", Action::Start);
    req.dry_run = true;
    req.scaling_profile = Some("performant".into());
    cloud.lock().instances.values_mut().for_each(|i| i.state = Stopped);
    let report = run(&cloud, &req).await;
    assert!(report
        .plan
        .instances()
        .all(|(_, i)| i.resize_to.as_deref() == Some("m5.large")));
    assert!(cloud.mutating_calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn deadline_mid_run_stops_acting_and_says_what_was_not_done() {
    let cloud = spec_fleet(Running, 120);
    let budget = Budget::from_now(Duration::from_secs(200), Duration::from_secs(20));
    let report = orchestrator::run(&cloud, &request("W", Action::Stop), &budget, &Settings::default())
        .await
        .unwrap();
    let s = &report.summary;
    assert_eq!(s.status, RunStatus::DeadlineReached, "{}", s.to_table());
    // Web stopped at 0 s, App at 120 s; the second 120 s delay does not fit.
    assert_eq!(action_order(&cloud, "StopInstances").len(), 2);
    assert_eq!(s.tiers[0].acted, ["i-w1", "i-w2"]);
    assert_eq!(s.tiers[1].acted, ["i-a1", "i-a2"]);
    let not_done: Vec<&str> = s.tiers[2].not_done.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(not_done, ["i-d1", "i-d2"]);
    assert!(s.message.contains("InterTierOrchestrationDelay"), "{}", s.message);
    assert!(Instant::now() <= Instant::now() + budget.remaining());
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(cloud.state_of("i-d1"), Running, "untouched");
}

#[tokio::test(start_paused = true)]
async fn deadline_inside_a_synchronous_tier() {
    let cloud = FakeCloud::new();
    cloud.put_config(workload_item("W"), vec![tier_item("W", "Role_DB", 0, 0, true, 5)]);
    for id in ["i-1", "i-2", "i-3", "i-4"] {
        cloud.add(id, "ENV001", "Role_DB", Running);
    }
    // 30 s per instance plus polling; 75 s of budget cannot cover four.
    let budget = Budget::from_now(Duration::from_secs(95), Duration::from_secs(20));
    let report = orchestrator::run(&cloud, &request("W", Action::Stop), &budget, &Settings::default())
        .await
        .unwrap();
    let t = &report.summary.tiers[0];
    assert_eq!(report.summary.status, RunStatus::DeadlineReached);
    assert!(
        report.summary.message.contains("synchronous tier Role_DB"),
        "{}",
        report.summary.message
    );
    let acted: Vec<&str> = t.acted.iter().map(String::as_str).collect();
    let not_done: Vec<&str> = t.not_done.iter().map(|n| n.id.as_str()).collect();
    assert!(!acted.is_empty() && !not_done.is_empty());
    assert_eq!(
        [acted.clone(), not_done.clone()].concat(),
        ["i-1", "i-2", "i-3", "i-4"],
        "in order, each exactly once"
    );
    assert_eq!(
        cloud.calls_of("StopInstances").len(),
        acted.len(),
        "nothing after the budget ran out"
    );
    tokio::time::sleep(Duration::from_secs(60)).await;
    for id in not_done {
        assert_eq!(cloud.state_of(id), Running);
    }
    assert_no_double_actions(&cloud);
}

#[tokio::test(start_paused = true)]
async fn large_tiers_are_batched_by_500() {
    let cloud = FakeCloud::new();
    cloud.put_config(workload_item("W"), vec![tier_item("W", "Role_Web", 0, 0, false, 5)]);
    for n in 0..1200 {
        cloud.add(&format!("i-{n:05}"), "ENV001", "Role_Web", Running);
    }
    let report = run(&cloud, &request("W", Action::Stop)).await;
    let sizes: Vec<usize> = cloud.calls_of("StopInstances").iter().map(|c| c.ids.len()).collect();
    assert_eq!(sizes, [500, 500, 200]);
    assert_eq!(report.summary.tiers[0].acted.len(), 1200);
    assert_no_double_actions(&cloud);
}

#[tokio::test(start_paused = true)]
async fn one_bad_instance_does_not_block_the_batch() {
    let cloud = spec_fleet(Running, 5);
    for n in 0..40 {
        cloud.add(&format!("i-x{n:02}"), "ENV001", "Role_Web", Running);
    }
    cloud.fault("StopInstances", Some("i-x17"), "UnsupportedOperation", usize::MAX);
    let report = run(&cloud, &request("W", Action::Stop)).await;
    let web = &report.summary.tiers[0];
    assert_eq!(web.acted.len(), 41);
    assert_eq!(web.failed.len(), 1);
    assert_eq!(web.failed[0].id, "i-x17");
    assert_eq!(web.failed[0].code.as_deref(), Some("UnsupportedOperation"));
    assert_eq!(report.summary.status, RunStatus::CompletedWithFailures);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(cloud.state_of("i-x16"), Stopped);
    assert_eq!(cloud.state_of("i-x17"), Running);
    assert_no_double_actions(&cloud);
}

#[tokio::test(start_paused = true)]
async fn throttling_and_capacity_errors_are_retried_within_the_budget() {
    let cloud = spec_fleet(Stopped, 5);
    cloud.fault("StartInstances", None, "RequestLimitExceeded", 2);
    cloud.fault("StartInstances", Some("i-a2"), "InsufficientInstanceCapacity", 3);
    let report = run(&cloud, &request("W", Action::Start)).await;
    assert_eq!(
        report.summary.status,
        RunStatus::Completed,
        "{}",
        report.summary.to_table()
    );
    tokio::time::sleep(Duration::from_secs(60)).await;
    for id in ["i-w1", "i-w2", "i-a1", "i-a2", "i-d1", "i-d2"] {
        assert_eq!(cloud.state_of(id), Running, "{id}");
    }
    assert_no_double_actions(&cloud);

    // Capacity that never returns is reported with its code.
    let cloud = spec_fleet(Stopped, 5);
    cloud.fault(
        "StartInstances",
        Some("i-d1"),
        "InsufficientInstanceCapacity",
        usize::MAX,
    );
    let report = run(&cloud, &request("W", Action::Start)).await;
    let db = &report.summary.tiers[0];
    assert_eq!(db.failed[0].id, "i-d1");
    assert_eq!(db.failed[0].code.as_deref(), Some("InsufficientInstanceCapacity"));
    assert_eq!(db.acted, ["i-d2"]);
}

#[tokio::test(start_paused = true)]
async fn transitional_instances_are_waited_out_then_acted_on() {
    let cloud = spec_fleet(Running, 5);
    // i-w1 is still starting when the stop arrives.
    cloud.lock().instances.get_mut("i-w1").unwrap().state = Pending;
    cloud.lock().instances.get_mut("i-w1").unwrap().settles = Some((Instant::now() + Duration::from_secs(20), Running));
    let report = run(&cloud, &request("W", Action::Stop)).await;
    assert_eq!(report.summary.tiers[0].acted, ["i-w1", "i-w2"]);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(cloud.state_of("i-w1"), Stopped);

    // Stuck in stopping for ever: reported, not silently skipped.
    let cloud = spec_fleet(Stopped, 5);
    cloud.lock().instances.get_mut("i-d1").unwrap().state = Stopping;
    cloud.lock().stuck.insert("i-d1".into());
    let report = run(&cloud, &request("W", Action::Start)).await;
    let db = &report.summary.tiers[0];
    assert_eq!(db.failed.len(), 1);
    assert!(
        db.failed[0].reason.contains("still stopping"),
        "{}",
        db.failed[0].reason
    );
    assert_eq!(db.acted, ["i-d2"]);
}

#[tokio::test(start_paused = true)]
async fn invalid_configuration_touches_nothing() {
    let cloud = spec_fleet(Running, 5);
    let mut tiers = three_tiers("W", 5);
    tiers[2]["TierStop"]["TierSequence"] = json!("last");
    cloud.put_config(workload_item("W"), tiers);
    let err = run_refused(&cloud, &request("W", Action::Stop)).await;
    let text = err.to_string();
    assert!(
        text.contains("\"W\"") && text.contains("TierSpecification[Role_DB].TierStop.TierSequence"),
        "{text}"
    );
    assert!(
        cloud.calls_of("DescribeInstances").is_empty(),
        "validation happens before discovery"
    );
    assert!(cloud.mutating_calls().is_empty());

    let err = run_refused(&cloud, &request("Nope", Action::Stop)).await;
    assert!(matches!(err, RunError::WorkloadNotFound { .. }), "{err}");
    assert!(err.to_string().contains("\"Nope\""));
}

#[tokio::test(start_paused = true)]
async fn discovery_respects_workload_and_vpc() {
    let cloud = FakeCloud::new();
    let mut workload = workload_item("W");
    workload["VPC_ID"] = json!("vpc-1");
    cloud.put_config(workload, three_tiers("W", 5));
    cloud.add("i-in", "ENV001", "Role_Web", Running);
    cloud.add_in_vpc("i-othervpc", "ENV001", "Role_Web", Running, "vpc-2");
    cloud.add("i-otherenv", "ENV002", "Role_Web", Running);
    cloud.add("i-notier", "ENV001", "", Running);
    run(&cloud, &request("W", Action::Stop)).await;
    assert_eq!(action_order(&cloud, "StopInstances"), vec![vec!["i-in"]]);
}
