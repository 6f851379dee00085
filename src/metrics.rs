//! What each run reports to CloudWatch, without a CloudWatch call: one
//! Embedded Metric Format (EMF) line per invocation on stdout, which
//! CloudWatch Logs turns into metrics (namespace `METRICS_NAMESPACE`,
//! dimensions Workload and Action, and the same metrics without dimensions
//! so one alarm covers every workload), and one line per member kind of
//! the run (`MembersActed`, `MembersFailed`, `MembersNotDone` by Workload,
//! Action and Kind: EC2, RDS, Aurora, DocumentDB, Neptune, ECS, EKS, ASG).
//!
//! A small module rather than a crate: the maintained EMF crates are
//! exporters for the `metrics` facade with a global recorder, which fits a
//! service emitting counters as it goes, not one line summing up a run.
//! Only the Lambda function emits; the CLI prints its own report.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::member::MemberKind;
use crate::run::RunReport;
use crate::summary::RunStatus;

/// The namespace when `METRICS_NAMESPACE` is not set.
pub const DEFAULT_NAMESPACE: &str = "Ec2TierScheduler";

/// The dimensions of every metric.
pub const DIMENSIONS: [&str; 2] = ["Workload", "Action"];

/// Each metric and its CloudWatch unit. Counts add up over a run's
/// invocations (a continuation reports only what it did itself).
pub const METRICS: [(&str, &str); 15] = [
    ("InstancesActed", "Count"),
    ("InstancesSkipped", "Count"),
    ("InstancesBypassed", "Count"),
    ("InstancesFailed", "Count"),
    ("InstancesNotDone", "Count"),
    // This invocation's working time, not the waits between invocations.
    ("RunDuration", "Milliseconds"),
    ("GateWait", "Milliseconds"),
    // Throttled AWS responses seen, the SDK's own retries included.
    ("Throttles", "Count"),
    // 1 when this invocation handed over to a continuation.
    ("Continuations", "Count"),
    // Instances deregistered from their target groups before a Stop
    // (TierLoadBalancing Drain), and the time spent draining.
    ("TargetsDrained", "Count"),
    ("DrainWait", "Milliseconds"),
    // Alarms whose actions a Stop disabled, and a Start enabled again.
    ("AlarmsMuted", "Count"),
    ("AlarmsUnmuted", "Count"),
    // Events for the workload's bus (EventBusName) EventBridge refused or
    // that were not sent in time (never a run failure).
    ("EventsFailed", "Count"),
    // Databases a re-stop stopped again after RDS started them by itself.
    ("MembersRestopped", "Count"),
];

/// The metric of a delivery answered `duplicate` (nothing done): a line of
/// its own, so the run metrics' statistics stay those of runs. Ordinary
/// at-least-once redeliveries are expected: it is graphed, not alarmed on.
pub const DUPLICATE_METRIC: (&str, &str) = ("DuplicateDeliveries", "Count");

/// The metric of a continuation refused because it came after its
/// hand-over window or after a later run began (its run ends interrupted):
/// never expected, so graphed on the dashboard beside the alarms.
pub const LATE_CONTINUATION_METRIC: (&str, &str) = ("LateContinuations", "Count");

/// Failed instance ids carried in the line (a log field, not a metric).
const FAILED_IDS_KEPT: usize = 20;

/// `METRICS_NAMESPACE`, or [`DEFAULT_NAMESPACE`] when it is unset or not a
/// namespace CloudWatch accepts (1 to 255 characters, not `AWS/...`).
pub fn namespace_from_env() -> String {
    match std::env::var("METRICS_NAMESPACE") {
        Ok(ns) if valid_namespace(&ns) => ns,
        Ok(ns) if !ns.is_empty() => {
            tracing::warn!(namespace = %ns, "METRICS_NAMESPACE is not a valid CloudWatch namespace; using {DEFAULT_NAMESPACE}");
            DEFAULT_NAMESPACE.into()
        }
        _ => DEFAULT_NAMESPACE.into(),
    }
}

fn valid_namespace(ns: &str) -> bool {
    !ns.is_empty()
        && ns.len() <= 255
        && !ns.starts_with("AWS/")
        && ns.chars().all(|c| c.is_ascii_alphanumeric() || ".-_/#: ".contains(c))
}

