//! The driver of every member another service runs ([`MemberService`]):
//! RDS DB instances, DB clusters (Aurora, DocumentDB, Neptune), ECS
//! services, Auto Scaling groups and EKS node groups. A database is stopped
//! or started with one call; a capacity (a group, a service, a node group)
//! is scaled through its ledger record ([`Execution::scale_member`]).
//! Their states are read in the one vocabulary of [`Phase`] by the
//! adapters; a stop in a synchronous tier is waited for up to
//! [`MEMBER_WAIT`] (a database takes minutes to stop).
//!
//! [`MemberService`]: crate::ports::MemberService

use std::time::Duration;

use async_trait::async_trait;
use futures::stream::{self, StreamExt};

use super::driver::{Driver, Fault, Seen, Tally};
use super::lane::{noted, Item, Lane};
use crate::action::Action;
use crate::error::CloudError;
use crate::member::{MemberId, MemberKind, Phase};
use crate::orchestrator::Execution;
use crate::plan::members::MemberPlan;
use crate::summary::Failure;

/// The longest a member is waited for down in a synchronous tier at Stop.
/// The deadline budget cuts it, and a continuation goes on waiting. (At
/// Start the bound is the tier's `TierStartConfirmTimeout`, or each kind's
/// default: [`crate::config::StartRules::confirm_bound`].)
pub const MEMBER_WAIT: Duration = Duration::from_secs(1800);

/// Members called at once in a tier that is not synchronous.
const CONCURRENT_CALLS: usize = 8;

/// The driver of one kind of [`MemberService`](crate::ports::MemberService) member.
pub(crate) struct ServiceDriver {
    pub(crate) kind: MemberKind,
}

#[async_trait(?Send)]
impl Driver for ServiceDriver {
    fn kind(&self) -> MemberKind {
        self.kind
    }

    fn service(&self) -> &'static str {
        self.kind.service_name()
    }

    fn stop_wait(&self, _ex: &Execution<'_>) -> Duration {
        MEMBER_WAIT
    }

    async fn read(&self, ex: &Execution<'_>, ids: &[MemberId]) -> Result<Vec<Seen>, CloudError> {
        let Some(service) = ex.members.of(self.kind) else {
            return Ok(Vec::new());
        };
        let ids: Vec<String> = ids.iter().map(|m| m.id().to_string()).collect();
        let statuses = service.statuses(self.kind, &ids).await?;
        Ok(statuses
            .into_iter()
            .map(|s| Seen {
                id: MemberId::new(self.kind, s.id),
                fault: (s.phase == Phase::Failed).then(|| Fault {
                    reason: format!("start accepted, then {} says {}", self.service(), s.status),
                    code: None,
                    certain: true,
                }),
                phase: s.phase,
                status: s.status,
            })
            .collect())
    }

    async fn act(&mut self, ex: &Execution<'_>, lane: &mut Lane<'_>, todo: &[Item<'_>]) -> Tally {
        let plans: Vec<(&Item<'_>, &MemberPlan)> = todo.iter().filter_map(|i| Some((i, i.as_member()?))).collect();
        let called: Vec<(&Item<'_>, Option<Result<Option<String>, CloudError>>)> = stream::iter(plans)
            .map(|(item, plan)| async move {
                let call = match ex.budget.expired() {
                    true => None,
                    false => Some(ex.call_member(plan).await),
                };
                (item, call)
            })
            .buffered(CONCURRENT_CALLS)
            .collect()
            .await;
        let mut tally = Tally::default();
        for (item, call) in called {
            match call {
                None => tally.not_done.push(item.name.clone()),
                Some(Ok(note)) => {
                    lane.out.records.extend(note.map(|n| noted(&item.name, &n)));
                    tally.ok.push(item.name.clone());
                }
                Some(Err(e)) => tally.failed.push(Failure {
                    id: item.name.clone(),
                    reason: e.to_string(),
                    code: e.code.clone(),
                }),
            }
        }
        tally
    }
}

impl Execution<'_> {
    /// One member's call: a database stopped or started; a group or
    /// service scaled through its ledger record ([`Self::scale_member`]).
    /// A note on its record, when there is one to tell.
    async fn call_member(&self, d: &MemberPlan) -> Result<Option<String>, CloudError> {
        let Some(service) = self.members.of(d.kind) else {
            return Err(crate::ports::not_scalable(d.kind, &d.id));
        };
        if d.kind.is_capacity() {
            return self.scale_member(service.as_ref(), d).await;
        }
        match self.action {
            Action::Stop => service.stop(d.kind, &d.id).await.map(|()| None),
            Action::Start => service.start(d.kind, &d.id).await.map(|()| None),
        }
    }
}
