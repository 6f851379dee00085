//! The plan: which instances, which tiers, in which order, and what happens to
//! each instance and why. Pure: built from the configuration and the
//! discovered instances, without I/O, so a dry run and a real run agree.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{secs, show_secs, AutoScalingMode, Readiness, WorkloadConfig};
use crate::instance::{Instance, InstanceState};
use crate::override_check::OverrideCheck;
use crate::override_tag::{self, TagVerdict};

/// The two orchestrated actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    /// Stop the workload, tier by tier.
    Stop,
    /// Start the workload, tier by tier.
    Start,
}

impl Action {
    /// The verb in lower case, for tables and messages.
    pub fn verb(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Start => "start",
        }
    }

    /// Past participle: "stopped" / "started".
    pub fn done(self) -> &'static str {
        match self {
            Self::Stop => "stopped",
            Self::Start => "started",
        }
    }

    /// Present participle: "stopping" / "starting".
    pub fn doing(self) -> &'static str {
        match self {
            Self::Stop => "stopping",
            Self::Start => "starting",
        }
    }

    /// The state an instance is in once this action is done.
    pub fn target_state(self) -> InstanceState {
        match self {
            Self::Stop => InstanceState::Stopped,
            Self::Start => InstanceState::Running,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Stop => "Stop",
            Self::Start => "Start",
        })
    }
}

impl FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "stop" => Ok(Self::Stop),
            "start" => Ok(Self::Start),
            _ => Err(format!("{s:?} is not \"Stop\" or \"Start\"")),
        }
    }
}

/// The whole ordered plan for one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// SpecName.
    pub workload: String,
    /// WorkloadRegion.
    pub region: String,
    /// Stop or Start.
    pub action: Action,
    /// The scaling profile in force (start only): the one asked for, when
    /// a tier lists it.
    pub scaling_profile: Option<String>,
    /// The account acted in when it is not the scheduler's own
    /// (`CrossAccountRole`): its id and the role assumed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<AccountTarget>,
    /// Configuration warnings (unknown attributes, a missing WorkloadRegion).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Why nothing will be actioned, when the kill switch is on.
    pub disabled_reason: Option<String>,
    /// Why a Start is skipped without discovery: the WorkloadState table
    /// says the last action was already a Start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_skip: Option<String>,
    /// Why the run is skipped without discovery: a Change Calendar is CLOSED.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calendar_skip: Option<String>,
    /// Tier groups in TierSequence order; tiers of a group run together.
    pub groups: Vec<TierGroup>,
    /// Tiers that take no part in this action, and why.
    pub left_out: Vec<LeftOut>,
    /// Workload instances whose tier tag names no configured tier.
    pub unmatched: Vec<Unmatched>,
}

/// Another account's instances, reached through `CrossAccountRole`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountTarget {
    /// The account id.
    pub account_id: String,
    /// The role assumed.
    pub role_arn: String,
}

/// Tiers sharing one TierSequence value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TierGroup {
    /// The shared TierSequence.
    pub sequence: u64,
    /// The tiers, by name.
    pub tiers: Vec<TierPlan>,
    /// Wait after this group before the next one (zero after the last group
    /// and when there is nothing to do on either side).
    #[serde(rename = "delayAfterSecs", with = "secs")]
    pub delay_after: Duration,
}

/// One tier's part of the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TierPlan {
    /// TierTagValue.
    pub tier: String,
    /// TierSequence for this action.
    pub sequence: u64,
    /// One instance at a time, waiting for each.
    pub synchronous: bool,
    /// The override file checked before stopping, if any.
    pub override_check: Option<OverrideCheck>,
    /// The readiness gate before the next tier, if any.
    pub readiness: Option<Readiness>,
    /// The tier's InterTierOrchestrationDelay for this action.
    #[serde(skip)]
    pub inter_tier_delay: Duration,
    /// The tier's instances, sorted by id.
    pub instances: Vec<InstancePlan>,
}

impl TierPlan {
    /// Instances that will be acted on (now or after a transition).
    pub fn actionable(&self) -> impl Iterator<Item = &InstancePlan> {
        self.instances
            .iter()
            .filter(|i| matches!(i.step, Step::Act | Step::WaitThenAct { .. }))
    }

