//! A tier's members that are not instances (RDS DB instances, Aurora DB
//! clusters, ECS services, Auto Scaling groups), every kind driven the same
//! way through [`MemberService`] and [`Phase`]: acted on beside the tier's
//! instances, one call each, and at Start confirmed up (a database
//! `available`, a group's InService instances or a service's running tasks
//! at the restored desired count) before the next tier begins, within the
//! tier's confirmation bound for the kind counted from the tier's last
//! action across continuations (one rule with the instances:
//! [`StartRules::confirm_bound`]); a synchronous tier takes one at a time
//! and waits for each (for down at Stop). Their outcomes join the tier's,
//! named `rds:<id>`, `asg:<name>`, `ecs:<cluster>/<service>`, so every
//! report shows them with the instances; one done by an earlier invocation
//! is reported once, skipped, as an instance is.
//!
//! [`MemberService`]: crate::ports::MemberService

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::stream::{self, StreamExt};
use tokio::time::Instant;

use super::{Execution, TierEnd};
use crate::action::Action;
use crate::config::StartRules;
use crate::member::{MemberKind, MemberStatus, Phase};
use crate::plan::members::MemberPlan;
use crate::plan::{Step, TierPlan};
use crate::summary::{Failure, Noted, PhaseKind, TierOutcome};

/// The longest a member is waited for down in a synchronous tier at Stop:
/// a database takes minutes to stop. The deadline budget cuts it, and a
/// continuation goes on waiting. (At Start the bound is the tier's
/// `TierStartConfirmTimeout`, or each kind's default: [`StartRules::confirm_bound`].)
pub const MEMBER_WAIT: Duration = Duration::from_secs(1800);

/// Members acted on at once in a tier that is not synchronous.
const CONCURRENT_CALLS: usize = 8;

/// What became of a tier's members. One done by an earlier invocation is
/// reported once, as skipped (like an instance): confirmed, it is not
/// acted again; not confirmed, it is failed too.
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
    /// When this invocation last called a member (ms since the epoch): the
    /// tier's acted time, which the checkpoint keeps.
    pub(crate) acted_at_ms: Option<u64>,
    /// When the tier last acted on the runtime's clock (a call of this
    /// invocation, or the checkpoint's time): confirmations count from it.
    acted_at: Option<Instant>,
}

impl MemberOutcome {
    /// An outcome for members of `tier`, which an earlier invocation may
    /// have acted on (its time is in the plan, from the checkpoint).
    fn of(tier: &TierPlan) -> Self {
        let acted_at = tier.acted_at_ms.map(|ms| {
            let now = Instant::now();
            let ago = Duration::from_millis(crate::clock::now_ms().saturating_sub(ms));
            now.checked_sub(ago).unwrap_or(now)
        });
        Self {
            acted_at,
            ..Self::default()
        }
    }

    /// A member was just called: the confirmation bound counts from now.
    fn mark_acted(&mut self) {
        self.acted_at_ms = Some(crate::clock::now_ms());
        self.acted_at = Some(Instant::now());
    }

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
        self.acted_at_ms = self.acted_at_ms.max(later.acted_at_ms);
        self.acted_at = self.acted_at.max(later.acted_at);
        self
    }

    /// Adds these outcomes to the tier's; a deadline here ends the tier.
    /// `acted_at_ms`, the tier's acted time, becomes the later of the two.
    pub(crate) fn merge_into(self, out: &mut TierOutcome, end: &mut TierEnd, acted_at_ms: &mut Option<u64>) {
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
        *acted_at_ms = (*acted_at_ms).max(self.acted_at_ms);
    }
}

/// What polling members found: the last state seen of each, and those
/// still short of the phase wanted when the deadline budget cut the wait.
struct Polled {
    seen: HashMap<String, MemberStatus>,
    cut: HashSet<String>,
}

