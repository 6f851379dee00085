//! Continuations as one-time EventBridge Scheduler schedules, and reading a
//! group's schedules for `orchestrator status`.
//!
//! Chosen over an asynchronous self-invoke because a continuation usually
//! waits (an inter-tier delay that outlasts the invocation): a schedule at
//! the resume time costs nothing while it waits, where a self-invoke would
//! have to sleep inside a billed invocation. The schedule deletes itself
//! after it fires.
//!
//! Every continuation carries a RetryPolicy that keeps its deliveries inside
//! the hand-over window ([`HANDOVER_WINDOW_SECS`]: a later one would be
//! refused anyway) and, when the stack gives one, its schedule dead-letter
//! queue, so a continuation that is never delivered lands there and raises
//! the stack's dead-letter alarm instead of vanishing.

use async_trait::async_trait;
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode, RetryPolicy, Target,
};
use aws_sdk_scheduler::Client;
use serde_json::Value;

use super::cloud_error;
use crate::clock;
use crate::error::CloudError;
use crate::ledger::{Continuation, HANDOVER_WINDOW_SECS};
use crate::ports::ScheduleInfo;

/// [`Continuation`] that targets `function_arn` through `role_arn`.
#[derive(Clone, Debug)]
pub struct SchedulerContinuation {
    client: Client,
    function_arn: String,
    role_arn: String,
    group: Option<String>,
    dead_letter_arn: Option<String>,
}

/// How long EventBridge Scheduler keeps trying to deliver a continuation:
/// its retries end a minute before the hand-over window does.
pub const CONTINUATION_MAX_EVENT_AGE_SECS: i32 = HANDOVER_WINDOW_SECS as i32 - 60;
/// Retries of a continuation's delivery after the first attempt.
pub const CONTINUATION_RETRY_ATTEMPTS: i32 = 3;

/// The target of a continuation schedule: the function through the
/// scheduler role, the payload, the RetryPolicy inside the hand-over window,
/// and the dead-letter queue when there is one.
pub fn continuation_target(
    function_arn: &str,
    role_arn: &str,
    dead_letter_arn: Option<&str>,
    payload: &Value,
) -> Result<Target, CloudError> {
    let retry = RetryPolicy::builder()
        .maximum_event_age_in_seconds(CONTINUATION_MAX_EVENT_AGE_SECS)
        .maximum_retry_attempts(CONTINUATION_RETRY_ATTEMPTS)
        .build();
    let dead_letter = dead_letter_arn.map(|arn| DeadLetterConfig::builder().arn(arn).build());
    Target::builder()
        .arn(function_arn)
        .role_arn(role_arn)
        .input(payload.to_string())
        .retry_policy(retry)
        .set_dead_letter_config(dead_letter)
        .build()
        .map_err(|e| CloudError::new("scheduler", "CreateSchedule", None, e.to_string()))
}

impl SchedulerContinuation {
    /// Continuations invoking `function_arn`, with the scheduler assuming `role_arn`.
    pub fn new(client: Client, function_arn: impl Into<String>, role_arn: impl Into<String>) -> Self {
        Self {
            client,
            function_arn: function_arn.into(),
            role_arn: role_arn.into(),
            group: None,
            dead_letter_arn: None,
        }
    }

    /// Creates the continuations in the stack's schedule group (the
    /// function's IAM grant is scoped to it) instead of `default`.
    pub fn in_group(mut self, group: Option<String>) -> Self {
        self.group = group;
        self
    }

    /// Sends a continuation that cannot be delivered to the stack's
    /// schedule dead-letter queue (`SCHEDULE_DEAD_LETTER_QUEUE_ARN`).
    pub fn with_dead_letter(mut self, arn: Option<String>) -> Self {
        self.dead_letter_arn = arn;
        self
    }
}

#[async_trait]
impl Continuation for SchedulerContinuation {
    async fn schedule(&self, name: &str, payload: &Value, at: u64) -> Result<(), CloudError> {
        let target = continuation_target(
            &self.function_arn,
            &self.role_arn,
            self.dead_letter_arn.as_deref(),
            payload,
        )?;
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|e| CloudError::new("scheduler", "CreateSchedule", None, e.to_string()))?;
        self.client
            .create_schedule()
            .name(name)
            .set_group_name(self.group.clone())
            .schedule_expression(format!("at({})", clock::utc_timestamp(at)))
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window)
            .target(target)
            .action_after_completion(ActionAfterCompletion::Delete)
            .description("ec2-tier-scheduler continuation")
            .send()
            .await
            .map(|_| ())
            .map_err(|e| cloud_error("scheduler", "CreateSchedule", e))
    }

    async fn cancel(&self, name: &str) -> Result<(), CloudError> {
        let deleted = self
            .client
            .delete_schedule()
            .name(name)
            .set_group_name(self.group.clone())
            .send()
            .await
            .map_err(|e| cloud_error("scheduler", "DeleteSchedule", e));
        match deleted {
            Err(e) if e.code.as_deref() == Some("ResourceNotFoundException") => Ok(()),
            other => other.map(|_| ()),
        }
    }
}

/// Reads the schedules of a group (the CLI, with the operator's
/// credentials; the function never lists schedules).
#[derive(Clone, Debug)]
pub struct ScheduleReader {
    client: Client,
}

impl ScheduleReader {
    /// Reads through `client`.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// Every schedule of `group` with its expression, zone, state and input.
    pub async fn schedules(&self, group: &str) -> Result<Vec<ScheduleInfo>, CloudError> {
        let mut names = Vec::new();
        let mut pages = self.client.list_schedules().group_name(group).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| cloud_error("scheduler", "ListSchedules", e))?;
            names.extend(page.schedules().iter().filter_map(|s| s.name().map(str::to_string)));
        }
        let mut schedules = Vec::with_capacity(names.len());
        for name in names {
            let s = self
                .client
                .get_schedule()
                .group_name(group)
                .name(&name)
                .send()
                .await
                .map_err(|e| cloud_error("scheduler", "GetSchedule", e))?;
            schedules.push(ScheduleInfo {
                name,
                expression: s.schedule_expression().unwrap_or_default().to_string(),
                timezone: s.schedule_expression_timezone().map(str::to_string),
                state: s
                    .state()
                    .map(|x| x.as_str().to_string())
                    .unwrap_or_else(|| "ENABLED".into()),
                input: s.target().and_then(|t| t.input()).map(str::to_string),
            });
        }
        Ok(schedules)
    }
}
