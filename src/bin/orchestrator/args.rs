//! The command line's top: the run (the seed's `Orchestrator.py` flags,
//! no subcommand) or a subcommand, whose flags live beside its code. The
//! flags several commands share are defined here once: the target, the
//! region (`-r/--dynamoDBRegion`) and the run ledger (`--ledger-table`).

use clap::{Args, Parser, Subcommand};

use crate::config::ConfigCommand;
use crate::plan::PlanArgs;
use crate::r#override::OverrideCommand;
use crate::run::RunArgs;
use crate::runs::RunsCommand;
use crate::status::StatusArgs;

const LOG_LEVELS: [&str; 6] = ["critical", "error", "warning", "info", "debug", "notset"];

/// Orchestrates the stopping and starting of tiers of EC2 instances.
#[derive(Parser, Debug)]
#[command(name = "orchestrator", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

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

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print the ordered plan; makes no mutating call
    Plan(PlanArgs),
    /// What the scheduler did: the runs recorded in the ledger
    Runs {
        #[command(subcommand)]
        command: RunsCommand,
    },
    /// What state a workload is in: per tier, overrides, last and next runs
    Status(StatusArgs),
    /// What a Start restores (records only the scheduler writes): list, adopt, forget
    Records {
        #[command(subcommand)]
        command: crate::records::RecordsCommand,
    },
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
