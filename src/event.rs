//! The invocation payload: the scheduler's JSON object, sent directly (an
//! EventBridge Scheduler target input) or as the `detail` of an EventBridge
//! event envelope. Every field is checked and named in errors.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::action::Action;
use crate::clock;
use crate::config::is_region;
use crate::ledger;
use crate::member::{MemberKind, Restop};

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
    "continuationToken",
    "overrideState",
    "restop",
    "maintenanceWindow",
];

/// How far in the future a `scheduledTime` may be: the clock skew allowed
/// between EventBridge Scheduler and the function.
pub const CLOCK_SKEW_SECS: u64 = 60;
/// How long EventBridge Scheduler retries a delivery
/// (`RetryPolicy.MaximumEventAgeInSeconds` of the templates' schedules).
pub const SCHEDULE_RETRY_SECS: u64 = 600;
/// How long Lambda keeps an asynchronous invocation before running it
/// (`EventInvokeConfig.MaximumEventAgeInSeconds` of the function).
pub const FUNCTION_EVENT_AGE_SECS: u64 = 300;
/// How long after its time a schedule may fire (`FlexibleTimeWindow` of
/// the templates' schedules: `OFF`).
pub const FLEXIBLE_WINDOW_SECS: u64 = 0;
/// The oldest `scheduledTime` a legitimate delivery can carry: the
/// schedules' retries, the function's event age, the flexible window and
/// the clock skew (`tests/it/infra.rs` checks them against the templates).
pub const MAX_DELIVERY_DELAY_SECS: u64 =
    SCHEDULE_RETRY_SECS + FUNCTION_EVENT_AGE_SECS + FLEXIBLE_WINDOW_SECS + CLOCK_SKEW_SECS;

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
    /// The token a continuation presents: only the delivery carrying the
    /// token stored in the run record may resume the run, once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
    /// Start even when the WorkloadState table says the last action was
    /// already a Start (the original's `-o/--overrideState`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub override_state: bool,
    /// A re-check's database: the function's own schedule, seven days and
    /// fifteen minutes after a Stop, asks for a re-stop of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restop: Option<Restop>,
    /// A maintenance window's run: the function's own window schedules ask for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_window: Option<crate::window::WindowRun>,
    /// The EventBridge envelope this payload came in, when it came in one.
    #[serde(skip)]
    pub envelope: Option<Envelope>,
}

/// What an EventBridge event envelope says about the delivery: its `id` is
/// the same on every retry of one event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    /// The event id.
    pub id: Option<String>,
    /// The event time.
    pub time: Option<String>,
    /// The first of the event's resources (the rule or schedule).
    pub resource: Option<String>,
}

