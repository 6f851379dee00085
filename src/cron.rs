//! EventBridge Scheduler schedule expressions — `cron(...)` with its six
//! fields (minutes, hours, day-of-month, month, day-of-week, year),
//! `rate(...)` and `at(...)` — and when they next fire in a time zone.
//!
//! Cron syntax as EventBridge documents it: `*`, `,`, `-`, `/`; `?` in
//! exactly one of day-of-month and day-of-week; `L` (last day of the month,
//! or `5L` the last Thursday), `W` (`15W`, the weekday nearest the 15th),
//! `#` (`3#2`, the second Tuesday); months `JAN`-`DEC`, days `SUN`-`SAT`
//! (1 = Sunday); years 1970-2199.

use crate::timezone::{civil_from_days, days_from_civil, Zone};

/// A parsed schedule expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expression {
    /// `cron(...)`.
    Cron(Cron),
    /// `rate(5 minutes)`: when it fires depends on when it was created.
    Rate(String),
    /// `at(2026-11-25T19:00:00)`: once, local wall-clock seconds since the
    /// epoch in the schedule's zone.
    At(i64),
}

/// A six-field cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    day: Day,
    months: Vec<bool>,
    years: Vec<bool>,
}

/// How the day is chosen: by day-of-month or by day-of-week.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Day {
    /// Days of the month (index 1..=31).
    OfMonth(Vec<bool>),
    /// `L`: the last day of the month.
    LastOfMonth,
    /// `15W`: the weekday nearest that day, within the month.
    NearestWeekday(u32),
    /// Days of the week (index 1..=7, 1 = Sunday).
    OfWeek(Vec<bool>),
    /// `5L`: the last such weekday of the month.
    LastWeekday(u32),
    /// `3#2`: the n-th such weekday of the month.
    NthWeekday(u32, u32),
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const FIRST_YEAR: i64 = 1970;
const LAST_YEAR: i64 = 2199;

/// Parses `cron(...)`, `rate(...)` or `at(...)`.
pub fn parse(expression: &str) -> Result<Expression, String> {
    let e = expression.trim();
    let inner = |prefix: &str| e.strip_prefix(prefix).and_then(|r| r.strip_suffix(')')).map(str::trim);
    if let Some(body) = inner("cron(") {
        return Cron::parse(body).map(Expression::Cron);
    }
    if let Some(body) = inner("rate(") {
        return Ok(Expression::Rate(body.to_string()));
    }
    if let Some(body) = inner("at(") {
        return parse_at(body)
            .map(Expression::At)
            .ok_or_else(|| format!("{expression:?}: at() needs yyyy-mm-ddThh:mm:ss"));
    }
    Err(format!("{expression:?} is not cron(...), rate(...) or at(...)"))
}

fn parse_at(text: &str) -> Option<i64> {
    let (date, time) = text.split_once('T')?;
    let d: Vec<u32> = date.split('-').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let t: Vec<i64> = time.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    if d.len() != 3 || t.len() != 3 {
        return None;
    }
    Some(days_from_civil(i64::from(d[0]), d[1], d[2]) * 86_400 + t[0] * 3600 + t[1] * 60 + t[2])
}

/// Values of one field: `*`, lists, ranges and steps, names allowed.
fn field(text: &str, lo: u32, hi: u32, names: &[&str]) -> Result<Vec<bool>, String> {
    let value = |s: &str| -> Result<u32, String> {
        let upper = s.to_ascii_uppercase();
        if let Some(i) = names.iter().position(|n| *n == upper) {
            return Ok(lo + i as u32);
        }
        let v: u32 = s.parse().map_err(|_| format!("{s:?} is not a value of {lo}-{hi}"))?;
        if (lo..=hi).contains(&v) {
            Ok(v)
        } else {
            Err(format!("{v} is outside {lo}-{hi}"))
        }
    };
    let mut set = vec![false; hi as usize + 1];
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or(format!("bad step in {part:?}"))?,
            ),
            None => (part, 1),
        };
        let (from, to) = match range {
            "*" => (lo, hi),
            r => match r.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                // `5/15`: from 5 to the end, every 15.
                None if part.contains('/') => (value(r)?, hi),
                None => (value(r)?, value(r)?),
            },
        };
        if from > to {
            return Err(format!("range {part:?} runs backwards"));
        }
        for v in (from..=to).step_by(step as usize) {
            set[v as usize] = true;
        }
    }
    Ok(set)
}

