//! `MaintenanceWindows` and `MaintenanceLeadMinutes`: the SSM maintenance
//! windows the scheduler opens the workload for, in tier order, and how
//! long before a window's execution it starts; `MaintenanceOverrunMinutes`
//! and `MaintenanceWaitForAgents`.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::fields::{comma_list, opt_bool, opt_string, opt_u64, Issues};
use crate::window::{is_window_id, DEFAULT_LEAD_MINUTES, DEFAULT_OVERRUN_MINUTES, MAX_LEAD_MINUTES};

/// The workload's maintenance windows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Windows {
    /// `MaintenanceWindows`: window ids (`mw-…`), in the order given.
    pub ids: Vec<String>,
    /// `MaintenanceLeadMinutes` (default 15): the window Start runs this
    /// long before the window's execution.
    pub lead_minutes: u64,
    /// `MaintenanceOverrunMinutes` (default 60): how long past the window's
    /// end its Stop waits while the execution is still in progress.
    pub overrun_minutes: u64,
    /// `MaintenanceWaitForAgents` (default true): a window Start waits for
    /// the SSM agents of the EC2 instances it starts (patching needs them).
    pub wait_for_agents: bool,
}

impl Default for Windows {
    fn default() -> Self {
        Self {
            ids: Vec::new(),
            lead_minutes: DEFAULT_LEAD_MINUTES,
            overrun_minutes: DEFAULT_OVERRUN_MINUTES,
            wait_for_agents: true,
        }
    }
}

/// An entry of `MaintenanceWindows` that is no window id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a maintenance window id (mw- and 17 lower-case hex digits; windows are named by id, not name)")]
struct NotAWindow(String);

/// `MaintenanceWindows` (comma-separated `mw-` ids),
/// `MaintenanceLeadMinutes` and `MaintenanceOverrunMinutes` (0 to a day),
/// `MaintenanceWaitForAgents` (`"true"` or `"false"`, strings as the
/// original's booleans).
pub(super) fn parse_windows(map: &Map<String, Value>, issues: &mut Issues) -> Windows {
    let ids = opt_string(map, "MaintenanceWindows", issues)
        .map(|text| {
            comma_list(&text, "window id", |part| match is_window_id(part) {
                true => Ok(part.to_string()),
                false => Err(NotAWindow(part.to_string())),
            })
            .unwrap_or_else(|problems| {
                for p in problems {
                    issues.push("MaintenanceWindows", p);
                }
                Vec::new()
            })
        })
        .unwrap_or_default();
    let lead_minutes = opt_u64(map, "MaintenanceLeadMinutes", MAX_LEAD_MINUTES, issues).unwrap_or(DEFAULT_LEAD_MINUTES);
    let overrun_minutes =
        opt_u64(map, "MaintenanceOverrunMinutes", MAX_LEAD_MINUTES, issues).unwrap_or(DEFAULT_OVERRUN_MINUTES);
    Windows {
        ids,
        lead_minutes,
        overrun_minutes,
        wait_for_agents: opt_bool(map, "MaintenanceWaitForAgents", issues).unwrap_or(true),
    }
}
