//! The claim phase of the run service: a new run claims its key and the
//! workload lock; a continuation claims its run by the token it presents,
//! inside its hand-over window and only while the lock is still its run's.
//! A continuation that comes too late, or after a later run of the workload
//! began, is refused and its run ends interrupted.

use std::time::Duration;

use serde_json::{json, Value};

use super::{continuation_payload, safety_margin, Delivery, Resume, ServiceError};
use crate::clock;
use crate::ledger::{
    self, continuation_name, fresh_key, random_token, run_key, Claim, Continuation, InvocationTrace, Ledger,
    LedgerStatus, Resumed, RunRecord, HANDOVER_WINDOW_SECS,
};
use crate::run::RunRequest;

/// The claim phase's answer: the run to carry out, or a duplicate.
pub(super) enum Claimed {
    /// Ours: the record, this invocation counted; its checkpoint is where
    /// the run resumes, after `wait` (a continuation that came early).
    Run {
        /// The run's record.
        record: Box<RunRecord>,
        /// How long until the continuation's due time.
        wait: Duration,
    },
    /// A repeated delivery, or an early continuation rescheduled: its
    /// response; nothing was done.
    Duplicate(Value),
    /// A continuation refused because it came after its hand-over window or
    /// after a later run began: nothing was done, and the run is recorded
    /// as interrupted.
    Interrupted(Box<Interruption>),
}

/// Why a continuation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// It came this many seconds after its due time, past the hand-over
    /// window.
    Late {
        /// Seconds after the due time.
        secs: u64,
    },
    /// The workload lock was no longer its run's: a later run began.
    Superseded,
}

/// A continuation refused with nothing done, and the run it ended.
#[derive(Debug, Clone)]
pub struct Interruption {
    /// The run's record, as interrupted.
    pub record: RunRecord,
    /// Why the continuation was refused.
    pub refusal: Refusal,
    /// What the log, the notification and the response say.
    pub message: String,
}

/// What the claim phase works with.
pub(super) struct Claiming<'a> {
    pub(super) ledger: &'a dyn Ledger,
    pub(super) continuation: Option<&'a dyn Continuation>,
    /// Seconds since the epoch ([`now`]).
    pub(super) now: u64,
    /// Until when the workload lock is taken.
    pub(super) lock_until: u64,
    /// The invocation's time left.
    pub(super) time_left: Option<Duration>,
}

