#!/usr/bin/env bash
# `make bench`: the four benchmarks of issue 7, then the tables in
# BENCHMARKS.md rewritten (scripts/bench_report.py).
#
#   1. API calls per run          benches/api_calls.rs  (moto + simulated SSM agent)
#   2. scale, 10,000 instances    benches/scale.rs      (simulated EC2 with token buckets, paused time)
#   3. memory (peak RSS)          benches/memory.rs     (the simulation; the release Lambda binary)
#   4. size and start-up          cargo lambda build --release --arm64 --output-format zip
#                                 benches/startup.rs    (x86_64 release binary, local Runtime API)
#
# The benchmark binaries are built with the dev profile (`--profile dev`, the
# test suite's artifacts): what they measure (API call counts, simulated time,
# allocations) does not depend on optimisation, and the release profile's fat
# LTO would cost minutes per binary. What must be the release build is: the
# start-up and the Lambda-binary memory run use target/release/ec2-tier-scheduler
# and the size is that of the arm64 release zip.
#
# Honours CARGO_TARGET_DIR. Results land in $CARGO_TARGET_DIR/bench/.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
export PATH="$PWD/$VENV/bin:$PATH"
export AWS_EC2_METADATA_DISABLED=true
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
OUT="$TARGET_DIR/bench"
COMMAND=${BENCH_COMMAND:-make bench}
began=$(date +%s)
rm -rf "$OUT"
mkdir -p "$OUT"

step() { echo "== [$(($(date +%s) - began))s] $*" >&2; }

step "building the benchmarks and the x86_64 release binary"
BENCH="cargo bench --profile dev --bench"
cargo bench --profile dev --no-run --bench api_calls --bench scale --bench memory --bench startup
cargo build --release --bin ec2-tier-scheduler
export STARTUP_BIN="$TARGET_DIR/release/ec2-tier-scheduler"

step "1. API calls per run (moto)"
$BENCH api_calls > "$OUT/api_calls.md"

step "2. scale: 10,000 instances against the throttled EC2 simulation"
$BENCH scale > "$OUT/scale.md"

step "3. memory: peak RSS of 10,000-instance runs (simulation; release Lambda binary)"
$BENCH memory > "$OUT/memory.md"

step "4a. start-up of the release binary"
$BENCH startup > "$OUT/startup.md"

step "4b. release zip for arm64"
rustup target add aarch64-unknown-linux-gnu
cargo lambda build --release --arm64 --output-format zip --bin ec2-tier-scheduler
ZIP="$TARGET_DIR/lambda/ec2-tier-scheduler/bootstrap.zip"
test -f "$ZIP" || { echo "bench: $ZIP not found" >&2; exit 1; }

step "rewriting BENCHMARKS.md"
python3 scripts/bench_report.py --results "$OUT" --zip "$ZIP" --began "$began" --command "$COMMAND" BENCHMARKS.md
step "done"
