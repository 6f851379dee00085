//! The run loop: the plan's tier groups in order, the delays between them,
//! the checkpoint a continuation resumes from when time runs out, and the
//! run's conclusion.

use futures::future::join_all;

use crate::action::Action;
use crate::plan::{self, Checkpoint, Plan, TierGroup};
use crate::summary::{DelayWait, Noted, RunStatus, RunSummary, TierOutcome};

use super::{Execution, TierEnd};

/// Where a run stands between tier groups: the summary so far, what a
/// continuation needs, and why the run stopped, once it has.
struct Progress {
    summary: RunSummary,
    checkpoint: Checkpoint,
    stop: Option<TierEnd>,
}

/// The outcomes of a group's tiers when the run stopped before the group:
/// what the plan skipped stays skipped, the rest is not done.
fn not_reached(group: &TierGroup, end: &TierEnd) -> Vec<TierOutcome> {
    let reason = match end {
        TierEnd::Deadline(why) | TierEnd::Abort(why) => format!("not reached: {why}"),
        TierEnd::Done => unreachable!(),
    };
    let mut outcomes = Vec::new();
    for tier in &group.tiers {
        let mut outcome = TierOutcome::new(&tier.tier, tier.sequence, tier.synchronous);
        let members = tier.instances.iter().map(|i| (&i.id, &i.step));
        for (id, step) in members.chain(tier.members.iter().map(|d| (&d.member, &d.step))) {
            let noted = |reason: &String| Noted {
                id: id.clone(),
                reason: reason.clone(),
            };
            match step {
                plan::Step::Skip { reason } | plan::Step::DoneEarlier { reason } => outcome.skipped.push(noted(reason)),
                _ => outcome.not_done.push(noted(&reason)),
            }
        }
        outcomes.push(outcome);
    }
    outcomes
}

