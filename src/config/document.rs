//! Workload documents for `config validate|import|export`, in two shapes.
//!
//! This project's shape: one WorkloadSpecification item plus its
//! TierSpecification items, written as in the seed's JSON examples, in JSON
//! or YAML:
//!
//! ```json
//! { "workload": { "SpecName": "BotoTestCase1", ... },
//!   "tiers": [ { "SpecName": "BotoTestCase1", "TierTagValue": "Role_Web", ... } ] }
//! ```
//!
//! The original Loader's shape (`Loader/Loader.py`, YAML), which names the
//! tables too:
//!
//! ```yaml
//! workloads:
//!   table: WorkloadSpecification
//!   workload: { SpecName: MyWorkload, ... }
//! tiers:
//!   table: TierSpecification
//!   tiers: [ { TierTagValue: Role_Web, SpecName: MyWorkload, ... } ]
//! ```
//!
//! A Loader document also gets the Loader's own checks: every tier has a
//! TierSequence for Start and for Stop, unique per action.

use serde_json::{json, Map, Value};

use super::WorkloadItems;
use super::{ConfigError, ConfigIssue, ItemNaming, WorkloadConfig};

/// The two document shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `{"workload": {...}, "tiers": [...]}`.
    Document,
    /// The original Loader's `workloads:` / `tiers:` with `table:` keys.
    Loader,
}

/// The table names a Loader document gives (`None` when absent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentTables {
    /// `workloads.table`.
    pub workload: Option<String>,
    /// `tiers.table`.
    pub tier: Option<String>,
}

/// A document read and validated.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The items to write.
    pub items: WorkloadItems,
    /// The validated configuration.
    pub config: WorkloadConfig,
    /// Which shape it was written in.
    pub shape: Shape,
    /// The tables a Loader document names.
    pub tables: DocumentTables,
}

/// Reads a document (JSON, or YAML when it is not JSON) in either shape and
/// validates it with the orchestrator's rules.
pub fn parse(text: &str) -> Result<Parsed, ConfigError> {
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
            "expected a map with \"workload\" and \"tiers\" (or the Loader's \"workloads\" and \"tiers\")".into(),
        ));
    };
    if map.contains_key("workloads") {
        return parse_loader(map);
    }
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
    Ok(Parsed {
        items: WorkloadItems { workload, tiers },
        config,
        shape: Shape::Document,
        tables: DocumentTables::default(),
    })
}

/// Reads a Loader document: its two sections, the Loader's own checks, then
/// the orchestrator's rules; every problem is reported, the Loader's first.
fn parse_loader(map: &Map<String, Value>) -> Result<Parsed, ConfigError> {
    let mut issues = Vec::new();
    let mut issue = |path: &str, message: String| {
        issues.push(ConfigIssue {
            path: path.into(),
            message,
        })
    };
    for key in map.keys() {
        if key != "workloads" && key != "tiers" {
            issue(
                key,
                "unknown key (a Loader document has \"workloads\" and \"tiers\")".into(),
            );
        }
    }
    let (workload, workload_table) = loader_section(map, "workloads", "workload", &mut issue);
    let (tiers, tier_table) = loader_section(map, "tiers", "tiers", &mut issue);
    let tiers = loader_tier_list(tiers, &mut issue);
    let name = loader_spec_name(workload.as_ref(), &mut issue);
    loader_sequences(&tiers, &mut issue);
    let workload = workload.unwrap_or(Value::Null);
    let config = validate_loader(&name, &workload, &tiers, issues)?;
    Ok(Parsed {
        items: WorkloadItems { workload, tiers },
        config,
        shape: Shape::Loader,
        tables: DocumentTables {
            workload: workload_table,
            tier: tier_table,
        },
    })
}

