//! Override file checks for one tier: one SendCommand per 50 instances, then
//! concurrent polling with backoff, bounded by the check timeout and the
//! budget. Anything but a clear "absent" keeps the instance running (the
//! seed's pessimistic rule).

use std::collections::HashMap;
use std::time::Duration;

use futures::future::join_all;
use futures::stream::{self, StreamExt};

use super::budget::Pacing;
use super::SSM_BATCH;
use crate::error::ErrorKind;
use crate::override_check::{read_verdict, OverrideCheck, Verdict};
use crate::ports::{CheckPoll, OutputLocation, RemoteCheck};
use crate::summary::Noted;

/// SSM's smallest accepted delivery timeout.
const MIN_SSM_TIMEOUT: Duration = Duration::from_secs(30);
/// When the first poll of a check comes: SSM's typical run-to-answer time.
const FIRST_POLL: Duration = Duration::from_secs(1);

/// The override-file checks of a run: its pacing, SSM (RemoteCheck) and
/// where SSM writes its output.
pub(crate) struct OverrideFiles<'a> {
    pub(crate) pacing: Pacing<'a>,
    pub(crate) remote: &'a dyn RemoteCheck,
    /// The workload's `SsmS3Bucket` and key prefix.
    pub(crate) output: Option<OutputLocation>,
}

