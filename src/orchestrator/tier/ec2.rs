//! The EC2 driver: instances read with DescribeInstances, stopped,
//! hibernated and started in batches of at most 500 (a batch refused for
//! one instance split until it stands alone), with EC2's particulars as
//! hooks around the frame's action: override files checked, the Auto
//! Scaling processes of group members suspended and target groups drained
//! before a Stop; the scaling profile applied before a Start, with the
//! capacity fallback and the starts refused right after a type change
//! tried again; registrations put back after the action; suspended
//! processes resumed once the tier's gate passed. A start EC2 accepted but
//! that fell back (`pending`, then `stopped` with a reason) is a fault its
//! reading reports, with what usually causes it.

mod act;
mod batch;
mod drain;
mod fallback;
mod prepare;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;

use super::driver::{Driver, Fault, Seen, Tally};
use super::lane::{phase_of, Item, Lane};
use crate::action::Action;
use crate::error::CloudError;
use crate::instance::{InstanceState, InstanceStatus, StateReason};
use crate::member::{MemberId, MemberKind, Phase};
use crate::orchestrator::Execution;
use crate::plan::TierPlan;
use crate::summary::{PhaseKind, TierOutcome};
use crate::traffic::Registrations;

/// The state reasons of a stop someone asked for: an instance still
/// `stopped` with one of them has not been started yet (EC2's reads are
/// eventually consistent), not failed.
const ASKED_FOR: [&str; 2] = ["Client.UserInitiatedShutdown", "Client.UserInitiatedHibernate"];

/// The EC2 driver, with what one tier's hooks hand on to the next.
#[derive(Default)]
pub(crate) struct Ec2Driver {
    /// Instances whose type changed without error in this invocation.
    resized_ok: HashSet<String>,
    /// The registrations this run's drain removed, per instance.
    drained: BTreeMap<String, Registrations>,
    /// Instances whose recorded registrations could not be put back: not
    /// ready for a `TargetsHealthy` gate.
    unrestored: HashSet<String>,
}

#[async_trait(?Send)]
impl Driver for Ec2Driver {
    fn kind(&self) -> MemberKind {
        MemberKind::Ec2
    }

    fn service(&self) -> &'static str {
        "EC2"
    }

    fn stop_wait(&self, ex: &Execution<'_>) -> Duration {
        ex.settings.state_timeout
    }

    async fn read(&self, ex: &Execution<'_>, ids: &[MemberId]) -> Result<Vec<Seen>, CloudError> {
        let ids: Vec<String> = ids.iter().map(|m| m.id().to_string()).collect();
        // The adapter pages; one call per poll here.
        Ok(ex.compute.states(&ids).await?.into_iter().map(seen).collect())
    }

    async fn act(&mut self, ex: &Execution<'_>, lane: &mut Lane<'_>, todo: &[Item<'_>]) -> Tally {
        ex.act_on_instances(self, lane, todo).await
    }

    async fn before_act(&mut self, ex: &Execution<'_>, lane: &mut Lane<'_>) {
        match ex.action {
            Action::Stop => {
                ex.check_tier_overrides(lane).await;
                ex.suspend_tier_groups(lane).await;
                ex.drain().drain_tier(lane, &mut self.drained).await;
            }
            Action::Start => ex.apply_scaling_profile(lane, &mut self.resized_ok).await,
        }
    }

    async fn after_act(&mut self, ex: &Execution<'_>, lane: &mut Lane<'_>) {
        match ex.action {
            Action::Start => {
                ex.forget_original_types(lane, &self.resized_ok).await;
                ex.drain().reregister_tier(lane, &mut self.unrestored).await;
            }
            Action::Stop => {
                ex.drain()
                    .reregister_failed_stops(lane, &self.drained, &mut self.unrestored)
                    .await
            }
        }
    }

    async fn after_gate(&mut self, ex: &Execution<'_>, tier: &TierPlan, out: &mut TierOutcome) {
        let groups = crate::orchestrator::auto_scaling::members(tier);
        if groups.is_empty() {
            return;
        }
        let from = ex.elapsed_ms();
        out.auto_scaling.extend(ex.resume_groups(&groups).await);
        out.phase(PhaseKind::AutoScaling, from, ex.elapsed_ms());
    }

    fn gated(&self) -> bool {
        true
    }

    fn never_ready(&self) -> HashSet<String> {
        self.unrestored.clone()
    }
}

/// An instance's state in the frame's words: a start that fell back is a
/// fault (certain when EC2 gives a reason nobody asked for).
fn seen(s: InstanceStatus) -> Seen {
    let code = s.reason.as_ref().map(|r| r.code.clone());
    let fault = match s.state {
        InstanceState::Terminated | InstanceState::ShuttingDown => Some(Fault {
            reason: format!("{} while starting", s.state),
            code,
            certain: true,
        }),
        InstanceState::Stopped | InstanceState::Stopping => Some(Fault {
            reason: explain(s.state, s.reason.as_ref()),
            certain: s.reason.as_ref().is_some_and(|r| !ASKED_FOR.contains(&r.code.as_str())),
            code,
        }),
        InstanceState::Pending | InstanceState::Running => None,
    };
    Seen {
        id: MemberId::instance(s.id),
        phase: phase_of(s.state),
        status: s.state.to_string(),
        fault,
    }
}

/// Why an instance EC2 accepted a start for did not start, with what
/// usually causes it and how to fix it.
pub(crate) fn explain(state: InstanceState, reason: Option<&StateReason>) -> String {
    let Some(reason) = reason else {
        return format!("started, then {state} again (EC2 gave no reason)");
    };
    let hint = match reason.code.as_str() {
        "Client.InternalError" => {
            " This usually means EC2 could not use the customer managed KMS key of an encrypted EBS \
             volume: let the function create grants on the key (stack parameter EbsKmsKeyArns), \
             check that the key is enabled and its policy allows it (`orchestrator plan` lists each \
             instance's keys), then start it again."
        }
        "Client.VolumeLimitExceeded" => " The account's EBS volume or storage limit is reached: raise the quota.",
        "Client.InvalidSnapshot.NotFound" => " A snapshot the instance's volumes need is gone.",
        "Server.InsufficientInstanceCapacity" => {
            " EC2 had no capacity for its type: TierFallbackTypes or the SchedulerPreferredTypes tag \
             name types to try instead."
        }
        _ => "",
    };
    format!(
        "started, then {state} again: {}: {}.{hint}",
        reason.code,
        reason.message.trim_end_matches('.')
    )
}

impl Execution<'_> {
    /// Polls `ids` until every instance is running (or gone), or `limit`
    /// passes (the frame's polling loop through the EC2 driver): those
    /// seen running.
    pub(crate) async fn running_within(&self, ids: &[String], limit: Duration) -> HashSet<String> {
        let ids: Vec<MemberId> = ids.iter().map(|id| MemberId::instance(id.clone())).collect();
        let polled = self
            .poll(&Ec2Driver::default(), &ids, limit, self.settings.poll_max, &mut |s| {
                matches!(s.phase, Phase::Up | Phase::Failed)
            })
            .await;
        polled
            .seen
            .into_values()
            .filter(|s| s.phase == Phase::Up)
            .map(|s| s.id.id().to_string())
            .collect()
    }
}
