//! The run's message for AWS Chatbot (Amazon Q Developer in chat
//! applications), which posts what an SNS topic receives to Slack or
//! Microsoft Teams: its custom notification format, one message per run
//! end, threaded by the run key; no webhook and no secret.

use serde_json::{json, Value};

use super::{RunContext, RunEnd, FAILURES_LISTED};

/// Chatbot shows at most this much of a title.
const TITLE_CHARS: usize = 250;
/// ... and of a description.
const DESCRIPTION_CHARS: usize = 8000;

/// `text` cut to `max` characters.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max.saturating_sub(3)) {
        Some((at, _)) if text.chars().count() > max => format!("{}...", &text[..at]),
        _ => text.to_string(),
    }
}

/// A name as markdown code: backticks in it cannot end the span.
fn code(text: &str) -> String {
    format!("`{}`", text.replace('`', "'"))
}

/// One line of a tier: its counts that are not zero.
fn tier_line(context: &RunContext, t: &super::TierTally) -> String {
    let mut parts = vec![format!("{} {}", t.acted, context.action.done())];
    for (n, word) in [
        (t.skipped, "skipped"),
        (t.bypassed, "bypassed"),
        (t.failed, "failed"),
        (t.not_done, "not done"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {word}"));
        }
    }
    format!("• {} (sequence {}): {}", code(&t.tier), t.sequence, parts.join(", "))
}

/// The description: the message, one line per tier, then the failures
/// (the first [`FAILURES_LISTED`], then how many more).
fn description(context: &RunContext, end: &RunEnd) -> String {
    let mut lines = vec![end.message.clone(), String::new()];
    lines.extend(end.tiers.iter().map(|t| tier_line(context, t)));
    let failed = end.totals()[3];
    if failed > 0 {
        lines.push(String::new());
        lines.push("*Failures*".into());
        for (tier, f) in end.failures().take(FAILURES_LISTED) {
            let code_part = f.code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default();
            lines.push(format!(
                "• {} {}: {}{code_part}",
                code(tier),
                code(&f.id),
                super::short(&f.reason)
            ));
        }
        let listed = end.failures().take(FAILURES_LISTED).count();
        if failed > listed {
            lines.push(format!("... and {} more", failed - listed));
        }
    }
    lines.push(String::new());
    lines.push(format!(
        "Took {:.1}s in {} invocation(s); run {}",
        end.took_ms as f64 / 1000.0,
        end.invocations,
        code(&context.run_key)
    ));
    cut(&lines.join("\n"), DESCRIPTION_CHARS)
}

/// The message AWS Chatbot posts for a run's end: `version` 1.0, `source`
/// `custom`, `content` (client-markdown `title` and `description`, one line
/// per tier; `nextSteps` when something failed or was not done;
/// `keywords`), `metadata.threadId` the run key so the run's messages
/// thread together.
pub fn chat_message(context: &RunContext, end: &RunEnd) -> Value {
    let [_, _, _, failed, not_done] = end.totals();
    let icon = match end.status.as_str() {
        "completed" => ":white_check_mark:",
        "completedWithFailures" => ":warning:",
        _ if failed > 0 || not_done > 0 => ":x:",
        _ => ":information_source:",
    };
    let window = context.maintenance_window.as_ref();
    let title = cut(
        &format!(
            "{icon} {} {}: {}{}",
            context.action,
            context.workload,
            end.status,
            window
                .map(|w| format!(" (maintenance window {})", w.id))
                .unwrap_or_default()
        ),
        TITLE_CHARS,
    );
    let mut content = json!({
        "textType": "client-markdown",
        "title": title,
        "description": description(context, end),
        "keywords": [context.workload, context.action.to_string(), end.status],
    });
    if failed > 0 || not_done > 0 {
        content["nextSteps"] = json!([
            format!(
                "See the run: `orchestrator runs show {}`",
                context.run_key.replace('`', "'")
            ),
            "Fix what each failure names, then run the action again (members done are skipped)",
        ]);
    }
    json!({
        "version": "1.0",
        "source": "custom",
        "id": super::event_id(&context.run_key, "Chat", None),
        "content": content,
        "metadata": {
            "threadId": context.run_key,
            "summary": cut(&format!("{} {}: {}", context.action, context.workload, end.message), TITLE_CHARS),
            "eventType": super::RUN_COMPLETED,
            "additionalContext": {"runKey": context.run_key, "invocations": end.invocations},
        },
    })
}
