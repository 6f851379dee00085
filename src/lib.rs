//! # ec2-tier-scheduler
//!
//! Stops and starts the *tiers* of an EC2 *workload* in a configured order,
//! as an AWS Lambda function (EventBridge schedules) and as a CLI. It reads
//! the configuration of the open-source AWS_EC2_Scheduler verbatim (the
//! `WorkloadSpecification` and `TierSpecification` DynamoDB items, numbers
//! and booleans stored as strings) and keeps its command-line flags.
//!
//! ## Architecture
//!
//! A pure core with thin edges:
//!
//! - **core, no I/O**: [`config`] parses and validates the items as a whole;
//!   [`plan`] turns configuration plus discovered instances into ordered tier
//!   groups with a step and a reason per instance; [`override_check`] makes
//!   the override-file path safe and reads the guest's answer; [`event`]
//!   validates the invocation payload; [`summary`] and [`notify`] describe
//!   what happened; [`history`], [`timeline`], [`status`] and [`metrics`]
//!   show operators what the scheduler did ([`cron`] and [`timezone`] tell
//!   when schedules fire).
//! - **[`orchestrator`]**: executes a plan through the [`ports`] traits:
//!   batching, override checks, waits, readiness gates, and the deadline
//!   budget that bounds every wait.
//! - **[`ledger`]**: run records keyed on an idempotency key, per-workload
//!   locks and checkpoints, so duplicate deliveries do nothing and a run that
//!   outlasts its invocation continues in a fresh one.
//! - **[`aws`]**: the ports implemented with the AWS SDK clients.
//! - **entry points**: [`handler`] (wrapped by the Lambda binary) and the
//!   `orchestrator` CLI binary. Both are thin.
//!
//! Tests drive the core and orchestrator with in-memory fakes (fault
//! injection, paused tokio time) and the adapters against the moto emulator.

pub mod aws;
pub mod config;
pub mod cron;
pub mod error;
pub mod event;
pub mod handler;
pub mod history;
pub mod instance;
pub mod ledger;
pub mod metrics;
pub mod notify;
pub mod orchestrator;
pub mod override_check;
pub mod override_tag;
pub mod plan;
pub mod ports;
pub mod status;
pub mod summary;
pub mod table;
pub mod telemetry;
pub mod timeline;
pub mod timezone;
