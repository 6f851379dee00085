//! Phase 4 in a synchronous tier: instances already on their way are waited
//! for first, then each instance is acted on and waited for (a start
//! confirmed running) before the next one is touched.

use super::super::{Execution, TierEnd};
use super::{Special, TierRun};
use crate::action::Action;
use crate::config::StartRules;
use crate::instance::InstanceState;
use crate::summary::{Failure, Noted, TierOutcome};

/// How waiting for one instance of a synchronous tier ended.
enum Waited {
    /// It reached the action's target state.
    Reached,
    /// It will not: a start that fell back, or no arrival within the bound.
    Failed(Failure),
    /// Time ran out first; it was still in the state named.
    Cut(String),
}

impl Execution<'_> {
    /// Phase 4, before a synchronous tier acts: an instance already on its
    /// way (stopping at Stop, pending at Start, or acted on by an earlier
    /// invocation) is waited for before the next one is touched.
    pub(super) async fn wait_in_transit(&self, run: &mut TierRun<'_>) {
        let via = match self.action {
            Action::Stop => InstanceState::Stopping,
            Action::Start => InstanceState::Pending,
        };
        if self.action == Action::Start {
            // Started by an earlier invocation: confirmed like any start.
            let earlier = run.done_earlier.clone();
            self.confirm_starts(run, earlier).await;
        }
        let in_transit: Vec<String> = run
            .tier
            .instances
            .iter()
            .filter(|i| i.state == via || (self.action == Action::Stop && run.done_earlier.contains(&i.id)))
            .map(|i| i.id.clone())
            .collect();
        if in_transit.is_empty() {
            return;
        }
        let (limit, cut) = self.budget.cap(self.settings.state_timeout);
        let states = self
            .wait_for_states(&in_transit, self.action.target_state(), limit)
            .await;
        let settled = in_transit
            .iter()
            .all(|id| states.get(id) == Some(&self.action.target_state()));
        if !settled && cut {
            run.end = TierEnd::Deadline(format!(
                "time ran out in synchronous tier {} waiting for instances already {}",
                run.tier.tier,
                self.action.doing()
            ));
        }
    }

    /// Synchronous tiers: one instance at a time, each waited for (a
    /// start confirmed running).
    pub(super) async fn act_one_by_one(
        &self,
        ids: &[String],
        special: &Special,
        rules: Option<&StartRules>,
        out: &mut TierOutcome,
    ) -> TierEnd {
        for (index, id) in ids.iter().enumerate() {
            let result = self.act(std::slice::from_ref(id), special, out).await;
            out.failed.extend(result.failed);
            if !result.not_done.is_empty() {
                out.not_done.extend(ids[index..].iter().map(|id| Noted {
                    id: id.clone(),
                    reason: "time ran out before its turn".into(),
                }));
                return TierEnd::Deadline(format!("time ran out in synchronous tier {}", out.tier));
            }
            if result.ok.is_empty() {
                continue;
            }
            out.acted.push(id.clone());
            match self.wait_for_one(id, rules).await {
                Waited::Reached => {}
                Waited::Cut(now) => {
                    out.not_done.extend(ids[index + 1..].iter().map(|id| Noted {
                        id: id.clone(),
                        reason: "time ran out before its turn".into(),
                    }));
                    return TierEnd::Deadline(format!(
                        "time ran out in synchronous tier {} waiting for {id} (still {now})",
                        out.tier
                    ));
                }
                // Issued but not done: report it and go on with the next one.
                Waited::Failed(failure) => {
                    out.failed.push(failure);
                    out.acted.retain(|a| a != id);
                }
            }
        }
        TierEnd::Done
    }

    /// Waits for one instance of a synchronous tier: a start is confirmed
    /// running (within TierStartConfirmTimeout), a stop waited for within
    /// the state timeout.
    async fn wait_for_one(&self, id: &str, rules: Option<&StartRules>) -> Waited {
        let ids = [id.to_string()];
        if let (Action::Start, Some(rules)) = (self.action, rules) {
            let bound = rules.confirm_bound(crate::member::MemberKind::Ec2);
            let found = self.confirm_running(&ids, bound, bound).await;
            if let Some(failure) = found.failed.into_iter().next() {
                return Waited::Failed(failure);
            }
            return match found.unconfirmed.first() {
                Some((_, state)) => Waited::Cut(state.to_string()),
                None => Waited::Reached,
            };
        }
        let target = self.action.target_state();
        let (limit, cut) = self.budget.cap(self.settings.state_timeout);
        let states = self.wait_for_states(&ids, target, limit).await;
        if states.get(id) == Some(&target) {
            return Waited::Reached;
        }
        let now = states
            .get(id)
            .map(|s| s.to_string())
            .unwrap_or_else(|| "unknown".into());
        if cut {
            return Waited::Cut(now);
        }
        Waited::Failed(Failure {
            id: id.to_string(),
            reason: format!(
                "{} issued, but still {now} after {}s",
                self.action.verb(),
                limit.as_secs()
            ),
            code: None,
        })
    }
}
