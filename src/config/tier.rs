//! The TierSpecification item: a tier's name, its `TierStart` / `TierStop`
//! sections, scaling profiles and member kinds.

mod readiness;
mod scaling;
mod section;
mod start_rules;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

pub use readiness::{Readiness, ReadinessCheck, ReadinessOnTimeout};
use scaling::parse_scaling;
pub use scaling::{FleetSubset, ScalingTarget};
use section::parse_section;
pub use section::{ActionSpec, AutoScalingMode, LoadBalancing};
pub use start_rules::{instance_types, StartFailure, StartRules, DEFAULT_START_CONFIRM_SECS};

use super::fields::{comma_list, opt_map, opt_string, req_string, show, warn_unknown, Issues};
use crate::action::Action;
use crate::member::MemberKind;

/// The seed's delay between tiers when `InterTierOrchestrationDelay` is absent.
pub const DEFAULT_INTER_TIER_DELAY_SECS: u64 = 5;
/// Longest accepted inter-tier delay or readiness timeout: one day.
const MAX_SECONDS: u64 = 86_400;
/// Largest accepted TierSequence; there is no upper bound in the seed, but a
/// value past this is a typo rather than an ordering.
const MAX_SEQUENCE: u64 = 1_000_000;

/// One tier of a workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TierSpec {
    /// `TierTagValue`: the tier's tag value, unique in the workload.
    pub name: String,
    /// `TierStart`: how the tier is started; absent means it is not started.
    pub start: Option<ActionSpec>,
    /// `TierStop`: how the tier is stopped; absent means it is not stopped.
    pub stop: Option<ActionSpec>,
    /// `TierScaling`: profile name to what the profile does at start.
    pub scaling: BTreeMap<String, ScalingTarget>,
    /// `TierResourceTypes`: the kinds of members the tier holds, in order
    /// (default `EC2`).
    pub resource_types: Vec<MemberKind>,
}

impl TierSpec {
    /// The tier holds members of `kind` in some action: listed in
    /// `TierResourceTypes`, or for Auto Scaling groups, `ScaleToZero` in
    /// either section.
    pub fn holds(&self, kind: MemberKind) -> bool {
        [Action::Stop, Action::Start]
            .into_iter()
            .any(|a| self.holds_for(kind, a))
    }

    /// The tier acts on members of `kind` in `action`. Auto Scaling groups:
    /// a Stop scales them to zero when its own section says `ScaleToZero`;
    /// a Start restores them when either section says so (what a Stop
    /// recorded is restored whatever the TierStart mode says).
    pub fn holds_for(&self, kind: MemberKind, action: Action) -> bool {
        let scales = |s: &Option<ActionSpec>| {
            s.as_ref()
                .is_some_and(|s| s.auto_scaling == AutoScalingMode::ScaleToZero)
        };
        match (kind, action) {
            (MemberKind::Asg, Action::Stop) => scales(&self.stop),
            (MemberKind::Asg, Action::Start) => scales(&self.stop) || scales(&self.start),
            _ => self.resource_types.contains(&kind),
        }
    }

    /// Where members of `kind` come in a synchronous tier:
    /// `TierResourceTypes` order, Auto Scaling groups with the EC2
    /// instances (they are EC2 capacity), just after them.
    pub fn order_of(&self, kind: MemberKind) -> (usize, bool) {
        let listed = |k: MemberKind| self.resource_types.iter().position(|x| *x == k);
        match kind {
            MemberKind::Asg => (listed(MemberKind::Ec2).unwrap_or(0), true),
            k => (listed(k).unwrap_or(usize::MAX), false),
        }
    }

    /// The section for an action, if the tier takes part in it.
    pub fn for_action(&self, action: Action) -> Option<&ActionSpec> {
        match action {
            Action::Start => self.start.as_ref(),
            Action::Stop => self.stop.as_ref(),
        }
    }

    /// Both sections that are present, with their attribute names.
    pub fn sections(&self) -> impl Iterator<Item = (&'static str, &ActionSpec)> {
        [("TierStart", self.start.as_ref()), ("TierStop", self.stop.as_ref())]
            .into_iter()
            .filter_map(|(n, s)| s.map(|s| (n, s)))
    }
}

