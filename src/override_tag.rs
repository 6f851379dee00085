//! Expiring overrides by instance tag, no agent needed: a tag (key
//! `SchedulerOverride` by default) with the value
//! `keep-running until 2026-11-26T08:00:00Z` keeps an instance running through
//! Stop runs until then; `keep-stopped until <time>` keeps it stopped through
//! Start runs. Pure: the caller says what time it is.

use std::fmt;

use crate::plan::Action;

/// The tag key used when the workload sets no `OverrideTagName`.
pub const DEFAULT_OVERRIDE_TAG: &str = "SchedulerOverride";
/// The tag holding the reason carried into the report.
pub const OVERRIDE_REASON_TAG: &str = "SchedulerOverrideReason";

/// What an override tag asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Keep running through Stop runs.
    Running,
    /// Keep stopped through Start runs.
    Stopped,
}

/// A parsed override tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagOverride {
    /// Running or stopped.
    pub keep: Keep,
    /// Until when, seconds since the epoch (UTC).
    pub until: u64,
}

/// What an instance's override tag means for a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagVerdict {
    /// No tag, or a tag about the other action: no effect.
    None,
    /// The instance is kept as it is; the reason for the report.
    Keep(String),
    /// The tag had expired or could not be read: ignored, and said so.
    Ignored(String),
}

impl fmt::Display for Keep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Running => "keep-running",
            Self::Stopped => "keep-stopped",
        })
    }
}

impl TagOverride {
    /// Parses `keep-running until <ISO-8601 UTC>` / `keep-stopped until ...`.
    pub fn parse(value: &str) -> Result<Self, String> {
        let text = value.trim();
        let (keep, rest) = if let Some(rest) = text.strip_prefix("keep-running") {
            (Keep::Running, rest)
        } else if let Some(rest) = text.strip_prefix("keep-stopped") {
            (Keep::Stopped, rest)
        } else {
            return Err(format!(
                "{text:?} is not \"keep-running until <time>\" or \"keep-stopped until <time>\""
            ));
        };
        let time = rest
            .trim_start()
            .strip_prefix("until")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| format!("{text:?} has no \"until <ISO-8601 UTC time>\""))?;
        let until = parse_utc(time)
            .ok_or_else(|| format!("{time:?} is not an ISO-8601 UTC time such as 2026-11-26T08:00:00Z"))?;
        Ok(Self { keep, until })
    }

    /// The value for a tag: `keep-running until 2026-11-26T08:00:00Z`.
    pub fn to_tag_value(&self) -> String {
        format!("{} until {}Z", self.keep, crate::ledger::utc_timestamp(self.until))
    }
}

/// What the tag `value` (and its reason) means for `action` at `now`.
pub fn verdict(value: Option<&str>, reason: Option<&str>, action: Action, now: u64) -> TagVerdict {
    let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
        return TagVerdict::None;
    };
    let parsed = match TagOverride::parse(value) {
        Ok(p) => p,
        Err(why) => return TagVerdict::Ignored(format!("override tag ignored: {why}")),
    };
    let applies = matches!(
        (parsed.keep, action),
        (Keep::Running, Action::Stop) | (Keep::Stopped, Action::Start)
    );
    if !applies {
        return TagVerdict::None;
    }
    let until = crate::ledger::utc_timestamp(parsed.until);
    if parsed.until <= now {
        return TagVerdict::Ignored(format!(
            "override tag {} until {until}Z has expired; ignored",
            parsed.keep
        ));
    }
    let reason = reason
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| format!(": {r}"))
        .unwrap_or_default();
    TagVerdict::Keep(format!("override tag: {} until {until}Z{reason}", parsed.keep))
}

