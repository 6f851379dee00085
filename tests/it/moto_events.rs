//! Issue 35 against moto: a Stop and a Start with `EventBusName` put the
//! three kinds of events, read back through an EventBridge rule into an
//! SQS queue, with the schema the README documents; a run with
//! `ChatTopicName` publishes a message in AWS Chatbot's custom format; a
//! tier of 2,000 failed members puts events under the size limit with
//! `truncated` set.

use std::time::Duration;

use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::handler::{handle_with, Services};
use ec2_tier_scheduler::ledger::Ledger;
use ec2_tier_scheduler::orchestrator::{put_events, BusTarget, EVENT_TIMEOUT};
use ec2_tier_scheduler::run_events::{self, RunContext, PUT_BYTES};
use ec2_tier_scheduler::summary::{Failure, TierOutcome};
use serde_json::{json, Value};

use crate::support::moto::Stack;
use crate::support::{fast_settings, three_tiers, workload_item};

/// The sample rule of the README: Tier Completed with failures.
const FAILED_TIERS: &str = r#"{"source": ["ec2-tier-scheduler"], "detail-type": ["Tier Completed"], "detail": {"counts": {"failed": [{"numeric": [">", 0]}]}}}"#;

/// The events of one detail-type, in the order the queue gave them.
fn of_type<'a>(events: &'a [Value], detail_type: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["detail-type"] == detail_type).collect()
}

