//! The stopped time kept for good ([`crate::savings`]): once a run ended
//! (not when a continuation carries it on, nor for a dry run or a skipped
//! run), a Stop marks each member it stopped (or an earlier invocation of
//! it stopped) down since now; a Start closes every open interval of the
//! workload into per-day totals, but those of the members it failed or did
//! not reach (a member started by hand in between is closed at the Start:
//! the ledger does not see the hand). A write that fails is a warning of
//! the run, never a failure.

use super::recheck::{ended, unfinished};
use super::Outcome;
use crate::action::Action;
use crate::error::CloudError;
use crate::member::{member_id, MemberKind};
use crate::plan::{Plan, Step};
use crate::ports::{Cloud, Downtime, PriceCache, PriceList};
use crate::records::OWN_ACCOUNT;
use crate::savings::{self, Down, Price, PriceTable, Report, Window};

/// Opens or closes the run's intervals, after the run ended.
pub(super) async fn keep(cloud: &dyn Cloud, mut outcome: Outcome) -> Outcome {
    let (Some(store), Outcome::Ran { report, .. }) = (cloud.downtime(), &mut outcome) else {
        return outcome;
    };
    if !ended(&report.summary) {
        return outcome;
    }
    let now = super::now();
    let unfinished = unfinished(&report.summary);
    let done = |d: &Down| !unfinished.contains(member_id(d.kind, &d.id).as_str());
    let kept = match report.plan.action {
        Action::Stop => {
            let down: Vec<Down> = stopped(&report.plan, now).into_iter().filter(done).collect();
            store.open(&down).await
        }
        Action::Start => match store.of_workload(&report.plan.workload).await {
            Ok(stopped) => {
                let closing: Vec<Down> = stopped
                    .open
                    .into_iter()
                    .filter(|d| d.account == account(&report.plan) && d.region == report.plan.region)
                    .filter(done)
                    .collect();
                store.close(&closing, now).await
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

fn account(plan: &Plan) -> &str {
    plan.account.as_ref().map_or(OWN_ACCOUNT, |a| a.account_id.as_str())
}

/// Whether a step stops the member now, or an earlier invocation did.
fn acts(step: &Step) -> bool {
    matches!(step, Step::Act | Step::WaitThenAct { .. } | Step::DoneEarlier { .. })
}

/// Every instance and member the Stop `plan` acts on, down since `now`.
fn stopped(plan: &Plan, now: u64) -> Vec<Down> {
    let down = |tier: &str, kind, id: &str, instance_type: Option<&str>| Down {
        workload: plan.workload.clone(),
        tier: tier.to_string(),
        account: account(plan).to_string(),
        region: plan.region.clone(),
        kind,
        id: id.to_string(),
        instance_type: instance_type.map(str::to_string),
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
