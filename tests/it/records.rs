//! Issue 29: nothing a tagger can forge. What a Start restores comes from
//! records only the scheduler writes (the run ledger), never from a tag;
//! the lifecycle holes of draining, capacity, types and alarms are closed.
//! One test per case the issue names, against the in-memory cloud.

use std::time::Duration;

use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::instance::InstanceState::{self, *};
use ec2_tier_scheduler::member::{Capacity, MemberKind::*};
use ec2_tier_scheduler::records::Restore;
use ec2_tier_scheduler::summary::{RunStatus, TierOutcome};
use ec2_tier_scheduler::traffic::Registrations;
use serde_json::json;

use crate::support::fake::FakeCloud;
use crate::support::{request, resume, run, run_refused, run_until_deadline, tier_item, workload_item};

const WEB: &str = "targetgroup/web/0123456789abcdef";

fn tier<'a>(tiers: &'a [TierOutcome], name: &str) -> &'a TierOutcome {
    tiers.iter().find(|t| t.tier == name).unwrap()
}

/// Web (`Drain`, `TargetsHealthy` at Start) with i-w1 and i-w2 in target
/// group `web`; App with i-a1.
fn drained(state: InstanceState) -> FakeCloud {
    let mut web = tier_item("W", "Role_Web", 0, 0, false, 5);
    web["TierStop"]["TierLoadBalancing"] = json!("Drain");
    web["TierStart"]["TierLoadBalancing"] = json!("Drain");
    let cloud = FakeCloud::new().with_transitions(Duration::from_secs(30), Duration::from_secs(30));
    cloud.put_config(
        workload_item("W"),
        vec![web, tier_item("W", "Role_App", 1, 1, false, 5)],
    );
    for (id, tier) in [("i-w1", "Role_Web"), ("i-w2", "Role_Web"), ("i-a1", "Role_App")] {
        cloud.add(id, "ENV001", tier, state);
    }
    cloud.add_target_group("web", &[("i-w1", 80), ("i-w2", 80)]);
    cloud
}

/// Web scales its Auto Scaling groups to zero (`ScaleToZero` both ways);
/// group `web` at `capacity`, scaled to zero by a Stop (recorded).
fn scaled_web(capacity: Capacity) -> FakeCloud {
    let mut web = tier_item("W", "Role_Web", 0, 0, false, 5);
    web["TierStop"]["TierAutoScalingGroups"] = json!("ScaleToZero");
    web["TierStart"]["TierAutoScalingGroups"] = json!("ScaleToZero");
    let cloud = FakeCloud::new();
    cloud.put_config(workload_item("W"), vec![web]);
    cloud.add_capacity(Asg, "web", "ENV001", "Role_Web", capacity);
    cloud.scaled_to_zero(Asg, "web");
    cloud
}

/// [`drained`] as a Stop leaves it: everything stopped, Web's instances
/// out of group `web`, their registrations recorded in the run ledger.
fn drained_by_a_stop() -> FakeCloud {
    let cloud = drained(Stopped);
    cloud.lock().target_groups.values_mut().for_each(|g| g.targets.clear());
    for id in ["i-w1", "i-w2"] {
        cloud.put_record("EC2", id, Restore::Registrations(registrations(&[(WEB, 80)])));
    }
    cloud
}

fn registrations(groups: &[(&str, u16)]) -> Registrations {
    let mut r = Registrations::default();
    for (g, p) in groups {
        r.add(g, *p);
    }
    r
}

#[tokio::test(start_paused = true)]
async fn case_1_a_forged_registration_tag_registers_nothing_and_fails_the_member() {
    // Someone who may only tag instances points a stopped web instance at
    // another application's target group, on port 22.
    let cloud = drained(Stopped);
    cloud.add_target_group("payments", &[]);
    cloud.lock().target_groups.values_mut().for_each(|g| g.targets.clear());
    let forged = "ec2-tier-scheduler:lb:targetgroup/payments/0123456789abcdef";
    cloud
        .lock()
        .instances
        .get_mut("i-w1")
        .unwrap()
        .tags
        .insert(forged.into(), "22".into());
    let report = run(&cloud, &request("W", Action::Start)).await;
    let s = &report.summary;
    assert_eq!(s.status, RunStatus::CompletedWithFailures, "{}", s.to_table());
    assert!(cloud.registered("payments").is_empty(), "never registered anywhere");
    assert!(cloud.calls_of("RegisterTargets").is_empty());
    assert_eq!(cloud.state_of("i-w1"), Running, "started as if the tag were absent");
    let failure = tier(&s.tiers, "Role_Web")
        .failed
        .iter()
        .find(|f| f.id == "i-w1")
        .expect("reported");
    assert!(
        failure.reason.contains("orchestrator records adopt -w W"),
        "{}",
        failure.reason
    );
    assert!(
        cloud.lock().instances["i-w1"].tags.contains_key(forged),
        "the tag is not deleted: an operator decides"
    );
}

