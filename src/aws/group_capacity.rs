//! Auto Scaling groups as tier members (`TierAutoScalingGroups:
//! ScaleToZero`): found by their own workload and tier tags (a group at 0
//! has no instances to find it by), read and set (min, desired, max): the
//! run records the capacity in its ledger before it sets it to 0 and
//! restores it from there. A record tag an earlier version left on a group
//! ([`CAPACITY_TAG`]) is read only to be reported, never acted on. A
//! group's phase is its InService instances against its desired capacity.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_autoscaling::types::{AutoScalingGroup, Filter, LifecycleState};
use aws_sdk_autoscaling::Client;

use super::{cloud_error, in_vpc, tagged_member, Ec2Compute};
use crate::error::CloudError;
use crate::instance::Discovery;
use crate::member::{Capacity, Member, MemberKind, MemberStatus, Phase, CAPACITY_TAG};
use crate::ports::MemberService;

/// The most group names DescribeAutoScalingGroups takes in one call.
const NAMES_PER_CALL: usize = 50;

/// [`MemberService`] for Auto Scaling groups, on the Auto Scaling client of
/// the workload's account and region (and EC2 for the VPC of their
/// subnets).
#[derive(Clone, Debug)]
pub struct GroupCapacity {
    client: Client,
    ec2: Ec2Compute,
}

impl GroupCapacity {
    /// Wraps the clients.
    pub fn new(client: Client, ec2: Ec2Compute) -> Self {
        Self { client, ec2 }
    }

    /// DescribeAutoScalingGroups, every page: with `names`, those groups
    /// (50 a call); without, the groups carrying the workload tag (a tag
    /// filter; the tags are checked again here).
    pub(super) async fn groups(
        &self,
        names: Option<&[String]>,
        tag: Option<&(String, String)>,
    ) -> Result<Vec<AutoScalingGroup>, CloudError> {
        let chunks: Vec<Option<Vec<String>>> = match names {
            Some(names) => names.chunks(NAMES_PER_CALL).map(|c| Some(c.to_vec())).collect(),
            None => vec![None],
        };
        let mut out = Vec::new();
        for chunk in chunks {
            let mut request = self
                .client
                .describe_auto_scaling_groups()
                .set_auto_scaling_group_names(chunk);
            if let Some((key, value)) = tag {
                request = request.filters(Filter::builder().name(format!("tag:{key}")).values(value).build());
            }
            let mut pages = request.into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| cloud_error("autoscaling", "DescribeAutoScalingGroups", e))?;
                out.extend(page.auto_scaling_groups().iter().cloned());
            }
        }
        Ok(out)
    }

    /// One group, fresh (the record and the capacity a stop or start reads).
    async fn group(&self, name: &str) -> Result<AutoScalingGroup, CloudError> {
        self.groups(Some(&[name.to_string()]), None)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| {
                CloudError::new(
                    "autoscaling",
                    "DescribeAutoScalingGroups",
                    Some("ValidationError"),
                    format!("Auto Scaling group {name} not found"),
                )
            })
    }

    /// DescribeScheduledActions, every page: for each of `groups`, its
    /// scheduled actions that would raise a stopped group's capacity.
    async fn undoers(&self, groups: &[String]) -> Result<HashMap<String, Vec<String>>, CloudError> {
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        for name in groups {
            let mut pages = self
                .client
                .describe_scheduled_actions()
                .auto_scaling_group_name(name)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| cloud_error("autoscaling", "DescribeScheduledActions", e))?;
                for a in page.scheduled_update_group_actions() {
                    let raises = a.min_size().unwrap_or(0) > 0 || a.desired_capacity().unwrap_or(0) > 0;
                    if raises {
                        let when = a
                            .recurrence()
                            .map(|r| format!("recurrence {r}"))
                            .or_else(|| a.start_time().map(|t| format!("at {t}")))
                            .unwrap_or_default();
                        out.entry(name.clone()).or_default().push(format!(
                            "scheduled action {} sets min {}, desired {} {when}",
                            a.scheduled_action_name().unwrap_or_default(),
                            a.min_size().unwrap_or(0),
                            a.desired_capacity().unwrap_or(0),
                        ));
                    }
                }
            }
        }
        Ok(out)
    }

    async fn update(&self, name: &str, to: Capacity) -> Result<(), CloudError> {
        let size = |n: u32| {
            i32::try_from(n).map_err(|_| {
                CloudError::new(
                    "autoscaling",
                    "UpdateAutoScalingGroup",
                    Some("ValidationError"),
                    format!("capacity {to} of {name} is out of range"),
                )
            })
        };
        self.client
            .update_auto_scaling_group()
            .auto_scaling_group_name(name)
            .min_size(size(to.min)?)
            .desired_capacity(size(to.desired)?)
            .max_size(size(to.max)?)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| cloud_error("autoscaling", "UpdateAutoScalingGroup", e))
    }
}

