//! The WorkloadState table, as the original keeps it: the rule that skips a
//! repeated Start, and the last action recorded after a real run.

use crate::action::Action;
use crate::plan::Plan;
use crate::ports::{Cloud, StateLookup, WorkloadState};
use crate::summary::{RunStatus, RunSummary};

use super::RunRequest;

/// The original's WorkloadState rule: a Start is skipped when the last
/// recorded action is already a Start, unless the request overrides it;
/// a re-stop, only while the workload is stopped. A missing table is said
/// once in the log and the run goes on. (A maintenance window's run has a
/// rule of its own: [`super::window_run::window_skip`].)
pub(super) async fn state_skip(
    cloud: &dyn Cloud,
    request: &RunRequest,
) -> Result<Option<String>, crate::error::CloudError> {
    if let Some(restop) = &request.restop {
        return restop_skip(cloud, request, restop).await;
    }
    if request.action != Action::Start || request.override_state {
        return Ok(None);
    }
    match cloud
        .config_store(&request.dynamodb_region)
        .load_state(&request.workload)
        .await?
    {
        StateLookup::Found(state) if state.last_action_type == "Start" => Ok(Some(format!(
            "the WorkloadState table says the last action was already a Start (at {}{}); nothing was done. \
             Use -o/--overrideState (CLI) or \"overrideState\": true (event) to start anyway",
            state.last_action_time,
            state.profile.map(|p| format!(", profile {p}")).unwrap_or_default()
        ))),
        StateLookup::NoTable(table) => {
            tracing::warn!(%table, "the WorkloadState table does not exist: the last-action check is skipped");
            Ok(None)
        }
        StateLookup::Found(_) | StateLookup::Missing => Ok(None),
    }
}

/// A re-stop acts only while the workload is stopped by the scheduler:
/// the WorkloadState table's last action is a Stop. Anything else (a Start
/// since, no row, no table) leaves the database running, and says why.
async fn restop_skip(
    cloud: &dyn Cloud,
    request: &RunRequest,
    restop: &crate::member::Restop,
) -> Result<Option<String>, crate::error::CloudError> {
    let left = format!("{} is left running", restop.member());
    not_stopped(cloud, request, &left).await
}

/// Why the workload is not stopped by the scheduler (WorkloadState's last
/// action is not a Stop), ending with `left` (what is left alone); `None`
/// when it is.
pub(super) async fn not_stopped(
    cloud: &dyn Cloud,
    request: &RunRequest,
    left: &str,
) -> Result<Option<String>, crate::error::CloudError> {
    let lookup = cloud
        .config_store(&request.dynamodb_region)
        .load_state(&request.workload)
        .await?;
    Ok(match lookup {
        StateLookup::Found(state) if state.last_action_type == "Stop" => None,
        StateLookup::Found(state) => Some(format!(
            "the workload was started since its Stop (the WorkloadState table says {} at {}): {left}",
            state.last_action_type, state.last_action_time
        )),
        StateLookup::Missing => Some(format!(
            "the WorkloadState table records no Stop of the workload: {left}"
        )),
        StateLookup::NoTable(table) => Some(format!(
            "the WorkloadState table {table} does not exist, so no Stop is known: {left}"
        )),
    })
}

/// Why a Start is not recorded in WorkloadState: one that did not start
/// everything (the next Start would otherwise be skipped as a repeat and
/// the instances stay down), or that a continuation is still carrying out.
pub(super) fn unrecorded_start(request: &RunRequest, summary: &RunSummary) -> Option<String> {
    if request.action != Action::Start || summary.status == RunStatus::Completed {
        return None;
    }
    let failed: usize = summary.tiers.iter().map(|t| t.failed.len()).sum();
    Some(match (failed, summary.status) {
        (1.., _) => format!("Start not recorded: {failed} instance(s) did not start, so the next Start is not skipped"),
        (_, RunStatus::Continuing) => "Start not recorded yet: a continuation carries the run on".to_string(),
        (_, status) => format!("Start not recorded: the run ended {status:?}"),
    })
}

/// Writes the WorkloadState row after a real run, as the original did:
/// the action, the time and, on a Start with a profile, the profile.
/// Returns what happened, for the summary; a failure never fails the run.
pub(super) async fn record_state(cloud: &dyn Cloud, request: &RunRequest, plan: &Plan) -> String {
    let state = WorkloadState {
        last_action_type: request.action.to_string(),
        last_action_time: crate::clock::show_utc(crate::clock::now()),
        profile: match request.action {
            Action::Start => plan.scaling_profile.clone(),
            Action::Stop => None,
        },
    };
    match cloud
        .config_store(&request.dynamodb_region)
        .save_state(&request.workload, &state)
        .await
    {
        Ok(None) => format!(
            "LastActionType {} at {} recorded",
            state.last_action_type, state.last_action_time
        ),
        Ok(Some(table)) => {
            tracing::warn!(%table, "the WorkloadState table does not exist: the last action is not recorded");
            format!("table {table} does not exist; the last action was not recorded")
        }
        Err(e) => {
            tracing::warn!(error = %e, "writing the WorkloadState row failed");
            format!("not recorded: {e}")
        }
    }
}
