//! API calls per run: every AWS call counted by service and operation (the
//! SDK interceptor `ApiCounter`) for a workload of 3 tiers x 100 instances
//! with override checks on one tier, a Web tier that also scales an Auto
//! Scaling group to zero and drains its target group before it stops, two
//! alarms kept quiet while the workload is stopped, an App tier that also holds an ECS service, and a
//! DB tier that also holds two RDS DB instances and an Aurora cluster,
//! stopped then started, against moto (what a Start restores recorded in
//! the run ledger table)
//! with the simulated SSM agent. Prints markdown for BENCHMARKS.md: each count
//! next to the formula it should follow.
//!
//! `cargo bench --bench api_calls` (skipped under `cargo test`).

#[path = "../tests/support/moto.rs"]
mod moto;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::aws::{ApiCounter, AwsCloud, Tables};
use ec2_tier_scheduler::config::CrossAccount;
use ec2_tier_scheduler::error::CloudError;
use ec2_tier_scheduler::instance::{Discovery, Instance, InstanceState, InstanceStatus};
use ec2_tier_scheduler::orchestrator::{self, Budget, Settings, EC2_BATCH, SSM_BATCH, STATUS_BATCH};
use ec2_tier_scheduler::override_check::OverrideCheck;
use ec2_tier_scheduler::ports::{
    CheckPoll, Cloud, Compute, ConfigStore, Notifier, OutputLocation, RemoteCheck, StatusChecks, WorkloadPorts,
};
use ec2_tier_scheduler::records::RECORDS_PER_WRITE;
use ec2_tier_scheduler::run::{RunReport, RunRequest};
use moto::{Stack, LEDGER_TABLE};
use serde_json::{json, Value};

const PER_TIER: usize = 100;
const TIERS: [&str; 3] = ["Role_Web", "Role_App", "Role_DB"];

/// How many times each id was polled: round r polls the ids seen >= r times.
#[derive(Default, Clone)]
struct Rounds(Arc<Mutex<HashMap<String, u32>>>);

impl Rounds {
    fn record(&self, ids: impl IntoIterator<Item = String>) {
        let mut m = self.0.lock().unwrap();
        for id in ids {
            *m.entry(id).or_insert(0) += 1;
        }
    }

    /// Ids polled in each round, first round first.
    fn per_round(&self) -> Vec<usize> {
        let m = self.0.lock().unwrap();
        let max = m.values().copied().max().unwrap_or(0);
        (1..=max).map(|r| m.values().filter(|c| **c >= r).count()).collect()
    }

    fn reset(&self) {
        self.0.lock().unwrap().clear();
    }
}

/// The state reads of a run: the number of ids of each read, split into
/// the starts' confirmation polls and re-reads of instances already seen
/// running since their start (a Start's registrations put back read the
/// states of the instances recorded; confirmation drops an id once
/// running, so it never reads one again).
#[derive(Default)]
struct StateReads {
    confirmation: Vec<usize>,
    running_again: Vec<usize>,
    /// Ids seen running since their last StartInstances.
    running: std::collections::HashSet<String>,
}

/// The product's cloud, observed: records which ids each poll covered so
/// the formulas can use the number of polling rounds actually needed.
struct Observed {
    inner: AwsCloud,
    check_polls: Rounds,
    status_polls: Rounds,
    state_reads: Arc<Mutex<StateReads>>,
}

struct ObservedRemote {
    inner: Arc<dyn RemoteCheck>,
    polls: Rounds,
}

struct ObservedCompute {
    inner: Arc<dyn Compute>,
    state_reads: Arc<Mutex<StateReads>>,
}

struct ObservedStatusChecks {
    inner: Arc<dyn StatusChecks>,
    polls: Rounds,
}

