//! Confirmed starts against the in-memory cloud: an instance counts as
//! started only when EC2 reports it `running`; one that falls back to
//! `stopped` (or is not running within TierStartConfirmTimeout) is a failed
//! instance with EC2's reason, and `TierStartFailure` says whether the next
//! tiers start.

use std::time::Duration;

use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::instance::InstanceState::*;
use ec2_tier_scheduler::instance::StateReason;
use ec2_tier_scheduler::orchestrator::{self, Budget, Settings};
use ec2_tier_scheduler::summary::{RunStatus, TierOutcome};
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::support::fake::FakeCloud;
use crate::support::{request, run, three_tiers, workload_item};

/// Index of Role_DB in `three_tiers` (starts first), then App, then Web.
const DB: usize = 2;
const APP: usize = 1;

fn kms_refusal() -> StateReason {
    StateReason {
        code: "Client.InternalError".into(),
        message: "Client.InternalError: Client error on launch".into(),
    }
}

/// The spec's fleet, stopped; starts and stops take 30 s.
fn fleet(tiers: Vec<Value>) -> FakeCloud {
    let cloud = FakeCloud::new();
    cloud.put_config(workload_item("W"), tiers);
    cloud.add_spec_instances(Stopped);
    cloud
}

fn tier<'a>(tiers: &'a [TierOutcome], name: &str) -> &'a TierOutcome {
    tiers.iter().find(|t| t.tier == name).unwrap()
}

/// Seconds from `began` of each StartInstances call, with its ids.
fn starts(cloud: &FakeCloud, began: Instant) -> Vec<(u64, Vec<String>)> {
    cloud
        .calls_of("StartInstances")
        .into_iter()
        .map(|c| ((c.at - began).as_secs(), c.ids))
        .collect()
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(start_paused = true)]
async fn a_start_that_falls_back_to_stopped_is_a_failure_with_ec2s_reason_and_the_fix() {
    // GIVEN App's i-a1 has a volume whose KMS key EC2 may not use: its start
    // is accepted, it goes pending, then stopped with Client.InternalError
    let cloud = fleet(three_tiers("W", 5));
    cloud.lock().start_falls_back.insert("i-a1".into(), kms_refusal());
    let began = Instant::now();

    // WHEN the workload is started
    let report = run(&cloud, &request("W", Action::Start)).await;

    // THEN the run is not completed, i-a1 failed with EC2's reason and the fix
    let s = &report.summary;
    assert_eq!(s.status, RunStatus::CompletedWithFailures, "{}", s.to_table());
    let app = tier(&s.tiers, "Role_App");
    assert_eq!(app.acted, ["i-a2"], "a start is counted only once it runs");
    assert_eq!(app.failed.len(), 1);
    let f = &app.failed[0];
    assert_eq!(
        (f.id.as_str(), f.code.as_deref()),
        ("i-a1", Some("Client.InternalError"))
    );
    assert!(f.reason.contains("started, then stopped again"), "{}", f.reason);
    assert!(
        f.reason.contains("KMS key") && f.reason.contains("EbsKmsKeyArns"),
        "{}",
        f.reason
    );
    // and everywhere a run is read: the table, the JSON, the SNS summary
    assert!(s.to_table().contains("Client.InternalError"), "{}", s.to_table());
    let as_json = serde_json::to_value(s).unwrap();
    assert!(as_json.to_string().contains("Client.InternalError"));
    let published = cloud.lock().published.clone();
    let (_, subject, body) = published.last().expect("the summary was published");
    assert!(
        body.contains("i-a1") && body.contains("Client.InternalError"),
        "{subject}\n{body}"
    );
    // the healthy instances run, and the next tier started once App was confirmed
    for id in ["i-d1", "i-d2", "i-a2", "i-w1", "i-w2"] {
        assert_eq!(cloud.state_of(id), Running, "{id}");
    }
    assert_eq!(cloud.state_of("i-a1"), Stopped);
    let at: Vec<u64> = starts(&cloud, began).into_iter().map(|(t, _)| t).collect();
    assert_eq!(at, [0, 36, 72], "each tier 31 s (confirmed) + 5 s after the one before");
    // and the Start is not recorded: the next Start must not be skipped
    assert!(
        s.workload_state.as_deref().unwrap_or_default().contains("not recorded"),
        "{:?}",
        s.workload_state
    );
    assert!(cloud.lock().workload_state.as_ref().unwrap().get("W").is_none());
}