    /// Instances an earlier invocation of the run acted on or bypassed: a
    /// continuation reports them as skipped, but they are not news.
    pub fn carried_over(&self) -> usize {
        self.instances
            .iter()
            .filter(|i| match &i.step {
                Step::DoneEarlier { .. } => true,
                Step::Skip { reason } => reason.starts_with(EARLIER_BYPASS),
                _ => false,
            })
            .count()
    }
}

/// What happens to one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstancePlan {
    /// `i-...`
    pub id: String,
    /// State when discovered.
    pub state: InstanceState,
    /// Type when discovered.
    pub instance_type: String,
    /// The step and its reason.
    pub step: Step,
    /// New instance type set before starting (scaling profile).
    pub resize_to: Option<String>,
    /// CPU credits the profile asks for (`.u`: unlimited, else standard);
    /// applied before starting when EC2 says the target type is burstable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unlimited_credits: Option<bool>,
    /// EBS optimisation is on now (it is turned off before a change to a
    /// type that cannot have it).
    #[serde(default)]
    pub ebs_optimized: bool,
    /// Stopped with hibernation (`TierHibernate`, and EC2 says it is configured).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub hibernate: bool,
    /// A Spot instance (one from a one-time request cannot be stopped).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub spot: bool,
    /// The Auto Scaling group of a member (`TierAutoScalingGroups` Suspend).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_scaling_group: Option<String>,
    /// The override file is checked before stopping this instance.
    pub check_override: bool,
}

/// The step planned for an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Step {
    /// Act now.
    Act,
    /// Wait until a transition ends, then act (e.g. `pending` when stopping).
    WaitThenAct {
        /// Why a wait is needed.
        reason: String,
    },
    /// Leave alone.
    Skip {
        /// Why, e.g. "already stopped".
        reason: String,
    },
    /// Acted on by an earlier invocation of the same run (a continuation):
    /// not acted on again, but still waited for by gates and sync tiers.
    DoneEarlier {
        /// What was done.
        reason: String,
    },
}

/// How a continuation's plan says an earlier invocation bypassed an instance.
const EARLIER_BYPASS: &str = "bypassed by an earlier invocation of this run";

/// Progress of a run cut short by its deadline, so a fresh invocation can
/// resume exactly where it stopped without repeating a completed step.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// TierSequence values whose groups are complete.
    pub done_sequences: Vec<u64>,
    /// Instances already acted on in groups not yet complete.
    pub acted: Vec<String>,
    /// Instances bypassed by the override check, with the reason.
    pub bypassed: Vec<(String, String)>,
    /// Seconds to wait before resuming (an inter-tier delay still owed).
    pub resume_after_secs: u64,
}

impl Checkpoint {
    /// Marks what the earlier invocations did in a fresh plan of the same run.
    pub fn apply(&self, plan: &mut Plan) {
        plan.groups.retain(|g| !self.done_sequences.contains(&g.sequence));
        for tier in plan.groups.iter_mut().flat_map(|g| g.tiers.iter_mut()) {
            for instance in &mut tier.instances {
                if self.acted.contains(&instance.id) {
                    instance.step = Step::DoneEarlier {
                        reason: format!("{} by an earlier invocation of this run", plan.action.done()),
                    };
                    instance.check_override = false;
                    instance.resize_to = None;
                    instance.unlimited_credits = None;
                } else if let Some((_, why)) = self.bypassed.iter().find(|(id, _)| *id == instance.id) {
                    instance.step = Step::Skip {
                        reason: format!("{EARLIER_BYPASS}: {why}"),
                    };
                    instance.check_override = false;
                    instance.resize_to = None;
                    instance.unlimited_credits = None;
                }
            }
        }
        // A group an earlier invocation acted on still owes its delay.
        set_delays(&mut plan.groups);
    }
}

/// A tier that takes no part in the action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LeftOut {
    /// TierTagValue.
    pub tier: String,
    /// Why it is left out.
    pub reason: String,
    /// How many of its instances were found.
    pub instances: usize,
}

/// An instance of the workload that belongs to no configured tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Unmatched {
    /// `i-...`
    pub id: String,
    /// Its tier tag value.
    pub tier_tag: String,
}

/// The profile used for a start: the one asked for. Without one no type
/// ever changes (the original's rule: a `default` entry is just a profile
/// named `default`, applied with `-p default`). Stops never resize.
pub fn effective_profile(action: Action, requested: Option<&str>) -> Option<&str> {
    match action {
        Action::Stop => None,
        Action::Start => requested,
    }
}

