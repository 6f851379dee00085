//! The kinds of issue 31 through the one engine, against the in-memory
//! cloud: DocumentDB and Neptune DB clusters (stopped and started like
//! Aurora through the RDS API) and EKS managed node groups (capacity
//! recorded in the run ledger, min and desired set to 0 with the max kept,
//! restored from the record). Each kind's phases, its confirmation holding
//! the next tier, the deadline and the continuation that confirms it.

use std::time::Duration;

use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::instance::InstanceState::*;
use ec2_tier_scheduler::member::Capacity;
use ec2_tier_scheduler::member::MemberKind::{self, Aurora, DocumentDb, Eks, Neptune};
use ec2_tier_scheduler::orchestrator::{self, Budget, Settings};
use ec2_tier_scheduler::plan::Step;
use ec2_tier_scheduler::summary::{PhaseKind, RunStatus, TierOutcome};
use serde_json::json;
use tokio::time::Instant;

use crate::support::fake::{DatabaseTimes, FakeCloud};
use crate::support::{request, resume, run, run_until_deadline, three_tiers, tier_item, workload_item};

/// The node group's capacity when up.
const WORKERS: Capacity = Capacity {
    min: 1,
    desired: 2,
    max: 4,
};

/// The spec's fleet in `state`: DB holds EC2, DocumentDB and Neptune (a
/// DocumentDB and a Neptune cluster of the workload, a Neptune cluster of
/// another workload, and an Aurora cluster its tier does not list); App
/// holds EC2 and EKS (a node group of the workload and one of another
/// workload). Databases take 60 s to stop, 480 s to start; node groups'
/// instances follow their capacity after the same times.
fn fleet(up: bool) -> FakeCloud {
    let mut tiers = three_tiers("W", 5);
    tiers[1]["TierResourceTypes"] = json!("EC2, eks");
    tiers[2]["TierResourceTypes"] = json!("EC2, DocumentDB, NEPTUNE");
    let cloud = FakeCloud::new().with_transitions(Duration::from_secs(30), Duration::from_secs(30));
    cloud.put_config(workload_item("W"), tiers);
    cloud.add_spec_instances(if up { Running } else { Stopped });
    cloud.lock().database_times = DatabaseTimes {
        stop: Duration::from_secs(60),
        start: Duration::from_secs(480),
    };
    let status = if up { "available" } else { "stopped" };
    cloud.add_database(DocumentDb, "catalog", "ENV001", "Role_DB", status);
    cloud.add_database(Neptune, "graph", "ENV001", "Role_DB", status);
    cloud.add_database(Neptune, "their-graph", "OTHER", "Role_DB", status);
    cloud.add_database(Aurora, "ledger", "ENV001", "Role_DB", status);
    cloud.add_capacity(Eks, "prod/workers", "ENV001", "Role_App", WORKERS);
    cloud.add_capacity(Eks, "prod/their-workers", "OTHER", "Role_App", WORKERS);
    if !up {
        cloud.scaled_to_zero(Eks, "prod/workers");
    }
    cloud
}

fn tier<'a>(tiers: &'a [TierOutcome], name: &str) -> &'a TierOutcome {
    tiers.iter().find(|t| t.tier == name).unwrap()
}

fn acted(tiers: &[TierOutcome], name: &str, member: &str) -> bool {
    tier(tiers, name).acted.contains(&member.to_string())
}

#[tokio::test(start_paused = true)]
async fn a_stop_takes_each_kind_in_its_tiers_turn() {
    let cloud = fleet(true);
    let began = Instant::now();
    let report = run(&cloud, &request("W", Action::Stop)).await;
    let s = &report.summary;
    assert_eq!(s.status, RunStatus::Completed, "{}", s.to_table());
    assert!(acted(&s.tiers, "Role_App", "eks:prod/workers"), "{}", s.to_table());
    assert!(acted(&s.tiers, "Role_DB", "docdb:catalog"), "{}", s.to_table());
    assert!(acted(&s.tiers, "Role_DB", "neptune:graph"), "{}", s.to_table());
    // The node group: min and desired 0, its max kept (EKS refuses 0, as
    // the fake does), its capacity recorded in the ledger first.
    let zero = Capacity {
        min: 0,
        desired: 0,
        max: 4,
    };
    assert_eq!(cloud.capacity(Eks, "prod/workers"), (zero, 0, Some("1,2,4".into())));
    assert_eq!(cloud.capacity(Eks, "prod/their-workers"), (WORKERS, 2, None));
    // The clusters: stopped through StopDBCluster, each once; the other
    // workload's and the kind the tier does not list untouched.
    let stopped: Vec<String> = cloud
        .calls_of("StopDBCluster")
        .into_iter()
        .flat_map(|c| c.ids)
        .collect();
    assert_eq!(stopped.len(), 2);
    assert!(stopped.contains(&"catalog".to_string()) && stopped.contains(&"graph".to_string()));
    // DB is asynchronous: its clusters are stopped a minute later.
    assert_eq!(cloud.database_status(DocumentDb, "catalog"), "stopping");
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert_eq!(cloud.database_status(DocumentDb, "catalog"), "stopped");
    assert_eq!(cloud.database_status(Neptune, "their-graph"), "available");
    assert_eq!(cloud.database_status(Aurora, "ledger"), "available");
    // App (its node group) before DB (its clusters).
    let node_group = cloud.call_seconds("UpdateNodegroupConfig", began)[0];
    assert!(cloud
        .call_seconds("StopDBCluster", began)
        .iter()
        .all(|t| *t > node_group));
    // The plan names them with their prefixes, in TierResourceTypes order.
    let members: Vec<&str> = report.plan.members().map(|d| d.member.as_str()).collect();
    assert_eq!(members, ["eks:prod/workers", "docdb:catalog", "neptune:graph"]);
}

