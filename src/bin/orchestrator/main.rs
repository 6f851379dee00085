//! The CLI: the seed's `Orchestrator.py` flags on the same library as the
//! Lambda function, plus `plan`, `config`, `override`, `runs`, `records` and `status`
//! subcommands. One file per command group; each command is a few calls
//! into the library.
//!
//! Exit codes: 0 done (or dry run / kill switch), 1 refused (bad input,
//! invalid configuration, unreachable service; nothing was touched),
//! 2 usage error, 3 ran with failures, bypasses, an abort or out of time.

use std::path::Path;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::aws::{load_sdk_config, AwsCloud, Tables};
use ec2_tier_scheduler::run::RunRequest;
use ec2_tier_scheduler::timeline::Timeline;

mod args;
mod config;
mod r#override;
mod plan;
mod records;
mod run;
mod runs;
mod status;

use args::{Cli, Command, Target};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match &cli.command {
        Some(Command::Plan(p)) => p.target.loglevel.clone(),
        _ => cli.run.target.loglevel.clone(),
    };
    ec2_tier_scheduler::telemetry::init_cli(&level);
    match cli.command {
        Some(Command::Config { command }) => config::command(command).await,
        Some(Command::Override { command }) => r#override::command(command).await,
        Some(Command::Plan(args)) => plan::command(args).await,
        Some(Command::Runs { command }) => runs::command(command).await,
        Some(Command::Records { command }) => records::command(command).await,
        Some(Command::Status(args)) => status::command(args).await,
        None => run::command(cli.run).await,
    }
}

/// Prints a usage error the way clap does; exit code 2.
fn usage_error(message: &str) -> ExitCode {
    let _ = Cli::command()
        .error(clap::error::ErrorKind::MissingRequiredArgument, message)
        .print();
    ExitCode::from(2)
}

/// Says why nothing was done; exit code 1.
fn refused(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    eprintln!("nothing was changed");
    ExitCode::FAILURE
}

/// The `-a/--action` of a target.
fn action(target: &Target) -> Result<Action, ExitCode> {
    target
        .action
        .parse::<Action>()
        .map_err(|e| usage_error(&format!("-a/--action: {e}")))
}

/// The request a target asks for.
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

/// The cloud with the tables named in the environment.
async fn cloud() -> AwsCloud {
    cloud_with(Tables::from_env()).await
}

/// The cloud with these configuration tables.
async fn cloud_with(tables: Tables) -> AwsCloud {
    AwsCloud::new(load_sdk_config().await, tables)
}

/// The cloud in `region` (the process's own when `None`).
async fn cloud_in(region: Option<&str>) -> AwsCloud {
    let mut config = load_sdk_config().await;
    if let Some(region) = region {
        config = config
            .into_builder()
            .region(aws_config::Region::new(region.to_string()))
            .build();
    }
    AwsCloud::new(config, Tables::from_env())
}

/// Writes a timeline as SVG and says where (on stderr: stdout may be JSON).
fn write_svg(path: &Path, timeline: &Timeline) -> Result<(), String> {
    std::fs::write(path, timeline.to_svg()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    eprintln!("timeline written to {}", path.display());
    Ok(())
}

/// Prints `value` as pretty JSON.
fn print_json(value: &impl serde::Serialize) {
    println!("{}", serde_json::to_string_pretty(value).expect("serialises"));
}
