//! Runs that do nothing: skipped by the WorkloadState rule, a CLOSED change
//! calendar or the kill switch (the last two publish a notice), and the dry
//! run's report.

use crate::config::WorkloadConfig;
use crate::notify;
use crate::plan::{self, Plan};
use crate::ports::Cloud;
use crate::summary::{RunStatus, RunSummary};

use super::{RunReport, RunRequest};

/// A run that does nothing: its status, the reason, and the notice it
/// publishes, if any (subject and body, and what the notice is called in
/// the log and the summary).
pub(super) struct Skip {
    status: RunStatus,
    reason: String,
    notice: Option<((String, String), &'static str)>,
}

/// Runs that do nothing: the WorkloadState rule, a CLOSED change calendar,
/// the kill switch. The last two publish a notice, as the original did for
/// the kill switch.
pub(super) fn skip_of(config: &WorkloadConfig, plan: &Plan) -> Option<Skip> {
    if let Some(reason) = &plan.state_skip {
        Some(Skip {
            status: RunStatus::Skipped,
            reason: reason.clone(),
            notice: None,
        })
    } else if let Some(reason) = &plan.calendar_skip {
        let notice = notify::calendar_message(&config.workload.spec_name, plan.action, reason);
        Some(Skip {
            status: RunStatus::SkippedByCalendar,
            reason: reason.clone(),
            notice: Some((notice, "change calendar notice")),
        })
    } else {
        plan.disabled_reason.as_ref().map(|reason| {
            let notice = notify::kill_switch_message(&config.workload.spec_name, plan.action);
            Skip {
                status: RunStatus::Disabled,
                reason: reason.clone(),
                notice: Some((notice, "kill switch notice")),
            }
        })
    }
}

/// The summary of a run that does nothing, its notice published (not on a
/// dry run); a failed notice is recorded, never raised.
pub(super) async fn skipped_summary(
    cloud: &dyn Cloud,
    request: &RunRequest,
    config: &WorkloadConfig,
    plan: &Plan,
    skip: Skip,
) -> RunSummary {
    let dry_run = request.dry_run;
    let mut summary = RunSummary::for_plan(plan, dry_run, skip.status, skip.reason);
    summary.maintenance_window = request.maintenance_window.clone();
    if let (Some(topic), Some(((subject, body), what)), false) = (&config.workload.sns_topic, skip.notice, dry_run) {
        if let Err(e) = cloud
            .notifier(request.notify_region())
            .publish(topic, &subject, &body)
            .await
        {
            tracing::warn!(error = %e, "{what} failed");
            summary.notification_errors.push(format!("{what}: {e}"));
        }
    }
    summary
}

/// The report of a dry run: what would be acted on, nothing changed.
pub(super) fn dry_run_report(plan: Plan) -> RunReport {
    let instances = plan
        .instances()
        .filter(|(t, i)| t.actionable().any(|a| a.id == i.id))
        .count();
    let members = plan
        .members()
        .filter(|d| matches!(d.step, plan::Step::Act | plan::Step::WaitThenAct { .. }))
        .count();
    let message = match members {
        0 => format!(
            "dry run: {instances} instance(s) would be {}; nothing was changed",
            plan.action.done()
        ),
        _ => format!(
            "dry run: {instances} instance(s) and {members} other member(s) would be {}; nothing was changed",
            plan.action.done()
        ),
    };
    let summary = RunSummary::for_plan(&plan, true, RunStatus::DryRun, message);
    RunReport::ended(summary, plan)
}
