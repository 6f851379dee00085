//! The TierSpecification item and its `TierStart` / `TierStop` sections.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

use super::fields::{
    comma_list, opt_bool, opt_map, opt_secs, opt_string, opt_u64, reject_unknown, req_string, show, warn_unknown,
    Issues,
};
use crate::action::Action;
use crate::member::MemberKind;
use crate::override_check::{GuestOs, OverrideCheck};

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

/// One `TierScaling` profile of a tier: either the README's instance type
/// string (`"t2.nano"`) or the original's map form
/// (`{InstanceType: t2.nano.u, FleetSubset: '50%'}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScalingTarget {
    /// The type to change to (without the `.u` suffix), if any.
    pub instance_type: Option<String>,
    /// The type ended in `.u`: CPU credits `unlimited`; without it, a
    /// burstable type is set back to `standard` (the original's rule).
    pub unlimited_credits: bool,
    /// How many of the tier's instances should run after the start.
    pub fleet_subset: Option<FleetSubset>,
}

/// `FleetSubset`: a count (`'2'`) or a percentage (`'50%'`) of the tier's
/// running + stopped instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum FleetSubset {
    /// This many instances should run.
    Count(u64),
    /// This percentage of the tier should run; outside 1..=100 means all.
    Percent(u64),
}

impl FleetSubset {
    /// How many of `total` instances should run: a percentage is rounded
    /// half to even, as Python's `round` in the original.
    pub fn wanted(self, total: usize) -> usize {
        match self {
            Self::Count(n) => usize::try_from(n).unwrap_or(usize::MAX),
            Self::Percent(p) if !(1..=100).contains(&p) => total,
            Self::Percent(p) => {
                let exact = total as u64 * p; // hundredths of an instance
                let (whole, rest) = (exact / 100, exact % 100);
                let up = rest > 50 || (rest == 50 && whole % 2 == 1);
                (whole + u64::from(up)) as usize
            }
        }
    }
}

impl std::fmt::Display for FleetSubset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Count(n) => write!(f, "{n}"),
            Self::Percent(p) => write!(f, "{p}%"),
        }
    }
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

/// A tier's `TierStart` or `TierStop` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionSpec {
    /// `TierSequence`: position in the action's order, from 0.
    pub sequence: u64,
    /// `TierSynchronization`: act on one instance at a time and wait for each.
    pub synchronous: bool,
    /// `InterTierOrchestrationDelay`: wait after this tier before the next.
    #[serde(with = "secs")]
    pub inter_tier_delay: Duration,
    /// `IgnoreStop` (TierStop only): the tier is not stopped at all.
    pub ignore: bool,
    /// `TierAutoScalingGroups`: what happens to Auto Scaling group members.
    pub auto_scaling: AutoScalingMode,
    /// `TierLoadBalancing`: whether the tier's instances are drained from
    /// their target groups before a Stop (and waited healthy after a Start).
    pub load_balancing: LoadBalancing,
    /// `TierHibernate` (TierStop only): hibernate instances configured for it.
    pub hibernate: bool,
    /// `TierStopOverrideFilename` + `TierStopOverrideOperatingSystem` (stop only).
    pub override_check: Option<OverrideCheck>,
    /// `TierReadiness` and friends: what must hold before the next tier begins.
    pub readiness: Option<Readiness>,
    /// What only a TierStart section says: `None` in TierStop.
    pub start_rules: Option<StartRules>,
}

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

/// `TierAutoScalingGroups` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum AutoScalingMode {
    /// Members of an Auto Scaling group are left alone (the default: a
    /// stopped member is marked unhealthy and terminated by its group).
    #[default]
    Skip,
    /// The groups' processes are suspended before the members are stopped
    /// and resumed after they are started.
    Suspend,
    /// The groups themselves are tier members, found by their own workload
    /// and tier tags: a Stop records min/desired/max on the group and sets
    /// them to 0 (the group terminates its instances); a Start restores
    /// them. Their instances are never members themselves.
    ScaleToZero,
}

