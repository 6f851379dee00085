use super::*;
use crate::summary::Failure;

fn context() -> RunContext {
    RunContext {
        workload: "W".into(),
        action: Action::Stop,
        run_key: "run|W|r1".into(),
        invocation: 2,
        maintenance_window: None,
    }
}

fn failed_tier(n: usize) -> TierOutcome {
    let mut tier = TierOutcome::new("Role_DB", 2, false);
    tier.acted = (0..n).map(|i| format!("i-{i:017x}")).collect();
    tier.failed = (0..n)
        .map(|i| Failure {
            id: format!("i-{i:017x}"),
            reason: "x".repeat(1000),
            code: Some("IncorrectInstanceState".into()),
        })
        .collect();
    tier
}

#[test]
fn ids_are_stable_and_encoded() {
    assert_eq!(
        event_id("run|W|r1", TIER_COMPLETED, Some("Role|DB")),
        "event|run%7CW%7Cr1|Tier Completed|Role%7CDB"
    );
    // A tier name cannot make another event's id.
    assert_ne!(
        event_id("run|W|r1", TIER_COMPLETED, Some("a|b")),
        event_id("run|W|r1|Tier Completed|a", "b", None)
    );
    let entry = tier_completed(&context(), &failed_tier(1));
    assert_eq!(entry.id(), "event|run%7CW%7Cr1|Tier Completed|Role_DB");
    assert_eq!(entry.detail["invocation"], 2);
    assert_eq!(entry.detail["truncated"], false);
    assert_eq!(entry.detail["failed"][0]["code"], "IncorrectInstanceState");
}

#[test]
fn two_thousand_failures_fit_with_truncated_set_and_counts_kept() {
    let entry = tier_completed(&context(), &failed_tier(2000));
    assert!(entry.size() <= ENTRY_BYTES, "{}", entry.size());
    assert_eq!(entry.detail["truncated"], true);
    assert_eq!(entry.detail["counts"]["failed"], 2000);
    assert_eq!(entry.detail["counts"]["acted"], 2000);
    let listed = entry.detail["failed"].as_array().unwrap().len();
    assert!(listed > 0 && listed <= IDS_KEPT, "{listed}");
    let reason = entry.detail["failed"][0]["reason"].as_str().unwrap();
    assert!(reason.len() <= REASON_CHARS + 3);
}

#[test]
fn batches_hold_ten_entries_and_stay_under_the_request_size() {
    let entries: Vec<EventEntry> = (0..25)
        .map(|i| tier_completed(&context(), &failed_tier(if i % 3 == 0 { 2000 } else { 1 })))
        .collect();
    let batches = batches(entries);
    assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 25);
    for b in &batches {
        assert!(b.len() <= ENTRIES_PER_PUT);
        assert!(b.iter().map(EventEntry::size).sum::<usize>() < PUT_BYTES);
    }
}

fn end(failed: usize) -> RunEnd {
    RunEnd {
        status: if failed > 0 {
            "completedWithFailures"
        } else {
            "completed"
        }
        .into(),
        message: "5 instance(s) stopped".into(),
        took_ms: 16_200,
        invocations: 1,
        tiers: vec![
            TierTally {
                tier: "Role_Web".into(),
                sequence: 0,
                acted: 1,
                skipped: 0,
                bypassed: 1,
                failed: 0,
                not_done: 0,
                failures: Vec::new(),
            },
            TierTally {
                tier: "Role_DB".into(),
                sequence: 1,
                acted: 2,
                skipped: 0,
                bypassed: 0,
                failed,
                not_done: 0,
                failures: failed_tier(failed.min(20)).failed,
            },
        ],
    }
}

#[test]
fn run_completed_has_totals_and_the_first_failures() {
    let entry = run_completed(&context(), &end(30));
    let d = &entry.detail;
    assert_eq!(d["id"], "event|run%7CW%7Cr1|Run Completed");
    assert_eq!(d["totals"]["acted"], 3);
    assert_eq!(d["totals"]["failed"], 30);
    assert_eq!(d["failures"].as_array().unwrap().len(), FAILURES_LISTED);
    assert_eq!(d["failures"][0]["tier"], "Role_DB");
    assert_eq!(d["truncated"], true);
    assert_eq!(d["tookMs"], 16_200);
    assert_eq!(run_completed(&context(), &end(0)).detail["truncated"], false);
}

#[test]
fn the_chat_message_is_chatbots_custom_format() {
    let m = chat_message(&context(), &end(30));
    assert_eq!(m["version"], "1.0");
    assert_eq!(m["source"], "custom");
    assert_eq!(m["content"]["textType"], "client-markdown");
    assert_eq!(m["metadata"]["threadId"], "run|W|r1");
    let description = m["content"]["description"].as_str().unwrap();
    assert!(
        description.contains("• `Role_Web` (sequence 0): 1 stopped, 1 bypassed"),
        "{description}"
    );
    assert!(description.contains("... and 20 more"), "{description}");
    assert_eq!(description.matches("IncorrectInstanceState").count(), FAILURES_LISTED);
    assert!(m["content"]["nextSteps"].as_array().is_some_and(|s| !s.is_empty()));
    let quiet = chat_message(&context(), &end(0));
    assert!(quiet["content"].get("nextSteps").is_none());
    assert!(quiet["content"]["title"]
        .as_str()
        .unwrap()
        .contains("Stop W: completed"));
}
