//! Issue 35: every run as events. With `EventBusName` a run puts `Run
//! Started`, one `Tier Completed` per tier and one `Run Completed` on the
//! bus (source `ec2-tier-scheduler`), each with a stable id; with
//! `ChatTopicName` it publishes one AWS Chatbot message at its end. A
//! refused event is counted, never a run failure; big tiers stay under
//! PutEvents' limits (the fake asserts them on every request).

use std::collections::HashSet;

use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::instance::InstanceState::*;
use ec2_tier_scheduler::instance::StateReason;
use ec2_tier_scheduler::orchestrator::Settings;
use ec2_tier_scheduler::run_events::{RUN_COMPLETED, RUN_STARTED, SOURCE, TIER_COMPLETED};
use ec2_tier_scheduler::run_service::{self, Delivery, Outcome, RunService};
use ec2_tier_scheduler::summary::RunStatus;
use serde_json::{json, Value};

use crate::reliability::{fleet, Harness, LONG};
use crate::support::fake::FakeCloud;
use crate::support::{request, three_tiers, workload_item};

/// W's workload item with the bus and the chat topic.
fn with_events(cloud: &FakeCloud, delay: u32) {
    let mut workload = workload_item("W");
    workload["EventBusName"] = json!("ops-events");
    workload["ChatTopicName"] = json!("ops-chat");
    cloud.put_config(workload, three_tiers("W", delay));
}

/// The events put so far: (detail-type, detail).
fn events(cloud: &FakeCloud) -> Vec<(String, Value)> {
    cloud
        .lock()
        .events
        .iter()
        .map(|(bus, e)| {
            assert_eq!(bus, "ops-events");
            assert_eq!(e.source, SOURCE);
            (e.detail_type.clone(), serde_json::from_str(&e.detail).unwrap())
        })
        .collect()
}

fn of_kind<'a>(events: &'a [(String, Value)], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|(k, _)| k == kind).map(|(_, d)| d).collect()
}

/// The Chatbot messages published to the chat topic, parsed.
fn chat_messages(cloud: &FakeCloud) -> Vec<Value> {
    cloud
        .lock()
        .published
        .iter()
        .filter(|(topic, _, _)| topic == "ops-chat")
        .map(|(_, _, m)| serde_json::from_str(m).expect("the chat message is JSON"))
        .collect()
}

fn asked(action: &str, run_id: &str) -> Value {
    json!({"workloadIdentifier": "W", "action": action, "dynamoDBRegion": "us-west-2", "runId": run_id})
}