/// The keys of a detail, sorted.
fn keys(detail: &Value) -> Vec<String> {
    let mut k: Vec<String> = detail.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[tokio::test]
async fn a_stop_and_a_start_put_the_three_kinds_read_back_from_a_queue_and_chat() {
    let stack = Stack::start().await;
    stack.ledger_table().await;
    let (_, subnet) = stack.vpc("10.35.0.0").await;
    for tier in ["Role_Web", "Role_App", "Role_DB"] {
        stack.launch_tier(&subnet, tier, 1).await;
    }
    let mut workload = workload_item("W");
    workload.as_object_mut().unwrap().remove("SNSTopicName");
    workload["EventBusName"] = json!("ops-events");
    workload["ChatTopicName"] = json!("ops-chat");
    stack.put_config(workload, three_tiers("W", 0)).await;
    stack.sns.create_topic().name("ops-chat").send().await.unwrap();
    stack.event_queue(&["setup", "--bus", "ops-events", "--queue", "run-events"]);
    stack.event_queue(&[
        "setup",
        "--bus",
        "ops-events",
        "--queue",
        "failed-tiers",
        "--pattern",
        FAILED_TIERS,
    ]);

    let cloud = stack.cloud();
    let ledger = cloud.ledger("SchedulerRunLedger");
    let services = Services {
        cloud: &cloud,
        function_region: Some("us-west-2"),
        ledger: Some(&ledger as &dyn Ledger),
        continuation: None,
        schedule_origin: Default::default(),
    };
    for (action, run_id, first_tier) in [
        ("Stop", "nightly-stop", "Role_Web"),
        ("Start", "morning-start", "Role_DB"),
    ] {
        let event = json!({"workloadIdentifier": "W", "action": action, "runId": run_id});
        let response = handle_with(services, &event, Some(Duration::from_secs(300)), &fast_settings())
            .await
            .unwrap();
        assert_eq!(response["status"], "completed", "{response}");
        let events: Vec<Value> = stack
            .event_queue(&["read", "--queue", "run-events"])
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(events.len(), 5, "{events:#?}");
        for e in &events {
            assert_eq!(e["source"], "ec2-tier-scheduler");
            let d = &e["detail"];
            assert_eq!(
                (d["workload"].as_str(), d["action"].as_str()),
                (Some("W"), Some(action))
            );
            assert_eq!(d["runKey"], format!("run|W|{run_id}"));
            assert_eq!(d["invocation"], 1);
        }
        let started = &of_type(&events, "Run Started")[0]["detail"];
        assert_eq!(
            keys(started),
            [
                "action",
                "id",
                "invocation",
                "members",
                "region",
                "runKey",
                "tiers",
                "workload"
            ]
        );
        assert_eq!(started["members"], 3);
        let tiers = of_type(&events, "Tier Completed");
        assert_eq!(tiers.len(), 3);
        let first = tiers.iter().find(|e| e["detail"]["tier"] == first_tier).unwrap();
        let d = &first["detail"];
        assert_eq!(
            keys(d),
            [
                "acted",
                "action",
                "bypassed",
                "counts",
                "durationMs",
                "failed",
                "id",
                "invocation",
                "notDone",
                "runKey",
                "sequence",
                "skipped",
                "startedAtMs",
                "synchronous",
                "tier",
                "truncated",
                "waits",
                "workload"
            ]
        );
        assert_eq!(d["counts"]["acted"], 1, "{d}");
        assert_eq!(d["id"], format!("event|run%7CW%7C{run_id}|Tier Completed|{first_tier}"));
        let completed = &of_type(&events, "Run Completed")[0]["detail"];
        assert_eq!(
            keys(completed),
            [
                "action",
                "failures",
                "id",
                "invocation",
                "invocations",
                "message",
                "runKey",
                "status",
                "tiers",
                "tookMs",
                "totals",
                "truncated",
                "workload"
            ]
        );
        assert_eq!(completed["status"], "completed");
        assert_eq!(completed["totals"]["acted"], 3);
        assert_eq!(completed["invocations"], 1);
    }

    let failed = stack.event_queue(&["read", "--queue", "failed-tiers"]);
    assert_eq!(failed, json!([]), "no tier failed");

    // One Chatbot message per run, threaded by its run key.
    let chats: Vec<Value> = stack
        .moto
        .sns_messages()
        .await
        .into_iter()
        .filter(|(arn, _, _)| arn.ends_with(":ops-chat"))
        .map(|(_, _, m)| serde_json::from_str(&m).expect("JSON"))
        .collect();
    assert_eq!(chats.len(), 2);
    for (m, key) in chats.iter().zip(["run|W|nightly-stop", "run|W|morning-start"]) {
        assert_eq!(m["version"], "1.0");
        assert_eq!(m["source"], "custom");
        let content = &m["content"];
        assert_eq!(content["textType"], "client-markdown");
        assert!(content["title"].as_str().unwrap().contains(": completed"), "{m}");
        assert_eq!(content["description"].as_str().unwrap().matches("• `Role_").count(), 3);
        assert!(content["keywords"].as_array().is_some_and(|k| k.contains(&json!("W"))));
        assert_eq!(m["metadata"]["threadId"], key);
    }
}

#[tokio::test]
async fn a_tier_of_two_thousand_failed_members_fits_with_truncated_set() {
    let stack = Stack::start().await;
    stack.event_queue(&["setup", "--bus", "ops-events", "--queue", "big"]);
    stack.event_queue(&[
        "setup",
        "--bus",
        "ops-events",
        "--queue",
        "failed-tiers",
        "--pattern",
        FAILED_TIERS,
    ]);
    let mut tier = TierOutcome::new("Role_DB", 0, false);
    tier.failed = (0..2000)
        .map(|n| Failure {
            id: format!("i-{n:017x}"),
            reason: "start accepted, but EC2 says stopped: Client.InternalError: Client error on launch".into(),
            code: Some("Client.InternalError".into()),
        })
        .collect();
    let context = RunContext {
        workload: "W".into(),
        action: Action::Start,
        run_key: "run|W|big".into(),
        invocation: 1,
        maintenance_window: None,
    };
    let entry = run_events::tier_completed(&context, &tier);
    assert!(entry.size() < PUT_BYTES, "{}", entry.size());
    let cloud = stack.cloud();
    let target = BusTarget::of(&cloud, "ops-events", "us-west-2").expect("EventBridge");
    assert_eq!(put_events(&target, vec![entry], EVENT_TIMEOUT).await, 0, "put");
    let events = stack.event_queue(&["read", "--queue", "big"]);
    let d = &events[0]["detail"];
    assert_eq!(d["counts"]["failed"], 2000);
    assert_eq!(d["truncated"], true);
    assert!(d["failed"].as_array().unwrap().len() < 2000);
    assert_eq!(d["failed"][0]["code"], "Client.InternalError");
    // The README's sample rule takes it.
    let failed = stack.event_queue(&["read", "--queue", "failed-tiers"]);
    assert_eq!(failed.as_array().unwrap().len(), 1, "{failed}");
    assert_eq!(failed[0]["detail"]["tier"], "Role_DB");
    // A bus that does not exist: the entry is counted, nothing fails.
    let missing = BusTarget::of(&cloud, "no-such-bus", "us-west-2").unwrap();
    let entry = run_events::tier_completed(&context, &tier);
    assert_eq!(put_events(&missing, vec![entry], EVENT_TIMEOUT).await, 1);
}
