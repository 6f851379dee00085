//! Executes a plan through the ports: tier groups in order, each tier
//! through the one tier frame (`tier.rs`: a lane and a driver
//! per kind of member), the workload's alarms, all inside the deadline
//! budget.
//!
//! Nothing here talks to AWS directly; the same code runs against the SDK
//! adapters, the moto emulator and the in-memory fakes.
//!
//! [`prepare()`] reads the configuration and builds the plan, [`execute_plan`]
//! carries it out ([`run()`] does both); `Execution` is one run's state,
//! shared by the tier tasks.

mod alarms;
mod auto_scaling;
mod budget;
mod bus_events;
mod capacity;
mod execute;
mod gate;
mod instance_types;
mod key_survey;
mod notices;
mod overrides;
mod prepare;
mod records;
mod restop;
mod saved;
mod sequence;
mod settings;
mod skip;
mod targets;
mod tier;
mod window_run;
mod workload_state;

use std::sync::Arc;

use tokio::time::Instant;

pub use crate::ports::{EC2_BATCH, SSM_BATCH, STATUS_BATCH};
pub use crate::run::{RunReport, RunRequest};
pub use auto_scaling::PROCESSES as AUTO_SCALING_PROCESSES;
pub use budget::Budget;
pub use bus_events::{put_events, sends_within, BusTarget, EVENT_TIMEOUT, LAST_SEND};
pub use execute::{execute_plan, run, run_resumed};
pub use prepare::{discover_members, load_config, prepare, workload_instances, Prepared};
pub use records::{record_survey, workload_records};
pub use restop::{await_started, restarted_member};
pub use settings::Settings;
pub use window_run::{windows_ahead, workload_windows};

use crate::action::Action;
use crate::config::WorkloadConfig;
use crate::ports::{Compute, InstanceTypes, Notifier, OutputLocation, RemoteCheck, StatusChecks};
use crate::summary::TierOutcome;
use prepare::cloud_error_of; // `super::cloud_error_of` in records.rs

/// One run's execution state, shared by the tier tasks.
pub(crate) struct Execution<'a> {
    pub(crate) compute: Arc<dyn Compute>,
    pub(crate) instance_types: Arc<dyn InstanceTypes>,
    pub(crate) status_checks: Arc<dyn StatusChecks>,
    pub(crate) members: crate::ports::MemberPorts,
    pub(crate) load_balancers: Arc<dyn crate::ports::LoadBalancers>,
    pub(crate) alarms: Arc<dyn crate::ports::Alarms>,
    /// The VPC of each instance of the plan (its target groups' VPC).
    pub(crate) vpcs: std::collections::HashMap<String, String>,
    pub(crate) auto_scaling: Arc<dyn crate::ports::AutoScaling>,
    pub(crate) remote: Arc<dyn RemoteCheck>,
    pub(crate) notifier: Arc<dyn Notifier>,
    /// The run's events on the workload's bus (`EventBusName`).
    pub(crate) events: bus_events::BusEvents,
    /// The records only the scheduler writes, read and written.
    pub(crate) recorder: records::Recorder,
    pub(crate) config: &'a WorkloadConfig,
    pub(crate) action: Action,
    pub(crate) budget: &'a Budget,
    pub(crate) settings: &'a Settings,
    pub(crate) started: Instant,
    /// A maintenance window's Start: the alarms stay muted (a patch
    /// reboot must not page anyone).
    pub(crate) keep_alarms_muted: bool,
}

/// How a tier ended, as far as the rest of the run is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TierEnd {
    Done,
    Deadline(String),
    Abort(String),
}

impl<'a> Execution<'a> {
    /// How the run's parts wait: its budget and the settings' pauses.
    pub(crate) fn pacing(&self) -> budget::Pacing<'a> {
        budget::Pacing {
            budget: self.budget,
            settings: self.settings,
        }
    }

    /// Where SSM writes its output (the workload's `SsmS3Bucket`).
    fn output_location(&self) -> Option<OutputLocation> {
        let w = &self.config.workload;
        w.ssm_bucket.as_ref().map(|bucket| OutputLocation {
            bucket: bucket.clone(),
            prefix: w.ssm_key_prefix.clone().unwrap_or_default(),
        })
    }

    /// The load balancer targets of the plan's instances.
    pub(crate) fn targets(&self) -> targets::Targets<'_> {
        targets::Targets {
            load_balancers: self.load_balancers.as_ref(),
            vpcs: &self.vpcs,
        }
    }

    /// A readiness gate of `check`, holding the one port it reads.
    pub(crate) fn gate_for(&self, check: crate::config::ReadinessCheck) -> gate::Gate<'_> {
        use crate::config::ReadinessCheck as Check;
        let reader = match check {
            Check::State => gate::Reader::State(self.compute.as_ref()),
            Check::StatusChecks => gate::Reader::StatusChecks(self.status_checks.as_ref()),
            Check::SsmOnline => gate::Reader::SsmOnline(self.remote.as_ref()),
            Check::TargetsHealthy => gate::Reader::TargetsHealthy(self.targets()),
        };
        gate::Gate {
            pacing: self.pacing(),
            action: self.action,
            reader,
        }
    }

    /// The override-file checks, through SSM.
    pub(crate) fn override_files(&self) -> overrides::OverrideFiles<'_> {
        overrides::OverrideFiles {
            pacing: self.pacing(),
            remote: self.remote.as_ref(),
            output: self.output_location(),
        }
    }

    /// The workload's alarms muted and unmuted.
    pub(crate) fn alarm_muting(&self) -> alarms::AlarmMuting<'_> {
        alarms::AlarmMuting {
            alarms: self.alarms.as_ref(),
            recorder: &self.recorder,
        }
    }

    pub(crate) fn elapsed_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
}

/// A tier's outcome plus errors from notifications sent during the tier.
pub(crate) struct TierResult {
    pub(crate) outcome: TierOutcome,
    pub(crate) notification_errors: Vec<String>,
    /// When the tier last acted, this invocation or an earlier one (ms
    /// since the epoch).
    pub(crate) acted_at_ms: Option<u64>,
}

impl std::ops::Deref for TierResult {
    type Target = TierOutcome;
    fn deref(&self) -> &TierOutcome {
        &self.outcome
    }
}
