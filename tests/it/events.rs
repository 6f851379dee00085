//! Bad-input corpora: invocation payloads the Lambda handler must refuse
//! (tests/corpus/events) and workload documents a run must refuse
//! (tests/corpus/configs). Each case has a sibling `.expect` file whose every
//! non-empty line must occur in the error. Refusals touch nothing: no call at
//! all for a bad event, no discovery and no mutating call for a bad config.
//!
//! The corpora are written by tests/corpus/generate.py.

use std::path::{Path, PathBuf};

use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::error::RunError;
use ec2_tier_scheduler::event::SchedulerEvent;
use ec2_tier_scheduler::handler::{self, HandlerError};
use ec2_tier_scheduler::instance::InstanceState::*;
use ec2_tier_scheduler::orchestrator::{self, Budget, Settings};
use ec2_tier_scheduler::rds_event::RestartEvent;
use ec2_tier_scheduler::summary::RunStatus;
use serde_json::{json, Value};

use crate::support::fake::FakeCloud;
use crate::support::{request, run};

/// The workload every corpus case is about.
const WORKLOAD: &str = "Corpus";

fn corpus(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus").join(dir)
}

/// Every `*.json` case of a corpus directory with its expected substrings.
fn cases(dir: &str) -> Vec<(String, String, Vec<String>)> {
    let dir = corpus(dir);
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let expect_path = path.with_extension("expect");
        let expect = std::fs::read_to_string(&expect_path)
            .unwrap_or_else(|e| panic!("{name}: {} is missing: {e}", expect_path.display()));
        let expect: Vec<String> = expect
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect();
        assert!(!expect.is_empty(), "{name}: empty .expect file");
        out.push((name, text, expect));
    }
    out.sort();
    out
}

/// A cloud where the corpus workload is valid and running, so a payload or
/// document that slipped through would show up as calls.
fn live_cloud() -> FakeCloud {
    let cloud = FakeCloud::new();
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(corpus("valid-config.json")).unwrap()).unwrap();
    load(&cloud, &doc);
    cloud
}

fn load(cloud: &FakeCloud, doc: &Value) {
    let tiers = doc["tiers"].as_array().expect("tiers").clone();
    cloud.put_config(doc["workload"].clone(), tiers);
    for (tier, id) in [("Role_Web", "i-w1"), ("Role_App", "i-a1"), ("Role_DB", "i-d1")] {
        if !cloud.lock().instances.contains_key(id) {
            cloud.add(id, "ENV001", tier, Running);
        }
    }
}

fn mentions(name: &str, text: &str, expect: &[String]) -> Result<(), String> {
    for needle in expect {
        if !text.contains(needle.as_str()) {
            return Err(format!("{name}: {text:?}\n  should mention {needle:?}"));
        }
    }
    Ok(())
}

