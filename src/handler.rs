//! The Lambda handler, free of the runtime so tests can call it directly.

use std::time::Duration;

use serde_json::{json, Value};

use crate::error::RunError;
use crate::event::{EventError, ScheduleOrigin, SchedulerEvent};
use crate::history::InvocationTrace;
use crate::ledger::{
    digest, epoch_now, epoch_now_ceil, epoch_now_ms, random_token, utc_timestamp, Claim, Continuation, Ledger,
    LedgerStatus, RunRecord, MAX_INVOCATIONS,
};
use crate::orchestrator::{self, Budget, RunReport, RunRequest, Settings};
use crate::ports::Cloud;
use crate::summary::RunStatus;

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
    /// Another run of the workload is in progress.
    #[error(
        "workload {workload:?} is in progress: run {holder:?} holds it (until {until} unless it finishes); nothing was done"
    )]
    Busy {
        /// The workload.
        workload: String,
        /// The run holding the lock.
        holder: String,
        /// Lock expiry, seconds since the epoch.
        until: u64,
    },
    /// The run ledger could not be read or written before the run.
    #[error("run ledger unavailable: {0}; nothing was done")]
    Ledger(crate::error::CloudError),
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
            Self::Run(RunError::Cloud { .. }) | Self::Ledger(_) => "CloudError",
            Self::Busy { .. } => "WorkloadBusy",
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

/// What a handler works with besides the cloud: the run ledger and
/// continuations, both optional (without a ledger, every delivery runs).
#[derive(Clone, Copy)]
pub struct Services<'a> {
    /// The AWS ports by region.
    pub cloud: &'a dyn Cloud,
    /// The function's region, the default for `dynamoDBRegion`.
    pub function_region: Option<&'a str>,
    /// Idempotency, workload locks and checkpoints.
    pub ledger: Option<&'a dyn Ledger>,
    /// Fresh invocations for runs that outlast this one.
    pub continuation: Option<&'a dyn Continuation>,
    /// Where a `scheduleArn` must come from (this account, the stack's group).
    pub schedule_origin: ScheduleOrigin<'a>,
}

/// Handles one payload without a ledger. `time_left` is the time until the
/// Lambda deadline. The response is the run summary; a dry run also carries
/// the plan.
pub async fn handle(
    cloud: &dyn Cloud,
    function_region: Option<&str>,
    payload: &Value,
    time_left: Option<Duration>,
    settings: &Settings,
) -> Result<Value, HandlerError> {
    let services = Services {
        cloud,
        function_region,
        ledger: None,
        continuation: None,
        schedule_origin: ScheduleOrigin::default(),
    };
    handle_with(services, payload, time_left, settings).await
}

/// Handles one payload with the ledger and continuations when configured.
///
/// A delivery whose idempotency key was seen before does nothing and says
/// so; a run of a workload that another run holds is refused
/// (`WorkloadBusy`); a run cut short by its deadline checkpoints and
/// continues in a fresh invocation, which resumes exactly there.
pub async fn handle_with(
    services: Services<'_>,
    payload: &Value,
    time_left: Option<Duration>,
    settings: &Settings,
) -> Result<Value, HandlerError> {
    handle_delivery(services, payload, time_left, settings)
        .await
        .map(|handled| handled.response)
}

/// A handled delivery: the response and what became of the delivery (the
/// Lambda entry point turns the latter into metrics).
#[derive(Debug)]
pub struct Handled {
    /// The function's response.
    pub response: Value,
    /// The run, or the duplicate.
    pub outcome: Outcome,
}

/// [`handle_with`], keeping the outcome beside the response.
pub async fn handle_delivery(
    services: Services<'_>,
    payload: &Value,
    time_left: Option<Duration>,
    settings: &Settings,
) -> Result<Handled, HandlerError> {
    let event = SchedulerEvent::from_value(payload)?;
    event.check_schedule_origin(services.schedule_origin)?;
    let requested_by = event.origin();
    let outcome = run_event(services, &event, requested_by, time_left, settings).await?;
    let response = match &outcome {
        Outcome::Duplicate(response) => response.clone(),
        Outcome::Ran {
            report,
            key,
            invocation,
            ledger_error,
        } => {
            let mut response = respond(report, event.dry_run);
            if let Some(key) = key {
                response["runKey"] = json!(key);
                response["invocation"] = json!(invocation);
            }
            if let Some(e) = ledger_error {
                response["ledgerError"] = json!(e);
            }
            response
        }
    };
    Ok(Handled { response, outcome })
}

/// What became of a delivery.
#[derive(Debug)]
pub enum Outcome {
    /// The run ran (or went as far as this invocation could take it).
    Ran {
        /// What happened.
        report: Box<RunReport>,
        /// The ledger key, when a ledger is used.
        key: Option<String>,
        /// Which invocation of the run this was.
        invocation: u32,
        /// The ledger could not be updated after the run.
        ledger_error: Option<String>,
    },
    /// A repeated delivery: the response saying so; nothing was done.
    Duplicate(Value),
}