#[tokio::test(start_paused = true)]
async fn a_start_confirms_each_kind_before_the_next_tier() {
    let cloud = fleet(false);
    let began = Instant::now();
    let report = run(&cloud, &request("W", Action::Start)).await;
    let s = &report.summary;
    assert_eq!(s.status, RunStatus::Completed, "{}", s.to_table());
    assert_eq!(cloud.database_status(DocumentDb, "catalog"), "available");
    assert_eq!(cloud.database_status(Neptune, "graph"), "available");
    assert_eq!(cloud.database_status(Neptune, "their-graph"), "stopped");
    assert_eq!(
        cloud.capacity(Eks, "prod/workers"),
        (WORKERS, 2, None),
        "restored from its record, the record removed"
    );
    // DB's clusters take 480 s to be available: App's node group is
    // restored after, then Web waits the 480 s of its nodes plus 5 s.
    let node_group = cloud.call_seconds("UpdateNodegroupConfig", began)[0];
    assert!((485..=500).contains(&node_group), "App restored at {node_group} s");
    let web = cloud.call_seconds("StartInstances", began);
    assert!(web[2] >= node_group + 485, "Web started at {} s", web[2]);
    let restores: Vec<_> = report.plan.members().filter_map(|m| m.restores).collect();
    assert_eq!(restores, [WORKERS]);
}

#[tokio::test(start_paused = true)]
async fn clusters_still_starting_at_the_deadline_are_confirmed_by_the_continuation() {
    let cloud = fleet(false);
    let req = request("W", Action::Start);
    let (_, checkpoint) = run_until_deadline(&cloud, &req, 300).await;
    for member in ["docdb:catalog", "neptune:graph"] {
        assert!(checkpoint.acted.contains(&member.to_string()), "{checkpoint:?}");
    }
    assert!(cloud.calls_of("UpdateNodegroupConfig").is_empty(), "App waits");
    resume(&cloud, &req, &checkpoint).await;
    assert_eq!(cloud.calls_of("StartDBCluster").len(), 2, "never started twice");
    assert_eq!(cloud.capacity(Eks, "prod/workers").0, WORKERS);
    assert_eq!(cloud.state_of("i-w1"), Running);
}

#[tokio::test(start_paused = true)]
async fn a_node_group_still_scaling_at_the_deadline_is_confirmed_by_the_continuation() {
    let cloud = fleet(false);
    cloud.lock().database_times.start = Duration::from_secs(200);
    let req = request("W", Action::Start);
    // Clusters available at 200 s; the node group restored at about 205 s,
    // its nodes in service at about 405 s: the deadline at 300 s cuts it.
    let (first, checkpoint) = run_until_deadline(&cloud, &req, 300).await;
    assert!(
        checkpoint.acted.contains(&"eks:prod/workers".to_string()),
        "{}",
        first.summary.to_table()
    );
    assert!(
        cloud
            .calls_of("StartInstances")
            .iter()
            .all(|c| !c.ids[0].starts_with("i-w")),
        "Web waits"
    );
    resume(&cloud, &req, &checkpoint).await;
    assert_eq!(cloud.calls_of("UpdateNodegroupConfig").len(), 1, "restored once");
    assert_eq!(cloud.capacity(Eks, "prod/workers"), (WORKERS, 2, None));
    assert_eq!(cloud.state_of("i-w1"), Running);
}

