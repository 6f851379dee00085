//! The Lambda handler, free of the runtime so tests can call it directly:
//! it validates the payload, turns it into a run request and a delivery,
//! and hands both to the [run service](crate::run_service).

use std::time::Duration;

use serde_json::{json, Value};

use crate::action::Action;
use crate::error::RunError;
use crate::event::{EventError, ScheduleOrigin, SchedulerEvent};
use crate::ledger::{Continuation, Ledger};
use crate::orchestrator::{self, Settings};
use crate::ports::Cloud;
use crate::rds_event::RestartEvent;
use crate::run::RunRequest;
use crate::run_service::{self, Delivery, Outcome, Resume, RunService, ServiceError};

/// Why an invocation failed. No instance was touched in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The payload is invalid (or names a continuation the ledger cannot
    /// honour).
    #[error(transparent)]
    Event(#[from] EventError),
    /// The run service refused: the run could not start, another run holds
    /// the workload, or the ledger is unavailable.
    #[error(transparent)]
    Service(ServiceError),
    /// No region for DynamoDB: neither `dynamoDBRegion` nor the function's.
    #[error("invalid event: dynamoDBRegion is required when the function has no region")]
    NoRegion,
}

impl HandlerError {
    /// A stable error type for the Lambda error response and alarms.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Event(_) | Self::NoRegion => "InvalidEvent",
            Self::Service(ServiceError::Invalid(_)) => "InvalidEvent",
            Self::Service(ServiceError::Run(run)) => match run {
                RunError::Request(_) => "InvalidEvent",
                RunError::Config(_) => "InvalidConfiguration",
                RunError::WorkloadNotFound { .. } => "WorkloadNotFound",
                RunError::Precondition { .. } => "PreconditionFailed",
                RunError::Cloud { .. } => "CloudError",
            },
            Self::Service(ServiceError::Ledger(_) | ServiceError::Reschedule { .. }) => "CloudError",
            Self::Service(ServiceError::Busy { .. }) => "WorkloadBusy",
        }
    }
}

impl From<ServiceError> for HandlerError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid(message) => Self::Event(EventError(message)),
            other => Self::Service(other),
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
    if RestartEvent::is_rds(payload) {
        return handle_restart(services, payload, time_left, settings).await;
    }
    let event = SchedulerEvent::from_value(payload)?;
    event.check_schedule_origin(services.schedule_origin)?;
    event.check_scheduled_time(run_service::now())?;
    let request = request_of(&event, services.function_region)?;
    let service = RunService {
        cloud: services.cloud,
        ledger: services.ledger,
        continuation: services.continuation,
        settings,
    };
    let outcome = service.run(&request, delivery_of(&event), time_left).await?;
    let response = respond(&outcome, event.dry_run);
    Ok(Handled { response, outcome })
}

/// An RDS event: a database RDS started by itself. When it is a member of
/// a configured workload, it is waited for (no lock held) while it starts,
/// then a re-stop run of its workload stops it again if the workload is
/// still stopped; the event's id keys the run, so a repeated delivery does
/// nothing. A database of no workload is left alone (`ignored`).
async fn handle_restart(
    services: Services<'_>,
    payload: &Value,
    time_left: Option<Duration>,
    settings: &Settings,
) -> Result<Handled, HandlerError> {
    let event = RestartEvent::from_value(payload)?;
    let region = services.function_region.ok_or(HandlerError::NoRegion)?;
    let cloud_error = |source| {
        HandlerError::Service(ServiceError::Run(RunError::Cloud {
            workload: format!("(RDS event {})", event.id),
            source,
        }))
    };
    let found = orchestrator::restarted_member(services.cloud, region, &event)
        .await
        .map_err(cloud_error)?;
    let Some((workload, restop)) = found else {
        let response = json!({
            "status": "ignored",
            "message": format!(
                "{} was started by RDS, but it is no member of a configured workload's tier: left alone",
                event.identifier
            ),
        });
        return Ok(Handled {
            outcome: Outcome::Duplicate(response.clone()),
            response,
        });
    };
    let budget = match time_left {
        Some(left) => orchestrator::Budget::from_now(left, run_service::safety_margin(left)),
        None => orchestrator::Budget::unlimited(),
    };
    let began = std::time::Instant::now();
    let starting = orchestrator::await_started(services.cloud, region, &workload, &restop, &budget, settings)
        .await
        .map_err(cloud_error)?;
    if let (true, Some(continuation)) = (starting, services.continuation) {
        return wait_again(continuation, payload, &event, &restop).await;
    }
    let mut request = RunRequest::new(workload.clone(), Action::Stop, region);
    request.notify_region = Some(region.to_string());
    request.restop = Some(restop);
    let delivery = Delivery {
        key: Some(crate::ledger::key("rds-event", &[&workload, &event.id])),
        resume: None,
        requested_by: format!("RDS event {} ({} started by RDS)", event.id, event.identifier),
    };
    let service = RunService {
        cloud: services.cloud,
        ledger: services.ledger,
        continuation: services.continuation,
        settings,
    };
    let left = time_left.map(|t| t.saturating_sub(began.elapsed()));
    let outcome = service.run(&request, delivery, left).await?;
    let response = respond(&outcome, false);
    Ok(Handled { response, outcome })
}

