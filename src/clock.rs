//! The one clock and the one time format: `now` in seconds or milliseconds
//! since the epoch, UTC timestamps for schedules, tables and tags, and the
//! RFC 3339 reader for times people write. Everything below the orchestrator
//! takes `now` as an argument; only the entry points, the run service and the
//! orchestrator read the clock, through this module. Civil time comes from
//! `jiff` (no calendar arithmetic is written by hand here).

use std::time::{SystemTime, UNIX_EPOCH};

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// Seconds since the epoch, now.
pub fn now() -> u64 {
    since_epoch().as_secs()
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> u64 {
    u64::try_from(since_epoch().as_millis()).unwrap_or(u64::MAX)
}

/// Seconds since the epoch, rounded up: a time computed from it is never
/// earlier than meant (a delay owed is never cut by a fraction of a second).
pub fn now_ceil() -> u64 {
    let d = since_epoch();
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// [`now`] plus [`tokio_ahead_secs`]: the time the run service and the
/// orchestrator read, which follows tokio's paused test clock.
pub fn now_following_tokio() -> u64 {
    now() + tokio_ahead_secs()
}

/// How far tokio's clock runs ahead of the real one, in whole seconds:
/// nothing in the function and the CLI, where the two are one clock; under
/// tokio's paused test clock, the time a test let pass. The run service's
/// and the orchestrator's `now` add it, so due times can be tested without
/// real waiting.
pub fn tokio_ahead_secs() -> u64 {
    let real = std::time::Instant::now();
    tokio::time::Instant::now()
        .into_std()
        .saturating_duration_since(real)
        .as_secs()
}

fn since_epoch() -> std::time::Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// `YYYY-MM-DDTHH:MM:SS` in UTC, as EventBridge Scheduler's `at()` wants.
pub fn utc_timestamp(epoch: u64) -> String {
    match timestamp(epoch) {
        Some(t) => t.strftime("%Y-%m-%dT%H:%M:%S").to_string(),
        None => "9999-12-31T23:59:59".to_string(),
    }
}

/// `2026-11-25 19:00:02` (UTC), for tables.
pub fn show_utc(epoch: u64) -> String {
    utc_timestamp(epoch).replace('T', " ")
}

/// The instant `epoch` seconds after the epoch, if jiff can represent it.
pub fn timestamp(epoch: u64) -> Option<Timestamp> {
    Timestamp::from_second(i64::try_from(epoch).ok()?).ok()
}

/// Why a time a person wrote does not read ([`parse_time`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Ten characters that are not a date: the text, why.
    #[error("{0:?} is not a date (YYYY-MM-DD): {1}")]
    NotADate(String, String),
    /// A date with no UTC midnight jiff can represent: the text, why.
    #[error("{0:?}: {1}")]
    Unrepresentable(String, String),
    /// Not an RFC 3339 time: the text, why.
    #[error("{0:?} is not an RFC 3339 time (like 2026-12-01T09:00:00Z): {1}")]
    NotATime(String, String),
    /// A time before the epoch.
    #[error("{0:?} is before 1970")]
    BeforeEpoch(String),
}

/// Seconds since the epoch of a time a person wrote: any RFC 3339 time
/// (`2026-12-01T09:00:00+01:00`, `2026-12-01t08:00:00z`, fractional
/// seconds) or a bare date (`2026-12-01`, 00:00 UTC that day). Times before
/// the epoch are refused.
pub fn parse_time(text: &str) -> Result<u64, TimeError> {
    let text = text.trim();
    let instant = if text.len() == 10 {
        let date: Date = text
            .parse()
            .map_err(|e: jiff::Error| TimeError::NotADate(text.into(), e.to_string()))?;
        date.to_zoned_datetime(TimeZone::UTC)
            .map_err(|e| TimeError::Unrepresentable(text.into(), e.to_string()))?
            .timestamp()
    } else {
        text.parse::<Timestamp>()
            .map_err(|e| TimeError::NotATime(text.into(), e.to_string()))?
    };
    u64::try_from(instant.as_second()).map_err(|_| TimeError::BeforeEpoch(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_civil_time() {
        assert_eq!(utc_timestamp(0), "1970-01-01T00:00:00");
        assert_eq!(utc_timestamp(951_782_400), "2000-02-29T00:00:00");
        assert_eq!(utc_timestamp(1_795_478_400 + 68_523), "2026-11-24T19:02:03");
        assert_eq!(show_utc(0), "1970-01-01 00:00:00");
    }

    #[test]
    fn people_write_rfc_3339_times_and_dates() {
        let nine_utc = parse_time("2026-12-01T09:00:00Z").unwrap();
        assert_eq!(utc_timestamp(nine_utc), "2026-12-01T09:00:00");
        assert_eq!(parse_time("2026-12-01T10:00:00+01:00"), Ok(nine_utc));
        assert_eq!(parse_time("2026-12-01t09:00:00z"), Ok(nine_utc));
        assert_eq!(parse_time("2026-12-01T09:00:00.5Z"), Ok(nine_utc));
        assert_eq!(parse_time("2026-12-01T04:00:00-05:00"), Ok(nine_utc));
        assert_eq!(utc_timestamp(parse_time("2026-12-01").unwrap()), "2026-12-01T00:00:00");
    }

    #[test]
    fn malformed_times_are_refused() {
        for bad in [
            "2026-12-01T05:-30Z",
            "2026-02-30",
            "2026-02-30T00:00:00Z",
            "tomorrow",
            "",
            "1969-12-31T23:59:59Z",
        ] {
            assert!(parse_time(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            parse_time("1969-12-31T23:59:59Z").unwrap_err().to_string(),
            "\"1969-12-31T23:59:59Z\" is before 1970"
        );
        let why = parse_time("tomorrow").unwrap_err().to_string();
        assert!(
            why.starts_with("\"tomorrow\" is not an RFC 3339 time (like 2026-12-01T09:00:00Z): "),
            "{why}"
        );
        let why = parse_time("2026-02-30").unwrap_err().to_string();
        assert!(why.starts_with("\"2026-02-30\" is not a date (YYYY-MM-DD): "), "{why}");
    }

    #[test]
    fn the_clock_moves_forward() {
        let (s, ms, ceil) = (now(), now_ms(), now_ceil());
        assert!(ms / 1000 >= s && ceil >= s);
    }
}
