//! EventBridge Scheduler schedule expressions — `cron(...)` with its six
//! fields (minutes, hours, day-of-month, month, day-of-week, year),
//! `rate(...)` and `at(...)` — and when they next fire in a time zone.
//!
//! Cron syntax as EventBridge documents it: `*`, `,`, `-`, `/`; `?` in
//! exactly one of day-of-month and day-of-week; `L` (the last day of the
//! month in day-of-month; alone in day-of-week the last day of the week,
//! Saturday; `5L` the last Thursday of the month), `W` (`15W`, the weekday
//! nearest the 15th, never leaving the month), `#` (`3#2`, the second
//! Tuesday); months `JAN`-`DEC`, days `SUN`-`SAT` (1 = Sunday, so `2-6` is
//! Monday to Friday); years 1970-2199.
//!
//! Why this is written here and not taken from a crate: no maintained crate
//! reads EventBridge's dialect as it is (`croner` 4 comes closest, but has
//! POSIX `?`/`L` meanings, runs a time skipped by daylight saving after the
//! gap where EventBridge skips it, and builds on jiff 0.2 beside our jiff 1).
//! So the parser below is ours, and all calendar and time zone work is
//! jiff's: the evaluator walks civil dates in the schedule's zone, matches
//! the day fields on the civil date, and turns each matching wall-clock time
//! into an instant with jiff's tz database (bundled, so no
//! `/usr/share/zoneinfo` is needed).
//!
//! Daylight saving, as EventBridge Scheduler documents it: a wall-clock
//! time that does not exist (the hour skipped when clocks go forward) is
//! skipped — that day has no run at that time; a wall-clock time that occurs
//! twice (the hour repeated when clocks go back) runs once, at its first
//! occurrence (jiff's `earlier` disambiguation). The other days run at their
//! wall-clock time whatever the offset, so a weekly run is never lost around
//! a change. A one-time `at(...)` in a gap runs at the same distance after
//! the gap (jiff's `compatible`: 02:30 in a 02:00-03:00 gap is 03:30).

use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{Span, Timestamp};

/// A parsed schedule expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expression {
    /// `cron(...)`.
    Cron(Cron),
    /// `rate(5 minutes)`: when it fires depends on when it was created.
    Rate(String),
    /// `at(2026-11-25T19:00:00)`: once, at this wall-clock time in the
    /// schedule's zone.
    At(DateTime),
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

/// Why a schedule expression (or its time zone) is not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    /// Neither `cron(...)`, `rate(...)` nor `at(...)`.
    #[error("{0:?} is not cron(...), rate(...) or at(...)")]
    NotAnExpression(String),
    /// An `at(...)` whose time does not read.
    #[error("{0:?}: at() needs yyyy-mm-ddThh:mm:ss")]
    At(String),
    /// A `cron(...)` without exactly six fields.
    #[error("cron({body}) needs six fields, has {count}")]
    FieldCount {
        /// What is inside `cron(...)`.
        body: String,
        /// How many fields it has.
        count: usize,
    },
    /// `?` in both day fields.
    #[error("day-of-month and day-of-week cannot both be ?")]
    BothDaysUnset,
    /// `?` in neither day field.
    #[error("one of day-of-month and day-of-week must be ?")]
    NoDayUnset,
    /// A `#` whose week is not 1-5.
    #[error("bad # in day-of-week")]
    NthWeekday,
    /// A `W` whose day is not 1-31.
    #[error("bad W in day-of-month")]
    NearestWeekday,
    /// A value that is neither a number nor a name of its field.
    #[error("{value:?} is not a value of {lo}-{hi}")]
    NotAValue {
        /// The text read.
        value: String,
        /// The field's first value.
        lo: u32,
        /// The field's last value.
        hi: u32,
    },
    /// A number outside its field's range.
    #[error("{value} is outside {lo}-{hi}")]
    OutOfRange {
        /// The number read.
        value: u32,
        /// The field's first value.
        lo: u32,
        /// The field's last value.
        hi: u32,
    },
    /// A step that is not a positive number.
    #[error("bad step in {0:?}")]
    Step(String),
    /// A range whose end comes before its start.
    #[error("range {0:?} runs backwards")]
    Backwards(String),
    /// Not a day of the week.
    #[error("{0:?} is not a day of the week")]
    NotAWeekday(String),
    /// A `ScheduleExpressionTimezone` jiff does not know: its name, why.
    #[error("unknown time zone {0:?}: {1}")]
    Zone(String, String),
}

