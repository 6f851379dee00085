//! Issue 21, section 4: no delivery can cancel or steer a real run. A
//! caller with invoke rights sends what the real schedule sends, with a
//! field changed, before the real delivery arrives; or holds a continuation
//! token and changes its request or sends it early. Each case here failed
//! before its fix.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use ec2_tier_scheduler::clock;
use ec2_tier_scheduler::config::{CrossAccount, WorkloadItems};
use ec2_tier_scheduler::error::CloudError;
use ec2_tier_scheduler::handler::{handle_delivery, Handled, HandlerError, Services};
use ec2_tier_scheduler::instance::InstanceState::*;
use ec2_tier_scheduler::ledger::{Continuation, Ledger, LedgerStatus};
use ec2_tier_scheduler::orchestrator::Settings;
use ec2_tier_scheduler::ports::{Cloud, ConfigStore, Notifier, StateLookup, WorkloadPorts, WorkloadState};
use ec2_tier_scheduler::run_service;
use serde_json::{json, Value};

use crate::support::fake::FakeCloud;
use crate::support::ledger::{FakeContinuation, FakeLedger};
use crate::support::{three_tiers, tier_item, workload_item};

/// The region the configuration tables are in (the function's own).
pub const HOME: &str = "us-west-2";

/// The fake cloud with its configuration tables in [`HOME`] only: in any
/// other region the tables hold no workload. `fail_loads` makes the next
/// loads fail (a throttled or unavailable table).
#[derive(Clone)]
pub struct OneRegion {
    pub inner: FakeCloud,
    pub fail_loads: Arc<Mutex<usize>>,
}

impl OneRegion {
    pub fn new(inner: FakeCloud) -> Self {
        Self {
            inner,
            fail_loads: Arc::default(),
        }
    }
}

/// A region's configuration tables, as [`OneRegion`] shows them.
struct Tables {
    home: Option<FakeCloud>,
    region: String,
    fail_loads: Arc<Mutex<usize>>,
}

#[async_trait]
impl ConfigStore for Tables {
    async fn load(&self, workload: &str) -> Result<Option<WorkloadItems>, CloudError> {
        {
            let mut fail = self.fail_loads.lock().unwrap();
            if *fail > 0 {
                *fail -= 1;
                return Err(CloudError::new(
                    "dynamodb",
                    "GetItem",
                    Some("InternalServerError"),
                    "injected",
                ));
            }
        }
        match &self.home {
            Some(home) => home.config_store(HOME).load(workload).await,
            None => Ok(None),
        }
    }
    async fn save(&self, items: &WorkloadItems) -> Result<(), CloudError> {
        match &self.home {
            Some(home) => home.config_store(HOME).save(items).await,
            None => Ok(()),
        }
    }
    fn location(&self) -> String {
        format!("WorkloadSpecification in {}", self.region)
    }
    async fn workloads(&self) -> Result<Vec<String>, CloudError> {
        match &self.home {
            Some(home) => home.config_store(HOME).workloads().await,
            None => Ok(Vec::new()),
        }
    }
    async fn load_state(&self, workload: &str) -> Result<StateLookup, CloudError> {
        match &self.home {
            Some(home) => home.config_store(HOME).load_state(workload).await,
            None => Ok(StateLookup::Missing),
        }
    }
    async fn save_state(&self, workload: &str, state: &WorkloadState) -> Result<Option<String>, CloudError> {
        match &self.home {
            Some(home) => home.config_store(HOME).save_state(workload, state).await,
            None => Ok(None),
        }
    }
}

#[async_trait]
impl Cloud for OneRegion {
    fn config_store(&self, region: &str) -> Arc<dyn ConfigStore> {
        Arc::new(Tables {
            home: (region == HOME).then(|| self.inner.clone()),
            region: region.to_string(),
            fail_loads: self.fail_loads.clone(),
        })
    }
    fn records(&self) -> Option<Arc<dyn ec2_tier_scheduler::ports::Records>> {
        self.inner.records()
    }
    fn notifier(&self, region: &str) -> Arc<dyn Notifier> {
        self.inner.notifier(region)
    }
    fn event_bus(&self, region: &str) -> Option<Arc<dyn ec2_tier_scheduler::ports::EventBus>> {
        self.inner.event_bus(region)
    }
    async fn workload_ports(&self, region: &str, role: Option<&CrossAccount>) -> Result<WorkloadPorts, CloudError> {
        self.inner.workload_ports(region, role).await
    }
}

