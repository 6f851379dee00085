//! The run ledger: one record per run, keyed on an idempotency key, and one
//! lock per workload. It makes runs trustworthy under at-least-once
//! delivery: a second delivery of a run that is in progress or done does
//! nothing, two runs of one workload never overlap, and a run cut short by
//! its deadline resumes from its checkpoint in a fresh invocation.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

mod trace;

pub use trace::{InvocationTrace, TierTrace, FAILURES_KEPT};

use crate::action::Action;
use crate::clock;
use crate::error::CloudError;
use crate::plan::Checkpoint;

/// How long run records are kept (DynamoDB TTL).
pub const RECORD_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// Most invocations one run may use, so a run that never finishes cannot
/// continue for ever.
pub const MAX_INVOCATIONS: u32 = 24;
/// A continuation's hand-over window, seconds after its due time: the
/// workload lock is held for the run until then, and a continuation is
/// honoured only until then. One that arrives later (a throttled or failing
/// function, a deployment, EventBridge Scheduler's retries) is refused with
/// nothing done and the run ends [interrupted](LedgerStatus::Interrupted):
/// after the window another run of the workload may have begun, and a late
/// Stop must never undo the morning's Start. The continuation schedules'
/// RetryPolicy keeps their retries inside it.
pub const HANDOVER_WINDOW_SECS: u64 = 960;

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LedgerStatus {
    /// Running, or waiting for its continuation.
    InProgress,
    /// Finished; see the summary.
    Finished,
    /// Refused before any action (bad config, precondition).
    Refused,
    /// Ended before its last tier: its continuation came after the
    /// hand-over window, or after a later run of the workload began, and was
    /// refused. The summary lists what it never reached as not done.
    Interrupted,
}

/// One run in the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    /// The idempotency key.
    pub key: String,
    /// The workload.
    pub workload: String,
    /// Stop or Start.
    pub action: Action,
    /// The scaling profile asked for.
    pub scaling_profile: Option<String>,
    /// The configuration tables' region.
    pub dynamodb_region: String,
    /// The run skips the WorkloadState check (`overrideState`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub override_state: bool,
    /// Where the run's notification goes (the scheduler's region).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_region: Option<String>,
    /// Where the run stands.
    pub status: LedgerStatus,
    /// The run summary's status once finished (e.g. `completed`).
    pub outcome: Option<String>,
    /// Seconds since the epoch.
    pub started_at: u64,
    /// Seconds since the epoch of the last write.
    pub updated_at: u64,
    /// Invocations used so far.
    pub invocations: u32,
    /// Where the next invocation resumes.
    pub checkpoint: Option<Checkpoint>,
    /// The last summary (per-tier progress and per-instance outcomes).
    pub summary: Option<Value>,
    /// DynamoDB TTL, seconds since the epoch.
    pub expires_at: u64,
    /// The token the next continuation must present (the fence): random,
    /// replaced when claimed, so exactly one delivery of a continuation
    /// resumes the run and nobody can resume it by guessing the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
    /// When the continuation waiting for the token is due (seconds since
    /// the epoch): one that arrives earlier waits or is rescheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_at: Option<u64>,
    /// Tokens already claimed, to tell a repeated delivery from a forged one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spent_tokens: Vec<String>,
    /// Who asked for the run: the schedule, the event, or `user@host` for
    /// the CLI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    /// Each invocation's timings and counts, oldest first: the run history
    /// and the timeline (the summary holds only the last invocation's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<InvocationTrace>,
    /// The run of the same workload that began after this one and ended its
    /// claim to continue (an interrupted run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
    /// A re-stop's database (see [`crate::run::RunRequest::restop`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restop: Option<crate::member::Restop>,
    /// A maintenance window's run (see [`crate::run::RunRequest::maintenance_window`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_window: Option<crate::window::WindowRun>,
    /// The window schedules a Stop left (their names), to delete those of
    /// a window removed or moved at the next Stop; `None`: none arranged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_schedules: Option<Vec<String>>,
}

impl RunRecord {
    /// A new in-progress record of a run of `workload`.
    pub fn new(key: String, request: &crate::run::RunRequest, requested_by: String, now: u64) -> Self {
        Self {
            key,
            workload: request.workload.clone(),
            action: request.action,
            scaling_profile: request.scaling_profile.clone(),
            dynamodb_region: request.dynamodb_region.clone(),
            override_state: request.override_state,
            notify_region: request.notify_region.clone(),
            status: LedgerStatus::InProgress,
            outcome: None,
            started_at: now,
            updated_at: now,
            invocations: 0,
            checkpoint: None,
            summary: None,
            expires_at: now + RECORD_TTL.as_secs(),
            continuation_token: None,
            resume_at: None,
            spent_tokens: Vec::new(),
            requested_by: Some(requested_by),
            history: Vec::new(),
            superseded_by: None,
            restop: request.restop.clone(),
            maintenance_window: request.maintenance_window.clone(),
            window_schedules: None,
        }
    }