/// One section of a Loader document (`workloads:` or `tiers:`): its `inner`
/// value and its table name.
fn loader_section(
    map: &Map<String, Value>,
    key: &str,
    inner: &str,
    issue: &mut dyn FnMut(&str, String),
) -> (Option<Value>, Option<String>) {
    let Some(section) = map.get(key) else {
        issue(key, "is required".into());
        return (None, None);
    };
    let Some(section) = section.as_object() else {
        issue(key, format!("expected a map with \"table\" and \"{inner}\""));
        return (None, None);
    };
    for k in section.keys() {
        if k != "table" && k != inner {
            issue(
                &format!("{key}.{k}"),
                format!("unknown key (expected \"table\" and \"{inner}\")"),
            );
        }
    }
    let table = match section.get("table") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) if !t.trim().is_empty() => Some(t.trim().to_string()),
        Some(other) => {
            issue(&format!("{key}.table"), format!("expected a table name, found {other}"));
            None
        }
    };
    if section.get(inner).is_none() {
        issue(&format!("{key}.{inner}"), "is required".into());
    }
    (section.get(inner).cloned(), table)
}

/// `tiers.tiers`: the list of tier items (empty when absent or not a list).
fn loader_tier_list(tiers: Option<Value>, issue: &mut dyn FnMut(&str, String)) -> Vec<Value> {
    match tiers {
        Some(Value::Array(list)) => list,
        Some(_) => {
            issue("tiers.tiers", "expected a list of tier items".into());
            Vec::new()
        }
        None => Vec::new(),
    }
}

