//! The invocation payload: the scheduler's JSON object, sent directly (an
//! EventBridge Scheduler target input) or as the `detail` of an EventBridge
//! event envelope. Every field is checked and named in errors.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::is_region;
use crate::plan::Action;

/// Longest accepted workload identifier (DynamoDB keys allow more, but a
/// longer name is a mistake, and it ends up in logs and subjects).
const MAX_WORKLOAD_LEN: usize = 255;
const FIELDS: &[&str] = &[
    "workloadIdentifier",
    "action",
    "scalingProfile",
    "dryRun",
    "dynamoDBRegion",
    "runId",
    "scheduleArn",
    "scheduledTime",
    "continueRun",
    "overrideState",
];

/// A validated invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchedulerEvent {
    /// SpecName of the workload.
    pub workload_identifier: String,
    /// Stop or Start.
    pub action: Action,
    /// Scaling profile for Start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scaling_profile: Option<String>,
    /// Plan only.
    #[serde(default)]
    pub dry_run: bool,
    /// Region of the configuration tables; defaults to the function's region.
    #[serde(rename = "dynamoDBRegion", skip_serializing_if = "Option::is_none")]
    pub dynamodb_region: Option<String>,
    /// Caller-chosen run identifier (for logs and idempotency).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The schedule that fired (`<aws.scheduler.schedule-arn>`, or the
    /// EventBridge envelope's first resource).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_arn: Option<String>,
    /// When it was due (`<aws.scheduler.scheduled-time>`, or the envelope's `time`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled_time: Option<String>,
    /// The ledger key of a run this invocation continues.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continue_run: Option<String>,
    /// Start even when the WorkloadState table says the last action was
    /// already a Start (the original's `-o/--overrideState`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub override_state: bool,
}

/// Why a payload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid event: {0}")]
pub struct EventError(pub String);

impl SchedulerEvent {
    /// Parses a payload, unwrapping an EventBridge envelope.
    pub fn from_value(value: &Value) -> Result<Self, EventError> {
        let Some(map) = value.as_object() else {
            return Err(EventError(format!(
                "the payload must be a JSON object, found {}",
                kind(value)
            )));
        };
        // EventBridge envelope: the scheduler's object is the `detail`.
        if map.contains_key("detail") && map.contains_key("detail-type") {
            let detail = &map["detail"];
            return Self::from_value(detail)
                .map_err(|e| EventError(format!("{} (in the EventBridge event's detail)", e.0)));
        }
        for key in map.keys() {
            if !FIELDS.contains(&key.as_str()) {
                return Err(EventError(format!(
                    "unknown field {:?} (expected: {})",
                    clip(key),
                    FIELDS.join(", ")
                )));
            }
        }
        let workload =
            string(map, "workloadIdentifier")?.ok_or_else(|| EventError("workloadIdentifier is required".into()))?;
        if workload.trim().is_empty() {
            return Err(EventError("workloadIdentifier must not be empty".into()));
        }
        if workload.chars().count() > MAX_WORKLOAD_LEN || workload.chars().any(char::is_control) {
            return Err(EventError(format!(
                "workloadIdentifier must be at most {MAX_WORKLOAD_LEN} characters without control characters"
            )));
        }
        let action_text =
            string(map, "action")?.ok_or_else(|| EventError("action is required (\"Stop\" or \"Start\")".into()))?;
        let action: Action = action_text
            .parse()
            .map_err(|e: String| EventError(format!("action: {}", clip(&e))))?;
        let scaling_profile = string(map, "scalingProfile")?.filter(|p| !p.trim().is_empty());
        if let Some(p) = &scaling_profile {
            if p.chars().count() > 128 || p.chars().any(char::is_control) {
                return Err(EventError(
                    "scalingProfile must be at most 128 characters without control characters".into(),
                ));
            }
        }
        let flag = |key: &str| match map.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(EventError(format!(
                "{key} must be true or false, found {}",
                kind(other)
            ))),
        };
        let dry_run = flag("dryRun")?;
        let override_state = flag("overrideState")?;
        let dynamodb_region = string(map, "dynamoDBRegion")?.filter(|r| !r.is_empty());
        if let Some(r) = &dynamodb_region {
            if !is_region(r) {
                return Err(EventError(format!(
                    "dynamoDBRegion {:?} is not an AWS region name",
                    clip(r)
                )));
            }
        }
        let bounded = |key: &str, max: usize| -> Result<Option<String>, EventError> {
            let value = string(map, key)?.filter(|v| !v.is_empty());
            if let Some(v) = &value {
                if v.len() > max || v.chars().any(char::is_control) {
                    return Err(EventError(format!(
                        "{key} must be at most {max} characters without control characters"
                    )));
                }
            }
            Ok(value)
        };
        let run_id = bounded("runId", 512)?;
        let schedule_arn = bounded("scheduleArn", 1024)?;
        let scheduled_time = bounded("scheduledTime", 64)?;
        let continue_run = bounded("continueRun", 2048)?;
        Ok(Self {
            workload_identifier: workload,
            action,
            scaling_profile,
            dry_run,
            dynamodb_region,
            run_id,
            schedule_arn,
            scheduled_time,
            continue_run,
            override_state,
        })
    }

    /// The run's idempotency key: the schedule and its due time when the
    /// event says which schedule fired, else the caller's `runId`, else none
    /// (every delivery is then a new run).
    pub fn idempotency_key(&self) -> Option<String> {
        match (&self.schedule_arn, &self.scheduled_time, &self.run_id) {
            (Some(arn), Some(time), _) => Some(format!("{arn}|{time}|{}", self.action)),
            (_, _, Some(id)) => Some(format!("run|{}|{id}", self.workload_identifier)),
            _ => None,
        }
    }

    /// Parses a payload from JSON text.
    pub fn from_json(text: &str) -> Result<Self, EventError> {
        let value: Value = serde_json::from_str(text).map_err(|e| EventError(format!("not valid JSON: {e}")))?;
        Self::from_value(&value)
    }
}

