//! A simulated EC2 for the scale and memory benchmarks: the product's ports
//! implemented in memory, on tokio time (paused in the benchmarks), with
//! AWS's documented token buckets and realistic latencies.
//!
//! Throttling follows the EC2 documentation ("Request throttling for the
//! Amazon EC2 API"): every request takes one token from its API's request
//! bucket; StopInstances and StartInstances also take one token per instance
//! from a resource bucket. A request that finds too few tokens in either
//! bucket is refused whole with `RequestLimitExceeded` and takes no token.
//! Buckets start full (an idle account) and refill continuously.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use ec2_tier_scheduler::config::CrossAccount;
use ec2_tier_scheduler::error::CloudError;
use ec2_tier_scheduler::handler::safety_margin;
use ec2_tier_scheduler::instance::{Discovery, Instance, InstanceState};
use ec2_tier_scheduler::orchestrator::{self, Budget, RunRequest, Settings, EC2_BATCH};
use ec2_tier_scheduler::override_check::OverrideCheck;
use ec2_tier_scheduler::plan::Action;
use ec2_tier_scheduler::ports::{
    CheckPoll, Cloud, Compute, ConfigStore, Notifier, OutputLocation, RemoteCheck, StateLookup, TypeFacts,
    WorkloadItems, WorkloadPorts, WorkloadState,
};
use ec2_tier_scheduler::summary::RunStatus;
use serde_json::{json, Value};
use tokio::time::Instant;

/// A token bucket: `burst` tokens at most, refilled at `per_sec`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketSpec {
    pub burst: f64,
    pub per_sec: f64,
}

/// The documented limits of one API: its request bucket and, for mutating
/// instance APIs, its resource (instances) bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ApiLimits {
    pub requests: BucketSpec,
    pub instances: Option<BucketSpec>,
}

const fn bucket(burst: f64, per_sec: f64) -> BucketSpec {
    BucketSpec { burst, per_sec }
}

/// StopInstances: 50 requests burst, 5/s; 1000 instances burst, 20/s.
pub const STOP_LIMITS: ApiLimits = ApiLimits {
    requests: bucket(50.0, 5.0),
    instances: Some(bucket(1000.0, 20.0)),
};
/// StartInstances: 5 requests burst, 2/s; 1000 instances burst, 2/s.
pub const START_LIMITS: ApiLimits = ApiLimits {
    requests: bucket(5.0, 2.0),
    instances: Some(bucket(1000.0, 2.0)),
};
/// DescribeInstances (and, in this model, DescribeInstanceStatus): 100 burst, 20/s.
pub const DESCRIBE_LIMITS: ApiLimits = ApiLimits {
    requests: bucket(100.0, 20.0),
    instances: None,
};

/// Latencies of the simulated services: `base + per_instance * n`.
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    pub base: Duration,
    pub per_instance: Duration,
}

impl Latency {
    const fn ms(base: u64, per_instance_us: u64) -> Self {
        Self {
            base: Duration::from_millis(base),
            per_instance: Duration::from_micros(per_instance_us),
        }
    }

    fn of(&self, n: usize) -> Duration {
        self.base + self.per_instance * n as u32
    }
}

/// Assumed latencies (no published figures; chosen from typical
/// observations of the EC2 API in one region).
pub mod latency {
    use super::Latency;
    /// DescribeInstances page: 100 ms + 0.3 ms per instance returned (1000: 400 ms).
    pub const DESCRIBE: Latency = Latency::ms(100, 300);
    /// StopInstances / StartInstances: 150 ms + 1 ms per instance (500: 650 ms).
    pub const MUTATE: Latency = Latency::ms(150, 1000);
    /// A refused (throttled) request: 30 ms.
    pub const THROTTLED: Latency = Latency::ms(30, 0);
    /// DescribeInstanceStatus: 100 ms + 0.2 ms per instance.
    pub const STATUS: Latency = Latency::ms(100, 200);
    /// DynamoDB GetItem / Query: 10 ms.
    pub const DYNAMODB: Latency = Latency::ms(10, 0);
    /// SNS Publish: 40 ms.
    pub const PUBLISH: Latency = Latency::ms(40, 0);
    /// A stop takes this long to reach `stopped`; a start to reach `running`.
    pub const STOP_TRANSITION: std::time::Duration = std::time::Duration::from_secs(60);
    pub const START_TRANSITION: std::time::Duration = std::time::Duration::from_secs(40);
}

