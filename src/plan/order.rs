//! Tiers ordered into groups: one group per TierSequence value, in order,
//! with the InterTierOrchestrationDelay owed after each.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::{Step, TierPlan};
use crate::config::secs;

/// Tiers sharing one TierSequence value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TierGroup {
    /// The shared TierSequence.
    pub sequence: u64,
    /// The tiers, by name.
    pub tiers: Vec<TierPlan>,
    /// Wait after this group before the next one (zero after the last group
    /// and when there is nothing to do on either side).
    #[serde(rename = "delayAfterSecs", with = "secs")]
    pub delay_after: Duration,
}

/// Tier groups in TierSequence order, tiers by name, with their delays.
pub(super) fn order_groups(by_sequence: BTreeMap<u64, Vec<TierPlan>>) -> Vec<TierGroup> {
    let mut groups: Vec<TierGroup> = by_sequence
        .into_iter()
        .map(|(sequence, mut tiers)| {
            tiers.sort_by(|a, b| a.tier.cmp(&b.tier));
            TierGroup {
                sequence,
                tiers,
                delay_after: Duration::ZERO,
            }
        })
        .collect();
    set_delays(&mut groups);
    groups
}

/// Delay after a group only when it acts on something, an instance or any
/// other member (now, or in an earlier invocation of the same run), and a
/// later group does too: waiting for nothing, or before nothing, helps no
/// one. The longest delay of the group's tiers applies.
pub(super) fn set_delays(groups: &mut [TierGroup]) {
    let acts = |step: &Step| matches!(step, Step::Act | Step::WaitThenAct { .. } | Step::DoneEarlier { .. });
    let busy: Vec<bool> = groups
        .iter()
        .map(|g| {
            g.tiers
                .iter()
                .any(|t| t.instances.iter().any(|i| acts(&i.step)) || t.members.iter().any(|m| acts(&m.step)))
        })
        .collect();
    for index in 0..groups.len() {
        let later_busy = busy[index + 1..].iter().any(|b| *b);
        groups[index].delay_after = if busy[index] && later_busy {
            groups[index]
                .tiers
                .iter()
                .map(|t| t.inter_tier_delay)
                .max()
                .unwrap_or_default()
        } else {
            Duration::ZERO
        };
    }
}
