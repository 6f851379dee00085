//! What operators see: each run's Embedded Metric Format line, the run
//! history the ledger keeps per invocation, the timeline drawn from it (or
//! from a plan), and the `runs` and `status` commands against moto.

use std::time::Duration;

use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::config::{ItemNaming, WorkloadConfig};
use ec2_tier_scheduler::handler::{handle_delivery, Handled, HandlerError, Services};
use ec2_tier_scheduler::history;
use ec2_tier_scheduler::instance::{Instance, InstanceState::*};
use ec2_tier_scheduler::ledger::{Continuation, Ledger, LedgerStatus, RunRecord};
use ec2_tier_scheduler::ledger::{InvocationTrace, TierTrace};
use ec2_tier_scheduler::orchestrator::Settings;
use ec2_tier_scheduler::plan;
use ec2_tier_scheduler::run::RunRequest;
use ec2_tier_scheduler::run_service::Outcome;
use ec2_tier_scheduler::summary::{DelayWait, Failure, Phase, PhaseKind};
use ec2_tier_scheduler::timeline::{Estimates, Timeline, FAILED_COLOUR};
use serde_json::{json, Value};

use crate::support::fake::FakeCloud;
use crate::support::ledger::{FakeContinuation, FakeLedger};
use crate::support::moto::Stack;
use crate::support::{three_tiers, tier_item, workload_item};

/// Checks `line` against the CloudWatch Embedded Metric Format
/// specification (its JSON schema plus the rules the schema cannot say:
/// dimension and metric references resolve to root members of the right
/// type, no members beyond the specified ones). Returns the parsed line.
fn valid_emf(line: &str) -> Value {
    const UNITS: [&str; 27] = [
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    ];
    assert!(!line.contains('\n'), "one log event, one line");
    assert!(line.len() < 256 * 1024, "within a log event");
    let root: Value = serde_json::from_str(line).expect("the line is a JSON object and nothing else");
    let root_map = root.as_object().expect("root is an object");
    let aws = root_map["_aws"].as_object().expect("_aws is an object");
    let timestamp = aws["Timestamp"].as_u64().expect("Timestamp is an integer");
    assert!(timestamp > 1_600_000_000_000, "Timestamp is in milliseconds");
    let directives = aws["CloudWatchMetrics"]
        .as_array()
        .expect("CloudWatchMetrics is an array");
    assert!(!directives.is_empty());
    let name_ok = |s: &Value| s.as_str().is_some_and(|s| (1..=255).contains(&s.len()));
    for directive in directives {
        let d = directive.as_object().expect("a MetricDirective is an object");
        for key in d.keys() {
            assert!(
                ["Namespace", "Dimensions", "Metrics"].contains(&key.as_str()),
                "unexpected {key}"
            );
        }
        assert!(name_ok(&d["Namespace"]), "Namespace");
        let sets = d["Dimensions"].as_array().expect("Dimensions is an array");
        assert!(!sets.is_empty(), "Dimensions has at least one DimensionSet");
        for set in sets {
            let set = set.as_array().expect("a DimensionSet is an array");
            assert!(set.len() <= 30);
            for key in set {
                assert!(name_ok(key));
                let target = &root_map[key.as_str().unwrap()];
                assert!(target.is_string(), "dimension {key} is a string member of the root");
            }
        }
        let metrics = d["Metrics"].as_array().expect("Metrics is an array");
        assert!(metrics.len() <= 100);
        for m in metrics {
            let m = m.as_object().expect("a MetricDefinition is an object");
            for key in m.keys() {
                assert!(
                    ["Name", "Unit", "StorageResolution"].contains(&key.as_str()),
                    "unexpected {key}"
                );
            }
            assert!(name_ok(&m["Name"]));
            if let Some(unit) = m.get("Unit") {
                assert!(UNITS.contains(&unit.as_str().unwrap()), "unit {unit}");
            }
            let target = &root_map[m["Name"].as_str().unwrap()];
            let numeric = target.is_number()
                || target
                    .as_array()
                    .is_some_and(|a| a.len() <= 100 && a.iter().all(Value::is_number));
            assert!(numeric, "metric {} is a number member of the root", m["Name"]);
        }
    }
    root
}

