//! An in-memory cloud implementing every port, with state, instance
//! transitions on tokio time, and scripted faults. Tests assert on the final
//! state and on the recorded calls, not on expectation scripts.
//!
//! Opt-in [`Behaviour`]s make it a simulation of EC2 at scale (the scale and
//! memory benchmarks include this file): the documented token buckets
//! ([`FakeCloud::with_ec2_limits`]), latencies ([`FakeCloud::with_latencies`]),
//! the SDK's retries ([`FakeCloud::with_sdk_retry`]) and per-API counters
//! ([`FakeCloud::stats`]). Off by default, so a call answers at once.

#![allow(dead_code)]

// Explicit paths: benches include this file with `#[path]`, which would
// otherwise look for its submodules next to it rather than in `fake/`.
#[path = "fake/behaviour.rs"]
mod behaviour;
#[path = "fake/downtime.rs"]
pub mod downtime;
#[path = "fake/members.rs"]
mod members;
#[path = "fake/records.rs"]
mod records;
#[path = "fake/traffic.rs"]
mod traffic;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use ec2_tier_scheduler::config::CrossAccount;
use ec2_tier_scheduler::config::WorkloadItems;
use ec2_tier_scheduler::error::CloudError;
use ec2_tier_scheduler::instance::{Discovery, Instance, InstanceState, InstanceStatus, StateReason};
use ec2_tier_scheduler::override_check::OverrideCheck;
use ec2_tier_scheduler::ports::{
    AutoScaling, BusEvent, CalendarState, ChangeCalendar, CheckPoll, Cloud, Compute, ConfigStore, EventBus,
    GroupProcesses, InstanceTags, InstanceTypes, Keys, Notifier, OutputLocation, RemoteCheck, StateLookup,
    StatusChecks, TypeFacts, WorkloadPorts, WorkloadState,
};
use ec2_tier_scheduler::volume_keys::{GrantedKeys, GrantedKeysError, KeyFacts, KeyLookup, VolumeKey};
use serde_json::Value;
use tokio::time::Instant;

use behaviour::Jitter;
// The whole menu; each test binary and bench uses part of it.
#[allow(unused_imports)]
pub use behaviour::{
    ApiLimits, Behaviour, BucketSpec, Latencies, Latency, OpStats, SdkRetry, TokenBuckets, DESCRIBE_LIMITS, EC2_LIMITS,
    START_LIMITS, STOP_LIMITS,
};
#[allow(unused_imports)]
pub use members::{DatabaseTimes, FakeCapacity, FakeDatabase};
#[allow(unused_imports)]
pub use traffic::{group_arn, FakeAlarm, FakeTargetGroup};

/// Instances per DescribeInstances page (the adapter's MaxResults).
pub const DESCRIBE_PAGE: usize = 1000;
/// Instance ids per DescribeInstances by id (EC2's limit on filter values).
pub const FILTER_VALUES: usize = 200;

/// Calls that change something in the cloud.
pub const MUTATING: &[&str] = &[
    "StopInstances",
    "StopInstances(hibernate)",
    "StartInstances",
    "ModifyInstanceAttribute",
    "ModifyInstanceCreditSpecification",
    "SuspendProcesses",
    "ResumeProcesses",
    "StopDBInstance",
    "StartDBInstance",
    "StopDBCluster",
    "StartDBCluster",
    "SendCommand",
    "Publish",
    "TransactWriteItems",
];

/// One recorded call.
#[derive(Debug, Clone)]
pub struct Call {
    pub op: &'static str,
    pub ids: Vec<String>,
    pub at: Instant,
}

#[derive(Debug, Clone)]
pub struct FakeInstance {
    pub id: String,
    pub state: InstanceState,
    pub instance_type: String,
    pub tags: BTreeMap<String, String>,
    pub vpc: String,
    /// A transition in progress: the state reached at the instant.
    pub settles: Option<(Instant, InstanceState)>,
    pub ebs_optimized: bool,
    /// CPU credits `unlimited`.
    pub unlimited: bool,
    /// `HibernationOptions.Configured`.
    pub hibernation: bool,
    /// Stopped with hibernation last time.
    pub hibernated: bool,
    /// A Spot instance; `true` in `one_time_spot`: StopInstances refuses it.
    pub spot: bool,
}

/// What the simulated SSM agent on an instance answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Agent {
    /// Prints the token for a missing file after `polls` polls.
    Absent { polls: usize },
    /// Prints the token for a present file after `polls` polls.
    Present { polls: usize },
    /// Never produces output.
    Silent,
    /// Ends with a terminal SSM status.
    Fails(&'static str),
    /// Prints something unexpected.
    Garbage,
}

/// A scripted fault: `op` fails with `code` when the request contains `id`
/// (or always when `id` is None), `times` times (usize::MAX for ever).
#[derive(Debug, Clone)]
pub struct Fault {
    pub op: &'static str,
    pub id: Option<String>,
    pub code: &'static str,
    pub times: usize,
}

