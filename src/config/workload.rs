//! The WorkloadSpecification item: the tags that find the workload's
//! instances, where they run, and the workload-wide settings.

mod alarms;
mod calendars;
mod cross_account;
mod run_events;
mod windows;

use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

use alarms::parse_alarms;
pub use alarms::AlarmChoice;
use calendars::parse_calendars;
pub use calendars::CalendarActions;
use cross_account::parse_cross_account;
pub use cross_account::{CrossAccount, DEFAULT_EXTERNAL_ID};
use run_events::parse_run_events;
use windows::parse_windows;
pub use windows::Windows;

use super::fields::{opt_secs, opt_string, req_string, show, warn_unknown, Issues};

/// The original acts in this region when `WorkloadRegion` is absent.
pub const DEFAULT_WORKLOAD_REGION: &str = "us-west-2";

/// The original's pause after a type change, before the start (seconds).
pub const DEFAULT_SCALE_INSTANCE_DELAY_SECS: f64 = 4.0;

const KNOWN: &[&str] = &[
    "SpecName",
    "WorkloadFilterTagName",
    "WorkloadFilterTagValue",
    "WorkloadRegion",
    "TierFilterTagName",
    "VPC_ID",
    "DisableAllSchedulingActions",
    "SNSTopicName",
    "SSMS3BucketName",
    "SSMS3KeyPrefixName",
    "CrossAccountRole",
    "CrossAccountRoleExternalId",
    "ScaleInstanceDelay",
    "OverrideTagName",
    "PreferredTypesTagName",
    "ChangeCalendarNames",
    "ChangeCalendarActions",
    "AlarmPrefixes",
    "AlarmSelection",
    "EventBusName",
    "ChatTopicName",
    "MaintenanceWindows",
    "MaintenanceLeadMinutes",
    "MaintenanceOverrunMinutes",
    "MaintenanceWaitForAgents",
];

/// Tier-independent configuration of one workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkloadSpec {
    /// `SpecName`: the workload's identifier.
    pub spec_name: String,
    /// `WorkloadFilterTagName`: tag key grouping the workload's instances.
    pub filter_tag_name: String,
    /// `WorkloadFilterTagValue`: tag value of this workload's instances.
    pub filter_tag_value: String,
    /// `WorkloadRegion`: where the instances run.
    pub region: String,
    /// `TierFilterTagName`: tag key whose value names an instance's tier.
    pub tier_tag_name: String,
    /// `VPC_ID`: optional scope for discovery.
    pub vpc_id: Option<String>,
    /// `DisableAllSchedulingActions` is exactly `"1"`: the global kill switch.
    pub scheduling_disabled: bool,
    /// `SNSTopicName`: topic (name or ARN) for notifications, if any.
    pub sns_topic: Option<String>,
    /// `SSMS3BucketName`: where SSM writes override-check output.
    pub ssm_bucket: Option<String>,
    /// `SSMS3KeyPrefixName`: key prefix below the bucket.
    pub ssm_key_prefix: Option<String>,
    /// `CrossAccountRole` (+ `CrossAccountRoleExternalId`): act in another account.
    pub cross_account: Option<CrossAccount>,
    /// `ScaleInstanceDelay`: pause after a tier's type changes, before its start.
    pub scale_instance_delay: Duration,
    /// `OverrideTagName`: the instance tag holding expiring overrides.
    pub override_tag: String,
    /// `PreferredTypesTagName`: the instance tag listing the types tried,
    /// in order, when EC2 has no capacity for the instance's own type.
    pub preferred_types_tag: String,
    /// `ChangeCalendarNames`: SSM Change Calendars that must be OPEN.
    pub change_calendars: Vec<String>,
    /// `ChangeCalendarActions`: the actions the calendars gate.
    pub calendar_actions: CalendarActions,
    /// `AlarmPrefixes` and `AlarmSelection`: alarms muted while stopped.
    pub alarms: AlarmChoice,
    /// `EventBusName` (a name or ARN): the bus a run's events go to; none,
    /// no events.
    pub event_bus: Option<String>,
    /// `ChatTopicName`: the SNS topic AWS Chatbot reads, one message per
    /// run end.
    pub chat_topic: Option<String>,
    /// `MaintenanceWindows` and `MaintenanceLeadMinutes`: the SSM
    /// maintenance windows the scheduler opens the workload for.
    pub windows: Windows,
}

