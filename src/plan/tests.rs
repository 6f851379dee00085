use serde_json::json;

use super::*;
use crate::config::{ItemNaming, WorkloadConfig};
use crate::instance::InstanceState;

/// 2026-11-30T12:00:00Z: the plan is judged at a fixed instant.
const NOW: u64 = 1_796_040_000;

fn build(config: &WorkloadConfig, instances: &[Instance], action: Action, profile: Option<&str>) -> Plan {
    super::build(config, instances, action, profile, NOW)
}

/// Web (stop 0 / start 2), App (stop 1 / start 1), DB (stop 2 / start 0).
fn three_tiers() -> WorkloadConfig {
    let workload = json!({
        "SpecName": "W", "WorkloadFilterTagName": "Environment", "WorkloadFilterTagValue": "ENV001",
        "WorkloadRegion": "us-west-2", "TierFilterTagName": "Role"
    });
    let tier = |name: &str, stop: &str, start: &str| {
        json!({"SpecName": "W", "TierTagValue": name,
               "TierStop": {"TierSequence": stop, "InterTierOrchestrationDelay": "7"},
               "TierStart": {"TierSequence": start},
               "TierScaling": {"default": "t3.small", "big": "m5.large"}})
    };
    let tiers = [
        tier("Role_Web", "0", "2"),
        tier("Role_App", "1", "1"),
        tier("Role_DB", "2", "0"),
    ];
    WorkloadConfig::from_items("W", &workload, &tiers, ItemNaming::Table).unwrap()
}

fn inst(id: &str, tier: &str, state: InstanceState) -> Instance {
    Instance::new(id, tier, state, "t3.small")
}

fn order(plan: &Plan) -> Vec<Vec<&str>> {
    plan.groups
        .iter()
        .map(|g| g.tiers.iter().map(|t| t.tier.as_str()).collect())
        .collect()
}

#[test]
fn stop_and_start_orders_follow_their_own_sequences() {
    let config = three_tiers();
    let instances = vec![
        inst("i-3", "Role_DB", InstanceState::Running),
        inst("i-1", "Role_Web", InstanceState::Running),
        inst("i-2", "Role_App", InstanceState::Running),
    ];
    let stop = build(&config, &instances, Action::Stop, None);
    assert_eq!(order(&stop), vec![vec!["Role_Web"], vec!["Role_App"], vec!["Role_DB"]]);
    let start = build(&config, &instances, Action::Start, None);
    assert_eq!(order(&start), vec![vec!["Role_DB"], vec!["Role_App"], vec!["Role_Web"]]);
}

#[test]
fn shared_sequences_form_one_group_and_gaps_are_fine() {
    let mut config = three_tiers();
    config.tiers[1].stop.as_mut().unwrap().sequence = 10;
    config.tiers[2].stop.as_mut().unwrap().sequence = 10;
    let plan = build(&config, &[], Action::Stop, None);
    assert_eq!(order(&plan), vec![vec!["Role_Web"], vec!["Role_App", "Role_DB"]]);
    assert_eq!(plan.groups[1].sequence, 10);
}

#[test]
fn instances_are_sorted_and_steps_explain_themselves() {
    let config = three_tiers();
    let instances = vec![
        inst("i-0c", "Role_Web", InstanceState::Stopped),
        inst("i-0a", "Role_Web", InstanceState::Running),
        inst("i-0d", "Role_Web", InstanceState::Pending),
        inst("i-0b", "Role_Web", InstanceState::Stopping),
        inst("i-0e", "Role_Web", InstanceState::Terminated),
        inst("i-0f", "Role_Web", InstanceState::ShuttingDown),
    ];
    let plan = build(&config, &instances, Action::Stop, None);
    let web = &plan.groups[0].tiers[0];
    let ids: Vec<&str> = web.instances.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(
        ids,
        ["i-0a", "i-0b", "i-0c", "i-0d", "i-0f"],
        "sorted, terminated ignored"
    );
    assert_eq!(web.instances[0].step, Step::Act);
    assert_eq!(
        web.instances[1].step,
        Step::Skip {
            reason: "already stopping".into()
        }
    );
    assert_eq!(
        web.instances[2].step,
        Step::Skip {
            reason: "already stopped".into()
        }
    );
    assert!(matches!(web.instances[3].step, Step::WaitThenAct { .. }));
    assert!(matches!(&web.instances[4].step, Step::Skip { reason } if reason.contains("shutting down")));

    let start = build(&config, &instances, Action::Start, None);
    let web = &start.groups[2].tiers[0];
    assert_eq!(
        web.instances[0].step,
        Step::Skip {
            reason: "already running".into()
        }
    );
    assert!(matches!(web.instances[1].step, Step::WaitThenAct { .. }));
    assert_eq!(web.instances[2].step, Step::Act);
}