fn services<'a>(cloud: &'a FakeCloud, ledger: &'a FakeLedger, continuation: &'a FakeContinuation) -> Services<'a> {
    Services {
        cloud,
        function_region: Some("us-west-2"),
        ledger: Some(ledger as &dyn Ledger),
        continuation: Some(continuation as &dyn Continuation),
        schedule_origin: Default::default(),
    }
}

async fn deliver(services: Services<'_>, payload: &Value, time_left: Duration, settings: &Settings) -> Handled {
    handle_delivery(services, payload, Some(time_left), settings)
        .await
        .unwrap_or_else(|e: HandlerError| panic!("refused: {e}"))
}

fn line_of(handled: &Handled, throttles: u64) -> Value {
    let line = handled
        .outcome
        .metrics_line("Ec2TierScheduler", throttles, 1_795_478_400_000)
        .expect("a run writes a metrics line");
    valid_emf(&line)
}

#[tokio::test(start_paused = true)]
async fn each_run_writes_one_valid_emf_line_of_what_it_did() {
    let cloud = FakeCloud::new().with_transitions(Duration::from_secs(20), Duration::from_secs(30));
    let mut workload = workload_item("W");
    workload.as_object_mut().unwrap().remove("SNSTopicName");
    let mut tiers = three_tiers("W", 5);
    tiers[2]["TierStart"]["TierReadiness"] = json!("StatusChecks");
    cloud.put_config(workload, tiers);
    cloud.add_spec_instances(Stopped);
    // Once running, DB's status checks pass at the gate's third poll (6 s).
    cloud.lock().status_ok_after.insert("i-d1".into(), 3);
    cloud.fault("StartInstances", Some("i-a1"), "IncorrectInstanceState", 10);
    let (ledger, continuation) = (FakeLedger::default(), FakeContinuation::default());
    let services = services(&cloud, &ledger, &continuation);
    let payload = json!({"workloadIdentifier": "W", "action": "Start", "runId": "morning"});

    let handled = deliver(services, &payload, Duration::from_secs(900), &Settings::default()).await;
    let line = line_of(&handled, 3);
    let aws = &line["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(aws["Namespace"], "Ec2TierScheduler");
    assert_eq!(
        aws["Dimensions"],
        json!([["Workload", "Action"], []]),
        "per workload, and all together"
    );
    let names: Vec<&str> = aws["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "InstancesActed",
            "InstancesSkipped",
            "InstancesBypassed",
            "InstancesFailed",
            "InstancesNotDone",
            "RunDuration",
            "GateWait",
            "Throttles",
            "Continuations",
            "TargetsDrained",
            "DrainWait",
            "AlarmsMuted",
            "AlarmsUnmuted",
            "EventsFailed",
            "MembersRestopped"
        ]
    );
    assert_eq!(
        (line["Workload"].as_str(), line["Action"].as_str()),
        (Some("W"), Some("Start"))
    );
    assert_eq!(line["InstancesActed"], 5);
    assert_eq!(line["InstancesFailed"], 1);
    assert_eq!(line["failedInstances"], json!(["i-a1"]));
    assert_eq!(line["InstancesSkipped"], 0);
    assert_eq!(line["Throttles"], 3);
    assert_eq!(line["Continuations"], 0);
    assert_eq!(line["EventsFailed"], 0, "no bus, nothing failed");
    assert!(
        line["GateWait"].as_u64().unwrap() >= 6_000,
        "the DB gate waited for the status checks: {line}"
    );
    assert!(line["RunDuration"].as_u64().unwrap() >= line["GateWait"].as_u64().unwrap());
    assert_eq!(line["status"], "completedWithFailures");
    assert_eq!(line["runKey"], "run|W|morning");

    // A repeated delivery changes nothing and is counted on its own line
    // (DuplicateDeliveries, not a run's metrics); a dry run says nothing.
    let again = deliver(services, &payload, Duration::from_secs(900), &Settings::default()).await;
    assert!(matches!(again.outcome, Outcome::Duplicate(_)));
    let duplicate = again
        .outcome
        .metrics_line("N", 0, 1_795_478_400_000)
        .expect("a duplicate is counted");
    let duplicate = valid_emf(&duplicate);
    assert_eq!(duplicate["DuplicateDeliveries"], 1, "{duplicate}");
    assert!(duplicate.get("InstancesActed").is_none(), "{duplicate}");
    let dry = json!({"workloadIdentifier": "W", "action": "Stop", "dryRun": true});
    let dry = deliver(services, &dry, Duration::from_secs(900), &Settings::default()).await;
    assert_eq!(dry.outcome.metrics_line("N", 0, 0), None);
}

