//! Where configuration lives: the workload and tier items (DynamoDB) and
//! the original's `WorkloadState` table.

use async_trait::async_trait;

use crate::config::WorkloadItems;
use crate::error::CloudError;

/// A row of the original's `WorkloadState` table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct WorkloadState {
    /// `Start`, `Stop` or `Unmanaged`.
    pub last_action_type: String,
    /// `%Y-%m-%d %H:%M:%S` (UTC), the original's format.
    pub last_action_time: String,
    /// The profile of the last Start, when it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

/// What reading the `WorkloadState` table found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateLookup {
    /// The workload's row.
    Found(WorkloadState),
    /// The table has no row for the workload.
    Missing,
    /// The table does not exist (its name): runs go on without it.
    NoTable(String),
}

/// Where configuration lives (DynamoDB).
#[async_trait]
pub trait ConfigStore: Send + Sync {
    /// The items of one workload, or `None` when it has no workload item.
    async fn load(&self, workload: &str) -> Result<Option<WorkloadItems>, CloudError>;
    /// Writes a workload's items (import). Callers validate first.
    async fn save(&self, items: &WorkloadItems) -> Result<(), CloudError>;
    /// The `SpecName` of every workload item (a Scan of the names only):
    /// which workload an RDS event's database belongs to.
    async fn workloads(&self) -> Result<Vec<String>, CloudError>;
    /// A description of where items are read, for error messages.
    fn location(&self) -> String;
    /// The workload's `WorkloadState` row.
    async fn load_state(&self, workload: &str) -> Result<StateLookup, CloudError>;
    /// Writes the workload's `WorkloadState` row; `Ok(Some(table))` when the
    /// table does not exist (nothing written).
    async fn save_state(&self, workload: &str, state: &WorkloadState) -> Result<Option<String>, CloudError>;
}
