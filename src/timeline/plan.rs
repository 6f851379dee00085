//! A plan laid out in time, with estimated durations: tiers of a group side
//! by side, each group's delay after it.

use super::{Bar, BarKind, Estimates, Timeline};
use crate::action::Action;
use crate::config::ReadinessCheck;
use crate::history::show_ms;
use crate::plan::{InstancePlan, Plan, Step, TierPlan};
use crate::summary::PhaseKind;

/// A planned step: what, how long (estimated), the text on its bar.
type PlannedStep = (PhaseKind, u64, String);

impl Timeline {
    /// The timeline a plan would take, with estimated durations (see
    /// [`Estimates`]): tiers of a group side by side, each group's delay
    /// after it.
    pub fn of_plan(plan: &Plan, estimates: &Estimates) -> Self {
        let mut t = Self::new(plan_title(plan), plan_subtitle(plan, estimates), true);
        let mut now = 0;
        for group in &plan.groups {
            let mut group_end = now;
            let mut lanes = Vec::new();
            for tier in &group.tiers {
                let lane = t.lane(&tier.tier);
                lanes.push(lane);
                let steps = planned_steps(tier, plan.action, estimates);
                group_end = group_end.max(t.push_planned_steps(lane, now, steps));
            }
            let delay = group.delay_after.as_millis() as u64;
            if delay > 0 {
                let label = format!("delay {}", show_ms(delay));
                t.push_delays(&lanes, group_end, group_end + delay, &label);
            }
            now = group_end + delay;
        }
        t
    }

    /// The steps one after the other in `lane` from `now`, leaving out
    /// those estimated at nothing; returns where the last one ends.
    fn push_planned_steps(&mut self, lane: usize, now: u64, steps: Vec<PlannedStep>) -> u64 {
        let mut at = now;
        for (kind, ms, label) in steps.into_iter().filter(|s| s.1 > 0) {
            self.bars.push(Bar {
                lane,
                kind: BarKind::Step(kind),
                start_ms: at,
                end_ms: at + ms,
                label,
                failed: false,
            });
            at += ms;
        }
        at
    }
}

/// `Stop W: plan (estimated durations)`.
fn plan_title(plan: &Plan) -> String {
    format!("{} {}: plan (estimated durations)", plan.action, plan.workload)
}

/// What the estimates assume.
fn plan_subtitle(plan: &Plan, estimates: &Estimates) -> String {
    format!(
        "estimates, not measurements: override check {}, {} {} per instance in a synchronous tier, \
         gates at their typical time; delays as configured",
        show_ms(estimates.override_check_ms),
        plan.action.verb(),
        show_ms(estimates.sync_instance_ms)
    )
}

/// The steps `tier` would take, in order; none when nothing in it is
/// acted on.
fn planned_steps(tier: &TierPlan, action: Action, estimates: &Estimates) -> Vec<PlannedStep> {
    let actionable: Vec<&InstancePlan> = tier.actionable().collect();
    let others = tier
        .members
        .iter()
        .filter(|d| matches!(d.step, Step::Act | Step::WaitThenAct { .. }))
        .count();
    let members = actionable.len() + others;
    if members == 0 {
        return Vec::new();
    }
    let mut steps = preparation_steps(
        &actionable,
        tier.load_balancing == crate::config::LoadBalancing::Drain,
        action,
        estimates,
    );
    steps.push(act_step(tier, members as u64, action, estimates));
    if action == Action::Start && !tier.synchronous {
        // Every start is confirmed running (a database available) before
        // the next tier; a synchronous tier already waited for each.
        steps.push((
            PhaseKind::Confirm,
            estimates.sync_instance_ms,
            format!("confirm {members} running"),
        ));
    }
    steps.extend(gate_step(tier, estimates));
    steps
}

/// What comes before acting: settling transitions, the override check
/// (stop), type changes (start).
fn preparation_steps(
    actionable: &[&InstancePlan],
    drains: bool,
    action: Action,
    estimates: &Estimates,
) -> Vec<PlannedStep> {
    let count = |keep: fn(&InstancePlan) -> bool| actionable.iter().filter(|i| keep(i)).count();
    let waiting = count(|i| matches!(i.step, Step::WaitThenAct { .. }));
    let checked = count(|i| i.check_override);
    let resized = count(|i| i.resize_to.is_some());
    let mut steps = Vec::new();
    if waiting > 0 {
        steps.push((
            PhaseKind::Settle,
            estimates.settle_ms,
            format!("{waiting} in transition"),
        ));
    }
    if action == Action::Stop && checked > 0 {
        let label = format!("override check ({checked})");
        steps.push((PhaseKind::OverrideCheck, estimates.override_check_ms, label));
    }
    let drained = actionable.first().is_some_and(|_| action == Action::Stop) && drains;
    if drained {
        steps.push((PhaseKind::Drain, estimates.drain_ms, "drain targets".into()));
    }
    if action == Action::Start && resized > 0 {
        steps.push((
            PhaseKind::Scale,
            estimates.scale_ms,
            format!("{resized} type change(s)"),
        ));
    }
    steps
}

/// Acting on `n` instances: one after the other in a synchronous tier,
/// else in batches.
fn act_step(tier: &TierPlan, n: u64, action: Action, estimates: &Estimates) -> PlannedStep {
    let ms = if tier.synchronous {
        n * estimates.sync_instance_ms
    } else {
        n.div_ceil(crate::ports::EC2_BATCH as u64) * estimates.batch_ms
    };
    (PhaseKind::Act, ms, format!("{n} to {}", action.verb()))
}

/// The readiness gate at its typical time, at most its timeout.
fn gate_step(tier: &TierPlan, estimates: &Estimates) -> Option<PlannedStep> {
    let readiness = tier.readiness.as_ref()?;
    let typical = match readiness.check {
        // A synchronous tier already waited for each state, and every
        // start was confirmed running.
        ReadinessCheck::State if tier.synchronous || tier.start_rules.is_some() => estimates.batch_ms,
        ReadinessCheck::State => estimates.sync_instance_ms,
        ReadinessCheck::StatusChecks => estimates.status_checks_ms,
        ReadinessCheck::SsmOnline => estimates.ssm_online_ms,
        ReadinessCheck::TargetsHealthy => estimates.targets_healthy_ms,
    };
    let ms = typical.min(readiness.timeout.as_millis() as u64);
    Some((PhaseKind::Gate, ms, format!("gate {:?}", readiness.check)))
}
