//! The CLI: the seed's `Orchestrator.py` flags on the same library as the
//! Lambda function, plus `plan`, `config`, `override`, `runs`, `records`, `status` and `savings`
//! subcommands. This file is the top-level parser ([`Cli`], [`Command`])
//! and the dispatch; one file per command group, each command a few calls
//! into the library; the flags and steps the commands share are
//! `shared.rs`'s (the commands import it, never this file nor each other).
//!
//! Exit codes: 0 done (or dry run / kill switch), 1 refused (bad input,
//! invalid configuration, unreachable service; nothing was touched),
//! 2 usage error, 3 ran with failures, bypasses, an abort or out of time.

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

mod config;
mod r#override;
mod plan;
mod records;
mod run;
mod runs;
mod savings;
mod shared;
mod status;

use config::ConfigCommand;
use plan::PlanArgs;
use r#override::OverrideCommand;
use records::RecordsCommand;
use run::RunArgs;
use runs::RunsCommand;
use savings::SavingsArgs;
use status::StatusArgs;

/// Orchestrates the stopping and starting of tiers of EC2 instances.
#[derive(Parser, Debug)]
#[command(name = "orchestrator", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
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
    /// What the schedule saved: hours stopped and on-demand list money per tier and kind
    Savings(SavingsArgs),
    /// What a Start restores (records only the scheduler writes): list, adopt, forget
    Records {
        #[command(subcommand)]
        command: RecordsCommand,
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

#[tokio::main]
async fn main() -> ExitCode {
    shared::set_top(Cli::command);
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
        Some(Command::Savings(args)) => savings::command(args).await,
        None => run::command(cli.run).await,
    }
}