#[tokio::test(start_paused = true)]
async fn a_start_still_pending_when_the_bound_passes_fails_and_the_run_goes_on() {
    // GIVEN DB confirms starts for 60 s; i-d1 never leaves pending
    let mut tiers = three_tiers("W", 5);
    tiers[DB]["TierStart"]["TierStartConfirmTimeout"] = json!("60");
    let cloud = fleet(tiers);
    cloud.lock().stuck.insert("i-d1".into());
    let began = Instant::now();

    let report = run(&cloud, &request("W", Action::Start)).await;

    let s = &report.summary;
    assert_eq!(s.status, RunStatus::CompletedWithFailures, "{}", s.to_table());
    let db = tier(&s.tiers, "Role_DB");
    assert_eq!(db.acted, ["i-d2"]);
    assert_eq!(db.failed[0].id, "i-d1");
    assert!(
        db.failed[0].reason.contains("EC2 still says pending after 60s"),
        "{}",
        db.failed[0].reason
    );
    // TierStartFailure defaults to Continue: App started 60 s + 5 s later
    let app_at = starts(&cloud, began)[1].0;
    assert_eq!(app_at, 65);
}

#[tokio::test(start_paused = true)]
async fn tier_start_failure_abort_keeps_the_next_tiers_down() {
    // GIVEN DB says TierStartFailure: Abort, and i-d2's start falls back
    let mut tiers = three_tiers("W", 5);
    tiers[DB]["TierStart"]["TierStartFailure"] = json!("Abort");
    let cloud = fleet(tiers);
    cloud.lock().start_falls_back.insert("i-d2".into(), kms_refusal());

    let report = run(&cloud, &request("W", Action::Start)).await;

    // THEN the run stops after DB: App and Web are not started
    let s = &report.summary;
    assert_eq!(s.status, RunStatus::Aborted, "{}", s.to_table());
    assert!(s.message.contains("TierStartFailure is Abort"), "{}", s.message);
    assert_eq!(
        cloud
            .calls_of("StartInstances")
            .into_iter()
            .map(|c| c.ids)
            .collect::<Vec<_>>(),
        [ids(&["i-d1", "i-d2"])]
    );
    let app = tier(&s.tiers, "Role_App");
    assert!(app.acted.is_empty());
    assert_eq!(app.not_done.len(), 2, "{}", s.to_table());
}

#[tokio::test(start_paused = true)]
async fn a_synchronous_tier_confirms_each_start_before_the_next_one() {
    // GIVEN App is synchronous and i-a1's start falls back
    let mut tiers = three_tiers("W", 5);
    tiers[APP]["TierStart"]["TierSynchronization"] = json!("True");
    let cloud = fleet(tiers);
    cloud.lock().start_falls_back.insert("i-a1".into(), kms_refusal());

    let report = run(&cloud, &request("W", Action::Start)).await;

    let app = tier(&report.summary.tiers, "Role_App");
    assert_eq!(app.acted, ["i-a2"]);
    assert_eq!(app.failed[0].code.as_deref(), Some("Client.InternalError"));
    assert!(app.failed[0].reason.contains("KMS key"), "{}", app.failed[0].reason);
    // i-a2 was started only after i-a1 had fallen back (one at a time)
    let app_starts: Vec<Vec<String>> = cloud
        .calls_of("StartInstances")
        .into_iter()
        .map(|c| c.ids)
        .filter(|ids| ids.iter().any(|id| id.starts_with("i-a")))
        .collect();
    assert_eq!(app_starts, [ids(&["i-a1"]), ids(&["i-a2"])]);
    assert_eq!(cloud.state_of("i-a2"), Running);
}