/// Builds the plan for `action` from a validated configuration and the
/// instances discovery returned.
pub fn build(config: &WorkloadConfig, instances: &[Instance], action: Action, scaling_profile: Option<&str>) -> Plan {
    build_at(config, instances, action, scaling_profile, crate::ledger::epoch_now())
}

/// [`build`] at `now` (seconds since the epoch), the time expiring override
/// tags are judged against.
pub fn build_at(
    config: &WorkloadConfig,
    instances: &[Instance],
    action: Action,
    scaling_profile: Option<&str>,
    now: u64,
) -> Plan {
    let mut warnings: Vec<String> = config.warnings.iter().map(ToString::to_string).collect();
    let profile = effective_profile(action, scaling_profile);
    let mut by_tier: BTreeMap<&str, Vec<&Instance>> = BTreeMap::new();
    for instance in instances.iter().filter(|i| i.state != InstanceState::Terminated) {
        by_tier.entry(instance.tier.as_str()).or_default().push(instance);
    }

    let mut left_out = Vec::new();
    let mut by_sequence: BTreeMap<u64, Vec<TierPlan>> = BTreeMap::new();
    for tier in &config.tiers {
        let mut members = by_tier.remove(tier.name.as_str()).unwrap_or_default();
        members.sort_by(|a, b| a.id.cmp(&b.id));
        let section = match action {
            Action::Stop => "TierStop",
            Action::Start => "TierStart",
        };
        let Some(spec) = tier.for_action(action) else {
            left_out.push(LeftOut {
                tier: tier.name.clone(),
                reason: format!("no {section} section"),
                instances: members.len(),
            });
            continue;
        };
        if spec.ignore {
            left_out.push(LeftOut {
                tier: tier.name.clone(),
                reason: "TierStop.IgnoreStop is on: the tier is never stopped".into(),
                instances: members.len(),
            });
            continue;
        }
        let target = profile.and_then(|p| tier.scaling.get(p));
        let target_type = target.and_then(|t| t.instance_type.as_ref());
        let override_check = spec.override_check.clone();
        let mut instances: Vec<InstancePlan> = members
            .into_iter()
            .map(|i| {
                let mut step = step_for(action, i.state);
                let acting = |s: &Step| matches!(s, Step::Act | Step::WaitThenAct { .. });
                if let (Some(group), true, AutoScalingMode::Skip) = (&i.auto_scaling_group, acting(&step), spec.auto_scaling)
                {
                    step = Step::Skip {
                        reason: format!(
                            "member of Auto Scaling group {group}: left alone (its group would replace a stopped member; \
                             TierAutoScalingGroups \"Suspend\" opts in)"
                        ),
                    };
                }
                let (tag, reason) = match &i.override_tag {
                    Some((tag, reason)) => (Some(tag.as_str()), reason.as_deref()),
                    None => (None, None),
                };
                match override_tag::verdict(tag, reason, action, now) {
                    TagVerdict::Keep(why) if acting(&step) => step = Step::Skip { reason: why },
                    TagVerdict::Ignored(why) => warnings.push(format!("{}: {why}", i.id)),
                    _ => {}
                }
                let acts = acting(&step);
                InstancePlan {
                    id: i.id.clone(),
                    state: i.state,
                    instance_type: i.instance_type.clone(),
                    resize_to: target_type.filter(|t| acts && **t != i.instance_type).cloned(),
                    unlimited_credits: target
                        .filter(|t| acts && t.instance_type.is_some())
                        .map(|t| t.unlimited_credits),
                    ebs_optimized: i.ebs_optimized,
                    check_override: acts && override_check.is_some(),
                    hibernate: acts && spec.hibernate && i.hibernation_configured,
                    spot: i.spot,
                    // Kept for every member in Suspend mode: a Start resumes the
                    // processes of groups whose members were already running too.
                    auto_scaling_group: i
                        .auto_scaling_group
                        .clone()
                        .filter(|_| spec.auto_scaling == AutoScalingMode::Suspend),
                    step,
                }
            })
            .collect();
        if let (Some(subset), Some(name)) = (target.and_then(|t| t.fleet_subset), profile) {
            apply_fleet_subset(&mut instances, subset, name);
        }
        by_sequence.entry(spec.sequence).or_default().push(TierPlan {
            tier: tier.name.clone(),
            sequence: spec.sequence,
            synchronous: spec.synchronous,
            override_check,
            readiness: spec.readiness.clone(),
            inter_tier_delay: spec.inter_tier_delay,
            instances,
        });
    }

    let unmatched = by_tier
        .into_iter()
        .flat_map(|(tag, list)| {
            list.into_iter().map(move |i| Unmatched {
                id: i.id.clone(),
                tier_tag: tag.to_string(),
            })
        })
        .collect();

    let mut groups: Vec<TierGroup> = by_sequence
        .into_iter()
        .map(|(sequence, mut tiers)| {
            tiers.sort_by(|a, b| a.tier.cmp(&b.tier));
            TierGroup {
                sequence,
                tiers,
                delay_after: Duration::ZERO,
            }
        })
        .collect();
    set_delays(&mut groups);

    Plan {
        workload: config.workload.spec_name.clone(),
        region: config.workload.region.clone(),
        action,
        scaling_profile: profile
            .filter(|p| config.tiers.iter().any(|t| t.scaling.contains_key(*p)))
            .map(str::to_string),
        account: config.workload.cross_account.as_ref().map(|c| AccountTarget {
            account_id: c.account_id.clone(),
            role_arn: c.role_arn.clone(),
        }),
        warnings,
        calendar_skip: None,
        disabled_reason: config
            .workload
            .scheduling_disabled
            .then(|| "DisableAllSchedulingActions is on: no action is taken for this workload".to_string()),
        state_skip: None,
        groups,
        left_out,
        unmatched,
    }
}

