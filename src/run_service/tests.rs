use std::sync::Mutex;

use async_trait::async_trait;

use super::*;
use crate::action::Action;
use crate::ledger::{Claim, Resumed};
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
    async fn resume(&self, _: &RunRecord, _: &str, _: u64, _: u64) -> Result<Resumed, CloudError> {
        Ok(Resumed::Claimed)
    }
    async fn interrupt(&self, record: &RunRecord, _: &str) -> Result<bool, CloudError> {
        self.0.lock().unwrap().push((record.clone(), None));
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

    async fn cancel(&self, name: &str) -> Result<(), CloudError> {
        self.made.lock().unwrap().retain(|(made, _)| made != name);
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
        untrusted: Vec::new(),
        event_bus: None,
        chat_topic: None,
    };
    RunReport {
        summary: RunSummary::for_plan(&plan, false, RunStatus::DeadlineReached, "out of time"),
        plan,
        checkpoint: Some(Checkpoint::default()),
        config: None,
        stopped: None,
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
