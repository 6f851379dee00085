//! Auto Scaling groups (`TierAutoScalingGroups: ScaleToZero`) and ECS
//! services (`TierResourceTypes: ECS`) as tier members against the
//! in-memory cloud: their capacity recorded and set to 0 at Stop, restored
//! exactly at Start, each confirmed serving before the next tier starts;
//! a member without a record left alone; what would undo a stop warned of.

use std::time::Duration;

use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::instance::InstanceState::*;
use ec2_tier_scheduler::instance::AUTO_SCALING_GROUP_TAG;
use ec2_tier_scheduler::member::Capacity;
use ec2_tier_scheduler::member::MemberKind::{Asg, Ecs, Rds};
use ec2_tier_scheduler::plan::Step;
use ec2_tier_scheduler::summary::{RunStatus, TierOutcome};
use serde_json::json;
use tokio::time::Instant;

use crate::support::fake::{DatabaseTimes, FakeCloud};
use crate::support::{request, resume, run, run_until_deadline, three_tiers, workload_item};

const WEB_GROUP: Capacity = Capacity {
    min: 1,
    desired: 2,
    max: 4,
};
const API: Capacity = Capacity {
    min: 0,
    desired: 3,
    max: 0,
};

/// Web: a plain instance pair, an Auto Scaling group scaled to zero (one of
/// its instances is tagged like the tier) and another workload's group;
/// App: instances and an ECS service; DB: instances and an RDS database.
fn workload(up: bool) -> FakeCloud {
    let mut tiers = three_tiers("W", 5);
    tiers[0]["TierStop"]["TierAutoScalingGroups"] = json!("ScaleToZero");
    tiers[1]["TierResourceTypes"] = json!("ECS,EC2");
    tiers[2]["TierResourceTypes"] = json!("EC2,RDS");
    let cloud = FakeCloud::new().with_transitions(Duration::from_secs(30), Duration::from_secs(30));
    cloud.put_config(workload_item("W"), tiers);
    cloud.add_spec_instances(if up { Running } else { Stopped });
    cloud.lock().database_times = DatabaseTimes {
        stop: Duration::from_secs(60),
        start: Duration::from_secs(120),
    };
    cloud.add_capacity(Asg, "web", "ENV001", "Role_Web", WEB_GROUP);
    cloud.add_capacity(Asg, "their-web", "OTHER", "Role_Web", WEB_GROUP);
    cloud.add_capacity(Ecs, "prod/api", "ENV001", "Role_App", API);
    cloud.add_database(
        Rds,
        "orders",
        "ENV001",
        "Role_DB",
        if up { "available" } else { "stopped" },
    );
    if up {
        cloud.add("i-web-asg", "ENV001", "Role_Web", Running);
        let mut s = cloud.lock();
        let i = s.instances.get_mut("i-web-asg").unwrap();
        i.tags.insert(AUTO_SCALING_GROUP_TAG.into(), "web".into());
    } else {
        cloud.scaled_to_zero(Asg, "web");
        cloud.scaled_to_zero(Ecs, "prod/api");
    }
    cloud
}

fn tier<'a>(tiers: &'a [TierOutcome], name: &str) -> &'a TierOutcome {
    tiers.iter().find(|t| t.tier == name).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_stop_records_and_zeroes_groups_and_services_in_tier_order() {
    let cloud = workload(true);
    let began = Instant::now();
    let report = run(&cloud, &request("W", Action::Stop)).await;
    let s = &report.summary;
    assert_eq!(s.status, RunStatus::Completed, "{}", s.to_table());
    assert!(tier(&s.tiers, "Role_Web").acted.contains(&"asg:web".to_string()));
    assert!(tier(&s.tiers, "Role_App").acted.contains(&"ecs:prod/api".to_string()));
    // The group's instance is its group's business, not a member.
    let web = tier(&s.tiers, "Role_Web");
    let skipped = web.skipped.iter().find(|n| n.id == "i-web-asg").expect("skipped");
    assert!(skipped.reason.contains("ScaleToZero"), "{}", skipped.reason);
    assert!(cloud
        .calls_of("StopInstances")
        .iter()
        .all(|c| !c.ids.contains(&"i-web-asg".to_string())));
    // Recorded exactly, then at 0; another workload's group untouched.
    assert_eq!(
        cloud.capacity(Asg, "web"),
        (
            Capacity {
                min: 0,
                desired: 0,
                max: 0
            },
            0,
            Some("1,2,4".into())
        )
    );
    assert_eq!(cloud.capacity(Ecs, "prod/api").2.as_deref(), Some("3"));
    assert_eq!(cloud.capacity(Asg, "their-web"), (WEB_GROUP, 2, None));
    // Web, then App, then DB.
    let group = cloud.call_seconds("UpdateAutoScalingGroup", began)[0];
    let service = cloud.call_seconds("UpdateService", began)[0];
    let database = cloud.call_seconds("StopDBInstance", began)[0];
    assert!(group < service && service < database, "{group} {service} {database}");
}