impl Execution<'_> {
    /// The tier's `members` (all of them, or in a synchronous tier those on
    /// one side of its instances), phase by phase: the skipped ones noted,
    /// those in transition waited out, the action, and the wait for the
    /// target phase (at Start always; at Stop in a synchronous tier).
    pub(crate) async fn run_members(&self, tier: &TierPlan, members: &[MemberPlan]) -> MemberOutcome {
        let mut out = MemberOutcome::of(tier);
        let mut todo: Vec<&MemberPlan> = Vec::new();
        let mut earlier: Vec<&MemberPlan> = Vec::new();
        for d in members {
            match &d.step {
                Step::Skip { reason } => out.skipped.push(noted(&d.member, reason)),
                Step::DoneEarlier { reason } => {
                    // Reported once, as an instance is: skipped, and (at
                    // Start, or Stop in a synchronous tier) confirmed.
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
        let rules = tier.start_rules.clone().unwrap_or_default();
        if tier.synchronous {
            self.members_one_by_one(&rules, &earlier, &todo, &mut out).await;
        } else {
            self.members_at_once(&rules, &earlier, &todo, &mut out).await;
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
        let polled = self
            .await_phase(&waiting, settled, &|_| self.settings.state_timeout)
            .await;
        let stuck: HashSet<&str> = waiting
            .iter()
            .filter(|d| polled.seen.get(&d.member).map(|s| s.phase) != Some(settled))
            .map(|d| d.member.as_str())
            .collect();
        for d in waiting.iter().filter(|d| stuck.contains(d.member.as_str())) {
            let now = polled
                .seen
                .get(&d.member)
                .map(|s| s.status.as_str())
                .unwrap_or("unknown");
            let cut = polled.cut.contains(&d.member);
            self.note_unfinished(d, now, cut, "to settle", out);
        }
        todo.into_iter()
            .filter(|d| !stuck.contains(d.member.as_str()))
            .collect()
    }

    /// A tier that is not synchronous: every member's call (a few at a
    /// time), then at Start the wait until each is up, those done by an
    /// earlier invocation with them.
    async fn members_at_once(
        &self,
        rules: &StartRules,
        earlier: &[&MemberPlan],
        todo: &[&MemberPlan],
        out: &mut MemberOutcome,
    ) {
        let called: Vec<(&MemberPlan, Result<Option<String>, crate::error::CloudError>)> =
            stream::iter(todo.iter().copied())
                .map(|d| async move { (d, self.call_member(d).await) })
                .buffered(CONCURRENT_CALLS)
                .collect()
                .await;
        if !called.is_empty() {
            out.mark_acted();
        }
        let mut acted: Vec<&MemberPlan> = Vec::new();
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
            self.confirm_members(rules, earlier, &acted, out).await;
        } else {
            out.acted.extend(acted.iter().map(|d| d.member.clone()));
        }
    }

    /// A synchronous tier: one member at a time, each waited for.
    async fn members_one_by_one(
        &self,
        rules: &StartRules,
        earlier: &[&MemberPlan],
        todo: &[&MemberPlan],
        out: &mut MemberOutcome,
    ) {
        self.confirm_members(rules, earlier, &[], out).await;
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
            let called = self.call_member(d).await;
            out.mark_acted();
            match called {
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
            self.confirm_members(rules, &[], &[d], out).await;
        }
    }

    /// Waits until each of `earlier` (done by an earlier invocation) and
    /// `acted` is in the action's target phase (the start confirmed up
    /// within the tier's bound for its kind, counted from the tier's last
    /// action across continuations; the stop down): reached ones of `acted`
    /// are acted (those of `earlier` are reported skipped already), the
    /// others failed, or not done when time ran out (a continuation
    /// confirms them: they stay acted in the checkpoint).
    async fn confirm_members(
        &self,
        rules: &StartRules,
        earlier: &[&MemberPlan],
        acted: &[&MemberPlan],
        out: &mut MemberOutcome,
    ) {
        if acted.is_empty() && earlier.is_empty() {
            return;
        }
        let target = match self.action {
            Action::Stop => Phase::Down,
            Action::Start => Phase::Up,
        };
        let spent = out.acted_at.map(|at| at.elapsed()).unwrap_or_default();
        let limit = |kind: MemberKind| match self.action {
            Action::Start => rules.confirm_bound(kind).saturating_sub(spent),
            Action::Stop => MEMBER_WAIT,
        };
        let both: Vec<&MemberPlan> = earlier.iter().chain(acted).copied().collect();
        let polled = self.await_phase(&both, target, &limit).await;
        for (index, d) in both.iter().enumerate() {
            let fresh = index >= earlier.len();
            match polled.seen.get(&d.member) {
                Some(s) if s.phase == target => out.acted.extend(fresh.then(|| d.member.clone())),
                Some(s) if polled.cut.contains(&d.member) && s.phase != Phase::Failed => {
                    out.acted.extend(fresh.then(|| d.member.clone()));
                    out.end.get_or_insert_with(|| {
                        TierEnd::Deadline(format!("time ran out waiting for {} (still {})", d.member, s.status))
                    });
                }
                Some(s) if s.phase != Phase::Failed && self.action == Action::Start => {
                    out.failed.push(unconfirmed(d, &s.status, rules));
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
    /// the `limit` of its kind cut to the budget passes. The last state
    /// seen of each, and those the budget cut short.
    async fn await_phase(
        &self,
        members: &[&MemberPlan],
        want: Phase,
        limit: &dyn Fn(MemberKind) -> Duration,
    ) -> Polled {
        let longest = members.iter().map(|d| limit(d.kind)).max().unwrap_or_default();
        let (longest, cut) = self.budget.cap(longest);
        let began = Instant::now();
        let mut seen: HashMap<String, MemberStatus> = HashMap::new();
        let mut left: Vec<&MemberPlan> = members.to_vec();
        let mut pace = self.pacer(longest);
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
            // A member whose own limit passed is not waited for any more
            // (one whose limit the budget cut is waited until the end).
            let waited = began.elapsed();
            left.retain(|d| waited < limit(d.kind) || longest < limit(d.kind));
            if left.is_empty() || !pace.wait().await {
                let cut = match cut {
                    true => left.iter().map(|d| d.member.clone()).collect(),
                    false => HashSet::new(),
                };
                return Polled { seen, cut };
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
        MemberKind::DocumentDb | MemberKind::Neptune | MemberKind::Eks => kind.service_name(),
    }
}

/// A started member not up within its confirmation bound (the tier's
/// `TierStartConfirmTimeout`, or its kind's default), named.
fn unconfirmed(d: &MemberPlan, now: &str, rules: &StartRules) -> Failure {
    let bound = crate::config::show_secs(rules.confirm_bound(d.kind));
    let whose = match rules.confirm_timeout {
        Some(_) => "the tier's TierStartConfirmTimeout".to_string(),
        None => format!(
            "the default for {} members; the tier's TierStartConfirmTimeout sets another",
            d.kind
        ),
    };
    Failure {
        id: d.member.clone(),
        reason: format!(
            "start accepted, but {} still says {now} after {bound} ({whose})",
            service_name(d.kind)
        ),
        code: None,
    }
}

fn noted(id: &str, reason: &str) -> Noted {
    Noted {
        id: id.to_string(),
        reason: reason.to_string(),
    }
}