#[async_trait]
impl RemoteCheck for ObservedRemote {
    async fn bucket_region(&self, bucket: &str) -> Result<String, CloudError> {
        self.inner.bucket_region(bucket).await
    }
    async fn send(
        &self,
        check: &OverrideCheck,
        ids: &[String],
        output: &OutputLocation,
        timeout: Duration,
    ) -> Result<String, CloudError> {
        self.inner.send(check, ids, output, timeout).await
    }
    async fn poll_command(
        &self,
        command_id: &str,
        instance_ids: &[String],
        output: &OutputLocation,
    ) -> Result<Vec<(String, CheckPoll)>, CloudError> {
        // One call per command per round: rounds count commands polled.
        self.polls.record([command_id.to_string()]);
        self.inner.poll_command(command_id, instance_ids, output).await
    }
    async fn online(&self, ids: &[String]) -> Result<Vec<(String, bool)>, CloudError> {
        self.inner.online(ids).await
    }
    async fn maintenance_window(&self, id: &str) -> Result<ec2_tier_scheduler::window::MaintenanceWindow, CloudError> {
        self.inner.maintenance_window(id).await
    }
    async fn window_executions(
        &self,
        id: &str,
        since: u64,
    ) -> Result<Vec<ec2_tier_scheduler::window::WindowExecution>, CloudError> {
        self.inner.window_executions(id, since).await
    }
}

#[async_trait]
impl Compute for ObservedCompute {
    async fn discover(&self, query: &Discovery) -> Result<Vec<Instance>, CloudError> {
        self.inner.discover(query).await
    }
    async fn states(&self, ids: &[String]) -> Result<Vec<InstanceStatus>, CloudError> {
        let states = self.inner.states(ids).await;
        {
            let mut reads = self.state_reads.lock().unwrap();
            if !ids.is_empty() && ids.iter().all(|id| reads.running.contains(id)) {
                reads.running_again.push(ids.len());
            } else {
                reads.confirmation.push(ids.len());
            }
            for s in states.iter().flatten() {
                if s.state == InstanceState::Running {
                    reads.running.insert(s.id.clone());
                }
            }
        }
        states
    }
    async fn stop(&self, ids: &[String]) -> Result<(), CloudError> {
        self.inner.stop(ids).await
    }
    async fn hibernate(&self, ids: &[String]) -> Result<(), CloudError> {
        self.inner.hibernate(ids).await
    }
    async fn start(&self, ids: &[String]) -> Result<(), CloudError> {
        {
            let mut reads = self.state_reads.lock().unwrap();
            for id in ids {
                reads.running.remove(id);
            }
        }
        self.inner.start(ids).await
    }
}

#[async_trait]
impl StatusChecks for ObservedStatusChecks {
    async fn status_checks_ok(&self, ids: &[String]) -> Result<Vec<(String, bool)>, CloudError> {
        self.polls.record(ids.iter().cloned());
        self.inner.status_checks_ok(ids).await
    }
}

#[async_trait]
impl Cloud for Observed {
    fn config_store(&self, region: &str) -> Arc<dyn ConfigStore> {
        self.inner.config_store(region)
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
            compute: Arc::new(ObservedCompute {
                inner: inner.compute,
                state_reads: self.state_reads.clone(),
            }),
            instance_types: inner.instance_types,
            instance_tags: inner.instance_tags,
            status_checks: Arc::new(ObservedStatusChecks {
                inner: inner.status_checks,
                polls: self.status_polls.clone(),
            }),
            remote: Arc::new(ObservedRemote {
                inner: inner.remote,
                polls: self.check_polls.clone(),
            }),
            calendar: inner.calendar,
            auto_scaling: inner.auto_scaling,
            keys: inner.keys,
            members: inner.members,
            load_balancers: inner.load_balancers,
            alarms: inner.alarms,
            price_facts: inner.price_facts,
        })
    }
}

/// One expected row: service, operation, formula, expected count.
struct Expect {
    service: &'static str,
    operation: &'static str,
    formula: String,
    count: u64,
}

fn expect(service: &'static str, operation: &'static str, formula: impl Into<String>, count: usize) -> Expect {
    Expect {
        service,
        operation,
        formula: formula.into(),
        count: count as u64,
    }
}

fn sum_expr(parts: &[usize]) -> String {
    if parts.is_empty() {
        return "0".into();
    }
    parts.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(" + ")
}

struct Measured {
    calls: BTreeMap<(String, String), u64>,
    attempts: BTreeMap<(String, String), u64>,
    wall: Duration,
}

