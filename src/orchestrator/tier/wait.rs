//! Waits bounded by the deadline budget: instance states polled until they
//! arrive, the pace of any polling loop, and plain pauses.

use std::collections::HashMap;
use std::time::Duration;

use super::super::budget::Pacer;
use super::super::Execution;
use crate::instance::InstanceState;

impl Execution<'_> {
    /// Polls until every instance is in `want`, or `limit` passes. Returns the
    /// last state seen of each instance. Instances that end up terminated stop
    /// being polled.
    pub(crate) async fn wait_for_states(
        &self,
        ids: &[String],
        want: InstanceState,
        limit: Duration,
    ) -> HashMap<String, InstanceState> {
        let mut seen: HashMap<String, InstanceState> = HashMap::new();
        let mut pending: Vec<String> = ids.to_vec();
        let mut pace = self.pacer(limit);
        loop {
            // The adapter pages; one call per poll here.
            match self.compute.states(&pending).await {
                Ok(states) => seen.extend(states.into_iter().map(|s| (s.id, s.state))),
                Err(e) => tracing::warn!(error = %e, "reading instance states failed; will poll again"),
            }
            pending.retain(|id| !matches!(seen.get(id), Some(s) if *s == want || matches!(s, InstanceState::Terminated | InstanceState::ShuttingDown)));
            if pending.is_empty() || !pace.wait().await {
                return seen;
            }
        }
    }

    /// The pace of a polling loop bounded by `limit`: the settings' backoff.
    pub(crate) fn pacer(&self, limit: Duration) -> Pacer {
        Pacer::new(limit, self.settings.poll_initial, self.settings.poll_max)
    }

    /// Sleeps for `delay`, cut to what the budget allows.
    pub(super) async fn pause(&self, delay: Duration) {
        let (limit, _) = self.budget.cap(delay);
        tokio::time::sleep(limit).await;
    }
}