/// A three-tier workload `W` in [`HOME`] of `per_tier` instances per tier.
fn fleet(state: ec2_tier_scheduler::instance::InstanceState, delay: u32, per_tier: usize) -> FakeCloud {
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

/// What the real Stop schedule sends at its due time, `ago` seconds ago.
pub fn real_schedule(action: &str, ago: u64) -> Value {
    json!({
        "workloadIdentifier": "W", "action": action, "dynamoDBRegion": HOME,
        "scheduleArn": "arn:aws:scheduler:us-west-2:123456789012:schedule/default/W-stop",
        "scheduledTime": format!("{}Z", clock::utc_timestamp(run_service::now() - ago)),
    })
}

const LONG: Duration = Duration::from_secs(900);

struct Harness {
    cloud: OneRegion,
    ledger: FakeLedger,
    continuation: FakeContinuation,
}

impl Harness {
    fn new(cloud: FakeCloud) -> Self {
        Self {
            cloud: OneRegion::new(cloud),
            ledger: FakeLedger::default(),
            continuation: FakeContinuation::default(),
        }
    }

    fn fake(&self) -> &FakeCloud {
        &self.cloud.inner
    }

    fn services(&self) -> Services<'_> {
        Services {
            cloud: &self.cloud,
            function_region: Some(HOME),
            ledger: Some(&self.ledger as &dyn Ledger),
            continuation: Some(&self.continuation as &dyn Continuation),
            schedule_origin: Default::default(),
        }
    }

    async fn handle(&self, payload: &Value, time_left: Duration) -> Result<Handled, HandlerError> {
        handle_delivery(self.services(), payload, Some(time_left), &Settings::default()).await
    }

    async fn deliver(&self, payload: &Value, time_left: Duration) -> Result<Value, HandlerError> {
        self.handle(payload, time_left).await.map(|h| h.response)
    }

    /// The continuations scheduled so far, emptied: (payload, due time).
    fn take_continuations(&self) -> Vec<(Value, u64)> {
        let mut list = self.continuation.scheduled.lock().unwrap();
        list.drain(..).map(|(_, payload, at)| (payload, at)).collect()
    }
}

#[tokio::test(start_paused = true)]
async fn a_refused_delivery_with_the_real_key_does_not_swallow_the_real_run() {
    let h = Harness::new(fleet(Running, 5, 1));
    // Another region: no configuration there, refused...
    let mut elsewhere = real_schedule("Stop", 0);
    elsewhere["dynamoDBRegion"] = json!("eu-west-1");
    let err = h.deliver(&elsewhere, LONG).await.unwrap_err();
    assert_eq!(err.error_type(), "WorkloadNotFound", "{err}");
    // ... and the real delivery still runs, and says so.
    let real = h.deliver(&real_schedule("Stop", 0), LONG).await.unwrap();
    assert_eq!(real["status"], "completed", "{real}");
    assert_eq!(h.fake().action_counts().len(), 3);
    assert!(h.fake().action_counts().values().all(|n| *n == 1));
    // The refusal is kept, under its own key.
    let records = h.ledger.lock().records.clone();
    assert_eq!(records.len(), 2, "{:?}", records.keys());
    let refused = records.values().find(|r| r.status == LedgerStatus::Refused).unwrap();
    assert_eq!(refused.dynamodb_region, "eu-west-1");
    assert_ne!(Some(refused.key.as_str()), real["runKey"].as_str());
}

#[tokio::test(start_paused = true)]
async fn a_steered_request_under_the_real_key_is_another_run() {
    // overrideState and a scaling profile decide what a run does: a
    // delivery changing either is another run, never the real one.
    let h = Harness::new(fleet(Stopped, 5, 1));
    let real = real_schedule("Start", 0);
    let mut steered = real.clone();
    steered["overrideState"] = json!(true);
    steered["scalingProfile"] = json!("performant");
    let first = h.deliver(&steered, LONG).await.unwrap();
    assert_eq!(first["status"], "completed", "{first}");
    tokio::time::sleep(Duration::from_secs(60)).await;
    let real = h.deliver(&real, LONG).await.unwrap();
    assert_ne!(real["status"], "duplicate", "{real}");
    assert_ne!(real["runKey"], first["runKey"]);
    let again = h.deliver(&steered, LONG).await.unwrap();
    assert_eq!(again["status"], "duplicate", "the steered delivery's own repeat");
}

