//! Databases as tier members against the in-memory cloud: RDS DB instances
//! and Aurora DB clusters of tiers whose `TierResourceTypes` list them are
//! stopped and started in the tier order beside the instances, and a Start
//! holds the next tier until they are `available`, across continuations.

use std::time::Duration;

use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::instance::InstanceState::*;
use ec2_tier_scheduler::member::MemberKind::{Aurora, Rds};
use ec2_tier_scheduler::summary::{RunStatus, TierOutcome};
use serde_json::json;
use tokio::time::Instant;

use crate::support::fake::{DatabaseTimes, FakeCloud};
use crate::support::{request, resume, run, run_until_deadline, three_tiers, workload_item};

/// Index of Role_DB in `three_tiers`: it stops last and starts first.
const DB: usize = 2;

/// The spec's fleet in `state`, DB holding EC2, RDS and Aurora members: an
/// RDS instance and an Aurora cluster of the workload, plus an RDS
/// instance of another workload and one in App (whose types are EC2 only).
fn fleet(state: ec2_tier_scheduler::instance::InstanceState, status: &str) -> FakeCloud {
    let mut tiers = three_tiers("W", 5);
    tiers[DB]["TierResourceTypes"] = json!("EC2, RDS, Aurora");
    let cloud = FakeCloud::new().with_transitions(Duration::from_secs(30), Duration::from_secs(30));
    cloud.put_config(workload_item("W"), tiers);
    cloud.add_spec_instances(state);
    cloud.add_database(Rds, "orders-db", "ENV001", "Role_DB", status);
    cloud.add_database(Aurora, "ledger", "ENV001", "Role_DB", status);
    cloud.add_database(Rds, "their-db", "OTHER", "Role_DB", status);
    cloud.add_database(Rds, "app-cache", "ENV001", "Role_App", status);
    cloud
}

fn tier<'a>(tiers: &'a [TierOutcome], name: &str) -> &'a TierOutcome {
    tiers.iter().find(|t| t.tier == name).unwrap()
}

/// Seconds from `began` of each call of `op`.
fn at(cloud: &FakeCloud, op: &str, began: Instant) -> Vec<u64> {
    cloud.call_seconds(op, began)
}

#[tokio::test(start_paused = true)]
async fn databases_stop_after_the_tiers_before_them_and_start_first() {
    let cloud = fleet(Running, "available");
    let began = Instant::now();
    let report = run(&cloud, &request("W", Action::Stop)).await;
    let s = &report.summary;
    assert_eq!(s.status, RunStatus::Completed, "{}", s.to_table());
    assert!(s.message.starts_with("8 member(s) stopped"), "{}", s.message);
    let db = tier(&s.tiers, "Role_DB");
    for member in ["i-d1", "i-d2", "rds:orders-db", "aurora:ledger"] {
        assert!(db.acted.contains(&member.to_string()), "{member}: {}", s.to_table());
    }
    // DB stops last (Web, App, then DB), its databases with its instances.
    let app_stop = at(&cloud, "StopInstances", began)[1];
    assert!(at(&cloud, "StopDBInstance", began).iter().all(|t| *t > app_stop));
    assert_eq!(at(&cloud, "StopDBCluster", began).len(), 1);
    // Only the workload's own, and only in a tier that holds RDS.
    let stopped: Vec<Vec<String>> = cloud.calls_of("StopDBInstance").into_iter().map(|c| c.ids).collect();
    assert_eq!(stopped, [vec!["orders-db".to_string()]]);
    assert_eq!(cloud.database_status(Rds, "their-db"), "available");
    assert_eq!(cloud.database_status(Rds, "app-cache"), "available");
    assert_eq!(cloud.database_status(Aurora, "ledger"), "stopped");
    // The plan shows them, by kind then id.
    let members: Vec<&str> = report.plan.members().map(|d| d.member.as_str()).collect();
    assert_eq!(members, ["rds:orders-db", "aurora:ledger"]);
}

