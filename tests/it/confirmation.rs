//! One confirmation rule for every kind of member: an explicit
//! `TierStartConfirmTimeout` bounds a database's start as it bounds an
//! instance's, counted from the tier's last start across continuations;
//! unset, each kind keeps its own default (EC2 300 s, the others 1800 s);
//! an explicit value below a member kind's default is a plan warning; a
//! member done by an earlier invocation is counted once.

use std::time::Duration;

use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::instance::InstanceState::*;
use ec2_tier_scheduler::ledger::InvocationTrace;
use ec2_tier_scheduler::member::Capacity;
use ec2_tier_scheduler::member::MemberKind::{Asg, Aurora, Rds};
use ec2_tier_scheduler::orchestrator::{self, Budget, Settings};
use ec2_tier_scheduler::summary::{RunStatus, RunSummary, TierOutcome};
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::support::fake::FakeCloud;
use crate::support::{request, resume, run, run_until_deadline, three_tiers, workload_item};

/// Index of Role_DB in `three_tiers`: it starts first.
const DB: usize = 2;

/// The spec's instances stopped, DB holding `types` and a stopped RDS
/// instance `orders-db` that takes `start` to be available; DB's
/// `TierStartConfirmTimeout` is `bound` when given.
fn fleet(types: &str, bound: Option<u64>, start: Duration) -> FakeCloud {
    let mut tiers = three_tiers("W", 5);
    tiers[DB]["TierResourceTypes"] = json!(types);
    if let Some(secs) = bound {
        tiers[DB]["TierStart"]["TierStartConfirmTimeout"] = json!(secs.to_string());
    }
    fleet_of(tiers, start)
}

fn fleet_of(tiers: Vec<Value>, start: Duration) -> FakeCloud {
    let cloud = FakeCloud::new().with_transitions(Duration::from_secs(30), Duration::from_secs(30));
    cloud.put_config(workload_item("W"), tiers);
    cloud.add_spec_instances(Stopped);
    cloud.add_database(Rds, "orders-db", "ENV001", "Role_DB", "stopped");
    cloud.lock().database_times.start = start;
    cloud
}

fn tier<'a>(tiers: &'a [TierOutcome], name: &str) -> &'a TierOutcome {
    tiers.iter().find(|t| t.tier == name).unwrap()
}

/// How many times `id` appears in the summary's lists (acted, skipped,
/// bypassed, failed, not done), over every tier.
fn mentions(s: &RunSummary, id: &str) -> usize {
    s.tiers
        .iter()
        .map(|t| {
            t.acted.iter().filter(|a| *a == id).count()
                + t.skipped.iter().filter(|n| n.id == id).count()
                + t.bypassed.iter().filter(|n| n.id == id).count()
                + t.failed.iter().filter(|f| f.id == id).count()
                + t.not_done.iter().filter(|n| n.id == id).count()
        })
        .sum()
}

/// Seconds from `began` of App's start (the tier after DB).
fn app_started(cloud: &FakeCloud, began: Instant) -> u64 {
    let call = cloud
        .calls_of("StartInstances")
        .into_iter()
        .find(|c| c.ids.iter().any(|id| id.starts_with("i-a")))
        .expect("App started");
    (call.at - began).as_secs()
}

#[tokio::test(start_paused = true)]
async fn an_explicit_bound_applies_to_a_database() {
    // GIVEN DB confirms within 120 s, and its database takes 600 s to start
    let cloud = fleet("EC2, RDS", Some(120), Duration::from_secs(600));
    let began = Instant::now();

    // WHEN the workload starts
    let report = run(&cloud, &request("W", Action::Start)).await;

    // THEN the database failed after 120 s, naming the bound, and App
    // started after those 120 s (plus the 5 s delay), not after 600 s
    let s = &report.summary;
    assert_eq!(s.status, RunStatus::CompletedWithFailures, "{}", s.to_table());
    let db = tier(&s.tiers, "Role_DB");
    assert_eq!(db.failed.len(), 1, "{}", s.to_table());
    assert_eq!(db.failed[0].id, "rds:orders-db");
    let reason = &db.failed[0].reason;
    assert!(
        reason.contains("still says starting after 120s") && reason.contains("TierStartConfirmTimeout"),
        "{reason}"
    );
    assert!(!db.acted.contains(&"rds:orders-db".to_string()));
    assert_eq!(db.acted, ["i-d1", "i-d2"], "the instances started within the bound");
    let app = app_started(&cloud, began);
    assert!((120..=130).contains(&app), "App started at {app} s");
    // The plan warned: 120 s is below a database's default.
    let warning = report
        .plan
        .warnings
        .iter()
        .find(|w| w.contains("TierStartConfirmTimeout"))
        .expect("a warning");
    for part in ["tier Role_DB", "TierStartConfirmTimeout 120s", "RDS 1800s"] {
        assert!(warning.contains(part), "{part}: {warning}");
    }
    assert!(!warning.contains("EC2"), "120 s is not below EC2's 300 s: {warning}");
}

