//! The plan: which instances, which tiers, in which order, and what happens to
//! each instance and why. Pure: built from the configuration and the
//! discovered instances, without I/O, so a dry run and a real run agree.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::action::Action;
use crate::config::{
    secs, ActionSpec, AutoScalingMode, LoadBalancing, Readiness, ScalingTarget, StartRules, TierSpec, WorkloadConfig,
};
use crate::instance::{Instance, InstanceState};
use crate::member::MemberKind;
use crate::override_check::OverrideCheck;
use crate::override_tag::{self, TagVerdict};
use crate::traffic::{Alarm, AlarmStep, Registrations};

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
    /// The alarms the workload keeps quiet while stopped (`AlarmPrefixes`)
    /// and what this run does to each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<AlarmPlan>,
    /// Record tags on the workload's resources that the ledger does not
    /// hold: not trusted, not acted on; a Start reports each as a failure.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub untrusted: Vec<crate::records::Untrusted>,
}

/// One alarm of the plan and its step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmPlan {
    /// The alarm as selected.
    pub alarm: Alarm,
    /// What the run does to it.
    pub step: AlarmStep,
    /// Why.
    pub reason: String,
}

impl Plan {
    /// Notes the record tags the ledger does not hold, with a warning each.
    pub fn note_untrusted(&mut self, untrusted: Vec<crate::records::Untrusted>) {
        for u in &untrusted {
            self.warnings
                .push(format!("{}: {}", u.member, u.reason(&self.workload)));
        }
        self.untrusted = untrusted;
    }

    /// Notes the selected alarms with their steps for this action.
    pub fn add_alarms(&mut self, alarms: Vec<Alarm>) {
        let stopping = self.action == Action::Stop;
        self.alarms = alarms
            .into_iter()
            .map(|alarm| {
                let (step, reason) = crate::traffic::alarm_step(&alarm, stopping);
                AlarmPlan {
                    alarm,
                    step,
                    reason: reason.to_string(),
                }
            })
            .collect();
    }
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
    /// How starts are confirmed (Start plans only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_rules: Option<StartRules>,
    /// When an earlier invocation of the run last acted on the tier's group
    /// (ms since the epoch; see [`Checkpoint::acted_at_ms`]).
    #[serde(skip)]
    pub acted_at_ms: Option<u64>,
    /// The tier's InterTierOrchestrationDelay for this action.
    #[serde(skip)]
    pub inter_tier_delay: Duration,
    /// `TierLoadBalancing` for this action.
    pub load_balancing: LoadBalancing,
    /// The tier's instances, sorted by id.
    pub instances: Vec<InstancePlan>,
    /// Its members that are not instances (RDS, Aurora, ECS by
    /// `TierResourceTypes`, Auto Scaling groups by `ScaleToZero`), in the
    /// tier's kind order, then by id.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<members::MemberPlan>,
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
    /// Start: the keys of its encrypted EBS volumes that matter (customer
    /// managed, or with a problem), once the key check ran ([`keys`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<keys::KeyNote>,
    /// Start: the types tried in order when EC2 has no capacity for its
    /// own (its `SchedulerPreferredTypes` tag, else `TierFallbackTypes`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fallback_types: Vec<String>,
    /// The type it had before a capacity fallback (the scheduler's
    /// [`crate::instance::ORIGINAL_TYPE_TAG`]): a Start goes back to it
    /// first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_type: Option<String>,
    /// Its VPC (where its target groups are looked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    /// The registrations a drain removed and recorded on it: a Start puts
    /// them back, whatever the tier's `TierLoadBalancing`.
    #[serde(skip_serializing_if = "Registrations::is_empty")]
    pub registrations: Registrations,
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
    /// When the incomplete group last acted (ms since the epoch): the bound
    /// on confirming its starts counts from it, across continuations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acted_at_ms: Option<u64>,
}

