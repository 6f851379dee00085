//! The run service: runs a [`RunRequest`] under the run ledger's rules,
//! for the Lambda handler and the CLI alike.
//!
//! With a ledger: one run per idempotency key (a repeated delivery is a
//! [`Outcome::Duplicate`]), one run per workload (another run's lock is
//! [`ServiceError::Busy`]), a refused run is recorded as refused, and a run
//! cut short by its deadline checkpoints and hands over to a continuation
//! fenced by a random token; the continuation resumes exactly there. Without
//! a ledger (or for a dry run, which changes nothing) every request runs.
//!
//! The entry points say what is particular to them in a [`Delivery`]: the
//! idempotency key, the continuation being claimed, who asked.

use std::time::Duration;

use serde_json::{json, Value};

use crate::clock;
use crate::error::{CloudError, RunError};
use crate::ledger::{
    continuation_name, fresh_key, random_token, run_key, Claim, Continuation, InvocationTrace, Ledger, LedgerStatus,
    RunRecord, MAX_INVOCATIONS,
};
use crate::metrics;
use crate::orchestrator::{self, Budget, Settings};
use crate::plan::Checkpoint;
use crate::ports::Cloud;
use crate::run::{RunReport, RunRequest};
use crate::summary::RunStatus;

/// Time kept back from the deadline: enough to finish the SNS summary and
/// return the response after the last wait is cut short. A tenth of the
/// time left, between 2 and 20 seconds, so short test timeouts stay usable.
pub fn safety_margin(time_left: Duration) -> Duration {
    (time_left / 10).clamp(Duration::from_secs(2), Duration::from_secs(20))
}

/// Seconds since the epoch as the run service reads them: [`clock::now`]
/// plus however far tokio's clock has run ahead of the real monotonic
/// clock. In the function and the CLI the two are one clock and nothing is
/// added; under tokio's paused test clock it adds the time a test let pass,
/// so due times and delivery windows can be tested without real waiting.
pub fn now() -> u64 {
    clock::now() + tokio_ahead_secs()
}

/// How far tokio's clock runs ahead of the real one, in whole seconds.
fn tokio_ahead_secs() -> u64 {
    let real = std::time::Instant::now();
    tokio::time::Instant::now()
        .into_std()
        .saturating_duration_since(real)
        .as_secs()
}

/// [`now`], rounded up like [`clock::now_ceil`]: a due time computed from
/// it is never earlier than meant.
fn now_ceil() -> u64 {
    clock::now_ceil() + tokio_ahead_secs()
}

/// The workload lock's length when the caller has no deadline.
const DEFAULT_LOCK: Duration = Duration::from_secs(900);

/// What the run service works with: the cloud, and the ledger and
/// continuations when configured.
#[derive(Clone, Copy)]
pub struct RunService<'a> {
    /// The AWS ports by region.
    pub cloud: &'a dyn Cloud,
    /// Idempotency, workload locks and checkpoints; `None`: every request runs.
    pub ledger: Option<&'a dyn Ledger>,
    /// Fresh invocations for runs that outlast this one.
    pub continuation: Option<&'a dyn Continuation>,
    /// How runs are carried out.
    pub settings: &'a Settings,
}

/// What the entry point knows about this request besides the request itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    /// The run's idempotency key; `None`: a fresh run under a fresh key.
    /// A continuation is claimed by its [`Resume`] instead.
    pub key: Option<String>,
    /// The continuation this delivery claims, instead of a new run.
    pub resume: Option<Resume>,
    /// Who asked (the schedule, the event, `cli user@host`), for the record.
    pub requested_by: String,
}

/// A continuation delivery: the run it continues and the token it presents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    /// The run's key (`continueRun`).
    pub key: String,
    /// The token the run scheduled the continuation with (`continuationToken`).
    pub token: Option<String>,
}

impl Delivery {
    /// A delivery asked for by `requested_by`, with no key: a fresh run.
    pub fn new(requested_by: impl Into<String>) -> Self {
        Self {
            requested_by: requested_by.into(),
            ..Self::default()
        }
    }

    /// The caller's run id as the idempotency key (`run|<workload>|<id>`,
    /// the key a Lambda payload's `runId` gives): callers naming the same
    /// id make one run between them.
    pub fn with_run_id(mut self, workload: &str, run_id: Option<&str>) -> Self {
        self.key = run_id.map(|id| crate::ledger::run_id_key(workload, id));
        self
    }
}