impl Cron {
    /// Parses the six fields inside `cron(...)`.
    pub fn parse(body: &str) -> Result<Self, String> {
        let f: Vec<&str> = body.split_whitespace().collect();
        let [minutes, hours, dom, months, dow, years] = f.as_slice() else {
            return Err(format!("cron({body}) needs six fields, has {}", f.len()));
        };
        let day = match (*dom, *dow) {
            ("?", "?") => return Err("day-of-month and day-of-week cannot both be ?".into()),
            ("?", d) => {
                let upper = d.to_ascii_uppercase();
                if let Some((day, n)) = upper.split_once('#') {
                    let n: u32 = n
                        .parse()
                        .ok()
                        .filter(|n| (1..=5).contains(n))
                        .ok_or("bad # in day-of-week")?;
                    Day::NthWeekday(weekday(day)?, n)
                } else if upper == "L" {
                    Day::LastWeekday(7)
                } else if let Some(day) = upper.strip_suffix('L') {
                    Day::LastWeekday(weekday(day)?)
                } else {
                    Day::OfWeek(field(d, 1, 7, &WEEKDAYS)?)
                }
            }
            (d, "?") => {
                let upper = d.to_ascii_uppercase();
                if upper == "L" {
                    Day::LastOfMonth
                } else if let Some(n) = upper.strip_suffix('W') {
                    Day::NearestWeekday(
                        n.parse()
                            .ok()
                            .filter(|n| (1..=31).contains(n))
                            .ok_or("bad W in day-of-month")?,
                    )
                } else {
                    Day::OfMonth(field(d, 1, 31, &[])?)
                }
            }
            _ => return Err("one of day-of-month and day-of-week must be ?".into()),
        };
        Ok(Self {
            minutes: field(minutes, 0, 59, &[])?,
            hours: field(hours, 0, 23, &[])?,
            day,
            months: field(months, 1, 12, &MONTHS)?,
            years: field(years, FIRST_YEAR as u32, LAST_YEAR as u32, &[])?,
        })
    }

    fn year_matches(&self, year: i64) -> bool {
        (FIRST_YEAR..=LAST_YEAR).contains(&year) && self.years[year as usize]
    }

    fn date_matches(&self, year: i64, month: u32, day: u32) -> bool {
        if !self.year_matches(year) || !self.months[month as usize] {
            return false;
        }
        let days = days_from_civil(year, month, day);
        let weekday = ((days + 4).rem_euclid(7) + 1) as u32; // 1 = Sunday
        let last = month_length(year, month);
        match &self.day {
            Day::OfMonth(set) => set[day as usize],
            Day::LastOfMonth => day == last,
            Day::NearestWeekday(n) => nearest_weekday(year, month, (*n).min(last)) == day,
            Day::OfWeek(set) => set[weekday as usize],
            Day::LastWeekday(w) => *w == weekday && day + 7 > last,
            Day::NthWeekday(w, n) => *w == weekday && (day - 1) / 7 + 1 == *n,
        }
    }

    /// The first time after `after` (seconds since the epoch, UTC) that
    /// matches in `zone`, within ten years.
    pub fn next_after(&self, zone: &Zone, after: i64) -> Option<i64> {
        let limit = after + 10 * 366 * 86_400;
        let mut t = (after.div_euclid(60) + 1) * 60;
        while t < limit {
            let local = t + zone.offset_at(t);
            let (days, second) = (local.div_euclid(86_400), local.rem_euclid(86_400));
            let (year, month, day) = civil_from_days(days);
            if !self.year_matches(year) {
                t += (days_from_civil(year + 1, 1, 1) - days) * 86_400 - second;
                continue;
            }
            if !self.date_matches(year, month, day) {
                t += 86_400 - second;
                continue;
            }
            if !self.hours[(second / 3600) as usize] {
                t += 3600 - second % 3600;
                continue;
            }
            if !self.minutes[(second % 3600 / 60) as usize] {
                t += 60 - second % 60;
                continue;
            }
            return Some(t);
        }
        None
    }
}

fn weekday(text: &str) -> Result<u32, String> {
    field(text, 1, 7, &WEEKDAYS)?
        .iter()
        .position(|on| *on)
        .map(|i| i as u32)
        .ok_or_else(|| format!("{text:?} is not a day of the week"))
}

fn month_length(year: i64, month: u32) -> u32 {
    let next = if month == 12 {
        days_from_civil(year + 1, 1, 1)
    } else {
        days_from_civil(year, month + 1, 1)
    };
    (next - days_from_civil(year, month, 1)) as u32
}

/// The weekday nearest day `n`, not leaving the month (Quartz's `W`).
fn nearest_weekday(year: i64, month: u32, n: u32) -> u32 {
    let weekday = (days_from_civil(year, month, n) + 4).rem_euclid(7); // 0 = Sunday
    match weekday {
        6 if n == 1 => 3,                             // Saturday the 1st: Monday the 3rd
        6 => n - 1,                                   // Saturday: Friday
        0 if n == month_length(year, month) => n - 2, // Sunday the last: Friday
        0 => n + 1,                                   // Sunday: Monday
        _ => n,
    }
}