impl Execution<'_> {
    /// Runs the plan's tier groups in order, with the delays between them;
    /// returns the summary and, when time ran out, the checkpoint a
    /// continuation resumes from.
    pub(super) async fn execute(&self, plan: &Plan) -> (RunSummary, Option<Checkpoint>) {
        let mut progress = Progress {
            summary: RunSummary::for_plan(plan, false, RunStatus::Completed, String::new()),
            checkpoint: Checkpoint::default(),
            stop: None,
        };
        if self.action == Action::Stop {
            // Before the first tier acts: a stopping instance must not page.
            self.alarm_muting().mute(plan, &mut progress.summary).await;
        }
        let last = plan.groups.len().saturating_sub(1);
        for (index, group) in plan.groups.iter().enumerate() {
            if progress.stop.is_none() && self.budget.expired() {
                progress.stop = Some(TierEnd::Deadline(format!(
                    "time ran out before tier sequence {}",
                    group.sequence
                )));
            }
            if let Some(end) = &progress.stop {
                let outcomes = not_reached(group, end);
                if matches!(end, TierEnd::Abort(_)) {
                    // Final: no continuation will reach these tiers.
                    self.events.tiers_completed(&outcomes);
                }
                progress.summary.tiers.extend(outcomes);
                continue;
            }
            let acted = self.run_group(group, &mut progress).await;
            if progress.stop.is_some() {
                continue;
            }
            // The group is complete: a continuation never repeats it.
            progress.checkpoint.done_sequences.push(group.sequence);
            progress.checkpoint.acted.clear();
            progress.checkpoint.acted_at_ms = None;
            if index < last && acted && !group.delay_after.is_zero() {
                self.delay_after(group, &mut progress).await;
            }
        }
        let Progress {
            mut summary,
            checkpoint,
            stop,
        } = progress;
        let checkpoint = matches!(stop, Some(TierEnd::Deadline(_))).then_some(checkpoint);
        if self.action == Action::Start && checkpoint.is_none() && !self.keep_alarms_muted {
            // The run ends here, failures included: a failed Start must page.
            self.alarm_muting().unmute_all(plan, &mut summary).await;
        }
        self.report_untrusted(plan, &mut summary);
        (summary.status, summary.message) = self.conclusion(&summary, stop.as_ref());
        if self.action == Action::Stop && checkpoint.is_none() {
            self.alarm_muting().settle_after_stop(plan, &mut summary).await;
        }
        (summary, checkpoint)
    }

    /// One tier group: its tiers run side by side, their outcomes recorded.
    /// Returns whether the group acted on anything (now or in an earlier
    /// invocation).
    async fn run_group(&self, group: &TierGroup, progress: &mut Progress) -> bool {
        let results = join_all(group.tiers.iter().map(|t| self.run_tier(t))).await;
        // Instances and members an earlier invocation acted on count (they
        // are reported skipped now): the delay after a group resumed during
        // its gate or its confirmations is still owed.
        let mut acted = group.tiers.iter().any(|t| {
            let earlier = |step: &plan::Step| matches!(step, plan::Step::DoneEarlier { .. });
            t.instances.iter().any(|i| earlier(&i.step)) || t.members.iter().any(|d| earlier(&d.step))
        });
        // A tier the deadline cut is completed by the continuation.
        self.events.tiers_completed(
            results
                .iter()
                .filter(|(_, end)| !matches!(end, TierEnd::Deadline(_)))
                .map(|(result, _)| &result.outcome),
        );
        for (outcome, end) in results {
            acted |= !outcome.acted.is_empty();
            if let Some(at) = outcome.acted_at_ms {
                let last = progress.checkpoint.acted_at_ms.map_or(at, |was| was.max(at));
                progress.checkpoint.acted_at_ms = Some(last);
            }
            progress.checkpoint.acted.extend(outcome.acted.iter().cloned());
            progress
                .checkpoint
                .bypassed
                .extend(outcome.bypassed.iter().map(|b| (b.id.clone(), b.reason.clone())));
            progress.summary.notification_errors.extend(outcome.notification_errors);
            progress.summary.tiers.push(outcome.outcome);
            if end != TierEnd::Done && progress.stop.is_none() {
                progress.stop = Some(end);
            }
        }
        acted
    }

    /// The InterTierOrchestrationDelay after a complete group: slept
    /// through, or, when it is offloaded or does not fit in the time left,
    /// the run stops and a continuation resumes after it.
    async fn delay_after(&self, group: &TierGroup, progress: &mut Progress) {
        let delay = group.delay_after;
        let offload = self.settings.offload_delays_over.is_some_and(|limit| delay > limit);
        if offload || self.budget.remaining() < delay {
            progress.checkpoint.resume_after_secs = delay.as_secs_f64().ceil() as u64;
            progress.stop = Some(TierEnd::Deadline(format!(
                "the {} InterTierOrchestrationDelay after sequence {} {}",
                crate::config::show_secs(delay),
                group.sequence,
                if offload {
                    "is waited outside the function"
                } else {
                    "does not fit in the time left"
                }
            )));
        } else {
            let from = self.elapsed_ms();
            tokio::time::sleep(delay).await;
            progress.summary.delays.push(DelayWait {
                after_sequence: group.sequence,
                started_at_ms: from,
                duration_ms: self.elapsed_ms().saturating_sub(from),
            });
        }
    }

    /// The run's status and message, from its totals and why it stopped.
    /// A workload with other members counts "members", others "instances".
    fn conclusion(&self, summary: &RunSummary, stop: Option<&TierEnd>) -> (RunStatus, String) {
        let [acted, _, bypassed, failed, not_done] = summary.totals();
        let noun = if self.config.member_kinds().is_empty() {
            "instance(s)"
        } else {
            "member(s)"
        };
        let done = format!("{acted} {noun} {}", self.action.done());
        match stop {
            Some(TierEnd::Deadline(why)) => (
                RunStatus::DeadlineReached,
                format!("{why}; {done}, {not_done} not done"),
            ),
            Some(TierEnd::Abort(why)) => (RunStatus::Aborted, format!("{why}; {done}, {not_done} not done")),
            _ if failed > 0 => (
                RunStatus::CompletedWithFailures,
                format!("{done}, {bypassed} bypassed, {failed} failed"),
            ),
            _ if bypassed > 0 => (RunStatus::Completed, format!("{done}, {bypassed} bypassed")),
            _ => (RunStatus::Completed, done),
        }
    }
}
