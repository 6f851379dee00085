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
use crate::summary::{CreditChange, Failure, Noted, PhaseKind, Resize, TierOutcome};

/// Rounds of StartInstances for a just-resized instance that EC2 refused:
/// the type change may not have propagated yet (why the original waits
/// ScaleInstanceDelay before starting).
const RESIZED_START_ROUNDS: u32 = 3;

/// Tries for a batch that fails with a transient error (throttling that
/// outlasted the SDK's own retries, capacity at start).
const MAX_ATTEMPTS: u32 = 5;

/// Instances acted on in a special way.
pub(crate) struct Special {
    /// Hibernated instead of stopped.
    hibernate: HashSet<String>,
    /// Spot instances.
    spot: HashSet<String>,
}

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
            let from = self.elapsed_ms();
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
            out.phase(PhaseKind::Settle, from, self.elapsed_ms());
        }

        // 2. Override files: checked for the whole tier at once (not when the
        //    tier already ran out of time: those instances are "not done").
        let in_time = end == TierEnd::Done;
        if let (Action::Stop, Some(check), true) = (self.action, &tier.override_check, in_time) {
            let ids: Vec<String> = todo.iter().filter(|i| i.check_override).map(|i| i.id.clone()).collect();
            if !ids.is_empty() {
                let from = self.elapsed_ms();
                let bypassed = self.check_overrides(check, &ids).await;
                let bypassed_ids: HashSet<&str> = bypassed.iter().map(|b| b.id.as_str()).collect();
                todo.retain(|i| !bypassed_ids.contains(i.id.as_str()));
                let sent = futures::future::join_all(bypassed.iter().map(|b| self.notify_bypass(&tier.tier, b))).await;
                notification_errors.extend(sent.into_iter().flatten());
                out.bypassed = bypassed;
                out.phase(PhaseKind::OverrideCheck, from, self.elapsed_ms());
            }
        }

        // 3. Scaling profile: change types of stopped instances before start,
        //    only when they will be started in this invocation.
        let mut resized_ok: HashSet<String> = HashSet::new();
        if self.action == Action::Start && in_time {
            let from = self.elapsed_ms();
            (out.resized, out.credits) = self.scale(&todo).await;
            resized_ok.extend(out.resized.iter().filter(|r| r.error.is_none()).map(|r| r.id.clone()));
            if !resized_ok.is_empty() {
                // Once per tier, not per instance: StartInstances can fail
                // while a type change propagates.
                self.pause(self.config.workload.scale_instance_delay).await;
            }
            if !out.resized.is_empty() || !out.credits.is_empty() {
                out.phase(PhaseKind::Scale, from, self.elapsed_ms());
            }
        }

        // Auto Scaling members (Suspend mode): their groups' processes are
        // suspended first; a member whose group could not be suspended is
        // never stopped.
        if self.action == Action::Stop && in_time {
            let groups: Vec<String> = todo
                .iter()
                .filter_map(|i| i.auto_scaling_group.clone())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            if !groups.is_empty() {
                let from = self.elapsed_ms();
                let (changes, failed) = self.suspend_groups(&groups).await;
                todo.retain(|i| {
                    let blocked = i.auto_scaling_group.as_ref().is_some_and(|g| failed.contains(g));
                    if blocked {
                        out.failed.push(Failure {
                            id: i.id.clone(),
                            reason: format!(
                                "not stopped: the processes of its Auto Scaling group {} could not be suspended",
                                i.auto_scaling_group.as_deref().unwrap_or_default()
                            ),
                            code: None,
                        });
                    }
                    !blocked
                });
                out.auto_scaling = changes;
                out.phase(PhaseKind::AutoScaling, from, self.elapsed_ms());
            }
        }

        // 4. The action.
        let acting_from = self.elapsed_ms();
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
        let special = Special {
            hibernate: todo.iter().filter(|i| i.hibernate).map(|i| i.id.clone()).collect(),
            spot: todo.iter().filter(|i| i.spot).map(|i| i.id.clone()).collect(),
        };
        if end == TierEnd::Done && !ids.is_empty() {
            if tier.synchronous {
                end = self.act_one_by_one(&ids, &special, &mut out).await;
            } else {
                let mut result = self.act(&ids, &special, &mut out).await;
                self.retry_resized_starts(&mut result, &resized_ok).await;
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
            out.not_done.extend(ids.iter().map(|id| Noted {
                id: id.clone(),
                reason: "time ran out before the action".into(),
            }));
        }
        if !ids.is_empty() && (end == TierEnd::Done || self.elapsed_ms() > acting_from) {
            out.phase(PhaseKind::Act, acting_from, self.elapsed_ms());
        }

        // 5. Readiness gate before the next tier.
        if let (Some(readiness), TierEnd::Done) = (&tier.readiness, &end) {
            let gated: Vec<String> = out.acted.iter().chain(&done_earlier).cloned().collect();
            if !gated.is_empty() {
                let from = self.elapsed_ms();
                let (gate, gate_end) = self.gate(&tier.tier, readiness, &gated).await;
                out.phase(PhaseKind::Gate, from, self.elapsed_ms());
                out.gate = Some(gate);
                end = gate_end;
            }
        }

        // Auto Scaling members (Suspend mode) started and past the gate: the
        // processes the scheduler suspended are resumed.
        if self.action == Action::Start && end == TierEnd::Done {
            let groups = super::auto_scaling::members(tier);
            if !groups.is_empty() {
                let from = self.elapsed_ms();
                out.auto_scaling.extend(self.resume_groups(&groups).await);
                out.phase(PhaseKind::AutoScaling, from, self.elapsed_ms());
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

    async fn call(&self, ids: &[String], hibernate: bool) -> Result<(), CloudError> {
        match (self.action, hibernate) {
            (Action::Stop, true) => self.compute.hibernate(ids).await,
            (Action::Stop, false) => self.compute.stop(ids).await,
            (Action::Start, _) => self.compute.start(ids).await,
        }
    }

    /// The action on `ids`: instances configured for hibernation (with
    /// `TierHibernate`) are hibernated, and stopped normally when EC2
    /// refuses the hibernation; a Spot instance EC2 cannot stop (one from a
    /// one-time request) is skipped with the reason instead of failing.
    async fn act(&self, ids: &[String], special: &Special, out: &mut TierOutcome) -> BatchResult {
        let (hibernating, normal): (Vec<String>, Vec<String>) =
            ids.iter().cloned().partition(|id| special.hibernate.contains(id));
        let mut result = self.act_in_batches(&normal, false).await;
        if !hibernating.is_empty() {
            let hibernated = self.act_in_batches(&hibernating, true).await;
            out.hibernated.extend(hibernated.ok.iter().cloned());
            result.ok.extend(hibernated.ok);
            result.not_done.extend(hibernated.not_done);
            let (refused, other): (Vec<Failure>, Vec<Failure>) = hibernated
                .failed
                .into_iter()
                .partition(|f| f.code.as_deref().is_some_and(|c| c.contains("Hibernat")));
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
            let (unstoppable, failed): (Vec<Failure>, Vec<Failure>) = std::mem::take(&mut result.failed)
                .into_iter()
                .partition(|f| special.spot.contains(&f.id) && f.code.as_deref() == Some("UnsupportedOperation"));
            result.failed = failed;
            out.skipped.extend(unstoppable.into_iter().map(|f| Noted {
                id: f.id,
                reason: "Spot instance from a one-time request: EC2 cannot stop it".into(),
            }));
        }
        result
    }

    /// Stop/Start in batches of at most 500. A batch refused because of one
    /// instance is split in halves until the culprit stands alone, so the
    /// healthy instances proceed; transient errors are retried with backoff
    /// inside the budget.
    pub(crate) async fn act_in_batches(&self, ids: &[String], hibernate: bool) -> BatchResult {
        let mut result = BatchResult::default();
        let mut queue: VecDeque<(Vec<String>, u32)> = ids.chunks(EC2_BATCH).map(|c| (c.to_vec(), 1)).collect();
        while let Some((batch, attempt)) = queue.pop_front() {
            if self.budget.expired() {
                result.not_done.extend(batch);
                result.not_done.extend(queue.drain(..).flat_map(|(b, _)| b));
                break;
            }
            match self.call(&batch, hibernate).await {
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
    async fn act_one_by_one(&self, ids: &[String], special: &Special, out: &mut TierOutcome) -> TierEnd {
        let target = self.action.target_state();
        for (index, id) in ids.iter().enumerate() {
            let result = self.act(std::slice::from_ref(id), special, out).await;
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

    /// Sleeps for `delay`, cut to what the budget allows.
    async fn pause(&self, delay: Duration) {
        let (limit, _) = self.budget.cap(delay);
        tokio::time::sleep(limit).await;
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

    /// Applies the scaling profile to the instances about to start: the
    /// type (EbsOptimized turned off first when EC2 says the new type cannot
    /// have it) and, for burstable types, the CPU credit option (`.u`).
    async fn scale(&self, todo: &[&InstancePlan]) -> (Vec<Resize>, Vec<CreditChange>) {
        let scaled: Vec<&InstancePlan> = todo
            .iter()
            .copied()
            .filter(|i| i.resize_to.is_some() || i.unlimited_credits.is_some())
            .collect();
        if scaled.is_empty() {
            return (Vec::new(), Vec::new());
        }
        let final_type = |i: &InstancePlan| i.resize_to.clone().unwrap_or_else(|| i.instance_type.clone());
        let mut types: Vec<String> = scaled.iter().map(|i| final_type(i)).collect();
        types.sort();
        types.dedup();
        let facts: HashMap<String, crate::ports::TypeFacts> = match self.compute.type_facts(&types).await {
            Ok(list) => list.into_iter().map(|f| (f.instance_type.clone(), f)).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "DescribeInstanceTypes failed: EBS and credit options are left as they are");
                HashMap::new()
            }
        };

        let resized: Vec<Resize> = stream::iter(scaled.iter().filter_map(|i| i.resize_to.as_ref().map(|to| (*i, to))))
            .map(|(i, to)| {
                let clear_ebs = i.ebs_optimized && facts.get(to).is_some_and(|f| !f.ebs_optimizable);
                async move {
                    let mut error = None;
                    if clear_ebs {
                        error = self
                            .compute
                            .set_ebs_optimized(&i.id, false)
                            .await
                            .err()
                            .map(|e| format!("EbsOptimized could not be turned off for {to}: {e}"));
                    }
                    if error.is_none() {
                        error = self
                            .compute
                            .set_instance_type(&i.id, to)
                            .await
                            .err()
                            .map(|e| e.to_string());
                    }
                    Resize {
                        id: i.id.clone(),
                        from: i.instance_type.clone(),
                        to: to.clone(),
                        ebs_optimized_cleared: clear_ebs && error.is_none(),
                        error,
                    }
                }
            })
            .buffered(8)
            .collect()
            .await;

        // CPU credits: only for instances now of a burstable type, and only
        // where the option differs from what the profile asks.
        let failed_resize: HashSet<&str> = resized
            .iter()
            .filter(|r| r.error.is_some())
            .map(|r| r.id.as_str())
            .collect();
        let wanted: Vec<(String, bool)> = scaled
            .iter()
            .filter(|i| !failed_resize.contains(i.id.as_str()))
            .filter(|i| facts.get(&final_type(i)).is_some_and(|f| f.burstable))
            .filter_map(|i| i.unlimited_credits.map(|u| (i.id.clone(), u)))
            .collect();
        let mut credits = Vec::new();
        if wanted.is_empty() {
            return (resized, credits);
        }
        let ids: Vec<String> = wanted.iter().map(|(id, _)| id.clone()).collect();
        let current: HashMap<String, bool> = match self.compute.cpu_credits(&ids).await {
            Ok(list) => list.into_iter().collect(),
            Err(e) => {
                tracing::warn!(error = %e, "reading CPU credit options failed; setting them all");
                HashMap::new()
            }
        };
        let changes: Vec<(String, bool)> = wanted
            .into_iter()
            .filter(|(id, u)| current.get(id) != Some(u))
            .collect();
        if changes.is_empty() {
            return (resized, credits);
        }
        let name = |u: bool| if u { "unlimited" } else { "standard" }.to_string();
        match self.compute.set_cpu_credits(&changes).await {
            Ok(refused) => {
                for (id, u) in &changes {
                    credits.push(CreditChange {
                        id: id.clone(),
                        cpu_credits: name(*u),
                        error: refused.iter().find(|(r, _)| r == id).map(|(_, e)| e.clone()),
                    });
                }
            }
            Err(e) => credits.extend(changes.iter().map(|(id, u)| CreditChange {
                id: id.clone(),
                cpu_credits: name(*u),
                error: Some(e.to_string()),
            })),
        }
        (resized, credits)
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
