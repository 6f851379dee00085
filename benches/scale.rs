//! Scale: 10,000 instances in 10 tiers, stopped then started against a
//! simulated EC2 (the tests' in-memory cloud) that enforces AWS's documented
//! token buckets, on paused tokio time. Prints markdown for BENCHMARKS.md.
//!
//! `cargo bench --bench scale` (under `cargo test` it runs a tiny smoke
//! version and prints nothing).

#[path = "sim/mod.rs"]
mod sim;

use std::time::Duration;

use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::orchestrator::EC2_BATCH;
use sim::fake::{Latencies, SdkRetry};
use sim::{drive, limits_of, lower_bound, paused_runtime, secs, ActionRun};

const TIERS: usize = 10;
const PER_TIER: usize = 1000;
const MAX_INVOCATIONS: usize = 40;

struct Scenario {
    name: &'static str,
    retry: SdkRetry,
    /// The emulated change reports batches still throttled when the budget
    /// runs out as notDone (the continuation's work), not as failures.
    deadline_is_not_done: bool,
}

const SCENARIOS: [Scenario; 3] = [
    Scenario {
        name: "as built: orchestrator retry only",
        retry: SdkRetry::None,
        deadline_is_not_done: false,
    },
    Scenario {
        name: "as built + SDK standard retry (model)",
        retry: SdkRetry::Standard,
        deadline_is_not_done: false,
    },
    Scenario {
        name: "recommended change (emulated)",
        // Retried until the invocation's budget would run out.
        retry: SdkRetry::UntilDeadline,
        deadline_is_not_done: true,
    },
];

fn run_scenario(retry: SdkRetry, tiers: usize, per_tier: usize) -> (ActionRun, ActionRun) {
    paused_runtime().block_on(async {
        let cloud = sim::cloud(tiers, per_tier, retry);
        let stop = drive(&cloud, Action::Stop, MAX_INVOCATIONS).await;
        // Long enough for every instance to reach `stopped` and the start
        // buckets are untouched by the stop anyway.
        tokio::time::sleep(Duration::from_secs(600)).await;
        let start = drive(&cloud, Action::Start, MAX_INVOCATIONS).await;
        (stop, start)
    })
}