/// Delay after a group only when it acts on something (now, or in an
/// earlier invocation of the same run) and a later group does too: waiting
/// for nothing, or before nothing, helps no one. The longest delay of the
/// group's tiers applies.
fn set_delays(groups: &mut [TierGroup]) {
    let busy: Vec<bool> = groups
        .iter()
        .map(|g| {
            g.tiers
                .iter()
                .flat_map(|t| &t.instances)
                .any(|i| matches!(i.step, Step::Act | Step::WaitThenAct { .. } | Step::DoneEarlier { .. }))
        })
        .collect();
    for index in 0..groups.len() {
        let later_busy = busy[index + 1..].iter().any(|b| *b);
        groups[index].delay_after = if busy[index] && later_busy {
            groups[index]
                .tiers
                .iter()
                .map(|t| t.inter_tier_delay)
                .max()
                .unwrap_or_default()
        } else {
            Duration::ZERO
        };
    }
}

/// `FleetSubset` at start: running (and pending) instances count towards
/// it; of the stopped ones, the first by instance id are started until the
/// subset is reached, the rest stay stopped with the reason.
fn apply_fleet_subset(instances: &mut [InstancePlan], subset: crate::config::FleetSubset, profile: &str) {
    use InstanceState::*;
    let total = instances
        .iter()
        .filter(|i| matches!(i.state, Running | Pending | Stopping | Stopped))
        .count();
    let running = instances
        .iter()
        .filter(|i| matches!(i.state, Running | Pending))
        .count();
    let wanted = subset.wanted(total).min(total);
    let mut to_start = wanted.saturating_sub(running);
    // Instances are sorted by id, so the choice is the same on every run.
    for i in instances.iter_mut() {
        if !matches!(i.step, Step::Act | Step::WaitThenAct { .. }) {
            continue;
        }
        if to_start > 0 {
            to_start -= 1;
            continue;
        }
        i.step = Step::Skip {
            reason: format!(
                "left stopped: FleetSubset {subset} of profile {profile} wants {wanted} of {total} running ({running} already were)"
            ),
        };
        i.resize_to = None;
        i.unlimited_credits = None;
        i.check_override = false;
    }
}

