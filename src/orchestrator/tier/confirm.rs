//! Confirmation, for every kind: a member counts as started only when its
//! service says it is up, and, in a synchronous tier, as stopped only when
//! it says it is down. A call succeeding proves nothing: an instance whose
//! EBS volume's KMS key EC2 may not use goes `pending`, then back to
//! `stopped`; a database may go `incompatible-parameters`.
//!
//! One rule for every kind: the start of a member is confirmed within the
//! tier's `TierStartConfirmTimeout`, or its kind's default
//! ([`StartRules::confirm_bound`]), counted from the tier's last action
//! across continuations; a stop within its driver's wait. When the
//! deadline budget cuts the wait first, the members stay acted and a
//! continuation confirms them.

use std::collections::HashSet;
use std::time::Duration;

use super::driver::{Driver, Seen};
use super::lane::{Item, Lane};
use super::poll::Polled;
use crate::action::Action;
use crate::config::StartRules;
use crate::member::{MemberId, MemberKind, Phase};
use crate::orchestrator::Execution;

/// The longest pause between two polls of starting members: a start
/// takes tens of seconds, and the next tier is not kept waiting long after
/// the last one is up.
const CONFIRM_POLL_MAX: Duration = Duration::from_secs(5);

impl Execution<'_> {
    /// Confirms `items` (see the module): the ones that do not get there
    /// are failed and leave the acted lists; a cut ends the lane at the
    /// deadline.
    pub(crate) async fn confirm(&self, driver: &dyn Driver, lane: &mut Lane<'_>, items: &[Item<'_>]) {
        if items.is_empty() {
            return;
        }
        let ids: Vec<MemberId> = items.iter().map(|i| i.id.clone()).collect();
        let rules = lane.tier.start_rules.clone().unwrap_or_default();
        let polled = match self.action {
            Action::Start => {
                let left = rules.confirm_bound(driver.kind()).saturating_sub(lane.spent());
                self.await_up(driver, &ids, left).await
            }
            Action::Stop => {
                let most = self.settings.poll_max;
                let down = |s: &Seen| matches!(s.phase, Phase::Down | Phase::Failed);
                self.poll(driver, &ids, driver.stop_wait(self), most, &mut |s| down(s))
                    .await
            }
        };
        let mut missed = HashSet::new();
        for item in items {
            if let Some(reason) = self.missed(driver, item, &polled, &rules) {
                let code = polled.seen.get(&item.id).and_then(|s| s.fault.as_ref()?.code.clone());
                tracing::warn!(member = %item.name, "{} not confirmed: {reason}", self.action.verb());
                lane.fail(&item.name, reason, code);
                missed.insert(item.name.clone());
            }
        }
        lane.unreached(&missed);
        if let Some(first) = items.iter().find(|i| polled.cut && polled.left.contains(&i.id)) {
            let still = polled.status(&first.id);
            lane.deadline(match (lane.tier.synchronous, self.action) {
                (true, _) => format!(
                    "time ran out in synchronous tier {} waiting for {} (still {still})",
                    lane.tier.tier, first.name
                ),
                (false, action) => format!(
                    "time ran out confirming the {}s of tier {} ({} still {still})",
                    action.verb(),
                    lane.tier.tier,
                    first.name
                ),
            });
        }
    }

    /// Polls starting members until each is up or says its start failed: a
    /// fault the driver is sure of, or one seen on its way up that went
    /// back down.
    async fn await_up(&self, driver: &dyn Driver, ids: &[MemberId], limit: Duration) -> Polled {
        let most = self.settings.poll_max.min(CONFIRM_POLL_MAX);
        let mut moved: HashSet<MemberId> = HashSet::new();
        let mut done = |s: &Seen| {
            if s.phase == Phase::Starting {
                moved.insert(s.id.clone());
            }
            s.phase == Phase::Up || fell_back(s, moved.contains(&s.id))
        };
        self.poll(driver, ids, limit, most, &mut done).await
    }

    /// Why `item` did not get where the action leaves it; `None` when it
    /// did, or when the budget cut its wait (still acted).
    fn missed(&self, driver: &dyn Driver, item: &Item<'_>, polled: &Polled, rules: &StartRules) -> Option<String> {
        let verb = self.action.verb();
        let service = driver.service();
        let now = polled.status(&item.id);
        let waiting = polled.left.contains(&item.id);
        let Some(seen) = polled.seen.get(&item.id) else {
            return match (waiting && polled.cut, self.action) {
                (true, _) => None,
                (false, Action::Start) => Some(unconfirmed(driver.kind(), service, "pending", rules)),
                (false, Action::Stop) => Some(format!("{verb} issued, but {service} no longer reports it")),
            };
        };
        let wanted = match self.action {
            Action::Start => Phase::Up,
            Action::Stop => Phase::Down,
        };
        if seen.phase == wanted || (waiting && polled.cut && seen.phase != Phase::Failed) {
            return None;
        }
        if let Some(fault) = seen.fault.as_ref().filter(|_| self.action == Action::Start) {
            if !waiting {
                return Some(fault.reason.clone());
            }
        }
        Some(match (waiting, self.action) {
            (true, Action::Start) => unconfirmed(driver.kind(), service, now, rules),
            (true, Action::Stop) => format!(
                "{verb} issued, but {service} still says {now} after {}s",
                driver.stop_wait(self).as_secs()
            ),
            (false, _) => format!("{verb} accepted, then {service} says {now}"),
        })
    }
}

/// A start that failed: the driver is sure of it, or the member was seen
/// on its way up and went back down.
fn fell_back(s: &Seen, moved: bool) -> bool {
    let back_down = moved && matches!(s.phase, Phase::Down | Phase::Stopping);
    s.phase == Phase::Failed || s.fault.as_ref().is_some_and(|f| f.certain) || back_down
}

/// A started member not up within its confirmation bound (the tier's
/// `TierStartConfirmTimeout`, or its kind's default), named.
fn unconfirmed(kind: MemberKind, service: &str, now: &str, rules: &StartRules) -> String {
    let bound = crate::config::show_secs(rules.confirm_bound(kind));
    let whose = match rules.confirm_timeout {
        Some(_) => "the tier's TierStartConfirmTimeout".to_string(),
        None => format!("the default for {kind} members; the tier's TierStartConfirmTimeout sets another"),
    };
    format!("start accepted, but {service} still says {now} after {bound} ({whose})")
}
