//! Texts of the SNS notifications. Subjects stay within SNS's 100-character
//! limit (ASCII, no line breaks); bodies are never empty.

use crate::summary::{Noted, RunSummary};

/// SNS rejects subjects longer than this.
pub const MAX_SUBJECT: usize = 100;

/// Subject and body of the one summary sent per run.
pub fn summary_message(summary: &RunSummary) -> (String, String) {
    let [acted, skipped, bypassed, failed, not_done] = summary.totals();
    let window = summary.maintenance_window.as_ref();
    let subject = subject(&format!(
        "EC2 scheduler: {} {} {:?}{}",
        summary.action,
        summary.workload,
        summary.status,
        window.map(|w| format!(" for {}", w.id)).unwrap_or_default()
    ));
    let why = window.map(|w| format!("Why: {}\n", w.describe())).unwrap_or_default();
    let mut body = format!(
        "Workload: {}\nRegion: {}\nAction: {}\n{why}Status: {:?}\n{}\n\nTotals: {acted} {}, {skipped} skipped, {bypassed} bypassed, {failed} failed, {not_done} not done\n\n",
        summary.workload,
        summary.region,
        summary.action,
        summary.status,
        summary.message,
        summary.action.done()
    );
    for t in &summary.tiers {
        body.push_str(&format!(
            "Tier {} (sequence {}): {} {}, {} skipped, {} bypassed, {} failed, {} not done\n",
            t.tier,
            t.sequence,
            t.acted.len(),
            summary.action.done(),
            t.skipped.len(),
            t.bypassed.len(),
            t.failed.len(),
            t.not_done.len()
        ));
        for b in &t.bypassed {
            body.push_str(&format!("  bypassed {}: {}\n", b.id, b.reason));
        }
        for f in &t.failed {
            body.push_str(&format!("  failed {}: {}\n", f.id, f.reason));
        }
        for n in &t.not_done {
            body.push_str(&format!("  not done {}: {}\n", n.id, n.reason));
        }
        for n in &t.traffic {
            body.push_str(&format!("  load balancing {}: {}\n", n.id, n.reason));
        }
    }
    for a in &summary.alarms {
        body.push_str(&format!("Alarm {}: {}\n", a.id, a.reason));
    }
    if let Some(saved) = &summary.saved {
        body.push_str(&format!("\nThe workload {}.\n", saved.sentence()));
    }
    (subject, body)
}

/// Subject and body of the message sent for each bypassed instance.
pub fn bypass_message(workload: &str, tier: &str, bypass: &Noted) -> (String, String) {
    let subject = subject(&format!("EC2 scheduler: {} bypassed in {workload}", bypass.id));
    let body = format!(
        "Workload: {workload}\nTier: {tier}\nInstance: {}\nNot stopped: {}\n",
        bypass.id, bypass.reason
    );
    (subject, body)
}

/// Subject and body of the notice sent when the kill switch
/// (`DisableAllSchedulingActions`) turns a scheduled action away.
pub fn kill_switch_message(workload: &str, action: crate::action::Action) -> (String, String) {
    let subject = subject(&format!("EC2 scheduler: kill switch on for {workload}"));
    let body = format!(
        "Workload: {workload}\nAction: {action}\nDisableAllSchedulingActions is on: no instance was touched.\n"
    );
    (subject, body)
}

/// Subject and body of the notice sent when a Change Calendar is CLOSED.
pub fn calendar_message(workload: &str, action: crate::action::Action, reason: &str) -> (String, String) {
    let subject = subject(&format!(
        "EC2 scheduler: {action} {workload} skipped (change calendar closed)"
    ));
    let body = format!("Workload: {workload}\nAction: {action}\n{reason}.\n");
    (subject, body)
}

/// Printable ASCII only, at most [`MAX_SUBJECT`] characters.
fn subject(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' })
        .collect();
    if clean.len() <= MAX_SUBJECT {
        clean
    } else {
        format!("{}...", &clean[..MAX_SUBJECT - 3])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_clipped_and_clean() {
        let long = "W".repeat(300);
        let (s, body) = bypass_message(
            &long,
            "Web",
            &Noted {
                id: "i-1".into(),
                reason: "file".into(),
            },
        );
        assert_eq!(s.len(), MAX_SUBJECT);
        assert!(s.ends_with("..."));
        assert!(!body.is_empty());
        assert_eq!(subject("a\nb\u{e9}"), "a?b?");
    }
}
