//! SSM Run Command and the S3 output it writes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ssm::types::{CommandInvocationStatus, InstanceInformationStringFilter, PingStatus};
use futures::stream::{self, StreamExt};

use super::cloud_error;
use crate::error::CloudError;
use crate::override_check::{CheckDocument, OverrideCheck, PATH_PARAMETER};
use crate::ports::{CheckPoll, OutputLocation, RemoteCheck};
use crate::window::{MaintenanceWindow, WindowExecution};

/// How long the check script may run on the guest with AWS-RunShellScript /
/// AWS-RunPowerShellScript (the stack's documents set the same in the step).
const EXECUTION_TIMEOUT_SECS: &str = "60";
/// DescribeInstanceInformation accepts up to 50 ids in one filter.
const INFO_BATCH: usize = 50;

/// ListCommandInvocations page size: one SendCommand targets at most 50.
const LIST_PAGE: i32 = 50;
/// How SSM marks inline output it cut at 2,500 characters.
const TRUNCATED_MARK: &str = "---Output truncated---";
/// Concurrent GetCommandInvocation calls on the fallback path.
const FALLBACK_CONCURRENCY: usize = 16;

/// [`RemoteCheck`] on SSM and S3 clients of the workload's region.
#[derive(Clone, Debug)]
pub struct SsmRemoteCheck {
    ssm: aws_sdk_ssm::Client,
    s3: aws_sdk_s3::Client,
    /// ListCommandInvocations answered that it is not available here: poll
    /// instance by instance with GetCommandInvocation from then on.
    per_instance: Arc<AtomicBool>,
}

impl SsmRemoteCheck {
    /// Wraps the clients.
    pub fn new(ssm: aws_sdk_ssm::Client, s3: aws_sdk_s3::Client) -> Self {
        Self {
            ssm,
            s3,
            per_instance: Arc::new(AtomicBool::new(false)),
        }
    }

    /// One poll of a whole command: ListCommandInvocations with details,
    /// paged; `None` when the operation is not available (the caller falls
    /// back to GetCommandInvocation).
    async fn list_invocations(
        &self,
        command_id: &str,
        wanted: &[String],
        output: &OutputLocation,
    ) -> Result<Option<Vec<(String, CheckPoll)>>, CloudError> {
        let mut found: Vec<(String, CheckPoll)> = Vec::with_capacity(wanted.len());
        let mut pages = self
            .ssm
            .list_command_invocations()
            .command_id(command_id)
            .details(true)
            .max_results(LIST_PAGE)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(p) => p,
                Err(e) => {
                    let status = e.raw_response().map(|r| r.status().as_u16());
                    let e = cloud_error("ssm", "ListCommandInvocations", e);
                    if not_available(e.code.as_deref(), status) {
                        return Ok(None);
                    }
                    return Err(e);
                }
            };
            for invocation in page.command_invocations() {
                let Some(id) = invocation.instance_id().filter(|id| wanted.iter().any(|w| w == id)) else {
                    continue;
                };
                let inline = invocation
                    .command_plugins()
                    .iter()
                    .filter_map(|p| p.output())
                    .collect::<Vec<_>>()
                    .join("\n");
                let status = (invocation.status(), invocation.status_details().unwrap_or_default());
                let poll = self.answer(status, &inline, output, command_id, id).await?;
                found.push((id.to_string(), poll));
            }
        }
        // Invocations appear shortly after SendCommand returns.
        for id in wanted {
            if !found.iter().any(|(f, _)| f == id) {
                found.push((id.clone(), CheckPoll::Pending));
            }
        }
        Ok(Some(found))
    }

    /// The fallback: one GetCommandInvocation per instance.
    async fn poll_instance(
        &self,
        command_id: &str,
        instance_id: &str,
        output: &OutputLocation,
    ) -> Result<CheckPoll, CloudError> {
        let invocation = match self
            .ssm
            .get_command_invocation()
            .command_id(command_id)
            .instance_id(instance_id)
            .send()
            .await
        {
            Ok(i) => i,
            Err(e) => {
                let e = cloud_error("ssm", "GetCommandInvocation", e);
                // Invocations appear shortly after SendCommand returns.
                if e.code.as_deref() == Some("InvocationDoesNotExist") {
                    return Ok(CheckPoll::Pending);
                }
                return Err(e);
            }
        };
        let status = (invocation.status(), invocation.status_details().unwrap_or_default());
        let inline = invocation.standard_output_content().unwrap_or_default();
        self.answer(status, inline, output, command_id, instance_id).await
    }

    /// What an invocation's (status, details) and inline output say: a
    /// success answers with its inline output, or with the S3 object when
    /// the inline copy is absent or truncated.
    async fn answer(
        &self,
        (status, details): (Option<&CommandInvocationStatus>, &str),
        inline: &str,
        output: &OutputLocation,
        command_id: &str,
        instance_id: &str,
    ) -> Result<CheckPoll, CloudError> {
        Ok(match classify(status, details) {
            Classified::Success if !inline.trim().is_empty() && !inline.contains(TRUNCATED_MARK) => {
                CheckPoll::Output(inline.to_string())
            }
            Classified::Success => match self.read_stdout(output, command_id, instance_id).await? {
                Some(text) => CheckPoll::Output(text),
                None => CheckPoll::Pending,
            },
            Classified::Done(poll) => poll,
        })
    }

    /// Reads the `stdout` object the agent wrote below
    /// `prefix/commandId/instanceId/`. The plugin directory name differs by
    /// agent version (`awsrunShellScript/0.awsrunShellScript`,
    /// `0.aws:runShellScript`), so the prefix is listed rather than guessed.
    async fn read_stdout(
        &self,
        output: &OutputLocation,
        command_id: &str,
        instance_id: &str,
    ) -> Result<Option<String>, CloudError> {
        let prefix = if output.prefix.is_empty() {
            format!("{command_id}/{instance_id}/")
        } else {
            format!("{}/{command_id}/{instance_id}/", output.prefix)
        };
        let listed = self
            .s3
            .list_objects_v2()
            .bucket(&output.bucket)
            .prefix(&prefix)
            .send()
            .await
            .map_err(|e| cloud_error("s3", "ListObjectsV2", e))?;
        let Some(key) = listed
            .contents()
            .iter()
            .filter_map(|o| o.key())
            .find(|k| k.ends_with("/stdout"))
        else {
            return Ok(None);
        };
        let object = self
            .s3
            .get_object()
            .bucket(&output.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| cloud_error("s3", "GetObject", e))?;
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| CloudError::new("s3", "GetObject", None, e.to_string()))?
            .into_bytes();
        Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
    }
}

