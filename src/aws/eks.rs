//! EKS managed node groups as tier members (`TierResourceTypes: EKS`):
//! found by their tags (ListClusters, ListNodegroups, then one
//! DescribeNodegroup per node group, which returns its tags), their scaling
//! configuration (min, desired, max) read and set with
//! UpdateNodegroupConfig, which is sent the scaling configuration and
//! nothing else (no labels, taints or update settings). The run records the
//! capacity in its ledger before a Stop sets min and desired to 0 (the max
//! is kept: EKS refuses 0) and restores it from there. A node group is up
//! when `ACTIVE` with as many InService instances in its Auto Scaling
//! groups (`resources.autoScalingGroups`, read with DescribeAutoScalingGroups)
//! as its desired size, down when none is left. Its id is
//! `cluster/nodegroup` (names). Cluster Autoscaler and Karpenter tags on a
//! node group are what would undo a stop (either can scale it back up while
//! its max is 1 or more): discovery names them, the plan warns.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_autoscaling::types::LifecycleState;
use aws_sdk_eks::types::{Nodegroup, NodegroupScalingConfig, NodegroupStatus};
use aws_sdk_eks::Client;

use super::{cloud_error, in_vpc, tagged_member, Ec2Compute, GroupCapacity};
use crate::error::CloudError;
use crate::instance::Discovery;
use crate::member::{Capacity, Member, MemberKind, MemberStatus, Phase};
use crate::ports::MemberService;

/// The tag (key) by which a Cluster Autoscaler discovers the groups it
/// scales; its `k8s.io/cluster-autoscaler/<cluster>` sibling too.
const CLUSTER_AUTOSCALER_TAG: &str = "k8s.io/cluster-autoscaler/";
/// The prefixes of Karpenter's tag keys.
const KARPENTER_TAGS: [&str; 2] = ["karpenter.sh/", "karpenter.k8s.aws/"];

/// [`MemberService`] for EKS managed node groups, on the EKS client of the
/// workload's account and region (Auto Scaling for the instances of their
/// groups, EC2 for the VPC of their subnets).
#[derive(Clone, Debug)]
pub struct EksNodeGroups {
    client: Client,
    groups: GroupCapacity,
    ec2: Ec2Compute,
}

/// InService and present instances of each Auto Scaling group, by name.
type Counts = HashMap<String, (u32, u32)>;

impl EksNodeGroups {
    /// Wraps the clients.
    pub fn new(client: Client, groups: GroupCapacity, ec2: Ec2Compute) -> Self {
        Self { client, groups, ec2 }
    }

    /// ListClusters then ListNodegroups of each, every page: (cluster,
    /// node group) names.
    async fn names(&self) -> Result<Vec<(String, String)>, CloudError> {
        let mut clusters = Vec::new();
        let mut pages = self.client.list_clusters().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| cloud_error("eks", "ListClusters", e))?;
            clusters.extend(page.clusters().iter().cloned());
        }
        let mut out = Vec::new();
        for cluster in clusters {
            let mut pages = self
                .client
                .list_nodegroups()
                .cluster_name(&cluster)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| cloud_error("eks", "ListNodegroups", e))?;
                out.extend(page.nodegroups().iter().map(|n| (cluster.clone(), n.clone())));
            }
        }
        Ok(out)
    }

    /// DescribeNodegroup of one node group by its member id
    /// (`cluster/nodegroup`); `None` when EKS does not know it.
    async fn describe(&self, id: &str) -> Result<Option<Nodegroup>, CloudError> {
        let (cluster, name) = split_id(id, "DescribeNodegroup")?;
        let answer = self
            .client
            .describe_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(name)
            .send()
            .await
            .map_err(|e| cloud_error("eks", "DescribeNodegroup", e));
        match answer {
            Ok(out) => Ok(out.nodegroup().cloned()),
            Err(e) if e.code.as_deref() == Some("ResourceNotFoundException") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The InService and present instances of the node groups' Auto
    /// Scaling groups (DescribeAutoScalingGroups, 50 names a call).
    async fn counts(&self, node_groups: &[Nodegroup]) -> Result<Counts, CloudError> {
        let names: Vec<String> = node_groups.iter().flat_map(group_names).collect();
        if names.is_empty() {
            return Ok(Counts::new());
        }
        let groups = self.groups.groups(Some(&names), None).await?;
        Ok(groups
            .iter()
            .map(|g| {
                let in_service = g
                    .instances()
                    .iter()
                    .filter(|i| i.lifecycle_state() == Some(&LifecycleState::InService))
                    .count() as u32;
                let name = g.auto_scaling_group_name().unwrap_or_default().to_string();
                (name, (in_service, g.instances().len() as u32))
            })
            .collect())
    }

    /// The node groups of `ids` that exist, described.
    async fn described(&self, ids: &[String]) -> Result<Vec<Nodegroup>, CloudError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.extend(self.describe(id).await?);
        }
        Ok(out)
    }

    async fn one(&self, id: &str) -> Result<Nodegroup, CloudError> {
        self.describe(id).await?.ok_or_else(|| {
            CloudError::new(
                "eks",
                "DescribeNodegroup",
                Some("ResourceNotFoundException"),
                format!("EKS node group {id} not found"),
            )
        })
    }
}

