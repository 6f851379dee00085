//! Counts every AWS call by service and operation: an SDK interceptor added
//! to each client, shared by tests and benchmarks (`make bench`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
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

    /// Forgets everything counted so far.
    pub fn reset(&self) {
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
}
