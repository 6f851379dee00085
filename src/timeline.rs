//! A run's timeline as a Gantt chart: one lane per tier, a bar for each step
//! of the tier (override checks, acting, gates, ...), the inter-tier delays,
//! and a mark where a continuation took over; failures in red. Built from a
//! run's ledger record (what happened) or from a plan (what would happen,
//! with estimated durations), and drawn as a plain SVG: no browser, no
//! charting library.

use std::fmt::Write as _;

use crate::config::ReadinessCheck;
use crate::history::{short_id, show_ms, show_time, status, took_ms};
use crate::ledger::RunRecord;
use crate::plan::{Action, Plan};
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
            Self::Step(PhaseKind::Gate) => "gate",
            Self::Delay => "delay",
        }
    }

    fn legend(self) -> &'static str {
        match self {
            Self::Step(PhaseKind::Settle) => "waiting for transitions",
            Self::Step(PhaseKind::OverrideCheck) => "override check",
            Self::Step(PhaseKind::Scale) => "type change",
            Self::Step(PhaseKind::AutoScaling) => "Auto Scaling",
            Self::Step(PhaseKind::Act) => "acting",
            Self::Step(PhaseKind::Gate) => "readiness gate",
            Self::Delay => "inter-tier delay",
        }
    }

    fn colour(self) -> &'static str {
        match self {
            Self::Step(PhaseKind::Settle) => "#b279a2",
            Self::Step(PhaseKind::OverrideCheck) => "#f58518",
            Self::Step(PhaseKind::Scale) => "#72b7b2",
            Self::Step(PhaseKind::AutoScaling) => "#9d755d",
            Self::Step(PhaseKind::Act) => "#4c78a8",
            Self::Step(PhaseKind::Gate) => "#54a24b",
            Self::Delay => "#bab0ac",
        }
    }

    const ALL: [BarKind; 7] = [
        Self::Step(PhaseKind::Settle),
        Self::Step(PhaseKind::OverrideCheck),
        Self::Step(PhaseKind::Scale),
        Self::Step(PhaseKind::AutoScaling),
        Self::Step(PhaseKind::Act),
        Self::Step(PhaseKind::Gate),
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
    fn lane(&mut self, tier: &str) -> usize {
        match self.lanes.iter().position(|l| l == tier) {
            Some(i) => i,
            None => {
                self.lanes.push(tier.to_string());
                self.lanes.len() - 1
            }
        }
    }

    /// The timeline of a recorded run: each invocation's tiers, steps and
    /// delays at their wall-clock offsets from the run's start; an owed
    /// delay handed to a continuation spans the gap to the next invocation.
    pub fn of_run(record: &RunRecord) -> Self {
        let mut t = Self {
            title: format!("{} {}: run {}", record.action, record.workload, short_id(&record.key)),
            subtitle: format!(
                "{} · {} invocation(s) · took {} · started {} UTC · {}",
                status(record),
                record.invocations,
                took_ms(record).map_or_else(|| "(still running)".into(), show_ms),
                show_time(record.started_at),
                record.key
            ),
            lanes: Vec::new(),
            bars: Vec::new(),
            markers: Vec::new(),
            estimated: false,
        };
        let Some(first) = record.history.first() else {
            return t;
        };
        let t0 = first.started_at_ms;
        let verb = record.action.done();
        for (index, trace) in record.history.iter().enumerate() {
            let base = trace.started_at_ms.saturating_sub(t0);
            if index > 0 {
                t.markers.push(Marker {
                    at_ms: base,
                    label: format!("invocation {} (continuation)", trace.invocation),
                });
            }
            for tier in &trace.tiers {
                let lane = t.lane(&tier.tier);
                // Records written before phases were kept: the whole tier.
                let phases: Vec<(PhaseKind, u64, u64)> = if tier.phases.is_empty() {
                    let acted = tier.acted + tier.failed > 0;
                    acted
                        .then_some((PhaseKind::Act, tier.started_at_ms, tier.duration_ms))
                        .into_iter()
                        .collect()
                } else {
                    tier.phases
                        .iter()
                        .map(|p| (p.kind, p.started_at_ms, p.duration_ms))
                        .collect()
                };
                for (kind, start, duration) in phases {
                    let (label, failed) = match kind {
                        PhaseKind::Act => {
                            let mut label = format!("{} {verb}", tier.acted);
                            if tier.failed > 0 {
                                label.push_str(&format!(", {} failed", tier.failed));
                            }
                            if tier.not_done > 0 {
                                label.push_str(&format!(", {} not done", tier.not_done));
                            }
                            (label, tier.failed > 0)
                        }
                        PhaseKind::Gate if tier.gate_timed_out => ("gate timed out".into(), true),
                        PhaseKind::OverrideCheck if tier.bypassed > 0 => {
                            (format!("override check, {} kept", tier.bypassed), false)
                        }
                        other => (BarKind::Step(other).legend().into(), false),
                    };
                    t.bars.push(Bar {
                        lane,
                        kind: BarKind::Step(kind),
                        start_ms: base + start,
                        end_ms: base + start + duration,
                        label,
                        failed,
                    });
                }
            }
            for d in &trace.delays {
                let lanes: Vec<usize> = trace
                    .tiers
                    .iter()
                    .filter(|x| x.sequence == d.after_sequence)
                    .map(|x| t.lanes.iter().position(|l| *l == x.tier).unwrap_or(0))
                    .collect();
                for lane in lanes {
                    t.bars.push(Bar {
                        lane,
                        kind: BarKind::Delay,
                        start_ms: base + d.started_at_ms,
                        end_ms: base + d.started_at_ms + d.duration_ms,
                        label: format!("delay {}", show_ms(d.duration_ms)),
                        failed: false,
                    });
                }
            }
            // The delay owed at hand-over, waited by the continuation's schedule.
            if let Some(secs) = trace.resume_after_secs.filter(|s| *s > 0) {
                let last_sequence = trace.tiers.iter().filter(|x| x.not_done == 0).map(|x| x.sequence).max();
                let from = base + trace.duration_ms;
                let (to, label) = match record.history.get(index + 1) {
                    Some(next) => (
                        next.started_at_ms.saturating_sub(t0),
                        format!("delay {secs}s, waited outside the function"),
                    ),
                    None => (from + secs * 1000, format!("delay {secs}s, continuation pending")),
                };
                let lanes: Vec<usize> = trace
                    .tiers
                    .iter()
                    .filter(|x| Some(x.sequence) == last_sequence)
                    .map(|x| t.lanes.iter().position(|l| *l == x.tier).unwrap_or(0))
                    .collect();
                for lane in lanes {
                    t.bars.push(Bar {
                        lane,
                        kind: BarKind::Delay,
                        start_ms: from,
                        end_ms: to.max(from),
                        label: label.clone(),
                        failed: false,
                    });
                }
            }
        }
        t
    }

    /// The timeline a plan would take, with estimated durations (see
    /// [`Estimates`]): tiers of a group side by side, each group's delay
    /// after it.
    pub fn of_plan(plan: &Plan, estimates: &Estimates) -> Self {
        let mut t = Self {
            title: format!("{} {}: plan (estimated durations)", plan.action, plan.workload),
            subtitle: format!(
                "estimates, not measurements: override check {}, {} {} per instance in a synchronous tier, \
                 gates at their typical time; delays as configured",
                show_ms(estimates.override_check_ms),
                plan.action.verb(),
                show_ms(estimates.sync_instance_ms)
            ),
            lanes: Vec::new(),
            bars: Vec::new(),
            markers: Vec::new(),
            estimated: true,
        };
        let mut now = 0;
        for group in &plan.groups {
            let mut group_end = now;
            let mut lanes = Vec::new();
            for tier in &group.tiers {
                let lane = t.lane(&tier.tier);
                lanes.push(lane);
                let mut at = now;
                let mut step = |t: &mut Self, kind: PhaseKind, ms: u64, label: String| {
                    if ms > 0 {
                        t.bars.push(Bar {
                            lane,
                            kind: BarKind::Step(kind),
                            start_ms: at,
                            end_ms: at + ms,
                            label,
                            failed: false,
                        });
                        at += ms;
                    }
                };
                let actionable: Vec<_> = tier.actionable().collect();
                if actionable.is_empty() {
                    continue;
                }
                let waiting = actionable
                    .iter()
                    .filter(|i| matches!(i.step, crate::plan::Step::WaitThenAct { .. }))
                    .count();
                if waiting > 0 {
                    step(
                        &mut t,
                        PhaseKind::Settle,
                        estimates.settle_ms,
                        format!("{waiting} in transition"),
                    );
                }
                let checked = actionable.iter().filter(|i| i.check_override).count();
                if plan.action == Action::Stop && checked > 0 {
                    step(
                        &mut t,
                        PhaseKind::OverrideCheck,
                        estimates.override_check_ms,
                        format!("override check ({checked})"),
                    );
                }
                let resized = actionable.iter().filter(|i| i.resize_to.is_some()).count();
                if plan.action == Action::Start && resized > 0 {
                    step(
                        &mut t,
                        PhaseKind::Scale,
                        estimates.scale_ms,
                        format!("{resized} type change(s)"),
                    );
                }
                let n = actionable.len() as u64;
                let act_ms = if tier.synchronous {
                    n * estimates.sync_instance_ms
                } else {
                    n.div_ceil(crate::orchestrator::EC2_BATCH as u64) * estimates.batch_ms
                };
                step(&mut t, PhaseKind::Act, act_ms, format!("{n} to {}", plan.action.verb()));
                if let Some(readiness) = &tier.readiness {
                    let typical = match readiness.check {
                        // A synchronous tier already waited for each state.
                        ReadinessCheck::State if tier.synchronous => estimates.batch_ms,
                        ReadinessCheck::State => estimates.sync_instance_ms,
                        ReadinessCheck::StatusChecks => estimates.status_checks_ms,
                        ReadinessCheck::SsmOnline => estimates.ssm_online_ms,
                    };
                    let ms = typical.min(readiness.timeout.as_millis() as u64);
                    step(&mut t, PhaseKind::Gate, ms, format!("gate {:?}", readiness.check));
                }
                group_end = group_end.max(at);
            }
            let delay = group.delay_after.as_millis() as u64;
            if delay > 0 {
                for lane in lanes {
                    t.bars.push(Bar {
                        lane,
                        kind: BarKind::Delay,
                        start_ms: group_end,
                        end_ms: group_end + delay,
                        label: format!("delay {}", show_ms(delay)),
                        failed: false,
                    });
                }
            }
            now = group_end + delay;
        }
        t
    }

    /// Where the last bar or mark ends, from the run's start.
    pub fn end_ms(&self) -> u64 {
        let bars = self.bars.iter().map(|b| b.end_ms);
        let marks = self.markers.iter().map(|m| m.at_ms);
        bars.chain(marks).max().unwrap_or(0)
    }

    /// The chart as a standalone SVG document. Lanes are `<g class="lane"
    /// data-lane="TIER">` holding their bars, `<rect class="bar"
    /// data-kind=... data-start-ms=... data-end-ms=...>`; continuations are
    /// `<g class="marker">`.
    pub fn to_svg(&self) -> String {
        const WIDTH: f64 = 1000.0;
        const LEFT: f64 = 170.0;
        const RIGHT: f64 = 30.0;
        const TOP: f64 = 92.0;
        const LANE: f64 = 40.0;
        const BAR: f64 = 22.0;
        const MIN_BAR: f64 = 4.0;
        let plot = WIDTH - LEFT - RIGHT;
        let end = self.end_ms().max(1000);
        let x = |ms: u64| LEFT + ms as f64 / end as f64 * plot;
        let lanes_bottom = TOP + LANE * self.lanes.len().max(1) as f64;
        let height = lanes_bottom + 90.0;
        let mut svg = String::new();
        let _ = write!(
            svg,
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="Helvetica, Arial, sans-serif" font-size="12">
<title>{}</title>
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="16" y="28" font-size="17" font-weight="bold" fill="#222">{}</text>
<text x="16" y="50" fill="#555">{}</text>
"##,
            esc(&self.title),
            esc(&self.title),
            esc(&self.subtitle)
        );
        // Time axis: about eight ticks at a round step.
        let step = tick_step(end);
        let _ = writeln!(svg, r#"<g class="axis">"#);
        let mut tick = 0;
        while tick <= end {
            let tx = x(tick);
            let _ = writeln!(
                svg,
                r##"<line x1="{tx:.1}" y1="{:.1}" x2="{tx:.1}" y2="{lanes_bottom:.1}" stroke="#e3e3e3"/><text x="{tx:.1}" y="{:.1}" text-anchor="middle" fill="#666">{}</text>"##,
                TOP - 12.0,
                TOP - 18.0,
                axis_label(tick)
            );
            tick += step;
        }
        let _ = writeln!(svg, "</g>");
        for (index, name) in self.lanes.iter().enumerate() {
            let top = TOP + LANE * index as f64;
            let fill = if index % 2 == 0 { "#f7f7f7" } else { "#ffffff" };
            let _ = writeln!(
                svg,
                r##"<g class="lane" data-lane="{}"><rect x="0" y="{top:.1}" width="{WIDTH}" height="{LANE}" fill="{fill}"/><text x="16" y="{:.1}" fill="#222" font-weight="bold">{}</text>"##,
                esc(name),
                top + LANE / 2.0 + 4.0,
                esc(name)
            );
            // Delays underneath, steps on top: a step of a few milliseconds
            // next to a delay stays visible.
            let mut lane: Vec<&Bar> = self.bars.iter().filter(|b| b.lane == index).collect();
            lane.sort_by_key(|b| b.kind != BarKind::Delay);
            // Too short to see at this scale: still drawn, MIN_BAR px wide.
            let extents: Vec<(f64, f64)> = lane
                .iter()
                .map(|b| {
                    let (from, to) = (x(b.start_ms), x(b.end_ms));
                    (from, from + (to - from).max(MIN_BAR))
                })
                .collect();
            // Labels drawn beside their bars, so two never overlap.
            let mut labels: Vec<(f64, f64)> = Vec::new();
            for (i, (bar, &(bx, ex))) in lane.iter().zip(&extents).enumerate() {
                let y = top + (LANE - BAR) / 2.0;
                let colour = if bar.failed { FAILED_COLOUR } else { bar.kind.colour() };
                let dash = if self.estimated {
                    r##" stroke="#333" stroke-dasharray="4 3""##
                } else {
                    ""
                };
                let tip = format!(
                    "{}: {} (+{} to +{}, {})",
                    name,
                    bar.label,
                    show_ms(bar.start_ms),
                    show_ms(bar.end_ms),
                    show_ms(bar.end_ms.saturating_sub(bar.start_ms))
                );
                let _ = writeln!(
                    svg,
                    r#"<rect class="bar{}" data-kind="{}" data-start-ms="{}" data-end-ms="{}" x="{bx:.1}" y="{y:.1}" width="{:.1}" height="{BAR}" rx="3" fill="{colour}"{dash}><title>{}</title></rect>"#,
                    if bar.failed { " failed" } else { "" },
                    bar.kind.name(),
                    bar.start_ms,
                    bar.end_ms,
                    ex - bx,
                    esc(&tip)
                );
                // The label goes inside when it fits, else beside the bar
                // where nothing else is drawn, else only in the tooltip.
                let text = 6.6 * bar.label.chars().count() as f64 + 8.0;
                let free = |from: f64, to: f64, taken: &[(f64, f64)]| {
                    from >= LEFT
                        && to <= WIDTH - 4.0
                        && extents
                            .iter()
                            .enumerate()
                            .filter(|(j, _)| *j != i)
                            .map(|(_, e)| e)
                            .chain(taken)
                            .all(|(s, e)| *e <= from || *s >= to)
                };
                let text_y = y + BAR / 2.0 + 4.0;
                let placed = if ex - bx > text {
                    Some((bx + 4.0, "start", "#fff"))
                } else if free(ex, ex + text, &labels) {
                    labels.push((ex, ex + text));
                    Some((ex + 4.0, "start", "#333"))
                } else if free(bx - text, bx, &labels) {
                    labels.push((bx - text, bx));
                    Some((bx - 4.0, "end", "#333"))
                } else {
                    None
                };
                if let Some((tx, anchor, fill)) = placed {
                    let _ = writeln!(
                        svg,
                        r#"<text x="{tx:.1}" y="{text_y:.1}" text-anchor="{anchor}" fill="{fill}">{}</text>"#,
                        esc(&bar.label)
                    );
                }
            }
            let _ = writeln!(svg, "</g>");
        }
        for marker in &self.markers {
            let mx = x(marker.at_ms);
            // Left of the line when the right would run off the picture.
            let (tx, anchor) = if mx + 7.0 * marker.label.len() as f64 > WIDTH {
                (mx - 4.0, "end")
            } else {
                (mx + 4.0, "start")
            };
            let _ = writeln!(
                svg,
                r##"<g class="marker" data-at-ms="{}"><line x1="{mx:.1}" y1="{:.1}" x2="{mx:.1}" y2="{lanes_bottom:.1}" stroke="#222" stroke-width="1.5" stroke-dasharray="6 4"/><text x="{tx:.1}" y="{:.1}" text-anchor="{anchor}" fill="#222">{}</text></g>"##,
                marker.at_ms,
                TOP - 6.0,
                lanes_bottom + 16.0,
                esc(&marker.label)
            );
        }
        // Legend: the kinds drawn, plus red for failures.
        let mut lx = 16.0;
        let ly = lanes_bottom + 44.0;
        let _ = writeln!(svg, r#"<g class="legend">"#);
        let mut items: Vec<(&str, &str)> = BarKind::ALL
            .iter()
            .filter(|k| self.bars.iter().any(|b| b.kind == **k))
            .map(|k| (k.colour(), k.legend()))
            .collect();
        items.push((FAILED_COLOUR, "failed / timed out"));
        for (colour, text) in items {
            let _ = writeln!(
                svg,
                r##"<rect x="{lx:.1}" y="{:.1}" width="14" height="14" rx="2" fill="{colour}"/><text x="{:.1}" y="{ly:.1}" fill="#333">{}</text>"##,
                ly - 11.0,
                lx + 19.0,
                esc(text)
            );
            lx += 30.0 + 6.5 * text.len() as f64;
        }
        let _ = writeln!(svg, "</g>\n</svg>");
        svg
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
        }
    }
}

fn tick_step(end_ms: u64) -> u64 {
    const STEPS: [u64; 16] = [
        1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14_400, 43_200,
    ];
    STEPS
        .iter()
        .map(|s| s * 1000)
        .find(|s| end_ms / s <= 8)
        .unwrap_or(86_400_000)
}

fn axis_label(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0 => "0".into(),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s >= 3600 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s if s > 60 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

/// Escapes text for XML content and attribute values.
fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_few() {
        assert_eq!(tick_step(17_300), 2_000);
        assert_eq!(tick_step(40 * 60 * 1000), 300_000);
        assert_eq!(axis_label(90_000), "1m30s");
        assert_eq!(axis_label(3_600_000), "1h");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(esc(r#"a<b & "c""#), "a&lt;b &amp; &quot;c&quot;");
    }
}
