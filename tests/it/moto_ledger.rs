//! The DynamoDB run ledger and EventBridge Scheduler continuations against moto.

use std::time::Duration;

use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::clock;
use ec2_tier_scheduler::handler::{handle_with, Services};
use ec2_tier_scheduler::ledger::{Claim, Continuation, Ledger, LedgerStatus, RunRecord};
use serde_json::json;

use crate::support::moto::Stack;
use crate::support::{fast_settings, three_tiers, workload_item};

/// The run ledger table as infra/template.yaml defines it.
pub(crate) async fn ledger_table(stack: &Stack) {
    stack.ledger_table().await;
}

fn record(key: &str, workload: &str) -> RunRecord {
    let now = clock::now();
    RunRecord {
        key: key.into(),
        workload: workload.into(),
        action: Action::Stop,
        scaling_profile: None,
        dynamodb_region: "us-west-2".into(),
        override_state: false,
        notify_region: None,
        status: LedgerStatus::InProgress,
        outcome: None,
        started_at: now,
        updated_at: now,
        invocations: 1,
        checkpoint: None,
        summary: None,
        expires_at: now + 3600,
        continuation_token: None,
        resume_at: None,
        spent_tokens: Vec::new(),
        requested_by: None,
        history: Vec::new(),
        superseded_by: None,
        restop: None,
        maintenance_window: None,
        window_schedules: None,
    }
}

#[tokio::test]
async fn claims_are_atomic_and_locks_expire() {
    let stack = Stack::start().await;
    ledger_table(&stack).await;
    let ledger = stack.cloud().ledger("SchedulerRunLedger");
    let now = clock::now();
    let a = record("run-a", "W");
    assert_eq!(ledger.claim(&a, now + 600, now).await.unwrap(), Claim::Claimed);
    // Same key again: a duplicate delivery.
    assert!(matches!(ledger.claim(&a, now + 600, now).await.unwrap(), Claim::Duplicate(r) if r.key == "run-a"));
    // Another run of the workload while the lock is held: busy, and nothing written.
    let b = record("run-b", "W");
    assert_eq!(
        ledger.claim(&b, now + 600, now).await.unwrap(),
        Claim::Busy {
            holder: "run-a".into(),
            until: now + 600
        }
    );
    assert!(ledger.load("run-b").await.unwrap().is_none(), "all or nothing");
    // Another workload is independent.
    assert_eq!(
        ledger.claim(&record("run-c", "Other"), now + 600, now).await.unwrap(),
        Claim::Claimed
    );
    // Finishing releases the lock; a later run may claim.
    let mut done = a.clone();
    done.status = LedgerStatus::Finished;
    ledger.save(&done, None).await.unwrap();
    assert_eq!(
        ledger.load("run-a").await.unwrap().unwrap().status,
        LedgerStatus::Finished
    );
    assert_eq!(ledger.claim(&b, now + 600, now).await.unwrap(), Claim::Claimed);
    // A crashed holder: its lock lapses and the next run takes over.
    let d = record("run-d", "W");
    assert!(matches!(
        ledger.claim(&d, now + 600, now).await.unwrap(),
        Claim::Busy { .. }
    ));
    assert_eq!(ledger.claim(&d, now + 1200, now + 601).await.unwrap(), Claim::Claimed);
    // The old holder can no longer write as if it held the lock.
    assert!(ledger.save(&b, Some(now + 900)).await.is_err());
}

#[tokio::test]
async fn a_run_refused_before_acting_can_be_claimed_again_and_no_other() {
    // Issue 21: a refused claim must never make a later delivery a duplicate.
    let stack = Stack::start().await;
    ledger_table(&stack).await;
    let ledger = stack.cloud().ledger("SchedulerRunLedger");
    let now = clock::now();
    let first = record("run-r", "W");
    assert_eq!(ledger.claim(&first, now + 600, now).await.unwrap(), Claim::Claimed);
    let mut refused = first.clone();
    refused.status = LedgerStatus::Refused;
    ledger.save(&refused, None).await.unwrap();
    // Refused at its first invocation: the retry claims the key.
    let mut retry = record("run-r", "W");
    retry.requested_by = Some("retry".into());
    assert_eq!(ledger.claim(&retry, now + 600, now).await.unwrap(), Claim::Claimed);
    let stored = ledger.load("run-r").await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.requested_by.as_deref()),
        (LedgerStatus::InProgress, Some("retry"))
    );
    // Refused after an earlier invocation acted: a duplicate, never rerun.
    let mut late = stored.clone();
    late.status = LedgerStatus::Refused;
    late.invocations = 2;
    ledger.save(&late, None).await.unwrap();
    assert!(matches!(
        ledger.claim(&record("run-r", "W"), now + 600, now).await.unwrap(),
        Claim::Duplicate(r) if r.invocations == 2
    ));
    // Finished: a duplicate.
    let mut done = record("run-f", "W");
    assert_eq!(ledger.claim(&done, now + 600, now).await.unwrap(), Claim::Claimed);
    done.status = LedgerStatus::Finished;
    ledger.save(&done, None).await.unwrap();
    assert!(matches!(
        ledger.claim(&record("run-f", "W"), now + 600, now).await.unwrap(),
        Claim::Duplicate(_)
    ));
}

