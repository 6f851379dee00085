//! Traffic-aware tiers against the in-memory cloud: a `Drain` tier leaves
//! its target groups before it stops (recorded in the run ledger, waited out
//! of `draining`, bounded by the deadline), its registrations come back at
//! the next Start and the next tier waits for healthy targets; alarms are
//! muted before a Stop and unmuted after a Start, never one an operator
//! disabled.

use std::time::Duration;

use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::instance::InstanceState::*;
use ec2_tier_scheduler::records::Restore;
use ec2_tier_scheduler::summary::{RunStatus, TierOutcome};
use ec2_tier_scheduler::traffic::Registrations;
use serde_json::json;
use tokio::time::Instant;

use crate::support::fake::FakeCloud;
use crate::support::{request, resume, run, run_until_deadline, tier_item, workload_item};

const WEB_KEY: &str = "targetgroup/web/0123456789abcdef";
const API_KEY: &str = "targetgroup/api/0123456789abcdef";

/// Web (stops first, starts first, `Drain` both ways) and App; Web's two
/// instances are in target group `web` (port 80, beside another
/// workload's instance) and `i-w1` also in `api` (port 8080).
fn workload(state: ec2_tier_scheduler::instance::InstanceState) -> FakeCloud {
    let mut web = tier_item("W", "Role_Web", 0, 0, false, 5);
    web["TierStop"]["TierLoadBalancing"] = json!("Drain");
    web["TierStart"]["TierLoadBalancing"] = json!("Drain");
    let app = tier_item("W", "Role_App", 1, 1, false, 5);
    let cloud = FakeCloud::new().with_transitions(Duration::from_secs(30), Duration::from_secs(30));
    let mut workload = workload_item("W");
    workload["AlarmPrefixes"] = json!("w-");
    cloud.put_config(workload, vec![web, app]);
    for (id, tier) in [("i-w1", "Role_Web"), ("i-w2", "Role_Web"), ("i-a1", "Role_App")] {
        cloud.add(id, "ENV001", tier, state);
    }
    cloud.add("i-other", "ENV002", "Role_Web", Running);
    cloud.add_target_group("web", &[("i-w1", 80), ("i-w2", 80), ("i-other", 80)]);
    cloud.add_target_group("api", &[("i-w1", 8080)]);
    cloud
}

fn tier<'a>(tiers: &'a [TierOutcome], name: &str) -> &'a TierOutcome {
    tiers.iter().find(|t| t.tier == name).unwrap()
}

/// The ports the run ledger's record of `id` holds for group `key`.
fn tag(cloud: &FakeCloud, id: &str, key: &str) -> Option<String> {
    let record = cloud.recorded("EC2", "registrations", id)?;
    let Restore::Registrations(r) = record.restore else {
        panic!("{record:?}")
    };
    let ports: Vec<String> = r.0.get(key)?.iter().map(u16::to_string).collect();
    Some(ports.join(","))
}

/// A registration record in the run ledger, as a drain leaves it.
fn record(cloud: &FakeCloud, id: &str, groups: &[(&str, u16)]) {
    let mut r = Registrations::default();
    for (key, port) in groups {
        r.add(key, *port);
    }
    cloud.put_record("EC2", id, Restore::Registrations(r));
}

