//! The checkpoint of a run cut short by its deadline: what its earlier
//! invocations did, marked in a fresh plan of the same run so a
//! continuation resumes where they stopped.

use serde::{Deserialize, Serialize};

use super::order::set_delays;
use super::{Plan, Step};

/// How a continuation's plan says an earlier invocation bypassed an instance.
pub(super) const EARLIER_BYPASS: &str = "bypassed by an earlier invocation of this run";

/// Progress of a run cut short by its deadline, so a fresh invocation can
/// resume exactly where it stopped without repeating a completed step.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// TierSequence values whose groups are complete.
    pub done_sequences: Vec<u64>,
    /// Instances already acted on in groups not yet complete.
    pub acted: Vec<String>,
    /// Instances bypassed by the override check, with the reason.
    pub bypassed: Vec<(String, String)>,
    /// Seconds to wait before resuming (an inter-tier delay still owed).
    pub resume_after_secs: u64,
    /// When the incomplete group last acted (ms since the epoch): the bound
    /// on confirming its starts counts from it, across continuations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acted_at_ms: Option<u64>,
}

impl Checkpoint {
    /// Marks what the earlier invocations did in a fresh plan of the same run.
    pub fn apply(&self, plan: &mut Plan) {
        plan.groups.retain(|g| !self.done_sequences.contains(&g.sequence));
        for tier in plan.groups.iter_mut().flat_map(|g| g.tiers.iter_mut()) {
            let acted_here = tier
                .instances
                .iter()
                .map(|i| &i.id)
                .chain(tier.members.iter().map(|d| &d.member));
            if acted_here.into_iter().any(|id| self.acted.contains(id)) {
                tier.acted_at_ms = self.acted_at_ms;
            }
            for db in tier.members.iter_mut().filter(|d| self.acted.contains(&d.member)) {
                db.step = Step::DoneEarlier {
                    reason: format!("{} by an earlier invocation of this run", plan.action.done()),
                };
            }
            for instance in &mut tier.instances {
                if self.acted.contains(&instance.id) {
                    instance.step = Step::DoneEarlier {
                        reason: format!("{} by an earlier invocation of this run", plan.action.done()),
                    };
                    instance.check_override = false;
                    instance.resize_to = None;
                    instance.unlimited_credits = None;
                } else if let Some((_, why)) = self.bypassed.iter().find(|(id, _)| *id == instance.id) {
                    instance.step = Step::Skip {
                        reason: format!("{EARLIER_BYPASS}: {why}"),
                    };
                    instance.check_override = false;
                    instance.resize_to = None;
                    instance.unlimited_credits = None;
                }
            }
        }
        // A group an earlier invocation acted on still owes its delay.
        set_delays(&mut plan.groups);
    }
}
