//! One tier, for every kind of member: the frame. The tier's members are
//! split into lanes, one per kind, in the tier's `TierResourceTypes` order
//! (all at once, or in a synchronous tier one lane after the other), and
//! every lane runs the same phases through its kind's [`Driver`]:
//!
//! 1. sort: failed at once, skipped, done by an earlier invocation, to do
//!    ([`Lane::begin`]);
//! 2. settle: members caught in a transition waited out (`settle`);
//! 3. the driver's hooks before acting, when time is left;
//! 4. act: all at once (the driver batches) or one at a time, each waited
//!    for (`act`);
//! 5. confirm: at Start every member up within one bound per kind, counted
//!    across continuations (`confirm`), through one polling loop (`poll`);
//! 6. the driver's hooks after acting.
//!
//! Then the lanes merge into the tier's outcome (their timeline bars
//! tagged with their kind), `TierStartFailure: Abort` is applied, the
//! readiness gate waits for the members of the kinds it checks (EC2), and
//! the drivers' hooks after the gate run. The deadline budget bounds every
//! wait; what time did not allow is "not done", and a continuation goes on.
//!
//! Drivers: [`ec2`] (instances, with EC2's particulars as hooks) and
//! [`service`] (every kind a [`MemberService`](crate::ports::MemberService)
//! runs: databases, Auto Scaling groups, ECS services).

mod act;
mod confirm;
mod driver;
mod ec2;
mod lane;
mod poll;
mod service;
mod settle;

use std::collections::HashSet;

use futures::future::join_all;
use tokio::time::Instant;

use super::{Execution, TierEnd, TierResult};
use crate::action::Action;
use crate::config::StartFailure;
use crate::member::MemberKind;
use crate::plan::TierPlan;
use crate::summary::{PhaseKind, TierOutcome};
use driver::Driver;
use lane::{Item, Lane};

/// A lane and the driver of its kind.
type Driven<'t> = (Box<dyn Driver>, Lane<'t>);

impl Execution<'_> {
    /// Runs one tier (see the module).
    pub(crate) async fn run_tier(&self, tier: &TierPlan) -> (TierResult, TierEnd) {
        let began = Instant::now();
        let started_at_ms = self.elapsed_ms();
        let mut lanes = self.lanes(tier, started_at_ms);
        if tier.synchronous {
            let mut end = TierEnd::Done;
            for (driver, lane) in lanes.iter_mut() {
                // A lane after one that ran out of time does not act.
                lane.end = end.clone();
                self.run_lane(driver.as_mut(), lane).await;
                end = lane.end.clone();
            }
        } else {
            join_all(
                lanes
                    .iter_mut()
                    .map(|(driver, lane)| self.run_lane(driver.as_mut(), lane)),
            )
            .await;
        }
        let gated = gated(&lanes);
        let (mut out, mut end, acted_at_ms, notification_errors) = merge(tier, started_at_ms, &mut lanes);
        abort_on_start_failure(tier, &out, &mut end);
        self.readiness_gate(tier, gated, &mut out, &mut end).await;
        if self.action == Action::Start && end == TierEnd::Done {
            for (driver, _) in lanes.iter_mut() {
                driver.after_gate(self, tier, &mut out).await;
            }
        }
        out.duration_ms = began.elapsed().as_millis() as u64;
        let result = TierResult {
            outcome: out,
            notification_errors,
            acted_at_ms,
        };
        (result, end)
    }

    /// The tier's lanes in its kind order: its instances (EC2's driver),
    /// then the members of each other kind (the service driver).
    fn lanes<'t>(&self, tier: &'t TierPlan, started_at_ms: u64) -> Vec<Driven<'t>> {
        let spec = self.config.tiers.iter().find(|t| t.name == tier.tier);
        let mut kinds: Vec<MemberKind> = tier.members.iter().map(|m| m.kind).collect();
        kinds.push(MemberKind::Ec2);
        kinds.sort_by_key(|k| (spec.map(|s| s.order_of(*k)).unwrap_or_default(), *k));
        kinds.dedup();
        kinds
            .into_iter()
            .map(|kind| {
                let (driver, items): (Box<dyn Driver>, Vec<Item<'t>>) = match kind {
                    MemberKind::Ec2 => (
                        Box::<ec2::Ec2Driver>::default(),
                        tier.instances.iter().map(Item::instance).collect(),
                    ),
                    _ => (
                        Box::new(service::ServiceDriver { kind }),
                        tier.members
                            .iter()
                            .filter(|m| m.kind == kind)
                            .map(Item::member)
                            .collect(),
                    ),
                };
                (driver, Lane::begin(tier, kind, items, started_at_ms))
            })
            .collect()
    }

    /// One lane, phase by phase (see the module).
    async fn run_lane(&self, driver: &mut dyn Driver, lane: &mut Lane<'_>) {
        if lane.is_idle() {
            return;
        }
        if lane.end == TierEnd::Done {
            self.settle(driver, lane).await;
        }
        if lane.end == TierEnd::Done && !lane.todo.is_empty() {
            driver.before_act(self, lane).await;
        }
        self.act_on(driver, lane).await;
        driver.after_act(self, lane).await;
    }

    /// The readiness gate before the next tier, on `gated` members.
    async fn readiness_gate(&self, tier: &TierPlan, gated: Gated, out: &mut TierOutcome, end: &mut TierEnd) {
        let (Some(readiness), TierEnd::Done) = (&tier.readiness, &*end) else {
            return;
        };
        let (ids, never) = gated;
        if ids.is_empty() {
            return;
        }
        let from = self.elapsed_ms();
        let gate = self.gate_for(readiness.check);
        let (gate, gate_end) = gate.wait(&tier.tier, readiness, &ids, &never).await;
        out.phase(PhaseKind::Gate, from, self.elapsed_ms());
        out.gate = Some(gate);
        *end = gate_end;
    }
}

