//! SSM maintenance windows the scheduler opens and closes (issue 33): the
//! window as GetMaintenanceWindow describes it, which end of it a run is
//! (a **window Start** at its next execution minus the lead, a **window
//! Stop** at its end), and the arithmetic of both times. Vocabulary only:
//! no I/O, no clock.

use serde::{Deserialize, Serialize};

use crate::action::Action;

/// One maintenance window as GetMaintenanceWindow returns it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MaintenanceWindow {
    /// `WindowId` (`mw-` and 17 hex digits).
    pub id: String,
    /// `NextExecutionTime`, seconds since the epoch; `None` for a window
    /// disabled, past its end date, or (moto) never computed.
    pub next_execution: Option<u64>,
    /// `Duration`, hours (1 to 24).
    pub duration_hours: u32,
    /// `Cutoff`, hours before the end when no new task starts.
    pub cutoff_hours: u32,
    /// `Schedule` (cron, rate or at), as SSM says it.
    pub schedule: Option<String>,
    /// `Enabled`.
    pub enabled: bool,
}

/// One execution of a window as DescribeMaintenanceWindowExecutions lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowExecution {
    /// `Status` (`IN_PROGRESS`, `SUCCESS`, `FAILED`, ...).
    pub status: String,
    /// `StartTime`, seconds since the epoch.
    pub started: Option<u64>,
}

impl WindowExecution {
    /// Whether this is the execution due at `execution` (it started in the
    /// hour after it) and it is still running.
    pub fn running_since(&self, execution: u64) -> bool {
        self.status == "IN_PROGRESS"
            && self
                .started
                .is_some_and(|at| (execution..execution + 3600).contains(&at))
    }
}

/// `MaintenanceOverrunMinutes` when absent: how long a window Stop waits
/// past the window's end for an execution still in progress.
pub const DEFAULT_OVERRUN_MINUTES: u64 = 60;

/// What a window run is: which window, which of its executions (its
/// `NextExecutionTime` when the schedules were made, seconds since the
/// epoch), and which end of it (Start: it opens; Stop: it closes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WindowRun {
    /// The window's id.
    pub id: String,
    /// `Start` (the window opens the workload) or `Stop` (it closes it).
    pub edge: Action,
    /// The execution, seconds since the epoch.
    pub execution: u64,
}

/// The longest `MaintenanceLeadMinutes` accepted: a day.
pub const MAX_LEAD_MINUTES: u64 = 24 * 60;
/// `MaintenanceLeadMinutes` when absent.
pub const DEFAULT_LEAD_MINUTES: u64 = 15;