#[tokio::test(start_paused = true)]
async fn the_confirmation_bound_counts_from_the_last_start_across_continuations() {
    // GIVEN DB confirms for 120 s; i-d1 never leaves pending, and the first
    // invocation has 50 s
    let mut tiers = three_tiers("W", 5);
    tiers[DB]["TierStart"]["TierStartConfirmTimeout"] = json!("120");
    let cloud = fleet(tiers);
    cloud.lock().stuck.insert("i-d1".into());
    let req = request("W", Action::Start);
    let first = orchestrator::run(
        &cloud,
        &req,
        &Budget::from_now(Duration::from_secs(50), Duration::ZERO),
        &Settings::default(),
    )
    .await
    .unwrap();

    // THEN time ran out while confirming: not a failure, the continuation
    // confirms it
    assert_eq!(
        first.summary.status,
        RunStatus::DeadlineReached,
        "{}",
        first.summary.to_table()
    );
    let db = tier(&first.summary.tiers, "Role_DB");
    assert!(db.failed.is_empty(), "{}", first.summary.to_table());
    let mut checkpoint = first.checkpoint.clone().expect("a checkpoint");
    assert!(checkpoint.acted.contains(&"i-d1".to_string()));
    let acted_at = checkpoint.acted_at_ms.expect("when the group first acted");
    assert!(first
        .summary
        .workload_state
        .as_deref()
        .unwrap_or_default()
        .contains("not recorded"));

    // WHEN the continuation runs 100 s after the first start (paused time
    // does not move the wall clock: the checkpoint says so instead)
    checkpoint.acted_at_ms = Some(acted_at - 100_000);
    let resumed_at = Instant::now();
    let second = orchestrator::run_resumed(
        &cloud,
        &req,
        Some(&checkpoint),
        &Budget::unlimited(),
        &Settings::default(),
    )
    .await
    .unwrap();

    // THEN it waited only the 20 s left of the bound, not another 120 s
    let db = tier(&second.summary.tiers, "Role_DB");
    assert_eq!(db.failed.len(), 1, "{}", second.summary.to_table());
    assert_eq!(db.failed[0].id, "i-d1");
    assert!(db.failed[0].reason.contains("after 120s"), "{}", db.failed[0].reason);
    let app_at = (cloud.calls_of("StartInstances")[1].at - resumed_at).as_secs();
    // (the wall clock moves a little, more on a loaded machine, while the
    // paused test runs: only a bound that started again would reach ~125 s)
    assert!(
        (15..=25).contains(&app_at),
        "20 s of bound left, then the 5 s delay: {app_at}"
    );
    assert_eq!(second.summary.status, RunStatus::CompletedWithFailures);
}

#[tokio::test(start_paused = true)]
async fn a_complete_start_is_recorded_and_an_instance_started_by_hand_is_not_a_failure() {
    // A stopped instance whose last stop was asked for (UserInitiatedShutdown)
    // is simply not started yet at the first poll: it is waited for.
    let cloud = fleet(three_tiers("W", 0));
    cloud.lock().reasons.insert(
        "i-d1".into(),
        StateReason {
            code: "Client.UserInitiatedShutdown".into(),
            message: "Client.UserInitiatedShutdown: User initiated shutdown".into(),
        },
    );
    let report = run(&cloud, &request("W", Action::Start)).await;
    assert_eq!(
        report.summary.status,
        RunStatus::Completed,
        "{}",
        report.summary.to_table()
    );
    assert!(report
        .summary
        .workload_state
        .as_deref()
        .unwrap_or_default()
        .contains("recorded"));
    assert_eq!(
        cloud.lock().workload_state.as_ref().unwrap()["W"].last_action_type,
        "Start"
    );
}

#[test]
fn start_rules_are_validated_and_only_accepted_in_tier_start() {
    use ec2_tier_scheduler::config::{ItemNaming, WorkloadConfig};
    let mut tiers = three_tiers("W", 5);
    tiers[DB]["TierStart"]["TierStartFailure"] = json!("Sometimes");
    tiers[DB]["TierStart"]["TierStartConfirmTimeout"] = json!("0");
    tiers[DB]["TierStart"]["TierFallbackTypes"] = json!("m5.large, nonsense, m5.large");
    tiers[APP]["TierStop"]["TierStartFailure"] = json!("Abort");
    let err = WorkloadConfig::from_items("W", &workload_item("W"), &tiers, ItemNaming::Table)
        .expect_err("invalid")
        .to_string();
    for expected in [
        "TierStart.TierStartFailure",
        "\"Sometimes\" is not \"Continue\" or \"Abort\"",
        "TierStart.TierStartConfirmTimeout: must be at least 1 second",
        "\"nonsense\" is not an instance type",
        "\"m5.large\" is listed twice",
        "TierStop.TierStartFailure: is only valid in TierStart",
    ] {
        assert!(err.contains(expected), "{expected}\n{err}");
    }
    assert!(err.contains("\"W\""), "names the workload: {err}");
}