/// `2026-11-26T08:00:00Z`, `2026-11-26T08:00Z`, `2026-11-26T08:00:00+00:00`
/// or `2026-11-26 08:00:00Z` -> seconds since the epoch. Only UTC is
/// accepted: an offset would be a guess about what the operator meant.
pub fn parse_utc(text: &str) -> Option<u64> {
    let text = text.trim();
    let body = text.strip_suffix('Z').or_else(|| text.strip_suffix("+00:00"))?;
    let (date, time) = body.split_once(['T', ' '])?;
    let mut d = date.split('-');
    let (year, month, day): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    if d.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) || year < 1970 {
        return None;
    }
    let mut t = time.split(':');
    let hour: i64 = t.next()?.parse().ok()?;
    let minute: i64 = t.next()?.parse().ok()?;
    let second: i64 = match t.next() {
        Some(s) => s.split('.').next()?.parse().ok()?,
        None => 0,
    };
    if t.next().is_some() || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm), the inverse of
    // `ledger::utc_timestamp`.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
    // A day that does not exist (Feb 30) does not round-trip.
    let back = crate::ledger::utc_timestamp(u64::try_from(secs).ok()?);
    (back[..10] == *date).then_some(secs as u64)
}

/// `3h`, `90m`, `2d`, `45s` -> seconds.
pub fn parse_span(text: &str) -> Option<u64> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = number.parse().ok()?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(scale).filter(|s| *s > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOV_26_08: u64 = 1_795_680_000; // 2026-11-26T08:00:00Z

    #[test]
    fn utc_times_parse_and_round_trip() {
        assert_eq!(parse_utc("2026-11-26T08:00:00Z"), Some(NOV_26_08));
        assert_eq!(parse_utc("2026-11-26T08:00Z"), Some(NOV_26_08));
        assert_eq!(parse_utc("2026-11-26 08:00:00+00:00"), Some(NOV_26_08));
        assert_eq!(parse_utc("2000-02-29T00:00:00Z"), Some(951_782_400));
        for bad in [
            "2026-11-26T08:00:00",
            "2026-11-26T08:00:00+01:00",
            "2026-02-30T00:00:00Z",
            "tomorrow",
            "2026-13-01T00:00Z",
        ] {
            assert_eq!(parse_utc(bad), None, "{bad}");
        }
        let o = TagOverride::parse("keep-stopped until 2026-11-26T08:00Z").unwrap();
        assert_eq!(o.to_tag_value(), "keep-stopped until 2026-11-26T08:00:00Z");
    }

    #[test]
    fn verdicts_keep_only_for_the_matching_action_and_until_the_time() {
        let tag = Some("keep-running until 2026-11-26T08:00:00Z");
        let before = NOV_26_08 - 60;
        assert_eq!(
            verdict(tag, Some("month-end batch"), Action::Stop, before),
            TagVerdict::Keep("override tag: keep-running until 2026-11-26T08:00:00Z: month-end batch".into())
        );
        assert_eq!(verdict(tag, None, Action::Start, before), TagVerdict::None);
        assert!(matches!(verdict(tag, None, Action::Stop, NOV_26_08), TagVerdict::Ignored(w) if w.contains("expired")));
        assert!(
            matches!(verdict(Some("forever"), None, Action::Stop, before), TagVerdict::Ignored(w) if w.contains("not \"keep-running"))
        );
        assert!(
            matches!(verdict(Some("keep-running"), None, Action::Stop, before), TagVerdict::Ignored(w) if w.contains("no \"until"))
        );
        assert_eq!(verdict(None, None, Action::Stop, before), TagVerdict::None);
        assert_eq!(
            verdict(
                Some("keep-stopped until 2026-11-26T08:00:00Z"),
                None,
                Action::Start,
                before
            ),
            TagVerdict::Keep("override tag: keep-stopped until 2026-11-26T08:00:00Z".into())
        );
    }

    #[test]
    fn spans() {
        assert_eq!(parse_span("3h"), Some(10_800));
        assert_eq!(parse_span("90m"), Some(5400));
        assert_eq!(parse_span("2d"), Some(172_800));
        assert_eq!(parse_span("0h"), None);
        assert_eq!(parse_span("3 hours"), None);
        assert_eq!(parse_span("h"), None);
    }
}
