//! EC2's action on a tier's instances: in batches, with the instances
//! acted on in a special way (hibernated, Spot, with types to fall back
//! to) and, when the whole tier acts at once, the starts EC2 refused right
//! after a type change tried again.

use std::collections::HashSet;

use super::super::driver::Tally;
use super::super::lane::{Item, Lane};
use super::{fallback, Ec2Driver};
use crate::action::Action;
use crate::error::ErrorKind;
use crate::orchestrator::Execution;
use crate::summary::{Failure, Noted, TierOutcome};

/// Rounds of StartInstances for a just-resized instance that EC2 refused:
/// the type change may not have propagated yet (why the original waits
/// ScaleInstanceDelay before starting).
const RESIZED_START_ROUNDS: u32 = 3;

/// Instances acted on in a special way.
pub(crate) struct Special {
    /// Hibernated instead of stopped.
    hibernate: HashSet<String>,
    /// Spot instances.
    spot: HashSet<String>,
    /// Instances with types to fall back to when EC2 has no capacity.
    fallback: Vec<fallback::Candidate>,
}

impl Execution<'_> {
    /// The EC2 driver's action on `todo` (see the module).
    pub(super) async fn act_on_instances(&self, ec2: &Ec2Driver, lane: &mut Lane<'_>, todo: &[Item<'_>]) -> Tally {
        let plans: Vec<_> = todo.iter().filter_map(Item::as_instance).collect();
        let ids: Vec<String> = plans.iter().map(|i| i.id.clone()).collect();
        let special = Special {
            hibernate: plans.iter().filter(|i| i.hibernate).map(|i| i.id.clone()).collect(),
            spot: plans.iter().filter(|i| i.spot).map(|i| i.id.clone()).collect(),
            fallback: plans
                .iter()
                .filter(|i| !i.fallback_types.is_empty())
                .map(|i| {
                    let resized = ec2.resized_ok.contains(&i.id);
                    let now = i.resize_to.clone().filter(|_| resized);
                    fallback::Candidate::new(i, now.unwrap_or_else(|| i.instance_type.clone()))
                })
                .collect(),
        };
        let mut tally = self.act_instances(&ids, &special, &mut lane.out).await;
        if !lane.tier.synchronous {
            self.retry_resized_starts(&mut tally, &ec2.resized_ok).await;
        }
        tally
    }

    /// The action on `ids`: instances configured for hibernation (with
    /// `TierHibernate`) are hibernated, and stopped normally when EC2
    /// refuses the hibernation; a Spot instance EC2 cannot stop (one from a
    /// one-time request) is skipped with the reason instead of failing.
    async fn act_instances(&self, ids: &[String], special: &Special, out: &mut TierOutcome) -> Tally {
        let (hibernating, normal): (Vec<String>, Vec<String>) =
            ids.iter().cloned().partition(|id| special.hibernate.contains(id));
        let mut result = self.act_in_batches(&normal, false).await;
        if self.action == Action::Start && !special.fallback.is_empty() {
            self.fall_back(&mut result, &special.fallback, out).await;
        }
        if !hibernating.is_empty() {
            let hibernated = self.act_in_batches(&hibernating, true).await;
            out.hibernated.extend(hibernated.ok.iter().cloned());
            result.ok.extend(hibernated.ok);
            result.not_done.extend(hibernated.not_done);
            let (refused, other): (Vec<Failure>, Vec<Failure>) = hibernated
                .failed
                .into_iter()
                .partition(|f| ErrorKind::of(f.code.as_deref()) == ErrorKind::HibernationRefused);
            result.failed.extend(other);
            if !refused.is_empty() {
                let again: Vec<String> = refused.iter().map(|f| f.id.clone()).collect();
                out.hibernation_fallback.extend(refused.into_iter().map(|f| Noted {
                    id: f.id,
                    reason: format!("hibernation refused ({}); stopped normally", f.code.unwrap_or_default()),
                }));
                let normal = self.act_in_batches(&again, false).await;
                result.ok.extend(normal.ok);
                result.failed.extend(normal.failed);
                result.not_done.extend(normal.not_done);
            }
        }
        if self.action == Action::Stop {
            let (unstoppable, failed): (Vec<Failure>, Vec<Failure>) =
                std::mem::take(&mut result.failed).into_iter().partition(|f| {
                    special.spot.contains(&f.id) && ErrorKind::of(f.code.as_deref()) == ErrorKind::Unsupported
                });
            result.failed = failed;
            out.skipped.extend(unstoppable.into_iter().map(|f| Noted {
                id: f.id,
                reason: "Spot instance from a one-time request: EC2 cannot stop it".into(),
            }));
        }
        result
    }

    /// Starts refused for instances whose type just changed are tried
    /// again after ScaleInstanceDelay, a few rounds while time allows.
    async fn retry_resized_starts(&self, result: &mut Tally, resized: &HashSet<String>) {
        for _ in 0..RESIZED_START_ROUNDS {
            let (retry, keep): (Vec<Failure>, Vec<Failure>) = std::mem::take(&mut result.failed)
                .into_iter()
                .partition(|f| resized.contains(&f.id) && f.code.is_some());
            result.failed = keep;
            if retry.is_empty() {
                return;
            }
            let delay = self
                .config
                .workload
                .scale_instance_delay
                .max(self.settings.poll_initial);
            if self.budget.remaining() <= delay {
                result.failed.extend(retry);
                return;
            }
            tracing::info!(
                count = retry.len(),
                "start refused right after a type change; trying again"
            );
            tokio::time::sleep(delay).await;
            let ids: Vec<String> = retry.iter().map(|f| f.id.clone()).collect();
            let again = self.act_in_batches(&ids, false).await;
            result.ok.extend(again.ok);
            result.not_done.extend(again.not_done);
            result.failed.extend(again.failed);
        }
    }
}
