//! Issue 28: a continuation is honoured only inside its hand-over window
//! and only while the workload lock is its run's. One that comes later, or
//! after a later run of the workload began, is refused with nothing done,
//! reported (response, SNS, metric line) and its run ends interrupted with
//! what it never reached listed as not done.

use std::time::Duration;

use ec2_tier_scheduler::handler::handle_delivery;
use ec2_tier_scheduler::instance::InstanceState::*;
use ec2_tier_scheduler::ledger::{LedgerStatus, HANDOVER_WINDOW_SECS};
use ec2_tier_scheduler::orchestrator::Settings;
use ec2_tier_scheduler::run_service;
use serde_json::{json, Value};

use crate::reliability::{fleet, Harness, LONG};
use crate::support::{three_tiers, workload_item};

/// Three tiers of one instance, an hour between them, with the SNS topic:
/// a Stop stops Web, then hands over to a continuation due in an hour.
async fn stop_handed_over() -> (Harness, Value) {
    let cloud = fleet(Running, 3600, 1);
    cloud.put_config(workload_item("W"), three_tiers("W", 3600));
    let h = Harness::new(cloud);
    let first = h.deliver(&asked("Stop", "nightly-stop"), LONG).await.unwrap();
    assert_eq!(first["status"], "continuing", "{first}");
    let list = h.continuation.scheduled.lock().unwrap().clone();
    assert_eq!(list.len(), 1);
    h.continuation.scheduled.lock().unwrap().clear();
    (h, list[0].1.clone())
}

/// A run of W asked for under `run_id`.
fn asked(action: &str, run_id: &str) -> Value {
    json!({"workloadIdentifier": "W", "action": action, "dynamoDBRegion": "us-west-2", "runId": run_id})
}

/// Sleeps (paused time) until `secs` after the continuation's due time.
async fn until_after_due(h: &Harness, payload: &Value, secs: u64) {
    let key = payload["continueRun"].as_str().unwrap();
    let due = h.ledger.lock().records[key].resume_at.expect("a due time");
    let at = due + secs;
    tokio::time::sleep(Duration::from_secs(at.saturating_sub(run_service::now()))).await;
}

fn stops(h: &Harness) -> usize {
    h.cloud.calls_of("StopInstances").len()
}

