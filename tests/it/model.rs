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
//!    action, across continuations too;
//! 6. no scheduled run is swallowed: a delivery answered `duplicate` names
//!    a run of its own request, never the run of a delivery that asked for
//!    something else under its key (another region, an unknown workload, a
//!    scaling profile, `overrideState`) and was refused or ran;
//! 7. a continuation carries out the request its run began with: one whose
//!    payload was changed is never refused for the change;
//! 8. no continuation acts before its due time, however early it came;
//! 9. no run acts after a later run of its workload began (a continuation
//!    that comes after the later run took the lock does nothing);
//! 10. no continuation delivered after its hand-over window acts;
//! 11. nothing is restored that the scheduler did not record (forged
//!     capacity and original-type tags are drawn: none is ever applied).
//!
//! Besides the real deliveries the schedules draw forgeries (a real
//! request's key with another workload, region, profile or
//! `overrideState`), continuations delivered early or late (inside or far
//! past their hand-over window, maybe just after a fresh run of the
//! workload), and continuations whose payload changes the region, profile
//! or `overrideState`.
//!
//! Schedules are drawn by `proptest` strategies ([`schedule`]): the
//! workload, its faults and every delivery's choices are one [`Schedule`]
//! value, so a failure is shrunk to a minimal schedule, printed as
//! `minimal failing input: Schedule { .. }` with the invariant it broke.
//! Each case runs in a fresh paused-time tokio runtime.
//!
//! 300 cases by default; `PROPTEST_CASES=<n>` runs another number (`make
//! soak` runs many more). The cases are the same on every run: the seed is
//! fixed unless `PROPTEST_RNG_SEED=<u64>` picks another one, so a failure
//! reproduces with the same command (and the same `PROPTEST_CASES` and
//! `PROPTEST_RNG_SEED`). Nothing is persisted: no `proptest-regressions`
//! files are written. `MODEL_TRACE=1` prints every invocation, mutation and
//! ledger record of every case run (including those tried while shrinking).

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use ec2_tier_scheduler::clock;
use ec2_tier_scheduler::config::CrossAccount;
use ec2_tier_scheduler::error::CloudError;
use ec2_tier_scheduler::event::SchedulerEvent;
use ec2_tier_scheduler::handler::{handle_with, Services};
use ec2_tier_scheduler::instance::{Discovery, Instance, InstanceState, InstanceStatus};
use ec2_tier_scheduler::ledger::{self, Continuation, Ledger, LedgerStatus};
use ec2_tier_scheduler::member::{member_id, Capacity, Member, MemberKind, MemberStatus};
use ec2_tier_scheduler::orchestrator::Settings;
use ec2_tier_scheduler::ports::{
    Cloud, Compute, ConfigStore, InstanceTypes, MemberPorts, MemberService, Notifier, TypeFacts, WorkloadPorts,
};
use ec2_tier_scheduler::run::RunRequest;
use ec2_tier_scheduler::run_service;
use futures::future::join_all;
use proptest::collection::vec;
use proptest::sample::{select, Index};
use proptest::strategy::{Just, Strategy};
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use proptest::{option, prop_assert, prop_assert_eq, prop_oneof};
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::steering::OneRegion;
use crate::support::fake::FakeCloud;
use crate::support::ledger::{FakeContinuation, FakeLedger};
use crate::support::{tier_item, workload_item};

tokio::task_local! {
    /// The invocation whose calls are being made.
    static INVOCATION: u64;
}

/// One schedule: the workload and its faults, the initial deliveries, and
/// how each continuation is delivered. Every random choice of a case is here.
#[derive(Debug, Clone)]
struct Schedule {
    /// Tier `T<n>` stops `n`-th and starts in reverse; its instances are
    /// `i-<n><m>`.
    tiers: Vec<TierPlan>,
    /// RequestLimitExceeded on StopInstances or StartInstances.
    throttles: Vec<Throttle>,
    /// InsufficientInstanceCapacity on one instance's StartInstances.
    capacity: Option<CapacityFault>,
    /// The deliveries the scheduler makes, numbered from 0.
    requests: Vec<Request>,
    /// The `n`-th continuation scheduled (in the order they come due) is
    /// delivered as the `n`-th of these; past the end, once, with 900 s left.
    continuations: Vec<Resumption>,
    /// Record tags a tagger forged before the first delivery.
    forged: Vec<Forged>,
}

/// A record tag nobody but a tagger wrote: the ledger never holds it.
#[derive(Debug, Clone, Copy)]
enum Forged {
    /// `ec2-tier-scheduler:capacity=0,5000,5000` on the group.
    GroupCapacity,
    /// `ec2-tier-scheduler:capacity=5000` on the service.
    ServiceCapacity,
    /// `ec2-tier-scheduler:original-type=x1e.32xlarge` on the first instance.
    OriginalType,
}

/// The type a forged original-type tag names.
const FORGED_TYPE: &str = "x1e.32xlarge";

