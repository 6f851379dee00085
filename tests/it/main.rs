//! The one integration-test binary: the orchestrator against in-memory fakes
//! (paused tokio time, fault injection) and the AWS adapters against moto.

#[path = "../support/mod.rs"]
mod support;

mod adapters;
mod capacity;
mod confirmation;
mod databases;
mod engine;
mod events;
mod infra;
mod kinds;
mod kms;
mod late_continuations;
mod model;
mod moto_core;
mod moto_events;
mod moto_kinds;
mod moto_ledger;
mod moto_migration;
mod moto_override;
mod moto_price_facts;
mod moto_rds;
mod moto_records;
mod moto_restarts;
mod moto_safety;
mod moto_savings;
mod moto_scaling;
mod moto_starts;
mod moto_traffic;
mod moto_windows;
mod moto_workloads;
mod observability;
mod orchestrator;
mod overrides;
mod policy_size;
mod rds;
mod readiness;
mod records;
mod reliability;
mod restarts;
mod run_events;
mod safety;
mod savings;
mod scaling;
mod starts;
mod steering;
mod structure;
mod suspended;
mod traffic;
mod windows;