async fn run(cloud: &Observed, counter: &ApiCounter, action: Action) -> (RunReport, Measured) {
    counter.reset();
    cloud.check_polls.reset();
    cloud.status_polls.reset();
    let request = RunRequest::new("Bench", action, "us-west-2");
    let began = std::time::Instant::now();
    let report = orchestrator::run(cloud, &request, &Budget::unlimited(), &Settings::default())
        .await
        .expect("run");
    let wall = began.elapsed();
    let measured = Measured {
        calls: counter.calls(),
        attempts: counter.attempts(),
        wall,
    };
    (report, measured)
}

fn acted_per_tier(report: &RunReport) -> Vec<(String, usize)> {
    report
        .summary
        .tiers
        .iter()
        .map(|t| (t.tier.clone(), t.acted.len()))
        .collect()
}

/// Prints the table; returns whether every count matched and the total.
fn print_table(title: &str, report: &RunReport, measured: &Measured, expected: &[Expect]) -> (bool, u64) {
    println!(
        "\n**{title}** ({}; {:.1} s against moto)\n",
        report.summary.message,
        measured.wall.as_secs_f64()
    );
    println!("| Service | Operation | Formula | Expected | Counted | Attempts | Match |");
    println!("|---|---|---|---:|---:|---:|---|");
    let mut all = true;
    let mut total_expected = 0;
    let mut total = 0;
    let mut seen = Vec::new();
    for e in expected {
        let key = (e.service.to_string(), e.operation.to_string());
        let got = measured.calls.get(&key).copied().unwrap_or(0);
        let attempts = measured.attempts.get(&key).copied().unwrap_or(0);
        let ok = got == e.count;
        all &= ok;
        total_expected += e.count;
        total += got;
        seen.push(key);
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            e.service,
            e.operation,
            e.formula,
            e.count,
            got,
            attempts,
            if ok { "yes" } else { "**no**" }
        );
    }
    for (key, got) in &measured.calls {
        if seen.contains(key) {
            continue;
        }
        all = false;
        total += got;
        let attempts = measured.attempts.get(key).copied().unwrap_or(0);
        println!(
            "| {} | {} | (not expected) | 0 | {got} | {attempts} | **no** |",
            key.0, key.1
        );
    }
    println!(
        "| **total** | | | {total_expected} | {total} | | {} |",
        if all { "yes" } else { "**no**" }
    );
    (all, total)
}

fn tier_item(name: &str, stop_seq: usize, start_seq: usize) -> Value {
    json!({
      "SpecName": "Bench",
      "TierTagValue": name,
      "TierStart": { "TierSequence": start_seq.to_string(), "TierSynchronization": "False", "InterTierOrchestrationDelay": "0" },
      "TierStop": { "TierSequence": stop_seq.to_string(), "TierSynchronization": "False", "InterTierOrchestrationDelay": "0" }
    })
}

