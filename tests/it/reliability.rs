//! Run ledger, duplicate and concurrent deliveries, deadlines followed by
//! continuations, and ledger faults, against the in-memory cloud.

use std::collections::HashMap;
use std::time::Duration;

use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::event::ScheduleOrigin;
use ec2_tier_scheduler::handler::{handle_with, HandlerError, Services};
use ec2_tier_scheduler::instance::InstanceState::{self, *};
use ec2_tier_scheduler::ledger::{Continuation, Ledger, LedgerStatus};
use ec2_tier_scheduler::orchestrator::Settings;
use ec2_tier_scheduler::run::RunRequest;
use ec2_tier_scheduler::run_service::{self, Delivery, Outcome, RunService};
use ec2_tier_scheduler::summary::RunStatus;
use futures::future::join_all;
use serde_json::{json, Value};

use crate::support::fake::FakeCloud;
use crate::support::ledger::{FakeContinuation, FakeLedger};
use crate::support::{three_tiers, tier_item, workload_item};

pub(crate) fn fleet(state: InstanceState, delay: u32, per_tier: usize) -> FakeCloud {
    let cloud = FakeCloud::new();
    let mut workload = workload_item("W");
    workload.as_object_mut().unwrap().remove("SNSTopicName");
    cloud.put_config(workload, three_tiers("W", delay));
    for tier in ["Role_Web", "Role_App", "Role_DB"] {
        for n in 0..per_tier {
            cloud.add(&format!("i-{}{n:03}", &tier[5..]), "ENV001", tier, state);
        }
    }
    cloud
}

thread_local! {
    /// The due time of this test's schedule (each test runs on its own
    /// thread): when it was first asked for, so every delivery of it in
    /// the test carries the same time, a real delivery's.
    static DUE: std::cell::OnceCell<String> = const { std::cell::OnceCell::new() };
}

pub(crate) fn scheduled(action: &str) -> Value {
    let due = DUE.with(|due| {
        due.get_or_init(|| format!("{}Z", ec2_tier_scheduler::clock::utc_timestamp(run_service::now())))
            .clone()
    });
    json!({
        "workloadIdentifier": "W", "action": action, "dynamoDBRegion": "us-west-2",
        "scheduleArn": "arn:aws:scheduler:us-west-2:123456789012:schedule/default/W-stop",
        "scheduledTime": due
    })
}

pub(crate) struct Harness {
    pub(crate) cloud: FakeCloud,
    pub(crate) ledger: FakeLedger,
    pub(crate) continuation: FakeContinuation,
}

impl Harness {
    pub(crate) fn new(cloud: FakeCloud) -> Self {
        Self {
            cloud,
            ledger: FakeLedger::default(),
            continuation: FakeContinuation::default(),
        }
    }

    pub(crate) fn services(&self) -> Services<'_> {
        Services {
            cloud: &self.cloud,
            function_region: Some("us-west-2"),
            ledger: Some(&self.ledger as &dyn Ledger),
            continuation: Some(&self.continuation as &dyn Continuation),
            schedule_origin: Default::default(),
        }
    }

    pub(crate) async fn deliver(&self, payload: &Value, time_left: Duration) -> Result<Value, HandlerError> {
        handle_with(self.services(), payload, Some(time_left), &Settings::default()).await
    }

    /// Delivers scheduled continuations until none is left; returns the responses.
    pub(crate) async fn drain_continuations(&self, time_left: Duration) -> Vec<Value> {
        let mut responses = Vec::new();
        loop {
            let next = {
                let mut list = self.continuation.scheduled.lock().unwrap();
                if list.is_empty() {
                    break;
                }
                list.remove(0)
            };
            // Each at its due time, as EventBridge Scheduler delivers it.
            let (_, payload, at) = next;
            tokio::time::sleep(Duration::from_secs(at.saturating_sub(run_service::now()))).await;
            responses.push(self.deliver(&payload, time_left).await.expect("continuation runs"));
            assert!(responses.len() < 30, "runaway continuations");
        }
        responses
    }

    fn actions_per_instance(&self) -> HashMap<String, usize> {
        self.cloud.action_counts()
    }
}

pub(crate) const LONG: Duration = Duration::from_secs(900);

