//! The stopped time kept for good, in memory (the run ledger table's
//! `down|...` and `downday|...` items), and a Price List answering from a
//! table (moto has no Price List API), counting its calls, and what prices
//! each member (an EC2 instance as the fake knows it, Linux on shared
//! tenancy; any member as a test sets it).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ec2_tier_scheduler::error::CloudError;
use ec2_tier_scheduler::member::{member_id, MemberKind};
use ec2_tier_scheduler::ports::{
    Downtime, PriceCache, PriceFacts, PriceList, Prices, PRICE_CACHE_SECS, PRICE_LIST_NOT_READ,
};
use ec2_tier_scheduler::savings::{DayTotal, Down, Facts, Price, PriceTable, Product, Stopped};

use super::FakeCloud;

/// What the fake ledger keeps.
#[derive(Debug, Default, Clone)]
pub struct Kept {
    /// Open intervals by key.
    pub open: BTreeMap<String, Down>,
    /// Per-day totals by key.
    pub days: BTreeMap<String, DayTotal>,
    /// Cached prices by product key: the price and when it was read.
    pub prices: BTreeMap<String, (Product, Price, u64)>,
    /// What prices a member, by its id in reports (`rds:db-1`).
    pub facts: BTreeMap<String, Facts>,
    /// The Price List runs use to refresh the cache after a Start.
    pub list: FakePriceList,
}

impl FakeCloud {
    /// A cloud whose run ledger keeps the stopped time.
    pub fn keeping_downtime(self) -> Self {
        self.lock().downtime = Some(Kept::default());
        self
    }

    /// What its ledger keeps of the stopped time.
    pub fn kept(&self) -> Kept {
        self.lock().downtime.clone().unwrap_or_default()
    }

    /// Makes `facts` what prices the member of `kind` and `id`.
    pub fn price_facts(&self, kind: MemberKind, id: &str, facts: Facts) {
        let mut s = self.lock();
        let kept = s.downtime.get_or_insert_with(Kept::default);
        kept.facts.insert(member_id(kind, id), facts);
    }

    /// Makes `list` the Price List runs refresh the cache from.
    pub fn price_list(&self, list: FakePriceList) {
        self.lock().downtime.get_or_insert_with(Kept::default).list = list;
    }

    /// The prices of a cloud that keeps the stopped time.
    pub fn fake_prices(&self) -> Option<Prices> {
        let list = self.lock().downtime.as_ref()?.list.clone();
        Some(Prices {
            cache: Arc::new(self.clone()),
            list: Arc::new(list),
        })
    }
}

#[async_trait]
impl PriceFacts for FakeCloud {
    async fn facts(&self, members: &[(MemberKind, String)]) -> Vec<Facts> {
        let s = self.lock();
        let set = s.downtime.as_ref().map(|k| k.facts.clone()).unwrap_or_default();
        members
            .iter()
            .map(
                |(kind, id)| match (set.get(&member_id(*kind, id)), s.instances.get(id)) {
                    (Some(facts), _) => facts.clone(),
                    (None, Some(i)) if *kind == MemberKind::Ec2 => Facts::Instance {
                        instance_type: i.instance_type.clone(),
                        tenancy: "default".into(),
                        usage_operation: "RunInstances".into(),
                        spot: i.spot,
                        storage: Default::default(),
                    },
                    _ => Facts::unknown("no facts in the fake cloud"),
                },
            )
            .collect()
    }
}

#[async_trait]
impl Downtime for FakeCloud {
    async fn open(&self, down: &[Down]) -> Result<(), CloudError> {
        let keys: Vec<String> = down.iter().map(Down::key).collect();
        self.record("TransactWriteItems", &keys).await?;
        let mut s = self.lock();
        let kept = s.downtime.get_or_insert_with(Kept::default);
        for d in down {
            kept.open.entry(d.key()).or_insert_with(|| d.clone());
        }
        Ok(())
    }

    async fn close(&self, down: &[Down], until: u64) -> Result<(), CloudError> {
        let keys: Vec<String> = down.iter().map(Down::key).collect();
        self.record("TransactWriteItems", &keys).await?;
        let mut s = self.lock();
        let kept = s.downtime.get_or_insert_with(Kept::default);
        for d in down {
            if kept.open.get(&d.key()) != Some(d) {
                continue;
            }
            kept.open.remove(&d.key());
            for t in d.close(until) {
                let total = kept.days.entry(d.day_key(t.day)).or_insert_with(|| DayTotal {
                    seconds: 0,
                    ..t.clone()
                });
                total.seconds += t.seconds;
            }
        }
        Ok(())
    }

    async fn of_workload(&self, workload: &str) -> Result<Stopped, CloudError> {
        self.record("Query", &[workload.to_string()]).await?;
        let kept = self.kept();
        Ok(Stopped {
            open: kept.open.into_values().filter(|d| d.workload == workload).collect(),
            days: kept
                .days
                .into_values()
                .filter(|d| d.member.workload == workload)
                .collect(),
        })
    }
}

#[async_trait]
impl PriceCache for FakeCloud {
    async fn cached(&self, products: &[Product], now: u64) -> Result<PriceTable, CloudError> {
        self.record("BatchGetItem", &products.iter().map(Product::key).collect::<Vec<_>>())
            .await?;
        let kept = self.kept();
        Ok(products
            .iter()
            .filter_map(|p| kept.prices.get(&p.key()))
            .filter(|(_, _, at)| at + PRICE_CACHE_SECS > now)
            .map(|(p, price, _)| (p.clone(), price.clone()))
            .collect())
    }

    async fn keep(&self, prices: &PriceTable, now: u64) -> Result<(), CloudError> {
        let keys: Vec<String> = prices.keys().map(Product::key).collect();
        self.record("BatchWriteItem", &keys).await?;
        let mut s = self.lock();
        let kept = s.downtime.get_or_insert_with(Kept::default);
        for (p, price) in prices.iter().filter(|(_, price)| matches!(price, Price::Usd(_))) {
            kept.prices.insert(p.key(), (p.clone(), price.clone(), now));
        }
        Ok(())
    }
}

/// A Price List answering from a table; a product not in it is unknown as
/// the API's "no product matched" would be. Counts its calls.
#[derive(Clone, Default, Debug)]
pub struct FakePriceList {
    pub table: PriceTable,
    pub calls: Arc<Mutex<Vec<Product>>>,
    /// Every call refused with this error (no permission, no access).
    pub refused: Option<String>,
}

#[async_trait]
impl PriceList for FakePriceList {
    async fn price(&self, product: &Product) -> Price {
        self.calls.lock().unwrap().push(product.clone());
        if let Some(e) = &self.refused {
            return Price::Unknown(format!("{PRICE_LIST_NOT_READ}: {e}"));
        }
        self.table
            .get(product)
            .cloned()
            .unwrap_or_else(|| Price::Unknown("no product matched the filters".into()))
    }
}