#[tokio::test(start_paused = true)]
async fn unset_each_kind_keeps_its_default() {
    // GIVEN no TierStartConfirmTimeout, a database that takes 2000 s to
    // start and an instance of DB that never leaves pending
    let cloud = fleet("EC2, RDS", None, Duration::from_secs(2000));
    cloud.lock().stuck.insert("i-d1".into());
    let began = Instant::now();

    let report = run(&cloud, &request("W", Action::Start)).await;

    // THEN the instance failed after EC2's 300 s, the database after its
    // own 1800 s (which holds the next tier), and nothing was warned of
    let s = &report.summary;
    let db = tier(&s.tiers, "Role_DB");
    assert_eq!(db.failed.len(), 2, "{}", s.to_table());
    let of = |id: &str| &db.failed.iter().find(|f| f.id == id).expect(id).reason;
    assert!(of("i-d1").contains("after 300s"), "{}", of("i-d1"));
    let reason = of("rds:orders-db");
    assert!(
        reason.contains("after 1800s") && reason.contains("the default for RDS members"),
        "{reason}"
    );
    let app = app_started(&cloud, began);
    assert!((1800..=1810).contains(&app), "App started at {app} s");
    assert!(
        report
            .plan
            .warnings
            .iter()
            .all(|w| !w.contains("TierStartConfirmTimeout")),
        "{:?}",
        report.plan.warnings
    );
}

#[tokio::test(start_paused = true)]
async fn an_explicit_bound_above_the_default_lets_a_database_take_longer() {
    // 2400 s: the database's 2000 s start is confirmed, and no warning.
    let cloud = fleet("EC2, RDS", Some(2400), Duration::from_secs(2000));
    let report = run(&cloud, &request("W", Action::Start)).await;
    let s = &report.summary;
    assert_eq!(s.status, RunStatus::Completed, "{}", s.to_table());
    assert!(tier(&s.tiers, "Role_DB").acted.contains(&"rds:orders-db".to_string()));
    assert_eq!(cloud.database_status(Rds, "orders-db"), "available");
    assert!(
        report
            .plan
            .warnings
            .iter()
            .all(|w| !w.contains("TierStartConfirmTimeout")),
        "{:?}",
        report.plan.warnings
    );
}

#[tokio::test(start_paused = true)]
async fn a_members_confirmation_bound_counts_across_continuations() {
    // GIVEN DB holds only its database (no instance acts there), confirmed
    // within 600 s, which takes 900 s; the first invocation has 300 s
    let cloud = fleet("RDS", Some(600), Duration::from_secs(900));
    let req = request("W", Action::Start);
    let (first, mut checkpoint) = run_until_deadline(&cloud, &req, 300).await;

    // THEN time ran out while confirming it: not a failure yet, and the
    // checkpoint keeps when the member was started
    let db = tier(&first.summary.tiers, "Role_DB");
    assert!(db.failed.is_empty(), "{}", first.summary.to_table());
    assert!(checkpoint.acted.contains(&"rds:orders-db".to_string()));
    let acted_at = checkpoint.acted_at_ms.expect("when the member was started");

    // WHEN the continuation runs 500 s after the start (paused time does
    // not move the wall clock: the checkpoint says so instead)
    checkpoint.acted_at_ms = Some(acted_at - 500_000);
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

    // THEN it waited only the 100 s left of the bound, not another 600 s,
    // and the member is failed once (not acted: it was not started again)
    let s = &second.summary;
    let db = tier(&s.tiers, "Role_DB");
    assert_eq!(db.failed.len(), 1, "{}", s.to_table());
    assert!(db.failed[0].reason.contains("after 600s"), "{}", db.failed[0].reason);
    assert!(db.acted.is_empty(), "{}", s.to_table());
    assert_eq!(cloud.calls_of("StartDBInstance").len(), 1, "never started twice");
    let app = app_started(&cloud, resumed_at);
    assert!(
        (95..=110).contains(&app),
        "100 s of bound left, then the 5 s delay: {app}"
    );
    assert_eq!(s.status, RunStatus::CompletedWithFailures);
}