/// The EMF line of a run (none for a dry run, which changes nothing):
/// `key` is its ledger key and `invocation` which invocation of it this
/// was; `throttles` is what this invocation saw; `timestamp_ms` is the
/// metrics' time, milliseconds since the epoch.
pub fn for_run(
    namespace: &str,
    report: &RunReport,
    key: Option<&str>,
    invocation: u32,
    throttles: u64,
    timestamp_ms: u64,
) -> Option<String> {
    let summary = &report.summary;
    if summary.dry_run {
        return None;
    }
    let values = run_values(report, throttles);
    let failed_ids: Vec<&str> = summary
        .tiers
        .iter()
        .flat_map(|t| &t.failed)
        .take(FAILED_IDS_KEPT)
        .map(|f| f.id.as_str())
        .collect();
    let mut line = Map::new();
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [DIMENSIONS, []],
                "Metrics": METRICS.iter().map(|(name, unit)| json!({"Name": name, "Unit": unit})).collect::<Vec<_>>(),
            }],
        }),
    );
    line.insert("Workload".into(), json!(summary.workload));
    line.insert("Action".into(), json!(summary.action.to_string()));
    for ((name, _), value) in METRICS.iter().zip(values) {
        line.insert((*name).into(), json!(value));
    }
    // Log fields for Logs Insights (the dashboard's failed runs).
    line.insert(
        "status".into(),
        serde_json::to_value(summary.status).unwrap_or(Value::Null),
    );
    line.insert("runKey".into(), json!(key));
    line.insert("invocation".into(), json!(invocation));
    if !failed_ids.is_empty() {
        line.insert("failedInstances".into(), json!(failed_ids));
    }
    Some(Value::Object(line).to_string())
}

/// The values of [`METRICS`] for a run, in order.
fn run_values(report: &RunReport, throttles: u64) -> [u64; 15] {
    let summary = &report.summary;
    let [acted, skipped, bypassed, failed, not_done] = summary.totals();
    let carried: usize = report
        .plan
        .groups
        .iter()
        .flat_map(|g| &g.tiers)
        .map(|t| t.carried_over())
        .sum();
    let gate_wait: u64 = summary
        .tiers
        .iter()
        .filter_map(|t| t.gate.as_ref())
        .map(|g| g.waited_ms)
        .sum();
    let drained = summary
        .tiers
        .iter()
        .flat_map(|t| &t.traffic)
        .filter(|n| n.reason.starts_with("deregistered"))
        .count() as u64;
    let drain_wait: u64 = summary
        .tiers
        .iter()
        .flat_map(|t| &t.phases)
        .filter(|p| p.kind == crate::summary::PhaseKind::Drain)
        .map(|p| p.duration_ms)
        .sum();
    let alarms = summary
        .alarms
        .iter()
        .filter(|a| !a.reason.starts_with("FAILED"))
        .count() as u64;
    let (muted, unmuted) = match summary.action {
        crate::action::Action::Stop => (alarms, 0),
        crate::action::Action::Start => (0, alarms),
    };
    [
        acted as u64,
        skipped.saturating_sub(carried) as u64,
        bypassed as u64,
        failed as u64,
        not_done as u64,
        summary.duration_ms,
        gate_wait,
        throttles,
        u64::from(summary.status == RunStatus::Continuing),
        drained,
        drain_wait,
        muted,
        unmuted,
        u64::from(summary.events_failed),
        restopped(summary),
    ]
}

/// 1 when the run was a re-stop that stopped its database again.
fn restopped(summary: &crate::summary::RunSummary) -> u64 {
    let Some(restop) = &summary.restop else {
        return 0;
    };
    let name = restop.member().to_string();
    u64::from(summary.tiers.iter().any(|t| t.acted.contains(&name)))
}

/// The EMF line of a delivery answered `duplicate`: [`DUPLICATE_METRIC`]
/// 1 under the workload and action of `response` (the duplicate
/// response), and its `runKey`. `None` when the response names no workload.
pub fn for_duplicate(namespace: &str, response: &Value, timestamp_ms: u64) -> Option<String> {
    delivery_line(namespace, DUPLICATE_METRIC, response, timestamp_ms).map(|line| line.to_string())
}

/// The EMF line of a refused continuation: [`LATE_CONTINUATION_METRIC`] 1
/// under the workload and action of `response` (the `interrupted`
/// response), with its `runKey` and why (`refused`).
pub fn for_late_continuation(namespace: &str, response: &Value, timestamp_ms: u64) -> Option<String> {
    let mut line = delivery_line(namespace, LATE_CONTINUATION_METRIC, response, timestamp_ms)?;
    line["refused"] = response["refused"].clone();
    Some(line.to_string())
}