#[tokio::test(start_paused = true)]
async fn a_continuation_after_its_window_is_refused_and_the_run_ends_interrupted() {
    let (h, payload) = stop_handed_over().await;
    assert_eq!(stops(&h), 1, "Web only");
    // 26 minutes after its due time: past the 16-minute window.
    until_after_due(&h, &payload, 26 * 60 + 30).await;
    let handled = handle_delivery(h.services(), &payload, Some(LONG), &Settings::default())
        .await
        .unwrap();
    let response = &handled.response;
    assert_eq!(response["status"], "interrupted", "{response}");
    assert_eq!(response["refused"]["reason"], "late");
    let late_by = response["refused"]["lateBySecs"].as_u64().unwrap();
    assert!((26 * 60 + 29..=26 * 60 + 31).contains(&late_by), "{late_by}");
    assert_eq!(stops(&h), 1, "nothing done: App and DB keep running");
    assert_eq!(h.cloud.state_of("i-App000"), Running);
    assert_eq!(h.cloud.state_of("i-DB000"), Running);

    // The record ends interrupted; what it never reached is not done, and says why.
    let key = payload["continueRun"].as_str().unwrap();
    let record = h.ledger.lock().records[key].clone();
    assert_eq!(record.status, LedgerStatus::Interrupted);
    assert_eq!(record.outcome.as_deref(), Some("interrupted"));
    assert_eq!(record.continuation_token, None, "no further continuation is honoured");
    assert_eq!(
        h.ledger.lock().locks.get("W").map(|(k, _)| k.as_str()),
        Some(key),
        "the lock is left alone"
    );
    let summary = record.summary.as_ref().unwrap();
    assert_eq!(summary["status"], "interrupted");
    let not_done: Vec<(String, String)> = summary["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["notDone"].as_array().unwrap().clone())
        .map(|n| {
            (
                n["id"].as_str().unwrap().to_string(),
                n["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let ids: Vec<&str> = not_done.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["i-App000", "i-DB000"], "{summary}");
    assert!(
        not_done
            .iter()
            .all(|(_, r)| r.contains("arrived 26 minutes late and was refused")),
        "{not_done:?}"
    );
    assert_eq!(record.history.last().unwrap().status, "interrupted");

    // Reported: SNS, the log's metric line.
    let published = h.cloud.lock().published.clone();
    let (_, subject, body) = published.last().expect("a notice");
    assert!(subject.contains("interrupted"), "{subject}");
    assert!(
        body.starts_with(&format!(
            "continuation of run {key:?} arrived 26 minutes late and was refused; the run ends as interrupted"
        )),
        "{body}"
    );
    let line = handled.outcome.metrics_line("Ns", 0, 0).expect("a metric line");
    let line: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(line["LateContinuations"], 1, "{line}");
    assert_eq!(
        (line["Workload"].as_str(), line["Action"].as_str()),
        (Some("W"), Some("Stop"))
    );

    // A second copy of the late delivery is a duplicate and does nothing.
    let calls = h.cloud.calls().len();
    let again = h.deliver(&payload, LONG).await.unwrap();
    assert_eq!(again["status"], "duplicate", "{again}");
    assert_eq!(h.cloud.calls().len(), calls);
}

#[tokio::test(start_paused = true)]
async fn a_stop_continuation_delivered_after_a_later_start_finished_does_nothing() {
    let (h, payload) = stop_handed_over().await;
    // The Stop's continuation is delayed for hours; the morning's Start
    // takes the lapsed lock, starts Web, finishes and releases the lock.
    until_after_due(&h, &payload, 3 * 3600).await;
    let started = h.deliver(&asked("Start", "morning-start"), LONG).await.unwrap();
    assert_eq!(started["status"], "completed", "{started}");
    assert_eq!(h.cloud.state_of("i-Web000"), Running);
    assert!(h.ledger.lock().locks.is_empty(), "the Start released the lock");

    let stops_before = stops(&h);
    let late = h.deliver(&payload, LONG).await.unwrap();
    assert_eq!(late["status"], "interrupted", "{late}");
    assert_eq!(stops(&h), stops_before, "nothing stopped at midday");
    for id in ["i-Web000", "i-App000", "i-DB000"] {
        assert_eq!(h.cloud.state_of(id), Running, "{id}");
    }
    let key = payload["continueRun"].as_str().unwrap();
    let record = h.ledger.lock().records[key].clone();
    assert_eq!(record.status, LedgerStatus::Interrupted);
    assert_eq!(
        record.superseded_by.as_deref(),
        started["runKey"].as_str(),
        "runs show names the Start"
    );
    assert_eq!(late["supersededBy"], started["runKey"]);
    let shown = ec2_tier_scheduler::history::show_text(&record);
    assert!(shown.contains("superseded by run"), "{shown}");
    assert!(shown.contains(started["runKey"].as_str().unwrap()), "{shown}");
}

#[tokio::test(start_paused = true)]
async fn a_later_run_ends_the_claim_to_continue_even_inside_the_window() {
    let (h, payload) = stop_handed_over().await;
    // The lock lapses early (an operator cleared it, a clock jumped): a
    // Start takes it and finishes before the Stop's continuation is due.
    h.ledger.lock().locks.get_mut("W").unwrap().1 = 0;
    let started = h.deliver(&asked("Start", "manual-start"), LONG).await.unwrap();
    assert_eq!(started["status"], "completed", "{started}");

    // Delivered on time, inside its window: refused all the same.
    until_after_due(&h, &payload, 0).await;
    let stops_before = stops(&h);
    let late = h.deliver(&payload, LONG).await.unwrap();
    assert_eq!(late["status"], "interrupted", "{late}");
    assert_eq!(late["refused"]["reason"], "superseded");
    assert_eq!(stops(&h), stops_before);
    let key = payload["continueRun"].as_str().unwrap();
    let record = h.ledger.lock().records[key].clone();
    assert_eq!(record.superseded_by.as_deref(), started["runKey"].as_str());
}

#[tokio::test(start_paused = true)]
async fn a_continuation_inside_its_window_resumes_as_today() {
    for after in [0, HANDOVER_WINDOW_SECS - 60] {
        let (h, payload) = stop_handed_over().await;
        until_after_due(&h, &payload, after).await;
        let resumed = h.deliver(&payload, LONG).await.unwrap();
        // App stops; the next hour's delay hands over again.
        assert_eq!(resumed["status"], "continuing", "{after}: {resumed}");
        let rest = h.drain_continuations(LONG).await;
        assert_eq!(rest.last().unwrap()["status"], "completed", "{rest:?}");
        tokio::time::sleep(Duration::from_secs(120)).await;
        for id in ["i-Web000", "i-App000", "i-DB000"] {
            assert_eq!(h.cloud.state_of(id), Stopped, "{id}");
        }
    }
}
