//! The run record's trace of each invocation: counts and timings per tier,
//! no instance lists (24 of them must fit in one DynamoDB item next to the
//! summary). Part of the ledger's schema; `history` and `timeline` show it.

use serde::{Deserialize, Serialize};

use crate::run::RunReport;
use crate::summary::{DelayWait, Failure, Phase};

/// Failures kept per tier and invocation in a trace.
pub const FAILURES_KEPT: usize = 10;

/// One invocation of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvocationTrace {
    /// 1 for the first invocation, 2 for its continuation, ...
    pub invocation: u32,
    /// When it began, milliseconds since the epoch.
    pub started_at_ms: u64,
    /// How long it ran.
    pub duration_ms: u64,
    /// How it ended (`completed`, `continuing`, `refused`, ...).
    pub status: String,
    /// Its tiers, in execution order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<TierTrace>,
    /// Inter-tier delays it waited.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delays: Vec<DelayWait>,
    /// The delay still owed when it handed over to a continuation (waited
    /// outside the function, by the continuation's schedule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_after_secs: Option<u64>,
}

/// One tier in one invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TierTrace {
    /// TierTagValue.
    pub tier: String,
    /// TierSequence.
    pub sequence: u64,
    /// Synchronous tier.
    pub synchronous: bool,
    /// When the tier began, from the invocation's start.
    pub started_at_ms: u64,
    /// How long it took.
    pub duration_ms: u64,
    /// Instances acted on.
    pub acted: usize,
    /// Instances left alone (not counting those an earlier invocation handled).
    pub skipped: usize,
    /// Instances kept by an override.
    pub bypassed: usize,
    /// Instances whose action failed.
    pub failed: usize,
    /// Instances not reached.
    pub not_done: usize,
    /// The tier's timed steps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<Phase>,
    /// The first [`FAILURES_KEPT`] failures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<Failure>,
    /// The readiness gate gave up.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gate_timed_out: bool,
}

impl InvocationTrace {
    /// The trace of invocation `invocation`, begun at `started_at_ms`, that
    /// produced `report` and ended as `status`.
    pub fn of(invocation: u32, started_at_ms: u64, report: &RunReport, status: &str) -> Self {
        let summary = &report.summary;
        let carried = |tier: &str| {
            report
                .plan
                .groups
                .iter()
                .flat_map(|g| &g.tiers)
                .find(|t| t.tier == tier)
                .map_or(0, |t| t.carried_over())
        };
        Self {
            invocation,
            started_at_ms,
            duration_ms: summary.duration_ms,
            status: status.to_string(),
            tiers: summary
                .tiers
                .iter()
                .map(|t| TierTrace {
                    tier: t.tier.clone(),
                    sequence: t.sequence,
                    synchronous: t.synchronous,
                    started_at_ms: t.started_at_ms,
                    duration_ms: t.duration_ms,
                    acted: t.acted.len(),
                    skipped: t.skipped.len().saturating_sub(carried(&t.tier)),
                    bypassed: t.bypassed.len(),
                    failed: t.failed.len(),
                    not_done: t.not_done.len(),
                    phases: t.phases.clone(),
                    failures: t.failed.iter().take(FAILURES_KEPT).cloned().collect(),
                    gate_timed_out: t.gate.as_ref().is_some_and(|g| g.timed_out),
                })
                .collect(),
            delays: summary.delays.clone(),
            resume_after_secs: report.checkpoint.as_ref().map(|c| c.resume_after_secs),
        }
    }

    /// An invocation refused before any action.
    pub fn refused(invocation: u32, started_at_ms: u64, duration_ms: u64) -> Self {
        Self {
            invocation,
            started_at_ms,
            duration_ms,
            status: "refused".into(),
            tiers: Vec::new(),
            delays: Vec::new(),
            resume_after_secs: None,
        }
    }

    /// When it ended, milliseconds since the epoch.
    pub fn ended_at_ms(&self) -> u64 {
        self.started_at_ms + self.duration_ms
    }
}
