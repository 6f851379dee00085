//! After a Start, once its intervals are closed: the prices the cache
//! lacked for them are read and cached, bounded by the deadline (at most
//! [`REFRESH_LIMIT`]); a price that cannot be read or kept is a warning.
//! (What they saved, from the cache only, the orchestrator already put in
//! the summary and its SNS message: a Price List call never comes before
//! or while a Start acts. A Start that did not, the members it closed
//! having been started by another invocation, says it here.)

use std::time::Duration;

use crate::orchestrator::Budget;
use crate::ports::{Cloud, Prices, PRICE_LIST_NOT_READ};
use crate::savings::{self, Down, Price, PriceTable, Product};
use crate::summary::Saved;

/// The longest the cache is refreshed for after a Start.
pub const REFRESH_LIMIT: Duration = Duration::from_secs(20);

/// The saving of the members whose intervals `closing` ended at `now`
/// (`None` without a price cache), and the warnings.
pub(super) async fn saved(
    cloud: &dyn Cloud,
    budget: &Budget,
    closing: &[Down],
    now: u64,
) -> (Option<Saved>, Vec<String>) {
    let mut warnings = Vec::new();
    let Some(prices) = cloud.prices().filter(|_| !closing.is_empty()) else {
        return (None, warnings);
    };
    let products = savings::products_of(closing.iter());
    let cached = prices.cache.cached(&products, now).await.unwrap_or_else(|e| {
        warnings.push(format!("warning: cached prices not read: {e}"));
        PriceTable::new()
    });
    let saved = savings::since_stop(closing, &cached, now);
    let missing: Vec<Product> = products.into_iter().filter(|p| !cached.contains_key(p)).collect();
    let limit = budget.remaining().min(REFRESH_LIMIT);
    match tokio::time::timeout(limit, refresh(&prices, &missing, now)).await {
        Ok(Ok(None)) => {}
        Ok(Ok(Some(refused))) => warnings.push(format!("warning: prices not read: {refused}")),
        Ok(Err(e)) => warnings.push(format!("warning: prices not cached: {e}")),
        Err(_) => warnings.push("warning: prices not all cached before the deadline".into()),
    }
    (Some(saved), warnings)
}

/// Reads and keeps each price of `missing` in turn (what was read before
/// the deadline stays kept); the first refused Price List call, if any (a
/// product not found or not one is no failure: `orchestrator savings` says
/// why).
async fn refresh(prices: &Prices, missing: &[Product], now: u64) -> Result<Option<String>, crate::error::CloudError> {
    let mut refused = None;
    for p in missing {
        match prices.list.price(p).await {
            Price::Usd(usd) => {
                let read = PriceTable::from([(p.clone(), Price::Usd(usd))]);
                prices.cache.keep(&read, now).await?;
            }
            Price::Unknown(why) if why.starts_with(PRICE_LIST_NOT_READ) => {
                refused.get_or_insert(why);
            }
            Price::Unknown(_) => {}
        }
    }
    Ok(refused)
}