#[derive(Default)]
pub struct State {
    /// The records only the scheduler writes (the run ledger's), by key.
    pub records: BTreeMap<String, ec2_tier_scheduler::records::Record>,
    /// No run ledger table configured (a CLI run without --ledger-table).
    pub no_records: bool,
    /// The stopped time kept for good (issue 34): `Some` once a test asks
    /// for it ([`FakeCloud::keeping_downtime`]), else no store.
    pub downtime: Option<downtime::Kept>,
    pub items: HashMap<String, WorkloadItems>,
    pub instances: BTreeMap<String, FakeInstance>,
    pub calls: Vec<Call>,
    pub faults: Vec<Fault>,
    pub agents: HashMap<String, Agent>,
    pub agent_polls: HashMap<String, usize>,
    pub commands: HashMap<String, Vec<String>>,
    pub status_ok_after: HashMap<String, usize>,
    pub status_polls: HashMap<String, usize>,
    pub ssm_online: HashSet<String>,
    pub published: Vec<(String, String, String)>,
    /// Events put (PutEvents), with their bus, in order.
    pub events: Vec<(String, BusEvent)>,
    /// EventBridge refuses an entry whose detail contains one of these.
    pub refused_events: Vec<String>,
    pub bucket_region: String,
    /// SSM maintenance windows by id (GetMaintenanceWindow).
    pub maintenance_windows: HashMap<String, ec2_tier_scheduler::window::MaintenanceWindow>,
    /// Their executions (DescribeMaintenanceWindowExecutions), by window id.
    pub window_executions: HashMap<String, Vec<ec2_tier_scheduler::window::WindowExecution>>,
    /// Instances whose transitions never finish.
    pub stuck: HashSet<String>,
    /// Instance types the region refuses.
    pub rejected_types: HashSet<String>,
    /// WorkloadState rows; `None` when the table does not exist.
    pub workload_state: Option<HashMap<String, WorkloadState>>,
    /// Roles that can be assumed: role ARN -> ExternalId.
    pub roles: HashMap<String, String>,
    /// Workload ports handed out: (region, role ARN or "own").
    pub ports_given: Vec<(String, String)>,
    /// Change Calendar states by name: `Some(open)`; a name not listed
    /// fails the read.
    pub calendars: HashMap<String, bool>,
    /// One-time Spot instances: StopInstances refuses them.
    pub one_time_spot: std::collections::HashSet<String>,
    /// Instances whose hibernation EC2 refuses.
    pub hibernation_refused: std::collections::HashSet<String>,
    /// Auto Scaling groups: name -> (suspended processes, the processes
    /// their `ec2-tier-scheduler:suspended` tag claims: read, never written).
    pub groups: BTreeMap<String, (std::collections::BTreeSet<String>, Vec<String>)>,
    /// Instances whose starts EC2 accepts but which fall back to
    /// `stopped` with this `StateReason` (a KMS key EC2 cannot use).
    pub start_falls_back: HashMap<String, StateReason>,
    /// The `StateReason` EC2 reports per instance, once there is one.
    pub reasons: HashMap<String, StateReason>,
    /// Instance types without capacity: StartInstances of an instance of
    /// one of them fails with `InsufficientInstanceCapacity`.
    pub no_capacity: HashSet<String>,
    /// Encrypted EBS volumes per instance: (volume id, KMS key id).
    pub volumes: HashMap<String, Vec<(String, String)>>,
    /// What KMS says of each key (DescribeKey); a key not here is NotFound.
    pub keys: HashMap<String, KeyLookup>,
    /// The stack's EbsKmsKeyArns, as the function's environment has it.
    pub granted_keys: Option<String>,
    /// RDS DB instances and Aurora DB clusters by kind and id.
    pub databases: BTreeMap<(ec2_tier_scheduler::member::MemberKind, String), members::FakeDatabase>,
    /// Auto Scaling groups and ECS services by kind and id.
    pub capacities: BTreeMap<(ec2_tier_scheduler::member::MemberKind, String), members::FakeCapacity>,
    /// How long member stops and starts take (databases; a group's or a
    /// service's instances or tasks coming and going).
    pub database_times: members::DatabaseTimes,
    /// Load balancer target groups by ARN.
    pub target_groups: BTreeMap<String, traffic::FakeTargetGroup>,
    /// CloudWatch alarms by name.
    pub alarms: BTreeMap<String, traffic::FakeAlarm>,
    /// Opt-in behaviours (buckets, latencies, SDK retry) and counters.
    pub behaviour: Behaviour,
}

/// The fake cloud; clone it freely, all clones share state.
#[derive(Clone)]
pub struct FakeCloud {
    pub state: Arc<Mutex<State>>,
    /// How long stop transitions take, and start transitions unless
    /// `start_transition` says otherwise.
    pub transition: Duration,
    /// How long start transitions take, when unlike stops.
    pub start_transition: Option<Duration>,
}

impl Default for FakeCloud {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeCloud {
    pub fn new() -> Self {
        let state = State {
            bucket_region: "us-west-2".into(),
            maintenance_windows: HashMap::new(),
            window_executions: HashMap::new(),
            workload_state: Some(HashMap::new()),
            ..State::default()
        };
        Self {
            state: Arc::new(Mutex::new(state)),
            transition: Duration::from_secs(30),
            start_transition: None,
        }
    }