async fn bench() -> bool {
    let stack = Stack::start().await;
    stack
        .bucket_and_topic("ssm-output", "us-west-2", "SchedulerTesting")
        .await;
    // The run ledger table keeps what a Start restores (the records).
    stack.ledger_table().await;
    let mut ids: HashMap<&str, Vec<String>> = HashMap::new();
    let mut vpcs: HashMap<&str, String> = HashMap::new();
    for (k, tier) in TIERS.iter().enumerate() {
        // A VPC per tier: a /24 subnet has too few addresses for 300.
        let (vpc, subnet) = stack.vpc(&format!("10.{}.0.0", 30 + k)).await;
        vpcs.insert(tier, vpc);
        let launched = stack
            .launch(&subnet, &[("Environment", "ENV001"), ("Role", tier)], PER_TIER as i32)
            .await;
        ids.insert(tier, launched);
    }
    let workload = json!({
      "DisableAllSchedulingActions": "0",
      "WorkloadFilterTagName": "Environment",
      "WorkloadFilterTagValue": "ENV001",
      "WorkloadRegion": "us-west-2",
      "SpecName": "Bench",
      "SNSTopicName": "SchedulerTesting",
      "SSMS3BucketName": "ssm-output",
      "SSMS3KeyPrefixName": "ssmRemoteComandResults",
      "TierFilterTagName": "Role",
      "AlarmPrefixes": "bench-"
    });
    let mut tiers = vec![
        tier_item("Role_Web", 0, 2),
        tier_item("Role_App", 1, 1),
        tier_item("Role_DB", 2, 0),
    ];
    tiers[0]["TierStop"]["TierStopOverrideFilename"] = json!("/tmp/StopOverride");
    tiers[0]["TierStop"]["TierStopOverrideOperatingSystem"] = json!("Linux");
    tiers[2]["TierStart"]["TierReadiness"] = json!("StatusChecks");
    tiers[2]["TierStart"]["TierReadinessTimeout"] = json!("120");
    tiers[2]["TierResourceTypes"] = json!("EC2,RDS,Aurora");
    tiers[0]["TierStop"]["TierAutoScalingGroups"] = json!("ScaleToZero");
    tiers[0]["TierStop"]["TierLoadBalancing"] = json!("Drain");
    tiers[1]["TierResourceTypes"] = json!("EC2,ECS");
    stack.put_config(workload, tiers).await;
    let (rds_instances, aurora_clusters) = databases(&stack).await;
    let (groups, services) = capacities(&stack).await;
    let alarms = traffic(&stack, &vpcs["Role_Web"], &ids["Role_Web"]).await;

    let holder = ids["Role_Web"][7].clone();
    let _agent = stack
        .moto
        .agent("us-west-2", &[format!("--file={holder}:/tmp/StopOverride")]);

    let counter = ApiCounter::new();
    // The counter first, as in Lambda: the records' DynamoDB client is
    // built by `with_records` and counts only once the counter is set.
    let inner = AwsCloud::new(stack.config.clone(), Tables::default())
        .with_counter(counter.clone())
        .with_records(Some(LEDGER_TABLE));
    // As in Lambda: the account comes from the function ARN, so SNS topic
    // names become ARNs without ListTopics (moto's account).
    inner.learn_account_from_arn("arn:aws:lambda:us-west-2:123456789012:function:ec2-tier-scheduler");
    let cloud = Observed {
        inner,
        check_polls: Rounds::default(),
        status_polls: Rounds::default(),
        state_reads: Arc::default(),
    };
    let instances = TIERS.len() * PER_TIER;
    let discovery_pages = instances.div_ceil(1000);

    // Stop.
    let (stop, measured) = run(&cloud, &counter, Action::Stop).await;
    let checked = PER_TIER;
    let check_rounds = cloud.check_polls.per_round();
    let bypassed: usize = stop.summary.tiers.iter().map(|t| t.bypassed.len()).sum();
    let acted = acted_per_tier(&stop);
    let stop_batches: Vec<usize> = acted.iter().map(|(_, a)| a.div_ceil(EC2_BATCH)).collect();
    let expected_stop = vec![
        expect("DynamoDB", "GetItem", "1 (workload item)", 1),
        expect("DynamoDB", "PutItem", "1 (WorkloadState row)", 1),
        expect(
            "DynamoDB",
            "Query",
            "1 (tier items, one page) + 1 (the workload's records, ledger table)",
            2,
        ),
        expect(
            "EC2",
            "DescribeInstances",
            format!("⌈N/1000⌉ = ⌈{instances}/1000⌉ (discovery)"),
            discovery_pages,
        ),
        expect("S3", "GetBucketLocation", "1 (precondition: checks configured)", 1),
        expect(
            "SSM",
            "SendCommand",
            format!("⌈c/{SSM_BATCH}⌉ = ⌈{checked}/{SSM_BATCH}⌉"),
            checked.div_ceil(SSM_BATCH),
        ),
        expect(
            "SSM",
            "ListCommandInvocations",
            format!(
                "Σ commands pending per poll round (≤ ⌈pending/{SSM_BATCH}⌉) = {} ({} round(s))",
                sum_expr(&check_rounds),
                check_rounds.len()
            ),
            check_rounds.iter().sum(),
        ),
        expect(
            "SSM",
            "GetCommandInvocation",
            "0 (the fallback when ListCommandInvocations is missing)",
            0,
        ),
        expect(
            "S3",
            "ListObjectsV2",
            "0 (answers come inline; S3 only for truncated output)",
            0,
        ),
        expect("S3", "GetObject", "0 (as above)", 0),
        expect(
            "EC2",
            "StopInstances",
            format!(
                "Σ ⌈acted/{EC2_BATCH}⌉ = {} (acted {})",
                sum_expr(&stop_batches),
                acted.iter().map(|(_, a)| a.to_string()).collect::<Vec<_>>().join(", ")
            ),
            stop_batches.iter().sum(),
        ),
        expect("SNS", "Publish", format!("bypassed + 1 = {bypassed} + 1"), bypassed + 1),
        expect("RDS", "DescribeDBInstances", "⌈d/100⌉ = 1 (discovery)", 1),
        expect("RDS", "DescribeDBClusters", "⌈a/100⌉ = 1 (discovery)", 1),
        expect(
            "RDS",
            "StopDBInstance",
            format!("d = {rds_instances} (one call each)"),
            rds_instances,
        ),
        expect(
            "RDS",
            "StopDBCluster",
            format!("a = {aurora_clusters} (one call each)"),
            aurora_clusters,
        ),
    ];
    let drained = traffic_notes(&stop, "deregistered from");
    let mut expected_stop = expected_stop;
    expected_stop.extend(capacity_rows(Action::Stop, groups, services));
    expected_stop.extend(traffic_rows(Action::Stop, alarms));
    expected_stop.push(record_writes(Action::Stop, groups, services, drained, alarms));
    let (ok_stop, stop_total) = print_table("Stop", &stop, &measured, &expected_stop);
    let per_tier_sends = measured
        .calls
        .get(&("SSM".to_string(), "SendCommand".to_string()))
        .copied()
        .unwrap_or(0);

    // Start.
    *cloud.state_reads.lock().unwrap() = StateReads::default();
    let (start, measured) = run(&cloud, &counter, Action::Start).await;
    let (confirm_calls, running_calls) = {
        let reads = cloud.state_reads.lock().unwrap();
        let calls = |v: &[usize]| v.iter().map(|n| n.div_ceil(200)).collect::<Vec<usize>>();
        (calls(&reads.confirmation), calls(&reads.running_again))
    };
    let recorded = traffic_notes(&start, "registered again");
    let starting = TIERS.len() * PER_TIER;
    let acted = acted_per_tier(&start);
    let start_batches: Vec<usize> = acted.iter().map(|(_, a)| a.div_ceil(EC2_BATCH)).collect();
    let gate_rounds = cloud.status_polls.per_round();
    let gate_calls: Vec<usize> = gate_rounds.iter().map(|p| p.div_ceil(STATUS_BATCH)).collect();
    let expected_start = vec![
        expect("DynamoDB", "GetItem", "2 (workload item, WorkloadState row)", 2),
        expect("DynamoDB", "PutItem", "1 (WorkloadState row)", 1),
        expect(
            "DynamoDB",
            "Query",
            "1 (tier items) + 1 (the workload's records, ledger table)",
            2,
        ),
        expect(
            "EC2",
            "DescribeInstances",
            format!(
                "⌈N/1000⌉ + Σ ⌈pending/200⌉ per confirmation poll + ⌈recorded/{STATUS_BATCH}⌉ (states of the \
                 instances whose registrations go back) = {discovery_pages} + {} + {}",
                sum_expr(&confirm_calls),
                sum_expr(&running_calls)
            ),
            discovery_pages + confirm_calls.iter().sum::<usize>() + recorded.div_ceil(STATUS_BATCH),
        ),
        expect(
            "EC2",
            "DescribeVolumes",
            format!("⌈starting/200⌉ = ⌈{starting}/200⌉ (KMS readiness; no key to describe here)"),
            starting.div_ceil(200),
        ),
        expect(
            "RDS",
            "DescribeDBInstances",
            "⌈d/100⌉ (discovery) + 1 per confirmation poll = 1 + 1",
            2,
        ),
        expect(
            "RDS",
            "DescribeDBClusters",
            "⌈a/100⌉ (discovery) + 1 per confirmation poll = 1 + 1",
            2,
        ),
        expect("RDS", "StartDBInstance", format!("d = {rds_instances}"), rds_instances),
        expect(
            "RDS",
            "StartDBCluster",
            format!("a = {aurora_clusters}"),
            aurora_clusters,
        ),
        expect(
            "EC2",
            "StartInstances",
            format!(
                "Σ ⌈acted/{EC2_BATCH}⌉ = {} (acted {})",
                sum_expr(&start_batches),
                acted.iter().map(|(_, a)| a.to_string()).collect::<Vec<_>>().join(", ")
            ),
            start_batches.iter().sum(),
        ),
        expect(
            "EC2",
            "DescribeInstanceStatus",
            format!(
                "Σ ⌈pending/{STATUS_BATCH}⌉ per gate round = {} ({} round(s), Role_DB gate)",
                sum_expr(&gate_calls),
                gate_rounds.len()
            ),
            gate_calls.iter().sum(),
        ),
        expect("SNS", "Publish", "1 (summary)", 1),
    ];
    let mut expected_start = expected_start;
    expected_start.extend(capacity_rows(Action::Start, groups, services));
    expected_start.extend(traffic_rows(Action::Start, alarms));
    expected_start.push(record_writes(Action::Start, groups, services, recorded, alarms));
    let (ok_start, start_total) = print_table("Start", &start, &measured, &expected_start);
    let all = ok_stop && ok_start;
    let met = all && per_tier_sends as usize == PER_TIER.div_ceil(SSM_BATCH);
    println!(
        "SUMMARY|1. API calls per run (3 × {PER_TIER} instances + 3 databases, a group, a service, a drained target group and 2 alarms, override checks on one tier, stop then start, moto)\
         |per tier ⌈n/50⌉ SSM and ⌈n/500⌉ EC2 mutation calls, plus polling; counts match the formula\
         |stop {stop_total} calls, start {start_total} calls; {per_tier_sends} SendCommand for the checked tier, 1 Stop/StartInstances per tier; \
         every count matches its formula: {}|{}",
        if all { "yes" } else { "no" },
        if met { "yes" } else { "no" }
    );
    all
}

