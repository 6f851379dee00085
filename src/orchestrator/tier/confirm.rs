//! Confirmed starts: an instance counts as started only when EC2 reports it
//! `running`. StartInstances succeeding proves nothing: an instance whose
//! EBS volume is encrypted with a KMS key EC2 may not use goes `pending`,
//! then back to `stopped` with `StateReason` `Client.InternalError`.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::super::budget::Pacer;
use super::super::{Execution, TierEnd};
use super::TierRun;
use crate::config::{StartFailure, StartRules};
use crate::instance::{InstanceState, StateReason};
use crate::member::MemberKind;
use crate::summary::{Failure, PhaseKind};

/// What polling a set of started instances found.
#[derive(Debug, Default)]
pub(crate) struct Confirmation {
    /// Seen `running`.
    pub(crate) running: Vec<String>,
    /// Fell back, vanished, or not `running` within the bound.
    pub(crate) failed: Vec<Failure>,
    /// Not confirmed yet when the deadline budget cut the wait short: a
    /// continuation confirms them.
    pub(crate) unconfirmed: Vec<(String, InstanceState)>,
}

/// The longest pause between two polls of starting instances: a start
/// takes tens of seconds, and each poll is one DescribeInstances per 200
/// ids, so the next tier is not kept waiting long after the last one runs.
const CONFIRM_POLL_MAX: Duration = Duration::from_secs(5);

/// The state reasons of a stop someone asked for: an instance still
/// `stopped` with one of them has not been started yet (EC2's reads are
/// eventually consistent), not failed.
const ASKED_FOR: [&str; 2] = ["Client.UserInitiatedShutdown", "Client.UserInitiatedHibernate"];

/// Why an instance EC2 accepted a start for did not start, with what
/// usually causes it and how to fix it.
pub(crate) fn explain(state: InstanceState, reason: Option<&StateReason>) -> String {
    let Some(reason) = reason else {
        return format!("started, then {state} again (EC2 gave no reason)");
    };
    let hint = match reason.code.as_str() {
        "Client.InternalError" => {
            " This usually means EC2 could not use the customer managed KMS key of an encrypted EBS \
             volume: let the function create grants on the key (stack parameter EbsKmsKeyArns), \
             check that the key is enabled and its policy allows it (`orchestrator plan` lists each \
             instance's keys), then start it again."
        }
        "Client.VolumeLimitExceeded" => " The account's EBS volume or storage limit is reached: raise the quota.",
        "Client.InvalidSnapshot.NotFound" => " A snapshot the instance's volumes need is gone.",
        "Server.InsufficientInstanceCapacity" => {
            " EC2 had no capacity for its type: TierFallbackTypes or the SchedulerPreferredTypes tag \
             name types to try instead."
        }
        _ => "",
    };
    format!(
        "started, then {state} again: {}: {}.{hint}",
        reason.code,
        reason.message.trim_end_matches('.')
    )
}