impl Expression {
    /// The next `count` times it fires after `now` in `zone`, UTC seconds
    /// since the epoch; empty for `rate(...)` and a past `at(...)`.
    pub fn next(&self, zone: &Zone, now: i64, count: usize) -> Vec<i64> {
        match self {
            Self::Cron(cron) => {
                let mut out = Vec::new();
                let mut t = now;
                while out.len() < count {
                    match cron.next_after(zone, t) {
                        Some(next) => {
                            out.push(next);
                            t = next;
                        }
                        None => break,
                    }
                }
                out
            }
            Self::Rate(_) => Vec::new(),
            Self::At(local) => {
                let at = zone.to_utc(*local);
                if at > now {
                    vec![at]
                } else {
                    Vec::new()
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(y: i64, mo: u32, d: u32, h: i64, mi: i64) -> i64 {
        days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60
    }

    fn cron(body: &str) -> Cron {
        Cron::parse(body).unwrap_or_else(|e| panic!("{body}: {e}"))
    }

    const UTC: Zone = Zone::Fixed(0);

    #[test]
    fn weekday_evenings_skip_the_weekend() {
        let c = cron("0 19 ? * MON-FRI *");
        // Friday 2026-11-27 20:00 UTC -> Monday 30th 19:00.
        assert_eq!(
            c.next_after(&UTC, utc(2026, 11, 27, 20, 0)),
            Some(utc(2026, 11, 30, 19, 0))
        );
        // Exactly at a firing time: the next one, not the same.
        assert_eq!(
            c.next_after(&UTC, utc(2026, 11, 30, 19, 0)),
            Some(utc(2026, 12, 1, 19, 0))
        );
        assert_eq!(cron("0 19 ? * 2-6 *"), c, "1 = Sunday");
    }

    #[test]
    fn steps_lists_and_years() {
        let c = cron("0/15 8,12 * * ? *");
        assert_eq!(c.next_after(&UTC, utc(2026, 1, 1, 8, 20)), Some(utc(2026, 1, 1, 8, 30)));
        assert_eq!(c.next_after(&UTC, utc(2026, 1, 1, 8, 50)), Some(utc(2026, 1, 1, 12, 0)));
        let once = cron("30 6 1 JAN ? 2030");
        assert_eq!(
            once.next_after(&UTC, utc(2026, 6, 1, 0, 0)),
            Some(utc(2030, 1, 1, 6, 30))
        );
        assert_eq!(once.next_after(&UTC, utc(2030, 1, 1, 6, 30)), None);
    }

    #[test]
    fn last_nearest_and_nth_days() {
        assert_eq!(
            cron("0 0 L * ? *").next_after(&UTC, utc(2028, 2, 1, 0, 0)),
            Some(utc(2028, 2, 29, 0, 0)),
            "leap year"
        );
        // 2026-11-15 is a Sunday: 15W fires Monday the 16th.
        assert_eq!(
            cron("0 9 15W * ? *").next_after(&UTC, utc(2026, 11, 1, 0, 0)),
            Some(utc(2026, 11, 16, 9, 0))
        );
        // The second Tuesday of December 2026 is the 8th.
        assert_eq!(
            cron("0 9 ? * 3#2 *").next_after(&UTC, utc(2026, 12, 1, 0, 0)),
            Some(utc(2026, 12, 8, 9, 0))
        );
        // The last Friday of November 2026 is the 27th.
        assert_eq!(
            cron("0 9 ? * 6L *").next_after(&UTC, utc(2026, 11, 1, 0, 0)),
            Some(utc(2026, 11, 27, 9, 0))
        );
    }

    #[test]
    fn times_are_local_to_the_zone() {
        let new_york = Zone::Fixed(-5 * 3600);
        assert_eq!(
            cron("0 7 * * ? *").next_after(&new_york, utc(2026, 12, 1, 0, 0)),
            Some(utc(2026, 12, 1, 12, 0))
        );
    }

    #[test]
    fn bad_expressions_say_why() {
        for bad in [
            "0 19 * * MON-FRI *",
            "0 19 ? * ? *",
            "0 25 ? * MON *",
            "0 19 ? *",
            "61 1 * * ? *",
            "0 1 5-2 * ? *",
        ] {
            assert!(Cron::parse(bad).is_err(), "{bad}");
        }
        assert!(parse("every day").is_err());
        assert_eq!(parse("rate(5 minutes)").unwrap(), Expression::Rate("5 minutes".into()));
        let at = parse("at(2026-11-25T19:02:03)").unwrap();
        assert_eq!(
            at.next(&UTC, utc(2026, 11, 25, 0, 0), 3),
            vec![utc(2026, 11, 25, 19, 2) + 3]
        );
        assert!(at.next(&UTC, utc(2027, 1, 1, 0, 0), 3).is_empty());
    }
}
