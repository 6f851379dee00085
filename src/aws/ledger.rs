//! The run ledger in DynamoDB: `run#<key>` items hold run records,
//! `lock#<workload>` items the workload locks; both change together in
//! transactions so a claim is all or nothing. Run items also carry
//! `startedAt` and `kind` so two sparse indexes list runs by time, of one
//! workload or of all (`runs list` queries them; nothing scans the table).

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;

use super::cloud_error;
use crate::error::CloudError;
use crate::ledger::{Claim, Ledger, Resumed, RunRecord};

/// Index of run items by `workload` (hash) and `startedAt` (range, number).
pub const RUNS_BY_WORKLOAD_INDEX: &str = "workload-startedAt";
/// Index of run items by `kind` (hash, always [`RUN_KIND`]) and `startedAt`.
pub const RUNS_BY_TIME_INDEX: &str = "kind-startedAt";
/// The `kind` of run items. One partition for all runs: a few writes per
/// run stay far below a partition's limits.
pub const RUN_KIND: &str = "run";

/// [`Ledger`] on a DynamoDB table with partition key `pk` (string), TTL
/// attribute `expiresAt` and the indexes [`RUNS_BY_WORKLOAD_INDEX`] and
/// [`RUNS_BY_TIME_INDEX`].
#[derive(Clone, Debug)]
pub struct DynamoLedger {
    client: Client,
    table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The run's write was refused because another run holds the workload lock.
fn lock_lost(record: &RunRecord, reasons: &[Option<String>]) -> CloudError {
    CloudError::new(
        "dynamodb",
        "TransactWriteItems",
        Some("ConditionalCheckFailed"),
        format!(
            "the workload lock of {:?} is held by another run ({reasons:?})",
            record.workload
        ),
    )
}

/// The lock is free or this run's.
const OURS: &str = "attribute_not_exists(pk) OR runKey = :key";
/// The lock is this run's and still held: what a continuation needs (an
/// absent lock was taken and released by a later run, or never existed).
const HELD: &str = "runKey = :key AND lockUntil >= :now";

fn build_err(e: impl std::fmt::Display) -> CloudError {
    CloudError::new("dynamodb", "TransactWriteItems", None, e.to_string())
}

impl DynamoLedger {
    /// A ledger in `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The DynamoDB client (the records in the same table use it).
    pub(super) fn client(&self) -> &Client {
        &self.client
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Every item of `partition` in the workload index (a workload's
    /// records, or its stopped time), all pages.
    pub(super) async fn workload_items(
        &self,
        partition: String,
    ) -> Result<Vec<std::collections::HashMap<String, AttributeValue>>, CloudError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(RUNS_BY_WORKLOAD_INDEX)
            .key_condition_expression("#p = :p")
            .expression_attribute_names("#p", "workload")
            .expression_attribute_values(":p", AttributeValue::S(partition))
            .into_paginator()
            .send();
        let mut items = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| cloud_error("dynamodb", "Query", e))?;
            items.extend(page.items().iter().cloned());
        }
        Ok(items)
    }

    fn put_run(&self, record: &RunRecord, only_if_new: bool) -> Result<TransactWriteItem, CloudError> {
        let json = serde_json::to_string(record).map_err(build_err)?;
        let mut put = Put::builder()
            .table_name(&self.table)
            .item("pk", s(format!("run#{}", record.key)))
            .item("record", s(json))
            .item("workload", s(&record.workload))
            .item(
                "status",
                s(serde_json::to_value(record.status)
                    .map_err(build_err)?
                    .as_str()
                    .unwrap_or_default()),
            )
            .item("expiresAt", n(record.expires_at))
            .item("startedAt", n(record.started_at))
            .item("invocations", n(u64::from(record.invocations)))
            .item("kind", s(RUN_KIND))
            // The continuation fence, readable by condition expressions.
            .item("fence", s(record.continuation_token.as_deref().unwrap_or("-")));
        if only_if_new {
            // New, or refused before anything was done (RunRecord::reclaimable).
            put = put
                .condition_expression("attribute_not_exists(pk) OR (#status = :refused AND invocations <= :one)")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":refused", s("refused"))
                .expression_attribute_values(":one", n(1));
        }
        Ok(TransactWriteItem::builder()
            .put(put.build().map_err(build_err)?)
            .build())
    }

    /// The workload lock held by `record`'s run until `until`, written only
    /// if `condition` (with its `:name` = `value` pairs) holds.
    fn put_lock(
        &self,
        record: &RunRecord,
        until: u64,
        condition: &str,
        values: &[(&str, AttributeValue)],
    ) -> Result<TransactWriteItem, CloudError> {
        let mut put = Put::builder()
            .table_name(&self.table)
            .item("pk", Self::lock_key(&record.workload))
            .item("runKey", s(&record.key))
            .item("lockUntil", n(until))
            .item("expiresAt", n(record.expires_at))
            .condition_expression(condition);
        for (name, value) in values {
            put = put.expression_attribute_values(*name, value.clone());
        }
        let put = put.build().map_err(build_err)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The run item, written only if its stored fence is `presented`.
    fn fenced_run(&self, record: &RunRecord, presented: &str) -> Result<TransactWriteItem, CloudError> {
        let mut run = self.put_run(record, false)?;
        if let Some(put) = run.put.as_mut() {
            put.condition_expression = Some("fence = :presented".into());
            put.expression_attribute_values = Some([(":presented".to_string(), s(presented))].into_iter().collect());
        }
        Ok(run)
    }

    fn lock_key(workload: &str) -> AttributeValue {
        s(format!("lock#{workload}"))
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<Option<Vec<Option<String>>>, CloudError> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(None),
            Err(e) => match e.into_service_error() {
                TransactWriteItemsError::TransactionCanceledException(c) => Ok(Some(
                    c.cancellation_reasons()
                        .iter()
                        .map(|r| r.code().map(str::to_string))
                        .collect(),
                )),
                other => Err(CloudError::new(
                    "dynamodb",
                    "TransactWriteItems",
                    aws_smithy_types::error::metadata::ProvideErrorMetadata::code(&other),
                    other.to_string(),
                )),
            },
        }
    }
}