/// What became of a request.
#[derive(Debug)]
pub enum Outcome {
    /// The run ran (or went as far as this invocation could take it).
    Ran {
        /// What happened.
        report: Box<RunReport>,
        /// The ledger key, when a ledger is used.
        key: Option<String>,
        /// Which invocation of the run this was.
        invocation: u32,
        /// The ledger could not be updated after the run.
        ledger_error: Option<String>,
    },
    /// Nothing was done, and the response says why: a repeated delivery
    /// (`status` `duplicate`), or a continuation that came before its due
    /// time and was handed to a new schedule for it (`rescheduled`).
    Duplicate(Value),
}

impl Outcome {
    /// The Embedded Metric Format line of a run that ran (none for a dry
    /// run, which changes nothing; see [`metrics::for_run`]), or of a
    /// duplicate delivery, counted ([`metrics::for_duplicate`]).
    pub fn metrics_line(&self, namespace: &str, throttles: u64, timestamp_ms: u64) -> Option<String> {
        match self {
            Self::Ran {
                report,
                key,
                invocation,
                ..
            } => metrics::for_run(namespace, report, key.as_deref(), *invocation, throttles, timestamp_ms),
            Self::Duplicate(response) if response["status"] == "duplicate" => {
                metrics::for_duplicate(namespace, response, timestamp_ms)
            }
            Self::Duplicate(_) => None,
        }
    }

    /// The per-kind member lines of a run that ran ([`metrics::for_members`]).
    pub fn member_lines(&self, namespace: &str, timestamp_ms: u64) -> Vec<String> {
        match self {
            Self::Ran { report, .. } => metrics::for_members(namespace, report, timestamp_ms),
            Self::Duplicate(_) => Vec::new(),
        }
    }
}

/// Why a request did not run. No instance was touched in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The delivery is not one the ledger can honour (a continuation
    /// without a ledger, an unknown run or token).
    #[error("invalid event: {0}")]
    Invalid(String),
    /// The run could not start.
    #[error(transparent)]
    Run(#[from] RunError),
    /// Another run of the workload is in progress.
    #[error(
        "workload {workload:?} is in progress: run {holder:?} holds it (until {until} unless it finishes); nothing was done"
    )]
    Busy {
        /// The workload.
        workload: String,
        /// The run holding the lock.
        holder: String,
        /// Lock expiry, seconds since the epoch.
        until: u64,
    },
    /// The run ledger could not be read or written before the run.
    #[error("run ledger unavailable: {0}; nothing was done")]
    Ledger(CloudError),
    /// A continuation arrived before its due time, could not wait for it,
    /// and no new schedule could be made for it.
    #[error("continuation of run {key:?} arrived before its due time and could not be rescheduled: {reason}; nothing was done")]
    Reschedule {
        /// The run.
        key: String,
        /// Why.
        reason: String,
    },
}

/// The claim phase's answer: the run to carry out, or a duplicate.
enum Claimed {
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
}

/// A run in progress under the ledger.
struct Ledgered<'l> {
    ledger: &'l dyn Ledger,
    record: RunRecord,
    /// When this invocation's work began, milliseconds since the epoch.
    began_ms: u64,
}

