//! The ports of what the schedule saves ([`crate::savings`]): the stopped
//! time kept for good in the run ledger table, the Price List API, the
//! prices cached in the ledger table, and what prices a member, read where
//! the workload lives.

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::CloudError;
use crate::member::MemberKind;
use crate::savings::{Down, Facts, Price, PriceTable, Product, Stopped};

/// The stopped time of workloads, in the run ledger table (items with no
/// `expiresAt`: a month's report needs them for good).
#[async_trait]
pub trait Downtime: Send + Sync {
    /// Marks each member down since its `since`; a member already down
    /// keeps its earlier `since`. Batched, [`crate::records::RECORDS_PER_WRITE`]
    /// items per write at most.
    async fn open(&self, down: &[Down]) -> Result<(), CloudError>;
    /// Closes each interval (as [`Stopped::open`] holds it) at `until`:
    /// removes it, only if it is still that interval, and adds its seconds
    /// to the member's per-day totals, one write per member's days.
    async fn close(&self, down: &[Down], until: u64) -> Result<(), CloudError>;
    /// Everything kept of `workload`: the open intervals and the per-day
    /// totals.
    async fn of_workload(&self, workload: &str) -> Result<Stopped, CloudError>;
}

/// How a [`PriceList`] begins the reason of a price it could not ask for
/// (a refused or failed call), as against a product not found.
pub const PRICE_LIST_NOT_READ: &str = "Price List not read";

/// On-demand list prices (the AWS Price List API).
#[async_trait]
pub trait PriceList: Send + Sync {
    /// The price of one hour of `product`, or why it is unknown (no
    /// permission, no product or more than one matched): never an error.
    async fn price(&self, product: &Product) -> Price;
}

/// Prices cached in the run ledger table, one item per product, kept 30
/// days ([`PRICE_CACHE_SECS`]).
#[async_trait]
pub trait PriceCache: Send + Sync {
    /// The cached prices of `products` not expired at `now`.
    async fn cached(&self, products: &[Product], now: u64) -> Result<PriceTable, CloudError>;
    /// Keeps the known prices of `prices`, read at `now`.
    async fn keep(&self, prices: &PriceTable, now: u64) -> Result<(), CloudError>;
}

/// How long a cached price is kept: 30 days.
pub const PRICE_CACHE_SECS: u64 = 30 * 86_400;

/// The prices of the scheduler's own account: the Price List and its
/// cache in the run ledger table.
#[derive(Clone)]
pub struct Prices {
    /// Prices cached in the run ledger table.
    pub cache: Arc<dyn PriceCache>,
    /// The Price List API.
    pub list: Arc<dyn PriceList>,
}

/// What prices the members a Stop stopped, read in the workload's account
/// and region after the run acted ([`Facts`]): instance types, tenancy and
/// `UsageOperation`, database classes, engines and deployments, the
/// instances of clusters, groups' launch templates and services' task
/// definitions.
#[async_trait]
pub trait PriceFacts: Send + Sync {
    /// The facts of each of `members` (kind, resource id), in order: a
    /// member whose facts cannot be read is [`Facts::Unknown`] with the
    /// reason, never an error.
    async fn facts(&self, members: &[(MemberKind, String)]) -> Vec<Facts>;
}
