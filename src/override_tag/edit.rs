//! Setting, clearing and listing override tags (the CLI's `override`
//! commands): which instances may be tagged, which tags to write, the
//! limits EC2 puts on them, and what a tag means now. Pure: the caller
//! tags and says what time it is.

use crate::action::Action;
use crate::instance::Instance;

use super::{parse_span, parse_utc, verdict, Keep, TagOverride, TagVerdict, OVERRIDE_REASON_TAG};

/// Most characters in an EC2 tag value.
pub const MAX_TAG_VALUE_CHARS: usize = 256;
/// Most resources one `CreateTags` / `DeleteTags` call takes.
pub const TAG_BATCH: usize = 1000;

/// Why an override cannot be written. Nothing was tagged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// An instance that is not the workload's: only its own are tagged.
    #[error("{id} is not an instance of workload {workload:?}")]
    NotInWorkload {
        /// The instance asked for.
        id: String,
        /// The workload.
        workload: String,
    },
    /// The time is missing, unreadable or not in the future.
    #[error("the override needs a future time (an RFC 3339 time or a date, or a span such as 3h, 90m, 2d)")]
    NoFutureTime,
    /// The reason does not fit in a tag value.
    #[error("the reason is longer than the {MAX_TAG_VALUE_CHARS} characters a tag value allows")]
    ReasonTooLong,
}

/// The instances an override command acts on: those of `wanted` (all of
/// the workload's when empty), each of which must be one of the
/// workload's `instances`; a stray id is refused, not tagged.
pub fn scope<'a>(instances: &'a [Instance], wanted: &[String], workload: &str) -> Result<Vec<&'a Instance>, EditError> {
    if wanted.is_empty() {
        return Ok(instances.iter().collect());
    }
    wanted
        .iter()
        .map(|id| {
            instances
                .iter()
                .find(|i| &i.id == id)
                .ok_or_else(|| EditError::NotInWorkload {
                    id: id.clone(),
                    workload: workload.to_string(),
                })
        })
        .collect()
}

/// Until when an override holds: `until` (an RFC 3339 time or a date) or, when
/// it is not given, `span` from `now` (`3h`, `90m`, `2d`); it must be
/// after `now`.
pub fn until(until: Option<&str>, span: Option<&str>, now: u64) -> Result<u64, EditError> {
    let time = match (until, span) {
        (Some(t), _) => parse_utc(t),
        (None, Some(span)) => parse_span(span).and_then(|s| now.checked_add(s)),
        (None, None) => None,
    };
    time.filter(|u| *u > now).ok_or(EditError::NoFutureTime)
}

/// The tags that set an override under the workload's tag `key`: the
/// override itself, and the reason when one is given (a blank reason is
/// none).
pub fn set_tags(key: &str, tag: &TagOverride, reason: Option<&str>) -> Result<Vec<(String, String)>, EditError> {
    let mut tags = vec![(key.to_string(), tag.to_tag_value())];
    if let Some(reason) = reason.filter(|r| !r.trim().is_empty()) {
        if reason.chars().count() > MAX_TAG_VALUE_CHARS {
            return Err(EditError::ReasonTooLong);
        }
        tags.push((OVERRIDE_REASON_TAG.to_string(), reason.to_string()));
    }
    Ok(tags)
}

/// The tag keys that clearing an override removes.
pub fn clear_keys(key: &str) -> Vec<String> {
    vec![key.to_string(), OVERRIDE_REASON_TAG.to_string()]
}

/// What an instance's override tag means at `now`, for both actions:
/// `active: ...` when it keeps the instance, the warning when it is
/// ignored, empty when it has no effect.
pub fn describe(value: &str, reason: Option<&str>, now: u64) -> String {
    let mut states = Vec::new();
    for action in [Action::Stop, Action::Start] {
        match verdict(Some(value), reason, action, now) {
            TagVerdict::Keep(why) => states.push(format!("active: {why}")),
            TagVerdict::Ignored(why) => states.push(why),
            TagVerdict::None => {}
        }
    }
    states.dedup();
    states.join("; ")
}

