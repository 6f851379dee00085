//! The end of a run told to other systems, once per run (never per
//! continuation invocation): `Run Completed` on the workload's event bus
//! (`EventBusName`) and the AWS Chatbot message on its chat topic
//! (`ChatTopicName`), both over the whole run (the ledger record's
//! traces when there is one, else the report); and the notices the run
//! service publishes to the workload's SNS topic. Neither ever fails a
//! run: a refused event is counted (`EventsFailed`), a refused message is
//! a notification error. Both are sent within the run's budget, or a last
//! [`LAST_SEND`] once it ran out (the safety margin pays for it).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::history;
use crate::ledger::RunRecord;
use crate::orchestrator::{self, put_events, sends_within, Budget, BusTarget, EVENT_TIMEOUT, LAST_SEND};
use crate::ports::Cloud;
use crate::run::{RunReport, RunRequest};
use crate::run_events::{self, RunContext, RunEnd, TierTally, FAILURES_LISTED};
use crate::summary::RunStatus;

use super::{NotSent, Outcome};

/// SNS takes subjects of at most 100 characters.
const SUBJECT_CHARS: usize = 100;

/// Tells the end of the run `outcome` reports, when it ended (not when a
/// continuation carries it on, nor for a dry run): `record` is its ledger
/// record, finished, when there is one; `budget` the invocation's.
pub(super) async fn announce(
    cloud: &dyn Cloud,
    request: &RunRequest,
    mut outcome: Outcome,
    record: Option<&RunRecord>,
    budget: &Budget,
) -> Outcome {
    let Outcome::Ran { report, .. } = &mut outcome else {
        return outcome;
    };
    let summary = &report.summary;
    let ended = !summary.dry_run && summary.status != RunStatus::Continuing;
    let (bus, chat) = (report.plan.event_bus.clone(), report.plan.chat_topic.clone());
    if !ended || (bus.is_none() && chat.is_none()) {
        return outcome;
    }
    let context = RunContext {
        workload: report.plan.workload.clone(),
        action: report.plan.action,
        run_key: record
            .map(|r| r.key.clone())
            .or_else(|| request.run_key.clone())
            .unwrap_or_else(|| crate::ledger::fresh_key(&request.workload)),
        invocation: record.map_or(request.invocation, |r| r.invocations),
        maintenance_window: request.maintenance_window.clone(),
    };
    let end = match record {
        Some(record) => end_of_record(record, &report.summary.message, report.summary.duration_ms),
        None => end_of_report(report),
    };
    let within = sends_within(budget);
    let (failed, chat_error) = tell(cloud, request.notify_region(), &context, &end, (bus, chat), within).await;
    report.summary.events_failed += failed;
    report.summary.notification_errors.extend(chat_error);
    outcome
}

/// Tells the end of a run whose continuation was refused (it ends
/// interrupted; `record` says so) as [`announce`] does, to where the
/// workload's configuration says now; adds what was not sent to `response`.
/// It comes right after the claim, with the invocation's time ahead: each
/// send is given [`EVENT_TIMEOUT`].
pub(super) async fn announce_interrupted(cloud: &dyn Cloud, record: &RunRecord, response: &mut serde_json::Value) {
    let config = match orchestrator::load_config(cloud, &record.workload, &record.dynamodb_region).await {
        Ok(config) => config,
        Err(e) => {
            tracing::warn!(error = %e, "no configuration: the interrupted run's end is not announced");
            return;
        }
    };
    let (bus, chat) = (config.workload.event_bus.clone(), config.workload.chat_topic.clone());
    if bus.is_none() && chat.is_none() {
        return;
    }
    let context = RunContext {
        workload: record.workload.clone(),
        action: record.action,
        run_key: record.key.clone(),
        invocation: record.invocations,
        maintenance_window: record.maintenance_window.clone(),
    };
    let message = record.summary.as_ref().and_then(|s| s["message"].as_str());
    let end = end_of_record(record, message.unwrap_or("interrupted"), 0);
    let home = record.request().notify_region().to_string();
    let (failed, chat_error) = tell(cloud, &home, &context, &end, (bus, chat), 2 * EVENT_TIMEOUT).await;
    if failed > 0 {
        response["eventsFailed"] = failed.into();
    }
    if let Some(e) = chat_error {
        let errors = response["notificationErrors"].as_array().cloned().unwrap_or_default();
        response["notificationErrors"] = errors.into_iter().chain([e.into()]).collect();
    }
}