/// Where a schedule ARN must come from: this account and the stack's
/// schedule group (either unknown when running outside the stack).
#[derive(Debug, Clone, Copy, Default)]
pub struct ScheduleOrigin<'a> {
    /// The function's account.
    pub account: Option<&'a str>,
    /// The stack's EventBridge Scheduler group (`SCHEDULE_GROUP_NAME`).
    pub group: Option<&'a str>,
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
        if map.contains_key("detail") && map.contains_key("detail-type") {
            return Self::from_envelope(map);
        }
        Self::from_fields(map)
    }

    /// EventBridge envelope: the scheduler's object is the `detail`; the
    /// envelope's id (or resource and time) identifies the delivery.
    fn from_envelope(map: &Map<String, Value>) -> Result<Self, EventError> {
        let mut event = Self::from_value(&map["detail"])
            .map_err(|e| EventError(format!("{} (in the EventBridge event's detail)", e.0)))?;
        let resource = envelope_resource(map)?;
        event.envelope = Some(Envelope {
            id: envelope_text(map, "id", 256)?,
            time: envelope_text(map, "time", 64)?,
            resource,
        });
        Ok(event)
    }

    /// The scheduler's own object, field by field.
    fn from_fields(map: &Map<String, Value>) -> Result<Self, EventError> {
        reject_unknown_fields(map)?;
        let workload = workload_identifier(map)?;
        let action = action(map)?;
        let scaling_profile = scaling_profile(map)?;
        let dry_run = flag(map, "dryRun")?;
        let override_state = flag(map, "overrideState")?;
        let dynamodb_region = dynamodb_region(map)?;
        Ok(Self {
            workload_identifier: workload.clone(),
            action,
            scaling_profile,
            dry_run,
            dynamodb_region,
            run_id: bounded(map, "runId", 512)?,
            schedule_arn: bounded(map, "scheduleArn", 1024)?,
            scheduled_time: scheduled_time(map, &workload)?,
            continue_run: bounded(map, "continueRun", 2048)?,
            continuation_token: bounded(map, "continuationToken", 128)?,
            override_state,
            restop: restop(map, action)?,
            maintenance_window: match map.get("maintenanceWindow").filter(|v| !v.is_null()) {
                Some(_) if map.get("restop").is_some_and(|r| !r.is_null()) => {
                    return Err(EventError("maintenanceWindow and restop cannot be combined".into()))
                }
                Some(v) => {
                    Some(crate::window::WindowRun::from_value(v, action).map_err(|e| EventError(e.to_string()))?)
                }
                None => None,
            },
            envelope: None,
        })
    }

    /// The run's idempotency key, always naming the workload (a key chosen
    /// for one workload can never claim another's run):
    /// the schedule and its due time when the payload says which schedule
    /// fired; else the EventBridge envelope's `id` (the same on every retry
    /// of one event), or its first resource and time; else the caller's
    /// `runId`; else none (every delivery is then a new run).
    pub fn idempotency_key(&self) -> Option<String> {
        let w = &self.workload_identifier;
        let a = &self.action.to_string();
        if let (Some(arn), Some(time)) = (&self.schedule_arn, &self.scheduled_time) {
            return Some(ledger::key("schedule", &[w, arn, time, a]));
        }
        if let Some(envelope) = &self.envelope {
            match envelope {
                Envelope { id: Some(id), .. } => return Some(ledger::key("event", &[w, id, a])),
                Envelope {
                    resource: Some(r),
                    time: Some(t),
                    ..
                } => return Some(ledger::key("event", &[w, r, t, a])),
                _ => {}
            }
        }
        self.run_id.as_ref().map(|id| ledger::run_id_key(w, id))
    }

    /// Who asked for the run, for the ledger record.
    pub fn origin(&self) -> String {
        match (&self.schedule_arn, &self.envelope, &self.run_id) {
            (Some(arn), _, _) => format!("schedule {arn}"),
            (None, Some(e), _) => format!(
                "EventBridge event {}",
                e.id.as_deref().or(e.resource.as_deref()).unwrap_or("?")
            ),
            (None, None, Some(id)) => format!("invocation with runId {id}"),
            _ => "direct invocation".to_string(),
        }
    }

    /// Refuses a `scheduleArn` that is not an EventBridge Scheduler schedule
    /// of this account and the stack's schedule group: a caller must not be
    /// able to pre-claim the key of another schedule's delivery.
    pub fn check_schedule_origin(&self, origin: ScheduleOrigin<'_>) -> Result<(), EventError> {
        let Some(arn) = &self.schedule_arn else {
            return Ok(());
        };
        // arn:aws:scheduler:us-west-2:123456789012:schedule/group/name
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let path: Vec<&str> = parts.get(5).map(|p| p.split('/').collect()).unwrap_or_default();
        let shaped = parts.len() == 6
            && parts[0] == "arn"
            && parts[2] == "scheduler"
            && path.len() == 3
            && path[0] == "schedule"
            && !path[1].is_empty()
            && !path[2].is_empty();
        if !shaped {
            return Err(EventError(format!(
                "scheduleArn {:?} is not an EventBridge Scheduler schedule ARN",
                clip(arn)
            )));
        }
        if let Some(account) = origin.account {
            if parts[4] != account {
                return Err(EventError(format!(
                    "scheduleArn {:?} belongs to account {}, not this function's account {account}",
                    clip(arn),
                    parts[4]
                )));
            }
        }
        if let Some(group) = origin.group {
            if path[1] != group {
                return Err(EventError(format!(
                    "scheduleArn {:?} is in schedule group {:?}, not this stack's group {group:?}",
                    clip(arn),
                    path[1]
                )));
            }
        }
        Ok(())
    }

    /// Refuses a `scheduledTime` that no real delivery at `now` (seconds
    /// since the epoch) can carry: later than now plus the clock skew, or
    /// older than [`MAX_DELIVERY_DELAY_SECS`]. Nobody can claim next week's
    /// run today, nor replay last week's.
    pub fn check_scheduled_time(&self, now: u64) -> Result<(), EventError> {
        let Some(text) = &self.scheduled_time else {
            return Ok(());
        };
        let w = &clip(&self.workload_identifier);
        let at = clock::parse_time(text).map_err(|_| not_a_time(text, w))?;
        if at > now + CLOCK_SKEW_SECS {
            return Err(EventError(format!(
                "scheduledTime {} of workload {w:?} is in the future (now {} UTC): a schedule's delivery \
                 carries the time it fired",
                clock::utc_timestamp(at),
                clock::utc_timestamp(now)
            )));
        }
        if at + MAX_DELIVERY_DELAY_SECS < now {
            return Err(EventError(format!(
                "scheduledTime {} of workload {w:?} is older than {MAX_DELIVERY_DELAY_SECS} s (now {} UTC), \
                 the latest a schedule's delivery arrives",
                clock::utc_timestamp(at),
                clock::utc_timestamp(now)
            )));
        }
        Ok(())
    }

    /// Parses a payload from JSON text.
    pub fn from_json(text: &str) -> Result<Self, EventError> {
        let value: Value = serde_json::from_str(text).map_err(|e| EventError(format!("not valid JSON: {e}")))?;
        Self::from_value(&value)
    }
}

