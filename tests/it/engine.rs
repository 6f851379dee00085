//! One tier frame for every kind of member: a tier holding one member of
//! each kind (EC2 instances, an RDS DB instance, an Aurora cluster, an ECS
//! service, an Auto Scaling group scaled to zero) goes through Stop and
//! Start, across a continuation, and every kind comes out the same shape:
//! counted once, confirmed the same way, with the same timeline bars.

use std::time::Duration;

use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::instance::InstanceState::*;
use ec2_tier_scheduler::member::Capacity;
use ec2_tier_scheduler::member::MemberKind::{self, Asg, Aurora, Ec2, Ecs, Rds};
use ec2_tier_scheduler::summary::{PhaseKind, RunStatus, RunSummary, TierOutcome};
use serde_json::json;

use crate::support::fake::{DatabaseTimes, FakeCloud};
use crate::support::{request, resume, run, run_until_deadline, three_tiers, tier_item, workload_item};

/// Index of Role_DB in `three_tiers`.
const DB: usize = 2;

/// The tier's member of each kind but EC2 (whose members are i-d1, i-d2).
const MEMBERS: [(MemberKind, &str); 4] = [
    (Rds, "rds:orders"),
    (Aurora, "aurora:ledger"),
    (Ecs, "ecs:prod/api"),
    (Asg, "asg:web"),
];

const GROUP: Capacity = Capacity {
    min: 1,
    desired: 2,
    max: 4,
};

/// Role_DB holds every kind (in this order); instances take 30 s, the
/// others 60 s to stop and 120 s to start.
fn workload(synchronous: bool) -> FakeCloud {
    let mut tiers = three_tiers("W", 5);
    if synchronous {
        tiers[DB] = tier_item("W", "Role_DB", 2, 0, true, 5);
    }
    tiers[DB]["TierResourceTypes"] = json!("RDS, Aurora, EC2, ECS");
    tiers[DB]["TierStop"]["TierAutoScalingGroups"] = json!("ScaleToZero");
    let cloud = FakeCloud::new().with_transitions(Duration::from_secs(30), Duration::from_secs(30));
    cloud.put_config(workload_item("W"), tiers);
    cloud.add_spec_instances(Running);
    cloud.lock().database_times = DatabaseTimes {
        stop: Duration::from_secs(60),
        start: Duration::from_secs(120),
    };
    cloud.add_database(Rds, "orders", "ENV001", "Role_DB", "available");
    cloud.add_database(Aurora, "ledger", "ENV001", "Role_DB", "available");
    cloud.add_capacity(
        Ecs,
        "prod/api",
        "ENV001",
        "Role_DB",
        Capacity {
            min: 0,
            desired: 3,
            max: 0,
        },
    );
    cloud.add_capacity(Asg, "web", "ENV001", "Role_DB", GROUP);
    cloud
}

fn db(s: &RunSummary) -> &TierOutcome {
    s.tiers.iter().find(|t| t.tier == "Role_DB").expect("Role_DB")
}

/// The kinds that have a bar of `phase` in the tier's timeline.
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

/// How many times `id` appears in the tier's lists.
fn mentions(t: &TierOutcome, id: &str) -> usize {
    t.acted.iter().filter(|a| *a == id).count()
        + t.skipped.iter().filter(|n| n.id == id).count()
        + t.failed.iter().filter(|f| f.id == id).count()
        + t.not_done.iter().filter(|n| n.id == id).count()
}

const EVERY_KIND: [MemberKind; 5] = [Ec2, Rds, Aurora, Ecs, Asg];

fn sorted(mut kinds: Vec<MemberKind>) -> Vec<MemberKind> {
    kinds.sort();
    kinds
}