impl RunService<'_> {
    /// Runs `request` as `delivery` says, within `time_left` (no deadline:
    /// unlimited). Dry runs take no ledger: they change nothing.
    pub async fn run(
        &self,
        request: &RunRequest,
        delivery: Delivery,
        time_left: Option<Duration>,
    ) -> Result<Outcome, ServiceError> {
        let budget = match time_left {
            Some(left) => Budget::from_now(left, safety_margin(left)),
            None => Budget::unlimited(),
        };
        tracing::info!(workload = %request.workload, action = %request.action, dry_run = request.dry_run, requested_by = %delivery.requested_by, "run requested");
        let Some(ledger) = self.ledger.filter(|_| !request.dry_run) else {
            return self.run_unledgered(request, &delivery, &budget).await;
        };
        let now = now();
        let lock_until = now + time_left.unwrap_or(DEFAULT_LOCK).as_secs() + 60;
        let claiming = Claiming {
            ledger,
            continuation: self.continuation,
            now,
            lock_until,
            time_left,
        };
        let (record, wait) = match claiming.claim(request, delivery).await? {
            Claimed::Run { record, wait } => (*record, wait),
            Claimed::Duplicate(response) => return Ok(Outcome::Duplicate(response)),
        };
        if !wait.is_zero() {
            tracing::info!(key = %record.key, wait_secs = wait.as_secs(), "continuation came early: waiting for its due time");
            tokio::time::sleep(wait).await;
        }
        // What the run began with, not what this delivery says.
        let request = &record.request();
        let mut run = Ledgered {
            ledger,
            record,
            began_ms: clock::now_ms(),
        };
        let resume = run.record.checkpoint.clone();
        let result = orchestrator::run_resumed(self.cloud, request, resume.as_ref(), &budget, self.settings).await;
        let report = match result {
            Ok(report) => report,
            Err(e) => {
                run.refuse(request, &e).await;
                return Err(e.into());
            }
        };
        Ok(run.conclude(self.continuation, request, report, random_token).await)
    }

    /// A run without the ledger: no lock, no record, no continuation.
    async fn run_unledgered(
        &self,
        request: &RunRequest,
        delivery: &Delivery,
        budget: &Budget,
    ) -> Result<Outcome, ServiceError> {
        if delivery.resume.is_some() {
            return Err(ServiceError::Invalid(
                "continueRun needs the run ledger (RUN_LEDGER_TABLE)".into(),
            ));
        }
        let report = orchestrator::run(self.cloud, request, budget, self.settings)
            .await
            .inspect_err(|e| tracing::error!(error = %e, workload = %request.workload, "run refused"))?;
        Ok(Outcome::Ran {
            report: Box::new(report),
            key: None,
            invocation: 1,
            ledger_error: None,
        })
    }
}

impl Ledgered<'_> {
    /// Records what the run did: hands over to a continuation when it
    /// stopped early and one can be scheduled (a token from `token`), else
    /// finishes the record.
    async fn conclude(
        mut self,
        continuation: Option<&dyn Continuation>,
        request: &RunRequest,
        mut report: RunReport,
        token: fn() -> Result<String, getrandom::Error>,
    ) -> Outcome {
        let continuation = continuation.filter(|_| self.record.invocations < MAX_INVOCATIONS);
        let ledger_error = match (report.checkpoint.clone(), continuation) {
            (Some(checkpoint), Some(continuation)) => {
                // No randomness, no token: a continuation without its fence
                // could be forged, so none is scheduled.
                let handed = match token() {
                    Ok(token) => self.hand_over(continuation, request, &report, checkpoint, token).await,
                    Err(e) => Err(format!("no randomness for the continuation token: {e}")),
                };
                match handed {
                    Ok(at) => {
                        report.summary.status = RunStatus::Continuing;
                        report.summary.message = format!(
                            "{}; the run continues at {} UTC (invocation {})",
                            report.summary.message,
                            clock::utc_timestamp(at),
                            self.record.invocations + 1
                        );
                        None
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "scheduling the continuation failed");
                        // The run finishes as it stands; the response says why.
                        let _ = self.finish(&report).await;
                        Some(format!("continuation not scheduled: {e}"))
                    }
                }
            }
            _ => self
                .finish(&report)
                .await
                .err()
                .map(|e| format!("run ledger not updated: {e}")),
        };
        tracing::info!(status = ?report.summary.status, message = %report.summary.message, "run finished");
        Outcome::Ran {
            report: Box::new(report),
            key: Some(self.record.key),
            invocation: self.record.invocations,
            ledger_error,
        }
    }

    /// Records a run the orchestrator refused, lock released.
    async fn refuse(&mut self, request: &RunRequest, e: &RunError) {
        tracing::error!(error = %e, workload = %request.workload, "run refused");
        let record = &mut self.record;
        record.history.push(InvocationTrace::refused(
            record.invocations,
            self.began_ms,
            clock::now_ms().saturating_sub(self.began_ms),
        ));
        record.status = LedgerStatus::Refused;
        record.outcome = Some("refused".into());
        record.summary = Some(json!({ "error": e.to_string() }));
        record.continuation_token = None;
        record.updated_at = clock::now();
        if let Err(le) = self.ledger.save(record, None).await {
            tracing::error!(error = %le, "ledger write failed");
        }
    }

    /// Checkpoints the run and schedules its continuation under `token`;
    /// returns when it runs (seconds since the epoch). On failure the
    /// trace is taken back, for [`Self::finish`].
    async fn hand_over(
        &mut self,
        continuation: &dyn Continuation,
        request: &RunRequest,
        report: &RunReport,
        checkpoint: Checkpoint,
        token: String,
    ) -> Result<u64, String> {
        let at = now_ceil() + checkpoint.resume_after_secs.max(60);
        let record = &mut self.record;
        record.checkpoint = Some(checkpoint);
        record.continuation_token = Some(token.clone());
        record.resume_at = Some(at);
        record.summary = serde_json::to_value(&report.summary).ok();
        record.history.push(InvocationTrace::of(
            record.invocations,
            self.began_ms,
            report,
            "continuing",
        ));
        record.updated_at = clock::now();
        let payload = continuation_payload(request, &record.key, &token);
        let name = continuation_name(&record.key, record.invocations);
        let scheduled = match self.ledger.save(record, Some(at + 900 + 60)).await {
            Ok(()) => continuation.schedule(&name, &payload, at).await,
            Err(e) => Err(e),
        };
        scheduled.map(|()| at).map_err(|e| {
            self.record.history.pop();
            e.to_string()
        })
    }

    /// Finishes the record with the report's outcome, lock released.
    async fn finish(&mut self, report: &RunReport) -> Result<(), CloudError> {
        let record = &mut self.record;
        record.finish(report);
        let status = record.outcome.as_deref().unwrap_or("finished");
        let trace = InvocationTrace::of(record.invocations, self.began_ms, report, status);
        record.history.push(trace);
        self.ledger
            .save(record, None)
            .await
            .inspect_err(|e| tracing::error!(error = %e, "ledger write failed"))
    }
}

