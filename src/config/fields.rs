//! Readers for the seed's string-typed attributes.
//!
//! The seed stores numbers and booleans as strings (`"2"`, `"False"`). Items
//! written by other tools sometimes carry native numbers or booleans instead;
//! those are accepted too, because their meaning is unambiguous. Anything else
//! (a map where a string belongs, a list, `"two"`) is reported as an issue with
//! its full path so the operator can fix the item without guessing.

use serde_json::{Map, Value};

use super::ConfigIssue;

/// Collects the issues found in one item, each prefixed with the item's path.
pub(crate) struct Issues<'a> {
    pub(crate) prefix: String,
    pub(crate) out: &'a mut Vec<ConfigIssue>,
}

impl<'a> Issues<'a> {
    pub(crate) fn new(prefix: impl Into<String>, out: &'a mut Vec<ConfigIssue>) -> Self {
        Self {
            prefix: prefix.into(),
            out,
        }
    }

    pub(crate) fn push(&mut self, field: &str, message: impl Into<String>) {
        let path = if field.is_empty() {
            self.prefix.clone()
        } else if self.prefix.is_empty() {
            field.to_string()
        } else {
            format!("{}.{}", self.prefix, field)
        };
        self.out.push(ConfigIssue {
            path,
            message: message.into(),
        });
    }

    /// Issues of a nested map share this collector with a longer prefix.
    pub(crate) fn nested(&mut self, field: &str) -> Issues<'_> {
        let prefix = if self.prefix.is_empty() {
            field.to_string()
        } else {
            format!("{}.{}", self.prefix, field)
        };
        Issues { prefix, out: self.out }
    }
}

/// Short, single-line rendering of a value for error messages.
pub(crate) fn show(value: &Value) -> String {
    let text = match value {
        Value::String(s) => format!("{s:?}"),
        Value::Object(_) => "a map".to_string(),
        Value::Array(_) => "a list".to_string(),
        Value::Null => "null".to_string(),
        other => other.to_string(),
    };
    if text.chars().count() > 80 {
        let cut: String = text.chars().take(77).collect();
        format!("{cut}...")
    } else {
        text
    }
}

/// An optional string attribute. Empty strings count as absent, as in the seed.
pub(crate) fn opt_string(map: &Map<String, Value>, key: &str, issues: &mut Issues) -> Option<String> {
    match map.get(key)? {
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(s.trim().to_string()),
        Value::Null => None,
        other => {
            issues.push(key, format!("expected a string, found {}", show(other)));
            None
        }
    }
}

/// A required string attribute.
pub(crate) fn req_string(map: &Map<String, Value>, key: &str, issues: &mut Issues) -> Option<String> {
    let value = opt_string(map, key, issues);
    if value.is_none() && !matches!(map.get(key), Some(v) if !v.is_string() && !v.is_null()) {
        issues.push(key, "is required");
    }
    value
}

/// Python's `strtobool`, which the original applies: `y yes t true on 1` and
/// `n no f false off 0`, in any case.
pub(crate) fn strtobool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" | "t" | "true" | "on" | "1" => Some(true),
        "n" | "no" | "f" | "false" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// An optional boolean: a string read as the original's `strtobool`
/// (`"True"`, `"yes"`, `"off"`, any case), or a native boolean, or a native
/// number 1 / 0.
pub(crate) fn opt_bool(map: &Map<String, Value>, key: &str, issues: &mut Issues) -> Option<bool> {
    match map.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => match strtobool(s) {
            Some(b) => Some(b),
            None => {
                issues.push(
                    key,
                    format!(
                        "{} is not a boolean (\"True\"/\"False\", or yes/no, on/off, y/n, t/f, 1/0)",
                        show(&map[key])
                    ),
                );
                None
            }
        },
        Value::Number(n) if n.as_f64() == Some(1.0) => Some(true),
        Value::Number(n) if n.as_f64() == Some(0.0) => Some(false),
        Value::Null => None,
        other => {
            issues.push(key, format!("expected \"True\" or \"False\", found {}", show(other)));
            None
        }
    }
}

