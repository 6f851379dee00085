//! The CLI: the seed's `Orchestrator.py` flags on the same library as the
//! Lambda function, plus `plan`, `config`, `override`, `runs` and `status`
//! subcommands.
//!
//! Exit codes: 0 done (or dry run / kill switch), 1 refused (bad input,
//! invalid configuration, unreachable service; nothing was touched),
//! 2 usage error, 3 ran with failures, bypasses, an abort or out of time.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand};
use ec2_tier_scheduler::aws::{load_sdk_config, AwsCloud, Tables};
use ec2_tier_scheduler::config::document::{self, Shape};
use ec2_tier_scheduler::event::SchedulerEvent;
use ec2_tier_scheduler::handler::{run_event, Outcome, Services};
use ec2_tier_scheduler::ledger::Ledger;
use ec2_tier_scheduler::orchestrator::{self, RunReport, RunRequest, Settings};
use ec2_tier_scheduler::plan::Action;
use ec2_tier_scheduler::ports::Cloud;
use ec2_tier_scheduler::summary::RunStatus;
use ec2_tier_scheduler::timeline::{Estimates, Timeline};

const LOG_LEVELS: [&str; 6] = ["critical", "error", "warning", "info", "debug", "notset"];

/// Orchestrates the stopping and starting of tiers of EC2 instances.
#[derive(Parser, Debug)]
#[command(name = "orchestrator", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Args, Debug, Clone)]
struct Target {
    /// Workload Identifier to Action Upon
    #[arg(short = 'w', long = "workloadIdentifier")]
    workload: Option<String>,
    /// Region where the DynamoDB configuration exists (may differ from the workload's region)
    #[arg(short = 'r', long = "dynamoDBRegion")]
    region: Option<String>,
    /// Action to Orchestrate (e.g. Stop or Start)
    #[arg(short = 'a', long = "action", value_parser = ["Stop", "Start"], default_value = "Start")]
    action: String,
    /// Start even when the WorkloadState table says the last action was already a Start
    #[arg(short = 'o', long = "overrideState")]
    override_state: bool,
    /// Resize instances based on Scaling Profile name (Start)
    #[arg(short = 'p', long = "scalingProfile")]
    profile: Option<String>,
    /// The level of log messages (on stderr)
    #[arg(short = 'l', long = "loglevel", default_value = "info", value_parser = LOG_LEVELS)]
    loglevel: String,
    /// Print JSON instead of tables
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    target: Target,
    /// Run the test cases: start the workload, wait, then stop it
    #[arg(short = 't', long = "testcases")]
    testcases: bool,
    /// Seconds between start and stop for --testcases
    #[arg(long = "testcasesWait", default_value_t = 90)]
    testcases_wait: u64,
    /// Run but take no Action
    #[arg(short = 'd', long = "dryrun")]
    dry_run: bool,
    /// The run ledger table (the deployed stack's): the same idempotency
    /// keys, workload lock and run record as the function
    #[arg(long = "ledger-table", env = "RUN_LEDGER_TABLE")]
    ledger_table: Option<String>,
    /// Idempotency key for this run: hosts running the same cron line with
    /// the same id (e.g. "$(date +%F)-stop") make one run between them
    #[arg(long = "run-id")]
    run_id: Option<String>,
    /// Seconds the run may take; every wait and retry is bounded by it
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(60..=86_400))]
    timeout: u64,
}

#[derive(Args, Debug)]
struct PlanArgs {
    #[command(flatten)]
    target: Target,
    /// Also draw the plan as a timeline with estimated durations (SVG)
    #[arg(long, value_name = "FILE")]
    svg: Option<std::path::PathBuf>,
}

#[derive(Args, Debug, Clone)]
struct LedgerArg {
    /// The run ledger table (the stack's RunLedgerTableName output)
    #[arg(long = "ledger-table", env = "RUN_LEDGER_TABLE")]
    ledger_table: Option<String>,
}