    /// The request the run began with: what every invocation of the run
    /// carries out, whatever a continuation's payload says.
    pub fn request(&self) -> crate::run::RunRequest {
        crate::run::RunRequest {
            workload: self.workload.clone(),
            action: self.action,
            scaling_profile: self.scaling_profile.clone(),
            dry_run: false,
            dynamodb_region: self.dynamodb_region.clone(),
            override_state: self.override_state,
            notify_region: self.notify_region.clone(),
            run_key: Some(self.key.clone()),
            restop: self.restop.clone(),
            maintenance_window: self.maintenance_window.clone(),
            invocation: self.invocations.max(1),
        }
    }

    /// Whether a new delivery may claim this record's key: the run was
    /// refused at its first invocation, so nothing was ever done under it
    /// (a refusal must never turn a later delivery into a duplicate).
    pub fn reclaimable(&self) -> bool {
        self.status == LedgerStatus::Refused && self.invocations <= 1
    }

    /// Marks the run finished with the report's outcome.
    pub fn finish(&mut self, report: &crate::run::RunReport) {
        self.status = LedgerStatus::Finished;
        self.outcome = serde_json::to_value(report.summary.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string));
        self.summary = serde_json::to_value(&report.summary).ok();
        self.checkpoint = report.checkpoint.clone();
        self.continuation_token = None;
        self.resume_at = None;
        self.updated_at = clock::now();
    }

    /// Ends the run as [interrupted](LedgerStatus::Interrupted) because
    /// `why` (its continuation was refused), `superseded_by` the later run of
    /// the workload when there is one: the fence is dropped, and what the
    /// last summary lists as not done stays not done, with `why` beside it.
    pub fn interrupt(&mut self, why: &str, superseded_by: Option<String>, now: u64) {
        self.status = LedgerStatus::Interrupted;
        self.outcome = Some("interrupted".into());
        self.continuation_token = None;
        self.resume_at = None;
        self.superseded_by = superseded_by;
        self.updated_at = now;
        let summary = self.summary.get_or_insert_with(|| serde_json::json!({}));
        if let Some(summary) = summary.as_object_mut() {
            summary.insert("status".into(), "interrupted".into());
            summary.insert("message".into(), format!("{why}; the run ends as interrupted").into());
        }
        let tiers = summary.get_mut("tiers").and_then(Value::as_array_mut);
        for noted in tiers
            .into_iter()
            .flatten()
            .filter_map(|t| t.get_mut("notDone").and_then(Value::as_array_mut))
            .flatten()
        {
            let reason = noted["reason"].as_str().unwrap_or_default();
            noted["reason"] = format!("{reason}; never done: {why}").into();
        }
    }
}

/// What became of a continuation's claim ([`Ledger::resume`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resumed {
    /// The continuation is ours: the record written, the lock extended.
    Claimed,
    /// Another delivery claimed it first (the fence moved): a duplicate.
    Taken,
    /// The workload lock is not this run's (absent, expired, or another
    /// run's): nothing was written, and the run may not continue.
    NotOurs,
}

/// The result of claiming a run.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// The run is ours; the workload lock is held.
    Claimed,
    /// This key was seen before: a duplicate delivery.
    Duplicate(Box<RunRecord>),
    /// Another run of the workload holds the lock.
    Busy {
        /// The key of the run holding it.
        holder: String,
        /// Until when (seconds since the epoch) unless released.
        until: u64,
    },
}

/// Storage for run records and workload locks.
#[async_trait]
pub trait Ledger: Send + Sync {
    /// Creates the record and takes the workload lock until `lock_until`,
    /// both or neither. An expired lock (a crashed run) may be taken over,
    /// and a [reclaimable](RunRecord::reclaimable) record replaced; any other
    /// record under the key makes the claim a [`Claim::Duplicate`].
    async fn claim(&self, record: &RunRecord, lock_until: u64, now: u64) -> Result<Claim, CloudError>;
    /// Reads a record.
    async fn load(&self, key: &str) -> Result<Option<RunRecord>, CloudError>;
    /// Writes the record and extends the lock to `lock_until`, or releases it
    /// (`None`). Fails when the lock is no longer this run's.
    async fn save(&self, record: &RunRecord, lock_until: Option<u64>) -> Result<(), CloudError>;
    /// Claims a continuation: writes `record` (whose token no longer is
    /// `presented`) and extends the lock to `lock_until`, only if the stored
    /// record's token is `presented` and the lock is this run's and still
    /// held at `now` (an absent lock is not ours: a later run took and
    /// released it); both or neither.
    async fn resume(
        &self,
        record: &RunRecord,
        presented: &str,
        now: u64,
        lock_until: u64,
    ) -> Result<Resumed, CloudError>;
    /// Writes `record` (an [interrupted](RunRecord::interrupt) run) only if
    /// the stored record's token is still `presented`; the lock is not
    /// touched (it may be another run's). `Ok(false)`: the fence moved.
    async fn interrupt(&self, record: &RunRecord, presented: &str) -> Result<bool, CloudError>;
    /// Runs that started at or after `since` (seconds since the epoch), of
    /// `workload` or of every workload, newest first, at most `limit`.
    async fn runs(&self, workload: Option<&str>, since: u64, limit: usize) -> Result<Vec<RunRecord>, CloudError>;
}

