//! Notices published during a run: the run summary and each bypass, sent to
//! the workload's SNS topic; a failed notice is recorded, never raised.

use crate::notify;
use crate::summary::{Noted, RunSummary};

use super::Execution;

impl Execution<'_> {
    /// Publishes the run summary; a failure is recorded, never raised.
    pub(super) async fn notify_summary(&self, summary: &mut RunSummary) {
        let Some(topic) = &self.config.workload.sns_topic else {
            return;
        };
        let (subject, body) = notify::summary_message(summary);
        if let Err(e) = self.notifier.publish(topic, &subject, &body).await {
            tracing::warn!(error = %e, "summary notification failed");
            summary.notification_errors.push(format!("summary: {e}"));
        }
    }

    /// Publishes one bypass notification; returns the error text on failure.
    pub(crate) async fn notify_bypass(&self, tier: &str, bypass: &Noted) -> Option<String> {
        let topic = self.config.workload.sns_topic.as_ref()?;
        let (subject, body) = notify::bypass_message(&self.config.workload.spec_name, tier, bypass);
        match self.notifier.publish(topic, &subject, &body).await {
            Ok(()) => None,
            Err(e) => {
                tracing::warn!(error = %e, instance = %bypass.id, "bypass notification failed");
                Some(format!("bypass of {}: {e}", bypass.id))
            }
        }
    }
}
