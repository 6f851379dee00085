#!/usr/bin/env bash
# `make bench`: the four benchmarks of issue 7, then the tables in
# BENCHMARKS.md rewritten (scripts/bench_report.py).
#
#   1. API calls per run          benches/api_calls.rs  (moto + simulated SSM agent)
#   2. scale, 10,000 instances    benches/scale.rs      (simulated EC2 with token buckets, paused time)
#   2b. morning storm             benches/storm.rs      (20 workloads at one instant, shared buckets)
#   3. memory (peak RSS)          benches/memory.rs     (the simulation; the release Lambda binary)
#   4. size and start-up          cargo lambda build --release --arm64 --output-format zip
#                                 benches/startup.rs    (x86_64 release binary, local Runtime API)
#
# Builds dominate the runtime, so they overlap: the arm64 zip builds in the
# background (its own process group, killed if this script fails) while the
# benchmark binaries and the x86_64 release binary build in the foreground.
# Each of the two release builds is mostly one serial rustc at a time (the
# aws-sdk-ec2 crate, then the LTO link), so two of them share 2 cores well.
# The x86_64 build has its own target directory because Cargo locks the host
# artifact directory (target/release) for the whole of a build, cross or not;
# the arm64 build keeps the default one, shared with `make package`.
#
# The benchmark binaries use the dev profile (the test suite's artifacts): what
# they measure (API call counts, simulated time, allocations) does not depend
# on optimisation. Benchmarks 1-3 run while the arm64 build may still be going
# (none of them measures wall-clock time); the start-up benchmark waits for it,
# so it runs on an idle machine.
#
# Honours CARGO_TARGET_DIR. Results, build logs and phase timings land in
# $CARGO_TARGET_DIR/bench/.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
export PATH="$PWD/$VENV/bin:$PATH"
export AWS_EC2_METADATA_DISABLED=true
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
X86_DIR="$TARGET_DIR/bench-x86_64"
OUT="$TARGET_DIR/bench"
COMMAND=${BENCH_COMMAND:-make bench}
began=$(date +%s)
rm -rf "$OUT"
mkdir -p "$OUT"

step() { echo "== [$(($(date +%s) - began))s] $*" >&2; }
# timed NAME CMD...: runs CMD, appends "NAME <seconds>" to $OUT/timings.
timed() {
    local name=$1 t0
    shift
    t0=$(date +%s)
    "$@"
    echo "$name $(($(date +%s) - t0))" >>"$OUT/timings"
}

step "4b. arm64 release zip: building in the background (log: $OUT/build-arm64.log)"
rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1 || rustup target add aarch64-unknown-linux-gnu
export -f timed
export OUT
setsid -w bash -c 'timed build-arm64 cargo lambda build --release --arm64 --output-format zip \
    --bin ec2-tier-scheduler >"$OUT/build-arm64.log" 2>&1' &
arm_pid=$!
trap 'kill -- -$arm_pid 2>/dev/null || true' EXIT

step "building the benchmarks (dev profile)"
timed build-benches cargo bench --profile dev --no-run --bench api_calls --bench scale --bench storm --bench memory --bench startup \
    2> >(tee "$OUT/build-benches.log" >&2)
step "building the x86_64 release binary (log: $OUT/build-x86_64.log)"
timed build-x86_64 cargo build --release --bin ec2-tier-scheduler --target-dir "$X86_DIR" >"$OUT/build-x86_64.log" 2>&1 ||
    { tail -n 30 "$OUT/build-x86_64.log" >&2; exit 1; }
export STARTUP_BIN="$X86_DIR/release/ec2-tier-scheduler"

BENCH="cargo bench -q --profile dev --bench"
step "1. API calls per run (moto)"
timed api_calls $BENCH api_calls >"$OUT/api_calls.md"

step "2. scale: 10,000 instances against the throttled EC2 simulation"
timed scale $BENCH scale >"$OUT/scale.md"

step "2b. morning storm: 20 workloads x 500 instances at one instant, shared token buckets"
timed storm $BENCH storm >"$OUT/storm.md"

step "3. memory: peak RSS of 10,000-instance runs (simulation; release Lambda binary)"
timed memory $BENCH memory >"$OUT/memory.md"

step "waiting for the arm64 build"
if ! wait "$arm_pid"; then
    tail -n 30 "$OUT/build-arm64.log" >&2
    echo "bench: the arm64 build failed (log above)" >&2
    exit 1
fi
trap - EXIT
ZIP="$TARGET_DIR/lambda/ec2-tier-scheduler/bootstrap.zip"
test -f "$ZIP" || { echo "bench: $ZIP not found" >&2; exit 1; }

step "4a. start-up of the release binary (machine idle)"
timed startup $BENCH startup >"$OUT/startup.md"

step "rewriting BENCHMARKS.md"
python3 scripts/bench_report.py --results "$OUT" --zip "$ZIP" --began "$began" --command "$COMMAND" BENCHMARKS.md
step "done"