#[tokio::test(start_paused = true)]
async fn case_2_a_stopped_target_keeps_its_record_and_the_others_go_back() {
    // Both drained by a Stop; at Start i-w2 is kept stopped by an override.
    let cloud = drained_by_a_stop();
    cloud.lock().instances.get_mut("i-w2").unwrap().tags.insert(
        "SchedulerOverride".into(),
        "keep-stopped until 2099-01-01T00:00:00Z".into(),
    );
    let report = run(&cloud, &request("W", Action::Start)).await;
    let s = &report.summary;
    assert_eq!(s.status, RunStatus::Completed, "{}", s.to_table());
    assert_eq!(
        cloud.registered("web"),
        [("i-w1".to_string(), 80)],
        "the group is not emptied"
    );
    assert!(
        cloud.recorded("EC2", "registrations", "i-w1").is_none(),
        "restored, removed"
    );
    assert!(
        cloud.recorded("EC2", "registrations", "i-w2").is_some(),
        "kept for the next Start"
    );
}

#[tokio::test(start_paused = true)]
async fn case_2_a_target_that_cannot_go_back_fails_its_instance_and_its_gate() {
    let cloud = drained_by_a_stop();
    // The group call is refused whole; one at a time, i-w2 is refused again.
    cloud.fault("RegisterTargets", None, "InvalidTarget", 1);
    cloud.fault("RegisterTargets", Some("i-w2"), "InvalidTarget", 1);
    let report = run(&cloud, &request("W", Action::Start)).await;
    let s = &report.summary;
    assert_eq!(s.status, RunStatus::CompletedWithFailures, "{}", s.to_table());
    assert_eq!(cloud.registered("web"), [("i-w1".to_string(), 80)]);
    let web = tier(&s.tiers, "Role_Web");
    assert!(web
        .failed
        .iter()
        .any(|f| f.id == "i-w2" && f.reason.contains("NOT registered again")));
    assert!(cloud.recorded("EC2", "registrations", "i-w2").is_some());
    let gate = web.gate.as_ref().expect("TargetsHealthy");
    assert_eq!(gate.not_ready, ["i-w2"], "an unrestored registration is not ready");
}

#[tokio::test(start_paused = true)]
async fn case_3_capacity_and_type_records_are_the_ledgers_and_bounded() {
    let mut web = tier_item("W", "Role_Web", 0, 0, false, 5);
    web["TierStop"]["TierAutoScalingGroups"] = json!("ScaleToZero");
    web["TierStart"]["TierAutoScalingGroups"] = json!("ScaleToZero");
    let cloud = FakeCloud::new();
    cloud.put_config(workload_item("W"), vec![web]);
    let group = Capacity {
        min: 1,
        desired: 2,
        max: 4,
    };
    for id in ["forged", "huge", "ours"] {
        cloud.add_capacity(Asg, id, "ENV001", "Role_Web", group);
        cloud.scaled_to_zero(Asg, id);
    }
    // A forged tag on a group the ledger has no record of; a ledger record
    // out of bounds (a bug, a hand-edited item); a forged original type.
    let key = cloud.recorded("ASG", "capacity", "forged").unwrap().key();
    cloud.lock().records.remove(&key);
    cloud.tag_capacity(Asg, "forged", "0,5000,5000");
    cloud.record_capacity(
        Asg,
        "huge",
        Capacity {
            min: 0,
            desired: 3_000_000_000,
            max: 3_000_000_000,
        },
    );
    cloud.add("i-w1", "ENV001", "Role_Web", Stopped);
    cloud
        .lock()
        .instances
        .get_mut("i-w1")
        .unwrap()
        .tags
        .insert("ec2-tier-scheduler:original-type".into(), "x1e.32xlarge".into());
    let report = run(&cloud, &request("W", Action::Start)).await;
    let s = &report.summary;
    assert_eq!(s.status, RunStatus::CompletedWithFailures, "{}", s.to_table());
    assert_eq!(cloud.capacity(Asg, "forged").0.desired, 0, "stays at 0");
    assert_eq!(cloud.capacity(Asg, "huge").0.desired, 0, "out of bounds: not restored");
    assert_eq!(cloud.capacity(Asg, "ours").0, group, "restored exactly");
    assert_eq!(cloud.type_of("i-w1"), "t3.small", "the forged type is not applied");
    let failed: Vec<&str> = tier(&s.tiers, "Role_Web")
        .failed
        .iter()
        .map(|f| f.id.as_str())
        .collect();
    assert!(failed.contains(&"asg:forged") && failed.contains(&"i-w1"), "{failed:?}");
}

