//! The Lambda handler, free of the runtime so tests can call it directly.

use std::time::Duration;

use serde_json::Value;

use crate::error::RunError;
use crate::event::{EventError, SchedulerEvent};
use crate::orchestrator::{self, Budget, RunRequest, Settings};
use crate::ports::Cloud;

/// Time kept back from the Lambda deadline: enough to finish the SNS summary
/// and return the response after the last wait is cut short. A tenth of the
/// time left, between 2 and 20 seconds, so short test timeouts stay usable.
pub fn safety_margin(time_left: Duration) -> Duration {
    (time_left / 10).clamp(Duration::from_secs(2), Duration::from_secs(20))
}

/// Why an invocation failed. No instance was touched in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The payload is invalid.
    #[error(transparent)]
    Event(#[from] EventError),
    /// The run could not start.
    #[error(transparent)]
    Run(#[from] RunError),
    /// No region for DynamoDB: neither `dynamoDBRegion` nor the function's.
    #[error("invalid event: dynamoDBRegion is required when the function has no region")]
    NoRegion,
}

impl HandlerError {
    /// A stable error type for the Lambda error response and alarms.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Event(_) | Self::NoRegion => "InvalidEvent",
            Self::Run(RunError::Request(_)) => "InvalidEvent",
            Self::Run(RunError::Config(_)) => "InvalidConfiguration",
            Self::Run(RunError::WorkloadNotFound { .. }) => "WorkloadNotFound",
            Self::Run(RunError::Precondition { .. }) => "PreconditionFailed",
            Self::Run(RunError::Cloud { .. }) => "CloudError",
        }
    }
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(e: HandlerError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.error_type().to_string(),
            error_message: e.to_string(),
        }
    }
}

/// Handles one payload. `time_left` is the time until the Lambda deadline.
/// The response is the run summary; a dry run also carries the plan.
pub async fn handle(
    cloud: &dyn Cloud,
    function_region: Option<&str>,
    payload: &Value,
    time_left: Option<Duration>,
    settings: &Settings,
) -> Result<Value, HandlerError> {
    let event = SchedulerEvent::from_value(payload)?;
    let region = event
        .dynamodb_region
        .clone()
        .or_else(|| function_region.map(str::to_string))
        .ok_or(HandlerError::NoRegion)?;
    let request = RunRequest {
        workload: event.workload_identifier.clone(),
        action: event.action,
        scaling_profile: event.scaling_profile.clone(),
        dry_run: event.dry_run,
        dynamodb_region: region,
    };
    let budget = match time_left {
        Some(left) => Budget::from_now(left, safety_margin(left)),
        None => Budget::unlimited(),
    };
    tracing::info!(workload = %request.workload, action = %request.action, dry_run = request.dry_run, run_id = ?event.run_id, "run requested");
    let report = orchestrator::run(cloud, &request, &budget, settings)
        .await
        .inspect_err(|e| {
            tracing::error!(error = %e, workload = %request.workload, "run refused");
        })?;
    tracing::info!(status = ?report.summary.status, message = %report.summary.message, "run finished");
    let mut response = serde_json::to_value(&report.summary).expect("summary serialises");
    if request.dry_run {
        response["plan"] = serde_json::to_value(&report.plan).expect("plan serialises");
    }
    Ok(response)
}
