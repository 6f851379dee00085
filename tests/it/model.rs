//! A randomized model test of at-least-once delivery: the handler and the
//! orchestrator against the in-memory cloud and ledger, under random
//! schedules of duplicate deliveries (direct, envelope, continuation),
//! concurrent deliveries, crashes at any await point (the future is
//! dropped), deadlines cut anywhere, throttling, capacity errors,
//! transitional states, and Start/Stop of the same workload racing.
//!
//! After every schedule it checks:
//! 1. no instance receives the same action twice within one run key;
//! 2. at most one invocation acts on the workload at any instant;
//! 3. every instance of a finished run is acted on or reported (skipped,
//!    bypassed, failed, not done) with a reason, acted instances end in the
//!    action's state unless a later run moved them, and the ledger's final
//!    record agrees with the summary the invocation returned;
//! 4. a delivery that was refused (or was a duplicate) made no EC2 mutation;
//! 5. no delay owed after a group is skipped: a run's next group starts at
//!    least its InterTierOrchestrationDelay after the previous group's last
//!    action, across continuations too.
//!
//! Seeded and reproducible: `MODEL_CASES` (default 300) cases from
//! `MODEL_BASE_SEED` (default fixed); a failure prints `MODEL_SEED=<n>`,
//! which reruns that one case. `make soak` runs many more.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use ec2_tier_scheduler::config::CrossAccount;
use ec2_tier_scheduler::error::CloudError;
use ec2_tier_scheduler::event::SchedulerEvent;
use ec2_tier_scheduler::handler::{handle_with, Services};
use ec2_tier_scheduler::instance::{Discovery, Instance, InstanceState};
use ec2_tier_scheduler::ledger::{epoch_now, Continuation, Ledger, LedgerStatus};
use ec2_tier_scheduler::orchestrator::Settings;
use ec2_tier_scheduler::ports::{Cloud, Compute, ConfigStore, Notifier, TypeFacts, WorkloadPorts};
use futures::future::join_all;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::support::fake::FakeCloud;
use crate::support::ledger::{FakeContinuation, FakeLedger};
use crate::support::{tier_item, workload_item};

tokio::task_local! {
    /// The invocation whose calls are being made.
    static INVOCATION: u64;
}

/// SplitMix64: small, seeded, good enough to draw schedules.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// One successful EC2 mutation, attributed to the invocation that made it.
#[derive(Debug, Clone)]
struct Mutation {
    invocation: u64,
    op: &'static str,
    ids: Vec<String>,
    at: Instant,
}

type Log = Arc<Mutex<Vec<Mutation>>>;

/// The fake cloud, with every successful EC2 mutation logged per invocation.
#[derive(Clone)]
struct Tracked {
    inner: FakeCloud,
    log: Log,
}

struct TrackedCompute {
    inner: Arc<dyn Compute>,
    log: Log,
}

impl TrackedCompute {
    fn note(&self, op: &'static str, ids: &[String]) {
        let invocation = INVOCATION.try_with(|i| *i).unwrap_or(u64::MAX);
        self.log.lock().unwrap().push(Mutation {
            invocation,
            op,
            ids: ids.to_vec(),
            at: Instant::now(),
        });
    }
}