impl Checkpoint {
    /// Marks what the earlier invocations did in a fresh plan of the same run.
    pub fn apply(&self, plan: &mut Plan) {
        plan.groups.retain(|g| !self.done_sequences.contains(&g.sequence));
        for tier in plan.groups.iter_mut().flat_map(|g| g.tiers.iter_mut()) {
            let acted_here = tier
                .instances
                .iter()
                .map(|i| &i.id)
                .chain(tier.members.iter().map(|d| &d.member));
            if acted_here.into_iter().any(|id| self.acted.contains(id)) {
                tier.acted_at_ms = self.acted_at_ms;
            }
            for db in tier.members.iter_mut().filter(|d| self.acted.contains(&d.member)) {
                db.step = Step::DoneEarlier {
                    reason: format!("{} by an earlier invocation of this run", plan.action.done()),
                };
            }
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
/// instances discovery returned, at `now` (seconds since the epoch, the
/// time expiring override tags are judged against). Pure: no clock, no I/O.
pub fn build(
    config: &WorkloadConfig,
    instances: &[Instance],
    action: Action,
    scaling_profile: Option<&str>,
    now: u64,
) -> Plan {
    let mut warnings: Vec<String> = config.warnings.iter().map(ToString::to_string).collect();
    let request = Request {
        action,
        profile: effective_profile(action, scaling_profile),
        now,
    };
    let mut by_tier = group_by_tier(instances);
    let (by_sequence, left_out) = plan_tiers(config, &mut by_tier, request, &mut warnings);
    let workload = &config.workload;
    Plan {
        workload: workload.spec_name.clone(),
        region: workload.region.clone(),
        action,
        scaling_profile: request
            .profile
            .filter(|p| config.tiers.iter().any(|t| t.scaling.contains_key(*p)))
            .map(str::to_string),
        account: workload.cross_account.as_ref().map(|c| AccountTarget {
            account_id: c.account_id.clone(),
            role_arn: c.role_arn.clone(),
        }),
        warnings,
        calendar_skip: None,
        disabled_reason: workload
            .scheduling_disabled
            .then(|| "DisableAllSchedulingActions is on: no action is taken for this workload".to_string()),
        state_skip: None,
        groups: order_groups(by_sequence),
        left_out,
        unmatched: unmatched(by_tier),
        alarms: Vec::new(),
        untrusted: Vec::new(),
    }
}

/// What the plan is built for: the action, the profile in force, the instant.
#[derive(Debug, Clone, Copy)]
struct Request<'a> {
    action: Action,
    profile: Option<&'a str>,
    now: u64,
}

/// What every instance of one tier is planned against.
struct TierContext<'a> {
    request: Request<'a>,
    tier: &'a TierSpec,
    spec: &'a ActionSpec,
    target: Option<&'a ScalingTarget>,
}

/// The workload's live instances (terminated ones aside) by tier tag value.
fn group_by_tier(instances: &[Instance]) -> BTreeMap<&str, Vec<&Instance>> {
    let mut by_tier: BTreeMap<&str, Vec<&Instance>> = BTreeMap::new();
    for instance in instances.iter().filter(|i| i.state != InstanceState::Terminated) {
        by_tier.entry(instance.tier.as_str()).or_default().push(instance);
    }
    by_tier
}

/// Plans every configured tier, taking its instances out of `by_tier`:
/// the tier plans by TierSequence, and the tiers left out.
fn plan_tiers<'a>(
    config: &'a WorkloadConfig,
    by_tier: &mut BTreeMap<&str, Vec<&Instance>>,
    request: Request<'a>,
    warnings: &mut Vec<String>,
) -> (BTreeMap<u64, Vec<TierPlan>>, Vec<LeftOut>) {
    let mut left_out = Vec::new();
    let mut by_sequence: BTreeMap<u64, Vec<TierPlan>> = BTreeMap::new();
    for tier in &config.tiers {
        let mut members = by_tier.remove(tier.name.as_str()).unwrap_or_default();
        if !tier.resource_types.contains(&MemberKind::Ec2) && !members.is_empty() {
            warnings.push(format!(
                "{} instance(s) carry the tier tag {} but its TierResourceTypes lists no EC2: left alone",
                members.len(),
                tier.name
            ));
            members.clear();
        }
        members.sort_by(|a, b| a.id.cmp(&b.id));
        match tier_part(tier, request.action) {
            Ok(spec) => {
                let plan = plan_tier(tier, spec, members, request, warnings);
                by_sequence.entry(spec.sequence).or_default().push(plan);
            }
            Err(reason) => left_out.push(LeftOut {
                tier: tier.name.clone(),
                reason,
                instances: members.len(),
            }),
        }
    }
    (by_sequence, left_out)
}

/// The tier's section for the action, or why the tier takes no part in it.
fn tier_part(tier: &TierSpec, action: Action) -> Result<&ActionSpec, String> {
    let section = match action {
        Action::Stop => "TierStop",
        Action::Start => "TierStart",
    };
    match tier.for_action(action) {
        None => Err(format!("no {section} section")),
        Some(spec) if spec.ignore => Err("TierStop.IgnoreStop is on: the tier is never stopped".into()),
        Some(spec) => Ok(spec),
    }
}

/// One tier's plan: a step for each member (sorted by id), then its FleetSubset.
fn plan_tier<'a>(
    tier: &'a TierSpec,
    spec: &'a ActionSpec,
    members: Vec<&Instance>,
    request: Request<'a>,
    warnings: &mut Vec<String>,
) -> TierPlan {
    let target = request.profile.and_then(|p| tier.scaling.get(p));
    let context = TierContext {
        request,
        tier,
        spec,
        target,
    };
    let mut instances: Vec<InstancePlan> = members
        .into_iter()
        .map(|i| plan_instance(i, &context, warnings))
        .collect();
    if let (Some(subset), Some(name)) = (target.and_then(|t| t.fleet_subset), request.profile) {
        apply_fleet_subset(&mut instances, subset, name);
    }
    TierPlan {
        tier: tier.name.clone(),
        sequence: spec.sequence,
        synchronous: spec.synchronous,
        override_check: spec.override_check.clone(),
        readiness: spec.readiness.clone(),
        start_rules: spec.start_rules.clone(),
        acted_at_ms: None,
        inter_tier_delay: spec.inter_tier_delay,
        load_balancing: spec.load_balancing,
        instances,
        members: Vec::new(),
    }
}

