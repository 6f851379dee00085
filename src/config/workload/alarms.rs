//! `AlarmPrefixes` and `AlarmSelection`: the CloudWatch alarms muted while
//! the workload is stopped.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::fields::{comma_list, opt_string, Issues};

/// `AlarmPrefixes` and `AlarmSelection`: the CloudWatch alarms kept quiet
/// while the workload is stopped.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmChoice {
    /// Alarms whose names start with one of these.
    pub prefixes: Vec<String>,
    /// `AlarmSelection: Tag`: also the alarms tagged with the workload tag.
    pub by_tag: bool,
}

impl AlarmChoice {
    /// Some alarm can be selected.
    pub fn any(&self) -> bool {
        !self.prefixes.is_empty() || self.by_tag
    }
}

/// An `AlarmPrefixes` entry that is not an alarm name prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an alarm name prefix (at most 255 characters)")]
struct NotAPrefix(String);

/// `AlarmPrefixes` (comma-separated alarm name prefixes) and
/// `AlarmSelection` (`Prefix`, the default, or `Tag`: the alarms tagged
/// with the workload tag too).
pub(super) fn parse_alarms(map: &Map<String, Value>, issues: &mut Issues) -> AlarmChoice {
    let prefixes = opt_string(map, "AlarmPrefixes", issues)
        .map(|text| {
            comma_list(&text, "prefix", |part| {
                if part.len() > 255 || part.chars().any(char::is_control) {
                    Err(NotAPrefix(part.to_string()))
                } else {
                    Ok(part.to_string())
                }
            })
            .unwrap_or_else(|problems| {
                for p in problems {
                    issues.push("AlarmPrefixes", p);
                }
                Vec::new()
            })
        })
        .unwrap_or_default();
    let by_tag = match opt_string(map, "AlarmSelection", issues)
        .map(|s| s.to_ascii_lowercase())
        .as_deref()
    {
        None | Some("prefix") => false,
        Some("tag") => true,
        Some(other) => {
            issues.push("AlarmSelection", format!("{other:?} is not \"Prefix\" or \"Tag\""));
            false
        }
    };
    AlarmChoice { prefixes, by_tag }
}
