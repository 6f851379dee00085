//! The plan as a readable table: a header, one row per instance (or per
//! empty tier), then the tiers left out and the instances no tier claimed.

use super::keys::Severity;
use super::{InstancePlan, Plan, Step, TierGroup, TierPlan};
use crate::action::Action;
use crate::config::{show_secs, LoadBalancing};
use crate::traffic::AlarmStep;

/// The table's column headings.
const HEADINGS: [&str; 10] = [
    "TIER", "SEQ", "MODE", "DELAY", "INSTANCE", "STATE", "TYPE", "OVERRIDE", "GATE", "ACTION",
];

impl Plan {
    /// Renders the plan as a readable table.
    pub fn to_table(&self) -> String {
        let mut rows = vec![HEADINGS.map(String::from).to_vec()];
        for group in &self.groups {
            for tier in &group.tiers {
                rows.extend(self.tier_rows(group, tier));
            }
        }
        let mut out = self.table_header();
        out.push_str(&crate::table::render(&rows));
        out.push_str(&self.table_footer());
        out
    }

    /// The lines above the table: what, where, as whom, and why not.
    fn table_header(&self) -> String {
        let mut out = format!(
            "Plan: {} {} in {}{}\n",
            self.action,
            self.workload,
            self.region,
            self.scaling_profile
                .as_ref()
                .map(|p| format!(" (scaling profile {p})"))
                .unwrap_or_default()
        );
        match &self.account {
            Some(a) => out.push_str(&format!("Account: {} (role {})\n", a.account_id, a.role_arn)),
            None => out.push_str("Account: the scheduler's own\n"),
        }
        for w in &self.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        if let Some(reason) = &self.disabled_reason {
            out.push_str(&format!("DISABLED: {reason}\n"));
        }
        if let Some(reason) = &self.state_skip {
            out.push_str(&format!("SKIPPED: {reason}\n"));
        }
        if let Some(reason) = &self.calendar_skip {
            out.push_str(&format!("SKIPPED: {reason}\n"));
        }
        out
    }

    /// The lines below the table: tiers left out, instances of no tier.
    fn table_footer(&self) -> String {
        let mut out = String::new();
        for l in &self.left_out {
            out.push_str(&format!(
                "left out: tier {} ({}; {} instance(s))\n",
                l.tier, l.reason, l.instances
            ));
        }
        for u in &self.unmatched {
            out.push_str(&format!(
                "not in any configured tier: {} (tier tag {:?})\n",
                u.id, u.tier_tag
            ));
        }
        out.push_str(&self.key_lines());
        for a in &self.alarms {
            let step = match a.step {
                AlarmStep::Mute => "mute",
                AlarmStep::Unmute => "unmute",
                AlarmStep::Leave => "leave",
            };
            out.push_str(&format!("alarm {}: {step} ({})\n", a.alarm.name, a.reason));
        }
        out
    }

    /// The keys of the encrypted volumes, per instance (Start, once checked).
    fn key_lines(&self) -> String {
        let mut out = String::new();
        for (_, i) in self.instances() {
            for note in &i.keys {
                let severity = match note.severity {
                    Severity::Ok => "ok",
                    Severity::Warning => "warning",
                    Severity::Error => "ERROR",
                };
                out.push_str(&format!(
                    "kms key: {} {} ({}): {severity}: {}\n",
                    i.id,
                    note.key,
                    note.volumes.join(", "),
                    note.message
                ));
            }
        }
        out
    }

    /// One tier's rows: one per instance, or a "nothing to do" row.
    fn tier_rows(&self, group: &TierGroup, tier: &TierPlan) -> Vec<Vec<String>> {
        let mode = if tier.synchronous { "sync" } else { "async" };
        let lead = [
            tier.tier.clone(),
            tier.sequence.to_string(),
            mode.to_string(),
            show_secs(group.delay_after),
        ];
        let gate = tier
            .readiness
            .as_ref()
            .map(|r| format!("{:?}", r.check))
            .unwrap_or_else(|| "-".into());
        let row = |cells: [String; 4], action: String| -> Vec<String> {
            lead.iter()
                .cloned()
                .chain(cells)
                .chain([gate.clone(), action])
                .collect()
        };
        if tier.instances.is_empty() && tier.members.is_empty() {
            return vec![row(["(none)", "-", "-", "-"].map(String::from), "nothing to do".into())];
        }
        let instances = tier
            .instances
            .iter()
            .map(|i| row(instance_cells(tier, i), self.action_cell(tier, i)));
        // Other members: their member id, the service's words for their
        // state, the kind as the type; a restore names the capacity.
        let members = tier.members.iter().map(|d| {
            let cells = [d.member.clone(), d.status.clone(), d.kind.to_string(), "-".into()];
            let verb = match (&d.restores, &d.step) {
                (Some(c), Step::Act) => format!("restore {c}"),
                (None, Step::Act) if d.kind == crate::member::MemberKind::Eks => {
                    "record and set min and desired to 0 (max kept)".into()
                }
                (None, Step::Act) if d.kind.is_capacity() => "record and set to 0".into(),
                _ => self.action.verb().into(),
            };
            row(cells, self.step_cell(&d.step, &verb))
        });
        instances.chain(members).collect()
    }

    /// An instance's ACTION cell: the step and its reason.
    fn action_cell(&self, tier: &TierPlan, i: &InstancePlan) -> String {
        let verb = if i.hibernate { "hibernate" } else { self.action.verb() };
        if i.key_refusal().is_some() {
            return "not started: a KMS key of its volumes makes the start fail (kms key below)".into();
        }
        let cell = self.step_cell(&i.step, verb);
        match self.action {
            Action::Stop
                if tier.load_balancing == LoadBalancing::Drain
                    && matches!(i.step, Step::Act | Step::WaitThenAct { .. }) =>
            {
                format!("drain targets, then {cell}")
            }
            Action::Start if !i.registrations.is_empty() => format!("{cell}; register again in {}", i.registrations),
            _ => cell,
        }
    }

    /// A member's ACTION cell for `step`, `verb` being what acting means.
    fn step_cell(&self, step: &Step, verb: &str) -> String {
        match step {
            Step::Act => verb.to_string(),
            Step::WaitThenAct { reason } => format!("wait, then {} ({reason})", self.action.verb()),
            Step::Skip { reason } => format!("skip: {reason}"),
            Step::DoneEarlier { reason } => format!("done: {reason}"),
        }
    }
}

/// An instance's INSTANCE, STATE, TYPE and OVERRIDE cells.
fn instance_cells(tier: &TierPlan, i: &InstancePlan) -> [String; 4] {
    let credits = match i.unlimited_credits {
        Some(true) => " (unlimited)",
        _ => "",
    };
    let ty = match &i.resize_to {
        Some(to) => format!("{} -> {to}{credits}", i.instance_type),
        None => format!("{}{credits}", i.instance_type),
    };
    let over = if i.check_override {
        tier.override_check
            .as_ref()
            .map(|c| c.path().to_string())
            .unwrap_or_default()
    } else {
        "-".into()
    };
    [i.id.clone(), i.state.to_string(), ty, over]
}
