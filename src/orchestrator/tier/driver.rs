//! What the tier frame asks of a kind of member: a [`Driver`]. The frame
//! owns the order of things (sort, settle, hooks, act, confirm, gate,
//! deadline, report); a driver says where its members are ([`Seen`], in
//! the one vocabulary of [`Phase`]), acts on them ([`Tally`], the one
//! outcome type of an action), how long a stop may take, and adds what is
//! its kind's alone as hooks around the action.

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;

use super::lane::{Item, Lane};
use crate::error::CloudError;
use crate::member::{MemberId, MemberKind, Phase};
use crate::orchestrator::Execution;
use crate::plan::TierPlan;
use crate::summary::{Failure, TierOutcome};

/// One member's state now, as its driver reads it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) id: MemberId,
    /// Where it is.
    pub(crate) phase: Phase,
    /// The service's own words (`pending`, `starting`, `desired 2, 1 InService`).
    pub(crate) status: String,
    /// Why a start failed, if this state says it did.
    pub(crate) fault: Option<Fault>,
}

/// Why a start failed, with the service's code.
#[derive(Debug, Clone)]
pub(crate) struct Fault {
    pub(crate) reason: String,
    pub(crate) code: Option<String>,
    /// Certain now; otherwise only once the member was seen on its way up
    /// first (EC2's reads lag: an instance just started may still read
    /// `stopped` from the stop someone asked for).
    pub(crate) certain: bool,
}

/// What became of the members an action was sent to, by report name.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) ok: Vec<String>,
    pub(crate) failed: Vec<Failure>,
    /// Not sent: time ran out first.
    pub(crate) not_done: Vec<String>,
}

/// A kind of member, as the frame drives it.
#[async_trait(?Send)]
pub(crate) trait Driver: Send + Sync {
    /// The kind it drives.
    fn kind(&self) -> MemberKind;

    /// The service whose word its members' states are (for reasons).
    fn service(&self) -> &'static str;

    /// The longest a stop of one member is waited for in a synchronous
    /// tier (cut to the deadline budget).
    fn stop_wait(&self, ex: &Execution<'_>) -> Duration;

    /// Where each of `ids` is now; a member that no longer exists is absent.
    async fn read(&self, ex: &Execution<'_>, ids: &[MemberId]) -> Result<Vec<Seen>, CloudError>;

    /// Stops or starts `todo`: the lane's members still to act on, or in a
    /// synchronous tier the one whose turn it is.
    async fn act(&mut self, ex: &Execution<'_>, lane: &mut Lane<'_>, todo: &[Item<'_>]) -> Tally;

    /// Before the action, when time is left: what the kind does first (EC2:
    /// override files, Auto Scaling processes, drains, type changes).
    async fn before_act(&mut self, _ex: &Execution<'_>, _lane: &mut Lane<'_>) {}

    /// After the action and its confirmation (EC2: registrations put back).
    async fn after_act(&mut self, _ex: &Execution<'_>, _lane: &mut Lane<'_>) {}

    /// After the tier's gate passed at Start (EC2: Auto Scaling processes
    /// resumed).
    async fn after_gate(&mut self, _ex: &Execution<'_>, _tier: &TierPlan, _out: &mut TierOutcome) {}

    /// Whether the tier's readiness gate (a check of EC2 instances) waits
    /// for this kind's members.
    fn gated(&self) -> bool {
        false
    }

    /// Members that no readiness gate may count ready, whatever they say.
    fn never_ready(&self) -> HashSet<String> {
        HashSet::new()
    }
}
