//! Issue 33 against moto, through the handler the Lambda binary runs:
//! GetMaintenanceWindow on moto's windows (a cron window has no
//! NextExecutionTime: moto computes none), so a Stop schedules no window
//! Start or Stop and says why, a window Start finds its window moved and
//! does nothing, and a window Stop whose Start never ran does nothing.
//! The launcher gives a window scheduled `at(...)` its NextExecutionTime:
//! `plan` and `status` show its window Start and Stop, and the Lambda
//! binary opens the stopped workload at its window Start and closes it at
//! its window Stop.

use std::time::Duration;

use ec2_tier_scheduler::handler::{handle_with, Services};
use ec2_tier_scheduler::ledger::{Continuation, Ledger};
use ec2_tier_scheduler::ports::Cloud;
use serde_json::{json, Value};

use crate::support::moto::Stack;
use crate::support::runtime_api::invoke_binary;
use crate::support::{fast_settings, three_tiers, workload_item};

async fn deliver(stack: &Stack, payload: &Value) -> Value {
    let cloud = stack.cloud();
    let ledger = cloud.ledger("SchedulerRunLedger");
    let continuation = cloud.continuation(
        "arn:aws:lambda:us-west-2:123456789012:function:scheduler",
        "arn:aws:iam::123456789012:role/scheduler",
    );
    let services = Services {
        cloud: &cloud,
        function_region: Some("us-west-2"),
        ledger: Some(&ledger as &dyn Ledger),
        continuation: Some(&continuation as &dyn Continuation),
        schedule_origin: Default::default(),
    };
    handle_with(services, payload, Some(Duration::from_secs(300)), &fast_settings())
        .await
        .unwrap()
}

fn asked(action: &str, run_id: &str) -> Value {
    json!({"workloadIdentifier": "W", "action": action, "dynamoDBRegion": "us-west-2", "runId": run_id})
}

