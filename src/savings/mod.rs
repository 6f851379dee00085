//! What the schedule saves (issue 34), pure: the stopped time kept for
//! good in the run ledger (a [`Down`] item per member a Stop stopped, closed
//! by the Start into per-member, per-day [`DayTotal`]s), the hours stopped
//! per member and per UTC day (open intervals counted up to `now`, an
//! argument: no clock here), and their price at on-demand list rates from a
//! [`PriceTable`] given as data. What prices a member ([`Facts`]) is read
//! by the scheduler itself at the Stop and kept in its [`Down`] item; a
//! member whose facts were not read is `unknown` with the reason.

mod facts;
mod report;
mod svg;

use std::collections::BTreeMap;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::member::MemberKind;
pub use facts::{engine, parts, usage, usage_prefix, Facts, Storage};
pub use report::{report, BadDays, Report, Row, Window, CAVEATS};

/// Why a member cannot be priced (`Spot: not on-demand`, `no recorded
/// capacity`, ...): shown beside its hours, its money `unknown`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unpriced(pub String);

impl From<String> for Unpriced {
    fn from(reason: String) -> Self {
        Self(reason)
    }
}

impl From<&str> for Unpriced {
    fn from(reason: &str) -> Self {
        Self(reason.to_string())
    }
}

/// A member a Stop stopped, down since `since` (seconds since the epoch),
/// with the facts that price it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Down {
    /// The workload (SpecName).
    pub workload: String,
    /// The member's tier (TierTagValue).
    pub tier: String,
    /// Its account id, or [`crate::records::OWN_ACCOUNT`].
    pub account: String,
    /// The workload's region.
    pub region: String,
    /// Its kind.
    pub kind: MemberKind,
    /// The instance id, database id, group name or `cluster/service`.
    pub id: String,
    /// The instance type (EC2), when known: items written before the
    /// facts were kept priced it as Linux.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_type: Option<String>,
    /// What prices it, as the Stop read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<Facts>,
    /// The desired capacity the Stop recorded (a group's instances, a
    /// service's tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Down since (seconds since the epoch).
    pub since: u64,
}

/// Seconds one member was stopped on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DayTotal {
    /// The member, as it was down (its `since` is the interval's start).
    pub member: Down,
    /// The UTC day.
    pub day: Date,
    /// Seconds stopped on that day.
    pub seconds: u64,
}

/// What the ledger holds of a workload's stopped time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stopped {
    /// Members down now (intervals not closed yet).
    pub open: Vec<Down>,
    /// Closed intervals, per member and day.
    pub days: Vec<DayTotal>,
}

impl Down {
    /// The key of its open item: one per member of a workload.
    pub fn key(&self) -> String {
        crate::key::key("down", &self.parts())
    }

    /// The key of its total on `day`.
    pub fn day_key(&self, day: Date) -> String {
        let day = day.to_string();
        let mut parts = self.parts();
        parts.push(&day);
        crate::key::key("downday", &parts)
    }

    fn parts(&self) -> Vec<&str> {
        vec![&self.workload, &self.account, &self.region, self.kind.name(), &self.id]
    }

    /// The products of one hour of it, each with its quantity, or why it
    /// cannot be priced.
    pub fn products(&self) -> Result<Vec<(Product, f64)>, Unpriced> {
        match (&self.facts, self.kind, &self.instance_type) {
            (Some(facts), _, _) => parts(&self.region, facts, self.count),
            (None, MemberKind::Ec2, Some(t)) => Ok(vec![(Product::ec2(&self.region, t), 1.0)]),
            (None, _, _) => Err("what prices it was not read at the Stop".into()),
        }
    }

    /// Its price per hour from `prices`, or why it is unknown (a product
    /// missing from `prices` is).
    pub fn per_hour(&self, prices: &PriceTable) -> Price {
        let parts = match self.products() {
            Ok(parts) => parts,
            Err(why) => return Price::Unknown(why.0),
        };
        let mut usd = 0.0;
        for (product, quantity) in parts {
            match prices.get(&product) {
                Some(Price::Usd(rate)) => usd += rate * quantity,
                Some(Price::Unknown(why)) => return Price::Unknown(why.clone()),
                None => return Price::Unknown("no price read".into()),
            }
        }
        Price::Usd(usd)
    }

    /// The interval from `since` to `until`, closed into per-day totals.
    pub fn close(&self, until: u64) -> Vec<DayTotal> {
        split_days(self.since, until)
            .into_iter()
            .map(|(day, seconds)| DayTotal {
                member: self.clone(),
                day,
                seconds,
            })
            .collect()
    }
}

