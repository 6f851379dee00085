//! A tier's databases (RDS DB instances and Aurora DB clusters, by
//! `TierResourceTypes`): acted on beside the tier's instances, one RDS call
//! each, and at Start confirmed `available` before the next tier begins; a
//! synchronous tier takes one at a time and waits for each (for `stopped`
//! at Stop). Their outcomes join the tier's, named `rds:<id>` and
//! `aurora:<id>`, so every report shows them with the instances.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::stream::{self, StreamExt};

use super::{Execution, TierEnd};
use crate::action::Action;
use crate::member::{MemberKind, AVAILABLE, STOPPED};
use crate::plan::databases::DatabasePlan;
use crate::plan::{Step, TierPlan};
use crate::summary::{Failure, Noted, TierOutcome};

/// The longest a database is waited for, at Start (`available`) and in a
/// synchronous tier at Stop (`stopped`): RDS and Aurora take minutes,
/// sometimes ten or more. The deadline budget cuts it, and a continuation
/// goes on waiting.
pub const DATABASE_WAIT: Duration = Duration::from_secs(1800);

/// Databases acted on at once in a tier that is not synchronous.
const CONCURRENT_CALLS: usize = 8;

/// Statuses a start ends in when RDS gave up on it.
fn start_failed(status: &str) -> bool {
    status.starts_with("incompatible-")
        || status.starts_with("inaccessible-encryption-credentials")
        || matches!(status, "failed" | "storage-full")
}

/// What became of a tier's databases.
#[derive(Debug, Default)]
pub(crate) struct DatabaseOutcome {
    pub(crate) acted: Vec<String>,
    pub(crate) skipped: Vec<Noted>,
    pub(crate) failed: Vec<Failure>,
    pub(crate) not_done: Vec<Noted>,
    pub(crate) end: Option<TierEnd>,
}

impl DatabaseOutcome {
    /// Adds these outcomes to the tier's; a deadline here ends the tier.
    pub(crate) fn merge_into(self, out: &mut TierOutcome, end: &mut TierEnd) {
        out.acted.extend(self.acted);
        out.skipped.extend(self.skipped);
        out.failed.extend(self.failed);
        out.not_done.extend(self.not_done);
        if let (Some(db_end), TierEnd::Done) = (self.end, &*end) {
            *end = db_end;
        }
    }
}

