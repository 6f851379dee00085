//! What a run did: the JSON the Lambda returns, the tables the CLI prints and
//! the text of the SNS summary.

use serde::{Deserialize, Serialize};

use crate::action::Action;
use crate::config::ReadinessCheck;
use crate::plan::{LeftOut, Plan};

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RunStatus {
    /// Every planned step was carried out without failure (bypassed
    /// instances, kept running by their override file, count as planned).
    Completed,
    /// Every tier was processed; some instances failed.
    CompletedWithFailures,
    /// The kill switch is on; nothing was actioned.
    Disabled,
    /// Dry run; nothing was actioned.
    DryRun,
    /// Time ran out; `notDone` lists what was not carried out.
    DeadlineReached,
    /// A readiness gate with `Abort` timed out; later tiers were not actioned.
    Aborted,
    /// Time ran out (or a long delay was offloaded); a continuation resumes
    /// the run from its checkpoint.
    Continuing,
    /// A Start skipped because the WorkloadState table says the workload's
    /// last action was already a Start (the original's rule; `-o` overrides).
    Skipped,
    /// A Change Calendar (`ChangeCalendarNames`) was CLOSED: nothing was done.
    SkippedByCalendar,
}

/// An instance with the reason it was treated as it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Noted {
    /// `i-...`
    pub id: String,
    /// Why.
    pub reason: String,
}

/// An instance whose action failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// `i-...`
    pub id: String,
    /// What went wrong.
    pub reason: String,
    /// The AWS error code, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// A type change made (or refused) before start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resize {
    /// `i-...`
    pub id: String,
    /// Old type.
    pub from: String,
    /// Requested type.
    pub to: String,
    /// Why the change was refused; the instance then starts with its old type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// EbsOptimized was turned off first: the new type cannot have it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ebs_optimized_cleared: bool,
}

/// What the scheduler did to an Auto Scaling group's processes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupChange {
    /// The group.
    pub group: String,
    /// Processes suspended before its members were stopped.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suspended: Vec<String>,
    /// Processes resumed after its members were started.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resumed: Vec<String>,
    /// Processes someone else had suspended: left alone.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub left_alone: Vec<String>,
    /// Why it failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A change of an instance's CPU credit option (`.u` in a profile).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreditChange {
    /// `i-...`
    pub id: String,
    /// `unlimited` or `standard`.
    pub cpu_credits: String,
    /// Why EC2 refused it, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The result of a tier's readiness gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GateOutcome {
    /// The condition polled.
    pub check: ReadinessCheck,
    /// Instances that met it.
    pub ready: usize,
    /// Instances that did not.
    pub not_ready: Vec<String>,
    /// The gate gave up (timeout or deadline).
    pub timed_out: bool,
    /// How long the gate waited.
    pub waited_ms: u64,
    /// `TargetsHealthy`: targets in a group no listener uses, which never
    /// become healthy: reported, not waited for (`instance in group:port`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unused: Vec<String>,
}

/// A timed step of a tier, for the run's timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Phase {
    /// What the tier was doing.
    pub kind: PhaseKind,
    /// When it began, from the invocation's start.
    pub started_at_ms: u64,
    /// How long it took.
    pub duration_ms: u64,
}

/// The steps of a tier, in the order they happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PhaseKind {
    /// Waiting for instances in transition to settle.
    Settle,
    /// Override files checked through SSM.
    OverrideCheck,
    /// Type and CPU credit changes, then ScaleInstanceDelay.
    Scale,
    /// Auto Scaling processes suspended (Stop) or resumed (Start).
    AutoScaling,
    /// The Stop/Start calls (and, in a synchronous tier, the waits).
    Act,
    /// Started instances confirmed `running` (Start).
    Confirm,
    /// The readiness gate.
    Gate,
    /// The tier's other members (databases, services, groups) acted on
    /// and waited for, beside the instances.
    Members,
    /// Load balancer targets deregistered and drained before a Stop.
    Drain,
    /// Recorded load balancer registrations put back after a Start.
    Register,
}

/// An InterTierOrchestrationDelay waited inside the invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DelayWait {
    /// The TierSequence of the group it followed.
    pub after_sequence: u64,
    /// When it began, from the invocation's start.
    pub started_at_ms: u64,
    /// How long it was.
    pub duration_ms: u64,
}