/// What happens to one instance of a tier, and what is done to it first.
fn plan_instance(i: &Instance, context: &TierContext, warnings: &mut Vec<String>) -> InstancePlan {
    let TierContext { spec, target, .. } = *context;
    let step = instance_step(i, context, warnings);
    let acts = acting(&step);
    let starts = acts && context.request.action == Action::Start;
    // A profile's type wins; else an instance left in a fallback type goes
    // back to the type it had.
    let original = i.type_tags.original.as_ref().filter(|_| starts);
    let target_type = target.and_then(|t| t.instance_type.as_ref()).or(original);
    InstancePlan {
        id: i.id.clone(),
        state: i.state,
        instance_type: i.instance_type.clone(),
        fallback_types: if starts {
            fallback_types(i, spec, warnings)
        } else {
            Vec::new()
        },
        original_type: original.cloned(),
        resize_to: target_type.filter(|t| acts && **t != i.instance_type).cloned(),
        unlimited_credits: target
            .filter(|t| acts && t.instance_type.is_some())
            .map(|t| t.unlimited_credits),
        ebs_optimized: i.ebs_optimized,
        check_override: acts && spec.override_check.is_some(),
        hibernate: acts && spec.hibernate && i.hibernation_configured,
        spot: i.spot,
        // Kept for every member in Suspend mode: a Start resumes the
        // processes of groups whose members were already running too.
        auto_scaling_group: i
            .auto_scaling_group
            .clone()
            .filter(|_| spec.auto_scaling == AutoScalingMode::Suspend),
        step,
        keys: Vec::new(),
        vpc_id: i.vpc_id.clone(),
        registrations: i.registrations.clone(),
    }
}

/// The types a start falls back to: the instance's preferred-types tag, or
/// its tier's `TierFallbackTypes`; a tag that does not read is a warning
/// and the tier's list applies.
fn fallback_types(i: &Instance, spec: &ActionSpec, warnings: &mut Vec<String>) -> Vec<String> {
    let tier_list = || {
        spec.start_rules
            .as_ref()
            .map(|r| r.fallback_types.clone())
            .unwrap_or_default()
    };
    match i.type_tags.preferred.as_deref().map(crate::config::instance_types) {
        Some(Ok(types)) => types,
        Some(Err(problems)) => {
            warnings.push(format!(
                "{}: its preferred-types tag is ignored ({}); the tier's TierFallbackTypes apply",
                i.id,
                problems.join("; ")
            ));
            tier_list()
        }
        None => tier_list(),
    }
}

/// The instance's step: by its state, unless its Auto Scaling group or its
/// override tag keeps it as it is; an ignored tag becomes a warning.
fn instance_step(i: &Instance, context: &TierContext, warnings: &mut Vec<String>) -> Step {
    let action = context.request.action;
    let mut step = step_for(action, i.state);
    if let (Some(group), true) = (&i.auto_scaling_group, acting(&step)) {
        if context.tier.holds_for(MemberKind::Asg, action) {
            step = Step::Skip {
                reason: format!(
                    "member of Auto Scaling group {group}: the tier scales groups, not their instances \
                     (TierAutoScalingGroups \"ScaleToZero\")"
                ),
            };
        } else if context.spec.auto_scaling == AutoScalingMode::Skip {
            step = Step::Skip {
                reason: format!(
                    "member of Auto Scaling group {group}: left alone (its group would replace a stopped member; \
                     TierAutoScalingGroups \"Suspend\" or \"ScaleToZero\" opts in)"
                ),
            };
        }
    }
    let (tag, reason) = match &i.override_tag {
        Some((tag, reason)) => (Some(tag.as_str()), reason.as_deref()),
        None => (None, None),
    };
    match override_tag::verdict(tag, reason, action, context.request.now) {
        TagVerdict::Keep(why) if acting(&step) => step = Step::Skip { reason: why },
        TagVerdict::Ignored(why) => warnings.push(format!("{}: {why}", i.id)),
        _ => {}
    }
    step
}

/// The step acts on the instance (now, or after a transition).
fn acting(step: &Step) -> bool {
    matches!(step, Step::Act | Step::WaitThenAct { .. })
}

/// Workload instances left in `by_tier`: no configured tier claimed them.
fn unmatched(by_tier: BTreeMap<&str, Vec<&Instance>>) -> Vec<Unmatched> {
    by_tier
        .into_iter()
        .flat_map(|(tag, list)| {
            list.into_iter().map(move |i| Unmatched {
                id: i.id.clone(),
                tier_tag: tag.to_string(),
            })
        })
        .collect()
}

/// Tier groups in TierSequence order, tiers by name, with their delays.
fn order_groups(by_sequence: BTreeMap<u64, Vec<TierPlan>>) -> Vec<TierGroup> {
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
    groups
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
}

pub mod keys;
pub mod members;
mod table;

#[cfg(test)]
mod tests;
