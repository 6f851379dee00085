//! DynamoDB configuration store: the seed's two tables.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use serde_json::{Map, Number, Value};

use super::cloud_error;
use crate::config::WorkloadItems;
use crate::error::CloudError;
use crate::ports::{ConfigStore, StateLookup, WorkloadState};

/// Table names, from `WORKLOAD_SPEC_TABLE` / `TIER_SPEC_TABLE` /
/// `WORKLOAD_STATE_TABLE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    /// WorkloadSpecification table.
    pub workload: String,
    /// TierSpecification table.
    pub tier: String,
    /// WorkloadState table (the original's last-action record).
    pub state: String,
}

impl Tables {
    /// Names from the environment, defaulting to the seed's.
    pub fn from_env() -> Self {
        let var = |k: &str, d: &str| {
            std::env::var(k)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| d.to_string())
        };
        Self {
            workload: var("WORKLOAD_SPEC_TABLE", "WorkloadSpecification"),
            tier: var("TIER_SPEC_TABLE", "TierSpecification"),
            state: var("WORKLOAD_STATE_TABLE", "WorkloadState"),
        }
    }
}

impl Default for Tables {
    fn default() -> Self {
        Self {
            workload: "WorkloadSpecification".into(),
            tier: "TierSpecification".into(),
            state: "WorkloadState".into(),
        }
    }
}

/// [`ConfigStore`] on a DynamoDB client.
#[derive(Clone, Debug)]
pub struct DynamoConfigStore {
    client: Client,
    tables: Tables,
}

impl DynamoConfigStore {
    /// Wraps a client for the configuration's region.
    pub fn new(client: Client, tables: Tables) -> Self {
        Self { client, tables }
    }

    async fn tier_keys(&self, workload: &str) -> Result<Vec<String>, CloudError> {
        let items = self.query_tiers(workload, Some("TierTagValue")).await?;
        Ok(items
            .iter()
            .filter_map(|i| i.get("TierTagValue").and_then(Value::as_str))
            .map(str::to_string)
            .collect())
    }

    async fn query_tiers(&self, workload: &str, projection: Option<&str>) -> Result<Vec<Value>, CloudError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.tables.tier)
            .key_condition_expression("SpecName = :w")
            .expression_attribute_values(":w", AttributeValue::S(workload.to_string()))
            .set_projection_expression(projection.map(str::to_string))
            .consistent_read(true)
            .into_paginator()
            .send();
        let mut tiers = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| cloud_error("dynamodb", "Query", e))?;
            tiers.extend(page.items().iter().map(item_to_json));
        }
        Ok(tiers)
    }
}