/// Web with i-w1 and alarm prefix `w-`.
fn alarmed(stop_fails: bool) -> FakeCloud {
    let cloud = FakeCloud::new();
    let mut w = workload_item("W");
    w["AlarmPrefixes"] = json!("w-");
    cloud.put_config(w, vec![tier_item("W", "Role_Web", 0, 0, false, 5)]);
    cloud.add("i-w1", "ENV001", "Role_Web", Running);
    cloud.add_alarm("w-5xx", true, &[]);
    if stop_fails {
        cloud.fault("StopInstances", None, "UnauthorizedOperation", 100);
    }
    cloud
}

#[tokio::test(start_paused = true)]
async fn case_4_a_stop_that_stops_nothing_unmutes_what_it_muted() {
    let cloud = alarmed(true);
    let report = run(&cloud, &request("W", Action::Stop)).await;
    assert_eq!(cloud.alarm("w-5xx"), (true, false), "{}", report.summary.to_table());
    let line = report.summary.alarms.iter().find(|n| n.id == "w-5xx").expect("said");
    assert!(line.reason.contains("the Stop stopped nothing"), "{}", line.reason);
}

#[tokio::test(start_paused = true)]
async fn case_4_a_start_unmutes_every_recorded_alarm_and_never_a_tagged_one() {
    let cloud = alarmed(false);
    run(&cloud, &request("W", Action::Stop)).await;
    assert_eq!(cloud.alarm("w-5xx"), (false, true));
    // The prefixes change while stopped; an attacker tags an alarm an
    // operator disabled.
    let mut w = workload_item("W");
    w["AlarmPrefixes"] = json!("v-");
    cloud.put_config(w, vec![tier_item("W", "Role_Web", 0, 0, false, 5)]);
    cloud.add_alarm("v-disabled", false, &[("ec2-tier-scheduler:muted", "true")]);
    let report = run(&cloud, &request("W", Action::Start)).await;
    assert_eq!(cloud.alarm("w-5xx"), (true, false), "{}", report.summary.to_table());
    assert_eq!(
        cloud.alarm("v-disabled"),
        (false, false),
        "never enabled without a record"
    );
    assert!(report.summary.alarms.iter().any(|n| n.id == "alarm:v-disabled"));
}

#[tokio::test(start_paused = true)]
async fn case_5_a_cleanup_failure_after_a_restore_is_a_warning() {
    let group = Capacity {
        min: 1,
        desired: 2,
        max: 4,
    };
    let cloud = scaled_web(group);
    cloud.fault("TransactWriteItems", None, "InternalServerError", 1);
    let report = run(&cloud, &request("W", Action::Start)).await;
    let s = &report.summary;
    assert_eq!(s.status, RunStatus::Completed, "{}", s.to_table());
    assert_eq!(cloud.capacity(Asg, "web").0, group);
    let note = tier(&s.tiers, "Role_Web")
        .records
        .iter()
        .find(|n| n.id == "asg:web")
        .expect("warned");
    assert!(note.reason.starts_with("warning: restored"), "{}", note.reason);
    assert!(
        s.workload_state.as_deref().is_some_and(|w| w.contains("recorded")),
        "{:?}",
        s.workload_state
    );
}

