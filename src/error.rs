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

    /// What the failure means for the scheduler's decisions, from its code.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::of(self.code.as_deref())
    }

    /// True when the failure is caused by one of the instances in the request,
    /// so splitting the batch lets the others proceed.
    pub fn is_instance_specific(&self) -> bool {
        self.kind().is_instance_specific()
    }

    /// True for API rate limiting, which clears as the account's token bucket refills.
    pub fn is_throttling(&self) -> bool {
        self.kind() == ErrorKind::Throttling
    }
}

/// What a refusal means to the core, read from the AWS error code once
/// ([`ErrorKind::of`], [`CloudError::kind`]); the code itself is kept for
/// reports. Only the kinds the core decides on: every other code is
/// [`ErrorKind::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// API rate limiting (`RequestLimitExceeded`, `Throttling`,
    /// `ThrottlingException`): clears as the account's token bucket
    /// refills, so a batch is tried again for as long as the budget lasts.
    Throttling,
    /// No capacity for the instance's type now (`InsufficientInstanceCapacity`,
    /// `InsufficientDBInstanceCapacity`): a batch is split, a lone instance
    /// tried again a few times, then in its fallback types.
    NoCapacity,
    /// EC2's `Unsupported`: what was asked is not offered where the
    /// instance is, typically its type in its zone. A batch is split and the
    /// fallback types tried; never tried again as it was.
    TypeUnsupported,
    /// The operation is not supported for this instance (`UnsupportedOperation`),
    /// e.g. a stop of a Spot instance from a one-time request: skipped.
    Unsupported,
    /// The member is not in a state that allows the call
    /// (`IncorrectInstanceState`, `IncorrectState`, `InvalidDBInstanceState`,
    /// `InvalidDBClusterStateFault`): a batch is split.
    WrongState,
    /// EC2 will not hibernate the instance (`UnsupportedHibernationConfiguration`,
    /// any code naming hibernation): stopped normally instead.
    HibernationRefused,
    /// An id of the request the service does not know (`InvalidInstanceID`,
    /// `.NotFound`, `.Malformed`; SSM's `InvalidInstanceId` for an instance
    /// it does not manage; `DBInstanceNotFound`, `DBClusterNotFoundFault`):
    /// a batch is split.
    NotFound,
    /// An account limit on instances (`InstanceLimitExceeded`): a batch is
    /// split so the instances that fit proceed.
    LimitExceeded,
    /// A fault on the service's side (`ServiceUnavailable`, `InternalError`):
    /// tried again a few times.
    Transient,
    /// Any other code, or none: reported as it came.
    Other,
}

impl ErrorKind {
    /// The kind of the AWS error code `code` (of a [`CloudError`], or one
    /// kept in a report's failure).
    pub fn of(code: Option<&str>) -> Self {
        match code.unwrap_or_default() {
            "RequestLimitExceeded" | "Throttling" | "ThrottlingException" => Self::Throttling,
            "InsufficientInstanceCapacity" | "InsufficientDBInstanceCapacity" => Self::NoCapacity,
            "Unsupported" => Self::TypeUnsupported,
            "UnsupportedOperation" => Self::Unsupported,
            "IncorrectInstanceState" | "IncorrectState" | "InvalidDBInstanceState" | "InvalidDBClusterStateFault" => {
                Self::WrongState
            }
            "InvalidInstanceID"
            | "InvalidInstanceID.NotFound"
            | "InvalidInstanceID.Malformed"
            | "InvalidInstanceId"
            | "DBInstanceNotFound"
            | "DBClusterNotFoundFault" => Self::NotFound,
            "InstanceLimitExceeded" => Self::LimitExceeded,
            "ServiceUnavailable" | "InternalError" => Self::Transient,
            c if c.contains("Hibernat") => Self::HibernationRefused,
            _ => Self::Other,
        }
    }

    /// True when one member of a request causes the refusal, so splitting
    /// the batch lets the others proceed.
    pub fn is_instance_specific(self) -> bool {
        matches!(
            self,
            Self::NoCapacity
                | Self::TypeUnsupported
                | Self::Unsupported
                | Self::WrongState
                | Self::HibernationRefused
                | Self::NotFound
                | Self::LimitExceeded
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_codes_read_as_the_kinds_the_core_decides_on() {
        let cases = [
            ("RequestLimitExceeded", ErrorKind::Throttling),
            ("Throttling", ErrorKind::Throttling),
            ("ThrottlingException", ErrorKind::Throttling),
            ("InsufficientInstanceCapacity", ErrorKind::NoCapacity),
            ("InsufficientDBInstanceCapacity", ErrorKind::NoCapacity),
            ("Unsupported", ErrorKind::TypeUnsupported),
            ("UnsupportedOperation", ErrorKind::Unsupported),
            ("IncorrectInstanceState", ErrorKind::WrongState),
            ("IncorrectState", ErrorKind::WrongState),
            ("InvalidDBInstanceState", ErrorKind::WrongState),
            ("InvalidDBClusterStateFault", ErrorKind::WrongState),
            ("UnsupportedHibernationConfiguration", ErrorKind::HibernationRefused),
            ("InvalidInstanceID", ErrorKind::NotFound),
            ("InvalidInstanceID.NotFound", ErrorKind::NotFound),
            ("InvalidInstanceID.Malformed", ErrorKind::NotFound),
            ("InvalidInstanceId", ErrorKind::NotFound),
            ("DBInstanceNotFound", ErrorKind::NotFound),
            ("InstanceLimitExceeded", ErrorKind::LimitExceeded),
            ("ServiceUnavailable", ErrorKind::Transient),
            ("InternalError", ErrorKind::Transient),
            ("UnauthorizedOperation", ErrorKind::Other),
            ("InternalServerError", ErrorKind::Other),
            ("invalidinstanceid.notfound", ErrorKind::Other),
        ];
        for (code, kind) in cases {
            assert_eq!(ErrorKind::of(Some(code)), kind, "{code}");
            assert_eq!(
                CloudError::new("ec2", "StartInstances", Some(code), "m").kind(),
                kind,
                "{code}"
            );
        }
        assert_eq!(ErrorKind::of(None), ErrorKind::Other);
    }

    #[test]
    fn a_batch_splits_on_the_codes_one_instance_causes() {
        let splits = |code| CloudError::new("ec2", "StopInstances", Some(code), "m").is_instance_specific();
        for code in [
            "IncorrectInstanceState",
            "InsufficientInstanceCapacity",
            "Unsupported",
            "UnsupportedOperation",
            "InvalidInstanceID",
            "InvalidInstanceID.NotFound",
            "InvalidInstanceID.Malformed",
            "IncorrectState",
            "InstanceLimitExceeded",
            "UnsupportedHibernationConfiguration",
        ] {
            assert!(splits(code), "{code}");
        }
        for code in [
            "RequestLimitExceeded",
            "ServiceUnavailable",
            "InternalError",
            "UnauthorizedOperation",
        ] {
            assert!(!splits(code), "{code}");
        }
        assert!(CloudError::new("ec2", "StartInstances", Some("RequestLimitExceeded"), "m").is_throttling());
        assert!(!CloudError::new("ec2", "StartInstances", None, "m").is_throttling());
    }

    #[test]
    fn the_message_keeps_aws_code() {
        let e = CloudError::new("ec2", "StopInstances", Some("IncorrectInstanceState"), "bad state");
        assert_eq!(
            e.to_string(),
            "ec2:StopInstances failed (IncorrectInstanceState): bad state"
        );
        assert_eq!(
            CloudError::new("ssm", "SendCommand", None, "x").to_string(),
            "ssm:SendCommand failed: x"
        );
    }
}