#[async_trait]
impl RemoteCheck for SsmRemoteCheck {
    async fn bucket_region(&self, bucket: &str) -> Result<String, CloudError> {
        let out = self
            .s3
            .get_bucket_location()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| cloud_error("s3", "GetBucketLocation", e))?;
        // An empty constraint means us-east-1; "EU" is the legacy eu-west-1.
        Ok(match out.location_constraint().map(|c| c.as_str()) {
            None | Some("") => "us-east-1".to_string(),
            Some("EU") => "eu-west-1".to_string(),
            Some(other) => other.to_string(),
        })
    }

    async fn send(
        &self,
        check: &OverrideCheck,
        ids: &[String],
        output: &OutputLocation,
        timeout: Duration,
    ) -> Result<String, CloudError> {
        let mut request = self
            .ssm
            .send_command()
            .set_instance_ids(Some(ids.to_vec()))
            .timeout_seconds(timeout.as_secs().clamp(30, 2_592_000) as i32)
            .comment("ec2-tier-scheduler override file check")
            .output_s3_bucket_name(&output.bucket);
        request = match check.document() {
            // The stack's document takes the path as data; SSM checks it
            // against the document's allowedPattern before any agent runs it.
            Some(CheckDocument::Stack(name)) => request
                .document_name(name)
                .parameters(PATH_PARAMETER, vec![check.path().to_string()]),
            Some(CheckDocument::AwsRunScript) => request
                .document_name(check.os().document())
                .parameters("commands", vec![check.command()])
                .parameters("executionTimeout", vec![EXECUTION_TIMEOUT_SECS.to_string()]),
            // The orchestrator always chooses one; never guess a document.
            None => {
                return Err(CloudError::new(
                    "ssm",
                    "SendCommand",
                    None,
                    "no SSM document was chosen for the override check",
                ))
            }
        };
        if !output.prefix.is_empty() {
            request = request.output_s3_key_prefix(&output.prefix);
        }
        let sent = request.send().await.map_err(|e| cloud_error("ssm", "SendCommand", e))?;
        sent.command()
            .and_then(|c| c.command_id())
            .map(str::to_string)
            .ok_or_else(|| CloudError::new("ssm", "SendCommand", None, "no command id in the response"))
    }

    async fn poll_command(
        &self,
        command_id: &str,
        instance_ids: &[String],
        output: &OutputLocation,
    ) -> Result<Vec<(String, CheckPoll)>, CloudError> {
        if !self.per_instance.load(Ordering::Relaxed) {
            match self.list_invocations(command_id, instance_ids, output).await? {
                Some(polls) => return Ok(polls),
                None => {
                    tracing::warn!("ListCommandInvocations is not available here; polling with GetCommandInvocation");
                    self.per_instance.store(true, Ordering::Relaxed);
                }
            }
        }
        let polls: Vec<(String, Result<CheckPoll, CloudError>)> = stream::iter(instance_ids.iter().cloned())
            .map(|id| async move {
                let poll = self.poll_instance(command_id, &id, output).await;
                (id, poll)
            })
            .buffer_unordered(FALLBACK_CONCURRENCY)
            .collect()
            .await;
        polls.into_iter().map(|(id, poll)| poll.map(|p| (id, p))).collect()
    }

    async fn online(&self, ids: &[String]) -> Result<Vec<(String, bool)>, CloudError> {
        let mut out: Vec<(String, bool)> = ids.iter().map(|id| (id.clone(), false)).collect();
        for chunk in ids.chunks(INFO_BATCH) {
            let filter = InstanceInformationStringFilter::builder()
                .key("InstanceIds")
                .set_values(Some(chunk.to_vec()))
                .build()
                .map_err(|e| CloudError::new("ssm", "DescribeInstanceInformation", None, e.to_string()))?;
            let mut pages = self
                .ssm
                .describe_instance_information()
                .filters(filter)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| cloud_error("ssm", "DescribeInstanceInformation", e))?;
                for info in page.instance_information_list() {
                    if let Some(entry) = out.iter_mut().find(|(id, _)| Some(id.as_str()) == info.instance_id()) {
                        entry.1 = info.ping_status() == Some(&PingStatus::Online);
                    }
                }
            }
        }
        Ok(out)
    }

    async fn maintenance_window(&self, id: &str) -> Result<MaintenanceWindow, CloudError> {
        let out = self
            .ssm
            .get_maintenance_window()
            .window_id(id)
            .send()
            .await
            .map_err(|e| cloud_error("ssm", "GetMaintenanceWindow", e))?;
        let next_execution = out.next_execution_time().and_then(|t| {
            crate::clock::parse_time(t)
                .inspect_err(|e| tracing::warn!(window = id, error = %e, "NextExecutionTime not understood"))
                .ok()
        });
        Ok(MaintenanceWindow {
            id: id.to_string(),
            next_execution,
            duration_hours: out.duration().unwrap_or(1).max(0) as u32,
            cutoff_hours: out.cutoff().max(0) as u32,
            schedule: out.schedule().map(str::to_string),
            enabled: out.enabled(),
        })
    }

    async fn window_executions(&self, id: &str, since: u64) -> Result<Vec<WindowExecution>, CloudError> {
        let after = aws_sdk_ssm::types::MaintenanceWindowFilter::builder()
            .key("ExecutedAfter")
            .values(format!("{}Z", crate::clock::utc_timestamp(since)))
            .build();
        let out = self
            .ssm
            .describe_maintenance_window_executions()
            .window_id(id)
            .filters(after)
            .max_results(50)
            .send()
            .await
            .map_err(|e| cloud_error("ssm", "DescribeMaintenanceWindowExecutions", e))?;
        Ok(out
            .window_executions()
            .iter()
            .map(|e| WindowExecution {
                status: e.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
                started: e.start_time().and_then(|t| u64::try_from(t.secs()).ok()),
            })
            .collect())
    }
}

