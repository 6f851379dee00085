//! One tier: transitions, override checks, type changes, the action itself
//! (batched or one at a time) and the readiness gate.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use super::budget::{backoff, Pacer};
use super::members::MemberOutcome;
use super::{Execution, TierEnd, TierResult, EC2_BATCH};
use crate::action::Action;
use crate::config::StartRules;
use crate::error::CloudError;
use crate::instance::InstanceState;
use crate::member::MemberKind;
use crate::plan::{InstancePlan, Step, TierPlan};
use crate::summary::{Failure, Noted, PhaseKind, TierOutcome};

mod confirm;
mod fallback;
mod traffic;

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
    /// Instances with types to fall back to when EC2 has no capacity.
    fallback: Vec<fallback::Candidate>,
}

/// What became of a list of ids sent to Stop/Start.
#[derive(Debug, Default)]
pub(crate) struct BatchResult {
    pub(crate) ok: Vec<String>,
    pub(crate) failed: Vec<Failure>,
    pub(crate) not_done: Vec<String>,
}

/// One tier in progress: its plan, the instances still to act on and the
/// outcome so far, handed from phase to phase by [`Execution::run_tier`].
struct TierRun<'t> {
    tier: &'t TierPlan,
    /// When the tier began (its duration counts from here).
    began: Instant,
    /// Instances still to act on.
    todo: Vec<&'t InstancePlan>,
    /// Instances an earlier invocation acted on.
    done_earlier: Vec<String>,
    /// Instances whose type changed without error in this invocation.
    resized_ok: HashSet<String>,
    out: TierOutcome,
    notification_errors: Vec<String>,
    end: TierEnd,
    /// When the tier last acted (ms since the epoch), in this invocation or
    /// an earlier one: what the checkpoint keeps.
    acted_at_ms: Option<u64>,
    /// The same moment on the runtime's clock, which measures the
    /// confirmation bound within this invocation.
    acted_at: Option<Instant>,
    /// The registrations this run's drain removed, per instance.
    drained: std::collections::BTreeMap<String, crate::traffic::Registrations>,
    /// Instances whose recorded registrations could not be put back: not
    /// ready for a `TargetsHealthy` gate.
    unrestored: HashSet<String>,
}

/// How waiting for one instance of a synchronous tier ended.
enum Waited {
    /// It reached the action's target state.
    Reached,
    /// It will not: a start that fell back, or no arrival within the bound.
    Failed(Failure),
    /// Time ran out first; it was still in the state named.
    Cut(String),
}

impl<'t> TierRun<'t> {
    /// Start of a tier: instances the plan skips or an earlier invocation
    /// did are noted, the actionable ones are to do.
    fn begin(tier: &'t TierPlan, began: Instant, started_at_ms: u64) -> Self {
        let mut out = TierOutcome::new(&tier.tier, tier.sequence, tier.synchronous);
        out.started_at_ms = started_at_ms;
        let mut done_earlier = Vec::new();
        for i in &tier.instances {
            if let Some(why) = i.key_refusal() {
                // A volume's key EC2 cannot use: the start would fall back.
                out.failed.push(Failure {
                    id: i.id.clone(),
                    reason: why,
                    code: Some("KmsKeyUnusable".into()),
                });
                continue;
            }
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
        Self {
            tier,
            began,
            todo: tier.actionable().filter(|i| i.key_refusal().is_none()).collect(),
            done_earlier,
            resized_ok: HashSet::new(),
            drained: Default::default(),
            unrestored: HashSet::new(),
            out,
            notification_errors: Vec::new(),
            end: TierEnd::Done,
            acted_at_ms: tier.acted_at_ms,
            acted_at: tier.acted_at_ms.map(|ms| {
                let ago = Duration::from_millis(crate::clock::now_ms().saturating_sub(ms));
                began.checked_sub(ago).unwrap_or(began)
            }),
        }
    }

    /// End of a tier: the outcome with its duration, and how the tier ended.
    fn finish(mut self) -> (TierResult, TierEnd) {
        self.out.duration_ms = self.began.elapsed().as_millis() as u64;
        (
            TierResult {
                outcome: self.out,
                notification_errors: self.notification_errors,
                acted_at_ms: self.acted_at_ms,
            },
            self.end,
        )
    }
}

impl Execution<'_> {
    /// Runs one tier, phase by phase: transitions settled, override files
    /// checked (Stop), scaling profile applied (Start), Auto Scaling
    /// processes suspended (Stop), the action, the readiness gate, and Auto
    /// Scaling processes resumed (Start).
    pub(crate) async fn run_tier(&self, tier: &TierPlan) -> (TierResult, TierEnd) {
        let began = Instant::now();
        let run = TierRun::begin(tier, began, self.elapsed_ms());
        let (mut run, members) = self.instances_and_members(tier, run).await;
        members.merge_into(&mut run.out, &mut run.end);
        self.abort_on_start_failure(&mut run);
        self.readiness_gate(&mut run).await;
        self.resume_tier_groups(&mut run).await;
        run.finish()
    }