#[derive(Debug, Clone)]
struct TierPlan {
    /// TierSynchronous.
    sync: bool,
    /// InterTierOrchestrationDelay in seconds, for both actions.
    delay: u32,
    /// TierStop's TierReadiness is `State`.
    stop_readiness_state: bool,
    /// TierStart's TierReadiness is `State` (120 s) with this
    /// TierReadinessOnTimeout.
    start_readiness_state: Option<&'static str>,
    instances: Vec<Initially>,
}

/// An instance's state at the start; a transitional one settles
/// `settles_in` seconds later.
#[derive(Debug, Clone, Copy)]
enum Initially {
    Running,
    Stopped,
    Pending { settles_in: u64 },
    Stopping { settles_in: u64 },
}

#[derive(Debug, Clone)]
struct Throttle {
    op: &'static str,
    times: usize,
}

#[derive(Debug, Clone)]
struct CapacityFault {
    instance: String,
    times: usize,
}

/// How a request is delivered: the EventBridge Scheduler payload, an
/// EventBridge rule's envelope, or a direct invocation with a runId.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Scheduler,
    Envelope,
    RunId,
}

/// A request (Start or Stop of the workload) and its copies.
#[derive(Debug, Clone)]
struct Request {
    action: &'static str,
    kind: Kind,
    /// All copies of all requests are delivered concurrently.
    copies: Vec<InitialDelivery>,
    /// Deliveries of the request's key asking for something else, among
    /// the copies.
    forgeries: Vec<Forgery>,
}

/// What a forged delivery (or a continuation's payload) changes.
#[derive(Debug, Clone, Copy)]
enum Steer {
    /// A workload with no configuration item (refused).
    UnknownWorkload,
    /// Another `dynamoDBRegion`, with no configuration there (refused).
    OtherRegion,
    /// A scaling profile no tier defines.
    Profile,
    /// `overrideState`.
    OverrideState,
}

impl Steer {
    fn apply(self, payload: &mut Value) {
        let detail = if payload.get("detail").is_some() {
            &mut payload["detail"]
        } else {
            payload
        };
        match self {
            Steer::UnknownWorkload => detail["workloadIdentifier"] = json!("Ghost"),
            Steer::OtherRegion => detail["dynamoDBRegion"] = json!("eu-west-1"),
            Steer::Profile => detail["scalingProfile"] = json!("nope"),
            Steer::OverrideState => detail["overrideState"] = json!(true),
        }
    }
}

/// A forged delivery of a request's key, `at` seconds after the start.
#[derive(Debug, Clone)]
struct Forgery {
    at: u64,
    steer: Steer,
}

/// One copy of a request, delivered `at` seconds after the start.
#[derive(Debug, Clone)]
struct InitialDelivery {
    at: u64,
    delivery: Delivery,
}

#[derive(Debug, Clone)]
struct Delivery {
    /// The Lambda deadline, seconds after the delivery.
    time_left: u64,
    /// A crash (the invocation's future is dropped) after this many polls.
    crash_after_polls: Option<u32>,
}

/// One continuation's delivery: once or twice, the copies one after the
/// other or concurrently, maybe `early` seconds before its due time or
/// `late` seconds after it, maybe just after a fresh run of the workload
/// with the other action (`later_run`: the morning's Start before a late
/// Stop), maybe with its payload `changed`.
#[derive(Debug, Clone)]
struct Resumption {
    copies: Vec<Delivery>,
    concurrent: bool,
    early: Option<u64>,
    late: Option<u64>,
    later_run: bool,
    changed: Option<Steer>,
}

/// The kind and resource id of a member id as the reports write it
/// (`rds:db-1`); `None` for an instance id. The test reads the reports'
/// strings; the library never does.
fn reported_member(id: &str) -> Option<(MemberKind, &str)> {
    MemberKind::ALL
        .into_iter()
        .filter(|k| *k != MemberKind::Ec2)
        .find_map(|k| id.strip_prefix(k.prefix()).map(|rest| (k, rest)))
}

/// The ids of the instances `tiers` describes, in order.
fn instance_ids(tiers: &[TierPlan]) -> Vec<String> {
    let mut ids = Vec::new();
    for (t, tier) in tiers.iter().enumerate() {
        for n in 0..tier.instances.len() {
            ids.push(format!("i-{t}{n}"));
        }
    }
    ids
}

fn tier_plan() -> impl Strategy<Value = TierPlan> {
    let initially = prop_oneof![
        2 => Just(Initially::Running),
        2 => Just(Initially::Stopped),
        1 => (1..=40u64).prop_map(|settles_in| Initially::Pending { settles_in }),
        1 => (1..=40u64).prop_map(|settles_in| Initially::Stopping { settles_in }),
    ];
    (
        proptest::bool::weighted(0.3),
        select(vec![0u32, 0, 5, 20, 90]),
        proptest::bool::weighted(0.3),
        option::weighted(0.3, select(vec!["Continue", "Abort"])),
        vec(initially, 1..=4),
    )
        .prop_map(
            |(sync, delay, stop_readiness_state, start_readiness_state, instances)| TierPlan {
                sync,
                delay,
                stop_readiness_state,
                start_readiness_state,
                instances,
            },
        )
}