/// `Run Completed` on `bus` and the chat message to `chat`, each when
/// set, both `within` (the message at least [`LAST_SEND`]): how many
/// events were not put, and why the message was not published, if it was
/// not.
async fn tell(
    cloud: &dyn Cloud,
    home: &str,
    context: &RunContext,
    end: &RunEnd,
    (bus, chat): (Option<String>, Option<String>),
    within: Duration,
) -> (u32, Option<String>) {
    let began = tokio::time::Instant::now();
    let mut failed = 0;
    if let Some(target) = bus.and_then(|bus| BusTarget::of(cloud, &bus, home)) {
        failed = put_events(&target, vec![run_events::run_completed(context, end)], within).await;
    }
    let Some(topic) = chat else {
        return (failed, None);
    };
    let message = run_events::chat_message(context, end).to_string();
    let subject: String = format!(
        "ec2-tier-scheduler: {} {} {}",
        context.action, context.workload, end.status
    )
    .chars()
    .take(SUBJECT_CHARS)
    .collect();
    let left = within.saturating_sub(began.elapsed()).max(LAST_SEND);
    let published = tokio::time::timeout(left, cloud.notifier(home).publish(&topic, &subject, &message)).await;
    match published.unwrap_or_else(|_| Err(not_in_time(left))) {
        Ok(()) => (failed, None),
        Err(e) => {
            tracing::warn!(error = %e, topic = %topic, "the chat message was not published");
            (failed, Some(format!("chat: {e}")))
        }
    }
}

/// A whole run from its record: each tier's counts summed over the
/// invocations (not done: the last one's), its first failures; `message`
/// is the last invocation's, `duration_ms` the time when the record has none.
fn end_of_record(record: &RunRecord, message: &str, duration_ms: u64) -> RunEnd {
    let mut order: Vec<String> = Vec::new();
    let mut tiers: BTreeMap<String, TierTally> = BTreeMap::new();
    let last = record.history.len().saturating_sub(1);
    for (n, trace) in record.history.iter().enumerate() {
        for t in &trace.tiers {
            let tally = tiers.entry(t.tier.clone()).or_insert_with(|| {
                order.push(t.tier.clone());
                TierTally {
                    tier: t.tier.clone(),
                    sequence: t.sequence,
                    acted: 0,
                    skipped: 0,
                    bypassed: 0,
                    failed: 0,
                    not_done: 0,
                    failures: Vec::new(),
                }
            });
            tally.acted += t.acted;
            tally.skipped += t.skipped;
            tally.bypassed += t.bypassed;
            tally.failed += t.failed;
            if n == last {
                tally.not_done = t.not_done;
            }
            tally.failures.extend(t.failures.iter().cloned());
        }
    }
    // Not done: as the last summary lists it (an interrupted run's lists
    // what it never reached, its last trace nothing).
    let listed = record.summary.as_ref().and_then(|s| s["tiers"].as_array());
    for t in listed.into_iter().flatten() {
        if let (Some(tally), Some(not_done)) = (
            t["tier"].as_str().and_then(|name| tiers.get_mut(name)),
            t["notDone"].as_array(),
        ) {
            tally.not_done = not_done.len();
        }
    }
    RunEnd {
        status: history::status(record),
        message: message.to_string(),
        took_ms: history::took_ms(record).unwrap_or(duration_ms),
        invocations: record.invocations,
        tiers: order.iter().filter_map(|t| tiers.remove(t)).collect(),
    }
}

/// A run without the ledger: one invocation, its report.
fn end_of_report(report: &RunReport) -> RunEnd {
    let summary = &report.summary;
    RunEnd {
        status: serde_json::to_value(summary.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        message: summary.message.clone(),
        took_ms: summary.duration_ms,
        invocations: 1,
        tiers: summary
            .tiers
            .iter()
            .map(|t| TierTally {
                tier: t.tier.clone(),
                sequence: t.sequence,
                acted: t.acted.len(),
                skipped: t.skipped.len(),
                bypassed: t.bypassed.len(),
                failed: t.failed.len(),
                not_done: t.not_done.len(),
                failures: t.failed.iter().take(FAILURES_LISTED).cloned().collect(),
            })
            .collect(),
    }
}

/// Publishes a notice to the workload's SNS topic, if it has one.
pub(super) async fn notify_workload(
    cloud: &dyn Cloud,
    request: &RunRequest,
    subject: &str,
    body: &str,
) -> Result<(), NotSent> {
    let config = orchestrator::load_config(cloud, &request.workload, &request.dynamodb_region).await?;
    let Some(topic) = &config.workload.sns_topic else {
        return Ok(());
    };
    Ok(cloud
        .notifier(request.notify_region())
        .publish(topic, subject, body)
        .await?)
}

/// The error of a chat message not published within `left`.
fn not_in_time(left: Duration) -> crate::error::CloudError {
    crate::error::CloudError {
        service: "sns",
        operation: "Publish",
        code: None,
        message: format!(
            "not published within {:.1}s (the invocation's deadline)",
            left.as_secs_f64()
        ),
    }
}
