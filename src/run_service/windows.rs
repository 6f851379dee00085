//! Maintenance windows (issue 33), the run service's part. After every
//! run that ended (see [`arranges`]), each configured window with a next
//! execution gets two one-time schedules ([`window_schedule_name`]: stable
//! per window, execution and end): a **window Start** at the execution
//! minus `MaintenanceLeadMinutes` and a **window Stop** at its end
//! (`Duration` hours on). Making them again is harmless (same names, same
//! times). The names are kept in the run's record; the next run deletes
//! by name those a window no longer has (removed, or moved to another
//! execution), with one exception: the window Stop of an execution whose
//! window Start opened the workload is kept as it is, neither replaced nor
//! deleted, until it has run ([`open_window_stops`]), since once the
//! execution began `NextExecutionTime` already names the next one. A
//! window Stop runs only if the same execution's window Start opened the
//! workload: its record, found by its key, ended having acted. Nothing
//! here fails a run: what cannot be done is a warning of it.

use serde_json::{json, Value};

use super::{Ledgered, RunService};
use crate::action::Action;
use crate::ledger::{window_schedule_name, LedgerStatus, RunRecord, RECORD_TTL};
use crate::run::{RunReport, RunRequest};
use crate::summary::{RunStatus, RunSummary};
use crate::window::WindowRun;

/// Runs of the workload read to find the window schedules the last run
/// left, and the windows open.
const RUNS_READ: usize = 100;

/// Makes the window schedules after a run that ended (none for a dry
/// run, a run a continuation carries on, a run the calendar or a disabled
/// workload skipped, or without continuations), deletes those of windows
/// removed or moved, and keeps the names in the run's record. The window
/// Stop of an open window ([`open_window_stops`]) is neither replaced nor
/// deleted.
pub(super) async fn arrange(
    service: &RunService<'_>,
    request: &RunRequest,
    report: &mut RunReport,
    run: &mut Ledgered<'_>,
) {
    let Some(continuation) = service.continuation else {
        return;
    };
    if report.checkpoint.is_some() || !arranges(&report.summary) {
        return;
    }
    let earlier = earlier_runs(run).await;
    let previous = earlier
        .iter()
        .find_map(|r| r.window_schedules.clone())
        .unwrap_or_default();
    let open = open_window_stops(request, &report.summary, &earlier);
    let (made, mut warnings, complete) = wanted(service, request, report).await;
    let now = super::now();
    let mut names: Vec<String> = open.iter().filter(|n| previous.contains(n)).cloned().collect();
    for (window, at) in &made {
        let name = window_schedule_name(&request.workload, window);
        if open.contains(&name) {
            names.retain(|n| *n != name);
            names.push(name); // an open window's Stop stays as it is
            continue;
        }
        let at = (*at).max(now + 60);
        let done = match continuation.cancel(&name).await {
            Ok(()) => continuation.schedule(&name, &payload(request, window), at).await,
            Err(e) => Err(e),
        };
        match done {
            Ok(()) => names.push(name),
            Err(e) => warnings.push(format!(
                "warning: the window {} of {} was not scheduled: {e}",
                window.edge, window.id
            )),
        }
    }
    let stale: Vec<String> = previous.into_iter().filter(|n| !names.contains(n)).collect();
    for name in &stale {
        if !complete {
            names.push(name.clone()); // a window not read keeps its schedules
        } else if let Err(e) = continuation.cancel(name).await {
            warnings.push(format!("warning: the window schedule {name} was not deleted: {e}"));
            names.push(name.clone());
        }
    }
    report.summary.warnings.extend(warnings);
    if !(names.is_empty() && stale.is_empty()) {
        run.record.window_schedules = Some(names); // none ever made: nothing to keep
    }
}

/// Whether a run that went this way arranges the window schedules: every
/// run that ended, acted or not (a repeat, a window's run that did
/// nothing), but not a dry run, a run a continuation carries on, nor one
/// the calendar or a disabled workload skipped.
fn arranges(summary: &RunSummary) -> bool {
    use RunStatus::*;
    !summary.dry_run && !matches!(summary.status, Continuing | SkippedByCalendar | Disabled | DryRun)
}

