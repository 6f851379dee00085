//! Readiness gates: the next tier begins only when this one is really up (or
//! down), polled for the whole tier at once with backoff.

use std::collections::HashSet;

use super::targets::TargetWatch;
use super::{Execution, TierEnd, STATUS_BATCH};
use crate::config::{Readiness, ReadinessCheck, ReadinessOnTimeout};
use crate::summary::GateOutcome;

impl Execution<'_> {
    /// Polls `readiness` for `ids` until all are ready, the gate's timeout
    /// passes, or the budget runs out. For `TargetsHealthy`, an instance of
    /// `unrestored` (its recorded registrations could not be put back) is
    /// never ready.
    pub(crate) async fn gate(
        &self,
        tier: &str,
        readiness: &Readiness,
        ids: &[String],
        unrestored: &HashSet<String>,
    ) -> (GateOutcome, TierEnd) {
        let (limit, cut) = self.budget.cap(readiness.timeout);
        let mut pace = self.pacer(limit);
        let mut ready: HashSet<String> = HashSet::new();
        let mut targets = TargetWatch::default();
        targets.unrestored = unrestored.clone();
        loop {
            let waiting: Vec<String> = ids.iter().filter(|id| !ready.contains(*id)).cloned().collect();
            ready.extend(self.ready_now(readiness.check, &waiting, &mut targets).await);
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
        let end = if not_ready.is_empty() {
            TierEnd::Done
        } else if cut {
            TierEnd::Deadline(format!(
                "time ran out while tier {tier} waited for {:?} ({} not ready)",
                readiness.check,
                not_ready.len()
            ))
        } else if readiness.on_timeout == ReadinessOnTimeout::Abort {
            TierEnd::Abort(format!(
                "tier {tier} was not ready ({:?}) after {}s: {}",
                readiness.check,
                limit.as_secs(),
                not_ready.join(", ")
            ))
        } else {
            tracing::warn!(
                tier,
                not_ready = not_ready.len(),
                "readiness gate timed out; continuing"
            );
            TierEnd::Done
        };
        (outcome, end)
    }

    /// The subset of `ids` that meets `check` now. Read errors count as not
    /// ready yet: the gate polls again.
    async fn ready_now(&self, check: ReadinessCheck, ids: &[String], targets: &mut TargetWatch) -> Vec<String> {
        let mut ready = Vec::new();
        match check {
            ReadinessCheck::State => {
                let want = self.action.target_state();
                match self.compute.states(ids).await {
                    Ok(states) => ready.extend(states.into_iter().filter(|s| s.state == want).map(|s| s.id)),
                    Err(e) => tracing::warn!(error = %e, "gate: reading states failed"),
                }
            }
            ReadinessCheck::StatusChecks => {
                for chunk in ids.chunks(STATUS_BATCH) {
                    match self.status_checks.status_checks_ok(chunk).await {
                        Ok(list) => ready.extend(list.into_iter().filter(|(_, ok)| *ok).map(|(id, _)| id)),
                        Err(e) => tracing::warn!(error = %e, "gate: reading status checks failed"),
                    }
                }
            }
            ReadinessCheck::TargetsHealthy => ready = self.targets_healthy(targets, ids).await,
            ReadinessCheck::SsmOnline => {
                for chunk in ids.chunks(STATUS_BATCH) {
                    match self.remote.online(chunk).await {
                        Ok(list) => ready.extend(list.into_iter().filter(|(_, ok)| *ok).map(|(id, _)| id)),
                        Err(e) => tracing::warn!(error = %e, "gate: reading SSM agent status failed"),
                    }
                }
            }
        }
        ready
    }
}
