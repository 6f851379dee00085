//! Scaling profiles against the in-memory cloud: instance types are changed on
//! stopped instances just before their tier starts, and only there.

use std::time::Duration;

use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::instance::InstanceState::{self, *};
use ec2_tier_scheduler::orchestrator::{self, Budget, Settings};
use ec2_tier_scheduler::summary::{RunStatus, TierOutcome};
use serde_json::json;

use crate::support::fake::FakeCloud;
use crate::support::{request, run, three_tiers, workload_item};

/// Web, App, DB with two `t3.small` instances each, all in `state`. Every tier
/// scales `default` to t3.small and `performant` to m5.large.
fn fleet(state: InstanceState) -> FakeCloud {
    let cloud = FakeCloud::new();
    cloud.put_config(workload_item("W"), three_tiers("W", 5));
    cloud.add_spec_instances(state);
    cloud
}

const ALL: [&str; 6] = ["i-w1", "i-w2", "i-a1", "i-a2", "i-d1", "i-d2"];

fn set_type(cloud: &FakeCloud, id: &str, instance_type: &str) {
    cloud.lock().instances.get_mut(id).unwrap().instance_type = instance_type.into();
}

fn modified(cloud: &FakeCloud) -> Vec<String> {
    let mut ids: Vec<String> = cloud
        .calls_of("ModifyInstanceAttribute")
        .into_iter()
        .flat_map(|c| c.ids)
        .collect();
    ids.sort();
    ids
}

fn tier<'a>(tiers: &'a [TierOutcome], name: &str) -> &'a TierOutcome {
    tiers.iter().find(|t| t.tier == name).unwrap()
}

fn profile_request(profile: &str) -> ec2_tier_scheduler::orchestrator::RunRequest {
    let mut req = request("W", Action::Start);
    req.scaling_profile = Some(profile.into());
    req
}

#[tokio::test(start_paused = true)]
async fn types_are_changed_just_before_each_tier_starts() {
    // GIVEN a stopped workload
    let cloud = fleet(Stopped);

    // WHEN it is started with the "performant" profile
    let report = run(&cloud, &profile_request("performant")).await;

    // THEN every instance got its new type before its tier's StartInstances
    let s = &report.summary;
    assert_eq!(s.status, RunStatus::Completed, "{}", s.to_table());
    assert_eq!(s.scaling_profile.as_deref(), Some("performant"));
    let modifies = cloud.calls_of("ModifyInstanceAttribute");
    let starts = cloud.calls_of("StartInstances");
    assert_eq!(starts.len(), 3);
    for start in &starts {
        for id in &start.ids {
            let change: Vec<_> = modifies.iter().filter(|m| m.ids == [id.clone()]).collect();
            assert_eq!(change.len(), 1, "{id} changed once");
            assert!(change[0].at <= start.at, "{id} changed after it was started");
        }
    }
    // and not before the previous tier was done: each tier resizes in its turn
    for pair in starts.windows(2) {
        for id in &pair[1].ids {
            let change = modifies.iter().find(|m| m.ids == [id.clone()]).unwrap();
            assert!(change.at > pair[0].at, "{id} changed before the previous tier started");
        }
    }

    // and the summary says what changed
    for t in &s.tiers {
        assert_eq!(t.resized.len(), 2, "{}", t.tier);
        for r in &t.resized {
            assert_eq!((r.from.as_str(), r.to.as_str()), ("t3.small", "m5.large"));
            assert!(r.error.is_none());
        }
    }
    tokio::time::sleep(Duration::from_secs(60)).await;
    for id in ALL {
        assert_eq!(cloud.state_of(id), Running, "{id}");
        assert_eq!(cloud.type_of(id), "m5.large", "{id}");
    }
}