/// Runs a validated event under the ledger's rules when there is a ledger:
/// one run per key, one run per workload, continuations fenced by a token.
/// `requested_by` is recorded (the schedule, the event, or the CLI's
/// `user@host`). Used by the Lambda handler and the CLI alike.
pub async fn run_event(
    services: Services<'_>,
    event: &SchedulerEvent,
    requested_by: String,
    time_left: Option<Duration>,
    settings: &Settings,
) -> Result<Outcome, HandlerError> {
    let region = event
        .dynamodb_region
        .clone()
        .or_else(|| services.function_region.map(str::to_string))
        .ok_or(HandlerError::NoRegion)?;
    let request = RunRequest {
        workload: event.workload_identifier.clone(),
        action: event.action,
        scaling_profile: event.scaling_profile.clone(),
        dry_run: event.dry_run,
        dynamodb_region: region,
        override_state: event.override_state,
        // SNS where the original published: the scheduler's own region
        // (the tables' region when the function has none).
        notify_region: services.function_region.map(str::to_string),
    };
    let budget = match time_left {
        Some(left) => Budget::from_now(left, safety_margin(left)),
        None => Budget::unlimited(),
    };
    tracing::info!(workload = %request.workload, action = %request.action, dry_run = request.dry_run, requested_by = %requested_by, "run requested");

    // Dry runs change nothing, so they need no ledger.
    let ledger = services.ledger.filter(|_| !request.dry_run);
    let Some(ledger) = ledger else {
        if event.continue_run.is_some() {
            return Err(HandlerError::Event(EventError(
                "continueRun needs the run ledger (RUN_LEDGER_TABLE)".into(),
            )));
        }
        let report = orchestrator::run(services.cloud, &request, &budget, settings)
            .await
            .inspect_err(|e| tracing::error!(error = %e, workload = %request.workload, "run refused"))?;
        return Ok(Outcome::Ran {
            report: Box::new(report),
            key: None,
            invocation: 1,
            ledger_error: None,
        });
    };

    let now = epoch_now();
    let lock_until = now + time_left.unwrap_or(Duration::from_secs(900)).as_secs() + 60;
    let (mut record, resume) = match &event.continue_run {
        Some(key) => match claim_continuation(ledger, event, key, lock_until).await? {
            Ok(record) => {
                let resume = record.checkpoint.clone();
                (record, resume)
            }
            Err(duplicate) => return Ok(Outcome::Duplicate(duplicate)),
        },
        None => {
            let key = event.idempotency_key().unwrap_or_else(|| fresh_key(&request.workload));
            let mut record = RunRecord::new(key, &request, requested_by, now);
            record.invocations = 1;
            match ledger
                .claim(&record, lock_until, now)
                .await
                .map_err(HandlerError::Ledger)?
            {
                Claim::Claimed => (record, None),
                Claim::Duplicate(existing) => {
                    tracing::info!(key = %existing.key, "duplicate delivery: nothing to do");
                    return Ok(Outcome::Duplicate(duplicate_response(&existing)));
                }
                Claim::Busy { holder, until } => {
                    return Err(HandlerError::Busy {
                        workload: request.workload.clone(),
                        holder,
                        until,
                    })
                }
            }
        }
    };

    let began_ms = epoch_now_ms();
    let result = orchestrator::run_resumed(services.cloud, &request, resume.as_ref(), &budget, settings).await;
    let mut report = match result {
        Ok(report) => report,
        Err(e) => {
            tracing::error!(error = %e, workload = %request.workload, "run refused");
            let invocation = record.invocations;
            record.history.push(InvocationTrace::refused(
                invocation,
                began_ms,
                epoch_now_ms().saturating_sub(began_ms),
            ));
            record.status = LedgerStatus::Refused;
            record.outcome = Some("refused".into());
            record.summary = Some(json!({ "error": e.to_string() }));
            record.continuation_token = None;
            record.updated_at = epoch_now();
            if let Err(le) = ledger.save(&record, None).await {
                tracing::error!(error = %le, "ledger write failed");
            }
            return Err(e.into());
        }
    };

    let mut ledger_error = None;
    let continuation = services.continuation.filter(|_| record.invocations < MAX_INVOCATIONS);
    match (report.checkpoint.clone(), continuation) {
        (Some(checkpoint), Some(continuation)) => {
            let at = epoch_now_ceil() + checkpoint.resume_after_secs.max(60);
            let token = random_token();
            record.checkpoint = Some(checkpoint);
            record.continuation_token = Some(token.clone());
            record.summary = serde_json::to_value(&report.summary).ok();
            record
                .history
                .push(InvocationTrace::of(record.invocations, began_ms, &report, "continuing"));
            record.updated_at = epoch_now();
            let payload = json!({
                "workloadIdentifier": request.workload,
                "action": request.action,
                "scalingProfile": request.scaling_profile,
                "dynamoDBRegion": request.dynamodb_region,
                "continueRun": record.key,
                "continuationToken": token,
            });
            let name = format!("ec2ts-{}-{}", digest(&record.key), record.invocations);
            let scheduled = match ledger.save(&record, Some(at + 900 + 60)).await {
                Ok(()) => continuation.schedule(&name, &payload, at).await,
                Err(e) => Err(e),
            };
            match scheduled {
                Ok(()) => {
                    report.summary.status = RunStatus::Continuing;
                    report.summary.message = format!(
                        "{}; the run continues at {} UTC (invocation {})",
                        report.summary.message,
                        utc_timestamp(at),
                        record.invocations + 1
                    );
                }
                Err(e) => {
                    tracing::error!(error = %e, "scheduling the continuation failed");
                    ledger_error = Some(format!("continuation not scheduled: {e}"));
                    record.history.pop();
                    record.finish(&report);
                    record.history.push(trace(&record, began_ms, &report));
                    if let Err(e) = ledger.save(&record, None).await {
                        tracing::error!(error = %e, "ledger write failed");
                    }
                }
            }
        }
        _ => {
            record.finish(&report);
            record.history.push(trace(&record, began_ms, &report));
            if let Err(e) = ledger.save(&record, None).await {
                tracing::error!(error = %e, "ledger write failed");
                ledger_error = Some(format!("run ledger not updated: {e}"));
            }
        }
    }
    tracing::info!(status = ?report.summary.status, message = %report.summary.message, "run finished");
    Ok(Outcome::Ran {
        report: Box::new(report),
        key: Some(record.key),
        invocation: record.invocations,
        ledger_error,
    })
}