/// The payload of a run's continuation: the request and the fence.
fn continuation_payload(request: &RunRequest, key: &str, token: &str) -> Value {
    json!({
        "workloadIdentifier": request.workload,
        "action": request.action,
        "scalingProfile": request.scaling_profile,
        "dynamoDBRegion": request.dynamodb_region,
        "continueRun": key,
        "continuationToken": token,
    })
}

/// What the claim phase works with.
struct Claiming<'a> {
    ledger: &'a dyn Ledger,
    continuation: Option<&'a dyn Continuation>,
    /// Seconds since the epoch ([`now`]).
    now: u64,
    /// Until when the workload lock is taken.
    lock_until: u64,
    /// The invocation's time left.
    time_left: Option<Duration>,
}

impl Claiming<'_> {
    /// The claim phase: a continuation claims its run by token, any other
    /// delivery claims its run's key and the workload lock. The key is the
    /// delivery's identity and what decides the run ([`run_key`]), so a
    /// delivery asking for another run never meets this one's record.
    async fn claim(&self, request: &RunRequest, delivery: Delivery) -> Result<Claimed, ServiceError> {
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
    /// for it when this invocation can, else is rescheduled for it.
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
        let wait = Duration::from_secs(record.resume_at.unwrap_or(0).saturating_sub(self.now));
        let can_wait = self.time_left.is_none_or(|left| wait + safety_margin(left) < left);
        if !can_wait {
            return self.reschedule(record, token).await;
        }
        let mut record = record;
        record.invocations += 1;
        record.spent_tokens.push(token.to_string());
        record.continuation_token = None;
        record.resume_at = None;
        record.updated_at = clock::now();
        if self
            .ledger
            .resume(&record, token, self.lock_until)
            .await
            .map_err(ServiceError::Ledger)?
        {
            Ok(Claimed::Run {
                record: Box::new(record),
                wait,
            })
        } else {
            tracing::info!(key, "another delivery claimed this continuation: nothing to do");
            Ok(Claimed::Duplicate(duplicate_response(&record)))
        }
    }

    /// A continuation too early to wait for its due time in this
    /// invocation: the token is replaced (a copy of this delivery is then a
    /// duplicate) and a new one-time schedule carries the new token at the
    /// due time. The run neither acts early nor is dropped (the schedule
    /// that delivered this one has deleted itself).
    async fn reschedule(&self, mut record: RunRecord, presented: &str) -> Result<Claimed, ServiceError> {
        let at = record.resume_at.unwrap_or(self.now);
        let failed = |reason: String| ServiceError::Reschedule {
            key: record.key.clone(),
            reason,
        };
        let continuation = self
            .continuation
            .ok_or_else(|| failed("this invocation schedules no continuations".into()))?;
        let token = random_token().map_err(|e| failed(format!("no randomness for the continuation token: {e}")))?;
        record.spent_tokens.push(presented.to_string());
        record.continuation_token = Some(token.clone());
        record.updated_at = clock::now();
        if !self
            .ledger
            .resume(&record, presented, at + 900 + 60)
            .await
            .map_err(ServiceError::Ledger)?
        {
            return Ok(Claimed::Duplicate(duplicate_response(&record)));
        }
        let payload = continuation_payload(&record.request(), &record.key, &token);
        // Named after the new token too: each reschedule is its own schedule.
        let name = format!("{}-{}", continuation_name(&record.key, record.invocations), &token[..8]);
        continuation
            .schedule(&name, &payload, at)
            .await
            .map_err(|e| failed(e.to_string()))?;
        tracing::info!(key = %record.key, at, "continuation came early: rescheduled for its due time");
        Ok(Claimed::Duplicate(json!({
            "workload": record.workload,
            "action": record.action,
            "status": "rescheduled",
            "message": format!(
                "run {:?} continues at {} UTC, its due time; this early delivery did nothing",
                record.key,
                clock::utc_timestamp(at)
            ),
            "runKey": record.key,
        })))
    }
}