#[tokio::test(start_paused = true)]
async fn instances_already_of_the_target_type_get_no_call() {
    let cloud = fleet(Stopped);
    set_type(&cloud, "i-d1", "m5.large");
    set_type(&cloud, "i-w2", "m5.large");
    let report = run(&cloud, &profile_request("performant")).await;
    assert_eq!(modified(&cloud), ["i-a1", "i-a2", "i-d2", "i-w1"]);
    let db = tier(&report.summary.tiers, "Role_DB");
    let resized: Vec<&str> = db.resized.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(resized, ["i-d2"]);
    assert_eq!(db.acted, ["i-d1", "i-d2"], "still started");
    tokio::time::sleep(Duration::from_secs(60)).await;
    for id in ALL {
        assert_eq!(cloud.type_of(id), "m5.large", "{id}");
        assert_eq!(cloud.state_of(id), Running, "{id}");
    }
}

#[tokio::test(start_paused = true)]
async fn running_instances_are_never_modified() {
    // GIVEN one instance per tier already running
    let cloud = fleet(Stopped);
    for id in ["i-w1", "i-a1", "i-d1"] {
        cloud.lock().instances.get_mut(id).unwrap().state = Running;
    }

    // WHEN the workload is started with a profile
    let report = run(&cloud, &profile_request("performant")).await;

    // THEN only the stopped ones were resized and started
    assert_eq!(modified(&cloud), ["i-a2", "i-d2", "i-w2"]);
    for t in &report.summary.tiers {
        assert_eq!(t.skipped.len(), 1, "{}", t.tier);
        assert!(t.skipped[0].reason.contains("already running"));
        assert_eq!(t.resized.len(), 1);
    }
    for id in ["i-w1", "i-a1", "i-d1"] {
        assert_eq!(cloud.type_of(id), "t3.small", "{id}");
    }
    assert!(cloud
        .calls_of("StartInstances")
        .iter()
        .all(|c| c.ids.iter().all(|id| !["i-w1", "i-a1", "i-d1"].contains(&id.as_str()))));
}

#[tokio::test(start_paused = true)]
async fn a_type_the_region_refuses_is_reported_and_the_old_type_starts() {
    // GIVEN the region refuses m5.large
    let cloud = fleet(Stopped);
    cloud.lock().rejected_types.insert("m5.large".into());

    // WHEN the workload is started with the "performant" profile
    let report = run(&cloud, &profile_request("performant")).await;

    // THEN every refusal is reported with the region's reason
    let s = &report.summary;
    for t in &s.tiers {
        assert_eq!(t.resized.len(), 2, "{}", t.tier);
        for r in &t.resized {
            assert_eq!(r.to, "m5.large");
            let error = r.error.as_deref().unwrap_or_else(|| panic!("{} has no error", r.id));
            assert!(
                error.contains("InvalidParameterValue") && error.contains("m5.large"),
                "{error}"
            );
        }
        assert_eq!(t.acted.len(), 2, "{}: still started", t.tier);
        assert!(t.failed.is_empty());
    }
    assert!(
        s.details().contains("refused") && s.details().contains("started as t3.small"),
        "{}",
        s.details()
    );
    // and each instance still starts, with its old type
    tokio::time::sleep(Duration::from_secs(60)).await;
    for id in ALL {
        assert_eq!(cloud.state_of(id), Running, "{id}");
        assert_eq!(cloud.type_of(id), "t3.small", "{id}");
    }
}

