//! The run's events on the workload's bus (`EventBusName`) as the run
//! goes: `Run Started` before a fresh run's first tier, `Tier Completed`
//! after each tier. Each send runs beside the run, so it never holds a
//! tier back; the run awaits them before it ends, each PutEvents within
//! [`EVENT_TIMEOUT`] and every send within the run's budget (or
//! [`LAST_SEND`] once it ran out: the safety margin kept back from the
//! deadline pays for it). A refused entry (or one not sent in time) is logged
//! and counted (`EventsFailed`), never a run failure. The details are
//! [`crate::run_events`]'s; [`put_events`] also sends the run service's
//! `Run Completed`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;

use super::Budget;
use crate::plan::Plan;
use crate::ports::{BusEvent, Cloud, EventBus};
use crate::run::RunRequest;
use crate::run_events::{self, EventEntry, RunContext};
use crate::summary::TierOutcome;

/// The longest one PutEvents request is waited for.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(5);

/// What a send is given when the budget has run out: the safety margin
/// kept back from the deadline (2 seconds at least) pays for it.
pub const LAST_SEND: Duration = Duration::from_secs(1);

/// How long the sends begun now may take under `budget`: what is left of
/// it, or [`LAST_SEND`] once it ran out.
pub fn sends_within(budget: &Budget) -> Duration {
    budget.remaining().max(LAST_SEND)
}

/// Where a workload's events go: the bus's client and its name or ARN.
#[derive(Clone)]
pub struct BusTarget {
    /// EventBridge in the bus's region.
    pub port: Arc<dyn EventBus>,
    /// `EventBusName`.
    pub bus: String,
}

impl BusTarget {
    /// The target of `bus` (a name or ARN): EventBridge in the ARN's
    /// region, else in `home` (the scheduler's region); `None` when the
    /// cloud puts no events.
    pub fn of(cloud: &dyn Cloud, bus: &str, home: &str) -> Option<Self> {
        let region = match bus.strip_prefix("arn:") {
            Some(arn) => arn.split(':').nth(2).unwrap_or(home),
            None => home,
        };
        let port = cloud.event_bus(region);
        if port.is_none() {
            tracing::warn!(bus, "no EventBridge client: the run's events are not sent");
        }
        Some(Self {
            port: port?,
            bus: bus.to_string(),
        })
    }
}

/// Puts `entries` on the target's bus, in PutEvents batches, each within
/// [`EVENT_TIMEOUT`] and all of them `within`; returns how many were
/// refused or not sent (each logged).
pub async fn put_events(target: &BusTarget, entries: Vec<EventEntry>, within: Duration) -> u32 {
    let began = tokio::time::Instant::now();
    let mut failed = 0;
    for batch in run_events::batches(entries) {
        let events: Vec<BusEvent> = batch
            .iter()
            .map(|e| BusEvent {
                source: run_events::SOURCE.to_string(),
                detail_type: e.detail_type.to_string(),
                detail: e.detail_text(),
            })
            .collect();
        let left = within.saturating_sub(began.elapsed()).min(EVENT_TIMEOUT);
        let results = match tokio::time::timeout(left, target.port.put(&target.bus, &events)).await {
            Ok(Ok(results)) => results,
            Ok(Err(e)) => vec![Some(e.to_string()); batch.len()],
            Err(_) if left < EVENT_TIMEOUT => vec![Some("not sent before the deadline".to_string()); batch.len()],
            Err(_) => vec![Some(format!("not sent within {}s", EVENT_TIMEOUT.as_secs())); batch.len()],
        };
        for (entry, result) in batch.iter().zip(results) {
            match result {
                None => tracing::debug!(bus = %target.bus, id = entry.id(), "event put"),
                Some(error) => {
                    failed += 1;
                    tracing::warn!(bus = %target.bus, id = entry.id(), detail_type = entry.detail_type, %error, "event not put (counted as EventsFailed; the run goes on)");
                }
            }
        }
    }
    failed
}

/// One run's sender: its target and context, and the sends under way.
pub(crate) struct BusEvents {
    target: Option<(BusTarget, RunContext)>,
    budget: Budget,
    pending: Mutex<Vec<JoinHandle<u32>>>,
}

impl BusEvents {
    /// The sender of `request`'s run of `plan`: none when the workload
    /// names no bus. A run without a ledger key gets a fresh one. Its sends
    /// end with `budget` ([`sends_within`]).
    pub(crate) fn new(cloud: &dyn Cloud, request: &RunRequest, plan: &Plan, budget: Budget) -> Self {
        let target = plan.event_bus.as_deref().and_then(|bus| {
            let target = BusTarget::of(cloud, bus, request.notify_region())?;
            let context = RunContext {
                workload: plan.workload.clone(),
                action: plan.action,
                run_key: request
                    .run_key
                    .clone()
                    .unwrap_or_else(|| crate::ledger::fresh_key(&plan.workload)),
                invocation: request.invocation,
                maintenance_window: request.maintenance_window.clone(),
            };
            Some((target, context))
        });
        Self {
            target,
            budget,
            pending: Mutex::new(Vec::new()),
        }
    }

    /// `Run Started`, sent beside the run.
    pub(crate) fn run_started(&self, plan: &Plan) {
        if let Some((_, context)) = &self.target {
            self.send(vec![run_events::run_started(context, plan)]);
        }
    }

    /// `Tier Completed` of each of `tiers`, sent beside the run.
    pub(crate) fn tiers_completed<'t>(&self, tiers: impl IntoIterator<Item = &'t TierOutcome>) {
        if let Some((_, context)) = &self.target {
            let entries: Vec<EventEntry> = tiers
                .into_iter()
                .map(|t| run_events::tier_completed(context, t))
                .collect();
            self.send(entries);
        }
    }

    fn send(&self, entries: Vec<EventEntry>) {
        let Some((target, _)) = &self.target else { return };
        if entries.is_empty() {
            return;
        }
        let (target, within) = (target.clone(), sends_within(&self.budget));
        let handle = tokio::spawn(async move { put_events(&target, entries, within).await });
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).push(handle);
    }

    /// Waits for the sends under way (each bounded by [`EVENT_TIMEOUT`] and
    /// the budget);
    /// returns how many entries were not put.
    pub(crate) async fn settle(&self) -> u32 {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        let mut failed = 0;
        for handle in pending {
            failed += handle.await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "an event send did not finish");
                1
            });
        }
        failed
    }
}
