//! ECS services as tier members (`TierResourceTypes: ECS`): found by their
//! tags (ListClusters, ListServices, then DescribeServices with tags, 10
//! services a call), its desired count read and set: the run records it in
//! its ledger before it sets it to 0 and restores it from there (a record
//! tag an earlier version left, [`CAPACITY_TAG`], is only reported). A
//! service's phase is its running tasks
//! against its desired count. Its id is `cluster/service` (names).
//! Service auto scaling with a minimum above 0 would undo a stop: discovery
//! reads it (Application Auto Scaling's DescribeScalableTargets) and the
//! plan and `status` report it.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_ecs::types::{SchedulingStrategy, Service, ServiceField};
use aws_sdk_ecs::Client;

use super::{cloud_error, in_vpc, tagged_member, Ec2Compute};
use crate::error::CloudError;
use crate::instance::Discovery;
use crate::member::{Capacity, Member, MemberKind, MemberStatus, Phase, CAPACITY_TAG};
use crate::ports::MemberService;

/// The most services DescribeServices takes in one call.
const SERVICES_PER_CALL: usize = 10;
/// The most resource ids DescribeScalableTargets takes in one call.
const TARGETS_PER_CALL: usize = 50;

/// [`MemberService`] for ECS services, on the ECS client of the workload's
/// account and region (and EC2 for the VPC of awsvpc subnets).
#[derive(Clone, Debug)]
pub struct EcsServices {
    client: Client,
    scaling: aws_sdk_applicationautoscaling::Client,
    ec2: Ec2Compute,
}

impl EcsServices {
    /// Wraps the clients.
    pub fn new(client: Client, scaling: aws_sdk_applicationautoscaling::Client, ec2: Ec2Compute) -> Self {
        Self { client, scaling, ec2 }
    }

    /// DescribeScalableTargets of the services (`service/cluster/name`, 50
    /// a call): those whose minimum would bring a stopped service back.
    async fn undoers(&self, ids: &[String]) -> Result<HashMap<String, Vec<String>>, CloudError> {
        use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        let resources: Vec<String> = ids.iter().map(|id| format!("service/{id}")).collect();
        for chunk in resources.chunks(TARGETS_PER_CALL) {
            let mut pages = self
                .scaling
                .describe_scalable_targets()
                .service_namespace(ServiceNamespace::Ecs)
                .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
                .set_resource_ids(Some(chunk.to_vec()))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| cloud_error("application-autoscaling", "DescribeScalableTargets", e))?;
                for t in page.scalable_targets().iter().filter(|t| t.min_capacity() > 0) {
                    let id = t.resource_id().trim_start_matches("service/").to_string();
                    out.entry(id).or_default().push(format!(
                        "service auto scaling keeps at least {} task(s) (its scalable target's minimum capacity)",
                        t.min_capacity()
                    ));
                }
            }
        }
        Ok(out)
    }

    /// ListClusters then ListServices of each, every page: (cluster ARN,
    /// service ARNs).
    async fn service_arns(&self) -> Result<Vec<(String, Vec<String>)>, CloudError> {
        let mut clusters = Vec::new();
        let mut pages = self.client.list_clusters().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| cloud_error("ecs", "ListClusters", e))?;
            clusters.extend(page.cluster_arns().iter().cloned());
        }
        let mut out = Vec::new();
        for cluster in clusters {
            let mut arns = Vec::new();
            let mut pages = self.client.list_services().cluster(&cluster).into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| cloud_error("ecs", "ListServices", e))?;
                arns.extend(page.service_arns().iter().cloned());
            }
            out.push((cluster, arns));
        }
        Ok(out)
    }

    /// DescribeServices with their tags, 10 a call.
    async fn describe(&self, cluster: &str, services: &[String]) -> Result<Vec<Service>, CloudError> {
        let mut out = Vec::new();
        for chunk in services.chunks(SERVICES_PER_CALL) {
            let page = self
                .client
                .describe_services()
                .cluster(cluster)
                .set_services(Some(chunk.to_vec()))
                .include(ServiceField::Tags)
                .send()
                .await
                .map_err(|e| cloud_error("ecs", "DescribeServices", e))?;
            out.extend(page.services().iter().cloned());
        }
        Ok(out)
    }

    /// One service, fresh, by its member id (`cluster/service`).
    async fn service(&self, id: &str) -> Result<Service, CloudError> {
        let (cluster, name) = split_id(id)?;
        self.describe(cluster, &[name.to_string()])
            .await?
            .into_iter()
            .find(|s| s.status() != Some("INACTIVE"))
            .ok_or_else(|| {
                CloudError::new(
                    "ecs",
                    "DescribeServices",
                    Some("ServiceNotFoundException"),
                    format!("ECS service {id} not found"),
                )
            })
    }

    async fn set_desired(&self, id: &str, desired: u32) -> Result<(), CloudError> {
        let (cluster, name) = split_id(id)?;
        self.client
            .update_service()
            .cluster(cluster)
            .service(name)
            .desired_count(i32::try_from(desired).map_err(|_| {
                CloudError::new(
                    "ecs",
                    "UpdateService",
                    Some("InvalidParameterException"),
                    format!("desired count {desired} of {id} is out of range"),
                )
            })?)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| cloud_error("ecs", "UpdateService", e))
    }
}

