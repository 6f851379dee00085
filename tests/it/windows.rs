//! Issue 33: SSM maintenance windows, opened and closed in tier order.
//! A Stop that ended leaves, for the next execution of each configured
//! window, a window Start (the execution minus the lead) and a window Stop
//! (its end); the window Start opens only a workload the scheduler
//! stopped, in tier order, keeping its alarms muted and writing no
//! WorkloadState; the window Stop closes only what its Start opened, while
//! no regular Start ran since. (moto leaves NextExecutionTime out, so the
//! fakes give it.)

use std::time::Duration;

use ec2_tier_scheduler::clock::parse_time;
use ec2_tier_scheduler::instance::InstanceState::{self, *};
use ec2_tier_scheduler::ledger::window_schedule_name;
use ec2_tier_scheduler::run_service;
use ec2_tier_scheduler::window::{MaintenanceWindow, WindowRun};
use serde_json::{json, Value};

use crate::reliability::{Harness, LONG};
use crate::support::fake::FakeCloud;
use crate::support::{three_tiers, workload_item};

const MW: &str = "mw-0123456789abcdef0";
const OTHER: &str = "mw-00000000000000fff";

/// W with `windows` configured (a lead of 15 minutes unless `lead`), its
/// instances `state` (their SSM agents online once up), alarm `w-5xx`
/// enabled, the window MW due at `execution` for 3 hours.
fn workload(state: InstanceState, windows: &str, lead: Option<&str>, execution: Option<u64>) -> Harness {
    let cloud = FakeCloud::new();
    let mut w = workload_item("W");
    w["MaintenanceWindows"] = json!(windows);
    w["AlarmPrefixes"] = json!("w-");
    if let Some(lead) = lead {
        w["MaintenanceLeadMinutes"] = json!(lead);
    }
    cloud.put_config(w, three_tiers("W", 5));
    cloud.add_spec_instances(state);
    cloud.add_alarm("w-5xx", true, &[]);
    for id in ["i-w1", "i-w2", "i-a1", "i-a2", "i-d1", "i-d2"] {
        cloud.lock().ssm_online.insert(id.into()); // their SSM agents, once started
    }
    set_window(&cloud, MW, execution);
    Harness::new(cloud)
}

fn set_window(cloud: &FakeCloud, id: &str, next_execution: Option<u64>) {
    let window = MaintenanceWindow {
        id: id.into(),
        next_execution,
        duration_hours: 3,
        cutoff_hours: 1,
        schedule: Some("cron(0 4 ? * SUN *)".into()),
        enabled: next_execution.is_some(),
    };
    cloud.lock().maintenance_windows.insert(id.into(), window);
}

fn asked(action: &str, run_id: &str) -> Value {
    json!({"workloadIdentifier": "W", "action": action, "dynamoDBRegion": "us-west-2", "runId": run_id})
}

/// The window schedules made: (edge, at, payload), by the window's id.
fn window_schedules(h: &Harness, id: &str) -> Vec<(String, u64, Value)> {
    let list = h.continuation.scheduled.lock().unwrap();
    list.iter()
        .filter(|(_, p, _)| p["maintenanceWindow"]["id"] == id)
        .map(|(_, p, at)| (p["action"].as_str().unwrap().to_string(), *at, p.clone()))
        .collect()
}

fn schedule_of(h: &Harness, edge: &str) -> (u64, Value) {
    let found = window_schedules(h, MW).into_iter().find(|(e, _, _)| e == edge);
    let (_, at, payload) = found.unwrap_or_else(|| panic!("a window {edge}"));
    (at, payload)
}

fn last_action(h: &Harness) -> String {
    let state = h.cloud.lock().workload_state.clone().unwrap();
    state["W"].last_action_type.clone()
}

async fn deliver_at(h: &Harness, at: u64, payload: &Value) -> Value {
    tokio::time::sleep(Duration::from_secs(at.saturating_sub(run_service::now()))).await;
    h.deliver(payload, LONG).await.expect("the window's run")
}

fn ids_of(h: &Harness, op: &str) -> Vec<Vec<String>> {
    h.cloud.calls_of(op).into_iter().map(|c| c.ids).collect()
}