/// One count of `metric` for a delivery that did nothing, under the
/// workload and action its response names.
fn delivery_line(namespace: &str, (name, unit): (&str, &str), response: &Value, timestamp_ms: u64) -> Option<Value> {
    let line = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [DIMENSIONS, []],
                "Metrics": [{"Name": name, "Unit": unit}],
            }],
        },
        "Workload": response.get("workload")?.as_str()?,
        "Action": response.get("action")?.as_str()?,
        name: 1,
        "status": response.get("status")?.as_str()?,
        "runKey": response.get("runKey"),
    });
    Some(line)
}

/// The metric of a Start's saving since the Stop: USD at on-demand list
/// prices from the cache ([`crate::summary::Saved`]), a line of its own
/// (an amount, not a count) by Workload and with no dimension, so the
/// dashboard sums a month of Starts.
pub const SAVINGS_METRIC: (&str, &str) = ("EstimatedSavings", "None");

/// The EMF line of a Start that says what it saved ([`SAVINGS_METRIC`]);
/// none for any other run.
pub fn for_savings(namespace: &str, report: &RunReport, timestamp_ms: u64) -> Option<String> {
    let summary = &report.summary;
    let saved = summary.saved.as_ref().filter(|_| !summary.dry_run)?;
    let (name, unit) = SAVINGS_METRIC;
    let line = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [["Workload"], []],
                "Metrics": [{"Name": name, "Unit": unit}],
            }],
        },
        "Workload": summary.workload,
        "Action": summary.action.to_string(),
        name: saved.usd_cents as f64 / 100.0,
        "membersUnpriced": saved.unpriced,
    });
    Some(line.to_string())
}

/// The dimensions of the per-kind member metrics.
pub const MEMBER_DIMENSIONS: [&str; 3] = ["Workload", "Action", "Kind"];

/// The per-kind member metrics, all counts.
pub const MEMBER_METRICS: [&str; 3] = ["MembersActed", "MembersFailed", "MembersNotDone"];