impl Execution<'_> {
    /// Polls `ids` until each is `running`, has failed, or `bound` (cut to
    /// the deadline budget) has passed; `bound` is what is left of
    /// `timeout` (TierStartConfirmTimeout). One DescribeInstances per batch
    /// of ids per poll, with backoff.
    pub(crate) async fn confirm_running(&self, ids: &[String], bound: Duration, timeout: Duration) -> Confirmation {
        let (limit, cut) = self.budget.cap(bound);
        let mut left: Vec<String> = ids.to_vec();
        let mut last: HashMap<String, InstanceState> = HashMap::new();
        let mut moved: HashSet<String> = HashSet::new();
        let mut out = Confirmation::default();
        let most = self.settings.poll_max.min(CONFIRM_POLL_MAX);
        let mut pace = Pacer::new(limit, self.settings.poll_initial, most);
        loop {
            match self.compute.states(&left).await {
                Ok(statuses) => {
                    for status in statuses {
                        let id = status.id.clone();
                        let fell_back = matches!(status.state, InstanceState::Stopped | InstanceState::Stopping)
                            && (moved.contains(&id)
                                || status
                                    .reason
                                    .as_ref()
                                    .is_some_and(|r| !ASKED_FOR.contains(&r.code.as_str())));
                        match status.state {
                            InstanceState::Running => out.running.push(id.clone()),
                            InstanceState::Terminated | InstanceState::ShuttingDown => out.failed.push(Failure {
                                id: id.clone(),
                                reason: format!("{} while starting", status.state),
                                code: status.reason.map(|r| r.code),
                            }),
                            _ if fell_back => out.failed.push(Failure {
                                id: id.clone(),
                                reason: explain(status.state, status.reason.as_ref()),
                                code: status.reason.map(|r| r.code),
                            }),
                            InstanceState::Pending => {
                                moved.insert(id.clone());
                            }
                            _ => {}
                        }
                        last.insert(id, status.state);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "confirming starts: reading states failed; will poll again"),
            }
            let settled: HashSet<&str> = out
                .running
                .iter()
                .map(String::as_str)
                .chain(out.failed.iter().map(|f| f.id.as_str()))
                .collect();
            left.retain(|id| !settled.contains(id.as_str()));
            if left.is_empty() || !pace.wait().await {
                break;
            }
        }
        for id in left {
            let state = last.get(&id).copied().unwrap_or(InstanceState::Pending);
            if cut {
                out.unconfirmed.push((id, state));
            } else {
                out.failed.push(Failure {
                    id,
                    reason: format!(
                        "StartInstances accepted, but still {state} after {}s",
                        timeout.as_secs()
                    ),
                    code: None,
                });
            }
        }
        out
    }

    /// The rest of the tier's confirmation bound: from the tier's last
    /// start, in this invocation or an earlier one.
    fn confirm_bound(&self, run: &TierRun<'_>, rules: &StartRules) -> Duration {
        let spent = run.acted_at.map(|at| at.elapsed()).unwrap_or_default();
        rules.confirm_bound(MemberKind::Ec2).saturating_sub(spent)
    }

    /// Phase 5 at Start: the instances started now or by an earlier
    /// invocation (`extra` more, in a synchronous tier) are confirmed
    /// running; those that are not become failures with EC2's reason. When
    /// time runs out first, a continuation confirms them.
    pub(super) async fn confirm_starts(&self, run: &mut TierRun<'_>, ids: Vec<String>) {
        let Some(rules) = run.tier.start_rules.as_ref() else {
            return;
        };
        if ids.is_empty() || run.end != TierEnd::Done {
            return;
        }
        let from = self.elapsed_ms();
        let found = self
            .confirm_running(
                &ids,
                self.confirm_bound(run, rules),
                rules.confirm_bound(MemberKind::Ec2),
            )
            .await;
        self.record_confirmation(run, found);
        run.out.phase(PhaseKind::Confirm, from, self.elapsed_ms());
    }

    /// What a confirmation means for the tier: failures leave the acted
    /// list; unconfirmed instances when time ran out end the tier.
    pub(super) fn record_confirmation(&self, run: &mut TierRun<'_>, found: Confirmation) {
        let failed: HashSet<String> = found.failed.iter().map(|f| f.id.clone()).collect();
        run.out.acted.retain(|id| !failed.contains(id));
        run.done_earlier.retain(|id| !failed.contains(id));
        for f in &found.failed {
            tracing::warn!(instance = %f.id, code = ?f.code, "start not confirmed: {}", f.reason);
        }
        run.out.failed.extend(found.failed);
        if let Some((id, state)) = found.unconfirmed.first() {
            run.end = TierEnd::Deadline(format!(
                "time ran out confirming the starts of tier {} ({id} still {state})",
                run.tier.tier
            ));
        }
    }

    /// `TierStartFailure: Abort`: a tier with an instance that did not
    /// start ends the run; the next tiers are not started.
    pub(super) fn abort_on_start_failure(&self, run: &mut TierRun<'_>) {
        let abort = run
            .tier
            .start_rules
            .as_ref()
            .is_some_and(|r| r.on_failure == StartFailure::Abort);
        if abort && run.end == TierEnd::Done && !run.out.failed.is_empty() {
            run.end = TierEnd::Abort(format!(
                "{} instance(s) of tier {} did not start and its TierStartFailure is Abort",
                run.out.failed.len(),
                run.tier.tier
            ));
        }
    }
}