/// Parses `cron(...)`, `rate(...)` or `at(...)`.
pub fn parse(expression: &str) -> Result<Expression, CronError> {
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
            .ok_or_else(|| CronError::At(expression.to_string()));
    }
    Err(CronError::NotAnExpression(expression.to_string()))
}

/// `2026-11-25T19:00:00`, exactly as EventBridge writes it.
fn parse_at(text: &str) -> Option<DateTime> {
    jiff::fmt::strtime::parse("%Y-%m-%dT%H:%M:%S", text)
        .ok()?
        .to_datetime()
        .ok()
}

/// Values of one field: `*`, lists, ranges and steps, names allowed.
fn field(text: &str, lo: u32, hi: u32, names: &[&str]) -> Result<Vec<bool>, CronError> {
    let value = |s: &str| -> Result<u32, CronError> {
        let upper = s.to_ascii_uppercase();
        if let Some(i) = names.iter().position(|n| *n == upper) {
            return Ok(lo + i as u32);
        }
        let v: u32 = s.parse().map_err(|_| CronError::NotAValue {
            value: s.to_string(),
            lo,
            hi,
        })?;
        if (lo..=hi).contains(&v) {
            Ok(v)
        } else {
            Err(CronError::OutOfRange { value: v, lo, hi })
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
                    .ok_or_else(|| CronError::Step(part.to_string()))?,
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
            return Err(CronError::Backwards(part.to_string()));
        }
        for v in (from..=to).step_by(step as usize) {
            set[v as usize] = true;
        }
    }
    Ok(set)
}

