//! The saving of a window of days: hours stopped and on-demand money per
//! tier and kind, per day, the unknowns with their reasons, and what the
//! figures do not see.

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::Date;
use jiff::ToSpan;
use serde::Serialize;

use super::{split_days, Down, Price, PriceTable, Stopped, Storage};
use crate::member::MemberKind;

/// What every output says beside the figures.
pub const CAVEATS: &[&str] = &[
    "Savings are at on-demand list prices (AWS Price List): Reserved Instances, \
     Savings Plans, Spot and negotiated discounts are not seen, so a stop covered \
     by a reservation saves less.",
    "Still billed while stopped, not subtracted: EBS volumes (and their snapshots) \
     of stopped instances, RDS and cluster storage and backups, Elastic IPs.",
    "Groups and node groups are priced as Linux instances of their type; a member \
     whose price cannot be told (Spot, Aurora Serverless v2, mixed instances, ECS on \
     EC2) shows its hours with its money unknown, and why.",
];

/// The UTC days counted: `from` up to, not including, `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    /// The first day.
    pub from: Date,
    /// The day after the last.
    pub to: Date,
}

/// A `--month` or `--since` that names no day, or days past the calendar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadDays(String);

impl Window {
    /// The days of `month` (`2026-11`), or from `since` (`2026-11-15`) up
    /// to `today`, or of this month by default (`orchestrator savings`).
    pub fn of(month: Option<&str>, since: Option<&str>, today: Date) -> Result<Self, BadDays> {
        let beyond = |e: jiff::Error| BadDays(e.to_string());
        let tomorrow = today.tomorrow().map_err(beyond)?;
        if let Some(since) = since {
            let from: Date = since
                .parse()
                .map_err(|e| BadDays(format!("--since takes a day such as 2026-11-15: {e}")))?;
            return Ok(Self {
                from,
                to: tomorrow.max(from),
            });
        }
        let from = match month {
            Some(m) => format!("{m}-01")
                .parse::<Date>()
                .map_err(|e| BadDays(format!("--month takes a month such as 2026-11: {e}")))?,
            None => today.first_of_month(),
        };
        let to = from.checked_add(1.month()).map_err(beyond)?;
        Ok(Self { from, to })
    }

    fn holds(&self, day: Date) -> bool {
        self.from <= day && day < self.to
    }
}

/// One tier and kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    /// The tier.
    pub tier: String,
    /// The kind (`EC2`, `RDS`, ...).
    pub kind: String,
    /// Hours its members were stopped in the window.
    pub hours: f64,
    /// USD saved by the members whose price is known.
    pub saved_usd: f64,
    /// Members whose money is unknown, with the reason (`i-1: ...`).
    pub unknown: Vec<String>,
    /// What still bills while these members are stopped, with the sizes
    /// the Stops read (`EBS volumes: gp3 300 GiB`).
    pub still_billed: String,
    /// The storage behind it, GiB per volume or storage type, each member
    /// counted once (empty when the Stops read none).
    pub storage_gib: Storage,
}

/// The saving of a workload in a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The workload.
    pub workload: String,
    /// The days counted.
    pub window: Window,
    /// Per tier and kind, by tier then kind.
    pub rows: Vec<Row>,
    /// Hours stopped in all.
    pub hours: f64,
    /// USD saved in all (known prices only).
    pub saved_usd: f64,
    /// USD saved per day (known prices only).
    pub per_day: BTreeMap<Date, f64>,
    /// What the figures do not see.
    pub caveats: Vec<&'static str>,
}

fn still_billed(kind: MemberKind) -> &'static str {
    match kind {
        MemberKind::Ec2 => "EBS volumes",
        MemberKind::Ecs => "nothing of the tasks",
        MemberKind::Asg | MemberKind::Eks => "EBS volumes of kept instances, if any",
        _ => "storage and backups",
    }
}

