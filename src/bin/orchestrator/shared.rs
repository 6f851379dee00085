//! What the commands share: the flags several of them take (the target,
//! the region `-r/--dynamoDBRegion`, the run ledger `--ledger-table`),
//! defined here once, and the steps they all take (a usage error, a
//! refusal, the cloud, JSON and SVG output). The commands import this
//! module; it imports none of them.

use std::path::Path;
use std::process::ExitCode;
use std::sync::OnceLock;

use clap::Args;
use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::aws::{load_sdk_config, AwsCloud, Tables};
use ec2_tier_scheduler::run::RunRequest;
use ec2_tier_scheduler::timeline::Timeline;

const LOG_LEVELS: [&str; 6] = ["critical", "error", "warning", "info", "debug", "notset"];

#[derive(Args, Debug, Clone)]
pub struct Target {
    /// Workload Identifier to Action Upon
    #[arg(short = 'w', long = "workloadIdentifier")]
    pub workload: Option<String>,
    /// Region where the DynamoDB configuration exists (may differ from the workload's region)
    #[arg(short = 'r', long = "dynamoDBRegion")]
    pub region: Option<String>,
    /// Action to Orchestrate (e.g. Stop or Start)
    #[arg(short = 'a', long = "action", value_parser = ["Stop", "Start"], default_value = "Start")]
    pub action: String,
    /// Start even when the WorkloadState table says the last action was already a Start
    #[arg(short = 'o', long = "overrideState")]
    pub override_state: bool,
    /// Resize instances based on Scaling Profile name (Start)
    #[arg(short = 'p', long = "scalingProfile")]
    pub profile: Option<String>,
    /// The level of log messages (on stderr)
    #[arg(short = 'l', long = "loglevel", default_value = "info", value_parser = LOG_LEVELS)]
    pub loglevel: String,
    /// Print JSON instead of tables
    #[arg(long)]
    pub json: bool,
}

/// The configuration tables' region, where a command needs it.
#[derive(Args, Debug, Clone)]
pub struct RegionArg {
    /// Region of the configuration tables
    #[arg(short = 'r', long = "dynamoDBRegion")]
    pub region: String,
}

#[derive(Args, Debug, Clone)]
pub struct LedgerArg {
    /// The run ledger table (the stack's RunLedgerTableName output)
    #[arg(long = "ledger-table", env = "RUN_LEDGER_TABLE")]
    pub ledger_table: Option<String>,
}

/// Runs are kept 30 days (the ledger's TTL); a short id is looked up among them.
pub const RECORD_DAYS: u64 = 31;

/// The whole command line's definition (`main` hands it over before
/// parsing), for usage errors printed the way clap prints its own.
static TOP: OnceLock<fn() -> clap::Command> = OnceLock::new();

/// Sets the command line [`usage_error`] prints the usage of.
pub fn set_top(command: fn() -> clap::Command) {
    let _ = TOP.set(command);
}

/// Prints a usage error the way clap does; exit code 2.
pub fn usage_error(message: &str) -> ExitCode {
    let mut top = TOP
        .get()
        .map_or_else(|| clap::Command::new("orchestrator"), |command| command());
    let _ = top
        .error(clap::error::ErrorKind::MissingRequiredArgument, message)
        .print();
    ExitCode::from(2)
}

/// Says why nothing was done; exit code 1.
pub fn refused(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    eprintln!("nothing was changed");
    ExitCode::FAILURE
}

/// The `-a/--action` of a target.
pub fn action(target: &Target) -> Result<Action, ExitCode> {
    target
        .action
        .parse::<Action>()
        .map_err(|e| usage_error(&format!("-a/--action: {e}")))
}

/// The request a target asks for.
pub fn request(target: &Target, action: Action, dry_run: bool, cloud: &AwsCloud) -> Result<RunRequest, ExitCode> {
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
        run_key: None,
        restop: None,
        maintenance_window: None,
        invocation: 1,
    })
}

/// The cloud with the tables named in the environment.
pub async fn cloud() -> AwsCloud {
    cloud_with(Tables::from_env()).await
}

/// The cloud with these configuration tables.
pub async fn cloud_with(tables: Tables) -> AwsCloud {
    AwsCloud::new(load_sdk_config().await, tables)
}

/// The cloud in `region` (the process's own when `None`).
pub async fn cloud_in(region: Option<&str>) -> AwsCloud {
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
pub fn write_svg(path: &Path, timeline: &Timeline) -> Result<(), String> {
    std::fs::write(path, timeline.to_svg()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    eprintln!("timeline written to {}", path.display());
    Ok(())
}

/// Prints `value` as pretty JSON.
pub fn print_json(value: &impl serde::Serialize) {
    println!("{}", serde_json::to_string_pretty(value).expect("serialises"));
}
