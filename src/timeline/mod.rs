//! A run's timeline as a Gantt chart: one lane per tier, a bar for each step
//! of the tier (override checks, acting, gates, ...), the inter-tier delays,
//! and a mark where a continuation took over; failures in red. Built from a
//! run's ledger record (what happened) or from a plan (what would happen,
//! with estimated durations), and drawn as a plain SVG: no browser, no
//! charting library.
//!
//! The model is here; `run.rs` and `plan.rs` lay out a record and a plan,
//! `svg.rs` draws the result.

mod plan;
mod run;
mod svg;

use crate::action::Action;
use crate::summary::PhaseKind;

/// What a bar shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarKind {
    /// A step of a tier.
    Step(PhaseKind),
    /// An InterTierOrchestrationDelay.
    Delay,
}

impl BarKind {
    /// The `data-kind` of the bar in the SVG.
    pub fn name(self) -> &'static str {
        match self {
            Self::Step(PhaseKind::Settle) => "settle",
            Self::Step(PhaseKind::OverrideCheck) => "override-check",
            Self::Step(PhaseKind::Scale) => "scale",
            Self::Step(PhaseKind::AutoScaling) => "auto-scaling",
            Self::Step(PhaseKind::Act) => "act",
            Self::Step(PhaseKind::Confirm) => "confirm",
            Self::Step(PhaseKind::Gate) => "gate",
            Self::Step(PhaseKind::Members) => "members",
            Self::Step(PhaseKind::Drain) => "drain",
            Self::Step(PhaseKind::Register) => "register",
            Self::Delay => "delay",
        }
    }

    /// What the legend calls it.
    fn legend(self) -> &'static str {
        match self {
            Self::Step(PhaseKind::Settle) => "waiting for transitions",
            Self::Step(PhaseKind::OverrideCheck) => "override check",
            Self::Step(PhaseKind::Scale) => "type change",
            Self::Step(PhaseKind::AutoScaling) => "Auto Scaling",
            Self::Step(PhaseKind::Act) => "acting",
            Self::Step(PhaseKind::Confirm) => "confirming starts",
            Self::Step(PhaseKind::Gate) => "readiness gate",
            Self::Step(PhaseKind::Members) => "databases, services, groups",
            Self::Step(PhaseKind::Drain) => "draining targets",
            Self::Step(PhaseKind::Register) => "registering targets",
            Self::Delay => "inter-tier delay",
        }
    }

    /// Its fill.
    fn colour(self) -> &'static str {
        match self {
            Self::Step(PhaseKind::Settle) => "#b279a2",
            Self::Step(PhaseKind::OverrideCheck) => "#f58518",
            Self::Step(PhaseKind::Scale) => "#72b7b2",
            Self::Step(PhaseKind::AutoScaling) => "#9d755d",
            Self::Step(PhaseKind::Act) => "#4c78a8",
            Self::Step(PhaseKind::Confirm) => "#88d27a",
            Self::Step(PhaseKind::Gate) => "#54a24b",
            Self::Step(PhaseKind::Members) => "#eeca3b",
            Self::Step(PhaseKind::Drain) => "#e45756",
            Self::Step(PhaseKind::Register) => "#ff9da6",
            Self::Delay => "#bab0ac",
        }
    }

    /// Every kind, in legend order.
    const ALL: [BarKind; 11] = [
        Self::Step(PhaseKind::Settle),
        Self::Step(PhaseKind::OverrideCheck),
        Self::Step(PhaseKind::Scale),
        Self::Step(PhaseKind::AutoScaling),
        Self::Step(PhaseKind::Act),
        Self::Step(PhaseKind::Confirm),
        Self::Step(PhaseKind::Gate),
        Self::Step(PhaseKind::Members),
        Self::Step(PhaseKind::Drain),
        Self::Step(PhaseKind::Register),
        Self::Delay,
    ];
}

/// The colour of a bar that failed (instances failed, a gate timed out).
pub const FAILED_COLOUR: &str = "#e45756";

