//! `ChangeCalendarNames` and `ChangeCalendarActions`: the SSM Change
//! Calendars that must be OPEN before the actions they gate.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::fields::{opt_string, show, Issues};

/// Which actions `ChangeCalendarNames` gates (`ChangeCalendarActions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CalendarActions {
    /// Starts wait for an OPEN calendar.
    pub start: bool,
    /// Stops wait for an OPEN calendar.
    pub stop: bool,
}

/// `ChangeCalendarActions` when absent or invalid: both actions are gated.
const BOTH_ACTIONS: CalendarActions = CalendarActions {
    start: true,
    stop: true,
};

/// `ChangeCalendarNames` and the actions they gate (`ChangeCalendarActions`).
pub(super) fn parse_calendars(map: &Map<String, Value>, issues: &mut Issues) -> (Vec<String>, CalendarActions) {
    let change_calendars = calendar_names(map, issues);
    let calendar_actions = calendar_actions(map, issues);
    if change_calendars.is_empty() && map.contains_key("ChangeCalendarActions") {
        issues.push("ChangeCalendarActions", "has no effect without ChangeCalendarNames");
    }
    (change_calendars, calendar_actions)
}

/// `ChangeCalendarActions`: `Start`, `Stop` or `Both` (the default), any case.
fn calendar_actions(map: &Map<String, Value>, issues: &mut Issues) -> CalendarActions {
    match opt_string(map, "ChangeCalendarActions", issues)
        .map(|a| a.to_ascii_lowercase())
        .as_deref()
    {
        None | Some("both") => BOTH_ACTIONS,
        Some("start") => CalendarActions {
            start: true,
            stop: false,
        },
        Some("stop") => CalendarActions {
            start: false,
            stop: true,
        },
        Some(other) => {
            issues.push(
                "ChangeCalendarActions",
                format!("{other:?} is not \"Start\", \"Stop\" or \"Both\""),
            );
            BOTH_ACTIONS
        }
    }
}

/// `ChangeCalendarNames`: one or more names or ARNs of SSM Change Calendar
/// documents, as a comma-separated string or a list.
fn calendar_names(map: &Map<String, Value>, issues: &mut Issues) -> Vec<String> {
    let raw: Vec<String> = match map.get("ChangeCalendarNames") {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::String(s)) => s
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect(),
        Some(Value::Array(list)) if list.iter().all(Value::is_string) => list
            .iter()
            .filter_map(Value::as_str)
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect(),
        Some(other) => {
            issues.push(
                "ChangeCalendarNames",
                format!("expected calendar names separated by commas, found {}", show(other)),
            );
            return Vec::new();
        }
    };
    let name_ok =
        |n: &str| (3..=128).contains(&n.len()) && n.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    for name in &raw {
        let ok = match name.strip_prefix("arn:") {
            Some(_) => {
                let parts: Vec<&str> = name.splitn(6, ':').collect();
                parts.len() == 6 && parts[2] == "ssm" && parts[5].strip_prefix("document/").is_some_and(name_ok)
            }
            None => name_ok(name),
        };
        if !ok {
            issues.push(
                "ChangeCalendarNames",
                format!("{name:?} is not an SSM Change Calendar name or document ARN"),
            );
        }
    }
    raw
}