#[tokio::test(start_paused = true)]
async fn a_resumed_member_is_counted_once() {
    // GIVEN a database of 480 s, cut after 300 s while it starts
    let cloud = fleet("EC2, RDS", None, Duration::from_secs(480));
    let req = request("W", Action::Start);
    let (first, checkpoint) = run_until_deadline(&cloud, &req, 300).await;
    assert!(checkpoint.acted.contains(&"rds:orders-db".to_string()));
    assert!(tier(&first.summary.tiers, "Role_DB")
        .acted
        .contains(&"rds:orders-db".to_string()));

    // WHEN the continuation confirms it
    let second = resume(&cloud, &req, &checkpoint).await;

    // THEN it is reported once, skipped as started by the earlier
    // invocation, like DB's instances, and the totals count the four
    // instances this invocation started only
    let s = &second.summary;
    let db = tier(&s.tiers, "Role_DB");
    for id in ["rds:orders-db", "i-d1"] {
        assert_eq!(mentions(s, id), 1, "{id}: {}", s.to_table());
        let skipped = db.skipped.iter().find(|n| n.id == id).expect("skipped");
        assert!(
            skipped.reason.contains("by an earlier invocation"),
            "{}",
            skipped.reason
        );
    }
    assert!(db.acted.is_empty(), "{}", s.to_table());
    assert_eq!(s.totals()[0], 4, "{}", s.to_table());
    assert!(s.message.starts_with("4 member(s) started"), "{}", s.message);
    assert_eq!(cloud.calls_of("StartDBInstance").len(), 1);
    assert_eq!(cloud.database_status(Rds, "orders-db"), "available");
    // The invocation's trace does not count what the earlier one did.
    let trace = InvocationTrace::of(2, 0, &second, "completed");
    let db = trace.tiers.iter().find(|t| t.tier == "Role_DB").unwrap();
    assert_eq!((db.acted, db.skipped), (0, 0), "{db:?}");
    assert!(second.checkpoint.is_none(), "the run is complete");
}

#[tokio::test(start_paused = true)]
async fn the_plan_names_every_kind_an_explicit_bound_is_below() {
    // DB holds RDS and Aurora, Web scales its groups to zero; both set
    // 600 s; App sets 1800 s (not below) and Web's Stop plan has no rules.
    let mut tiers = three_tiers("W", 5);
    tiers[DB]["TierResourceTypes"] = json!("EC2, RDS, Aurora");
    tiers[DB]["TierStart"]["TierStartConfirmTimeout"] = json!("600");
    tiers[0]["TierStop"]["TierAutoScalingGroups"] = json!("ScaleToZero");
    tiers[0]["TierStart"]["TierStartConfirmTimeout"] = json!("600");
    tiers[1]["TierResourceTypes"] = json!("EC2, ECS");
    tiers[1]["TierStart"]["TierStartConfirmTimeout"] = json!("1800");
    let cloud = fleet_of(tiers, Duration::from_secs(60));
    cloud.add_database(Aurora, "ledger", "ENV001", "Role_DB", "stopped");
    let group = Capacity {
        min: 1,
        desired: 1,
        max: 2,
    };
    cloud.add_capacity(Asg, "web", "ENV001", "Role_Web", group);

    let start = run(&cloud, &request("W", Action::Start)).await;
    let warned: Vec<&String> = start
        .plan
        .warnings
        .iter()
        .filter(|w| w.contains("TierStartConfirmTimeout"))
        .collect();
    assert_eq!(warned.len(), 2, "{warned:?}");
    let db = warned.iter().find(|w| w.contains("tier Role_DB")).expect("DB");
    assert!(
        db.contains("TierStartConfirmTimeout 600s") && db.contains("RDS 1800s, Aurora 1800s"),
        "{db}"
    );
    let web = warned.iter().find(|w| w.contains("tier Role_Web")).expect("Web");
    assert!(web.contains("ASG 1800s") && !web.contains("EC2"), "{web}");

    let stop = run(&cloud, &request("W", Action::Stop)).await;
    assert!(
        stop.plan
            .warnings
            .iter()
            .all(|w| !w.contains("TierStartConfirmTimeout")),
        "{:?}",
        stop.plan.warnings
    );
}
