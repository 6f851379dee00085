//! Issue 32: a database RDS starts by itself (seven days after a stop)
//! while its workload is stopped is stopped again: the RDS event (its id
//! the run's at-least-once key) names the database, the function finds its
//! workload by the workload's own discovery, waits (holding no lock) while
//! it starts, and runs a re-stop of that database alone if the workload is
//! still stopped.

use std::time::Duration;

use ec2_tier_scheduler::instance::InstanceState::*;
use ec2_tier_scheduler::ledger::{recheck_name, LedgerStatus};
use ec2_tier_scheduler::member::MemberId;
use ec2_tier_scheduler::member::MemberKind::{self, Aurora, Rds};
use ec2_tier_scheduler::ports::WorkloadState;
use ec2_tier_scheduler::rds_event::{CLUSTER_RESTART, INSTANCE_RESTART};
use ec2_tier_scheduler::run_service::{self, RECHECK_AFTER_SECS};
use serde_json::{json, Value};

use crate::reliability::{Harness, LONG};
use crate::support::fake::FakeCloud;
use crate::support::{three_tiers, workload_item};

/// W stopped by the scheduler: its instances stopped, an RDS instance and
/// an Aurora cluster in Role_DB (which lists both), up again because RDS
/// started them; WorkloadState says `last`.
fn stopped_workload(last: &str) -> Harness {
    let cloud = FakeCloud::new();
    let mut tiers = three_tiers("W", 5);
    tiers[2]["TierResourceTypes"] = json!("EC2, RDS, Aurora");
    cloud.put_config(workload_item("W"), tiers);
    cloud.add_spec_instances(Stopped);
    cloud.add_database(Rds, "orders-db", "ENV001", "Role_DB", "available");
    cloud.add_database(Aurora, "ledger", "ENV001", "Role_DB", "available");
    cloud.add_database(Rds, "their-db", "OTHER", "Role_DB", "available");
    let state = WorkloadState {
        last_action_type: last.into(),
        last_action_time: "2026-12-06 20:00:00 UTC".into(),
        profile: None,
    };
    cloud.lock().workload_state.as_mut().unwrap().insert("W".into(), state);
    Harness::new(cloud)
}

/// RDS's event that it started `identifier`.
fn restarted(event_id: &str, identifier: &str, cluster: bool) -> Value {
    json!({
        "version": "0",
        "id": event_id,
        "detail-type": if cluster { "RDS DB Cluster Event" } else { "RDS DB Instance Event" },
        "source": "aws.rds",
        "account": "123456789012",
        "time": "2026-12-13T08:00:00Z",
        "region": "us-west-2",
        "resources": [],
        "detail": {
            "SourceType": if cluster { "CLUSTER" } else { "DB_INSTANCE" },
            "SourceIdentifier": identifier,
            "EventID": if cluster { CLUSTER_RESTART } else { INSTANCE_RESTART },
            "Message": "DB instance is being started due to it exceeding the maximum allowed time being stopped."
        }
    })
}

fn stops(h: &Harness, op: &str) -> usize {
    h.cloud.calls_of(op).len()
}

async fn settled(h: &Harness, kind: MemberKind, id: &str) -> String {
    tokio::time::sleep(Duration::from_secs(600)).await;
    h.cloud.database_status(kind, id)
}

#[tokio::test(start_paused = true)]
async fn databases_rds_started_while_the_workload_is_stopped_are_stopped_again_once() {
    let h = stopped_workload("Stop");

    // WHEN RDS says it started the instance
    let response = h.deliver(&restarted("ev-1", "orders-db", false), LONG).await.unwrap();

    // THEN that database alone is stopped again, as a run of W
    assert_eq!(response["status"], "completed", "{response}");
    let message = response["message"].as_str().unwrap();
    assert!(
        message.contains("rds:orders-db stopped again after RDS's automatic start"),
        "{message}"
    );
    assert_eq!(stops(&h, "StopDBInstance"), 1);
    assert_eq!(stops(&h, "StopInstances"), 0, "nothing else of the workload is touched");
    let report = h.ledger.lock().records[response["runKey"].as_str().unwrap()].clone();
    assert_eq!(report.summary.as_ref().unwrap()["restop"]["id"], "orders-db");
    assert_eq!(settled(&h, Rds, "orders-db").await, "stopped");
    assert_eq!(
        h.cloud.database_status(Aurora, "ledger"),
        "available",
        "not named by the event"
    );
    let key = response["runKey"].as_str().unwrap().to_string();
    let record = h.ledger.lock().records[&key].clone();
    assert_eq!(record.status, LedgerStatus::Finished);
    assert_eq!(record.restop.as_ref().map(|r| r.id.as_str()), Some("orders-db"));
    // No WorkloadState row is written: Monday's Start is no repeat.
    let state = h.cloud.lock().workload_state.as_ref().unwrap()["W"].clone();
    assert_eq!(state.last_action_time, "2026-12-06 20:00:00 UTC");

    // WHEN the event is delivered again: nothing more is done
    let again = h.deliver(&restarted("ev-1", "orders-db", false), LONG).await.unwrap();
    assert_eq!(again["status"], "duplicate", "{again}");
    assert_eq!(stops(&h, "StopDBInstance"), 1);

    // AND an Aurora cluster is stopped again the same way
    let cluster = h.deliver(&restarted("ev-2", "ledger", true), LONG).await.unwrap();
    assert_eq!(cluster["status"], "completed", "{cluster}");
    assert_eq!(stops(&h, "StopDBCluster"), 1);
    assert_eq!(settled(&h, Aurora, "ledger").await, "stopped");
}