#[tokio::test(start_paused = true)]
async fn every_kind_stops_and_starts_through_one_frame() {
    let cloud = workload(false);

    // Stop: each kind acted on once, each with its act bar.
    let stop = run(&cloud, &request("W", Action::Stop)).await;
    let t = db(&stop.summary);
    assert_eq!(stop.summary.status, RunStatus::Completed, "{}", stop.summary.to_table());
    for (_, id) in MEMBERS {
        assert_eq!(
            t.acted.iter().filter(|a| *a == id).count(),
            1,
            "{id}: {}",
            stop.summary.to_table()
        );
    }
    assert!(t.acted.contains(&"i-d1".to_string()));
    assert_eq!(bars(t, PhaseKind::Act), sorted(EVERY_KIND.to_vec()));
    // Let every member get down.
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(cloud.database_status(Rds, "orders"), "stopped");
    assert_eq!(cloud.capacity(Asg, "web").0.desired, 0);

    // Start, cut after 60 s: everything was started; the instances are up
    // after 30 s, the others not yet (120 s), and time ran out confirming.
    let req = request("W", Action::Start);
    let (first, checkpoint) = run_until_deadline(&cloud, &req, 60).await;
    let t = db(&first.summary);
    assert!(t.failed.is_empty(), "{}", first.summary.to_table());
    for (_, id) in MEMBERS {
        assert!(t.acted.contains(&id.to_string()), "{id}: {}", first.summary.to_table());
        assert!(checkpoint.acted.contains(&id.to_string()), "{id} in the checkpoint");
    }
    assert_eq!(bars(t, PhaseKind::Act), sorted(EVERY_KIND.to_vec()));
    assert_eq!(bars(t, PhaseKind::Confirm), sorted(EVERY_KIND.to_vec()));

    // The continuation confirms every kind the same way: reported once,
    // skipped as started by the earlier invocation, never started again.
    let second = resume(&cloud, &req, &checkpoint).await;
    let t = db(&second.summary);
    for id in MEMBERS.iter().map(|(_, id)| *id).chain(["i-d1", "i-d2"]) {
        assert_eq!(mentions(t, id), 1, "{id}: {}", second.summary.to_table());
        let skipped = t.skipped.iter().find(|n| n.id == id).expect("skipped");
        assert!(
            skipped.reason.contains("by an earlier invocation"),
            "{}",
            skipped.reason
        );
    }
    assert!(
        t.acted.is_empty() && t.failed.is_empty(),
        "{}",
        second.summary.to_table()
    );
    assert_eq!(bars(t, PhaseKind::Confirm), sorted(EVERY_KIND.to_vec()));
    assert_eq!(cloud.calls_of("StartDBInstance").len(), 1);
    assert_eq!(cloud.calls_of("StartDBCluster").len(), 1);
    assert_eq!(cloud.database_status(Aurora, "ledger"), "available");
    let (capacity, serving, record) = cloud.capacity(Asg, "web");
    assert_eq!((capacity, serving, record), (GROUP, 2, None), "restored and serving");
    assert_eq!(cloud.capacity(Ecs, "prod/api").1, 3);
}

#[tokio::test(start_paused = true)]
async fn a_synchronous_tier_takes_the_kinds_in_their_order_across_a_continuation() {
    // GIVEN Role_DB synchronous: RDS, Aurora, EC2 with its group, ECS
    let cloud = workload(true);
    let req = request("W", Action::Stop);

    // WHEN the Stop is cut while Role_DB waits for its members one by one
    let (first, checkpoint) = run_until_deadline(&cloud, &req, 130).await;
    let t = db(&first.summary);
    assert!(!t.not_done.is_empty(), "{}", first.summary.to_table());
    let second = resume(&cloud, &req, &checkpoint).await;
    let t2 = db(&second.summary);

    // THEN each member was stopped once, in the tier's kind order, each
    // waited down before the next one was touched
    let mut order: Vec<(tokio::time::Instant, String)> = Vec::new();
    for op in [
        "StopDBInstance",
        "StopDBCluster",
        "StopInstances",
        "UpdateService",
        "UpdateAutoScalingGroup",
    ] {
        for call in cloud.calls_of(op) {
            order.extend(call.ids.iter().map(|id| (call.at, id.clone())));
        }
    }
    order.sort();
    let others = ["i-w1", "i-w2", "i-a1", "i-a2"];
    order.retain(|(_, id)| !others.contains(&id.as_str()));
    let ids: Vec<&str> = order.iter().map(|(_, id)| id.as_str()).collect();
    for pair in order.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(
            gap >= Duration::from_secs(30),
            "{} only {gap:?} after {}",
            pair[1].1,
            pair[0].1
        );
    }
    assert_eq!(ids, ["orders", "ledger", "i-d1", "i-d2", "web", "prod/api"], "{ids:?}");
    // and the continuation reports each once: acted, or skipped as
    // stopped by the earlier invocation
    for id in MEMBERS.iter().map(|(_, id)| *id).chain(["i-d1", "i-d2"]) {
        assert_eq!(mentions(t2, id), 1, "{id}: {}", second.summary.to_table());
        let first_acted = t.acted.iter().any(|a| a == id);
        let skipped = t2.skipped.iter().any(|n| n.id == id);
        assert_eq!(first_acted, skipped, "{id}: {}", second.summary.to_table());
    }
    assert_eq!(bars(t2, PhaseKind::Act).len(), 5, "every lane waited in turn");
    assert_eq!(cloud.database_status(Rds, "orders"), "stopped");
    assert_eq!(cloud.capacity(Asg, "web").0.desired, 0);
}