#[tokio::test(start_paused = true)]
async fn a_node_group_not_serving_within_its_bound_fails_named_by_eks() {
    let cloud = fleet(false);
    let mut tiers = three_tiers("W", 5);
    tiers[1]["TierResourceTypes"] = json!("EC2,EKS");
    tiers[1]["TierStart"]["TierStartConfirmTimeout"] = json!("60");
    cloud.put_config(workload_item("W"), tiers);
    cloud.lock().database_times.start = Duration::from_secs(600);
    let report = run(&cloud, &request("W", Action::Start)).await;
    let app = tier(&report.summary.tiers, "Role_App");
    let failed = app.failed.iter().find(|f| f.id == "eks:prod/workers").expect("failed");
    assert!(failed.reason.contains("still says UPDATING"), "{}", failed.reason);
}

#[tokio::test(start_paused = true)]
async fn each_kinds_phase_decides_its_step() {
    let cloud = fleet(true);
    // A node group already at min 0, desired 0 (max 3) with no record, a
    // cluster backing up: neither is acted on.
    cloud.add_capacity(
        Eks,
        "prod/idle",
        "ENV001",
        "Role_App",
        Capacity {
            min: 0,
            desired: 0,
            max: 3,
        },
    );
    cloud.add_database(Neptune, "busy", "ENV001", "Role_DB", "backing-up");
    let mut req = request("W", Action::Stop);
    req.dry_run = true;
    let report = run(&cloud, &req).await;
    let step = |member: &str| report.plan.members().find(|m| m.member == member).unwrap().step.clone();
    assert_eq!(step("eks:prod/workers"), Step::Act);
    assert_eq!(
        step("eks:prod/idle"),
        Step::Skip {
            reason: "already at 0".into()
        }
    );
    assert!(matches!(step("neptune:busy"), Step::Skip { reason } if reason.contains("backing-up")));
    assert_eq!(step("docdb:catalog"), Step::Act);
    assert!(cloud.calls_of("UpdateNodegroupConfig").is_empty() && cloud.calls_of("StopDBCluster").is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_autoscaler_on_a_node_group_is_a_plan_warning() {
    let cloud = fleet(true);
    let undoer = "tag k8s.io/cluster-autoscaler/enabled: a Cluster Autoscaler can scale it back up while its max is 4";
    cloud
        .lock()
        .capacities
        .get_mut(&(Eks, "prod/workers".into()))
        .unwrap()
        .undoers = vec![undoer.into()];
    let mut req = request("W", Action::Stop);
    req.dry_run = true;
    let report = run(&cloud, &req).await;
    assert!(
        report
            .plan
            .warnings
            .iter()
            .any(|w| w.starts_with("eks:prod/workers: tag k8s.io/cluster-autoscaler/enabled")),
        "{:?}",
        report.plan.warnings
    );
}

#[tokio::test(start_paused = true)]
async fn a_node_group_record_over_max_restored_capacity_is_not_restored() {
    let cloud = fleet(false);
    let settings = Settings {
        max_restored_capacity: 3,
        ..Settings::default()
    };
    let report = orchestrator::run(&cloud, &request("W", Action::Start), &Budget::unlimited(), &settings)
        .await
        .unwrap();
    let app = tier(&report.summary.tiers, "Role_App");
    let over = app.failed.iter().find(|f| f.id == "eks:prod/workers").expect("refused");
    assert!(over.reason.contains("over MaxRestoredCapacity 3"), "{}", over.reason);
    assert_eq!(cloud.capacity(Eks, "prod/workers").0.desired, 0);
    assert!(cloud.capacity(Eks, "prod/workers").2.is_some(), "kept recorded");
}

#[test]
fn the_new_kinds_read_in_any_case_and_others_are_refused() {
    use ec2_tier_scheduler::config::{ItemNaming, WorkloadConfig};
    let mut tiers = three_tiers("W", 5);
    tiers[1]["TierResourceTypes"] = json!("ec2,Eks");
    tiers[2]["TierResourceTypes"] = json!("documentdb,Neptune");
    let config = WorkloadConfig::from_items("W", &workload_item("W"), &tiers, ItemNaming::Table).expect("valid");
    assert_eq!(
        config.member_kinds(),
        [MemberKind::DocumentDb, MemberKind::Neptune, MemberKind::Eks]
    );
    assert!(config.record_uses().contains(&"EKS node groups"));
    tiers[2]["TierResourceTypes"] = json!("DocDB");
    let err = WorkloadConfig::from_items("W", &workload_item("W"), &tiers, ItemNaming::Table).unwrap_err();
    assert!(
        err.to_string().contains("\"DocumentDB\", \"Neptune\", \"EKS\""),
        "{err}"
    );
}

/// Role_DB holding the three kinds and EC2, in this order; synchronous
/// when asked. Every member takes 60 s to stop and 120 s to start.
fn one_tier(synchronous: bool) -> FakeCloud {
    let mut tiers = three_tiers("W", 5);
    if synchronous {
        tiers[2] = tier_item("W", "Role_DB", 2, 0, true, 5);
    }
    tiers[2]["TierResourceTypes"] = json!("DocumentDB, EKS, EC2, Neptune");
    let cloud = FakeCloud::new().with_transitions(Duration::from_secs(30), Duration::from_secs(30));
    cloud.put_config(workload_item("W"), tiers);
    cloud.add_spec_instances(Running);
    cloud.lock().database_times = DatabaseTimes {
        stop: Duration::from_secs(60),
        start: Duration::from_secs(120),
    };
    cloud.add_database(DocumentDb, "catalog", "ENV001", "Role_DB", "available");
    cloud.add_database(Neptune, "graph", "ENV001", "Role_DB", "available");
    cloud.add_capacity(Eks, "prod/workers", "ENV001", "Role_DB", WORKERS);
    cloud
}

const NEW_KINDS: [&str; 3] = ["docdb:catalog", "eks:prod/workers", "neptune:graph"];

/// The kinds with a bar of `phase` in the tier's timeline.
fn bars(t: &TierOutcome, phase: PhaseKind) -> Vec<MemberKind> {
    let mut kinds: Vec<MemberKind> = t
        .phases
        .iter()
        .filter(|p| p.kind == phase)
        .filter_map(|p| p.member_kind)
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds
}

#[tokio::test(start_paused = true)]
async fn the_new_kinds_have_the_frames_bars_and_a_continuation_counts_them_once() {
    let cloud = one_tier(false);
    let stop = run(&cloud, &request("W", Action::Stop)).await;
    let mut every = vec![MemberKind::Ec2, DocumentDb, Neptune, Eks];
    every.sort();
    assert_eq!(bars(tier(&stop.summary.tiers, "Role_DB"), PhaseKind::Act), every);
    tokio::time::sleep(Duration::from_secs(120)).await;

    let req = request("W", Action::Start);
    let (first, checkpoint) = run_until_deadline(&cloud, &req, 60).await;
    let t = tier(&first.summary.tiers, "Role_DB");
    for id in NEW_KINDS {
        assert!(t.acted.contains(&id.to_string()), "{id}: {}", first.summary.to_table());
        assert!(checkpoint.acted.contains(&id.to_string()), "{id} in the checkpoint");
    }
    assert_eq!(bars(t, PhaseKind::Confirm), every);
    let second = resume(&cloud, &req, &checkpoint).await;
    let t = tier(&second.summary.tiers, "Role_DB");
    for id in NEW_KINDS {
        let skipped = t.skipped.iter().filter(|n| n.id == id).collect::<Vec<_>>();
        assert_eq!(skipped.len(), 1, "{id}: {}", second.summary.to_table());
        assert!(
            skipped[0].reason.contains("by an earlier invocation"),
            "{}",
            skipped[0].reason
        );
    }
    assert!(
        t.acted.is_empty() && t.failed.is_empty(),
        "{}",
        second.summary.to_table()
    );
    assert_eq!(cloud.calls_of("StartDBCluster").len(), 2);
    assert_eq!(cloud.calls_of("UpdateNodegroupConfig").len(), 2, "one Stop, one Start");
    assert_eq!(cloud.capacity(Eks, "prod/workers"), (WORKERS, 2, None));
}

#[tokio::test(start_paused = true)]
async fn a_synchronous_tier_waits_for_each_new_kind_in_its_order() {
    let cloud = one_tier(true);
    let req = request("W", Action::Stop);
    let (_, checkpoint) = run_until_deadline(&cloud, &req, 100).await;
    resume(&cloud, &req, &checkpoint).await;
    let mut order: Vec<(Instant, String)> = Vec::new();
    for op in ["StopDBCluster", "UpdateNodegroupConfig", "StopInstances"] {
        for call in cloud.calls_of(op) {
            order.extend(call.ids.iter().map(|id| (call.at, id.clone())));
        }
    }
    order.sort();
    order.retain(|(_, id)| !["i-w1", "i-w2", "i-a1", "i-a2"].contains(&id.as_str()));
    let ids: Vec<&str> = order.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(ids, ["catalog", "prod/workers", "i-d1", "i-d2", "graph"], "{ids:?}");
    for pair in order.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(
            gap >= Duration::from_secs(30),
            "{} only {gap:?} after {}",
            pair[1].1,
            pair[0].1
        );
    }
    assert_eq!(cloud.database_status(Neptune, "graph"), "stopped");
    assert_eq!(cloud.capacity(Eks, "prod/workers").0.max, 4, "max kept");
}
