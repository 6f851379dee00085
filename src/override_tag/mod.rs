//! Expiring overrides by instance tag, no agent needed: a tag (key
//! `SchedulerOverride` by default) with the value
//! `keep-running until 2026-11-26T08:00:00Z` keeps an instance running through
//! Stop runs until then; `keep-stopped until <time>` keeps it stopped through
//! Start runs. The time is any RFC 3339 time (`2026-11-26T09:00:00+01:00`,
//! lowercase `t`/`z`) or a bare date (`2026-11-26`, 00:00 UTC that day).
//!
//! Fail safe: a value that starts `keep-running` or `keep-stopped` but whose
//! time cannot be read still keeps the instance as it asks, with a warning in
//! the reason (the operator's intent wins; no run stops an instance because
//! of a typo in its keep-running tag). Any other value is ignored, with a
//! warning. Pure: the caller says what time it is.

use std::fmt;

use crate::action::Action;

pub mod edit;

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
    /// The instance is kept as it is; the reason for the report (with a
    /// `WARNING` when the tag's time cannot be read but it is kept anyway).
    Keep(String),
    /// The tag had expired or is no override tag at all: ignored, and said
    /// so.
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

/// How a tag value reads.
enum Reading {
    /// `keep-... until <time>`, all of it readable.
    Override(TagOverride),
    /// `keep-...` whose time cannot be read: why not.
    Unreadable(Keep, TagError),
    /// Not an override at all: why not.
    Other(TagError),
}

/// Why a tag value is not an override that reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    /// Neither `keep-running` nor `keep-stopped`: the value.
    #[error("{0:?} is not \"keep-running until <time>\" or \"keep-stopped until <time>\"")]
    NotAnOverride(String),
    /// `keep-...` without `until <time>`: the value.
    #[error("{0:?} has no \"until <time>\"")]
    NoUntil(String),
    /// A time that does not read: the time.
    #[error("{0:?} is not a time such as 2026-11-26T08:00:00Z, 2026-11-26T09:00:00+01:00 or 2026-11-26")]
    NotATime(String),
}

/// `text` after `keyword` if it starts with it (ASCII case ignored).
fn after_keyword<'a>(text: &'a str, keyword: &str) -> Option<&'a str> {
    let head = text.get(..keyword.len())?;
    head.eq_ignore_ascii_case(keyword).then(|| &text[keyword.len()..])
}

fn read(value: &str) -> Reading {
    let text = value.trim();
    let (keep, rest) = if let Some(rest) = after_keyword(text, "keep-running") {
        (Keep::Running, rest)
    } else if let Some(rest) = after_keyword(text, "keep-stopped") {
        (Keep::Stopped, rest)
    } else {
        return Reading::Other(TagError::NotAnOverride(text.to_string()));
    };
    let time = after_keyword(rest.trim_start(), "until")
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(time) = time else {
        return Reading::Unreadable(keep, TagError::NoUntil(text.to_string()));
    };
    match parse_utc(time) {
        Some(until) => Reading::Override(TagOverride { keep, until }),
        None => Reading::Unreadable(keep, TagError::NotATime(time.to_string())),
    }
}

impl TagOverride {
    /// Parses `keep-running until <time>` / `keep-stopped until <time>`,
    /// the time in RFC 3339 (any offset) or a bare date (00:00 UTC).
    pub fn parse(value: &str) -> Result<Self, TagError> {
        match read(value) {
            Reading::Override(parsed) => Ok(parsed),
            Reading::Unreadable(_, why) | Reading::Other(why) => Err(why),
        }
    }

    /// The value for a tag: `keep-running until 2026-11-26T08:00:00Z`.
    pub fn to_tag_value(&self) -> String {
        format!("{} until {}Z", self.keep, crate::clock::utc_timestamp(self.until))
    }
}

/// What the tag `value` (and its reason) means for `action` at `now`.
///
/// A `keep-...` tag whose time cannot be read keeps the instance (`Keep`),
/// its reason starting `override tag: keep-running (WARNING: ...)`: the
/// plan and the report carry the warning with the instance they kept.
pub fn verdict(value: Option<&str>, reason: Option<&str>, action: Action, now: u64) -> TagVerdict {
    let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
        return TagVerdict::None;
    };
    let (keep, until) = match read(value) {
        Reading::Override(parsed) => (parsed.keep, Ok(parsed.until)),
        Reading::Unreadable(keep, why) => (keep, Err(why)),
        Reading::Other(why) => return TagVerdict::Ignored(format!("override tag ignored: {why}")),
    };
    let applies = matches!(
        (keep, action),
        (Keep::Running, Action::Stop) | (Keep::Stopped, Action::Start)
    );
    if !applies {
        return TagVerdict::None;
    }
    let reason = reason
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| format!(": {r}"))
        .unwrap_or_default();
    match until {
        Err(why) => TagVerdict::Keep(format!(
            "override tag: {keep} (WARNING: its time cannot be read: {why}; \
             kept as the tag asks until the tag is fixed or removed){reason}"
        )),
        Ok(until) if until <= now => TagVerdict::Ignored(format!(
            "override tag {keep} until {}Z has expired; ignored",
            crate::clock::utc_timestamp(until)
        )),
        Ok(until) => TagVerdict::Keep(format!(
            "override tag: {keep} until {}Z{reason}",
            crate::clock::utc_timestamp(until)
        )),
    }
}