#[derive(Debug, Clone)]
struct Bucket {
    spec: BucketSpec,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(spec: BucketSpec, now: Instant) -> Self {
        Self {
            spec,
            tokens: spec.burst,
            at: now,
        }
    }

    fn level(&mut self, now: Instant) -> f64 {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + dt * self.spec.per_sec).min(self.spec.burst);
        self.at = now;
        self.tokens
    }
}

/// Counters for one API.
#[derive(Debug, Clone, Default)]
pub struct OpStats {
    /// Requests admitted.
    pub ok: u64,
    /// Requests refused with RequestLimitExceeded.
    pub throttled: u64,
    /// Instances in admitted requests.
    pub instances: u64,
    /// When the last admitted request was answered.
    pub last_ok_at: Option<Instant>,
}

#[derive(Debug, Clone)]
struct SimInstance {
    tier: String,
    state: InstanceState,
    settles: Option<(Instant, InstanceState)>,
}

impl SimInstance {
    fn settle(&mut self, now: Instant) {
        if let Some((at, to)) = self.settles {
            if now >= at {
                self.state = to;
                self.settles = None;
            }
        }
    }
}

struct State {
    items: WorkloadItems,
    instances: BTreeMap<String, SimInstance>,
    buckets: HashMap<&'static str, (Bucket, Option<Bucket>)>,
    stats: BTreeMap<&'static str, OpStats>,
    published: u64,
}

/// What a Stop/Start does to an instance: `from` goes `via` to `to` after
/// `took`; an instance in `refuse` fails the request (IncorrectInstanceState);
/// others are left as they are (EC2 accepts them).
struct Transition {
    from: InstanceState,
    via: InstanceState,
    to: InstanceState,
    refuse: InstanceState,
    took: Duration,
}

/// How calls are retried between the orchestrator and the simulated EC2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryLayer {
    /// None: the orchestrator sees every RequestLimitExceeded (its own batch
    /// retry is all there is). What the port contract describes.
    None,
    /// The SDK's standard retry as configured in `aws::ec2_retry()`: up to 6
    /// attempts, exponential backoff with full jitter from 200 ms, at most
    /// 10 s. (The adaptive mode's client-side rate limiter is not modelled.)
    SdkStandard,
    /// Emulates the recommended orchestrator change: a throttled Stop/Start
    /// batch is retried with backoff (2 s doubling to 15 s) for as long as
    /// the invocation's budget allows, not 5 times.
    UntilBudget,
}

/// The simulated cloud. Clones share state.
#[derive(Clone)]
pub struct SimCloud {
    state: Arc<Mutex<State>>,
    retry: RetryLayer,
    /// End of the current invocation's budget (for [`RetryLayer::UntilBudget`]).
    budget_end: Arc<Mutex<Option<Instant>>>,
}

/// The benchmark workload: `tiers` tiers of `per_tier` running instances,
/// async tiers, no inter-tier delay, stop in tier order, start in reverse.
pub fn workload(tiers: usize, per_tier: usize) -> (WorkloadItems, Vec<(String, String)>) {
    let workload = json!({
        "SpecName": "Scale",
        "DisableAllSchedulingActions": "0",
        "WorkloadFilterTagName": "Environment",
        "WorkloadFilterTagValue": "PERF",
        "WorkloadRegion": "us-east-1",
        "TierFilterTagName": "Role",
    });
    let tier_items: Vec<Value> = (0..tiers)
        .map(|t| {
            json!({
                "SpecName": "Scale",
                "TierTagValue": format!("Tier{t:02}"),
                "TierStop": { "TierSequence": t.to_string(), "TierSynchronization": "False", "InterTierOrchestrationDelay": "0" },
                "TierStart": { "TierSequence": (tiers - 1 - t).to_string(), "TierSynchronization": "False", "InterTierOrchestrationDelay": "0" },
            })
        })
        .collect();
    let mut instances = Vec::with_capacity(tiers * per_tier);
    for t in 0..tiers {
        for k in 0..per_tier {
            instances.push((
                format!("i-{:017x}", 0x0a00_0000 + t * 100_000 + k),
                format!("Tier{t:02}"),
            ));
        }
    }
    (
        WorkloadItems {
            workload,
            tiers: tier_items,
        },
        instances,
    )
}

