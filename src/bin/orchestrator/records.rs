//! `records list | adopt | forget`: what a Start restores, as the run
//! ledger holds it (records only the scheduler writes), and the record tags
//! on the workload's resources that it does not trust. The operator, not
//! the function, vouches for old records: `adopt` moves the tags an earlier
//! version wrote into the ledger (bounded like every record), `forget`
//! drops one member's records on purpose. Either way the tag is then
//! dismissed: neither acted on nor reported while it says the same.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use ec2_tier_scheduler::clock;
use ec2_tier_scheduler::orchestrator;
use ec2_tier_scheduler::ports::{Cloud, Records};
use ec2_tier_scheduler::records::{Book, OutOfBounds, Record, Untrusted};

use crate::shared::{self, print_json, refused, LedgerArg, RegionArg};

/// The workload whose records are meant.
#[derive(Args, Debug)]
pub struct RecordsTarget {
    /// Workload Identifier
    #[arg(short = 'w', long = "workloadIdentifier")]
    pub workload: String,
    #[command(flatten)]
    pub region: RegionArg,
    #[command(flatten)]
    pub ledger: LedgerArg,
}

#[derive(Subcommand, Debug)]
pub enum RecordsCommand {
    /// What a Start restores (the run ledger's records) and the record tags it does not trust
    List {
        #[command(flatten)]
        target: RecordsTarget,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Vouch for the record tags an earlier version left: move them into the ledger
    Adopt {
        #[command(flatten)]
        target: RecordsTarget,
    },
    /// Drop one member's records on purpose (i-..., asg:NAME, ecs:CLUSTER/SERVICE, eks:CLUSTER/NODEGROUP, alarm:NAME)
    Forget {
        #[command(flatten)]
        target: RecordsTarget,
        /// The member
        member: String,
    },
}

pub async fn command(command: RecordsCommand) -> ExitCode {
    let (target, member, json) = match &command {
        RecordsCommand::List { target, json } => (target, None, *json),
        RecordsCommand::Adopt { target } => (target, None, false),
        RecordsCommand::Forget { target, member } => (target, Some(member.as_str()), false),
    };
    let cloud = shared::cloud()
        .await
        .with_records(target.ledger.ledger_table.as_deref());
    let survey = orchestrator::record_survey(&cloud, &target.workload, &target.region.region).await;
    let (_, book, _, untrusted) = match survey {
        Ok(s) => s,
        Err(e) => return refused(&e),
    };
    let store = cloud.records().expect("record_survey refuses without the table");
    match (&command, member) {
        (RecordsCommand::List { .. }, _) => list(&book, &untrusted, json),
        (RecordsCommand::Adopt { .. }, _) => adopt(&store, &target.workload, &untrusted).await,
        (_, Some(member)) => forget(&store, &target.workload, &book, &untrusted, member).await,
        _ => unreachable!("forget names a member"),
    }
}

/// The records and the untrusted tags.
fn list(book: &Book, untrusted: &[Untrusted], json: bool) -> ExitCode {
    if json {
        let records: Vec<&Record> = book.all().collect();
        print_json(&serde_json::json!({"records": records, "untrusted": untrusted}));
        return ExitCode::SUCCESS;
    }
    let mut rows = vec![["MEMBER", "WHAT", "A START RESTORES", "RECORDED (UTC)"]
        .map(String::from)
        .to_vec()];
    for r in book.all() {
        rows.push(vec![
            r.subject.label(),
            r.what.clone(),
            r.restore.to_string(),
            clock::show_utc(r.recorded_at),
        ]);
    }
    print!("{}", ec2_tier_scheduler::table::render(&rows));
    for u in untrusted {
        println!("NOT TRUSTED: {}: {}", u.member, u.claim);
    }
    ExitCode::SUCCESS
}

/// Each untrusted tag that reads and is in bounds becomes a record, and
/// the tag is dismissed; the others are named (exit 3).
async fn adopt(store: &Arc<dyn Records>, workload: &str, untrusted: &[Untrusted]) -> ExitCode {
    let now = clock::now();
    let mut code = ExitCode::SUCCESS;
    let mut records = Vec::new();
    for u in untrusted {
        let bounded = match u.restore.clone() {
            Some(restore) => restore.bounded(),
            None => Err(OutOfBounds("the tag does not read".into())),
        };
        match bounded {
            Ok(restore) => {
                println!("adopted: {}: {restore}", u.member);
                records.push(Record::of(u.subject.clone(), workload, now, restore));
                records.push(Record::dismissal(u.subject.clone(), workload, now, &u.what, &u.claim));
            }
            Err(why) => {
                println!(
                    "NOT adopted: {}: {} ({why}); `records forget` drops it",
                    u.member, u.claim
                );
                code = ExitCode::from(3);
            }
        }
    }
    write(store, &records, code).await
}

/// The member's records removed and its untrusted tags dismissed.
async fn forget(
    store: &Arc<dyn Records>,
    workload: &str,
    book: &Book,
    untrusted: &[Untrusted],
    member: &str,
) -> ExitCode {
    let keys: Vec<String> = book
        .all()
        .filter(|r| r.subject.label() == member && !r.what.starts_with("dismissed-"))
        .map(Record::key)
        .collect();
    let now = clock::now();
    let dismissals: Vec<Record> = untrusted
        .iter()
        .filter(|u| u.member == member)
        .map(|u| Record::dismissal(u.subject.clone(), workload, now, &u.what, &u.claim))
        .collect();
    if keys.is_empty() && dismissals.is_empty() {
        return refused(&format!(
            "{member}: no record and no untrusted record tag of workload {workload}"
        ));
    }
    if let Err(e) = store.remove(workload, &keys).await {
        return refused(&e);
    }
    println!(
        "forgotten: {} record(s) of {member}; {} tag(s) dismissed",
        keys.len(),
        dismissals.len()
    );
    write(store, &dismissals, ExitCode::SUCCESS).await
}

/// Writes `records` (100 a transaction); `code` when they are written.
async fn write(store: &Arc<dyn Records>, records: &[Record], code: ExitCode) -> ExitCode {
    for chunk in records.chunks(ec2_tier_scheduler::records::RECORDS_PER_WRITE) {
        if let Err(e) = store.put(chunk).await {
            return refused(&e);
        }
    }
    code
}
