//! What became of a request ([`Outcome`]) and the metric lines it gives.

use serde_json::Value;

use crate::metrics;
use crate::run::RunReport;

/// What became of a request.
#[derive(Debug)]
pub enum Outcome {
    /// The run ran (or went as far as this invocation could take it).
    Ran {
        /// What happened.
        report: Box<RunReport>,
        /// The ledger key, when a ledger is used.
        key: Option<String>,
        /// Which invocation of the run this was.
        invocation: u32,
        /// The ledger could not be updated after the run.
        ledger_error: Option<String>,
    },
    /// Nothing was done; the response's `status` says why: `duplicate`, `rescheduled` (came early),
    /// `ignored` (a database of no workload), `skipped`/`waiting` (a window Stop not opened/overrun).
    Duplicate(Value),
    /// A continuation refused with nothing done, because it came after its
    /// hand-over window or after a later run of the workload began; the
    /// response (`status` `interrupted`) says why, and the run's record
    /// ends interrupted.
    Interrupted(Value),
}

impl Outcome {
    /// The Embedded Metric Format line of a run that ran (none for a dry
    /// run, which changes nothing; see [`metrics::for_run`]), or of a
    /// duplicate delivery, counted ([`metrics::for_duplicate`]).
    pub fn metrics_line(&self, namespace: &str, throttles: u64, timestamp_ms: u64) -> Option<String> {
        match self {
            Self::Ran {
                report,
                key,
                invocation,
                ..
            } => metrics::for_run(namespace, report, key.as_deref(), *invocation, throttles, timestamp_ms),
            Self::Duplicate(response) if response["status"] == "duplicate" => {
                metrics::for_duplicate(namespace, response, timestamp_ms)
            }
            Self::Duplicate(_) => None,
            Self::Interrupted(response) => metrics::for_late_continuation(namespace, response, timestamp_ms),
        }
    }

    /// The per-kind member lines of a run that ran ([`metrics::for_members`])
    /// and a Start's saving ([`metrics::for_savings`]).
    pub fn member_lines(&self, namespace: &str, timestamp_ms: u64) -> Vec<String> {
        match self {
            Self::Ran { report, .. } => {
                let mut lines = metrics::for_members(namespace, report, timestamp_ms);
                lines.extend(metrics::for_savings(namespace, report, timestamp_ms));
                lines
            }
            Self::Duplicate(_) | Self::Interrupted(_) => Vec::new(),
        }
    }
}
