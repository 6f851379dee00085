//! Workload configuration: the seed's `WorkloadSpecification` and
//! `TierSpecification` items, parsed and validated as a whole.
//!
//! Items arrive as JSON values (the DynamoDB adapter converts attribute values;
//! `config import` reads JSON or YAML documents), so one parser serves both.
//! Every problem in every item is collected before anything is returned: an
//! operator fixes a configuration in one pass, and the orchestrator never sees
//! a half-valid one.

pub mod document;
mod fields;
mod tier;
mod workload;

use std::fmt;

use serde::Serialize;
use serde_json::Value;

pub(crate) use tier::secs;
pub use tier::{
    instance_types, show_secs, ActionSpec, AutoScalingMode, FleetSubset, LoadBalancing, Readiness, ReadinessCheck,
    ReadinessOnTimeout, ScalingTarget, StartFailure, StartRules, TierSpec, DEFAULT_INTER_TIER_DELAY_SECS,
    DEFAULT_START_CONFIRM_SECS,
};
pub(crate) use workload::is_region;
pub use workload::{
    AlarmChoice, CalendarActions, CrossAccount, WorkloadSpec, DEFAULT_EXTERNAL_ID, DEFAULT_PREFERRED_TYPES_TAG,
    DEFAULT_WORKLOAD_REGION,
};

use crate::override_check::OverrideCheck;

/// One problem in a configuration, with the path of the offending field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigIssue {
    /// Where the problem is, e.g. `TierSpecification[Role_Web].TierStop.TierSequence`.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A configuration that cannot be used; nothing may be actioned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
pub struct ConfigError {
    /// The workload (SpecName) the configuration belongs to.
    pub workload: String,
    /// Every problem found, in item order.
    pub issues: Vec<ConfigIssue>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid configuration for workload {:?} ({} problem{}):",
            self.workload,
            self.issues.len(),
            if self.issues.len() == 1 { "" } else { "s" }
        )?;
        for issue in &self.issues {
            write!(f, "\n  - {issue}")?;
        }
        Ok(())
    }
}

/// How tier items are named in error paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemNaming {
    /// Items from DynamoDB: `TierSpecification[Role_Web]`.
    Table,
    /// Items from an import document: `tiers[1]`.
    Document,
    /// Items from a Loader document: `tiers.tiers[1]`.
    Loader,
}

/// A workload and all its tiers, validated together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkloadConfig {
    /// The WorkloadSpecification item.
    pub workload: WorkloadSpec,
    /// The TierSpecification items, in the order they were read.
    pub tiers: Vec<TierSpec>,
    /// What was accepted but deserves a look (unknown attributes, a missing
    /// WorkloadRegion), as the original logged them.
    pub warnings: Vec<ConfigIssue>,
}

impl WorkloadConfig {
    /// The member kinds other than EC2 some tier holds (`TierResourceTypes`,
    /// and Auto Scaling groups by `ScaleToZero`), in [`MemberKind::ALL`]
    /// order: what discovery must look for beside the instances.
    ///
    /// [`MemberKind::ALL`]: crate::member::MemberKind::ALL
    pub fn member_kinds(&self) -> Vec<crate::member::MemberKind> {
        crate::member::MemberKind::ALL
            .into_iter()
            .filter(|k| *k != crate::member::MemberKind::Ec2)
            .filter(|k| self.tiers.iter().any(|t| t.holds(*k)))
            .collect()
    }