#[tokio::test(start_paused = true)]
async fn a_stop_and_a_start_put_the_three_kinds_and_one_chat_message_each() {
    let cloud = fleet(Running, 5, 2);
    with_events(&cloud, 5);
    let h = Harness::new(cloud);
    for (action, run_id, order) in [
        ("Stop", "nightly-stop", ["Role_Web", "Role_App", "Role_DB"]),
        ("Start", "morning-start", ["Role_DB", "Role_App", "Role_Web"]),
    ] {
        h.cloud.lock().events.clear();
        let response = h.deliver(&asked(action, run_id), LONG).await.unwrap();
        assert_eq!(response["status"], "completed", "{response}");
        let key = format!("run|W|{run_id}");
        let all = events(&h.cloud);
        let kinds: Vec<&str> = all.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            kinds,
            [
                RUN_STARTED,
                TIER_COMPLETED,
                TIER_COMPLETED,
                TIER_COMPLETED,
                RUN_COMPLETED
            ]
        );
        for (_, d) in &all {
            assert_eq!(
                (d["workload"].as_str(), d["action"].as_str()),
                (Some("W"), Some(action))
            );
            assert_eq!(d["runKey"], key.as_str());
            assert_eq!(d["invocation"], 1);
            assert!(d["id"].as_str().unwrap().starts_with("event|run%7CW%7C"), "{d}");
        }
        let started = of_kind(&all, RUN_STARTED)[0];
        assert_eq!(started["members"], 6, "{started}");
        let tiers: Vec<&str> = of_kind(&all, TIER_COMPLETED)
            .iter()
            .map(|d| d["tier"].as_str().unwrap())
            .collect();
        assert_eq!(tiers, order);
        let web = of_kind(&all, TIER_COMPLETED)
            .into_iter()
            .find(|d| d["tier"] == "Role_Web")
            .unwrap();
        assert_eq!(web["counts"]["acted"], 2, "{web}");
        assert_eq!(web["acted"].as_array().unwrap().len(), 2);
        assert_eq!(web["truncated"], false);
        assert!(web["waits"].as_array().is_some_and(|w| !w.is_empty()), "{web}");
        let completed = of_kind(&all, RUN_COMPLETED)[0];
        assert_eq!(completed["status"], "completed");
        assert_eq!(completed["totals"]["acted"], 6, "{completed}");
        assert_eq!(completed["invocations"], 1);
        assert_eq!(completed["tiers"].as_array().unwrap().len(), 3);
        let ids: HashSet<&str> = all.iter().map(|(_, d)| d["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), 5, "every event its own id");
    }
    let chats = chat_messages(&h.cloud);
    assert_eq!(chats.len(), 2, "one message per run end");
    for (m, key) in chats.iter().zip(["run|W|nightly-stop", "run|W|morning-start"]) {
        assert_eq!(
            (m["version"].as_str(), m["source"].as_str()),
            (Some("1.0"), Some("custom"))
        );
        assert_eq!(m["content"]["textType"], "client-markdown");
        assert_eq!(m["metadata"]["threadId"], key);
        let description = m["content"]["description"].as_str().unwrap();
        assert_eq!(
            description.lines().filter(|l| l.starts_with("• `Role_")).count(),
            3,
            "{description}"
        );
        assert!(m["content"].get("nextSteps").is_none(), "nothing failed");
    }
}

#[tokio::test(start_paused = true)]
async fn ids_stay_stable_across_a_continuation_and_a_repeated_delivery() {
    // An hour between tiers: the Stop hands over after each tier.
    let cloud = fleet(Running, 3600, 1);
    with_events(&cloud, 3600);
    let h = Harness::new(cloud);
    let first = h.deliver(&asked("Stop", "nightly-stop"), LONG).await.unwrap();
    assert_eq!(first["status"], "continuing", "{first}");
    let again = h.deliver(&asked("Stop", "nightly-stop"), LONG).await.unwrap();
    assert_eq!(again["status"], "duplicate");
    let responses = h.drain_continuations(LONG).await;
    assert_eq!(responses.last().unwrap()["status"], "completed");

    let all = events(&h.cloud);
    assert_eq!(of_kind(&all, RUN_STARTED).len(), 1, "only the fresh run starts");
    let completed = of_kind(&all, RUN_COMPLETED);
    assert_eq!(completed.len(), 1, "once per run, not per invocation");
    assert_eq!(completed[0]["invocations"], 3, "{}", completed[0]);
    assert_eq!(completed[0]["totals"]["acted"], 3);
    let tiers: Vec<(&str, u64)> = of_kind(&all, TIER_COMPLETED)
        .iter()
        .map(|d| (d["tier"].as_str().unwrap(), d["invocation"].as_u64().unwrap()))
        .collect();
    assert_eq!(tiers, [("Role_Web", 1), ("Role_App", 2), ("Role_DB", 3)]);
    let ids: Vec<&str> = all.iter().map(|(_, d)| d["id"].as_str().unwrap()).collect();
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len(), "{ids:?}");
    assert_eq!(chat_messages(&h.cloud).len(), 1);

    // The same run delivered again outside the ledger (same key): the
    // same ids, so a consumer drops the repeats.
    let again = FakeCloud::new();
    with_events(&again, 0);
    for tier in ["Role_Web", "Role_App", "Role_DB"] {
        again.add(&format!("i-{}", &tier[5..]), "ENV001", tier, Running);
    }
    let mut req = request("W", Action::Stop);
    req.run_key = Some("run|W|nightly-stop".into());
    let service = RunService {
        cloud: &again,
        ledger: None,
        continuation: None,
        settings: &Settings::default(),
    };
    service.run(&req, Delivery::new("test"), None).await.unwrap();
    let repeated: HashSet<String> = events(&again)
        .iter()
        .map(|(_, d)| d["id"].as_str().unwrap().to_string())
        .collect();
    let first_ids: HashSet<String> = ids.iter().map(|s| s.to_string()).collect();
    assert_eq!(repeated, first_ids);
}