/// Seconds since the epoch of an override time: any RFC 3339 time
/// (`2026-11-26T08:00:00Z`, `2026-11-26T09:00:00+01:00`,
/// `2026-11-26t08:00:00z`, `2026-11-26 08:00Z`) or a bare date
/// (`2026-11-26`, 00:00 UTC that day). `None` if it cannot be read.
pub fn parse_utc(text: &str) -> Option<u64> {
    crate::clock::parse_time(text).ok()
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
    fn times_are_rfc_3339_with_any_offset_or_a_bare_date() {
        assert_eq!(parse_utc("2026-11-26T08:00:00Z"), Some(NOV_26_08));
        assert_eq!(parse_utc("2026-11-26T08:00Z"), Some(NOV_26_08));
        assert_eq!(parse_utc("2026-11-26 08:00:00+00:00"), Some(NOV_26_08));
        assert_eq!(parse_utc("2026-11-26T09:00:00+01:00"), Some(NOV_26_08), "offset");
        assert_eq!(parse_utc("2026-11-26T03:00:00-05:00"), Some(NOV_26_08), "offset");
        assert_eq!(parse_utc("2026-11-26t08:00:00z"), Some(NOV_26_08), "lowercase");
        assert_eq!(parse_utc("2026-11-26T08:00:00.250Z"), Some(NOV_26_08), "fraction");
        assert_eq!(
            parse_utc("2026-11-26"),
            Some(NOV_26_08 - 8 * 3600),
            "bare date: 00:00 UTC"
        );
        assert_eq!(parse_utc("2000-02-29T00:00:00Z"), Some(951_782_400));
        for bad in [
            "2026-11-26T08:00:00",
            "2026-02-30T00:00:00Z",
            "tomorrow",
            "2026-13-01T00:00Z",
            "2026-13-01",
            "2026-11-26T05:-30Z",
        ] {
            assert_eq!(parse_utc(bad), None, "{bad}");
        }
        let o = TagOverride::parse("keep-stopped until 2026-11-26T08:00Z").unwrap();
        assert_eq!(o.to_tag_value(), "keep-stopped until 2026-11-26T08:00:00Z");
        let o = TagOverride::parse("keep-running until 2026-11-26T09:00:00+01:00").unwrap();
        assert_eq!(o.to_tag_value(), "keep-running until 2026-11-26T08:00:00Z");
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
    fn offsets_lowercase_and_dates_keep() {
        let before = NOV_26_08 - 60;
        let keep = TagVerdict::Keep("override tag: keep-running until 2026-11-26T08:00:00Z".into());
        for value in [
            "keep-running until 2026-11-26T09:00:00+01:00",
            "keep-running until 2026-11-26t08:00:00z",
            "Keep-Running Until 2026-11-26T08:00:00Z",
        ] {
            assert_eq!(verdict(Some(value), None, Action::Stop, before), keep, "{value}");
        }
        // A bare date holds until 00:00 UTC that day.
        let date = Some("keep-running until 2026-11-27");
        assert_eq!(
            verdict(date, None, Action::Stop, before),
            TagVerdict::Keep("override tag: keep-running until 2026-11-27T00:00:00Z".into())
        );
        assert!(matches!(
            verdict(date, None, Action::Stop, NOV_26_08 + 16 * 3600),
            TagVerdict::Ignored(w) if w.contains("expired")
        ));
    }

    #[test]
    fn expired_tags_are_ignored_and_said() {
        let tag = Some("keep-running until 2026-11-26T08:00:00Z");
        assert_eq!(
            verdict(tag, None, Action::Stop, NOV_26_08),
            TagVerdict::Ignored("override tag keep-running until 2026-11-26T08:00:00Z has expired; ignored".into())
        );
    }

    /// Fail safe: the operator's intent wins over a typo in the time.
    #[test]
    fn an_unreadable_time_still_keeps_with_a_warning() {
        let before = NOV_26_08 - 60;
        let TagVerdict::Keep(why) = verdict(
            Some("keep-running until 2026-13-01"),
            Some("month-end batch"),
            Action::Stop,
            before,
        ) else {
            panic!("a keep-running tag with a bad month must keep the instance running");
        };
        assert!(why.starts_with("override tag: keep-running (WARNING: "), "{why}");
        assert!(
            why.contains("\"2026-13-01\"") && why.ends_with(": month-end batch"),
            "{why}"
        );
        assert!(matches!(
            verdict(Some("keep-stopped until next week"), None, Action::Start, before),
            TagVerdict::Keep(w) if w.contains("WARNING") && w.contains("keep-stopped")
        ));
        assert!(matches!(
            verdict(Some("keep-running"), None, Action::Stop, before),
            TagVerdict::Keep(w) if w.contains("WARNING") && w.contains("no \"until")
        ));
        // Only for its own action: a keep-running tag means nothing to Start.
        assert_eq!(
            verdict(Some("keep-running until 2026-13-01"), None, Action::Start, before),
            TagVerdict::None
        );
        assert!(TagOverride::parse("keep-running until 2026-13-01").is_err());
    }

    #[test]
    fn other_values_are_ignored_with_a_warning() {
        let before = NOV_26_08 - 60;
        for garbage in ["forever", "until tomorrow", "keep running until 2026-11-27"] {
            assert!(
                matches!(
                    verdict(Some(garbage), None, Action::Stop, before),
                    TagVerdict::Ignored(w) if w.starts_with("override tag ignored: ") && w.contains("is not \"keep-running")
                ),
                "{garbage}"
            );
        }
        assert_eq!(verdict(Some("  "), None, Action::Stop, before), TagVerdict::None);
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