impl Claiming<'_> {
    /// The claim phase: a continuation claims its run by token, any other
    /// delivery claims its run's key and the workload lock. The key is the
    /// delivery's identity and what decides the run ([`run_key`]), so a
    /// delivery asking for another run never meets this one's record.
    pub(super) async fn claim(&self, request: &RunRequest, delivery: Delivery) -> Result<Claimed, ServiceError> {
        if let Some(resume) = &delivery.resume {
            return self.claim_continuation(request, resume).await;
        }
        let key = match &delivery.key {
            Some(identity) => run_key(identity, request),
            None => fresh_key(&request.workload),
        };
        let mut record = RunRecord::new(key, request, delivery.requested_by, self.now);
        record.invocations = 1;
        let claim = self.ledger.claim(&record, self.lock_until, self.now).await;
        match claim.map_err(ServiceError::Ledger)? {
            Claim::Claimed => Ok(Claimed::Run {
                record: Box::new(record),
                wait: Duration::ZERO,
            }),
            Claim::Duplicate(existing)
                if existing.workload != request.workload
                || existing.action != request.action
                || existing.dynamodb_region != request.dynamodb_region
                || existing.scaling_profile != request.scaling_profile
                || existing.override_state != request.override_state =>
            {
                Err(ServiceError::Invalid(format!(
                    "run {:?} is a {} of workload {:?} (region {}); this {} delivery names the same run and did nothing",
                    existing.key, existing.action, existing.workload, existing.dynamodb_region, request.action
                )))
            }
            Claim::Duplicate(existing) => {
                tracing::info!(key = %existing.key, "duplicate delivery: nothing to do");
                Ok(Claimed::Duplicate(duplicate_response(&existing)))
            }
            Claim::Busy { holder, until } => Err(ServiceError::Busy {
                workload: request.workload.clone(),
                holder,
                until,
            }),
        }
    }

    /// Claims a continuation delivery: only the one presenting the run
    /// record's current token proceeds (a conditional write replaces the
    /// token); a second copy is a duplicate, and an unknown token or key is
    /// refused with nothing done. One that comes before its due time waits
    /// for it when this invocation can, else is rescheduled for it; one that
    /// comes after its hand-over window, or finds the workload lock no
    /// longer its run's, is refused and the run ends interrupted.
    async fn claim_continuation(&self, request: &RunRequest, resume: &Resume) -> Result<Claimed, ServiceError> {
        let key = resume.key.as_str();
        let unknown = || {
            ServiceError::Invalid(format!(
                "continueRun: no run {key:?} of this workload and action waits for this continuation token; nothing was done"
            ))
        };
        let token = resume.token.as_deref().ok_or_else(|| {
            ServiceError::Invalid("continueRun needs the continuationToken the run scheduled it with".into())
        })?;
        let record = self
            .ledger
            .load(key)
            .await
            .map_err(ServiceError::Ledger)?
            .filter(|r| r.workload == request.workload && r.action == request.action)
            .ok_or_else(unknown)?;
        if record.spent_tokens.iter().any(|t| t == token) {
            tracing::info!(key, "repeated continuation delivery: nothing to do");
            return Ok(Claimed::Duplicate(duplicate_response(&record)));
        }
        if record.status != LedgerStatus::InProgress || record.continuation_token.as_deref() != Some(token) {
            return Err(unknown());
        }
        let due = record.resume_at.unwrap_or(self.now);
        if self.now > due + HANDOVER_WINDOW_SECS {
            let secs = self.now - due;
            return self.interrupted(record, token, Refusal::Late { secs }).await;
        }
        let wait = Duration::from_secs(due.saturating_sub(self.now));
        let can_wait = self.time_left.is_none_or(|left| wait + safety_margin(left) < left);
        if !can_wait {
            return self.reschedule(record, token).await;
        }
        let mut claimed = record.clone();
        claimed.invocations += 1;
        claimed.spent_tokens.push(token.to_string());
        claimed.continuation_token = None;
        claimed.resume_at = None;
        claimed.updated_at = clock::now();
        let resumed = self.ledger.resume(&claimed, token, self.now, self.lock_until).await;
        match resumed.map_err(ServiceError::Ledger)? {
            Resumed::Claimed => Ok(Claimed::Run {
                record: Box::new(claimed),
                wait,
            }),
            Resumed::Taken => {
                tracing::info!(key, "another delivery claimed this continuation: nothing to do");
                Ok(Claimed::Duplicate(duplicate_response(&claimed)))
            }
            Resumed::NotOurs => self.interrupted(record, token, Refusal::Superseded).await,
        }
    }

    /// A continuation too early to wait for its due time in this
    /// invocation: the token is replaced (a copy of this delivery is then a
    /// duplicate) and a new one-time schedule carries the new token at the
    /// due time. The run neither acts early nor is dropped (the schedule
    /// that delivered this one has deleted itself).
    async fn reschedule(&self, record: RunRecord, presented: &str) -> Result<Claimed, ServiceError> {
        let at = record.resume_at.unwrap_or(self.now);
        let failed = |reason: String| ServiceError::Reschedule {
            key: record.key.clone(),
            reason,
        };
        let continuation = self
            .continuation
            .ok_or_else(|| failed("this invocation schedules no continuations".into()))?;
        let token = random_token().map_err(|e| failed(format!("no randomness for the continuation token: {e}")))?;
        let mut moved = record.clone();
        moved.spent_tokens.push(presented.to_string());
        moved.continuation_token = Some(token.clone());
        moved.updated_at = clock::now();
        let lock_until = at + HANDOVER_WINDOW_SECS;
        match self
            .ledger
            .resume(&moved, presented, self.now, lock_until)
            .await
            .map_err(ServiceError::Ledger)?
        {
            Resumed::Claimed => {}
            Resumed::Taken => return Ok(Claimed::Duplicate(duplicate_response(&moved))),
            Resumed::NotOurs => return self.interrupted(record, presented, Refusal::Superseded).await,
        }
        let payload = continuation_payload(&moved.request(), &moved.key, &token);
        // Named after the new token too: each reschedule is its own schedule.
        let name = format!("{}-{}", continuation_name(&moved.key, moved.invocations), &token[..8]);
        continuation
            .schedule(&name, &payload, at)
            .await
            .map_err(|e| failed(e.to_string()))?;
        tracing::info!(key = %moved.key, at, "continuation came early: rescheduled for its due time");
        Ok(Claimed::Duplicate(json!({
            "workload": moved.workload,
            "action": moved.action,
            "status": "rescheduled",
            "message": format!(
                "run {:?} continues at {} UTC, its due time; this early delivery did nothing",
                moved.key,
                clock::utc_timestamp(at)
            ),
            "runKey": moved.key,
        })))
    }

    /// Refuses a continuation with nothing done and ends its run as
    /// interrupted (a write fenced by the token it presented, the lock left
    /// alone: it may be another run's now).
    async fn interrupted(
        &self,
        mut record: RunRecord,
        presented: &str,
        refusal: Refusal,
    ) -> Result<Claimed, ServiceError> {
        let superseded_by = ledger::later_run(self.ledger, &record).await;
        let message = refusal_message(&record.key, refusal, superseded_by.as_deref());
        let began_ms = clock::now_ms();
        record.invocations += 1;
        let mut trace = InvocationTrace::refused(record.invocations, began_ms, 0);
        trace.status = "interrupted".into();
        record.history.push(trace);
        record.spent_tokens.push(presented.to_string());
        record.interrupt(&message, superseded_by, clock::now());
        if !self
            .ledger
            .interrupt(&record, presented)
            .await
            .map_err(ServiceError::Ledger)?
        {
            tracing::info!(key = %record.key, "another delivery claimed this continuation: nothing to do");
            return Ok(Claimed::Duplicate(duplicate_response(&record)));
        }
        tracing::error!(key = %record.key, workload = %record.workload, ?refusal, "{message}");
        Ok(Claimed::Interrupted(Box::new(Interruption {
            record,
            refusal,
            message,
        })))
    }
}

/// What the log line, the notification and the response say of a refused
/// continuation.
fn refusal_message(key: &str, refusal: Refusal, superseded_by: Option<&str>) -> String {
    let later = superseded_by.map(|k| format!(" (run {k:?} of the workload began after it)"));
    match refusal {
        Refusal::Late { secs } => format!(
            "continuation of run {key:?} arrived {} minutes late and was refused{}",
            secs / 60,
            later.unwrap_or_default()
        ),
        Refusal::Superseded => format!(
            "continuation of run {key:?} was refused: a later run of the workload{} holds or has released the workload lock",
            superseded_by.map(|k| format!(" ({k:?})")).unwrap_or_default()
        ),
    }
}

/// The response to a repeated delivery: the run, and that nothing was done.
pub(super) fn duplicate_response(existing: &RunRecord) -> Value {
    json!({
        "workload": existing.workload,
        "action": existing.action,
        "status": "duplicate",
        "message": format!(
            "run {:?} is already {}; this delivery did nothing",
            existing.key,
            match existing.status {
                LedgerStatus::InProgress => "in progress".to_string(),
                _ => format!("done ({})", existing.outcome.clone().unwrap_or_default()),
            }
        ),
        "runKey": existing.key,
    })
}