/// `cluster/nodegroup` into its names.
fn split_id<'i>(id: &'i str, operation: &'static str) -> Result<(&'i str, &'i str), CloudError> {
    id.split_once('/').ok_or_else(|| {
        let message = format!("{id} is not cluster/nodegroup");
        CloudError::new("eks", operation, Some("InvalidParameterException"), message)
    })
}

/// The names of a node group's Auto Scaling groups.
fn group_names(ng: &Nodegroup) -> Vec<String> {
    ng.resources()
        .map(|r| {
            r.auto_scaling_groups()
                .iter()
                .filter_map(|g| g.name())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn id_of(ng: &Nodegroup) -> String {
    format!(
        "{}/{}",
        ng.cluster_name().unwrap_or_default(),
        ng.nodegroup_name().unwrap_or_default()
    )
}

fn capacity_of(ng: &Nodegroup) -> Capacity {
    let n = |v: Option<i32>| u32::try_from(v.unwrap_or(0)).unwrap_or(0);
    let c = ng.scaling_config();
    Capacity {
        min: n(c.and_then(|c| c.min_size())),
        desired: n(c.and_then(|c| c.desired_size())),
        max: n(c.and_then(|c| c.max_size())),
    }
}

/// A node group's phase: up only `ACTIVE` (an update in progress is on
/// its way), down with no instance left whatever its status; any other
/// status (`DEGRADED`, `DELETING`, ...) is reported as it is.
fn phase_of(status: Option<&NodegroupStatus>, desired: u32, in_service: u32, present: u32) -> Phase {
    let phase = Phase::of_capacity(desired, in_service, present);
    match (status, phase) {
        (_, Phase::Down) | (Some(NodegroupStatus::Active), _) => phase,
        (Some(NodegroupStatus::Updating | NodegroupStatus::Creating), Phase::Up) => Phase::Starting,
        (Some(NodegroupStatus::Updating | NodegroupStatus::Creating), _) => phase,
        _ => Phase::Other,
    }
}

/// A node group's state: its status, scaling configuration and the
/// InService instances of its groups.
fn status_of(ng: &Nodegroup, counts: &Counts) -> MemberStatus {
    let capacity = capacity_of(ng);
    let (in_service, present) = group_names(ng)
        .iter()
        .filter_map(|g| counts.get(g))
        .fold((0, 0), |(s, p), (gs, gp)| (s + gs, p + gp));
    let status = ng.status().map(|s| s.as_str()).unwrap_or("UNKNOWN");
    MemberStatus {
        id: id_of(ng),
        status: format!("{status}, {capacity}, {in_service} InService"),
        phase: phase_of(ng.status(), capacity.desired, in_service, present),
    }
}

/// What would scale the node group back up after a Stop: a Cluster
/// Autoscaler or Karpenter, named by the node group's tags.
fn undoers_of(ng: &Nodegroup) -> Vec<String> {
    let max = capacity_of(ng).max;
    let mut keys: Vec<&String> = ng.tags().map(|t| t.keys().collect()).unwrap_or_default();
    keys.sort();
    let autoscaler = keys.iter().find(|k| k.starts_with(CLUSTER_AUTOSCALER_TAG));
    let karpenter = keys.iter().find(|k| KARPENTER_TAGS.iter().any(|p| k.starts_with(p)));
    [(autoscaler, "a Cluster Autoscaler"), (karpenter, "Karpenter")]
        .into_iter()
        .filter_map(|(key, who)| {
            Some(format!(
                "tag {}: {who} can scale it back up while its max is {max} (a Stop keeps the max: EKS refuses 0)",
                key?
            ))
        })
        .collect()
}

/// The node group as a member when its tags make it the workload's.
fn member_of(ng: &Nodegroup, query: &Discovery, counts: &Counts) -> Option<Member> {
    let tag = |k: &str| ng.tags().and_then(|t| t.get(k)).cloned();
    let member = tagged_member(query, MemberKind::Eks, &status_of(ng, counts), tag)?;
    Some(Member {
        undoers: undoers_of(ng),
        ..member
    })
}

/// The node group carries the workload tag and a tier tag.
fn is_ours(ng: &Nodegroup, query: &Discovery) -> bool {
    let tags = ng.tags();
    let (key, value) = &query.workload_tag;
    tags.and_then(|t| t.get(key)) == Some(value) && tags.is_some_and(|t| t.contains_key(&query.tier_tag_key))
}

fn not_a_node_group(kind: MemberKind, id: &str) -> CloudError {
    crate::ports::not_scalable(kind, id)
}

#[async_trait]
impl MemberService for EksNodeGroups {
    async fn discover(&self, query: &Discovery, kinds: &[MemberKind]) -> Result<Vec<Member>, CloudError> {
        if !kinds.contains(&MemberKind::Eks) {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = self.names().await?.iter().map(|(c, n)| format!("{c}/{n}")).collect();
        let ours: Vec<Nodegroup> = self
            .described(&ids)
            .await?
            .into_iter()
            .filter(|ng| is_ours(ng, query))
            .collect();
        let counts = self.counts(&ours).await?;
        let found = ours
            .iter()
            .filter_map(|ng| Some((ng.subnets().to_vec(), member_of(ng, query, &counts)?)));
        // A node group's VPC is its subnets'.
        in_vpc(&self.ec2, query.vpc_id.as_ref(), found.collect(), false).await
    }

    async fn stop(&self, kind: MemberKind, id: &str) -> Result<(), CloudError> {
        Err(not_a_node_group(kind, id))
    }

    async fn start(&self, kind: MemberKind, id: &str) -> Result<(), CloudError> {
        Err(not_a_node_group(kind, id))
    }

    async fn capacity(&self, _kind: MemberKind, id: &str) -> Result<Capacity, CloudError> {
        Ok(capacity_of(&self.one(id).await?))
    }

    /// UpdateNodegroupConfig with `scalingConfig` only.
    async fn set_capacity(&self, _kind: MemberKind, id: &str, to: Capacity) -> Result<(), CloudError> {
        let size = |n: u32| {
            i32::try_from(n).map_err(|_| {
                let message = format!("capacity {to} of {id} is out of range");
                CloudError::new(
                    "eks",
                    "UpdateNodegroupConfig",
                    Some("InvalidParameterException"),
                    message,
                )
            })
        };
        let scaling = NodegroupScalingConfig::builder()
            .min_size(size(to.min)?)
            .desired_size(size(to.desired)?)
            .max_size(size(to.max)?)
            .build();
        let (cluster, name) = split_id(id, "UpdateNodegroupConfig")?;
        self.client
            .update_nodegroup_config()
            .cluster_name(cluster)
            .nodegroup_name(name)
            .scaling_config(scaling)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| cloud_error("eks", "UpdateNodegroupConfig", e))
    }

    async fn statuses(&self, _kind: MemberKind, ids: &[String]) -> Result<Vec<MemberStatus>, CloudError> {
        let described = self.described(ids).await?;
        let counts = self.counts(&described).await?;
        Ok(described.iter().map(|ng| status_of(ng, &counts)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_eks::types::{AutoScalingGroup, NodegroupResources};

    fn node_group(status: NodegroupStatus, tags: &[(&str, &str)]) -> Nodegroup {
        let scaling = NodegroupScalingConfig::builder()
            .min_size(1)
            .desired_size(2)
            .max_size(3)
            .build();
        let resources = NodegroupResources::builder()
            .auto_scaling_groups(AutoScalingGroup::builder().name("eks-a").build())
            .auto_scaling_groups(AutoScalingGroup::builder().name("eks-b").build())
            .build();
        let tags = tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Nodegroup::builder()
            .cluster_name("prod")
            .nodegroup_name("workers")
            .status(status)
            .scaling_config(scaling)
            .resources(resources)
            .set_tags(Some(tags))
            .build()
    }

    #[test]
    fn a_node_group_is_up_when_active_with_its_desired_nodes_in_service() {
        let counts: Counts = [("eks-a".to_string(), (1, 1)), ("eks-b".to_string(), (1, 2))].into();
        let up = status_of(&node_group(NodegroupStatus::Active, &[]), &counts);
        assert_eq!(up.id, "prod/workers");
        assert_eq!(up.status, "ACTIVE, min 1, desired 2, max 3, 2 InService");
        assert_eq!(up.phase, Phase::Up);
        let updating = status_of(&node_group(NodegroupStatus::Updating, &[]), &counts);
        assert_eq!(updating.phase, Phase::Starting);
        let degraded = status_of(&node_group(NodegroupStatus::Degraded, &[]), &counts);
        assert_eq!(degraded.phase, Phase::Other);
        assert_eq!(phase_of(Some(&NodegroupStatus::Updating), 0, 0, 0), Phase::Down);
        assert_eq!(phase_of(Some(&NodegroupStatus::Active), 0, 0, 1), Phase::Stopping);
        assert_eq!(phase_of(Some(&NodegroupStatus::Active), 2, 1, 2), Phase::Starting);
    }

    #[test]
    fn autoscaler_and_karpenter_tags_are_what_would_undo_a_stop() {
        assert!(undoers_of(&node_group(NodegroupStatus::Active, &[("Role", "Web")])).is_empty());
        let tags = [
            ("k8s.io/cluster-autoscaler/enabled", "true"),
            ("karpenter.sh/discovery", "prod"),
        ];
        let undoers = undoers_of(&node_group(NodegroupStatus::Active, &tags));
        assert_eq!(undoers.len(), 2);
        assert!(undoers[0].starts_with("tag k8s.io/cluster-autoscaler/enabled: a Cluster Autoscaler"));
        assert!(undoers[1].contains("Karpenter can scale it back up while its max is 3"));
    }
}
