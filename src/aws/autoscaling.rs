//! EC2 Auto Scaling adapter: suspended processes, and the scheduler's own
//! record of what it suspended, kept as a tag on the group so it survives
//! a crashed run and travels with the group (member accounts included).

use async_trait::async_trait;
use aws_sdk_autoscaling::types::Tag;
use aws_sdk_autoscaling::Client;

use super::cloud_error;
use crate::error::CloudError;
use crate::ports::{AutoScaling, GroupProcesses};

/// The group tag listing the processes the scheduler suspended.
pub const SUSPENDED_TAG: &str = "ec2-tier-scheduler:suspended";

/// [`AutoScaling`] on a client of the workload's account and region.
#[derive(Clone, Debug)]
pub struct Ec2AutoScaling {
    client: Client,
}

impl Ec2AutoScaling {
    /// Wraps a client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    fn tag(&self, group: &str, value: Option<&str>) -> Tag {
        let mut b = Tag::builder()
            .resource_id(group)
            .resource_type("auto-scaling-group")
            .key(SUSPENDED_TAG)
            .propagate_at_launch(false);
        if let Some(v) = value {
            b = b.value(v);
        }
        b.build()
    }
}

#[async_trait]
impl AutoScaling for Ec2AutoScaling {
    async fn processes(&self, groups: &[String]) -> Result<Vec<GroupProcesses>, CloudError> {
        let mut out = Vec::new();
        for chunk in groups.chunks(50) {
            let mut pages = self
                .client
                .describe_auto_scaling_groups()
                .set_auto_scaling_group_names(Some(chunk.to_vec()))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| cloud_error("autoscaling", "DescribeAutoScalingGroups", e))?;
                for g in page.auto_scaling_groups() {
                    let ours = g
                        .tags()
                        .iter()
                        .find(|t| t.key() == Some(SUSPENDED_TAG))
                        .and_then(|t| t.value())
                        .map(|v| v.split(',').filter(|p| !p.is_empty()).map(str::to_string).collect())
                        .unwrap_or_default();
                    out.push(GroupProcesses {
                        group: g.auto_scaling_group_name().unwrap_or_default().to_string(),
                        suspended: g
                            .suspended_processes()
                            .iter()
                            .filter_map(|p| p.process_name().map(str::to_string))
                            .collect(),
                        ours,
                    });
                }
            }
        }
        Ok(out)
    }

    async fn suspend(&self, group: &str, processes: &[String], ours: &[String]) -> Result<(), CloudError> {
        // The record first: a crash between the two calls leaves at worst a
        // record of processes not suspended, which resuming does no harm to.
        self.client
            .create_or_update_tags()
            .tags(self.tag(group, Some(&ours.join(","))))
            .send()
            .await
            .map_err(|e| cloud_error("autoscaling", "CreateOrUpdateTags", e))?;
        if processes.is_empty() {
            return Ok(());
        }
        self.client
            .suspend_processes()
            .auto_scaling_group_name(group)
            .set_scaling_processes(Some(processes.to_vec()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| cloud_error("autoscaling", "SuspendProcesses", e))
    }

    async fn resume(&self, group: &str, processes: &[String]) -> Result<(), CloudError> {
        self.client
            .resume_processes()
            .auto_scaling_group_name(group)
            .set_scaling_processes(Some(processes.to_vec()))
            .send()
            .await
            .map_err(|e| cloud_error("autoscaling", "ResumeProcesses", e))?;
        self.client
            .delete_tags()
            .tags(self.tag(group, None))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| cloud_error("autoscaling", "DeleteTags", e))
    }
}
