//! Records only the scheduler writes ([`crate::records`]), in the run
//! ledger table: `record|...` items, one per subject and what is recorded,
//! with no `expiresAt` (a workload may stay stopped for months). Each item
//! names its workload (`owner`), and carries `workload` = `records|<W>` and
//! `startedAt` = when it was recorded, so the workload index lists a
//! workload's records apart from its runs.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};

use super::cloud_error;
use super::ledger::DynamoLedger;
use crate::error::CloudError;
use crate::ports::Records;
use crate::records::{Record, RECORDS_PER_WRITE};

/// The item attribute holding a record's JSON.
const RECORD_ATTRIBUTE: &str = "memberRecord";
/// The record is new, or this workload's.
const OWNED: &str = "attribute_not_exists(pk) OR #owner = :owner";

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// The workload index partition of `workload`'s records.
fn partition(workload: &str) -> String {
    crate::ledger::key("records", &[workload])
}

fn build_err(e: impl std::fmt::Display) -> CloudError {
    CloudError::new("dynamodb", "TransactWriteItems", None, e.to_string())
}

impl DynamoLedger {
    /// One TransactWriteItems per [`RECORDS_PER_WRITE`] items; a refused
    /// condition names the first record another workload holds.
    async fn write_records(&self, items: Vec<TransactWriteItem>, keys: &[String]) -> Result<(), CloudError> {
        for (chunk, keys) in items.chunks(RECORDS_PER_WRITE).zip(keys.chunks(RECORDS_PER_WRITE)) {
            let sent = self
                .client()
                .transact_write_items()
                .set_transact_items(Some(chunk.to_vec()))
                .send()
                .await;
            if let Err(e) = sent {
                let error = cloud_error("dynamodb", "TransactWriteItems", e);
                let refused = error.code.as_deref() == Some("TransactionCanceledException");
                let why = if refused {
                    format!("another workload holds a record among {keys:?}")
                } else {
                    error.message.clone()
                };
                return Err(CloudError::new(
                    "dynamodb",
                    "TransactWriteItems",
                    error.code.as_deref(),
                    why,
                ));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Records for DynamoLedger {
    async fn put(&self, records: &[Record]) -> Result<(), CloudError> {
        let mut items = Vec::with_capacity(records.len());
        for r in records {
            let json = serde_json::to_string(r).map_err(build_err)?;
            let put = Put::builder()
                .table_name(self.table())
                .item("pk", s(r.key()))
                .item(RECORD_ATTRIBUTE, s(json))
                .item("owner", s(&r.workload))
                .item("workload", s(partition(&r.workload)))
                .item("startedAt", AttributeValue::N(r.recorded_at.to_string()))
                .condition_expression(OWNED)
                .expression_attribute_names("#owner", "owner")
                .expression_attribute_values(":owner", s(&r.workload))
                .build()
                .map_err(build_err)?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        let keys: Vec<String> = records.iter().map(Record::key).collect();
        self.write_records(items, &keys).await
    }

    async fn of_workload(&self, workload: &str) -> Result<Vec<Record>, CloudError> {
        let mut records = Vec::new();
        for item in self.workload_items(partition(workload)).await? {
            let Some(json) = item.get(RECORD_ATTRIBUTE).and_then(|v| v.as_s().ok()) else {
                continue;
            };
            let record: Record = serde_json::from_str(json)
                .map_err(|e| CloudError::new("dynamodb", "Query", None, format!("unreadable record: {e}")))?;
            // The index is the workload's; the item says so too.
            if record.workload == workload {
                records.push(record);
            }
        }
        Ok(records)
    }

    async fn remove(&self, workload: &str, keys: &[String]) -> Result<(), CloudError> {
        let mut items = Vec::with_capacity(keys.len());
        for key in keys {
            let delete = Delete::builder()
                .table_name(self.table())
                .key("pk", s(key))
                .condition_expression(OWNED)
                .expression_attribute_names("#owner", "owner")
                .expression_attribute_values(":owner", s(workload))
                .build()
                .map_err(build_err)?;
            items.push(TransactWriteItem::builder().delete(delete).build());
        }
        self.write_records(items, keys).await
    }
}