/// One EMF line per member kind the run's plan holds (none for a dry
/// run): what this invocation acted on, failed and left not done of that
/// kind.
pub fn for_members(namespace: &str, report: &RunReport, timestamp_ms: u64) -> Vec<String> {
    let summary = &report.summary;
    if summary.dry_run {
        return Vec::new();
    }
    // Each member's kind is the plan's: an id of the outcome the plan
    // holds no member under is an instance's.
    let kinds_of: HashMap<&str, MemberKind> = report.plan.members().map(|m| (m.member.as_str(), m.kind)).collect();
    let kind_of = |id: &str| kinds_of.get(id).copied().unwrap_or(MemberKind::Ec2);
    let mut kinds: Vec<MemberKind> = report.plan.members().map(|m| m.kind).collect();
    if report.plan.instances().next().is_some() {
        kinds.push(MemberKind::Ec2);
    }
    kinds.sort();
    kinds.dedup();
    let count = |ids: &mut dyn Iterator<Item = &String>, kind| ids.filter(|id| kind_of(id) == kind).count();
    kinds
        .into_iter()
        .map(|kind| {
            let tiers = &summary.tiers;
            let values = [
                count(&mut tiers.iter().flat_map(|t| &t.acted), kind),
                count(&mut tiers.iter().flat_map(|t| t.failed.iter().map(|f| &f.id)), kind),
                count(&mut tiers.iter().flat_map(|t| t.not_done.iter().map(|n| &n.id)), kind),
            ];
            let mut line = json!({
                "_aws": {
                    "Timestamp": timestamp_ms,
                    "CloudWatchMetrics": [{
                        "Namespace": namespace,
                        "Dimensions": [MEMBER_DIMENSIONS],
                        "Metrics": MEMBER_METRICS.iter().map(|name| json!({"Name": name, "Unit": "Count"})).collect::<Vec<_>>(),
                    }],
                },
                "Workload": summary.workload,
                "Action": summary.action.to_string(),
                "Kind": kind.name(),
            });
            for (name, value) in MEMBER_METRICS.iter().zip(values) {
                line[*name] = json!(value);
            }
            line.to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::Action;
    use crate::config::{ItemNaming, WorkloadConfig};
    use crate::instance::{Instance, InstanceState};
    use crate::member::{Member, Phase};
    use crate::summary::{Failure, Noted, RunSummary, TierOutcome};

    /// A Stop of one tier holding two instances, a database, an Aurora
    /// cluster, a service and a group scaled to zero.
    fn report() -> RunReport {
        let workload = serde_json::json!({
            "SpecName": "W", "WorkloadFilterTagName": "Environment", "WorkloadFilterTagValue": "ENV001",
            "WorkloadRegion": "us-west-2", "TierFilterTagName": "Role"
        });
        let tier = serde_json::json!({"SpecName": "W", "TierTagValue": "Web",
            "TierResourceTypes": "EC2,RDS,Aurora,ECS",
            "TierStop": {"TierSequence": "0", "TierAutoScalingGroups": "ScaleToZero"},
            "TierStart": {"TierSequence": "0"}});
        let config = WorkloadConfig::from_items("W", &workload, &[tier], ItemNaming::Table).unwrap();
        let instances: Vec<Instance> = ["i-1", "i-2"]
            .iter()
            .map(|id| Instance::new(id, "Web", InstanceState::Running, "t3.small"))
            .collect();
        let mut plan = crate::plan::build(&config, &instances, Action::Stop, None, 0);
        let up = |kind, id: &str, status: &str| Member::new(kind, id, status, Phase::Up, "Web");
        let members = [
            up(MemberKind::Rds, "db-1", "available"),
            up(MemberKind::Aurora, "orders", "available"),
            up(MemberKind::Ecs, "prod/api", "desired 2, 2 running"),
            up(MemberKind::Asg, "web", "desired 2, 2 InService"),
        ];
        plan.add_members(&config, &members, 0);
        let mut out = TierOutcome::new("Web", 0, false);
        out.acted = ["i-1", "rds:db-1", "asg:web"].map(String::from).to_vec();
        let failed = |id: &str| Failure {
            id: id.into(),
            reason: "refused".into(),
            code: None,
        };
        out.failed = vec![failed("i-2"), failed("aurora:orders")];
        out.not_done = vec![Noted {
            id: "ecs:prod/api".into(),
            reason: "time ran out before its turn".into(),
        }];
        let mut summary = RunSummary::for_plan(&plan, false, RunStatus::CompletedWithFailures, "");
        summary.tiers.push(out);
        RunReport::ended(summary, plan)
    }

    #[test]
    fn a_start_that_says_what_it_saved_emits_estimated_savings() {
        let mut r = report();
        assert_eq!(for_savings("N", &r, 7), None, "no saving said: no line");
        r.summary.saved = Some(crate::summary::Saved {
            usd_cents: 1234,
            members: 3,
            unpriced: 1,
        });
        let line: Value = serde_json::from_str(&for_savings("N", &r, 7).unwrap()).unwrap();
        assert_eq!(line["EstimatedSavings"], 12.34);
        assert_eq!(line["membersUnpriced"], 1);
        let metrics = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(metrics["Metrics"][0]["Name"], "EstimatedSavings");
        assert_eq!(metrics["Dimensions"], serde_json::json!([["Workload"], []]));
        assert_eq!(line["Workload"], "W");
        r.summary.dry_run = true;
        assert_eq!(for_savings("N", &r, 7), None);
    }

    #[test]
    fn one_members_line_per_kind_of_the_plan() {
        let lines: Vec<Value> = for_members("N", &report(), 7)
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let by_kind: Vec<(&str, u64, u64, u64)> = lines
            .iter()
            .map(|l| {
                let n = |name: &str| l[name].as_u64().unwrap();
                let kind = l["Kind"].as_str().unwrap();
                (kind, n("MembersActed"), n("MembersFailed"), n("MembersNotDone"))
            })
            .collect();
        assert_eq!(
            by_kind,
            [
                ("EC2", 1, 1, 0),
                ("RDS", 1, 0, 0),
                ("Aurora", 0, 1, 0),
                ("ECS", 0, 0, 1),
                ("ASG", 1, 0, 0)
            ]
        );
        for line in &lines {
            assert_eq!(line["Workload"], "W");
            assert_eq!(line["Action"], "Stop");
            assert_eq!(line["_aws"]["Timestamp"], 7);
            assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], "N");
            assert_eq!(
                line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
                serde_json::json!([MEMBER_DIMENSIONS])
            );
        }
    }

    #[test]
    fn namespaces_cloudwatch_refuses_fall_back() {
        assert!(valid_namespace("Ec2TierScheduler"));
        assert!(valid_namespace("Team/ops-scheduler"));
        assert!(!valid_namespace("AWS/EC2"));
        assert!(!valid_namespace(""));
        assert!(!valid_namespace("bad\"quote"));
    }
}