#[test]
fn tiers_without_a_section_are_left_out_and_unknown_tiers_reported() {
    let mut config = three_tiers();
    config.tiers[1].start = None;
    let instances = vec![
        inst("i-1", "Role_App", InstanceState::Stopped),
        inst("i-9", "Role_Cache", InstanceState::Stopped),
    ];
    let plan = build(&config, &instances, Action::Start, None);
    assert_eq!(order(&plan), vec![vec!["Role_DB"], vec!["Role_Web"]]);
    assert_eq!(plan.left_out.len(), 1);
    assert_eq!(plan.left_out[0].tier, "Role_App");
    assert_eq!(plan.left_out[0].reason, "no TierStart section");
    assert_eq!(plan.left_out[0].instances, 1);
    assert_eq!(
        plan.unmatched,
        vec![Unmatched {
            id: "i-9".into(),
            tier_tag: "Role_Cache".into()
        }]
    );
    let table = plan.to_table();
    assert!(
        table.contains("left out: tier Role_App (no TierStart section"),
        "{table}"
    );
}

#[test]
fn delays_apply_between_busy_groups_only() {
    let config = three_tiers();
    let all_running = vec![
        inst("i-1", "Role_Web", InstanceState::Running),
        inst("i-2", "Role_App", InstanceState::Running),
        inst("i-3", "Role_DB", InstanceState::Running),
    ];
    let plan = build(&config, &all_running, Action::Stop, None);
    let delays: Vec<u64> = plan.groups.iter().map(|g| g.delay_after.as_secs()).collect();
    assert_eq!(delays, [7, 7, 0], "never after the last tier");

    let db_already_stopped = vec![
        inst("i-1", "Role_Web", InstanceState::Running),
        inst("i-2", "Role_App", InstanceState::Running),
        inst("i-3", "Role_DB", InstanceState::Stopped),
    ];
    let plan = build(&config, &db_already_stopped, Action::Stop, None);
    let delays: Vec<u64> = plan.groups.iter().map(|g| g.delay_after.as_secs()).collect();
    assert_eq!(delays, [7, 0, 0], "no wait before a tier with nothing to do");
}

#[test]
fn scaling_profiles_resize_only_what_changes() {
    let config = three_tiers();
    let mut big = inst("i-2", "Role_Web", InstanceState::Stopped);
    big.instance_type = "m5.large".into();
    let instances = vec![
        inst("i-1", "Role_Web", InstanceState::Stopped),
        big,
        inst("i-3", "Role_Web", InstanceState::Running),
    ];
    let plan = build(&config, &instances, Action::Start, Some("big"));
    assert_eq!(plan.scaling_profile.as_deref(), Some("big"));
    let web = &plan.groups[2].tiers[0];
    assert_eq!(web.instances[0].resize_to.as_deref(), Some("m5.large"));
    assert_eq!(web.instances[1].resize_to, None, "already the target type");
    assert_eq!(web.instances[2].resize_to, None, "running instances are never modified");
    assert!(plan.to_table().contains("t3.small -> m5.large"));

    // No profile: no type ever changes, `default` included (the original's
    // rule); `-p default` applies that entry.
    let mut small = inst("i-4", "Role_Web", InstanceState::Stopped);
    small.instance_type = "t3.nano".into();
    let plan = build(&config, &[small.clone()], Action::Start, None);
    assert_eq!(plan.groups[2].tiers[0].instances[0].resize_to, None);
    assert_eq!(plan.scaling_profile, None);
    let plan = build(&config, &[small.clone()], Action::Start, Some("default"));
    assert_eq!(
        plan.groups[2].tiers[0].instances[0].resize_to.as_deref(),
        Some("t3.small")
    );
    // A profile no tier lists changes nothing; stops never resize.
    assert_eq!(
        build(&config, &[small.clone()], Action::Start, Some("nope")).groups[2].tiers[0].instances[0].resize_to,
        None
    );
    let mut running = small;
    running.state = InstanceState::Running;
    assert!(build(&config, &[running], Action::Stop, Some("big"))
        .instances()
        .all(|(_, i)| i.resize_to.is_none()));
}

#[test]
fn kill_switch_and_json_form() {
    let mut config = three_tiers();
    config.workload.scheduling_disabled = true;
    let plan = build(
        &config,
        &[inst("i-1", "Role_Web", InstanceState::Running)],
        Action::Stop,
        None,
    );
    assert!(plan
        .disabled_reason
        .as_deref()
        .unwrap()
        .contains("DisableAllSchedulingActions"));
    let value = serde_json::to_value(&plan).unwrap();
    assert_eq!(value["groups"][0]["tiers"][0]["instances"][0]["step"]["kind"], "act");
    assert_eq!(value["groups"][0]["delayAfterSecs"], 0, "nothing to do after Web");
    assert_eq!(value["action"], "Stop");
}