/// The workload item's SpecName (empty when missing).
fn loader_spec_name(workload: Option<&Value>, issue: &mut dyn FnMut(&str, String)) -> String {
    let name = workload
        .and_then(|w| w.get("SpecName"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if workload.is_some() && name.is_empty() {
        issue("workloads.workload.SpecName", "is required".into());
    }
    name
}

/// The orchestrator's validation, after the Loader's own `issues`.
fn validate_loader(
    name: &str,
    workload: &Value,
    tiers: &[Value],
    mut issues: Vec<ConfigIssue>,
) -> Result<WorkloadConfig, ConfigError> {
    match WorkloadConfig::from_items(name, workload, tiers, ItemNaming::Loader) {
        Ok(config) if issues.is_empty() => Ok(config),
        Ok(_) => Err(ConfigError {
            workload: if name.is_empty() { "?".into() } else { name.to_string() },
            issues,
        }),
        Err(mut e) => {
            issues.append(&mut e.issues);
            e.issues = issues;
            Err(e)
        }
    }
}

/// The Loader's own checks: each tier has a TierSequence for Start and for
/// Stop, and no two tiers share one for the same action.
fn loader_sequences(tiers: &[Value], issue: &mut dyn FnMut(&str, String)) {
    for section in ["TierStart", "TierStop"] {
        let mut seen: Vec<(String, String)> = Vec::new();
        for (index, tier) in tiers.iter().enumerate() {
            let path = format!("tiers.tiers[{index}].{section}.TierSequence");
            let sequence = tier.get(section).and_then(|s| s.get("TierSequence"));
            let text = match sequence {
                Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
                Some(Value::Number(n)) => n.to_string(),
                _ => {
                    issue(
                        &path,
                        "is required in a Loader document (the original Loader checks it)".into(),
                    );
                    continue;
                }
            };
            let tier_name = tier
                .get("TierTagValue")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string();
            if let Some((other, _)) = seen.iter().find(|(_, s)| *s == text) {
                issue(
                    &path,
                    format!("{text} is also the {section} sequence of tier {other:?}; the Loader requires unique sequences per action"),
                );
            }
            seen.push((tier_name, text));
        }
    }
}

/// A workload's items in `shape`; `tables` names the tables in a Loader
/// document (the configured ones).
pub fn render(items: &WorkloadItems, shape: Shape, tables: (&str, &str)) -> Value {
    match shape {
        Shape::Document => json!({ "workload": items.workload, "tiers": items.tiers }),
        Shape::Loader => json!({
            "workloads": { "table": tables.0, "workload": items.workload },
            "tiers": { "table": tables.1, "tiers": items.tiers },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOADER: &str = r#"
workloads:
  table: WorkloadSpecification
  workload:
    SpecName: MyWorkload
    WorkloadRegion: us-west-2
    WorkloadFilterTagName: Environment
    WorkloadFilterTagValue: ENV001
    TierFilterTagName: ApplicationRole
    SNSTopicName: MyTopic
    ScaleInstanceDelay: '5'
tiers:
  table: TierSpecification
  tiers:
    - TierTagValue: Role_Web
      SpecName: MyWorkload
      TierStart: {TierSequence: 2, TierSynchronization: 'False', InterTierOrchestrationDelay: 15}
      TierStop:  {TierSequence: 0, TierSynchronization: 'False', InterTierOrchestrationDelay: 15}
      TierScaling:
        DevMode:  {InstanceType: t2.nano, FleetSubset: '1'}
        ProdMode: {InstanceType: t3.medium, FleetSubset: 100%}
    - TierTagValue: Role_DB
      SpecName: MyWorkload
      TierStart: {TierSequence: 0, TierSynchronization: 'yes'}
      TierStop:  {TierSequence: 1, TierSynchronization: 'True', IgnoreStop: 'True'}
"#;

    #[test]
    fn the_original_loaders_sample_shape_is_read_verbatim() {
        let parsed = parse(LOADER).unwrap();
        assert_eq!(parsed.shape, Shape::Loader);
        assert_eq!(parsed.tables.workload.as_deref(), Some("WorkloadSpecification"));
        assert_eq!(parsed.tables.tier.as_deref(), Some("TierSpecification"));
        assert_eq!(parsed.config.workload.spec_name, "MyWorkload");
        assert_eq!(parsed.config.tiers.len(), 2);
        assert!(parsed.config.tiers[1].stop.as_ref().unwrap().ignore);
        // YAML integers stay numbers in the items written to DynamoDB.
        assert_eq!(parsed.items.tiers[0]["TierStart"]["TierSequence"], json!(2));
    }

    #[test]
    fn the_loaders_sequencing_checks_apply_to_loader_documents() {
        let missing = LOADER.replace("      TierStart: {TierSequence: 0, TierSynchronization: 'yes'}\n", "");
        let err = parse(&missing).unwrap_err().to_string();
        assert!(
            err.contains("tiers.tiers[1].TierStart.TierSequence: is required in a Loader document"),
            "{err}"
        );
        let duplicate = LOADER.replace("TierStop:  {TierSequence: 1,", "TierStop:  {TierSequence: 0,");
        let err = parse(&duplicate).unwrap_err().to_string();
        assert!(err.contains("also the TierStop sequence of tier \"Role_Web\""), "{err}");
    }

    #[test]
    fn loader_documents_report_bad_fields_with_their_document_path() {
        let bad = LOADER.replace("TierFilterTagName: ApplicationRole", "TierFilterTagName: [x]");
        let err = parse(&bad).unwrap_err().to_string();
        assert!(
            err.contains("workloads.workload.TierFilterTagName: expected a string"),
            "{err}"
        );
        let bad = LOADER.replace("  table: TierSpecification", "  table: TierSpecification\n  extra: 1");
        assert!(parse(&bad)
            .unwrap_err()
            .to_string()
            .contains("tiers.extra: unknown key"));
    }

    #[test]
    fn export_writes_either_shape_and_reads_back() {
        let parsed = parse(LOADER).unwrap();
        for shape in [Shape::Document, Shape::Loader] {
            let text = serde_yaml::to_string(&render(&parsed.items, shape, ("WS", "TS"))).unwrap();
            let back = parse(&text).unwrap();
            assert_eq!(back.shape, shape);
            assert_eq!(back.items, parsed.items);
            if shape == Shape::Loader {
                assert_eq!(back.tables.workload.as_deref(), Some("WS"));
            }
        }
    }
}