/// The earliest of `runs` (newest first, as [`Ledger::runs`] gives them)
/// that is not `record` and began no earlier than it: the lock was the
/// run's from its claim until its continuation, so a run that began in the
/// same second began after it.
pub fn first_later(record: &RunRecord, runs: &[RunRecord]) -> Option<String> {
    runs.iter()
        .rev()
        .find(|r| r.key != record.key && r.workload == record.workload && r.started_at >= record.started_at)
        .map(|r| r.key.clone())
}

/// How many runs of the workload are read to find the one that superseded
/// a run: the first after it among the newest.
const LATER_RUNS_READ: usize = 50;

/// The first run of `record`'s workload that began after it ([`first_later`]
/// over the newest runs), if the ledger can tell: a read failure is logged
/// and answers `None` (the run service's refusal and `runs show` stand
/// without it).
pub async fn later_run(ledger: &dyn Ledger, record: &RunRecord) -> Option<String> {
    match ledger
        .runs(Some(&record.workload), record.started_at, LATER_RUNS_READ)
        .await
    {
        Ok(runs) => first_later(record, &runs),
        Err(e) => {
            tracing::warn!(error = %e, key = %record.key, "the runs after this one could not be read");
            None
        }
    }
}

/// A fresh random token (128 bits, hex) from the operating system's source
/// (`getrandom`). No fallback: without randomness a continuation could be
/// forged, so the run is not continued.
pub fn random_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    Ok(hex(&bytes))
}

pub use crate::key::key;

/// The key of the run a delivery asks for: the delivery's identity (a
/// [`key`]: the schedule and its time, the event, or the run id) followed
/// by what else decides the run, so a delivery asking for anything else
/// is another run and can never take, or refuse, this one:
/// `region=<r>` when the tables' region is not the scheduler's own (the
/// plain request keeps the plain key), `profile=<p>` and `overrideState`
/// when asked for. Each part is encoded like every key part, and each
/// added part is labelled, so no identity can end in another's parts.
pub fn run_key(identity: &str, request: &crate::run::RunRequest) -> String {
    let mut parts = Vec::new();
    if request.notify_region.as_deref() != Some(request.dynamodb_region.as_str()) {
        parts.push(format!("region={}", request.dynamodb_region));
    }
    if let Some(profile) = &request.scaling_profile {
        parts.push(format!("profile={profile}"));
    }
    if request.override_state {
        parts.push("overrideState".to_string());
    }
    if let Some(r) = &request.restop {
        parts.push(format!("restop={}", r.member()));
    }
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let suffix = key("", &parts);
    format!("{identity}{suffix}")
}

/// The key of a run a caller named with a run id (`run|<workload>|<id>`):
/// callers naming the same id make one run between them.
pub fn run_id_key(workload: &str, run_id: &str) -> String {
    key("run", &[workload, run_id])
}

/// A fresh key for a run no delivery names: a random UUID (v4) under the
/// workload, so two runs on two hosts in the same instant still differ.
pub fn fresh_key(workload: &str) -> String {
    key("once", &[workload, &uuid::Uuid::new_v4().to_string()])
}

/// The EventBridge Scheduler name of a run's `n`-th continuation:
/// `ec2ts-` and the first 160 bits of the key's SHA-256 in hex, then `-n`
/// (at most 57 characters, under Scheduler's 64). A chosen run id cannot
/// collide with another run's key to take its schedule name.
pub fn continuation_name(key: &str, n: u32) -> String {
    format!("ec2ts-{}-{n}", key_digest(key))
}

