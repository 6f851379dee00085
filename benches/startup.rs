//! Start-up: time from process start to the first event handled, for the
//! release build of the Lambda binary (`ec2-tier-scheduler`), run locally
//! against the bench's own Runtime API and canned DynamoDB/EC2 (see
//! `benches/lambda/mod.rs`). The clock runs from just before `spawn` to the
//! arrival of the `/response` POST. Prints markdown for BENCHMARKS.md.
//!
//! `STARTUP_BIN=target/release/ec2-tier-scheduler cargo bench --bench startup`
//! (skipped under `cargo test`).

#[path = "lambda/mod.rs"]
mod lambda;

use std::time::Duration;

use lambda::{event, release_binary, run_function, Fixture, Outcome};

const RUNS: usize = 20;
const TARGET_MS: f64 = 30.0;
const FIXTURE: Fixture = Fixture { tiers: 3, per_tier: 2 };

fn one_run(bin: &std::path::PathBuf) -> Outcome {
    let outcome = run_function(bin, FIXTURE, &[event("Stop")]);
    let body = &outcome.responses[0];
    assert!(
        body.contains("\"completed\"") && body.contains("6 instance(s) stopped"),
        "unexpected response: {body}"
    );
    outcome
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Median, min, p90 and max of `values`.
fn stats(mut values: Vec<f64>) -> (f64, f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.0), at(0.9), at(1.0))
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // needs the release binary; `make bench`
    }
    let bin = release_binary();
    let first = one_run(&bin);
    let runs: Vec<Outcome> = (0..RUNS).map(|_| one_run(&bin)).collect();
    let (i_med, i_min, i_p90, i_max) = stats(runs.iter().map(|r| ms(r.init)).collect());
    let (h_med, h_min, h_p90, h_max) = stats(runs.iter().map(|r| ms(r.handled[0])).collect());
    let rss = runs.iter().map(|r| r.peak_rss_kib).max().unwrap_or(0) as f64 / 1024.0;
    let size = std::fs::metadata(&bin).map(|m| m.len()).unwrap_or(0) as f64 / (1024.0 * 1024.0);
    println!(
        "`{}` (x86_64 release build, {size:.1} MiB), {RUNS} runs after one warm-up run. The event is a Stop of a \
         3-tier, 6-instance workload: GetItem, Query, DescribeInstances and three StopInstances answered at once \
         by the bench's local server.\n",
        bin.file_name().unwrap_or_default().to_string_lossy()
    );
    println!("| Interval | Median (ms) | Min (ms) | p90 (ms) | Max (ms) | Warm-up run (ms) | Target | Met |");
    println!("|---|---:|---:|---:|---:|---:|---:|---|");
    println!(
        "| process start → first `GET /runtime/invocation/next` (init) | {i_med:.1} | {i_min:.1} | {i_p90:.1} | {i_max:.1} | {:.1} | | |",
        ms(first.init)
    );
    println!(
        "| process start → `POST /runtime/invocation/<id>/response` (first event handled) | {h_med:.1} | {h_min:.1} | {h_p90:.1} | {h_max:.1} | {:.1} | ≤ {TARGET_MS:.0} ms | {} |",
        ms(first.handled[0]),
        if h_med <= TARGET_MS { "yes" } else { "no" }
    );
    println!("\nPeak RSS of the function process after this event: {rss:.1} MiB (VmHWM).");
    println!(
        "SUMMARY|4. Start-up: process start to first event handled (x86_64 release, local Runtime API)|≤ 30 ms\
         |median {h_med:.1} ms (p90 {h_p90:.1} ms; init {i_med:.1} ms)|{}",
        if h_med <= TARGET_MS { "yes" } else { "no" }
    );
}