#[tokio::test(start_paused = true)]
async fn a_start_restores_exactly_and_each_tier_waits_for_its_members_to_serve() {
    let cloud = workload(false);
    let began = Instant::now();
    let report = run(&cloud, &request("W", Action::Start)).await;
    let s = &report.summary;
    assert_eq!(s.status, RunStatus::Completed, "{}", s.to_table());
    assert_eq!(
        cloud.capacity(Asg, "web"),
        (WEB_GROUP, 2, None),
        "restored, record removed"
    );
    assert_eq!(cloud.capacity(Ecs, "prod/api"), (API, 3, None));
    // DB's database takes 120 s to be available, App's service 120 s to
    // run its tasks: each next tier starts only after, plus the 5 s delay.
    let service = cloud.call_seconds("UpdateService", began)[0];
    let group = cloud.call_seconds("UpdateAutoScalingGroup", began)[0];
    assert!((125..=140).contains(&service), "App's service restored at {service} s");
    assert!(group >= service + 125, "Web's group restored at {group} s");
    // The plan says what is restored.
    let restores: Vec<_> = report.plan.members().filter_map(|m| m.restores).collect();
    assert_eq!(restores, [API, WEB_GROUP]);
}

#[tokio::test(start_paused = true)]
async fn a_group_at_zero_without_a_record_is_left_alone_and_reported() {
    let cloud = workload(false);
    let key = {
        let record = cloud.recorded("ASG", "capacity", "web").expect("recorded");
        record.key()
    };
    cloud.lock().records.remove(&key);
    let report = run(&cloud, &request("W", Action::Start)).await;
    let web = tier(&report.summary.tiers, "Role_Web");
    let skipped = web.skipped.iter().find(|n| n.id == "asg:web").expect("reported");
    assert!(skipped.reason.contains("no record"), "{}", skipped.reason);
    assert!(cloud.calls_of("UpdateAutoScalingGroup").is_empty());
    assert_eq!(cloud.capacity(Ecs, "prod/api").0, API, "the rest of the run goes on");
}

#[tokio::test(start_paused = true)]
async fn what_would_undo_a_stop_is_a_plan_warning_and_a_dry_run_touches_nothing() {
    let cloud = workload(true);
    let undoer = "scheduled action morning sets min 1, desired 2 recurrence 0 7 * * *";
    cloud.lock().capacities.get_mut(&(Asg, "web".into())).unwrap().undoers = vec![undoer.into()];
    let mut req = request("W", Action::Stop);
    req.dry_run = true;
    let report = run(&cloud, &req).await;
    assert!(
        report
            .plan
            .warnings
            .iter()
            .any(|w| w.starts_with("asg:web: scheduled action morning")),
        "{:?}",
        report.plan.warnings
    );
    assert!(
        report.summary.message.contains("3 other member(s)"),
        "{}",
        report.summary.message
    );
    assert!(cloud.calls_of("UpdateAutoScalingGroup").is_empty() && cloud.calls_of("UpdateService").is_empty());
    let plan = report.plan.members().find(|m| m.member == "asg:web").unwrap();
    assert_eq!(plan.step, Step::Act);
}

