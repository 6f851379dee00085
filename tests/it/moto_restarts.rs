//! Issue 32 against moto, through the handler the Lambda binary runs: RDS's
//! event that it started a database by itself stops the database again
//! when its workload is stopped, and leaves it alone when the workload runs.

use std::time::Duration;

use aws_sdk_rds::types::Tag;
use ec2_tier_scheduler::handler::{handle_with, Services};
use ec2_tier_scheduler::ledger::{Continuation, Ledger};
use ec2_tier_scheduler::ports::{Cloud, WorkloadState};
use serde_json::{json, Value};

use crate::support::moto::Stack;
use crate::support::runtime_api::invoke_binary;
use crate::support::{fast_settings, three_tiers, workload_item};

/// W's DB tier lists RDS; `orders-db` is its member, up (RDS started it);
/// WorkloadState says `last`.
async fn workload(stack: &Stack, last: &str) {
    stack.ledger_table().await;
    let (_, subnet) = stack.vpc("10.32.0.0").await;
    stack
        .rds
        .create_db_subnet_group()
        .db_subnet_group_name("db")
        .db_subnet_group_description("db")
        .subnet_ids(subnet)
        .send()
        .await
        .unwrap();
    let tags = [("Environment", "ENV001"), ("Role", "Role_DB")]
        .iter()
        .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
        .collect();
    stack
        .rds
        .create_db_instance()
        .db_instance_identifier("orders-db")
        .db_instance_class("db.t3.micro")
        .engine("postgres")
        .allocated_storage(20)
        .master_username("scheduler")
        .master_user_password("not-a-secret-1")
        .db_subnet_group_name("db")
        .set_tags(Some(tags))
        .send()
        .await
        .unwrap();
    let mut item = workload_item("W");
    item.as_object_mut().unwrap().remove("SNSTopicName");
    let mut tiers = three_tiers("W", 0);
    tiers[2]["TierResourceTypes"] = json!("EC2, RDS");
    stack.put_config(item, tiers).await;
    let state = WorkloadState {
        last_action_type: last.into(),
        last_action_time: "2026-12-06 20:00:00 UTC".into(),
        profile: None,
    };
    stack
        .cloud()
        .config_store("us-west-2")
        .save_state("W", &state)
        .await
        .unwrap();
}

fn restarted(identifier: &str) -> Value {
    json!({
        "version": "0", "id": "0f1e2d3c-rds-restart", "detail-type": "RDS DB Instance Event",
        "source": "aws.rds", "account": "123456789012", "time": "2026-12-13T08:00:00Z",
        "region": "us-west-2", "resources": [],
        "detail": {"SourceType": "DB_INSTANCE", "SourceIdentifier": identifier, "EventID": "RDS-EVENT-0154"}
    })
}

async fn status(stack: &Stack) -> String {
    let out = stack
        .rds
        .describe_db_instances()
        .db_instance_identifier("orders-db")
        .send()
        .await
        .unwrap();
    out.db_instances()[0]
        .db_instance_status()
        .unwrap_or_default()
        .to_string()
}

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

#[tokio::test]
async fn rds_starting_a_database_of_a_stopped_workload_has_it_stopped_again() {
    let stack = Stack::start().await;
    workload(&stack, "Stop").await;
    assert_eq!(status(&stack).await, "available");
    let response = deliver(&stack, &restarted("orders-db")).await;
    assert_eq!(response["status"], "completed", "{response}");
    assert_eq!(status(&stack).await, "stopped");
    // The same event again: nothing more.
    let again = deliver(&stack, &restarted("orders-db")).await;
    assert_eq!(again["status"], "duplicate", "{again}");
}

#[tokio::test]
async fn rds_starting_a_database_of_a_running_workload_changes_nothing() {
    let stack = Stack::start().await;
    workload(&stack, "Start").await;
    let response = deliver(&stack, &restarted("orders-db")).await;
    assert_eq!(response["status"], "skipped", "{response}");
    assert_eq!(status(&stack).await, "available");
    let unknown = deliver(&stack, &restarted("not-ours")).await;
    assert_eq!(unknown["status"], "ignored", "{unknown}");
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
async fn the_lambda_binary_stops_a_database_rds_started_and_leaves_a_running_workloads() {
    let stack = Stack::start().await;
    workload(&stack, "Stop").await;
    let env = function_env(&stack);
    let event = restarted("orders-db");
    let answers = tokio::task::spawn_blocking(move || invoke_binary(&env, &[event.clone(), event]))
        .await
        .unwrap();
    assert_eq!(answers[0]["status"], "completed", "{:?}", answers[0]);
    assert_eq!(answers[1]["status"], "duplicate", "{:?}", answers[1]);
    assert_eq!(status(&stack).await, "stopped");

    // A running workload: the binary leaves its database up.
    let running = Stack::start().await;
    workload(&running, "Start").await;
    let env = function_env(&running);
    let answers = tokio::task::spawn_blocking(move || invoke_binary(&env, &[restarted("orders-db")]))
        .await
        .unwrap();
    assert_eq!(answers[0]["status"], "skipped", "{:?}", answers[0]);
    assert_eq!(status(&running).await, "available");
}
