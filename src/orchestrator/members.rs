//! A tier's members that are not instances (RDS DB instances, Aurora DB
//! clusters, ECS services, Auto Scaling groups), every kind driven the same
//! way through [`MemberService`] and [`Phase`]: acted on beside the tier's
//! instances, one call each, and at Start confirmed up (a database
//! `available`, a group's InService instances or a service's running tasks
//! at the restored desired count) before the next tier begins; a
//! synchronous tier takes one at a time and waits for each (for down at
//! Stop). Their outcomes join the tier's, named `rds:<id>`, `asg:<name>`,
//! `ecs:<cluster>/<service>`, so every report shows them with the
//! instances.
//!
//! [`MemberService`]: crate::ports::MemberService

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::stream::{self, StreamExt};

use super::{Execution, TierEnd};
use crate::action::Action;
use crate::member::{MemberKind, MemberStatus, Phase};
use crate::plan::members::MemberPlan;
use crate::plan::Step;
use crate::summary::{Failure, Noted, PhaseKind, TierOutcome};

/// The longest a member is waited for, at Start (up) and in a synchronous
/// tier at Stop (down): RDS and Aurora take minutes, sometimes ten or more;
/// a group's instances must launch and pass their health checks. The
/// deadline budget cuts it, and a continuation goes on waiting.
pub const MEMBER_WAIT: Duration = Duration::from_secs(1800);

/// Members acted on at once in a tier that is not synchronous.
const CONCURRENT_CALLS: usize = 8;

/// What became of a tier's members.
#[derive(Debug, Default)]
pub(crate) struct MemberOutcome {
    pub(crate) acted: Vec<String>,
    pub(crate) skipped: Vec<Noted>,
    pub(crate) failed: Vec<Failure>,
    pub(crate) not_done: Vec<Noted>,
    /// What became of their records (kept, cleanup warnings).
    pub(crate) records: Vec<Noted>,
    pub(crate) end: Option<TierEnd>,
    /// When the members were acted on and waited for (ms from the
    /// invocation's start): the timeline's bars.
    pub(crate) spans: Vec<(u64, u64)>,
}

impl MemberOutcome {
    /// These outcomes followed by `later`'s (a synchronous tier's members
    /// before and after its instances).
    pub(crate) fn and(mut self, later: MemberOutcome) -> Self {
        self.acted.extend(later.acted);
        self.skipped.extend(later.skipped);
        self.failed.extend(later.failed);
        self.not_done.extend(later.not_done);
        self.records.extend(later.records);
        self.end = self.end.or(later.end);
        self.spans.extend(later.spans);
        self
    }

    /// Adds these outcomes to the tier's; a deadline here ends the tier.
    pub(crate) fn merge_into(self, out: &mut TierOutcome, end: &mut TierEnd) {
        out.acted.extend(self.acted);
        out.skipped.extend(self.skipped);
        out.failed.extend(self.failed);
        out.not_done.extend(self.not_done);
        out.records.extend(self.records);
        for (from, to) in self.spans {
            out.phase(PhaseKind::Members, from, to);
        }
        if let (Some(db_end), TierEnd::Done) = (self.end, &*end) {
            *end = db_end;
        }
    }
}