impl SimCloud {
    /// A cloud holding `items` and the given (id, tier) instances, all running.
    pub fn new(items: WorkloadItems, instances: &[(String, String)], retry: RetryLayer) -> Self {
        let now = Instant::now();
        let mut buckets = HashMap::new();
        for (op, limits) in [
            ("StopInstances", STOP_LIMITS),
            ("StartInstances", START_LIMITS),
            ("DescribeInstances", DESCRIBE_LIMITS),
            ("DescribeInstanceStatus", DESCRIBE_LIMITS),
        ] {
            buckets.insert(
                op,
                (
                    Bucket::full(limits.requests, now),
                    limits.instances.map(|s| Bucket::full(s, now)),
                ),
            );
        }
        let instances = instances
            .iter()
            .map(|(id, tier)| {
                (
                    id.clone(),
                    SimInstance {
                        tier: tier.clone(),
                        state: InstanceState::Running,
                        settles: None,
                    },
                )
            })
            .collect();
        Self {
            state: Arc::new(Mutex::new(State {
                items,
                instances,
                buckets,
                stats: BTreeMap::new(),
                published: 0,
            })),
            retry,
            budget_end: Arc::new(Mutex::new(None)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counters per API.
    pub fn stats(&self) -> BTreeMap<&'static str, OpStats> {
        self.lock().stats.clone()
    }

    /// Forgets the counters (buckets keep their level).
    pub fn reset_stats(&self) {
        self.lock().stats.clear();
    }

    /// Instances not yet in, or on their way to, the action's target state.
    pub fn remaining(&self, action: Action) -> usize {
        let now = Instant::now();
        let mut s = self.lock();
        s.instances
            .values_mut()
            .map(|i| {
                i.settle(now);
                &*i
            })
            .filter(|i| !match action {
                Action::Stop => matches!(i.state, InstanceState::Stopping | InstanceState::Stopped),
                Action::Start => matches!(i.state, InstanceState::Pending | InstanceState::Running),
            })
            .count()
    }

    /// Number of instances.
    pub fn len(&self) -> usize {
        self.lock().instances.len()
    }

    /// Sets the end of the current invocation's budget.
    pub fn set_budget_end(&self, end: Option<Instant>) {
        *self.budget_end.lock().unwrap_or_else(|p| p.into_inner()) = end;
    }

    /// Takes the tokens for one request of `op` with `n` instances, then
    /// waits its latency. Refused requests take no token.
    async fn request(&self, op: &'static str, n: usize, latency: Latency) -> Result<(), CloudError> {
        let admitted = {
            let now = Instant::now();
            let mut s = self.lock();
            let admitted = match s.buckets.get_mut(op) {
                None => true,
                Some((requests, instances)) => {
                    let fits_requests = requests.level(now) >= 1.0;
                    let fits_instances = instances.as_mut().is_none_or(|b| b.level(now) >= n as f64);
                    if fits_requests && fits_instances {
                        requests.tokens -= 1.0;
                        if let Some(b) = instances.as_mut() {
                            b.tokens -= n as f64;
                        }
                        true
                    } else {
                        false
                    }
                }
            };
            if !admitted {
                s.stats.entry(op).or_default().throttled += 1;
            }
            admitted
        };
        if !admitted {
            tokio::time::sleep(latency::THROTTLED.of(0)).await;
            return Err(CloudError::new(
                "ec2",
                op,
                Some("RequestLimitExceeded"),
                "Request limit exceeded.",
            ));
        }
        tokio::time::sleep(latency.of(n)).await;
        let mut s = self.lock();
        let stats = s.stats.entry(op).or_default();
        stats.ok += 1;
        stats.instances += n as u64;
        stats.last_ok_at = Some(Instant::now());
        Ok(())
    }

    fn transition(&self, op: &'static str, ids: &[String], t: Transition) -> Result<(), CloudError> {
        let Transition {
            from: act_from,
            via,
            to,
            refuse,
            took,
        } = t;
        let now = Instant::now();
        let mut s = self.lock();
        for id in ids {
            let Some(i) = s.instances.get_mut(id) else {
                return Err(CloudError::new(
                    "ec2",
                    op,
                    Some("InvalidInstanceID.NotFound"),
                    format!("{id} not found"),
                ));
            };
            i.settle(now);
            if i.state == refuse {
                return Err(CloudError::new(
                    "ec2",
                    op,
                    Some("IncorrectInstanceState"),
                    format!("{id} is {}", i.state),
                ));
            }
        }
        for id in ids {
            let i = s.instances.get_mut(id).expect("checked");
            if i.state == act_from {
                i.state = via;
                i.settles = Some((now + took, to));
            }
        }
        Ok(())
    }

    async fn stop_once(&self, ids: &[String]) -> Result<(), CloudError> {
        assert!(ids.len() <= EC2_BATCH, "StopInstances with {} ids", ids.len());
        self.request("StopInstances", ids.len(), latency::MUTATE).await?;
        self.transition(
            "StopInstances",
            ids,
            Transition {
                from: InstanceState::Running,
                via: InstanceState::Stopping,
                to: InstanceState::Stopped,
                refuse: InstanceState::Pending,
                took: latency::STOP_TRANSITION,
            },
        )
    }

    async fn start_once(&self, ids: &[String]) -> Result<(), CloudError> {
        assert!(ids.len() <= EC2_BATCH, "StartInstances with {} ids", ids.len());
        self.request("StartInstances", ids.len(), latency::MUTATE).await?;
        self.transition(
            "StartInstances",
            ids,
            Transition {
                from: InstanceState::Stopped,
                via: InstanceState::Pending,
                to: InstanceState::Running,
                refuse: InstanceState::Stopping,
                took: latency::START_TRANSITION,
            },
        )
    }

    async fn discover_once(&self, query: &Discovery) -> Result<Vec<Instance>, CloudError> {
        let total = self.lock().instances.len();
        // One DescribeInstances page per 1000 instances (MaxResults=1000).
        let pages = total.div_ceil(1000).max(1);
        for page in 0..pages {
            let n = (total - page * 1000).min(1000);
            self.request("DescribeInstances", n, latency::DESCRIBE).await?;
        }
        let now = Instant::now();
        let mut s = self.lock();
        let (_, value) = &query.workload_tag;
        assert_eq!(value, "PERF");
        Ok(s.instances
            .iter_mut()
            .map(|(id, i)| {
                i.settle(now);
                Instance {
                    id: id.clone(),
                    state: i.state,
                    instance_type: "m5.large".into(),
                    tier: i.tier.clone(),
                    ebs_optimized: true,
                }
            })
            .collect())
    }

    async fn states_once(&self, ids: &[String]) -> Result<Vec<(String, InstanceState)>, CloudError> {
        // The adapter sends 200 ids per DescribeInstances (instance-id filter).
        for chunk in ids.chunks(200) {
            self.request("DescribeInstances", chunk.len(), latency::DESCRIBE)
                .await?;
        }
        let now = Instant::now();
        let mut s = self.lock();
        Ok(ids
            .iter()
            .filter_map(|id| {
                let i = s.instances.get_mut(id)?;
                i.settle(now);
                Some((id.clone(), i.state))
            })
            .collect())
    }

    /// Calls `f` through the configured retry layer.
    async fn retried<T, F, Fut>(&self, f: F) -> Result<T, CloudError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, CloudError>>,
    {
        let mut attempt: u32 = 1;
        let mut rng = Jitter::new(0x5eed);
        loop {
            let result = f().await;
            let throttled = matches!(&result, Err(e) if e.code.as_deref() == Some("RequestLimitExceeded"));
            if !throttled {
                return result;
            }
            let pause = match self.retry {
                RetryLayer::None => return result,
                RetryLayer::SdkStandard => {
                    if attempt >= 6 {
                        return result;
                    }
                    let cap = (0.2 * 2f64.powi(attempt as i32 - 1)).min(10.0);
                    Duration::from_secs_f64(cap * rng.next())
                }
                RetryLayer::UntilBudget => {
                    let pause = Duration::from_secs(2)
                        .saturating_mul(1 << (attempt - 1).min(16))
                        .min(Duration::from_secs(15));
                    let end = *self.budget_end.lock().unwrap_or_else(|p| p.into_inner());
                    if end.is_some_and(|end| Instant::now() + pause >= end) {
                        return result;
                    }
                    pause
                }
            };
            tokio::time::sleep(pause).await;
            attempt += 1;
        }
    }
}

/// A small deterministic generator for the SDK's full jitter.
struct Jitter(u64);

impl Jitter {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// Uniform in [0, 1).
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[async_trait]
impl Compute for SimCloud {
    async fn discover(&self, query: &Discovery) -> Result<Vec<Instance>, CloudError> {
        self.retried(move || self.discover_once(query)).await
    }

    async fn states(&self, ids: &[String]) -> Result<Vec<(String, InstanceState)>, CloudError> {
        self.retried(move || self.states_once(ids)).await
    }

    async fn stop(&self, ids: &[String]) -> Result<(), CloudError> {
        self.retried(move || self.stop_once(ids)).await
    }

    async fn start(&self, ids: &[String]) -> Result<(), CloudError> {
        self.retried(move || self.start_once(ids)).await
    }

    async fn set_instance_type(&self, _id: &str, _instance_type: &str) -> Result<(), CloudError> {
        tokio::time::sleep(latency::MUTATE.of(1)).await;
        Ok(())
    }

    // The scale runs use no scaling profile: types and credit options are
    // not modelled, only the calls' latency.
    async fn set_ebs_optimized(&self, _id: &str, _on: bool) -> Result<(), CloudError> {
        tokio::time::sleep(latency::MUTATE.of(1)).await;
        Ok(())
    }

    async fn type_facts(&self, types: &[String]) -> Result<Vec<TypeFacts>, CloudError> {
        tokio::time::sleep(latency::DESCRIBE.of(types.len())).await;
        Ok(types
            .iter()
            .map(|t| TypeFacts {
                instance_type: t.clone(),
                ebs_optimizable: true,
                burstable: t.starts_with('t'),
            })
            .collect())
    }

    async fn cpu_credits(&self, ids: &[String]) -> Result<Vec<(String, bool)>, CloudError> {
        tokio::time::sleep(latency::DESCRIBE.of(ids.len())).await;
        Ok(ids.iter().map(|id| (id.clone(), false)).collect())
    }

    async fn set_cpu_credits(&self, changes: &[(String, bool)]) -> Result<Vec<(String, String)>, CloudError> {
        tokio::time::sleep(latency::MUTATE.of(changes.len())).await;
        Ok(Vec::new())
    }

    async fn status_checks_ok(&self, ids: &[String]) -> Result<Vec<(String, bool)>, CloudError> {
        self.retried(move || async move {
            self.request("DescribeInstanceStatus", ids.len(), latency::STATUS)
                .await?;
            let now = Instant::now();
            let mut s = self.lock();
            Ok(ids
                .iter()
                .map(|id| {
                    let ok = s.instances.get_mut(id).is_some_and(|i| {
                        i.settle(now);
                        i.state == InstanceState::Running
                    });
                    (id.clone(), ok)
                })
                .collect())
        })
        .await
    }
}

#[async_trait]
impl RemoteCheck for SimCloud {
    async fn bucket_region(&self, _bucket: &str) -> Result<String, CloudError> {
        Ok("us-east-1".into())
    }

    async fn send(
        &self,
        _check: &OverrideCheck,
        _ids: &[String],
        _output: &OutputLocation,
        _timeout: Duration,
    ) -> Result<String, CloudError> {
        Ok("cmd-1".into())
    }

    async fn poll(
        &self,
        _command_id: &str,
        _instance_id: &str,
        _output: &OutputLocation,
    ) -> Result<CheckPoll, CloudError> {
        Ok(CheckPoll::Output("EC2TS_OVERRIDE=ABSENT\n".into()))
    }

    async fn online(&self, ids: &[String]) -> Result<Vec<(String, bool)>, CloudError> {
        Ok(ids.iter().map(|id| (id.clone(), true)).collect())
    }
}

#[async_trait]
impl Notifier for SimCloud {
    async fn publish(&self, _topic: &str, _subject: &str, _message: &str) -> Result<(), CloudError> {
        tokio::time::sleep(latency::PUBLISH.of(0)).await;
        self.lock().published += 1;
        Ok(())
    }
}

#[async_trait]
impl ConfigStore for SimCloud {
    async fn load(&self, workload: &str) -> Result<Option<WorkloadItems>, CloudError> {
        // GetItem + Query.
        tokio::time::sleep(latency::DYNAMODB.of(0) * 2).await;
        let s = self.lock();
        Ok((s.items.workload["SpecName"] == workload).then(|| s.items.clone()))
    }

    async fn save(&self, items: &WorkloadItems) -> Result<(), CloudError> {
        self.lock().items = items.clone();
        Ok(())
    }

    fn location(&self) -> String {
        "WorkloadSpecification (simulated)".into()
    }

    // No WorkloadState table in the simulation: runs go on without it.
    async fn load_state(&self, _workload: &str) -> Result<StateLookup, CloudError> {
        Ok(StateLookup::NoTable("WorkloadState".into()))
    }

    async fn save_state(&self, _workload: &str, _state: &WorkloadState) -> Result<Option<String>, CloudError> {
        Ok(Some("WorkloadState".into()))
    }
}

#[async_trait]
impl Cloud for SimCloud {
    fn config_store(&self, _region: &str) -> Arc<dyn ConfigStore> {
        Arc::new(self.clone())
    }
    fn notifier(&self, _region: &str) -> Arc<dyn Notifier> {
        Arc::new(self.clone())
    }
    async fn workload_ports(&self, _region: &str, _role: Option<&CrossAccount>) -> Result<WorkloadPorts, CloudError> {
        Ok(WorkloadPorts {
            compute: Arc::new(self.clone()),
            remote: Arc::new(self.clone()),
        })
    }
}

/// One Lambda invocation of the driver.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub status: RunStatus,
    pub acted: usize,
    pub failed: usize,
    /// Instances reported failed with RequestLimitExceeded.
    pub failed_throttled: usize,
    /// Of those, the ones given up because the budget ran out while retrying.
    pub failed_throttled_at_deadline: usize,
    pub not_done: usize,
    pub took: Duration,
}

/// The outcome of an action carried through to the end.
#[derive(Debug, Clone)]
pub struct ActionRun {
    pub action: Action,
    pub instances: usize,
    pub invocations: Vec<Invocation>,
    /// From the first invocation's start to the last admitted Stop/Start
    /// call (None when instances remain).
    pub completed_after: Option<Duration>,
    /// From the first invocation's start to the end of the last one.
    pub elapsed: Duration,
    /// Instances not in (or on the way to) the target state at the end.
    pub remaining: usize,
    pub stats: BTreeMap<&'static str, OpStats>,
}

impl ActionRun {
    /// Continuations: invocations after the first.
    pub fn continuations(&self) -> usize {
        self.invocations.len().saturating_sub(1)
    }

    /// RequestLimitExceeded responses over all APIs.
    pub fn throttled(&self) -> u64 {
        self.stats.values().map(|s| s.throttled).sum()
    }

    /// Instances reported to the user as failed with RequestLimitExceeded.
    pub fn surfaced(&self) -> usize {
        self.invocations.iter().map(|i| i.failed_throttled).sum()
    }

    /// Of those, the ones given up because the invocation's budget ran out
    /// while retrying ("time ran out retrying").
    pub fn surfaced_at_deadline(&self) -> usize {
        self.invocations.iter().map(|i| i.failed_throttled_at_deadline).sum()
    }
}

/// The Lambda function's time limit.
pub const LAMBDA_TIMEOUT: Duration = Duration::from_secs(900);

/// Runs `action` the way the Lambda function would, each invocation with a
/// 900 s deadline (less the handler's safety margin), and invokes again with
/// the same event (a continuation) while instances remain, up to
/// `max_invocations`.
pub async fn drive(cloud: &SimCloud, action: Action, max_invocations: usize) -> ActionRun {
    let request = RunRequest::new("Scale", action, "us-east-1");
    let settings = Settings::default();
    cloud.reset_stats();
    let began = Instant::now();
    let mut invocations = Vec::new();
    while invocations.len() < max_invocations && cloud.remaining(action) > 0 {
        let budget = Budget::from_now(LAMBDA_TIMEOUT, safety_margin(LAMBDA_TIMEOUT));
        cloud.set_budget_end(Some(Instant::now() + budget.remaining()));
        let t0 = Instant::now();
        let report = orchestrator::run(cloud, &request, &budget, &settings)
            .await
            .expect("the simulated run is refused");
        let [acted, _, _, failed, not_done] = report.summary.totals();
        let throttled: Vec<_> = report
            .summary
            .tiers
            .iter()
            .flat_map(|t| t.failed.iter())
            .filter(|f| f.code.as_deref() == Some("RequestLimitExceeded"))
            .collect();
        let failed_throttled = throttled.len();
        let failed_throttled_at_deadline = throttled
            .iter()
            .filter(|f| f.reason.contains("time ran out retrying"))
            .count();
        invocations.push(Invocation {
            status: report.summary.status,
            acted,
            failed,
            failed_throttled,
            failed_throttled_at_deadline,
            not_done,
            took: t0.elapsed(),
        });
    }
    let elapsed = began.elapsed();
    let remaining = cloud.remaining(action);
    let stats = cloud.stats();
    let op = match action {
        Action::Stop => "StopInstances",
        Action::Start => "StartInstances",
    };
    let completed_after = (remaining == 0)
        .then(|| stats.get(op).and_then(|s| s.last_ok_at))
        .flatten()
        .map(|t| t.duration_since(began));
    ActionRun {
        action,
        instances: cloud.len(),
        invocations,
        completed_after,
        elapsed,
        remaining,
        stats,
    }
}

/// The shortest time in which the buckets let `instances` instances be acted
/// on in batches of `batch`, starting with full buckets.
pub fn lower_bound(limits: ApiLimits, instances: usize, batch: usize) -> Duration {
    let requests = instances.div_ceil(batch) as f64;
    let by_requests = (requests - limits.requests.burst) / limits.requests.per_sec;
    let by_instances = limits
        .instances
        .map(|b| (instances as f64 - b.burst) / b.per_sec)
        .unwrap_or(0.0);
    Duration::from_secs_f64(by_requests.max(by_instances).max(0.0))
}

/// The limits of the action's API.
pub fn limits_of(action: Action) -> ApiLimits {
    match action {
        Action::Stop => STOP_LIMITS,
        Action::Start => START_LIMITS,
    }
}

/// A current-thread runtime on paused time: simulated hours take moments.
pub fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime")
}

/// True when run by `cargo bench` (which passes `--bench`), false under
/// `cargo test --all-targets`.
pub fn benchmarking() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// Seconds with one decimal.
pub fn secs(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64())
}
