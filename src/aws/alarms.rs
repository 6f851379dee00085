//! CloudWatch alarms adapter: the alarms a workload keeps quiet while it
//! is stopped (by name prefix, and with `AlarmSelection: Tag` by the
//! workload tag), their actions disabled and enabled. Which alarms the
//! scheduler muted is kept in the run ledger; the mute tag an earlier
//! version wrote ([`MUTED_TAG`]) is read only to be reported.

use async_trait::async_trait;
use aws_sdk_cloudwatch::types::AlarmType;
use aws_sdk_cloudwatch::Client;

use super::cloud_error;
use crate::config::AlarmChoice;
use crate::error::CloudError;
use crate::ports::Alarms;
use crate::traffic::{Alarm, MUTED_TAG};

/// The most alarm names Enable/DisableAlarmActions take in one call.
const NAMES_PER_CALL: usize = 100;

/// [`Alarms`] on a CloudWatch client of the workload's account and region.
#[derive(Clone, Debug)]
pub struct CloudWatchAlarms {
    client: Client,
}

impl CloudWatchAlarms {
    /// Wraps a client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// DescribeAlarms (metric and composite alarms), every page, by
    /// `prefix` or all of them: (name, ARN, actions enabled).
    async fn describe(&self, prefix: Option<&str>) -> Result<Vec<(String, String, bool)>, CloudError> {
        let mut request = self
            .client
            .describe_alarms()
            .alarm_types(AlarmType::MetricAlarm)
            .alarm_types(AlarmType::CompositeAlarm);
        if let Some(p) = prefix {
            request = request.alarm_name_prefix(p);
        }
        let mut pages = request.into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| cloud_error("cloudwatch", "DescribeAlarms", e))?;
            let metric = page
                .metric_alarms()
                .iter()
                .map(|a| (a.alarm_name(), a.alarm_arn(), a.actions_enabled()));
            let composite = page
                .composite_alarms()
                .iter()
                .map(|a| (a.alarm_name(), a.alarm_arn(), a.actions_enabled()));
            for (name, arn, enabled) in metric.chain(composite) {
                if let (Some(name), Some(arn)) = (name, arn) {
                    out.push((name.to_string(), arn.to_string(), enabled.unwrap_or(true)));
                }
            }
        }
        Ok(out)
    }

    /// ListTagsForResource of one alarm: (key, value) pairs.
    async fn tags(&self, arn: &str) -> Result<Vec<(String, String)>, CloudError> {
        let out = self
            .client
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| cloud_error("cloudwatch", "ListTagsForResource", e))?;
        Ok(out
            .tags()
            .iter()
            .map(|t| {
                let text = |v: Option<&str>| v.unwrap_or_default().to_string();
                (text(t.key()), text(t.value()))
            })
            .collect())
    }
}

#[async_trait]
impl Alarms for CloudWatchAlarms {
    async fn select(&self, choice: &AlarmChoice, workload_tag: &(String, String)) -> Result<Vec<Alarm>, CloudError> {
        let mut candidates: Vec<(String, String, bool, bool)> = Vec::new();
        for prefix in &choice.prefixes {
            for (name, arn, enabled) in self.describe(Some(prefix)).await? {
                if !candidates.iter().any(|c| c.0 == name) {
                    candidates.push((name, arn, enabled, true));
                }
            }
        }
        if choice.by_tag {
            for (name, arn, enabled) in self.describe(None).await? {
                if !candidates.iter().any(|c| c.0 == name) {
                    candidates.push((name, arn, enabled, false));
                }
            }
        }
        // One tag read per candidate: whether the scheduler muted it, and
        // for the tag selection whether it is the workload's.
        let mut selected = Vec::new();
        for (name, arn, actions_enabled, by_prefix) in candidates {
            let tags = self.tags(&arn).await?;
            let has = |k: &str, v: Option<&str>| tags.iter().any(|(tk, tv)| tk == k && v.is_none_or(|v| tv == v));
            if by_prefix || has(&workload_tag.0, Some(&workload_tag.1)) {
                selected.push(Alarm {
                    muted_by_us: has(MUTED_TAG, None),
                    name,
                    arn,
                    actions_enabled,
                });
            }
        }
        selected.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(selected)
    }

    async fn mute(&self, alarms: &[Alarm]) -> Result<(), CloudError> {
        let names: Vec<String> = alarms.iter().map(|a| a.name.clone()).collect();
        for chunk in names.chunks(NAMES_PER_CALL) {
            self.client
                .disable_alarm_actions()
                .set_alarm_names(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| cloud_error("cloudwatch", "DisableAlarmActions", e))?;
        }
        Ok(())
    }

    async fn unmute(&self, alarms: &[Alarm]) -> Result<(), CloudError> {
        let names: Vec<String> = alarms.iter().map(|a| a.name.clone()).collect();
        for chunk in names.chunks(NAMES_PER_CALL) {
            self.client
                .enable_alarm_actions()
                .set_alarm_names(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| cloud_error("cloudwatch", "EnableAlarmActions", e))?;
        }
        Ok(())
    }
}