/// A delivery with one of `time_left` (the first is where shrinking goes)
/// that crashes with probability `crash`.
fn delivery(time_left: Vec<u64>, crash: f64) -> impl Strategy<Value = Delivery> {
    (select(time_left), option::weighted(crash, 1..=25u32)).prop_map(|(time_left, crash_after_polls)| Delivery {
        time_left,
        crash_after_polls,
    })
}

fn steer() -> impl Strategy<Value = Steer> {
    select(vec![
        Steer::UnknownWorkload,
        Steer::OtherRegion,
        Steer::Profile,
        Steer::OverrideState,
    ])
}

fn request() -> impl Strategy<Value = Request> {
    let copy = (select(vec![0u64, 30, 60]), delivery(vec![900, 300, 90, 40, 15], 0.2))
        .prop_map(|(at, delivery)| InitialDelivery { at, delivery });
    // Forgeries come first or together with the real copies.
    let forgery = (select(vec![0u64, 0, 30]), steer()).prop_map(|(at, steer)| Forgery { at, steer });
    (
        select(vec!["Stop", "Start"]),
        select(vec![Kind::Scheduler, Kind::Envelope, Kind::RunId]),
        vec(copy, 1..=3),
        vec(forgery, 0..=2),
    )
        .prop_map(|(action, kind, copies, forgeries)| Request {
            action,
            kind,
            copies,
            forgeries,
        })
}

fn resumption() -> impl Strategy<Value = Resumption> {
    let copy = || delivery(vec![900, 300, 90, 40], 0.15);
    (
        copy(),
        option::weighted(0.3, copy()),
        proptest::bool::ANY,
        option::weighted(0.2, select(vec![30u64, 120, 600])),
        // Inside the hand-over window (600 s), or well past it.
        option::weighted(0.3, select(vec![600u64, 1200, 3600, 30000])),
        proptest::bool::weighted(0.3),
        // What the run does, not which run it is (the workload and action
        // name the run: a continuation changing them names none).
        option::weighted(
            0.15,
            select(vec![Steer::OtherRegion, Steer::Profile, Steer::OverrideState]),
        ),
    )
        .prop_map(
            |(first, second, concurrent, early, late, later_run, changed)| Resumption {
                copies: std::iter::once(first).chain(second).collect(),
                concurrent,
                early,
                late,
                later_run,
                changed,
            },
        )
}

/// Up to three tiers of one to four instances, up to two throttling faults,
/// sometimes a capacity fault, one to four requests of one to three copies,
/// and how continuations are delivered.
fn schedule() -> impl Strategy<Value = Schedule> {
    (
        vec(tier_plan(), 1..=3),
        vec((select(vec!["StopInstances", "StartInstances"]), 1..=3usize), 0..=2),
        option::weighted(0.3, (proptest::arbitrary::any::<Index>(), 1..=3usize)),
        vec(request(), 1..=4),
        vec(resumption(), 0..=CONTINUATIONS_DRAWN),
        vec(
            select(vec![
                Forged::GroupCapacity,
                Forged::ServiceCapacity,
                Forged::OriginalType,
            ]),
            0..=2,
        ),
    )
        .prop_map(|(tiers, throttles, capacity, requests, continuations, forged)| {
            let ids = instance_ids(&tiers);
            Schedule {
                throttles: throttles
                    .into_iter()
                    .map(|(op, times)| Throttle { op, times })
                    .collect(),
                capacity: capacity.map(|(index, times)| CapacityFault {
                    instance: index.get(&ids).clone(),
                    times,
                }),
                tiers,
                requests,
                continuations,
                forged,
            }
        })
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
    /// Every capacity a run set, by member.
    restored: Arc<Mutex<Vec<(String, Capacity)>>>,
    /// Every type a run set, by instance.
    types: Arc<Mutex<Vec<(String, String)>>>,
}

struct TrackedCompute {
    inner: Arc<dyn Compute>,
    log: Log,
}

impl TrackedCompute {
    fn note(&self, op: &'static str, ids: &[String]) {
        note(&self.log, op, ids);
    }
}

/// Instance type, EBS optimisation and CPU credit changes, logged as
/// `ModifyInstanceAttribute` / `ModifyInstanceCreditSpecification`.
struct TrackedTypes {
    inner: Arc<dyn InstanceTypes>,
    log: Log,
    types: Arc<Mutex<Vec<(String, String)>>>,
}

impl TrackedTypes {
    fn note(&self, op: &'static str, ids: &[String]) {
        note(&self.log, op, ids);
    }
}

/// A member service, its stops and starts logged like instances' (as
/// StopInstances / StartInstances of `rds:<id>`, `asg:<name>`, ...), so
/// every invariant covers them.
struct TrackedMembers {
    inner: Arc<dyn MemberService>,
    log: Log,
    /// Every capacity set, by member.
    restored: Arc<Mutex<Vec<(String, Capacity)>>>,
}