    /// What of the workload a Start restores from records only the
    /// scheduler writes (the run ledger table): drained registrations,
    /// groups, services and node groups scaled to zero, fallback types,
    /// muted alarms. Empty: the workload needs no records.
    pub fn record_uses(&self) -> Vec<&'static str> {
        use crate::member::MemberKind;
        let sections = || self.tiers.iter().flat_map(|t| t.sections().map(|(_, s)| s));
        let mut uses = Vec::new();
        if sections().any(|s| s.load_balancing == LoadBalancing::Drain) {
            uses.push("TierLoadBalancing Drain");
        }
        if sections().any(|s| s.auto_scaling == AutoScalingMode::Suspend) {
            uses.push("TierAutoScalingGroups Suspend");
        }
        if self.tiers.iter().any(|t| t.holds(MemberKind::Asg)) {
            uses.push("TierAutoScalingGroups ScaleToZero");
        }
        if self.tiers.iter().any(|t| t.holds(MemberKind::Ecs)) {
            uses.push("ECS services");
        }
        if self.tiers.iter().any(|t| t.holds(MemberKind::Eks)) {
            uses.push("EKS node groups");
        }
        if sections().any(|s| s.start_rules.as_ref().is_some_and(|r| !r.fallback_types.is_empty())) {
            uses.push("TierFallbackTypes");
        }
        if self.workload.alarms.any() {
            uses.push("AlarmPrefixes");
        }
        uses
    }

    /// Parses and validates a workload item and its tier items.
    ///
    /// `expected_name` is the workload that was asked for; the item's SpecName
    /// must match it, and every tier item must belong to it.
    pub fn from_items(
        expected_name: &str,
        workload_item: &Value,
        tier_items: &[Value],
        naming: ItemNaming,
    ) -> Result<Self, ConfigError> {
        let mut issues = Vec::new();
        let mut warnings = Vec::new();
        let workload_prefix = match naming {
            ItemNaming::Table => "WorkloadSpecification",
            ItemNaming::Document => "workload",
            ItemNaming::Loader => "workloads.workload",
        };
        let workload = workload::parse(
            workload_item,
            expected_name,
            &mut fields::Issues::new(workload_prefix, &mut issues),
            &mut fields::Issues::new(workload_prefix, &mut warnings),
        );

        if tier_items.is_empty() {
            issues.push(ConfigIssue {
                path: "TierSpecification".into(),
                message: format!("no tier items found for SpecName {expected_name:?}"),
            });
        }
        let mut tiers: Vec<TierSpec> = Vec::with_capacity(tier_items.len());
        for (index, item) in tier_items.iter().enumerate() {
            let prefix = match naming {
                ItemNaming::Table => {
                    let name = item.get("TierTagValue").and_then(Value::as_str).unwrap_or("?");
                    format!("TierSpecification[{name}]")
                }
                ItemNaming::Document => format!("tiers[{index}]"),
                ItemNaming::Loader => format!("tiers.tiers[{index}]"),
            };
            let mut item_warnings = fields::Issues::new(prefix.clone(), &mut warnings);
            let mut item_issues = fields::Issues::new(prefix, &mut issues);
            if let Some(tier) = tier::parse(item, expected_name, &mut item_issues, &mut item_warnings) {
                if tiers.iter().any(|t| t.name == tier.name) {
                    item_issues.push("TierTagValue", format!("tier {:?} is defined twice", tier.name));
                } else {
                    tiers.push(tier);
                }
            }
        }

        if let Some(workload) = &workload {
            cross_check(workload, &tiers, &mut fields::Issues::new(workload_prefix, &mut issues));
        }

        match workload {
            Some(workload) if issues.is_empty() => Ok(Self {
                workload,
                tiers,
                warnings,
            }),
            _ => Err(ConfigError {
                workload: expected_name.to_string(),
                issues,
            }),
        }
    }

    /// Tiers whose stop action checks for an override file.
    pub fn override_checks(&self) -> impl Iterator<Item = (&TierSpec, &OverrideCheck)> {
        self.tiers
            .iter()
            .filter_map(|t| t.stop.as_ref().and_then(|s| s.override_check.as_ref()).map(|c| (t, c)))
    }
}

/// Rules that span the workload item and its tiers.
fn cross_check(workload: &WorkloadSpec, tiers: &[TierSpec], issues: &mut fields::Issues) {
    let has_override = tiers
        .iter()
        .any(|t| t.stop.as_ref().is_some_and(|s| s.override_check.is_some()));
    if has_override && workload.ssm_bucket.is_none() {
        issues.push(
            "SSMS3BucketName",
            "is required because a tier checks for an override file (SSM writes the check's output there)",
        );
    }
}

/// The raw configuration items of one workload.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadItems {
    /// The WorkloadSpecification item.
    pub workload: serde_json::Value,
    /// The TierSpecification items.
    pub tiers: Vec<serde_json::Value>,
}

#[cfg(test)]
mod tests;
