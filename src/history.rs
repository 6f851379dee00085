//! Run history: what each invocation of a run did, kept in the run's ledger
//! record, and the `runs list` / `runs show` views of it.
//!
//! The record's summary is the last invocation's only; a run that continued
//! in later invocations would lose its earlier tiers. So every invocation
//! appends an [`InvocationTrace`]: counts and timings, no instance lists
//! (24 of them must fit in one DynamoDB item next to the summary).

use serde::Serialize;
use serde_json::Value;

use crate::clock;
use crate::ledger::{key_digest, InvocationTrace, LedgerStatus, RunRecord, TierTrace};
use crate::summary::PhaseKind;

/// A run's instance counts over all its invocations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// Acted on, in any invocation.
    pub acted: usize,
    /// Left alone.
    pub skipped: usize,
    /// Kept by an override.
    pub bypassed: usize,
    /// Failed.
    pub failed: usize,
    /// Not reached by the last invocation (earlier ones' are retried).
    pub not_done: usize,
}

/// The counts of a run: summed over its invocations, or read from the
/// summary of a record written before traces were kept.
pub fn counts(record: &RunRecord) -> Counts {
    if let Some(last) = record.history.last() {
        let mut c = Counts::default();
        for t in record.history.iter().flat_map(|i| &i.tiers) {
            c.acted += t.acted;
            c.skipped += t.skipped;
            c.bypassed += t.bypassed;
            c.failed += t.failed;
        }
        c.not_done = last.tiers.iter().map(|t| t.not_done).sum();
        return c;
    }
    let mut c = Counts::default();
    let tiers = record.summary.as_ref().and_then(|s| s["tiers"].as_array());
    for t in tiers.into_iter().flatten() {
        let n = |k: &str| t[k].as_array().map_or(0, Vec::len);
        c.acted += n("acted");
        c.skipped += n("skipped");
        c.bypassed += n("bypassed");
        c.failed += n("failed");
        c.not_done += n("notDone");
    }
    c
}

/// The short id `runs list` prints and `runs show` accepts: eight hex
/// digits of the key's digest.
pub fn short_id(key: &str) -> String {
    key_digest(key)[..8].to_string()
}

/// Where the run stands, in one word: its outcome once finished,
/// `continuing` while a continuation is scheduled, else `inProgress`.
pub fn status(record: &RunRecord) -> String {
    match record.status {
        LedgerStatus::Finished => record.outcome.clone().unwrap_or_else(|| "finished".into()),
        LedgerStatus::Refused => "refused".into(),
        LedgerStatus::Interrupted => "interrupted".into(),
        // A later run began: its continuation will be refused.
        LedgerStatus::InProgress if record.superseded_by.is_some() => "interrupted".into(),
        LedgerStatus::InProgress if record.continuation_token.is_some() => "continuing".into(),
        LedgerStatus::InProgress => "inProgress".into(),
    }
}

/// Wall time from the first invocation's start to the last one's end,
/// waits between invocations included; `None` while the run goes on.
pub fn took_ms(record: &RunRecord) -> Option<u64> {
    if record.status == LedgerStatus::InProgress {
        return None;
    }
    match (record.history.first(), record.history.last()) {
        (Some(first), Some(last)) => Some(last.ended_at_ms().saturating_sub(first.started_at_ms)),
        _ => Some(record.updated_at.saturating_sub(record.started_at) * 1000),
    }
}

/// `schedule <group>/<name>` for a schedule ARN, the rest as recorded.
pub fn requester(record: &RunRecord) -> String {
    let by = record.requested_by.clone().unwrap_or_else(|| "-".into());
    match by.split_once(":schedule/") {
        Some((head, tail)) if head.starts_with("schedule arn:") => format!("schedule {tail}"),
        _ => by,
    }
}

/// The key with a schedule ARN shortened to its group and name.
pub fn display_key(key: &str) -> String {
    key.split('|')
        .map(|part| match part.split_once(":schedule/") {
            Some((head, tail)) if head.starts_with("arn:") => tail.to_string(),
            _ => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join("|")
}

/// `12.3s`, `2m05s`, `1h02m`.
pub fn show_ms(ms: u64) -> String {
    let secs = ms / 1000;
    if secs < 60 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else if secs < 3600 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{}h{:02}m", secs / 3600, secs % 3600 / 60)
    }
}

/// One line of `runs list --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRow {
    /// [`short_id`].
    pub id: String,
    /// The idempotency key.
    pub key: String,
    /// The workload.
    pub workload: String,
    /// Stop or Start.
    pub action: String,
    /// [`status`].
    pub status: String,
    /// Seconds since the epoch.
    pub started_at: u64,
    /// [`took_ms`].
    pub took_ms: Option<u64>,
    /// [`counts`].
    pub counts: Counts,
    /// Invocations used.
    pub invocations: u32,
    /// Who asked for it.
    pub requested_by: Option<String>,
    /// The maintenance window it was for, if any: why the workload ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maintenance_window: Option<crate::window::WindowRun>,
}

