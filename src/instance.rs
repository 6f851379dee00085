//! EC2 instances as the core sees them: id, state, type and tier.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::traffic::Registrations;

/// The EC2 instance lifecycle states the scheduler reasons about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceState {
    /// Starting; will be running.
    Pending,
    /// Running.
    Running,
    /// Being terminated.
    ShuttingDown,
    /// Terminated; never acted on.
    Terminated,
    /// Stopping; will be stopped.
    Stopping,
    /// Stopped.
    Stopped,
}

impl InstanceState {
    /// Parses EC2's state name (`"running"`, `"shutting-down"`, ...).
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "pending" => Self::Pending,
            "running" => Self::Running,
            "shutting-down" => Self::ShuttingDown,
            "terminated" => Self::Terminated,
            "stopping" => Self::Stopping,
            "stopped" => Self::Stopped,
            _ => return None,
        })
    }

    /// EC2's name for the state.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::ShuttingDown => "shutting-down",
            Self::Terminated => "terminated",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
        }
    }
}

impl fmt::Display for InstanceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One discovered instance of the workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// `i-...`
    pub id: String,
    /// Current state.
    pub state: InstanceState,
    /// Current instance type, e.g. `t3.micro`.
    pub instance_type: String,
    /// Value of the workload's tier tag.
    pub tier: String,
    /// EBS optimisation is on.
    #[serde(default)]
    pub ebs_optimized: bool,
    /// The Auto Scaling group it belongs to (`aws:autoscaling:groupName`).
    #[serde(default)]
    pub auto_scaling_group: Option<String>,
    /// `HibernationOptions.Configured`: it can be hibernated.
    #[serde(default)]
    pub hibernation_configured: bool,
    /// `InstanceLifecycle` is `spot`.
    #[serde(default)]
    pub spot: bool,
    /// The workload's override tag (`OverrideTagName`) and its reason tag.
    #[serde(default)]
    pub override_tag: Option<(String, Option<String>)>,
    /// Its original-type and preferred-types tags.
    #[serde(default)]
    pub type_tags: TypeTags,
    /// Its VPC.
    #[serde(default)]
    pub vpc_id: Option<String>,
    /// The target group registrations a drain removed and recorded on it
    /// (`TierLoadBalancing: Drain`), which the next Start puts back.
    #[serde(default)]
    pub registrations: Registrations,
}

/// Why an instance is in its state, as EC2 says (`StateReason`): e.g.
/// `Client.InternalError` when a start failed because EC2 could not use
/// the KMS key of an encrypted volume.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StateReason {
    /// `Client.InternalError`, `Server.InsufficientInstanceCapacity`, ...
    pub code: String,
    /// EC2's message.
    pub message: String,
}

/// An instance's state now, with EC2's reason for it when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceStatus {
    /// `i-...`
    pub id: String,
    /// The state.
    pub state: InstanceState,
    /// EC2's `StateReason` (set after a stop, or a start that fell back).
    pub reason: Option<StateReason>,
}

impl Instance {
    /// A plain instance: not EBS-optimised, in no Auto Scaling group, not
    /// configured for hibernation, on demand, with no override or type tags.
    pub fn new(id: &str, tier: &str, state: InstanceState, instance_type: &str) -> Self {
        Self {
            id: id.to_string(),
            state,
            instance_type: instance_type.to_string(),
            tier: tier.to_string(),
            ebs_optimized: false,
            auto_scaling_group: None,
            hibernation_configured: false,
            spot: false,
            override_tag: None,
            type_tags: TypeTags::default(),
            vpc_id: None,
            registrations: Registrations::default(),
        }
    }
}

/// The tag EC2 Auto Scaling puts on its members.
pub const AUTO_SCALING_GROUP_TAG: &str = "aws:autoscaling:groupName";

/// What discovery looks for: the workload's instances in its region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Discovery {
    /// Workload tag key and value (`Environment` = `ENV001`).
    pub workload_tag: (String, String),
    /// The tier tag key (`Role`); instances without it are not part of a tier.
    pub tier_tag_key: String,
    /// Only instances in this VPC, when set.
    pub vpc_id: Option<String>,
    /// The tag key of expiring overrides (`OverrideTagName`).
    pub override_tag_key: String,
    /// The tag key of the types to fall back to (`PreferredTypesTagName`).
    pub preferred_types_tag_key: String,
}

/// Whether `t` reads as an EC2 instance type: `t2.nano`,
/// `m7i-flex.large`, `u-6tb1.metal`, `c6gn.16xlarge` (a family and a size
/// of lower-case letters, digits and dashes).
pub fn looks_like_instance_type(t: &str) -> bool {
    let Some((family, size)) = t.split_once('.') else {
        return false;
    };
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    t.len() <= 64 && part_ok(family) && part_ok(size)
}

/// The scheduler's own tag on an instance started in a fallback type: the
/// type it had before, which the next Start tries first.
pub const ORIGINAL_TYPE_TAG: &str = "ec2-tier-scheduler:original-type";

/// The instance tags that steer its type at Start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeTags {
    /// [`ORIGINAL_TYPE_TAG`]: set while the instance runs in a fallback type.
    pub original: Option<String>,
    /// The workload's `PreferredTypesTagName` tag: types to fall back to.
    pub preferred: Option<String>,
}