fn step_for(action: Action, state: InstanceState) -> Step {
    use InstanceState::*;
    let skip = |reason: &str| Step::Skip { reason: reason.into() };
    let wait = |reason: &str| Step::WaitThenAct { reason: reason.into() };
    match (action, state) {
        (Action::Stop, Running) | (Action::Start, Stopped) => Step::Act,
        (Action::Stop, Pending) => wait("pending: stopped once it is running"),
        (Action::Start, Stopping) => wait("stopping: started once it is stopped"),
        (Action::Stop, Stopped) => skip("already stopped"),
        (Action::Stop, Stopping) => skip("already stopping"),
        (Action::Start, Running) => skip("already running"),
        (Action::Start, Pending) => skip("already starting"),
        (_, ShuttingDown) => skip("shutting down (being terminated)"),
        (_, Terminated) => skip("terminated"),
    }
}

impl Plan {
    /// Every instance plan in execution order.
    pub fn instances(&self) -> impl Iterator<Item = (&TierPlan, &InstancePlan)> {
        self.groups
            .iter()
            .flat_map(|g| g.tiers.iter())
            .flat_map(|t| t.instances.iter().map(move |i| (t, i)))
    }

    /// Renders the plan as a readable table.
    pub fn to_table(&self) -> String {
        let mut rows = vec![[
            "TIER", "SEQ", "MODE", "DELAY", "INSTANCE", "STATE", "TYPE", "OVERRIDE", "GATE", "ACTION",
        ]
        .map(String::from)
        .to_vec()];
        for group in &self.groups {
            for tier in &group.tiers {
                let mode = if tier.synchronous { "sync" } else { "async" };
                let delay = show_secs(group.delay_after);
                let gate = tier
                    .readiness
                    .as_ref()
                    .map(|r| format!("{:?}", r.check))
                    .unwrap_or_else(|| "-".into());
                if tier.instances.is_empty() {
                    rows.push(vec![
                        tier.tier.clone(),
                        tier.sequence.to_string(),
                        mode.into(),
                        delay.clone(),
                        "(none)".into(),
                        "-".into(),
                        "-".into(),
                        "-".into(),
                        gate.clone(),
                        "nothing to do".into(),
                    ]);
                }
                for i in &tier.instances {
                    let credits = match i.unlimited_credits {
                        Some(true) => " (unlimited)",
                        _ => "",
                    };
                    let ty = match &i.resize_to {
                        Some(to) => format!("{} -> {to}{credits}", i.instance_type),
                        None => format!("{}{credits}", i.instance_type),
                    };
                    let over = if i.check_override {
                        tier.override_check
                            .as_ref()
                            .map(|c| c.path().to_string())
                            .unwrap_or_default()
                    } else {
                        "-".into()
                    };
                    let verb = if i.hibernate { "hibernate" } else { self.action.verb() };
                    let action = match &i.step {
                        Step::Act => verb.to_string(),
                        Step::WaitThenAct { reason } => format!("wait, then {} ({reason})", self.action.verb()),
                        Step::Skip { reason } => format!("skip: {reason}"),
                        Step::DoneEarlier { reason } => format!("done: {reason}"),
                    };
                    rows.push(vec![
                        tier.tier.clone(),
                        tier.sequence.to_string(),
                        mode.into(),
                        delay.clone(),
                        i.id.clone(),
                        i.state.to_string(),
                        ty,
                        over,
                        gate.clone(),
                        action,
                    ]);
                }
            }
        }
        let mut out = format!(
            "Plan: {} {} in {}{}\n",
            self.action,
            self.workload,
            self.region,
            self.scaling_profile
                .as_ref()
                .map(|p| format!(" (scaling profile {p})"))
                .unwrap_or_default()
        );
        match &self.account {
            Some(a) => out.push_str(&format!("Account: {} (role {})\n", a.account_id, a.role_arn)),
            None => out.push_str("Account: the scheduler's own\n"),
        }
        for w in &self.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        if let Some(reason) = &self.disabled_reason {
            out.push_str(&format!("DISABLED: {reason}\n"));
        }
        if let Some(reason) = &self.state_skip {
            out.push_str(&format!("SKIPPED: {reason}\n"));
        }
        if let Some(reason) = &self.calendar_skip {
            out.push_str(&format!("SKIPPED: {reason}\n"));
        }
        out.push_str(&crate::table::render(&rows));
        for l in &self.left_out {
            out.push_str(&format!(
                "left out: tier {} ({}; {} instance(s))\n",
                l.tier, l.reason, l.instances
            ));
        }
        for u in &self.unmatched {
            out.push_str(&format!(
                "not in any configured tier: {} (tier tag {:?})\n",
                u.id, u.tier_tag
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests;
