//! The action, for every kind: the lane's members all at once (the driver
//! batches) and, at Start, the starts confirmed; or, in a synchronous
//! tier, one at a time, each waited for (a start confirmed up, a stop
//! down) before the next is touched, after those already on their way.

use super::super::TierEnd;
use super::driver::{Driver, Tally};
use super::lane::{noted, Item, Lane};
use crate::action::Action;
use crate::member::{MemberId, Phase};
use crate::orchestrator::Execution;
use crate::summary::PhaseKind;

impl Execution<'_> {
    /// Acts on the lane's members still to do (see the module); when time
    /// already ran out, they are not done.
    pub(crate) async fn act_on(&self, driver: &mut dyn Driver, lane: &mut Lane<'_>) {
        if lane.is_idle() {
            return;
        }
        if lane.end != TierEnd::Done {
            let todo = std::mem::take(&mut lane.todo);
            lane.not_done(&todo, "time ran out before the action");
            return;
        }
        if lane.tier.synchronous {
            self.one_at_a_time(driver, lane).await;
        } else {
            self.all_at_once(driver, lane).await;
        }
    }

    /// Every member at once, then at Start the starts confirmed (with
    /// those an earlier invocation started).
    async fn all_at_once(&self, driver: &mut dyn Driver, lane: &mut Lane<'_>) {
        let todo = std::mem::take(&mut lane.todo);
        if !todo.is_empty() {
            let from = self.elapsed_ms();
            let tally = driver.act(self, lane, &todo).await;
            lane.mark_acted();
            self.tally(lane, tally, "time ran out before this batch");
            lane.out.phase(PhaseKind::Act, from, self.elapsed_ms());
        }
        if self.action == Action::Start && lane.end == TierEnd::Done {
            let acted: Vec<Item<'_>> = todo.into_iter().filter(|i| lane.out.acted.contains(&i.name)).collect();
            let both: Vec<Item<'_>> = lane.earlier.iter().cloned().chain(acted).collect();
            if !both.is_empty() {
                let from = self.elapsed_ms();
                self.confirm(driver, lane, &both).await;
                lane.out.phase(PhaseKind::Confirm, from, self.elapsed_ms());
            }
        }
    }

    /// A synchronous tier: those already on their way first, then each
    /// member acted on and waited for in turn.
    async fn one_at_a_time(&self, driver: &mut dyn Driver, lane: &mut Lane<'_>) {
        let from = self.elapsed_ms();
        self.wait_in_transit(driver, lane).await;
        let todo = std::mem::take(&mut lane.todo);
        for (index, item) in todo.iter().enumerate() {
            if lane.end != TierEnd::Done || self.budget.expired() {
                lane.not_done(&todo[index..], "time ran out before its turn");
                lane.deadline(format!("time ran out in synchronous tier {}", lane.tier.tier));
                break;
            }
            let tally = driver.act(self, lane, std::slice::from_ref(item)).await;
            lane.mark_acted();
            if !tally.not_done.is_empty() {
                lane.not_done(&todo[index..], "time ran out before its turn");
                lane.deadline(format!("time ran out in synchronous tier {}", lane.tier.tier));
                break;
            }
            let acted = !tally.ok.is_empty();
            self.tally(lane, tally, "time ran out before its turn");
            if acted {
                self.confirm(driver, lane, std::slice::from_ref(item)).await;
            }
            if lane.end != TierEnd::Done {
                lane.not_done(&todo[index + 1..], "time ran out before its turn");
                break;
            }
        }
        lane.out.phase(PhaseKind::Act, from, self.elapsed_ms());
    }

    /// Before a synchronous tier acts: members an earlier invocation acted
    /// on are confirmed, and members already on their way by themselves
    /// (an instance `stopping` at Stop, `pending` at Start) are waited for,
    /// so no two are in transit at once.
    async fn wait_in_transit(&self, driver: &mut dyn Driver, lane: &mut Lane<'_>) {
        let earlier = lane.earlier.clone();
        self.confirm(driver, lane, &earlier).await;
        let (via, target) = match self.action {
            Action::Stop => (Phase::Stopping, Phase::Down),
            Action::Start => (Phase::Starting, Phase::Up),
        };
        let moving: Vec<MemberId> = lane
            .items
            .iter()
            .filter(|i| i.phase == via && !lane.todo.iter().any(|t| t.id == i.id))
            .map(|i| i.id.clone())
            .collect();
        if moving.is_empty() || lane.end != TierEnd::Done {
            return;
        }
        let limit = self.settings.state_timeout;
        let polled = self
            .poll(&*driver, &moving, limit, self.settings.poll_max, &mut |s| {
                s.phase == target || s.phase == Phase::Failed
            })
            .await;
        if polled.cut {
            lane.deadline(format!(
                "time ran out in synchronous tier {} waiting for members already {}",
                lane.tier.tier,
                self.action.doing()
            ));
        }
    }

    /// What an action did, into the lane: acted, failed, or not done with
    /// `late` (and the lane at the deadline).
    fn tally(&self, lane: &mut Lane<'_>, tally: Tally, late: &str) {
        lane.out.acted.extend(tally.ok);
        lane.out.failed.extend(tally.failed);
        if !tally.not_done.is_empty() {
            lane.out.not_done.extend(tally.not_done.iter().map(|n| noted(n, late)));
            lane.deadline(format!(
                "time ran out while {} tier {}",
                self.action.doing(),
                lane.tier.tier
            ));
        }
    }
}
