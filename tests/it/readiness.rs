//! Readiness gates against the in-memory cloud: the next tier begins only
//! when every instance the tier acted on passes its gate, polled for the
//! whole tier with backoff, within the gate's timeout and the run's budget.

use std::time::Duration;

use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::config::ReadinessCheck;
use ec2_tier_scheduler::instance::InstanceState::*;
use ec2_tier_scheduler::orchestrator::{self, Budget, Settings};
use ec2_tier_scheduler::summary::{RunStatus, TierOutcome};
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::support::fake::FakeCloud;
use crate::support::{request, run, three_tiers, workload_item};

/// Index of Role_DB in `three_tiers`: it starts first (sequence 0).
const DB: usize = 2;
/// Index of Role_Web in `three_tiers`: it stops first (sequence 0).
const WEB: usize = 0;

/// Adds a readiness gate to `section` of tier `index`.
fn gate(tiers: &mut [Value], index: usize, section: &str, check: &str, timeout: Option<u32>, on_timeout: &str) {
    let s = &mut tiers[index][section];
    s["TierReadiness"] = json!(check);
    if let Some(t) = timeout {
        s["TierReadinessTimeout"] = json!(t.to_string());
    }
    s["TierReadinessOnTimeout"] = json!(on_timeout);
}

/// Web, App, DB with two instances each in `state`, and the given tiers.
/// Stops take 30 s; starts run at once, so every start is confirmed at the
/// first poll and the times below are the gates' own (tests/it/starts.rs
/// times the confirmation).
fn fleet(tiers: Vec<Value>, state: ec2_tier_scheduler::instance::InstanceState) -> FakeCloud {
    let cloud = FakeCloud::new().with_transitions(Duration::from_secs(30), Duration::ZERO);
    cloud.put_config(workload_item("W"), tiers);
    cloud.add_spec_instances(state);
    cloud
}

fn db_gate(check: &str, timeout: Option<u32>, on_timeout: &str) -> FakeCloud {
    let mut tiers = three_tiers("W", 5);
    gate(&mut tiers, DB, "TierStart", check, timeout, on_timeout);
    fleet(tiers, Stopped)
}

fn never_ok(cloud: &FakeCloud, id: &str) {
    cloud.lock().status_ok_after.insert(id.into(), usize::MAX);
}

/// Seconds from `began` of each StartInstances call, with its ids.
fn starts(cloud: &FakeCloud, began: Instant) -> Vec<(u64, Vec<String>)> {
    cloud
        .calls_of("StartInstances")
        .into_iter()
        .map(|c| ((c.at - began).as_secs(), c.ids))
        .collect()
}

fn tier<'a>(tiers: &'a [TierOutcome], name: &str) -> &'a TierOutcome {
    tiers.iter().find(|t| t.tier == name).unwrap()
}

async fn run_budget(cloud: &FakeCloud, action: Action, budget: &Budget) -> orchestrator::RunReport {
    orchestrator::run(cloud, &request("W", action), budget, &Settings::default())
        .await
        .expect("run")
}

#[tokio::test(start_paused = true)]
async fn the_next_tier_starts_only_after_status_checks_pass_plus_the_delay() {
    // GIVEN DB gated on status checks that pass on the 3rd and 2nd poll, and a
    // DB instance already running whose checks never pass
    let cloud = db_gate("StatusChecks", Some(300), "Abort");
    cloud.lock().status_ok_after.insert("i-d1".into(), 3);
    cloud.lock().status_ok_after.insert("i-d2".into(), 2);
    cloud.add("i-d0", "ENV001", "Role_DB", Running);
    never_ok(&cloud, "i-d0");
    let began = Instant::now();

    // WHEN the workload is started
    let report = run(&cloud, &request("W", Action::Start)).await;

    // THEN the gate polled the started instances at 0, 2 and 6 s, only those
    // still waiting, and never the one that was already running
    let polls: Vec<(u64, Vec<String>)> = cloud
        .calls_of("DescribeInstanceStatus")
        .into_iter()
        .map(|c| ((c.at - began).as_secs(), c.ids))
        .collect();
    assert_eq!(
        polls,
        [
            (0, vec!["i-d1".to_string(), "i-d2".to_string()]),
            (2, vec!["i-d1".to_string(), "i-d2".to_string()]),
            (6, vec!["i-d1".to_string()]),
        ]
    );
    // and App started 5 s (its InterTierOrchestrationDelay) after the gate passed
    assert_eq!(
        starts(&cloud, began),
        [
            (0, vec!["i-d1".to_string(), "i-d2".to_string()]),
            (11, vec!["i-a1".to_string(), "i-a2".to_string()]),
            (16, vec!["i-w1".to_string(), "i-w2".to_string()]),
        ]
    );
    let s = &report.summary;
    assert_eq!(s.status, RunStatus::Completed, "{}", s.to_table());
    let g = tier(&s.tiers, "Role_DB").gate.clone().expect("DB has a gate");
    assert_eq!(g.check, ReadinessCheck::StatusChecks);
    assert_eq!((g.ready, g.timed_out, g.waited_ms), (2, false, 6_000));
    assert!(g.not_ready.is_empty());
    assert!(tier(&s.tiers, "Role_App").gate.is_none());
    assert_eq!(tier(&s.tiers, "Role_App").started_at_ms, 11_000);
}

