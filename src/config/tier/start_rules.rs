//! What only a `TierStart` section says: how starts are confirmed, what a
//! start that failed means, and the fallback instance types.

use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

use super::{opt_abort, secs, MAX_SECONDS};
use crate::config::fields::{comma_list, opt_string, opt_u64, Issues};
use crate::instance::looks_like_instance_type as is_instance_type;

/// How a tier's starts are confirmed, and what a start that failed means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StartRules {
    /// `TierStartConfirmTimeout`: how long a started instance may take to
    /// be `running` before it counts as failed.
    #[serde(with = "secs")]
    pub confirm_timeout: Duration,
    /// `TierStartFailure`: whether the next tiers start when an instance
    /// of this one did not.
    pub on_failure: StartFailure,
    /// `TierFallbackTypes`: instance types tried in order when EC2 has no
    /// capacity for an instance's own type.
    pub fallback_types: Vec<String>,
}

impl Default for StartRules {
    fn default() -> Self {
        Self {
            confirm_timeout: Duration::from_secs(DEFAULT_START_CONFIRM_SECS),
            on_failure: StartFailure::Continue,
            fallback_types: Vec::new(),
        }
    }
}

/// `TierStartFailure` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum StartFailure {
    /// Report the instances that did not start and start the next tiers.
    #[default]
    Continue,
    /// Stop the run here: the next tiers need this one.
    Abort,
}

/// Default `TierStartConfirmTimeout`: a start EC2 accepted is confirmed
/// `running` within this, or it failed.
pub const DEFAULT_START_CONFIRM_SECS: u64 = 300;

/// `TierStartConfirmTimeout`, `TierStartFailure` and `TierFallbackTypes`
/// (keys only TierStart accepts; see `section::check_section_keys`).
pub(super) fn parse_start_rules(map: &Map<String, Value>, issues: &mut Issues) -> StartRules {
    let timeout = opt_u64(map, "TierStartConfirmTimeout", MAX_SECONDS, issues).unwrap_or(DEFAULT_START_CONFIRM_SECS);
    if timeout == 0 {
        issues.push("TierStartConfirmTimeout", "must be at least 1 second");
    }
    let on_failure = if opt_abort(map, "TierStartFailure", issues) {
        StartFailure::Abort
    } else {
        StartFailure::Continue
    };
    let fallback = opt_string(map, "TierFallbackTypes", issues)
        .map(|text| parse_type_list(&text, "TierFallbackTypes", issues))
        .unwrap_or_default();
    StartRules {
        confirm_timeout: Duration::from_secs(timeout.max(1)),
        on_failure,
        fallback_types: fallback,
    }
}

/// A comma-separated list of instance types (`m5.large, m5a.large`), in
/// order, without repeats; each checked like a TierScaling type.
fn parse_type_list(text: &str, field: &str, issues: &mut Issues) -> Vec<String> {
    instance_types(text).unwrap_or_else(|problems| {
        for p in problems {
            issues.push(field, p);
        }
        Vec::new()
    })
}

/// The instance types of a comma-separated list, in order, or what is
/// wrong with it (a part that is not a type, a repeat, an empty list).
/// For `TierFallbackTypes` and the `SchedulerPreferredTypes` tag.
pub fn instance_types(text: &str) -> Result<Vec<String>, Vec<String>> {
    comma_list(text, "instance type", |part| {
        if is_instance_type(part) {
            Ok(part.to_string())
        } else {
            Err(format!("{part:?} is not an instance type such as \"m5.large\""))
        }
    })
}
