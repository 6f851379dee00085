//! A Start's "saved about $X since the Stop", in its summary before the
//! summary is published: the stopped time the run ledger keeps of the
//! members this invocation started, priced from the cached prices only (a
//! Price List call never comes before or while a Start acts; the run
//! service refreshes the cache after the run). Nothing here fails a run: a
//! ledger or cache that cannot be read leaves the sentence out.

use std::collections::HashSet;

use crate::action::Action;
use crate::member::member_id;
use crate::plan::Plan;
use crate::ports::Cloud;
use crate::records::OWN_ACCOUNT;
use crate::savings::{self, Down, Stopped};
use crate::summary::RunSummary;

/// Sets `summary.saved` for a Start that started members down in the
/// ledger; the stopped time it read, for the run service to close.
pub(super) async fn since_stop(cloud: &dyn Cloud, plan: &Plan, summary: &mut RunSummary) -> Option<Stopped> {
    if plan.action != Action::Start || summary.dry_run {
        return None;
    }
    let (Some(store), Some(prices)) = (cloud.downtime(), cloud.prices()) else {
        return None;
    };
    let acted: HashSet<&str> = summary
        .tiers
        .iter()
        .flat_map(|t| &t.acted)
        .map(String::as_str)
        .collect();
    if acted.is_empty() {
        return None;
    }
    let stopped = match store.of_workload(&plan.workload).await {
        Ok(stopped) => stopped,
        Err(e) => {
            tracing::warn!(error = %e, "stopped time not read: the summary says no saving");
            return None;
        }
    };
    let account = plan.account.as_ref().map_or(OWN_ACCOUNT, |a| a.account_id.as_str());
    let started: Vec<Down> = stopped
        .open
        .iter()
        .filter(|d| d.account == account && d.region == plan.region)
        .filter(|d| acted.contains(member_id(d.kind, &d.id).as_str()))
        .cloned()
        .collect();
    if started.is_empty() {
        return Some(stopped);
    }
    let now = crate::clock::now_following_tokio();
    let products = savings::products_of(started.iter());
    let cached = prices.cache.cached(&products, now).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cached prices not read: the saving counts none");
        Default::default()
    });
    summary.saved = Some(savings::since_stop(&started, &cached, now));
    Some(stopped)
}
