//! `status`: what state a workload is in now. The workload's
//! configuration and instances are needed; the WorkloadState row, the run
//! ledger and the schedules are optional sources: one that cannot be read
//! is named, and the rest is shown.

use std::process::ExitCode;

use clap::Args;
use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::aws::AwsCloud;
use ec2_tier_scheduler::history::RunRow;
use ec2_tier_scheduler::ledger::Ledger;
use ec2_tier_scheduler::orchestrator;
use ec2_tier_scheduler::ports::{Cloud, StateLookup};
use ec2_tier_scheduler::records;
use ec2_tier_scheduler::status::{next_runs, WorkloadStatus};

use crate::shared::{self, print_json, refused, LedgerArg, RegionArg, RECORD_DAYS};

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Workload Identifier
    #[arg(short = 'w', long = "workloadIdentifier")]
    pub workload: String,
    #[command(flatten)]
    pub region: RegionArg,
    #[command(flatten)]
    pub ledger: LedgerArg,
    /// The stack's schedule group (its ScheduleGroupName output), for the next runs
    #[arg(long = "schedule-group", env = "SCHEDULE_GROUP_NAME")]
    pub schedule_group: Option<String>,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

pub async fn command(args: StatusArgs) -> ExitCode {
    let cloud = shared::cloud().await.with_records(args.ledger.ledger_table.as_deref());
    let now = ec2_tier_scheduler::clock::now();
    let region = &args.region.region;
    let (config, ports, mut instances) = match orchestrator::workload_instances(&cloud, &args.workload, region).await {
        Ok(found) => found,
        Err(e) => return refused(&e),
    };
    // What a Start restores is what the run ledger holds, never a tag.
    let (book, place) = match orchestrator::workload_records(&cloud, &config).await {
        Ok(found) => found,
        Err(e) => {
            eprintln!("warning: the workload's records could not be read: {e}");
            Default::default()
        }
    };
    let mut untrusted = records::trust_instances(&book, &place, &mut instances);
    let mut status = WorkloadStatus::new(&config, &instances, now);
    let kinds = config.member_kinds();
    if !kinds.is_empty() {
        match orchestrator::discover_members(&ports.members, &config.workload.discovery(), &kinds).await {
            Ok(mut members) => {
                untrusted.extend(records::trust_members(&book, &place, &mut members));
                status.add_members(&config, &members)
            }
            Err(e) => eprintln!("the workload's other members could not be read: {e}"),
        }
    }
    let w = &config.workload;
    if w.alarms.any() {
        let tag = (w.filter_tag_name.clone(), w.filter_tag_value.clone());
        match ports.alarms.select(&w.alarms, &tag).await {
            Ok(mut alarms) => {
                untrusted.extend(records::trust_alarms(&book, &place, &mut alarms, false));
                status.add_alarms(&alarms)
            }
            Err(e) => eprintln!("the workload's alarms could not be read: {e}"),
        }
    }
    status.add_untrusted(&untrusted);
    status.windows = orchestrator::windows_ahead(ports.remote.as_ref(), &config).await;
    last_action(&cloud, &args, &mut status).await;
    last_runs(&cloud, &args, now, &mut status).await;
    next_scheduled(&cloud, &args, now, &mut status).await;
    if args.json {
        print_json(&status);
    } else {
        print!("{}", status.to_text());
    }
    ExitCode::SUCCESS
}

/// The WorkloadState row, when there is one.
async fn last_action(cloud: &AwsCloud, args: &StatusArgs, status: &mut WorkloadStatus) {
    match cloud.config_store(&args.region.region).load_state(&args.workload).await {
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
}

/// The latest run of each action, from the ledger.
async fn last_runs(cloud: &AwsCloud, args: &StatusArgs, now: u64, status: &mut WorkloadStatus) {
    let Some(table) = &args.ledger.ledger_table else {
        status.runs_note = Some("unknown: no --ledger-table / RUN_LEDGER_TABLE".into());
        return;
    };
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
        Err(e) => {
            eprintln!("warning: run ledger {table} not read: {e}");
            status.runs_note = Some(format!("unknown: the run ledger {table} could not be read: {e}"));
        }
    }
}

/// The next scheduled runs, from the stack's schedule group.
async fn next_scheduled(cloud: &AwsCloud, args: &StatusArgs, now: u64, status: &mut WorkloadStatus) {
    let Some(group) = &args.schedule_group else {
        status.schedule_note =
            Some("unknown: no --schedule-group / SCHEDULE_GROUP_NAME (the stack's ScheduleGroupName output)".into());
        return;
    };
    match cloud.schedule_reader().schedules(group).await {
        Ok(schedules) => status.next_runs = next_runs(&args.workload, &schedules, now, 2),
        Err(e) => {
            eprintln!("warning: schedule group {group} not read: {e}");
            status.schedule_note = Some(format!("unknown: the schedule group {group} could not be read: {e}"));
        }
    }
}
