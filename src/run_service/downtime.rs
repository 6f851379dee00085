//! The stopped time kept for good ([`crate::savings`]), after each
//! invocation of a run that acted (not for a dry run or a skipped run): a
//! Stop marks each member it stopped in this invocation down since now; a
//! Start closes the open intervals of the members it started in this
//! invocation and, once the run ended, every other open interval of the
//! workload too, but those of the members it failed or did not reach (a
//! member started by hand in between is closed at the Start: the ledger
//! does not see the hand). A write that fails is a warning of the run,
//! never a failure. A Stop first reads what prices each member
//! ([`stop_facts`]); a Start says what its members saved since the Stop at
//! cached prices, then refreshes the cache ([`since_stop`]).

use super::recheck::unfinished;
use super::{since_stop, stop_facts, Outcome};
use crate::action::Action;
use crate::error::CloudError;
use crate::member::{member_id, MemberKind};
use crate::orchestrator::Budget;
use crate::plan::{Plan, Step};
use crate::ports::{Cloud, Downtime, PriceCache, PriceList};
use crate::records::OWN_ACCOUNT;
use crate::run::RunRequest;
use crate::savings::{self, Down, Price, PriceTable, Report, Stopped, Window};
use crate::summary::RunStatus;

/// Opens or closes the run's intervals, after the run ended.
pub(super) async fn keep(cloud: &dyn Cloud, request: &RunRequest, budget: &Budget, mut outcome: Outcome) -> Outcome {
    let (Some(store), Outcome::Ran { report, .. }) = (cloud.downtime(), &mut outcome) else {
        return outcome;
    };
    use RunStatus::*;
    let read_by_the_start = report.stopped.take();
    let summary = &report.summary;
    if summary.dry_run || matches!(summary.status, Skipped | SkippedByCalendar | Disabled | DryRun) {
        return outcome;
    }
    let ended = summary.status != Continuing;
    let now = super::now();
    let unfinished = unfinished(summary);
    let done = |d: &Down| !unfinished.contains(member_id(d.kind, &d.id).as_str());
    let mut acted: Vec<Down> = acted(&report.plan, now).into_iter().filter(done).collect();
    let kept = match report.plan.action {
        Action::Stop => {
            stop_facts::add(cloud, request, report, budget, &mut acted).await;
            store.open(&acted).await
        }
        Action::Start => match read_stopped(store.as_ref(), read_by_the_start, &report.plan.workload).await {
            Ok(stopped) => {
                let closing: Vec<Down> = stopped
                    .open
                    .into_iter()
                    .filter(|d| d.account == account(&report.plan) && d.region == report.plan.region)
                    .filter(|d| acted.iter().any(|a| a.key() == d.key()) || (ended && done(d)))
                    .collect();
                let closed = store.close(&closing, now).await;
                if closed.is_ok() {
                    let (saved, warnings) = since_stop::saved(cloud, budget, &closing, now).await;
                    report.summary.saved = report.summary.saved.take().or(saved);
                    report.summary.notification_errors.extend(warnings);
                }
                closed
            }
            Err(e) => Err(e),
        },
    };
    if let Err(e) = kept {
        tracing::warn!(error = %e, "stopped time not kept");
        let summary = &mut report.summary;
        summary.notification_errors.push(format!(
            "warning: the stopped time (orchestrator savings) was not kept: {e}"
        ));
    }
    outcome
}

/// The workload's stopped time: as the Start read it to say what it saved
/// (the workload's lock held since, nothing else wrote it), else read now.
async fn read_stopped(store: &dyn Downtime, read: Option<Stopped>, workload: &str) -> Result<Stopped, CloudError> {
    match read {
        Some(stopped) => Ok(stopped),
        None => store.of_workload(workload).await,
    }
}

fn account(plan: &Plan) -> &str {
    plan.account.as_ref().map_or(OWN_ACCOUNT, |a| a.account_id.as_str())
}

/// Whether a step acts on the member in this invocation (an earlier
/// invocation's acts were kept by that invocation).
fn acts(step: &Step) -> bool {
    matches!(step, Step::Act | Step::WaitThenAct { .. })
}

/// Every instance and member `plan` acts on in this invocation, as down
/// since `now`.
fn acted(plan: &Plan, now: u64) -> Vec<Down> {
    let down = |tier: &str, kind, id: &str, instance_type: Option<&str>| Down {
        workload: plan.workload.clone(),
        tier: tier.to_string(),
        account: account(plan).to_string(),
        region: plan.region.clone(),
        kind,
        id: id.to_string(),
        instance_type: instance_type.map(str::to_string),
        facts: None,
        count: None,
        since: now,
    };
    let mut out = Vec::new();
    for tier in plan.groups.iter().flat_map(|g| &g.tiers) {
        for i in tier.instances.iter().filter(|i| acts(&i.step)) {
            out.push(down(&tier.tier, MemberKind::Ec2, &i.id, Some(&i.instance_type)));
        }
        for m in tier.members.iter().filter(|m| acts(&m.step)) {
            out.push(down(&tier.tier, m.kind, &m.id, None));
        }
    }
    out
}

/// The saving of `workload` in `window` (`orchestrator savings`): its kept
/// stopped time, open intervals up to `now`, priced from the cache, then
/// from the Price List for the products the cache lacks (their known
/// prices kept in the cache). A price that cannot be read is `unknown`
/// with its reason; a cache that cannot be read or written is a warning.
pub async fn savings_report(
    store: &dyn Downtime,
    cache: &dyn PriceCache,
    list: &dyn PriceList,
    workload: &str,
    window: Window,
    now: u64,
) -> Result<(Report, Vec<String>), CloudError> {
    let stopped = store.of_workload(workload).await?;
    let products = savings::products(&stopped);
    let mut warnings = Vec::new();
    let mut prices = cache.cached(&products, now).await.unwrap_or_else(|e| {
        warnings.push(format!("warning: cached prices not read: {e}"));
        PriceTable::new()
    });
    let mut read = PriceTable::new();
    for p in products.iter().filter(|p| !prices.contains_key(*p)) {
        read.insert(p.clone(), list.price(p).await);
    }
    if read.values().any(|p| matches!(p, Price::Usd(_))) {
        if let Err(e) = cache.keep(&read, now).await {
            warnings.push(format!("warning: prices not cached: {e}"));
        }
    }
    prices.extend(read);
    Ok((savings::report(workload, &stopped, now, window, &prices), warnings))
}
