//! A tier's `TierStart` or `TierStop` section: its order, pacing, Auto
//! Scaling and load balancing modes, override check, readiness and start
//! rules, parsed phase by phase.

use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

use super::readiness::{check_stop_readiness, parse_readiness, DEFAULT_READINESS_TIMEOUT_SECS};
use super::start_rules::parse_start_rules;
use super::{
    secs, Readiness, ReadinessCheck, ReadinessOnTimeout, StartRules, DEFAULT_INTER_TIER_DELAY_SECS, MAX_SECONDS,
    MAX_SEQUENCE,
};
use crate::action::Action;
use crate::config::fields::{opt_bool, opt_secs, opt_string, opt_u64, reject_unknown, show, Issues};
use crate::override_check::{GuestOs, OverrideCheck};

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

/// Parses a `TierStart` or `TierStop` section, phase by phase.
pub(super) fn parse_section(map: &Map<String, Value>, action: Action, issues: &mut Issues) -> Option<ActionSpec> {
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
