//! EC2 Auto Scaling adapter: suspended processes. What the scheduler
//! suspended is recorded in the run ledger; the group tag an earlier
//! version wrote is only read, as a claim to report.

use async_trait::async_trait;
use aws_sdk_autoscaling::Client;

use super::cloud_error;
use crate::error::CloudError;
use crate::ports::{AutoScaling, GroupProcesses};

pub use crate::member::SUSPENDED_TAG;

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
                    let claimed = g
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
                        claimed,
                    });
                }
            }
        }
        Ok(out)
    }

    async fn suspend(&self, group: &str, processes: &[String]) -> Result<(), CloudError> {
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
            .map(|_| ())
            .map_err(|e| cloud_error("autoscaling", "ResumeProcesses", e))
    }
}