/// Seconds for JSON: whole seconds as an integer, fractions as a float.
pub(crate) mod secs {
    use std::time::Duration;
    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        if d.subsec_nanos() == 0 {
            s.serialize_u64(d.as_secs())
        } else {
            s.serialize_f64(d.as_secs_f64())
        }
    }
}

/// `10s`, `2.5s`: seconds for tables and messages.
pub fn show_secs(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}s", (d.as_secs_f64() * 1000.0).round() / 1000.0)
    }
}

const KNOWN: &[&str] = &[
    "SpecName",
    "TierTagValue",
    "TierStart",
    "TierStop",
    "TierScaling",
    "TierResourceTypes",
];

/// Parses and validates a TierSpecification item.
pub(super) fn parse(
    item: &Value,
    expected_workload: &str,
    issues: &mut Issues,
    warnings: &mut Issues,
) -> Option<TierSpec> {
    let Some(map) = item.as_object() else {
        issues.push("", format!("expected a map, found {}", show(item)));
        return None;
    };
    warn_unknown(map, KNOWN, warnings);
    if let Some(spec) = req_string(map, "SpecName", issues) {
        if spec != expected_workload {
            issues.push(
                "SpecName",
                format!("{spec:?} does not match the workload {expected_workload:?}"),
            );
        }
    }
    let name = req_string(map, "TierTagValue", issues);
    if let Some(n) = &name {
        if n.chars().count() > 256 {
            issues.push(
                "TierTagValue",
                "is longer than the 256 characters EC2 allows for a tag value",
            );
        }
    }
    let start = opt_map(map, "TierStart", issues)
        .and_then(|m| parse_section(m, Action::Start, &mut issues.nested("TierStart")));
    let stop =
        opt_map(map, "TierStop", issues).and_then(|m| parse_section(m, Action::Stop, &mut issues.nested("TierStop")));
    let scaling = opt_map(map, "TierScaling", issues)
        .map(|m| parse_scaling(m, &mut issues.nested("TierScaling")))
        .unwrap_or_default();

    for (section, spec) in [("TierStart", &start), ("TierStop", &stop)] {
        let gate_needs_ssm = spec
            .as_ref()
            .and_then(|s| s.readiness.as_ref())
            .is_some_and(|r| r.check == ReadinessCheck::SsmOnline);
        let has_ssm = stop.as_ref().is_some_and(|s| s.override_check.is_some());
        if gate_needs_ssm && !has_ssm {
            issues.push(
                &format!("{section}.TierReadiness"),
                "\"SsmOnline\" needs SSM-managed instances: this tier has no TierStopOverrideFilename / SSM configuration",
            );
        }
    }

    let resource_types = parse_resource_types(map, issues);
    Some(TierSpec {
        resource_types,
        name: name?,
        start,
        stop,
        scaling,
    })
}

/// A `TierResourceTypes` entry that is not a member kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not one of \"EC2\", \"RDS\", \"Aurora\", \"ECS\", \"DocumentDB\", \"Neptune\", \"EKS\" (Auto Scaling groups are members by TierAutoScalingGroups \"ScaleToZero\")")]
struct NotAKind(String);

/// `TierResourceTypes`: comma-separated member kinds, default `EC2`.
fn parse_resource_types(map: &Map<String, Value>, issues: &mut Issues) -> Vec<MemberKind> {
    let Some(text) = opt_string(map, "TierResourceTypes", issues) else {
        return vec![MemberKind::Ec2];
    };
    let read = |part: &str| MemberKind::parse(part).ok_or_else(|| NotAKind(part.to_string()));
    comma_list(&text, "kind", read).unwrap_or_else(|problems| {
        for p in problems {
            issues.push("TierResourceTypes", p);
        }
        vec![MemberKind::Ec2]
    })
}

/// A `Continue` | `Abort` attribute (any case; absent is `Continue`):
/// whether it says `Abort`. Any other value is an issue.
fn opt_abort(map: &Map<String, Value>, key: &str, issues: &mut Issues) -> bool {
    let text = opt_string(map, key, issues);
    match text.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("continue") => false,
        Some("abort") => true,
        Some(_) => {
            issues.push(
                key,
                format!("{:?} is not \"Continue\" or \"Abort\"", text.unwrap_or_default()),
            );
            false
        }
    }
}
