//! The run summary as the CLI prints it: a heading, a table of the tiers,
//! then one line per noteworthy member, group, alarm and gate.

use super::{RunSummary, TierOutcome};
use crate::action::Action;

impl RunSummary {
    /// Renders the outcome as a table plus one line per noteworthy instance.
    pub fn to_table(&self) -> String {
        let mut rows = vec![[
            "TIER", "SEQ", "MODE", "ACTED", "SKIPPED", "BYPASSED", "FAILED", "NOT DONE", "START", "TIME",
        ]
        .map(String::from)
        .to_vec()];
        for t in &self.tiers {
            rows.push(vec![
                t.tier.clone(),
                t.sequence.to_string(),
                if t.synchronous { "sync" } else { "async" }.into(),
                t.acted.len().to_string(),
                t.skipped.len().to_string(),
                t.bypassed.len().to_string(),
                t.failed.len().to_string(),
                t.not_done.len().to_string(),
                format!("+{:.1}s", t.started_at_ms as f64 / 1000.0),
                format!("{:.1}s", t.duration_ms as f64 / 1000.0),
            ]);
        }
        let mut out = format!(
            "{} {}{}: {:?} - {}\n",
            self.action,
            self.workload,
            if self.dry_run { " (dry run)" } else { "" },
            self.status,
            self.message
        );
        if let Some(a) = &self.account {
            out.push_str(&format!("account {} (role {})\n", a.account_id, a.role_arn));
        }
        for w in &self.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        if !self.tiers.is_empty() {
            out.push_str(&crate::table::render(&rows));
        }
        out.push_str(&self.details());
        if let Some(state) = &self.workload_state {
            out.push_str(&format!("WorkloadState: {state}\n"));
        }
        if let Some(saved) = &self.saved {
            out.push_str(&format!("{}\n", saved.sentence()));
        }
        out
    }

    /// One line per acted, bypassed, failed, not-done or resized instance
    /// (and per alarm muted or unmuted).
    pub fn details(&self) -> String {
        let mut out = String::new();
        for a in &self.alarms {
            out.push_str(&format!("  alarm {}: {}\n", a.id, a.reason));
        }
        for t in &self.tiers {
            out.push_str(&tier_members(t, self.action));
            out.push_str(&tier_changes(t));
        }
        for l in &self.left_out {
            out.push_str(&format!("  {}: left out, {}\n", l.tier, l.reason));
        }
        for e in &self.notification_errors {
            out.push_str(&format!("  notification failed: {e}\n"));
        }
        out
    }
}

/// A tier's lines for what became of each member, and its traffic.
fn tier_members(t: &TierOutcome, action: Action) -> String {
    let mut out = String::new();
    for id in &t.acted {
        out.push_str(&format!("  {} {id}: {}\n", t.tier, past_tense(action)));
    }
    for n in &t.skipped {
        out.push_str(&format!("  {} {}: skipped, {}\n", t.tier, n.id, n.reason));
    }
    for n in &t.bypassed {
        out.push_str(&format!("  {} {}: BYPASSED, {}\n", t.tier, n.id, n.reason));
    }
    for f in &t.failed {
        out.push_str(&format!("  {} {}: FAILED, {}\n", t.tier, f.id, f.reason));
    }
    for n in &t.not_done {
        out.push_str(&format!("  {} {}: NOT DONE, {}\n", t.tier, n.id, n.reason));
    }
    for n in &t.capacity_fallback {
        out.push_str(&format!("  {} {}: FALLBACK TYPE, {}\n", t.tier, n.id, n.reason));
    }
    for n in &t.traffic {
        out.push_str(&format!("  {} {}: load balancing, {}\n", t.tier, n.id, n.reason));
    }
    if let Some(unused) = t.gate.as_ref().map(|g| &g.unused).filter(|u| !u.is_empty()) {
        out.push_str(&format!(
            "  {} targets no listener uses (never healthy, not waited for): {}\n",
            t.tier,
            unused.join(", ")
        ));
    }
    out
}

/// A tier's lines for its groups, CPU credits, type changes and gate.
fn tier_changes(t: &TierOutcome) -> String {
    let mut out = String::new();
    for g in &t.auto_scaling {
        let mut what = Vec::new();
        if !g.suspended.is_empty() {
            what.push(format!("suspended {}", g.suspended.join(",")));
        }
        if !g.resumed.is_empty() {
            what.push(format!("resumed {}", g.resumed.join(",")));
        }
        if !g.left_alone.is_empty() {
            what.push(format!("left {} as found", g.left_alone.join(",")));
        }
        if let Some(e) = &g.error {
            what.push(format!("FAILED: {e}"));
        }
        out.push_str(&format!(
            "  {} Auto Scaling group {}: {}\n",
            t.tier,
            g.group,
            what.join("; ")
        ));
    }
    for c in &t.credits {
        match &c.error {
            None => out.push_str(&format!("  {} {}: CPU credits {}\n", t.tier, c.id, c.cpu_credits)),
            Some(e) => out.push_str(&format!(
                "  {} {}: CPU credits not set to {}: {e}\n",
                t.tier, c.id, c.cpu_credits
            )),
        }
    }
    for r in &t.resized {
        match &r.error {
            None => out.push_str(&format!("  {} {}: type {} -> {}\n", t.tier, r.id, r.from, r.to)),
            Some(e) => out.push_str(&format!(
                "  {} {}: type change {} -> {} refused ({e}); started as {}\n",
                t.tier, r.id, r.from, r.to, r.from
            )),
        }
    }
    if let Some(g) = &t.gate {
        out.push_str(&format!(
            "  {} gate {:?}: {} ready, {} not ready{} after {:.1}s\n",
            t.tier,
            g.check,
            g.ready,
            g.not_ready.len(),
            if g.timed_out { " (timed out)" } else { "" },
            g.waited_ms as f64 / 1000.0
        ));
    }
    out
}

fn past_tense(action: Action) -> &'static str {
    match action {
        Action::Stop => "stop issued",
        Action::Start => "start issued",
    }
}
