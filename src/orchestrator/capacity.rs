//! Groups, services and node groups scaled through the records only the
//! scheduler writes: a Stop records the capacity in the run ledger, then
//! sets it to 0 (an EKS node group keeps its max: [`Capacity::stopped`];
//! a record a Start has not restored yet is kept, and the capacity now
//! reported beside it, so the real capacity is never forgotten); a Start
//! restores the record, never below what the member has now (one raised by
//! a scheduled action while stopped is brought up to its record), then
//! removes it: a failure there is a warning, the restore stands.

use super::records::RecordError;
use super::Execution;
use crate::action::Action;
use crate::error::CloudError;
use crate::member::{Capacity, MemberKind};
use crate::plan::members::MemberPlan;
use crate::ports::MemberService;
use crate::records::Restore;

/// The larger of each of the two capacities' numbers: a restore never
/// lowers what a member has.
fn at_least(now: Capacity, record: Capacity) -> Capacity {
    Capacity {
        min: now.min.max(record.min),
        desired: now.desired.max(record.desired),
        max: now.max.max(record.max),
    }
}

fn record_error(kind: MemberKind, e: RecordError) -> CloudError {
    CloudError::new(
        "dynamodb",
        "TransactWriteItems",
        None,
        format!("{kind} capacity not recorded, so not scaled to 0: {e}"),
    )
}

impl Execution<'_> {
    /// Stop or Start one group or service (see the module); a note on its
    /// record when there is one to tell.
    pub(crate) async fn scale_member(
        &self,
        service: &dyn MemberService,
        d: &MemberPlan,
    ) -> Result<Option<String>, CloudError> {
        let subject = self.recorder.place().member(d.kind, &d.id);
        let now = service.capacity(d.kind, &d.id).await?;
        match self.action {
            Action::Stop => {
                let zero = now.stopped(d.kind);
                let note = match self.recorder.get(&subject, "capacity") {
                    Some(kept) => Some(format!(
                        "its record ({}) was not restored by a Start yet: kept; its capacity now: {now}",
                        kept.restore
                    )),
                    None if now == zero => return Ok(None),
                    None => {
                        let record = vec![(subject, Restore::Capacity(now))];
                        self.recorder.put(record).await.map_err(|e| record_error(d.kind, e))?;
                        None
                    }
                };
                if now != zero {
                    service.set_capacity(d.kind, &d.id, zero).await?;
                }
                Ok(note)
            }
            Action::Start => {
                let Some(record) = d.restores else {
                    return Err(CloudError::new(
                        "scheduler",
                        "SetCapacity",
                        Some("NoCapacityRecord"),
                        format!("{} has no record of its capacity in the run ledger", d.member),
                    ));
                };
                let limit = self.settings.max_restored_capacity;
                if [record.min, record.desired, record.max].iter().any(|n| *n > limit) {
                    return Err(CloudError::new(
                        "scheduler",
                        "SetCapacity",
                        Some("OverMaxRestoredCapacity"),
                        format!(
                            "its record ({record}) is over MaxRestoredCapacity {limit}: not restored, kept recorded"
                        ),
                    ));
                }
                let to = at_least(now, record);
                if to != now {
                    service.set_capacity(d.kind, &d.id, to).await?;
                }
                Ok(self
                    .recorder
                    .remove("capacity", &[subject])
                    .await
                    .err()
                    .map(|e| format!("warning: restored to {to}, but its record was not removed: {e}")))
            }
        }
    }
}