#[derive(Subcommand, Debug)]
enum RunsCommand {
    /// Runs recorded in the ledger, newest first
    List {
        /// Only this workload's runs
        #[arg(short = 'w', long = "workloadIdentifier")]
        workload: Option<String>,
        /// How far back (e.g. 7d, 12h, 90m)
        #[arg(long, default_value = "7d")]
        since: String,
        /// At most this many runs
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[command(flatten)]
        ledger: LedgerArg,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// One run: its invocations, tiers, steps, delays and failures
    Show {
        /// The run's key, or the short id `runs list` prints
        run: String,
        #[command(flatten)]
        ledger: LedgerArg,
        /// Print the ledger record as JSON
        #[arg(long)]
        json: bool,
        /// Also draw the run as a timeline (SVG)
        #[arg(long, value_name = "FILE")]
        svg: Option<std::path::PathBuf>,
    },
}

#[derive(Args, Debug)]
struct StatusArgs {
    /// Workload Identifier
    #[arg(short = 'w', long = "workloadIdentifier")]
    workload: String,
    /// Region of the configuration tables
    #[arg(short = 'r', long = "dynamoDBRegion")]
    region: String,
    #[command(flatten)]
    ledger: LedgerArg,
    /// The stack's schedule group (its ScheduleGroupName output), for the next runs
    #[arg(long = "schedule-group", env = "SCHEDULE_GROUP_NAME")]
    schedule_group: Option<String>,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the ordered plan; makes no mutating call
    Plan(PlanArgs),
    /// What the scheduler did: the runs recorded in the ledger
    Runs {
        #[command(subcommand)]
        command: RunsCommand,
    },
    /// What state a workload is in: per tier, overrides, last and next runs
    Status(StatusArgs),
    /// Validate, import and export workload documents
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Expiring per-instance overrides by tag: keep instances running
    /// (or stopped) through scheduled runs until a time
    Override {
        #[command(subcommand)]
        command: OverrideCommand,
    },
}

#[derive(Args, Debug)]
struct OverrideScope {
    /// Workload Identifier
    #[arg(short = 'w', long = "workloadIdentifier")]
    workload: String,
    /// Region of the configuration tables
    #[arg(short = 'r', long = "dynamoDBRegion")]
    region: String,
    /// Only these instances of the workload (default: all of them)
    #[arg(long = "instance")]
    instances: Vec<String>,
}

#[derive(Subcommand, Debug)]
enum OverrideCommand {
    /// Tag instances with `keep-running until <time>` (or keep-stopped)
    Set {
        #[command(flatten)]
        scope: OverrideScope,
        /// Until this UTC time (ISO-8601, e.g. 2026-11-26T08:00:00Z)
        #[arg(long, conflicts_with = "for_span", required_unless_present = "for_span")]
        until: Option<String>,
        /// For this long from now (e.g. 3h, 90m, 2d)
        #[arg(long = "for", id = "for_span")]
        for_span: Option<String>,
        /// What to keep the instances as
        #[arg(long, value_parser = ["running", "stopped"], default_value = "running")]
        keep: String,
        /// Why (carried into run reports)
        #[arg(long)]
        reason: Option<String>,
    },
    /// Remove the override tags
    Clear {
        #[command(flatten)]
        scope: OverrideScope,
    },
    /// List the workload's instances with their override tags
    List {
        #[command(flatten)]
        scope: OverrideScope,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Check a workload document (JSON or YAML) with the orchestrator's rules
    Validate {
        /// The document
        file: std::path::PathBuf,
    },
    /// Validate a document and write it to the tables (all or nothing)
    Import {
        /// The document
        file: std::path::PathBuf,
        /// Region of the configuration tables
        #[arg(short = 'r', long = "dynamoDBRegion")]
        region: String,
    },
    /// Print a workload's items as a document
    Export {
        /// SpecName of the workload
        workload: String,
        /// Region of the configuration tables
        #[arg(short = 'r', long = "dynamoDBRegion")]
        region: String,
        /// Document shape: this project's JSON, or the original Loader's YAML
        #[arg(long, value_enum, default_value = "document")]
        format: ExportFormat,
    },
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
enum ExportFormat {
    /// {"workload": {...}, "tiers": [...]} as JSON
    Document,
    /// The original Loader's workloads:/tiers: shape as YAML
    Loader,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match &cli.command {
        Some(Command::Plan(p)) => p.target.loglevel.clone(),
        _ => cli.run.target.loglevel.clone(),
    };
    ec2_tier_scheduler::telemetry::init_cli(&level);
    match cli.command {
        Some(Command::Config { command }) => config_command(command).await,
        Some(Command::Override { command }) => override_command(command).await,
        Some(Command::Plan(args)) => plan_command(args).await,
        Some(Command::Runs { command }) => runs_command(command).await,
        Some(Command::Status(args)) => status_command(args).await,
        None => run_command(cli.run).await,
    }
}

fn usage_error(message: &str) -> ExitCode {
    let _ = Cli::command()
        .error(clap::error::ErrorKind::MissingRequiredArgument, message)
        .print();
    ExitCode::from(2)
}

fn request(target: &Target, action: Action, dry_run: bool, cloud: &AwsCloud) -> Result<RunRequest, ExitCode> {
    let (Some(workload), Some(region)) = (&target.workload, &target.region) else {
        return Err(usage_error(
            "-w/--workloadIdentifier and -r/--dynamoDBRegion are required",
        ));
    };
    Ok(RunRequest {
        workload: workload.clone(),
        action,
        scaling_profile: target.profile.clone(),
        dry_run,
        dynamodb_region: region.clone(),
        override_state: target.override_state,
        // SNS where the original published: the region this process runs
        // in (AWS_REGION / the profile), else the tables' region.
        notify_region: cloud.default_region(),
    })
}

async fn cloud() -> AwsCloud {
    cloud_with(Tables::from_env()).await
}

async fn cloud_with(tables: Tables) -> AwsCloud {
    AwsCloud::new(load_sdk_config().await, tables)
}

async fn run_command(args: RunArgs) -> ExitCode {
    let actions: Vec<Action> = if args.testcases {
        vec![Action::Start, Action::Stop]
    } else {
        match args.target.action.parse::<Action>() {
            Ok(a) => vec![a],
            Err(e) => return usage_error(&format!("-a/--action: {e}")),
        }
    };
    let cloud = cloud().await;
    let ledger = args.ledger_table.as_deref().map(|t| cloud.ledger(t));
    if ledger.is_none() && !args.dry_run {
        eprintln!(
            "note: no run ledger (RUN_LEDGER_TABLE / --ledger-table): this run takes no workload lock and writes no run record"
        );
    }
    let mut worst = ExitCode::SUCCESS;
    for (index, action) in actions.iter().enumerate() {
        if index > 0 {
            eprintln!("waiting {}s before the next action", args.testcases_wait);
            tokio::time::sleep(Duration::from_secs(args.testcases_wait)).await;
        }
        let request = match request(&args.target, *action, args.dry_run, &cloud) {
            Ok(r) => r,
            Err(code) => return code,
        };
        let run_id = args.run_id.as_ref().map(|id| match args.testcases {
            true => format!("{id}-{action}"),
            false => id.clone(),
        });
        let options = RunOptions {
            ledger: ledger.as_ref().map(|l| l as &dyn Ledger),
            run_id,
            timeout: Duration::from_secs(args.timeout),
            json: args.target.json,
        };
        let code = run_one(&cloud, &request, &options).await;
        if code != ExitCode::SUCCESS {
            worst = code;
            if code == ExitCode::FAILURE {
                return code;
            }
        }
    }
    worst
}

/// How the CLI runs: with or without the ledger, and within its deadline.
struct RunOptions<'a> {
    ledger: Option<&'a dyn Ledger>,
    run_id: Option<String>,
    timeout: Duration,
    json: bool,
}

fn show_plan(plan: &ec2_tier_scheduler::plan::Plan) {
    println!("{}", plan.to_table());
}

/// `user@host`, for the run record.
fn who() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into());
    format!("{user}@{host}")
}

