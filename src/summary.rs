//! What a run did: the summary the Lambda returns as JSON, which the CLI
//! prints as a table ([`RunSummary::to_table`]) and the SNS message sums up.

use serde::Serialize;

use crate::action::Action;
use crate::plan::{LeftOut, Plan};

mod table;
mod tier;
mod timing;

pub use tier::{CreditChange, Failure, GateOutcome, GroupChange, Noted, Resize, TierOutcome};
pub use timing::{DelayWait, Phase, PhaseKind};

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RunStatus {
    /// Every planned step was carried out without failure (bypassed
    /// instances, kept running by their override file, count as planned).
    Completed,
    /// Every tier was processed; some instances failed.
    CompletedWithFailures,
    /// The kill switch is on; nothing was actioned.
    Disabled,
    /// Dry run; nothing was actioned.
    DryRun,
    /// Time ran out; `notDone` lists what was not carried out.
    DeadlineReached,
    /// A readiness gate with `Abort` timed out; later tiers were not actioned.
    Aborted,
    /// Time ran out (or a long delay was offloaded); a continuation resumes
    /// the run from its checkpoint.
    Continuing,
    /// A Start skipped because the WorkloadState table says the workload's
    /// last action was already a Start (the original's rule; `-o` overrides).
    Skipped,
    /// A Change Calendar (`ChangeCalendarNames`) was CLOSED: nothing was done.
    SkippedByCalendar,
}

/// The outcome of one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    /// SpecName.
    pub workload: String,
    /// WorkloadRegion.
    pub region: String,
    /// Stop or Start.
    pub action: Action,
    /// Scaling profile in force.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scaling_profile: Option<String>,
    /// The account acted in, when it is not the scheduler's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<crate::plan::AccountTarget>,
    /// Configuration warnings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// What became of the WorkloadState row (written, or why not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload_state: Option<String>,
    /// Dry run: nothing was changed.
    pub dry_run: bool,
    /// How the run ended.
    pub status: RunStatus,
    /// One sentence on the outcome.
    pub message: String,
    /// Tiers in execution order.
    pub tiers: Vec<TierOutcome>,
    /// Tiers that take no part in this action.
    pub left_out: Vec<LeftOut>,
    /// Notifications that could not be sent (they never abort a run).
    pub notification_errors: Vec<String>,
    /// Inter-tier delays waited in this invocation.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub delays: Vec<DelayWait>,
    /// Alarms muted before a Stop or unmuted after a Start (`AlarmPrefixes`),
    /// and any that could not be.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<Noted>,
    /// Wall time of the run.
    pub duration_ms: u64,
    /// A re-stop's database: RDS started it by itself while the workload
    /// is stopped, and this run stopped it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restop: Option<crate::member::Restop>,
    /// The maintenance window the run was for (its `maintenanceWindow`):
    /// why the workload ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_window: Option<crate::window::WindowRun>,
    /// Events for the workload's bus (`EventBusName`) that EventBridge
    /// refused or that were not sent in time: logged and counted
    /// (`EventsFailed`), never a reason for the run to fail.
    #[serde(skip_serializing_if = "is_zero")]
    pub events_failed: u32,
    /// A Start's saving since the Stop, at cached on-demand list prices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved: Option<Saved>,
}

/// What the members a Start started saved while stopped, at on-demand list
/// prices from the cache only (a price lookup never holds a Start back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Saved {
    /// USD cents, the members whose price was cached.
    pub usd_cents: u64,
    /// The members whose stop this Start closed.
    pub members: usize,
    /// Of them, those with no cached price: their hours, not their money.
    pub unpriced: usize,
}

impl Saved {
    /// `saved about $12.34 since the Stop (...)`.
    pub fn sentence(&self) -> String {
        let usd = self.usd_cents as f64 / 100.0;
        let mut out = format!("saved about ${usd:.2} since the Stop (on-demand list prices");
        if self.unpriced > 0 {
            out.push_str(&format!(
                "; {} of {} members not priced yet",
                self.unpriced, self.members
            ));
        }
        out.push_str("; see orchestrator savings)");
        out
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl RunSummary {
    /// A summary for a plan, before anything is done.
    pub fn for_plan(plan: &Plan, dry_run: bool, status: RunStatus, message: impl Into<String>) -> Self {
        Self {
            workload: plan.workload.clone(),
            region: plan.region.clone(),
            action: plan.action,
            scaling_profile: plan.scaling_profile.clone(),
            account: plan.account.clone(),
            warnings: plan.warnings.clone(),
            workload_state: None,
            dry_run,
            status,
            message: message.into(),
            tiers: Vec::new(),
            left_out: plan.left_out.clone(),
            notification_errors: Vec::new(),
            delays: Vec::new(),
            alarms: Vec::new(),
            duration_ms: 0,
            restop: None,
            maintenance_window: None,
            events_failed: 0,
            saved: None,
        }
    }

    /// Total counts over all tiers: (acted, skipped, bypassed, failed, not done).
    pub fn totals(&self) -> [usize; 5] {
        self.tiers.iter().fold([0; 5], |mut t, o| {
            t[0] += o.acted.len();
            t[1] += o.skipped.len();
            t[2] += o.bypassed.len();
            t[3] += o.failed.len();
            t[4] += o.not_done.len();
            t
        })
    }
}
