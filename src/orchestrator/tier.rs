//! One tier, phase by phase: a [`TierRun`] begun from the plan, its
//! instances (the EC2 side) run beside its other members (between them in
//! a synchronous tier), the readiness gate, the Auto Scaling processes
//! resumed, and the outcome finished. The work of each phase on the
//! instances sits in a child module.

use std::collections::HashSet;
use std::time::Duration;

use tokio::time::Instant;

use super::members::MemberOutcome;
use super::{Execution, TierEnd, TierResult};
use crate::action::Action;
use crate::member::MemberKind;
use crate::plan::{InstancePlan, Step, TierPlan};
use crate::summary::{Failure, Noted, PhaseKind, TierOutcome};

mod act;
mod batch;
mod confirm;
mod drain;
mod fallback;
mod prepare;
mod settle;
mod synchronous;
mod wait;

pub(crate) use act::Special;
pub(crate) use batch::BatchResult;

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

impl<'t> TierRun<'t> {
    /// The ids of the tier's EC2 instances, as its plan holds them apart
    /// from its other members (no id is read to learn its kind).
    fn instance_ids(&self) -> HashSet<&'t str> {
        self.tier.instances.iter().map(|i| i.id.as_str()).collect()
    }

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
        members.merge_into(&mut run.out, &mut run.end, &mut run.acted_at_ms);
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
            return tokio::join!(self.run_instances(run), self.run_members(tier, &tier.members));
        }
        let spec = self.config.tiers.iter().find(|t| t.name == tier.tier);
        let ec2 = spec.map(|s| s.order_of(MemberKind::Ec2)).unwrap_or_default();
        let split = tier
            .members
            .iter()
            .position(|m| spec.map(|s| s.order_of(m.kind)).unwrap_or_default() > ec2)
            .unwrap_or(tier.members.len());
        let (before, after) = tier.members.split_at(split);
        let first = self.run_members(tier, before).await;
        let run = self.run_instances(run).await;
        let then = self.run_members(tier, after).await;
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

    /// Phase 5, the readiness gate before the next tier, on the instances
    /// acted on now or by an earlier invocation.
    async fn readiness_gate(&self, run: &mut TierRun<'_>) {
        let (Some(readiness), TierEnd::Done) = (&run.tier.readiness, &run.end) else {
            return;
        };
        // The gates are EC2's: a tier's other members were confirmed by their own wait.
        let instances = run.instance_ids();
        let gated: Vec<String> = run
            .out
            .acted
            .iter()
            .chain(&run.done_earlier)
            .filter(|id| instances.contains(id.as_str()))
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
}
