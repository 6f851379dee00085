//! Errors that cross module boundaries.

use serde::Serialize;

use crate::config::ConfigError;

/// A failed call to a cloud service, with the AWS error code kept so callers
/// can decide (split a batch, retry, report) without parsing messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{service}:{operation} failed{}: {message}", code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())]
pub struct CloudError {
    /// `ec2`, `ssm`, `s3`, `sns`, `dynamodb`.
    pub service: &'static str,
    /// The API operation, e.g. `StopInstances`.
    pub operation: &'static str,
    /// The AWS error code, e.g. `IncorrectInstanceState`, when the service sent one.
    pub code: Option<String>,
    /// Human-readable detail.
    pub message: String,
}

impl CloudError {
    /// Builds an error for `service:operation`.
    pub fn new(service: &'static str, operation: &'static str, code: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            service,
            operation,
            code: code.map(str::to_string),
            message: message.into(),
        }
    }

    /// True when the failure is caused by one of the instances in the request,
    /// so splitting the batch lets the others proceed.
    pub fn is_instance_specific(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some(
                "IncorrectInstanceState"
                    | "InsufficientInstanceCapacity"
                    | "Unsupported"
                    | "UnsupportedOperation"
                    | "InvalidInstanceID"
                    | "InvalidInstanceID.NotFound"
                    | "InvalidInstanceID.Malformed"
                    | "IncorrectState"
                    | "InstanceLimitExceeded"
                    | "UnsupportedHibernationConfiguration"
            )
        )
    }

    /// True for API rate limiting, which clears as the account's token bucket refills.
    pub fn is_throttling(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some("RequestLimitExceeded" | "Throttling" | "ThrottlingException")
        )
    }

    /// True for throttling and capacity errors worth another try later.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some(
                "RequestLimitExceeded"
                    | "Throttling"
                    | "ThrottlingException"
                    | "InsufficientInstanceCapacity"
                    | "ServiceUnavailable"
                    | "InternalError"
            )
        )
    }
}

/// Why a run could not be carried out at all. No instance was touched.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The invocation payload or command line is invalid.
    #[error("invalid request: {0}")]
    Request(String),
    /// The workload has no WorkloadSpecification item.
    #[error("workload {workload:?} not found in table {table:?} in {region}")]
    WorkloadNotFound {
        /// The SpecName asked for.
        workload: String,
        /// The table searched.
        table: String,
        /// The DynamoDB region.
        region: String,
    },
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A precondition failed before any action, e.g. a bucket in the wrong region.
    #[error("workload {workload:?}: {message}")]
    Precondition {
        /// The workload.
        workload: String,
        /// What is wrong.
        message: String,
    },
    /// A read needed before any action (config, discovery) failed.
    #[error("workload {workload:?}: {source}")]
    Cloud {
        /// The workload.
        workload: String,
        /// The failed call.
        source: CloudError,
    },
}