#[tokio::test(start_paused = true)]
async fn a_run_refused_by_a_passing_fault_is_claimed_again_by_its_retry() {
    let h = Harness::new(fleet(Running, 5, 1));
    let payload = real_schedule("Stop", 0);
    *h.cloud.fail_loads.lock().unwrap() = 1;
    let err = h.deliver(&payload, LONG).await.unwrap_err();
    assert_eq!(err.error_type(), "CloudError", "{err}");
    assert!(h.fake().mutating_calls().is_empty());
    let retry = h.deliver(&payload, LONG).await.unwrap();
    assert_eq!(retry["status"], "completed", "{retry}");
    let again = h.deliver(&payload, LONG).await.unwrap();
    assert_eq!(again["status"], "duplicate", "a finished run is not claimed again");
    assert!(h.fake().action_counts().values().all(|n| *n == 1));
}

#[tokio::test(start_paused = true)]
async fn a_run_id_naming_a_run_of_another_action_is_refused_not_swallowed() {
    let h = Harness::new(fleet(Running, 5, 1));
    let stop = json!({"workloadIdentifier": "W", "action": "Stop", "runId": "2026-12-01-stop"});
    let mut start = stop.clone();
    start["action"] = json!("Start");
    assert_eq!(h.deliver(&start, LONG).await.unwrap()["status"], "completed");
    let err = h.deliver(&stop, LONG).await.unwrap_err();
    assert_eq!(err.error_type(), "InvalidEvent", "{err}");
    assert!(err.to_string().contains("Start"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn scheduled_times_outside_the_delivery_window_are_refused() {
    let h = Harness::new(fleet(Running, 5, 1));
    let at = |time: String| {
        let mut p = real_schedule("Stop", 0);
        p["scheduledTime"] = json!(time);
        p
    };
    let now = run_service::now();
    let cases = [
        (
            format!("{}Z", clock::utc_timestamp(now + 7 * 24 * 3600)),
            "in the future",
        ),
        (format!("{}Z", clock::utc_timestamp(now + 600)), "in the future"),
        (format!("{}Z", clock::utc_timestamp(now - 3 * 3600)), "older than"),
        ("next tuesday".to_string(), "scheduledTime"),
    ];
    for (time, needle) in cases {
        let err = h.deliver(&at(time.clone()), LONG).await.unwrap_err();
        assert_eq!(err.error_type(), "InvalidEvent", "{time}: {err}");
        let text = err.to_string();
        assert!(
            text.contains(needle) && text.contains("scheduledTime"),
            "{time}: {text}"
        );
    }
    assert!(h.ledger.lock().records.is_empty(), "nothing claimed");
    assert!(h.fake().calls().is_empty(), "nothing called");
    // Within the window (a retried delivery, ten minutes late): it runs.
    let late = h.deliver(&real_schedule("Stop", 600), LONG).await.unwrap();
    assert_eq!(late["status"], "completed", "{late}");
}

/// A one-tier synchronous Stop of five, cut by a 25 s deadline: its
/// continuation's payload and due time.
async fn cut_short(h: &Harness) -> (Value, u64) {
    let first = h
        .deliver(&real_schedule("Stop", 0), Duration::from_secs(25))
        .await
        .unwrap();
    assert_eq!(first["status"], "continuing", "{first}");
    let mut list = h.take_continuations();
    assert_eq!(list.len(), 1);
    list.remove(0)
}

fn synchronous_db(per_tier: usize) -> FakeCloud {
    let mut cloud = FakeCloud::new();
    cloud.transition = Duration::from_secs(30);
    let mut workload = workload_item("W");
    workload.as_object_mut().unwrap().remove("SNSTopicName");
    cloud.put_config(workload, vec![tier_item("W", "Role_DB", 0, 0, true, 5)]);
    for n in 0..per_tier {
        cloud.add(&format!("i-db{n}"), "ENV001", "Role_DB", Running);
    }
    cloud
}

/// Sleeps (paused time) until the run service's clock reads `at`.
async fn until(at: u64) {
    tokio::time::sleep(Duration::from_secs(at.saturating_sub(run_service::now()))).await;
}

#[tokio::test(start_paused = true)]
async fn a_continuation_resumes_the_request_recorded_when_the_run_began() {
    let h = Harness::new(synchronous_db(3));
    let (payload, at) = cut_short(&h).await;
    until(at).await;
    let mut steered = payload.clone();
    steered["dynamoDBRegion"] = json!("eu-west-1");
    steered["overrideState"] = json!(true);
    let mut responses = vec![h.deliver(&steered, LONG).await.unwrap()];
    for (next, at) in h.take_continuations() {
        until(at).await;
        responses.push(h.deliver(&next, LONG).await.unwrap());
    }
    let last = responses.last().unwrap();
    assert_eq!(last["status"], "completed", "{responses:?}");
    let record = h.ledger.lock().records.values().next().cloned().unwrap();
    assert_eq!(record.dynamodb_region, HOME);
    assert!(!record.override_state);
    assert_eq!(h.fake().action_counts().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn an_early_continuation_waits_for_its_due_time() {
    let h = Harness::new(synchronous_db(3));
    let began = tokio::time::Instant::now();
    let wall = run_service::now();
    let (payload, at) = cut_short(&h).await;
    let stops_before = h.fake().calls_of("StopInstances").len();
    // Delivered at once, with time enough to wait for the due time.
    let response = h.deliver(&payload, LONG).await.unwrap();
    assert_ne!(response["status"], "duplicate", "{response}");
    let stops = h.fake().call_seconds("StopInstances", began);
    assert!(stops.len() > stops_before, "the continuation acted: {response}");
    let first_after = wall + stops[stops_before];
    assert!(first_after + 1 >= at, "acted at {first_after}, due at {at}");
}

#[tokio::test(start_paused = true)]
async fn an_early_continuation_that_cannot_wait_reschedules_itself_for_its_due_time() {
    let mut cloud = fleet(Running, 600, 1);
    cloud.transition = Duration::from_secs(30);
    let h = Harness::new(cloud);
    let settings = Settings {
        offload_delays_over: Some(Duration::from_secs(120)),
        ..Settings::default()
    };
    let first = handle_delivery(h.services(), &real_schedule("Stop", 0), Some(LONG), &settings)
        .await
        .unwrap()
        .response;
    assert_eq!(first["status"], "continuing", "{first}");
    let (payload, at) = h.take_continuations().remove(0);
    let mutations = h.fake().mutating_calls().len();
    // Ten minutes early, with 60 s left: it cannot wait.
    let early = h.deliver(&payload, Duration::from_secs(60)).await.unwrap();
    assert_eq!(early["status"], "rescheduled", "{early}");
    assert_eq!(h.fake().mutating_calls().len(), mutations, "nothing done early");
    let again = h.take_continuations();
    assert_eq!(again.len(), 1, "rescheduled once");
    assert_eq!(again[0].1, at, "for the same due time");
    // A copy of the early delivery is a duplicate: the token was replaced.
    let copy = h.deliver(&payload, Duration::from_secs(60)).await.unwrap();
    assert_eq!(copy["status"], "duplicate", "{copy}");
    assert!(h.take_continuations().is_empty());
    // The rescheduled continuation, at its time, finishes the run.
    until(at).await;
    let done = h.deliver(&again[0].0, LONG).await.unwrap();
    assert_ne!(done["status"], "rescheduled", "{done}");
    assert!(h.fake().mutating_calls().len() > mutations);
}

#[tokio::test(start_paused = true)]
async fn a_duplicate_delivery_is_counted_in_the_metrics() {
    let h = Harness::new(fleet(Running, 5, 1));
    let payload = real_schedule("Stop", 0);
    h.handle(&payload, LONG).await.unwrap();
    let again = h.handle(&payload, LONG).await.unwrap();
    assert_eq!(again.response["status"], "duplicate");
    let line = again
        .outcome
        .metrics_line("Ec2TierScheduler", 0, 1_795_478_400_000)
        .expect("a duplicate writes a metrics line");
    let line: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(line["DuplicateDeliveries"], 1, "{line}");
    assert_eq!(
        (line["Workload"].as_str(), line["Action"].as_str()),
        (Some("W"), Some("Stop"))
    );
    let metrics = &line["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(
        metrics["Metrics"],
        json!([{"Name": "DuplicateDeliveries", "Unit": "Count"}])
    );
    assert_eq!(metrics["Dimensions"], json!([["Workload", "Action"], []]));
    assert!(line.get("InstancesActed").is_none(), "a duplicate did nothing: {line}");
}