#[tokio::test]
async fn moto_windows_are_read_and_a_window_without_next_execution_opens_nothing() {
    let stack = Stack::start().await;
    stack.ledger_table().await;
    let (_, subnet) = stack.vpc("10.33.0.0").await;
    let db = stack.launch_tier(&subnet, "Role_DB", 1).await;
    let created = stack
        .ssm
        .create_maintenance_window()
        .name("sunday-patching")
        .schedule("cron(0 4 ? * SUN *)")
        .schedule_timezone("Europe/Berlin")
        .duration(3)
        .cutoff(1)
        .allow_unassociated_targets(false)
        .send()
        .await
        .unwrap();
    let id = created.window_id().unwrap().to_string();

    // The adapter reads it: Duration, Cutoff, Enabled; no NextExecutionTime from moto.
    let ports = stack.cloud().workload_ports("us-west-2", None).await.unwrap();
    let window = ports.remote.maintenance_window(&id).await.unwrap();
    assert_eq!(
        (window.duration_hours, window.cutoff_hours, window.enabled),
        (3, 1, true)
    );
    assert_eq!(window.next_execution, None);

    let mut item = workload_item("W");
    item.as_object_mut().unwrap().remove("SNSTopicName");
    item["MaintenanceWindows"] = json!(id);
    stack.put_config(item, three_tiers("W", 0)).await;

    // A Stop: done, and no window schedules, with a warning saying why.
    let stop = deliver(&stack, &asked("Stop", "friday")).await;
    assert_eq!(stop["status"], "completed", "{stop}");
    assert!(stop["warnings"].to_string().contains("no next execution"), "{stop}");

    // A window Start for an execution moto never gave: the window moved.
    let execution = 1_900_000_000u64;
    let mut start = asked("Start", "window-start");
    start["maintenanceWindow"] = json!({"id": id, "edge": "Start", "execution": execution});
    let opened = deliver(&stack, &start).await;
    assert_eq!(opened["status"], "skipped", "{opened}");
    assert!(opened["message"].as_str().unwrap().contains("moved"), "{opened}");
    let mut stop = asked("Stop", "window-stop");
    stop["maintenanceWindow"] = json!({"id": id, "edge": "Stop", "execution": execution});
    let closed = deliver(&stack, &stop).await;
    assert_eq!(closed["status"], "skipped", "{closed}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(stack.instance(&db[0]).await.0, "stopped");
}

/// A window on `schedule` (UTC), 2 hours long; its id.
async fn window(stack: &Stack, name: &str, schedule: &str) -> String {
    let created = stack
        .ssm
        .create_maintenance_window()
        .name(name)
        .schedule(schedule)
        .duration(2)
        .cutoff(1)
        .allow_unassociated_targets(false)
        .send()
        .await
        .unwrap();
    created.window_id().unwrap().to_string()
}

/// W on three tiers of one instance each, its windows `windows`; the
/// instance ids, database first.
async fn workload_with(stack: &Stack, windows: &str) -> Vec<String> {
    stack.ledger_table().await;
    let (_, subnet) = stack.vpc("10.33.0.0").await;
    let mut ids = Vec::new();
    for tier in ["Role_DB", "Role_App", "Role_Web"] {
        ids.extend(stack.launch_tier(&subnet, tier, 1).await);
    }
    let mut item = workload_item("W");
    item.as_object_mut().unwrap().remove("SNSTopicName");
    item["MaintenanceWindows"] = json!(windows);
    stack.put_config(item, three_tiers("W", 0)).await;
    ids
}

/// A whole minute, UTC, `days` from now, as `at(...)` takes it and as
/// seconds since the epoch.
fn days_on(days: u64) -> (String, u64) {
    let at = (ec2_tier_scheduler::clock::now() / 60 + days * 1440) * 60;
    (format!("at({})", ec2_tier_scheduler::clock::utc_timestamp(at)), at)
}

#[tokio::test]
async fn plan_and_status_show_each_windows_start_and_stop_or_that_it_has_none() {
    let stack = Stack::start().await;
    let (schedule, execution) = days_on(2);
    let once = window(&stack, "once", &schedule).await;
    let weekly = window(&stack, "weekly", "cron(0 4 ? * SUN *)").await;
    workload_with(&stack, &format!("{once},{weekly}")).await;
    let start = ec2_tier_scheduler::clock::show_utc(execution - 15 * 60);
    let stop = ec2_tier_scheduler::clock::show_utc(execution + 2 * 3600);

    let (code, out, err) = stack.cli(&["plan", "-w", "W", "-r", "us-west-2", "-a", "Start"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Maintenance windows:"), "{out}");
    assert!(
        out.contains(&format!("{once}: window Start {start} UTC, window Stop {stop} UTC")),
        "{out}"
    );
    assert!(out.contains(&format!("{weekly}: no next execution")), "{out}");
    let (code, out, _) = stack
        .cli(&["plan", "-w", "W", "-r", "us-west-2", "-a", "Start", "--json"])
        .await;
    assert_eq!(code, 0);
    let plan: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["workload"], "W", "the plan's own keys: {plan}");
    assert_eq!(plan["windows"][0]["windowStart"], execution - 900, "{plan}");
    assert!(plan["windows"][1]["note"]
        .as_str()
        .unwrap()
        .contains("no next execution"));

    let (code, out, err) = stack.cli(&["status", "-w", "W", "-r", "us-west-2"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("{once}: window Start {start} UTC, window Stop {stop} UTC")),
        "{out}"
    );
    assert!(out.contains(&format!("{weekly}: no next execution")), "{out}");
    let (code, out, _) = stack.cli(&["status", "-w", "W", "-r", "us-west-2", "--json"]).await;
    assert_eq!(code, 0);
    let status: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["windows"][0]["windowStart"], execution - 900, "{status}");
    assert_eq!(status["windows"][0]["windowStop"], execution + 7200, "{status}");
    assert!(status["windows"][1]["note"]
        .as_str()
        .unwrap()
        .contains("no next execution"));
}

/// The Lambda binary's environment against this emulator, with the run
/// ledger and continuations as the stack configures them.
fn function_env(stack: &Stack) -> Vec<(&'static str, String)> {
    let mut env = stack.cli_env();
    env.push(("RUN_LEDGER_TABLE", "SchedulerRunLedger".into()));
    env.push((
        "CONTINUATION_ROLE_ARN",
        "arn:aws:iam::123456789012:role/scheduler".into(),
    ));
    env
}

#[tokio::test]
async fn the_lambda_binary_opens_a_stopped_workload_for_its_window_and_closes_it() {
    let stack = Stack::start().await;
    let (schedule, execution) = days_on(1);
    let id = window(&stack, "patching", &schedule).await;
    let instances = workload_with(&stack, &id).await;
    let stop = deliver(&stack, &asked("Stop", "friday")).await;
    assert_eq!(stop["status"], "completed", "{stop}");
    assert!(!stop["warnings"].to_string().contains("no next execution"), "{stop}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    for i in &instances {
        assert_eq!(stack.instance(i).await.0, "stopped", "{i}");
    }

    // The payloads the window's schedules carry, delivered to the binary.
    let edge = |action: &str| {
        let mut event = asked(action, &format!("window-{id}-{execution}-{action}"));
        event["maintenanceWindow"] = json!({"id": id, "edge": action, "execution": execution});
        event
    };
    let env = function_env(&stack);
    let opened = {
        let (env, event) = (env.clone(), edge("Start"));
        tokio::task::spawn_blocking(move || invoke_binary(&env, &[event]))
            .await
            .unwrap()
    };
    assert_eq!(opened[0]["status"], "completed", "{:?}", opened[0]);
    assert_eq!(opened[0]["maintenanceWindow"]["id"], id.as_str(), "{:?}", opened[0]);
    for i in &instances {
        assert_eq!(stack.instance(i).await.0, "running", "{i}");
    }
    let state = stack.cloud().config_store("us-west-2").load_state("W").await.unwrap();
    assert!(
        format!("{state:?}").contains("Stop"),
        "WorkloadState unchanged: {state:?}"
    );

    let event = edge("Stop");
    let closed = tokio::task::spawn_blocking(move || invoke_binary(&env, &[event]))
        .await
        .unwrap();
    assert_eq!(closed[0]["status"], "completed", "{:?}", closed[0]);
    tokio::time::sleep(Duration::from_secs(1)).await;
    for i in &instances {
        assert_eq!(stack.instance(i).await.0, "stopped", "{i}");
    }
}
