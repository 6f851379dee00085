//! The WorkloadSpecification item.

use serde::Serialize;
use serde_json::Value;

use super::fields::{opt_string, req_string, show, Issues};

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
}

pub(super) fn parse(item: &Value, expected_name: &str, issues: &mut Issues) -> Option<WorkloadSpec> {
    let Some(map) = item.as_object() else {
        issues.push("", format!("expected a map, found {}", show(item)));
        return None;
    };
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

    let region = req_string(map, "WorkloadRegion", issues);
    if let Some(r) = &region {
        if !is_region(r) {
            issues.push(
                "WorkloadRegion",
                format!("{r:?} is not an AWS region name such as \"us-west-2\""),
            );
        }
    }
    let vpc_id = opt_string(map, "VPC_ID", issues);
    if let Some(v) = &vpc_id {
        let ok = v
            .strip_prefix("vpc-")
            .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric()));
        if !ok {
            issues.push("VPC_ID", format!("{v:?} is not a VPC id such as \"vpc-0a1b2c3d\""));
        }
    }
    // The seed: any value other than the string "1" is ignored.
    let scheduling_disabled =
        matches!(map.get("DisableAllSchedulingActions"), Some(Value::String(s)) if s.trim() == "1");

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

    Some(WorkloadSpec {
        spec_name: spec_name?,
        filter_tag_name: filter_tag_name?,
        filter_tag_value: filter_tag_value?,
        region: region?,
        tier_tag_name: tier_tag_name?,
        vpc_id,
        scheduling_disabled,
        sns_topic,
        ssm_bucket,
        ssm_key_prefix,
    })
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
