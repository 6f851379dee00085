//! Test support: in-memory fakes, the moto launcher, shared fixtures.

#![allow(dead_code)]

pub mod fake;
// Beside `fake`, not in it: benches include fake.rs and need no tests.
#[cfg(test)]
#[path = "fake/tests.rs"]
mod fake_tests;
pub mod ledger;
pub mod moto;
pub mod runtime_api;

use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::error::RunError;
use ec2_tier_scheduler::orchestrator::{self, Budget, Settings};
use ec2_tier_scheduler::ports::Cloud;
use ec2_tier_scheduler::run::{RunReport, RunRequest};
use serde_json::{json, Value};

/// The seed README's workload item, with the region and bucket of the tests.
pub fn workload_item(name: &str) -> Value {
    json!({
      "DisableAllSchedulingActions": "0",
      "WorkloadFilterTagName": "Environment",
      "WorkloadFilterTagValue": "ENV001",
      "WorkloadRegion": "us-west-2",
      "SpecName": name,
      "SNSTopicName": "SchedulerTesting",
      "SSMS3BucketName": "ssm-output",
      "SSMS3KeyPrefixName": "ssmRemoteComandResults",
      "TierFilterTagName": "Role"
    })
}

/// A tier item in the seed's string-typed form.
pub fn tier_item(workload: &str, name: &str, stop_seq: u32, start_seq: u32, sync: bool, delay: u32) -> Value {
    let sync = if sync { "True" } else { "False" };
    json!({
      "SpecName": workload,
      "TierTagValue": name,
      "TierStart": { "TierSequence": start_seq.to_string(), "TierSynchronization": sync, "InterTierOrchestrationDelay": delay.to_string() },
      "TierStop": { "TierSequence": stop_seq.to_string(), "TierSynchronization": sync, "InterTierOrchestrationDelay": delay.to_string() },
      "TierScaling": { "default": "t3.small", "performant": "m5.large" }
    })
}

/// The spec's three tiers: Web stops first and starts last.
pub fn three_tiers(workload: &str, delay: u32) -> Vec<Value> {
    vec![
        tier_item(workload, "Role_Web", 0, 2, false, delay),
        tier_item(workload, "Role_App", 1, 1, false, delay),
        tier_item(workload, "Role_DB", 2, 0, false, delay),
    ]
}

/// A request for the `us-west-2` configuration tables.
pub fn request(workload: &str, action: Action) -> RunRequest {
    RunRequest::new(workload, action, "us-west-2")
}

/// Short polls so moto tests finish quickly.
pub fn fast_settings() -> Settings {
    Settings {
        poll_initial: std::time::Duration::from_millis(200),
        poll_max: std::time::Duration::from_secs(1),
        override_timeout: std::time::Duration::from_secs(20),
        state_timeout: std::time::Duration::from_secs(60),
        poll_concurrency: 8,
        ..Settings::default()
    }
}

/// Runs with no deadline and default settings.
pub async fn run(cloud: &dyn Cloud, request: &RunRequest) -> RunReport {
    orchestrator::run(cloud, request, &Budget::unlimited(), &Settings::default())
        .await
        .expect("run")
}

/// Runs with no deadline and default settings, expecting the run to be refused.
pub async fn run_refused(cloud: &dyn Cloud, request: &RunRequest) -> RunError {
    match orchestrator::run(cloud, request, &Budget::unlimited(), &Settings::default()).await {
        Ok(report) => panic!("run accepted:\n{}", report.summary.to_table()),
        Err(err) => err,
    }
}

/// Runs with no deadline and the fast polling of [`fast_settings`].
/// A tier of a run summary printed as JSON (`--json`), by name.
pub fn tier_json<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tier"] == name)
        .unwrap()
}

/// Runs with `secs` of budget, expecting the deadline to cut the run:
/// the report and its checkpoint.
pub async fn run_until_deadline(
    cloud: &dyn Cloud,
    request: &RunRequest,
    secs: u64,
) -> (RunReport, ec2_tier_scheduler::plan::Checkpoint) {
    let budget = Budget::from_now(std::time::Duration::from_secs(secs), std::time::Duration::ZERO);
    let first = orchestrator::run(cloud, request, &budget, &Settings::default())
        .await
        .expect("run");
    assert_eq!(
        first.summary.status,
        ec2_tier_scheduler::summary::RunStatus::DeadlineReached,
        "{}",
        first.summary.to_table()
    );
    let checkpoint = first.checkpoint.clone().expect("a checkpoint");
    (first, checkpoint)
}

/// The continuation of a cut run, with no deadline, expecting it to
/// complete.
pub async fn resume(
    cloud: &dyn Cloud,
    request: &RunRequest,
    checkpoint: &ec2_tier_scheduler::plan::Checkpoint,
) -> RunReport {
    let second = orchestrator::run_resumed(
        cloud,
        request,
        Some(checkpoint),
        &Budget::unlimited(),
        &Settings::default(),
    )
    .await
    .expect("run");
    assert_eq!(
        second.summary.status,
        ec2_tier_scheduler::summary::RunStatus::Completed,
        "{}",
        second.summary.to_table()
    );
    second
}

pub async fn run_fast(cloud: &dyn Cloud, request: &RunRequest) -> RunReport {
    orchestrator::run(cloud, request, &Budget::unlimited(), &fast_settings())
        .await
        .expect("run")
}
