//! A lane: the members of one kind in one tier, as the frame runs them.
//! Each member is an [`Item`] (its typed id, its step, where it was when
//! the plan was made, and its plan); a lane begins by sorting them into
//! failed at once, skipped, done by an earlier invocation and to do, and
//! keeps its own outcome until the frame merges the lanes.

use std::collections::HashSet;
use std::time::Duration;

use tokio::time::Instant;

use super::super::TierEnd;
use crate::instance::InstanceState;
use crate::member::{MemberId, MemberKind, Phase};
use crate::plan::members::MemberPlan;
use crate::plan::{InstancePlan, Step, TierPlan};
use crate::summary::{Failure, Noted, TierOutcome};

/// What the plan says of a member, by its kind's plan type.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Planned<'t> {
    /// An EC2 instance.
    Instance(&'t InstancePlan),
    /// A member another service runs (a database, a group, a service).
    Member(&'t MemberPlan),
}

/// One member of a lane.
#[derive(Debug, Clone)]
pub(crate) struct Item<'t> {
    /// Its typed id.
    pub(crate) id: MemberId,
    /// Its id in reports (`i-0abc`, `rds:db-1`), written once.
    pub(crate) name: String,
    /// Where it was when the plan was made.
    pub(crate) phase: Phase,
    /// The plan's step.
    pub(crate) step: &'t Step,
    /// Its plan.
    pub(crate) plan: Planned<'t>,
}

impl<'t> Item<'t> {
    /// An instance of the plan.
    pub(crate) fn instance(i: &'t InstancePlan) -> Self {
        Self {
            id: MemberId::instance(i.id.clone()),
            name: i.id.clone(),
            phase: phase_of(i.state),
            step: &i.step,
            plan: Planned::Instance(i),
        }
    }

    /// A member of the plan that is not an instance.
    pub(crate) fn member(m: &'t MemberPlan) -> Self {
        let id = MemberId::new(m.kind, m.id.clone());
        Self {
            name: id.to_string(),
            id,
            phase: m.phase,
            step: &m.step,
            plan: Planned::Member(m),
        }
    }

    /// Its instance plan, when it is an instance.
    pub(crate) fn as_instance(&self) -> Option<&'t InstancePlan> {
        match self.plan {
            Planned::Instance(i) => Some(i),
            Planned::Member(_) => None,
        }
    }

    /// Its member plan, when it is not an instance.
    pub(crate) fn as_member(&self) -> Option<&'t MemberPlan> {
        match self.plan {
            Planned::Member(m) => Some(m),
            Planned::Instance(_) => None,
        }
    }
}

/// The phase of an EC2 instance's state.
pub(crate) fn phase_of(state: InstanceState) -> Phase {
    match state {
        InstanceState::Running => Phase::Up,
        InstanceState::Stopped => Phase::Down,
        InstanceState::Pending => Phase::Starting,
        InstanceState::Stopping => Phase::Stopping,
        InstanceState::ShuttingDown | InstanceState::Terminated => Phase::Failed,
    }
}

/// The members of one kind in one tier, in progress.
pub(crate) struct Lane<'t> {
    pub(crate) tier: &'t TierPlan,
    pub(crate) kind: MemberKind,
    /// Every member of the lane, as planned.
    pub(crate) items: Vec<Item<'t>>,
    /// Still to act on.
    pub(crate) todo: Vec<Item<'t>>,
    /// Acted on by an earlier invocation: reported once (skipped), and
    /// confirmed with this invocation's.
    pub(crate) earlier: Vec<Item<'t>>,
    pub(crate) out: TierOutcome,
    pub(crate) notification_errors: Vec<String>,
    pub(crate) end: TierEnd,
    /// When the tier last acted (ms since the epoch), in this invocation
    /// or an earlier one: what the checkpoint keeps.
    pub(crate) acted_at_ms: Option<u64>,
    /// The same moment on the runtime's clock: confirmation bounds count
    /// from it.
    pub(crate) acted_at: Option<Instant>,
}