#[async_trait]
impl Compute for TrackedCompute {
    async fn discover(&self, query: &Discovery) -> Result<Vec<Instance>, CloudError> {
        self.inner.discover(query).await
    }
    async fn states(&self, ids: &[String]) -> Result<Vec<(String, InstanceState)>, CloudError> {
        self.inner.states(ids).await
    }
    async fn stop(&self, ids: &[String]) -> Result<(), CloudError> {
        self.inner.stop(ids).await?;
        self.note("StopInstances", ids);
        Ok(())
    }
    async fn hibernate(&self, ids: &[String]) -> Result<(), CloudError> {
        self.inner.hibernate(ids).await?;
        self.note("StopInstances", ids);
        Ok(())
    }
    async fn start(&self, ids: &[String]) -> Result<(), CloudError> {
        self.inner.start(ids).await?;
        self.note("StartInstances", ids);
        Ok(())
    }
    async fn set_instance_type(&self, id: &str, instance_type: &str) -> Result<(), CloudError> {
        self.inner.set_instance_type(id, instance_type).await?;
        self.note("ModifyInstanceAttribute", &[id.to_string()]);
        Ok(())
    }
    async fn tag(&self, ids: &[String], tags: &[(String, String)]) -> Result<(), CloudError> {
        self.inner.tag(ids, tags).await
    }
    async fn untag(&self, ids: &[String], keys: &[String]) -> Result<(), CloudError> {
        self.inner.untag(ids, keys).await
    }
    async fn set_ebs_optimized(&self, id: &str, on: bool) -> Result<(), CloudError> {
        self.inner.set_ebs_optimized(id, on).await?;
        self.note("ModifyInstanceAttribute", &[id.to_string()]);
        Ok(())
    }
    async fn type_facts(&self, types: &[String]) -> Result<Vec<TypeFacts>, CloudError> {
        self.inner.type_facts(types).await
    }
    async fn cpu_credits(&self, ids: &[String]) -> Result<Vec<(String, bool)>, CloudError> {
        self.inner.cpu_credits(ids).await
    }
    async fn set_cpu_credits(&self, changes: &[(String, bool)]) -> Result<Vec<(String, String)>, CloudError> {
        let ids: Vec<String> = changes.iter().map(|(id, _)| id.clone()).collect();
        let refused = self.inner.set_cpu_credits(changes).await?;
        self.note("ModifyInstanceCreditSpecification", &ids);
        Ok(refused)
    }
    async fn status_checks_ok(&self, ids: &[String]) -> Result<Vec<(String, bool)>, CloudError> {
        self.inner.status_checks_ok(ids).await
    }
}

#[async_trait]
impl Cloud for Tracked {
    fn config_store(&self, region: &str) -> Arc<dyn ConfigStore> {
        self.inner.config_store(region)
    }
    fn notifier(&self, region: &str) -> Arc<dyn Notifier> {
        self.inner.notifier(region)
    }
    async fn workload_ports(&self, region: &str, role: Option<&CrossAccount>) -> Result<WorkloadPorts, CloudError> {
        let inner = self.inner.workload_ports(region, role).await?;
        Ok(WorkloadPorts {
            compute: Arc::new(TrackedCompute {
                inner: inner.compute,
                log: self.log.clone(),
            }),
            remote: inner.remote,
            calendar: inner.calendar,
            auto_scaling: inner.auto_scaling,
        })
    }
}

/// Polls a future at most `polls` times, then drops it: a crash at that
/// await point (`None`).
struct CrashAfter<F> {
    inner: Pin<Box<F>>,
    polls: u32,
}

impl<F: Future> Future for CrashAfter<F> {
    type Output = Option<F::Output>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.polls == 0 {
            return Poll::Ready(None);
        }
        self.polls -= 1;
        self.inner.as_mut().poll(cx).map(Some)
    }
}

/// What one invocation was and what became of it.
#[derive(Debug, Clone)]
struct Invocation {
    id: u64,
    key: String,
    /// `None`: crashed; `Some(Ok(response))` or `Some(Err(error type))`.
    result: Option<Result<Value, String>>,
}

/// One case: a workload, its faults, a schedule, and the checks.
struct Case {
    rng: Rng,
    cloud: Tracked,
    ledger: FakeLedger,
    continuation: FakeContinuation,
    /// Tier name -> its InterTierOrchestrationDelay (the same for both actions).
    delays: BTreeMap<String, u64>,
    /// Tier name -> (stop sequence, start sequence).
    sequences: BTreeMap<String, (u64, u64)>,
    /// Instance id -> tier.
    tier_of: BTreeMap<String, String>,
    invocations: Mutex<Vec<Invocation>>,
}