/// The trace of a finished invocation, under its final outcome.
fn trace(record: &RunRecord, began_ms: u64, report: &RunReport) -> InvocationTrace {
    let status = record.outcome.as_deref().unwrap_or("finished");
    InvocationTrace::of(record.invocations, began_ms, report, status)
}

/// Claims a continuation delivery: only the one presenting the run
/// record's current token proceeds (a conditional write replaces the
/// token); a second copy is a duplicate, and an unknown token or key is
/// refused with nothing done. `Err` inside `Ok`: the duplicate response.
async fn claim_continuation(
    ledger: &dyn Ledger,
    event: &SchedulerEvent,
    key: &str,
    lock_until: u64,
) -> Result<Result<RunRecord, Value>, HandlerError> {
    let unknown = || {
        HandlerError::Event(EventError(format!(
            "continueRun: no run {key:?} of this workload and action waits for this continuation token; nothing was done"
        )))
    };
    let token = event.continuation_token.as_deref().ok_or_else(|| {
        HandlerError::Event(EventError(
            "continueRun needs the continuationToken the run scheduled it with".into(),
        ))
    })?;
    let record = ledger
        .load(key)
        .await
        .map_err(HandlerError::Ledger)?
        .filter(|r| r.workload == event.workload_identifier && r.action == event.action)
        .ok_or_else(unknown)?;
    if record.spent_tokens.iter().any(|t| t == token) {
        tracing::info!(key, "repeated continuation delivery: nothing to do");
        return Ok(Err(duplicate_response(&record)));
    }
    if record.status != LedgerStatus::InProgress || record.continuation_token.as_deref() != Some(token) {
        return Err(unknown());
    }
    let mut record = record;
    record.invocations += 1;
    record.spent_tokens.push(token.to_string());
    record.continuation_token = None;
    record.updated_at = epoch_now();
    if ledger
        .resume(&record, token, lock_until)
        .await
        .map_err(HandlerError::Ledger)?
    {
        Ok(Ok(record))
    } else {
        tracing::info!(key, "another delivery claimed this continuation: nothing to do");
        Ok(Err(duplicate_response(&record)))
    }
}

fn duplicate_response(existing: &RunRecord) -> Value {
    json!({
        "workload": existing.workload,
        "action": existing.action,
        "status": "duplicate",
        "message": format!(
            "run {:?} is already {}; this delivery did nothing",
            existing.key,
            match existing.status {
                LedgerStatus::InProgress => "in progress".to_string(),
                _ => format!("done ({})", existing.outcome.clone().unwrap_or_default()),
            }
        ),
        "runKey": existing.key,
    })
}

/// A key no other delivery shares: the workload, the wall clock in
/// nanoseconds and a per-process counter (two runs in one nanosecond, or on
/// two hosts with equal clocks, still differ by counter or by clock).
pub fn fresh_key(workload: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("once|{workload}|{nanos}|{n}|{}", std::process::id())
}

fn respond(report: &RunReport, dry_run: bool) -> Value {
    let mut response = serde_json::to_value(&report.summary).expect("summary serialises");
    if dry_run {
        response["plan"] = serde_json::to_value(&report.plan).expect("plan serialises");
    }
    response
}