#[tokio::test(start_paused = true)]
async fn a_stop_schedules_the_window_start_and_stop_across_a_daylight_saving_change() {
    // 04:00 Europe/Berlin on the Sunday before summer time (CET, +01:00) ...
    let before = parse_time("2030-03-24T04:00:00+01:00").unwrap();
    let h = workload(Running, MW, None, Some(before));
    let stop = h.deliver(&asked("Stop", "friday"), LONG).await.unwrap();
    assert_eq!(stop["status"], "completed", "{stop}");
    let (start_at, start) = schedule_of(&h, "Start");
    let (stop_at, _) = schedule_of(&h, "Stop");
    assert_eq!(
        start_at,
        parse_time("2030-03-24T02:45:00Z").unwrap(),
        "15 minutes before"
    );
    assert_eq!(stop_at, parse_time("2030-03-24T06:00:00Z").unwrap(), "3 hours on");
    assert_eq!(
        start["maintenanceWindow"],
        json!({"id": MW, "edge": "Start", "execution": before})
    );
    let name = window_schedule_name(
        "W",
        &WindowRun {
            id: MW.into(),
            edge: ec2_tier_scheduler::action::Action::Start,
            execution: before,
        },
    );
    assert!(h
        .continuation
        .scheduled
        .lock()
        .unwrap()
        .iter()
        .any(|(n, _, _)| *n == name));

    // ... and on the Sunday after it (CEST, +02:00): an hour earlier in UTC.
    // The window moved on, so the next Stop replaces its schedules.
    let after = parse_time("2030-03-31T04:00:00+02:00").unwrap();
    set_window(&h.cloud, MW, Some(after));
    h.deliver(&asked("Stop", "next-friday"), LONG).await.unwrap();
    let made = window_schedules(&h, MW);
    assert_eq!(made.len(), 2, "the earlier execution's schedules deleted: {made:?}");
    assert_eq!(schedule_of(&h, "Start").0, parse_time("2030-03-31T01:45:00Z").unwrap());
    assert_eq!(schedule_of(&h, "Stop").0, parse_time("2030-03-31T05:00:00Z").unwrap());
    assert!(h.continuation.cancelled.lock().unwrap().contains(&name));
}