const REGION: &str = "us-west-2";

impl Case {
    fn new(seed: u64) -> Self {
        let mut rng = Rng(seed);
        let fake = FakeCloud::new();
        fake.lock().workload_state = None; // the state rule is tested elsewhere
        let mut workload = workload_item("W");
        workload.as_object_mut().unwrap().remove("SNSTopicName");
        let tiers = 1 + rng.below(3) as usize;
        let mut items = Vec::new();
        let mut delays = BTreeMap::new();
        let mut sequences = BTreeMap::new();
        let mut tier_of = BTreeMap::new();
        for t in 0..tiers {
            let name = format!("T{t}");
            let sync = rng.chance(30);
            let delay = *rng.pick(&[0u32, 0, 5, 20, 90]);
            let (stop_seq, start_seq) = (t as u32, (tiers - 1 - t) as u32);
            let mut item = tier_item("W", &name, stop_seq, start_seq, sync, delay);
            item.as_object_mut().unwrap().remove("TierScaling");
            if rng.chance(30) {
                item["TierStop"]["TierReadiness"] = json!("State");
            }
            if rng.chance(30) {
                item["TierStart"]["TierReadiness"] = json!("State");
                item["TierStart"]["TierReadinessOnTimeout"] = json!(*rng.pick(&["Continue", "Abort"]));
                item["TierStart"]["TierReadinessTimeout"] = json!("120");
            }
            items.push(item);
            delays.insert(name.clone(), u64::from(delay));
            sequences.insert(name.clone(), (u64::from(stop_seq), u64::from(start_seq)));
            for n in 0..1 + rng.below(4) {
                let id = format!("i-{t}{n}");
                let state = *rng.pick(&[
                    InstanceState::Running,
                    InstanceState::Running,
                    InstanceState::Stopped,
                    InstanceState::Stopped,
                    InstanceState::Pending,
                    InstanceState::Stopping,
                ]);
                fake.add(&id, "ENV001", &name, state);
                if matches!(state, InstanceState::Pending | InstanceState::Stopping) {
                    let to = if state == InstanceState::Pending {
                        InstanceState::Running
                    } else {
                        InstanceState::Stopped
                    };
                    let settles = Instant::now() + Duration::from_secs(1 + rng.below(40));
                    fake.lock().instances.get_mut(&id).unwrap().settles = Some((settles, to));
                }
                tier_of.insert(id, name.clone());
            }
        }
        fake.put_config(workload, items);
        let ids: Vec<String> = tier_of.keys().cloned().collect();
        for _ in 0..rng.below(3) {
            let op = *rng.pick(&["StopInstances", "StartInstances"]);
            fake.fault(op, None, "RequestLimitExceeded", 1 + rng.below(3) as usize);
        }
        if rng.chance(30) {
            let id = rng.pick(&ids).clone();
            fake.fault(
                "StartInstances",
                Some(&id),
                "InsufficientInstanceCapacity",
                1 + rng.below(3) as usize,
            );
        }
        Self {
            rng,
            cloud: Tracked {
                inner: fake,
                log: Arc::default(),
            },
            ledger: FakeLedger::default(),
            continuation: FakeContinuation::default(),
            delays,
            sequences,
            tier_of,
            invocations: Mutex::new(Vec::new()),
        }
    }