#[tokio::test(start_paused = true)]
async fn a_gate_that_times_out_with_continue_lets_the_run_go_on() {
    // GIVEN DB gated for 60 s on status checks that never pass for i-d1
    let cloud = db_gate("StatusChecks", Some(60), "Continue");
    never_ok(&cloud, "i-d1");
    let began = Instant::now();

    // WHEN the workload is started
    let report = run(&cloud, &request("W", Action::Start)).await;

    // THEN the gate gave up after 60 s and the run went on after the delay
    let s = &report.summary;
    assert_eq!(s.status, RunStatus::Completed, "{}", s.to_table());
    let g = tier(&s.tiers, "Role_DB").gate.clone().unwrap();
    assert!(g.timed_out);
    assert_eq!(g.not_ready, ["i-d1"]);
    assert_eq!((g.ready, g.waited_ms), (1, 60_000));
    let at: Vec<u64> = starts(&cloud, began).into_iter().map(|(t, _)| t).collect();
    assert_eq!(at, [0, 65, 70]);
    assert!(s.details().contains("(timed out)"), "{}", s.details());
    tokio::time::sleep(Duration::from_secs(60)).await;
    for id in ["i-w1", "i-w2", "i-a1", "i-a2", "i-d1", "i-d2"] {
        assert_eq!(cloud.state_of(id), Running, "{id}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_gate_that_times_out_with_abort_stops_the_run_there() {
    // GIVEN DB gated for 60 s with Abort, and i-d1 never passing
    let cloud = db_gate("StatusChecks", Some(60), "Abort");
    never_ok(&cloud, "i-d1");
    let began = Instant::now();

    // WHEN the workload is started
    let report = run(&cloud, &request("W", Action::Start)).await;

    // THEN the run is aborted, naming the instance that was not ready
    let s = &report.summary;
    assert_eq!(s.status, RunStatus::Aborted, "{}", s.to_table());
    assert!(
        s.message.contains("Role_DB") && s.message.contains("i-d1") && !s.message.contains("i-d2"),
        "{}",
        s.message
    );
    // and no later tier was started: their instances are listed as not done
    assert_eq!(starts(&cloud, began).len(), 1, "only DB was started");
    for name in ["Role_App", "Role_Web"] {
        let t = tier(&s.tiers, name);
        assert!(t.acted.is_empty(), "{name}");
        assert_eq!(t.not_done.len(), 2, "{name}");
        for n in &t.not_done {
            assert!(
                n.reason.contains("not reached") && n.reason.contains("i-d1"),
                "{}",
                n.reason
            );
        }
    }
    assert_eq!(tier(&s.tiers, "Role_DB").acted, ["i-d1", "i-d2"]);
    assert_eq!((Instant::now() - began).as_secs(), 60, "no delay after the abort");
    tokio::time::sleep(Duration::from_secs(60)).await;
    for id in ["i-w1", "i-w2", "i-a1", "i-a2"] {
        assert_eq!(cloud.state_of(id), Stopped, "{id}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_gate_longer_than_the_time_left_ends_in_deadline_reached() {
    // GIVEN a gate with the default 600 s timeout, 90 s of budget, and a
    // `Continue` that must not carry the run past the deadline
    let cloud = db_gate("StatusChecks", None, "Continue");
    never_ok(&cloud, "i-d1");
    let budget = Budget::from_now(Duration::from_secs(100), Duration::from_secs(10));
    let began = Instant::now();

    // WHEN the workload is started
    let report = run_budget(&cloud, Action::Start, &budget).await;

    // THEN the gate was cut at the budget and the run says so
    let s = &report.summary;
    assert_eq!(s.status, RunStatus::DeadlineReached, "{}", s.to_table());
    assert!(
        s.message.contains("time ran out while tier Role_DB waited"),
        "{}",
        s.message
    );
    assert!(Instant::now() - began <= Duration::from_secs(90));
    let g = tier(&s.tiers, "Role_DB").gate.clone().unwrap();
    assert!(g.timed_out);
    assert_eq!(g.waited_ms, 90_000);
    assert_eq!(starts(&cloud, began).len(), 1);
    for name in ["Role_App", "Role_Web"] {
        assert_eq!(tier(&s.tiers, name).not_done.len(), 2, "{name}");
    }
}

#[tokio::test(start_paused = true)]
async fn read_errors_while_gating_count_as_not_ready_yet() {
    let cloud = db_gate("StatusChecks", Some(60), "Abort");
    cloud.fault("DescribeInstanceStatus", None, "RequestLimitExceeded", 1);
    let report = run(&cloud, &request("W", Action::Start)).await;
    let s = &report.summary;
    assert_eq!(s.status, RunStatus::Completed, "{}", s.to_table());
    let g = tier(&s.tiers, "Role_DB").gate.clone().unwrap();
    assert_eq!((g.ready, g.timed_out, g.waited_ms), (2, false, 2_000));
}

#[tokio::test(start_paused = true)]
async fn an_ssm_online_gate_waits_for_the_agents() {
    // GIVEN DB is SSM-managed (override check on stop) and gated on SsmOnline;
    // the agents come online 20 s and 40 s after the start
    let mut tiers = three_tiers("W", 5);
    tiers[DB]["TierStop"]["TierStopOverrideFilename"] = json!("/tmp/StopOverride");
    tiers[DB]["TierStop"]["TierStopOverrideOperatingSystem"] = json!("Linux");
    gate(&mut tiers, DB, "TierStart", "SsmOnline", Some(120), "Abort");
    let cloud = fleet(tiers, Stopped);
    let agents = cloud.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(20)).await;
        agents.lock().ssm_online.insert("i-d1".into());
        tokio::time::sleep(Duration::from_secs(20)).await;
        agents.lock().ssm_online.insert("i-d2".into());
    });
    let began = Instant::now();

    // WHEN the workload is started
    let report = run(&cloud, &request("W", Action::Start)).await;

    // THEN the gate passed on the poll at 44 s and App started 5 s later
    let s = &report.summary;
    assert_eq!(s.status, RunStatus::Completed, "{}", s.to_table());
    let g = tier(&s.tiers, "Role_DB").gate.clone().unwrap();
    assert_eq!(g.check, ReadinessCheck::SsmOnline);
    assert_eq!((g.ready, g.timed_out, g.waited_ms), (2, false, 44_000));
    let at: Vec<u64> = starts(&cloud, began).into_iter().map(|(t, _)| t).collect();
    assert_eq!(at, [0, 49, 54]);
    let polls = cloud.calls_of("DescribeInstanceInformation");
    assert!(!polls.is_empty());
    assert!(polls.iter().all(|c| c.ids.len() <= 100));
    assert!(cloud.calls_of("DescribeInstanceStatus").is_empty());
    assert!(cloud.calls_of("SendCommand").is_empty(), "no override check on start");
}

#[tokio::test(start_paused = true)]
async fn a_state_gate_waits_until_the_tier_is_running() {
    // GIVEN DB gated on State; instances take 30 s to reach running
    let mut tiers = three_tiers("W", 5);
    gate(&mut tiers, DB, "TierStart", "State", Some(120), "Abort");
    let cloud = FakeCloud::new();
    cloud.put_config(workload_item("W"), tiers);
    cloud.add_spec_instances(Stopped);
    let began = Instant::now();

    // WHEN the workload is started
    let report = run(&cloud, &request("W", Action::Start)).await;

    // THEN each tier started only after the one before was running (first
    // seen at the 31 s poll: 0, 2, 6, then every 5 s), plus the 5 s delay:
    // on Start, a State gate is the confirmation every start gets
    let s = &report.summary;
    assert_eq!(s.status, RunStatus::Completed, "{}", s.to_table());
    let at: Vec<u64> = starts(&cloud, began).into_iter().map(|(t, _)| t).collect();
    assert_eq!(at, [0, 36, 72]);
    assert!(Duration::from_secs(at[1]) >= cloud.transition + Duration::from_secs(5));
    let g = tier(&s.tiers, "Role_DB").gate.clone().unwrap();
    assert_eq!(g.check, ReadinessCheck::State);
    assert_eq!((g.ready, g.timed_out, g.waited_ms), (2, false, 0));
}

#[tokio::test(start_paused = true)]
async fn a_state_gate_on_stop_waits_until_the_tier_is_stopped() {
    let mut tiers = three_tiers("W", 5);
    gate(&mut tiers, WEB, "TierStop", "State", Some(120), "Abort");
    let cloud = fleet(tiers, Running);
    let began = Instant::now();
    let report = run(&cloud, &request("W", Action::Stop)).await;
    assert_eq!(report.summary.status, RunStatus::Completed);
    let at: Vec<u64> = cloud.call_seconds("StopInstances", began);
    assert_eq!(at, [0, 49, 54]);
    let g = tier(&report.summary.tiers, "Role_Web").gate.clone().unwrap();
    assert_eq!((g.ready, g.timed_out), (2, false));
}

#[tokio::test(start_paused = true)]
async fn status_checks_are_read_100_ids_at_a_time() {
    // GIVEN 250 DB instances whose checks pass on the second poll
    let mut tiers = three_tiers("W", 5);
    gate(&mut tiers, DB, "TierStart", "StatusChecks", Some(300), "Abort");
    let cloud = FakeCloud::new().with_transitions(Duration::from_secs(30), Duration::ZERO);
    cloud.put_config(workload_item("W"), tiers);
    for n in 0..250 {
        let id = format!("i-{n:04}");
        cloud.add(&id, "ENV001", "Role_DB", Stopped);
        cloud.lock().status_ok_after.insert(id, 2);
    }
    let began = Instant::now();

    // WHEN the workload is started
    let report = run(&cloud, &request("W", Action::Start)).await;

    // THEN each poll read the 250 ids in three calls of at most 100
    let calls = cloud.calls_of("DescribeInstanceStatus");
    let by_poll: Vec<(u64, usize)> = calls.iter().map(|c| ((c.at - began).as_secs(), c.ids.len())).collect();
    assert_eq!(by_poll, [(0, 100), (0, 100), (0, 50), (2, 100), (2, 100), (2, 50)]);
    let mut seen: Vec<String> = calls[..3].iter().flat_map(|c| c.ids.clone()).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 250, "each instance once per poll");
    let g = report.summary.tiers[0].gate.clone().unwrap();
    assert_eq!((g.ready, g.timed_out), (250, false));
}