/// App's i-a1 is an m5.large EC2 has no capacity for; App falls back to
/// `types` (TierFallbackTypes).
fn short_of_m5(types: &str) -> FakeCloud {
    let mut tiers = three_tiers("W", 0);
    tiers[APP]["TierStart"]["TierFallbackTypes"] = json!(types);
    let cloud = fleet(tiers);
    let mut s = cloud.lock();
    s.instances.get_mut("i-a1").unwrap().instance_type = "m5.large".into();
    s.no_capacity.insert("m5.large".into());
    drop(s);
    cloud
}

/// The original type the run ledger holds for `id`.
fn tag_of(cloud: &FakeCloud, id: &str, what: &str) -> Option<String> {
    match cloud.recorded("EC2", what, id)?.restore {
        ec2_tier_scheduler::records::Restore::OriginalType(t) => Some(t),
        other => panic!("{other:?}"),
    }
}

const ORIGINAL: &str = "type";

#[tokio::test(start_paused = true)]
async fn a_start_without_capacity_falls_back_and_the_next_start_tries_the_original_type_first() {
    // GIVEN no m5.large capacity, and App falls back to m5a.large then m4.large
    let cloud = short_of_m5("m5a.large, m4.large");
    cloud.lock().no_capacity.insert("m5a.large".into());

    // WHEN the workload is started
    let report = run(&cloud, &request("W", Action::Start)).await;

    // THEN i-a1 started as m4.large (m5a.large had no capacity either),
    // reported as such; the type it had is recorded in the run ledger
    let s = &report.summary;
    assert_eq!(s.status, RunStatus::Completed, "{}", s.to_table());
    let app = tier(&s.tiers, "Role_App");
    assert!(app.acted.contains(&"i-a1".to_string()));
    assert_eq!(cloud.type_of("i-a1"), "m4.large");
    assert_eq!(cloud.state_of("i-a1"), Running);
    assert_eq!(app.capacity_fallback.len(), 1);
    let note = &app.capacity_fallback[0].reason;
    assert!(
        note.contains("no capacity for m5.large") && note.contains("started as m4.large"),
        "{note}"
    );
    assert!(s.details().contains("FALLBACK TYPE"), "{}", s.details());
    assert_eq!(tag_of(&cloud, "i-a1", ORIGINAL).as_deref(), Some("m5.large"));
    // the record was written before the first type change, and no tag
    let calls: Vec<&str> = cloud
        .calls()
        .iter()
        .map(|c| c.op)
        .filter(|op| *op == "TransactWriteItems" || op.starts_with("ModifyInstanceAttribute"))
        .collect();
    assert_eq!(calls.first(), Some(&"TransactWriteItems"), "{calls:?}");
    assert!(cloud.calls_of("CreateTags").is_empty());

    // WHEN it is stopped and, with m5.large capacity back, started again
    cloud.lock().no_capacity.clear();
    run(&cloud, &request("W", Action::Stop)).await;
    let report = run(&cloud, &request("W", Action::Start)).await;

    // THEN it went back to m5.large first, and the record is gone
    assert_eq!(
        report.summary.status,
        RunStatus::Completed,
        "{}",
        report.summary.to_table()
    );
    assert_eq!(cloud.type_of("i-a1"), "m5.large");
    assert_eq!(cloud.state_of("i-a1"), Running);
    assert_eq!(tag_of(&cloud, "i-a1", ORIGINAL), None);
    let app = tier(&report.summary.tiers, "Role_App");
    assert!(app.capacity_fallback.is_empty());
    assert!(app.resized.iter().any(|r| r.id == "i-a1" && r.to == "m5.large"));
}

#[tokio::test(start_paused = true)]
async fn a_run_that_died_after_recording_the_type_is_repaired_by_the_next_start() {
    // GIVEN a run died after recording m5.large and setting m5a.large
    let cloud = short_of_m5("m5a.large");
    {
        let mut s = cloud.lock();
        s.no_capacity.clear();
        let i = s.instances.get_mut("i-a1").unwrap();
        i.instance_type = "m5a.large".into();
    }
    cloud.put_record(
        "EC2",
        "i-a1",
        ec2_tier_scheduler::records::Restore::OriginalType("m5.large".into()),
    );
    let report = run(&cloud, &request("W", Action::Start)).await;
    assert_eq!(
        report.summary.status,
        RunStatus::Completed,
        "{}",
        report.summary.to_table()
    );
    assert_eq!(
        cloud.type_of("i-a1"),
        "m5.large",
        "never left in the fallback type by accident"
    );
    assert_eq!(tag_of(&cloud, "i-a1", ORIGINAL), None);
    // and a plan says so before any start
    assert_eq!(
        report.plan.groups[1].tiers[0].instances[0].original_type.as_deref(),
        Some("m5.large")
    );
}