impl<'t> Lane<'t> {
    /// A lane of `items`, sorted: a member the plan refuses (an instance
    /// whose volume's key EC2 cannot use) failed at once, the skipped ones
    /// noted, those done earlier noted and kept to confirm, the rest to do.
    pub(crate) fn begin(tier: &'t TierPlan, kind: MemberKind, items: Vec<Item<'t>>, started_at_ms: u64) -> Self {
        let mut out = TierOutcome::new(&tier.tier, tier.sequence, tier.synchronous);
        out.started_at_ms = started_at_ms;
        let (mut todo, mut earlier) = (Vec::new(), Vec::new());
        for item in &items {
            if let Some(why) = item.as_instance().and_then(InstancePlan::key_refusal) {
                out.failed.push(Failure {
                    id: item.name.clone(),
                    reason: why,
                    code: Some("KmsKeyUnusable".into()),
                });
                continue;
            }
            match item.step {
                Step::Skip { reason } => out.skipped.push(noted(&item.name, reason)),
                Step::DoneEarlier { reason } => {
                    out.skipped.push(noted(&item.name, reason));
                    earlier.push(item.clone());
                }
                Step::Act | Step::WaitThenAct { .. } => todo.push(item.clone()),
            }
        }
        let acted_at = tier.acted_at_ms.map(|ms| {
            let now = Instant::now();
            let ago = Duration::from_millis(crate::clock::now_ms().saturating_sub(ms));
            now.checked_sub(ago).unwrap_or(now)
        });
        Self {
            tier,
            kind,
            items,
            todo,
            earlier,
            out,
            notification_errors: Vec::new(),
            end: TierEnd::Done,
            acted_at_ms: tier.acted_at_ms,
            acted_at,
        }
    }

    /// Whether there is anything to act on or confirm.
    pub(crate) fn is_idle(&self) -> bool {
        self.todo.is_empty() && self.earlier.is_empty()
    }

    /// The instance plans still to act on (an EC2 lane's).
    pub(crate) fn todo_instances(&self) -> impl Iterator<Item = &'t InstancePlan> + '_ {
        self.todo.iter().filter_map(Item::as_instance)
    }

    /// Leaves the members named out of those to act on.
    pub(crate) fn drop_todo(&mut self, names: &HashSet<String>) {
        self.todo.retain(|i| !names.contains(&i.name));
    }

    /// A member was just called: the confirmation bound counts from now.
    pub(crate) fn mark_acted(&mut self) {
        self.acted_at_ms = Some(crate::clock::now_ms());
        self.acted_at = Some(Instant::now());
    }

    /// Time since the tier last acted (zero when it never did).
    pub(crate) fn spent(&self) -> Duration {
        self.acted_at.map(|at| at.elapsed()).unwrap_or_default()
    }

    /// Ends the lane at the deadline with `why`, unless it ended already.
    pub(crate) fn deadline(&mut self, why: String) {
        if self.end == TierEnd::Done {
            self.end = TierEnd::Deadline(why);
        }
    }

    /// `items` are not done, for `reason`.
    pub(crate) fn not_done(&mut self, items: &[Item<'_>], reason: &str) {
        self.out.not_done.extend(items.iter().map(|i| noted(&i.name, reason)));
    }

    /// A failure of `name`.
    pub(crate) fn fail(&mut self, name: &str, reason: String, code: Option<String>) {
        self.out.failed.push(Failure {
            id: name.to_string(),
            reason,
            code,
        });
    }

    /// The members acted on, now or by an earlier invocation (a start
    /// that was not confirmed left both lists): what a readiness gate
    /// waits for.
    pub(crate) fn reached(&self) -> Vec<String> {
        let earlier = self.earlier.iter().map(|i| i.name.clone());
        self.out.acted.iter().cloned().chain(earlier).collect()
    }

    /// `names` did not reach the phase wanted: they leave the acted and
    /// the done-earlier lists (their failures say why).
    pub(crate) fn unreached(&mut self, names: &HashSet<String>) {
        self.out.acted.retain(|a| !names.contains(a));
        self.earlier.retain(|i| !names.contains(&i.name));
    }
}

pub(crate) fn noted(id: &str, reason: &str) -> Noted {
    Noted {
        id: id.to_string(),
        reason: reason.to_string(),
    }
}
