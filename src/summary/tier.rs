//! What happened in one tier: the members acted on, skipped, bypassed,
//! failed or not reached, and the changes made on the way (types, CPU
//! credits, Auto Scaling processes, the readiness gate).

use serde::{Deserialize, Serialize};

use super::{Phase, PhaseKind};
use crate::config::ReadinessCheck;
use crate::member::MemberKind;

/// An instance with the reason it was treated as it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Noted {
    /// `i-...`
    pub id: String,
    /// Why.
    pub reason: String,
}

/// An instance whose action failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// `i-...`
    pub id: String,
    /// What went wrong.
    pub reason: String,
    /// The AWS error code, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// A type change made (or refused) before start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resize {
    /// `i-...`
    pub id: String,
    /// Old type.
    pub from: String,
    /// Requested type.
    pub to: String,
    /// Why the change was refused; the instance then starts with its old type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// EbsOptimized was turned off first: the new type cannot have it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ebs_optimized_cleared: bool,
}

/// What the scheduler did to an Auto Scaling group's processes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupChange {
    /// The group.
    pub group: String,
    /// Processes suspended before its members were stopped.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suspended: Vec<String>,
    /// Processes resumed after its members were started.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resumed: Vec<String>,
    /// Processes someone else had suspended: left alone.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub left_alone: Vec<String>,
    /// Why it failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A change of an instance's CPU credit option (`.u` in a profile).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreditChange {
    /// `i-...`
    pub id: String,
    /// `unlimited` or `standard`.
    pub cpu_credits: String,
    /// Why EC2 refused it, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The result of a tier's readiness gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GateOutcome {
    /// The condition polled.
    pub check: ReadinessCheck,
    /// Instances that met it.
    pub ready: usize,
    /// Instances that did not.
    pub not_ready: Vec<String>,
    /// The gate gave up (timeout or deadline).
    pub timed_out: bool,
    /// How long the gate waited.
    pub waited_ms: u64,
    /// `TargetsHealthy`: targets in a group no listener uses, which never
    /// become healthy: reported, not waited for (`instance in group:port`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unused: Vec<String>,
}

/// What happened in one tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TierOutcome {
    /// TierTagValue.
    pub tier: String,
    /// TierSequence.
    pub sequence: u64,
    /// Synchronous tier.
    pub synchronous: bool,
    /// Instances the action was issued to (and, for sync tiers, that reached the target state).
    pub acted: Vec<String>,
    /// Instances left alone, with the reason.
    pub skipped: Vec<Noted>,
    /// Instances not stopped because of the override check, with the reason.
    pub bypassed: Vec<Noted>,
    /// Instances whose action failed.
    pub failed: Vec<Failure>,
    /// Instances that were due but not reached (deadline or abort).
    pub not_done: Vec<Noted>,
    /// Type changes before start.
    pub resized: Vec<Resize>,
    /// CPU credit changes before start.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub credits: Vec<CreditChange>,
    /// Auto Scaling groups whose processes were suspended or resumed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub auto_scaling: Vec<GroupChange>,
    /// Instances of `acted` that were hibernated (`TierHibernate`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hibernated: Vec<String>,
    /// Instances whose hibernation EC2 refused; they were stopped normally.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hibernation_fallback: Vec<Noted>,
    /// Instances EC2 had no capacity for in their type, started in a
    /// fallback type (`TierFallbackTypes`, `SchedulerPreferredTypes`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub capacity_fallback: Vec<Noted>,
    /// Load balancer registrations removed before a Stop (drained) or put
    /// back after a Start, per instance.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub traffic: Vec<Noted>,
    /// What became of members' records in the run ledger when there is
    /// something to tell: a record kept (a Stop found one not restored
    /// yet), a record not removed after its restore (a warning).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<Noted>,
    /// The readiness gate, when the tier has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<GateOutcome>,
    /// When the tier began, from the run's start.
    pub started_at_ms: u64,
    /// How long the tier took.
    pub duration_ms: u64,
    /// Its timed steps, for the timeline.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<Phase>,
}

impl TierOutcome {
    /// An empty outcome for a tier.
    pub fn new(tier: &str, sequence: u64, synchronous: bool) -> Self {
        Self {
            tier: tier.to_string(),
            sequence,
            synchronous,
            acted: Vec::new(),
            skipped: Vec::new(),
            bypassed: Vec::new(),
            failed: Vec::new(),
            not_done: Vec::new(),
            resized: Vec::new(),
            credits: Vec::new(),
            auto_scaling: Vec::new(),
            hibernated: Vec::new(),
            hibernation_fallback: Vec::new(),
            capacity_fallback: Vec::new(),
            traffic: Vec::new(),
            records: Vec::new(),
            gate: None,
            started_at_ms: 0,
            duration_ms: 0,
            phases: Vec::new(),
        }
    }

    /// Records a step that ran from `from_ms` to `to_ms` (from the
    /// invocation's start).
    pub fn phase(&mut self, kind: PhaseKind, from_ms: u64, to_ms: u64) {
        self.phases.push(Phase {
            kind,
            started_at_ms: from_ms,
            duration_ms: to_ms.saturating_sub(from_ms),
            member_kind: None,
        });
    }

    /// Adds `lane`'s members and changes, the outcome of the tier's
    /// members of `kind`: its timeline bars are tagged with the kind.
    pub fn absorb(&mut self, lane: TierOutcome, kind: MemberKind) {
        self.acted.extend(lane.acted);
        self.skipped.extend(lane.skipped);
        self.bypassed.extend(lane.bypassed);
        self.failed.extend(lane.failed);
        self.not_done.extend(lane.not_done);
        self.resized.extend(lane.resized);
        self.credits.extend(lane.credits);
        self.auto_scaling.extend(lane.auto_scaling);
        self.hibernated.extend(lane.hibernated);
        self.hibernation_fallback.extend(lane.hibernation_fallback);
        self.capacity_fallback.extend(lane.capacity_fallback);
        self.traffic.extend(lane.traffic);
        self.records.extend(lane.records);
        self.gate = self.gate.take().or(lane.gate);
        self.phases.extend(lane.phases.into_iter().map(|p| Phase {
            member_kind: Some(kind),
            ..p
        }));
    }
}
