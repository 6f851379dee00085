//! The safety net under RDS's automatic start (RDS documents its events
//! as best effort: late, out of order, or not at all). After a Stop that
//! ended, each database it stopped gets a one-time schedule seven days and
//! fifteen minutes later (RDS starts a stopped database seven days after
//! it stopped), which runs a re-stop of it ([`RunRequest::restop`]) the
//! way RDS's event does; a Start deletes those schedules by their names
//! ([`recheck_name`]: one per member, so a later Stop replaces, never
//! doubles, it). A schedule that cannot be made or deleted is a warning of
//! the run, never a failure.

use std::collections::HashSet;

use serde_json::{json, Value};

use super::Outcome;
use crate::action::Action;
use crate::ledger::{recheck_name, Continuation};
use crate::member::{MemberId, MemberKind};
use crate::plan::members::MemberPlan;
use crate::plan::{Plan, Step};
use crate::run::RunRequest;
use crate::summary::{RunStatus, RunSummary};

/// When the re-check comes after a Stop: RDS's seven days, and 15 minutes
/// for RDS to have started the database.
pub const RECHECK_AFTER_SECS: u64 = 7 * 86_400 + 15 * 60;

/// Makes (after a Stop) or deletes (after a Start) the re-checks of the
/// run's databases, once the run ended (not when a continuation carries
/// it on, nor for a dry run or a skipped run).
pub(super) async fn arrange(
    continuation: Option<&dyn Continuation>,
    request: &RunRequest,
    mut outcome: Outcome,
) -> Outcome {
    let (Some(continuation), Outcome::Ran { report, .. }) = (continuation, &mut outcome) else {
        return outcome;
    };
    if !ended(&report.summary) {
        return outcome;
    }
    let unfinished = unfinished(&report.summary);
    let at = super::now() + RECHECK_AFTER_SECS;
    let mut warnings = Vec::new();
    for m in databases(&report.plan) {
        let id = MemberId::new(m.kind, m.id.clone());
        let name = recheck_name(&request.workload, &id);
        let done = match report.plan.action {
            Action::Start => continuation.cancel(&name).await.map_err(|e| ("deleted", e)),
            Action::Stop if unfinished.contains(id.to_string().as_str()) => continue,
            Action::Stop => match continuation.cancel(&name).await {
                Ok(()) => continuation.schedule(&name, &payload(request, m, at), at).await,
                Err(e) => Err(e),
            }
            .map_err(|e| ("scheduled", e)),
        };
        if let Err((what, e)) = done {
            tracing::warn!(member = %id, error = %e, "re-check not {what}");
            warnings.push(format!("warning: the re-check of {id} was not {what}: {e}"));
        }
    }
    report.summary.notification_errors.extend(warnings);
    outcome
}

/// Whether the run is over and acted (or was to act).
pub(super) fn ended(summary: &RunSummary) -> bool {
    use RunStatus::*;
    !summary.dry_run
        && !matches!(
            summary.status,
            Continuing | Skipped | SkippedByCalendar | Disabled | DryRun
        )
}

/// The members the run failed or did not reach.
pub(super) fn unfinished(summary: &RunSummary) -> HashSet<&str> {
    let tiers = summary.tiers.iter();
    let failed = tiers.clone().flat_map(|t| t.failed.iter().map(|f| f.id.as_str()));
    failed
        .chain(tiers.flat_map(|t| t.not_done.iter().map(|n| n.id.as_str())))
        .collect()
}

/// The plan's databases the run acts on, or acted on in an earlier
/// invocation.
fn databases(plan: &Plan) -> impl Iterator<Item = &MemberPlan> {
    plan.groups
        .iter()
        .flat_map(|g| &g.tiers)
        .flat_map(|t| &t.members)
        .filter(|m| m.kind == MemberKind::Rds || m.kind.is_db_cluster())
        .filter(|m| matches!(m.step, Step::Act | Step::WaitThenAct { .. } | Step::DoneEarlier { .. }))
}

/// The re-check's invocation: a re-stop of the database, keyed by its due
/// time (`runId`), so a repeated delivery runs once.
fn payload(request: &RunRequest, m: &MemberPlan, at: u64) -> Value {
    json!({
        "workloadIdentifier": request.workload,
        "action": "Stop",
        "dynamoDBRegion": request.dynamodb_region,
        "runId": format!("recheck-{at}"),
        "restop": {"kind": m.kind, "id": m.id},
    })
}
