//! The scale and memory benchmarks' simulation: the test suite's in-memory
//! cloud (`tests/support/fake.rs`) with EC2's documented token buckets,
//! typical latencies and, per scenario, a model of the SDK's retries, on
//! tokio time (paused in the benchmarks); and a driver that invokes the
//! orchestrator like the Lambda function until the action is done.

#![allow(dead_code)]

#[path = "../../tests/support/fake.rs"]
pub mod fake;

use std::collections::BTreeMap;
use std::time::Duration;

use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::instance::InstanceState;
use ec2_tier_scheduler::orchestrator::{self, Budget, Settings};
use ec2_tier_scheduler::run::RunRequest;
use ec2_tier_scheduler::run_service::safety_margin;
use ec2_tier_scheduler::summary::RunStatus;
use fake::{ApiLimits, FakeCloud, Latencies, OpStats, SdkRetry, EC2_LIMITS, START_LIMITS, STOP_LIMITS};
use serde_json::json;
use tokio::time::Instant;

/// A stop takes this long to reach `stopped`.
pub const STOP_TRANSITION: Duration = Duration::from_secs(60);
/// A start takes this long to reach `running`.
pub const START_TRANSITION: Duration = Duration::from_secs(40);

/// The benchmark workload in a simulated cloud: `tiers` tiers of `per_tier`
/// running instances, async tiers, no inter-tier delay, stop in tier order,
/// start in reverse; EC2's buckets, typical latencies, SDK retries as `retry`.
pub fn cloud(tiers: usize, per_tier: usize, retry: SdkRetry) -> FakeCloud {
    let cloud = FakeCloud::new()
        .with_ec2_limits(EC2_LIMITS)
        .with_latencies(Latencies::TYPICAL)
        .with_sdk_retry(retry)
        .with_transitions(STOP_TRANSITION, START_TRANSITION)
        .without_call_log();
    // No WorkloadState table: runs go on without it.
    cloud.lock().workload_state = None;
    cloud.put_config(
        json!({
            "SpecName": "Scale",
            "DisableAllSchedulingActions": "0",
            "WorkloadFilterTagName": "Environment",
            "WorkloadFilterTagValue": "PERF",
            "WorkloadRegion": "us-east-1",
            "TierFilterTagName": "Role",
        }),
        (0..tiers)
            .map(|t| {
                json!({
                    "SpecName": "Scale",
                    "TierTagValue": format!("Tier{t:02}"),
                    "TierStop": { "TierSequence": t.to_string(), "TierSynchronization": "False", "InterTierOrchestrationDelay": "0" },
                    "TierStart": { "TierSequence": (tiers - 1 - t).to_string(), "TierSynchronization": "False", "InterTierOrchestrationDelay": "0" },
                })
            })
            .collect(),
    );
    for t in 0..tiers {
        for k in 0..per_tier {
            let id = format!("i-{:017x}", 0x0a00_0000 + t * 100_000 + k);
            cloud.add(&id, "PERF", &format!("Tier{t:02}"), InstanceState::Running);
        }
    }
    cloud
}

/// Instances not yet in, or on their way to, the action's target state.
pub fn remaining(cloud: &FakeCloud, action: Action) -> usize {
    let ids: Vec<String> = cloud.lock().instances.keys().cloned().collect();
    ids.iter()
        .filter(|id| !match action {
            Action::Stop => matches!(cloud.state_of(id), InstanceState::Stopping | InstanceState::Stopped),
            Action::Start => matches!(cloud.state_of(id), InstanceState::Pending | InstanceState::Running),
        })
        .count()
}

/// One Lambda invocation of the driver.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub status: RunStatus,
    pub acted: usize,
    pub failed: usize,
    /// Instances reported failed with RequestLimitExceeded.
    pub failed_throttled: usize,
    /// Of those, the ones given up because the budget ran out while retrying.
    pub failed_throttled_at_deadline: usize,
    pub not_done: usize,
    pub took: Duration,
}

/// The outcome of an action carried through to the end.
#[derive(Debug, Clone)]
pub struct ActionRun {
    pub action: Action,
    pub instances: usize,
    pub invocations: Vec<Invocation>,
    /// From the first invocation's start to the last admitted Stop/Start
    /// call (None when instances remain).
    pub completed_after: Option<Duration>,
    /// From the first invocation's start to the end of the last one.
    pub elapsed: Duration,
    /// Instances not in (or on the way to) the target state at the end.
    pub remaining: usize,
    pub stats: BTreeMap<&'static str, OpStats>,
}