/// `cluster/service` into its names.
fn split_id(id: &str) -> Result<(&str, &str), CloudError> {
    id.split_once('/').ok_or_else(|| {
        CloudError::new(
            "ecs",
            "UpdateService",
            Some("InvalidParameterException"),
            format!("{id} is not cluster/service"),
        )
    })
}

/// The last part of an ARN's resource (`.../name`).
fn last_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

fn tag_of<'s>(s: &'s Service, key: &str) -> Option<&'s str> {
    s.tags().iter().find(|t| t.key() == Some(key)).and_then(|t| t.value())
}

/// A service's state: its desired count and running tasks.
fn status_of(s: &Service) -> MemberStatus {
    let n = |v: i32| u32::try_from(v).unwrap_or(0);
    let (desired, running, pending) = (n(s.desired_count()), n(s.running_count()), n(s.pending_count()));
    MemberStatus {
        id: format!(
            "{}/{}",
            last_name(s.cluster_arn().unwrap_or_default()),
            s.service_name().unwrap_or_default()
        ),
        status: format!("desired {desired}, {running} running"),
        phase: Phase::of_capacity(desired, running, running + pending),
    }
}

/// Why the scheduler cannot stop the service, when it cannot.
fn refusal(s: &Service) -> Option<String> {
    // Long ARNs are service/cluster/name; only they carry tags (the record).
    let long_arn = s.service_arn().is_some_and(|a| a.matches('/').count() >= 2);
    if !long_arn {
        return Some("its ARN is in the old short format, which cannot carry the scheduler's record: opt in to the long ARN format (serviceLongArnFormat) and recreate it".into());
    }
    (s.scheduling_strategy() == Some(&SchedulingStrategy::Daemon))
        .then(|| "a DAEMON service runs one task per container instance: it has no desired count to set to 0".into())
}

/// The service as a member when its tags make it the workload's.
fn member_of(s: &Service, query: &Discovery) -> Option<Member> {
    if s.status() == Some("INACTIVE") {
        return None;
    }
    let member = tagged_member(query, MemberKind::Ecs, &status_of(s), |k| {
        tag_of(s, k).map(str::to_string)
    })?;
    Some(Member {
        cannot_stop: refusal(s),
        recorded: tag_of(s, CAPACITY_TAG).and_then(|v| Capacity::from_tag(MemberKind::Ecs, v)),
        ..member
    })
}

/// The subnets of a service with awsvpc networking.
fn subnets_of(s: &Service) -> &[String] {
    s.network_configuration()
        .and_then(|n| n.awsvpc_configuration())
        .map(|a| a.subnets())
        .unwrap_or_default()
}

#[async_trait]
impl MemberService for EcsServices {
    async fn discover(&self, query: &Discovery, kinds: &[MemberKind]) -> Result<Vec<Member>, CloudError> {
        if !kinds.contains(&MemberKind::Ecs) {
            return Ok(Vec::new());
        }
        let mut found = Vec::new();
        for (cluster, arns) in self.service_arns().await? {
            let described = self.describe(&cluster, &arns).await?;
            found.extend(
                described
                    .iter()
                    .filter_map(|s| Some((subnets_of(s).to_vec(), member_of(s, query)?))),
            );
        }
        // A service with awsvpc networking is in its subnets' VPC; one
        // without (bridge or host networking) has no VPC of its own and the
        // VPC filter does not apply to it.
        let mut members = in_vpc(&self.ec2, query.vpc_id.as_ref(), found, true).await?;
        if !members.is_empty() {
            let ids: Vec<String> = members.iter().map(|m| m.id.clone()).collect();
            let mut undoers = self.undoers(&ids).await?;
            for m in &mut members {
                m.undoers = undoers.remove(&m.id).unwrap_or_default();
            }
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
        let service = self.service(id).await?;
        Ok(Capacity {
            min: 0,
            desired: u32::try_from(service.desired_count()).unwrap_or(0),
            max: 0,
        })
    }

    async fn set_capacity(&self, _kind: MemberKind, id: &str, to: Capacity) -> Result<(), CloudError> {
        self.set_desired(id, to.desired).await
    }

    async fn statuses(&self, _kind: MemberKind, ids: &[String]) -> Result<Vec<MemberStatus>, CloudError> {
        let mut by_cluster: HashMap<&str, Vec<String>> = HashMap::new();
        for id in ids {
            let (cluster, name) = split_id(id)?;
            by_cluster.entry(cluster).or_default().push(name.to_string());
        }
        let mut out = Vec::new();
        for (cluster, names) in by_cluster {
            let described = self.describe(cluster, &names).await?;
            out.extend(
                described
                    .iter()
                    .filter(|s| s.status() != Some("INACTIVE"))
                    .map(status_of),
            );
        }
        Ok(out)
    }
}