#[tokio::test(start_paused = true)]
async fn a_database_start_of_eight_minutes_holds_the_next_tier() {
    let cloud = fleet(Stopped, "stopped");
    cloud.lock().database_times = DatabaseTimes {
        stop: Duration::from_secs(60),
        start: Duration::from_secs(480),
    };
    let began = Instant::now();
    let report = run(&cloud, &request("W", Action::Start)).await;
    let s = &report.summary;
    assert_eq!(s.status, RunStatus::Completed, "{}", s.to_table());
    assert_eq!(cloud.database_status(Rds, "orders-db"), "available");
    // App starts only once both databases are available (8 min, polled
    // with backoff up to 15 s), plus the 5 s delay.
    let app_start = at(&cloud, "StartInstances", began)[1];
    assert!((485..=500).contains(&app_start), "App started at {app_start} s");
    assert!(tier(&s.tiers, "Role_DB").acted.contains(&"aurora:ledger".to_string()));
}

#[tokio::test(start_paused = true)]
async fn a_database_still_starting_when_time_runs_out_is_confirmed_by_the_continuation() {
    let cloud = fleet(Stopped, "stopped");
    cloud.lock().database_times.start = Duration::from_secs(480);
    let req = request("W", Action::Start);
    let (_, checkpoint) = run_until_deadline(&cloud, &req, 300).await;
    assert!(
        checkpoint.acted.contains(&"rds:orders-db".to_string()),
        "{checkpoint:?}"
    );
    assert!(
        cloud
            .calls_of("StartInstances")
            .iter()
            .all(|c| c.ids[0].starts_with("i-d")),
        "App waits"
    );

    resume(&cloud, &req, &checkpoint).await;
    assert_eq!(cloud.calls_of("StartDBInstance").len(), 1, "never started twice");
    assert_eq!(cloud.state_of("i-w1"), Running);
}

#[tokio::test(start_paused = true)]
async fn rds_refusals_and_statuses_are_reported_per_member() {
    let cloud = fleet(Running, "available");
    cloud
        .lock()
        .databases
        .get_mut(&(Rds, "orders-db".into()))
        .unwrap()
        .refuses_stop = Some("InvalidDBInstanceState");
    cloud
        .lock()
        .databases
        .get_mut(&(Aurora, "ledger".into()))
        .unwrap()
        .status = "backing-up".into();
    let report = run(&cloud, &request("W", Action::Stop)).await;
    let db = tier(&report.summary.tiers, "Role_DB");
    assert_eq!(report.summary.status, RunStatus::CompletedWithFailures);
    assert_eq!(db.failed[0].id, "rds:orders-db");
    assert_eq!(db.failed[0].code.as_deref(), Some("InvalidDBInstanceState"));
    let skipped = db.skipped.iter().find(|n| n.id == "aurora:ledger").expect("skipped");
    assert!(skipped.reason.contains("status backing-up"), "{}", skipped.reason);
    tokio::time::sleep(Duration::from_secs(31)).await;
    assert_eq!(cloud.state_of("i-d1"), Stopped, "the tier's instances still stop");

    let cloud = fleet(Stopped, "stopped");
    cloud.fault(
        "StartDBInstance",
        Some("orders-db"),
        "InsufficientDBInstanceCapacity",
        1,
    );
    let report = run(&cloud, &request("W", Action::Start)).await;
    let db = tier(&report.summary.tiers, "Role_DB");
    assert_eq!(db.failed[0].code.as_deref(), Some("InsufficientDBInstanceCapacity"));
    assert_eq!(cloud.database_status(Aurora, "ledger"), "available");
}