/// The response to a repeated delivery: the run, and that nothing was done.
fn duplicate_response(existing: &RunRecord) -> Value {
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;
    use crate::action::Action;
    use crate::plan::Plan;
    use crate::summary::RunSummary;

    /// A ledger that keeps every save.
    #[derive(Default)]
    struct Saves(Mutex<Vec<(RunRecord, Option<u64>)>>);

    #[async_trait]
    impl Ledger for Saves {
        async fn claim(&self, _: &RunRecord, _: u64, _: u64) -> Result<Claim, CloudError> {
            Ok(Claim::Claimed)
        }
        async fn load(&self, _: &str) -> Result<Option<RunRecord>, CloudError> {
            Ok(None)
        }
        async fn save(&self, record: &RunRecord, lock_until: Option<u64>) -> Result<(), CloudError> {
            self.0.lock().unwrap().push((record.clone(), lock_until));
            Ok(())
        }
        async fn resume(&self, _: &RunRecord, _: &str, _: u64) -> Result<bool, CloudError> {
            Ok(true)
        }
        async fn runs(&self, _: Option<&str>, _: u64, _: usize) -> Result<Vec<RunRecord>, CloudError> {
            Ok(Vec::new())
        }
    }

    /// Continuations that are recorded, or refused when `refuse`.
    #[derive(Default)]
    struct Schedules {
        made: Mutex<Vec<(String, Value)>>,
        refuse: bool,
    }

    #[async_trait]
    impl Continuation for Schedules {
        async fn schedule(&self, name: &str, payload: &Value, _: u64) -> Result<(), CloudError> {
            if self.refuse {
                return Err(CloudError::new(
                    "scheduler",
                    "CreateSchedule",
                    Some("AccessDenied"),
                    "denied",
                ));
            }
            self.made.lock().unwrap().push((name.to_string(), payload.clone()));
            Ok(())
        }
    }

    fn request() -> RunRequest {
        RunRequest::new("W", Action::Stop, "us-west-2")
    }

    /// A report of a run its deadline cut short, with its checkpoint.
    fn cut_short() -> RunReport {
        let plan = Plan {
            workload: "W".into(),
            region: "us-west-2".into(),
            action: Action::Stop,
            scaling_profile: None,
            account: None,
            warnings: Vec::new(),
            disabled_reason: None,
            state_skip: None,
            calendar_skip: None,
            groups: Vec::new(),
            left_out: Vec::new(),
            unmatched: Vec::new(),
            alarms: Vec::new(),
        };
        RunReport {
            summary: RunSummary::for_plan(&plan, false, RunStatus::DeadlineReached, "out of time"),
            plan,
            checkpoint: Some(Checkpoint::default()),
        }
    }

    fn ledgered(ledger: &Saves) -> Ledgered<'_> {
        let mut record = RunRecord::new("run|W|nightly".into(), &request(), "test".into(), clock::now());
        record.invocations = 1;
        Ledgered {
            ledger,
            record,
            began_ms: clock::now_ms(),
        }
    }

    fn last_save(ledger: &Saves) -> (RunRecord, Option<u64>) {
        ledger.0.lock().unwrap().last().cloned().expect("a save")
    }

    #[tokio::test]
    async fn a_run_cut_short_hands_over_to_a_fenced_continuation() {
        let (ledger, schedules) = (Saves::default(), Schedules::default());
        let outcome = ledgered(&ledger)
            .conclude(Some(&schedules), &request(), cut_short(), || Ok("t0k3n".into()))
            .await;
        let Outcome::Ran {
            report, ledger_error, ..
        } = outcome
        else {
            panic!("ran")
        };
        assert_eq!(ledger_error, None);
        assert_eq!(report.summary.status, RunStatus::Continuing);
        let made = schedules.made.lock().unwrap().clone();
        assert_eq!(made.len(), 1);
        assert_eq!(made[0].0, continuation_name("run|W|nightly", 1));
        assert_eq!(made[0].1["continueRun"], "run|W|nightly");
        assert_eq!(made[0].1["continuationToken"], "t0k3n");
        let (record, lock) = last_save(&ledger);
        assert_eq!(record.continuation_token.as_deref(), Some("t0k3n"));
        assert_eq!(record.status, LedgerStatus::InProgress);
        assert!(lock.is_some(), "the lock is kept for the continuation");
        assert_eq!(record.history.len(), 1);
        assert_eq!(record.history[0].status, "continuing");
    }

    #[tokio::test]
    async fn without_randomness_no_continuation_is_scheduled_and_the_run_finishes_saying_why() {
        let (ledger, schedules) = (Saves::default(), Schedules::default());
        let outcome = ledgered(&ledger)
            .conclude(Some(&schedules), &request(), cut_short(), || {
                Err(getrandom::Error::UNSUPPORTED)
            })
            .await;
        let Outcome::Ran {
            report, ledger_error, ..
        } = outcome
        else {
            panic!("ran")
        };
        let error = ledger_error.expect("the response says why");
        assert!(
            error.starts_with("continuation not scheduled: no randomness for the continuation token"),
            "{error}"
        );
        assert_eq!(report.summary.status, RunStatus::DeadlineReached);
        assert!(schedules.made.lock().unwrap().is_empty(), "no schedule without a token");
        let (record, lock) = last_save(&ledger);
        assert_eq!(ledger.0.lock().unwrap().len(), 1, "one save: the finished record");
        assert_eq!((record.status, lock), (LedgerStatus::Finished, None));
        assert_eq!(record.continuation_token, None, "never an empty token");
        assert_eq!(record.history.len(), 1);
        assert_eq!(record.history[0].status, "deadlineReached");
    }

    #[tokio::test]
    async fn a_refused_schedule_finishes_the_run_without_the_continuing_trace() {
        let ledger = Saves::default();
        let schedules = Schedules {
            refuse: true,
            ..Schedules::default()
        };
        let outcome = ledgered(&ledger)
            .conclude(Some(&schedules), &request(), cut_short(), || Ok("t0k3n".into()))
            .await;
        let Outcome::Ran { ledger_error, .. } = outcome else {
            panic!("ran")
        };
        assert!(ledger_error
            .unwrap()
            .starts_with("continuation not scheduled: scheduler:CreateSchedule failed"));
        let (record, lock) = last_save(&ledger);
        assert_eq!((record.status, lock), (LedgerStatus::Finished, None));
        assert_eq!(record.continuation_token, None);
        let statuses: Vec<&str> = record.history.iter().map(|t| t.status.as_str()).collect();
        assert_eq!(statuses, ["deadlineReached"]);
    }

    #[tokio::test]
    async fn without_continuations_the_run_finishes() {
        let ledger = Saves::default();
        let outcome = ledgered(&ledger)
            .conclude(None, &request(), cut_short(), || unreachable!("no token needed"))
            .await;
        assert!(matches!(
            outcome,
            Outcome::Ran {
                ledger_error: None,
                invocation: 1,
                ..
            }
        ));
        assert_eq!(last_save(&ledger).0.status, LedgerStatus::Finished);
    }

    #[test]
    fn a_run_id_is_the_key_a_payloads_run_id_gives() {
        let delivery = Delivery::new("cli me@host").with_run_id("W", Some("2026-11-25-stop"));
        assert_eq!(delivery.key.as_deref(), Some("run|W|2026-11-25-stop"));
        assert_eq!(delivery.requested_by, "cli me@host");
        assert_eq!(Delivery::new("x").with_run_id("W", None).key, None);
        let event = crate::event::SchedulerEvent::from_value(&json!({
            "workloadIdentifier": "W", "action": "Stop", "runId": "2026-11-25-stop"
        }))
        .unwrap();
        assert_eq!(event.idempotency_key(), delivery.key);
    }

    #[test]
    fn the_safety_margin_is_a_tenth_between_2_and_20_seconds() {
        assert_eq!(safety_margin(Duration::from_secs(5)), Duration::from_secs(2));
        assert_eq!(safety_margin(Duration::from_secs(100)), Duration::from_secs(10));
        assert_eq!(safety_margin(Duration::from_secs(900)), Duration::from_secs(20));
    }
}