#[tokio::test(start_paused = true)]
async fn without_a_profile_no_type_changes_and_dash_p_default_applies_the_default_entry() {
    // GIVEN instances of a larger type; App and DB have a `default` entry
    let cloud = FakeCloud::new();
    let mut tiers = three_tiers("W", 5);
    tiers[0]["TierScaling"] = json!({ "performant": "m5.large" });
    cloud.put_config(workload_item("W"), tiers);
    for (tier, id) in [("Role_Web", "i-w1"), ("Role_App", "i-a1"), ("Role_DB", "i-d1")] {
        cloud.add(id, "ENV001", tier, Stopped);
        set_type(&cloud, id, "m5.xlarge");
    }

    // WHEN it is started without a profile
    let report = run(&cloud, &request("W", Action::Start)).await;

    // THEN nothing is resized (the original never changes a type without -p)
    assert_eq!(report.summary.scaling_profile, None);
    assert!(modified(&cloud).is_empty());
    assert!(cloud.calls_of("DescribeInstanceTypes").is_empty());
    for id in ["i-w1", "i-a1", "i-d1"] {
        assert_eq!(cloud.type_of(id), "m5.xlarge");
    }

    // WHEN it is stopped and started with `-p default`
    run(&cloud, &request("W", Action::Stop)).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    let report = run(&cloud, &profile_request("default")).await;

    // THEN the tiers with a `default` entry go to it; Web starts unchanged
    assert_eq!(report.summary.scaling_profile.as_deref(), Some("default"));
    assert_eq!(modified(&cloud), ["i-a1", "i-d1"]);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(cloud.type_of("i-d1"), "t3.small");
    assert_eq!(cloud.type_of("i-w1"), "m5.xlarge");
    for id in ["i-w1", "i-a1", "i-d1"] {
        assert_eq!(cloud.state_of(id), Running);
    }
}

#[tokio::test(start_paused = true)]
async fn a_profile_a_tier_does_not_list_leaves_that_tier_unchanged() {
    // The spec: a tier without the requested profile is not scaled (and does
    // not fall back to its `default`).
    let cloud = fleet(Stopped);
    let mut tiers = three_tiers("W", 5);
    tiers[2]["TierScaling"] = json!({ "default": "t3.micro", "profileB": "c5.large" });
    cloud.put_config(workload_item("W"), tiers);
    let report = run(&cloud, &profile_request("profileB")).await;
    assert_eq!(modified(&cloud), ["i-d1", "i-d2"]);
    assert!(tier(&report.summary.tiers, "Role_Web").resized.is_empty());
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(cloud.type_of("i-d1"), "c5.large");
    assert_eq!(cloud.type_of("i-w1"), "t3.small");
}

#[tokio::test(start_paused = true)]
async fn stop_never_resizes() {
    let cloud = fleet(Running);
    set_type(&cloud, "i-d1", "m5.xlarge");
    let mut req = request("W", Action::Stop);
    req.scaling_profile = Some("performant".into());
    let report = run(&cloud, &req).await;
    assert_eq!(report.summary.status, RunStatus::Completed);
    assert!(report.summary.scaling_profile.is_none());
    assert!(cloud.calls_of("ModifyInstanceAttribute").is_empty());
    assert!(report.summary.tiers.iter().all(|t| t.resized.is_empty()));
    tokio::time::sleep(Duration::from_secs(60)).await;
    for id in ALL {
        assert_eq!(cloud.state_of(id), Stopped);
    }
    assert_eq!(cloud.type_of("i-d1"), "m5.xlarge");
    assert_eq!(cloud.type_of("i-w1"), "t3.small");
}

#[tokio::test(start_paused = true)]
async fn an_instance_still_stopping_is_resized_once_it_has_stopped() {
    // GIVEN an instance that finishes stopping 20 s into the start
    let cloud = fleet(Stopped);
    {
        let mut s = cloud.lock();
        let i = s.instances.get_mut("i-d1").unwrap();
        i.state = Stopping;
        i.settles = Some((tokio::time::Instant::now() + Duration::from_secs(20), Stopped));
    }
    let began = tokio::time::Instant::now();

    // WHEN the workload is started with a profile (the fake refuses a type
    // change on an instance that is not stopped)
    let report = run(&cloud, &profile_request("performant")).await;

    // THEN it was resized after it stopped and started with the rest of its tier
    let change = cloud
        .calls_of("ModifyInstanceAttribute")
        .into_iter()
        .find(|c| c.ids == ["i-d1"])
        .unwrap();
    assert!(change.at - began >= Duration::from_secs(20));
    assert_eq!(tier(&report.summary.tiers, "Role_DB").acted, ["i-d1", "i-d2"]);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(cloud.type_of("i-d1"), "m5.large");
    assert_eq!(cloud.state_of("i-d1"), Running);
}

