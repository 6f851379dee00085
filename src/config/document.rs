//! Workload documents for `config validate|import|export`: one
//! WorkloadSpecification item plus its TierSpecification items, written as
//! in the seed's JSON examples, in JSON or YAML:
//!
//! ```json
//! { "workload": { "SpecName": "BotoTestCase1", ... },
//!   "tiers": [ { "SpecName": "BotoTestCase1", "TierTagValue": "Role_Web", ... } ] }
//! ```

use serde_json::{json, Value};

use super::{ConfigError, ConfigIssue, ItemNaming, WorkloadConfig};
use crate::ports::WorkloadItems;

/// Reads a document (JSON, or YAML when it is not JSON) and validates it
/// with the orchestrator's rules. Returns the items to write and the config.
pub fn parse(text: &str) -> Result<(WorkloadItems, WorkloadConfig), ConfigError> {
    let fail = |path: &str, message: String| ConfigError {
        workload: "?".into(),
        issues: vec![ConfigIssue {
            path: path.into(),
            message,
        }],
    };
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(json_err) => match serde_yaml::from_str::<Value>(text) {
            Ok(v) => v,
            Err(yaml_err) => {
                return Err(fail(
                    "document",
                    format!("neither JSON ({json_err}) nor YAML ({yaml_err})"),
                ));
            }
        },
    };
    let Some(map) = value.as_object() else {
        return Err(fail(
            "document",
            "expected a map with \"workload\" and \"tiers\"".into(),
        ));
    };
    for key in map.keys() {
        if key != "workload" && key != "tiers" {
            return Err(fail(key, "unknown key (expected \"workload\" and \"tiers\")".into()));
        }
    }
    let workload = map
        .get("workload")
        .cloned()
        .ok_or_else(|| fail("workload", "is required".into()))?;
    let tiers = match map.get("tiers") {
        Some(Value::Array(list)) => list.clone(),
        Some(_) => return Err(fail("tiers", "expected a list of tier items".into())),
        None => return Err(fail("tiers", "is required".into())),
    };
    let name = workload
        .get("SpecName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if name.is_empty() {
        return Err(fail("workload.SpecName", "is required".into()));
    }
    let config = WorkloadConfig::from_items(&name, &workload, &tiers, ItemNaming::Document)?;
    Ok((WorkloadItems { workload, tiers }, config))
}

/// The document form of a workload's items.
pub fn render(items: &WorkloadItems) -> Value {
    json!({ "workload": items.workload, "tiers": items.tiers })
}