/// Whether `id` is a maintenance window id: `mw-` and 17 lower-case hex
/// digits (GetMaintenanceWindow takes ids; names are not unique).
pub fn is_window_id(id: &str) -> bool {
    id.strip_prefix("mw-")
        .is_some_and(|hex| hex.len() == 17 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

impl MaintenanceWindow {
    /// When the window Start runs: the next execution minus the lead.
    pub fn opens_at(&self, lead_minutes: u64) -> Option<u64> {
        self.next_execution.map(|at| at.saturating_sub(lead_minutes * 60))
    }

    /// When the window Stop runs: the next execution plus `Duration` hours.
    pub fn closes_at(&self) -> Option<u64> {
        self.next_execution.map(|at| at + u64::from(self.duration_hours) * 3600)
    }
}

/// An event's `maintenanceWindow` that is not one of the window schedules'.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("maintenanceWindow must be {{\"id\": \"mw-…\", \"edge\": the action (\"Start\" or \"Stop\"), \"execution\": seconds since the epoch}}")]
pub struct NotAWindowRun;

impl WindowRun {
    /// The event's `maintenanceWindow` (the function's own window schedules
    /// write it), checked field by field: `{"id": "mw-…", "edge": "Start"
    /// or "Stop", "execution": seconds since the epoch}`, its edge the
    /// event's action.
    pub fn from_value(value: &serde_json::Value, action: Action) -> Result<Self, NotAWindowRun> {
        let run: Self = serde_json::from_value(value.clone()).map_err(|_| NotAWindowRun)?;
        match is_window_id(&run.id) && run.edge == action && run.execution > 0 {
            true => Ok(run),
            false => Err(NotAWindowRun),
        }
    }

    /// The `runId` of this end of the window's execution: a repeated
    /// delivery of its schedule is one run, and the window Stop finds the
    /// window Start's record by it.
    pub fn run_id(&self) -> String {
        format!("window-{}-{}-{}", self.id, self.execution, self.edge)
    }

    /// The same execution's other end.
    pub fn with_edge(&self, edge: Action) -> Self {
        Self { edge, ..self.clone() }
    }

    /// For reports: `mw-… (Start of the execution at <UTC>)`.
    pub fn describe(&self) -> String {
        format!(
            "maintenance window {} ({} of its execution at {} UTC)",
            self.id,
            self.edge,
            crate::clock::utc_timestamp(self.execution)
        )
    }
}

/// What a configured window holds ahead, for `plan` and `status`: when
/// its next window Start and window Stop run, or why there are none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowOutlook {
    /// The window's id.
    pub id: String,
    /// Its next execution, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution: Option<u64>,
    /// When its window Start runs (the execution minus the lead).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_start: Option<u64>,
    /// When its window Stop runs (the execution plus `Duration` hours).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_stop: Option<u64>,
    /// Why there is no window Start or Stop: no next execution, or the
    /// window could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl WindowOutlook {
    /// The outlook of `window` with `lead_minutes` of lead.
    pub fn of(window: &MaintenanceWindow, lead_minutes: u64) -> Self {
        let note = window.next_execution.is_none().then(|| {
            "no next execution (disabled, past its end date, or none given): no window Start or Stop".to_string()
        });
        Self {
            id: window.id.clone(),
            execution: window.next_execution,
            window_start: window.opens_at(lead_minutes),
            window_stop: window.closes_at(),
            note,
        }
    }

    /// The outlook of a window that could not be read (`why`).
    pub fn unread(id: &str, why: &str) -> Self {
        Self {
            id: id.to_string(),
            execution: None,
            window_start: None,
            window_stop: None,
            note: Some(format!("not read: {why}")),
        }
    }

    /// One line: `mw-…: window Start 2030-03-24 02:45 UTC, window Stop
    /// 2030-03-24 06:00 UTC (its execution at 03:00)`, or the note.
    pub fn line(&self) -> String {
        match (self.window_start, self.window_stop, self.execution) {
            (Some(start), Some(stop), Some(at)) => format!(
                "{}: window Start {} UTC, window Stop {} UTC (its next execution at {} UTC)",
                self.id,
                crate::clock::show_utc(start),
                crate::clock::show_utc(stop),
                crate::clock::show_utc(at)
            ),
            _ => format!("{}: {}", self.id, self.note.as_deref().unwrap_or("no next execution")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_ids_are_mw_and_17_hex_digits() {
        assert!(is_window_id("mw-0123456789abcdef0"));
        for bad in [
            "mw-0123456789abcdef",
            "mw-0123456789ABCDEF0",
            "xx-0123456789abcdef0",
            "mw-0123456789abcdefg",
            "",
        ] {
            assert!(!is_window_id(bad), "{bad}");
        }
    }

    #[test]
    fn the_event_field_is_strict_and_its_edge_is_the_action() {
        let ok = serde_json::json!({"id": "mw-0123456789abcdef0", "edge": "Start", "execution": 1_800_000_000});
        assert_eq!(WindowRun::from_value(&ok, Action::Start).unwrap().edge, Action::Start);
        assert!(
            WindowRun::from_value(&ok, Action::Stop).is_err(),
            "edge must be the action"
        );
        for bad in [
            serde_json::json!("mw-0123456789abcdef0"),
            serde_json::json!({"id": "my-window", "edge": "Start", "execution": 1}),
            serde_json::json!({"id": "mw-0123456789abcdef0", "edge": "Open", "execution": 1}),
            serde_json::json!({"id": "mw-0123456789abcdef0", "edge": "Start"}),
            serde_json::json!({"id": "mw-0123456789abcdef0", "edge": "Start", "execution": 1, "x": 1}),
        ] {
            assert!(WindowRun::from_value(&bad, Action::Start).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_window_opens_a_lead_before_and_closes_its_duration_after() {
        let w = MaintenanceWindow {
            next_execution: Some(10_000),
            duration_hours: 3,
            ..Default::default()
        };
        assert_eq!(w.opens_at(15), Some(10_000 - 900));
        assert_eq!(w.closes_at(), Some(10_000 + 3 * 3600));
        assert_eq!(MaintenanceWindow::default().opens_at(15), None);
    }

    #[test]
    fn an_outlook_says_when_the_window_opens_and_closes_or_that_it_will_not() {
        let w = MaintenanceWindow {
            id: "mw-0123456789abcdef0".into(),
            next_execution: Some(1_900_000_800), // 2030-03-17 17:20 UTC
            duration_hours: 2,
            ..Default::default()
        };
        let o = WindowOutlook::of(&w, 20);
        assert_eq!(
            (o.window_start, o.window_stop),
            (Some(1_900_000_800 - 1200), Some(1_900_000_800 + 7200))
        );
        let line = o.line();
        assert!(line.starts_with("mw-0123456789abcdef0: window Start "), "{line}");
        assert!(line.contains("window Stop") && line.contains("UTC"), "{line}");
        let none = WindowOutlook::of(
            &MaintenanceWindow {
                next_execution: None,
                ..w
            },
            20,
        );
        assert!(none.line().contains("no next execution"), "{}", none.line());
        assert!(WindowOutlook::unread("mw-1", "AccessDenied")
            .line()
            .contains("not read: AccessDenied"));
    }
}
