//! The run ledger: one record per run, keyed on an idempotency key, and one
//! lock per workload. It makes runs trustworthy under at-least-once
//! delivery: a second delivery of a run that is in progress or done does
//! nothing, two runs of one workload never overlap, and a run cut short by
//! its deadline resumes from its checkpoint in a fresh invocation.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::CloudError;
use crate::plan::{Action, Checkpoint};

/// How long run records are kept (DynamoDB TTL).
pub const RECORD_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// Most invocations one run may use, so a run that never finishes cannot
/// continue for ever.
pub const MAX_INVOCATIONS: u32 = 24;

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
    pub history: Vec<crate::history::InvocationTrace>,
}

impl RunRecord {
    /// A new in-progress record of a run of `workload`.
    pub fn new(key: String, request: &crate::orchestrator::RunRequest, requested_by: String, now: u64) -> Self {
        Self {
            key,
            workload: request.workload.clone(),
            action: request.action,
            scaling_profile: request.scaling_profile.clone(),
            dynamodb_region: request.dynamodb_region.clone(),
            status: LedgerStatus::InProgress,
            outcome: None,
            started_at: now,
            updated_at: now,
            invocations: 0,
            checkpoint: None,
            summary: None,
            expires_at: now + RECORD_TTL.as_secs(),
            continuation_token: None,
            spent_tokens: Vec::new(),
            requested_by: Some(requested_by),
            history: Vec::new(),
        }
    }

    /// Marks the run finished with the report's outcome.
    pub fn finish(&mut self, report: &crate::orchestrator::RunReport) {
        self.status = LedgerStatus::Finished;
        self.outcome = serde_json::to_value(report.summary.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string));
        self.summary = serde_json::to_value(&report.summary).ok();
        self.checkpoint = report.checkpoint.clone();
        self.continuation_token = None;
        self.updated_at = epoch_now();
    }
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
    /// both or neither. An expired lock (a crashed run) may be taken over.
    async fn claim(&self, record: &RunRecord, lock_until: u64, now: u64) -> Result<Claim, CloudError>;
    /// Reads a record.
    async fn load(&self, key: &str) -> Result<Option<RunRecord>, CloudError>;
    /// Writes the record and extends the lock to `lock_until`, or releases it
    /// (`None`). Fails when the lock is no longer this run's.
    async fn save(&self, record: &RunRecord, lock_until: Option<u64>) -> Result<(), CloudError>;
    /// Claims a continuation: writes `record` (whose token no longer is
    /// `presented`) and extends the lock to `lock_until`, only if the stored
    /// record's token is `presented` and the lock is this run's; both or
    /// neither. `Ok(false)`: another delivery claimed it first.
    async fn resume(&self, record: &RunRecord, presented: &str, lock_until: u64) -> Result<bool, CloudError>;
    /// Runs that started at or after `since` (seconds since the epoch), of
    /// `workload` or of every workload, newest first, at most `limit`.
    async fn runs(&self, workload: Option<&str>, since: u64, limit: usize) -> Result<Vec<RunRecord>, CloudError>;
}

/// A fresh random token (128 bits, hex) from the operating system's source.
pub fn random_token() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    let filled = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if filled.is_err() {
        // RandomState keys come from the OS too; two hashes give 128 bits.
        use std::hash::{BuildHasher, Hasher};
        for half in bytes.chunks_mut(8) {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(epoch_now());
            half.copy_from_slice(&h.finish().to_le_bytes());
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Starts a later invocation of the function with a payload.
#[async_trait]
pub trait Continuation: Send + Sync {
    /// Schedules `payload` for `at` (seconds since the epoch) under `name`.
    async fn schedule(&self, name: &str, payload: &Value, at: u64) -> Result<(), CloudError>;
}

/// Seconds since the epoch, now.
pub fn epoch_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Milliseconds since the epoch, now.
pub fn epoch_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Seconds since the epoch, rounded up: a time computed from it is never
/// earlier than meant (a delay owed is never cut by a fraction of a second).
pub fn epoch_now_ceil() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() + u64::from(d.subsec_nanos() > 0))
        .unwrap_or(0)
}

/// `YYYY-MM-DDTHH:MM:SS` in UTC, as EventBridge Scheduler's `at()` wants.
pub fn utc_timestamp(epoch: u64) -> String {
    let days = (epoch / 86_400) as i64;
    let secs = epoch % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// A short, stable, name-safe digest of a key (FNV-1a, hex).
pub fn digest(key: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_civil_time() {
        assert_eq!(utc_timestamp(0), "1970-01-01T00:00:00");
        assert_eq!(utc_timestamp(951_782_400), "2000-02-29T00:00:00");
        assert_eq!(utc_timestamp(1_795_478_400 + 68_523), "2026-11-24T19:02:03");
    }

    #[test]
    fn tokens_are_random_hex() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn digests_are_stable_and_distinct() {
        assert_eq!(digest("a"), digest("a"));
        assert_ne!(digest("a"), digest("b"));
        assert_eq!(digest("x").len(), 16);
    }
}
