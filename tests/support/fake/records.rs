//! The records only the scheduler writes, in memory (the run ledger
//! table's `record|...` items): conditional on their workload, all or
//! none, with faults by operation name (`TransactWriteItems`, `Query`).

use async_trait::async_trait;
use ec2_tier_scheduler::error::CloudError;
use ec2_tier_scheduler::member::{Capacity, MemberKind};
use ec2_tier_scheduler::ports::Records;
use ec2_tier_scheduler::records::{record_key, Record, Restore, Subject, OWN_ACCOUNT};

use super::FakeCloud;

/// The workload the fake's helpers record for (the tests' `W`).
const WORKLOAD: &str = "W";
/// The region of the tests' workloads.
const REGION: &str = "us-west-2";

#[async_trait]
impl Records for FakeCloud {
    async fn put(&self, records: &[Record]) -> Result<(), CloudError> {
        let keys: Vec<String> = records.iter().map(Record::key).collect();
        self.record("TransactWriteItems", &keys).await?;
        let mut s = self.lock();
        let foreign = records
            .iter()
            .find(|r| s.records.get(&r.key()).is_some_and(|held| held.workload != r.workload));
        if let Some(r) = foreign {
            return Err(CloudError::new(
                "dynamodb",
                "TransactWriteItems",
                Some("TransactionCanceledException"),
                format!("another workload holds a record among [{:?}]", r.key()),
            ));
        }
        for r in records {
            s.records.insert(r.key(), r.clone());
        }
        Ok(())
    }

    async fn of_workload(&self, workload: &str) -> Result<Vec<Record>, CloudError> {
        self.record("Query", &[]).await?;
        Ok(self
            .lock()
            .records
            .values()
            .filter(|r| r.workload == workload)
            .cloned()
            .collect())
    }

    async fn remove(&self, workload: &str, keys: &[String]) -> Result<(), CloudError> {
        self.record("TransactWriteItems", keys).await?;
        let mut s = self.lock();
        for key in keys {
            if s.records.get(key).is_some_and(|r| r.workload == workload) {
                s.records.remove(key);
            }
        }
        Ok(())
    }
}

impl FakeCloud {
    /// The record of `what` about `kind` `id` (of W's account and region).
    pub fn recorded(&self, kind: &str, what: &str, id: &str) -> Option<Record> {
        let subject = Subject {
            account: OWN_ACCOUNT.into(),
            region: REGION.into(),
            kind: kind.into(),
            id: id.into(),
        };
        self.lock().records.get(&record_key(&subject, what)).cloned()
    }

    /// Puts a record for workload W as the scheduler would have.
    pub fn put_record(&self, kind: &str, id: &str, restore: Restore) {
        let subject = Subject {
            account: OWN_ACCOUNT.into(),
            region: REGION.into(),
            kind: kind.into(),
            id: id.into(),
        };
        let record = Record::of(subject, WORKLOAD, 0, restore);
        self.lock().records.insert(record.key(), record);
    }

    /// A group's or service's capacity record in the ledger, as its tag
    /// text (`1,2,4`, or a desired count).
    pub fn capacity_record(&self, kind: MemberKind, id: &str) -> Option<String> {
        match self.recorded(kind.name(), "capacity", id)?.restore {
            Restore::Capacity(c) => Some(c.to_tag(kind)),
            _ => None,
        }
    }

    /// Records a capacity for W in the ledger.
    pub fn record_capacity(&self, kind: MemberKind, id: &str, capacity: Capacity) {
        self.put_record(kind.name(), id, Restore::Capacity(capacity));
    }
}