/// The seconds of `[since, until)` on each UTC day it touches (none when
/// `until <= since`).
pub fn split_days(since: u64, until: u64) -> Vec<(Date, u64)> {
    let mut out = Vec::new();
    let (Ok(start), Ok(end)) = (epoch(since), epoch(until)) else {
        return out;
    };
    let mut at = start;
    while at < end {
        let day = TimeZone::UTC.to_datetime(at).date();
        let next = day
            .tomorrow()
            .ok()
            .and_then(|d| d.to_zoned_datetime(TimeZone::UTC).ok())
            .map(|z| z.timestamp())
            .unwrap_or(end);
        let stop = next.min(end);
        let secs = stop.as_second() - at.as_second();
        out.push((day, u64::try_from(secs).unwrap_or(0)));
        at = stop;
    }
    out
}

/// The UTC day of `secs` (seconds since the epoch).
pub fn day_of(secs: u64) -> Option<Date> {
    epoch(secs).ok().map(|t| TimeZone::UTC.to_datetime(t).date())
}

fn epoch(secs: u64) -> Result<Timestamp, jiff::Error> {
    Timestamp::from_second(i64::try_from(secs).unwrap_or(i64::MAX))
}

/// A product of the Price List API: a service code, a region code and
/// the TERM_MATCH filters that find it, one path for every kind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    /// The Price List service code (`AmazonEC2`).
    pub service: String,
    /// The region code (`eu-west-1`), the `regionCode` filter.
    pub region: String,
    /// The other TERM_MATCH filters, (field, value), sorted by field.
    pub filters: Vec<(String, String)>,
}

impl Product {
    /// The product of `service` in `region` that `filters` match.
    pub fn new(service: &str, region: &str, filters: &[(&str, &str)]) -> Self {
        let mut filters: Vec<(String, String)> = filters.iter().map(|(f, v)| (f.to_string(), v.to_string())).collect();
        filters.sort();
        Self {
            service: service.into(),
            region: region.into(),
            filters,
        }
    }

    /// A Linux, shared-tenancy, no-pre-installed-software EC2 instance of
    /// `instance_type` in `region`.
    pub fn ec2(region: &str, instance_type: &str) -> Self {
        parts(
            region,
            &Facts::Group {
                instance_type: instance_type.into(),
            },
            Some(1),
        )
        .ok()
        .and_then(|mut p| p.pop())
        .map(|(p, _)| p)
        .unwrap_or_else(|| Self::new("AmazonEC2", region, &[("instanceType", instance_type)]))
    }

    /// Its filters' value of `field`.
    pub fn filter(&self, field: &str) -> Option<&str> {
        self.filters.iter().find(|(f, _)| f == field).map(|(_, v)| v.as_str())
    }

    /// Its cache item's key.
    pub fn key(&self) -> String {
        let filters: Vec<String> = self.filters.iter().map(|(f, v)| format!("{f}={v}")).collect();
        let mut parts = vec![self.service.as_str(), self.region.as_str()];
        parts.extend(filters.iter().map(String::as_str));
        crate::key::key("price", &parts)
    }
}

/// An on-demand list price per hour, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "value")]
pub enum Price {
    /// USD per hour.
    Usd(f64),
    /// Why the price is unknown.
    Unknown(String),
}

/// Prices by product.
pub type PriceTable = BTreeMap<Product, Price>;

/// The products that price `stopped`, each once.
pub fn products(stopped: &Stopped) -> Vec<Product> {
    let open = stopped.open.iter();
    products_of(open.chain(stopped.days.iter().map(|d| &d.member)))
}

/// What the members down in `down` saved from their `since` up to `now`,
/// at the prices of `prices` (a Start's summary: the cache's only).
pub fn since_stop(down: &[Down], prices: &PriceTable, now: u64) -> crate::summary::Saved {
    let mut usd = 0.0;
    let mut unpriced = 0;
    for d in down {
        match d.per_hour(prices) {
            Price::Usd(rate) => usd += rate * now.saturating_sub(d.since) as f64 / 3600.0,
            Price::Unknown(_) => unpriced += 1,
        }
    }
    crate::summary::Saved {
        usd_cents: (usd * 100.0).round() as u64,
        members: down.len(),
        unpriced,
    }
}

/// The products that price `down`, each once.
pub fn products_of<'d>(down: impl Iterator<Item = &'d Down>) -> Vec<Product> {
    let mut all: Vec<Product> = down
        .filter_map(|d| d.products().ok())
        .flatten()
        .map(|(p, _)| p)
        .collect();
    all.sort();
    all.dedup();
    all
}

#[cfg(test)]
mod tests;
