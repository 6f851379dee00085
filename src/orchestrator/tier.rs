//! One tier: transitions, override checks, type changes, the action itself
//! (batched or one at a time) and the readiness gate.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use futures::stream::{self, StreamExt};
use tokio::time::Instant;

use super::{Execution, TierEnd, TierResult, EC2_BATCH};
use crate::error::CloudError;
use crate::instance::InstanceState;
use crate::plan::{Action, InstancePlan, Step, TierPlan};
use crate::summary::{Failure, Noted, Resize, TierOutcome};

/// Tries for a batch that fails with a transient error (throttling that
/// outlasted the SDK's own retries, capacity at start).
const MAX_ATTEMPTS: u32 = 5;

/// What became of a list of ids sent to Stop/Start.
#[derive(Debug, Default)]
pub(crate) struct BatchResult {
    pub(crate) ok: Vec<String>,
    pub(crate) failed: Vec<Failure>,
    pub(crate) not_done: Vec<String>,
}

impl Execution<'_> {
    pub(crate) async fn run_tier(&self, tier: &TierPlan) -> (TierResult, TierEnd) {
        let began = Instant::now();
        let mut out = TierOutcome::new(&tier.tier, tier.sequence, tier.synchronous);
        out.started_at_ms = self.elapsed_ms();
        let mut notification_errors = Vec::new();
        let mut end = TierEnd::Done;

        let mut done_earlier = Vec::new();
        for i in &tier.instances {
            match &i.step {
                Step::Skip { reason } => out.skipped.push(Noted {
                    id: i.id.clone(),
                    reason: reason.clone(),
                }),
                Step::DoneEarlier { reason } => {
                    out.skipped.push(Noted {
                        id: i.id.clone(),
                        reason: reason.clone(),
                    });
                    done_earlier.push(i.id.clone());
                }
                _ => {}
            }
        }
        let mut todo: Vec<&InstancePlan> = tier.actionable().collect();

        // 1. Instances in transition (pending at stop, stopping at start) are
        //    waited out, then acted on like the others.
        let waiting: Vec<String> = todo
            .iter()
            .filter(|i| matches!(i.step, Step::WaitThenAct { .. }))
            .map(|i| i.id.clone())
            .collect();
        if !waiting.is_empty() {
            let settled = match self.action {
                Action::Stop => InstanceState::Running,
                Action::Start => InstanceState::Stopped,
            };
            let (limit, cut) = self.budget.cap(self.settings.state_timeout);
            let states = self.wait_for_states(&waiting, settled, limit).await;
            let mut dropped = HashSet::new();
            for id in &waiting {
                let state = states.get(id).copied();
                if state == Some(settled) {
                    continue;
                }
                dropped.insert(id.clone());
                let now = state.map(|s| s.to_string()).unwrap_or_else(|| "unknown".into());
                if state == Some(self.action.target_state()) {
                    out.skipped.push(Noted {
                        id: id.clone(),
                        reason: format!("reached {now} on its own"),
                    });
                } else if cut {
                    out.not_done.push(Noted {
                        id: id.clone(),
                        reason: format!("still {now} when time ran out"),
                    });
                    end = TierEnd::Deadline(format!(
                        "time ran out waiting for tier {} instances to settle",
                        tier.tier
                    ));
                } else {
                    out.failed.push(Failure {
                        id: id.clone(),
                        reason: format!("still {now} after {}s; not {}", limit.as_secs(), self.action.done()),
                        code: None,
                    });
                }
            }
            todo.retain(|i| !dropped.contains(&i.id));
        }

        // 2. Override files: checked for the whole tier at once (not when the
        //    tier already ran out of time: those instances are "not done").
        let in_time = end == TierEnd::Done;
        if let (Action::Stop, Some(check), true) = (self.action, &tier.override_check, in_time) {
            let ids: Vec<String> = todo.iter().filter(|i| i.check_override).map(|i| i.id.clone()).collect();
            if !ids.is_empty() {
                let bypassed = self.check_overrides(check, &ids).await;
                let bypassed_ids: HashSet<&str> = bypassed.iter().map(|b| b.id.as_str()).collect();
                todo.retain(|i| !bypassed_ids.contains(i.id.as_str()));
                let sent = futures::future::join_all(bypassed.iter().map(|b| self.notify_bypass(&tier.tier, b))).await;
                notification_errors.extend(sent.into_iter().flatten());
                out.bypassed = bypassed;
            }
        }

        // 3. Scaling profile: change types of stopped instances before start,
        //    only when they will be started in this invocation.
        if self.action == Action::Start && in_time {
            out.resized = self.resize(&todo).await;
        }

        // 4. The action.
        let ids: Vec<String> = todo.iter().map(|i| i.id.clone()).collect();
        if tier.synchronous && end == TierEnd::Done && !ids.is_empty() {
            // One at a time means: an instance already on its way (stopping at
            // Stop, pending at Start, or acted on by an earlier invocation) is
            // waited for before the next one is touched.
            let via = match self.action {
                Action::Stop => InstanceState::Stopping,
                Action::Start => InstanceState::Pending,
            };
            let in_transit: Vec<String> = tier
                .instances
                .iter()
                .filter(|i| i.state == via || done_earlier.contains(&i.id))
                .map(|i| i.id.clone())
                .collect();
            if !in_transit.is_empty() {
                let (limit, cut) = self.budget.cap(self.settings.state_timeout);
                let states = self
                    .wait_for_states(&in_transit, self.action.target_state(), limit)
                    .await;
                let settled = in_transit
                    .iter()
                    .all(|id| states.get(id) == Some(&self.action.target_state()));
                if !settled && cut {
                    end = TierEnd::Deadline(format!(
                        "time ran out in synchronous tier {} waiting for instances already {}",
                        tier.tier,
                        self.action.doing()
                    ));
                }
            }
        }
        if end == TierEnd::Done && !ids.is_empty() {
            if tier.synchronous {
                end = self.act_one_by_one(&ids, &mut out).await;
            } else {
                let result = self.act_in_batches(&ids).await;
                out.acted = result.ok;
                out.failed.extend(result.failed);
                if !result.not_done.is_empty() {
                    end = TierEnd::Deadline(format!("time ran out while {} tier {}", self.action.doing(), tier.tier));
                    out.not_done.extend(result.not_done.into_iter().map(|id| Noted {
                        id,
                        reason: "time ran out before this batch".into(),
                    }));
                }
            }
        } else if end != TierEnd::Done {
            out.not_done.extend(ids.into_iter().map(|id| Noted {
                id,
                reason: "time ran out before the action".into(),
            }));
        }

        // 5. Readiness gate before the next tier.
        if let (Some(readiness), TierEnd::Done) = (&tier.readiness, &end) {
            let gated: Vec<String> = out.acted.iter().chain(&done_earlier).cloned().collect();
            if !gated.is_empty() {
                let (gate, gate_end) = self.gate(&tier.tier, readiness, &gated).await;
                out.gate = Some(gate);
                end = gate_end;
            }
        }

        out.duration_ms = began.elapsed().as_millis() as u64;
        (
            TierResult {
                outcome: out,
                notification_errors,
            },
            end,
        )
    }

    async fn call(&self, ids: &[String]) -> Result<(), CloudError> {
        match self.action {
            Action::Stop => self.compute.stop(ids).await,
            Action::Start => self.compute.start(ids).await,
        }
    }

    /// Stop/Start in batches of at most 500. A batch refused because of one
    /// instance is split in halves until the culprit stands alone, so the
    /// healthy instances proceed; transient errors are retried with backoff
    /// inside the budget.
    pub(crate) async fn act_in_batches(&self, ids: &[String]) -> BatchResult {
        let mut result = BatchResult::default();
        let mut queue: VecDeque<(Vec<String>, u32)> = ids.chunks(EC2_BATCH).map(|c| (c.to_vec(), 1)).collect();
        while let Some((batch, attempt)) = queue.pop_front() {
            if self.budget.expired() {
                result.not_done.extend(batch);
                result.not_done.extend(queue.drain(..).flat_map(|(b, _)| b));
                break;
            }
            match self.call(&batch).await {
                Ok(()) => result.ok.extend(batch),
                Err(e) if batch.len() > 1 && e.is_instance_specific() => {
                    let (left, right) = batch.split_at(batch.len() / 2);
                    queue.push_front((right.to_vec(), attempt));
                    queue.push_front((left.to_vec(), attempt));
                }
                // Throttling is retried for as long as the budget lasts (the
                // account's token bucket refills, e.g. StartInstances at 2
                // instances/s); other transient errors (capacity) a few times.
                Err(e) if e.is_transient() && (e.is_throttling() || attempt < MAX_ATTEMPTS) => {
                    let pause = backoff(self.settings.poll_initial, self.settings.poll_max, attempt);
                    if self.budget.remaining() <= pause {
                        // Not a failure: time ran out. A continuation picks these up.
                        result.not_done.extend(batch);
                        result.not_done.extend(queue.drain(..).flat_map(|(b, _)| b));
                        break;
                    }
                    tracing::info!(error = %e, attempt, "transient error, retrying batch of {}", batch.len());
                    tokio::time::sleep(pause).await;
                    queue.push_front((batch, attempt + 1));
                }
                Err(e) => result.failed.extend(failures(&batch, &e)),
            }
        }
        result
    }

    /// Synchronous tiers: one instance at a time, each waited for.
    async fn act_one_by_one(&self, ids: &[String], out: &mut TierOutcome) -> TierEnd {
        let target = self.action.target_state();
        for (index, id) in ids.iter().enumerate() {
            let result = self.act_in_batches(std::slice::from_ref(id)).await;
            out.failed.extend(result.failed);
            if !result.not_done.is_empty() {
                out.not_done.extend(ids[index..].iter().map(|id| Noted {
                    id: id.clone(),
                    reason: "time ran out before its turn".into(),
                }));
                return TierEnd::Deadline(format!("time ran out in synchronous tier {}", out.tier));
            }
            if result.ok.is_empty() {
                continue;
            }
            out.acted.push(id.clone());
            let (limit, cut) = self.budget.cap(self.settings.state_timeout);
            let states = self.wait_for_states(std::slice::from_ref(id), target, limit).await;
            if states.get(id) == Some(&target) {
                continue;
            }
            let now = states
                .get(id)
                .map(|s| s.to_string())
                .unwrap_or_else(|| "unknown".into());
            if cut {
                out.not_done.extend(ids[index + 1..].iter().map(|id| Noted {
                    id: id.clone(),
                    reason: "time ran out before its turn".into(),
                }));
                return TierEnd::Deadline(format!(
                    "time ran out in synchronous tier {} waiting for {id} (still {now})",
                    out.tier
                ));
            }
            // Issued but not confirmed: report it and go on with the next one.
            out.failed.push(Failure {
                id: id.clone(),
                reason: format!(
                    "{} issued, but still {now} after {}s",
                    self.action.verb(),
                    limit.as_secs()
                ),
                code: None,
            });
            out.acted.retain(|a| a != id);
        }
        TierEnd::Done
    }

    /// Applies the scaling profile to the instances about to start.
    async fn resize(&self, todo: &[&InstancePlan]) -> Vec<Resize> {
        let jobs = todo.iter().filter_map(|i| i.resize_to.as_ref().map(|to| (*i, to)));
        stream::iter(jobs)
            .map(|(i, to)| async move {
                let error = self
                    .compute
                    .set_instance_type(&i.id, to)
                    .await
                    .err()
                    .map(|e| e.to_string());
                Resize {
                    id: i.id.clone(),
                    from: i.instance_type.clone(),
                    to: to.clone(),
                    error,
                }
            })
            .buffered(8)
            .collect()
            .await
    }

    /// Polls until every instance is in `want`, or `limit` passes. Returns the
    /// last state seen of each instance. Instances that end up terminated stop
    /// being polled.
    pub(crate) async fn wait_for_states(
        &self,
        ids: &[String],
        want: InstanceState,
        limit: Duration,
    ) -> HashMap<String, InstanceState> {
        let mut seen: HashMap<String, InstanceState> = HashMap::new();
        let mut pending: Vec<String> = ids.to_vec();
        let began = Instant::now();
        let mut attempt = 1;
        loop {
            // The adapter pages; one call per poll here.
            match self.compute.states(&pending).await {
                Ok(states) => seen.extend(states),
                Err(e) => tracing::warn!(error = %e, "reading instance states failed; will poll again"),
            }
            pending.retain(|id| !matches!(seen.get(id), Some(s) if *s == want || matches!(s, InstanceState::Terminated | InstanceState::ShuttingDown)));
            let waited = began.elapsed();
            if pending.is_empty() || waited >= limit {
                return seen;
            }
            let pause = backoff(self.settings.poll_initial, self.settings.poll_max, attempt).min(limit - waited);
            tokio::time::sleep(pause).await;
            attempt += 1;
        }
    }
}

/// Exponential backoff: `initial * 2^(attempt-1)`, at most `max`.
pub(crate) fn backoff(initial: Duration, max: Duration, attempt: u32) -> Duration {
    initial.saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(max)
}

fn failures(ids: &[String], e: &CloudError) -> Vec<Failure> {
    let reason = e.to_string();
    ids.iter()
        .map(|id| Failure {
            id: id.clone(),
            reason: reason.clone(),
            code: e.code.clone(),
        })
        .collect()
}