/// `scheduledTime`: optional, an RFC 3339 time (the schedule's
/// `<aws.scheduler.scheduled-time>`), kept as written (it is part of the key).
fn scheduled_time(map: &Map<String, Value>, workload: &str) -> Result<Option<String>, EventError> {
    let time = bounded(map, "scheduledTime", 64)?;
    if let Some(t) = &time {
        clock::parse_time(t).map_err(|_| not_a_time(t, workload))?;
    }
    Ok(time)
}

fn not_a_time(text: &str, workload: &str) -> EventError {
    EventError(format!(
        "scheduledTime {:?} of workload {:?} is not an RFC 3339 time (like 2026-12-01T19:00:00Z)",
        clip(text),
        clip(workload)
    ))
}

/// The envelope's `id` or `time`: an optional short string.
fn envelope_text(map: &Map<String, Value>, key: &str, max: usize) -> Result<Option<String>, EventError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= max && !s.chars().any(char::is_control) => {
            Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty()))
        }
        Some(_) => Err(EventError(format!(
            "the EventBridge event's {key} must be a string of at most {max} characters"
        ))),
    }
}

/// The first of the envelope's `resources`, if any.
fn envelope_resource(map: &Map<String, Value>) -> Result<Option<String>, EventError> {
    match map.get("resources") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(list)) => match list.first() {
            None => Ok(None),
            Some(Value::String(r)) if r.len() <= 2048 && !r.chars().any(char::is_control) => Ok(Some(r.clone())),
            Some(_) => Err(EventError(
                "the EventBridge event's resources must be ARN strings".into(),
            )),
        },
        Some(_) => Err(EventError("the EventBridge event's resources must be a list".into())),
    }
}

/// Refuses the first field that is not one of `FIELDS`.
fn reject_unknown_fields(map: &Map<String, Value>) -> Result<(), EventError> {
    match map.keys().find(|key| !FIELDS.contains(&key.as_str())) {
        Some(key) => Err(EventError(format!(
            "unknown field {:?} (expected: {})",
            clip(key),
            FIELDS.join(", ")
        ))),
        None => Ok(()),
    }
}

/// `restop`: a re-check's database (the function's own schedules write
/// it): `{"kind": <RDS or a DB cluster kind>, "id": <its identifier>}`,
/// only with `action` Stop.
fn restop(map: &Map<String, Value>, action: Action) -> Result<Option<Restop>, EventError> {
    let Some(value) = map.get("restop").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let refused = || {
        EventError(
            "restop must be {\"kind\": \"RDS\" or a DB cluster kind, \"id\": its identifier}, with action Stop".into(),
        )
    };
    let restop: Restop = serde_json::from_value(value.clone()).map_err(|_| refused())?;
    let database = restop.kind == MemberKind::Rds || restop.kind.is_db_cluster();
    let id = &restop.id;
    let named = !id.is_empty() && id.len() <= 255 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    match database && named && action == Action::Stop {
        true => Ok(Some(restop)),
        false => Err(refused()),
    }
}

