//! The timed steps of a run, for its timeline: each tier's phases and the
//! inter-tier delays waited inside the invocation.

use serde::{Deserialize, Serialize};

/// A timed step of a tier, for the run's timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Phase {
    /// What the tier was doing.
    pub kind: PhaseKind,
    /// When it began, from the invocation's start.
    pub started_at_ms: u64,
    /// How long it took.
    pub duration_ms: u64,
    /// The kind of the members it was about (absent for the tier's own
    /// steps, such as its gate, and in runs recorded before).
    #[serde(default, rename = "member", skip_serializing_if = "Option::is_none")]
    pub member_kind: Option<crate::member::MemberKind>,
}

/// The steps of a tier, in the order they happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PhaseKind {
    /// Waiting for instances in transition to settle.
    Settle,
    /// Override files checked through SSM.
    OverrideCheck,
    /// Type and CPU credit changes, then ScaleInstanceDelay.
    Scale,
    /// Auto Scaling processes suspended (Stop) or resumed (Start).
    AutoScaling,
    /// The Stop/Start calls (and, in a synchronous tier, the waits).
    Act,
    /// Started instances confirmed `running` (Start).
    Confirm,
    /// The readiness gate.
    Gate,
    /// The tier's other members (databases, services, groups) acted on
    /// and waited for, beside the instances.
    Members,
    /// Load balancer targets deregistered and drained before a Stop.
    Drain,
    /// Recorded load balancer registrations put back after a Start.
    Register,
}

/// An InterTierOrchestrationDelay waited inside the invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DelayWait {
    /// The TierSequence of the group it followed.
    pub after_sequence: u64,
    /// When it began, from the invocation's start.
    pub started_at_ms: u64,
    /// How long it was.
    pub duration_ms: u64,
}