/// The names of the window Stops of open windows: of each execution a
/// window Start opened (this run, if it acted, or a finished record that
/// did) whose window Stop has not run yet (no record of it, or only
/// `waiting` ones). Once the execution began, `NextExecutionTime` names
/// the next one, and the current execution's window Stop would look like
/// a moved window's: it must still close what its Start opened. This run,
/// if it is that window Stop, closes it.
fn open_window_stops(request: &RunRequest, summary: &RunSummary, earlier: &[RunRecord]) -> Vec<String> {
    let window_of = |r: &RunRecord, edge| r.maintenance_window.clone().filter(|w| w.edge == edge);
    let ran = |stop: &WindowRun| {
        request.maintenance_window.as_ref() == Some(stop)
            || earlier
                .iter()
                .any(|r| window_of(r, Action::Stop).as_ref() == Some(stop) && r.outcome.as_deref() != Some("waiting"))
    };
    let acted = matches!(
        summary.status,
        RunStatus::Completed | RunStatus::CompletedWithFailures | RunStatus::DeadlineReached
    );
    let opened_now = request
        .maintenance_window
        .clone()
        .filter(|w| w.edge == Action::Start && acted);
    let opened_before = earlier
        .iter()
        .filter(|r| r.status == LedgerStatus::Finished && opened(r.outcome.as_deref()));
    opened_now
        .into_iter()
        .chain(opened_before.filter_map(|r| window_of(r, Action::Start)))
        .map(|start| start.with_edge(Action::Stop))
        .filter(|stop| !ran(stop))
        .map(|stop| window_schedule_name(&request.workload, &stop))
        .collect()
}

/// The window schedules wanted now: each end of each configured window's
/// next execution and when it runs; warnings; whether every window was read.
async fn wanted(
    service: &RunService<'_>,
    request: &RunRequest,
    report: &RunReport,
) -> (Vec<(WindowRun, u64)>, Vec<String>, bool) {
    let cloud = service.cloud;
    let config = match super::config_of(cloud, request, report).await {
        Ok(config) => config,
        Err(e) => {
            return (
                Vec::new(),
                vec![format!("warning: maintenance windows not arranged: {e}")],
                false,
            )
        }
    };
    let w = &config.workload;
    if w.windows.ids.is_empty() {
        return (Vec::new(), Vec::new(), true);
    }
    let ports = match cloud.workload_ports(&w.region, w.cross_account.as_ref()).await {
        Ok(ports) => ports,
        Err(e) => {
            return (
                Vec::new(),
                vec![format!("warning: maintenance windows not read: {e}")],
                false,
            )
        }
    };
    let (mut made, mut warnings, mut complete) = (Vec::new(), Vec::new(), true);
    for id in &w.windows.ids {
        let window = match ports.remote.maintenance_window(id).await {
            Ok(window) => window,
            Err(e) => {
                warnings.push(format!(
                    "warning: maintenance window {id} not read: {e}; its schedules are kept"
                ));
                complete = false;
                continue;
            }
        };
        let (Some(execution), Some(opens), Some(closes)) = (
            window.next_execution,
            window.opens_at(w.windows.lead_minutes),
            window.closes_at(),
        ) else {
            warnings.push(format!(
                "warning: maintenance window {id} has no next execution (disabled, past its end date, or none given): no window Start or Stop is scheduled"
            ));
            continue;
        };
        let run = |edge| WindowRun {
            id: id.clone(),
            edge,
            execution,
        };
        made.push((run(Action::Start), opens));
        made.push((run(Action::Stop), closes));
    }
    (made, warnings, complete)
}

/// The workload's other runs in the ledger, newest first (none when the
/// ledger cannot be read: then no schedule is deleted).
async fn earlier_runs(run: &Ledgered<'_>) -> Vec<RunRecord> {
    let since = super::now().saturating_sub(RECORD_TTL.as_secs());
    match run.ledger.runs(Some(&run.record.workload), since, RUNS_READ).await {
        Ok(runs) => runs.into_iter().filter(|r| r.key != run.record.key).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "earlier window schedules not read: none deleted");
            Vec::new()
        }
    }
}

/// Whether a run that ended so acted (a window Start that did opened the
/// workload).
pub(super) fn opened(outcome: Option<&str>) -> bool {
    matches!(outcome, Some("completed" | "completedWithFailures" | "deadlineReached"))
}

/// A window schedule's invocation: that end of the window's execution,
/// keyed by it (`runId`), so a repeated delivery runs once.
pub(super) fn payload(request: &RunRequest, window: &WindowRun) -> Value {
    json!({
        "workloadIdentifier": request.workload,
        "action": window.edge,
        "dynamoDBRegion": request.dynamodb_region,
        "runId": window.run_id(),
        "maintenanceWindow": window,
    })
}
