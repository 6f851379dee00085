//! Transitions settled, for every kind: members caught on their way (an
//! instance `pending` or a database `starting` at Stop; `stopping` at
//! Start) are waited out before the action, then acted on like the others.
//! One that reaches the action's target by itself is skipped; one still on
//! its way when time runs out is not done; any other is failed.

use std::collections::HashSet;

use super::driver::Driver;
use super::lane::{noted, Item, Lane};
use crate::action::Action;
use crate::member::{MemberId, Phase};
use crate::orchestrator::Execution;
use crate::plan::Step;
use crate::summary::PhaseKind;

impl Execution<'_> {
    /// Waits out the lane's members in transition (see the module).
    pub(crate) async fn settle(&self, driver: &dyn Driver, lane: &mut Lane<'_>) {
        let items: Vec<Item<'_>> = lane
            .todo
            .iter()
            .filter(|i| matches!(i.step, Step::WaitThenAct { .. }))
            .cloned()
            .collect();
        if items.is_empty() {
            return;
        }
        let from = self.elapsed_ms();
        let (settled, target) = match self.action {
            Action::Stop => (Phase::Up, Phase::Down),
            Action::Start => (Phase::Down, Phase::Up),
        };
        let limit = self.settings.state_timeout;
        let waiting: Vec<MemberId> = items.iter().map(|i| i.id.clone()).collect();
        let polled = self
            .poll(
                driver,
                &waiting,
                limit,
                self.settings.poll_max,
                &mut |s| matches!(s.phase, p if p == settled || p == target || p == Phase::Failed),
            )
            .await;
        let mut dropped = HashSet::new();
        for item in &items {
            let phase = polled.seen.get(&item.id).map(|s| s.phase);
            if phase == Some(settled) {
                continue;
            }
            dropped.insert(item.name.clone());
            let now = polled.status(&item.id).to_string();
            if phase == Some(target) {
                lane.out
                    .skipped
                    .push(noted(&item.name, &format!("reached {now} on its own")));
            } else if polled.cut && phase != Some(Phase::Failed) {
                lane.out
                    .not_done
                    .push(noted(&item.name, &format!("still {now} when time ran out")));
            } else {
                let reason = format!("still {now} after {}s; not {}", limit.as_secs(), self.action.done());
                lane.fail(&item.name, reason, None);
            }
        }
        if polled.cut && !polled.left.is_empty() {
            lane.deadline(format!(
                "time ran out waiting for tier {} members to settle",
                lane.tier.tier
            ));
        }
        lane.drop_todo(&dropped);
        lane.out.phase(PhaseKind::Settle, from, self.elapsed_ms());
    }
}