#[test]
fn tier_resource_types_are_validated() {
    use ec2_tier_scheduler::config::{ItemNaming, WorkloadConfig};
    let mut tiers = three_tiers("W", 5);
    tiers[DB]["TierResourceTypes"] = json!("EC2, ASG, RDS, rds");
    tiers[0]["TierStop"]["TierAutoScalingGroups"] = json!("ScaleDown");
    let err = WorkloadConfig::from_items("W", &workload_item("W"), &tiers, ItemNaming::Table)
        .expect_err("invalid")
        .to_string();
    assert!(
        err.contains("TierResourceTypes") && err.contains("\"ASG\" is not one of"),
        "{err}"
    );
    assert!(err.contains("by TierAutoScalingGroups \"ScaleToZero\""), "{err}");
    assert!(
        err.contains("TierAutoScalingGroups")
            && err.contains("\"scaledown\" is not \"Skip\", \"Suspend\" or \"ScaleToZero\""),
        "{err}"
    );
    assert!(err.contains("\"rds\" is listed twice"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_tier_without_ec2_leaves_its_instances_alone() {
    let mut tiers = three_tiers("W", 0);
    tiers[DB]["TierResourceTypes"] = json!("RDS");
    let cloud = FakeCloud::new();
    cloud.put_config(workload_item("W"), tiers);
    cloud.add_spec_instances(Running);
    cloud.add_database(Rds, "orders-db", "ENV001", "Role_DB", "available");
    let report = run(&cloud, &request("W", Action::Stop)).await;
    assert_eq!(cloud.state_of("i-d1"), Running);
    assert_eq!(cloud.database_status(Rds, "orders-db"), "stopped");
    assert!(
        report.plan.warnings.iter().any(|w| w.contains("lists no EC2")),
        "{:?}",
        report.plan.warnings
    );
}

#[tokio::test(start_paused = true)]
async fn a_readiness_gate_checks_the_instances_and_the_databases_their_own_wait() {
    let cloud = fleet(Stopped, "stopped");
    let mut tiers = three_tiers("W", 5);
    tiers[DB]["TierResourceTypes"] = json!("EC2, RDS, Aurora");
    tiers[DB]["TierStart"]["TierReadiness"] = json!("StatusChecks");
    tiers[DB]["TierStart"]["TierReadinessOnTimeout"] = json!("Abort");
    cloud.put_config(workload_item("W"), tiers);
    let report = run(&cloud, &request("W", Action::Start)).await;
    let s = &report.summary;
    assert_eq!(s.status, RunStatus::Completed, "{}", s.to_table());
    let gate = tier(&s.tiers, "Role_DB").gate.clone().expect("a gate");
    assert_eq!((gate.ready, gate.timed_out), (2, false), "the two instances only");
    let polled: Vec<String> = cloud
        .calls_of("DescribeInstanceStatus")
        .into_iter()
        .flat_map(|c| c.ids)
        .collect();
    assert!(polled.iter().all(|id| id.starts_with("i-")), "{polled:?}");
}

#[tokio::test(start_paused = true)]
async fn an_expiring_override_tag_keeps_a_database_as_it_is() {
    let cloud = fleet(Running, "available");
    cloud
        .lock()
        .databases
        .get_mut(&(Rds, "orders-db".into()))
        .unwrap()
        .tags
        .insert(
            "SchedulerOverride".into(),
            "keep-running until 2099-01-01T00:00:00Z".into(),
        );
    let report = run(&cloud, &request("W", Action::Stop)).await;
    let db = tier(&report.summary.tiers, "Role_DB");
    let kept = db.skipped.iter().find(|n| n.id == "rds:orders-db").expect("kept");
    assert!(kept.reason.contains("keep-running"), "{}", kept.reason);
    assert_eq!(cloud.database_status(Rds, "orders-db"), "available");
    assert_eq!(cloud.database_status(Aurora, "ledger"), "stopped");
}

#[tokio::test(start_paused = true)]
async fn a_tier_of_databases_alone_owes_its_delay_like_one_of_instances() {
    // Role_DB holds only databases (no EC2): its 90 s delay after the
    // Start is owed before App starts, as after a tier of instances.
    let mut tiers = three_tiers("W", 90);
    tiers[DB]["TierResourceTypes"] = json!("RDS");
    let cloud = FakeCloud::new().with_transitions(Duration::from_secs(30), Duration::from_secs(30));
    cloud.put_config(workload_item("W"), tiers);
    cloud.add_spec_instances(Stopped);
    cloud.add_database(Rds, "orders-db", "ENV001", "Role_DB", "stopped");
    let began = Instant::now();
    let report = run(&cloud, &request("W", Action::Start)).await;
    assert_eq!(
        report.summary.status,
        RunStatus::Completed,
        "{}",
        report.summary.to_table()
    );
    assert_eq!(report.plan.groups[0].delay_after, Duration::from_secs(90));
    let db_up = cloud.call_seconds("StartDBInstance", began)[0];
    let app = cloud.call_seconds("StartInstances", began)[0];
    assert!(app >= db_up + 90, "App started at {app} s, the database at {db_up} s");
}
