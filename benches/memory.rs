//! Memory: peak resident set size (VmHWM) of 10,000-instance runs.
//!
//! 1. This process runs the simulation of `benches/scale.rs` (as built:
//!    stop, then start with its continuations) through the orchestrator and
//!    reads its own /proc/self/status.
//! 2. The release Lambda binary handles a Stop and then a Start of 10,000
//!    instances in 10 tiers in one process (a warm function), against the
//!    bench's canned DynamoDB/EC2 (10 DescribeInstances pages of 1000, 20
//!    Stop/StartInstances batches), through the real SDK clients; its
//!    /proc/<pid>/status is read after the second response.
//!
//! Prints markdown for BENCHMARKS.md. `cargo bench --bench memory` (part 2
//! needs the release binary, see `benches/startup.rs`); under `cargo test`
//! it does a tiny simulated run and prints nothing.

#[path = "lambda/mod.rs"]
mod lambda;
#[path = "sim/mod.rs"]
mod sim;

use std::time::Duration;

use ec2_tier_scheduler::action::Action;
use lambda::{event, release_binary, run_function, Fixture};
use sim::fake::SdkRetry;
use sim::{drive, paused_runtime};

const TARGET_KIB: u64 = 64 * 1024;

/// Peak and current resident set size in KiB, from /proc/self/status.
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

fn met(kib: u64) -> &'static str {
    if kib <= TARGET_KIB {
        "yes"
    } else {
        "no"
    }
}

fn main() {
    let benchmarking = sim::benchmarking();
    let (tiers, per_tier) = if benchmarking { (10, 1000) } else { (2, 50) };
    let (_, before) = rss_kib();
    let (stop, start) = paused_runtime().block_on(async {
        let cloud = sim::cloud(tiers, per_tier, SdkRetry::None);
        let stop = drive(&cloud, Action::Stop, 40).await;
        tokio::time::sleep(Duration::from_secs(600)).await;
        let start = drive(&cloud, Action::Start, 40).await;
        (stop, start)
    });
    let (sim_peak, _) = rss_kib();
    if !benchmarking {
        assert!(sim_peak > 0);
        return;
    }

    let fixture = Fixture { tiers, per_tier };
    let bin = release_binary();
    let function = run_function(&bin, fixture, &[event("Stop"), event("Start")]);
    assert!(
        function.responses[0].contains("10000 instance(s) stopped")
            && function.responses[1].contains("10000 instance(s) started"),
        "unexpected responses: {:.300} / {:.300}",
        function.responses[0],
        function.responses[1]
    );
    let fn_peak = function.peak_rss_kib;

    println!("| Run | Instances | Peak RSS (VmHWM, MiB) | Target | Met |");
    println!("|---|---:|---:|---:|---|");
    println!(
        "| release Lambda binary `{}`: Stop then Start in one process, real SDK clients, canned DynamoDB/EC2 \
         (both handled {:.2} s after process start) | {} | {} | ≤ 64 MiB | {} |",
        bin.file_name().unwrap_or_default().to_string_lossy(),
        function.handled[1].as_secs_f64(),
        tiers * per_tier,
        mib(fn_peak),
        met(fn_peak)
    );
    println!(
        "| simulation binary (dev profile): orchestrator on the throttled EC2 simulation, stop + start, {} \
         invocations (RSS before the run {} MiB) | {} | {} | ≤ 64 MiB | {} |",
        stop.invocations.len() + start.invocations.len(),
        mib(before),
        tiers * per_tier,
        mib(sim_peak),
        met(sim_peak)
    );
    let worst = fn_peak.max(sim_peak);
    println!(
        "SUMMARY|3. Memory: peak RSS of a 10,000-instance run|≤ 64 MB|{} MiB (release Lambda binary, stop + start); \
         {} MiB (simulation binary)|{}",
        mib(fn_peak),
        mib(sim_peak),
        met(worst)
    );
}