/// `TierLoadBalancing` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum LoadBalancing {
    /// Target groups are left as they are (the default).
    #[default]
    Ignore,
    /// Stop: the instances are deregistered from every `instance` target
    /// group of their VPCs, recorded on the instances, and stopped once
    /// their targets have left `draining`. Start: the readiness wait is
    /// `TargetsHealthy` unless the tier names another.
    Drain,
}

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
const DEFAULT_READINESS_TIMEOUT_SECS: u64 = 600;

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

const COMMON_KEYS: &[&str] = &[
    "TierAutoScalingGroups",
    "TierLoadBalancing",
    "TierSequence",
    "TierSynchronization",
    "InterTierOrchestrationDelay",
    "TierReadiness",
    "TierReadinessTimeout",
    "TierReadinessOnTimeout",
];
const START_ONLY_KEYS: &[&str] = &["TierStartConfirmTimeout", "TierStartFailure", "TierFallbackTypes"];
const STOP_ONLY_KEYS: &[&str] = &[
    "TierStopOverrideFilename",
    "TierStopOverrideOperatingSystem",
    "IgnoreStop",
    "TierHibernate",
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

/// `TierResourceTypes`: comma-separated member kinds, default `EC2`.
fn parse_resource_types(map: &Map<String, Value>, issues: &mut Issues) -> Vec<MemberKind> {
    let Some(text) = opt_string(map, "TierResourceTypes", issues) else {
        return vec![MemberKind::Ec2];
    };
    let read = |part: &str| {
        MemberKind::parse(part).ok_or_else(|| {
            format!("{part:?} is not one of \"EC2\", \"RDS\", \"Aurora\", \"ECS\" (Auto Scaling groups are members by TierAutoScalingGroups \"ScaleToZero\")")
        })
    };
    comma_list(&text, "kind", read).unwrap_or_else(|problems| {
        for p in problems {
            issues.push("TierResourceTypes", p);
        }
        vec![MemberKind::Ec2]
    })
}

/// Parses a `TierStart` or `TierStop` section, phase by phase.
fn parse_section(map: &Map<String, Value>, action: Action, issues: &mut Issues) -> Option<ActionSpec> {
    check_section_keys(map, action, issues);
    let sequence = parse_sequence(map, issues);
    let synchronous = opt_bool(map, "TierSynchronization", issues).unwrap_or(false);
    let delay = opt_secs(map, "InterTierOrchestrationDelay", MAX_SECONDS, issues)
        .unwrap_or(Duration::from_secs(DEFAULT_INTER_TIER_DELAY_SECS));
    let ignore = action == Action::Stop && opt_bool(map, "IgnoreStop", issues).unwrap_or(false);
    let hibernate = action == Action::Stop && opt_bool(map, "TierHibernate", issues).unwrap_or(false);
    let auto_scaling = parse_auto_scaling(map, issues);
    let load_balancing = parse_load_balancing(map, issues);
    let override_check = if action == Action::Stop {
        parse_override(map, issues)
    } else {
        None
    };
    let mut readiness = parse_readiness(map, issues);
    if action == Action::Stop {
        check_stop_readiness(readiness.as_ref(), issues);
    } else if load_balancing == LoadBalancing::Drain && readiness.is_none() {
        // A Start of a drained tier waits for its targets unless told otherwise.
        readiness = Some(Readiness {
            check: ReadinessCheck::TargetsHealthy,
            timeout: Duration::from_secs(DEFAULT_READINESS_TIMEOUT_SECS),
            on_timeout: ReadinessOnTimeout::Continue,
        });
    }
    let start_rules = (action == Action::Start).then(|| parse_start_rules(map, issues));

    Some(ActionSpec {
        sequence: sequence?,
        synchronous,
        inter_tier_delay: delay,
        ignore,
        auto_scaling,
        load_balancing,
        hibernate,
        override_check,
        readiness,
        start_rules,
    })
}

/// `TierLoadBalancing`: `Ignore` (the default) or `Drain`, any case.
fn parse_load_balancing(map: &Map<String, Value>, issues: &mut Issues) -> LoadBalancing {
    match opt_string(map, "TierLoadBalancing", issues)
        .map(|m| m.to_ascii_lowercase())
        .as_deref()
    {
        None | Some("ignore") => LoadBalancing::Ignore,
        Some("drain") => LoadBalancing::Drain,
        Some(other) => {
            issues.push("TierLoadBalancing", format!("{other:?} is not \"Ignore\" or \"Drain\""));
            LoadBalancing::Ignore
        }
    }
}

/// `TierStartConfirmTimeout`, `TierStartFailure` and `TierFallbackTypes`
/// (keys only TierStart accepts; see [`check_section_keys`]).
fn parse_start_rules(map: &Map<String, Value>, issues: &mut Issues) -> StartRules {
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

/// Reports stop-only keys in `TierStart`, then keys the section does not know.
fn check_section_keys(map: &Map<String, Value>, action: Action, issues: &mut Issues) {
    let known: Vec<&str> = match action {
        Action::Start => COMMON_KEYS.to_vec(),
        Action::Stop => COMMON_KEYS.iter().chain(STOP_ONLY_KEYS).copied().collect(),
    };
    let (known, elsewhere, section): (Vec<&str>, &[&str], &str) = match action {
        Action::Start => (
            known.into_iter().chain(START_ONLY_KEYS.iter().copied()).collect(),
            STOP_ONLY_KEYS,
            "TierStop",
        ),
        Action::Stop => (known, START_ONLY_KEYS, "TierStart"),
    };
    for key in elsewhere {
        if map.contains_key(*key) {
            issues.push(key, format!("is only valid in {section}"));
        }
    }
    let unknown: Map<String, Value> = map
        .iter()
        .filter(|(k, _)| !elsewhere.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    reject_unknown(&unknown, &known, issues);
}

/// `TierSequence`: required, a whole number up to `MAX_SEQUENCE`.
fn parse_sequence(map: &Map<String, Value>, issues: &mut Issues) -> Option<u64> {
    let sequence = opt_u64(map, "TierSequence", MAX_SEQUENCE, issues);
    let blank = match map.get("TierSequence") {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        _ => false,
    };
    if blank {
        // An empty sequence must not silently drop the section.
        issues.push("TierSequence", "is required");
    }
    sequence
}

/// `TierAutoScalingGroups`: `Skip` (the default), `Suspend` or
/// `ScaleToZero`, any case.
fn parse_auto_scaling(map: &Map<String, Value>, issues: &mut Issues) -> AutoScalingMode {
    match opt_string(map, "TierAutoScalingGroups", issues)
        .map(|m| m.to_ascii_lowercase())
        .as_deref()
    {
        None | Some("skip") => AutoScalingMode::Skip,
        Some("suspend") => AutoScalingMode::Suspend,
        Some("scaletozero") => AutoScalingMode::ScaleToZero,
        Some(other) => {
            issues.push(
                "TierAutoScalingGroups",
                format!("{other:?} is not \"Skip\", \"Suspend\" or \"ScaleToZero\""),
            );
            AutoScalingMode::Skip
        }
    }
}

/// In `TierStop` only `State` readiness can hold.
fn check_stop_readiness(readiness: Option<&Readiness>, issues: &mut Issues) {
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

/// `TierStopOverrideFilename` and `TierStopOverrideOperatingSystem` (both or neither).
fn parse_override(map: &Map<String, Value>, issues: &mut Issues) -> Option<OverrideCheck> {
    let file = opt_string(map, "TierStopOverrideFilename", issues);
    let os_text = opt_string(map, "TierStopOverrideOperatingSystem", issues);
    let os = match os_text.as_deref() {
        None => None,
        Some(text) => match GuestOs::parse(text) {
            Some(os) => Some(os),
            None => {
                issues.push(
                    "TierStopOverrideOperatingSystem",
                    format!("{text:?} is not \"Linux\" or \"Windows\""),
                );
                return None;
            }
        },
    };
    match (file, os) {
        (None, None) => None,
        (Some(_), None) => {
            issues.push(
                "TierStopOverrideOperatingSystem",
                "is required when TierStopOverrideFilename is set",
            );
            None
        }
        (None, Some(_)) => {
            issues.push(
                "TierStopOverrideFilename",
                "is required when TierStopOverrideOperatingSystem is set",
            );
            None
        }
        (Some(file), Some(os)) => match OverrideCheck::new(&file, os) {
            Ok(check) => Some(check),
            Err(reason) => {
                issues.push(
                    "TierStopOverrideFilename",
                    format!("{}: {reason}", show(&Value::String(file))),
                );
                None
            }
        },
    }
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

/// `TierReadiness`, `TierReadinessTimeout` and `TierReadinessOnTimeout`.
fn parse_readiness(map: &Map<String, Value>, issues: &mut Issues) -> Option<Readiness> {
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

/// `TierScaling`: profile name to an instance type string or a map.
fn parse_scaling(map: &Map<String, Value>, issues: &mut Issues) -> BTreeMap<String, ScalingTarget> {
    let mut out = BTreeMap::new();
    for (profile, value) in map {
        if profile.trim().is_empty() {
            issues.push("", "profile names must not be empty");
            continue;
        }
        let target = match value {
            Value::String(t) => parse_type(t.trim())
                .map_err(|e| (profile.clone(), e))
                .map(|(ty, unlimited)| ScalingTarget {
                    instance_type: Some(ty),
                    unlimited_credits: unlimited,
                    fleet_subset: None,
                }),
            Value::Object(inner) => match parse_scaling_map(inner, &mut issues.nested(profile)) {
                Some(target) => Ok(target),
                None => continue,
            },
            other => Err((
                profile.clone(),
                format!(
                    "expected an instance type string or a map {{InstanceType, FleetSubset}}, found {}",
                    show(other)
                ),
            )),
        };
        match target {
            Ok(t) => {
                out.insert(profile.clone(), t);
            }
            Err((field, message)) => issues.push(&field, message),
        }
    }
    out
}

/// The map form of a profile, `{InstanceType, FleetSubset}`; `None` after an issue.
fn parse_scaling_map(inner: &Map<String, Value>, nested: &mut Issues) -> Option<ScalingTarget> {
    reject_unknown(inner, &["InstanceType", "FleetSubset"], nested);
    let ty = match opt_string(inner, "InstanceType", nested) {
        Some(t) => match parse_type(&t) {
            Ok(parsed) => Some(parsed),
            Err(e) => {
                nested.push("InstanceType", e);
                return None;
            }
        },
        None => None,
    };
    let subset = match inner.get("FleetSubset") {
        None | Some(Value::Null) => None,
        Some(v) => match parse_subset(v) {
            Ok(s) => s,
            Err(e) => {
                nested.push("FleetSubset", e);
                return None;
            }
        },
    };
    if ty.is_none() && subset.is_none() {
        nested.push("", "needs InstanceType, FleetSubset or both");
        return None;
    }
    Some(ScalingTarget {
        unlimited_credits: ty.as_ref().is_some_and(|(_, u)| *u),
        instance_type: ty.map(|(t, _)| t),
        fleet_subset: subset,
    })
}

/// `t2.nano` or `t2.nano.u` (CPU credits unlimited) -> the type and the flag.
fn parse_type(text: &str) -> Result<(String, bool), String> {
    let (ty, unlimited) = match text.strip_suffix(".u") {
        Some(base) => (base, true),
        None => (text, false),
    };
    if is_instance_type(ty) {
        Ok((ty.to_string(), unlimited))
    } else {
        Err(format!(
            "{text:?} is not an instance type such as \"t3.micro\" (or \"t3.micro.u\" for unlimited CPU credits)"
        ))
    }
}

/// `'2'`, `2`, `'50%'` -> a FleetSubset; an empty string is absent.
fn parse_subset(value: &Value) -> Result<Option<FleetSubset>, String> {
    let text = match value {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) if n.as_u64().is_some() => return Ok(n.as_u64().map(FleetSubset::Count)),
        other => {
            return Err(format!(
                "expected a count or a percentage such as '2' or '50%', found {}",
                show(other)
            ))
        }
    };
    if text.is_empty() {
        return Ok(None);
    }
    let parsed = match text.strip_suffix('%') {
        Some(p) => p.trim().parse::<u64>().ok().map(FleetSubset::Percent),
        None => text.parse::<u64>().ok().map(FleetSubset::Count),
    };
    parsed
        .map(Some)
        .ok_or_else(|| format!("{text:?} is not a count or a whole percentage such as '2' or '50%'"))
}

use crate::instance::looks_like_instance_type as is_instance_type;
