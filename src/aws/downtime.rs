//! The stopped time kept for good ([`crate::savings`]) and the cached
//! prices, in the run ledger table, with no `expiresAt` for the stopped
//! time (a month's report needs it) and 30 days for a price:
//!
//! - `down|<W>|<account>|<region>|<kind>|<id>`: a member down now, its
//!   [`Down`] as JSON (`downItem`). A later Stop of the same member
//!   replaces it (the member was started by other means in between: the
//!   newer interval is the one the ledger can vouch for).
//! - `downday|...|<day>|<since>`: the seconds of one closed interval on
//!   one UTC day (`downDay`, `seconds`); the per-day total is their sum.
//!   Keyed by the interval, so writing one again changes nothing.
//! - `price|<service>|<region>|<type>`: a cached price (`price`), kept
//!   [`PRICE_CACHE_SECS`].
//!
//! Stopped-time items carry `workload` = `downtime|<W>` and `startedAt`, so
//! the workload index lists them apart from runs and records. Writes are
//! transactions of [`RECORDS_PER_WRITE`] items at most; a close removes the
//! open item only if it is still the interval it closes, so a close done
//! twice adds nothing.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};

use super::cloud_error;
use super::ledger::DynamoLedger;
use crate::error::CloudError;
use crate::ports::{Downtime, PriceCache, PRICE_CACHE_SECS};
use crate::records::RECORDS_PER_WRITE;
use crate::savings::{DayTotal, Down, Price, PriceTable, Product, Stopped};

const DOWN: &str = "downItem";
const DAY: &str = "downDay";
const PRICE: &str = "price";

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn partition(workload: &str) -> String {
    crate::key::key("downtime", &[workload])
}

fn build_err(op: &'static str, e: impl std::fmt::Display) -> CloudError {
    CloudError::new("dynamodb", op, None, e.to_string())
}

impl DynamoLedger {
    fn put_item(
        &self,
        key: String,
        attr: &str,
        json: String,
        workload: &str,
        at: u64,
    ) -> Result<TransactWriteItem, CloudError> {
        let put = Put::builder()
            .table_name(self.table())
            .item("pk", s(key))
            .item(attr, s(json))
            .item("owner", s(workload))
            .item("workload", s(partition(workload)))
            .item("startedAt", n(at))
            .build()
            .map_err(|e| build_err("TransactWriteItems", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// A close: the day items of `d`'s interval, then the removal of its
    /// open item, only if it is still `d`.
    fn close_items(&self, d: &Down, until: u64) -> Result<Vec<TransactWriteItem>, CloudError> {
        let mut items = Vec::new();
        for t in d.close(until) {
            let json = serde_json::to_string(&t).map_err(|e| build_err("TransactWriteItems", e))?;
            let key = format!("{}|{}", d.day_key(t.day), d.since);
            let mut item = self.put_item(key, DAY, json, &d.workload, d.since)?;
            if let Some(put) = item.put.as_mut() {
                put.item.insert("seconds".into(), n(t.seconds));
            }
            items.push(item);
        }
        let json = serde_json::to_string(d).map_err(|e| build_err("TransactWriteItems", e))?;
        let delete = Delete::builder()
            .table_name(self.table())
            .key("pk", s(d.key()))
            .condition_expression("#d = :d")
            .expression_attribute_names("#d", DOWN)
            .expression_attribute_values(":d", s(json))
            .build()
            .map_err(|e| build_err("TransactWriteItems", e))?;
        items.push(TransactWriteItem::builder().delete(delete).build());
        Ok(items)
    }

    async fn transact_downtime(&self, items: Vec<TransactWriteItem>) -> Result<(), CloudError> {
        for chunk in items.chunks(RECORDS_PER_WRITE) {
            self.client()
                .transact_write_items()
                .set_transact_items(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| cloud_error("dynamodb", "TransactWriteItems", e))?;
        }
        Ok(())
    }
}

#[async_trait]
impl Downtime for DynamoLedger {
    async fn open(&self, down: &[Down]) -> Result<(), CloudError> {
        let mut items = Vec::with_capacity(down.len());
        for d in down {
            let json = serde_json::to_string(d).map_err(|e| build_err("TransactWriteItems", e))?;
            items.push(self.put_item(d.key(), DOWN, json, &d.workload, d.since)?);
        }
        self.transact_downtime(items).await
    }

    async fn close(&self, down: &[Down], until: u64) -> Result<(), CloudError> {
        // One member's items in one transaction when they fit (a stop of
        // up to 99 days); a longer one is written in parts, its removal
        // last, and its day items are the same if written again.
        let mut batch: Vec<TransactWriteItem> = Vec::new();
        for d in down {
            let items = self.close_items(d, until)?;
            if batch.len() + items.len() > RECORDS_PER_WRITE {
                self.transact_downtime(std::mem::take(&mut batch)).await?;
            }
            batch.extend(items);
        }
        self.transact_downtime(batch).await
    }

    async fn of_workload(&self, workload: &str) -> Result<Stopped, CloudError> {
        let unreadable =
            |e: serde_json::Error| CloudError::new("dynamodb", "Query", None, format!("unreadable stopped time: {e}"));
        let mut stopped = Stopped::default();
        for item in self.workload_items(partition(workload)).await? {
            let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok());
            if let Some(json) = text(DOWN) {
                stopped.open.push(serde_json::from_str(json).map_err(unreadable)?);
            } else if let Some(json) = text(DAY) {
                let mut total: DayTotal = serde_json::from_str(json).map_err(unreadable)?;
                let seconds = item.get("seconds").and_then(|v| v.as_n().ok());
                total.seconds = seconds.and_then(|v| v.parse().ok()).unwrap_or(total.seconds);
                stopped.days.push(total);
            }
        }
        stopped.open.retain(|d| d.workload == workload);
        stopped.days.retain(|d| d.member.workload == workload);
        Ok(stopped)
    }
}

#[async_trait]
impl PriceCache for DynamoLedger {
    async fn cached(&self, products: &[Product], now: u64) -> Result<PriceTable, CloudError> {
        let mut table = PriceTable::new();
        for p in products {
            let got = self
                .client()
                .get_item()
                .table_name(self.table())
                .key("pk", s(p.key()))
                .send()
                .await
                .map_err(|e| cloud_error("dynamodb", "GetItem", e))?;
            let Some(item) = got.item() else { continue };
            let fresh = item
                .get("expiresAt")
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .is_some_and(|at| at > now);
            let price = item.get(PRICE).and_then(|v| v.as_s().ok());
            if let (true, Some(Ok(price))) = (fresh, price.map(|p| serde_json::from_str::<Price>(p))) {
                table.insert(p.clone(), price);
            }
        }
        Ok(table)
    }

    async fn keep(&self, prices: &PriceTable, now: u64) -> Result<(), CloudError> {
        for (p, price) in prices.iter().filter(|(_, price)| matches!(price, Price::Usd(_))) {
            let json = serde_json::to_string(price).map_err(|e| build_err("PutItem", e))?;
            self.client()
                .put_item()
                .table_name(self.table())
                .item("pk", s(p.key()))
                .item(PRICE, s(json))
                .item("readAt", n(now))
                .item("expiresAt", n(now + PRICE_CACHE_SECS))
                .send()
                .await
                .map_err(|e| cloud_error("dynamodb", "PutItem", e))?;
        }
        Ok(())
    }
}
