//! The one polling loop of a tier's members: their driver's reading of
//! where they are, until each is where the caller wants it, the caller's
//! limit passes, or the deadline budget cuts the wait. Settling,
//! confirming and waiting in a synchronous tier are all this loop with
//! another test of "done".

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::driver::{Driver, Seen};
use crate::member::MemberId;
use crate::orchestrator::budget::Pacer;
use crate::orchestrator::Execution;

/// What polling found.
pub(crate) struct Polled {
    /// The last state seen of each member.
    pub(crate) seen: HashMap<MemberId, Seen>,
    /// Those not done when the loop ended.
    pub(crate) left: Vec<MemberId>,
    /// The deadline budget, not the caller's limit, ended the loop.
    pub(crate) cut: bool,
}

impl Polled {
    /// The service's words for `id`'s last state, `gone` when it vanished.
    pub(crate) fn status(&self, id: &MemberId) -> &str {
        self.seen.get(id).map(|s| s.status.as_str()).unwrap_or("gone")
    }
}

impl Execution<'_> {
    /// Polls `ids` through `driver` until `done` holds for each one's
    /// state, or `limit` (cut to the budget) passes; pauses back off from
    /// the settings' first pause to `most`. One read per poll (the driver
    /// batches); a failed read is logged and polled again.
    pub(crate) async fn poll(
        &self,
        driver: &dyn Driver,
        ids: &[MemberId],
        limit: Duration,
        most: Duration,
        done: &mut (dyn FnMut(&Seen) -> bool + Send),
    ) -> Polled {
        let (limit, cut) = self.budget.cap(limit);
        let mut pace = Pacer::new(limit, self.settings.poll_initial, most);
        let mut seen: HashMap<MemberId, Seen> = HashMap::new();
        let mut left: Vec<MemberId> = ids.to_vec();
        while !left.is_empty() {
            match driver.read(self, &left).await {
                Ok(states) => {
                    let mut finished: HashSet<MemberId> = HashSet::new();
                    for s in states {
                        if done(&s) {
                            finished.insert(s.id.clone());
                        }
                        seen.insert(s.id.clone(), s);
                    }
                    left.retain(|id| !finished.contains(id));
                }
                Err(e) => tracing::warn!(error = %e, kind = %driver.kind(), "reading states failed; will poll again"),
            }
            if left.is_empty() || !pace.wait().await {
                break;
            }
        }
        let cut = cut && !left.is_empty();
        Polled { seen, left, cut }
    }
}