impl Cron {
    /// Parses the six fields inside `cron(...)`.
    pub fn parse(body: &str) -> Result<Self, CronError> {
        let f: Vec<&str> = body.split_whitespace().collect();
        let [minutes, hours, dom, months, dow, years] = f.as_slice() else {
            return Err(CronError::FieldCount {
                body: body.to_string(),
                count: f.len(),
            });
        };
        let day = match (*dom, *dow) {
            ("?", "?") => return Err(CronError::BothDaysUnset),
            ("?", d) => {
                let upper = d.to_ascii_uppercase();
                if let Some((day, n)) = upper.split_once('#') {
                    let n: u32 = n
                        .parse()
                        .ok()
                        .filter(|n| (1..=5).contains(n))
                        .ok_or(CronError::NthWeekday)?;
                    Day::NthWeekday(weekday(day)?, n)
                } else if upper == "L" {
                    // Alone, `L` is the last day of the week: Saturday.
                    Day::OfWeek(field("7", 1, 7, &[])?)
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
                            .ok_or(CronError::NearestWeekday)?,
                    )
                } else {
                    Day::OfMonth(field(d, 1, 31, &[])?)
                }
            }
            _ => return Err(CronError::NoDayUnset),
        };
        Ok(Self {
            minutes: field(minutes, 0, 59, &[])?,
            hours: field(hours, 0, 23, &[])?,
            day,
            months: field(months, 1, 12, &MONTHS)?,
            years: field(years, FIRST_YEAR as u32, LAST_YEAR as u32, &[])?,
        })
    }

    fn year_matches(&self, year: i16) -> bool {
        let year = i64::from(year);
        (FIRST_YEAR..=LAST_YEAR).contains(&year) && self.years[year as usize]
    }

    /// Whether the civil `date` is a day this schedule runs on.
    fn date_matches(&self, date: Date) -> bool {
        if !self.year_matches(date.year()) || !self.months[date.month() as usize] {
            return false;
        }
        let day = date.day() as u32;
        let weekday = date.weekday().to_sunday_one_offset() as u32; // 1 = Sunday
        let last = date.days_in_month() as u32;
        match &self.day {
            Day::OfMonth(set) => set[day as usize],
            Day::LastOfMonth => day == last,
            Day::NearestWeekday(n) => nearest_weekday(date, (*n).min(last)) == day,
            Day::OfWeek(set) => set[weekday as usize],
            Day::LastWeekday(w) => *w == weekday && day + 7 > last,
            Day::NthWeekday(w, n) => *w == weekday && (day - 1) / 7 + 1 == *n,
        }
    }

    /// The first time after `after` that matches in `zone`, within ten
    /// years. Walks civil dates in the zone (from the day before `after`'s,
    /// so no offset can hide a day), skipping years the year field rules
    /// out.
    pub fn next_after(&self, zone: &TimeZone, after: Timestamp) -> Option<Timestamp> {
        let start = zone.to_datetime(after).date().yesterday().ok()?;
        let limit = start.saturating_add(Span::new().days(10 * 366));
        let mut date = start;
        while date <= limit {
            if i64::from(date.year()) > LAST_YEAR {
                return None;
            }
            if !self.year_matches(date.year()) {
                date = Date::new(date.year().checked_add(1)?, 1, 1).ok()?;
                continue;
            }
            if self.date_matches(date) {
                if let Some(t) = self.first_on(zone, date, after) {
                    return Some(t);
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }

    /// The first matching time on the civil `date` in `zone` after `after`.
    fn first_on(&self, zone: &TimeZone, date: Date, after: Timestamp) -> Option<Timestamp> {
        let on = |set: &[bool]| -> Vec<i8> { (0..set.len()).filter(|i| set[*i]).map(|i| i as i8).collect() };
        let minutes = on(&self.minutes);
        for hour in on(&self.hours) {
            for &minute in &minutes {
                match instant(zone, date.at(hour, minute, 0, 0)) {
                    Some(t) if t > after => return Some(t),
                    _ => {}
                }
            }
        }
        None
    }
}

/// The instant of a cron wall-clock time in `zone`, as EventBridge
/// Scheduler treats daylight saving: a time skipped when clocks go forward
/// does not run (`None`); a time repeated when they go back runs once, at
/// its first occurrence.
fn instant(zone: &TimeZone, local: DateTime) -> Option<Timestamp> {
    let ambiguous = zone.to_ambiguous_timestamp(local);
    match ambiguous.offset() {
        AmbiguousOffset::Gap { .. } => None,
        AmbiguousOffset::Unambiguous { .. } | AmbiguousOffset::Fold { .. } => ambiguous.earlier().ok(),
    }
}

/// The zone named by a schedule's `ScheduleExpressionTimezone` (UTC when
/// empty), from jiff's bundled tz database.
pub fn zone(name: &str) -> Result<TimeZone, CronError> {
    let name = name.trim();
    if name.is_empty() {
        return Ok(TimeZone::UTC);
    }
    TimeZone::get(name).map_err(|e| CronError::Zone(name.to_string(), e.to_string()))
}

fn weekday(text: &str) -> Result<u32, CronError> {
    field(text, 1, 7, &WEEKDAYS)?
        .iter()
        .position(|on| *on)
        .map(|i| i as u32)
        .ok_or_else(|| CronError::NotAWeekday(text.to_string()))
}

/// The weekday nearest day `n` of `date`'s month, not leaving the month
/// (`W`).
fn nearest_weekday(date: Date, n: u32) -> u32 {
    let Ok(target) = Date::new(date.year(), date.month(), n as i8) else {
        return n;
    };
    let last = date.days_in_month() as u32;
    match target.weekday().to_sunday_one_offset() {
        7 if n == 1 => 3,        // Saturday the 1st: Monday the 3rd
        7 => n - 1,              // Saturday: Friday
        1 if n == last => n - 2, // Sunday the last: Friday
        1 => n + 1,              // Sunday: Monday
        _ => n,
    }
}

impl Expression {
    /// The next `count` times it fires after `now` in `zone`, seconds since
    /// the epoch (UTC); empty for `rate(...)` and a past `at(...)`.
    pub fn next(&self, zone: &TimeZone, now: u64, count: usize) -> Vec<u64> {
        let Some(mut t) = crate::clock::timestamp(now) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        match self {
            Self::Cron(cron) => {
                while out.len() < count {
                    let Some(next) = cron.next_after(zone, t) else {
                        break;
                    };
                    out.extend(u64::try_from(next.as_second()).ok());
                    t = next;
                }
            }
            Self::Rate(_) => {}
            Self::At(local) => {
                let at = zone.to_ambiguous_timestamp(*local).compatible().ok();
                out.extend(
                    at.filter(|at| *at > t)
                        .and_then(|at| u64::try_from(at.as_second()).ok()),
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> Timestamp {
        rfc3339.parse().unwrap_or_else(|e| panic!("{rfc3339}: {e}"))
    }

    fn cron(body: &str) -> Cron {
        Cron::parse(body).unwrap_or_else(|e| panic!("{body}: {e}"))
    }

    fn tz(name: &str) -> TimeZone {
        zone(name).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The next `n` runs of `body` in `zone` after `from`, as UTC RFC 3339.
    fn runs(body: &str, zone: &str, from: &str, n: usize) -> Vec<String> {
        let now = u64::try_from(at(from).as_second()).unwrap();
        Expression::Cron(cron(body))
            .next(&tz(zone), now, n)
            .into_iter()
            .map(|t| format!("{}Z", crate::clock::utc_timestamp(t)))
            .collect()
    }

    #[test]
    fn weekday_evenings_skip_the_weekend() {
        let c = cron("0 19 ? * MON-FRI *");
        // Friday 2026-11-27 20:00 UTC -> Monday 30th 19:00.
        assert_eq!(
            c.next_after(&TimeZone::UTC, at("2026-11-27T20:00:00Z")),
            Some(at("2026-11-30T19:00:00Z"))
        );
        // Exactly at a firing time: the next one, not the same.
        assert_eq!(
            c.next_after(&TimeZone::UTC, at("2026-11-30T19:00:00Z")),
            Some(at("2026-12-01T19:00:00Z"))
        );
        assert_eq!(cron("0 19 ? * 2-6 *"), c, "1 = Sunday, so 2-6 is MON-FRI");
        assert_eq!(cron("0 19 ? * mon-fri *"), c, "names in any case");
        assert_eq!(
            runs("0 7 ? * 2-6 *", "UTC", "2026-11-27T08:00:00Z", 2),
            ["2026-11-30T07:00:00Z", "2026-12-01T07:00:00Z"]
        );
    }

    #[test]
    fn steps_lists_names_and_years() {
        let c = cron("0/15 8,12 * * ? *");
        assert_eq!(
            c.next_after(&TimeZone::UTC, at("2026-01-01T08:20:00Z")),
            Some(at("2026-01-01T08:30:00Z"))
        );
        assert_eq!(
            c.next_after(&TimeZone::UTC, at("2026-01-01T08:50:00Z")),
            Some(at("2026-01-01T12:00:00Z"))
        );
        let once = cron("30 6 1 JAN ? 2030");
        assert_eq!(
            once.next_after(&TimeZone::UTC, at("2026-06-01T00:00:00Z")),
            Some(at("2030-01-01T06:30:00Z"))
        );
        assert_eq!(once.next_after(&TimeZone::UTC, at("2030-01-01T06:30:00Z")), None);
        assert_eq!(
            runs("0 12 1 JAN,jul ? 2027-2028", "UTC", "2026-12-01T00:00:00Z", 5),
            [
                "2027-01-01T12:00:00Z",
                "2027-07-01T12:00:00Z",
                "2028-01-01T12:00:00Z",
                "2028-07-01T12:00:00Z"
            ],
            "the year field ends the schedule"
        );
    }

    #[test]
    fn last_day_of_the_month_and_of_the_week() {
        assert_eq!(
            runs("0 0 L * ? *", "UTC", "2028-02-01T00:00:00Z", 2),
            ["2028-02-29T00:00:00Z", "2028-03-31T00:00:00Z"],
            "leap year"
        );
        assert_eq!(
            runs("0 0 L FEB ? 2027", "UTC", "2027-01-01T00:00:00Z", 1),
            ["2027-02-28T00:00:00Z"]
        );
        // `L` alone in day-of-week is the last day of the week: every Saturday.
        assert_eq!(
            runs("0 9 ? * L *", "UTC", "2026-11-01T00:00:00Z", 2),
            ["2026-11-07T09:00:00Z", "2026-11-14T09:00:00Z"]
        );
        // `5L`: the last Thursday (5 = THU) of November 2026 is the 26th,
        // of December the 31st.
        assert_eq!(
            runs("0 9 ? * 5L *", "UTC", "2026-11-01T00:00:00Z", 2),
            ["2026-11-26T09:00:00Z", "2026-12-31T09:00:00Z"]
        );
        // The last Friday of November 2026 is the 27th.
        assert_eq!(
            runs("0 9 ? * FRIL *", "UTC", "2026-11-01T00:00:00Z", 1),
            ["2026-11-27T09:00:00Z"]
        );
    }

    #[test]
    fn nearest_weekday_stays_in_the_month() {
        // 2026-11-15 is a Sunday: 15W runs Monday the 16th; 2026-08-15 is
        // a Saturday: Friday the 14th.
        assert_eq!(
            runs("0 9 15W * ? *", "UTC", "2026-11-01T00:00:00Z", 1),
            ["2026-11-16T09:00:00Z"]
        );
        assert_eq!(
            runs("0 9 15W * ? *", "UTC", "2026-08-01T00:00:00Z", 1),
            ["2026-08-14T09:00:00Z"]
        );
        // 2026-08-01 is a Saturday: 1W is Monday the 3rd, not Friday 31 July.
        assert_eq!(
            runs("0 9 1W * ? *", "UTC", "2026-07-15T00:00:00Z", 1),
            ["2026-08-03T09:00:00Z"]
        );
        // 2026-05-31 is a Sunday: 31W is Friday the 29th, not Monday 1 June.
        assert_eq!(
            runs("0 9 31W MAY ? *", "UTC", "2026-05-01T00:00:00Z", 1),
            ["2026-05-29T09:00:00Z"]
        );
        // A weekday stays put: 2026-12-03 is a Thursday.
        assert_eq!(
            runs("0 9 3W * ? *", "UTC", "2026-12-01T00:00:00Z", 1),
            ["2026-12-03T09:00:00Z"]
        );
    }

    #[test]
    fn nth_weekday_of_the_month() {
        // The second Tuesday of December 2026 is the 8th, of January 2027
        // the 12th.
        assert_eq!(
            runs("0 9 ? * 3#2 *", "UTC", "2026-12-01T00:00:00Z", 2),
            ["2026-12-08T09:00:00Z", "2027-01-12T09:00:00Z"]
        );
        assert_eq!(cron("0 9 ? * TUE#2 *"), cron("0 9 ? * 3#2 *"));
        // A fifth Monday only in months that have one: 2026-11-30, 2027-03-29.
        assert_eq!(
            runs("0 9 ? * MON#5 *", "UTC", "2026-11-01T00:00:00Z", 2),
            ["2026-11-30T09:00:00Z", "2027-03-29T09:00:00Z"]
        );
    }

    /// `cron(30 0 ? * MON *)`: every Monday at 00:30 in the zone, including
    /// the Monday right after each change of the clocks.
    #[test]
    fn weekly_runs_keep_their_wall_clock_time_across_daylight_saving() {
        let monday = "30 0 ? * MON *";
        // New York: EDT from 2027-03-14, EST from 2027-11-07.
        assert_eq!(
            runs(monday, "America/New_York", "2027-03-05T00:00:00Z", 3),
            ["2027-03-08T05:30:00Z", "2027-03-15T04:30:00Z", "2027-03-22T04:30:00Z"]
        );
        assert_eq!(
            runs(monday, "America/New_York", "2027-10-26T00:00:00Z", 2),
            ["2027-11-01T04:30:00Z", "2027-11-08T05:30:00Z"]
        );
        // Berlin: CEST from 2027-03-28, CET from 2027-10-31.
        assert_eq!(
            runs(monday, "Europe/Berlin", "2027-03-20T00:00:00Z", 2),
            ["2027-03-21T23:30:00Z", "2027-03-28T22:30:00Z"]
        );
        assert_eq!(
            runs(monday, "Europe/Berlin", "2027-10-20T00:00:00Z", 2),
            ["2027-10-24T22:30:00Z", "2027-10-31T23:30:00Z"]
        );
        // Sydney (southern hemisphere): AEST from 2027-04-04, AEDT from
        // 2027-10-03.
        assert_eq!(
            runs(monday, "Australia/Sydney", "2027-03-26T00:00:00Z", 2),
            ["2027-03-28T13:30:00Z", "2027-04-04T14:30:00Z"]
        );
        assert_eq!(
            runs(monday, "Australia/Sydney", "2027-09-24T00:00:00Z", 2),
            ["2027-09-26T14:30:00Z", "2027-10-03T13:30:00Z"]
        );
    }

    /// A time the clocks skip does not run that day; a time they repeat
    /// runs once, at its first occurrence.
    #[test]
    fn skipped_times_do_not_run_and_repeated_times_run_once() {
        let daily = "30 2 * * ? *";
        assert_eq!(
            runs(daily, "America/New_York", "2027-03-13T00:00:00Z", 2),
            ["2027-03-13T07:30:00Z", "2027-03-15T06:30:00Z"],
            "02:30 on 2027-03-14 does not exist in New York"
        );
        assert_eq!(
            runs(daily, "Europe/Berlin", "2027-03-27T00:00:00Z", 2),
            ["2027-03-27T01:30:00Z", "2027-03-29T00:30:00Z"],
            "02:30 on 2027-03-28 does not exist in Berlin"
        );
        assert_eq!(
            runs(daily, "Australia/Sydney", "2027-10-01T00:00:00Z", 2),
            ["2027-10-01T16:30:00Z", "2027-10-03T15:30:00Z"],
            "02:30 on 2027-10-03 does not exist in Sydney"
        );
        // 01:30 on 2027-11-07 happens twice in New York (EDT, then EST).
        assert_eq!(
            runs("30 1 * * ? *", "America/New_York", "2027-11-06T12:00:00Z", 2),
            ["2027-11-07T05:30:00Z", "2027-11-08T06:30:00Z"]
        );
        // 02:30 on 2027-04-04 happens twice in Sydney (AEDT, then AEST).
        assert_eq!(
            runs("30 2 * * ? *", "Australia/Sydney", "2027-04-03T00:00:00Z", 2),
            ["2027-04-03T15:30:00Z", "2027-04-04T16:30:00Z"]
        );
        // Every half hour across Berlin's repeated hour (2027-10-31): 02:00
        // and 02:30 CEST once each, then 03:00 CET an hour and a half later.
        assert_eq!(
            runs("0/30 * * * ? *", "Europe/Berlin", "2027-10-30T23:45:00Z", 4),
            [
                "2027-10-31T00:00:00Z",
                "2027-10-31T00:30:00Z",
                "2027-10-31T02:00:00Z",
                "2027-10-31T02:30:00Z"
            ]
        );
    }

    #[test]
    fn zones_by_name() {
        assert_eq!(
            runs("0 7 * * ? *", "Etc/GMT+5", "2026-12-01T00:00:00Z", 1),
            ["2026-12-01T12:00:00Z"],
            "POSIX sign: Etc/GMT+5 is five hours behind UTC"
        );
        assert!(zone("").is_ok());
        assert!(zone("UTC").is_ok());
        assert!(zone("Mars/Olympus_Mons").is_err());
    }

    #[test]
    fn bad_expressions_say_why() {
        for (bad, why) in [
            ("0 19 * * MON-FRI *", "one of day-of-month and day-of-week must be ?"),
            ("0 19 ? * ? *", "day-of-month and day-of-week cannot both be ?"),
            ("0 25 ? * MON *", "25 is outside 0-23"),
            ("0 19 ? *", "cron(0 19 ? *) needs six fields, has 4"),
            ("61 1 * * ? *", "61 is outside 0-59"),
            ("0 1 5-2 * ? *", "range \"5-2\" runs backwards"),
            ("0 1 ? * 8 *", "8 is outside 1-7"),
            ("0 1 ? * XYZ *", "\"XYZ\" is not a value of 1-7"),
            ("*/0 1 * * ? *", "bad step in \"*/0\""),
            ("0 1 ? * 3#6 *", "bad # in day-of-week"),
            ("0 1 32W * ? *", "bad W in day-of-month"),
            ("0 1 * * ? 2200", "2200 is outside 1970-2199"),
        ] {
            assert_eq!(Cron::parse(bad).unwrap_err().to_string(), why, "{bad}");
        }
        assert_eq!(
            parse("every day").unwrap_err().to_string(),
            "\"every day\" is not cron(...), rate(...) or at(...)"
        );
        assert_eq!(
            parse("at(2026-11-25 19:02:03)").unwrap_err().to_string(),
            "\"at(2026-11-25 19:02:03)\": at() needs yyyy-mm-ddThh:mm:ss"
        );
        assert_eq!(parse("rate(5 minutes)").unwrap(), Expression::Rate("5 minutes".into()));
        assert!(parse("rate(5 minutes)").unwrap().next(&TimeZone::UTC, 0, 3).is_empty());
    }

    #[test]
    fn one_time_schedules_run_once_in_their_zone() {
        let at_ = parse("at(2026-11-25T19:02:03)").unwrap();
        let from = |t: &str| u64::try_from(at(t).as_second()).unwrap();
        let secs = |t: &str| vec![from(t)];
        assert_eq!(
            at_.next(&TimeZone::UTC, from("2026-11-25T00:00:00Z"), 3),
            secs("2026-11-25T19:02:03Z")
        );
        assert_eq!(
            at_.next(&tz("Europe/Berlin"), from("2026-11-25T00:00:00Z"), 3),
            secs("2026-11-25T18:02:03Z")
        );
        assert!(at_.next(&TimeZone::UTC, from("2027-01-01T00:00:00Z"), 3).is_empty());
        // In a gap: as far after the gap as it was into it.
        let gap = parse("at(2027-03-14T02:30:00)").unwrap();
        assert_eq!(
            gap.next(&tz("America/New_York"), from("2027-03-01T00:00:00Z"), 1),
            secs("2027-03-14T07:30:00Z")
        );
    }
}