#[tokio::test(start_paused = true)]
async fn a_drained_tier_leaves_its_groups_before_it_stops_and_comes_back_healthy() {
    let cloud = workload(Running);
    let began = Instant::now();
    let report = run(&cloud, &request("W", Action::Stop)).await;
    let s = &report.summary;
    assert_eq!(s.status, RunStatus::Completed, "{}", s.to_table());
    // Deregistered (their own targets only), drained (10 s), then stopped.
    assert_eq!(cloud.registered("web"), [("i-other".to_string(), 80)]);
    assert!(cloud.registered("api").is_empty());
    let stopped = cloud.call_seconds("StopInstances", began);
    assert!(stopped[0] >= 10, "stopped at {stopped:?} s, before the drain ended");
    assert_eq!(tag(&cloud, "i-w1", WEB_KEY).as_deref(), Some("80"));
    assert_eq!(tag(&cloud, "i-w1", API_KEY).as_deref(), Some("8080"));
    assert!(
        cloud.lock().instances["i-w1"]
            .tags
            .keys()
            .all(|k| !k.starts_with("ec2-tier-scheduler:")),
        "no record tag is written"
    );
    let web = tier(&s.tiers, "Role_Web");
    assert_eq!(web.traffic.len(), 2, "{}", s.to_table());
    assert!(web.phases.iter().any(|p| format!("{:?}", p.kind) == "Drain"));

    // Start: Web first, registered again to the same groups and ports, and
    // App only once Web's targets are healthy (20 s after registration).
    let began = Instant::now();
    let report = run(&cloud, &request("W", Action::Start)).await;
    let s = &report.summary;
    assert_eq!(s.status, RunStatus::Completed, "{}", s.to_table());
    let mut web_group = cloud.registered("web");
    web_group.sort();
    assert_eq!(
        web_group,
        [("i-other".into(), 80), ("i-w1".into(), 80), ("i-w2".into(), 80)]
    );
    assert_eq!(cloud.registered("api"), [("i-w1".to_string(), 8080)]);
    assert_eq!(tag(&cloud, "i-w1", WEB_KEY), None, "the record is gone once restored");
    let app_start = cloud.call_seconds("StartInstances", began)[1];
    let registered = cloud.call_seconds("RegisterTargets", began)[0];
    assert!(
        app_start >= registered + 20 + 5,
        "App started at {app_start} s, targets registered at {registered} s"
    );
    assert_eq!(tier(&s.tiers, "Role_Web").gate.as_ref().map(|g| g.ready), Some(2));
}

#[tokio::test(start_paused = true)]
async fn a_group_left_empty_is_named_in_the_plan_and_the_summary() {
    let cloud = workload(Running);
    let report = run(&cloud, &request("W", Action::Stop)).await;
    let warned = |w: &String| w.starts_with("target group api would be left with no registered target");
    assert!(report.plan.warnings.iter().any(warned), "{:?}", report.plan.warnings);
    assert!(report.summary.warnings.iter().any(warned));
    let table = report.plan.to_table();
    assert!(table.contains("drain targets, then stop"), "{table}");
    assert!(
        !report.plan.warnings.iter().any(|w| w.contains("group web ")),
        "web keeps i-other"
    );
}

#[tokio::test(start_paused = true)]
async fn a_drain_longer_than_the_invocation_is_finished_by_the_continuation() {
    let cloud = workload(Running);
    for group in cloud.lock().target_groups.values_mut() {
        group.drain = Duration::from_secs(200);
    }
    let req = request("W", Action::Stop);
    let (first, checkpoint) = run_until_deadline(&cloud, &req, 120).await;
    assert_eq!(cloud.state_of("i-w1"), Running, "not stopped while it drains");
    assert_eq!(tier(&first.summary.tiers, "Role_Web").not_done.len(), 2);
    resume(&cloud, &req, &checkpoint).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!((cloud.state_of("i-w1"), cloud.state_of("i-w2")), (Stopped, Stopped));
    assert_eq!(
        cloud.calls_of("DeregisterTargets").len(),
        2,
        "each group deregistered once"
    );
    assert_eq!(
        tag(&cloud, "i-w2", WEB_KEY).as_deref(),
        Some("80"),
        "the record survives the continuation"
    );
}

#[tokio::test(start_paused = true)]
async fn an_instance_whose_stop_fails_is_registered_again_at_once() {
    let cloud = workload(Running);
    cloud.fault("StopInstances", Some("i-w2"), "UnsupportedOperation", 10);
    let report = run(&cloud, &request("W", Action::Stop)).await;
    let web = tier(&report.summary.tiers, "Role_Web");
    assert!(
        web.failed.iter().any(|f| f.id == "i-w2"),
        "{}",
        report.summary.to_table()
    );
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(cloud.state_of("i-w1"), Stopped);
    let mut group = cloud.registered("web");
    group.sort();
    assert_eq!(
        group,
        [("i-other".into(), 80), ("i-w2".into(), 80)],
        "i-w2 serves again"
    );
    assert_eq!(tag(&cloud, "i-w2", WEB_KEY), None);
    assert_eq!(tag(&cloud, "i-w1", WEB_KEY).as_deref(), Some("80"));
    assert!(web
        .traffic
        .iter()
        .any(|n| n.id == "i-w2" && n.reason.starts_with("registered again: its stop failed")));
}

