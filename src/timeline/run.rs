//! A recorded run laid out in time: each invocation's tiers, steps and
//! delays at their wall-clock offsets from the run's start.

use super::{Bar, BarKind, Marker, Timeline};
use crate::action::Action;
use crate::clock::show_utc;
use crate::history::{short_id, show_ms, status, took_ms};
use crate::ledger::{InvocationTrace, RunRecord, TierTrace};
use crate::member::MemberKind;
use crate::summary::PhaseKind;

impl Timeline {
    /// The timeline of a recorded run: each invocation's tiers, steps and
    /// delays at their wall-clock offsets from the run's start; an owed
    /// delay handed to a continuation spans the gap to the next invocation.
    pub fn of_run(record: &RunRecord) -> Self {
        let mut t = Self::new(run_title(record), run_subtitle(record), false);
        let Some(first) = record.history.first() else {
            return t;
        };
        let t0 = first.started_at_ms;
        for (index, trace) in record.history.iter().enumerate() {
            let base = trace.started_at_ms.saturating_sub(t0);
            if index > 0 {
                t.markers.push(Marker {
                    at_ms: base,
                    label: format!("invocation {} (continuation)", trace.invocation),
                });
            }
            t.push_tier_steps(trace, base, record.action);
            t.push_waited_delays(trace, base);
            let next = record
                .history
                .get(index + 1)
                .map(|n| n.started_at_ms.saturating_sub(t0));
            t.push_owed_delay(trace, base, next);
        }
        t
    }

    /// A bar per step of each tier of `trace`, begun `base` ms into the run.
    fn push_tier_steps(&mut self, trace: &InvocationTrace, base: u64, action: Action) {
        for tier in &trace.tiers {
            let lane = self.lane(&tier.tier);
            let mut kinds: Vec<MemberKind> = tier.phases.iter().filter_map(|p| p.member_kind).collect();
            kinds.sort();
            kinds.dedup();
            for (kind, start, duration, member_kind) in recorded_phases(tier) {
                let (mut label, failed) = step_label(tier, kind, action);
                // A tier of several kinds: each bar says whose it is.
                if let Some(member_kind) = member_kind.filter(|_| kinds.len() > 1) {
                    label = format!("{member_kind}: {label}");
                }
                self.bars.push(Bar {
                    lane,
                    kind: BarKind::Step(kind),
                    start_ms: base + start,
                    end_ms: base + start + duration,
                    label,
                    failed,
                });
            }
        }
    }

    /// The inter-tier delays `trace` waited, in the lanes of the tiers
    /// they followed.
    fn push_waited_delays(&mut self, trace: &InvocationTrace, base: u64) {
        for d in &trace.delays {
            let lanes = self.lanes_where(trace, |x| x.sequence == d.after_sequence);
            let start = base + d.started_at_ms;
            let label = format!("delay {}", show_ms(d.duration_ms));
            self.push_delays(&lanes, start, start + d.duration_ms, &label);
        }
    }

    /// The delay owed at hand-over, waited by the continuation's schedule:
    /// up to the next invocation (begun `next` ms into the run), or as
    /// long as it is while the continuation is pending.
    fn push_owed_delay(&mut self, trace: &InvocationTrace, base: u64, next: Option<u64>) {
        let Some(secs) = trace.resume_after_secs.filter(|s| *s > 0) else {
            return;
        };
        let last_sequence = trace.tiers.iter().filter(|x| x.not_done == 0).map(|x| x.sequence).max();
        let from = base + trace.duration_ms;
        let (to, label) = match next {
            Some(next) => (next, format!("delay {secs}s, waited outside the function")),
            None => (from + secs * 1000, format!("delay {secs}s, continuation pending")),
        };
        let lanes = self.lanes_where(trace, |x| Some(x.sequence) == last_sequence);
        self.push_delays(&lanes, from, to.max(from), &label);
    }

    /// The lanes of the tiers of `trace` that `pick` keeps.
    fn lanes_where(&self, trace: &InvocationTrace, pick: impl Fn(&TierTrace) -> bool) -> Vec<usize> {
        trace
            .tiers
            .iter()
            .filter(|x| pick(x))
            .map(|x| self.lane_of(&x.tier))
            .collect()
    }
}

/// `Stop W: run 1a2b3c4d`, and the maintenance window it was for.
fn run_title(record: &RunRecord) -> String {
    let window = record.maintenance_window.as_ref();
    format!(
        "{} {}: run {}{}",
        record.action,
        record.workload,
        short_id(&record.key),
        window.map(|w| format!(", for {}", w.describe())).unwrap_or_default()
    )
}

/// The status, invocations, duration, start and key of the run.
fn run_subtitle(record: &RunRecord) -> String {
    format!(
        "{} · {} invocation(s) · took {} · started {} UTC · {}",
        status(record),
        record.invocations,
        took_ms(record).map_or_else(|| "(still running)".into(), show_ms),
        show_utc(record.started_at),
        record.key
    )
}

/// The tier's steps as (kind, start, duration, the kind of members it was
/// about); a record written before phases were kept has one step for the
/// whole tier, if it acted.
fn recorded_phases(tier: &TierTrace) -> Vec<(PhaseKind, u64, u64, Option<MemberKind>)> {
    if tier.phases.is_empty() {
        let acted = tier.acted + tier.failed > 0;
        acted
            .then_some((PhaseKind::Act, tier.started_at_ms, tier.duration_ms, None))
            .into_iter()
            .collect()
    } else {
        tier.phases
            .iter()
            .map(|p| (p.kind, p.started_at_ms, p.duration_ms, p.member_kind))
            .collect()
    }
}

/// The text on a step's bar, and whether it is drawn as failed.
fn step_label(tier: &TierTrace, kind: PhaseKind, action: Action) -> (String, bool) {
    match kind {
        PhaseKind::Act => (act_label(tier, action), tier.failed > 0),
        PhaseKind::Gate if tier.gate_timed_out => ("gate timed out".into(), true),
        PhaseKind::Confirm if tier.failed > 0 => (format!("confirming starts, {} failed", tier.failed), true),
        PhaseKind::OverrideCheck if tier.bypassed > 0 => (format!("override check, {} kept", tier.bypassed), false),
        other => (BarKind::Step(other).legend().into(), false),
    }
}

/// `3 stopped, 1 failed, 2 not done`.
fn act_label(tier: &TierTrace, action: Action) -> String {
    let mut label = format!("{} {}", tier.acted, action.done());
    if tier.failed > 0 {
        label.push_str(&format!(", {} failed", tier.failed));
    }
    if tier.not_done > 0 {
        label.push_str(&format!(", {} not done", tier.not_done));
    }
    label
}
