//! SDK errors to [`CloudError`], keeping the AWS error code.

use std::error::Error;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::error::CloudError;

/// Maps an SDK error of `service:operation`.
pub fn cloud_error<E, R>(service: &'static str, operation: &'static str, err: SdkError<E, R>) -> CloudError
where
    E: ProvideErrorMetadata + Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = err.code().map(str::to_string);
    let message = match (err.message(), &err) {
        (Some(m), _) => m.to_string(),
        (None, SdkError::TimeoutError(_)) => "timed out".to_string(),
        (None, _) => DisplayErrorContext(&err).to_string(),
    };
    CloudError {
        service,
        operation,
        code,
        message,
    }
}
