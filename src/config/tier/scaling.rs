//! `TierScaling`: the profiles a Start may apply to a tier (an instance
//! type, how many of the tier's instances run, or both).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::fields::{opt_string, reject_unknown, show, Issues};
use crate::instance::looks_like_instance_type as is_instance_type;

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

/// What is wrong with a `TierScaling` profile or one of its attributes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum ScalingError {
    /// A profile that is neither a type string nor a map (the value shown).
    #[error("expected an instance type string or a map {{InstanceType, FleetSubset}}, found {0}")]
    NotAProfile(String),
    /// An `InstanceType` (or profile string) that is not a type.
    #[error("{0:?} is not an instance type such as \"t3.micro\" (or \"t3.micro.u\" for unlimited CPU credits)")]
    NotAType(String),
    /// A `FleetSubset` neither a string nor a count (the value shown).
    #[error("expected a count or a percentage such as '2' or '50%', found {0}")]
    NotASubset(String),
    /// A `FleetSubset` string that does not read.
    #[error("{0:?} is not a count or a whole percentage such as '2' or '50%'")]
    BadSubset(String),
}

/// `TierScaling`: profile name to an instance type string or a map.
pub(super) fn parse_scaling(map: &Map<String, Value>, issues: &mut Issues) -> BTreeMap<String, ScalingTarget> {
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
            other => Err((profile.clone(), ScalingError::NotAProfile(show(other)))),
        };
        match target {
            Ok(t) => {
                out.insert(profile.clone(), t);
            }
            Err((field, error)) => issues.push(&field, error.to_string()),
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
                nested.push("InstanceType", e.to_string());
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
                nested.push("FleetSubset", e.to_string());
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
fn parse_type(text: &str) -> Result<(String, bool), ScalingError> {
    let (ty, unlimited) = match text.strip_suffix(".u") {
        Some(base) => (base, true),
        None => (text, false),
    };
    if is_instance_type(ty) {
        Ok((ty.to_string(), unlimited))
    } else {
        Err(ScalingError::NotAType(text.to_string()))
    }
}

/// `'2'`, `2`, `'50%'` -> a FleetSubset; an empty string is absent.
fn parse_subset(value: &Value) -> Result<Option<FleetSubset>, ScalingError> {
    let text = match value {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) if n.as_u64().is_some() => return Ok(n.as_u64().map(FleetSubset::Count)),
        other => return Err(ScalingError::NotASubset(show(other))),
    };
    if text.is_empty() {
        return Ok(None);
    }
    let parsed = match text.strip_suffix('%') {
        Some(p) => p.trim().parse::<u64>().ok().map(FleetSubset::Percent),
        None => text.parse::<u64>().ok().map(FleetSubset::Count),
    };
    parsed.map(Some).ok_or(ScalingError::BadSubset(text))
}
