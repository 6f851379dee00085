//! `TierReadiness`, `TierReadinessTimeout` and `TierReadinessOnTimeout`:
//! what must hold for a tier's instances before the next tier begins.

use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

use super::{opt_abort, secs, MAX_SECONDS};
use crate::config::fields::{opt_string, opt_u64, Issues};

/// What must hold for every instance of a tier before the next tier begins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Readiness {
    /// The condition polled for.
    pub check: ReadinessCheck,
    /// How long to poll before giving up (`TierReadinessTimeout`).
    #[serde(with = "secs")]
    pub timeout: Duration,
    /// What a timeout means for the run (`TierReadinessOnTimeout`).
    pub on_timeout: ReadinessOnTimeout,
}

/// `TierReadiness` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ReadinessCheck {
    /// The instance reached running (start) or stopped (stop).
    State,
    /// EC2 instance and system status checks are both `ok`.
    StatusChecks,
    /// The SSM agent reports `Online`.
    SsmOnline,
    /// Every target of the instances in an `instance` target group of
    /// their VPCs is `healthy` (one that reports `unused`, in a group no
    /// listener uses, is reported, not waited for).
    TargetsHealthy,
}

/// `TierReadinessOnTimeout` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ReadinessOnTimeout {
    /// Report the instances that were not ready and go on with the next tier.
    Continue,
    /// Stop the run here and report which instances were not ready.
    Abort,
}

/// Default `TierReadinessTimeout`: long enough for Windows status checks.
pub(super) const DEFAULT_READINESS_TIMEOUT_SECS: u64 = 600;

/// In `TierStop` only `State` readiness can hold.
pub(super) fn check_stop_readiness(readiness: Option<&Readiness>, issues: &mut Issues) {
    if let Some(r) = readiness {
        if r.check != ReadinessCheck::State {
            // A stopped instance has no status checks and no SSM agent.
            issues.push(
                "TierReadiness",
                format!(
                    "{:?} cannot hold for stopped instances; only \"State\" is valid in TierStop",
                    r.check
                ),
            );
        }
    }
}

/// `TierReadiness`, `TierReadinessTimeout` and `TierReadinessOnTimeout`.
pub(super) fn parse_readiness(map: &Map<String, Value>, issues: &mut Issues) -> Option<Readiness> {
    let check_text = opt_string(map, "TierReadiness", issues);
    let timeout = opt_u64(map, "TierReadinessTimeout", MAX_SECONDS, issues);
    let on_timeout = if opt_abort(map, "TierReadinessOnTimeout", issues) {
        ReadinessOnTimeout::Abort
    } else {
        ReadinessOnTimeout::Continue
    };
    let Some(check_text) = check_text else {
        for key in ["TierReadinessTimeout", "TierReadinessOnTimeout"] {
            if map.contains_key(key) {
                issues.push(key, "has no effect without TierReadiness");
            }
        }
        return None;
    };
    let check = match check_text.to_ascii_lowercase().as_str() {
        "state" => ReadinessCheck::State,
        "statuschecks" => ReadinessCheck::StatusChecks,
        "ssmonline" => ReadinessCheck::SsmOnline,
        "targetshealthy" => ReadinessCheck::TargetsHealthy,
        _ => {
            issues.push(
                "TierReadiness",
                format!("{check_text:?} is not one of \"State\", \"StatusChecks\", \"SsmOnline\", \"TargetsHealthy\""),
            );
            return None;
        }
    };
    if timeout == Some(0) {
        issues.push("TierReadinessTimeout", "must be at least 1 second");
    }
    Some(Readiness {
        check,
        timeout: Duration::from_secs(timeout.unwrap_or(DEFAULT_READINESS_TIMEOUT_SECS)),
        on_timeout,
    })
}
