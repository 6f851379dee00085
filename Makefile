# ec2-tier-scheduler: `make demo` runs the function locally against the moto
# emulator; `make test` runs the whole suite. Everything the project needs is
# installed into .venv from requirements-dev.txt (pinned).

SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# The SDK must never wait on the instance metadata service here.
export AWS_EC2_METADATA_DISABLED := true
export CARGO_TERM_COLOR ?= never

.PHONY: all venv fmt fmt-check lint test test-rust build-tests lint-infra structure demo build package bench soak clean

all: test

venv: $(VENV)/.installed

# uv installs the pinned requirements: pip's resolver and byte-compiler took
# about 105 s of CPU, which `make test` took from the build it overlaps; uv
# takes about 30 s, bytecode included (the moto tests start a Python process
# each, so bytecode must be there: PYTHONDONTWRITEBYTECODE may be set).
UV_VERSION := 0.13.9
$(VENV)/.installed: requirements-dev.txt
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	UV_NATIVE_TLS=true $(VENV)/bin/uv pip install --quiet --compile-bytecode \
		--python $(VENV)/bin/python -r requirements-dev.txt
	touch $@

fmt:
	cargo fmt

fmt-check:
	cargo fmt --check

lint:
	cargo clippy --all-targets -- -D warnings

lint-infra: venv
	VENV=$(VENV) bash infra/lint.sh

# One build for clippy and the tests: clippy-driver is the workspace's
# compiler wrapper (exactly what `cargo clippy` sets up), so the crate's
# targets are linted with -D warnings while they are compiled for the tests,
# and the dependencies (the AWS SDK) are compiled once instead of once for
# clippy's check and again for the tests (BENCHMARKS.md, "Cold make test").
# `--tests --benches` is `--all-targets` without a test harness of each binary
# (they have none: `test = false` in Cargo.toml); the binaries themselves are
# built, and linted, for the integration tests.
CLIPPY_WRAPPER := RUSTC_WORKSPACE_WRAPPER=clippy-driver CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__
TEST_TARGETS := --tests --benches
build-tests:
	$(CLIPPY_WRAPPER) cargo test $(TEST_TARGETS) --no-run

# Four tests at a time on the 2 cores: the integration tests wait on their
# emulator's Python process and on the SDK's retry pauses more than they use
# the CPU (105 s with two, 72 s with four; BENCHMARKS.md, "Cold make test").
TEST_THREADS ?= 4
test-rust: venv build-tests
	RUST_TEST_THREADS=$(TEST_THREADS) $(CLIPPY_WRAPPER) cargo test $(TEST_TARGETS)

# The house rules with their figures: no import cycle between src/'s
# top-level modules, no function over 80 lines, no CLI file over 250 lines
# (tests/it/structure.rs; `make test` runs it with the rest).
structure:
	$(CLIPPY_WRAPPER) cargo test --test it structure:: -- --nocapture

# Formatting, clippy (during the test build), the unit and integration tests
# (each moto test starts its own emulator; the structure rules), and the
# infrastructure templates. The virtualenv is installed while the tests
# build, and the templates are linted while the tests run (the tests wait on
# their emulators); -O keeps each one's output together.
test: fmt-check
	$(MAKE) -j2 venv build-tests
	$(MAKE) -j2 -O test-rust lint-infra

build:
	cargo build --bins

demo: venv
	VENV=$(VENV) bash scripts/demo.sh

# Release zip for arm64 Lambda (needs zig from the venv and the rustup target).
package: venv
	rustup target add aarch64-unknown-linux-gnu
	cargo lambda build --release --arm64 --output-format zip --bin ec2-tier-scheduler

# Benchmarks (issue 7): API calls per run against moto, 10,000 instances
# against the throttled EC2 simulation, peak RSS, start-up of the release
# binary and the arm64 release zip; rewrites the tables in BENCHMARKS.md.
# Release builds happen here (and in `package`), never in `test`.
bench: venv
	VENV=$(VENV) bash scripts/bench.sh

# The at-least-once model test (tests/it/model.rs, proptest) with many more
# random schedules than `make test` runs (300); a failure prints the shrunk,
# minimal failing schedule. The seed is fixed; PROPTEST_RNG_SEED=<u64> draws
# other schedules.
SOAK_CASES ?= 20000
soak: venv
	PROPTEST_CASES=$(SOAK_CASES) cargo test --test it model:: -- --nocapture

clean:
	cargo clean
	rm -rf $(VENV) .moto
