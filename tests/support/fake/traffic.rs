//! Load balancer target groups and CloudWatch alarms in the in-memory
//! cloud. A deregistered target drains for its group's drain time (at most
//! its deregistration delay) and then is gone; a registered target of a
//! running instance is `initial`, then `healthy` after the group's health
//! time; a stopped instance's target is `unused`; a group without a
//! listener reports `unused` (`Target.NotInUse`) for every target.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use ec2_tier_scheduler::config::AlarmChoice;
use ec2_tier_scheduler::error::CloudError;
use ec2_tier_scheduler::instance::InstanceState;
use ec2_tier_scheduler::ports::{Alarms, LoadBalancers};
use ec2_tier_scheduler::traffic::{Alarm, Target, TargetGroup, TargetState, MUTED_TAG};
use tokio::time::Instant;

use super::FakeCloud;

/// One target of a fake group.
#[derive(Debug, Clone)]
pub struct FakeTarget {
    pub id: String,
    pub port: u16,
    /// Draining until then (gone after), when deregistered.
    pub draining_until: Option<Instant>,
    /// Healthy from then on while its instance runs.
    pub healthy_from: Instant,
}

/// One target group.
#[derive(Debug, Clone)]
pub struct FakeTargetGroup {
    pub name: String,
    pub vpc: String,
    pub delay: Duration,
    /// How long a deregistered target drains (connections close sooner
    /// than the delay when they can).
    pub drain: Duration,
    /// How long a registered target takes to pass its health checks.
    pub health: Duration,
    /// A listener forwards to it.
    pub in_use: bool,
    /// Its tags (the workload's, `Environment=ENV001`, unless a test
    /// takes it away).
    pub tags: std::collections::BTreeMap<String, String>,
    pub targets: Vec<FakeTarget>,
}

/// One alarm.
#[derive(Debug, Clone)]
pub struct FakeAlarm {
    pub arn: String,
    pub actions_enabled: bool,
    pub tags: BTreeMap<String, String>,
}

/// The ARN of the fake target group `name`.
pub fn group_arn(name: &str) -> String {
    format!("arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/{name}/0123456789abcdef")
}

impl FakeCloud {
    /// Adds target group `name` in `vpc-1` (drains in 10 s of a 300 s
    /// delay, healthy 20 s after registration) with `targets` registered
    /// and healthy.
    pub fn add_target_group(&self, name: &str, targets: &[(&str, u16)]) {
        let now = Instant::now();
        let group = FakeTargetGroup {
            name: name.into(),
            vpc: "vpc-1".into(),
            delay: Duration::from_secs(300),
            drain: Duration::from_secs(10),
            health: Duration::from_secs(20),
            in_use: true,
            tags: [("Environment".to_string(), "ENV001".to_string())]
                .into_iter()
                .collect(),
            targets: targets
                .iter()
                .map(|(id, port)| FakeTarget {
                    id: (*id).into(),
                    port: *port,
                    draining_until: None,
                    healthy_from: now,
                })
                .collect(),
        };
        self.lock().target_groups.insert(group_arn(name), group);
    }

    /// The (instance, port) pairs registered in group `name` now
    /// (draining ones included).
    pub fn registered(&self, name: &str) -> Vec<(String, u16)> {
        let now = Instant::now();
        let mut s = self.lock();
        let group = s.target_groups.get_mut(&group_arn(name)).expect("a target group");
        group.targets.retain(|t| t.draining_until.is_none_or(|at| now < at));
        group.targets.iter().map(|t| (t.id.clone(), t.port)).collect()
    }

    /// Adds alarm `name` with its actions `enabled` and `tags`.
    pub fn add_alarm(&self, name: &str, enabled: bool, tags: &[(&str, &str)]) {
        let alarm = FakeAlarm {
            arn: format!("arn:aws:cloudwatch:us-west-2:123456789012:alarm:{name}"),
            actions_enabled: enabled,
            tags: tags.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
        };
        self.lock().alarms.insert(name.into(), alarm);
    }

    /// Whether alarm `name`'s actions are enabled, and whether the run
    /// ledger holds the scheduler's record of muting it.
    pub fn alarm(&self, name: &str) -> (bool, bool) {
        let enabled = self.lock().alarms[name].actions_enabled;
        (enabled, self.recorded("Alarm", "muted", name).is_some())
    }

    fn group_mut<'s>(
        s: &'s mut super::State,
        arn: &str,
        op: &'static str,
    ) -> Result<&'s mut FakeTargetGroup, CloudError> {
        s.target_groups.get_mut(arn).ok_or_else(|| {
            CloudError::new(
                "elasticloadbalancing",
                op,
                Some("TargetGroupNotFound"),
                format!("{arn} not found"),
            )
        })
    }
}

#[async_trait]
impl LoadBalancers for FakeCloud {
    async fn target_groups(&self, vpcs: &[String]) -> Result<Vec<TargetGroup>, CloudError> {
        self.record("DescribeTargetGroups", &[]).await?;
        let s = self.lock();
        Ok(s.target_groups
            .iter()
            .filter(|(_, g)| vpcs.contains(&g.vpc))
            .map(|(arn, g)| TargetGroup {
                arn: arn.clone(),
                name: g.name.clone(),
                vpc_id: g.vpc.clone(),
            })
            .collect())
    }

    async fn deregistration_delay(&self, group_arn: &str) -> Result<Duration, CloudError> {
        self.record("DescribeTargetGroupAttributes", &[group_arn.to_string()])
            .await?;
        let mut s = self.lock();
        Ok(Self::group_mut(&mut s, group_arn, "DescribeTargetGroupAttributes")?.delay)
    }