#[tokio::test(start_paused = true)]
async fn case_6_a_group_raised_while_stopped_is_restored_and_its_record_never_forgotten() {
    let group = Capacity {
        min: 2,
        desired: 4,
        max: 8,
    };
    let cloud = scaled_web(group);
    // A scheduled action raises it to 1 while the workload is stopped.
    let one = Capacity {
        min: 1,
        desired: 1,
        max: 1,
    };
    cloud.set_capacity_now(Asg, "web", one);
    // A Stop now keeps the record, and says what the group has.
    let report = run(&cloud, &request("W", Action::Stop)).await;
    let note = tier(&report.summary.tiers, "Role_Web")
        .records
        .iter()
        .find(|n| n.id == "asg:web")
        .expect("said");
    assert!(
        note.reason.contains("kept") && note.reason.contains("desired 1"),
        "{}",
        note.reason
    );
    assert_eq!(
        cloud.capacity(Asg, "web").2.as_deref(),
        Some("2,4,8"),
        "the real capacity"
    );
    // Raised again; the Start brings it up to its record.
    cloud.set_capacity_now(Asg, "web", one);
    let report = run(&cloud, &request("W", Action::Start)).await;
    assert_eq!(
        report.summary.status,
        RunStatus::Completed,
        "{}",
        report.summary.to_table()
    );
    assert_eq!(cloud.capacity(Asg, "web"), (group, 4, None));
}

#[tokio::test(start_paused = true)]
async fn case_7_an_instance_drained_earlier_whose_stop_fails_later_is_put_back() {
    let cloud = drained(Running);
    for group in cloud.lock().target_groups.values_mut() {
        group.drain = Duration::from_secs(200);
    }
    let req = request("W", Action::Stop);
    // The first invocation drains and runs out of time; the continuation
    // stops, and i-w2's stop fails.
    let (_, checkpoint) = run_until_deadline(&cloud, &req, 120).await;
    cloud.fault("StopInstances", Some("i-w2"), "UnsupportedOperation", 10);
    let budget = ec2_tier_scheduler::orchestrator::Budget::unlimited();
    let settings = ec2_tier_scheduler::orchestrator::Settings::default();
    let report = ec2_tier_scheduler::orchestrator::run_resumed(&cloud, &req, Some(&checkpoint), &budget, &settings)
        .await
        .unwrap();
    let web = tier(&report.summary.tiers, "Role_Web");
    assert!(
        web.failed.iter().any(|f| f.id == "i-w2"),
        "{}",
        report.summary.to_table()
    );
    assert_eq!(cloud.registered("web"), [("i-w2".to_string(), 80)], "serves again");
    assert!(cloud.recorded("EC2", "registrations", "i-w2").is_none());
    assert!(cloud.recorded("EC2", "registrations", "i-w1").is_some());
    let _ = resume;
}

#[tokio::test(start_paused = true)]
async fn a_drain_never_cuts_a_group_without_the_workload_tag() {
    let cloud = drained(Running);
    cloud.add_target_group("theirs", &[("i-w2", 443)]);
    cloud
        .lock()
        .target_groups
        .values_mut()
        .filter(|g| g.name == "theirs")
        .for_each(|g| g.tags.clear());
    let mut req = request("W", Action::Stop);
    req.dry_run = true;
    let plan = run(&cloud, &req).await.plan;
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.starts_with("target group theirs does not carry the workload tag")),
        "{:?}",
        plan.warnings
    );
    let report = run(&cloud, &request("W", Action::Stop)).await;
    let web = tier(&report.summary.tiers, "Role_Web");
    let kept = web.failed.iter().find(|f| f.id == "i-w2").expect("reported");
    assert!(
        kept.reason
            .contains("in target group theirs, which does not carry the workload tag"),
        "{}",
        kept.reason
    );
    assert_eq!(cloud.state_of("i-w2"), Running, "it keeps serving");
    assert_eq!(cloud.registered("theirs"), [("i-w2".to_string(), 443)]);
    assert_eq!(
        cloud.registered("web"),
        [("i-w2".to_string(), 80)],
        "nothing of i-w2 deregistered"
    );
}