#[tokio::test(start_paused = true)]
async fn a_continued_run_is_recorded_per_invocation_and_its_lines_add_up() {
    // One synchronous tier of five, 80 s invocations: cut mid-tier, resumed.
    let cloud = FakeCloud::new();
    let mut workload = workload_item("W");
    workload.as_object_mut().unwrap().remove("SNSTopicName");
    cloud.put_config(workload, vec![tier_item("W", "Role_DB", 0, 0, true, 5)]);
    for n in 0..5 {
        cloud.add(&format!("i-db{n}"), "ENV001", "Role_DB", Running);
    }
    let (ledger, continuation) = (FakeLedger::default(), FakeContinuation::default());
    let services = services(&cloud, &ledger, &continuation);
    let payload = json!({"workloadIdentifier": "W", "action": "Stop", "runId": "night"});
    let mut lines = vec![line_of(
        &deliver(services, &payload, Duration::from_secs(80), &Settings::default()).await,
        0,
    )];
    assert_eq!(lines[0]["status"], "continuing");
    assert_eq!(lines[0]["Continuations"], 1);
    loop {
        let next = continuation.scheduled.lock().unwrap().pop();
        let Some((_, payload, _)) = next else { break };
        let handled = deliver(services, &payload, Duration::from_secs(80), &Settings::default()).await;
        lines.push(line_of(&handled, 0));
        assert!(lines.len() < 10);
    }
    assert!(lines.len() >= 2, "the run continued");
    let sum = |name: &str| lines.iter().map(|l| l[name].as_u64().unwrap()).sum::<u64>();
    assert_eq!(
        sum("InstancesActed"),
        5,
        "each instance counted once over the invocations"
    );
    assert_eq!(
        sum("InstancesSkipped"),
        0,
        "what an earlier invocation did is not skipped"
    );
    assert_eq!(sum("Continuations") as usize, lines.len() - 1);
    assert_eq!(lines.last().unwrap()["InstancesNotDone"], 0);

    let record = ledger.lock().records.get("run|W|night").cloned().unwrap();
    assert_eq!(record.status, LedgerStatus::Finished);
    assert_eq!(record.history.len(), lines.len(), "one trace per invocation");
    let statuses: Vec<&str> = record.history.iter().map(|t| t.status.as_str()).collect();
    assert!(
        statuses[..statuses.len() - 1].iter().all(|s| *s == "continuing"),
        "{statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&"completed"));
    let counts = history::counts(&record);
    assert_eq!((counts.acted, counts.skipped, counts.not_done), (5, 0, 0));
    let numbers: Vec<u32> = record.history.iter().map(|t| t.invocation).collect();
    assert_eq!(numbers, (1..=lines.len() as u32).collect::<Vec<_>>());

    // The timeline: one lane, acting in each invocation, a mark per continuation.
    let svg = Timeline::of_run(&record).to_svg();
    let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
    assert_eq!(lanes(&doc), ["Role_DB"]);
    let acts: Vec<SvgBar> = bars(&doc).into_iter().filter(|b| b.kind == "act").collect();
    assert!(acts.len() >= 2 && acts.len() <= lines.len(), "{acts:?}");
    assert!(acts.iter().all(|b| b.lane == "Role_DB"));
    assert_eq!(
        doc.descendants().filter(|n| n.has_class("marker")).count(),
        lines.len() - 1
    );
}

trait HasClass {
    fn has_class(&self, class: &str) -> bool;
}

impl HasClass for roxmltree::Node<'_, '_> {
    fn has_class(&self, class: &str) -> bool {
        self.attribute("class")
            .is_some_and(|c| c.split_whitespace().any(|x| x == class))
    }
}

/// The lanes of a timeline SVG, top to bottom.
fn lanes(doc: &roxmltree::Document) -> Vec<String> {
    doc.descendants()
        .filter(|n| n.has_class("lane"))
        .map(|n| n.attribute("data-lane").unwrap().to_string())
        .collect()
}

#[derive(Debug)]
struct SvgBar {
    lane: String,
    kind: String,
    start_ms: u64,
    end_ms: u64,
    x: f64,
    width: f64,
    fill: String,
    failed: bool,
}

/// The bars of a timeline SVG, with the lane each is drawn in.
fn bars(doc: &roxmltree::Document) -> Vec<SvgBar> {
    doc.descendants()
        .filter(|n| n.has_class("bar"))
        .map(|n| SvgBar {
            lane: n.parent().unwrap().attribute("data-lane").unwrap().to_string(),
            kind: n.attribute("data-kind").unwrap().to_string(),
            start_ms: n.attribute("data-start-ms").unwrap().parse().unwrap(),
            end_ms: n.attribute("data-end-ms").unwrap().parse().unwrap(),
            x: n.attribute("x").unwrap().parse().unwrap(),
            width: n.attribute("width").unwrap().parse().unwrap(),
            fill: n.attribute("fill").unwrap().to_string(),
            failed: n.has_class("failed"),
        })
        .collect()
}

fn tier_trace(tier: &str, sequence: u64, start: u64, phases: &[(PhaseKind, u64, u64)]) -> TierTrace {
    TierTrace {
        tier: tier.into(),
        sequence,
        synchronous: false,
        started_at_ms: start,
        duration_ms: phases.iter().map(|p| p.1 + p.2).max().unwrap_or(start) - start,
        acted: 2,
        skipped: 0,
        bypassed: 0,
        failed: 0,
        not_done: 0,
        phases: phases
            .iter()
            .map(|&(kind, started_at_ms, duration_ms)| Phase {
                kind,
                started_at_ms,
                duration_ms,
                member_kind: None,
            })
            .collect(),
        failures: Vec::new(),
        gate_timed_out: false,
    }
}

/// A Stop of Web (override check, then stop), a 10 s delay, App, then a
/// 600 s delay handed to a continuation, and DB (one failure) in the second
/// invocation.
fn recorded_run() -> RunRecord {
    let request = RunRequest::new("W", Action::Stop, "us-west-2");
    let mut record = RunRecord::new("run|W|night".into(), &request, "cli ops@host".into(), 1_795_478_400);
    let t0 = 1_795_478_400_000;
    let mut web = tier_trace(
        "Role_Web",
        0,
        0,
        &[(PhaseKind::OverrideCheck, 0, 2_000), (PhaseKind::Act, 2_000, 100)],
    );
    web.bypassed = 1;
    let app = tier_trace("Role_App", 1, 12_100, &[(PhaseKind::Act, 12_100, 400)]);
    let first = InvocationTrace {
        invocation: 1,
        started_at_ms: t0,
        duration_ms: 12_600,
        status: "continuing".into(),
        tiers: vec![web, app],
        delays: vec![DelayWait {
            after_sequence: 0,
            started_at_ms: 2_100,
            duration_ms: 10_000,
        }],
        resume_after_secs: Some(600),
    };
    let mut db = tier_trace(
        "Role_DB",
        2,
        500,
        &[(PhaseKind::Act, 500, 60_000), (PhaseKind::Gate, 60_500, 5_000)],
    );
    db.acted = 1;
    db.failed = 1;
    db.failures = vec![Failure {
        id: "i-db2".into(),
        reason: "IncorrectInstanceState".into(),
        code: Some("IncorrectInstanceState".into()),
    }];
    let second = InvocationTrace {
        invocation: 2,
        started_at_ms: t0 + 613_000,
        duration_ms: 66_000,
        status: "completedWithFailures".into(),
        tiers: vec![db],
        delays: Vec::new(),
        resume_after_secs: None,
    };
    record.history = vec![first, second];
    record.invocations = 2;
    record.status = LedgerStatus::Finished;
    record.outcome = Some("completedWithFailures".into());
    record
}

#[test]
fn the_timeline_draws_each_step_delay_and_continuation_where_it_happened() {
    let record = recorded_run();
    let svg = Timeline::of_run(&record).to_svg();
    let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
    assert_eq!(lanes(&doc), ["Role_Web", "Role_App", "Role_DB"]);
    let bars = bars(&doc);
    let kinds = |lane: &str| -> Vec<&str> {
        let mut mine: Vec<&SvgBar> = bars.iter().filter(|b| b.lane == lane).collect();
        mine.sort_by_key(|b| (b.start_ms, b.end_ms));
        mine.iter().map(|b| b.kind.as_str()).collect()
    };
    assert_eq!(kinds("Role_Web"), ["override-check", "act", "delay"]);
    assert_eq!(kinds("Role_App"), ["act", "delay"]);
    assert_eq!(kinds("Role_DB"), ["act", "gate"]);

    let find = |lane: &str, kind: &str| bars.iter().find(|b| b.lane == lane && b.kind == kind).unwrap();
    // The in-invocation delay follows Web's stop.
    let delay = find("Role_Web", "delay");
    assert_eq!((delay.start_ms, delay.end_ms), (2_100, 12_100));
    // The owed delay spans the hand-over, up to the continuation.
    let outside = find("Role_App", "delay");
    assert_eq!((outside.start_ms, outside.end_ms), (12_600, 613_000));
    // Invocation 2's DB bar is placed at the continuation, in red: a failure.
    let db = find("Role_DB", "act");
    assert_eq!((db.start_ms, db.end_ms), (613_500, 673_500));
    assert!(db.failed && db.fill == FAILED_COLOUR, "{db:?}");
    assert!(!find("Role_DB", "gate").failed);
    // Positions follow time: later bars further right, widths proportional.
    assert!(find("Role_Web", "act").x < delay.x && delay.x < outside.x && outside.x < db.x);
    let per_ms = db.width / 60_000.0;
    assert!((outside.width / 600_400.0 - per_ms).abs() < per_ms * 0.01);

    let markers: Vec<u64> = doc
        .descendants()
        .filter(|n| n.has_class("marker"))
        .map(|n| n.attribute("data-at-ms").unwrap().parse().unwrap())
        .collect();
    assert_eq!(markers, [613_000], "invocation 2 marked where it began");
    assert!(svg.contains("invocation 2 (continuation)"));

    // The text view of the same run.
    let text = history::show_text(&record);
    assert!(text.contains("Invocation 2"), "{text}");
    assert!(text.contains("Role_DB i-db2: FAILED, IncorrectInstanceState"), "{text}");
    assert!(text.contains("then 600s of InterTierOrchestrationDelay waited outside the function"));
    assert_eq!(history::took_ms(&record), Some(679_000));
    let counts = history::counts(&record);
    assert_eq!((counts.acted, counts.failed, counts.bypassed), (5, 1, 1));
}

#[test]
fn a_plans_timeline_estimates_each_step_and_keeps_the_delays() {
    let mut tiers = three_tiers("W", 10);
    tiers[0]["TierStop"]["TierStopOverrideFilename"] = json!("/tmp/StopOverride");
    tiers[0]["TierStop"]["TierStopOverrideOperatingSystem"] = json!("Linux");
    tiers[2]["TierStop"]["TierSynchronization"] = json!("True");
    let config = WorkloadConfig::from_items("W", &workload_item("W"), &tiers, ItemNaming::Table).unwrap();
    let instances: Vec<Instance> = ["Role_Web", "Role_App", "Role_DB"]
        .iter()
        .flat_map(|tier| (0..2).map(move |n| Instance::new(&format!("i-{}{n}", &tier[5..]), tier, Running, "t3.small")))
        .collect();
    let plan = plan::build(
        &config,
        &instances,
        Action::Stop,
        None,
        ec2_tier_scheduler::clock::now(),
    );
    let estimates = Estimates::typical(Action::Stop);
    let timeline = Timeline::of_plan(&plan, &estimates);
    assert!(timeline.estimated);
    let svg = timeline.to_svg();
    let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
    assert_eq!(lanes(&doc), ["Role_Web", "Role_App", "Role_DB"]);
    let mut got: Vec<(String, String, u64, u64)> = bars(&doc)
        .into_iter()
        .map(|b| (b.lane, b.kind, b.start_ms, b.end_ms))
        .collect();
    got.sort_by_key(|b| (b.2, b.3));
    let check = estimates.override_check_ms;
    let batch = estimates.batch_ms;
    let web_end = check + batch;
    let app_end = web_end + 10_000 + batch;
    let want = [
        ("Role_Web", "override-check", 0, check),
        ("Role_Web", "act", check, web_end),
        ("Role_Web", "delay", web_end, web_end + 10_000),
        ("Role_App", "act", web_end + 10_000, app_end),
        ("Role_App", "delay", app_end, app_end + 10_000),
        // Synchronous: one instance after the other.
        (
            "Role_DB",
            "act",
            app_end + 10_000,
            app_end + 10_000 + 2 * estimates.sync_instance_ms,
        ),
    ];
    let want: Vec<(String, String, u64, u64)> = want
        .iter()
        .map(|(l, k, s, e)| (l.to_string(), k.to_string(), *s, *e))
        .collect();
    assert_eq!(got, want);
    assert!(svg.contains("stroke-dasharray=\"4 3\""), "estimates are drawn dashed");
    assert!(svg.contains("plan (estimated durations)"));
}

#[tokio::test]
async fn runs_and_status_commands_read_the_ledger_and_the_schedules() {
    use aws_sdk_scheduler::types::{FlexibleTimeWindow, FlexibleTimeWindowMode, Target};
    let stack = Stack::start().await;
    crate::moto_ledger::ledger_table(&stack).await;
    // This test names the table itself (and checks the commands need it).
    stack.ledger.store(false, std::sync::atomic::Ordering::SeqCst);
    let (_, subnet) = stack.vpc("10.16.0.0").await;
    let mut ids = Vec::new();
    for tier in ["Role_Web", "Role_App", "Role_DB"] {
        ids.extend(stack.launch_tier(&subnet, tier, 2).await);
    }
    let mut workload = workload_item("W");
    workload.as_object_mut().unwrap().remove("SNSTopicName");
    stack.put_config(workload, three_tiers("W", 1)).await;
    let ledger = ["--ledger-table", "SchedulerRunLedger"];
    fn cli<'a>(args: &[&'a str]) -> Vec<&'a str> {
        let mut all = args.to_vec();
        all.extend(["--ledger-table", "SchedulerRunLedger"]);
        all
    }

    // Nothing yet; and the commands need the ledger.
    let (code, out, _) = stack.cli(&cli(&["runs", "list"])).await;
    assert_eq!(code, 0);
    assert!(out.starts_with("no runs since"), "{out}");
    let (code, _, err) = stack.cli(&["runs", "list"]).await;
    assert_eq!(code, 2, "{err}");

    let run = |action: &'static str, id: Option<&'static str>| {
        let mut args = vec!["-w", "W", "-r", "us-west-2", "-a", action, "--timeout", "120"];
        args.extend(ledger);
        if let Some(id) = id {
            args.extend(["--run-id", id]);
        }
        args
    };
    let (code, out, err) = stack.cli(&run("Stop", Some("nightly"))).await;
    assert_eq!(code, 0, "{out}{err}");
    tokio::time::sleep(Duration::from_millis(1100)).await; // distinct startedAt seconds
    let (code, out, err) = stack.cli(&run("Start", None)).await;
    assert_eq!(code, 0, "{out}{err}");

    // runs list: newest first, one line each, through the indexes.
    let (code, out, err) = stack.cli(&cli(&["runs", "list"])).await;
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("RUN") && lines[0].contains("ACTED/FAILED/BYPASSED"),
        "{out}"
    );
    assert_eq!(lines.len(), 4, "header, rule, two runs:\n{out}");
    assert!(lines[2].contains("Start") && lines[2].contains("once|W|"), "{out}");
    assert!(lines[3].contains("Stop") && lines[3].contains("run|W|nightly"), "{out}");
    for line in &lines[2..] {
        assert!(
            line.contains("completed") && line.contains(" 6/0/0 ") && line.contains("cli "),
            "{line}"
        );
    }
    let (_, json_out, _) = stack
        .cli(&cli(&["runs", "list", "-w", "W", "--since", "1h", "--json"]))
        .await;
    let rows: Vec<Value> = serde_json::from_str(&json_out).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["key"], "run|W|nightly");
    assert_eq!(rows[1]["counts"]["acted"], 6);
    assert_eq!(rows[1]["invocations"], 1);
    let (_, out, _) = stack.cli(&cli(&["runs", "list", "-w", "Other"])).await;
    assert!(out.starts_with("no runs of Other"), "{out}");

    // runs show, by key and by short id, with the timeline.
    let svg_path = std::env::temp_dir().join(format!("ec2ts-{}-stop.svg", stack.moto.port));
    let (code, out, err) = stack
        .cli(&cli(&[
            "runs",
            "show",
            "run|W|nightly",
            "--svg",
            svg_path.to_str().unwrap(),
        ]))
        .await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Stop W: completed") && out.contains("Invocation 1"),
        "{out}"
    );
    assert!(
        out.contains("Role_Web") && out.contains("delay 1.0s after sequence 0"),
        "{out}"
    );
    assert!(err.contains("timeline written to"), "{err}");
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    let _ = std::fs::remove_file(&svg_path);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    assert_eq!(lanes(&doc), ["Role_Web", "Role_App", "Role_DB"]);
    let drawn = bars(&doc);
    assert_eq!(drawn.iter().filter(|b| b.kind == "act").count(), 3, "{drawn:?}");
    assert_eq!(drawn.iter().filter(|b| b.kind == "delay").count(), 2, "{drawn:?}");
    let short = rows[1]["id"].as_str().unwrap();
    let (code, by_id, _) = stack.cli(&cli(&["runs", "show", short])).await;
    assert_eq!(code, 0);
    assert!(by_id.contains("run|W|nightly"), "{by_id}");
    let (code, _, err) = stack.cli(&cli(&["runs", "show", "run|W|nope"])).await;
    assert_eq!(code, 1, "{err}");

    // status: tiers now, an override tag in force, the last runs and the
    // next scheduled ones.
    stack
        .ec2
        .create_tags()
        .resources(&ids[0])
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("SchedulerOverride")
                .value("keep-running until 2099-01-01T00:00:00Z")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let scheduler = aws_sdk_scheduler::Client::new(&stack.config);
    scheduler.create_schedule_group().name("ops").send().await.unwrap();
    for (name, action, cron) in [
        ("w-stop", "Stop", "cron(0 19 ? * MON-FRI *)"),
        ("w-start", "Start", "cron(0 7 ? * MON-FRI *)"),
    ] {
        scheduler
            .create_schedule()
            .group_name("ops")
            .name(name)
            .schedule_expression(cron)
            .schedule_expression_timezone("UTC")
            .flexible_time_window(
                FlexibleTimeWindow::builder()
                    .mode(FlexibleTimeWindowMode::Off)
                    .build()
                    .unwrap(),
            )
            .target(
                Target::builder()
                    .arn("arn:aws:lambda:us-west-2:123456789012:function:scheduler")
                    .role_arn("arn:aws:iam::123456789012:role/scheduler")
                    .input(json!({"workloadIdentifier": "W", "action": action}).to_string())
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
    let status = ["status", "-w", "W", "-r", "us-west-2", "--schedule-group", "ops"];
    let (code, out, err) = stack.cli(&cli(&status)).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("TIER") && out.contains("IN TRANSITION"), "{out}");
    assert!(
        out.contains(&format!(
            "{} override tag: keep-running until 2099-01-01T00:00:00Z",
            ids[0]
        )),
        "{out}"
    );
    assert!(out.contains("WorkloadState: last action Start"), "{out}");
    assert!(out.contains("Start") && out.contains("completed") && out.contains("acted/failed/bypassed 6/0/0"));
    assert!(out.contains("w-stop: cron(0 19 ? * MON-FRI *) UTC"), "{out}");
    let mut with_json = status.to_vec();
    with_json.push("--json");
    let (_, json_out, _) = stack.cli(&cli(&with_json)).await;
    let status: Value = serde_json::from_str(&json_out).unwrap();
    let running: Vec<u64> = status["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["running"].as_u64().unwrap())
        .collect();
    assert_eq!(running, [2, 2, 2], "all started");
    assert_eq!(status["lastRuns"].as_array().unwrap().len(), 2);
    let next = status["nextRuns"].as_array().unwrap();
    assert_eq!(next.len(), 2);
    let now = ec2_tier_scheduler::clock::now();
    for n in next {
        let at = n["at"].as_array().unwrap();
        assert_eq!(at.len(), 2, "{n}");
        let first = at[0].as_u64().unwrap();
        assert!(first > now && first <= now + 4 * 86_400, "{n}");
        let hour = first % 86_400 / 3600;
        assert_eq!(hour, if n["action"] == "Stop" { 19 } else { 7 }, "{n}");
    }
    // Without a ledger and a group it says what it cannot know.
    let (_, out, _) = stack.cli(&["status", "-w", "W", "-r", "us-west-2"]).await;
    assert!(out.contains("unknown: no --ledger-table"), "{out}");
    assert!(out.contains("unknown: no --schedule-group"), "{out}");

    // plan --svg: the same picture for what a Stop would do.
    let plan_svg = std::env::temp_dir().join(format!("ec2ts-{}-plan.svg", stack.moto.port));
    let (code, out, err) = stack
        .cli(&[
            "plan",
            "-w",
            "W",
            "-r",
            "us-west-2",
            "-a",
            "Stop",
            "--svg",
            plan_svg.to_str().unwrap(),
        ])
        .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Plan: Stop W"), "{out}");
    let svg = std::fs::read_to_string(&plan_svg).unwrap();
    let _ = std::fs::remove_file(&plan_svg);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    assert_eq!(lanes(&doc), ["Role_Web", "Role_App", "Role_DB"]);
    assert_eq!(bars(&doc).iter().filter(|b| b.kind == "act").count(), 3);
}

#[tokio::test]
async fn status_shows_what_it_can_when_the_ledger_cannot_be_read() {
    // A ledger without the run indexes (a stack from before them): status
    // says the last runs are unknown and why, and shows the rest.
    use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
    let stack = Stack::start().await;
    stack
        .ddb
        .create_table()
        .table_name("OldLedger")
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    let (_, subnet) = stack.vpc("10.17.0.0").await;
    stack.launch_tier(&subnet, "Role_Web", 2).await;
    let mut workload = workload_item("W");
    workload.as_object_mut().unwrap().remove("SNSTopicName");
    stack.put_config(workload, three_tiers("W", 0)).await;
    let status = ["status", "-w", "W", "-r", "us-west-2", "--ledger-table", "OldLedger"];
    let (code, out, err) = stack.cli(&status).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("TIER") && out.contains("Role_Web"),
        "the tiers are shown: {out}"
    );
    assert!(
        out.contains("unknown: the run ledger OldLedger could not be read"),
        "says what it could not read: {out}"
    );
    assert!(out.contains("unknown: no --schedule-group"), "{out}");
    assert!(err.contains("warning: run ledger OldLedger not read"), "{err}");
    let mut with_json = status.to_vec();
    with_json.push("--json");
    let (code, out, _) = stack.cli(&with_json).await;
    assert_eq!(code, 0);
    let status: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["lastRuns"], json!([]));
    assert!(
        status["runsNote"].as_str().unwrap().contains("could not be read"),
        "{status}"
    );
    assert_eq!(status["tiers"].as_array().unwrap().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_start_ec2_gave_up_on_shows_as_a_failed_confirmation_in_the_timeline_and_the_metrics() {
    let cloud = FakeCloud::new();
    let mut workload = workload_item("W");
    workload.as_object_mut().unwrap().remove("SNSTopicName");
    cloud.put_config(workload, three_tiers("W", 5));
    cloud.add_spec_instances(Stopped);
    cloud.lock().start_falls_back.insert(
        "i-a1".into(),
        ec2_tier_scheduler::instance::StateReason {
            code: "Client.InternalError".into(),
            message: "Client.InternalError: Client error on launch".into(),
        },
    );
    let (ledger, continuation) = (FakeLedger::default(), FakeContinuation::default());
    let payload = json!({"workloadIdentifier": "W", "action": "Start", "runId": "morning"});
    let handled = deliver(
        services(&cloud, &ledger, &continuation),
        &payload,
        Duration::from_secs(900),
        &Settings::default(),
    )
    .await;
    let line = line_of(&handled, 0);
    assert_eq!(line["InstancesFailed"], 1);
    assert_eq!(line["failedInstances"], json!(["i-a1"]));
    assert_eq!(line["status"], "completedWithFailures");

    let record = ledger.lock().records.get("run|W|morning").cloned().unwrap();
    let svg = Timeline::of_run(&record).to_svg();
    let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
    let confirms: Vec<SvgBar> = bars(&doc).into_iter().filter(|b| b.kind == "confirm").collect();
    assert_eq!(confirms.len(), 3, "one per tier: {confirms:?}");
    let app = confirms.iter().find(|b| b.lane == "Role_App").unwrap();
    assert!(app.failed && app.fill == FAILED_COLOUR, "{app:?}");
    assert!(confirms.iter().filter(|b| b.lane != "Role_App").all(|b| !b.failed));
}