#[tokio::test(start_paused = true)]
async fn the_lead_is_configurable_and_a_window_without_next_execution_gets_none() {
    let execution = parse_time("2030-03-24T03:00:00Z").unwrap();
    let h = workload(Running, &format!("{MW}, {OTHER}"), Some("60"), Some(execution));
    set_window(&h.cloud, OTHER, None);
    let stop = h.deliver(&asked("Stop", "friday"), LONG).await.unwrap();
    assert_eq!(schedule_of(&h, "Start").0, execution - 3600);
    assert!(window_schedules(&h, OTHER).is_empty());
    let warnings = stop["warnings"].to_string();
    assert!(
        warnings.contains(OTHER) && warnings.contains("no next execution"),
        "{stop}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_window_opens_a_stopped_workload_in_tier_order_and_closes_it() {
    let execution = run_service::now() + 86_400;
    let h = workload(Running, MW, None, Some(execution));
    h.deliver(&asked("Stop", "friday"), LONG).await.unwrap();
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(h.cloud.state_of("i-d1"), Stopped);
    assert_eq!(h.cloud.alarm("w-5xx"), (false, true), "muted by the Stop");
    assert_eq!(last_action(&h), "Stop");

    // The window Start: database tier first, then app, then web.
    let (start_at, start) = schedule_of(&h, "Start");
    let (stop_at, stop) = schedule_of(&h, "Stop");
    let opened = deliver_at(&h, start_at, &start).await;
    assert_eq!(opened["status"], "completed", "{opened}");
    assert!(opened["message"].as_str().unwrap().contains(MW), "{opened}");
    let agents = ids_of(&h, "DescribeInstanceInformation");
    assert_eq!(agents.len(), 3, "each tier waited for its SSM agents: {agents:?}");
    let starts = ids_of(&h, "StartInstances");
    let tiers: Vec<&str> = starts.iter().map(|ids| &ids[0][..3]).collect();
    assert_eq!(tiers, ["i-d", "i-a", "i-w"], "{starts:?}");
    assert_eq!(h.cloud.alarm("w-5xx"), (false, true), "the alarms stay muted");
    assert_eq!(
        last_action(&h),
        "Stop",
        "no WorkloadState row: Monday's Start is no repeat"
    );
    let again = h.deliver(&start, LONG).await.unwrap();
    assert_eq!(again["status"], "duplicate", "{again}");

    // The window Stop at its end.
    let closed = deliver_at(&h, stop_at, &stop).await;
    assert_eq!(closed["status"], "completed", "{closed}");
    tokio::time::sleep(Duration::from_secs(600)).await;
    for id in ["i-w1", "i-a1", "i-d1"] {
        assert_eq!(h.cloud.state_of(id), Stopped, "{id}");
    }
    assert_eq!(h.cloud.alarm("w-5xx"), (false, true));
    assert_eq!(last_action(&h), "Stop");
}

#[tokio::test(start_paused = true)]
async fn a_window_stop_after_a_regular_start_does_nothing() {
    let execution = run_service::now() + 86_400;
    let h = workload(Running, MW, None, Some(execution));
    h.deliver(&asked("Stop", "friday"), LONG).await.unwrap();
    let (start_at, start) = schedule_of(&h, "Start");
    let (stop_at, stop) = schedule_of(&h, "Stop");
    deliver_at(&h, start_at, &start).await;
    // Someone starts the workload for work while the window is open.
    let monday = h.deliver(&asked("Start", "monday"), LONG).await.unwrap();
    assert_ne!(monday["status"], "skipped", "the window wrote no Start: {monday}");
    assert_eq!(last_action(&h), "Start");
    let stops = h.cloud.calls_of("StopInstances").len();
    let closed = deliver_at(&h, stop_at, &stop).await;
    assert_eq!(closed["status"], "skipped", "{closed}");
    assert!(
        closed["message"].as_str().unwrap().contains("started since"),
        "{closed}"
    );
    assert_eq!(h.cloud.calls_of("StopInstances").len(), stops);
    assert_eq!(h.cloud.state_of("i-w1"), Running);
}

#[tokio::test(start_paused = true)]
async fn a_window_leaves_a_workload_it_did_not_open_alone() {
    let execution = run_service::now() + 86_400;
    let h = workload(Running, MW, None, Some(execution));
    h.deliver(&asked("Stop", "friday"), LONG).await.unwrap();
    let (start_at, start) = schedule_of(&h, "Start");
    let (stop_at, stop) = schedule_of(&h, "Stop");
    // Started for work before the window: its Start does nothing ...
    h.deliver(&asked("Start", "thursday"), LONG).await.unwrap();
    let starts = h.cloud.calls_of("StartInstances").len();
    let opened = deliver_at(&h, start_at, &start).await;
    assert_eq!(opened["status"], "skipped", "{opened}");
    assert_eq!(h.cloud.calls_of("StartInstances").len(), starts);
    // ... and its Stop, finding no window Start that opened it, neither.
    h.deliver(&asked("Stop", "late"), LONG).await.unwrap();
    let closed = deliver_at(&h, stop_at, &stop).await;
    assert_eq!(closed["status"], "skipped", "{closed}");
    assert!(closed["message"].as_str().unwrap().contains("did not open"), "{closed}");
}

#[tokio::test(start_paused = true)]
async fn a_window_stop_without_its_start_and_a_moved_window_do_nothing() {
    let execution = run_service::now() + 86_400;
    let h = workload(Running, MW, None, Some(execution));
    h.deliver(&asked("Stop", "friday"), LONG).await.unwrap();
    let (_, stop) = schedule_of(&h, "Stop");
    let closed = h.deliver(&stop, LONG).await.unwrap();
    assert_eq!(closed["status"], "skipped", "{closed}");
    assert!(closed["message"].as_str().unwrap().contains("never ran"), "{closed}");

    // The window moved a week on: its Start, due for the old execution, does nothing.
    let (start_at, start) = schedule_of(&h, "Start");
    set_window(&h.cloud, MW, Some(execution + 7 * 86_400));
    let opened = deliver_at(&h, start_at, &start).await;
    assert_eq!(opened["status"], "skipped", "{opened}");
    assert!(opened["message"].as_str().unwrap().contains("moved"), "{opened}");
    assert!(h.cloud.calls_of("StartInstances").is_empty());
    // It opened nothing, so its arranging replaces the old execution's
    // schedules with the new one's, its own window Stop among them.
    let made = window_schedules(&h, MW);
    let executions: Vec<u64> = made
        .iter()
        .map(|(_, _, p)| p["maintenanceWindow"]["execution"].as_u64().unwrap())
        .collect();
    assert_eq!(executions, [execution + 7 * 86_400; 2], "{made:?}");
}

#[tokio::test(start_paused = true)]
async fn a_removed_window_has_its_schedules_deleted_by_name() {
    let execution = run_service::now() + 86_400;
    let h = workload(Running, MW, None, Some(execution));
    h.deliver(&asked("Stop", "friday"), LONG).await.unwrap();
    let names: Vec<String> = {
        let list = h.continuation.scheduled.lock().unwrap();
        list.iter()
            .filter(|(n, _, _)| n.starts_with("ec2ts-mw-"))
            .map(|(n, _, _)| n.clone())
            .collect()
    };
    assert_eq!(names.len(), 2);
    // The workload no longer lists the window.
    let mut w = workload_item("W");
    w["AlarmPrefixes"] = json!("w-");
    h.cloud.put_config(w, three_tiers("W", 5));
    h.deliver(&asked("Stop", "saturday"), LONG).await.unwrap();
    assert!(window_schedules(&h, MW).is_empty());
    let cancelled = h.continuation.cancelled.lock().unwrap().clone();
    for name in &names {
        assert!(cancelled.contains(name), "{name} deleted: {cancelled:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn window_ids_and_the_lead_are_validated() {
    let h = workload(Running, "mw-0123456789abcdef0, patch-sunday", Some("9999"), None);
    let mut w = workload_item("W");
    w["MaintenanceWindows"] = json!("mw-0123456789abcdef0, patch-sunday");
    w["MaintenanceLeadMinutes"] = json!("9999");
    w["MaintenanceOverrunMinutes"] = json!("an hour");
    h.cloud.put_config(w, three_tiers("W", 5));
    let refused = h.deliver(&asked("Stop", "friday"), LONG).await.unwrap_err().to_string();
    assert!(
        refused.contains("MaintenanceWindows") && refused.contains("patch-sunday"),
        "{refused}"
    );
    assert!(refused.contains("MaintenanceLeadMinutes"), "{refused}");
    assert!(refused.contains("MaintenanceOverrunMinutes"), "{refused}");
    assert!(refused.contains("\"W\""), "names the workload: {refused}");
    assert!(h.cloud.calls_of("StopInstances").is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_event_field_is_strict() {
    let h = workload(Stopped, MW, None, None);
    let mut payload = asked("Start", "x");
    payload["maintenanceWindow"] = json!({"id": MW, "edge": "Stop", "execution": 1_900_000_000});
    let refused = h.deliver(&payload, LONG).await.unwrap_err().to_string();
    assert!(refused.contains("maintenanceWindow"), "{refused}");
    payload["maintenanceWindow"] = json!("mw-0123456789abcdef0");
    assert!(h.deliver(&payload, LONG).await.is_err());
    let mut both = asked("Stop", "y");
    both["maintenanceWindow"] = json!({"id": MW, "edge": "Stop", "execution": 1_900_000_000});
    both["restop"] = json!({"kind": "RDS", "id": "orders-db"});
    let refused = h.deliver(&both, LONG).await.unwrap_err().to_string();
    assert!(refused.contains("cannot be combined"), "{refused}");
    assert!(h.cloud.calls_of("StartInstances").is_empty() && h.cloud.calls_of("StopInstances").is_empty());
}

/// W opened by the window (execution a day on), its execution then
/// `status` since five minutes in; returns the window Stop's (at, payload)
/// and the execution.
async fn opened_with_execution(status: &str) -> (Harness, u64, Value, u64) {
    let execution = run_service::now() + 86_400;
    let h = workload(Running, MW, None, Some(execution));
    h.deliver(&asked("Stop", "friday"), LONG).await.unwrap();
    let (start_at, start) = schedule_of(&h, "Start");
    let (stop_at, stop) = schedule_of(&h, "Stop");
    let opened = deliver_at(&h, start_at, &start).await;
    assert_eq!(opened["status"], "completed", "{opened}");
    let running = ec2_tier_scheduler::window::WindowExecution {
        status: status.into(),
        started: Some(execution + 300),
    };
    h.cloud.lock().window_executions.insert(MW.into(), vec![running]);
    (h, stop_at, stop, execution)
}

#[tokio::test(start_paused = true)]
async fn a_window_stop_waits_while_the_execution_is_still_in_progress() {
    let (h, stop_at, stop, _) = opened_with_execution("IN_PROGRESS").await;
    let held = deliver_at(&h, stop_at, &stop).await;
    assert_eq!(held["status"], "waiting", "{held}");
    assert_eq!(h.cloud.state_of("i-w1"), Running);
    let (again_at, again) = schedule_of(&h, "Stop");
    assert!(
        (stop_at + 300..=stop_at + 301).contains(&again_at),
        "{again_at} vs {stop_at}"
    );
    // The tasks end: the next look stops the workload.
    h.cloud.lock().window_executions.get_mut(MW).unwrap()[0].status = "SUCCESS".into();
    let closed = deliver_at(&h, again_at, &again).await;
    assert_eq!(closed["status"], "completed", "{closed}");
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(h.cloud.state_of("i-w1"), Stopped);
}

#[tokio::test(start_paused = true)]
async fn a_window_stop_waits_no_longer_than_maintenance_overrun_minutes() {
    let (h, mut at, mut stop, execution) = opened_with_execution("IN_PROGRESS").await;
    let until = execution + 3 * 3600 + 60 * 60; // Duration 3 h, MaintenanceOverrunMinutes 60
    let mut waits = 0;
    loop {
        let response = deliver_at(&h, at, &stop).await;
        if response["status"] != "waiting" {
            assert_eq!(response["status"], "completed", "{response}");
            break;
        }
        waits += 1;
        assert!(waits < 20, "runaway waits");
        (at, stop) = schedule_of(&h, "Stop");
    }
    assert_eq!(waits, 12, "every five minutes for the hour");
    assert!(run_service::now() >= until && run_service::now() < until + 60);
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(h.cloud.state_of("i-d1"), Stopped);
}

#[tokio::test(start_paused = true)]
async fn every_run_arranges_the_window_schedules_not_only_a_stop() {
    let execution = run_service::now() + 86_400;
    let h = workload(Stopped, MW, None, Some(execution));
    // A regular Start of the stopped workload makes them ...
    let start = h.deliver(&asked("Start", "monday"), LONG).await.unwrap();
    assert_eq!(start["status"], "completed", "{start}");
    assert_eq!(schedule_of(&h, "Start").0, execution - 900);
    assert_eq!(schedule_of(&h, "Stop").0, execution + 3 * 3600);
    // ... and a Start skipped as a repeat replaces them when the window moved.
    let moved = execution + 7 * 86_400;
    set_window(&h.cloud, MW, Some(moved));
    let repeat = h.deliver(&asked("Start", "tuesday"), LONG).await.unwrap();
    assert_eq!(repeat["status"], "skipped", "{repeat}");
    let made = window_schedules(&h, MW);
    assert_eq!(made.len(), 2, "{made:?}");
    assert_eq!(schedule_of(&h, "Start").0, moved - 900);
    // A dry run arranges nothing.
    set_window(&h.cloud, MW, Some(moved + 7 * 86_400));
    let mut dry = asked("Stop", "dry");
    dry["dryRun"] = json!(true);
    h.deliver(&dry, LONG).await.unwrap();
    assert_eq!(schedule_of(&h, "Start").0, moved - 900, "unchanged by the dry run");
}

#[tokio::test(start_paused = true)]
async fn an_open_windows_stop_is_kept_when_the_next_execution_moves_on() {
    let execution = run_service::now() + 86_400;
    let h = workload(Running, MW, None, Some(execution));
    h.deliver(&asked("Stop", "friday"), LONG).await.unwrap();
    let (start_at, start) = schedule_of(&h, "Start");
    let (stop_at, stop) = schedule_of(&h, "Stop");
    let stop_name = window_schedule_name(
        "W",
        &WindowRun::from_value(&stop["maintenanceWindow"], ec2_tier_scheduler::action::Action::Stop).unwrap(),
    );
    let cancels = |h: &Harness| {
        h.continuation
            .cancelled
            .lock()
            .unwrap()
            .iter()
            .filter(|n| **n == stop_name)
            .count()
    };
    let before = cancels(&h);
    // The window Start arranges too, and leaves its own window Stop as it is.
    let opened = deliver_at(&h, start_at, &start).await;
    assert_eq!(opened["status"], "completed", "{opened}");
    assert_eq!(
        cancels(&h),
        before,
        "the window Start's own Stop neither deleted nor replaced"
    );
    // The execution began: NextExecutionTime names next week's. A run now
    // (someone's Stop) arranges next week's window but keeps this one's Stop.
    let next = execution + 7 * 86_400;
    tokio::time::sleep(Duration::from_secs(execution + 60 - run_service::now())).await;
    set_window(&h.cloud, MW, Some(next));
    let sunday = h.deliver(&asked("Stop", "sunday"), LONG).await.unwrap();
    assert_eq!(sunday["status"], "completed", "{sunday}");
    assert_eq!(
        cancels(&h),
        before,
        "the open window's Stop neither deleted nor replaced"
    );
    let made = window_schedules(&h, MW);
    assert!(made.iter().any(|(e, at, _)| e == "Stop" && *at == stop_at), "{made:?}");
    assert!(
        made.iter().any(|(e, at, _)| e == "Start" && *at == next - 900),
        "{made:?}"
    );
    // The window Stop runs, and leaves next week's schedules alone.
    let closed = deliver_at(&h, stop_at, &stop).await;
    assert!(
        closed["status"] == "completed" || closed["status"] == "skipped",
        "{closed}"
    );
    let made = window_schedules(&h, MW);
    let executions: Vec<u64> = made
        .iter()
        .map(|(_, _, p)| p["maintenanceWindow"]["execution"].as_u64().unwrap())
        .collect();
    assert_eq!(executions, [next, next], "{made:?}");
}

/// The ledger's records of W, newest first, as `runs list` reads them.
async fn listed(h: &Harness) -> Vec<ec2_tier_scheduler::ledger::RunRecord> {
    use ec2_tier_scheduler::ledger::Ledger;
    h.ledger.runs(Some("W"), 0, 100).await.unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_skipped_window_stop_is_a_run_in_the_ledger() {
    let execution = run_service::now() + 86_400;
    let h = workload(Running, MW, None, Some(execution));
    h.deliver(&asked("Stop", "friday"), LONG).await.unwrap();
    let (stop_at, stop) = schedule_of(&h, "Stop");
    let closed = deliver_at(&h, stop_at, &stop).await;
    assert_eq!(closed["status"], "skipped", "{closed}");
    let runs = listed(&h).await;
    let record = runs
        .iter()
        .find(|r| {
            r.maintenance_window
                .as_ref()
                .is_some_and(|w| w.edge.to_string() == "Stop")
        })
        .expect("the window Stop's record");
    assert_eq!(ec2_tier_scheduler::history::status(record), "skipped");
    assert_eq!(closed["runKey"], record.key.as_str());
    assert!(record.key.contains("window-mw-"), "{}", record.key);
    let table = ec2_tier_scheduler::history::list_table(&runs);
    assert!(table.contains("skipped"), "{table}");
    let row = serde_json::to_value(ec2_tier_scheduler::history::RunRow::of(record)).unwrap();
    assert_eq!(
        row["maintenanceWindow"], stop["maintenanceWindow"],
        "runs list --json: {row}"
    );
    let shown = ec2_tier_scheduler::history::show_text(record);
    assert!(shown.contains("never ran"), "{shown}");
    assert!(h.ledger.lock().locks.is_empty(), "the workload lock released");
    // A repeated delivery is a duplicate of that run.
    let again = h.deliver(&stop, LONG).await.unwrap();
    assert_eq!(again["status"], "duplicate", "{again}");
    assert_eq!(listed(&h).await.len(), runs.len());
}

#[tokio::test(start_paused = true)]
async fn each_look_of_a_waiting_window_stop_is_recorded_and_the_stop_still_runs() {
    let (h, stop_at, stop, _) = opened_with_execution("IN_PROGRESS").await;
    let held = deliver_at(&h, stop_at, &stop).await;
    assert_eq!(held["status"], "waiting", "{held}");
    let (again_at, again) = schedule_of(&h, "Stop");
    let held = deliver_at(&h, again_at, &again).await;
    assert_eq!(held["status"], "waiting", "{held}");
    let waiting: Vec<_> = listed(&h)
        .await
        .into_iter()
        .filter(|r| ec2_tier_scheduler::history::status(r) == "waiting")
        .collect();
    assert_eq!(waiting.len(), 2, "one record per look: {waiting:?}");
    assert!(waiting[0].summary.as_ref().unwrap()["message"]
        .as_str()
        .unwrap()
        .contains("still in progress"));
    // The tasks end: the same window Stop claims its own run's key and runs.
    h.cloud.lock().window_executions.get_mut(MW).unwrap()[0].status = "SUCCESS".into();
    let (last_at, last) = schedule_of(&h, "Stop");
    let closed = deliver_at(&h, last_at, &last).await;
    assert_eq!(closed["status"], "completed", "{closed}");
    let ran = listed(&h).await;
    let stop_run = ran
        .iter()
        .find(|r| r.key.ends_with("-Stop"))
        .expect("the window Stop's run");
    assert_eq!(ec2_tier_scheduler::history::status(stop_run), "completed");
}

#[tokio::test(start_paused = true)]
async fn the_window_is_named_in_the_events_the_notices_and_the_timeline() {
    let execution = run_service::now() + 86_400;
    let h = workload(Running, MW, None, Some(execution));
    let mut w = workload_item("W");
    w["MaintenanceWindows"] = json!(MW);
    w["AlarmPrefixes"] = json!("w-");
    w["EventBusName"] = json!("ops-events");
    w["ChatTopicName"] = json!("ops-chat");
    h.cloud.put_config(w, three_tiers("W", 5));
    h.deliver(&asked("Stop", "friday"), LONG).await.unwrap();
    let (start_at, start) = schedule_of(&h, "Start");
    let (published, events) = {
        let cloud = h.cloud.lock();
        (cloud.published.len(), cloud.events.len())
    };
    let opened = deliver_at(&h, start_at, &start).await;
    assert_eq!(opened["status"], "completed", "{opened}");
    assert_eq!(opened["maintenanceWindow"]["id"], MW, "the response names it: {opened}");

    // Every event of the window Start names the window.
    let (details, sent) = {
        let cloud = h.cloud.lock();
        let details: Vec<Value> = cloud.events[events..]
            .iter()
            .map(|(_, e)| serde_json::from_str(&e.detail).unwrap())
            .collect();
        (details, cloud.published[published..].to_vec())
    };
    assert!(!details.is_empty());
    for d in &details {
        assert_eq!(d["maintenanceWindow"], start["maintenanceWindow"], "{d}");
    }
    // The SNS summary and the chat message say why it ran.
    let summary = sent
        .iter()
        .find(|(topic, _, _)| topic != "ops-chat")
        .expect("the SNS summary");
    assert!(summary.1.contains(MW), "subject: {}", summary.1);
    assert!(summary.2.contains("Why: maintenance window"), "{}", summary.2);
    let chat = sent
        .iter()
        .find(|(topic, _, _)| topic == "ops-chat")
        .expect("the chat message");
    let chat: Value = serde_json::from_str(&chat.2).unwrap();
    assert!(chat["content"]["title"].as_str().unwrap().contains(MW), "{chat}");

    // The ledger: runs show and the timeline name it too.
    use ec2_tier_scheduler::ledger::Ledger;
    let runs = h.ledger.runs(Some("W"), 0, 100).await.unwrap();
    let record = runs
        .iter()
        .find(|r| r.maintenance_window.is_some())
        .expect("the window Start's run");
    let shown = ec2_tier_scheduler::history::show_text(record);
    assert!(shown.contains(&format!("for maintenance window {MW}")), "{shown}");
    let timeline = ec2_tier_scheduler::timeline::Timeline::of_run(record);
    assert!(timeline.title.contains(MW), "{}", timeline.title);
}

#[tokio::test(start_paused = true)]
async fn a_waiting_window_stop_waits_even_when_its_record_cannot_be_written() {
    let (h, stop_at, stop, _) = opened_with_execution("IN_PROGRESS").await;
    let waiting_records = |h: &Harness| {
        let ledger = h.ledger.lock();
        ledger
            .records
            .values()
            .filter(|r| r.outcome.as_deref() == Some("waiting"))
            .count()
    };
    h.ledger.lock().fail_claims = 1;
    let held = deliver_at(&h, stop_at, &stop).await;
    assert_eq!(held["status"], "waiting", "{held}");
    assert!(held["ledgerError"].as_str().unwrap().contains("not updated"), "{held}");
    assert_eq!(waiting_records(&h), 0);
    let (again_at, _) = schedule_of(&h, "Stop");
    assert!(again_at > stop_at, "it comes again all the same");
    assert_eq!(h.cloud.state_of("i-w1"), Running);
    // A skipped window Stop whose record cannot be written is refused,
    // nothing done, so its retry decides again.
    let h2 = workload(Running, MW, None, Some(run_service::now() + 86_400));
    h2.deliver(&asked("Stop", "friday"), LONG).await.unwrap();
    let (_, unopened) = schedule_of(&h2, "Stop");
    h2.ledger.lock().fail_claims = 1;
    let refused = h2.deliver(&unopened, LONG).await.unwrap_err().to_string();
    assert!(refused.contains("run ledger unavailable"), "{refused}");
    let closed = h2.deliver(&unopened, LONG).await.unwrap();
    assert_eq!(closed["status"], "skipped", "{closed}");
}

/// The steps after a run (the window schedules here) take the
/// configuration the run read: it is read once per run, not once per step.
#[tokio::test(start_paused = true)]
async fn the_configuration_is_read_once_per_run_not_again_after_it() {
    let execution = run_service::now() + 86_400;
    let h = workload(Running, MW, None, Some(execution));
    let before = h.cloud.calls_of("GetItem").len();
    let stop = h.deliver(&asked("Stop", "friday"), LONG).await.unwrap();
    assert_eq!(stop["status"], "completed", "{stop}");
    assert_eq!(window_schedules(&h, MW).len(), 2, "the window's schedules were made");
    let reads = h.cloud.calls_of("GetItem").len() - before;
    assert_eq!(reads, 1, "the workload item read by the run only");
}

/// `MaintenanceWaitForAgents: "false"`: a window Start keeps the tiers' own
/// gates and does not wait for the SSM agents; a value that is no boolean
/// is refused, naming the field, before anything is touched.
#[tokio::test(start_paused = true)]
async fn the_wait_for_agents_can_be_turned_off_and_is_validated() {
    let execution = run_service::now() + 86_400;
    let h = workload(Running, MW, None, Some(execution));
    let mut w = workload_item("W");
    w["MaintenanceWindows"] = json!(MW);
    w["AlarmPrefixes"] = json!("w-");
    w["MaintenanceWaitForAgents"] = json!("False");
    h.cloud.put_config(w.clone(), three_tiers("W", 5));
    h.deliver(&asked("Stop", "friday"), LONG).await.unwrap();
    let (start_at, start) = schedule_of(&h, "Start");
    let opened = deliver_at(&h, start_at, &start).await;
    assert_eq!(opened["status"], "completed", "{opened}");
    assert_eq!(h.cloud.state_of("i-w1"), Running);
    let agents = ids_of(&h, "DescribeInstanceInformation");
    assert!(agents.is_empty(), "no tier waited for its SSM agents: {agents:?}");

    w["MaintenanceWaitForAgents"] = json!("sometimes");
    h.cloud.put_config(w, three_tiers("W", 5));
    let refused = h
        .deliver(&asked("Stop", "saturday"), LONG)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("MaintenanceWaitForAgents") && refused.contains("W"),
        "{refused}"
    );
    assert_eq!(h.cloud.state_of("i-w1"), Running, "nothing touched");
}