#[tokio::test(start_paused = true)]
async fn a_dry_run_changes_no_type() {
    let cloud = fleet(Stopped);
    let mut req = profile_request("performant");
    req.dry_run = true;
    let report = run(&cloud, &req).await;
    assert_eq!(report.summary.status, RunStatus::DryRun);
    assert!(cloud.mutating_calls().is_empty());
    assert!(report
        .plan
        .instances()
        .all(|(_, i)| i.resize_to.as_deref() == Some("m5.large")));
    assert_eq!(cloud.type_of("i-d1"), "t3.small");
}

#[tokio::test(start_paused = true)]
async fn no_type_is_changed_once_the_tier_ran_out_of_time() {
    // GIVEN a tier where one instance is stuck in `stopping` (waited out before
    // starting) and the budget ends while waiting for it
    let cloud = FakeCloud::new();
    cloud.put_config(workload_item("W"), three_tiers("W", 5));
    cloud.add("i-stuck", "ENV001", "Role_DB", Stopping);
    cloud.lock().stuck.insert("i-stuck".into());
    cloud.add("i-d2", "ENV001", "Role_DB", Stopped);
    let budget = Budget::from_now(Duration::from_secs(60), Duration::from_secs(10));

    // WHEN the workload is started with a profile
    let report = orchestrator::run(&cloud, &profile_request("performant"), &budget, &Settings::default())
        .await
        .unwrap();

    // THEN i-d2 is reported not done...
    let s = &report.summary;
    assert_eq!(s.status, RunStatus::DeadlineReached, "{}", s.to_table());
    let db = tier(&s.tiers, "Role_DB");
    assert!(db.not_done.iter().any(|n| n.id == "i-d2"), "{}", s.to_table());
    assert!(cloud.calls_of("StartInstances").is_empty());
    // ...and was left as it was: no type change for an instance not started
    assert!(
        cloud.calls_of("ModifyInstanceAttribute").is_empty(),
        "ModifyInstanceAttribute after the budget ran out: {:?}",
        cloud.calls_of("ModifyInstanceAttribute")
    );
    assert_eq!(cloud.type_of("i-d2"), "t3.small");
}

/// One tier Role_Web of four stopped t3.small instances (i-1..i-4) with the
/// given TierScaling; ScaleInstanceDelay 4 s (the original's default).
fn one_tier(scaling: serde_json::Value) -> FakeCloud {
    let cloud = FakeCloud::new();
    let mut tier = crate::support::tier_item("W", "Role_Web", 0, 0, false, 5);
    tier["TierScaling"] = scaling;
    cloud.put_config(workload_item("W"), vec![tier]);
    for id in ["i-1", "i-2", "i-3", "i-4"] {
        cloud.add(id, "ENV001", "Role_Web", Stopped);
    }
    cloud
}

#[tokio::test(start_paused = true)]
async fn fleet_subset_starts_only_part_of_the_tier_and_running_ones_count() {
    let cloud = one_tier(json!({
        "DevMode": {"InstanceType": "t3.nano", "FleetSubset": "1"},
        "Half": {"FleetSubset": "50%"}
    }));
    let report = run(&cloud, &profile_request("DevMode")).await;
    let web = tier(&report.summary.tiers, "Role_Web");
    assert_eq!(web.acted, ["i-1"], "{}", report.summary.to_table());
    assert_eq!(web.skipped.len(), 3);
    assert!(web.skipped.iter().all(|n| n.reason.contains("FleetSubset 1")));
    assert_eq!(modified(&cloud), ["i-1"], "only the started instance is resized");
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(cloud.state_of("i-2"), Stopped);

    // 50% of 4 is 2: i-1 already runs, so one more (the next by id).
    let report = run(&cloud, &{
        let mut r = profile_request("Half");
        r.override_state = true;
        r
    })
    .await;
    assert_eq!(tier(&report.summary.tiers, "Role_Web").acted, ["i-2"]);
}