#[tokio::test(start_paused = true)]
async fn a_dry_run_evaluates_no_gate() {
    let cloud = db_gate("StatusChecks", Some(60), "Abort");
    let mut req = request("W", Action::Start);
    req.dry_run = true;
    let report = run(&cloud, &req).await;
    assert_eq!(report.summary.status, RunStatus::DryRun);
    assert!(cloud.calls_of("DescribeInstanceStatus").is_empty());
    assert!(cloud.calls_of("DescribeInstanceInformation").is_empty());
    assert_eq!(cloud.calls_of("DescribeInstances").len(), 1, "discovery only");
    assert!(cloud.mutating_calls().is_empty());
    let db = &report.plan.groups[0].tiers[0];
    assert_eq!(db.tier, "Role_DB");
    let r = db.readiness.as_ref().expect("the plan shows the gate");
    assert_eq!(
        (r.check, r.timeout),
        (ReadinessCheck::StatusChecks, Duration::from_secs(60))
    );
}

#[tokio::test(start_paused = true)]
async fn a_tier_with_nothing_started_is_not_gated() {
    // DB already running: nothing to gate, and App is not held up.
    let cloud = db_gate("StatusChecks", Some(60), "Abort");
    for id in ["i-d1", "i-d2"] {
        cloud.lock().instances.get_mut(id).unwrap().state = Running;
        never_ok(&cloud, id);
    }
    let began = Instant::now();
    let report = run(&cloud, &request("W", Action::Start)).await;
    assert_eq!(report.summary.status, RunStatus::Completed);
    assert!(cloud.calls_of("DescribeInstanceStatus").is_empty());
    assert!(tier(&report.summary.tiers, "Role_DB").gate.is_none());
    let at: Vec<u64> = starts(&cloud, began).into_iter().map(|(t, _)| t).collect();
    assert_eq!(at, [0, 5], "App at once, Web after App's delay");
}