impl RunRow {
    /// The row of a record.
    pub fn of(record: &RunRecord) -> Self {
        Self {
            id: short_id(&record.key),
            key: record.key.clone(),
            workload: record.workload.clone(),
            action: record.action.to_string(),
            status: status(record),
            started_at: record.started_at,
            took_ms: took_ms(record),
            counts: counts(record),
            invocations: record.invocations,
            requested_by: record.requested_by.clone(),
            maintenance_window: record.maintenance_window.clone(),
        }
    }
}

/// The `runs list` table, newest first as given.
pub fn list_table(records: &[RunRecord]) -> String {
    let mut rows = vec![[
        "RUN",
        "STARTED (UTC)",
        "WORKLOAD",
        "ACTION",
        "STATUS",
        "TOOK",
        "ACTED/FAILED/BYPASSED",
        "INVOCATIONS",
        "BY",
        "KEY",
    ]
    .map(String::from)
    .to_vec()];
    for r in records {
        let c = counts(r);
        rows.push(vec![
            short_id(&r.key),
            clock::show_utc(r.started_at),
            r.workload.clone(),
            r.action.to_string(),
            status(r),
            took_ms(r).map_or_else(|| "-".into(), show_ms),
            format!("{}/{}/{}", c.acted, c.failed, c.bypassed),
            r.invocations.to_string(),
            requester(r),
            display_key(&r.key),
        ]);
    }
    crate::table::render(&rows)
}

/// A step's name in the STEPS column of `runs show`.
fn phase_name(kind: PhaseKind) -> &'static str {
    match kind {
        PhaseKind::Settle => "settle",
        PhaseKind::OverrideCheck => "override check",
        PhaseKind::Scale => "scale",
        PhaseKind::AutoScaling => "auto scaling",
        PhaseKind::Act => "act",
        PhaseKind::Confirm => "confirm",
        PhaseKind::Gate => "gate",
        PhaseKind::Members => "other members",
        PhaseKind::Drain => "drain",
        PhaseKind::Register => "register targets",
    }
}

/// What `runs show` prints: the run, then each invocation's tiers with
/// their steps and delays, then what went wrong per instance.
pub fn show_text(record: &RunRecord) -> String {
    let mut out = run_heading(record);
    for trace in &record.history {
        out.push_str(&invocation_text(trace));
    }
    out.push_str(&last_invocation_notes(record.summary.as_ref()));
    out
}

/// The run's id, key, action, status and message; who asked, when, how
/// long it took.
fn run_heading(record: &RunRecord) -> String {
    let message = record
        .summary
        .as_ref()
        .and_then(|s| s["message"].as_str().or_else(|| s["error"].as_str()))
        .unwrap_or("-");
    let mut out = format!(
        "Run {}  {}\n{} {}: {} - {message}\n",
        short_id(&record.key),
        record.key,
        record.action,
        record.workload,
        status(record)
    );
    out.push_str(&format!(
        "requested by {}; started {} UTC; took {}; {} invocation(s){}\n",
        record.requested_by.as_deref().unwrap_or("-"),
        clock::show_utc(record.started_at),
        took_ms(record).map_or_else(|| "(still running)".into(), show_ms),
        record.invocations,
        record
            .scaling_profile
            .as_ref()
            .map(|p| format!("; scaling profile {p}"))
            .unwrap_or_default()
    ));
    if let Some(window) = &record.maintenance_window {
        out.push_str(&format!("for {}\n", window.describe()));
    }
    if let Some(later) = &record.superseded_by {
        out.push_str(&format!(
            "superseded by run {} ({later}), a later run of the workload: this run's claim to continue ended\n",
            short_id(later)
        ));
    }
    out
}

/// One invocation: its heading, then (when it reached any tier) its tiers,
/// its delays and its failures.
fn invocation_text(trace: &InvocationTrace) -> String {
    let mut out = format!(
        "\nInvocation {}, {} UTC, {}: {}\n",
        trace.invocation,
        clock::show_utc(trace.started_at_ms / 1000),
        show_ms(trace.duration_ms),
        trace.status
    );
    if trace.tiers.is_empty() {
        return out;
    }
    out.push_str(&tier_table(&trace.tiers));
    out.push_str(&delay_lines(trace));
    out.push_str(&failure_lines(&trace.tiers));
    out
}

