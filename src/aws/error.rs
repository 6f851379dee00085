//! SDK errors to [`CloudError`], keeping the AWS error code.

use std::error::Error;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::error::CloudError;

/// Maps an SDK error of `service:operation`.
///
/// The message is AWS's when it gave one. A response the SDK could not
/// read (an endpoint that is not the service, a proxy's error page) says
/// its HTTP status, not the SDK's dump of the whole response.
pub fn cloud_error<E>(service: &'static str, operation: &'static str, err: SdkError<E, HttpResponse>) -> CloudError
where
    E: ProvideErrorMetadata + Error + Send + Sync + 'static,
{
    let code = err.code().map(str::to_string);
    let message = match (err.message(), &err) {
        (Some(m), _) => m.to_string(),
        (None, SdkError::TimeoutError(_)) => "timed out".to_string(),
        (None, SdkError::ServiceError(e)) if code.is_none() => format!(
            "HTTP {} with a response that is not {service}'s (is the endpoint the service?)",
            e.raw().status().as_u16()
        ),
        (None, _) => DisplayErrorContext(&err).to_string(),
    };
    CloudError {
        service,
        operation,
        code,
        message,
    }
}