#[tokio::test(start_paused = true)]
async fn a_synchronous_tier_takes_its_members_in_resource_type_order() {
    let cloud = workload(true);
    let mut tiers = three_tiers("W", 5);
    tiers[1]["TierResourceTypes"] = json!("ECS,EC2");
    tiers[1]["TierStop"]["TierSynchronization"] = json!("True");
    cloud.put_config(workload_item("W"), tiers);
    let began = Instant::now();
    let report = run(&cloud, &request("W", Action::Stop)).await;
    assert_eq!(
        report.summary.status,
        RunStatus::Completed,
        "{}",
        report.summary.to_table()
    );
    // ECS is listed first: the service is at 0 (60 s) before App's first
    // instance stops.
    let service = cloud.call_seconds("UpdateService", began)[0];
    let app: Vec<u64> = cloud
        .calls_of("StopInstances")
        .iter()
        .filter(|c| c.ids[0].starts_with("i-a"))
        .map(|c| (c.at - began).as_secs())
        .collect();
    assert!(
        app.iter().all(|t| *t >= service + 60),
        "service at {service} s, App's instances at {app:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn each_kind_has_its_own_metrics_line() {
    let cloud = workload(true);
    let report = run(&cloud, &request("W", Action::Stop)).await;
    let lines: Vec<serde_json::Value> = ec2_tier_scheduler::metrics::for_members("N", &report, 0)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let by_kind: Vec<(&str, u64, u64)> = lines
        .iter()
        .map(|l| {
            let n = |name: &str| l[name].as_u64().unwrap();
            (l["Kind"].as_str().unwrap(), n("MembersActed"), n("MembersFailed"))
        })
        .collect();
    assert_eq!(by_kind, [("EC2", 6, 0), ("RDS", 1, 0), ("ECS", 1, 0), ("ASG", 1, 0)]);
    assert_eq!(
        lines[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["Workload", "Action", "Kind"]])
    );
}

#[tokio::test(start_paused = true)]
async fn an_expiring_override_tag_keeps_a_service_running() {
    let cloud = workload(true);
    cloud
        .lock()
        .capacities
        .get_mut(&(Ecs, "prod/api".into()))
        .unwrap()
        .tags
        .insert(
            "SchedulerOverride".into(),
            "keep-running until 2099-01-01T00:00:00Z".into(),
        );
    let report = run(&cloud, &request("W", Action::Stop)).await;
    let app = tier(&report.summary.tiers, "Role_App");
    assert!(
        app.skipped.iter().any(|n| n.id == "ecs:prod/api"),
        "{}",
        report.summary.to_table()
    );
    assert_eq!(cloud.capacity(Ecs, "prod/api").0, API);
}

#[tokio::test(start_paused = true)]
async fn a_refused_restore_is_that_members_failure_and_the_next_tiers_go_on() {
    let cloud = workload(false);
    cloud.fault("UpdateService", Some("prod/api"), "AccessDeniedException", 1);
    let report = run(&cloud, &request("W", Action::Start)).await;
    let s = &report.summary;
    assert_eq!(s.status, RunStatus::CompletedWithFailures, "{}", s.to_table());
    let app = tier(&s.tiers, "Role_App");
    assert_eq!(app.failed.len(), 1, "{}", s.to_table());
    assert_eq!(
        (app.failed[0].id.as_str(), app.failed[0].code.as_deref()),
        ("ecs:prod/api", Some("AccessDeniedException"))
    );
    assert_eq!(
        cloud.capacity(Ecs, "prod/api").2.as_deref(),
        Some("3"),
        "the record stays for the next Start"
    );
    assert_eq!(
        cloud.capacity(Asg, "web").0,
        WEB_GROUP,
        "Web still starts (TierStartFailure Continue)"
    );
}

#[tokio::test(start_paused = true)]
async fn a_group_slower_than_the_invocation_is_confirmed_by_the_continuation() {
    // Every member takes 400 s: DB up at ~400 s, App's service at ~805 s,
    // Web's group restored at ~810 s and cut at 1000 s while it launches.
    let cloud = workload(false);
    cloud.lock().database_times.start = Duration::from_secs(400);
    let req = request("W", Action::Start);
    let (_, checkpoint) = run_until_deadline(&cloud, &req, 1000).await;
    assert!(checkpoint.acted.contains(&"asg:web".to_string()), "{checkpoint:?}");
    assert_ne!(cloud.capacity(Asg, "web").1, 2, "still launching");
    resume(&cloud, &req, &checkpoint).await;
    assert_eq!(
        cloud.calls_of("UpdateAutoScalingGroup").len(),
        1,
        "restored once, confirmed by the continuation"
    );
    assert_eq!(cloud.capacity(Asg, "web"), (WEB_GROUP, 2, None));
}