/// The rows of the Auto Scaling groups (`g`, ScaleToZero in Web) and ECS
/// services (`s`, in App, one cluster) of a Stop or a Start. Each member
/// is read fresh before it is changed (its record or its capacity), and a
/// Start confirms it serving with one status read per poll (one poll here:
/// moto launches at once).
fn capacity_rows(action: Action, g: usize, s: usize) -> Vec<Expect> {
    let start = action == Action::Start;
    let polls = usize::from(start);
    vec![
        expect(
            "Auto Scaling",
            "DescribeAutoScalingGroups",
            format!(
                "1 (discovery, tag filter) + g (read before the change){} = 1 + {g}{}",
                if start { " + 1 per confirmation poll" } else { "" },
                if start { " + 1" } else { "" }
            ),
            1 + g + polls,
        ),
        expect(
            "Auto Scaling",
            "DescribeScheduledActions",
            format!("g = {g} (what would undo a stop)"),
            g,
        ),
        expect("Auto Scaling", "UpdateAutoScalingGroup", format!("g = {g}"), g),
        expect("ECS", "ListClusters", "1 (one page)", 1),
        expect("ECS", "ListServices", "1 per cluster = 1", 1),
        expect(
            "ECS",
            "DescribeServices",
            format!(
                "⌈s/10⌉ per cluster (discovery) + s (read before the change){} = 1 + {s}{}",
                if start { " + 1 per confirmation poll" } else { "" },
                if start { " + 1" } else { "" }
            ),
            1 + s + polls,
        ),
        expect(
            "Application Auto Scaling",
            "DescribeScalableTargets",
            "⌈s/50⌉ = 1 (service auto scaling that would undo a stop)",
            s.div_ceil(50),
        ),
        expect("ECS", "UpdateService", format!("s = {s}"), s),
    ]
}