#[tokio::test]
async fn a_run_out_of_time_schedules_its_continuation_and_resumes_from_the_ledger() {
    let stack = Stack::start().await;
    ledger_table(&stack).await;
    let (_, subnet) = stack.vpc("10.11.0.0").await;
    let web = stack.launch_tier(&subnet, "Role_Web", 2).await;
    let app = stack.launch_tier(&subnet, "Role_App", 2).await;
    let mut workload = workload_item("W");
    workload.as_object_mut().unwrap().remove("SNSTopicName");
    stack.put_config(workload, three_tiers("W", 600)).await;

    let cloud = stack.cloud();
    let ledger = cloud.ledger("SchedulerRunLedger");
    let dlq = "arn:aws:sqs:us-west-2:123456789012:schedule-dlq";
    let continuation = cloud
        .continuation(
            "arn:aws:lambda:us-west-2:123456789012:function:scheduler",
            "arn:aws:iam::123456789012:role/scheduler",
        )
        .with_dead_letter(Some(dlq.to_string()));
    let services = Services {
        cloud: &cloud,
        function_region: Some("us-west-2"),
        ledger: Some(&ledger as &dyn Ledger),
        continuation: Some(&continuation as &dyn Continuation),
        schedule_origin: Default::default(),
    };
    let event = json!({"workloadIdentifier": "W", "action": "Stop", "runId": "nightly-1"});
    let first = handle_with(services, &event, Some(Duration::from_secs(120)), &fast_settings())
        .await
        .unwrap();
    assert_eq!(first["status"], "continuing", "{first}");
    assert_eq!(stack.instance(&web[0]).await.0, "stopped");
    assert_eq!(
        stack.instance(&app[0]).await.0,
        "running",
        "App waits for the 600 s delay"
    );

    // The continuation is a one-time schedule carrying the run key.
    let scheduler = aws_sdk_scheduler::Client::new(&stack.config);
    let schedules = scheduler.list_schedules().send().await.unwrap();
    assert_eq!(schedules.schedules().len(), 1);
    let name = schedules.schedules()[0].name().unwrap().to_string();
    assert!(name.starts_with("ec2ts-"));
    let schedule = scheduler.get_schedule().name(&name).send().await.unwrap();
    assert!(schedule.schedule_expression().unwrap().starts_with("at(20"));
    let input: serde_json::Value = serde_json::from_str(schedule.target().unwrap().input().unwrap()).unwrap();
    assert_eq!(input["continueRun"], first["runKey"]);
    // Retried inside the hand-over window, then the dead-letter queue.
    let target = schedule.target().unwrap();
    let retry = target.retry_policy().expect("a RetryPolicy");
    assert_eq!(retry.maximum_event_age_in_seconds(), Some(900));
    assert_eq!(retry.maximum_retry_attempts(), Some(3));
    assert_eq!(target.dead_letter_config().and_then(|d| d.arn()), Some(dlq));

    // A duplicate of the original delivery does nothing while the run is in progress.
    let again = handle_with(services, &event, Some(Duration::from_secs(120)), &fast_settings())
        .await
        .unwrap();
    assert_eq!(again["status"], "duplicate");
    assert!(again["message"].as_str().unwrap().contains("in progress"));

    // Delivered ten minutes early with two minutes left, it cannot wait:
    // it schedules itself again for its due time, under a new token.
    let early = handle_with(services, &input, Some(Duration::from_secs(120)), &fast_settings())
        .await
        .unwrap();
    assert_eq!(early["status"], "rescheduled", "{early}");
    assert_eq!(stack.instance(&app[0]).await.0, "running", "nothing done early");
    let mut again_inputs = Vec::new();
    for s in scheduler.list_schedules().send().await.unwrap().schedules() {
        let s = scheduler.get_schedule().name(s.name().unwrap()).send().await.unwrap();
        assert_eq!(
            s.schedule_expression(),
            schedule.schedule_expression(),
            "the same due time"
        );
        again_inputs.push(s.target().unwrap().input().unwrap().to_string());
    }
    assert_eq!(again_inputs.len(), 2, "moto keeps the fired one");
    let rescheduled: serde_json::Value = again_inputs
        .iter()
        .map(|i| serde_json::from_str::<serde_json::Value>(i).unwrap())
        .find(|i| i["continuationToken"] != input["continuationToken"])
        .unwrap();

    // The due time comes (the record says so, rather than waiting ten
    // minutes); the rescheduled continuation resumes after Web and finishes.
    let key = first["runKey"].as_str().unwrap();
    let mut due = ledger.load(key).await.unwrap().unwrap();
    due.resume_at = Some(clock::now());
    ledger.save(&due, Some(clock::now() + 900)).await.unwrap();
    let last = handle_with(services, &rescheduled, Some(Duration::from_secs(900)), &fast_settings())
        .await
        .unwrap();
    assert_eq!(last["status"], "completed", "{last}");
    assert_eq!(last["invocation"], 2);
    let tiers: Vec<&str> = last["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tier"].as_str().unwrap())
        .collect();
    assert_eq!(tiers, ["Role_App", "Role_DB"], "Web is not repeated");
    assert_eq!(stack.instance(&app[1]).await.0, "stopped");
    let record = ledger.load(first["runKey"].as_str().unwrap()).await.unwrap().unwrap();
    assert_eq!(record.status, LedgerStatus::Finished);
    assert_eq!(record.outcome.as_deref(), Some("completed"));
}