#[tokio::test(start_paused = true)]
async fn a_workload_started_meanwhile_keeps_its_database() {
    let h = stopped_workload("Start");
    let response = h.deliver(&restarted("ev-1", "orders-db", false), LONG).await.unwrap();
    assert_eq!(response["status"], "skipped", "{response}");
    let message = response["message"].as_str().unwrap();
    assert!(
        message.contains("started since its Stop") && message.contains("left running"),
        "{message}"
    );
    assert_eq!(stops(&h, "StopDBInstance"), 0);
}

#[tokio::test(start_paused = true)]
async fn a_database_of_no_workload_is_left_alone() {
    let h = stopped_workload("Stop");
    let response = h.deliver(&restarted("ev-9", "their-db", false), LONG).await.unwrap();
    assert_eq!(response["status"], "ignored", "{response}");
    assert_eq!(stops(&h, "StopDBInstance"), 0);
    // An event RDS sends for something else is refused as invalid.
    let mut other = restarted("ev-10", "orders-db", false);
    other["detail"]["EventID"] = json!("RDS-EVENT-0088");
    assert!(h.deliver(&other, LONG).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn a_database_still_starting_is_waited_for_without_the_lock_then_stopped() {
    let h = stopped_workload("Stop");
    h.cloud.starting_by_itself(Rds, "orders-db", Duration::from_secs(240));
    let began = tokio::time::Instant::now();

    // A re-stop waiting for RDS, and a Start of W 60 s into the wait.
    let event = restarted("ev-1", "orders-db", false);
    let restop = h.deliver(&event, LONG);
    let start = async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        let asked =
            json!({"workloadIdentifier": "W", "action": "Start", "dynamoDBRegion": "us-west-2", "runId": "monday"});
        h.deliver(&asked, LONG).await
    };
    let (restop, start) = tokio::join!(restop, start);

    // THEN the Start was not refused as busy (no lock was held while
    // waiting), and the re-stop, seeing the workload started, left the
    // database running.
    let start = start.expect("the Start is not refused");
    assert_ne!(start["status"], "skipped", "{start}");
    let restop = restop.unwrap();
    assert_eq!(restop["status"], "skipped", "{restop}");
    assert_eq!(stops(&h, "StopDBInstance"), 0);
    assert!(began.elapsed() >= Duration::from_secs(240), "it waited for RDS");
}

#[tokio::test(start_paused = true)]
async fn a_database_still_starting_is_stopped_once_it_is_up() {
    let h = stopped_workload("Stop");
    h.cloud.starting_by_itself(Rds, "orders-db", Duration::from_secs(240));
    let response = h.deliver(&restarted("ev-1", "orders-db", false), LONG).await.unwrap();
    assert_eq!(response["status"], "completed", "{response}");
    let calls = h.cloud.calls_of("StopDBInstance");
    assert_eq!(calls.len(), 1);
    assert_eq!(settled(&h, Rds, "orders-db").await, "stopped");
}

/// W up: its instances running, its databases available, no WorkloadState.
fn running_workload() -> Harness {
    let h = stopped_workload("Start");
    h.cloud.add_spec_instances(Running);
    h
}

fn asked(action: &str, run_id: &str) -> Value {
    json!({"workloadIdentifier": "W", "action": action, "dynamoDBRegion": "us-west-2", "runId": run_id})
}

fn recheck_of(h: &Harness, member: &MemberId) -> Option<(Value, u64)> {
    let name = recheck_name("W", member);
    let list = h.continuation.scheduled.lock().unwrap();
    list.iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, p, at)| (p.clone(), *at))
}

#[tokio::test(start_paused = true)]
async fn a_stop_leaves_a_recheck_of_each_database_which_a_start_deletes() {
    let h = running_workload();
    let before = run_service::now();
    let stop = h.deliver(&asked("Stop", "friday"), LONG).await.unwrap();
    assert_eq!(stop["status"], "completed", "{stop}");
    let rds = MemberId::new(Rds, "orders-db");
    let aurora = MemberId::new(Aurora, "ledger");
    for member in [&rds, &aurora] {
        let (payload, at) = recheck_of(&h, member).expect("a re-check");
        let due = before + RECHECK_AFTER_SECS;
        assert!(
            (due..=due + 60).contains(&at),
            "{at} vs {due}: the Stop took a few seconds"
        );
        assert_eq!(payload["restop"]["id"], member.id(), "{payload}");
        assert_eq!(payload["action"], "Stop");
    }
    // Another Stop replaces them, never doubles them.
    h.deliver(&asked("Stop", "saturday"), LONG).await.unwrap();
    let name = recheck_name("W", &rds);
    let count = h
        .continuation
        .scheduled
        .lock()
        .unwrap()
        .iter()
        .filter(|(n, _, _)| *n == name)
        .count();
    assert_eq!(count, 1);

    // A Start deletes them by name.
    let start = h.deliver(&asked("Start", "monday"), LONG).await.unwrap();
    assert_ne!(start["status"], "skipped", "{start}");
    assert!(recheck_of(&h, &rds).is_none() && recheck_of(&h, &aurora).is_none());
    assert!(h.continuation.cancelled.lock().unwrap().contains(&name));
}