    fn services(&self) -> Services<'_> {
        Services {
            cloud: &self.cloud,
            function_region: Some(REGION),
            ledger: Some(&self.ledger as &dyn Ledger),
            continuation: Some(&self.continuation as &dyn Continuation),
            schedule_origin: Default::default(),
        }
    }

    /// A payload of a random kind for `action`; `n` tells deliveries apart.
    fn payload(&mut self, action: &str, n: u64) -> Value {
        let detail = json!({"workloadIdentifier": "W", "action": action, "dynamoDBRegion": REGION});
        match self.rng.below(3) {
            0 => {
                let mut p = detail;
                p["scheduleArn"] = json!(format!("arn:aws:scheduler:{REGION}:123456789012:schedule/g/W-{action}"));
                p["scheduledTime"] = json!(format!("2026-11-25T0{n}:00:00Z"));
                p
            }
            1 => json!({"version": "0", "id": format!("e-{n}"), "detail-type": "Scheduled Event",
                        "source": "aws.events", "time": "2026-11-25T08:00:00Z",
                        "resources": ["arn:aws:events:us-west-2:123456789012:rule/r"], "detail": detail}),
            _ => {
                let mut p = detail;
                p["runId"] = json!(format!("run-{n}"));
                p
            }
        }
    }

    /// Delivers `payload` once as invocation `id`, maybe crashing it.
    async fn deliver(&self, id: u64, payload: Value, time_left: Duration, crash_polls: Option<u32>) {
        let key = match payload["continueRun"].as_str() {
            Some(k) => k.to_string(),
            None => SchedulerEvent::from_value(&payload).unwrap().idempotency_key().unwrap(),
        };
        let settings = Settings {
            poll_initial: Duration::from_secs(2),
            ..Settings::default()
        };
        let services = self.services();
        let run = INVOCATION.scope(id, async move {
            handle_with(services, &payload, Some(time_left), &settings)
                .await
                .map_err(|e| e.error_type().to_string())
        });
        let result = CrashAfter {
            inner: Box::pin(run),
            polls: crash_polls.unwrap_or(u32::MAX),
        }
        .await;
        self.invocations.lock().unwrap().push(Invocation { id, key, result });
    }

    async fn run(&mut self) {
        let mut next_id = 0u64;
        // Initial deliveries: up to four, of Start and/or Stop, some
        // repeated, some concurrent.
        let count = 1 + self.rng.below(4);
        let mut batch = Vec::new();
        for n in 0..count {
            let action = *self.rng.pick(&["Stop", "Start"]);
            let payload = self.payload(action, n);
            let copies = 1 + self.rng.below(3);
            for _ in 0..copies {
                let offset = Duration::from_secs(self.rng.below(3) * 30);
                let time_left = Duration::from_secs(*self.rng.pick(&[15u64, 40, 90, 300, 900]));
                let crash = self.rng.chance(20).then(|| 1 + self.rng.below(25) as u32);
                batch.push((next_id, payload.clone(), offset, time_left, crash));
                next_id += 1;
            }
        }
        let this = &*self;
        join_all(
            batch
                .into_iter()
                .map(|(id, payload, offset, time_left, crash)| async move {
                    tokio::time::sleep(offset).await;
                    this.deliver(id, payload, time_left, crash).await;
                }),
        )
        .await;

        // Continuations, each at its time, sometimes delivered twice.
        for _ in 0..60 {
            let next = {
                let mut list = self.continuation.scheduled.lock().unwrap();
                if list.is_empty() {
                    break;
                }
                list.remove(0)
            };
            let (_, payload, at) = next;
            tokio::time::sleep(Duration::from_secs(at.saturating_sub(epoch_now()))).await;
            let copies = 1 + u64::from(self.rng.chance(30));
            let concurrent = self.rng.chance(50);
            let mut deliveries = Vec::new();
            for _ in 0..copies {
                let time_left = Duration::from_secs(*self.rng.pick(&[40u64, 90, 300, 900]));
                let crash = self.rng.chance(15).then(|| 1 + self.rng.below(25) as u32);
                deliveries.push((next_id, payload.clone(), time_left, crash));
                next_id += 1;
            }
            let this = &*self;
            if concurrent {
                join_all(
                    deliveries
                        .into_iter()
                        .map(|(id, p, t, c)| async move { this.deliver(id, p, t, c).await }),
                )
                .await;
            } else {
                for (id, p, t, c) in deliveries {
                    this.deliver(id, p, t, c).await;
                }
            }
        }
        // Let every transition settle.
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }

    fn check(&self) {
        let log = self.cloud.log.lock().unwrap().clone();
        let invocations = self.invocations.lock().unwrap().clone();
        if std::env::var("MODEL_TRACE").is_ok() {
            let t0 = log.first().map(|m| m.at).unwrap_or_else(Instant::now);
            for i in &invocations {
                eprintln!(
                    "invocation {} key {} -> {:?}",
                    i.id,
                    i.key,
                    i.result.as_ref().map(|r| r.as_ref().map(|v| v["status"].clone()))
                );
            }
            for m in &log {
                eprintln!(
                    "  +{:?} inv {} {} {:?}",
                    m.at.saturating_duration_since(t0),
                    m.invocation,
                    m.op,
                    m.ids
                );
            }
            for (k, r) in self.ledger.lock().records.iter() {
                eprintln!(
                    "record {k}: {:?} inv {} token {:?}",
                    r.status, r.invocations, r.continuation_token
                );
            }
        }
        let by_id: HashMap<u64, &Invocation> = invocations.iter().map(|i| (i.id, i)).collect();

        // 1. Once per instance and action within one run key.
        let mut seen: HashMap<(String, &str, String), usize> = HashMap::new();
        for m in log.iter().filter(|m| m.op.ends_with("Instances")) {
            let key = by_id[&m.invocation].key.clone();
            for id in &m.ids {
                *seen.entry((key.clone(), m.op, id.clone())).or_default() += 1;
            }
        }
        for ((key, op, id), n) in &seen {
            assert_eq!(*n, 1, "{op} of {id} happened {n} times in run {key}");
        }

        // 2. One invocation acting at a time: in the order the mutations
        // happened (tokio's paused clock can give two the same instant),
        // no invocation's mutations interleave with another's.
        let mut spans: BTreeMap<u64, (usize, usize)> = BTreeMap::new();
        for (seq, m) in log.iter().enumerate() {
            let span = spans.entry(m.invocation).or_insert((seq, seq));
            span.1 = seq;
        }
        let list: Vec<(u64, (usize, usize))> = spans.into_iter().collect();
        for (i, (a, (a0, a1))) in list.iter().enumerate() {
            for (b, (b0, b1)) in &list[i + 1..] {
                assert!(
                    a1 < b0 || b1 < a0,
                    "invocations {a} and {b} acted on the workload at the same time"
                );
            }
        }

        // 4. Refused and duplicate deliveries made no mutation.
        for (id, invocation) in &by_id {
            let refused = match &invocation.result {
                Some(Err(_)) => true,
                Some(Ok(response)) => response["status"] == "duplicate",
                None => false,
            };
            if refused {
                assert!(
                    !log.iter().any(|m| m.invocation == *id),
                    "invocation {id} was refused or a duplicate ({:?}) but acted",
                    invocation.result
                );
            }
        }

        // 3. Finished runs: the ledger agrees with the summary returned,
        // and every planned instance is acted on or reported with a reason.
        let records = self.ledger.lock().records.clone();
        for (key, record) in &records {
            if record.status != LedgerStatus::Finished {
                continue;
            }
            let finishing: Vec<&&Invocation> = by_id
                .values()
                .filter(|i| i.key == *key)
                .filter(
                    |i| matches!(&i.result, Some(Ok(r)) if r["status"] != "duplicate" && r["status"] != "continuing"),
                )
                .collect();
            assert_eq!(finishing.len(), 1, "run {key} finished in exactly one invocation");
            let Some(Ok(response)) = &finishing[0].result else {
                unreachable!()
            };
            let mut response = response.clone();
            for extra in ["runKey", "invocation", "ledgerError"] {
                response.as_object_mut().unwrap().remove(extra);
            }
            assert_eq!(record.summary.as_ref(), Some(&response), "ledger and summary of {key}");
            assert_eq!(record.outcome.as_deref(), response["status"].as_str());
            for tier in response["tiers"].as_array().unwrap() {
                for list in ["skipped", "bypassed", "notDone"] {
                    for noted in tier[list].as_array().unwrap() {
                        assert!(!noted["reason"].as_str().unwrap().is_empty(), "{key}: {noted}");
                    }
                }
                for failure in tier["failed"].as_array().unwrap() {
                    assert!(!failure["reason"].as_str().unwrap().is_empty(), "{key}: {failure}");
                }
            }
        }
        // Acted instances end in the state of the last action they got.
        let mut last: BTreeMap<&str, &str> = BTreeMap::new();
        for m in log.iter().filter(|m| m.op.ends_with("Instances")) {
            for id in &m.ids {
                last.insert(id, m.op);
            }
        }
        for (id, op) in last {
            let want = if op == "StopInstances" {
                InstanceState::Stopped
            } else {
                InstanceState::Running
            };
            assert_eq!(self.cloud.inner.state_of(id), want, "{id} after its last {op}");
        }

        // 5. Delays owed after a group are waited, across invocations.
        let mut per_key: BTreeMap<String, Vec<&Mutation>> = BTreeMap::new();
        for m in log.iter().filter(|m| m.op.ends_with("Instances")) {
            per_key.entry(by_id[&m.invocation].key.clone()).or_default().push(m);
        }
        for (key, mutations) in per_key {
            let stop = mutations[0].op == "StopInstances";
            // group sequence -> (first, last action time, delay after it)
            let mut groups: BTreeMap<u64, (Instant, Instant, u64)> = BTreeMap::new();
            for m in &mutations {
                for id in &m.ids {
                    let tier = &self.tier_of[id];
                    let (stop_seq, start_seq) = self.sequences[tier];
                    let seq = if stop { stop_seq } else { start_seq };
                    let g = groups.entry(seq).or_insert((m.at, m.at, 0));
                    g.0 = g.0.min(m.at);
                    g.1 = g.1.max(m.at);
                    g.2 = g.2.max(self.delays[tier]);
                }
            }
            let groups: Vec<(u64, (Instant, Instant, u64))> = groups.into_iter().collect();
            for pair in groups.windows(2) {
                let (s0, (_, last0, delay)) = pair[0];
                let (s1, (first1, _, _)) = pair[1];
                assert!(
                    first1 >= last0 + Duration::from_secs(delay),
                    "run {key}: group {s1} began {:?} after group {s0}'s last action, owed {delay}s",
                    first1 - last0
                );
            }
        }
    }
}

