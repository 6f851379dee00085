//! Stop and Start calls in batches of at most [`EC2_BATCH`]: a batch EC2
//! refuses because of one instance is split until the culprit stands alone,
//! transient errors are retried with backoff inside the deadline budget.

use std::collections::VecDeque;

use super::super::driver::Tally;
use crate::action::Action;
use crate::error::{CloudError, ErrorKind};
use crate::orchestrator::budget::backoff;
use crate::orchestrator::{Execution, EC2_BATCH};
use crate::summary::Failure;

/// Tries for a batch refused for lack of capacity or by a fault on AWS's
/// side (throttling that outlasted the SDK's own retries is tried for as
/// long as the budget lasts).
const MAX_ATTEMPTS: u32 = 5;

impl Execution<'_> {
    /// One call: Hibernate (a stop with `hibernate`), Stop or Start `ids`.
    async fn call(&self, ids: &[String], hibernate: bool) -> Result<(), CloudError> {
        match (self.action, hibernate) {
            (Action::Stop, true) => self.compute.hibernate(ids).await,
            (Action::Stop, false) => self.compute.stop(ids).await,
            (Action::Start, _) => self.compute.start(ids).await,
        }
    }

    /// Stop/Start in batches of at most 500. A batch refused because of one
    /// instance is split in halves until the culprit stands alone, so the
    /// healthy instances proceed; transient errors are retried with backoff
    /// inside the budget.
    pub(crate) async fn act_in_batches(&self, ids: &[String], hibernate: bool) -> Tally {
        let mut result = Tally::default();
        let mut queue: VecDeque<(Vec<String>, u32)> = ids.chunks(EC2_BATCH).map(|c| (c.to_vec(), 1)).collect();
        while let Some((batch, attempt)) = queue.pop_front() {
            if self.budget.expired() {
                result.not_done.extend(batch);
                result.not_done.extend(queue.drain(..).flat_map(|(b, _)| b));
                break;
            }
            match self.call(&batch, hibernate).await {
                Ok(()) => result.ok.extend(batch),
                Err(e) if batch.len() > 1 && e.kind().is_instance_specific() => {
                    let (left, right) = batch.split_at(batch.len() / 2);
                    queue.push_front((right.to_vec(), attempt));
                    queue.push_front((left.to_vec(), attempt));
                }
                Err(e) if tried_again(e.kind(), attempt) => {
                    let pause = backoff(self.settings.poll_initial, self.settings.poll_max, attempt);
                    if self.budget.remaining() <= pause {
                        // Not a failure: time ran out. A continuation picks these up.
                        result.not_done.extend(batch);
                        result.not_done.extend(queue.drain(..).flat_map(|(b, _)| b));
                        break;
                    }
                    tracing::info!(error = %e, attempt, "transient error, retrying batch of {}", batch.len());
                    tokio::time::sleep(pause).await;
                    queue.push_front((batch, attempt + 1));
                }
                Err(e) => result.failed.extend(failures(&batch, &e)),
            }
        }
        result
    }
}

/// Whether a batch refused with `kind` at its `attempt`-th try is tried
/// again: throttling for as long as the budget lasts (the account's token
/// bucket refills, e.g. StartInstances at 2 instances/s); no capacity and
/// faults on AWS's side a few times.
fn tried_again(kind: ErrorKind, attempt: u32) -> bool {
    match kind {
        ErrorKind::Throttling => true,
        ErrorKind::NoCapacity | ErrorKind::Transient => attempt < MAX_ATTEMPTS,
        _ => false,
    }
}

fn failures(ids: &[String], e: &CloudError) -> Vec<Failure> {
    let reason = e.to_string();
    ids.iter()
        .map(|id| Failure {
            id: id.clone(),
            reason: reason.clone(),
            code: e.code.clone(),
        })
        .collect()
}
