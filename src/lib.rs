//! # ec2-tier-scheduler
//!
//! Stops and starts the *tiers* of a *workload* (EC2 instances, RDS,
//! Aurora, DocumentDB and Neptune databases, ECS services, EKS node groups,
//! Auto Scaling capacity) in a configured order,
//! as an AWS Lambda function (EventBridge schedules) and as a CLI. It reads
//! the configuration of the open-source AWS_EC2_Scheduler verbatim (the
//! `WorkloadSpecification` and `TierSpecification` DynamoDB items, numbers
//! and booleans stored as strings) and keeps its command-line flags.
//!
//! ## Architecture: the crate map
//!
//! Layers from the bottom up; a module names only modules below it (the
//! test `tests/it/structure.rs` fails on any import cycle between these
//! top-level modules).
//!
//! - **vocabulary, no I/O**: [`action`] (Stop, Start), [`clock`] (the one
//!   clock and time format; everything below the orchestrator takes `now` as
//!   an argument), [`instance`], [`member`] (RDS, Aurora, DocumentDB and
//!   Neptune databases, ECS services, EKS node groups and Auto Scaling
//!   groups as tier members, one [`member::Phase`]
//!   for every kind), [`key`] (keys whose parts are encoded, never
//!   spliced), [`table`], [`telemetry`], [`traffic`] (load balancer
//!   targets, the registrations a drain recorded, alarms kept quiet),
//!   [`volume_keys`] (the KMS keys of encrypted EBS volumes as EC2 and KMS
//!   describe them, and the keys the scheduler may create grants on),
//!   [`window`] (SSM maintenance windows: a window as SSM describes it,
//!   which end of it a run is, when its schedules fire).
//! - **core, pure**: [`config`] parses and validates the items as a whole
//!   (and the Loader's documents); [`override_check`] makes the
//!   override-file path safe and reads the guest's answer; [`override_tag`]
//!   reads expiring override tags and builds them ([`override_tag::edit`]);
//!   [`plan`] turns configuration plus discovered instances into ordered
//!   tier groups with a step and a reason per instance ([`plan::keys`]:
//!   the KMS readiness of a Start, judged from facts the ports read;
//!   [`plan::members`]: each other member's step); [`records`] holds what
//!   a Start restores, as only the scheduler records it (never a tag),
//!   bounded, and reports the tags it does not trust; [`summary`] and
//!   [`notify`] describe what happened; [`run_events`] turns a run into
//!   EventBridge events (run started, each tier completed, run completed,
//!   each with a stable id, bounded to PutEvents' limits) and its AWS
//!   Chatbot message; [`cron`] tells when EventBridge schedules fire;
//!   [`savings`] adds up the stopped time a run ledger keeps for good
//!   (per member and UTC day), turns what the scheduler read of each
//!   member into Price List products (`savings/facts.rs`) and prices it at
//!   on-demand list rates given as data, with what still bills beside it.
//! - **ports**: [`error`] and [`ports`], the small traits the orchestrator
//!   drives (EC2 split by concern: [`ports::Compute`] for instances and
//!   their states, [`ports::InstanceTypes`], [`ports::InstanceTags`] and
//!   [`ports::StatusChecks`]; SSM, SNS, DynamoDB, Auto Scaling, change calendars, the
//!   KMS keys of encrypted volumes, [`ports::MemberService`] for RDS,
//!   ECS, EKS and Auto Scaling capacity, [`ports::LoadBalancers`] for ELBv2
//!   target groups, [`ports::Alarms`] for CloudWatch alarms, and
//!   [`ports::Records`] for the records only the scheduler writes,
//!   [`ports::EventBus`] for EventBridge; [`ports::Downtime`],
//!   [`ports::PriceFacts`], [`ports::PriceList`] and [`ports::PriceCache`]
//!   for what the schedule saves).
//! - **runs**: [`run`] (what a run is asked, what became of it); [`ledger`]
//!   (run records keyed on an idempotency key, workload locks, checkpoints,
//!   the per-invocation trace, keys whose parts are encoded, never spliced);
//!   [`event`] validates the invocation payload and names its run;
//!   [`rds_event`] reads RDS's event that it started a stopped database by
//!   itself (a re-stop run stops it again);
//!   [`orchestrator`] executes a plan through the ports, one tier frame
//!   for every kind of member (`tier.rs`: a lane per kind in
//!   `TierResourceTypes` order, each sorted, settled, acted on, confirmed
//!   by one rule through one polling loop, then the readiness gate), with a
//!   driver per kind (`tier/ec2.rs`, EC2's particulars as hooks: batches,
//!   hibernation, the capacity fallback, override checks, drains;
//!   `tier/service.rs`, every kind a [`ports::MemberService`] runs), all
//!   inside the deadline budget that bounds every wait; one module per
//!   concern beside it: the `TargetsHealthy` reads and the target-group
//!   survey (`targets.rs`), alarm muting (`alarms.rs`), instance types and
//!   CPU credits (`instance_types.rs`), Auto Scaling processes
//!   (`auto_scaling.rs`), the KMS readiness survey of a Start plan
//!   (`key_survey.rs`), the events sent as the run goes (`bus_events.rs`),
//!   a maintenance window's run (`window_run.rs`), a database's re-stop
//!   (`restop.rs`), a Start's saving from cached prices (`saved.rs`).
//! - **views**: [`history`], [`timeline`], [`status`] and [`metrics`] show
//!   operators what the scheduler did and will do.
//! - **[`run_service`]**: the ledger protocol shared by both entry points
//!   (claim, duplicate, busy, refuse, continue, finish, and the run's end
//!   told once: `Run Completed` and the chat message), and what follows a
//!   run: the maintenance window schedules every run arranges
//!   (`windows.rs`, `window_stop.rs`), the databases' re-checks
//!   (`recheck.rs`), the stopped time kept and what prices it
//!   (`downtime.rs`, `stop_facts.rs`, `since_stop.rs`).
//! - **[`aws`]**: the ports on the AWS SDK clients.
//! - **entry points, thin**: [`handler`] (the Lambda handler, free of the
//!   runtime; `src/main.rs` wraps it) and the `orchestrator` CLI
//!   (`src/bin/orchestrator/`: `main.rs` the top-level parser, one file per
//!   command group, `shared.rs` the flags and steps the commands share).
//!
//! Tests drive the core and orchestrator with in-memory fakes (fault
//! injection, paused tokio time) and the adapters against the moto emulator.

pub mod action;
pub mod aws;
pub mod clock;
pub mod config;
pub mod cron;
pub mod error;
pub mod event;
pub mod handler;
pub mod history;
pub mod instance;
pub mod key;
pub mod ledger;
pub mod member;
pub mod metrics;
pub mod notify;
pub mod orchestrator;
pub mod override_check;
pub mod override_tag;
pub mod plan;
pub mod ports;
pub mod rds_event;
pub mod records;
pub mod run;
pub mod run_events;
pub mod run_service;
pub mod savings;
pub mod status;
pub mod summary;
pub mod table;
pub mod telemetry;
pub mod timeline;
pub mod traffic;
pub mod volume_keys;
pub mod window;
