//! A run (no subcommand): the seed's flags, under the run ledger when one
//! is given, through the same run service as the function.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::aws::AwsCloud;
use ec2_tier_scheduler::ledger::Ledger;
use ec2_tier_scheduler::orchestrator::Settings;
use ec2_tier_scheduler::plan::Plan;
use ec2_tier_scheduler::run::{RunReport, RunRequest};
use ec2_tier_scheduler::run_service::{Delivery, Outcome, RunService};
use ec2_tier_scheduler::summary::RunStatus;

use crate::shared::{self, print_json, refused, request, LedgerArg, Target};

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub target: Target,
    /// Run the test cases: start the workload, wait, then stop it
    #[arg(short = 't', long = "testcases")]
    pub testcases: bool,
    /// Seconds between start and stop for --testcases
    #[arg(long = "testcasesWait", default_value_t = 90)]
    pub testcases_wait: u64,
    /// Run but take no Action
    #[arg(short = 'd', long = "dryrun")]
    pub dry_run: bool,
    // The deployed stack's run ledger: the same idempotency keys, workload
    // lock and run record as the function.
    #[command(flatten)]
    pub ledger: LedgerArg,
    /// Idempotency key for this run: hosts running the same cron line with
    /// the same id (e.g. "$(date +%F)-stop") make one run between them
    #[arg(long = "run-id")]
    pub run_id: Option<String>,
    /// Seconds the run may take; every wait and retry is bounded by it
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(60..=86_400))]
    pub timeout: u64,
}

/// How the CLI runs: with or without the ledger, and within its deadline.
struct RunOptions<'a> {
    ledger: Option<&'a dyn Ledger>,
    run_id: Option<String>,
    timeout: Duration,
    json: bool,
}

/// Runs the action (or, with `-t`, a Start then a Stop); the worst exit
/// code wins, and a refusal ends it.
pub async fn command(args: RunArgs) -> ExitCode {
    let actions: Vec<Action> = if args.testcases {
        vec![Action::Start, Action::Stop]
    } else {
        match shared::action(&args.target) {
            Ok(a) => vec![a],
            Err(code) => return code,
        }
    };
    let cloud = shared::cloud().await.with_records(args.ledger.ledger_table.as_deref());
    let ledger = args.ledger.ledger_table.as_deref().map(|t| cloud.ledger(t));
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
        let options = RunOptions {
            ledger: ledger.as_ref().map(|l| l as &dyn Ledger),
            run_id: args.run_id.as_ref().map(|id| match args.testcases {
                true => format!("{id}-{action}"),
                false => id.clone(),
            }),
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

fn show_plan(plan: &Plan) {
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
    let settings = Settings {
        on_plan: if options.json { None } else { Some(show_plan) },
        ..Settings::from_env()
    };
    let service = RunService {
        cloud,
        ledger: options.ledger,
        continuation: None,
        settings: &settings,
    };
    let delivery = Delivery::new(format!("cli {}", who())).with_run_id(&request.workload, options.run_id.as_deref());
    // The CLI's deadline: throttling and capacity retries, waits and gates
    // all end within --timeout, as in the function.
    match service.run(request, delivery, Some(options.timeout)).await {
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
                print_json(&response);
            } else {
                println!("duplicate: {}", response["message"].as_str().unwrap_or_default());
            }
            ExitCode::SUCCESS
        }
        // A refused continuation (the CLI claims none): its run ended interrupted.
        Ok(Outcome::Interrupted(response)) => {
            if options.json {
                print_json(&response);
            } else {
                println!("interrupted: {}", response["message"].as_str().unwrap_or_default());
            }
            ExitCode::from(3)
        }
        Err(e) => refused(&e),
    }
}

fn print_report(report: &RunReport, json: bool) -> ExitCode {
    if json {
        print_json(report);
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