#[tokio::test(start_paused = true)]
async fn unlimited_suffix_sets_credits_and_plain_burstable_types_go_back_to_standard() {
    let cloud = one_tier(json!({"Burst": "t3.micro.u", "Calm": "t3.micro"}));
    cloud.lock().instances.get_mut("i-4").unwrap().unlimited = true;
    let report = run(&cloud, &profile_request("Burst")).await;
    let web = tier(&report.summary.tiers, "Role_Web");
    // i-4 is unlimited already: no call for it.
    let changed: Vec<&str> = web.credits.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(changed, ["i-1", "i-2", "i-3"]);
    assert!(cloud
        .lock()
        .instances
        .values()
        .all(|i| i.unlimited && i.instance_type == "t3.micro"));
    let modify = cloud.calls_of("ModifyInstanceCreditSpecification");
    let start = cloud.calls_of("StartInstances");
    assert_eq!(modify.len(), 1, "one batched call");
    assert!(modify[0].at <= start[0].at);

    run(&cloud, &request("W", Action::Stop)).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    run(&cloud, &profile_request("Calm")).await;
    assert!(cloud.lock().instances.values().all(|i| !i.unlimited));
}

#[tokio::test(start_paused = true)]
async fn ebs_optimized_is_turned_off_before_a_change_to_a_type_that_cannot_have_it() {
    let cloud = one_tier(json!({"Small": "t2.nano", "Other": "m5.large"}));
    cloud.lock().instances.get_mut("i-1").unwrap().ebs_optimized = true;
    let report = run(&cloud, &profile_request("Small")).await;
    let web = tier(&report.summary.tiers, "Role_Web");
    assert_eq!(
        report.summary.status,
        RunStatus::Completed,
        "{}",
        report.summary.to_table()
    );
    let r1 = web.resized.iter().find(|r| r.id == "i-1").unwrap();
    assert!(r1.ebs_optimized_cleared && r1.error.is_none());
    assert!(web
        .resized
        .iter()
        .filter(|r| r.id != "i-1")
        .all(|r| !r.ebs_optimized_cleared));
    assert!(!cloud.lock().instances["i-1"].ebs_optimized);
    // Types EC2 says can be optimised keep the setting.
    let cloud = one_tier(json!({"Other": "m5.large"}));
    cloud.lock().instances.get_mut("i-1").unwrap().ebs_optimized = true;
    run(&cloud, &profile_request("Other")).await;
    assert!(cloud.lock().instances["i-1"].ebs_optimized);
}

#[tokio::test(start_paused = true)]
async fn scale_instance_delay_is_waited_once_per_tier_and_refused_starts_are_retried() {
    let cloud = one_tier(json!({"Big": "m5.large"}));
    // The first start of i-2 is refused while its type change propagates.
    cloud.fault("StartInstances", Some("i-2"), "IncorrectInstanceState", 3);
    let began = tokio::time::Instant::now();
    let report = run(&cloud, &profile_request("Big")).await;
    let web = tier(&report.summary.tiers, "Role_Web");
    assert_eq!(
        report.summary.status,
        RunStatus::Completed,
        "{}",
        report.summary.to_table()
    );
    let mut acted = web.acted.clone();
    acted.sort();
    assert_eq!(acted, ["i-1", "i-2", "i-3", "i-4"]);
    // Four type changes, one 4 s pause before the first StartInstances.
    let last_modify = cloud.calls_of("ModifyInstanceAttribute").last().unwrap().at;
    let first_start = cloud.calls_of("StartInstances(failed)")[0].at;
    assert_eq!((first_start - last_modify).as_secs(), 4);
    assert!((first_start - began).as_secs() < 8, "not once per instance");
}
