//! The plan: which instances, which tiers, in which order, and what happens to
//! each instance and why. Pure: built from the configuration and the
//! discovered instances, without I/O, so a dry run and a real run agree.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::action::Action;
use crate::config::WorkloadConfig;
use crate::instance::Instance;
use crate::traffic::{Alarm, AlarmStep};

mod checkpoint;
mod instance;
pub mod keys;
pub mod members;
mod order;
mod table;
mod tier;

pub use checkpoint::Checkpoint;
pub use instance::{InstancePlan, Step};
pub use order::TierGroup;
pub use tier::TierPlan;

use order::order_groups;
use tier::{group_by_tier, plan_tiers};

/// The whole ordered plan for one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// SpecName.
    pub workload: String,
    /// WorkloadRegion.
    pub region: String,
    /// Stop or Start.
    pub action: Action,
    /// The scaling profile in force (start only): the one asked for, when
    /// a tier lists it.
    pub scaling_profile: Option<String>,
    /// The account acted in when it is not the scheduler's own
    /// (`CrossAccountRole`): its id and the role assumed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<AccountTarget>,
    /// Configuration warnings (unknown attributes, a missing WorkloadRegion).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Why nothing will be actioned, when the kill switch is on.
    pub disabled_reason: Option<String>,
    /// Why a Start is skipped without discovery: the WorkloadState table
    /// says the last action was already a Start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_skip: Option<String>,
    /// Why the run is skipped without discovery: a Change Calendar is CLOSED.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calendar_skip: Option<String>,
    /// Tier groups in TierSequence order; tiers of a group run together.
    pub groups: Vec<TierGroup>,
    /// Tiers that take no part in this action, and why.
    pub left_out: Vec<LeftOut>,
    /// Workload instances whose tier tag names no configured tier.
    pub unmatched: Vec<Unmatched>,
    /// The alarms the workload keeps quiet while stopped (`AlarmPrefixes`)
    /// and what this run does to each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<AlarmPlan>,
    /// Record tags on the workload's resources that the ledger does not
    /// hold: not trusted, not acted on; a Start reports each as a failure.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub untrusted: Vec<crate::records::Untrusted>,
    /// The event bus the run's events go to (`EventBusName`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_bus: Option<String>,
    /// The SNS topic AWS Chatbot reads, for the run's end (`ChatTopicName`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_topic: Option<String>,
}

/// One alarm of the plan and its step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmPlan {
    /// The alarm as selected.
    pub alarm: Alarm,
    /// What the run does to it.
    pub step: AlarmStep,
    /// Why.
    pub reason: String,
}

impl Plan {
    /// Notes the record tags the ledger does not hold, with a warning each.
    pub fn note_untrusted(&mut self, untrusted: Vec<crate::records::Untrusted>) {
        for u in &untrusted {
            self.warnings
                .push(format!("{}: {}", u.member, u.reason(&self.workload)));
        }
        self.untrusted = untrusted;
    }

    /// Notes the selected alarms with their steps for this action.
    pub fn add_alarms(&mut self, alarms: Vec<Alarm>) {
        let stopping = self.action == Action::Stop;
        self.alarms = alarms
            .into_iter()
            .map(|alarm| {
                let (step, reason) = crate::traffic::alarm_step(&alarm, stopping);
                AlarmPlan {
                    alarm,
                    step,
                    reason: reason.to_string(),
                }
            })
            .collect();
    }

    /// Every instance plan in execution order.
    pub fn instances(&self) -> impl Iterator<Item = (&TierPlan, &InstancePlan)> {
        self.groups
            .iter()
            .flat_map(|g| g.tiers.iter())
            .flat_map(|t| t.instances.iter().map(move |i| (t, i)))
    }
}

/// Another account's instances, reached through `CrossAccountRole`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountTarget {
    /// The account id.
    pub account_id: String,
    /// The role assumed.
    pub role_arn: String,
}

/// A tier that takes no part in the action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LeftOut {
    /// TierTagValue.
    pub tier: String,
    /// Why it is left out.
    pub reason: String,
    /// How many of its instances were found.
    pub instances: usize,
}

/// An instance of the workload that belongs to no configured tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Unmatched {
    /// `i-...`
    pub id: String,
    /// Its tier tag value.
    pub tier_tag: String,
}

/// The profile used for a start: the one asked for. Without one no type
/// ever changes (the original's rule: a `default` entry is just a profile
/// named `default`, applied with `-p default`). Stops never resize.
pub fn effective_profile(action: Action, requested: Option<&str>) -> Option<&str> {
    match action {
        Action::Stop => None,
        Action::Start => requested,
    }
}

/// Builds the plan for `action` from a validated configuration and the
/// instances discovery returned, at `now` (seconds since the epoch, the
/// time expiring override tags are judged against). Pure: no clock, no I/O.
pub fn build(
    config: &WorkloadConfig,
    instances: &[Instance],
    action: Action,
    scaling_profile: Option<&str>,
    now: u64,
) -> Plan {
    let mut warnings: Vec<String> = config.warnings.iter().map(ToString::to_string).collect();
    let request = Request {
        action,
        profile: effective_profile(action, scaling_profile),
        now,
    };
    let mut by_tier = group_by_tier(instances);
    let (by_sequence, left_out) = plan_tiers(config, &mut by_tier, request, &mut warnings);
    let workload = &config.workload;
    Plan {
        workload: workload.spec_name.clone(),
        region: workload.region.clone(),
        action,
        scaling_profile: request
            .profile
            .filter(|p| config.tiers.iter().any(|t| t.scaling.contains_key(*p)))
            .map(str::to_string),
        account: workload.cross_account.as_ref().map(|c| AccountTarget {
            account_id: c.account_id.clone(),
            role_arn: c.role_arn.clone(),
        }),
        warnings,
        calendar_skip: None,
        disabled_reason: workload
            .scheduling_disabled
            .then(|| "DisableAllSchedulingActions is on: no action is taken for this workload".to_string()),
        state_skip: None,
        groups: order_groups(by_sequence),
        left_out,
        unmatched: unmatched(by_tier),
        alarms: Vec::new(),
        untrusted: Vec::new(),
        event_bus: workload.event_bus.clone(),
        chat_topic: workload.chat_topic.clone(),
    }
}

/// What the plan is built for: the action, the profile in force, the instant.
#[derive(Debug, Clone, Copy)]
struct Request<'a> {
    action: Action,
    profile: Option<&'a str>,
    now: u64,
}

/// Workload instances left in `by_tier`: no configured tier claimed them.
fn unmatched(by_tier: BTreeMap<&str, Vec<&Instance>>) -> Vec<Unmatched> {
    by_tier
        .into_iter()
        .flat_map(|(tag, list)| {
            list.into_iter().map(move |i| Unmatched {
                id: i.id.clone(),
                tier_tag: tag.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