#[tokio::test]
async fn two_concurrent_cli_runs_make_one_run_and_the_other_says_by_whom() {
    let stack = Stack::start().await;
    ledger_table(&stack).await;
    let (_, subnet) = stack.vpc("10.5.0.0").await;
    let mut ids = Vec::new();
    for tier in ["Role_Web", "Role_App", "Role_DB"] {
        ids.extend(stack.launch_tier(&subnet, tier, 2).await);
    }
    let mut workload = workload_item("W");
    workload.as_object_mut().unwrap().remove("SNSTopicName");
    stack.put_config(workload, three_tiers("W", 2)).await;

    let args = [
        "-w",
        "W",
        "-r",
        "us-west-2",
        "-a",
        "Stop",
        "--ledger-table",
        "SchedulerRunLedger",
    ];
    let (a, b) = tokio::join!(stack.cli(&args), stack.cli(&args));
    let mut codes = [a.0, b.0];
    codes.sort();
    assert_eq!(codes, [0, 1], "one acts, the other is refused:\n{a:?}\n{b:?}");
    let refused = if a.0 == 1 { &a } else { &b };
    assert!(
        refused.2.contains("is in progress: run \"once|W|"),
        "says by which run: {}",
        refused.2
    );
    for id in &ids {
        assert_eq!(stack.instance(id).await.0, "stopped");
    }
    // The record says who ran it.
    let items = stack.ddb.scan().table_name("SchedulerRunLedger").send().await.unwrap();
    let records: Vec<RunRecord> = items
        .items()
        .iter()
        .filter_map(|i| i.get("record").and_then(|r| r.as_s().ok()))
        .map(|r| serde_json::from_str(r).unwrap())
        .collect();
    assert_eq!(records.len(), 1, "the refused run wrote nothing");
    assert!(records[0].requested_by.as_deref().unwrap().starts_with("cli "));
    assert_eq!(records[0].status, LedgerStatus::Finished);

    // Two hosts running the same cron line with the same --run-id: one run.
    let with_id = [
        "-w",
        "W",
        "-r",
        "us-west-2",
        "-a",
        "Start",
        "--ledger-table",
        "SchedulerRunLedger",
        "--run-id",
        "2026-11-25-start",
    ];
    let (a, b) = tokio::join!(stack.cli(&with_id), stack.cli(&with_id));
    let outputs = format!("{}{}{}{}", a.1, a.2, b.1, b.2);
    assert!(
        outputs.contains("duplicate:") || outputs.contains("is in progress"),
        "{outputs}"
    );
    let (code, out, _) = stack.cli(&with_id).await;
    assert_eq!(code, 0);
    assert!(
        out.contains("duplicate: run \"run|W|2026-11-25-start\" is already done"),
        "{out}"
    );
}

#[tokio::test]
async fn the_cli_without_a_ledger_says_it_runs_unlocked() {
    let stack = Stack::start().await;
    let (_, subnet) = stack.vpc("10.6.0.0").await;
    stack.launch_tier(&subnet, "Role_Web", 1).await;
    stack.put_config(workload_item("W"), three_tiers("W", 0)).await;
    let (code, _, err) = stack
        .cli(&["-w", "W", "-r", "us-west-2", "-a", "Stop", "--timeout", "120"])
        .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(err.matches("takes no workload lock").count(), 1, "{err}");
    let (code, _, err) = stack.cli(&["-w", "W", "-r", "us-west-2", "--timeout", "5"]).await;
    assert_eq!(code, 2, "a timeout under a minute is a usage error: {err}");
}
