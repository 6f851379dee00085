//! One tier's part of the plan: its settings for the action, its instances
//! (sorted by id, each with its step) and the FleetSubset of a profile.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::checkpoint::EARLIER_BYPASS;
use super::instance::{plan_instance, TierContext};
use super::{members, InstancePlan, LeftOut, Request, Step};
use crate::action::Action;
use crate::config::{show_secs, ActionSpec, LoadBalancing, Readiness, StartRules, TierSpec, WorkloadConfig};
use crate::instance::{Instance, InstanceState};
use crate::member::MemberKind;
use crate::override_check::OverrideCheck;

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
    /// (ms since the epoch; see [`Checkpoint::acted_at_ms`](super::Checkpoint::acted_at_ms)).
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

    /// Instances and other members an earlier invocation of the run acted
    /// on or bypassed: a continuation reports them as skipped, but they
    /// are not news.
    pub fn carried_over(&self) -> usize {
        self.instances
            .iter()
            .filter(|i| match &i.step {
                Step::DoneEarlier { .. } => true,
                Step::Skip { reason } => reason.starts_with(EARLIER_BYPASS),
                _ => false,
            })
            .count()
            + self
                .members
                .iter()
                .filter(|d| matches!(d.step, Step::DoneEarlier { .. }))
                .count()
    }
}

/// The workload's live instances (terminated ones aside) by tier tag value.
pub(super) fn group_by_tier(instances: &[Instance]) -> BTreeMap<&str, Vec<&Instance>> {
    let mut by_tier: BTreeMap<&str, Vec<&Instance>> = BTreeMap::new();
    for instance in instances.iter().filter(|i| i.state != InstanceState::Terminated) {
        by_tier.entry(instance.tier.as_str()).or_default().push(instance);
    }
    by_tier
}

/// Plans every configured tier, taking its instances out of `by_tier`:
/// the tier plans by TierSequence, and the tiers left out.
pub(super) fn plan_tiers<'a>(
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
                reason: reason.to_string(),
                instances: members.len(),
            }),
        }
    }
    (by_sequence, left_out)
}

/// Why a tier takes no part in the action (its `LeftOut` reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum NoPart {
    /// The tier has no section for the action (the section's name).
    #[error("no {0} section")]
    NoSection(&'static str),
    /// `TierStop.IgnoreStop` is on.
    #[error("TierStop.IgnoreStop is on: the tier is never stopped")]
    IgnoreStop,
}

/// The tier's section for the action, or why the tier takes no part in it.
fn tier_part(tier: &TierSpec, action: Action) -> Result<&ActionSpec, NoPart> {
    let section = match action {
        Action::Stop => "TierStop",
        Action::Start => "TierStart",
    };
    match tier.for_action(action) {
        None => Err(NoPart::NoSection(section)),
        Some(spec) if spec.ignore => Err(NoPart::IgnoreStop),
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
    warnings.extend(short_confirmation(tier, spec.start_rules.as_ref()));
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

/// An explicit `TierStartConfirmTimeout` applies to every kind of the
/// tier: the warning when it is shorter than the default of a member kind
/// other than EC2 the tier starts (a database may take more than ten
/// minutes to start; a bound below EC2's 300 s was always the tier's call).
fn short_confirmation(tier: &TierSpec, rules: Option<&StartRules>) -> Option<String> {
    let rules = rules?;
    let set = rules.confirm_timeout?;
    let kinds: Vec<MemberKind> = MemberKind::ALL
        .into_iter()
        .filter(|k| *k != MemberKind::Ec2 && tier.holds_for(*k, Action::Start))
        .collect();
    let below = rules.bound_below_defaults(&kinds);
    if below.is_empty() {
        return None;
    }
    let defaults: Vec<String> = below
        .iter()
        .map(|(kind, default)| format!("{kind} {}", show_secs(*default)))
        .collect();
    Some(format!(
        "tier {}: TierStartConfirmTimeout {} applies to every kind of the tier and is below the default \
         confirmation bound of {}: a start that takes longer counts as failed",
        tier.name,
        show_secs(set),
        defaults.join(", ")
    ))
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
