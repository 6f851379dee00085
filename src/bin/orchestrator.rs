//! The CLI: the seed's `Orchestrator.py` flags on the same library as the
//! Lambda function, plus `plan` and `config` subcommands.
//!
//! Exit codes: 0 done (or dry run / kill switch), 1 refused (bad input,
//! invalid configuration, unreachable service; nothing was touched),
//! 2 usage error, 3 ran with failures, bypasses, an abort or out of time.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand};
use ec2_tier_scheduler::aws::{load_sdk_config, AwsCloud, Tables};
use ec2_tier_scheduler::config::document;
use ec2_tier_scheduler::orchestrator::{self, Budget, RunReport, RunRequest, Settings};
use ec2_tier_scheduler::plan::Action;
use ec2_tier_scheduler::ports::Cloud;
use ec2_tier_scheduler::summary::RunStatus;
use tokio::time::Instant;

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
    #[arg(short = 'a', long = "action", value_parser = ["Stop", "Start"])]
    action: Option<String>,
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
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the ordered plan; makes no mutating call
    Plan(Target),
    /// Validate, import and export workload documents
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
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
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match &cli.command {
        Some(Command::Plan(t)) => t.loglevel.clone(),
        _ => cli.run.target.loglevel.clone(),
    };
    ec2_tier_scheduler::telemetry::init_cli(&level);
    match cli.command {
        Some(Command::Config { command }) => config_command(command).await,
        Some(Command::Plan(target)) => plan_command(target).await,
        None => run_command(cli.run).await,
    }
}

fn usage_error(message: &str) -> ExitCode {
    let _ = Cli::command()
        .error(clap::error::ErrorKind::MissingRequiredArgument, message)
        .print();
    ExitCode::from(2)
}

fn request(target: &Target, action: Action, dry_run: bool) -> Result<RunRequest, ExitCode> {
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
    })
}

async fn cloud() -> AwsCloud {
    AwsCloud::new(load_sdk_config().await, Tables::from_env())
}

async fn run_command(args: RunArgs) -> ExitCode {
    let actions: Vec<Action> = if args.testcases {
        vec![Action::Start, Action::Stop]
    } else {
        match args.target.action.as_deref().map(str::parse::<Action>) {
            Some(Ok(a)) => vec![a],
            _ => return usage_error("-a/--action {Stop,Start} is required (or -t for the test cases)"),
        }
    };
    let cloud = cloud().await;
    let mut worst = ExitCode::SUCCESS;
    for (index, action) in actions.iter().enumerate() {
        if index > 0 {
            eprintln!("waiting {}s before the next action", args.testcases_wait);
            tokio::time::sleep(Duration::from_secs(args.testcases_wait)).await;
        }
        let request = match request(&args.target, *action, args.dry_run) {
            Ok(r) => r,
            Err(code) => return code,
        };
        let code = run_one(&cloud, &request, args.target.json).await;
        if code != ExitCode::SUCCESS {
            worst = code;
            if code == ExitCode::FAILURE {
                return code;
            }
        }
    }
    worst
}

async fn run_one(cloud: &dyn Cloud, request: &RunRequest, json: bool) -> ExitCode {
    let started = Instant::now();
    let (config, plan) = match orchestrator::prepare(cloud, request).await {
        Ok(p) => p,
        Err(e) => return refused(&e),
    };
    if !json {
        println!("{}", plan.to_table());
    }
    let report = orchestrator::execute_plan(
        cloud,
        &config,
        plan,
        request.dry_run,
        &Budget::unlimited(),
        &Settings::from_env(),
        started,
    )
    .await;
    match report {
        Ok(report) => print_report(&report, json),
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
        RunStatus::Completed | RunStatus::DryRun | RunStatus::Disabled => ExitCode::SUCCESS,
        _ => ExitCode::from(3),
    }
}

fn refused(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    eprintln!("nothing was changed");
    ExitCode::FAILURE
}

async fn plan_command(target: Target) -> ExitCode {
    let Some(action) = target.action.as_deref().and_then(|a| a.parse::<Action>().ok()) else {
        return usage_error("-a/--action {Stop,Start} is required");
    };
    let request = match request(&target, action, true) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let cloud = cloud().await;
    match orchestrator::prepare(&cloud, &request).await {
        Ok((_, plan)) => {
            if target.json {
                println!("{}", serde_json::to_string_pretty(&plan).expect("plan serialises"));
            } else {
                print!("{}", plan.to_table());
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
                Ok((_, config)) => {
                    println!(
                        "{}: workload {:?} is valid ({} tiers)",
                        file.display(),
                        config.workload.spec_name,
                        config.tiers.len()
                    );
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
            let (items, config) = match document::parse(&text) {
                Ok(parsed) => parsed,
                Err(e) => {
                    eprintln!("{}: {e}", file.display());
                    eprintln!("nothing was written");
                    return ExitCode::FAILURE;
                }
            };
            let cloud = cloud().await;
            match cloud.config_store(&region).save(&items).await {
                Ok(()) => {
                    println!(
                        "imported workload {:?} ({} tiers) into {region}",
                        config.workload.spec_name,
                        config.tiers.len()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => refused(&e),
            }
        }
        ConfigCommand::Export { workload, region } => {
            let cloud = cloud().await;
            match cloud.config_store(&region).load(&workload).await {
                Ok(Some(items)) => {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&document::render(&items)).expect("document serialises")
                    );
                    ExitCode::SUCCESS
                }
                Ok(None) => refused(&format!("workload {workload:?} not found in {region}")),
                Err(e) => refused(&e),
            }
        }
    }
}