impl ActionRun {
    /// Continuations: invocations after the first.
    pub fn continuations(&self) -> usize {
        self.invocations.len().saturating_sub(1)
    }

    /// RequestLimitExceeded responses over all APIs.
    pub fn throttled(&self) -> u64 {
        self.stats.values().map(|s| s.throttled).sum()
    }

    /// Instances reported to the user as failed with RequestLimitExceeded.
    pub fn surfaced(&self) -> usize {
        self.invocations.iter().map(|i| i.failed_throttled).sum()
    }

    /// Of those, the ones given up because the invocation's budget ran out
    /// while retrying ("time ran out retrying").
    pub fn surfaced_at_deadline(&self) -> usize {
        self.invocations.iter().map(|i| i.failed_throttled_at_deadline).sum()
    }
}

/// The Lambda function's time limit.
pub const LAMBDA_TIMEOUT: Duration = Duration::from_secs(900);

/// Runs `action` the way the Lambda function would, each invocation with a
/// 900 s deadline (less the handler's safety margin), and invokes again with
/// the same event (a continuation) while instances remain, up to
/// `max_invocations`.
pub async fn drive(cloud: &FakeCloud, action: Action, max_invocations: usize) -> ActionRun {
    let request = RunRequest::new("Scale", action, "us-east-1");
    let settings = Settings::default();
    cloud.reset_stats();
    let began = Instant::now();
    let mut invocations = Vec::new();
    while invocations.len() < max_invocations && remaining(cloud, action) > 0 {
        let budget = Budget::from_now(LAMBDA_TIMEOUT, safety_margin(LAMBDA_TIMEOUT));
        cloud.set_retry_deadline(Some(Instant::now() + budget.remaining()));
        let t0 = Instant::now();
        let report = orchestrator::run(cloud, &request, &budget, &settings)
            .await
            .expect("the simulated run is refused");
        let [acted, _, _, failed, not_done] = report.summary.totals();
        let throttled: Vec<_> = report
            .summary
            .tiers
            .iter()
            .flat_map(|t| t.failed.iter())
            .filter(|f| f.code.as_deref() == Some("RequestLimitExceeded"))
            .collect();
        let failed_throttled = throttled.len();
        let failed_throttled_at_deadline = throttled
            .iter()
            .filter(|f| f.reason.contains("time ran out retrying"))
            .count();
        invocations.push(Invocation {
            status: report.summary.status,
            acted,
            failed,
            failed_throttled,
            failed_throttled_at_deadline,
            not_done,
            took: t0.elapsed(),
        });
    }
    let elapsed = began.elapsed();
    let remaining = remaining(cloud, action);
    let stats = cloud.stats();
    let op = match action {
        Action::Stop => "StopInstances",
        Action::Start => "StartInstances",
    };
    let completed_after = (remaining == 0)
        .then(|| stats.get(op).and_then(|s| s.last_ok_at))
        .flatten()
        .map(|t| t.duration_since(began));
    ActionRun {
        action,
        instances: cloud.lock().instances.len(),
        invocations,
        completed_after,
        elapsed,
        remaining,
        stats,
    }
}

/// The shortest time in which the buckets let `instances` instances be acted
/// on in batches of `batch`, starting with full buckets.
pub fn lower_bound(limits: ApiLimits, instances: usize, batch: usize) -> Duration {
    let requests = instances.div_ceil(batch) as f64;
    let by_requests = (requests - limits.requests.burst) / limits.requests.per_sec;
    let by_instances = limits
        .instances
        .map(|b| (instances as f64 - b.burst) / b.per_sec)
        .unwrap_or(0.0);
    Duration::from_secs_f64(by_requests.max(by_instances).max(0.0))
}

/// The limits of the action's API.
pub fn limits_of(action: Action) -> ApiLimits {
    match action {
        Action::Stop => STOP_LIMITS,
        Action::Start => START_LIMITS,
    }
}

/// A current-thread runtime on paused time: simulated hours take moments.
pub fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime")
}

/// True when run by `cargo bench` (which passes `--bench`), false under
/// `cargo test --all-targets`.
pub fn benchmarking() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// Seconds with one decimal.
pub fn secs(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64())
}