    async fn targets(&self, group_arn: &str) -> Result<Vec<Target>, CloudError> {
        self.record("DescribeTargetHealth", &[group_arn.to_string()]).await?;
        let now = Instant::now();
        let mut s = self.lock();
        let states: BTreeMap<String, InstanceState> = s.instances.iter().map(|(id, i)| (id.clone(), i.state)).collect();
        let group = Self::group_mut(&mut s, group_arn, "DescribeTargetHealth")?;
        group.targets.retain(|t| t.draining_until.is_none_or(|at| now < at));
        let in_use = group.in_use;
        Ok(group
            .targets
            .iter()
            .map(|t| {
                let runs = states.get(&t.id) == Some(&InstanceState::Running);
                let (state, reason) = match (t.draining_until, in_use, runs) {
                    (Some(_), _, _) => (TargetState::Draining, Some("Target.DeregistrationInProgress")),
                    (None, false, _) => (TargetState::Unused, Some("Target.NotInUse")),
                    (None, true, false) => (TargetState::Unused, Some("Target.InvalidState")),
                    (None, true, true) if now >= t.healthy_from => (TargetState::Healthy, None),
                    (None, true, true) => (TargetState::Initial, Some("Elb.RegistrationInProgress")),
                };
                Target {
                    instance_id: t.id.clone(),
                    port: t.port,
                    state,
                    reason: reason.map(str::to_string),
                }
            })
            .collect())
    }

    async fn deregister(&self, group_arn: &str, targets: &[(String, u16)]) -> Result<(), CloudError> {
        let ids: Vec<String> = targets.iter().map(|(id, _)| id.clone()).collect();
        self.record("DeregisterTargets", &ids).await?;
        let now = Instant::now();
        let mut s = self.lock();
        let group = Self::group_mut(&mut s, group_arn, "DeregisterTargets")?;
        let until = now + group.drain.min(group.delay);
        for t in group.targets.iter_mut() {
            if targets.iter().any(|(id, port)| *id == t.id && *port == t.port) && t.draining_until.is_none() {
                t.draining_until = Some(until);
            }
        }
        Ok(())
    }

    async fn register(&self, group_arn: &str, targets: &[(String, u16)]) -> Result<(), CloudError> {
        let ids: Vec<String> = targets.iter().map(|(id, _)| id.clone()).collect();
        self.record("RegisterTargets", &ids).await?;
        let now = Instant::now();
        let mut s = self.lock();
        // As ELB: the whole call fails for one target that is not running.
        let stopped = ids.iter().find(|id| {
            s.instances
                .get(*id)
                .is_some_and(|i| i.state != ec2_tier_scheduler::instance::InstanceState::Running)
        });
        if let Some(id) = stopped {
            return Err(CloudError::new(
                "elasticloadbalancing",
                "RegisterTargets",
                Some("InvalidTarget"),
                format!("The following targets are not in a running state and cannot be registered: '{id}'"),
            ));
        }
        let group = Self::group_mut(&mut s, group_arn, "RegisterTargets")?;
        let healthy_from = now + group.health;
        for (id, port) in targets {
            group.targets.retain(|t| !(t.id == *id && t.port == *port));
            group.targets.push(FakeTarget {
                id: id.clone(),
                port: *port,
                draining_until: None,
                healthy_from,
            });
        }
        Ok(())
    }

    async fn tagged(&self, groups: &[String], key: &str, value: &str) -> Result<Vec<String>, CloudError> {
        let requests: Vec<usize> = groups.chunks(20).map(<[_]>::len).collect();
        self.call("DescribeTags", groups, &requests).await?;
        let s = self.lock();
        Ok(groups
            .iter()
            .filter(|arn| {
                s.target_groups
                    .get(*arn)
                    .is_some_and(|g| g.tags.get(key).map(String::as_str) == Some(value))
            })
            .cloned()
            .collect())
    }
}

#[async_trait]
impl Alarms for FakeCloud {
    async fn select(&self, choice: &AlarmChoice, workload_tag: &(String, String)) -> Result<Vec<Alarm>, CloudError> {
        self.record("DescribeAlarms", &[]).await?;
        let s = self.lock();
        Ok(s.alarms
            .iter()
            .filter(|(name, a)| {
                choice.prefixes.iter().any(|p| name.starts_with(p.as_str()))
                    || (choice.by_tag && a.tags.get(&workload_tag.0) == Some(&workload_tag.1))
            })
            .map(|(name, a)| Alarm {
                name: name.clone(),
                arn: a.arn.clone(),
                actions_enabled: a.actions_enabled,
                muted_by_us: a.tags.contains_key(MUTED_TAG),
            })
            .collect())
    }

    async fn mute(&self, alarms: &[Alarm]) -> Result<(), CloudError> {
        let names: Vec<String> = alarms.iter().map(|a| a.name.clone()).collect();
        self.record("DisableAlarmActions", &names).await?;
        let mut s = self.lock();
        for name in &names {
            if let Some(a) = s.alarms.get_mut(name) {
                a.actions_enabled = false;
            }
        }
        Ok(())
    }

    async fn unmute(&self, alarms: &[Alarm]) -> Result<(), CloudError> {
        let names: Vec<String> = alarms.iter().map(|a| a.name.clone()).collect();
        self.record("EnableAlarmActions", &names).await?;
        let mut s = self.lock();
        for name in &names {
            if let Some(a) = s.alarms.get_mut(name) {
                a.actions_enabled = true;
            }
        }
        Ok(())
    }
}