/// The instances of the run's tiers with a traffic note starting with
/// `what`: one per instance drained (Stop) or registered again (Start).
fn traffic_notes(report: &RunReport, what: &str) -> usize {
    report
        .summary
        .tiers
        .iter()
        .flat_map(|t| &t.traffic)
        .filter(|n| n.reason.starts_with(what))
        .count()
}

/// The row of the records written (Stop) or removed (Start) in the run
/// ledger table: one TransactWriteItems per group or service (its
/// capacity), ⌈drained/100⌉ for the drained instances' registrations (one
/// record per instance) and ⌈a/100⌉ for the alarms' mutes.
fn record_writes(action: Action, g: usize, s: usize, drained: usize, a: usize) -> Expect {
    let n = RECORDS_PER_WRITE;
    let (who, when) = match action {
        Action::Stop => ("drained", "first"),
        Action::Start => ("recorded", "once restored"),
    };
    let registrations = drained.div_ceil(n);
    let alarms = a.div_ceil(n);
    expect(
        "DynamoDB",
        "TransactWriteItems",
        format!("g + s + ⌈{who}/{n}⌉ + ⌈a/{n}⌉ (the records, {when}) = {g} + {s} + ⌈{drained}/{n}⌉ + ⌈{a}/{n}⌉"),
        g + s + registrations + alarms,
    )
}