async fn run_one(cloud: &AwsCloud, request: &RunRequest, options: &RunOptions<'_>) -> ExitCode {
    let event = SchedulerEvent {
        workload_identifier: request.workload.clone(),
        action: request.action,
        scaling_profile: request.scaling_profile.clone(),
        dry_run: request.dry_run,
        dynamodb_region: Some(request.dynamodb_region.clone()),
        run_id: options.run_id.clone(),
        schedule_arn: None,
        scheduled_time: None,
        continue_run: None,
        continuation_token: None,
        override_state: request.override_state,
        envelope: None,
    };
    let region = request.notify_region.clone();
    let services = Services {
        cloud,
        function_region: region.as_deref(),
        ledger: options.ledger,
        continuation: None,
        schedule_origin: Default::default(),
    };
    let settings = Settings {
        on_plan: if options.json { None } else { Some(show_plan) },
        ..Settings::from_env()
    };
    // The CLI's deadline: throttling and capacity retries, waits and gates
    // all end within --timeout, as in the function.
    let outcome = run_event(
        services,
        &event,
        format!("cli {}", who()),
        Some(options.timeout),
        &settings,
    )
    .await;
    match outcome {
        Ok(Outcome::Ran {
            report, ledger_error, ..
        }) => {
            let code = print_report(&report, options.json);
            if let Some(e) = ledger_error {
                eprintln!("warning: {e}");
            }
            code
        }
        Ok(Outcome::Duplicate(response)) => {
            if options.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&response).expect("response serialises")
                );
            } else {
                println!("duplicate: {}", response["message"].as_str().unwrap_or_default());
            }
            ExitCode::SUCCESS
        }
        Err(e) => refused(&e),
    }
}