/// The table of an invocation's tiers: counts, timings and steps.
fn tier_table(tiers: &[TierTrace]) -> String {
    let mut rows = vec![[
        "TIER", "SEQ", "MODE", "START", "TOOK", "ACTED", "SKIPPED", "BYPASSED", "FAILED", "NOT DONE", "STEPS",
    ]
    .map(String::from)
    .to_vec()];
    rows.extend(tiers.iter().map(tier_row));
    crate::table::render(&rows)
}

/// One tier's row of [`tier_table`].
fn tier_row(t: &TierTrace) -> Vec<String> {
    let several = t
        .phases
        .iter()
        .filter_map(|p| p.member_kind)
        .collect::<std::collections::BTreeSet<_>>()
        .len()
        > 1;
    let steps: Vec<String> = t
        .phases
        .iter()
        .map(|p| match p.member_kind.filter(|_| several) {
            Some(kind) => format!("{kind} {} {}", phase_name(p.kind), show_ms(p.duration_ms)),
            None => format!("{} {}", phase_name(p.kind), show_ms(p.duration_ms)),
        })
        .collect();
    vec![
        t.tier.clone(),
        t.sequence.to_string(),
        if t.synchronous { "sync" } else { "async" }.into(),
        format!("+{}", show_ms(t.started_at_ms)),
        show_ms(t.duration_ms),
        t.acted.to_string(),
        t.skipped.to_string(),
        t.bypassed.to_string(),
        t.failed.to_string(),
        t.not_done.to_string(),
        if steps.is_empty() { "-".into() } else { steps.join(", ") },
    ]
}

/// The delays an invocation waited, and the one it left to its
/// continuation.
fn delay_lines(trace: &InvocationTrace) -> String {
    let mut out = String::new();
    for d in &trace.delays {
        out.push_str(&format!(
            "  delay {} after sequence {} (at +{})\n",
            show_ms(d.duration_ms),
            d.after_sequence,
            show_ms(d.started_at_ms)
        ));
    }
    if let Some(secs) = trace.resume_after_secs.filter(|s| *s > 0) {
        out.push_str(&format!(
            "  then {secs}s of InterTierOrchestrationDelay waited outside the function (continuation)\n"
        ));
    }
    out
}

/// The failures kept per tier, and how many more there were.
fn failure_lines(tiers: &[TierTrace]) -> String {
    let mut out = String::new();
    for t in tiers {
        for f in &t.failures {
            out.push_str(&format!("  {} {}: FAILED, {}\n", t.tier, f.id, f.reason));
        }
        if t.failed > t.failures.len() {
            out.push_str(&format!(
                "  {} ... and {} more failed\n",
                t.tier,
                t.failed - t.failures.len()
            ));
        }
    }
    out
}

/// Bypassed and not-done instances with their reasons, from the stored
/// summary (the last invocation's).
fn last_invocation_notes(summary: Option<&Value>) -> String {
    let mut out = String::new();
    let tiers = summary.and_then(|s| s["tiers"].as_array());
    for t in tiers.into_iter().flatten() {
        let tier = t["tier"].as_str().unwrap_or("?");
        for (key, label) in [("bypassed", "BYPASSED"), ("notDone", "NOT DONE")] {
            for n in t[key].as_array().into_iter().flatten() {
                out.push_str(&format!(
                    "  {tier} {}: {label}, {}\n",
                    n["id"].as_str().unwrap_or("?"),
                    n["reason"].as_str().unwrap_or("")
                ));
            }
        }
    }
    if !out.is_empty() {
        out.insert_str(0, "\nLast invocation:\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_requesters_are_shortened_for_the_table() {
        let key = "schedule|W|arn:aws:scheduler:us-west-2:123456789012:schedule/ops/w-stop|2026-11-25T19:00:00Z|Stop";
        assert_eq!(display_key(key), "schedule|W|ops/w-stop|2026-11-25T19:00:00Z|Stop");
        assert_eq!(display_key("run|W|nightly"), "run|W|nightly");
        assert_eq!(short_id(key).len(), 8);
        assert_ne!(short_id(key), short_id("run|W|nightly"));
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(show_ms(2_140), "2.1s");
        assert_eq!(show_ms(125_000), "2m05s");
        assert_eq!(show_ms(3_720_000), "1h02m");
    }
}