/// Prints how to reproduce the case when it fails.
struct SeedGuard(u64);

impl Drop for SeedGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("model test failed; reproduce with MODEL_SEED={}", self.0);
        }
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

#[test]
fn random_schedules_keep_one_run_per_key_and_one_run_per_workload() {
    let seeds: Vec<u64> = match env_u64("MODEL_SEED") {
        Some(seed) => vec![seed],
        None => {
            let base = env_u64("MODEL_BASE_SEED").unwrap_or(0x5EED_2026);
            let cases = env_u64("MODEL_CASES").unwrap_or(300);
            (0..cases)
                .map(|n| base.wrapping_add(n.wrapping_mul(0x9E37_79B9)))
                .collect()
        }
    };
    let mut invocations = 0usize;
    let mut crashed = 0usize;
    let mut duplicates = 0usize;
    for seed in &seeds {
        let _guard = SeedGuard(*seed);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut case = Case::new(*seed);
            case.run().await;
            case.check();
            let list = case.invocations.lock().unwrap();
            invocations += list.len();
            crashed += list.iter().filter(|i| i.result.is_none()).count();
            duplicates += list
                .iter()
                .filter(|i| matches!(&i.result, Some(Ok(r)) if r["status"] == "duplicate"))
                .count();
        });
    }
    eprintln!(
        "model test: {} cases, {invocations} invocations ({crashed} crashed, {duplicates} duplicates)",
        seeds.len()
    );
    assert!(
        seeds.len() == 1 || (crashed > 0 && duplicates > 0),
        "the schedules exercise crashes and duplicates"
    );
}