fn main() {
    if !sim::benchmarking() {
        // Smoke run under `cargo test --all-targets`: the code still works.
        let (stop, start) = run_scenario(SdkRetry::None, 2, 50);
        assert_eq!(stop.remaining + start.remaining, 0);
        return;
    }
    let mut runs = Vec::new();
    for scenario in &SCENARIOS {
        let began = std::time::Instant::now();
        let (stop, start) = run_scenario(scenario.retry, TIERS, PER_TIER);
        eprintln!(
            "scale: {} simulated in {:.1}s of real time",
            scenario.name,
            began.elapsed().as_secs_f64()
        );
        runs.push((scenario, stop, start));
    }

    println!(
        "{} instances in {} tiers of {}, async tiers, InterTierOrchestrationDelay 0, \
         `Settings::default()` (poll 2 s doubling to 15 s), each invocation with the Lambda's 900 s \
         deadline less the handler's safety margin; a continuation is a new invocation with the same \
         event while instances remain (at most {MAX_INVOCATIONS}).\n",
        TIERS * PER_TIER,
        TIERS,
        PER_TIER
    );
    println!(
        "| Scenario | Action | Lower bound (s) | Completed after (s) | Over the bound | RequestLimitExceeded seen \
         | Throttling failures surfaced (instances) | … of them \"time ran out retrying\" at a deadline | Continuations | Target met |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---|");
    for (scenario, stop, start) in &runs {
        for run in [stop, start] {
            let bound = lower_bound(limits_of(run.action), run.instances, EC2_BATCH);
            let surfaced = if scenario.deadline_is_not_done {
                run.surfaced() - run.surfaced_at_deadline()
            } else {
                run.surfaced()
            };
            let (done, over, met) = match run.completed_after {
                Some(t) => {
                    let over = (t.as_secs_f64() / bound.as_secs_f64() - 1.0) * 100.0;
                    let met = over <= 5.0 && surfaced == 0;
                    (secs(t), format!("{over:+.1} %"), if met { "yes" } else { "no" })
                }
                None => (format!("not done ({} left)", run.remaining), "-".to_string(), "no"),
            };
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                scenario.name,
                run.action,
                secs(bound),
                done,
                over,
                run.throttled(),
                run.surfaced(),
                run.surfaced_at_deadline(),
                run.continuations(),
                met
            );
        }
    }
    println!(
        "\nTarget met: within 5 % of the bound and no throttling failure surfaced; for the emulated change, \
         failures at a deadline do not count because the change reports those instances as notDone."
    );

    let (_, stop, start) = &runs[0];
    for run in [stop, start] {
        let bound = lower_bound(limits_of(run.action), run.instances, EC2_BATCH);
        let (measured, met) = match run.completed_after {
            Some(t) => {
                let over = (t.as_secs_f64() / bound.as_secs_f64() - 1.0) * 100.0;
                (
                    format!("{} s vs bound {} s ({over:+.1} %)", secs(t), secs(bound)),
                    over <= 5.0 && run.surfaced() == 0,
                )
            }
            None => (format!("not done, {} instances left", run.remaining), false),
        };
        println!(
            "SUMMARY|2. Scale: {} {} instances in {TIERS} tiers, simulated EC2 token buckets (as built)\
             |within 5 % of the bucket bound, 0 throttling errors surfaced\
             |{measured}; {} RequestLimitExceeded seen, {} instance failures surfaced; {} continuation(s)|{}",
            run.action,
            run.instances,
            run.throttled(),
            run.surfaced(),
            run.continuations(),
            if met { "yes" } else { "no" }
        );
    }

    for (scenario, stop, start) in [&runs[0], &runs[2]] {
        println!("\nInvocations, {}:\n", scenario.name);
        println!("| Action | # | Status | Took (s) | Acted | Failed (RequestLimitExceeded) | Not done |");
        println!("|---|---:|---|---:|---:|---:|---:|");
        for run in [stop, start] {
            for (n, inv) in run.invocations.iter().enumerate() {
                println!(
                    "| {} | {} | {:?} | {} | {} | {} ({}) | {} |",
                    run.action,
                    n + 1,
                    inv.status,
                    secs(inv.took),
                    inv.acted,
                    inv.failed,
                    inv.failed_throttled,
                    inv.not_done
                );
            }
        }
    }

    println!("\nRequests per API (admitted / refused with RequestLimitExceeded):\n");
    println!("| Scenario | Action | StopInstances | StartInstances | DescribeInstances |");
    println!("|---|---|---:|---:|---:|");
    for (scenario, stop, start) in &runs {
        for run in [stop, start] {
            let cell = |op: &str| {
                run.stats
                    .get(op)
                    .map(|s| format!("{} / {}", s.ok, s.throttled))
                    .unwrap_or_else(|| "0 / 0".into())
            };
            println!(
                "| {} | {} | {} | {} | {} |",
                scenario.name,
                run.action,
                cell("StopInstances"),
                cell("StartInstances"),
                cell("DescribeInstances")
            );
        }
    }
    let stop = limits_of(Action::Stop);
    let start = limits_of(Action::Start);
    println!(
        "\nBuckets: StopInstances {}/{} per s requests, {}/{} per s instances; StartInstances {}/{} per s \
         requests, {}/{} per s instances; DescribeInstances 100/20 per s. Lower bound = max((instances - \
         instance burst) / instance refill, (requests - request burst) / request refill) for batches of {EC2_BATCH}: \
         Stop (10000 - 1000) / 20 = 450 s, Start (10000 - 1000) / 2 = 4500 s. Latencies assumed: \
         DescribeInstances {} ms + {} µs per instance, Stop/StartInstances {} ms + {} µs per instance, \
         throttled {} ms. \"Completed after\" runs from the first invocation's start to the answer of the last \
         admitted Stop/StartInstances call.",
        stop.requests.burst,
        stop.requests.per_sec,
        stop.instances.unwrap().burst,
        stop.instances.unwrap().per_sec,
        start.requests.burst,
        start.requests.per_sec,
        start.instances.unwrap().burst,
        start.instances.unwrap().per_sec,
        Latencies::TYPICAL.describe.base.as_millis(),
        Latencies::TYPICAL.describe.per_instance.as_micros(),
        Latencies::TYPICAL.mutate.base.as_millis(),
        Latencies::TYPICAL.mutate.per_instance.as_micros(),
        Latencies::TYPICAL.refused.base.as_millis(),
    );
}