    /// Enforces token buckets, e.g. [`EC2_LIMITS`], full from now on.
    pub fn with_ec2_limits(self, limits: &[(&'static str, ApiLimits)]) -> Self {
        let now = Instant::now();
        self.lock()
            .behaviour
            .buckets
            .extend(limits.iter().map(|&(op, l)| (op, TokenBuckets::full(l, now))));
        self
    }

    /// Makes every request take its time, e.g. [`Latencies::TYPICAL`].
    pub fn with_latencies(self, latencies: Latencies) -> Self {
        self.lock().behaviour.latencies = Some(latencies);
        self
    }

    /// Retries throttled requests before the caller sees them.
    pub fn with_sdk_retry(self, retry: SdkRetry) -> Self {
        self.lock().behaviour.retry = retry;
        self
    }

    /// Stops take `stop` to reach `stopped`, starts `start` to reach `running`.
    pub fn with_transitions(mut self, stop: Duration, start: Duration) -> Self {
        self.transition = stop;
        self.start_transition = Some(start);
        self
    }

    /// Keeps no call log ([`Self::calls`] stays empty; faults still apply):
    /// at scale the log would dwarf what it observes.
    pub fn without_call_log(self) -> Self {
        self.lock().behaviour.log_calls = false;
        self
    }

    /// Where [`SdkRetry::UntilDeadline`] stops retrying.
    pub fn set_retry_deadline(&self, deadline: Option<Instant>) {
        self.lock().behaviour.retry_deadline = deadline;
    }

    /// Counters per API, by request.
    pub fn stats(&self) -> BTreeMap<&'static str, OpStats> {
        self.lock().behaviour.stats.clone()
    }

    /// Forgets the counters (buckets keep their level).
    pub fn reset_stats(&self) {
        self.lock().behaviour.stats.clear();
    }

    /// Requests refused by a bucket, over all APIs.
    pub fn throttled(&self) -> u64 {
        self.lock().behaviour.stats.values().map(|s| s.throttled).sum()
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    pub fn put_config(&self, workload: Value, tiers: Vec<Value>) {
        let name = workload["SpecName"].as_str().unwrap().to_string();
        self.lock().items.insert(name, WorkloadItems { workload, tiers });
    }

    /// Adds an instance tagged Environment=env, Role=tier in `vpc`.
    pub fn add(&self, id: &str, env: &str, tier: &str, state: InstanceState) {
        self.add_in_vpc(id, env, tier, state, "vpc-1");
    }

    pub fn add_in_vpc(&self, id: &str, env: &str, tier: &str, state: InstanceState, vpc: &str) {
        let mut tags = BTreeMap::new();
        tags.insert("Environment".to_string(), env.to_string());
        if !tier.is_empty() {
            tags.insert("Role".to_string(), tier.to_string());
        }
        self.lock().instances.insert(
            id.to_string(),
            FakeInstance {
                id: id.to_string(),
                state,
                instance_type: "t3.small".into(),
                tags,
                vpc: vpc.to_string(),
                settles: None,
                ebs_optimized: false,
                unlimited: false,
                hibernation: false,
                hibernated: false,
                spot: false,
            },
        );
    }

    /// The spec's three tiers with two instances each (i-w1, i-w2, i-a1,
    /// i-a2, i-d1, i-d2), all in `state`.
    pub fn add_spec_instances(&self, state: InstanceState) {
        for (tier, ids) in [
            ("Role_Web", ["i-w1", "i-w2"]),
            ("Role_App", ["i-a1", "i-a2"]),
            ("Role_DB", ["i-d1", "i-d2"]),
        ] {
            for id in ids {
                self.add(id, "ENV001", tier, state);
            }
        }
    }

    /// Whole seconds from `since` at which `op` was called.
    pub fn call_seconds(&self, op: &str, since: Instant) -> Vec<u64> {
        self.calls_of(op).iter().map(|c| (c.at - since).as_secs()).collect()
    }

    pub fn fault(&self, op: &'static str, id: Option<&str>, code: &'static str, times: usize) {
        self.lock().faults.push(Fault {
            op,
            id: id.map(str::to_string),
            code,
            times,
        });
    }

    pub fn state_of(&self, id: &str) -> InstanceState {
        let now = Instant::now();
        let mut s = self.lock();
        let stuck = s.stuck.contains(id);
        let i = s.instances.get_mut(id).unwrap();
        settle(i, now, stuck);
        i.state
    }

    pub fn type_of(&self, id: &str) -> String {
        self.lock().instances[id].instance_type.clone()
    }

    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    pub fn calls_of(&self, op: &str) -> Vec<Call> {
        self.lock().calls.iter().filter(|c| c.op == op).cloned().collect()
    }

    pub fn mutating_calls(&self) -> Vec<Call> {
        self.lock()
            .calls
            .iter()
            .filter(|c| MUTATING.contains(&c.op))
            .cloned()
            .collect()
    }

    /// How many successful Stop/Start calls each instance received.
    pub fn action_counts(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for c in self.calls() {
            if c.op == "StopInstances" || c.op == "StartInstances" {
                for id in c.ids {
                    *counts.entry(id).or_insert(0) += 1;
                }
            }
        }
        counts
    }

    /// One port call carrying `ids`, with no paging.
    async fn record(&self, op: &'static str, ids: &[String]) -> Result<(), CloudError> {
        self.call(op, ids, &[ids.len()]).await
    }

    /// One port call: logged once, then made of one request per entry of
    /// `requests` (the adapter's pages; at least one), each carrying that
    /// many instances. The first request meets the scripted faults; each
    /// takes tokens when its API has buckets, is retried by the SDK model
    /// when throttled, and takes its latency. The plain fake never yields here.
    async fn call(&self, op: &'static str, ids: &[String], requests: &[usize]) -> Result<(), CloudError> {
        let logged = {
            let mut s = self.lock();
            s.behaviour.log_calls.then(|| {
                s.calls.push(Call {
                    op,
                    ids: ids.to_vec(),
                    at: Instant::now(),
                });
                s.calls.len() - 1
            })
        };
        let requests = if requests.is_empty() { &[0][..] } else { requests };
        let mut jitter = Jitter::new(0x5eed);
        for (page, &n) in requests.iter().enumerate() {
            let mut attempt = 1;
            loop {
                let answer = self.lock().answer(op, (page == 0).then_some(ids), n);
                match answer {
                    Ok(took) => {
                        pause(took).await;
                        let mut s = self.lock();
                        let stats = s.behaviour.stats.entry(op).or_default();
                        stats.ok += 1;
                        stats.instances += n as u64;
                        stats.last_ok_at = Some(Instant::now());
                        break;
                    }
                    Err((err, took)) => {
                        pause(took).await;
                        let (retry, deadline) = {
                            let b = &self.lock().behaviour;
                            (b.retry, b.retry_deadline)
                        };
                        let again = err.is_throttling().then(|| retry.pause(attempt, &mut jitter, deadline));
                        if let Some(Some(wait)) = again {
                            pause(wait).await;
                            attempt += 1;
                            continue;
                        }
                        if let Some(i) = logged {
                            // A failed call changed nothing: drop it from the success log.
                            self.lock().calls[i].op = failed_name(op);
                        }
                        return Err(err);
                    }
                }
            }
        }
        Ok(())
    }

    /// StopInstances logged as `op`, or refused whole (logged as failed)
    /// when EC2 would refuse one of the instances: (id, code, message).
    async fn stop_as(
        &self,
        ids: &[String],
        op: &'static str,
        refused: Option<(String, &'static str, String)>,
    ) -> Result<(), CloudError> {
        assert!(ids.len() <= 500, "StopInstances with {} ids", ids.len());
        if let Some((_, code, message)) = refused {
            self.record("StopInstances(failed)", ids).await?;
            return Err(CloudError::new("ec2", "StopInstances", Some(code), message));
        }
        self.record(op, ids).await?;
        self.transition(
            ids,
            &[InstanceState::Running],
            InstanceState::Stopping,
            InstanceState::Stopped,
            "StopInstances",
            self.transition,
        )
    }

    fn transition(
        &self,
        ids: &[String],
        from: &[InstanceState],
        via: InstanceState,
        to: InstanceState,
        op: &'static str,
        took: Duration,
    ) -> Result<(), CloudError> {
        let now = Instant::now();
        let mut s = self.lock();
        for id in ids {
            let stuck = s.stuck.contains(id);
            let Some(i) = s.instances.get_mut(id) else {
                return Err(CloudError::new(
                    "ec2",
                    op,
                    Some("InvalidInstanceID.NotFound"),
                    format!("{id} not found"),
                ));
            };
            settle(i, now, stuck);
            if !from.contains(&i.state) && i.state != via && i.state != to {
                return Err(CloudError::new(
                    "ec2",
                    op,
                    Some("IncorrectInstanceState"),
                    format!("{id} is {}", i.state),
                ));
            }
        }
        for id in ids {
            let i = s.instances.get_mut(id).unwrap();
            if i.state != to && i.state != via {
                i.state = via;
                i.settles = Some((now + took, to));
            }
        }
        Ok(())
    }
}

impl State {
    /// Decides one request of `op` carrying `n` instances, now: a scripted
    /// fault matching `ids` (when given) fails it; too few tokens refuse it
    /// whole, taking none. How long the answer or the refusal takes.
    fn answer(
        &mut self,
        op: &'static str,
        ids: Option<&[String]>,
        n: usize,
    ) -> Result<Duration, (CloudError, Duration)> {
        let refused = self.behaviour.refused_latency();
        if let Some(ids) = ids {
            let hit = self
                .faults
                .iter_mut()
                .find(|f| f.op == op && f.times > 0 && f.id.as_ref().is_none_or(|id| ids.contains(id)));
            if let Some(f) = hit {
                f.times = f.times.saturating_sub(1);
                let code = f.code;
                self.behaviour.stats.entry(op).or_default().faulted += 1;
                let err = CloudError::new(service(op), op, Some(code), format!("injected {code}"));
                return Err((err, refused));
            }
        }
        let now = Instant::now();
        if !self.behaviour.buckets.get_mut(op).is_none_or(|b| b.take(n, now)) {
            self.behaviour.stats.entry(op).or_default().throttled += 1;
            let err = CloudError::new(service(op), op, Some("RequestLimitExceeded"), "Request limit exceeded.");
            return Err((err, refused));
        }
        Ok(self.behaviour.latency(op, n))
    }
}

/// Sleeps, unless there is nothing to wait (the plain fake never yields).
async fn pause(d: Duration) {
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}

fn failed_name(op: &'static str) -> &'static str {
    match op {
        "StopInstances" => "StopInstances(failed)",
        "StartInstances" => "StartInstances(failed)",
        "ModifyInstanceAttribute" => "ModifyInstanceAttribute(failed)",
        "SendCommand" => "SendCommand(failed)",
        "Publish" => "Publish(failed)",
        other => other,
    }
}

fn service(op: &str) -> &'static str {
    match op {
        "SendCommand"
        | "GetCommandInvocation"
        | "ListCommandInvocations"
        | "DescribeInstanceInformation"
        | "GetCalendarState" => "ssm",
        "Publish" => "sns",
        "GetBucketLocation" => "s3",
        "GetItem" | "PutItem" | "TransactWriteItems" => "dynamodb",
        "AssumeRole" => "sts",
        "DescribeKey" => "kms",
        "DescribeAutoScalingGroups" | "SuspendProcesses" | "ResumeProcesses" => "autoscaling",
        "DescribeDBInstances"
        | "DescribeDBClusters"
        | "StopDBInstance"
        | "StartDBInstance"
        | "StopDBCluster"
        | "StartDBCluster" => "rds",
        _ => "ec2",
    }
}

/// (can be EBS-optimised, burstable) as EC2 reports them: t2 neither
/// optimisable nor not burstable; other t families burstable.
pub fn type_facts(instance_type: &str) -> (bool, bool) {
    let family = instance_type.split('.').next().unwrap_or_default();
    (family != "t2", family.starts_with('t'))
}

fn settle(i: &mut FakeInstance, now: Instant, stuck: bool) {
    if let Some((at, to)) = i.settles {
        if now >= at && !stuck {
            i.state = to;
            i.settles = None;
        }
    }
}

#[async_trait]
impl Compute for FakeCloud {
    async fn discover(&self, query: &Discovery) -> Result<Vec<Instance>, CloudError> {
        let (k, v) = &query.workload_tag;
        let wanted = |i: &FakeInstance| {
            i.tags.get(k) == Some(v)
                && i.tags.contains_key(&query.tier_tag_key)
                && query.vpc_id.as_ref().is_none_or(|vpc| *vpc == i.vpc)
        };
        let found = self
            .lock()
            .instances
            .values()
            .filter(|i| wanted(i) && i.state != InstanceState::Terminated)
            .count();
        // EC2 filters server-side and pages the matches.
        let pages: Vec<usize> = (0..found.div_ceil(DESCRIBE_PAGE))
            .map(|p| (found - p * DESCRIBE_PAGE).min(DESCRIBE_PAGE))
            .collect();
        self.call("DescribeInstances", &[], &pages).await?;
        let now = Instant::now();
        let mut s = self.lock();
        let stuck = s.stuck.clone();
        Ok(s.instances
            .values_mut()
            .filter(|i| wanted(i))
            .map(|i| {
                settle(i, now, stuck.contains(&i.id));
                &*i
            })
            .filter(|i| i.state != InstanceState::Terminated)
            .map(|i| Instance {
                type_tags: ec2_tier_scheduler::instance::TypeTags {
                    original: i.tags.get(ec2_tier_scheduler::instance::ORIGINAL_TYPE_TAG).cloned(),
                    preferred: i.tags.get(&query.preferred_types_tag_key).cloned(),
                },
                id: i.id.clone(),
                state: i.state,
                instance_type: i.instance_type.clone(),
                tier: i.tags[&query.tier_tag_key].clone(),
                ebs_optimized: i.ebs_optimized,
                auto_scaling_group: i
                    .tags
                    .get(ec2_tier_scheduler::instance::AUTO_SCALING_GROUP_TAG)
                    .cloned(),
                hibernation_configured: i.hibernation,
                spot: i.spot,
                override_tag: i.tags.get(&query.override_tag_key).map(|v| {
                    (
                        v.clone(),
                        i.tags
                            .get(ec2_tier_scheduler::override_tag::OVERRIDE_REASON_TAG)
                            .cloned(),
                    )
                }),
                vpc_id: Some(i.vpc.clone()),
                registrations: ec2_tier_scheduler::traffic::Registrations::from_tags(
                    i.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                ),
            })
            .collect())
    }

    async fn states(&self, ids: &[String]) -> Result<Vec<InstanceStatus>, CloudError> {
        let requests: Vec<usize> = ids.chunks(FILTER_VALUES).map(<[_]>::len).collect();
        self.call("DescribeInstances", ids, &requests).await?;
        let now = Instant::now();
        let mut s = self.lock();
        let stuck = s.stuck.clone();
        let found: Vec<(String, InstanceState)> = ids
            .iter()
            .filter_map(|id| {
                let i = s.instances.get_mut(id)?;
                settle(i, now, stuck.contains(id));
                Some((id.clone(), i.state))
            })
            .collect();
        Ok(found
            .into_iter()
            .map(|(id, state)| InstanceStatus {
                reason: s.reasons.get(&id).cloned(),
                id,
                state,
            })
            .collect())
    }

    async fn hibernate(&self, ids: &[String]) -> Result<(), CloudError> {
        let refused = {
            let s = self.lock();
            ids.iter()
                .find(|id| !s.instances[*id].hibernation || s.hibernation_refused.contains(*id))
                .map(|id| {
                    (
                        id.clone(),
                        "UnsupportedHibernationConfiguration",
                        format!("{id} cannot be hibernated"),
                    )
                })
        };
        self.stop_as(ids, "StopInstances(hibernate)", refused).await?;
        let mut s = self.lock();
        for id in ids {
            s.instances.get_mut(id).unwrap().hibernated = true;
        }
        Ok(())
    }

    async fn stop(&self, ids: &[String]) -> Result<(), CloudError> {
        let refused = ids.iter().find(|id| self.lock().one_time_spot.contains(*id)).map(|id| {
            (
                id.clone(),
                "UnsupportedOperation",
                format!("You can't stop the Spot Instance '{id}' because it is associated with a one-time Spot Instance request."),
            )
        });
        self.stop_as(ids, "StopInstances", refused).await
    }

    async fn start(&self, ids: &[String]) -> Result<(), CloudError> {
        assert!(ids.len() <= 500, "StartInstances with {} ids", ids.len());
        self.record("StartInstances", ids).await?;
        let short = {
            let s = self.lock();
            ids.iter()
                .find(|id| s.no_capacity.contains(&s.instances[*id].instance_type))
                .map(|id| s.instances[id].instance_type.clone())
        };
        if let Some(instance_type) = short {
            return Err(CloudError::new(
                "ec2",
                "StartInstances",
                Some("InsufficientInstanceCapacity"),
                format!("We currently do not have sufficient {instance_type} capacity in the Availability Zone you requested."),
            ));
        }
        self.transition(
            ids,
            &[InstanceState::Stopped],
            InstanceState::Pending,
            InstanceState::Running,
            "StartInstances",
            self.start_transition.unwrap_or(self.transition),
        )?;
        // Starts EC2 accepted and then gave up on: pending, then stopped
        // with the reason.
        let mut s = self.lock();
        for id in ids {
            s.reasons.remove(id);
            if let Some(reason) = s.start_falls_back.get(id).cloned() {
                let i = s.instances.get_mut(id).unwrap();
                if let Some((at, InstanceState::Running)) = i.settles {
                    i.settles = Some((at, InstanceState::Stopped));
                }
                s.reasons.insert(id.clone(), reason);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl InstanceTypes for FakeCloud {
    async fn set_instance_type(&self, id: &str, instance_type: &str) -> Result<(), CloudError> {
        self.record("ModifyInstanceAttribute", &[id.to_string()]).await?;
        let mut s = self.lock();
        if s.rejected_types.contains(instance_type) {
            return Err(CloudError::new(
                "ec2",
                "ModifyInstanceAttribute",
                Some("InvalidParameterValue"),
                format!("instance type {instance_type} is not supported in this region"),
            ));
        }
        let i = s.instances.get_mut(id).unwrap();
        assert_eq!(
            i.state,
            InstanceState::Stopped,
            "type changed on a {} instance",
            i.state
        );
        assert!(
            !i.ebs_optimized || type_facts(instance_type).0,
            "{instance_type} cannot be EBS-optimised: EbsOptimized must be turned off first"
        );
        i.instance_type = instance_type.to_string();
        Ok(())
    }

    async fn set_ebs_optimized(&self, id: &str, on: bool) -> Result<(), CloudError> {
        self.record("ModifyInstanceAttribute", &[id.to_string()]).await?;
        let mut s = self.lock();
        let i = s.instances.get_mut(id).unwrap();
        assert_eq!(
            i.state,
            InstanceState::Stopped,
            "EbsOptimized changed on a {} instance",
            i.state
        );
        i.ebs_optimized = on;
        Ok(())
    }

    async fn type_facts(&self, types: &[String]) -> Result<Vec<TypeFacts>, CloudError> {
        let requests: Vec<usize> = types.chunks(100).map(<[_]>::len).collect();
        self.call("DescribeInstanceTypes", types, &requests).await?;
        Ok(types
            .iter()
            .map(|t| {
                let (ebs_optimizable, burstable) = type_facts(t);
                // Graviton families carry a `g` after their generation
                // (`m6g`, `c7gn`, `t4g`): arm64; the others x86_64.
                let family = t.split('.').next().unwrap_or_default();
                let graviton = family
                    .find(|c: char| c.is_ascii_digit())
                    .is_some_and(|at| family[at..].contains('g'));
                TypeFacts {
                    instance_type: t.clone(),
                    ebs_optimizable,
                    burstable,
                    architectures: vec![if graviton { "arm64" } else { "x86_64" }.into()],
                }
            })
            .collect())
    }

    async fn cpu_credits(&self, ids: &[String]) -> Result<Vec<(String, bool)>, CloudError> {
        let requests: Vec<usize> = ids.chunks(1000).map(<[_]>::len).collect();
        self.call("DescribeInstanceCreditSpecifications", ids, &requests)
            .await?;
        let s = self.lock();
        Ok(ids
            .iter()
            .filter_map(|id| s.instances.get(id).map(|i| (id.clone(), i.unlimited)))
            .collect())
    }

    async fn set_cpu_credits(&self, changes: &[(String, bool)]) -> Result<Vec<(String, String)>, CloudError> {
        let ids: Vec<String> = changes.iter().map(|(id, _)| id.clone()).collect();
        self.record("ModifyInstanceCreditSpecification", &ids).await?;
        let mut s = self.lock();
        for (id, unlimited) in changes {
            s.instances.get_mut(id).unwrap().unlimited = *unlimited;
        }
        Ok(Vec::new())
    }
}

#[async_trait]
impl InstanceTags for FakeCloud {
    async fn tag(&self, ids: &[String], tags: &[(String, String)]) -> Result<(), CloudError> {
        self.record("CreateTags", ids).await?;
        let mut s = self.lock();
        for id in ids {
            let i = s.instances.get_mut(id).unwrap();
            for (k, v) in tags {
                i.tags.insert(k.clone(), v.clone());
            }
        }
        Ok(())
    }

    async fn untag(&self, ids: &[String], keys: &[String]) -> Result<(), CloudError> {
        self.record("DeleteTags", ids).await?;
        let mut s = self.lock();
        for id in ids {
            let i = s.instances.get_mut(id).unwrap();
            for k in keys {
                i.tags.remove(k);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl StatusChecks for FakeCloud {
    async fn status_checks_ok(&self, ids: &[String]) -> Result<Vec<(String, bool)>, CloudError> {
        assert!(ids.len() <= 100, "DescribeInstanceStatus with {} ids", ids.len());
        self.record("DescribeInstanceStatus", ids).await?;
        let mut s = self.lock();
        let mut out = Vec::new();
        for id in ids {
            let polls = {
                let p = s.status_polls.entry(id.clone()).or_insert(0);
                *p += 1;
                *p
            };
            let needed = s.status_ok_after.get(id).copied().unwrap_or(1);
            out.push((id.clone(), polls >= needed));
        }
        Ok(out)
    }
}

#[async_trait]
impl RemoteCheck for FakeCloud {
    async fn window_executions(
        &self,
        id: &str,
        since: u64,
    ) -> Result<Vec<ec2_tier_scheduler::window::WindowExecution>, CloudError> {
        self.record("DescribeMaintenanceWindowExecutions", &[id.to_string()])
            .await?;
        let executions = self.lock().window_executions.get(id).cloned().unwrap_or_default();
        Ok(executions
            .into_iter()
            .filter(|e| e.started.is_none_or(|at| at >= since))
            .collect())
    }
    async fn maintenance_window(&self, id: &str) -> Result<ec2_tier_scheduler::window::MaintenanceWindow, CloudError> {
        self.record("GetMaintenanceWindow", &[id.to_string()]).await?;
        self.lock().maintenance_windows.get(id).cloned().ok_or_else(|| {
            CloudError::new(
                "ssm",
                "GetMaintenanceWindow",
                Some("DoesNotExistException"),
                format!("{id} does not exist"),
            )
        })
    }

    async fn bucket_region(&self, _bucket: &str) -> Result<String, CloudError> {
        self.record("GetBucketLocation", &[]).await?;
        Ok(self.lock().bucket_region.clone())
    }

    async fn send(
        &self,
        check: &OverrideCheck,
        ids: &[String],
        _output: &OutputLocation,
        timeout: Duration,
    ) -> Result<String, CloudError> {
        assert!(ids.len() <= 50, "SendCommand with {} ids", ids.len());
        assert!(timeout >= Duration::from_secs(30));
        assert!(!check.command().is_empty());
        self.record("SendCommand", ids).await?;
        let mut s = self.lock();
        let id = format!("cmd-{}", s.commands.len() + 1);
        s.commands.insert(id.clone(), ids.to_vec());
        Ok(id)
    }

    async fn poll_command(
        &self,
        command_id: &str,
        instance_ids: &[String],
        _output: &OutputLocation,
    ) -> Result<Vec<(String, CheckPoll)>, CloudError> {
        assert!(instance_ids.len() <= 50, "one command targets at most 50 instances");
        self.record("ListCommandInvocations", instance_ids).await?;
        let mut s = self.lock();
        let mut out = Vec::with_capacity(instance_ids.len());
        for instance_id in instance_ids {
            assert!(s.commands[command_id].iter().any(|i| i == instance_id));
            let polls = {
                let p = s.agent_polls.entry(instance_id.to_string()).or_insert(0);
                *p += 1;
                *p
            };
            let agent = s.agents.get(instance_id).cloned().unwrap_or(Agent::Absent { polls: 1 });
            out.push((
                instance_id.clone(),
                match agent {
                    Agent::Absent { polls: n } if polls >= n => CheckPoll::Output("EC2TS_OVERRIDE=ABSENT\n".into()),
                    Agent::Present { polls: n } if polls >= n => CheckPoll::Output("EC2TS_OVERRIDE=PRESENT\n".into()),
                    Agent::Fails(status) => CheckPoll::Failed {
                        status: status.into(),
                        detail: format!("{status} (simulated)"),
                    },
                    Agent::Garbage => CheckPoll::Output("bash: syntax error\n".into()),
                    _ => CheckPoll::Pending,
                },
            ));
        }
        Ok(out)
    }

    async fn online(&self, ids: &[String]) -> Result<Vec<(String, bool)>, CloudError> {
        self.record("DescribeInstanceInformation", ids).await?;
        let s = self.lock();
        Ok(ids.iter().map(|id| (id.clone(), s.ssm_online.contains(id))).collect())
    }
}

#[async_trait]
impl Notifier for FakeCloud {
    async fn publish(&self, topic: &str, subject: &str, message: &str) -> Result<(), CloudError> {
        assert!(subject.len() <= 100, "subject too long: {subject}");
        assert!(!message.is_empty());
        self.record("Publish", &[]).await?;
        self.lock()
            .published
            .push((topic.into(), subject.into(), message.into()));
        Ok(())
    }
}

#[async_trait]
impl EventBus for FakeCloud {
    /// PutEvents under EventBridge's limits (asserted: at most 10 entries,
    /// under 256 KB); an entry matching `refused_events` is refused.
    async fn put(&self, bus: &str, events: &[BusEvent]) -> Result<Vec<Option<String>>, CloudError> {
        assert!(!events.is_empty() && events.len() <= 10, "{} entries", events.len());
        let size: usize = events
            .iter()
            .map(|e| 14 + e.source.len() + e.detail_type.len() + e.detail.len())
            .sum();
        assert!(size < 256 * 1024, "a PutEvents request of {size} bytes");
        self.record("PutEvents", &[]).await?;
        let mut s = self.lock();
        let mut results = Vec::new();
        for e in events {
            serde_json::from_str::<Value>(&e.detail).expect("the detail is JSON");
            if s.refused_events.iter().any(|r| e.detail.contains(r.as_str())) {
                results.push(Some("InternalFailure: refused by the test".to_string()));
            } else {
                s.events.push((bus.to_string(), e.clone()));
                results.push(None);
            }
        }
        Ok(results)
    }
}

#[async_trait]
impl ConfigStore for FakeCloud {
    async fn workloads(&self) -> Result<Vec<String>, CloudError> {
        self.call("Scan", &[], &[0, 0]).await?;
        let mut names: Vec<String> = self.lock().items.keys().cloned().collect();
        names.sort();
        Ok(names)
    }

    async fn load(&self, workload: &str) -> Result<Option<WorkloadItems>, CloudError> {
        // The workload's GetItem and its tiers' Query.
        self.call("GetItem", &[], &[0, 0]).await?;
        Ok(self.lock().items.get(workload).cloned())
    }

    async fn save(&self, items: &WorkloadItems) -> Result<(), CloudError> {
        self.record("TransactWriteItems", &[]).await?;
        let name = items.workload["SpecName"].as_str().unwrap().to_string();
        self.lock().items.insert(name, items.clone());
        Ok(())
    }

    fn location(&self) -> String {
        "WorkloadSpecification (fake)".into()
    }

    async fn load_state(&self, workload: &str) -> Result<StateLookup, CloudError> {
        self.record("GetItem", &[]).await?;
        Ok(match &self.lock().workload_state {
            None => StateLookup::NoTable("WorkloadState".into()),
            Some(rows) => rows
                .get(workload)
                .cloned()
                .map_or(StateLookup::Missing, StateLookup::Found),
        })
    }

    async fn save_state(&self, workload: &str, state: &WorkloadState) -> Result<Option<String>, CloudError> {
        self.record("PutItem", &[]).await?;
        Ok(match &mut self.lock().workload_state {
            None => Some("WorkloadState".into()),
            Some(rows) => {
                rows.insert(workload.to_string(), state.clone());
                None
            }
        })
    }
}

#[async_trait]
impl Cloud for FakeCloud {
    fn granted_keys(&self) -> Result<GrantedKeys, GrantedKeysError> {
        match &self.lock().granted_keys {
            Some(text) => GrantedKeys::parse("EbsKmsKeyArns", text),
            None => Ok(Default::default()),
        }
    }

    fn config_store(&self, _region: &str) -> Arc<dyn ConfigStore> {
        Arc::new(self.clone())
    }
    fn records(&self) -> Option<Arc<dyn ec2_tier_scheduler::ports::Records>> {
        (!self.lock().no_records).then(|| Arc::new(self.clone()) as Arc<dyn ec2_tier_scheduler::ports::Records>)
    }
    fn downtime(&self) -> Option<Arc<dyn ec2_tier_scheduler::ports::Downtime>> {
        let kept = self.lock().downtime.is_some();
        kept.then(|| Arc::new(self.clone()) as Arc<dyn ec2_tier_scheduler::ports::Downtime>)
    }
    fn notifier(&self, _region: &str) -> Arc<dyn Notifier> {
        Arc::new(self.clone())
    }
    fn event_bus(&self, _region: &str) -> Option<Arc<dyn EventBus>> {
        Some(Arc::new(self.clone()))
    }
    async fn workload_ports(&self, region: &str, role: Option<&CrossAccount>) -> Result<WorkloadPorts, CloudError> {
        if let Some(role) = role {
            self.record("AssumeRole", &[]).await?;
            let allowed = self.lock().roles.get(&role.role_arn) == Some(&role.external_id);
            if !allowed {
                return Err(CloudError::new(
                    "sts",
                    "AssumeRole",
                    Some("AccessDenied"),
                    format!("not authorized to assume {}", role.role_arn),
                ));
            }
        }
        let who = role.map_or("own".to_string(), |r| r.role_arn.clone());
        self.lock().ports_given.push((region.to_string(), who));
        Ok(WorkloadPorts {
            compute: Arc::new(self.clone()),
            instance_types: Arc::new(self.clone()),
            instance_tags: Arc::new(self.clone()),
            status_checks: Arc::new(self.clone()),
            remote: Arc::new(self.clone()),
            calendar: Arc::new(self.clone()),
            auto_scaling: Arc::new(self.clone()),
            keys: Arc::new(self.clone()),
            members: ec2_tier_scheduler::ports::MemberPorts::all(Arc::new(self.clone())),
            load_balancers: Arc::new(self.clone()),
            alarms: Arc::new(self.clone()),
            price_facts: Arc::new(self.clone()),
        })
    }
    fn prices(&self) -> Option<ec2_tier_scheduler::ports::Prices> {
        self.fake_prices()
    }
}

#[async_trait]
impl AutoScaling for FakeCloud {
    async fn processes(&self, groups: &[String]) -> Result<Vec<GroupProcesses>, CloudError> {
        self.record("DescribeAutoScalingGroups", groups).await?;
        let s = self.lock();
        Ok(groups
            .iter()
            .filter_map(|g| {
                s.groups.get(g).map(|(suspended, claimed)| GroupProcesses {
                    group: g.clone(),
                    suspended: suspended.iter().cloned().collect(),
                    claimed: claimed.clone(),
                })
            })
            .collect())
    }

    async fn suspend(&self, group: &str, processes: &[String]) -> Result<(), CloudError> {
        self.record("SuspendProcesses", &[group.to_string()]).await?;
        let mut s = self.lock();
        let entry = s.groups.entry(group.to_string()).or_default();
        entry.0.extend(processes.iter().cloned());
        Ok(())
    }

    async fn resume(&self, group: &str, processes: &[String]) -> Result<(), CloudError> {
        self.record("ResumeProcesses", &[group.to_string()]).await?;
        let mut s = self.lock();
        let entry = s.groups.entry(group.to_string()).or_default();
        for p in processes {
            entry.0.remove(p);
        }
        Ok(())
    }
}

#[async_trait]
impl ChangeCalendar for FakeCloud {
    async fn state(&self, calendars: &[String]) -> Result<CalendarState, CloudError> {
        self.record("GetCalendarState", calendars).await?;
        let s = self.lock();
        let mut open = true;
        for name in calendars {
            match s.calendars.get(name) {
                Some(o) => open &= *o,
                None => {
                    return Err(CloudError::new(
                        "ssm",
                        "GetCalendarState",
                        Some("InvalidDocument"),
                        format!("calendar {name} not found"),
                    ))
                }
            }
        }
        Ok(CalendarState {
            open,
            next_transition: (!open).then(|| "2026-11-27T08:00:00Z".to_string()),
        })
    }
}

#[async_trait]
impl Keys for FakeCloud {
    async fn volume_keys(&self, instance_ids: &[String]) -> Result<Vec<VolumeKey>, CloudError> {
        let requests: Vec<usize> = instance_ids.chunks(FILTER_VALUES).map(<[_]>::len).collect();
        self.call("DescribeVolumes", instance_ids, &requests).await?;
        let s = self.lock();
        Ok(instance_ids
            .iter()
            .flat_map(|id| {
                s.volumes.get(id).into_iter().flatten().map(|(volume, key)| VolumeKey {
                    instance_id: id.clone(),
                    volume_id: volume.clone(),
                    key_id: key.clone(),
                })
            })
            .collect())
    }

    async fn describe(&self, key_ids: &[String]) -> Result<Vec<KeyFacts>, CloudError> {
        let mut out = Vec::new();
        for key in key_ids {
            self.record("DescribeKey", std::slice::from_ref(key)).await?;
            let lookup = self.lock().keys.get(key).cloned().unwrap_or(KeyLookup::Unreadable {
                code: "NotFoundException".into(),
                message: format!("Key '{key}' does not exist"),
            });
            out.push(KeyFacts {
                key_id: key.clone(),
                lookup,
            });
        }
        Ok(out)
    }
}