fn string(map: &Map<String, Value>, key: &str) -> Result<Option<String>, EventError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(other) => Err(EventError(format!("{key} must be a string, found {}", kind(other)))),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn clip(text: &str) -> String {
    if text.chars().count() > 64 {
        format!("{}...", text.chars().take(61).collect::<String>())
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn direct_and_envelope_forms_parse_alike() {
        let direct = json!({"workloadIdentifier": "BotoTestCase1", "action": "Stop", "dryRun": true, "dynamoDBRegion": "us-west-2"});
        let envelope = json!({"version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.scheduler", "detail": direct.clone()});
        let a = SchedulerEvent::from_value(&direct).unwrap();
        assert_eq!(a, SchedulerEvent::from_value(&envelope).unwrap());
        assert_eq!(a.action, Action::Stop);
        assert!(a.dry_run);
    }

    #[test]
    fn bad_payloads_name_the_field() {
        let cases = [
            (json!([]), "JSON object"),
            (json!({"action": "Stop"}), "workloadIdentifier is required"),
            (json!({"workloadIdentifier": "", "action": "Stop"}), "must not be empty"),
            (
                json!({"workloadIdentifier": 7, "action": "Stop"}),
                "workloadIdentifier must be a string",
            ),
            (json!({"workloadIdentifier": "w"}), "action is required"),
            (json!({"workloadIdentifier": "w", "action": "Reboot"}), "action:"),
            (
                json!({"workloadIdentifier": "w", "action": "Stop", "dryRun": "yes"}),
                "dryRun",
            ),
            (
                json!({"workloadIdentifier": "w", "action": "Stop", "dynamoDBRegion": "mars"}),
                "dynamoDBRegion",
            ),
            (
                json!({"workloadIdentifier": "w", "action": "Stop", "workloadIdentifer": "w"}),
                "unknown field",
            ),
            (
                json!({"workloadIdentifier": "w".repeat(10_000), "action": "Stop"}),
                "at most 255",
            ),
        ];
        for (value, needle) in cases {
            let err = SchedulerEvent::from_value(&value).unwrap_err().to_string();
            assert!(err.contains(needle), "{err} should mention {needle}");
        }
        assert!(SchedulerEvent::from_json("{not json")
            .unwrap_err()
            .to_string()
            .contains("not valid JSON"));
    }
}