/// One bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    /// Index into [`Timeline::lanes`].
    pub lane: usize,
    /// What it shows.
    pub kind: BarKind,
    /// From the run's start.
    pub start_ms: u64,
    /// From the run's start.
    pub end_ms: u64,
    /// Text on (or over) the bar.
    pub label: String,
    /// Drawn in red.
    pub failed: bool,
}

/// A vertical mark across the lanes: where a continuation took over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// From the run's start.
    pub at_ms: u64,
    /// What happened there.
    pub label: String,
}

/// A run (or a plan) laid out in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    /// The heading.
    pub title: String,
    /// The line under it.
    pub subtitle: String,
    /// Tier names, in execution order.
    pub lanes: Vec<String>,
    /// The bars.
    pub bars: Vec<Bar>,
    /// Continuations.
    pub markers: Vec<Marker>,
    /// Durations are estimates (a plan), not measurements.
    pub estimated: bool,
}

impl Timeline {
    /// An empty timeline under `title` and `subtitle`.
    fn new(title: String, subtitle: String, estimated: bool) -> Self {
        Self {
            title,
            subtitle,
            lanes: Vec::new(),
            bars: Vec::new(),
            markers: Vec::new(),
            estimated,
        }
    }

    /// The lane of `tier`, added below the others the first time.
    fn lane(&mut self, tier: &str) -> usize {
        match self.lanes.iter().position(|l| l == tier) {
            Some(i) => i,
            None => {
                self.lanes.push(tier.to_string());
                self.lanes.len() - 1
            }
        }
    }

    /// The lane of `tier` if it has one, else the first.
    fn lane_of(&self, tier: &str) -> usize {
        self.lanes.iter().position(|l| l == tier).unwrap_or(0)
    }

    /// A delay bar from `start_ms` to `end_ms` in each of `lanes`.
    fn push_delays(&mut self, lanes: &[usize], start_ms: u64, end_ms: u64, label: &str) {
        for &lane in lanes {
            self.bars.push(Bar {
                lane,
                kind: BarKind::Delay,
                start_ms,
                end_ms,
                label: label.to_string(),
                failed: false,
            });
        }
    }

    /// Where the last bar or mark ends, from the run's start.
    pub fn end_ms(&self) -> u64 {
        let bars = self.bars.iter().map(|b| b.end_ms);
        let marks = self.markers.iter().map(|m| m.at_ms);
        bars.chain(marks).max().unwrap_or(0)
    }
}

/// Typical durations for a plan's timeline. Measured runs vary; these are
/// what EC2 and SSM usually take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Estimates {
    /// Instances in transition settling.
    pub settle_ms: u64,
    /// A tier's override checks (SendCommand, the agent, the output).
    pub override_check_ms: u64,
    /// Type changes plus the default ScaleInstanceDelay.
    pub scale_ms: u64,
    /// One Stop/Start call of up to 500 instances.
    pub batch_ms: u64,
    /// One instance of a synchronous tier reaching its state.
    pub sync_instance_ms: u64,
    /// EC2 status checks passing after a start.
    pub status_checks_ms: u64,
    /// The SSM agent coming online after a start.
    pub ssm_online_ms: u64,
    /// Deregistered targets draining (connections close; at most the
    /// target group's deregistration delay, 300 s by default).
    pub drain_ms: u64,
    /// Registered targets passing their load balancer health checks.
    pub targets_healthy_ms: u64,
}

impl Estimates {
    /// The usual durations for `action`.
    pub fn typical(action: Action) -> Self {
        Self {
            settle_ms: match action {
                Action::Stop => 30_000,
                Action::Start => 60_000,
            },
            override_check_ms: 15_000,
            scale_ms: 6_000,
            batch_ms: 2_000,
            sync_instance_ms: match action {
                Action::Stop => 60_000,
                Action::Start => 45_000,
            },
            status_checks_ms: 180_000,
            ssm_online_ms: 90_000,
            drain_ms: 30_000,
            targets_healthy_ms: 60_000,
        }
    }
}
