//! KMS readiness of a Start: the customer managed keys of the instances'
//! encrypted EBS volumes, judged before the first StartInstances.
//!
//! EC2 accepts a StartInstances whose volume key it may not use: the
//! instance goes `pending`, then back to `stopped` with `StateReason`
//! `Client.InternalError`. A key that is not Enabled fails every start; a
//! customer managed key fails unless the caller may create grants on it
//! (the stack's `EbsKmsKeyArns`). AWS managed keys (`aws/ebs`) need nothing.
//! Only a confirmed start proves that EC2 could use the key: this is the
//! advance warning. Pure: the facts come in as data ([`crate::volume_keys`],
//! which the orchestrator or the CLI read through the ports).

use std::collections::BTreeMap;

use serde::Serialize;

use super::{InstancePlan, Plan, Step};
use crate::action::Action;
pub use crate::volume_keys::{
    GrantedKeys, GrantedKeysError, KeyFacts, KeyLookup, KeyManager, VolumeKey, GRANTED_KEYS_ENV,
};

/// How much a key finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    /// Nothing to do.
    Ok,
    /// The start may fail.
    Warning,
    /// The start will fail.
    Error,
}

/// One key of an instance's encrypted volumes, and what the plan makes of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyNote {
    /// The key's ARN (as the volume names it when it could not be described).
    pub key: String,
    /// The instance's volumes encrypted with it.
    pub volumes: Vec<String>,
    /// `KeyManager`, when KMS said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manager: Option<KeyManager>,
    /// `KeyState`, when KMS said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Ok, warning or error.
    pub severity: Severity,
    /// What it means for the start.
    pub message: String,
}

/// What the key check found for a Start: the volume keys and the facts of
/// each distinct key, or why it could not look.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeySurvey {
    /// The encrypted volumes' keys, per instance.
    pub volumes: Vec<VolumeKey>,
    /// What KMS said of each distinct key.
    pub facts: Vec<KeyFacts>,
}

/// The instances a Start plan acts on: those whose volume keys matter.
pub fn instances_to_check(plan: &Plan) -> Vec<String> {
    if plan.action != Action::Start {
        return Vec::new();
    }
    plan.instances()
        .filter(|(_, i)| matches!(i.step, Step::Act | Step::WaitThenAct { .. }))
        .map(|(_, i)| i.id.clone())
        .collect()
}

/// The distinct keys of the volumes, in order.
pub fn distinct_keys(volumes: &[VolumeKey]) -> Vec<String> {
    let mut keys: Vec<String> = volumes.iter().map(|v| v.key_id.clone()).collect();
    keys.sort();
    keys.dedup();
    keys
}

impl Plan {
    /// Notes the survey on each instance it covers (a Start plan only), and
    /// one plan warning per key that makes a start fail or may. `granted`
    /// is the stack's `EbsKmsKeyArns`; for a workload in another account
    /// the member stack's list is not known here, and a key the member role
    /// may describe is taken as listed (the member template grants
    /// DescribeKey and CreateGrant on the same keys).
    pub fn apply_key_survey(&mut self, survey: &KeySurvey, granted: &GrantedKeys) {
        if self.action != Action::Start {
            return;
        }
        let facts: BTreeMap<&str, &KeyLookup> = survey.facts.iter().map(|f| (f.key_id.as_str(), &f.lookup)).collect();
        let member_account = self.account.is_some();
        let mut by_key: BTreeMap<String, (Severity, String, Vec<String>)> = BTreeMap::new();
        for tier in self.groups.iter_mut().flat_map(|g| g.tiers.iter_mut()) {
            for instance in &mut tier.instances {
                let mine: Vec<&VolumeKey> = survey.volumes.iter().filter(|v| v.instance_id == instance.id).collect();
                instance.keys = notes_of(&mine, &facts, granted, member_account);
                for note in instance.keys.iter().filter(|n| n.severity > Severity::Ok) {
                    let entry = by_key
                        .entry(note.key.clone())
                        .or_insert_with(|| (note.severity, note.message.clone(), Vec::new()));
                    entry.2.push(instance.id.clone());
                }
            }
        }
        for (key, (severity, message, ids)) in by_key {
            let what = if severity == Severity::Error {
                "error"
            } else {
                "warning"
            };
            self.warnings.push(format!(
                "KMS key {key} ({what}; volumes of {}): {message}",
                ids.join(", ")
            ));
        }
    }

