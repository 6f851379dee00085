//! Phase 4, the action on a tier's instances: one at a time (synchronous
//! tiers) or all at once in batches, with the instances acted on in a
//! special way (hibernated, Spot, with types to fall back to) and the starts
//! EC2 refused right after a type change tried again.

use std::collections::HashSet;

use tokio::time::Instant;

use super::super::{Execution, TierEnd};
use super::{fallback, BatchResult, TierRun};
use crate::action::Action;
use crate::error::ErrorKind;
use crate::summary::{Failure, Noted, PhaseKind, TierOutcome};

/// Rounds of StartInstances for a just-resized instance that EC2 refused:
/// the type change may not have propagated yet (why the original waits
/// ScaleInstanceDelay before starting).
const RESIZED_START_ROUNDS: u32 = 3;

/// Instances acted on in a special way.
pub(crate) struct Special {
    /// Hibernated instead of stopped.
    hibernate: HashSet<String>,
    /// Spot instances.
    spot: HashSet<String>,
    /// Instances with types to fall back to when EC2 has no capacity.
    fallback: Vec<fallback::Candidate>,
}

impl Execution<'_> {
    /// Phase 4, the action: on the instances left, one at a time
    /// (synchronous tiers) or in batches; when time already ran out, they
    /// are not done.
    pub(super) async fn act_on_tier(&self, run: &mut TierRun<'_>) {
        let acting_from = self.elapsed_ms();
        let ids: Vec<String> = run.todo.iter().map(|i| i.id.clone()).collect();
        if run.tier.synchronous && run.end == TierEnd::Done && !ids.is_empty() {
            self.wait_in_transit(run).await;
        }
        let acting = run.end == TierEnd::Done && !ids.is_empty();
        let special = Special {
            hibernate: run.todo.iter().filter(|i| i.hibernate).map(|i| i.id.clone()).collect(),
            spot: run.todo.iter().filter(|i| i.spot).map(|i| i.id.clone()).collect(),
            fallback: run
                .todo
                .iter()
                .filter(|i| !i.fallback_types.is_empty())
                .map(|i| {
                    let resized = run.resized_ok.contains(&i.id);
                    let now = i.resize_to.clone().filter(|_| resized);
                    fallback::Candidate::new(i, now.unwrap_or_else(|| i.instance_type.clone()))
                })
                .collect(),
        };
        if run.end == TierEnd::Done && !ids.is_empty() {
            if run.tier.synchronous {
                let rules = run.tier.start_rules.as_ref();
                run.end = self.act_one_by_one(&ids, &special, rules, &mut run.out).await;
            } else {
                self.act_all_at_once(run, &ids, &special).await;
            }
        } else if run.end != TierEnd::Done {
            run.out.not_done.extend(ids.iter().map(|id| Noted {
                id: id.clone(),
                reason: "time ran out before the action".into(),
            }));
        }
        if acting {
            // The last start was issued now: the confirmation bound counts
            // from here (a tier whose starts are throttled for longer than
            // the bound must not fail the ones started last).
            run.acted_at_ms = Some(crate::clock::now_ms());
            run.acted_at = Some(Instant::now());
        }
        if !ids.is_empty() && (run.end == TierEnd::Done || self.elapsed_ms() > acting_from) {
            run.out.phase(PhaseKind::Act, acting_from, self.elapsed_ms());
        }
    }

    /// Phase 4, tiers that are not synchronous: the whole tier in batches,
    /// refused starts of just-resized instances tried again.
    async fn act_all_at_once(&self, run: &mut TierRun<'_>, ids: &[String], special: &Special) {
        let mut result = self.act(ids, special, &mut run.out).await;
        self.retry_resized_starts(&mut result, &run.resized_ok).await;
        run.out.acted = result.ok;
        run.out.failed.extend(result.failed);
        if !result.not_done.is_empty() {
            run.end = TierEnd::Deadline(format!(
                "time ran out while {} tier {}",
                self.action.doing(),
                run.tier.tier
            ));
            run.out.not_done.extend(result.not_done.into_iter().map(|id| Noted {
                id,
                reason: "time ran out before this batch".into(),
            }));
        }
    }

    /// The action on `ids`: instances configured for hibernation (with
    /// `TierHibernate`) are hibernated, and stopped normally when EC2
    /// refuses the hibernation; a Spot instance EC2 cannot stop (one from a
    /// one-time request) is skipped with the reason instead of failing.
    pub(super) async fn act(&self, ids: &[String], special: &Special, out: &mut TierOutcome) -> BatchResult {
        let (hibernating, normal): (Vec<String>, Vec<String>) =
            ids.iter().cloned().partition(|id| special.hibernate.contains(id));
        let mut result = self.act_in_batches(&normal, false).await;
        if self.action == Action::Start && !special.fallback.is_empty() {
            self.fall_back(&mut result, &special.fallback, out).await;
        }
        if !hibernating.is_empty() {
            let hibernated = self.act_in_batches(&hibernating, true).await;
            out.hibernated.extend(hibernated.ok.iter().cloned());
            result.ok.extend(hibernated.ok);
            result.not_done.extend(hibernated.not_done);
            let (refused, other): (Vec<Failure>, Vec<Failure>) = hibernated
                .failed
                .into_iter()
                .partition(|f| ErrorKind::of(f.code.as_deref()) == ErrorKind::HibernationRefused);
            result.failed.extend(other);
            if !refused.is_empty() {
                let again: Vec<String> = refused.iter().map(|f| f.id.clone()).collect();
                out.hibernation_fallback.extend(refused.into_iter().map(|f| Noted {
                    id: f.id,
                    reason: format!("hibernation refused ({}); stopped normally", f.code.unwrap_or_default()),
                }));
                let normal = self.act_in_batches(&again, false).await;
                result.ok.extend(normal.ok);
                result.failed.extend(normal.failed);
                result.not_done.extend(normal.not_done);
            }
        }
        if self.action == Action::Stop {
            let (unstoppable, failed): (Vec<Failure>, Vec<Failure>) =
                std::mem::take(&mut result.failed).into_iter().partition(|f| {
                    special.spot.contains(&f.id) && ErrorKind::of(f.code.as_deref()) == ErrorKind::Unsupported
                });
            result.failed = failed;
            out.skipped.extend(unstoppable.into_iter().map(|f| Noted {
                id: f.id,
                reason: "Spot instance from a one-time request: EC2 cannot stop it".into(),
            }));
        }
        result
    }

    /// Starts refused for instances whose type just changed are tried
    /// again after ScaleInstanceDelay, a few rounds while time allows.
    async fn retry_resized_starts(&self, result: &mut BatchResult, resized: &HashSet<String>) {
        for _ in 0..RESIZED_START_ROUNDS {
            let (retry, keep): (Vec<Failure>, Vec<Failure>) = std::mem::take(&mut result.failed)
                .into_iter()
                .partition(|f| resized.contains(&f.id) && f.code.is_some());
            result.failed = keep;
            if retry.is_empty() {
                return;
            }
            let delay = self
                .config
                .workload
                .scale_instance_delay
                .max(self.settings.poll_initial);
            if self.budget.remaining() <= delay {
                result.failed.extend(retry);
                return;
            }
            tracing::info!(
                count = retry.len(),
                "start refused right after a type change; trying again"
            );
            tokio::time::sleep(delay).await;
            let ids: Vec<String> = retry.iter().map(|f| f.id.clone()).collect();
            let again = self.act_in_batches(&ids, false).await;
            result.ok.extend(again.ok);
            result.not_done.extend(again.not_done);
            result.failed.extend(again.failed);
        }
    }
}