/// `workloadIdentifier`: required, not empty, bounded.
fn workload_identifier(map: &Map<String, Value>) -> Result<String, EventError> {
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
    Ok(workload)
}

/// `action`: required, `Stop` or `Start`.
fn action(map: &Map<String, Value>) -> Result<Action, EventError> {
    let action_text =
        string(map, "action")?.ok_or_else(|| EventError("action is required (\"Stop\" or \"Start\")".into()))?;
    action_text
        .parse()
        .map_err(|e: String| EventError(format!("action: {}", clip(&e))))
}

/// `scalingProfile`: optional, bounded; blank means none.
fn scaling_profile(map: &Map<String, Value>) -> Result<Option<String>, EventError> {
    let scaling_profile = string(map, "scalingProfile")?.filter(|p| !p.trim().is_empty());
    if let Some(p) = &scaling_profile {
        if p.chars().count() > 128 || p.chars().any(char::is_control) {
            return Err(EventError(
                "scalingProfile must be at most 128 characters without control characters".into(),
            ));
        }
    }
    Ok(scaling_profile)
}

/// An optional JSON boolean, false when absent.
fn flag(map: &Map<String, Value>, key: &str) -> Result<bool, EventError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(EventError(format!(
            "{key} must be true or false, found {}",
            kind(other)
        ))),
    }
}

/// `dynamoDBRegion`: optional, an AWS region name.
fn dynamodb_region(map: &Map<String, Value>) -> Result<Option<String>, EventError> {
    let dynamodb_region = string(map, "dynamoDBRegion")?.filter(|r| !r.is_empty());
    if let Some(r) = &dynamodb_region {
        if !is_region(r) {
            return Err(EventError(format!(
                "dynamoDBRegion {:?} is not an AWS region name",
                clip(r)
            )));
        }
    }
    Ok(dynamodb_region)
}

/// An optional string of at most `max` bytes without control characters.
fn bounded(map: &Map<String, Value>, key: &str, max: usize) -> Result<Option<String>, EventError> {
    let value = string(map, key)?.filter(|v| !v.is_empty());
    if let Some(v) = &value {
        if v.len() > max || v.chars().any(char::is_control) {
            return Err(EventError(format!(
                "{key} must be at most {max} characters without control characters"
            )));
        }
    }
    Ok(value)
}

/// An optional string field, trimmed.
fn string(map: &Map<String, Value>, key: &str) -> Result<Option<String>, EventError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(other) => Err(EventError(format!("{key} must be a string, found {}", kind(other)))),
    }
}

/// The JSON kind of a value, for messages.
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

