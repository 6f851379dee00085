//! Morning storm: many workloads' schedules fire at the same minute (08:00
//! in one time zone). 20 workloads × 500 instances (2 tiers of 250) are
//! started, then stopped, at the same instant in one account and region,
//! each in its own invocation (and its own continuations), all sharing
//! EC2's token buckets in the simulation (tests/support/fake.rs, paused
//! tokio time). Prints markdown for BENCHMARKS.md.
//!
//! `cargo bench --bench storm` (under `cargo test` it runs a tiny smoke
//! version and prints nothing).

#[path = "sim/mod.rs"]
mod sim;

use std::time::Duration;

use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::instance::InstanceState;
use ec2_tier_scheduler::orchestrator::{self, Budget, Settings};
use ec2_tier_scheduler::ports::EC2_BATCH;
use ec2_tier_scheduler::run::RunRequest;
use ec2_tier_scheduler::run_service::safety_margin;
use futures::future::join_all;
use serde_json::json;
use sim::fake::{FakeCloud, Latencies, SdkRetry, EC2_LIMITS};
use sim::{limits_of, lower_bound, paused_runtime, secs, LAMBDA_TIMEOUT, START_TRANSITION, STOP_TRANSITION};
use tokio::time::Instant;

const WORKLOADS: usize = 20;
const TIERS: usize = 2;
const PER_TIER: usize = 250;
const MAX_INVOCATIONS: usize = 24;

fn name(w: usize) -> String {
    format!("Storm{w:02}")
}

/// One account and region holding every workload's instances, stopped.
fn cloud(workloads: usize, tiers: usize, per_tier: usize) -> FakeCloud {
    let cloud = FakeCloud::new()
        .with_ec2_limits(EC2_LIMITS)
        .with_latencies(Latencies::TYPICAL)
        .with_sdk_retry(SdkRetry::None)
        .with_transitions(STOP_TRANSITION, START_TRANSITION)
        .without_call_log();
    cloud.lock().workload_state = None;
    for w in 0..workloads {
        let spec = name(w);
        cloud.put_config(
            json!({
                "SpecName": spec, "WorkloadFilterTagName": "Environment", "WorkloadFilterTagValue": spec,
                "WorkloadRegion": "us-east-1", "TierFilterTagName": "Role",
            }),
            (0..tiers)
                .map(|t| {
                    json!({
                        "SpecName": spec, "TierTagValue": format!("Tier{t}"),
                        "TierStop": {"TierSequence": t.to_string(), "InterTierOrchestrationDelay": "0"},
                        "TierStart": {"TierSequence": (tiers - 1 - t).to_string(), "InterTierOrchestrationDelay": "0"},
                    })
                })
                .collect(),
        );
        for t in 0..tiers {
            for k in 0..per_tier {
                let id = format!("i-{:017x}", 0x0b00_0000 + w * 1_000_000 + t * 10_000 + k);
                cloud.add(&id, &spec, &format!("Tier{t}"), InstanceState::Stopped);
            }
        }
    }
    cloud
}

/// Instances of workload `spec` not yet in, or on their way to, the target.
fn remaining(cloud: &FakeCloud, spec: &str, action: Action) -> usize {
    let ids: Vec<String> = cloud
        .lock()
        .instances
        .values()
        .filter(|i| i.tags.get("Environment").map(String::as_str) == Some(spec))
        .map(|i| i.id.clone())
        .collect();
    ids.iter()
        .filter(|id| !match action {
            Action::Stop => matches!(cloud.state_of(id), InstanceState::Stopping | InstanceState::Stopped),
            Action::Start => matches!(cloud.state_of(id), InstanceState::Pending | InstanceState::Running),
        })
        .count()
}

/// One workload's schedule: invocations (a continuation while instances
/// remain) until done. Returns (done after, invocations, failures surfaced).
async fn drive(cloud: &FakeCloud, spec: String, action: Action, began: Instant) -> (Option<Duration>, usize, usize) {
    let request = RunRequest::new(spec.clone(), action, "us-east-1");
    let settings = Settings::default();
    let mut invocations = 0;
    let mut failed = 0;
    let mut done_at = None;
    while invocations < MAX_INVOCATIONS {
        if remaining(cloud, &spec, action) == 0 {
            break;
        }
        let budget = Budget::from_now(LAMBDA_TIMEOUT, safety_margin(LAMBDA_TIMEOUT));
        let report = orchestrator::run(cloud, &request, &budget, &settings)
            .await
            .expect("the simulated run is refused");
        invocations += 1;
        failed += report.summary.totals()[3];
        if remaining(cloud, &spec, action) == 0 {
            done_at = Some(began.elapsed());
        }
    }
    (done_at, invocations, failed)
}