#[async_trait]
impl MemberService for TrackedMembers {
    async fn discover(&self, query: &Discovery, kinds: &[MemberKind]) -> Result<Vec<Member>, CloudError> {
        self.inner.discover(query, kinds).await
    }
    async fn stop(&self, kind: MemberKind, id: &str) -> Result<(), CloudError> {
        self.inner.stop(kind, id).await?;
        note(&self.log, "StopInstances", &[member_id(kind, id)]);
        Ok(())
    }
    async fn start(&self, kind: MemberKind, id: &str) -> Result<(), CloudError> {
        self.inner.start(kind, id).await?;
        note(&self.log, "StartInstances", &[member_id(kind, id)]);
        Ok(())
    }
    async fn statuses(&self, kind: MemberKind, ids: &[String]) -> Result<Vec<MemberStatus>, CloudError> {
        self.inner.statuses(kind, ids).await
    }
    async fn capacity(&self, kind: MemberKind, id: &str) -> Result<Capacity, CloudError> {
        self.inner.capacity(kind, id).await
    }
    /// Logged as a stop (to 0) or a start, with the capacity set.
    async fn set_capacity(&self, kind: MemberKind, id: &str, to: Capacity) -> Result<(), CloudError> {
        self.inner.set_capacity(kind, id, to).await?;
        let op = if to.desired == 0 {
            "StopInstances"
        } else {
            "StartInstances"
        };
        note(&self.log, op, &[member_id(kind, id)]);
        self.restored.lock().unwrap().push((member_id(kind, id), to));
        Ok(())
    }
}

fn note(log: &Log, op: &'static str, ids: &[String]) {
    let invocation = INVOCATION.try_with(|i| *i).unwrap_or(u64::MAX);
    log.lock().unwrap().push(Mutation {
        invocation,
        op,
        ids: ids.to_vec(),
        at: Instant::now(),
    });
}