/// At most 64 characters of caller text, for messages.
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
        let mut b = SchedulerEvent::from_value(&envelope).unwrap();
        assert_eq!(b.envelope.take().unwrap().id.as_deref(), Some("x"));
        assert_eq!(a, b);
        assert_eq!(a.action, Action::Stop);
        assert!(a.dry_run);
    }

    #[test]
    fn keys_name_the_workload_and_envelopes_are_keyed_by_their_id() {
        let detail = json!({"workloadIdentifier": "W", "action": "Start"});
        let envelope = |id: Value| {
            json!({"version": "0", "id": id, "detail-type": "Scheduled Event", "source": "aws.events",
                   "time": "2026-11-25T08:00:00Z",
                   "resources": ["arn:aws:events:us-west-2:123456789012:rule/W-start"], "detail": detail})
        };
        let key = |v: &Value| SchedulerEvent::from_value(v).unwrap().idempotency_key();
        assert_eq!(key(&envelope(json!("e-1"))).as_deref(), Some("event|W|e-1|Start"));
        assert_eq!(key(&envelope(json!("e-1"))), key(&envelope(json!("e-1"))), "a retry");
        assert_ne!(key(&envelope(json!("e-1"))), key(&envelope(json!("e-2"))));
        assert_eq!(
            key(&envelope(Value::Null)).as_deref(),
            Some("event|W|arn:aws:events:us-west-2:123456789012:rule/W-start|2026-11-25T08:00:00Z|Start")
        );
        let scheduled = json!({"workloadIdentifier": "W", "action": "Stop",
            "scheduleArn": "arn:aws:scheduler:us-west-2:123456789012:schedule/g/W-stop",
            "scheduledTime": "2026-11-25T19:00:00Z"});
        let k = key(&scheduled).unwrap();
        assert!(k.starts_with("schedule|W|"), "{k}");
        let mut other = scheduled.clone();
        other["workloadIdentifier"] = json!("Other");
        assert_ne!(key(&other), Some(k), "another workload never shares the key");
        assert_eq!(key(&detail), None);
    }

    #[test]
    fn schedule_arns_must_be_this_accounts_and_groups() {
        let event = |arn: &str| {
            SchedulerEvent::from_value(&json!({"workloadIdentifier": "W", "action": "Stop",
                "scheduleArn": arn, "scheduledTime": "2026-11-25T19:00:00Z"}))
            .unwrap()
        };
        let origin = ScheduleOrigin {
            account: Some("123456789012"),
            group: Some("ec2ts"),
        };
        let ok = "arn:aws:scheduler:us-west-2:123456789012:schedule/ec2ts/W-stop";
        assert!(event(ok).check_schedule_origin(origin).is_ok());
        for (arn, needle) in [
            (
                "arn:aws:scheduler:us-west-2:999999999999:schedule/ec2ts/W-stop",
                "account 999999999999",
            ),
            (
                "arn:aws:scheduler:us-west-2:123456789012:schedule/default/W-stop",
                "group \"default\"",
            ),
            (
                "arn:aws:events:us-west-2:123456789012:rule/x",
                "not an EventBridge Scheduler",
            ),
            ("made-up", "not an EventBridge Scheduler"),
        ] {
            let err = event(arn).check_schedule_origin(origin).unwrap_err().to_string();
            assert!(err.contains(needle), "{arn}: {err}");
        }
        // Outside the stack (no account or group known) only the shape is checked.
        assert!(event(ok).check_schedule_origin(ScheduleOrigin::default()).is_ok());
    }

    #[test]
    fn scheduled_times_are_times_within_the_delivery_window() {
        let event = |time: &str| {
            SchedulerEvent::from_value(&json!({"workloadIdentifier": "W", "action": "Stop",
                "scheduleArn": "arn:aws:scheduler:us-west-2:123456789012:schedule/g/W-stop",
                "scheduledTime": time}))
        };
        let due = clock::parse_time("2026-11-25T19:00:00Z").unwrap();
        let on_time = event("2026-11-25T19:00:00Z").unwrap();
        assert!(on_time.check_scheduled_time(due).is_ok());
        assert!(
            on_time.check_scheduled_time(due - CLOCK_SKEW_SECS).is_ok(),
            "a clock a minute behind"
        );
        assert!(
            on_time.check_scheduled_time(due + MAX_DELIVERY_DELAY_SECS).is_ok(),
            "the last retry"
        );
        let early = on_time
            .check_scheduled_time(due - CLOCK_SKEW_SECS - 1)
            .unwrap_err()
            .to_string();
        assert!(
            early.contains("scheduledTime") && early.contains("in the future") && early.contains("\"W\""),
            "{early}"
        );
        let stale = on_time
            .check_scheduled_time(due + MAX_DELIVERY_DELAY_SECS + 1)
            .unwrap_err()
            .to_string();
        assert!(stale.contains("older than"), "{stale}");
        assert_eq!(MAX_DELIVERY_DELAY_SECS, 600 + 300 + 60);
        let err = event("next week").unwrap_err().to_string();
        assert!(
            err.contains("scheduledTime \"next week\" of workload \"W\" is not an RFC 3339 time"),
            "{err}"
        );
        // No scheduledTime: nothing to check.
        let plain = SchedulerEvent::from_value(&json!({"workloadIdentifier": "W", "action": "Stop"})).unwrap();
        assert!(plain.check_scheduled_time(0).is_ok());
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
