//! One instance's part of the plan: its step and the reason for it (its
//! state, its Auto Scaling group, its override tag), and what is done to it
//! first (type, CPU credits, fallback types, hibernation, override check).

use serde::Serialize;

use super::{keys, Request};
use crate::action::Action;
use crate::config::{ActionSpec, AutoScalingMode, ScalingTarget, TierSpec};
use crate::instance::{Instance, InstanceState};
use crate::member::MemberKind;
use crate::override_tag::{self, TagVerdict};
use crate::traffic::Registrations;

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

/// What every instance of one tier is planned against.
pub(super) struct TierContext<'a> {
    pub(super) request: Request<'a>,
    pub(super) tier: &'a TierSpec,
    pub(super) spec: &'a ActionSpec,
    pub(super) target: Option<&'a ScalingTarget>,
}

/// What happens to one instance of a tier, and what is done to it first.
pub(super) fn plan_instance(i: &Instance, context: &TierContext, warnings: &mut Vec<String>) -> InstancePlan {
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
pub(super) fn acting(step: &Step) -> bool {
    matches!(step, Step::Act | Step::WaitThenAct { .. })
}

/// The step an instance in `state` calls for.
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
