//! Readiness gates: the next tier begins only when this one is really up
//! (or down), polled for the whole tier at once with backoff. A [`Gate`]
//! holds its pacing and the one port its check reads ([`Reader`]), so it
//! runs, and is tested, on its own.

use std::collections::HashSet;

use super::budget::Pacing;
use super::targets::{TargetWatch, Targets};
use super::{TierEnd, STATUS_BATCH};
use crate::action::Action;
use crate::config::{Readiness, ReadinessOnTimeout};
use crate::ports::{Compute, RemoteCheck, StatusChecks};
use crate::summary::GateOutcome;

/// What a gate reads, by its check: the one port it needs.
pub(crate) enum Reader<'a> {
    /// `State`: instance states (Compute).
    State(&'a dyn Compute),
    /// `StatusChecks`: EC2 status checks.
    StatusChecks(&'a dyn StatusChecks),
    /// `SsmOnline`: the SSM agent's ping status.
    SsmOnline(&'a dyn RemoteCheck),
    /// `TargetsHealthy`: the instances' load balancer targets.
    TargetsHealthy(Targets<'a>),
}

/// One tier's readiness gate.
pub(crate) struct Gate<'a> {
    pub(crate) pacing: Pacing<'a>,
    pub(crate) action: Action,
    pub(crate) reader: Reader<'a>,
}

impl Gate<'_> {
    /// Polls `readiness` for `ids` until all are ready, the gate's timeout
    /// passes, or the budget runs out. For `TargetsHealthy`, an instance of
    /// `unrestored` (its recorded registrations could not be put back) is
    /// never ready.
    pub(crate) async fn wait(
        &self,
        tier: &str,
        readiness: &Readiness,
        ids: &[String],
        unrestored: &HashSet<String>,
    ) -> (GateOutcome, TierEnd) {
        let (limit, cut) = self.pacing.budget.cap(readiness.timeout);
        let mut pace = self.pacing.pacer(limit);
        let mut ready: HashSet<String> = HashSet::new();
        let mut targets = TargetWatch::default();
        targets.unrestored = unrestored.clone();
        loop {
            let waiting: Vec<String> = ids.iter().filter(|id| !ready.contains(*id)).cloned().collect();
            ready.extend(self.ready_now(&waiting, &mut targets).await);
            if ready.len() == ids.len() || !pace.wait().await {
                break;
            }
        }
        let not_ready: Vec<String> = ids.iter().filter(|id| !ready.contains(*id)).cloned().collect();
        let outcome = GateOutcome {
            check: readiness.check,
            ready: ready.len(),
            not_ready: not_ready.clone(),
            timed_out: !not_ready.is_empty(),
            waited_ms: pace.waited().as_millis() as u64,
            unused: targets.unused.into_iter().collect(),
        };
        (outcome, end_of(tier, readiness, &not_ready, cut, limit.as_secs()))
    }

    /// The subset of `ids` that meets the check now. Read errors count as
    /// not ready yet: the gate polls again.
    async fn ready_now(&self, ids: &[String], targets: &mut TargetWatch) -> Vec<String> {
        let mut ready = Vec::new();
        match &self.reader {
            Reader::State(compute) => {
                let want = self.action.target_state();
                match compute.states(ids).await {
                    Ok(states) => ready.extend(states.into_iter().filter(|s| s.state == want).map(|s| s.id)),
                    Err(e) => tracing::warn!(error = %e, "gate: reading states failed"),
                }
            }
            Reader::StatusChecks(checks) => {
                for chunk in ids.chunks(STATUS_BATCH) {
                    match checks.status_checks_ok(chunk).await {
                        Ok(list) => ready.extend(list.into_iter().filter(|(_, ok)| *ok).map(|(id, _)| id)),
                        Err(e) => tracing::warn!(error = %e, "gate: reading status checks failed"),
                    }
                }
            }
            Reader::TargetsHealthy(t) => ready = t.healthy(targets, ids).await,
            Reader::SsmOnline(remote) => {
                for chunk in ids.chunks(STATUS_BATCH) {
                    match remote.online(chunk).await {
                        Ok(list) => ready.extend(list.into_iter().filter(|(_, ok)| *ok).map(|(id, _)| id)),
                        Err(e) => tracing::warn!(error = %e, "gate: reading SSM agent status failed"),
                    }
                }
            }
        }
        ready
    }
}

/// How a gate ends: done when all are ready; at the deadline when the
/// budget cut it; else by the gate's `OnTimeout` (abort, or go on with a
/// warning).
fn end_of(tier: &str, readiness: &Readiness, not_ready: &[String], cut: bool, waited_secs: u64) -> TierEnd {
    if not_ready.is_empty() {
        TierEnd::Done
    } else if cut {
        TierEnd::Deadline(format!(
            "time ran out while tier {tier} waited for {:?} ({} not ready)",
            readiness.check,
            not_ready.len()
        ))
    } else if readiness.on_timeout == ReadinessOnTimeout::Abort {
        TierEnd::Abort(format!(
            "tier {tier} was not ready ({:?}) after {waited_secs}s: {}",
            readiness.check,
            not_ready.join(", ")
        ))
    } else {
        tracing::warn!(
            tier,
            not_ready = not_ready.len(),
            "readiness gate timed out; continuing"
        );
        TierEnd::Done
    }
}

#[cfg(test)]
mod tests;