/// What a readiness gate waits for: the members it checks, and those it
/// may never count ready.
type Gated = (Vec<String>, HashSet<String>);

/// The members of the kinds the gate checks (EC2) acted on now or by an
/// earlier invocation, and those their drivers say are never ready.
fn gated(lanes: &[Driven<'_>]) -> Gated {
    let gated = lanes.iter().filter(|(driver, _)| driver.gated());
    let ids = gated.clone().flat_map(|(_, lane)| lane.reached()).collect();
    let never = gated.flat_map(|(driver, _)| driver.never_ready()).collect();
    (ids, never)
}

/// The lanes' outcomes as the tier's: the first lane that did not end
/// done ends the tier; the tier acted when its last lane did.
fn merge(
    tier: &TierPlan,
    started_at_ms: u64,
    lanes: &mut [Driven<'_>],
) -> (TierOutcome, TierEnd, Option<u64>, Vec<String>) {
    let mut out = TierOutcome::new(&tier.tier, tier.sequence, tier.synchronous);
    out.started_at_ms = started_at_ms;
    let mut end = TierEnd::Done;
    let mut acted_at_ms = tier.acted_at_ms;
    let mut notes = Vec::new();
    for (_, lane) in lanes.iter_mut() {
        let lane_out = std::mem::replace(&mut lane.out, TierOutcome::new(&tier.tier, 0, false));
        out.absorb(lane_out, lane.kind);
        if end == TierEnd::Done {
            end = lane.end.clone();
        }
        acted_at_ms = acted_at_ms.max(lane.acted_at_ms);
        notes.append(&mut lane.notification_errors);
    }
    (out, end, acted_at_ms, notes)
}

/// `TierStartFailure: Abort`: a tier with a member that did not start
/// ends the run; the next tiers are not started.
fn abort_on_start_failure(tier: &TierPlan, out: &TierOutcome, end: &mut TierEnd) {
    let abort = tier
        .start_rules
        .as_ref()
        .is_some_and(|r| r.on_failure == StartFailure::Abort);
    if abort && *end == TierEnd::Done && !out.failed.is_empty() {
        *end = TierEnd::Abort(format!(
            "{} member(s) of tier {} did not start and its TierStartFailure is Abort",
            out.failed.len(),
            tier.tier
        ));
    }
}
