//! Capacity fallback at Start: an instance EC2 cannot start for lack of
//! capacity for its type (`InsufficientInstanceCapacity`, or `Unsupported`
//! in its zone) is changed to the next type of its list and started again.
//! The type it had is recorded first in the run ledger (a record only the
//! scheduler writes), so the next Start goes back to it and a fallback
//! never becomes permanent by accident, even when a run dies half way.

use std::collections::HashSet;

use super::super::driver::Tally;
use super::super::lane::Lane;
use crate::error::ErrorKind;
use crate::member::MemberKind;
use crate::orchestrator::Execution;
use crate::plan::InstancePlan;
use crate::records::Restore;
use crate::summary::{Failure, Noted, TierOutcome};

/// Start errors that another instance type may not have: no capacity for
/// the type, or the type not offered in the zone.
fn no_capacity(code: Option<&str>) -> bool {
    matches!(ErrorKind::of(code), ErrorKind::NoCapacity | ErrorKind::TypeUnsupported)
}

/// An instance that may fall back: its plan (with the type it has now).
pub(super) struct Candidate {
    plan: InstancePlan,
}

impl Candidate {
    /// `i` with a fallback list, of type `now` once the scaling phase ran.
    pub(super) fn new(i: &InstancePlan, now: String) -> Self {
        let mut plan = i.clone();
        plan.instance_type = now;
        plan.resize_to = None;
        Self { plan }
    }
}

/// How trying the types of one instance ended.
enum Tried {
    /// Started in this type.
    Started(String),
    /// Every type refused, or another error: the failure.
    Failed(Failure),
    /// Time ran out first.
    NotDone,
}

impl Execution<'_> {
    /// After the batches: the starts refused for lack of capacity of
    /// instances with a fallback list are tried in their next types, one
    /// instance after the other.
    pub(super) async fn fall_back(&self, result: &mut Tally, candidates: &[Candidate], out: &mut TierOutcome) {
        let with_list: HashSet<&str> = candidates.iter().map(|c| c.plan.id.as_str()).collect();
        let (refused, keep): (Vec<Failure>, Vec<Failure>) = std::mem::take(&mut result.failed)
            .into_iter()
            .partition(|f| no_capacity(f.code.as_deref()) && with_list.contains(f.id.as_str()));
        result.failed = keep;
        for failure in refused {
            let candidate = candidates
                .iter()
                .find(|c| c.plan.id == failure.id)
                .expect("a candidate");
            match self.try_types(candidate, &failure).await {
                Tried::Started(to) => {
                    let from = &candidate.plan.instance_type;
                    out.capacity_fallback.push(Noted {
                        id: failure.id.clone(),
                        reason: format!(
                            "no capacity for {from} ({}); started as {to}; the next Start tries {} first",
                            failure.code.as_deref().unwrap_or_default(),
                            candidate.plan.original_type.as_deref().unwrap_or(from)
                        ),
                    });
                    result.ok.push(failure.id);
                }
                Tried::Failed(f) => result.failed.push(f),
                Tried::NotDone => result.not_done.push(failure.id),
            }
        }
    }

    /// The types of one instance's list after its own, in order, until one
    /// starts: the original type is recorded first, then each type is set
    /// and the start tried again.
    async fn try_types(&self, candidate: &Candidate, first: &Failure) -> Tried {
        let i = &candidate.plan;
        let original = i.original_type.clone().unwrap_or_else(|| i.instance_type.clone());
        if i.original_type.is_none() {
            let subject = self.recorder.place().member(MemberKind::Ec2, &i.id);
            let record = vec![(subject, Restore::OriginalType(original.clone()))];
            if let Err(e) = self.recorder.put(record).await {
                return Tried::Failed(Failure {
                    id: i.id.clone(),
                    reason: format!(
                        "{}; no fallback type tried: its type could not be recorded: {e}",
                        first.reason
                    ),
                    code: first.code.clone(),
                });
            }
        }
        let mut tried = vec![format!(
            "{} ({})",
            i.instance_type,
            first.code.as_deref().unwrap_or_default()
        )];
        let mut now = i.instance_type.clone();
        for to in i.fallback_types.iter().filter(|t| **t != i.instance_type) {
            if self.budget.expired() {
                return Tried::NotDone;
            }
            let mut step = i.clone();
            step.instance_type = now.clone();
            step.resize_to = Some(to.clone());
            let (resized, _) = self.scale(&[&step]).await;
            if let Some(error) = resized.first().and_then(|r| r.error.clone()) {
                tried.push(format!("{to} (not set: {error})"));
                continue;
            }
            now = to.clone();
            tracing::info!(instance = %i.id, %to, "no capacity for its type; trying a fallback type");
            let again = self.act_in_batches(std::slice::from_ref(&i.id), false).await;
            if !again.ok.is_empty() {
                return Tried::Started(to.clone());
            }
            if !again.not_done.is_empty() {
                return Tried::NotDone;
            }
            let f = &again.failed[0];
            if !no_capacity(f.code.as_deref()) {
                return Tried::Failed(f.clone());
            }
            tried.push(format!("{to} ({})", f.code.as_deref().unwrap_or_default()));
        }
        Tried::Failed(Failure {
            id: i.id.clone(),
            reason: format!(
                "no type of its list could start: {}; it stays stopped as {now} and the next Start tries {original} first",
                tried.join(", ")
            ),
            code: first.code.clone(),
        })
    }

    /// After a confirmed start in the type the instance had before a
    /// fallback: the record of that type is removed.
    pub(super) async fn forget_original_types(&self, run: &mut Lane<'_>, resized_ok: &HashSet<String>) {
        let fell_back: HashSet<&str> = run.out.capacity_fallback.iter().map(|n| n.id.as_str()).collect();
        let back: Vec<String> = run
            .tier
            .instances
            .iter()
            .filter(|i| i.original_type.is_some() && !fell_back.contains(i.id.as_str()))
            .filter(|i| {
                let back = resized_ok.contains(&i.id) || i.original_type.as_deref() == Some(i.instance_type.as_str());
                run.out.acted.contains(&i.id) && back
            })
            .map(|i| i.id.clone())
            .collect();
        if back.is_empty() {
            return;
        }
        let place = self.recorder.place();
        let subjects: Vec<_> = back.iter().map(|id| place.member(MemberKind::Ec2, id)).collect();
        if let Err(e) = self.recorder.remove("type", &subjects).await {
            tracing::warn!(error = %e, "removing the original-type record failed; the next Start sets the type again");
            run.notification_errors.push(format!(
                "warning: back in their types, but the records were not removed: {e}"
            ));
        }
    }
}
