//! A window Stop that does not run now (issue 33): its window Start did
//! not open the workload (**skipped**), or the window's execution is still
//! in progress (**waiting**: it comes again). Either is a finished record
//! in the run ledger, so `runs list` shows it. A skipped window Stop is
//! recorded under its own run's key (a repeated delivery is a duplicate);
//! each look of a waiting one under a key of its own (its run id, then
//! `-waiting-` and the five minutes it fell in), so the later delivery of
//! the same window Stop still claims its run's key and runs.

use serde_json::{json, Value};

use super::windows::opened;
use super::{Delivery, Outcome, RunService, ServiceError};
use crate::action::Action;
use crate::ledger::{fresh_key, run_id_key, run_key, window_schedule_name, Claim, Ledger, LedgerStatus, RunRecord};
use crate::run::RunRequest;
use crate::window::WindowRun;

/// Why a window Stop does not run now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    /// Its window Start did not open the workload: it never runs.
    Skipped,
    /// The window's execution is still in progress: it comes again.
    Waiting,
}

/// A window Stop that does not run now, recorded (see the module's
/// documentation), or `None`: it runs. Nothing is done to the workload.
pub(super) async fn hold(
    service: &RunService<'_>,
    ledger: &dyn Ledger,
    request: &RunRequest,
    delivery: &Delivery,
) -> Option<Result<Outcome, ServiceError>> {
    let (held, mut response) = held(service, ledger, request).await?;
    let now = super::now();
    let key = match (held, &delivery.key) {
        (Held::Skipped, Some(identity)) => run_key(identity, request),
        (Held::Skipped, None) => fresh_key(&request.workload),
        (Held::Waiting, _) => {
            let window = request.maintenance_window.as_ref()?;
            let look = format!(
                "{}-waiting-{}",
                window.run_id(),
                now / OVERRUN_POLL_SECS * OVERRUN_POLL_SECS
            );
            run_key(&run_id_key(&request.workload, &look), request)
        }
    };
    let mut record = RunRecord::new(key.clone(), request, delivery.requested_by.clone(), now);
    record.invocations = 1;
    let claim = match ledger.claim(&record, now + 60, now).await {
        Ok(claim) => claim,
        // A wait is already arranged: only its record is missing.
        Err(e) if held == Held::Waiting => {
            tracing::warn!(error = %e, "the waiting window Stop is not recorded");
            response["ledgerError"] = json!(format!("run ledger not updated: {e}"));
            return Some(Ok(Outcome::Duplicate(response)));
        }
        Err(e) => return Some(Err(ServiceError::Ledger(e))),
    };
    match claim {
        Claim::Claimed => {
            response["runKey"] = json!(key);
            record.status = LedgerStatus::Finished;
            record.outcome = response["status"].as_str().map(str::to_string);
            record.summary = Some(response.clone());
            record.updated_at = crate::clock::now();
            if let Err(e) = ledger.save(&record, None).await {
                tracing::error!(error = %e, "ledger write failed");
                response["ledgerError"] = json!(format!("run ledger not updated: {e}"));
            }
        }
        Claim::Duplicate(existing) if held == Held::Skipped => {
            return Some(Ok(Outcome::Duplicate(super::claim::duplicate_response(&existing))));
        }
        Claim::Duplicate(_) => {} // the same look delivered again: it waits as before
        Claim::Busy { holder, .. } => {
            tracing::info!(%holder, "another run holds the workload: the held window Stop is not recorded");
        }
    }
    Some(Ok(Outcome::Duplicate(response)))
}

/// A window Stop's response when it does not run now: its Start did not
/// open the workload (`"status": "skipped"`), or the window's execution is
/// still in progress (`"waiting"`: it comes again); `None`: it runs.
async fn held(service: &RunService<'_>, ledger: &dyn Ledger, request: &RunRequest) -> Option<(Held, Value)> {
    let window = request.maintenance_window.as_ref().filter(|w| w.edge == Action::Stop)?;
    match unopened(ledger, request, window).await {
        Some(skipped) => Some((Held::Skipped, skipped)),
        None => Some((Held::Waiting, overrun(service, request, window).await?)),
    }
}

/// A window Stop's response when the window's Start did not open the
/// workload (`"status": "skipped"`), or `None`.
async fn unopened(ledger: &dyn Ledger, request: &RunRequest, window: &WindowRun) -> Option<Value> {
    let start = window.with_edge(Action::Start);
    let key = run_key(&run_id_key(&request.workload, &start.run_id()), request);
    let why = match ledger.load(&key).await {
        Ok(Some(r)) if r.status == LedgerStatus::Finished && opened(r.outcome.as_deref()) => return None,
        Ok(Some(r)) => format!(
            "its window Start did not open the workload (it ended {})",
            r.outcome.as_deref().unwrap_or("unfinished")
        ),
        Ok(None) => "its window Start never ran".to_string(),
        Err(e) => format!("its window Start's record could not be read: {e}"),
    };
    let message = format!("{}: {why}; the workload is left as it is", window.describe());
    tracing::info!(workload = %request.workload, %message, "window Stop skipped");
    Some(json!({
        "status": "skipped",
        "workload": request.workload,
        "action": request.action,
        "maintenanceWindow": window,
        "message": message,
    }))
}

/// While DescribeMaintenanceWindowExecutions shows the window's execution
/// `IN_PROGRESS` (tasks started before the cutoff may run past the end),
/// the window Stop comes again five minutes on (the same payload, by the
/// same name), until `MaintenanceOverrunMinutes` past the window's end;
/// then, or when the executions cannot be read, it runs.
async fn overrun(service: &RunService<'_>, request: &RunRequest, window: &WindowRun) -> Option<Value> {
    let cloud = service.cloud;
    let config = crate::orchestrator::load_config(cloud, &request.workload, &request.dynamodb_region).await;
    let w = config.ok()?.workload;
    let remote = cloud
        .workload_ports(&w.region, w.cross_account.as_ref())
        .await
        .ok()?
        .remote;
    let executions = remote
        .window_executions(&window.id, window.execution.saturating_sub(60))
        .await;
    let executions = executions
        .inspect_err(|e| tracing::warn!(error = %e, "window executions not read: the window Stop runs"))
        .ok()?;
    if !executions.iter().any(|e| e.running_since(window.execution)) {
        return None;
    }
    let duration = remote.maintenance_window(&window.id).await.ok()?.duration_hours;
    let until = window.execution + u64::from(duration) * 3600 + w.windows.overrun_minutes * 60;
    let now = super::now();
    if now >= until {
        tracing::warn!(window = %window.id, "the execution is still in progress past MaintenanceOverrunMinutes: the window Stop runs");
        return None;
    }
    let (continuation, name) = (service.continuation?, window_schedule_name(&request.workload, window));
    let at = (now + OVERRUN_POLL_SECS).min(until);
    let again = match continuation.cancel(&name).await {
        Ok(()) => {
            continuation
                .schedule(&name, &super::windows::payload(request, window), at)
                .await
        }
        Err(e) => Err(e),
    };
    again
        .inspect_err(|e| tracing::warn!(error = %e, "the window Stop could not wait: it runs"))
        .ok()?;
    let message = format!(
        "{}: its execution is still in progress; the window Stop comes again at {} UTC (it waits until {} UTC at most)",
        window.describe(),
        crate::clock::utc_timestamp(at),
        crate::clock::utc_timestamp(until)
    );
    Some(
        json!({"status": "waiting", "workload": request.workload, "action": request.action, "maintenanceWindow": window, "message": message}),
    )
}

/// How often a window Stop looks again at an execution still in progress.
const OVERRUN_POLL_SECS: u64 = 300;