    /// The tier's instances and its other members: together, or in a
    /// synchronous tier one after the other in the tier's kind order (the
    /// members of kinds listed before `EC2` first).
    async fn instances_and_members<'t>(&self, tier: &'t TierPlan, run: TierRun<'t>) -> (TierRun<'t>, MemberOutcome) {
        if !tier.synchronous {
            return tokio::join!(self.run_instances(run), self.run_members(&tier.members, false));
        }
        let spec = self.config.tiers.iter().find(|t| t.name == tier.tier);
        let ec2 = spec.map(|s| s.order_of(MemberKind::Ec2)).unwrap_or_default();
        let split = tier
            .members
            .iter()
            .position(|m| spec.map(|s| s.order_of(m.kind)).unwrap_or_default() > ec2)
            .unwrap_or(tier.members.len());
        let (before, after) = tier.members.split_at(split);
        let first = self.run_members(before, true).await;
        let run = self.run_instances(run).await;
        let then = self.run_members(after, true).await;
        (run, first.and(then))
    }

    /// Phases 1 to 5 for the tier's instances: transitions settled,
    /// override files checked (Stop) or the scaling profile applied
    /// (Start), Auto Scaling processes suspended (Stop), the action, and
    /// the starts confirmed.
    async fn run_instances<'t>(&self, mut run: TierRun<'t>) -> TierRun<'t> {
        self.settle_transitions(&mut run).await;
        // Not when the tier already ran out of time: those instances are
        // "not done".
        if run.end == TierEnd::Done {
            match self.action {
                Action::Stop => {
                    self.check_tier_overrides(&mut run).await;
                    self.suspend_tier_groups(&mut run).await;
                    self.drain_tier(&mut run).await;
                }
                Action::Start => self.apply_scaling_profile(&mut run).await,
            }
        }
        self.act_on_tier(&mut run).await;
        if !run.tier.synchronous {
            let started: Vec<String> = run.out.acted.iter().chain(&run.done_earlier).cloned().collect();
            self.confirm_starts(&mut run, started).await;
        }
        match self.action {
            Action::Start => {
                self.forget_original_types(&mut run).await;
                self.reregister_tier(&mut run).await;
            }
            Action::Stop => self.reregister_failed_stops(&mut run).await,
        }
        run
    }

    /// Phase 1, transitions: instances in transition (pending at Stop,
    /// stopping at Start) are waited out, then acted on like the others.
    async fn settle_transitions(&self, run: &mut TierRun<'_>) {
        let waiting: Vec<String> = run
            .todo
            .iter()
            .filter(|i| matches!(i.step, Step::WaitThenAct { .. }))
            .map(|i| i.id.clone())
            .collect();
        if waiting.is_empty() {
            return;
        }
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
            self.note_unsettled(run, id, state, limit, cut);
        }
        run.todo.retain(|i| !dropped.contains(&i.id));
        run.out.phase(PhaseKind::Settle, from, self.elapsed_ms());
    }

    /// Phase 1, one instance that did not settle: skipped when it reached
    /// the target on its own, not done when time ran out, failed otherwise.
    fn note_unsettled(
        &self,
        run: &mut TierRun<'_>,
        id: &str,
        state: Option<InstanceState>,
        limit: Duration,
        cut: bool,
    ) {
        let now = state.map(|s| s.to_string()).unwrap_or_else(|| "unknown".into());
        if state == Some(self.action.target_state()) {
            run.out.skipped.push(Noted {
                id: id.to_string(),
                reason: format!("reached {now} on its own"),
            });
        } else if cut {
            run.out.not_done.push(Noted {
                id: id.to_string(),
                reason: format!("still {now} when time ran out"),
            });
            run.end = TierEnd::Deadline(format!(
                "time ran out waiting for tier {} instances to settle",
                run.tier.tier
            ));
        } else {
            run.out.failed.push(Failure {
                id: id.to_string(),
                reason: format!("still {now} after {}s; not {}", limit.as_secs(), self.action.done()),
                code: None,
            });
        }
    }

    /// Phase 2 at Stop, override files: checked for the whole tier at once;
    /// the bypassed instances are left out and notified.
    async fn check_tier_overrides(&self, run: &mut TierRun<'_>) {
        let Some(check) = &run.tier.override_check else {
            return;
        };
        let ids: Vec<String> = run
            .todo
            .iter()
            .filter(|i| i.check_override)
            .map(|i| i.id.clone())
            .collect();
        if ids.is_empty() {
            return;
        }
        let from = self.elapsed_ms();
        let bypassed = self.check_overrides(check, &ids).await;
        let bypassed_ids: HashSet<&str> = bypassed.iter().map(|b| b.id.as_str()).collect();
        run.todo.retain(|i| !bypassed_ids.contains(i.id.as_str()));
        let sent = futures::future::join_all(bypassed.iter().map(|b| self.notify_bypass(&run.tier.tier, b))).await;
        run.notification_errors.extend(sent.into_iter().flatten());
        run.out.bypassed = bypassed;
        run.out.phase(PhaseKind::OverrideCheck, from, self.elapsed_ms());
    }

    /// Phase 3 at Start, scaling profile: types of stopped instances are
    /// changed before start, only when they will be started in this
    /// invocation.
    async fn apply_scaling_profile(&self, run: &mut TierRun<'_>) {
        let from = self.elapsed_ms();
        (run.out.resized, run.out.credits) = self.scale(&run.todo).await;
        run.resized_ok.extend(
            run.out
                .resized
                .iter()
                .filter(|r| r.error.is_none())
                .map(|r| r.id.clone()),
        );
        if !run.resized_ok.is_empty() {
            // Once per tier, not per instance: StartInstances can fail
            // while a type change propagates.
            self.pause(self.config.workload.scale_instance_delay).await;
        }
        if !run.out.resized.is_empty() || !run.out.credits.is_empty() {
            run.out.phase(PhaseKind::Scale, from, self.elapsed_ms());
        }
    }

    /// Phase 3 at Stop, Auto Scaling members (Suspend mode): their groups'
    /// processes are suspended first; a member whose group could not be
    /// suspended is never stopped.
    async fn suspend_tier_groups(&self, run: &mut TierRun<'_>) {
        let groups: Vec<String> = run
            .todo
            .iter()
            .filter_map(|i| i.auto_scaling_group.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if groups.is_empty() {
            return;
        }
        let from = self.elapsed_ms();
        let (changes, failed) = self.suspend_groups(&groups).await;
        let out = &mut run.out;
        run.todo.retain(|i| {
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
        run.out.auto_scaling = changes;
        run.out.phase(PhaseKind::AutoScaling, from, self.elapsed_ms());
    }

    /// Phase 4, the action: on the instances left, one at a time
    /// (synchronous tiers) or in batches; when time already ran out, they
    /// are not done.
    async fn act_on_tier(&self, run: &mut TierRun<'_>) {
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

    /// Phase 4, before a synchronous tier acts: an instance already on its
    /// way (stopping at Stop, pending at Start, or acted on by an earlier
    /// invocation) is waited for before the next one is touched.
    async fn wait_in_transit(&self, run: &mut TierRun<'_>) {
        let via = match self.action {
            Action::Stop => InstanceState::Stopping,
            Action::Start => InstanceState::Pending,
        };
        if self.action == Action::Start {
            // Started by an earlier invocation: confirmed like any start.
            let earlier = run.done_earlier.clone();
            self.confirm_starts(run, earlier).await;
        }
        let in_transit: Vec<String> = run
            .tier
            .instances
            .iter()
            .filter(|i| i.state == via || (self.action == Action::Stop && run.done_earlier.contains(&i.id)))
            .map(|i| i.id.clone())
            .collect();
        if in_transit.is_empty() {
            return;
        }
        let (limit, cut) = self.budget.cap(self.settings.state_timeout);
        let states = self
            .wait_for_states(&in_transit, self.action.target_state(), limit)
            .await;
        let settled = in_transit
            .iter()
            .all(|id| states.get(id) == Some(&self.action.target_state()));
        if !settled && cut {
            run.end = TierEnd::Deadline(format!(
                "time ran out in synchronous tier {} waiting for instances already {}",
                run.tier.tier,
                self.action.doing()
            ));
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

    /// Phase 5, the readiness gate before the next tier, on the instances
    /// acted on now or by an earlier invocation.
    async fn readiness_gate(&self, run: &mut TierRun<'_>) {
        let (Some(readiness), TierEnd::Done) = (&run.tier.readiness, &run.end) else {
            return;
        };
        // The gates are EC2's: a tier's other members were confirmed by their own wait.
        let gated: Vec<String> = run
            .out
            .acted
            .iter()
            .chain(&run.done_earlier)
            .filter(|id| crate::member::parse_member_id(id).is_none())
            .cloned()
            .collect();
        if gated.is_empty() {
            return;
        }
        let from = self.elapsed_ms();
        let (gate, gate_end) = self.gate(&run.tier.tier, readiness, &gated, &run.unrestored).await;
        run.out.phase(PhaseKind::Gate, from, self.elapsed_ms());
        run.out.gate = Some(gate);
        run.end = gate_end;
    }

    /// Phase 6 at Start, Auto Scaling members (Suspend mode) started and past
    /// the gate: the processes the scheduler suspended are resumed.
    async fn resume_tier_groups(&self, run: &mut TierRun<'_>) {
        if self.action != Action::Start || run.end != TierEnd::Done {
            return;
        }
        let groups = super::auto_scaling::members(run.tier);
        if groups.is_empty() {
            return;
        }
        let from = self.elapsed_ms();
        run.out.auto_scaling.extend(self.resume_groups(&groups).await);
        run.out.phase(PhaseKind::AutoScaling, from, self.elapsed_ms());
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

    /// Synchronous tiers: one instance at a time, each waited for (a
    /// start confirmed running).
    async fn act_one_by_one(
        &self,
        ids: &[String],
        special: &Special,
        rules: Option<&StartRules>,
        out: &mut TierOutcome,
    ) -> TierEnd {
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
            match self.wait_for_one(id, rules).await {
                Waited::Reached => {}
                Waited::Cut(now) => {
                    out.not_done.extend(ids[index + 1..].iter().map(|id| Noted {
                        id: id.clone(),
                        reason: "time ran out before its turn".into(),
                    }));
                    return TierEnd::Deadline(format!(
                        "time ran out in synchronous tier {} waiting for {id} (still {now})",
                        out.tier
                    ));
                }
                // Issued but not done: report it and go on with the next one.
                Waited::Failed(failure) => {
                    out.failed.push(failure);
                    out.acted.retain(|a| a != id);
                }
            }
        }
        TierEnd::Done
    }

    /// Waits for one instance of a synchronous tier: a start is confirmed
    /// running (within TierStartConfirmTimeout), a stop waited for within
    /// the state timeout.
    async fn wait_for_one(&self, id: &str, rules: Option<&StartRules>) -> Waited {
        let ids = [id.to_string()];
        if let (Action::Start, Some(rules)) = (self.action, rules) {
            let found = self
                .confirm_running(&ids, rules.confirm_timeout, rules.confirm_timeout)
                .await;
            if let Some(failure) = found.failed.into_iter().next() {
                return Waited::Failed(failure);
            }
            return match found.unconfirmed.first() {
                Some((_, state)) => Waited::Cut(state.to_string()),
                None => Waited::Reached,
            };
        }
        let target = self.action.target_state();
        let (limit, cut) = self.budget.cap(self.settings.state_timeout);
        let states = self.wait_for_states(&ids, target, limit).await;
        if states.get(id) == Some(&target) {
            return Waited::Reached;
        }
        let now = states
            .get(id)
            .map(|s| s.to_string())
            .unwrap_or_else(|| "unknown".into());
        if cut {
            return Waited::Cut(now);
        }
        Waited::Failed(Failure {
            id: id.to_string(),
            reason: format!(
                "{} issued, but still {now} after {}s",
                self.action.verb(),
                limit.as_secs()
            ),
            code: None,
        })
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
        let mut pace = self.pacer(limit);
        loop {
            // The adapter pages; one call per poll here.
            match self.compute.states(&pending).await {
                Ok(states) => seen.extend(states.into_iter().map(|s| (s.id, s.state))),
                Err(e) => tracing::warn!(error = %e, "reading instance states failed; will poll again"),
            }
            pending.retain(|id| !matches!(seen.get(id), Some(s) if *s == want || matches!(s, InstanceState::Terminated | InstanceState::ShuttingDown)));
            if pending.is_empty() || !pace.wait().await {
                return seen;
            }
        }
    }

    /// The pace of a polling loop bounded by `limit`: the settings' backoff.
    pub(crate) fn pacer(&self, limit: Duration) -> Pacer {
        Pacer::new(limit, self.settings.poll_initial, self.settings.poll_max)
    }
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