impl OverrideFiles<'_> {
    /// Checks `ids` for the override file; returns the instances to bypass.
    pub(crate) async fn check(&self, check: &OverrideCheck, ids: &[String]) -> Vec<Noted> {
        // The document comes from the scheduler's settings, never from the
        // workload's configuration. `preconditions` refused the run before
        // any action if there is none; stay pessimistic regardless.
        let check = match self.pacing.settings.override_documents.resolve(check.os()) {
            Ok(document) => &check.with_document(document),
            Err(why) => return ids.iter().map(|id| bypass(id, &why.to_string())).collect(),
        };
        let Some(output) = self.output.clone() else {
            // Validation makes this unreachable; stay pessimistic regardless.
            return ids
                .iter()
                .map(|id| bypass(id, "no SSM output bucket configured"))
                .collect();
        };
        let (limit, _) = self.pacing.budget.cap(self.pacing.settings.override_timeout);
        let ssm_timeout = limit.max(MIN_SSM_TIMEOUT);
        let mut verdicts: HashMap<String, Answer> = HashMap::new();
        let pending = self.send_checks(check, ids, &output, ssm_timeout, &mut verdicts).await;
        let unanswered = self.poll_checks(check, pending, &output, limit, &mut verdicts).await;
        for (_, id) in unanswered {
            verdicts.insert(
                id,
                Answer::Keep(format!("override check gave no answer within {}s", limit.as_secs())),
            );
        }

        ids.iter()
            .filter_map(|id| match verdicts.get(id) {
                Some(Answer::Absent) => None,
                Some(Answer::Keep(reason)) => Some(bypass(id, reason)),
                None => Some(bypass(id, "override check gave no answer")),
            })
            .collect()
    }

    /// Override checks, sending: one SendCommand per 50 instances, a batch
    /// refused for an instance SSM does not manage split in halves. Returns
    /// the (command id, instance id) pairs sent; `verdicts` gets the
    /// instances whose check could not be sent.
    async fn send_checks(
        &self,
        check: &OverrideCheck,
        ids: &[String],
        output: &OutputLocation,
        ssm_timeout: Duration,
        verdicts: &mut HashMap<String, Answer>,
    ) -> Vec<(String, String)> {
        let mut pending: Vec<(String, String)> = Vec::new(); // (command id, instance id)
        let mut batches: Vec<Vec<String>> = ids.chunks(SSM_BATCH).map(<[String]>::to_vec).collect();
        while !batches.is_empty() {
            let sends = batches.drain(..).map(|chunk| async move {
                let sent = self.remote.send(check, &chunk, output, ssm_timeout).await;
                (chunk, sent)
            });
            for (chunk, sent) in join_all(sends).await {
                match sent {
                    Ok(command) => pending.extend(chunk.iter().map(|id| (command.clone(), id.clone()))),
                    // One instance not managed by SSM fails the whole call:
                    // split so the managed ones are still checked.
                    Err(e) if chunk.len() > 1 && e.kind() == ErrorKind::NotFound => {
                        let (left, right) = chunk.split_at(chunk.len() / 2);
                        batches.push(left.to_vec());
                        batches.push(right.to_vec());
                    }
                    Err(e) => {
                        for id in chunk {
                            let reason = format!("override check could not be sent: {}", e);
                            verdicts.insert(id, Answer::Keep(reason));
                        }
                    }
                }
            }
        }
        pending
    }

    /// Override checks, polling: by command, not by instance, until every
    /// check answered or `limit` passes. Returns the checks still pending.
    async fn poll_checks(
        &self,
        check: &OverrideCheck,
        mut pending: Vec<(String, String)>,
        output: &OutputLocation,
        limit: Duration,
        verdicts: &mut HashMap<String, Answer>,
    ) -> Vec<(String, String)> {
        // One ListCommandInvocations per command (≤ 50 instances) per
        // round. SSM typically answers within about a second, so the first
        // round comes one second after the sends, then the usual backoff
        // (2 s, 4 s, 8 s, 15 s, ...), all within the check timeout.
        let mut pace = self.pacing.pacer(limit);
        tokio::time::sleep(FIRST_POLL.min(limit)).await;
        while !pending.is_empty() {
            pending = self.poll_round(check, pending, output, verdicts).await;
            if pending.is_empty() || !pace.wait().await {
                break;
            }
        }
        pending
    }

    /// Override checks, one polling round: each command polled once, the
    /// answers read into `verdicts`. Returns the checks still pending.
    async fn poll_round(
        &self,
        check: &OverrideCheck,
        pending: Vec<(String, String)>,
        output: &OutputLocation,
        verdicts: &mut HashMap<String, Answer>,
    ) -> Vec<(String, String)> {
        let mut by_command: HashMap<String, Vec<String>> = HashMap::new();
        for (command, id) in pending {
            by_command.entry(command).or_default().push(id);
        }
        let polls = stream::iter(by_command)
            .map(|(command, ids)| async move {
                let polled = self.remote.poll_command(&command, &ids, output).await;
                (command, ids, polled)
            })
            .buffer_unordered(self.pacing.settings.poll_concurrency.max(1))
            .collect::<Vec<_>>()
            .await;
        let mut still = Vec::new();
        for (command, ids, polled) in polls {
            let polled = match polled {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, command = %command, "polling override checks failed; will retry");
                    still.extend(ids.into_iter().map(|id| (command.clone(), id)));
                    continue;
                }
            };
            for (id, poll) in polled {
                match poll {
                    CheckPoll::Pending => still.push((command.clone(), id)),
                    CheckPoll::Output(stdout) => {
                        verdicts.insert(id, verdict_of(check, &stdout));
                    }
                    CheckPoll::Failed { status, detail } => {
                        verdicts.insert(id, Answer::Keep(format!("override check ended {status}: {detail}")));
                    }
                }
            }
        }
        still
    }
}

/// What became of one instance's check.
enum Answer {
    /// The file is clearly absent: stopped as usual.
    Absent,
    /// Anything else: kept running, for this reason.
    Keep(String),
}

/// What a check's output says.
fn verdict_of(check: &OverrideCheck, stdout: &str) -> Answer {
    match read_verdict(stdout) {
        Verdict::Absent => Answer::Absent,
        Verdict::Present => Answer::Keep(format!("override file {} present", check.path())),
        Verdict::Unclear => Answer::Keep(format!(
            "override check gave no clear answer (output: {:?})",
            clip(stdout)
        )),
    }
}

fn bypass(id: &str, reason: &str) -> Noted {
    Noted {
        id: id.to_string(),
        reason: format!("{reason}; not stopped"),
    }
}

fn clip(text: &str) -> String {
    let t: String = text.chars().take(120).collect();
    t.trim().to_string()
}