#[tokio::test(start_paused = true)]
async fn the_recheck_stops_a_database_rds_started_without_telling() {
    let h = running_workload();
    h.deliver(&asked("Stop", "friday"), LONG).await.unwrap();
    let (payload, at) = recheck_of(&h, &MemberId::new(Rds, "orders-db")).expect("a re-check");
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(h.cloud.database_status(Rds, "orders-db"), "stopped");

    // Seven days on, RDS started it, and its event never came.
    h.cloud.add_database(Rds, "orders-db", "ENV001", "Role_DB", "available");
    tokio::time::sleep(Duration::from_secs(at.saturating_sub(run_service::now()))).await;
    let response = h.deliver(&payload, LONG).await.unwrap();
    assert_eq!(response["status"], "completed", "{response}");
    assert!(
        response["message"].as_str().unwrap().contains("stopped again"),
        "{response}"
    );
    assert_eq!(stops(&h, "StopDBInstance"), 2);
    // Delivered twice, it acts once; and the next re-check is seven days on.
    let again = h.deliver(&payload, LONG).await.unwrap();
    assert_eq!(again["status"], "duplicate", "{again}");
    let (_, next) = recheck_of(&h, &MemberId::new(Rds, "orders-db")).expect("the next re-check");
    assert!(next >= at + RECHECK_AFTER_SECS - 5, "{next} after {at}");
}

#[tokio::test(start_paused = true)]
async fn a_restop_is_counted_in_its_metric_line() {
    let h = stopped_workload("Stop");
    let event = restarted("ev-1", "orders-db", false);
    let handled = ec2_tier_scheduler::handler::handle_delivery(
        h.services(),
        &event,
        Some(LONG),
        &ec2_tier_scheduler::orchestrator::Settings::default(),
    )
    .await
    .unwrap();
    let line: Value = serde_json::from_str(&handled.outcome.metrics_line("Test", 0, 0).expect("a line")).unwrap();
    assert_eq!(line["MembersRestopped"], 1, "{line}");
    assert_eq!(line["Action"], "Stop");
}

#[tokio::test(start_paused = true)]
async fn a_database_starting_for_longer_than_an_invocation_is_stopped_later_holding_no_lock() {
    // GIVEN RDS takes 20 minutes to start it, and invocations have 5
    let h = stopped_workload("Stop");
    h.cloud.starting_by_itself(Rds, "orders-db", Duration::from_secs(1200));
    let five = Duration::from_secs(300);

    // WHEN the event comes: the invocation waits its time, claims no run,
    // and has the event delivered again
    let first = h.deliver(&restarted("ev-1", "orders-db", false), five).await.unwrap();
    assert_eq!(first["status"], "waiting", "{first}");
    assert_eq!(stops(&h, "StopDBInstance"), 0);
    assert!(h.ledger.lock().locks.is_empty(), "no lock held while RDS starts it");

    // THEN a later delivery stops it once RDS has it up, once
    let rest = h.drain_continuations(five).await;
    let last = rest.last().expect("deliveries again");
    assert_eq!(last["status"], "completed", "{rest:#?}");
    assert_eq!(stops(&h, "StopDBInstance"), 1);
    assert_eq!(settled(&h, Rds, "orders-db").await, "stopped");
}

#[tokio::test(start_paused = true)]
async fn a_start_while_rds_takes_its_time_is_not_refused_and_wins() {
    let h = stopped_workload("Stop");
    h.cloud.starting_by_itself(Rds, "orders-db", Duration::from_secs(1200));
    let five = Duration::from_secs(300);
    let first = h.deliver(&restarted("ev-1", "orders-db", false), five).await.unwrap();
    assert_eq!(first["status"], "waiting", "{first}");
    // Monday's Start comes meanwhile: not refused as busy.
    let start = h.deliver(&asked("Start", "monday"), LONG).await.unwrap();
    assert_ne!(start["status"], "skipped", "{start}");
    // The event's next deliveries find the workload started: left running.
    let rest = h.drain_continuations(five).await;
    let last = rest.last().expect("deliveries again");
    assert_eq!(last["status"], "skipped", "{rest:#?}");
    assert_eq!(stops(&h, "StopDBInstance"), 0);
}
