//! What only a `TierStart` section says: how starts are confirmed, what a
//! start that failed means, and the fallback instance types.
//!
//! One confirmation rule for every kind of member: an explicit
//! `TierStartConfirmTimeout` bounds the confirmation of every kind of the
//! tier (counted from the tier's last start, across continuations); when
//! it is unset, each kind has its own default ([`default_confirm`]).

use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

use super::{opt_abort, MAX_SECONDS};
use crate::config::fields::{comma_list, opt_string, opt_u64, Issues};
use crate::instance::looks_like_instance_type as is_instance_type;
use crate::member::MemberKind;

/// How a tier's starts are confirmed, and what a start that failed means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StartRules {
    /// `TierStartConfirmTimeout` when the section sets it: how long a
    /// started member of any kind (an instance `running`, a database
    /// `available`, a group or service at its capacity) may take before it
    /// counts as failed. `None`: each kind's own default
    /// (`default_confirm`); see [`StartRules::confirm_bound`].
    #[serde(with = "opt_secs", skip_serializing_if = "Option::is_none")]
    pub confirm_timeout: Option<Duration>,
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
            confirm_timeout: None,
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

impl StartRules {
    /// How long a started member of `kind` may take to be confirmed: the
    /// tier's `TierStartConfirmTimeout` when set, for every kind; else the
    /// kind's own default.
    pub fn confirm_bound(&self, kind: MemberKind) -> Duration {
        self.confirm_timeout.unwrap_or_else(|| default_confirm(kind))
    }

    /// The member kinds of `kinds` whose default bound is longer than the
    /// tier's explicit `TierStartConfirmTimeout`, with that default: an
    /// explicit value shorter than RDS takes to start fails starts that
    /// were fine (the plan warns).
    pub fn bound_below_defaults(&self, kinds: &[MemberKind]) -> Vec<(MemberKind, Duration)> {
        let Some(set) = self.confirm_timeout else {
            return Vec::new();
        };
        kinds
            .iter()
            .map(|k| (*k, default_confirm(*k)))
            .filter(|(_, default)| set < *default)
            .collect()
    }
}

/// Default `TierStartConfirmTimeout` of EC2 instances: a start EC2 accepted
/// is confirmed `running` within this, or it failed.
pub const DEFAULT_START_CONFIRM_SECS: u64 = 300;

/// Default `TierStartConfirmTimeout` of the other kinds (RDS, Aurora,
/// DocumentDB and Neptune databases, ECS services, Auto Scaling groups, EKS
/// node groups): a database takes minutes to start, sometimes ten or more;
/// a group's instances must launch and pass their health checks.
pub const DEFAULT_MEMBER_CONFIRM_SECS: u64 = 1800;

/// The confirmation bound of a kind when `TierStartConfirmTimeout` is not set.
pub fn default_confirm(kind: MemberKind) -> Duration {
    Duration::from_secs(match kind {
        MemberKind::Ec2 => DEFAULT_START_CONFIRM_SECS,
        MemberKind::Rds
        | MemberKind::Aurora
        | MemberKind::DocumentDb
        | MemberKind::Neptune
        | MemberKind::Ecs
        | MemberKind::Asg
        | MemberKind::Eks => DEFAULT_MEMBER_CONFIRM_SECS,
    })
}

/// An optional number of seconds for JSON (see `super::secs`).
mod opt_secs {
    use std::time::Duration;
    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::super::secs::serialize(d, s),
            None => s.serialize_none(),
        }
    }
}

/// `TierStartConfirmTimeout`, `TierStartFailure` and `TierFallbackTypes`
/// (keys only TierStart accepts; see `section::check_section_keys`).
pub(super) fn parse_start_rules(map: &Map<String, Value>, issues: &mut Issues) -> StartRules {
    let timeout = opt_u64(map, "TierStartConfirmTimeout", MAX_SECONDS, issues);
    if timeout == Some(0) {
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
        confirm_timeout: timeout.map(|t| Duration::from_secs(t.max(1))),
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

/// A list entry that is not an instance type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an instance type such as \"m5.large\"")]
struct NotAType(String);

/// The instance types of a comma-separated list, in order, or what is
/// wrong with it (a part that is not a type, a repeat, an empty list).
/// For `TierFallbackTypes` and the `SchedulerPreferredTypes` tag.
pub fn instance_types(text: &str) -> Result<Vec<String>, Vec<String>> {
    comma_list(text, "instance type", |part| {
        if is_instance_type(part) {
            Ok(part.to_string())
        } else {
            Err(NotAType(part.to_string()))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(section: Value) -> (StartRules, Vec<String>) {
        let mut out = Vec::new();
        let rules = parse_start_rules(section.as_object().unwrap(), &mut Issues::new("TierStart", &mut out));
        (rules, out.into_iter().map(|i| i.message).collect())
    }

    #[test]
    fn an_explicit_bound_applies_to_every_kind_and_unset_each_kind_has_its_own() {
        let (unset, problems) = rules(serde_json::json!({}));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(unset.confirm_timeout, None);
        assert_eq!(unset.confirm_bound(MemberKind::Ec2), Duration::from_secs(300));
        for kind in [MemberKind::Rds, MemberKind::Aurora, MemberKind::Ecs, MemberKind::Asg] {
            assert_eq!(unset.confirm_bound(kind), Duration::from_secs(1800), "{kind}");
        }
        assert!(unset.bound_below_defaults(&MemberKind::ALL).is_empty());

        let (set, _) = rules(serde_json::json!({ "TierStartConfirmTimeout": "600" }));
        for kind in MemberKind::ALL {
            assert_eq!(set.confirm_bound(kind), Duration::from_secs(600), "{kind}");
        }
        let below: Vec<MemberKind> = set
            .bound_below_defaults(&[MemberKind::Ec2, MemberKind::Rds, MemberKind::Asg])
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(below, [MemberKind::Rds, MemberKind::Asg]);
    }
}
