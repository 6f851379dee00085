//! EventBridge: a run's events put on the workload's bus (PutEvents).

use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;

use super::cloud_error;
use crate::error::CloudError;
use crate::ports::{BusEvent, EventBus};

/// [`EventBus`] on an EventBridge client.
#[derive(Debug, Clone)]
pub struct EventBridgeBus {
    client: Client,
}

impl EventBridgeBus {
    /// Wraps a client of the bus's region.
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl EventBus for EventBridgeBus {
    async fn put(&self, bus: &str, events: &[BusEvent]) -> Result<Vec<Option<String>>, CloudError> {
        let entries = events
            .iter()
            .map(|e| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(bus)
                    .source(&e.source)
                    .detail_type(&e.detail_type)
                    .detail(&e.detail)
                    .build()
            })
            .collect();
        let out = self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| cloud_error("events", "PutEvents", e))?;
        // One result per entry, in order: an error code, or an event id.
        let mut results: Vec<Option<String>> = out
            .entries()
            .iter()
            .map(|r| {
                r.error_code().map(|code| match r.error_message() {
                    Some(message) => format!("{code}: {message}"),
                    None => code.to_string(),
                })
            })
            .collect();
        results.resize(events.len(), None);
        Ok(results)
    }
}
