//! What a run is asked to do ([`RunRequest`]) and what became of it
//! ([`RunReport`]): the vocabulary shared by the orchestrator, the run
//! ledger and the run service, below all three.

use std::sync::Arc;

use crate::action::Action;
use crate::config::WorkloadConfig;
use crate::plan::{Checkpoint, Plan};
use crate::savings::Stopped;
use crate::summary::RunSummary;

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRequest {
    /// SpecName of the workload.
    pub workload: String,
    /// Stop or Start.
    pub action: Action,
    /// Scaling profile for Start.
    pub scaling_profile: Option<String>,
    /// Plan only; no mutating call of any kind.
    pub dry_run: bool,
    /// Region of the configuration tables.
    pub dynamodb_region: String,
    /// Run a Start even when the WorkloadState table says the last action
    /// was already a Start (`-o/--overrideState`, `"overrideState": true`).
    pub override_state: bool,
    /// Where the SNS topic is looked up: the scheduler's own region (the
    /// function's, or the CLI's configured region), as the original
    /// published; `None` means the configuration tables' region.
    pub notify_region: Option<String>,
    /// The run's key in the run ledger, when the run service carries it
    /// out under the ledger: what the scheduler records names its run.
    /// Not part of what decides the run.
    pub run_key: Option<String>,
    /// A re-stop: only this database, stopped again because RDS started it
    /// by itself while the workload is stopped (the run acts only if the
    /// WorkloadState table's last action is a Stop, and records none).
    pub restop: Option<crate::member::Restop>,
    /// A maintenance window's run (`maintenanceWindow`): its Start opens
    /// a workload the scheduler stopped, its Stop closes what its Start
    /// opened; neither writes a WorkloadState row.
    pub maintenance_window: Option<crate::window::WindowRun>,
    /// Which invocation of the run this is: 1 for a fresh run; the run
    /// service sets it under the ledger. Not part of what decides the run.
    pub invocation: u32,
}

impl RunRequest {
    /// A request with the defaults: no profile, not a dry run, the state
    /// check on, notifications in the tables' region.
    pub fn new(workload: impl Into<String>, action: Action, dynamodb_region: impl Into<String>) -> Self {
        Self {
            workload: workload.into(),
            action,
            scaling_profile: None,
            dry_run: false,
            dynamodb_region: dynamodb_region.into(),
            override_state: false,
            notify_region: None,
            run_key: None,
            restop: None,
            maintenance_window: None,
            invocation: 1,
        }
    }

    /// Where notifications go: the scheduler's region, else the tables'.
    pub fn notify_region(&self) -> &str {
        self.notify_region.as_deref().unwrap_or(&self.dynamodb_region)
    }
}

/// The outcome of a run, with the plan when it was a dry run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunReport {
    /// What happened.
    pub summary: RunSummary,
    /// What was planned.
    pub plan: Plan,
    /// Where to resume, when the run stopped early (deadline or an offloaded delay).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Checkpoint>,
    /// The configuration the run read, so the steps after it (window
    /// schedules, what prices a Stop's members) do not read it again;
    /// `None` for a dry run. Not in the response.
    #[serde(skip)]
    pub config: Option<Arc<WorkloadConfig>>,
    /// The workload's stopped time as a Start read it to say what it saved,
    /// so the run service closes the intervals without reading them again;
    /// `None` when it was not read. Not in the response.
    #[serde(skip)]
    pub stopped: Option<Stopped>,
}

impl RunReport {
    /// The report of a run that ended as `summary` says, with nothing to
    /// resume and nothing read for the steps after it.
    pub fn ended(summary: RunSummary, plan: Plan) -> Self {
        Self {
            summary,
            plan,
            checkpoint: None,
            config: None,
            stopped: None,
        }
    }
}