#[tokio::test(start_paused = true)]
async fn a_crash_between_deregistration_and_stop_is_repaired_by_the_next_runs() {
    // What a run that died after the drain leaves: deregistered, recorded,
    // still running.
    let cloud = workload(Running);
    cloud
        .lock()
        .target_groups
        .values_mut()
        .for_each(|g| g.targets.retain(|t| t.id == "i-other"));
    record(&cloud, "i-w1", &[(WEB_KEY, 80)]);
    // The next Stop finds nothing registered, stops it, keeps the record.
    let report = run(&cloud, &request("W", Action::Stop)).await;
    assert_eq!(
        report.summary.status,
        RunStatus::Completed,
        "{}",
        report.summary.to_table()
    );
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(cloud.state_of("i-w1"), Stopped);
    assert_eq!(tag(&cloud, "i-w1", WEB_KEY).as_deref(), Some("80"));
    // The Start puts it back, whatever the tier's mode says.
    let mut tiers = vec![
        tier_item("W", "Role_Web", 0, 0, false, 5),
        tier_item("W", "Role_App", 1, 1, false, 5),
    ];
    tiers[0]["TierStop"]["TierLoadBalancing"] = json!("Drain");
    cloud.put_config(workload_item("W"), tiers);
    run(&cloud, &request("W", Action::Start)).await;
    assert!(cloud.registered("web").contains(&("i-w1".to_string(), 80)));
    assert_eq!(tag(&cloud, "i-w1", WEB_KEY), None);
}

#[tokio::test(start_paused = true)]
async fn a_target_no_listener_uses_is_reported_not_waited_for() {
    let cloud = workload(Stopped);
    cloud.lock().target_groups.values_mut().for_each(|g| {
        g.in_use = g.name != "api";
        g.targets.clear();
    });
    record(&cloud, "i-w1", &[(WEB_KEY, 80), (API_KEY, 8080)]);
    record(&cloud, "i-w2", &[(WEB_KEY, 80)]);
    let report = run(&cloud, &request("W", Action::Start)).await;
    let gate = tier(&report.summary.tiers, "Role_Web")
        .gate
        .clone()
        .expect("a TargetsHealthy gate");
    assert_eq!((gate.ready, gate.timed_out), (2, false));
    assert_eq!(gate.unused, ["i-w1 in api:8080"]);
    assert!(report.summary.to_table().contains("targets no listener uses"));
}

#[tokio::test(start_paused = true)]
async fn alarms_are_muted_before_a_stop_and_unmuted_after_a_start_but_never_an_operators() {
    let cloud = workload(Running);
    cloud.add_alarm("w-5xx", true, &[]);
    cloud.add_alarm("w-cpu-paused", false, &[]);
    cloud.add_alarm("x-unrelated", true, &[("Environment", "ENV001")]);
    let began = Instant::now();
    let report = run(&cloud, &request("W", Action::Stop)).await;
    assert_eq!(cloud.alarm("w-5xx"), (false, true));
    assert_eq!(cloud.alarm("w-cpu-paused"), (false, false), "an operator's, left as is");
    assert_eq!(cloud.alarm("x-unrelated"), (true, false), "no prefix, no tag selection");
    let muted = cloud.call_seconds("DisableAlarmActions", began)[0];
    assert!(
        muted <= cloud.call_seconds("DeregisterTargets", began)[0],
        "before the first tier acts"
    );
    assert_eq!(report.summary.alarms.len(), 1);
    assert!(report.plan.to_table().contains("alarm w-5xx: mute"));
    let published = cloud.lock().published.clone();
    let body = &published.last().expect("a summary").2;
    assert!(
        body.contains("Alarm w-5xx: actions disabled while the workload is stopped"),
        "{body}"
    );
    assert!(
        body.contains("load balancing i-w1: deregistered from api:8080, web:80"),
        "{body}"
    );
    // A Start that fails still unmutes.
    cloud.fault("StartInstances", None, "UnauthorizedOperation", 100);
    let report = run(&cloud, &request("W", Action::Start)).await;
    assert_ne!(report.summary.status, RunStatus::Completed);
    assert_eq!(cloud.alarm("w-5xx"), (true, false));
    assert_eq!(
        cloud.alarm("w-cpu-paused"),
        (false, false),
        "never enabled by the scheduler"
    );
}

