//! A Start's "saved about $X since the Stop": the intervals it closed,
//! priced from the cache only (a Price List call never comes before or
//! while a Start acts); then, the run done, the cache is refreshed for the
//! products it lacked, bounded by the deadline (at most
//! [`REFRESH_LIMIT`]); a price that cannot be read or kept is a warning.

use std::time::Duration;

use crate::orchestrator::Budget;
use crate::ports::{Cloud, Prices};
use crate::savings::{Down, Price, PriceTable, Product};
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
    let products = products(closing);
    let cached = prices.cache.cached(&products, now).await.unwrap_or_else(|e| {
        warnings.push(format!("warning: cached prices not read: {e}"));
        PriceTable::new()
    });
    let saved = price(closing, &cached, now);
    let missing: Vec<Product> = products.into_iter().filter(|p| !cached.contains_key(p)).collect();
    let limit = budget.remaining().min(REFRESH_LIMIT);
    match tokio::time::timeout(limit, refresh(&prices, &missing, now)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => warnings.push(format!("warning: prices not cached: {e}")),
        Err(_) => warnings.push("warning: prices not all cached before the deadline".into()),
    }
    (Some(saved), warnings)
}

/// The products of `down`, each once.
fn products(down: &[Down]) -> Vec<Product> {
    let mut all: Vec<Product> = down
        .iter()
        .filter_map(|d| d.products().ok())
        .flatten()
        .map(|(p, _)| p)
        .collect();
    all.sort();
    all.dedup();
    all
}

/// What `closing` saved up to `now` at the prices of `cached`.
pub fn price(closing: &[Down], cached: &PriceTable, now: u64) -> Saved {
    let mut usd = 0.0;
    let mut unpriced = 0;
    for d in closing {
        match d.per_hour(cached) {
            Price::Usd(rate) => usd += rate * now.saturating_sub(d.since) as f64 / 3600.0,
            Price::Unknown(_) => unpriced += 1,
        }
    }
    Saved {
        usd_cents: (usd * 100.0).round() as u64,
        members: closing.len(),
        unpriced,
    }
}

/// Reads and keeps each price of `missing` in turn (what was read before
/// the deadline stays kept).
async fn refresh(prices: &Prices, missing: &[Product], now: u64) -> Result<(), crate::error::CloudError> {
    for p in missing {
        let price = prices.list.price(p).await;
        if matches!(price, Price::Usd(_)) {
            prices.cache.keep(&PriceTable::from([(p.clone(), price)]), now).await?;
        }
    }
    Ok(())
}