impl Execution<'_> {
    /// The tier's databases, phase by phase: the skipped ones noted, those
    /// in transition waited out, the action, and the wait for the target
    /// status (at Start always; at Stop in a synchronous tier).
    pub(crate) async fn run_databases(&self, tier: &TierPlan) -> DatabaseOutcome {
        let mut out = DatabaseOutcome::default();
        let mut todo: Vec<&DatabasePlan> = Vec::new();
        let mut earlier: Vec<&DatabasePlan> = Vec::new();
        for d in &tier.databases {
            match &d.step {
                Step::Skip { reason } => out.skipped.push(noted(&d.member, reason)),
                Step::DoneEarlier { reason } => {
                    out.skipped.push(noted(&d.member, reason));
                    earlier.push(d);
                }
                _ => todo.push(d),
            }
        }
        if todo.is_empty() && earlier.is_empty() {
            return out;
        }
        let todo = self.settle_databases(todo, &mut out).await;
        if tier.synchronous {
            self.databases_one_by_one(&earlier, &todo, &mut out).await;
        } else {
            self.databases_at_once(&earlier, &todo, &mut out).await;
        }
        out
    }

    /// Databases in transition (starting at Stop, stopping at Start) are
    /// waited out; those that do not settle are failed (or not done when
    /// time ran out).
    async fn settle_databases<'d>(
        &self,
        todo: Vec<&'d DatabasePlan>,
        out: &mut DatabaseOutcome,
    ) -> Vec<&'d DatabasePlan> {
        let waiting: Vec<&DatabasePlan> = todo
            .iter()
            .copied()
            .filter(|d| matches!(d.step, Step::WaitThenAct { .. }))
            .collect();
        if waiting.is_empty() {
            return todo;
        }
        let settled = match self.action {
            Action::Stop => AVAILABLE,
            Action::Start => STOPPED,
        };
        let (seen, cut) = self.await_status(&waiting, settled, self.settings.state_timeout).await;
        let stuck: HashSet<&str> = waiting
            .iter()
            .filter(|d| seen.get(&d.member).map(String::as_str) != Some(settled))
            .map(|d| d.member.as_str())
            .collect();
        for d in waiting.iter().filter(|d| stuck.contains(d.member.as_str())) {
            let now = seen.get(&d.member).map(String::as_str).unwrap_or("unknown");
            self.note_unfinished(d, now, cut, "to settle", out);
        }
        todo.into_iter()
            .filter(|d| !stuck.contains(d.member.as_str()))
            .collect()
    }

    /// A tier that is not synchronous: every database's call (a few at a
    /// time), then at Start the wait until each is available.
    async fn databases_at_once(&self, earlier: &[&DatabasePlan], todo: &[&DatabasePlan], out: &mut DatabaseOutcome) {
        let called: Vec<(&DatabasePlan, Result<(), crate::error::CloudError>)> = stream::iter(todo.iter().copied())
            .map(|d| async move { (d, self.call_database(d).await) })
            .buffered(CONCURRENT_CALLS)
            .collect()
            .await;
        let mut acted: Vec<&DatabasePlan> = earlier.to_vec();
        for (d, result) in called {
            match result {
                Ok(()) => acted.push(d),
                Err(e) => out.failed.push(Failure {
                    id: d.member.clone(),
                    reason: e.to_string(),
                    code: e.code.clone(),
                }),
            }
        }
        if self.action == Action::Start {
            self.confirm_databases(&acted, out).await;
        } else {
            out.acted.extend(acted.iter().map(|d| d.member.clone()));
        }
    }

    /// A synchronous tier: one database at a time, each waited for.
    async fn databases_one_by_one(&self, earlier: &[&DatabasePlan], todo: &[&DatabasePlan], out: &mut DatabaseOutcome) {
        self.confirm_databases(earlier, out).await;
        for (index, d) in todo.iter().enumerate() {
            if out.end.is_some() || self.budget.expired() {
                out.not_done.extend(
                    todo[index..]
                        .iter()
                        .map(|d| noted(&d.member, "time ran out before its turn")),
                );
                out.end
                    .get_or_insert_with(|| TierEnd::Deadline("time ran out in a synchronous tier's databases".into()));
                return;
            }
            if let Err(e) = self.call_database(d).await {
                out.failed.push(Failure {
                    id: d.member.clone(),
                    reason: e.to_string(),
                    code: e.code.clone(),
                });
                continue;
            }
            self.confirm_databases(&[d], out).await;
        }
    }

    /// Waits until each of `acted` has the action's target status (the
    /// start confirmed `available`, the stop `stopped`): reached ones are
    /// acted, the others failed, or not done when time ran out (a
    /// continuation confirms them: they stay acted in the checkpoint).
    async fn confirm_databases(&self, acted: &[&DatabasePlan], out: &mut DatabaseOutcome) {
        if acted.is_empty() {
            return;
        }
        let target = match self.action {
            Action::Stop => STOPPED,
            Action::Start => AVAILABLE,
        };
        let (seen, cut) = self.await_status(acted, target, DATABASE_WAIT).await;
        for d in acted {
            match seen.get(&d.member).map(String::as_str) {
                Some(s) if s == target => out.acted.push(d.member.clone()),
                Some(s) if cut && !start_failed(s) => {
                    out.acted.push(d.member.clone());
                    out.end.get_or_insert_with(|| {
                        TierEnd::Deadline(format!("time ran out waiting for {} (still {s})", d.member))
                    });
                }
                now => self.note_unfinished(d, now.unwrap_or("gone"), false, "after its call", out),
            }
        }
    }

    /// A database that did not reach the status wanted.
    fn note_unfinished(&self, d: &DatabasePlan, now: &str, cut: bool, when: &str, out: &mut DatabaseOutcome) {
        if cut {
            out.not_done
                .push(noted(&d.member, &format!("still {now} when time ran out")));
            out.end
                .get_or_insert_with(|| TierEnd::Deadline(format!("time ran out waiting for {}", d.member)));
        } else {
            out.failed.push(Failure {
                id: d.member.clone(),
                reason: format!("{} {when}: RDS says {now}", self.action.verb()),
                code: None,
            });
        }
    }

    async fn call_database(&self, d: &DatabasePlan) -> Result<(), crate::error::CloudError> {
        match self.action {
            Action::Stop => self.databases.stop(d.kind, &d.id).await,
            Action::Start => self.databases.start(d.kind, &d.id).await,
        }
    }

    /// Polls the databases' statuses (one call per kind and 100 ids) until
    /// each has `want` (or, at Start, a status RDS gives up in), or `limit`
    /// cut to the budget passes. The last status seen of each, and whether
    /// the budget did the cutting.
    async fn await_status(
        &self,
        dbs: &[&DatabasePlan],
        want: &str,
        limit: Duration,
    ) -> (HashMap<String, String>, bool) {
        let (limit, cut) = self.budget.cap(limit);
        let mut seen: HashMap<String, String> = HashMap::new();
        let mut left: Vec<&DatabasePlan> = dbs.to_vec();
        let mut pace = self.pacer(limit);
        loop {
            for kind in MemberKind::ALL {
                let ids: Vec<String> = left.iter().filter(|d| d.kind == kind).map(|d| d.id.clone()).collect();
                if ids.is_empty() {
                    continue;
                }
                match self.databases.statuses(kind, &ids).await {
                    Ok(list) => seen.extend(list.into_iter().map(|(id, s)| (crate::member::member_id(kind, &id), s))),
                    Err(e) => tracing::warn!(error = %e, "reading database statuses failed; will poll again"),
                }
            }
            left.retain(|d| seen.get(&d.member).is_none_or(|s| s != want && !start_failed(s)));
            if left.is_empty() || !pace.wait().await {
                return (seen, cut && !left.is_empty());
            }
        }
    }
}

fn noted(id: &str, reason: &str) -> Noted {
    Noted {
        id: id.to_string(),
        reason: reason.to_string(),
    }
}