    /// The key check could not look (DescribeVolumes failed, ...): a Start
    /// goes on, and the plan says what was not checked.
    pub fn key_survey_failed(&mut self, why: &str) {
        self.warnings.push(format!(
            "KMS readiness not checked ({why}): a start may still fail on a volume's key"
        ));
    }
}

/// The notes of one instance's volume keys: customer managed keys and keys
/// with a problem; AWS managed keys that are Enabled need nothing.
fn notes_of(
    volumes: &[&VolumeKey],
    facts: &BTreeMap<&str, &KeyLookup>,
    granted: &GrantedKeys,
    member_account: bool,
) -> Vec<KeyNote> {
    let mut by_key: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for v in volumes {
        by_key.entry(v.key_id.as_str()).or_default().push(v.volume_id.clone());
    }
    by_key
        .into_iter()
        .filter_map(|(key, mut vols)| {
            vols.sort();
            vols.dedup();
            judge(key, facts.get(key).copied(), granted, member_account).map(|mut note| {
                note.volumes = vols;
                note
            })
        })
        .collect()
}

/// What one key means for a start; `None` for an Enabled AWS managed key.
fn judge(key: &str, lookup: Option<&KeyLookup>, granted: &GrantedKeys, member_account: bool) -> Option<KeyNote> {
    let note = |key: &str, manager, state: Option<&String>, severity, message: String| KeyNote {
        key: key.to_string(),
        volumes: Vec::new(),
        manager,
        state: state.cloned(),
        severity,
        message,
    };
    match lookup {
        None => Some(note(
            key,
            None,
            None,
            Severity::Warning,
            "not described (no answer from KMS for it)".into(),
        )),
        Some(KeyLookup::Unreadable { code, message }) if code == "NotFoundException" => Some(note(
            key,
            None,
            None,
            Severity::Error,
            format!("KMS says the key does not exist ({message}): a start would fail"),
        )),
        Some(KeyLookup::Unreadable { code, message }) => Some(note(
            key,
            None,
            None,
            Severity::Warning,
            format!(
                "cannot be described ({code}: {message}); an AWS managed key (aws/ebs) needs nothing, a customer \
                 managed key makes starts fail unless the function may create grants on it (EbsKmsKeyArns)"
            ),
        )),
        Some(KeyLookup::Described { arn, manager, state }) if state != "Enabled" => Some(note(
            arn,
            Some(*manager),
            Some(state),
            Severity::Error,
            format!("the key is {state}: EC2 cannot use it, a start would fail (pending, then stopped)"),
        )),
        Some(KeyLookup::Described {
            manager: KeyManager::Aws,
            ..
        }) => None,
        Some(KeyLookup::Described { arn, manager, state }) => {
            let listed = granted.contains(arn) || granted.contains(key);
            Some(if listed || member_account {
                let why = if listed {
                    "in EbsKmsKeyArns"
                } else {
                    "the member role may describe it (its stack's EbsKmsKeyArns lists it)"
                };
                note(
                    arn,
                    Some(*manager),
                    Some(state),
                    Severity::Ok,
                    format!("customer managed, Enabled, {why}"),
                )
            } else {
                note(
                    arn,
                    Some(*manager),
                    Some(state),
                    Severity::Warning,
                    "customer managed key not among the stack's EbsKmsKeyArns: starts will fail unless the \
                     function may create grants on it"
                        .into(),
                )
            })
        }
    }
}

impl InstancePlan {
    /// Why the instance is not started: a key of its volumes that makes the
    /// start fail (the orchestrator reports it failed, the others go on).
    pub fn key_refusal(&self) -> Option<String> {
        if !matches!(self.step, Step::Act | Step::WaitThenAct { .. }) {
            return None;
        }
        self.keys.iter().find(|n| n.severity == Severity::Error).map(|n| {
            format!(
                "not started: KMS key {} of {}: {}",
                n.key,
                n.volumes.join(", "),
                n.message
            )
        })
    }
}

#[cfg(test)]
mod tests;