#[tokio::test(start_paused = true)]
async fn a_second_delivery_of_the_same_schedule_does_nothing() {
    let h = Harness::new(fleet(Running, 5, 2));
    let first = h.deliver(&scheduled("Stop"), LONG).await.unwrap();
    assert_eq!(first["status"], "completed");
    let calls = h.cloud.calls().len();
    let second = h.deliver(&scheduled("Stop"), LONG).await.unwrap();
    assert_eq!(second["status"], "duplicate", "{second}");
    assert!(second["message"].as_str().unwrap().contains("already done (completed)"));
    assert_eq!(h.cloud.calls().len(), calls, "the duplicate made no call at all");
    let record = h.ledger.lock().records.values().next().cloned().unwrap();
    assert_eq!(record.status, LedgerStatus::Finished);
    assert_eq!(record.outcome.as_deref(), Some("completed"));
    assert!(h.ledger.lock().locks.is_empty(), "lock released");
}

#[tokio::test(start_paused = true)]
async fn ten_concurrent_deliveries_make_exactly_one_run() {
    let h = Harness::new(fleet(Running, 5, 3));
    let payload = scheduled("Stop");
    let results = join_all((0..10).map(|_| h.deliver(&payload, LONG))).await;
    let statuses: Vec<String> = results
        .iter()
        .map(|r| r.as_ref().unwrap()["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(statuses.iter().filter(|s| *s == "completed").count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| *s == "duplicate").count(), 9, "{statuses:?}");
    let counts = h.actions_per_instance();
    assert_eq!(counts.len(), 9);
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
}

#[tokio::test(start_paused = true)]
async fn start_while_stop_runs_is_refused_and_a_crashed_runs_lock_expires() {
    let h = Harness::new(fleet(Running, 5, 1));
    // A Stop holds the workload (as if running in another invocation).
    h.ledger
        .lock()
        .locks
        .insert("W".into(), ("stop-run".into(), ec2_tier_scheduler::clock::now() + 600));
    let err = h.deliver(&scheduled("Start"), LONG).await.unwrap_err();
    assert_eq!(err.error_type(), "WorkloadBusy");
    assert!(err.to_string().contains("\"stop-run\""), "{err}");
    assert!(h.cloud.mutating_calls().is_empty());

    // The holder crashed: once its lock expired, the next schedule runs.
    h.ledger
        .lock()
        .locks
        .insert("W".into(), ("stop-run".into(), ec2_tier_scheduler::clock::now() - 1));
    let ok = h.deliver(&scheduled("Stop"), LONG).await.unwrap();
    assert_eq!(ok["status"], "completed");
}

#[tokio::test(start_paused = true)]
async fn deadline_mid_run_continues_exactly_where_it_stopped() {
    // 200 instances per tier, 120 s delays, 100 s invocations: several
    // continuations, each resuming after the last completed step.
    let h = Harness::new(fleet(Running, 120, 200));
    let first = h.deliver(&scheduled("Stop"), Duration::from_secs(100)).await.unwrap();
    assert_eq!(first["status"], "continuing", "{first}");
    assert!(first["message"].as_str().unwrap().contains("continues at"));
    let scheduled_next = h.continuation.scheduled.lock().unwrap()[0].clone();
    assert_eq!(scheduled_next.1["continueRun"], first["runKey"]);
    assert!(
        scheduled_next.2 >= ec2_tier_scheduler::clock::now() + 120,
        "resumes after the delay still owed"
    );

    let responses = h.drain_continuations(Duration::from_secs(100)).await;
    let last = responses.last().unwrap();
    assert_eq!(last["status"], "completed", "{last}");
    tokio::time::sleep(Duration::from_secs(120)).await;
    let counts = h.actions_per_instance();
    assert_eq!(counts.len(), 600, "every instance acted on");
    assert!(counts.values().all(|n| *n == 1), "no instance acted on twice");
    let ids: Vec<String> = h.cloud.lock().instances.keys().cloned().collect();
    for id in ids {
        assert_eq!(h.cloud.state_of(&id), Stopped);
    }
    // Tier order held across invocations: every Web stop before every App stop before DB.
    let stops = h.cloud.calls_of("StopInstances");
    fn tier_of(id: &str) -> &str {
        id[2..].trim_end_matches(|c: char| c.is_ascii_digit())
    }
    let order: Vec<&str> = stops.iter().map(|c| tier_of(&c.ids[0])).collect();
    let mut sorted = order.clone();
    sorted.dedup();
    assert_eq!(sorted, ["Web", "App", "DB"]);
    let record = h.ledger.lock().records.values().next().cloned().unwrap();
    assert_eq!(record.status, LedgerStatus::Finished);
    assert_eq!(record.invocations as usize, responses.len() + 1);
}

#[tokio::test(start_paused = true)]
async fn a_continuation_inside_a_synchronous_tier_waits_for_the_instance_in_flight() {
    let cloud = FakeCloud::new();
    let mut workload = workload_item("W");
    workload.as_object_mut().unwrap().remove("SNSTopicName");
    cloud.put_config(workload, vec![tier_item("W", "Role_DB", 0, 0, true, 5)]);
    for n in 0..5 {
        cloud.add(&format!("i-db{n}"), "ENV001", "Role_DB", Running);
    }
    let h = Harness::new(cloud);
    let first = h.deliver(&scheduled("Stop"), Duration::from_secs(80)).await.unwrap();
    assert_eq!(first["status"], "continuing", "{first}");
    let responses = h.drain_continuations(Duration::from_secs(80)).await;
    assert_eq!(responses.last().unwrap()["status"], "completed");
    let stops = h.cloud.calls_of("StopInstances");
    let ids: Vec<&str> = stops.iter().map(|c| c.ids[0].as_str()).collect();
    assert_eq!(
        ids,
        ["i-db0", "i-db1", "i-db2", "i-db3", "i-db4"],
        "in order, once each"
    );
    for pair in stops.windows(2) {
        assert!(
            pair[1].at - pair[0].at >= h.cloud.transition,
            "one at a time across invocations"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn long_delays_are_not_slept_through_when_continuations_exist() {
    let h = Harness::new(fleet(Running, 3600, 1));
    let settings = Settings {
        offload_delays_over: Some(Duration::from_secs(120)),
        ..Settings::default()
    };
    let began = tokio::time::Instant::now();
    let first = handle_with(h.services(), &scheduled("Stop"), Some(LONG), &settings)
        .await
        .unwrap();
    assert_eq!(first["status"], "continuing");
    assert!(
        began.elapsed() < Duration::from_secs(60),
        "the hour is not paid as Lambda time"
    );
    let at = h.continuation.scheduled.lock().unwrap()[0].2;
    assert!(at >= ec2_tier_scheduler::clock::now() + 3590);
    assert_eq!(h.cloud.calls_of("StopInstances").len(), 1, "only Web so far");
}

#[tokio::test(start_paused = true)]
async fn ledger_failures_never_double_act() {
    // Claim fails: nothing is done at all.
    let h = Harness::new(fleet(Running, 5, 1));
    h.ledger.lock().fail_claims = 1;
    let err = h.deliver(&scheduled("Stop"), LONG).await.unwrap_err();
    assert_eq!(err.error_type(), "CloudError");
    assert!(err.to_string().contains("nothing was done"));
    assert!(h.cloud.mutating_calls().is_empty());

    // The final write fails: the run is done and says the ledger is behind.
    h.ledger.lock().fail_saves = 1;
    let done = h.deliver(&scheduled("Stop"), LONG).await.unwrap();
    assert_eq!(done["status"], "completed");
    assert!(done["ledgerError"].as_str().unwrap().contains("run ledger not updated"));
    // A redelivery is still recognised (the claim was recorded) and acts on nothing.
    let again = h.deliver(&scheduled("Stop"), LONG).await.unwrap();
    assert_eq!(again["status"], "duplicate");
    assert!(h.actions_per_instance().values().all(|n| *n == 1));
}

#[tokio::test(start_paused = true)]
async fn runs_without_a_schedule_key_use_run_id_or_run_every_time() {
    let h = Harness::new(fleet(Stopped, 5, 1));
    let with_id = json!({"workloadIdentifier": "W", "action": "Start", "runId": "manual-1"});
    assert_eq!(h.deliver(&with_id, LONG).await.unwrap()["status"], "completed");
    assert_eq!(h.deliver(&with_id, LONG).await.unwrap()["status"], "duplicate");
    // overrideState: the WorkloadState rule would skip a Start after a Start.
    let anonymous = json!({"workloadIdentifier": "W", "action": "Start", "overrideState": true});
    assert_eq!(h.deliver(&anonymous, LONG).await.unwrap()["status"], "completed");
    assert_eq!(
        h.deliver(&anonymous, LONG).await.unwrap()["status"],
        "completed",
        "no key: each delivery is a run"
    );
    let bogus = json!({"workloadIdentifier": "W", "action": "Start", "continueRun": "nope"});
    assert_eq!(h.deliver(&bogus, LONG).await.unwrap_err().error_type(), "InvalidEvent");
}

/// An EventBridge event envelope around the scheduler's object.
fn envelope(id: &str, action: &str) -> Value {
    json!({
        "version": "0", "id": id, "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-11-25T08:00:00Z", "region": "us-west-2",
        "resources": ["arn:aws:events:us-west-2:123456789012:rule/W-stop"],
        "detail": {"workloadIdentifier": "W", "action": action, "dynamoDBRegion": "us-west-2"}
    })
}

#[tokio::test(start_paused = true)]
async fn an_eventbridge_envelope_delivered_twice_runs_once() {
    // Defect 1 of issue 13: the envelope's id was dropped, so each delivery
    // got a fresh key and the workload was stopped twice.
    let h = Harness::new(fleet(Running, 5, 2));
    let first = h.deliver(&envelope("e-1", "Stop"), LONG).await.unwrap();
    assert_eq!(first["status"], "completed");
    assert_eq!(first["runKey"], "event|W|e-1|Stop");
    let again = h.deliver(&envelope("e-1", "Stop"), LONG).await.unwrap();
    assert_eq!(again["status"], "duplicate", "{again}");
    assert!(h.actions_per_instance().values().all(|n| *n == 1));
    // Another event (a new id) is another run.
    tokio::time::sleep(Duration::from_secs(60)).await;
    let other = h.deliver(&envelope("e-2", "Stop"), LONG).await.unwrap();
    assert_eq!(other["status"], "completed");
    let record = h.ledger.lock().records["event|W|e-1|Stop"].clone();
    assert_eq!(record.requested_by.as_deref(), Some("EventBridge event e-1"));
}

/// A Stop cut by its deadline in Web's (30 s) transition wait, so a
/// continuation is scheduled; returns the continuation's payload.
async fn run_until_continuation(h: &Harness) -> Value {
    let first = h.deliver(&scheduled("Stop"), Duration::from_secs(25)).await.unwrap();
    assert_eq!(first["status"], "continuing", "{first}");
    let list = h.continuation.scheduled.lock().unwrap().clone();
    assert_eq!(list.len(), 1);
    list[0].1.clone()
}

#[tokio::test(start_paused = true)]
async fn a_continuation_delivered_twice_concurrently_resumes_once() {
    // Defect 2: both copies loaded the in-progress record and both passed
    // the lock condition, so the rest of the run ran twice, concurrently.
    let mut cloud = fleet(Running, 5, 2);
    cloud.transition = Duration::from_secs(30);
    let mut tiers = three_tiers("W", 5);
    tiers[0]["TierStop"]["TierSynchronization"] = json!("True");
    cloud.put_config(workload_item("W"), tiers);
    let h = Harness::new(cloud);
    let payload = run_until_continuation(&h).await;
    assert!(payload["continuationToken"].as_str().is_some_and(|t| t.len() == 32));
    h.continuation.scheduled.lock().unwrap().clear();

    let both = join_all((0..2).map(|_| h.deliver(&payload, LONG))).await;
    let statuses: Vec<String> = both
        .iter()
        .map(|r| r.as_ref().unwrap()["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(statuses.iter().filter(|s| *s == "duplicate").count(), 1, "{statuses:?}");
    let counts = h.actions_per_instance();
    assert_eq!(counts.len(), 6, "{counts:?}");
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
    // A third, late copy is a duplicate too and does nothing.
    let calls = h.cloud.calls().len();
    let late = h.deliver(&payload, LONG).await.unwrap();
    assert_eq!(late["status"], "duplicate");
    assert_eq!(h.cloud.calls().len(), calls);
}

#[tokio::test(start_paused = true)]
async fn forged_continuations_and_keys_are_refused_with_nothing_done() {
    let mut cloud = fleet(Running, 5, 2);
    let mut tiers = three_tiers("W", 5);
    tiers[0]["TierStop"]["TierSynchronization"] = json!("True");
    cloud.transition = Duration::from_secs(30);
    cloud.put_config(workload_item("W"), tiers);
    let h = Harness::new(cloud);
    let payload = run_until_continuation(&h).await;
    let calls = h.cloud.calls().len();
    let writes = h.ledger.lock().writes;

    // The right key, but no token or a made-up one: refused, nothing done.
    let mut no_token = payload.clone();
    no_token.as_object_mut().unwrap().remove("continuationToken");
    let mut guessed = payload.clone();
    guessed["continuationToken"] = json!("0".repeat(32));
    for forged in [no_token, guessed] {
        let err = h.deliver(&forged, LONG).await.unwrap_err();
        assert_eq!(err.error_type(), "InvalidEvent", "{err}");
    }
    assert_eq!(h.cloud.calls().len(), calls, "no AWS call");
    assert_eq!(h.ledger.lock().writes, writes, "no ledger write");

    // A scheduleArn from another account or group cannot pre-claim a key.
    let services = Services {
        schedule_origin: ScheduleOrigin {
            account: Some("123456789012"),
            group: Some("ec2ts"),
        },
        ..h.services()
    };
    let mut foreign = scheduled("Start");
    foreign["scheduleArn"] = json!("arn:aws:scheduler:us-west-2:999999999999:schedule/ec2ts/W-start");
    let err = handle_with(services, &foreign, Some(LONG), &Settings::default())
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "InvalidEvent");
    assert!(err.to_string().contains("account 999999999999"), "{err}");
    assert_eq!(h.ledger.lock().writes, writes, "nothing claimed");

    // The real continuation still resumes.
    let done = h.deliver(&payload, LONG).await.unwrap();
    assert_ne!(done["status"], "duplicate");
}

#[tokio::test(start_paused = true)]
async fn the_delay_after_a_group_resumed_during_its_gate_is_still_owed() {
    // Defect 5: a continuation resuming inside a group whose instances an
    // earlier invocation stopped skipped that group's InterTierOrchestrationDelay.
    let cloud = FakeCloud::new();
    let mut workload = workload_item("W");
    workload.as_object_mut().unwrap().remove("SNSTopicName");
    let mut tiers = vec![
        tier_item("W", "Role_Web", 0, 1, false, 50),
        tier_item("W", "Role_App", 1, 0, false, 5),
    ];
    tiers[0]["TierStop"]["TierReadiness"] = json!("State");
    cloud.put_config(workload, tiers);
    cloud.add("i-w1", "ENV001", "Role_Web", Running);
    cloud.add("i-a1", "ENV001", "Role_App", Running);
    let h = Harness::new(cloud);
    let began = tokio::time::Instant::now();
    // 25 s: the deadline falls in Web's gate (stopping takes 30 s).
    let first = h.deliver(&scheduled("Stop"), Duration::from_secs(25)).await.unwrap();
    assert_eq!(first["status"], "continuing", "{first}");
    let responses = h.drain_continuations(LONG).await;
    assert_eq!(responses.last().unwrap()["status"], "completed", "{responses:?}");
    let web_stop = h.cloud.call_seconds("StopInstances", began)[0];
    let app_stop = h.cloud.call_seconds("StopInstances", began)[1];
    // Web stopped at ~30 s (gate passed), then the 50 s delay, then App.
    assert!(app_stop >= web_stop + 30 + 50, "Web {web_stop}s, App {app_stop}s");
}

#[tokio::test(start_paused = true)]
async fn a_deadline_bounds_throttling_retries_for_the_cli_too() {
    // Defect 4: with an unlimited budget, throttling was retried for ever.
    // The CLI passes its --timeout as the deadline (the run service).
    let cloud = fleet(Running, 5, 1);
    cloud.fault("StopInstances", None, "RequestLimitExceeded", usize::MAX);
    let h = Harness::new(cloud);
    let settings = Settings::default();
    let service = RunService {
        cloud: &h.cloud,
        ledger: None,
        continuation: None,
        settings: &settings,
    };
    let request = RunRequest::new("W", Action::Stop, "us-west-2");
    let began = tokio::time::Instant::now();
    let outcome = service
        .run(&request, Delivery::new("cli test@host"), Some(Duration::from_secs(600)))
        .await
        .unwrap();
    let Outcome::Ran { report, .. } = outcome else { panic!() };
    assert_eq!(
        report.summary.status,
        RunStatus::DeadlineReached,
        "{}",
        report.summary.to_table()
    );
    assert!(began.elapsed() <= Duration::from_secs(600), "{:?}", began.elapsed());
    let [acted, _, _, failed, not_done] = report.summary.totals();
    assert_eq!((acted, failed), (0, 0));
    assert_eq!(not_done, 3, "throttled instances are not done, with the reason");
}