#[tokio::test(start_paused = true)]
async fn a_refused_entry_is_logged_and_counted_never_a_run_failure() {
    let cloud = fleet(Running, 0, 1);
    with_events(&cloud, 0);
    cloud.lock().refused_events.push("Tier Completed|Role_App".into());
    let service = RunService {
        cloud: &cloud,
        ledger: None,
        continuation: None,
        settings: &Settings::default(),
    };
    let outcome = service
        .run(&request("W", Action::Stop), Delivery::new("test"), None)
        .await
        .unwrap();
    let Outcome::Ran { report, .. } = &outcome else {
        panic!("ran")
    };
    assert_eq!(report.summary.status, RunStatus::Completed);
    assert_eq!(report.summary.events_failed, 1);
    assert_ne!(cloud.state_of("i-DB000"), Running, "the next tier went on");
    let line: Value = serde_json::from_str(&outcome.metrics_line("Ns", 0, 0).unwrap()).unwrap();
    assert_eq!(line["EventsFailed"], 1, "{line}");
    let kinds: Vec<String> = events(&cloud).into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds.len(), 4, "the other events were put: {kinds:?}");

    // A bus that refuses the whole request: every entry counted.
    let cloud = fleet(Running, 0, 1);
    with_events(&cloud, 0);
    cloud.fault("PutEvents", None, "AccessDeniedException", 100);
    let service = RunService {
        cloud: &cloud,
        ..service
    };
    let outcome = service
        .run(&request("W", Action::Stop), Delivery::new("test"), None)
        .await
        .unwrap();
    let Outcome::Ran { report, .. } = &outcome else {
        panic!("ran")
    };
    assert_eq!(report.summary.status, RunStatus::Completed);
    assert_eq!(report.summary.events_failed, 5);
}

#[tokio::test(start_paused = true)]
async fn a_tier_with_two_thousand_failed_members_stays_under_the_size_limit() {
    let cloud = FakeCloud::new();
    with_events(&cloud, 0);
    for n in 0..2000 {
        let id = format!("i-{n:017x}");
        cloud.add(&id, "ENV001", "Role_DB", Stopped);
        cloud.lock().start_falls_back.insert(
            id,
            StateReason {
                code: "Client.InternalError".into(),
                message: "Client.InternalError: Client error on launch".into(),
            },
        );
    }
    let service = RunService {
        cloud: &cloud,
        ledger: None,
        continuation: None,
        settings: &Settings::default(),
    };
    let outcome = service
        .run(&request("W", Action::Start), Delivery::new("test"), None)
        .await
        .unwrap();
    let Outcome::Ran { report, .. } = &outcome else {
        panic!("ran")
    };
    assert_eq!(report.summary.status, RunStatus::CompletedWithFailures);
    assert_eq!(report.summary.events_failed, 0);
    // Every request was under 256 KB (the fake asserts it); each entry too.
    let put = cloud.lock().events.clone();
    for (_, e) in &put {
        assert!(e.detail.len() < 256 * 1024 / 4, "{}", e.detail.len());
    }
    let all = events(&cloud);
    let db = of_kind(&all, TIER_COMPLETED)
        .into_iter()
        .find(|d| d["tier"] == "Role_DB")
        .unwrap()
        .clone();
    assert_eq!(db["counts"]["failed"], 2000);
    assert_eq!(db["truncated"], true);
    assert!(db["failed"].as_array().unwrap().len() < 2000);
    assert_eq!(db["failed"][0]["code"], "Client.InternalError", "{}", db["failed"][0]);
    let completed = of_kind(&all, RUN_COMPLETED)[0];
    assert_eq!(completed["totals"]["failed"], 2000);
    assert_eq!(completed["truncated"], true);
    let chat = &chat_messages(&cloud)[0];
    let description = chat["content"]["description"].as_str().unwrap();
    assert!(description.contains("... and 1990 more"), "{description}");
    assert!(chat["content"]["nextSteps"].as_array().is_some_and(|s| !s.is_empty()));
}

