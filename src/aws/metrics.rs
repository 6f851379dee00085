//! Counts every AWS call by service and operation, and the throttled
//! responses: an SDK interceptor added to each client, shared by tests,
//! benchmarks (`make bench`) and the function's `Throttles` metric.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Calls and attempts (retries included) per `(service, operation)`.
#[derive(Debug, Clone, Default)]
pub struct ApiCounter {
    calls: Arc<Mutex<BTreeMap<(String, String), u64>>>,
    attempts: Arc<Mutex<BTreeMap<(String, String), u64>>>,
    throttles: Arc<AtomicU64>,
}

impl ApiCounter {
    /// A new, empty counter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Calls made so far, by (service, operation).
    pub fn calls(&self) -> BTreeMap<(String, String), u64> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Attempts (first tries plus retries) so far.
    pub fn attempts(&self) -> BTreeMap<(String, String), u64> {
        self.attempts.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Calls of one operation, e.g. `("EC2", "StopInstances")`.
    pub fn count(&self, service: &str, operation: &str) -> u64 {
        self.calls()
            .get(&(service.to_string(), operation.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Throttled responses so far (each attempt the service throttled,
    /// whether the SDK retried it or not).
    pub fn throttles(&self) -> u64 {
        self.throttles.load(Ordering::Relaxed)
    }

    /// Forgets everything counted so far.
    pub fn reset(&self) {
        self.throttles.store(0, Ordering::Relaxed);
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.attempts.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    fn bump(map: &Mutex<BTreeMap<(String, String), u64>>, cfg: &ConfigBag) {
        if let Some(m) = cfg.load::<Metadata>() {
            *map.lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry((m.service().to_string(), m.name().to_string()))
                .or_insert(0) += 1;
        }
    }
}

impl Intercept for ApiCounter {
    fn name(&self) -> &'static str {
        "ApiCounter"
    }

    // Not `read_before_execution`: for client-level interceptors it runs before
    // the operation's metadata is in the bag. Serialization happens once per call.
    fn read_before_serialization(
        &self,
        _: &BeforeSerializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        Self::bump(&self.calls, cfg);
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        Self::bump(&self.attempts, cfg);
        Ok(())
    }

    // The operation's error is type-erased here, so the code is read from
    // the raw response: after deserialisation its body is in memory.
    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(response) = context.response() {
            let header = response.headers().get("x-amzn-errortype");
            if is_throttled(response.status().as_u16(), header, response.body().bytes()) {
                self.throttles.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }
}

/// Whether a response is a throttling error: HTTP 429, or an error code the
/// SDK itself retries as throttling (`RequestLimitExceeded`,
/// `ThrottlingException`, `SlowDown`, ...) in the `x-amzn-ErrorType` header,
/// a JSON `__type`/`code`, or an XML `<Code>`.
pub fn is_throttled(status: u16, error_type_header: Option<&str>, body: Option<&[u8]>) -> bool {
    if status == 429 {
        return true;
    }
    if status < 400 {
        return false;
    }
    let throttling = |code: &str| {
        aws_runtime::retries::classifiers::THROTTLING_ERRORS.contains(&code.rsplit('#').next().unwrap_or(code))
    };
    if let Some(code) = error_type_header.and_then(|h| h.split(':').next()) {
        return throttling(code.trim());
    }
    let Some(text) = body.and_then(|b| std::str::from_utf8(b).ok()) else {
        return false;
    };
    let text = text.trim_start();
    if text.starts_with('<') {
        let code = text
            .split_once("<Code>")
            .and_then(|(_, rest)| rest.split_once("</Code>"))
            .map(|(code, _)| code.trim());
        return code.is_some_and(throttling);
    }
    serde_json::from_str::<serde_json::Value>(text).is_ok_and(|v| {
        ["__type", "code", "Code"]
            .iter()
            .filter_map(|k| v.get(*k).and_then(|c| c.as_str()))
            .any(throttling)
    })
}

#[cfg(test)]
mod tests {
    use super::is_throttled;

    #[test]
    fn throttling_is_recognised_in_each_protocol() {
        let ec2 = b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>slow down</Message></Error></Errors></Response>";
        assert!(is_throttled(503, None, Some(ec2)));
        let query = b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code></Error></ErrorResponse>";
        assert!(is_throttled(400, None, Some(query)));
        let json = br#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"rate"}"#;
        assert!(is_throttled(400, None, Some(json)));
        assert!(is_throttled(400, Some("ThrottlingException:http://internal"), None));
        assert!(is_throttled(429, None, None));
        // Other errors and successes are not throttles.
        let denied = b"<Response><Errors><Error><Code>UnauthorizedOperation</Code></Error></Errors></Response>";
        assert!(!is_throttled(403, None, Some(denied)));
        assert!(!is_throttled(400, Some("ValidationException"), Some(json)));
        assert!(!is_throttled(200, None, Some(ec2)));
        assert!(!is_throttled(500, None, Some(b"not json")));
    }
}
