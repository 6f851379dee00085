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
//! A continuation is honoured only inside its hand-over window
//! ([`HANDOVER_WINDOW_SECS`] after its due time) and only while the workload
//! lock is still its run's: one that comes later, or after a later run of
//! the workload began, is refused with nothing done
//! ([`Outcome::Interrupted`]) and the run ends interrupted.
//!
//! The entry points say what is particular to them in a [`Delivery`]: the
//! idempotency key, the continuation being claimed, who asked.
//!
//! `claim.rs`: the claim; `outcome.rs`: what became of a request;
//! `run_end.rs`: the run's end (Run Completed,
//! chat, notices); `recheck.rs`, `windows.rs`: the schedules a run leaves;
//! `window_stop.rs`: a window Stop held.

mod claim;
mod downtime;
mod outcome;
mod recheck;
mod run_end;
mod since_stop;
mod stop_facts;
mod timing;
mod window_stop;
mod windows;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::config::WorkloadConfig;
use crate::error::{CloudError, RunError};
use crate::ledger::{
    continuation_name, random_token, Continuation, InvocationTrace, Ledger, LedgerStatus, RunRecord,
    HANDOVER_WINDOW_SECS, MAX_INVOCATIONS,
};
use crate::orchestrator::{self, Budget, Settings};
use crate::run::{RunReport, RunRequest};
use crate::summary::RunStatus;
use crate::{clock, plan::Checkpoint, ports::Cloud};
use claim::{Claimed, Claiming};
pub use claim::{Interruption, Refusal};
pub use downtime::savings_report;
pub use outcome::Outcome;
pub use recheck::RECHECK_AFTER_SECS;
use run_end::{announce, announce_interrupted, notify_workload};
use timing::now_ceil;
pub use timing::{now, safety_margin};

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

/// A run in progress under the ledger.
struct Ledgered<'l> {
    ledger: &'l dyn Ledger,
    record: RunRecord,
    /// When this invocation's work began, milliseconds since the epoch.
    began_ms: u64,
}

/// The configuration `report`'s run read, else read now (a report
/// without it: a dry run, a test's).
async fn config_of(
    cloud: &dyn Cloud,
    request: &RunRequest,
    report: &RunReport,
) -> Result<Arc<WorkloadConfig>, RunError> {
    match &report.config {
        Some(config) => Ok(Arc::clone(config)),
        None => Ok(Arc::new(
            orchestrator::load_config(cloud, &request.workload, &request.dynamodb_region).await?,
        )),
    }
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
        if let Some(held) = window_stop::hold(self, ledger, request, &delivery).await {
            return held;
        }
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
            Claimed::Interrupted(interruption) => return Ok(self.report_interruption(*interruption).await),
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
        let mut report = match result {
            Ok(report) => report,
            Err(e) => {
                run.refuse(request, &e).await;
                return Err(e.into());
            }
        };
        windows::arrange(self, request, &mut report, &mut run).await;
        let outcome = run.conclude(self.continuation, request, report, random_token).await;
        let outcome = recheck::arrange(self.continuation, request, outcome).await;
        let outcome = downtime::keep(self.cloud, request, &budget, outcome).await;
        Ok(announce(self.cloud, request, outcome, Some(&run.record), &budget).await)
    }

    /// A refused continuation's response, its notification published to
    /// the workload's topic (a failure is logged and said in the response).
    async fn report_interruption(&self, interruption: Interruption) -> Outcome {
        let Interruption {
            record,
            refusal,
            message,
        } = interruption;
        let mut response = record.summary.clone().unwrap_or_else(|| json!({}));
        response["workload"] = json!(record.workload);
        response["action"] = json!(record.action);
        response["runKey"] = json!(record.key);
        response["invocation"] = json!(record.invocations);
        response["refused"] = match refusal {
            Refusal::Late { secs } => json!({"reason": "late", "lateBySecs": secs}),
            Refusal::Superseded => json!({"reason": "superseded"}),
        };
        if let Some(later) = &record.superseded_by {
            response["supersededBy"] = json!(later);
        }
        let subject = format!("ec2-tier-scheduler: {} {} interrupted", record.action, record.workload);
        let body = format!("{message}; the run ends as interrupted.\n\nWhat it never reached is listed as not done in `orchestrator runs show {}`.", record.key);
        if let Err(e) = notify_workload(self.cloud, &record.request(), &subject, &body).await {
            tracing::warn!(error = %e, "the interruption notice was not published");
            response["notificationErrors"] = json!([format!("interruption: {e}")]);
        }
        announce_interrupted(self.cloud, &record, &mut response).await;
        Outcome::Interrupted(response)
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
        let mut request = request.clone(); // its events need a run key
        request
            .run_key
            .get_or_insert_with(|| crate::ledger::fresh_key(&request.workload));
        let report = orchestrator::run(self.cloud, &request, budget, self.settings)
            .await
            .inspect_err(|e| tracing::error!(error = %e, workload = %request.workload, "run refused"))?;
        let ran = Outcome::Ran {
            report: Box::new(report),
            key: None,
            invocation: 1,
            ledger_error: None,
        };
        let ran = downtime::keep(self.cloud, &request, budget, ran).await;
        Ok(announce(self.cloud, &request, ran, None, budget).await)
    }
}

impl Ledgered<'_> {
    /// Records what the run did: hands over to a continuation when it
    /// stopped early and one can be scheduled (a token from `token`), else
    /// finishes the record.
    async fn conclude(
        &mut self,
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
                    Err(e) => Err(NotSent::NoToken(e)),
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
            key: Some(self.record.key.clone()),
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
    ) -> Result<u64, NotSent> {
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
        let scheduled = match self.ledger.save(record, Some(at + HANDOVER_WINDOW_SECS)).await {
            Ok(()) => continuation.schedule(&name, &payload, at).await,
            Err(e) => Err(e),
        };
        scheduled.map(|()| at).map_err(|e| {
            self.record.history.pop();
            e.into()
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

/// Why a continuation was not scheduled, or a notice not published.
#[derive(Debug, thiserror::Error)]
enum NotSent {
    /// No randomness, no token: a continuation without its fence could be forged.
    #[error("no randomness for the continuation token: {0}")]
    NoToken(getrandom::Error),
    /// The workload's configuration (for its topic) did not load.
    #[error(transparent)]
    Config(#[from] RunError),
    /// The checkpoint, the schedule or the notice was refused.
    #[error(transparent)]
    Cloud(#[from] CloudError),
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

#[cfg(test)]
mod tests;