fn print_report(report: &RunReport, json: bool) -> ExitCode {
    if json {
        println!("{}", serde_json::to_string_pretty(report).expect("report serialises"));
    } else {
        println!("{}", report.summary.to_table());
    }
    match report.summary.status {
        RunStatus::Completed
        | RunStatus::DryRun
        | RunStatus::Disabled
        | RunStatus::Skipped
        | RunStatus::SkippedByCalendar => ExitCode::SUCCESS,
        _ => ExitCode::from(3),
    }
}

fn refused(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    eprintln!("nothing was changed");
    ExitCode::FAILURE
}

async fn plan_command(args: PlanArgs) -> ExitCode {
    let PlanArgs { target, svg } = args;
    let action = match target.action.parse::<Action>() {
        Ok(a) => a,
        Err(e) => return usage_error(&format!("-a/--action: {e}")),
    };
    let cloud = cloud().await;
    let request = match request(&target, action, true, &cloud) {
        Ok(r) => r,
        Err(code) => return code,
    };
    match orchestrator::prepare(&cloud, &request).await {
        Ok(orchestrator::Prepared { plan, .. }) => {
            if target.json {
                println!("{}", serde_json::to_string_pretty(&plan).expect("plan serialises"));
            } else {
                print!("{}", plan.to_table());
            }
            if let Some(path) = svg {
                let timeline = Timeline::of_plan(&plan, &Estimates::typical(plan.action));
                if let Err(e) = write_svg(&path, &timeline) {
                    return refused(&e);
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => refused(&e),
    }
}

async fn config_command(command: ConfigCommand) -> ExitCode {
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    match command {
        ConfigCommand::Validate { file } => {
            let text = match read(&file) {
                Ok(t) => t,
                Err(e) => return refused(&e),
            };
            match document::parse(&text) {
                Ok(parsed) => {
                    let config = &parsed.config;
                    println!(
                        "{}: workload {:?} is valid ({} tiers{})",
                        file.display(),
                        config.workload.spec_name,
                        config.tiers.len(),
                        match parsed.shape {
                            Shape::Loader => ", the original Loader's document shape",
                            Shape::Document => "",
                        }
                    );
                    for w in &config.warnings {
                        println!("  warning: {w}");
                    }
                    if let Some(note) = table_note(&parsed.tables, &Tables::from_env()) {
                        println!("  note: {note}");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{}: {e}", file.display());
                    ExitCode::FAILURE
                }
            }
        }
        ConfigCommand::Import { file, region } => {
            let text = match read(&file) {
                Ok(t) => t,
                Err(e) => return refused(&e),
            };
            let parsed = match document::parse(&text) {
                Ok(parsed) => parsed,
                Err(e) => {
                    eprintln!("{}: {e}", file.display());
                    eprintln!("nothing was written");
                    return ExitCode::FAILURE;
                }
            };
            for w in &parsed.config.warnings {
                eprintln!("warning: {w}");
            }
            // A Loader document names its tables: they are honoured, and a
            // difference from the configured ones is said plainly.
            let configured = Tables::from_env();
            if let Some(note) = table_note(&parsed.tables, &configured) {
                eprintln!("note: {note}");
            }
            let tables = Tables {
                workload: parsed.tables.workload.clone().unwrap_or(configured.workload.clone()),
                tier: parsed.tables.tier.clone().unwrap_or(configured.tier.clone()),
                state: configured.state.clone(),
            };
            let cloud = cloud_with(tables.clone()).await;
            let store = cloud.config_store(&region);
            let config = &parsed.config;
            if let Err(e) = store.save(&parsed.items).await {
                return refused(&e);
            }
            println!(
                "imported workload {:?} ({} tiers) into {} / {} in {region}",
                config.workload.spec_name,
                config.tiers.len(),
                tables.workload,
                tables.tier
            );
            seed_state(store.as_ref(), &config.workload.spec_name).await;
            ExitCode::SUCCESS
        }
        ConfigCommand::Export {
            workload,
            region,
            format,
        } => {
            let tables = Tables::from_env();
            let cloud = cloud().await;
            match cloud.config_store(&region).load(&workload).await {
                Ok(Some(items)) => {
                    let names = (tables.workload.as_str(), tables.tier.as_str());
                    match format {
                        ExportFormat::Document => println!(
                            "{}",
                            serde_json::to_string_pretty(&document::render(&items, Shape::Document, names))
                                .expect("document serialises")
                        ),
                        ExportFormat::Loader => print!(
                            "{}",
                            serde_yaml::to_string(&document::render(&items, Shape::Loader, names))
                                .expect("document serialises")
                        ),
                    }
                    ExitCode::SUCCESS
                }
                Ok(None) => refused(&format!("workload {workload:?} not found in {region}")),
                Err(e) => refused(&e),
            }
        }
    }
}

/// Says how a Loader document's table names relate to the configured ones.
fn table_note(named: &document::DocumentTables, configured: &Tables) -> Option<String> {
    let differs = |doc: &Option<String>, conf: &str| doc.as_deref().is_some_and(|d| d != conf);
    (differs(&named.workload, &configured.workload) || differs(&named.tier, &configured.tier)).then(|| {
        format!(
            "the document names tables {} / {}; the scheduler reads {} / {} \
             (WORKLOAD_SPEC_TABLE / TIER_SPEC_TABLE). Import writes to the document's tables",
            named.workload.as_deref().unwrap_or(&configured.workload),
            named.tier.as_deref().unwrap_or(&configured.tier),
            configured.workload,
            configured.tier
        )
    })
}

/// The original's Loader seeds the WorkloadState row (`Unmanaged`) when it
/// loads a workload; an existing row is kept.
async fn seed_state(store: &dyn ec2_tier_scheduler::ports::ConfigStore, workload: &str) {
    use ec2_tier_scheduler::ports::{StateLookup, WorkloadState};
    match store.load_state(workload).await {
        Ok(StateLookup::Missing) => {
            let state = WorkloadState {
                last_action_type: "Unmanaged".into(),
                last_action_time: ec2_tier_scheduler::ledger::utc_timestamp(ec2_tier_scheduler::ledger::epoch_now())
                    .replace('T', " "),
                profile: None,
            };
            match store.save_state(workload, &state).await {
                Ok(None) => println!("WorkloadState row seeded as Unmanaged"),
                Ok(Some(table)) => eprintln!("note: table {table} does not exist; no WorkloadState row written"),
                Err(e) => eprintln!("warning: WorkloadState row not written: {e}"),
            }
        }
        Ok(StateLookup::NoTable(table)) => {
            eprintln!("note: table {table} does not exist; no WorkloadState row written")
        }
        Ok(StateLookup::Found(_)) => {}
        Err(e) => eprintln!("warning: WorkloadState table not read: {e}"),
    }
}

async fn override_command(command: OverrideCommand) -> ExitCode {
    use ec2_tier_scheduler::override_tag::{self, Keep, TagOverride, TagVerdict, OVERRIDE_REASON_TAG};
    let scope = match &command {
        OverrideCommand::Set { scope, .. } | OverrideCommand::Clear { scope } | OverrideCommand::List { scope, .. } => {
            scope
        }
    };
    let cloud = cloud().await;
    let (config, ports, instances) =
        match orchestrator::workload_instances(&cloud, &scope.workload, &scope.region).await {
            Ok(found) => found,
            Err(e) => return refused(&e),
        };
    // Only the workload's own instances: a stray id is refused, not tagged.
    let chosen: Vec<&ec2_tier_scheduler::instance::Instance> = if scope.instances.is_empty() {
        instances.iter().collect()
    } else {
        let mut chosen = Vec::new();
        for id in &scope.instances {
            match instances.iter().find(|i| &i.id == id) {
                Some(i) => chosen.push(i),
                None => return refused(&format!("{id} is not an instance of workload {:?}", scope.workload)),
            }
        }
        chosen
    };
    let ids: Vec<String> = chosen.iter().map(|i| i.id.clone()).collect();
    let key = config.workload.override_tag.clone();
    let now = ec2_tier_scheduler::ledger::epoch_now();
    match command {
        OverrideCommand::Set {
            until,
            for_span,
            keep,
            reason,
            ..
        } => {
            let until = match (until, for_span) {
                (Some(t), _) => override_tag::parse_utc(&t),
                (None, Some(span)) => override_tag::parse_span(&span).map(|s| now + s),
                _ => None,
            };
            let Some(until) = until.filter(|u| *u > now) else {
                return usage_error("--until must be a future ISO-8601 UTC time (or --for 3h, 90m, 2d)");
            };
            let tag = TagOverride {
                keep: if keep == "stopped" {
                    Keep::Stopped
                } else {
                    Keep::Running
                },
                until,
            };
            let mut tags = vec![(key.clone(), tag.to_tag_value())];
            if let Some(r) = reason.filter(|r| !r.trim().is_empty()) {
                if r.chars().count() > 256 {
                    return usage_error("--reason is longer than the 256 characters a tag value allows");
                }
                tags.push((OVERRIDE_REASON_TAG.to_string(), r));
            }
            for chunk in ids.chunks(1000) {
                if let Err(e) = ports.compute.tag(chunk, &tags).await {
                    return refused(&e);
                }
            }
            println!("{} instance(s) tagged {key}={}", ids.len(), tag.to_tag_value());
            ExitCode::SUCCESS
        }
        OverrideCommand::Clear { .. } => {
            let keys = vec![key.clone(), OVERRIDE_REASON_TAG.to_string()];
            for chunk in ids.chunks(1000) {
                if let Err(e) = ports.compute.untag(chunk, &keys).await {
                    return refused(&e);
                }
            }
            println!("override tags removed from {} instance(s)", ids.len());
            ExitCode::SUCCESS
        }
        OverrideCommand::List { json, .. } => {
            let describe = |value: &str, reason: Option<&str>| {
                let mut states = Vec::new();
                for action in [Action::Stop, Action::Start] {
                    match override_tag::verdict(Some(value), reason, action, now) {
                        TagVerdict::Keep(why) => states.push(format!("active: {why}")),
                        TagVerdict::Ignored(why) => states.push(why),
                        TagVerdict::None => {}
                    }
                }
                states.dedup();
                states.join("; ")
            };
            let rows: Vec<(String, String, String, String)> = chosen
                .iter()
                .filter_map(|i| {
                    i.override_tag.as_ref().map(|(value, reason)| {
                        (
                            i.id.clone(),
                            i.tier.clone(),
                            value.clone(),
                            describe(value, reason.as_deref()),
                        )
                    })
                })
                .collect();
            if json {
                let list: Vec<serde_json::Value> = rows
                    .iter()
                    .map(|(id, tier, value, status)| serde_json::json!({"instance": id, "tier": tier, "value": value, "status": status}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&list).expect("list serialises"));
            } else if rows.is_empty() {
                println!(
                    "no {key} tags on the {} instance(s) of {}",
                    chosen.len(),
                    scope.workload
                );
            } else {
                let mut table = vec![vec![
                    "INSTANCE".to_string(),
                    "TIER".into(),
                    key.clone(),
                    "STATUS".into(),
                ]];
                table.extend(rows.into_iter().map(|(a, b, c, d)| vec![a, b, c, d]));
                print!("{}", ec2_tier_scheduler::table::render(&table));
            }
            ExitCode::SUCCESS
        }
    }
}

/// Writes a timeline as SVG and says where (on stderr: stdout may be JSON).
fn write_svg(path: &std::path::Path, timeline: &Timeline) -> Result<(), String> {
    std::fs::write(path, timeline.to_svg()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    eprintln!("timeline written to {}", path.display());
    Ok(())
}

/// Runs are kept 30 days (the ledger's TTL); a short id is looked up among them.
const RECORD_DAYS: u64 = 31;

fn ledger_or_usage(cloud: &AwsCloud, ledger: &LedgerArg) -> Result<ec2_tier_scheduler::aws::DynamoLedger, ExitCode> {
    match &ledger.ledger_table {
        Some(table) => Ok(cloud.ledger(table)),
        None => Err(usage_error(
            "the run ledger is needed: --ledger-table or RUN_LEDGER_TABLE (the stack's RunLedgerTableName output)",
        )),
    }
}

async fn runs_command(command: RunsCommand) -> ExitCode {
    use ec2_tier_scheduler::history::{self, RunRow};
    let cloud = cloud().await;
    let now = ec2_tier_scheduler::ledger::epoch_now();
    match command {
        RunsCommand::List {
            workload,
            since,
            limit,
            ledger,
            json,
        } => {
            let ledger = match ledger_or_usage(&cloud, &ledger) {
                Ok(l) => l,
                Err(code) => return code,
            };
            let Some(span) = ec2_tier_scheduler::override_tag::parse_span(&since) else {
                return usage_error("--since takes a span such as 7d, 12h or 90m");
            };
            let runs = match ledger.runs(workload.as_deref(), now.saturating_sub(span), limit).await {
                Ok(runs) => runs,
                Err(e) => return refused(&e),
            };
            if json {
                let rows: Vec<RunRow> = runs.iter().map(RunRow::of).collect();
                println!("{}", serde_json::to_string_pretty(&rows).expect("rows serialise"));
            } else if runs.is_empty() {
                println!(
                    "no runs{} since {} UTC",
                    workload.map(|w| format!(" of {w}")).unwrap_or_default(),
                    history::show_time(now.saturating_sub(span))
                );
            } else {
                print!("{}", history::list_table(&runs));
            }
            ExitCode::SUCCESS
        }
        RunsCommand::Show { run, ledger, json, svg } => {
            let ledger = match ledger_or_usage(&cloud, &ledger) {
                Ok(l) => l,
                Err(code) => return code,
            };
            let record = match find_run(&ledger, &run, now).await {
                Ok(r) => r,
                Err(e) => return refused(&e),
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&record).expect("record serialises"));
            } else {
                print!("{}", history::show_text(&record));
            }
            if let Some(path) = svg {
                if let Err(e) = write_svg(&path, &Timeline::of_run(&record)) {
                    return refused(&e);
                }
            }
            ExitCode::SUCCESS
        }
    }
}

/// A run by key, or by the short id `runs list` prints.
async fn find_run(ledger: &dyn Ledger, run: &str, now: u64) -> Result<ec2_tier_scheduler::ledger::RunRecord, String> {
    if let Some(record) = ledger.load(run).await.map_err(|e| e.to_string())? {
        return Ok(record);
    }
    let short = run.len() == 8 && run.chars().all(|c| c.is_ascii_hexdigit());
    if short {
        let recent = ledger
            .runs(None, now.saturating_sub(RECORD_DAYS * 86_400), usize::MAX)
            .await
            .map_err(|e| e.to_string())?;
        let mut found: Vec<_> = recent
            .into_iter()
            .filter(|r| ec2_tier_scheduler::history::short_id(&r.key) == run.to_ascii_lowercase())
            .collect();
        match found.len() {
            1 => return Ok(found.remove(0)),
            0 => {}
            n => return Err(format!("{n} runs have the id {run}: give the key")),
        }
    }
    Err(format!(
        "no run {run:?} in the ledger (runs are kept {} days)",
        RECORD_DAYS - 1
    ))
}

async fn status_command(args: StatusArgs) -> ExitCode {
    use ec2_tier_scheduler::history::RunRow;
    use ec2_tier_scheduler::ports::StateLookup;
    use ec2_tier_scheduler::status::{next_runs, WorkloadStatus};
    let cloud = cloud().await;
    let now = ec2_tier_scheduler::ledger::epoch_now();
    let (config, _, instances) = match orchestrator::workload_instances(&cloud, &args.workload, &args.region).await {
        Ok(found) => found,
        Err(e) => return refused(&e),
    };
    let mut status = WorkloadStatus::new(&config, &instances, now);
    match cloud.config_store(&args.region).load_state(&args.workload).await {
        Ok(StateLookup::Found(state)) => {
            status.last_action = Some(format!(
                "last action {} at {}{}",
                state.last_action_type,
                state.last_action_time,
                state.profile.map(|p| format!(" (profile {p})")).unwrap_or_default()
            ))
        }
        Ok(_) => {}
        Err(e) => eprintln!("warning: WorkloadState not read: {e}"),
    }
    match &args.ledger.ledger_table {
        Some(table) => {
            let since = now.saturating_sub(RECORD_DAYS * 86_400);
            match cloud.ledger(table).runs(Some(&args.workload), since, 200).await {
                Ok(runs) => {
                    for action in [Action::Stop, Action::Start] {
                        if let Some(r) = runs.iter().find(|r| r.action == action) {
                            status.last_runs.push(RunRow::of(r));
                        }
                    }
                    status.last_runs.sort_by_key(|r| std::cmp::Reverse(r.started_at));
                }
                Err(e) => return refused(&e),
            }
        }
        None => status.runs_note = Some("unknown: no --ledger-table / RUN_LEDGER_TABLE".into()),
    }
    match &args.schedule_group {
        Some(group) => match cloud.schedule_reader().schedules(group).await {
            Ok(schedules) => status.next_runs = next_runs(&args.workload, &schedules, now, 2),
            Err(e) => return refused(&e),
        },
        None => {
            status.schedule_note =
                Some("unknown: no --schedule-group / SCHEDULE_GROUP_NAME (the stack's ScheduleGroupName output)".into())
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status).expect("status serialises"));
    } else {
        print!("{}", status.to_text());
    }
    ExitCode::SUCCESS
}