#[tokio::test(start_paused = true)]
async fn when_no_type_has_capacity_the_instance_fails_naming_each_and_stays_recorded() {
    let cloud = short_of_m5("m5a.large");
    cloud.lock().no_capacity.insert("m5a.large".into());
    let report = run(&cloud, &request("W", Action::Start)).await;
    let app = tier(&report.summary.tiers, "Role_App");
    assert_eq!(report.summary.status, RunStatus::CompletedWithFailures);
    let f = &app.failed[0];
    assert_eq!(
        (f.id.as_str(), f.code.as_deref()),
        ("i-a1", Some("InsufficientInstanceCapacity"))
    );
    assert!(
        f.reason
            .contains("m5.large (InsufficientInstanceCapacity), m5a.large (InsufficientInstanceCapacity)")
            && f.reason.contains("next Start tries m5.large first"),
        "{}",
        f.reason
    );
    assert_eq!(tag_of(&cloud, "i-a1", ORIGINAL).as_deref(), Some("m5.large"));
    assert_eq!(cloud.state_of("i-a2"), Running, "the others start");
}

#[tokio::test(start_paused = true)]
async fn the_instances_preferred_types_tag_wins_and_a_bad_one_is_a_warning() {
    // GIVEN the tier says m4.large, i-a1's tag says m5a.large; i-a2's tag is bad
    let cloud = short_of_m5("m4.large");
    {
        let mut s = cloud.lock();
        s.instances
            .get_mut("i-a1")
            .unwrap()
            .tags
            .insert("SchedulerPreferredTypes".into(), "m5a.large".into());
        let a2 = s.instances.get_mut("i-a2").unwrap();
        a2.instance_type = "m5.large".into();
        a2.tags
            .insert("SchedulerPreferredTypes".into(), "m5a.large, huge".into());
    }
    let report = run(&cloud, &request("W", Action::Start)).await;
    assert_eq!(cloud.type_of("i-a1"), "m5a.large");
    assert_eq!(cloud.type_of("i-a2"), "m4.large", "the tier's list for the bad tag");
    assert!(
        report
            .plan
            .warnings
            .iter()
            .any(|w| w.contains("i-a2") && w.contains("\"huge\" is not an instance type")),
        "{:?}",
        report.plan.warnings
    );
}

#[tokio::test(start_paused = true)]
async fn without_a_fallback_list_a_start_without_capacity_is_retried_then_failed() {
    let cloud = short_of_m5("m4.large");
    cloud.lock().instances.get_mut("i-d1").unwrap().instance_type = "m5.large".into();
    let report = run(&cloud, &request("W", Action::Start)).await;
    let db = tier(&report.summary.tiers, "Role_DB");
    assert_eq!(db.failed[0].code.as_deref(), Some("InsufficientInstanceCapacity"));
    assert_eq!(cloud.type_of("i-d1"), "m5.large", "never resized");
    let tries = cloud
        .calls()
        .iter()
        .filter(|c| c.op.starts_with("StartInstances") && c.ids == ["i-d1"])
        .count();
    assert_eq!(tries, 5, "retried like any transient error");
}

#[tokio::test(start_paused = true)]
async fn starts_throttled_for_longer_than_the_bound_are_still_confirmed() {
    // GIVEN DB confirms for 60 s, and its StartInstances is throttled ten
    // times first (about two minutes of backoff)
    let mut tiers = three_tiers("W", 0);
    tiers[DB]["TierStart"]["TierStartConfirmTimeout"] = json!("60");
    let cloud = fleet(tiers);
    cloud.fault("StartInstances", None, "RequestLimitExceeded", 10);
    let report = run(&cloud, &request("W", Action::Start)).await;
    // THEN the bound counts from the start that went through, not the first try
    let s = &report.summary;
    assert_eq!(s.status, RunStatus::Completed, "{}", s.to_table());
    assert_eq!(tier(&s.tiers, "Role_DB").acted, ["i-d1", "i-d2"]);
}