struct Storm {
    action: Action,
    instances: usize,
    /// When each workload was done (its last instance acted on).
    done: Vec<Option<Duration>>,
    invocations: usize,
    failed: usize,
    throttled: u64,
    last_ok: Option<Duration>,
}

fn storm(workloads: usize, tiers: usize, per_tier: usize) -> Vec<Storm> {
    paused_runtime().block_on(async {
        let cloud = cloud(workloads, tiers, per_tier);
        let mut out = Vec::new();
        for action in [Action::Start, Action::Stop] {
            cloud.reset_stats();
            let began = Instant::now();
            // Every workload's schedule fires at the same instant.
            let runs = join_all((0..workloads).map(|w| drive(&cloud, name(w), action, began))).await;
            let stats = cloud.stats();
            let op = match action {
                Action::Stop => "StopInstances",
                Action::Start => "StartInstances",
            };
            out.push(Storm {
                action,
                instances: workloads * tiers * per_tier,
                done: runs.iter().map(|r| r.0).collect(),
                invocations: runs.iter().map(|r| r.1).sum(),
                failed: runs.iter().map(|r| r.2).sum(),
                throttled: stats.values().map(|s| s.throttled).sum(),
                last_ok: stats
                    .get(op)
                    .and_then(|s| s.last_ok_at)
                    .map(|t| t.duration_since(began)),
            });
            // Let every transition settle before the other action.
            tokio::time::sleep(Duration::from_secs(600)).await;
        }
        out
    })
}

fn main() {
    if !sim::benchmarking() {
        // Smoke run under `cargo test --all-targets`.
        let runs = storm(3, 2, 20);
        assert!(runs.iter().all(|r| r.done.iter().all(Option::is_some) && r.failed == 0));
        return;
    }
    let real = std::time::Instant::now();
    let runs = storm(WORKLOADS, TIERS, PER_TIER);
    eprintln!("storm: simulated in {:.1}s of real time", real.elapsed().as_secs_f64());
    println!(
        "{WORKLOADS} workloads × {} instances ({TIERS} tiers of {PER_TIER}, async, no inter-tier delay), all \
         scheduled at the same instant in one account and region: each workload runs in its own \
         invocations (900 s deadline less the safety margin; a continuation while instances remain, at most \
         {MAX_INVOCATIONS}), all sharing EC2's token buckets. `Settings::default()`; throttled batches are \
         retried by the orchestrator with backoff (2 s doubling to 15 s) while the budget lasts.\n",
        TIERS * PER_TIER
    );
    println!(
        "| Action | Instances | Lower bound (s) | All done after (s) | Over the bound | First / median / last workload done (s) \
         | RequestLimitExceeded seen | Failures surfaced | Invocations (continuations) | Target met |"
    );
    println!("|---|---:|---:|---:|---:|---|---:|---:|---:|---|");
    let mut all_met = true;
    let mut summary = Vec::new();
    for run in &runs {
        let bound = lower_bound(limits_of(run.action), run.instances, EC2_BATCH.min(PER_TIER));
        let mut done: Vec<Duration> = run.done.iter().flatten().copied().collect();
        done.sort();
        let finished = done.len() == run.done.len();
        let (all, over, met) = match (finished, run.last_ok) {
            (true, Some(t)) => {
                let over = (t.as_secs_f64() / bound.as_secs_f64().max(1.0) - 1.0) * 100.0;
                (secs(t), format!("{over:+.1} %"), over <= 5.0 && run.failed == 0)
            }
            _ => ("not done".to_string(), "-".to_string(), false),
        };
        all_met &= met;
        let spread = if done.is_empty() {
            "-".to_string()
        } else {
            format!(
                "{} / {} / {}",
                secs(done[0]),
                secs(done[done.len() / 2]),
                secs(done[done.len() - 1])
            )
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} ({}) | {} |",
            run.action,
            run.instances,
            secs(bound),
            all,
            over,
            spread,
            run.throttled,
            run.failed,
            run.invocations,
            run.invocations - WORKLOADS,
            if met { "yes" } else { "no" }
        );
        summary.push(format!("{} {all} s ({over})", run.action));
    }
    println!(
        "SUMMARY|2b. morning storm ({WORKLOADS} workloads × {} instances at one instant)|within 5 % of the bucket bound, \
         0 throttling failures surfaced|{}; 0 failures: {}|{}",
        TIERS * PER_TIER,
        summary.join(", "),
        if runs.iter().all(|r| r.failed == 0) { "yes" } else { "no" },
        if all_met { "yes" } else { "no" }
    );
}