#[tokio::test(start_paused = true)]
async fn a_run_whose_continuation_came_too_late_ends_interrupted_and_says_so() {
    let cloud = fleet(Running, 3600, 1);
    with_events(&cloud, 3600);
    let h = Harness::new(cloud);
    let first = h.deliver(&asked("Stop", "nightly-stop"), LONG).await.unwrap();
    assert_eq!(first["status"], "continuing", "{first}");
    let (_, payload, at) = h.continuation.scheduled.lock().unwrap().remove(0);
    // Half an hour after its due time: past the hand-over window.
    let late = at + 30 * 60;
    tokio::time::sleep(std::time::Duration::from_secs(late.saturating_sub(run_service::now()))).await;
    let response = h.deliver(&payload, LONG).await.unwrap();
    assert_eq!(response["status"], "interrupted", "{response}");
    let all = events(&h.cloud);
    let completed = of_kind(&all, RUN_COMPLETED);
    assert_eq!(completed.len(), 1, "{all:#?}");
    assert_eq!(completed[0]["status"], "interrupted");
    assert_eq!(completed[0]["totals"]["acted"], 1, "Web only");
    assert_eq!(completed[0]["totals"]["notDone"], 2, "App and DB never reached");
    let chats = chat_messages(&h.cloud);
    assert_eq!(chats.len(), 1);
    assert!(
        chats[0]["content"]["nextSteps"].is_array(),
        "members were left: {}",
        chats[0]
    );
}

/// A bus that answers only after 30 seconds, in an invocation with 10
/// seconds left: the tier events are cut at their 5 seconds, and `Run
/// Completed` at what is left of the budget, so the response still comes
/// before the safety margin (2 seconds) is spent. Before, each send took
/// its whole 5 seconds whatever the deadline.
#[tokio::test(start_paused = true)]
async fn the_last_event_sends_stop_at_the_budget_not_past_the_deadline() {
    use crate::support::fake::{Latencies, Latency};
    let zero = Latency::ms(0, 0);
    let cloud = fleet(Running, 0, 1);
    let cloud = cloud.with_latencies(Latencies {
        describe: zero,
        mutate: zero,
        status: zero,
        refused: zero,
        dynamodb: zero,
        publish: zero,
        events: Latency::ms(30_000, 0),
        other: zero,
    });
    with_events(&cloud, 0);
    let service = RunService {
        cloud: &cloud,
        ledger: None,
        continuation: None,
        settings: &Settings::default(),
    };
    let began = tokio::time::Instant::now();
    let outcome = service
        .run(
            &request("W", Action::Stop),
            Delivery::new("test"),
            Some(std::time::Duration::from_secs(10)),
        )
        .await
        .unwrap();
    let took = began.elapsed();
    let Outcome::Ran { report, .. } = &outcome else {
        panic!("ran")
    };
    assert_eq!(report.summary.status, RunStatus::Completed);
    assert_eq!(report.summary.events_failed, 5, "every event counted as not put");
    assert!(
        took <= std::time::Duration::from_secs(8),
        "the sends ended with the budget (10 s less the 2 s margin): took {took:?}"
    );
    assert_eq!(chat_messages(&cloud).len(), 1, "the chat message still went");
}