#[tokio::test(start_paused = true)]
async fn a_run_that_needs_records_refuses_without_the_ledger_naming_the_flag() {
    let cloud = drained(Running);
    cloud.lock().no_records = true;
    let error = run_refused(&cloud, &request("W", Action::Stop)).await.to_string();
    assert!(
        error.contains("--ledger-table") && error.contains("RUN_LEDGER_TABLE"),
        "{error}"
    );
    assert!(cloud.calls_of("StopInstances").is_empty() && cloud.calls_of("DeregisterTargets").is_empty());
    let mut req = request("W", Action::Stop);
    req.dry_run = true;
    let plan = run(&cloud, &req).await.plan;
    assert!(
        plan.warnings.iter().any(|w| w.contains("--ledger-table")),
        "{:?}",
        plan.warnings
    );
}

#[tokio::test(start_paused = true)]
async fn restored_types_and_capacities_stay_inside_the_stacks_bounds() {
    use ec2_tier_scheduler::orchestrator::{self, Budget, Settings};
    let cloud = scaled_web(Capacity {
        min: 10,
        desired: 20,
        max: 40,
    });
    cloud.add("i-w1", "ENV001", "Role_Web", Stopped);
    cloud.put_record("EC2", "i-w1", Restore::OriginalType("x1e.32xlarge".into()));
    let settings = Settings {
        allowed_instance_types: vec!["t3.*".into(), "m5.large".into()],
        max_restored_capacity: 16,
        ..Settings::default()
    };
    assert!(settings.allows_type("t3.small") && settings.allows_type("m5.large"));
    assert!(!settings.allows_type("m5.xlarge") && !settings.allows_type("x1e.32xlarge"));
    let report = orchestrator::run(&cloud, &request("W", Action::Start), &Budget::unlimited(), &settings)
        .await
        .unwrap();
    let web = tier(&report.summary.tiers, "Role_Web");
    let resize = web.resized.iter().find(|r| r.id == "i-w1").expect("tried");
    assert!(
        resize
            .error
            .as_deref()
            .is_some_and(|e| e.contains("AllowedInstanceTypes")),
        "{resize:?}"
    );
    assert_eq!(cloud.type_of("i-w1"), "t3.small");
    let over = web.failed.iter().find(|f| f.id == "asg:web").expect("refused");
    assert!(over.reason.contains("over MaxRestoredCapacity 16"), "{}", over.reason);
    assert_eq!(cloud.capacity(Asg, "web").0.desired, 0);
    assert!(cloud.capacity(Asg, "web").2.is_some(), "kept recorded");
}

#[tokio::test(start_paused = true)]
async fn a_recorded_type_of_another_architecture_is_not_set() {
    let cloud = FakeCloud::new();
    cloud.put_config(workload_item("W"), vec![tier_item("W", "Role_Web", 0, 0, false, 5)]);
    cloud.add("i-w1", "ENV001", "Role_Web", Stopped);
    cloud.put_record("EC2", "i-w1", Restore::OriginalType("m6g.large".into()));
    let report = run(&cloud, &request("W", Action::Start)).await;
    let web = tier(&report.summary.tiers, "Role_Web");
    let resize = web
        .resized
        .iter()
        .find(|r| r.id == "i-w1")
        .unwrap_or_else(|| panic!("{}\n{:?}", report.summary.to_table(), report.plan.warnings));
    assert!(
        resize.error.as_deref().is_some_and(|e| e.contains("architecture")),
        "{resize:?}"
    );
    assert_eq!(cloud.type_of("i-w1"), "t3.small");
    assert_eq!(cloud.state_of("i-w1"), Running, "started in its own type");
}

#[tokio::test(start_paused = true)]
async fn a_record_names_the_workload_and_the_run_that_wrote_it() {
    let cloud = alarmed(false);
    let mut req = request("W", Action::Stop);
    req.run_key = Some("run|W|nightly".into());
    run(&cloud, &req).await;
    let record = cloud.recorded("Alarm", "muted", "w-5xx").expect("recorded");
    assert_eq!(
        (record.workload.as_str(), record.run.as_deref()),
        ("W", Some("run|W|nightly"))
    );
}
