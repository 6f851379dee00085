//! What prices the members a Stop stopped ([`crate::savings::Facts`]),
//! read after the run acted and before their stopped time is kept: the
//! describe calls only pricing needs (instances' `UsageOperation`,
//! databases, clusters' instances, launch templates, task definitions) in
//! the workload's account and region, and the desired capacity the Stop
//! recorded in the run ledger for groups and services. Bounded by the
//! deadline (at most [`FACTS_LIMIT`]); reading them never fails the Stop:
//! a fact not read leaves that member `unknown` with the reason.

use std::time::Duration;

use crate::member::MemberKind;
use crate::orchestrator::Budget;
use crate::ports::Cloud;
use crate::records::{Restore, Subject};
use crate::run::{RunReport, RunRequest};
use crate::savings::{Down, Facts};

/// The longest the facts are read for, whatever the deadline leaves.
pub const FACTS_LIMIT: Duration = Duration::from_secs(30);

/// Sets each of `down`'s facts and, for a group or service, its count.
pub(super) async fn add(
    cloud: &dyn Cloud,
    request: &RunRequest,
    report: &RunReport,
    budget: &Budget,
    down: &mut [Down],
) {
    if down.is_empty() {
        return;
    }
    let limit = budget.remaining().min(FACTS_LIMIT);
    let facts = tokio::time::timeout(limit, read(cloud, request, report, down))
        .await
        .unwrap_or_else(|_| vec![Facts::unknown("not read before the deadline"); down.len()]);
    for (d, f) in down.iter_mut().zip(facts) {
        d.facts = Some(f);
    }
    if down.iter().any(|d| d.kind.is_capacity()) {
        counts(cloud, request, down).await;
    }
}

/// Each member's facts, in order; every member `unknown` with the reason
/// when the workload's account cannot be reached.
async fn read(cloud: &dyn Cloud, request: &RunRequest, report: &RunReport, down: &[Down]) -> Vec<Facts> {
    let all_unknown = |why: String| vec![Facts::unknown(why); down.len()];
    let config = match super::config_of(cloud, request, report).await {
        Ok(config) => config,
        Err(e) => return all_unknown(format!("configuration not read: {e}")),
    };
    let w = &config.workload;
    let ports = match cloud.workload_ports(&w.region, w.cross_account.as_ref()).await {
        Ok(ports) => ports,
        Err(e) => return all_unknown(format!("workload's account not reached: {e}")),
    };
    let members: Vec<(MemberKind, String)> = down.iter().map(|d| (d.kind, d.id.clone())).collect();
    ports.price_facts.facts(&members).await
}

/// The desired capacity the Stop recorded for each group and service (a
/// record not read leaves the count out: its price is `unknown`).
async fn counts(cloud: &dyn Cloud, request: &RunRequest, down: &mut [Down]) {
    let Some(records) = cloud.records() else {
        return;
    };
    let Ok(records) = records.of_workload(&request.workload).await else {
        return;
    };
    for d in down.iter_mut().filter(|d| d.kind.is_capacity()) {
        let subject = Subject::member(&d.account, &d.region, d.kind, &d.id);
        d.count = records
            .iter()
            .filter(|r| r.subject == subject)
            .find_map(|r| match r.restore {
                Restore::Capacity(c) => Some(c.desired),
                _ => None,
            });
    }
}