/// RDS still starts the database when the invocation's time is up: the
/// same event is delivered again a minute on (a schedule named after the
/// event and the minute), and no run is claimed, so no lock is held
/// while RDS takes its time.
async fn wait_again(
    continuation: &dyn Continuation,
    payload: &Value,
    event: &RestartEvent,
    restop: &crate::member::Restop,
) -> Result<Handled, HandlerError> {
    let at = run_service::now() + 60;
    let name = crate::ledger::continuation_name(&crate::ledger::key("rds-event", &[&event.id]), (at / 60) as u32);
    continuation.schedule(&name, payload, at).await.map_err(|source| {
        HandlerError::Service(ServiceError::Run(RunError::Cloud {
            workload: format!("(RDS event {})", event.id),
            source,
        }))
    })?;
    let response = json!({
        "status": "waiting",
        "message": format!(
            "{} is still starting: RDS refuses a stop until it is up; the event comes again in a minute (no lock held)",
            restop.member()
        ),
    });
    Ok(Handled {
        outcome: Outcome::Duplicate(response.clone()),
        response,
    })
}

/// The run request an event asks for: the tables' region defaults to the
/// function's, and SNS publishes where the original published (the
/// scheduler's own region; the tables' region when the function has none).
fn request_of(event: &SchedulerEvent, function_region: Option<&str>) -> Result<RunRequest, HandlerError> {
    let region = event
        .dynamodb_region
        .clone()
        .or_else(|| function_region.map(str::to_string))
        .ok_or(HandlerError::NoRegion)?;
    Ok(RunRequest {
        workload: event.workload_identifier.clone(),
        action: event.action,
        scaling_profile: event.scaling_profile.clone(),
        dry_run: event.dry_run,
        dynamodb_region: region,
        override_state: event.override_state,
        notify_region: function_region.map(str::to_string),
        run_key: None,
        restop: event.restop.clone(),
        maintenance_window: event.maintenance_window.clone(),
        invocation: 1,
    })
}

/// What the event says about its delivery: its idempotency key, the
/// continuation it claims, who sent it.
fn delivery_of(event: &SchedulerEvent) -> Delivery {
    Delivery {
        key: event.idempotency_key(),
        resume: event.continue_run.clone().map(|key| Resume {
            key,
            token: event.continuation_token.clone(),
        }),
        requested_by: event.origin(),
    }
}

/// The function's response: the run summary (with the plan for a dry
/// run), the run key and invocation, and a ledger error when there was one.
fn respond(outcome: &Outcome, dry_run: bool) -> Value {
    match outcome {
        Outcome::Duplicate(response) | Outcome::Interrupted(response) => response.clone(),
        Outcome::Ran {
            report,
            key,
            invocation,
            ledger_error,
        } => {
            let mut response = serde_json::to_value(&report.summary).expect("summary serialises");
            if dry_run {
                response["plan"] = serde_json::to_value(&report.plan).expect("plan serialises");
            }
            if let Some(key) = key {
                response["runKey"] = json!(key);
                response["invocation"] = json!(invocation);
            }
            if let Some(e) = ledger_error {
                response["ledgerError"] = json!(e);
            }
            response
        }
    }
}
