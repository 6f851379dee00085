//! Elastic Load Balancing (v2) adapter: the `instance` target groups of
//! the workload's VPCs (DescribeTargetGroups, every page, filtered here: the
//! API has no VPC filter), their deregistration delay, their targets'
//! health, and registrations removed and put back.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{TargetDescription, TargetHealthStateEnum, TargetTypeEnum};
use aws_sdk_elasticloadbalancingv2::Client;

use super::cloud_error;
use crate::error::CloudError;
use crate::ports::LoadBalancers;
use crate::traffic::{Target, TargetGroup, TargetState};

/// The most ARNs DescribeTags takes in one call.
const TAGS_PER_CALL: usize = 20;

/// The largest DescribeTargetGroups page.
const PAGE: i32 = 400;
/// The most targets one Register/DeregisterTargets call takes.
const TARGETS_PER_CALL: usize = 500;
/// ELB's default deregistration delay, when a group's attribute does not read.
const DEFAULT_DELAY: Duration = Duration::from_secs(300);

/// [`LoadBalancers`] on an ELBv2 client of the workload's account and region.
#[derive(Clone, Debug)]
pub struct ElbTargets {
    client: Client,
}

impl ElbTargets {
    /// Wraps a client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

fn descriptions(targets: &[(String, u16)]) -> Vec<TargetDescription> {
    targets
        .iter()
        .map(|(id, port)| TargetDescription::builder().id(id).port(i32::from(*port)).build())
        .collect()
}

fn state_of(state: Option<&TargetHealthStateEnum>) -> TargetState {
    match state {
        Some(TargetHealthStateEnum::Healthy) => TargetState::Healthy,
        Some(TargetHealthStateEnum::Initial) => TargetState::Initial,
        Some(TargetHealthStateEnum::Unhealthy) => TargetState::Unhealthy,
        Some(TargetHealthStateEnum::Draining) => TargetState::Draining,
        Some(TargetHealthStateEnum::Unavailable) => TargetState::Unavailable,
        // `unused`, and states newer than this build (`unhealthy.draining`
        // among them) read as not serving.
        Some(TargetHealthStateEnum::Unused) | None => TargetState::Unused,
        Some(other) if other.as_str().contains("draining") => TargetState::Draining,
        Some(_) => TargetState::Unhealthy,
    }
}

#[async_trait]
impl LoadBalancers for ElbTargets {
    async fn target_groups(&self, vpcs: &[String]) -> Result<Vec<TargetGroup>, CloudError> {
        let mut found = Vec::new();
        let mut pages = self
            .client
            .describe_target_groups()
            .page_size(PAGE)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| cloud_error("elasticloadbalancing", "DescribeTargetGroups", e))?;
            for g in page.target_groups() {
                let (Some(arn), Some(vpc)) = (g.target_group_arn(), g.vpc_id()) else {
                    continue;
                };
                let instance_targets = g.target_type().is_none_or(|t| *t == TargetTypeEnum::Instance);
                if instance_targets && vpcs.iter().any(|v| v == vpc) {
                    found.push((
                        arn.to_string(),
                        g.target_group_name().unwrap_or_default().to_string(),
                        vpc.to_string(),
                    ));
                }
            }
        }
        Ok(found
            .into_iter()
            .map(|(arn, name, vpc_id)| TargetGroup { arn, name, vpc_id })
            .collect())
    }

    async fn deregistration_delay(&self, group_arn: &str) -> Result<Duration, CloudError> {
        let out = self
            .client
            .describe_target_group_attributes()
            .target_group_arn(group_arn)
            .send()
            .await
            .map_err(|e| cloud_error("elasticloadbalancing", "DescribeTargetGroupAttributes", e))?;
        Ok(out
            .attributes()
            .iter()
            .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
            .and_then(|a| a.value()?.parse().ok())
            .map_or(DEFAULT_DELAY, Duration::from_secs))
    }

    async fn targets(&self, group_arn: &str) -> Result<Vec<Target>, CloudError> {
        let out = self
            .client
            .describe_target_health()
            .target_group_arn(group_arn)
            .send()
            .await
            .map_err(|e| cloud_error("elasticloadbalancing", "DescribeTargetHealth", e))?;
        Ok(out
            .target_health_descriptions()
            .iter()
            .filter_map(|d| {
                let target = d.target()?;
                let health = d.target_health();
                Some(Target {
                    instance_id: target.id()?.to_string(),
                    port: target.port().and_then(|p| u16::try_from(p).ok()).unwrap_or(0),
                    state: state_of(health.and_then(|h| h.state())),
                    reason: health.and_then(|h| h.reason()).map(|r| r.as_str().to_string()),
                })
            })
            .collect())
    }

    async fn deregister(&self, group_arn: &str, targets: &[(String, u16)]) -> Result<(), CloudError> {
        for chunk in targets.chunks(TARGETS_PER_CALL) {
            self.client
                .deregister_targets()
                .target_group_arn(group_arn)
                .set_targets(Some(descriptions(chunk)))
                .send()
                .await
                .map_err(|e| cloud_error("elasticloadbalancing", "DeregisterTargets", e))?;
        }
        Ok(())
    }

    async fn register(&self, group_arn: &str, targets: &[(String, u16)]) -> Result<(), CloudError> {
        for chunk in targets.chunks(TARGETS_PER_CALL) {
            self.client
                .register_targets()
                .target_group_arn(group_arn)
                .set_targets(Some(descriptions(chunk)))
                .send()
                .await
                .map_err(|e| cloud_error("elasticloadbalancing", "RegisterTargets", e))?;
        }
        Ok(())
    }

    async fn tagged(&self, groups: &[String], key: &str, value: &str) -> Result<Vec<String>, CloudError> {
        let mut out = Vec::new();
        for chunk in groups.chunks(TAGS_PER_CALL) {
            let described = self
                .client
                .describe_tags()
                .set_resource_arns(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| cloud_error("elasticloadbalancing", "DescribeTags", e))?;
            for d in described.tag_descriptions() {
                let ours = d
                    .tags()
                    .iter()
                    .any(|t| t.key() == Some(key) && t.value() == Some(value));
                if let (true, Some(arn)) = (ours, d.resource_arn()) {
                    out.push(arn.to_string());
                }
            }
        }
        Ok(out)
    }
}