#[async_trait]
impl ConfigStore for DynamoConfigStore {
    async fn workloads(&self) -> Result<Vec<String>, CloudError> {
        let mut pages = self
            .client
            .scan()
            .table_name(&self.tables.workload)
            .projection_expression("SpecName")
            .into_paginator()
            .send();
        let mut names = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| cloud_error("dynamodb", "Scan", e))?;
            names.extend(page.items().iter().filter_map(|item| match item.get("SpecName") {
                Some(AttributeValue::S(name)) => Some(name.clone()),
                _ => None,
            }));
        }
        names.sort();
        Ok(names)
    }

    async fn load(&self, workload: &str) -> Result<Option<WorkloadItems>, CloudError> {
        let item = self
            .client
            .get_item()
            .table_name(&self.tables.workload)
            .key("SpecName", AttributeValue::S(workload.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| cloud_error("dynamodb", "GetItem", e))?;
        let Some(item) = item.item() else {
            return Ok(None);
        };
        let tiers = self.query_tiers(workload, None).await?;
        Ok(Some(WorkloadItems {
            workload: item_to_json(item),
            tiers,
        }))
    }

    async fn save(&self, items: &WorkloadItems) -> Result<(), CloudError> {
        let workload = items
            .workload
            .get("SpecName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let keep: Vec<&str> = items
            .tiers
            .iter()
            .filter_map(|t| t.get("TierTagValue").and_then(Value::as_str))
            .collect();
        let mut writes = Vec::new();
        let put = |table: &str, value: &Value| -> Result<TransactWriteItem, CloudError> {
            let Some(AttributeValue::M(item)) = Some(json_to_attr(value)) else {
                return Err(CloudError::new(
                    "dynamodb",
                    "TransactWriteItems",
                    None,
                    "item is not a map",
                ));
            };
            let put = Put::builder()
                .table_name(table)
                .set_item(Some(item))
                .build()
                .map_err(|e| CloudError::new("dynamodb", "TransactWriteItems", None, e.to_string()))?;
            Ok(TransactWriteItem::builder().put(put).build())
        };
        writes.push(put(&self.tables.workload, &items.workload)?);
        for tier in &items.tiers {
            writes.push(put(&self.tables.tier, tier)?);
        }
        // Tiers no longer in the document are removed in the same transaction,
        // so the table holds exactly what was imported.
        for stale in self
            .tier_keys(&workload)
            .await?
            .into_iter()
            .filter(|k| !keep.contains(&k.as_str()))
        {
            let delete = Delete::builder()
                .table_name(&self.tables.tier)
                .key("SpecName", AttributeValue::S(workload.clone()))
                .key("TierTagValue", AttributeValue::S(stale))
                .build()
                .map_err(|e| CloudError::new("dynamodb", "TransactWriteItems", None, e.to_string()))?;
            writes.push(TransactWriteItem::builder().delete(delete).build());
        }
        if writes.len() > 100 {
            return Err(CloudError::new(
                "dynamodb",
                "TransactWriteItems",
                None,
                format!("{} writes exceed DynamoDB's 100-item transaction limit", writes.len()),
            ));
        }
        self.client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| cloud_error("dynamodb", "TransactWriteItems", e))
    }

    fn location(&self) -> String {
        self.tables.workload.clone()
    }

    async fn load_state(&self, workload: &str) -> Result<StateLookup, CloudError> {
        let result = self
            .client
            .get_item()
            .table_name(&self.tables.state)
            .key("Workload", AttributeValue::S(workload.to_string()))
            .consistent_read(true)
            .send()
            .await;
        let output = match result {
            Ok(o) => o,
            Err(e) => {
                let e = cloud_error("dynamodb", "GetItem", e);
                if e.code.as_deref() == Some("ResourceNotFoundException") {
                    return Ok(StateLookup::NoTable(self.tables.state.clone()));
                }
                return Err(e);
            }
        };
        let Some(item) = output.item() else {
            return Ok(StateLookup::Missing);
        };
        let text = |k: &str| match item.get(k) {
            Some(AttributeValue::S(s)) => Some(s.clone()),
            Some(AttributeValue::N(n)) => Some(n.clone()),
            _ => None,
        };
        Ok(StateLookup::Found(WorkloadState {
            last_action_type: text("LastActionType").unwrap_or_default(),
            last_action_time: text("LastActionTime").unwrap_or_default(),
            profile: text("Profile"),
        }))
    }

    async fn save_state(&self, workload: &str, state: &WorkloadState) -> Result<Option<String>, CloudError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.tables.state)
            .item("Workload", AttributeValue::S(workload.to_string()))
            .item("LastActionType", AttributeValue::S(state.last_action_type.clone()))
            .item("LastActionTime", AttributeValue::S(state.last_action_time.clone()));
        if let Some(p) = &state.profile {
            request = request.item("Profile", AttributeValue::S(p.clone()));
        }
        match request.send().await {
            Ok(_) => Ok(None),
            Err(e) => {
                let e = cloud_error("dynamodb", "PutItem", e);
                if e.code.as_deref() == Some("ResourceNotFoundException") {
                    Ok(Some(self.tables.state.clone()))
                } else {
                    Err(e)
                }
            }
        }
    }
}

/// A DynamoDB item as JSON: strings stay strings (the seed's typing), numbers
/// become numbers, sets become lists.
pub fn item_to_json(item: &HashMap<String, AttributeValue>) -> Value {
    Value::Object(
        item.iter()
            .map(|(k, v)| (k.clone(), attr_to_json(v)))
            .collect::<Map<_, _>>(),
    )
}

fn attr_to_json(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => n
            .parse::<i64>()
            .map(Value::from)
            .ok()
            .or_else(|| n.parse::<f64>().ok().and_then(Number::from_f64).map(Value::Number))
            .unwrap_or_else(|| Value::String(n.clone())),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::M(m) => item_to_json(m),
        AttributeValue::L(l) => Value::Array(l.iter().map(attr_to_json).collect()),
        AttributeValue::Ss(s) => Value::Array(s.iter().cloned().map(Value::String).collect()),
        AttributeValue::Ns(s) => Value::Array(s.iter().cloned().map(Value::String).collect()),
        // Binary values have no place in the schema; an array marks the
        // attribute as the wrong type for validation to report.
        _ => Value::Array(Vec::new()),
    }
}

/// JSON to a DynamoDB attribute, the inverse of [`item_to_json`].
pub fn json_to_attr(value: &Value) -> AttributeValue {
    match value {
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Null => AttributeValue::Null(true),
        Value::Array(a) => AttributeValue::L(a.iter().map(json_to_attr).collect()),
        Value::Object(m) => AttributeValue::M(m.iter().map(|(k, v)| (k.clone(), json_to_attr(v))).collect()),
    }
}