fn subnets_of(g: &AutoScalingGroup) -> Vec<String> {
    g.vpc_zone_identifier()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn tag_of<'g>(g: &'g AutoScalingGroup, key: &str) -> Option<&'g str> {
    g.tags().iter().find(|t| t.key() == Some(key)).and_then(|t| t.value())
}

fn capacity_of(g: &AutoScalingGroup) -> Capacity {
    let n = |v: Option<i32>| u32::try_from(v.unwrap_or(0)).unwrap_or(0);
    Capacity {
        min: n(g.min_size()),
        desired: n(g.desired_capacity()),
        max: n(g.max_size()),
    }
}

/// A group's state: its capacity and InService instances.
fn status_of(g: &AutoScalingGroup) -> MemberStatus {
    let capacity = capacity_of(g);
    let present = g.instances().len() as u32;
    let in_service = g
        .instances()
        .iter()
        .filter(|i| i.lifecycle_state() == Some(&LifecycleState::InService))
        .count() as u32;
    MemberStatus {
        id: g.auto_scaling_group_name().unwrap_or_default().to_string(),
        status: format!("{capacity}, {in_service} InService"),
        phase: Phase::of_capacity(capacity.desired, in_service, present),
    }
}

/// The group as a member when its tags make it the workload's.
fn member_of(g: &AutoScalingGroup, query: &Discovery) -> Option<Member> {
    let member = tagged_member(query, MemberKind::Asg, &status_of(g), |k| {
        tag_of(g, k).map(str::to_string)
    })?;
    Some(Member {
        recorded: tag_of(g, CAPACITY_TAG).and_then(|v| Capacity::from_tag(MemberKind::Asg, v)),
        ..member
    })
}

#[async_trait]
impl MemberService for GroupCapacity {
    async fn discover(&self, query: &Discovery, kinds: &[MemberKind]) -> Result<Vec<Member>, CloudError> {
        if !kinds.contains(&MemberKind::Asg) {
            return Ok(Vec::new());
        }
        let groups = self.groups(None, Some(&query.workload_tag)).await?;
        let found = groups
            .iter()
            .filter_map(|g| Some((subnets_of(g), member_of(g, query)?)));
        // A group's VPC is its subnets'; a group with none (EC2-Classic) has
        // no VPC and is kept only without a VPC filter.
        let mut members = in_vpc(&self.ec2, query.vpc_id.as_ref(), found.collect(), false).await?;
        let names: Vec<String> = members.iter().map(|m| m.id.clone()).collect();
        let mut undoers = self.undoers(&names).await?;
        for m in &mut members {
            m.undoers = undoers.remove(&m.id).unwrap_or_default();
        }
        Ok(members)
    }

    async fn stop(&self, kind: MemberKind, id: &str) -> Result<(), CloudError> {
        Err(crate::ports::not_scalable(kind, id))
    }

    async fn start(&self, kind: MemberKind, id: &str) -> Result<(), CloudError> {
        Err(crate::ports::not_scalable(kind, id))
    }

    async fn capacity(&self, _kind: MemberKind, id: &str) -> Result<Capacity, CloudError> {
        Ok(capacity_of(&self.group(id).await?))
    }

    async fn set_capacity(&self, _kind: MemberKind, id: &str, to: Capacity) -> Result<(), CloudError> {
        self.update(id, to).await
    }

    async fn statuses(&self, _kind: MemberKind, ids: &[String]) -> Result<Vec<MemberStatus>, CloudError> {
        Ok(self.groups(Some(ids), None).await?.iter().map(status_of).collect())
    }
}
