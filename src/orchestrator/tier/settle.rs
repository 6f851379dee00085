//! Phase 1, transitions settled: instances caught in transition (pending at
//! Stop, stopping at Start) are waited out before the action, then acted on
//! like the others; one that does not settle is skipped, not done or failed.

use std::collections::HashSet;
use std::time::Duration;

use super::super::{Execution, TierEnd};
use super::TierRun;
use crate::action::Action;
use crate::instance::InstanceState;
use crate::plan::Step;
use crate::summary::{Failure, Noted, PhaseKind};

impl Execution<'_> {
    /// Phase 1, transitions: instances in transition (pending at Stop,
    /// stopping at Start) are waited out, then acted on like the others.
    pub(super) async fn settle_transitions(&self, run: &mut TierRun<'_>) {
        let waiting: Vec<String> = run
            .todo
            .iter()
            .filter(|i| matches!(i.step, Step::WaitThenAct { .. }))
            .map(|i| i.id.clone())
            .collect();
        if waiting.is_empty() {
            return;
        }
        let from = self.elapsed_ms();
        let settled = match self.action {
            Action::Stop => InstanceState::Running,
            Action::Start => InstanceState::Stopped,
        };
        let (limit, cut) = self.budget.cap(self.settings.state_timeout);
        let states = self.wait_for_states(&waiting, settled, limit).await;
        let mut dropped = HashSet::new();
        for id in &waiting {
            let state = states.get(id).copied();
            if state == Some(settled) {
                continue;
            }
            dropped.insert(id.clone());
            self.note_unsettled(run, id, state, limit, cut);
        }
        run.todo.retain(|i| !dropped.contains(&i.id));
        run.out.phase(PhaseKind::Settle, from, self.elapsed_ms());
    }

    /// Phase 1, one instance that did not settle: skipped when it reached
    /// the target on its own, not done when time ran out, failed otherwise.
    fn note_unsettled(
        &self,
        run: &mut TierRun<'_>,
        id: &str,
        state: Option<InstanceState>,
        limit: Duration,
        cut: bool,
    ) {
        let now = state.map(|s| s.to_string()).unwrap_or_else(|| "unknown".into());
        if state == Some(self.action.target_state()) {
            run.out.skipped.push(Noted {
                id: id.to_string(),
                reason: format!("reached {now} on its own"),
            });
        } else if cut {
            run.out.not_done.push(Noted {
                id: id.to_string(),
                reason: format!("still {now} when time ran out"),
            });
            run.end = TierEnd::Deadline(format!(
                "time ran out waiting for tier {} instances to settle",
                run.tier.tier
            ));
        } else {
            run.out.failed.push(Failure {
                id: id.to_string(),
                reason: format!("still {now} after {}s; not {}", limit.as_secs(), self.action.done()),
                code: None,
            });
        }
    }
}