/// One tier `Role_Web` with the given TierScaling and TierStop extras.
fn web_tier(scaling: serde_json::Value, stop_extra: serde_json::Value) -> WorkloadConfig {
    let workload = json!({
        "SpecName": "W", "WorkloadFilterTagName": "Environment", "WorkloadFilterTagValue": "ENV001",
        "WorkloadRegion": "us-west-2", "TierFilterTagName": "Role",
        "CrossAccountRole": "arn:aws:iam::222233334444:role/Scheduler"
    });
    let mut stop = json!({"TierSequence": "0", "InterTierOrchestrationDelay": "2.5"});
    for (k, v) in stop_extra.as_object().unwrap() {
        stop[k] = v.clone();
    }
    let tier = json!({"SpecName": "W", "TierTagValue": "Role_Web", "TierStop": stop,
                      "TierStart": {"TierSequence": "0"}, "TierScaling": scaling});
    WorkloadConfig::from_items("W", &workload, &[tier], ItemNaming::Table).unwrap()
}

#[test]
fn fleet_subset_starts_the_first_stopped_instances_by_id_and_counts_running_ones() {
    let config = web_tier(
        json!({"Dev": {"InstanceType": "t2.nano", "FleetSubset": "50%"}, "One": {"FleetSubset": "1"}}),
        json!({}),
    );
    let instances = [
        inst("i-4", "Role_Web", InstanceState::Stopped),
        inst("i-1", "Role_Web", InstanceState::Running),
        inst("i-3", "Role_Web", InstanceState::Stopped),
        inst("i-2", "Role_Web", InstanceState::Stopped),
    ];
    // 50% of 4 = 2 running wanted; i-1 runs already, so one more: i-2.
    let plan = build(&config, &instances, Action::Start, Some("Dev"));
    let web = &plan.groups[0].tiers[0];
    let steps: Vec<(&str, bool)> = web
        .instances
        .iter()
        .map(|i| (i.id.as_str(), matches!(i.step, Step::Act)))
        .collect();
    assert_eq!(steps, [("i-1", false), ("i-2", true), ("i-3", false), ("i-4", false)]);
    assert_eq!(web.instances[1].resize_to.as_deref(), Some("t2.nano"));
    for left in &web.instances[2..] {
        assert_eq!(left.resize_to, None, "instances left stopped are not resized");
        let Step::Skip { reason } = &left.step else { panic!() };
        assert!(reason.contains("left stopped: FleetSubset 50%"), "{reason}");
    }
    assert!(plan.to_table().contains("left stopped"));
    // A count already met by running instances starts nothing.
    let plan = build(&config, &instances, Action::Start, Some("One"));
    assert_eq!(plan.groups[0].tiers[0].actionable().count(), 0);
    // Without the profile, every stopped instance starts.
    let plan = build(&config, &instances, Action::Start, None);
    assert_eq!(plan.groups[0].tiers[0].actionable().count(), 3);
}

#[test]
fn unlimited_suffix_asks_for_credits_and_plain_types_for_standard() {
    let config = web_tier(json!({"U": "t3.micro.u", "S": "t3.micro"}), json!({}));
    let stopped = [inst("i-1", "Role_Web", InstanceState::Stopped)];
    let plan = build(&config, &stopped, Action::Start, Some("U"));
    let i = &plan.groups[0].tiers[0].instances[0];
    assert_eq!(i.resize_to.as_deref(), Some("t3.micro"));
    assert_eq!(i.unlimited_credits, Some(true));
    assert!(plan.to_table().contains("t3.small -> t3.micro (unlimited)"));
    let plan = build(&config, &stopped, Action::Start, Some("S"));
    assert_eq!(plan.groups[0].tiers[0].instances[0].unlimited_credits, Some(false));
    let plan = build(&config, &stopped, Action::Start, None);
    assert_eq!(plan.groups[0].tiers[0].instances[0].unlimited_credits, None);
}

#[test]
fn ignore_stop_leaves_the_tier_out_of_stop_only() {
    let config = web_tier(json!({}), json!({"IgnoreStop": "True"}));
    let running = [inst("i-1", "Role_Web", InstanceState::Running)];
    let plan = build(&config, &running, Action::Stop, None);
    assert!(plan.groups.is_empty());
    assert!(plan.left_out[0].reason.contains("IgnoreStop"));
    let stopped = [inst("i-1", "Role_Web", InstanceState::Stopped)];
    assert_eq!(build(&config, &stopped, Action::Start, None).groups.len(), 1);
}

#[test]
fn plan_names_the_account_and_shows_fractional_delays() {
    let config = web_tier(json!({}), json!({}));
    let plan = build(&config, &[], Action::Stop, None);
    let account = plan.account.as_ref().unwrap();
    assert_eq!(account.account_id, "222233334444");
    assert!(plan.to_table().contains("Account: 222233334444"));
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["account"]["accountId"], "222233334444");
    assert_eq!(
        config.tiers[0].stop.as_ref().unwrap().inter_tier_delay.as_millis(),
        2500
    );
}