/// The rows of the Web tier's drain (one target group holding its 100
/// instances on port 80 and carrying the workload tag, `TierLoadBalancing:
/// Drain` at Stop only) and of `a` alarms under the workload's
/// `AlarmPrefixes`. Their records are in [`record_writes`].
fn traffic_rows(action: Action, a: usize) -> Vec<Expect> {
    if action == Action::Stop {
        // moto deregisters at once: the first drain poll finds none draining.
        let polls = 1;
        vec![
            expect(
                "Elastic Load Balancing v2",
                "DescribeTargetGroups",
                "1 (plan: groups left empty) + 1 (drain)",
                2,
            ),
            expect(
                "Elastic Load Balancing v2",
                "DescribeTags",
                "⌈G/20⌉ (plan: the groups' workload tag) + ⌈G/20⌉ (drain) = 1 + 1",
                2,
            ),
            expect(
                "Elastic Load Balancing v2",
                "DescribeTargetHealth",
                format!("G (plan) + G (drain: registrations) + g per drain poll = 1 + 1 + {polls}"),
                2 + polls,
            ),
            expect(
                "Elastic Load Balancing v2",
                "DescribeTargetGroupAttributes",
                "g drained = 1",
                1,
            ),
            expect(
                "Elastic Load Balancing v2",
                "DeregisterTargets",
                "⌈drained/500⌉ per group = 1",
                1,
            ),
            expect("CloudWatch", "DescribeAlarms", "1 page per prefix", 1),
            expect(
                "CloudWatch",
                "ListTagsForResource",
                format!("a = {a} (per candidate: a record tag the ledger does not hold is reported)"),
                a,
            ),
            expect("CloudWatch", "DisableAlarmActions", "⌈a/100⌉ = 1", a.div_ceil(100)),
        ]
    } else {
        vec![
            expect(
                "Elastic Load Balancing v2",
                "DescribeTargetGroups",
                "1 (registrations put back)",
                1,
            ),
            expect(
                "Elastic Load Balancing v2",
                "RegisterTargets",
                "⌈recorded/500⌉ per group = 1",
                1,
            ),
            expect("CloudWatch", "DescribeAlarms", "1 page per prefix", 1),
            expect("CloudWatch", "ListTagsForResource", format!("a = {a}"), a),
            expect("CloudWatch", "EnableAlarmActions", "⌈a/100⌉ = 1", a.div_ceil(100)),
        ]
    }
}