/// What an invocation's status says.
enum Classified {
    /// Finished successfully: the output decides.
    Success,
    /// Pending, or ended without an answer that will ever come.
    Done(CheckPoll),
}

fn classify(status: Option<&CommandInvocationStatus>, details: &str) -> Classified {
    match status {
        Some(CommandInvocationStatus::Success) => Classified::Success,
        Some(
            status @ (CommandInvocationStatus::Failed
            | CommandInvocationStatus::TimedOut
            | CommandInvocationStatus::Cancelled
            | CommandInvocationStatus::Cancelling),
        ) => Classified::Done(CheckPoll::Failed {
            status: status.as_str().to_string(),
            detail: if details.is_empty() {
                status.as_str().to_string()
            } else {
                details.to_string()
            },
        }),
        // Undeliverable / terminated instances surface as these details.
        _ if matches!(
            details,
            "Undeliverable" | "Terminated" | "DeliveryTimedOut" | "InvalidPlatform"
        ) =>
        {
            Classified::Done(CheckPoll::Failed {
                status: details.to_string(),
                detail: format!("SSM reports {details}"),
            })
        }
        _ => Classified::Done(CheckPoll::Pending),
    }
}

/// The service answered that the operation is not available (an emulator
/// or partition without it): HTTP 500/501 with no modelled error, or an
/// unknown-operation code. Throttling and access errors are not this.
fn not_available(code: Option<&str>, status: Option<u16>) -> bool {
    matches!(
        code,
        Some("NotImplemented" | "UnknownOperationException" | "InvalidAction" | "UnsupportedOperation")
    ) || (matches!(status, Some(500) | Some(501)) && !matches!(code, Some("InternalServerError")))
}