#[async_trait]
impl Ledger for DynamoLedger {
    async fn claim(&self, record: &RunRecord, lock_until: u64, now: u64) -> Result<Claim, CloudError> {
        let items = vec![
            self.put_run(record, true)?,
            self.put_lock(
                record,
                lock_until,
                "attribute_not_exists(pk) OR lockUntil < :now",
                &[(":now", n(now))],
            )?,
        ];
        let Some(reasons) = self.transact(items).await? else {
            return Ok(Claim::Claimed);
        };
        let failed = |i: usize| reasons.get(i).cloned().flatten().as_deref() == Some("ConditionalCheckFailed");
        if failed(0) {
            if let Some(existing) = self.load(&record.key).await? {
                return Ok(Claim::Duplicate(Box::new(existing)));
            }
        }
        if failed(1) {
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("pk", Self::lock_key(&record.workload))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| cloud_error("dynamodb", "GetItem", e))?;
            let item = out.item().cloned().unwrap_or_default();
            let holder = item
                .get("runKey")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            let until = item
                .get("lockUntil")
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            return Ok(Claim::Busy { holder, until });
        }
        Err(CloudError::new(
            "dynamodb",
            "TransactWriteItems",
            Some("TransactionCanceledException"),
            format!("claim cancelled: {reasons:?}"),
        ))
    }

    async fn load(&self, key: &str) -> Result<Option<RunRecord>, CloudError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(format!("run#{key}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| cloud_error("dynamodb", "GetItem", e))?;
        let Some(json) = out.item().and_then(|i| i.get("record")).and_then(|v| v.as_s().ok()) else {
            return Ok(None);
        };
        serde_json::from_str(json)
            .map(Some)
            .map_err(|e| CloudError::new("dynamodb", "GetItem", None, format!("unreadable run record: {e}")))
    }

    async fn resume(
        &self,
        record: &RunRecord,
        presented: &str,
        now: u64,
        lock_until: u64,
    ) -> Result<Resumed, CloudError> {
        let run = self.fenced_run(record, presented)?;
        let lock = self.put_lock(record, lock_until, HELD, &[(":key", s(&record.key)), (":now", n(now))])?;
        let Some(reasons) = self.transact(vec![run, lock]).await? else {
            return Ok(Resumed::Claimed);
        };
        let failed = |i: usize| reasons.get(i).cloned().flatten().as_deref() == Some("ConditionalCheckFailed");
        if failed(0) {
            Ok(Resumed::Taken)
        } else if failed(1) {
            Ok(Resumed::NotOurs)
        } else {
            Err(lock_lost(record, &reasons))
        }
    }

    async fn interrupt(&self, record: &RunRecord, presented: &str) -> Result<bool, CloudError> {
        let run = self.fenced_run(record, presented)?;
        match self.transact(vec![run]).await? {
            None => Ok(true),
            Some(reasons) if reasons.first().cloned().flatten().as_deref() == Some("ConditionalCheckFailed") => {
                Ok(false)
            }
            Some(reasons) => Err(lock_lost(record, &reasons)),
        }
    }

    async fn runs(&self, workload: Option<&str>, since: u64, limit: usize) -> Result<Vec<RunRecord>, CloudError> {
        let (index, partition, value) = match workload {
            Some(w) => (RUNS_BY_WORKLOAD_INDEX, "workload", w),
            None => (RUNS_BY_TIME_INDEX, "kind", RUN_KIND),
        };
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#p = :p AND #t >= :since")
            .expression_attribute_names("#p", partition)
            .expression_attribute_names("#t", "startedAt")
            .expression_attribute_values(":p", s(value))
            .expression_attribute_values(":since", n(since))
            .scan_index_forward(false)
            .into_paginator()
            .send();
        let mut runs = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| cloud_error("dynamodb", "Query", e))?;
            for item in page.items() {
                let Some(json) = item.get("record").and_then(|v| v.as_s().ok()) else {
                    continue;
                };
                let record: RunRecord = serde_json::from_str(json)
                    .map_err(|e| CloudError::new("dynamodb", "Query", None, format!("unreadable run record: {e}")))?;
                runs.push(record);
                if runs.len() >= limit {
                    return Ok(runs);
                }
            }
        }
        Ok(runs)
    }

    async fn save(&self, record: &RunRecord, lock_until: Option<u64>) -> Result<(), CloudError> {
        let lock = match lock_until {
            Some(until) => self.put_lock(record, until, OURS, &[(":key", s(&record.key))])?,
            None => TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name(&self.table)
                        .key("pk", Self::lock_key(&record.workload))
                        .condition_expression(OURS)
                        .expression_attribute_values(":key", s(&record.key))
                        .build()
                        .map_err(build_err)?,
                )
                .build(),
        };
        match self.transact(vec![self.put_run(record, false)?, lock]).await? {
            None => Ok(()),
            Some(reasons) => Err(lock_lost(record, &reasons)),
        }
    }
}