/// A target group in Web's VPC holding its instances on port 80 (tagged
/// as the workload's), and two alarms under the prefix `bench-`; returns
/// how many alarms.
async fn traffic(stack: &Stack, vpc: &str, web: &[String]) -> usize {
    use aws_sdk_elasticloadbalancingv2::types::{ProtocolEnum, Tag, TargetDescription, TargetTypeEnum};
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&stack.config);
    let group = elb
        .create_target_group()
        .name("web")
        .protocol(ProtocolEnum::Http)
        .port(80)
        .vpc_id(vpc)
        .target_type(TargetTypeEnum::Instance)
        // The workload's: a drain takes part only in groups that carry it.
        .tags(Tag::builder().key("Environment").value("ENV001").build())
        .send()
        .await
        .unwrap();
    let arn = group.target_groups()[0].target_group_arn().unwrap().to_string();
    let targets = web
        .iter()
        .map(|id| TargetDescription::builder().id(id).port(80).build());
    elb.register_targets()
        .target_group_arn(&arn)
        .set_targets(Some(targets.collect()))
        .send()
        .await
        .unwrap();
    let cw = aws_sdk_cloudwatch::Client::new(&stack.config);
    for name in ["bench-web-5xx", "bench-db-cpu"] {
        cw.put_metric_alarm()
            .alarm_name(name)
            .metric_name("CPUUtilization")
            .namespace("AWS/EC2")
            .statistic(aws_sdk_cloudwatch::types::Statistic::Average)
            .period(60)
            .evaluation_periods(1)
            .threshold(90.0)
            .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
            .send()
            .await
            .unwrap();
    }
    2
}

/// An Auto Scaling group (min 1, desired 2, max 3) in Web, its instances
/// not tagged as the workload's, and an ECS service (desired 2) in App;
/// returns how many of each.
async fn capacities(stack: &Stack) -> (usize, usize) {
    let (_, subnet) = stack.vpc("10.40.0.0").await;
    let web = [("Environment", "ENV001"), ("Role", "Role_Web")];
    stack.auto_scaling_group("web", &subnet, (1, 2, 3), &web, false).await;
    let app = [("Environment", "ENV001"), ("Role", "Role_App")];
    stack.ecs_service("prod", "api", 2, &app).await;
    (1, 1)
}

/// Two RDS DB instances and an Aurora cluster in the DB tier; returns how
/// many of each.
async fn databases(stack: &Stack) -> (usize, usize) {
    use aws_sdk_rds::types::Tag;
    let tags = || {
        Some(vec![
            Tag::builder().key("Environment").value("ENV001").build(),
            Tag::builder().key("Role").value("Role_DB").build(),
        ])
    };
    for id in ["orders-db", "reports-db"] {
        stack
            .rds
            .create_db_instance()
            .db_instance_identifier(id)
            .db_instance_class("db.t3.micro")
            .engine("postgres")
            .allocated_storage(20)
            .master_username("bench")
            .master_user_password("not-a-secret-1")
            .set_tags(tags())
            .send()
            .await
            .unwrap();
    }
    stack
        .rds
        .create_db_cluster()
        .db_cluster_identifier("ledger")
        .engine("aurora-postgresql")
        .master_username("bench")
        .master_user_password("not-a-secret-1")
        .set_tags(tags())
        .send()
        .await
        .unwrap();
    (2, 1)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // needs moto; `cargo bench --bench api_calls`
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "Workload: 3 tiers x {PER_TIER} instances (N = {}); Role_Web stops first with an override check \
         (c = {PER_TIER} instances, Linux, one instance holds the file); Role_DB starts first with a \
         StatusChecks gate and also holds d = 2 RDS DB instances and a = 1 Aurora cluster \
         (`TierResourceTypes: EC2,RDS,Aurora`); Role_Web also scales g = 1 Auto Scaling group to zero \
         (`TierAutoScalingGroups: ScaleToZero`, min 1, desired 2, max 3) and Role_App also holds s = 1 ECS \
         service (`TierResourceTypes: EC2,ECS`, desired 2, one cluster); Role_Web drains g = 1 target group \
         (G = 1 in its VPC, carrying the workload tag `Environment=ENV001`) holding its instances on port 80 \
         before it stops (`TierLoadBalancing: Drain` in TierStop) and a = 2 alarms are muted at Stop and \
         unmuted at Start (`AlarmPrefixes: bench-`); what a Start restores is recorded in the run ledger table \
         (`record|...` items, at most 100 to a TransactWriteItems); every start confirmed; async tiers, \
         no inter-tier delay; `Settings::default()`; moto with the \
         simulated SSM agent. Counted by `ApiCounter` (calls; attempts include SDK retries).",
        TIERS.len() * PER_TIER
    );
    let all = runtime.block_on(bench());
    println!(
        "\nEvery count matches its formula: {}.",
        if all { "**yes**" } else { "**no**" }
    );
}
