//! `savings`: what the schedule saved a workload, from the stopped time the
//! run ledger keeps for good, priced at on-demand list rates (the AWS Price
//! List API in us-east-1, cached 30 days in the ledger table), as a table,
//! JSON, and a bar chart of the saving per day (`--svg`). Hours are always
//! shown; a price that cannot be read is `unknown` with its reason.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use ec2_tier_scheduler::run_service::savings_report;
use ec2_tier_scheduler::savings::Window;
use jiff::tz::TimeZone;
use serde_json::json;

use crate::shared::{self, print_json, refused, usage_error, LedgerArg};

#[derive(Args, Debug)]
pub struct SavingsArgs {
    /// The workload (SpecName)
    #[arg(short = 'w', long = "workloadIdentifier")]
    pub workload: String,
    /// A calendar month, UTC (e.g. 2026-11; default: this month)
    #[arg(long, conflicts_with = "since")]
    pub month: Option<String>,
    /// From this UTC day (e.g. 2026-11-15) up to today
    #[arg(long)]
    pub since: Option<String>,
    #[command(flatten)]
    pub ledger: LedgerArg,
    /// Region of the stack's tables, the run ledger among them (default:
    /// AWS_REGION / the profile's region)
    #[arg(short = 'r', long = "dynamoDBRegion")]
    pub region: Option<String>,
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
    /// Also draw the saving per day as a bar chart (SVG)
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
}

pub async fn command(args: SavingsArgs) -> ExitCode {
    let Some(table) = args.ledger.ledger_table.as_deref() else {
        return usage_error(
            "the run ledger is needed: --ledger-table or RUN_LEDGER_TABLE (the stack's RunLedgerTableName output)",
        );
    };
    let now = ec2_tier_scheduler::clock::now();
    let today = ec2_tier_scheduler::clock::timestamp(now)
        .map(|t| TimeZone::UTC.to_datetime(t).date())
        .unwrap_or_default();
    let window = match Window::of(args.month.as_deref(), args.since.as_deref(), today) {
        Ok(w) => w,
        Err(e) => return usage_error(&e.to_string()),
    };
    let cloud = shared::cloud_in(args.region.as_deref()).await;
    let ledger = cloud.ledger(table);
    let prices = cloud.price_list();
    let (report, warnings) = match savings_report(&ledger, &ledger, &prices, &args.workload, window, now).await {
        Ok(r) => r,
        Err(e) => return refused(&e),
    };
    if args.json {
        print_json(&json!({"report": report, "warnings": warnings}));
    } else {
        print!("{}", report.to_table());
        for w in &warnings {
            eprintln!("{w}");
        }
    }
    if let Some(path) = args.svg {
        if let Err(e) = std::fs::write(&path, report.to_svg()) {
            return refused(&format!("cannot write {}: {e}", path.display()));
        }
        eprintln!("chart written to {}", path.display());
    }
    ExitCode::SUCCESS
}
