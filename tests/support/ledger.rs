//! In-memory run ledger and continuation scheduler with fault injection.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ec2_tier_scheduler::error::CloudError;
use ec2_tier_scheduler::ledger::{Claim, Continuation, Ledger, Resumed, RunRecord};
use serde_json::Value;

#[derive(Default)]
pub struct LedgerState {
    pub records: HashMap<String, RunRecord>,
    /// workload -> (run key, lock until)
    pub locks: HashMap<String, (String, u64)>,
    /// Fail the next N claims / saves.
    pub fail_claims: usize,
    pub fail_saves: usize,
    pub writes: usize,
}

#[derive(Clone, Default)]
pub struct FakeLedger {
    pub state: Arc<Mutex<LedgerState>>,
}

impl FakeLedger {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, LedgerState> {
        self.state.lock().unwrap()
    }
}

fn injected(op: &'static str) -> CloudError {
    CloudError::new("dynamodb", op, Some("InternalServerError"), "injected ledger failure")
}

#[async_trait]
impl Ledger for FakeLedger {
    async fn claim(&self, record: &RunRecord, lock_until: u64, now: u64) -> Result<Claim, CloudError> {
        // Yield so concurrent deliveries really interleave.
        tokio::task::yield_now().await;
        let mut s = self.lock();
        if s.fail_claims > 0 {
            s.fail_claims -= 1;
            return Err(injected("TransactWriteItems"));
        }
        if let Some(existing) = s.records.get(&record.key).filter(|r| !r.reclaimable()) {
            return Ok(Claim::Duplicate(Box::new(existing.clone())));
        }
        if let Some((holder, until)) = s.locks.get(&record.workload) {
            if *until >= now {
                return Ok(Claim::Busy {
                    holder: holder.clone(),
                    until: *until,
                });
            }
        }
        s.records.insert(record.key.clone(), record.clone());
        s.locks
            .insert(record.workload.clone(), (record.key.clone(), lock_until));
        s.writes += 1;
        Ok(Claim::Claimed)
    }

    async fn load(&self, key: &str) -> Result<Option<RunRecord>, CloudError> {
        Ok(self.lock().records.get(key).cloned())
    }

    async fn save(&self, record: &RunRecord, lock_until: Option<u64>) -> Result<(), CloudError> {
        let mut s = self.lock();
        if s.fail_saves > 0 {
            s.fail_saves -= 1;
            return Err(injected("TransactWriteItems"));
        }
        if let Some((holder, _)) = s.locks.get(&record.workload) {
            if *holder != record.key {
                return Err(CloudError::new(
                    "dynamodb",
                    "TransactWriteItems",
                    Some("ConditionalCheckFailed"),
                    "lock held by another run",
                ));
            }
        }
        s.records.insert(record.key.clone(), record.clone());
        match lock_until {
            Some(until) => {
                s.locks.insert(record.workload.clone(), (record.key.clone(), until));
            }
            None => {
                s.locks.remove(&record.workload);
            }
        }
        s.writes += 1;
        Ok(())
    }

    async fn resume(
        &self,
        record: &RunRecord,
        presented: &str,
        now: u64,
        lock_until: u64,
    ) -> Result<Resumed, CloudError> {
        // Yield so concurrent continuation deliveries really interleave.
        tokio::task::yield_now().await;
        let mut s = self.lock();
        // The fence check, the lock check and the write are one step, as
        // DynamoDB's conditions in one transaction.
        let fence = s.records.get(&record.key).and_then(|r| r.continuation_token.clone());
        if fence.as_deref() != Some(presented) {
            return Ok(Resumed::Taken);
        }
        if s.fail_saves > 0 {
            s.fail_saves -= 1;
            return Err(injected("TransactWriteItems"));
        }
        let held = s.locks.get(&record.workload);
        if !held.is_some_and(|(holder, until)| *holder == record.key && *until >= now) {
            return Ok(Resumed::NotOurs);
        }
        s.records.insert(record.key.clone(), record.clone());
        s.locks
            .insert(record.workload.clone(), (record.key.clone(), lock_until));
        s.writes += 1;
        Ok(Resumed::Claimed)
    }

    async fn interrupt(&self, record: &RunRecord, presented: &str) -> Result<bool, CloudError> {
        let mut s = self.lock();
        let fence = s.records.get(&record.key).and_then(|r| r.continuation_token.clone());
        if fence.as_deref() != Some(presented) {
            return Ok(false);
        }
        s.records.insert(record.key.clone(), record.clone());
        s.writes += 1;
        Ok(true)
    }

    async fn runs(&self, workload: Option<&str>, since: u64, limit: usize) -> Result<Vec<RunRecord>, CloudError> {
        let mut runs: Vec<RunRecord> = self
            .lock()
            .records
            .values()
            .filter(|r| workload.is_none_or(|w| r.workload == w) && r.started_at >= since)
            .cloned()
            .collect();
        runs.sort_by(|a, b| b.started_at.cmp(&a.started_at).then_with(|| b.key.cmp(&a.key)));
        runs.truncate(limit);
        Ok(runs)
    }
}

/// Records scheduled continuations: (name, payload, at).
#[derive(Clone, Default)]
pub struct FakeContinuation {
    pub scheduled: Arc<Mutex<Vec<(String, Value, u64)>>>,
    /// The schedules deleted by name (a re-check a Start removed).
    pub cancelled: Arc<Mutex<Vec<String>>>,
}

#[async_trait]
impl Continuation for FakeContinuation {
    async fn schedule(&self, name: &str, payload: &Value, at: u64) -> Result<(), CloudError> {
        assert!(
            name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        );
        self.scheduled
            .lock()
            .unwrap()
            .push((name.to_string(), payload.clone(), at));
        Ok(())
    }

    async fn cancel(&self, name: &str) -> Result<(), CloudError> {
        self.scheduled.lock().unwrap().retain(|(made, _, _)| made != name);
        self.cancelled.lock().unwrap().push(name.to_string());
        Ok(())
    }
}