/// The report of `stopped` in `window`, open intervals counted up to
/// `now`, priced by `prices` (a product missing from it is unknown).
pub fn report(workload: &str, stopped: &Stopped, now: u64, window: Window, prices: &PriceTable) -> Report {
    let mut seconds: Vec<(&Down, Date, u64)> = stopped.days.iter().map(|d| (&d.member, d.day, d.seconds)).collect();
    for down in &stopped.open {
        let days = split_days(down.since, now);
        // Down since this very second: shown, with no hours yet.
        let just_now = days.is_empty().then(|| super::day_of(down.since)).flatten();
        seconds.extend(just_now.map(|day| (down, day, 0)));
        seconds.extend(days.into_iter().map(|(day, s)| (down, day, s)));
    }
    let mut rows: BTreeMap<(String, &'static str), Row> = BTreeMap::new();
    let mut per_day = BTreeMap::new();
    let mut stored = BTreeSet::new();
    for (down, day, secs) in seconds.into_iter().filter(|(_, day, _)| window.holds(*day)) {
        let hours = secs as f64 / 3600.0;
        let row = rows
            .entry((down.tier.clone(), down.kind.name()))
            .or_insert_with(|| Row {
                tier: down.tier.clone(),
                kind: down.kind.name().to_string(),
                hours: 0.0,
                saved_usd: 0.0,
                unknown: Vec::new(),
                still_billed: still_billed(down.kind).to_string(),
                storage_gib: Storage::new(),
            });
        row.hours += hours;
        if let Some(storage) = down.facts.as_ref().and_then(|f| f.storage()) {
            if stored.insert(down.key()) {
                for (kind, gib) in storage {
                    *row.storage_gib.entry(kind.clone()).or_default() += gib;
                }
            }
        }
        match down.per_hour(prices) {
            Price::Usd(per_hour) => {
                row.saved_usd += per_hour * hours;
                *per_day.entry(day).or_insert(0.0) += per_hour * hours;
            }
            Price::Unknown(why) => {
                let label = crate::member::member_id(down.kind, &down.id);
                let line = format!("{label}: {why}");
                if !row.unknown.contains(&line) {
                    row.unknown.push(line);
                }
            }
        }
    }
    let mut rows: Vec<Row> = rows.into_values().collect();
    for row in rows.iter_mut().filter(|r| !r.storage_gib.is_empty()) {
        let sizes: Vec<String> = row
            .storage_gib
            .iter()
            .map(|(k, gib)| format!("{k} {gib} GiB"))
            .collect();
        row.still_billed = format!("{}: {}", row.still_billed, sizes.join(", "));
    }
    Report {
        workload: workload.to_string(),
        window,
        hours: rows.iter().map(|r| r.hours).sum(),
        saved_usd: rows.iter().map(|r| r.saved_usd).sum(),
        rows,
        per_day,
        caveats: CAVEATS.to_vec(),
    }
}

impl Report {
    /// A table per tier and kind, the unknowns and the caveats.
    pub fn to_table(&self) -> String {
        let last = self.window.to.yesterday().unwrap_or(self.window.to);
        let mut out = format!(
            "Savings of {} from {} to {} (UTC days)\n\n",
            self.workload, self.window.from, last
        );
        out.push_str(&format!(
            "{:<20} {:<10} {:>12} {:>12}  {}\n",
            "TIER", "KIND", "HOURS", "SAVED (USD)", "STILL BILLED"
        ));
        for r in &self.rows {
            let saved = match (r.saved_usd, r.unknown.is_empty()) {
                (s, true) => format!("{s:.2}"),
                (s, false) if s > 0.0 => format!("{s:.2}+?"),
                _ => "unknown".to_string(),
            };
            out.push_str(&format!(
                "{:<20} {:<10} {:>12.1} {:>12}  {}\n",
                r.tier, r.kind, r.hours, saved, r.still_billed
            ));
        }
        out.push_str(&format!(
            "{:<20} {:<10} {:>12.1} {:>12.2}\n",
            "total", "", self.hours, self.saved_usd
        ));
        let unknown = self.unknown_by_reason();
        if !unknown.is_empty() {
            out.push_str("\nunknown (hours counted, money not), by reason:\n");
            for (why, members) in unknown {
                out.push_str(&format!("  {why}\n    {}\n", members.join(", ")));
            }
        }
        out.push('\n');
        for c in &self.caveats {
            out.push_str(&format!("note: {c}\n"));
        }
        out
    }

    /// The unknown members of every row grouped by their reason, reasons in
    /// the order first met: one Price List failure names every member once,
    /// not once per member. A line is `member: reason`; a member label
    /// ([`crate::member::member_id`]) never holds ": ".
    fn unknown_by_reason(&self) -> Vec<(&str, Vec<&str>)> {
        let mut grouped: Vec<(&str, Vec<&str>)> = Vec::new();
        for line in self.rows.iter().flat_map(|r| &r.unknown) {
            let (member, why) = line.split_once(": ").unwrap_or(("", line));
            match grouped.iter_mut().find(|(w, _)| *w == why) {
                Some((_, members)) => members.push(member),
                None => grouped.push((why, vec![member])),
            }
        }
        grouped
    }
}