impl Execution<'_> {
    /// The tier's members, phase by phase: the skipped ones noted, those
    /// in transition waited out, the action, and the wait for the target
    /// phase (at Start always; at Stop in a synchronous tier).
    pub(crate) async fn run_members(&self, members: &[MemberPlan], synchronous: bool) -> MemberOutcome {
        let mut out = MemberOutcome::default();
        let mut todo: Vec<&MemberPlan> = Vec::new();
        let mut earlier: Vec<&MemberPlan> = Vec::new();
        for d in members {
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
        let from = self.elapsed_ms();
        let todo = self.settle_members(todo, &mut out).await;
        if synchronous {
            self.members_one_by_one(&earlier, &todo, &mut out).await;
        } else {
            self.members_at_once(&earlier, &todo, &mut out).await;
        }
        out.spans.push((from, self.elapsed_ms()));
        out
    }

    /// Members in transition (starting at Stop, stopping at Start) are
    /// waited out; those that do not settle are failed (or not done when
    /// time ran out).
    async fn settle_members<'d>(&self, todo: Vec<&'d MemberPlan>, out: &mut MemberOutcome) -> Vec<&'d MemberPlan> {
        let waiting: Vec<&MemberPlan> = todo
            .iter()
            .copied()
            .filter(|d| matches!(d.step, Step::WaitThenAct { .. }))
            .collect();
        if waiting.is_empty() {
            return todo;
        }
        let settled = match self.action {
            Action::Stop => Phase::Up,
            Action::Start => Phase::Down,
        };
        let (seen, cut) = self.await_phase(&waiting, settled, self.settings.state_timeout).await;
        let stuck: HashSet<&str> = waiting
            .iter()
            .filter(|d| seen.get(&d.member).map(|s| s.phase) != Some(settled))
            .map(|d| d.member.as_str())
            .collect();
        for d in waiting.iter().filter(|d| stuck.contains(d.member.as_str())) {
            let now = seen.get(&d.member).map(|s| s.status.as_str()).unwrap_or("unknown");
            self.note_unfinished(d, now, cut, "to settle", out);
        }
        todo.into_iter()
            .filter(|d| !stuck.contains(d.member.as_str()))
            .collect()
    }

    /// A tier that is not synchronous: every member's call (a few at a
    /// time), then at Start the wait until each is up.
    async fn members_at_once(&self, earlier: &[&MemberPlan], todo: &[&MemberPlan], out: &mut MemberOutcome) {
        let called: Vec<(&MemberPlan, Result<Option<String>, crate::error::CloudError>)> =
            stream::iter(todo.iter().copied())
                .map(|d| async move { (d, self.call_member(d).await) })
                .buffered(CONCURRENT_CALLS)
                .collect()
                .await;
        let mut acted: Vec<&MemberPlan> = earlier.to_vec();
        for (d, result) in called {
            match result {
                Ok(note) => {
                    out.records.extend(note.map(|n| noted(&d.member, &n)));
                    acted.push(d)
                }
                Err(e) => out.failed.push(Failure {
                    id: d.member.clone(),
                    reason: e.to_string(),
                    code: e.code.clone(),
                }),
            }
        }
        if self.action == Action::Start {
            self.confirm_members(&acted, out).await;
        } else {
            out.acted.extend(acted.iter().map(|d| d.member.clone()));
        }
    }

    /// A synchronous tier: one member at a time, each waited for.
    async fn members_one_by_one(&self, earlier: &[&MemberPlan], todo: &[&MemberPlan], out: &mut MemberOutcome) {
        self.confirm_members(earlier, out).await;
        for (index, d) in todo.iter().enumerate() {
            if out.end.is_some() || self.budget.expired() {
                out.not_done.extend(
                    todo[index..]
                        .iter()
                        .map(|d| noted(&d.member, "time ran out before its turn")),
                );
                out.end
                    .get_or_insert_with(|| TierEnd::Deadline("time ran out in a synchronous tier's members".into()));
                return;
            }
            match self.call_member(d).await {
                Ok(note) => out.records.extend(note.map(|n| noted(&d.member, &n))),
                Err(e) => {
                    out.failed.push(Failure {
                        id: d.member.clone(),
                        reason: e.to_string(),
                        code: e.code.clone(),
                    });
                    continue;
                }
            }
            self.confirm_members(&[d], out).await;
        }
    }

    /// Waits until each of `acted` is in the action's target phase (the
    /// start confirmed up, the stop down): reached ones are acted, the
    /// others failed, or not done when time ran out (a continuation
    /// confirms them: they stay acted in the checkpoint).
    async fn confirm_members(&self, acted: &[&MemberPlan], out: &mut MemberOutcome) {
        if acted.is_empty() {
            return;
        }
        let target = match self.action {
            Action::Stop => Phase::Down,
            Action::Start => Phase::Up,
        };
        let (seen, cut) = self.await_phase(acted, target, MEMBER_WAIT).await;
        for d in acted {
            match seen.get(&d.member) {
                Some(s) if s.phase == target => out.acted.push(d.member.clone()),
                Some(s) if cut && s.phase != Phase::Failed => {
                    out.acted.push(d.member.clone());
                    out.end.get_or_insert_with(|| {
                        TierEnd::Deadline(format!("time ran out waiting for {} (still {})", d.member, s.status))
                    });
                }
                now => {
                    let now = now.map(|s| s.status.as_str()).unwrap_or("gone");
                    self.note_unfinished(d, now, false, "after its call", out);
                }
            }
        }
    }

    /// A member that did not reach the phase wanted.
    fn note_unfinished(&self, d: &MemberPlan, now: &str, cut: bool, when: &str, out: &mut MemberOutcome) {
        if cut {
            out.not_done
                .push(noted(&d.member, &format!("still {now} when time ran out")));
            out.end
                .get_or_insert_with(|| TierEnd::Deadline(format!("time ran out waiting for {}", d.member)));
        } else {
            out.failed.push(Failure {
                id: d.member.clone(),
                reason: format!("{} {when}: {} says {now}", self.action.verb(), service_name(d.kind)),
                code: None,
            });
        }
    }

    /// One member's call: a database stopped or started; a group or
    /// service scaled through its ledger record ([`Self::scale_member`]).
    /// A note on its record, when there is one to tell.
    async fn call_member(&self, d: &MemberPlan) -> Result<Option<String>, crate::error::CloudError> {
        let Some(service) = self.members.of(d.kind) else {
            return Ok(None);
        };
        if d.kind.is_capacity() {
            return self.scale_member(service.as_ref(), d).await;
        }
        match self.action {
            Action::Stop => service.stop(d.kind, &d.id).await.map(|()| None),
            Action::Start => service.start(d.kind, &d.id).await.map(|()| None),
        }
    }

    /// Polls the members' states (one call per kind and batch) until each
    /// is in `want` (or, at Start, a phase the service gives up in), or
    /// `limit` cut to the budget passes. The last state seen of each, and
    /// whether the budget did the cutting.
    async fn await_phase(
        &self,
        members: &[&MemberPlan],
        want: Phase,
        limit: Duration,
    ) -> (HashMap<String, MemberStatus>, bool) {
        let (limit, cut) = self.budget.cap(limit);
        let mut seen: HashMap<String, MemberStatus> = HashMap::new();
        let mut left: Vec<&MemberPlan> = members.to_vec();
        let mut pace = self.pacer(limit);
        loop {
            for kind in MemberKind::ALL {
                let ids: Vec<String> = left.iter().filter(|d| d.kind == kind).map(|d| d.id.clone()).collect();
                let Some(service) = self.members.of(kind).filter(|_| !ids.is_empty()) else {
                    continue;
                };
                match service.statuses(kind, &ids).await {
                    Ok(list) => seen.extend(list.into_iter().map(|s| (crate::member::member_id(kind, &s.id), s))),
                    Err(e) => tracing::warn!(error = %e, "reading member states failed; will poll again"),
                }
            }
            left.retain(|d| {
                seen.get(&d.member)
                    .is_none_or(|s| s.phase != want && s.phase != Phase::Failed)
            });
            if left.is_empty() || !pace.wait().await {
                return (seen, cut && !left.is_empty());
            }
        }
    }
}

/// The service whose word a member's state is, for failure reasons.
fn service_name(kind: MemberKind) -> &'static str {
    match kind {
        MemberKind::Ec2 => "EC2",
        MemberKind::Rds | MemberKind::Aurora => "RDS",
        MemberKind::Asg => "Auto Scaling",
        MemberKind::Ecs => "ECS",
    }
}

fn noted(id: &str, reason: &str) -> Noted {
    Noted {
        id: id.to_string(),
        reason: reason.to_string(),
    }
}