/// What happened in one tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TierOutcome {
    /// TierTagValue.
    pub tier: String,
    /// TierSequence.
    pub sequence: u64,
    /// Synchronous tier.
    pub synchronous: bool,
    /// Instances the action was issued to (and, for sync tiers, that reached the target state).
    pub acted: Vec<String>,
    /// Instances left alone, with the reason.
    pub skipped: Vec<Noted>,
    /// Instances not stopped because of the override check, with the reason.
    pub bypassed: Vec<Noted>,
    /// Instances whose action failed.
    pub failed: Vec<Failure>,
    /// Instances that were due but not reached (deadline or abort).
    pub not_done: Vec<Noted>,
    /// Type changes before start.
    pub resized: Vec<Resize>,
    /// CPU credit changes before start.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub credits: Vec<CreditChange>,
    /// Auto Scaling groups whose processes were suspended or resumed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub auto_scaling: Vec<GroupChange>,
    /// Instances of `acted` that were hibernated (`TierHibernate`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hibernated: Vec<String>,
    /// Instances whose hibernation EC2 refused; they were stopped normally.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hibernation_fallback: Vec<Noted>,
    /// Instances EC2 had no capacity for in their type, started in a
    /// fallback type (`TierFallbackTypes`, `SchedulerPreferredTypes`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub capacity_fallback: Vec<Noted>,
    /// Load balancer registrations removed before a Stop (drained) or put
    /// back after a Start, per instance.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub traffic: Vec<Noted>,
    /// What became of members' records in the run ledger when there is
    /// something to tell: a record kept (a Stop found one not restored
    /// yet), a record not removed after its restore (a warning).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<Noted>,
    /// The readiness gate, when the tier has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<GateOutcome>,
    /// When the tier began, from the run's start.
    pub started_at_ms: u64,
    /// How long the tier took.
    pub duration_ms: u64,
    /// Its timed steps, for the timeline.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<Phase>,
}

impl TierOutcome {
    /// An empty outcome for a tier.
    pub fn new(tier: &str, sequence: u64, synchronous: bool) -> Self {
        Self {
            tier: tier.to_string(),
            sequence,
            synchronous,
            acted: Vec::new(),
            skipped: Vec::new(),
            bypassed: Vec::new(),
            failed: Vec::new(),
            not_done: Vec::new(),
            resized: Vec::new(),
            credits: Vec::new(),
            auto_scaling: Vec::new(),
            hibernated: Vec::new(),
            hibernation_fallback: Vec::new(),
            capacity_fallback: Vec::new(),
            traffic: Vec::new(),
            records: Vec::new(),
            gate: None,
            started_at_ms: 0,
            duration_ms: 0,
            phases: Vec::new(),
        }
    }

    /// Records a step that ran from `from_ms` to `to_ms` (from the
    /// invocation's start).
    pub fn phase(&mut self, kind: PhaseKind, from_ms: u64, to_ms: u64) {
        self.phases.push(Phase {
            kind,
            started_at_ms: from_ms,
            duration_ms: to_ms.saturating_sub(from_ms),
        });
    }
}

/// The outcome of one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    /// SpecName.
    pub workload: String,
    /// WorkloadRegion.
    pub region: String,
    /// Stop or Start.
    pub action: Action,
    /// Scaling profile in force.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scaling_profile: Option<String>,
    /// The account acted in, when it is not the scheduler's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<crate::plan::AccountTarget>,
    /// Configuration warnings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// What became of the WorkloadState row (written, or why not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload_state: Option<String>,
    /// Dry run: nothing was changed.
    pub dry_run: bool,
    /// How the run ended.
    pub status: RunStatus,
    /// One sentence on the outcome.
    pub message: String,
    /// Tiers in execution order.
    pub tiers: Vec<TierOutcome>,
    /// Tiers that take no part in this action.
    pub left_out: Vec<LeftOut>,
    /// Notifications that could not be sent (they never abort a run).
    pub notification_errors: Vec<String>,
    /// Inter-tier delays waited in this invocation.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub delays: Vec<DelayWait>,
    /// Alarms muted before a Stop or unmuted after a Start (`AlarmPrefixes`),
    /// and any that could not be.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<Noted>,
    /// Wall time of the run.
    pub duration_ms: u64,
}

impl RunSummary {
    /// A summary for a plan, before anything is done.
    pub fn for_plan(plan: &Plan, dry_run: bool, status: RunStatus, message: impl Into<String>) -> Self {
        Self {
            workload: plan.workload.clone(),
            region: plan.region.clone(),
            action: plan.action,
            scaling_profile: plan.scaling_profile.clone(),
            account: plan.account.clone(),
            warnings: plan.warnings.clone(),
            workload_state: None,
            dry_run,
            status,
            message: message.into(),
            tiers: Vec::new(),
            left_out: plan.left_out.clone(),
            notification_errors: Vec::new(),
            delays: Vec::new(),
            alarms: Vec::new(),
            duration_ms: 0,
        }
    }

    /// Total counts over all tiers: (acted, skipped, bypassed, failed, not done).
    pub fn totals(&self) -> [usize; 5] {
        self.tiers.iter().fold([0; 5], |mut t, o| {
            t[0] += o.acted.len();
            t[1] += o.skipped.len();
            t[2] += o.bypassed.len();
            t[3] += o.failed.len();
            t[4] += o.not_done.len();
            t
        })
    }

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