/// The identifying attributes, each `None` when missing or invalid.
struct Identity {
    spec_name: Option<String>,
    filter_tag_name: Option<String>,
    filter_tag_value: Option<String>,
    tier_tag_name: Option<String>,
}

impl WorkloadSpec {
    /// What discovery looks for: this workload's tagged instances.
    pub fn discovery(&self) -> crate::instance::Discovery {
        crate::instance::Discovery {
            workload_tag: (self.filter_tag_name.clone(), self.filter_tag_value.clone()),
            tier_tag_key: self.tier_tag_name.clone(),
            vpc_id: self.vpc_id.clone(),
            override_tag_key: self.override_tag.clone(),
            preferred_types_tag_key: self.preferred_types_tag.clone(),
        }
    }
}

/// Parses and validates a WorkloadSpecification item, phase by phase.
pub(super) fn parse(
    item: &Value,
    expected_name: &str,
    issues: &mut Issues,
    warnings: &mut Issues,
) -> Option<WorkloadSpec> {
    let Some(map) = item.as_object() else {
        issues.push("", format!("expected a map, found {}", show(item)));
        return None;
    };
    warn_unknown(map, KNOWN, warnings);
    let identity = parse_identity(map, expected_name, issues);
    let region = parse_region(map, issues, warnings);
    let vpc_id = parse_vpc_id(map, issues);
    let scheduling_disabled = scheduling_disabled(map);
    let sns_topic = parse_sns_topic(map, issues);
    let (ssm_bucket, ssm_key_prefix) = parse_ssm_output(map, issues);
    let cross_account = parse_cross_account(map, issues);
    let scale_instance_delay = opt_secs(map, "ScaleInstanceDelay", 3600, issues)
        .unwrap_or(Duration::from_secs_f64(DEFAULT_SCALE_INSTANCE_DELAY_SECS));
    let override_tag = parse_tag_name(
        map,
        "OverrideTagName",
        crate::override_tag::DEFAULT_OVERRIDE_TAG,
        issues,
    );
    let preferred_types_tag = parse_tag_name(map, "PreferredTypesTagName", DEFAULT_PREFERRED_TYPES_TAG, issues);
    let (change_calendars, calendar_actions) = parse_calendars(map, issues);
    let alarms = parse_alarms(map, issues);
    let (event_bus, chat_topic) = parse_run_events(map, issues);
    let windows = parse_windows(map, issues);

    Some(WorkloadSpec {
        spec_name: identity.spec_name?,
        filter_tag_name: identity.filter_tag_name?,
        filter_tag_value: identity.filter_tag_value?,
        region: region?,
        tier_tag_name: identity.tier_tag_name?,
        vpc_id,
        scheduling_disabled,
        sns_topic,
        ssm_bucket,
        ssm_key_prefix,
        cross_account,
        scale_instance_delay,
        override_tag,
        preferred_types_tag,
        change_calendars,
        calendar_actions,
        alarms,
        event_bus,
        chat_topic,
        windows,
    })
}

/// `SpecName` and the tag names and value that find the workload's instances.
fn parse_identity(map: &Map<String, Value>, expected_name: &str, issues: &mut Issues) -> Identity {
    let spec_name = req_string(map, "SpecName", issues);
    if let Some(name) = &spec_name {
        if name != expected_name {
            issues.push(
                "SpecName",
                format!("{name:?} does not match the requested workload {expected_name:?}"),
            );
        }
    }
    let filter_tag_name = req_string(map, "WorkloadFilterTagName", issues);
    let filter_tag_value = req_string(map, "WorkloadFilterTagValue", issues);
    let tier_tag_name = req_string(map, "TierFilterTagName", issues);
    for (key, value, max) in [
        ("WorkloadFilterTagName", &filter_tag_name, 128),
        ("TierFilterTagName", &tier_tag_name, 128),
        ("WorkloadFilterTagValue", &filter_tag_value, 256),
    ] {
        if let Some(v) = value {
            if v.chars().count() > max {
                issues.push(key, format!("is longer than the {max} characters EC2 allows for a tag"));
            }
        }
    }
    if filter_tag_name.is_some() && filter_tag_name == tier_tag_name {
        issues.push("TierFilterTagName", "must differ from WorkloadFilterTagName");
    }
    Identity {
        spec_name,
        filter_tag_name,
        filter_tag_value,
        tier_tag_name,
    }
}

