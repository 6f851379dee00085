//! The end of a run told to other systems, once per run (never per
//! continuation invocation): `Run Completed` on the workload's event bus
//! (`EventBusName`) and the AWS Chatbot message on its chat topic
//! (`ChatTopicName`), both over the whole run (the ledger record's
//! traces when there is one, else the report); and the notices the run
//! service publishes to the workload's SNS topic. Neither ever fails a
//! run: a refused event is counted (`EventsFailed`), a refused message is
//! a notification error.

use std::collections::BTreeMap;

use crate::history;
use crate::ledger::RunRecord;
use crate::orchestrator::{self, put_events, BusTarget};
use crate::ports::Cloud;
use crate::run::{RunReport, RunRequest};
use crate::run_events::{self, RunContext, RunEnd, TierTally, FAILURES_LISTED};
use crate::summary::RunStatus;

use super::{NotSent, Outcome};

/// SNS takes subjects of at most 100 characters.
const SUBJECT_CHARS: usize = 100;

/// Tells the end of the run `outcome` reports, when it ended (not when a
/// continuation carries it on, nor for a dry run): `record` is its ledger
/// record, finished, when there is one.
pub(super) async fn announce(
    cloud: &dyn Cloud,
    request: &RunRequest,
    mut outcome: Outcome,
    record: Option<&RunRecord>,
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
    };
    let end = match record {
        Some(record) => end_of_record(record, report),
        None => end_of_report(report),
    };
    let home = request.notify_region();
    if let Some(target) = bus.and_then(|bus| BusTarget::of(cloud, &bus, home)) {
        let failed = put_events(&target, vec![run_events::run_completed(&context, &end)]).await;
        report.summary.events_failed += failed;
    }
    if let Some(topic) = chat {
        let message = run_events::chat_message(&context, &end).to_string();
        let subject: String = format!(
            "ec2-tier-scheduler: {} {} {}",
            context.action, context.workload, end.status
        )
        .chars()
        .take(SUBJECT_CHARS)
        .collect();
        if let Err(e) = cloud.notifier(home).publish(&topic, &subject, &message).await {
            tracing::warn!(error = %e, topic = %topic, "the chat message was not published");
            report.summary.notification_errors.push(format!("chat: {e}"));
        }
    }
    outcome
}

/// A whole run from its record: each tier's counts summed over the
/// invocations (not done: the last one's), its first failures.
fn end_of_record(record: &RunRecord, report: &RunReport) -> RunEnd {
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
    RunEnd {
        status: history::status(record),
        message: report.summary.message.clone(),
        took_ms: history::took_ms(record).unwrap_or(report.summary.duration_ms),
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
