//! Issue 33 against moto, through the handler the Lambda binary runs:
//! GetMaintenanceWindow on moto's windows (which have no
//! NextExecutionTime: moto computes none), so a Stop schedules no window
//! Start or Stop and says why, a window Start finds its window moved and
//! does nothing, and a window Stop whose Start never ran does nothing.

use std::time::Duration;

use ec2_tier_scheduler::handler::{handle_with, Services};
use ec2_tier_scheduler::ledger::{Continuation, Ledger};
use ec2_tier_scheduler::ports::Cloud;
use serde_json::{json, Value};

use crate::support::moto::Stack;
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