/// `WorkloadRegion`, defaulting (with a warning) to the original's region.
fn parse_region(map: &Map<String, Value>, issues: &mut Issues, warnings: &mut Issues) -> Option<String> {
    let region = match opt_string(map, "WorkloadRegion", issues) {
        Some(r) => Some(r),
        None if map
            .get("WorkloadRegion")
            .is_some_and(|v| !v.is_string() && !v.is_null()) =>
        {
            None
        }
        None => {
            warnings.push(
                "WorkloadRegion",
                format!("is missing: the workload is acted on in {DEFAULT_WORKLOAD_REGION}, as the original did"),
            );
            Some(DEFAULT_WORKLOAD_REGION.to_string())
        }
    };
    if let Some(r) = &region {
        if !is_region(r) {
            issues.push(
                "WorkloadRegion",
                format!("{r:?} is not an AWS region name such as \"us-west-2\""),
            );
        }
    }
    region
}

/// `VPC_ID`: an optional `vpc-...` id.
fn parse_vpc_id(map: &Map<String, Value>, issues: &mut Issues) -> Option<String> {
    let vpc_id = opt_string(map, "VPC_ID", issues);
    if let Some(v) = &vpc_id {
        let ok = v
            .strip_prefix("vpc-")
            .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric()));
        if !ok {
            issues.push("VPC_ID", format!("{v:?} is not a VPC id such as \"vpc-0a1b2c3d\""));
        }
    }
    vpc_id
}

/// `DisableAllSchedulingActions`: the global kill switch.
fn scheduling_disabled(map: &Map<String, Value>) -> bool {
    // The seed: "1" turns the workload off, any other value is ignored. The
    // original reads it through the low-level client, so a number 1 counts
    // too; a native boolean true means the same.
    match map.get("DisableAllSchedulingActions") {
        Some(Value::String(s)) => s.trim() == "1",
        Some(Value::Number(n)) => n.as_f64() == Some(1.0),
        Some(Value::Bool(b)) => *b,
        _ => false,
    }
}

/// `SNSTopicName`: an optional topic name or ARN.
fn parse_sns_topic(map: &Map<String, Value>, issues: &mut Issues) -> Option<String> {
    let sns_topic = opt_string(map, "SNSTopicName", issues);
    if let Some(t) = &sns_topic {
        let ok = t.starts_with("arn:")
            || (t.len() <= 256
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'));
        if !ok {
            issues.push("SNSTopicName", format!("{t:?} is not an SNS topic name or ARN"));
        }
    }
    sns_topic
}

/// `SSMS3BucketName` and `SSMS3KeyPrefixName`: where SSM writes its output.
fn parse_ssm_output(map: &Map<String, Value>, issues: &mut Issues) -> (Option<String>, Option<String>) {
    let ssm_bucket = opt_string(map, "SSMS3BucketName", issues);
    if let Some(b) = &ssm_bucket {
        let ok = (3..=255).contains(&b.len())
            && b.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if !ok {
            issues.push("SSMS3BucketName", format!("{b:?} is not an S3 bucket name"));
        }
    }
    let ssm_key_prefix = opt_string(map, "SSMS3KeyPrefixName", issues).map(|p| p.trim_matches('/').to_string());
    if let Some(p) = &ssm_key_prefix {
        if p.len() > 500 || p.chars().any(|c| c.is_control()) {
            issues.push(
                "SSMS3KeyPrefixName",
                "must be at most 500 characters without control characters",
            );
        }
    }
    (ssm_bucket, ssm_key_prefix)
}

/// The default `PreferredTypesTagName`.
pub const DEFAULT_PREFERRED_TYPES_TAG: &str = "SchedulerPreferredTypes";

/// A tag name attribute (`OverrideTagName`, `PreferredTypesTagName`),
/// defaulting to `default`.
fn parse_tag_name(map: &Map<String, Value>, field: &str, default: &str, issues: &mut Issues) -> String {
    let name = opt_string(map, field, issues).unwrap_or_else(|| default.to_string());
    if name.chars().count() > 128 || name.to_ascii_lowercase().starts_with("aws:") {
        issues.push(
            field,
            "must be a tag key of at most 128 characters, not starting with \"aws:\"",
        );
    }
    name
}

/// `us-west-2`, `us-gov-west-1`, `cn-north-1`, `ap-southeast-5`.
pub(crate) fn is_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()))
        && parts.last().is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
}