/// The EventBridge Scheduler name of the re-check of `member` of
/// `workload` ([`crate::member::Restop`]): `ec2ts-rc-` and 160 bits of a
/// digest of both, the same at every Stop (a Start deletes it by name).
pub fn recheck_name(workload: &str, member: &crate::member::MemberId) -> String {
    format!(
        "ec2ts-rc-{}",
        key_digest(&key("recheck", &[workload, &member.to_string()]))
    )
}

/// The EventBridge Scheduler name of one end of a maintenance window's
/// execution for `workload`: `ec2ts-mw-` and 160 bits of a digest of the
/// workload, the window, the execution and the end, so making it again is
/// harmless and a Stop deletes the names a window no longer has.
pub fn window_schedule_name(workload: &str, window: &crate::window::WindowRun) -> String {
    let execution = window.execution.to_string();
    let parts = [
        workload,
        window.id.as_str(),
        execution.as_str(),
        &window.edge.to_string(),
    ];
    format!("ec2ts-mw-{}", key_digest(&key("window", &parts)))
}

/// The first 160 bits of the SHA-256 of a run key, in hex (40 characters):
/// stable, name-safe, and not reversible into a chosen key.
pub fn key_digest(key: &str) -> String {
    use sha2::{Digest, Sha256};
    hex(&Sha256::digest(key.as_bytes())[..20])
}

/// Lower-case hex of bytes (a one-liner; no crate needed for it).
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Starts a later invocation of the function with a payload.
#[async_trait]
pub trait Continuation: Send + Sync {
    /// Schedules `payload` for `at` (seconds since the epoch) under `name`.
    async fn schedule(&self, name: &str, payload: &Value, at: u64) -> Result<(), CloudError>;
    /// Deletes the schedule `name`; one that does not exist is no error.
    async fn cancel(&self, name: &str) -> Result<(), CloudError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_hex() {
        let (a, b) = (random_token().unwrap(), random_token().unwrap());
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn continuation_names_fit_scheduler_and_differ_per_key() {
        let name = continuation_name("run|w|x", 24);
        assert_eq!(name, continuation_name("run|w|x", 24));
        assert_ne!(name, continuation_name("run|w|y", 24));
        assert!(name.len() <= 64 && name.starts_with("ec2ts-"), "{name}");
        assert_eq!(name.len(), "ec2ts-".len() + 40 + "-24".len());
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    }

    #[test]
    fn key_parts_are_data_not_separators() {
        assert_eq!(run_id_key("W", "demo-1"), "run|W|demo-1");
        assert_ne!(run_id_key("W|a", "b"), run_id_key("W", "a|b"));
        assert_eq!(run_id_key("W|a", "b"), "run|W%7Ca|b");
        assert_ne!(run_id_key("W%7Ca", "b"), run_id_key("W|a", "b"));
    }

    #[test]
    fn run_keys_carry_what_decides_the_run() {
        let mut request = crate::run::RunRequest::new("W", Action::Stop, "us-west-2");
        request.notify_region = Some("us-west-2".into());
        let identity = run_id_key("W", "x");
        assert_eq!(
            run_key(&identity, &request),
            "run|W|x",
            "the plain request keeps the plain key"
        );
        let mut elsewhere = request.clone();
        elsewhere.dynamodb_region = "eu-west-1".into();
        assert_eq!(run_key(&identity, &elsewhere), "run|W|x|region=eu-west-1");
        let mut steered = request.clone();
        steered.scaling_profile = Some("big|overrideState".into());
        assert_eq!(run_key(&identity, &steered), "run|W|x|profile=big%7CoverrideState");
        steered.override_state = true;
        assert_eq!(
            run_key(&identity, &steered),
            "run|W|x|profile=big%7CoverrideState|overrideState"
        );
        // Without the scheduler's region known, the region is always named.
        request.notify_region = None;
        assert_eq!(run_key(&identity, &request), "run|W|x|region=us-west-2");
    }

    #[test]
    fn only_a_run_refused_before_acting_is_reclaimable() {
        let request = crate::run::RunRequest::new("W", Action::Stop, "us-west-2");
        let mut record = RunRecord::new("k".into(), &request, "t".into(), 0);
        record.invocations = 1;
        assert!(!record.reclaimable(), "in progress");
        assert_eq!(
            record.request().run_key.as_deref(),
            Some("k"),
            "what it records names the run"
        );
        record.status = LedgerStatus::Refused;
        assert!(record.reclaimable());
        record.invocations = 2;
        assert!(!record.reclaimable(), "an earlier invocation acted");
        record.status = LedgerStatus::Finished;
        assert!(!record.reclaimable());
    }

    #[test]
    fn fresh_keys_are_unique_and_name_the_workload() {
        let (a, b) = (fresh_key("w1"), fresh_key("w1"));
        assert_ne!(a, b);
        assert!(a.starts_with("once|w1|"));
    }
}