/// `running` / `stopped` (the CLI's `--keep`) as what to keep.
pub fn keep_of(word: &str) -> Option<Keep> {
    match word {
        "running" => Some(Keep::Running),
        "stopped" => Some(Keep::Stopped),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance::InstanceState;

    const NOV_26_08: u64 = 1_795_680_000; // 2026-11-26T08:00:00Z

    fn instance(id: &str) -> Instance {
        Instance::new(id, "Web", InstanceState::Running, "t3.micro")
    }

    #[test]
    fn only_the_workloads_own_instances_are_in_scope() {
        let all = [instance("i-1"), instance("i-2")];
        let ids = |chosen: Vec<&Instance>| chosen.iter().map(|i| i.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(scope(&all, &[], "W").unwrap()), ["i-1", "i-2"]);
        assert_eq!(ids(scope(&all, &["i-2".into()], "W").unwrap()), ["i-2"]);
        let stray = scope(&all, &["i-2".into(), "i-9".into()], "W").unwrap_err();
        assert_eq!(
            stray,
            EditError::NotInWorkload {
                id: "i-9".into(),
                workload: "W".into()
            }
        );
        assert_eq!(stray.to_string(), "i-9 is not an instance of workload \"W\"");
    }

    #[test]
    fn the_time_is_a_future_utc_time_or_a_span_from_now() {
        let now = NOV_26_08 - 3600;
        assert_eq!(until(Some("2026-11-26T08:00:00Z"), None, now), Ok(NOV_26_08));
        assert_eq!(until(None, Some("1h"), now), Ok(NOV_26_08));
        // --until wins over --for (clap lets only one through anyway).
        assert_eq!(until(Some("2026-11-26T08:00:00Z"), Some("3h"), now), Ok(NOV_26_08));
        for (u, span) in [
            (Some("2026-11-26T08:00:00Z"), None),
            (Some("tomorrow"), None),
            (None, Some("3 hours")),
            (None, None),
        ] {
            assert_eq!(
                until(u, span, NOV_26_08),
                Err(EditError::NoFutureTime),
                "{u:?} {span:?}"
            );
        }
    }

    #[test]
    fn tags_carry_the_override_and_a_reason_within_the_value_limit() {
        let tag = TagOverride {
            keep: Keep::Stopped,
            until: NOV_26_08,
        };
        let value = || {
            (
                "KeepMe".to_string(),
                "keep-stopped until 2026-11-26T08:00:00Z".to_string(),
            )
        };
        assert_eq!(set_tags("KeepMe", &tag, None).unwrap(), [value()]);
        assert_eq!(set_tags("KeepMe", &tag, Some("  ")).unwrap(), [value()]);
        let reason = (OVERRIDE_REASON_TAG.to_string(), "month-end batch".to_string());
        assert_eq!(
            set_tags("KeepMe", &tag, Some("month-end batch")).unwrap(),
            [value(), reason]
        );
        let longest = "é".repeat(MAX_TAG_VALUE_CHARS);
        assert_eq!(set_tags("KeepMe", &tag, Some(&longest)).unwrap().len(), 2);
        let longer = format!("{longest}x");
        assert_eq!(set_tags("KeepMe", &tag, Some(&longer)), Err(EditError::ReasonTooLong));
        assert_eq!(clear_keys("KeepMe"), ["KeepMe", OVERRIDE_REASON_TAG]);
    }

    #[test]
    fn a_tag_is_described_for_both_actions() {
        let before = NOV_26_08 - 60;
        assert_eq!(
            describe("keep-running until 2026-11-26T08:00:00Z", Some("batch"), before),
            "active: override tag: keep-running until 2026-11-26T08:00:00Z: batch"
        );
        assert!(describe("keep-running until 2026-11-26T08:00:00Z", None, NOV_26_08).contains("expired"));
        // An unreadable tag warns once, not once per action.
        let unreadable = describe("forever", None, before);
        assert!(!unreadable.is_empty() && !unreadable.contains("; "), "{unreadable}");
        assert_eq!(keep_of("stopped"), Some(Keep::Stopped));
        assert_eq!(keep_of("running"), Some(Keep::Running));
        assert_eq!(keep_of("paused"), None);
    }
}