/// Fails the case with a message unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// Panics listing every failed case, so one run shows the whole picture.
fn report(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

async fn bad_event(name: &str, text: &str, expect: &[String]) -> Result<(), String> {
    let cloud = live_cloud();
    let message = match serde_json::from_str::<Value>(text) {
        Ok(payload) => {
            let err = match handler::handle(&cloud, Some("us-west-2"), &payload, None, &Settings::default()).await {
                Ok(response) => return Err(format!("{name}: accepted: {response}")),
                Err(err) => err,
            };
            ensure!(matches!(err, HandlerError::Event(_)), "{name}: {err:?}");
            ensure!(err.error_type() == "InvalidEvent", "{name}: {}", err.error_type());
            // the parser on its own agrees
            let direct = SchedulerEvent::from_value(&payload).map_err(|e| e.to_string());
            ensure!(direct == Err(err.to_string()), "{name}: from_value gave {direct:?}");
            err.to_string()
        }
        Err(_) => match SchedulerEvent::from_json(text) {
            Ok(event) => return Err(format!("{name}: accepted: {event:?}")),
            Err(e) => e.to_string(),
        },
    };
    mentions(name, &message, expect)?;
    ensure!(message.starts_with("invalid event: "), "{name}: {message}");
    ensure!(
        message.len() <= 400,
        "{name}: the error echoes the input ({} bytes)",
        message.len()
    );
    ensure!(cloud.calls().is_empty(), "{name}: {:?}", cloud.calls());
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn every_bad_event_is_refused_naming_the_field_and_touches_nothing() {
    let cases = cases("events");
    assert!(cases.len() >= 40, "the corpus is incomplete: {} cases", cases.len());
    let mut failures = Vec::new();
    for (name, text, expect) in &cases {
        if let Err(e) = bad_event(name, text, expect).await {
            failures.push(e);
        }
    }
    report(failures);
}

#[tokio::test(start_paused = true)]
async fn the_corpus_workload_accepts_a_good_event() {
    // The harness is not vacuous: the same cloud accepts a well-formed payload,
    // directly and inside an EventBridge envelope.
    let cloud = live_cloud();
    let good = json!({ "workloadIdentifier": WORKLOAD, "action": "Stop", "dryRun": true });
    let response = handler::handle(&cloud, Some("us-west-2"), &good, None, &Settings::default())
        .await
        .expect("valid event");
    assert_eq!(response["status"], "dryRun");
    assert!(!cloud.calls().is_empty());
    let envelope =
        json!({ "version": "0", "detail-type": "Scheduled Event", "source": "aws.scheduler", "detail": good });
    let response = handler::handle(&cloud, Some("us-west-2"), &envelope, None, &Settings::default())
        .await
        .expect("valid envelope");
    assert_eq!(response["status"], "dryRun");
}

/// Runs Stop through the orchestrator and Start through the handler; both
/// must be refused as invalid configuration. Returns the error texts.
async fn refuse(name: &str, cloud: &FakeCloud) -> Result<Vec<String>, String> {
    let err = match orchestrator::run(
        cloud,
        &request(WORKLOAD, Action::Stop),
        &Budget::unlimited(),
        &Settings::default(),
    )
    .await
    {
        Ok(report) => return Err(format!("{name}: accepted:\n{}", report.summary.to_table())),
        Err(err) => err,
    };
    ensure!(matches!(err, RunError::Config(_)), "{name}: {err}");
    let payload = json!({ "workloadIdentifier": WORKLOAD, "action": "Start" });
    let via_handler = match handler::handle(cloud, Some("us-west-2"), &payload, None, &Settings::default()).await {
        Ok(response) => return Err(format!("{name}: Start accepted: {response}")),
        Err(err) => err,
    };
    ensure!(
        via_handler.error_type() == "InvalidConfiguration",
        "{name}: {}",
        via_handler.error_type()
    );
    Ok(vec![err.to_string(), via_handler.to_string()])
}

fn untouched(name: &str, cloud: &FakeCloud) -> Result<(), String> {
    ensure!(
        cloud.mutating_calls().is_empty(),
        "{name}: {:?}",
        cloud.mutating_calls()
    );
    ensure!(
        cloud.calls_of("DescribeInstances").is_empty(),
        "{name}: discovery ran before validation"
    );
    ensure!(
        cloud.calls().iter().all(|c| c.op == "GetItem"),
        "{name}: {:?}",
        cloud.calls()
    );
    Ok(())
}

async fn bad_config(name: &str, text: &str, expect: &[String]) -> Result<(), String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("{name}: {e}"))?;
    ensure!(
        doc["workload"]["SpecName"] == WORKLOAD,
        "{name}: SpecName must be {WORKLOAD}"
    );
    let cloud = FakeCloud::new();
    load(&cloud, &doc);
    for message in refuse(name, &cloud).await? {
        ensure!(message.contains(&format!("workload {WORKLOAD:?}")), "{name}: {message}");
        mentions(name, &message, expect)?;
        // the wrong field comes first; later lines may only be its consequences
        let first = message.lines().nth(1).unwrap_or_default();
        ensure!(first.contains(expect[0].as_str()), "{name}: first problem is {first:?}");
    }
    untouched(name, &cloud)
}

#[tokio::test(start_paused = true)]
async fn every_bad_config_is_refused_naming_the_workload_and_field_before_discovery() {
    let cases = cases("configs");
    assert!(cases.len() >= 80, "the corpus is incomplete: {} cases", cases.len());
    let mut failures = Vec::new();
    for (name, text, expect) in &cases {
        if let Err(e) = bad_config(name, text, expect).await {
            failures.push(e);
        }
    }
    report(failures);
}

#[tokio::test(start_paused = true)]
async fn the_document_the_config_corpus_is_derived_from_is_valid() {
    let cloud = live_cloud();
    let report = run(&cloud, &request(WORKLOAD, Action::Stop)).await;
    assert_eq!(
        report.summary.status,
        RunStatus::Completed,
        "{}",
        report.summary.to_table()
    );
    assert_eq!(report.summary.totals()[0], 3);
}

/// Every sample in `events/` (the README's, for `cargo lambda invoke`) is a
/// payload the handler accepts; the window samples carry the `runId` their
/// schedules would give them.
#[test]
fn every_sample_event_is_accepted() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        seen += 1;
        if RestartEvent::is_rds(&value) {
            RestartEvent::from_value(&value).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            continue;
        }
        let event = SchedulerEvent::from_value(&value).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if let Some(window) = &event.maintenance_window {
            assert_eq!(
                event.run_id.as_deref(),
                Some(window.run_id().as_str()),
                "{}",
                path.display()
            );
        }
    }
    assert!(seen >= 8, "{seen} samples");
}