#[tokio::test(start_paused = true)]
async fn tagged_alarms_are_selected_only_when_asked() {
    let cloud = workload(Running);
    let mut w = workload_item("W");
    w["AlarmSelection"] = json!("Tag");
    let mut web = tier_item("W", "Role_Web", 0, 0, false, 5);
    web["TierStop"]["TierLoadBalancing"] = json!("Drain");
    cloud.put_config(w, vec![web, tier_item("W", "Role_App", 1, 1, false, 5)]);
    cloud.add_alarm("x-tagged", true, &[("Environment", "ENV001")]);
    cloud.add_alarm("x-theirs", true, &[("Environment", "ENV002")]);
    let mut req = request("W", Action::Stop);
    req.dry_run = true;
    let report = run(&cloud, &req).await;
    let names: Vec<&str> = report.plan.alarms.iter().map(|a| a.alarm.name.as_str()).collect();
    assert_eq!(names, ["x-tagged"]);
    assert_eq!(cloud.alarm("x-tagged"), (true, false), "a dry run changes nothing");
}

#[test]
fn traffic_attributes_are_validated_naming_the_field() {
    use ec2_tier_scheduler::config::{ItemNaming, LoadBalancing, ReadinessCheck, WorkloadConfig};
    let mut w = workload_item("W");
    w["AlarmSelection"] = json!("Tags");
    w["AlarmPrefixes"] = json!("w-, w-");
    let mut web = tier_item("W", "Role_Web", 0, 0, false, 5);
    web["TierStop"]["TierLoadBalancing"] = json!("Deregister");
    web["TierStop"]["TierReadiness"] = json!("TargetsHealthy");
    let err = WorkloadConfig::from_items("W", &w, &[web], ItemNaming::Table)
        .expect_err("invalid")
        .to_string();
    for expected in [
        "\"tags\" is not \"Prefix\" or \"Tag\"",
        "\"w-\" is listed twice",
        "\"deregister\" is not \"Ignore\" or \"Drain\"",
        "only \"State\" is valid in TierStop",
    ] {
        assert!(err.contains(expected), "{expected}: {err}");
    }
    // Drain at Start waits for healthy targets unless told otherwise.
    let mut web = tier_item("W", "Role_Web", 0, 0, false, 5);
    web["TierStart"]["TierLoadBalancing"] = json!("drain");
    let config = WorkloadConfig::from_items("W", &workload_item("W"), &[web], ItemNaming::Table).expect("valid");
    let start = config.tiers[0].start.as_ref().unwrap();
    assert_eq!(start.load_balancing, LoadBalancing::Drain);
    assert_eq!(
        start.readiness.as_ref().map(|r| r.check),
        Some(ReadinessCheck::TargetsHealthy)
    );
}

#[tokio::test(start_paused = true)]
async fn an_instance_a_group_will_not_release_keeps_serving_everywhere() {
    let cloud = workload(Running);
    // `api` (its ARN sorts first) refuses to let i-w1 go.
    cloud.fault("DeregisterTargets", Some("i-w1"), "InvalidTarget", 1);
    let report = run(&cloud, &request("W", Action::Stop)).await;
    let web = tier(&report.summary.tiers, "Role_Web");
    let failed = web.failed.iter().find(|f| f.id == "i-w1").expect("i-w1 failed");
    assert!(
        failed.reason.starts_with("not stopped: deregistering it from"),
        "{}",
        failed.reason
    );
    assert_eq!(cloud.state_of("i-w1"), Running);
    assert!(
        cloud.registered("web").contains(&("i-w1".to_string(), 80)),
        "serving in web"
    );
    assert!(
        cloud.registered("api").contains(&("i-w1".to_string(), 8080)),
        "and in api"
    );
    assert_eq!(tag(&cloud, "i-w1", WEB_KEY), None, "no record left behind");
    assert!(
        !cloud.registered("web").contains(&("i-w2".to_string(), 80)),
        "i-w2 drained and stopped"
    );
}
