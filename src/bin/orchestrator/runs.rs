//! `runs list | show`: what the scheduler did, from the run ledger.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use ec2_tier_scheduler::aws::DynamoLedger;
use ec2_tier_scheduler::history::{self, RunRow};
use ec2_tier_scheduler::ledger::{self, Ledger, LedgerStatus, RunRecord};
use ec2_tier_scheduler::override_tag::parse_span;
use ec2_tier_scheduler::timeline::Timeline;

use crate::shared::{self, print_json, refused, usage_error, write_svg, LedgerArg, RECORD_DAYS};

/// Where `runs` reads: the ledger table, in the stack's region.
#[derive(Args, Debug, Clone)]
pub struct RunsSource {
    #[command(flatten)]
    pub ledger: LedgerArg,
    /// Region of the stack's tables, the run ledger among them (default:
    /// AWS_REGION / the profile's region)
    #[arg(short = 'r', long = "dynamoDBRegion")]
    pub region: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum RunsCommand {
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
        source: RunsSource,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// One run: its invocations, tiers, steps, delays and failures
    Show {
        /// The run's key, or the short id `runs list` prints
        run: String,
        #[command(flatten)]
        source: RunsSource,
        /// Print the ledger record as JSON
        #[arg(long)]
        json: bool,
        /// Also draw the run as a timeline (SVG)
        #[arg(long, value_name = "FILE")]
        svg: Option<PathBuf>,
    },
}

pub async fn command(command: RunsCommand) -> ExitCode {
    let now = ec2_tier_scheduler::clock::now();
    match command {
        RunsCommand::List {
            workload,
            since,
            limit,
            source,
            json,
        } => {
            let ledger = match ledger(&source).await {
                Ok(l) => l,
                Err(code) => return code,
            };
            let Some(span) = parse_span(&since) else {
                return usage_error("--since takes a span such as 7d, 12h or 90m");
            };
            list(&ledger, workload.as_deref(), now.saturating_sub(span), limit, json).await
        }
        RunsCommand::Show { run, source, json, svg } => {
            let ledger = match ledger(&source).await {
                Ok(l) => l,
                Err(code) => return code,
            };
            let mut record = match find_run(&ledger, &run, now).await {
                Ok(r) => r,
                Err(e) => return refused(&e),
            };
            superseding(&ledger, &mut record).await;
            if json {
                print_json(&record);
            } else {
                print!("{}", history::show_text(&record));
            }
            match svg.map(|path| write_svg(&path, &Timeline::of_run(&record))) {
                Some(Err(e)) => refused(&e),
                _ => ExitCode::SUCCESS,
            }
        }
    }
}

/// A run still waiting for its continuation when a later run of its
/// workload began: that run ended its claim to continue (its continuation
/// will be refused), and `runs show` says which run it was.
async fn superseding(ledger: &dyn Ledger, record: &mut RunRecord) {
    if record.status != LedgerStatus::InProgress || record.superseded_by.is_some() {
        return;
    }
    record.superseded_by = ledger::later_run(ledger, record).await;
}

/// The ledger `runs` reads, in the region given (the process's own by default).
async fn ledger(source: &RunsSource) -> Result<DynamoLedger, ExitCode> {
    let table = table_or_usage(&source.ledger)?;
    Ok(shared::cloud_in(source.region.as_deref()).await.ledger(table))
}

/// The ledger table, which these commands cannot do without.
pub fn table_or_usage(ledger: &LedgerArg) -> Result<&str, ExitCode> {
    ledger.ledger_table.as_deref().ok_or_else(|| {
        usage_error(
            "the run ledger is needed: --ledger-table or RUN_LEDGER_TABLE (the stack's RunLedgerTableName output)",
        )
    })
}

/// Prints the runs since `since`, newest first.
async fn list(ledger: &dyn Ledger, workload: Option<&str>, since: u64, limit: usize, json: bool) -> ExitCode {
    let runs = match ledger.runs(workload, since, limit).await {
        Ok(runs) => runs,
        Err(e) => return refused(&e),
    };
    if json {
        print_json(&runs.iter().map(RunRow::of).collect::<Vec<_>>());
    } else if runs.is_empty() {
        println!(
            "no runs{} since {} UTC",
            workload.map(|w| format!(" of {w}")).unwrap_or_default(),
            ec2_tier_scheduler::clock::show_utc(since)
        );
    } else {
        print!("{}", history::list_table(&runs));
    }
    ExitCode::SUCCESS
}

/// A run by key, or by the short id `runs list` prints.
async fn find_run(ledger: &dyn Ledger, run: &str, now: u64) -> Result<RunRecord, String> {
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
            .filter(|r| history::short_id(&r.key) == run.to_ascii_lowercase())
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