/// An optional number of seconds, whole or fractional (`"2.5"`, `15`), at
/// most `max` seconds.
pub(crate) fn opt_secs(
    map: &Map<String, Value>,
    key: &str,
    max: u64,
    issues: &mut Issues,
) -> Option<std::time::Duration> {
    let value = map.get(key)?;
    let parsed = match value {
        Value::String(s) if s.trim().is_empty() => return None,
        Value::String(s) => s.trim().parse::<f64>().ok(),
        Value::Number(n) => n.as_f64(),
        Value::Null => return None,
        other => {
            issues.push(
                key,
                format!("expected a number of seconds stored as a string, found {}", show(other)),
            );
            return None;
        }
    };
    match parsed {
        Some(n) if n.is_finite() && (0.0..=max as f64).contains(&n) => Some(std::time::Duration::from_secs_f64(n)),
        Some(n) if n.is_finite() && n > max as f64 => {
            issues.push(key, format!("{n} is larger than the maximum {max} seconds"));
            None
        }
        _ => {
            issues.push(key, format!("{} is not a number of seconds (0 or more)", show(value)));
            None
        }
    }
}

/// Reports top-level attributes this version does not know as warnings, as
/// the original did: they are ignored, never fatal.
pub(crate) fn warn_unknown(map: &Map<String, Value>, known: &[&str], warnings: &mut Issues) {
    for key in map.keys() {
        if !known.contains(&key.as_str()) {
            warnings.push(key, "unknown attribute, ignored");
        }
    }
}

/// An optional non-negative whole number stored as a string, at most `max`.
pub(crate) fn opt_u64(map: &Map<String, Value>, key: &str, max: u64, issues: &mut Issues) -> Option<u64> {
    let value = map.get(key)?;
    let parsed = match value {
        Value::String(s) if s.trim().is_empty() => return None,
        Value::String(s) => s.trim().parse::<u64>().ok(),
        Value::Number(n) => n.as_u64(),
        Value::Null => return None,
        other => {
            issues.push(
                key,
                format!("expected a number stored as a string, found {}", show(other)),
            );
            return None;
        }
    };
    match parsed {
        Some(n) if n <= max => Some(n),
        Some(n) => {
            issues.push(key, format!("{n} is larger than the maximum {max}"));
            None
        }
        None => {
            issues.push(
                key,
                format!("{} is not a number (a whole number of 0 or more)", show(value)),
            );
            None
        }
    }
}

/// An optional nested map (`TierStart`, `TierStop`, `TierScaling`).
pub(crate) fn opt_map<'v>(
    map: &'v Map<String, Value>,
    key: &str,
    issues: &mut Issues,
) -> Option<&'v Map<String, Value>> {
    match map.get(key)? {
        Value::Object(inner) => Some(inner),
        Value::Null => None,
        other => {
            issues.push(key, format!("expected a map, found {}", show(other)));
            None
        }
    }
}

/// Reports keys of a nested map that this version does not understand:
/// a misspelt `TierSequnce` must not silently fall back to a default.
pub(crate) fn reject_unknown(map: &Map<String, Value>, known: &[&str], issues: &mut Issues) {
    for key in map.keys() {
        if !known.contains(&key.as_str()) {
            issues.push(key, format!("unknown key (expected one of: {})", known.join(", ")));
        }
    }
}

/// The distinct entries of a comma-separated list, in order, each read by
/// `read`, or every problem: an entry `read` refuses, a repeat, no entry
/// at all (`lists no {what}`).
pub(super) fn comma_list<T: PartialEq, E: std::fmt::Display>(
    text: &str,
    what: &str,
    read: impl Fn(&str) -> Result<T, E>,
) -> Result<Vec<T>, Vec<String>> {
    let mut items = Vec::new();
    let mut problems = Vec::new();
    let parts: Vec<&str> = text.split(',').map(str::trim).filter(|p| !p.is_empty()).collect();
    for part in &parts {
        match read(part) {
            Ok(item) if items.contains(&item) => problems.push(format!("{part:?} is listed twice")),
            Ok(item) => items.push(item),
            Err(problem) => problems.push(problem.to_string()),
        }
    }
    if parts.is_empty() {
        problems.push(format!("lists no {what}"));
    }
    if problems.is_empty() {
        Ok(items)
    } else {
        Err(problems)
    }
}
