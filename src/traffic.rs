//! Traffic around a workload, as the core sees it: load balancer target
//! groups and their targets (`TierLoadBalancing: Drain`,
//! `TierReadiness: TargetsHealthy`), the registrations a drain removed and
//! recorded on each instance, and the CloudWatch alarms kept quiet while
//! the workload is stopped (`AlarmPrefixes`, `AlarmSelection`).
//!
//! The records live on the resources themselves (tags), so a Start after a
//! crash, or in another process, still knows what to put back.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The prefix of the scheduler's tags on an instance recording the target
/// group registrations a drain removed: the key names the target group
/// (`ec2-tier-scheduler:lb:targetgroup/web/0123456789abcdef`), the value
/// lists the ports (`80,8080`).
pub const REGISTRATION_TAG_PREFIX: &str = "ec2-tier-scheduler:lb:";

/// The scheduler's tag on an alarm whose actions it disabled; a Start
/// enables the actions of these alarms only (an alarm an operator
/// disabled has no such tag and stays disabled).
pub const MUTED_TAG: &str = "ec2-tier-scheduler:muted";

/// A target group of `instance` targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetGroup {
    /// Its ARN.
    pub arn: String,
    /// Its name.
    pub name: String,
    /// Its VPC.
    pub vpc_id: String,
}

impl TargetGroup {
    /// The part of its ARN after the account (`targetgroup/web/0123...`):
    /// what the registration tags name.
    pub fn key(&self) -> &str {
        group_key(&self.arn)
    }
}

/// The resource part of a target group ARN (`targetgroup/name/id`).
pub fn group_key(arn: &str) -> &str {
    arn.rsplit_once(':').map_or(arn, |(_, resource)| resource)
}

/// What a load balancer says of a target (`TargetHealth.State`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TargetState {
    /// Registering, health checks not passed yet.
    Initial,
    /// Serving.
    Healthy,
    /// Failing its health checks.
    Unhealthy,
    /// Not registered, or in a group no listener uses (`Target.NotInUse`).
    Unused,
    /// Deregistered, its connections draining.
    Draining,
    /// Health checks disabled.
    Unavailable,
}

/// One target of a target group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// The instance id.
    pub instance_id: String,
    /// The port it is registered on.
    pub port: u16,
    /// Its state.
    pub state: TargetState,
    /// The load balancer's reason code (`Target.NotInUse`, ...).
    pub reason: Option<String>,
}

/// The registrations of one instance a drain removed: for each target
/// group (by [`group_key`]), the ports.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Registrations(pub BTreeMap<String, Vec<u16>>);

impl Registrations {
    /// The records among an instance's tags; a tag whose value does not
    /// read (somebody edited it) is left out.
    pub fn from_tags<'t>(tags: impl IntoIterator<Item = (&'t str, &'t str)>) -> Self {
        let mut out = BTreeMap::new();
        for (key, value) in tags {
            let Some(group) = key.strip_prefix(REGISTRATION_TAG_PREFIX) else {
                continue;
            };
            let ports: Option<Vec<u16>> = value.split(',').map(|p| p.trim().parse().ok()).collect();
            if let Some(ports) = ports.filter(|p| !p.is_empty()) {
                out.insert(group.to_string(), ports);
            }
        }
        Self(out)
    }

    /// Nothing recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds a registration (a port once per group).
    pub fn add(&mut self, group: &str, port: u16) {
        let ports = self.0.entry(group.to_string()).or_default();
        if !ports.contains(&port) {
            ports.push(port);
            ports.sort_unstable();
        }
    }

    /// The tags recording them: one per group (a tag value holds 256
    /// characters, some fifty ports).
    pub fn tags(&self) -> Vec<(String, String)> {
        self.0
            .iter()
            .map(|(group, ports)| {
                let value: Vec<String> = ports.iter().map(u16::to_string).collect();
                (format!("{REGISTRATION_TAG_PREFIX}{group}"), value.join(","))
            })
            .collect()
    }

    /// The tag keys of the groups recorded.
    pub fn tag_keys(&self) -> Vec<String> {
        self.0.keys().map(|g| format!("{REGISTRATION_TAG_PREFIX}{g}")).collect()
    }
}

impl fmt::Display for Registrations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(group, ports)| {
                let name = group.split('/').nth(1).unwrap_or(group);
                let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
                format!("{name}:{}", ports.join("+"))
            })
            .collect();
        f.write_str(&parts.join(", "))
    }
}

/// A CloudWatch alarm a workload may keep quiet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alarm {
    /// Its name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// Its actions are enabled.
    pub actions_enabled: bool,
    /// It carries [`MUTED_TAG`]: the scheduler disabled its actions.
    pub muted_by_us: bool,
}

/// What a run does to an alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AlarmStep {
    /// Stop: record, then disable its actions.
    Mute,
    /// Start: enable its actions, then remove the record.
    Unmute,
    /// Left as it is, with why.
    Leave,
}

/// The step for `alarm` in a run of `stopping` (else starting), and why.
pub fn alarm_step(alarm: &Alarm, stopping: bool) -> (AlarmStep, &'static str) {
    match (stopping, alarm.actions_enabled, alarm.muted_by_us) {
        (true, true, _) => (AlarmStep::Mute, "actions disabled while the workload is stopped"),
        (true, false, true) => (AlarmStep::Leave, "already muted by the scheduler"),
        (true, false, false) => (AlarmStep::Leave, "actions disabled by someone else: left as it is"),
        (false, _, true) => (AlarmStep::Unmute, "actions enabled again"),
        (false, false, false) => (
            AlarmStep::Leave,
            "actions disabled by someone else: never enabled by the scheduler",
        ),
        (false, true, false) => (AlarmStep::Leave, "actions enabled"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrations_round_trip_through_tags_and_refuse_edits() {
        let mut r = Registrations::default();
        r.add("targetgroup/web/0123456789abcdef", 8080);
        r.add("targetgroup/web/0123456789abcdef", 80);
        r.add("targetgroup/web/0123456789abcdef", 80);
        r.add("targetgroup/api/fedcba9876543210", 9000);
        let tags = r.tags();
        assert_eq!(
            tags[1],
            (
                "ec2-tier-scheduler:lb:targetgroup/web/0123456789abcdef".into(),
                "80,8080".into()
            )
        );
        let mut read: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        read.push(("ec2-tier-scheduler:lb:targetgroup/x/1", "eighty"));
        read.push(("Name", "web-1"));
        assert_eq!(Registrations::from_tags(read), r);
        assert_eq!(r.to_string(), "api:9000, web:80+8080");
        assert_eq!(
            group_key("arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/web/0123"),
            "targetgroup/web/0123"
        );
    }

    #[test]
    fn an_alarm_an_operator_disabled_is_never_enabled() {
        let alarm = |enabled, ours| Alarm {
            name: "web-5xx".into(),
            arn: "arn".into(),
            actions_enabled: enabled,
            muted_by_us: ours,
        };
        assert_eq!(alarm_step(&alarm(true, false), true).0, AlarmStep::Mute);
        assert_eq!(
            alarm_step(&alarm(true, true), true).0,
            AlarmStep::Mute,
            "a crash after the record"
        );
        assert_eq!(alarm_step(&alarm(false, false), true).0, AlarmStep::Leave);
        assert_eq!(alarm_step(&alarm(false, true), false).0, AlarmStep::Unmute);
        assert_eq!(
            alarm_step(&alarm(true, true), false).0,
            AlarmStep::Unmute,
            "a crash before the record went"
        );
        assert_eq!(alarm_step(&alarm(false, false), false).0, AlarmStep::Leave);
    }
}