#[async_trait]
impl Compute for TrackedCompute {
    async fn discover(&self, query: &Discovery) -> Result<Vec<Instance>, CloudError> {
        self.inner.discover(query).await
    }
    async fn states(&self, ids: &[String]) -> Result<Vec<InstanceStatus>, CloudError> {
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
}

#[async_trait]
impl InstanceTypes for TrackedTypes {
    async fn set_instance_type(&self, id: &str, instance_type: &str) -> Result<(), CloudError> {
        self.inner.set_instance_type(id, instance_type).await?;
        self.note("ModifyInstanceAttribute", &[id.to_string()]);
        self.types
            .lock()
            .unwrap()
            .push((id.to_string(), instance_type.to_string()));
        Ok(())
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
}

#[async_trait]
impl Cloud for Tracked {
    fn config_store(&self, region: &str) -> Arc<dyn ConfigStore> {
        // The tables are in REGION; elsewhere they hold no workload.
        OneRegion::new(self.inner.clone()).config_store(region)
    }
    fn records(&self) -> Option<Arc<dyn ec2_tier_scheduler::ports::Records>> {
        self.inner.records()
    }
    fn notifier(&self, region: &str) -> Arc<dyn Notifier> {
        self.inner.notifier(region)
    }
    fn event_bus(&self, region: &str) -> Option<Arc<dyn ec2_tier_scheduler::ports::EventBus>> {
        self.inner.event_bus(region)
    }
    async fn workload_ports(&self, region: &str, role: Option<&CrossAccount>) -> Result<WorkloadPorts, CloudError> {
        let inner = self.inner.workload_ports(region, role).await?;
        Ok(WorkloadPorts {
            compute: Arc::new(TrackedCompute {
                inner: inner.compute,
                log: self.log.clone(),
            }),
            instance_types: Arc::new(TrackedTypes {
                inner: inner.instance_types,
                log: self.log.clone(),
                types: self.types.clone(),
            }),
            instance_tags: inner.instance_tags,
            status_checks: inner.status_checks,
            remote: inner.remote,
            calendar: inner.calendar,
            auto_scaling: inner.auto_scaling,
            keys: inner.keys,
            load_balancers: inner.load_balancers,
            alarms: inner.alarms,
            price_facts: inner.price_facts,
            members: MemberPorts::all(Arc::new(TrackedMembers {
                inner: inner.members.databases,
                log: self.log.clone(),
                restored: self.restored.clone(),
            })),
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
    /// What the delivery asked for (workload, action, region, profile,
    /// overrideState); `None` for a continuation.
    asked: Option<(String, String, String, Option<String>, bool)>,
    /// A continuation's due time, seconds since the epoch.
    due: Option<u64>,
    /// When it was delivered: the run service's clock, and tokio's.
    delivered: (u64, Instant),
    /// `None`: crashed; `Some(Ok(response))` or `Some(Err(error type))`.
    result: Option<Result<Value, String>>,
}

/// One case: the workload and faults of a schedule, what its deliveries
/// did, and the checks.
struct Case {
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
    /// The due time of the schedules' deliveries (seconds since the epoch).
    due: u64,
}

const REGION: &str = "us-west-2";

/// Continuation deliveries drawn per schedule; later ones are plain.
const CONTINUATIONS_DRAWN: usize = 8;

impl Case {
    fn new(schedule: &Schedule) -> Self {
        let fake = FakeCloud::new();
        fake.lock().workload_state = None; // the state rule is tested elsewhere
        let mut workload = workload_item("W");
        workload.as_object_mut().unwrap().remove("SNSTopicName");
        let tiers = schedule.tiers.len();
        let mut items = Vec::new();
        let mut delays = BTreeMap::new();
        let mut sequences = BTreeMap::new();
        let mut tier_of = BTreeMap::new();
        for (t, plan) in schedule.tiers.iter().enumerate() {
            let name = format!("T{t}");
            let (stop_seq, start_seq) = (t as u32, (tiers - 1 - t) as u32);
            let mut item = tier_item("W", &name, stop_seq, start_seq, plan.sync, plan.delay);
            item.as_object_mut().unwrap().remove("TierScaling");
            if plan.stop_readiness_state {
                item["TierStop"]["TierReadiness"] = json!("State");
            }
            if let Some(on_timeout) = plan.start_readiness_state {
                item["TierStart"]["TierReadiness"] = json!("State");
                item["TierStart"]["TierReadinessOnTimeout"] = json!(on_timeout);
                item["TierStart"]["TierReadinessTimeout"] = json!("120");
            }
            if t == 0 {
                // The first tier also holds an RDS database, an Aurora
                // cluster, an ECS service and an Auto Scaling group scaled
                // to zero, up when
                // its first instance is: members of every kind meet the
                // invariants.
                item["TierResourceTypes"] = json!("EC2,RDS,Aurora,ECS");
                item["TierStop"]["TierAutoScalingGroups"] = json!("ScaleToZero");
                let up = matches!(
                    plan.instances.first(),
                    Some(Initially::Running | Initially::Pending { .. })
                );
                let status = if up { "available" } else { "stopped" };
                fake.add_database(MemberKind::Rds, "db-T0", "ENV001", &name, status);
                fake.add_database(MemberKind::Aurora, "ledger-T0", "ENV001", &name, status);
                tier_of.insert(member_id(MemberKind::Aurora, "ledger-T0"), name.clone());
                let group = Capacity {
                    min: 1,
                    desired: 2,
                    max: 4,
                };
                let service = Capacity {
                    min: 0,
                    desired: 3,
                    max: 0,
                };
                for (kind, id, capacity) in [
                    (MemberKind::Asg, "asg-T0", group),
                    (MemberKind::Ecs, "c/svc-T0", service),
                ] {
                    fake.add_capacity(kind, id, "ENV001", &name, capacity);
                    if !up {
                        fake.scaled_to_zero(kind, id);
                    }
                    tier_of.insert(member_id(kind, id), name.clone());
                }
                tier_of.insert(member_id(MemberKind::Rds, "db-T0"), name.clone());
            }
            items.push(item);
            delays.insert(name.clone(), u64::from(plan.delay));
            sequences.insert(name.clone(), (u64::from(stop_seq), u64::from(start_seq)));
            for (n, initially) in plan.instances.iter().enumerate() {
                let id = format!("i-{t}{n}");
                let (state, settles) = match *initially {
                    Initially::Running => (InstanceState::Running, None),
                    Initially::Stopped => (InstanceState::Stopped, None),
                    Initially::Pending { settles_in } => {
                        (InstanceState::Pending, Some((settles_in, InstanceState::Running)))
                    }
                    Initially::Stopping { settles_in } => {
                        (InstanceState::Stopping, Some((settles_in, InstanceState::Stopped)))
                    }
                };
                fake.add(&id, "ENV001", &name, state);
                if let Some((settles_in, to)) = settles {
                    let settles = Instant::now() + Duration::from_secs(settles_in);
                    fake.lock().instances.get_mut(&id).unwrap().settles = Some((settles, to));
                }
                tier_of.insert(id, name.clone());
            }
        }
        fake.put_config(workload, items);
        for forged in &schedule.forged {
            match forged {
                Forged::GroupCapacity => fake.tag_capacity(MemberKind::Asg, "asg-T0", "0,5000,5000"),
                Forged::ServiceCapacity => fake.tag_capacity(MemberKind::Ecs, "c/svc-T0", "5000"),
                Forged::OriginalType => {
                    fake.lock()
                        .instances
                        .get_mut("i-00")
                        .unwrap()
                        .tags
                        .insert("ec2-tier-scheduler:original-type".into(), FORGED_TYPE.into());
                }
            }
        }
        for throttle in &schedule.throttles {
            fake.fault(throttle.op, None, "RequestLimitExceeded", throttle.times);
        }
        if let Some(capacity) = &schedule.capacity {
            fake.fault(
                "StartInstances",
                Some(&capacity.instance),
                "InsufficientInstanceCapacity",
                capacity.times,
            );
        }
        Self {
            cloud: Tracked {
                inner: fake,
                log: Arc::default(),
                restored: Arc::default(),
                types: Arc::default(),
            },
            ledger: FakeLedger::default(),
            continuation: FakeContinuation::default(),
            delays,
            sequences,
            tier_of,
            invocations: Mutex::new(Vec::new()),
            due: run_service::now(),
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

    /// A payload of `kind` for `action`; `n` tells requests apart.
    fn payload(&self, kind: Kind, action: &str, n: usize) -> Value {
        let detail = json!({"workloadIdentifier": "W", "action": action, "dynamoDBRegion": REGION});
        match kind {
            Kind::Scheduler => {
                let mut p = detail;
                p["scheduleArn"] = json!(format!("arn:aws:scheduler:{REGION}:123456789012:schedule/g/W-{action}"));
                let due = self.due - 60 * n as u64;
                p["scheduledTime"] = json!(format!("{}Z", clock::utc_timestamp(due)));
                p
            }
            Kind::Envelope => json!({"version": "0", "id": format!("e-{n}"), "detail-type": "Scheduled Event",
                        "source": "aws.events", "time": "2026-11-25T08:00:00Z",
                        "resources": ["arn:aws:events:us-west-2:123456789012:rule/r"], "detail": detail}),
            Kind::RunId => {
                let mut p = detail;
                p["runId"] = json!(format!("run-{n}"));
                p
            }
        }
    }

    /// Delivers `payload` once as invocation `id`, maybe crashing it; `due`
    /// is a continuation's due time.
    async fn deliver(&self, id: u64, payload: Value, time_left: Duration, crash_polls: Option<u32>, due: Option<u64>) {
        let (key, asked) = match payload["continueRun"].as_str() {
            Some(k) => (k.to_string(), None),
            None => {
                let event = SchedulerEvent::from_value(&payload).unwrap();
                let mut request = RunRequest::new(
                    &event.workload_identifier,
                    event.action,
                    event.dynamodb_region.as_deref().unwrap_or(REGION),
                );
                request.scaling_profile = event.scaling_profile.clone();
                request.override_state = event.override_state;
                request.notify_region = Some(REGION.to_string());
                let key = ledger::run_key(&event.idempotency_key().unwrap(), &request);
                let asked = (
                    request.workload,
                    request.action.to_string(),
                    request.dynamodb_region,
                    request.scaling_profile,
                    request.override_state,
                );
                (key, Some(asked))
            }
        };
        let delivered = (run_service::now(), Instant::now());
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
        self.invocations.lock().unwrap().push(Invocation {
            id,
            key,
            asked,
            due,
            delivered,
            result,
        });
    }

    async fn run(&self, schedule: &Schedule) {
        let mut next_id = 0u64;
        // Initial deliveries: up to four, of Start and/or Stop, some
        // repeated, some concurrent.
        let mut batch = Vec::new();
        for (n, request) in schedule.requests.iter().enumerate() {
            let payload = self.payload(request.kind, request.action, n);
            for forgery in &request.forgeries {
                let mut forged = payload.clone();
                forgery.steer.apply(&mut forged);
                let offset = Duration::from_secs(forgery.at);
                batch.push((next_id, forged, offset, Duration::from_secs(900), None));
                next_id += 1;
            }
            for copy in &request.copies {
                let offset = Duration::from_secs(copy.at);
                let time_left = Duration::from_secs(copy.delivery.time_left);
                batch.push((
                    next_id,
                    payload.clone(),
                    offset,
                    time_left,
                    copy.delivery.crash_after_polls,
                ));
                next_id += 1;
            }
        }
        let this = self;
        join_all(
            batch
                .into_iter()
                .map(|(id, payload, offset, time_left, crash)| async move {
                    tokio::time::sleep(offset).await;
                    this.deliver(id, payload, time_left, crash, None).await;
                }),
        )
        .await;

        // Continuations, each at its time, sometimes delivered twice.
        let plain = Resumption {
            copies: vec![Delivery {
                time_left: 900,
                crash_after_polls: None,
            }],
            concurrent: false,
            early: None,
            late: None,
            later_run: false,
            changed: None,
        };
        for n in 0..60 {
            let next = {
                let mut list = self.continuation.scheduled.lock().unwrap();
                // The re-checks of databases (ec2ts-rc-*, a week after a
                // Stop) are outside the schedules modelled here
                // (tests/it/restarts.rs tests them).
                list.retain(|(name, _, _)| !name.starts_with("ec2ts-rc-"));
                if list.is_empty() {
                    break;
                }
                list.remove(0)
            };
            let (_, mut payload, at) = next;
            let resumption = schedule.continuations.get(n).unwrap_or(&plain);
            let when = at.saturating_sub(resumption.early.unwrap_or(0)) + resumption.late.unwrap_or(0);
            tokio::time::sleep(Duration::from_secs(when.saturating_sub(run_service::now()))).await;
            if resumption.later_run {
                // A fresh run of the workload, the other action, just
                // before the continuation.
                let other = if payload["action"] == "Stop" { "Start" } else { "Stop" };
                let payload = self.payload(Kind::RunId, other, 100 + n);
                self.deliver(next_id, payload, Duration::from_secs(900), None, None)
                    .await;
                next_id += 1;
            }
            if let Some(steer) = resumption.changed {
                steer.apply(&mut payload);
            }
            let mut deliveries = Vec::new();
            for copy in &resumption.copies {
                let time_left = Duration::from_secs(copy.time_left);
                deliveries.push((next_id, payload.clone(), time_left, copy.crash_after_polls));
                next_id += 1;
            }
            let this = self;
            if resumption.concurrent {
                join_all(
                    deliveries
                        .into_iter()
                        .map(|(id, p, t, c)| async move { this.deliver(id, p, t, c, Some(at)).await }),
                )
                .await;
            } else {
                for (id, p, t, c) in deliveries {
                    this.deliver(id, p, t, c, Some(at)).await;
                }
            }
        }
        // Let every transition settle.
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }

    /// The eleven invariants; the first one broken fails the case.
    fn check(&self) -> Result<(), TestCaseError> {
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
            prop_assert_eq!(*n, 1, "{} of {} happened {} times in run {}", op, id, n, key);
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
                prop_assert!(
                    a1 < b0 || b1 < a0,
                    "invocations {} and {} acted on the workload at the same time",
                    a,
                    b
                );
            }
        }

        // 4. Refused and duplicate deliveries made no mutation.
        for (id, invocation) in &by_id {
            let refused = match &invocation.result {
                Some(Err(_)) => true,
                Some(Ok(response)) => ["duplicate", "rescheduled", "interrupted"]
                    .contains(&response["status"].as_str().unwrap_or_default()),
                None => false,
            };
            if refused {
                prop_assert!(
                    !log.iter().any(|m| m.invocation == *id),
                    "invocation {} was refused or a duplicate ({:?}) but acted",
                    id,
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
                    |i| matches!(&i.result, Some(Ok(r)) if !["duplicate", "continuing", "rescheduled", "interrupted"].contains(&r["status"].as_str().unwrap_or_default())),
                )
                .collect();
            prop_assert_eq!(finishing.len(), 1, "run {} finished in exactly one invocation", key);
            let Some(Ok(response)) = &finishing[0].result else {
                unreachable!()
            };
            let mut response = response.clone();
            for extra in ["runKey", "invocation", "ledgerError"] {
                response.as_object_mut().unwrap().remove(extra);
            }
            prop_assert_eq!(
                record.summary.as_ref(),
                Some(&response),
                "ledger and summary of {}",
                key
            );
            prop_assert_eq!(record.outcome.as_deref(), response["status"].as_str());
            for tier in response["tiers"].as_array().unwrap() {
                for list in ["skipped", "bypassed", "notDone"] {
                    for noted in tier[list].as_array().unwrap() {
                        prop_assert!(!noted["reason"].as_str().unwrap().is_empty(), "{}: {}", key, noted);
                    }
                }
                for failure in tier["failed"].as_array().unwrap() {
                    prop_assert!(!failure["reason"].as_str().unwrap().is_empty(), "{}: {}", key, failure);
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
            let stop = op == "StopInstances";
            if let Some((kind, member)) = reported_member(id) {
                if kind.is_capacity() {
                    let (capacity, _, record) = self.cloud.inner.capacity(kind, member);
                    prop_assert_eq!(capacity.desired == 0, stop, "{} after its last {}", id, op);
                    prop_assert_eq!(record.is_some(), stop, "{}: the record after its last {}", id, op);
                    continue;
                }
                let want = if stop { "stopped" } else { "available" };
                let now = self.cloud.inner.database_status(kind, member);
                prop_assert_eq!(now.as_str(), want, "{} after its last {}", id, op);
                continue;
            }
            let want = if stop {
                InstanceState::Stopped
            } else {
                InstanceState::Running
            };
            prop_assert_eq!(self.cloud.inner.state_of(id), want, "{} after its last {}", id, op);
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
                prop_assert!(
                    first1 >= last0 + Duration::from_secs(delay),
                    "run {}: group {} began {:?} after group {}'s last action, owed {}s",
                    key,
                    s1,
                    first1 - last0,
                    s0,
                    delay
                );
            }
        }
        self.check_deliveries(&invocations, &records, &log)?;
        self.check_later_runs(&invocations, &records, &log)?;
        self.check_restored()
    }

    /// Invariant 11: nothing is restored that the scheduler did not record:
    /// every capacity a run set is zero or the member's own (what its Stop
    /// recorded), and no type is set that only a forged tag names.
    fn check_restored(&self) -> Result<(), TestCaseError> {
        let own = |member: &str| match member {
            "asg:asg-T0" => Capacity {
                min: 1,
                desired: 2,
                max: 4,
            },
            _ => Capacity {
                min: 0,
                desired: 3,
                max: 0,
            },
        };
        for (member, to) in self.cloud.restored.lock().unwrap().iter() {
            prop_assert!(
                to.desired == 0 || *to == own(member),
                "{} was set to {}, which the scheduler never recorded",
                member,
                to
            );
        }
        for (id, to) in self.cloud.types.lock().unwrap().iter() {
            prop_assert!(
                to != FORGED_TYPE,
                "{} was changed to {}, which only a forged tag names",
                id,
                to
            );
        }
        Ok(())
    }

    /// Invariants 9 and 10: a run never acts after a later run of its
    /// workload began, and a continuation delivered after its hand-over
    /// window never acts.
    fn check_later_runs(
        &self,
        invocations: &[Invocation],
        records: &HashMap<String, ledger::RunRecord>,
        log: &[Mutation],
    ) -> Result<(), TestCaseError> {
        let by_id: HashMap<u64, &Invocation> = invocations.iter().map(|i| (i.id, i)).collect();
        // A mutation's time on the run service's clock (seconds).
        let at = |m: &Mutation| {
            let i = by_id[&m.invocation];
            i.delivered.0 + m.at.saturating_duration_since(i.delivered.1).as_secs()
        };
        for m in log {
            let i = by_id[&m.invocation];
            let Some(run) = records.get(&i.key) else { continue };
            // 9. Later runs began strictly after this one (a run that began
            // in the same second is left out: the clock cannot order them;
            // and both times are whole seconds of the run service's clock,
            // each floored, so a second of slack).
            for later in records.values() {
                if later.key != run.key && later.workload == run.workload && later.started_at > run.started_at {
                    prop_assert!(
                        at(m) <= later.started_at + 1,
                        "run {} acted ({} of {:?}) at {}, after run {} of its workload began at {}",
                        i.key,
                        m.op,
                        m.ids,
                        at(m),
                        later.key,
                        later.started_at
                    );
                }
            }
            // 10. Nothing from a continuation delivered after its window.
            if let Some(due) = i.due {
                prop_assert!(
                    i.delivered.0 <= due + ledger::HANDOVER_WINDOW_SECS,
                    "continuation invocation {} of {} was delivered {} s after its due time and acted ({} of {:?})",
                    i.id,
                    i.key,
                    i.delivered.0 - due,
                    m.op,
                    m.ids
                );
            }
        }
        Ok(())
    }

    /// Invariants 6 to 8: what deliveries steering a run got.
    fn check_deliveries(
        &self,
        invocations: &[Invocation],
        records: &HashMap<String, ledger::RunRecord>,
        log: &[Mutation],
    ) -> Result<(), TestCaseError> {
        // 6. A duplicate answer names a run of the delivery's own request.
        for i in invocations {
            let (Some(asked), Some(Ok(response))) = (&i.asked, &i.result) else {
                continue;
            };
            if response["status"] != "duplicate" {
                continue;
            }
            let key = response["runKey"].as_str().unwrap_or_default();
            let record = records.get(key);
            let run = record.map(|r| {
                (
                    r.workload.clone(),
                    r.action.to_string(),
                    r.dynamodb_region.clone(),
                    r.scaling_profile.clone(),
                    r.override_state,
                )
            });
            prop_assert_eq!(
                run.as_ref(),
                Some(asked),
                "invocation {} was answered duplicate of run {} ({:?}), which another request made: swallowed",
                i.id,
                key,
                record.map(|r| r.status)
            );
        }
        for i in invocations.iter().filter(|i| i.asked.is_none()) {
            // 7. A continuation is never refused for what its payload says.
            if let Some(Err(kind)) = &i.result {
                prop_assert!(
                    !["InvalidEvent", "WorkloadNotFound", "InvalidConfiguration"].contains(&kind.as_str()),
                    "continuation invocation {} of {} was refused ({})",
                    i.id,
                    i.key,
                    kind
                );
            }
            // 8. Nothing before the due time.
            let due = i.due.unwrap_or(0);
            for m in log.iter().filter(|m| m.invocation == i.id) {
                let at = i.delivered.0 + m.at.saturating_duration_since(i.delivered.1).as_secs();
                prop_assert!(
                    at + 1 >= due,
                    "continuation invocation {} of {} acted at {}, {} s before its due time",
                    i.id,
                    i.key,
                    at,
                    due - at
                );
            }
        }
        Ok(())
    }
}

/// Runs `PROPTEST_CASES` (default 300) schedules; see the module doc.
#[test]
fn random_schedules_keep_one_run_per_key_and_one_run_per_workload() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(300);
    let mut config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(0x5EED_2026);
    }
    let invocations = Cell::new(0usize);
    let crashed = Cell::new(0usize);
    let duplicates = Cell::new(0usize);
    let interrupted = Cell::new(0usize);
    let mut runner = TestRunner::new(config);
    let outcome = runner.run(&schedule(), |schedule| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async {
            let case = Case::new(&schedule);
            case.run(&schedule).await;
            case.check()?;
            let list = case.invocations.lock().unwrap();
            invocations.set(invocations.get() + list.len());
            crashed.set(crashed.get() + list.iter().filter(|i| i.result.is_none()).count());
            duplicates.set(
                duplicates.get()
                    + list
                        .iter()
                        .filter(|i| matches!(&i.result, Some(Ok(r)) if r["status"] == "duplicate"))
                        .count(),
            );
            interrupted.set(
                interrupted.get()
                    + list
                        .iter()
                        .filter(|i| matches!(&i.result, Some(Ok(r)) if r["status"] == "interrupted"))
                        .count(),
            );
            Ok(())
        })
    });
    if let Err(failure) = outcome {
        panic!("{failure}\n{runner}");
    }
    let (invocations, crashed, duplicates) = (invocations.get(), crashed.get(), duplicates.get());
    let interrupted = interrupted.get();
    eprintln!(
        "model test: {cases} cases, {invocations} invocations ({crashed} crashed, {duplicates} duplicates, \
         {interrupted} late continuations refused)"
    );
    assert!(
        cases < 100 || (crashed > 0 && duplicates > 0 && interrupted > 0),
        "the schedules exercise crashes, duplicates and late continuations"
    );
}
