//! The chart drawn as a standalone SVG document.

use std::fmt::Write as _;

use super::{Bar, BarKind, Marker, Timeline, FAILED_COLOUR};
use crate::history::show_ms;

const WIDTH: f64 = 1000.0;
const LEFT: f64 = 170.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 92.0;
const LANE: f64 = 40.0;
const BAR: f64 = 22.0;
const MIN_BAR: f64 = 4.0;
/// The width of the plot, between the lane names and the right margin.
const PLOT: f64 = WIDTH - LEFT - RIGHT;

/// Where things go: the time scale and the bottom of the lanes.
struct Frame {
    /// The time at the right edge of the plot, from the run's start.
    end: u64,
    /// Below the last lane.
    lanes_bottom: f64,
}

impl Frame {
    /// The x of `ms` from the run's start.
    fn x(&self, ms: u64) -> f64 {
        LEFT + ms as f64 / self.end as f64 * PLOT
    }
}

impl Timeline {
    /// The chart as a standalone SVG document. Lanes are `<g class="lane"
    /// data-lane="TIER">` holding their bars, `<rect class="bar"
    /// data-kind=... data-start-ms=... data-end-ms=...>`; continuations are
    /// `<g class="marker">`.
    pub fn to_svg(&self) -> String {
        let frame = Frame {
            end: self.end_ms().max(1000),
            lanes_bottom: TOP + LANE * self.lanes.len().max(1) as f64,
        };
        let mut svg = String::new();
        self.write_heading(&mut svg, frame.lanes_bottom + 90.0);
        write_axis(&mut svg, &frame);
        for (index, name) in self.lanes.iter().enumerate() {
            self.write_lane(&mut svg, &frame, index, name);
        }
        for marker in &self.markers {
            write_marker(&mut svg, &frame, marker);
        }
        self.write_legend(&mut svg, frame.lanes_bottom + 44.0);
        let _ = writeln!(svg, "</svg>");
        svg
    }

    /// The `<svg>` element, a white background, the title and subtitle.
    fn write_heading(&self, svg: &mut String, height: f64) {
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
    }

    /// Lane `index`, named `name`: its band, its name and its bars.
    fn write_lane(&self, svg: &mut String, frame: &Frame, index: usize, name: &str) {
        let top = TOP + LANE * index as f64;
        let fill = if index.is_multiple_of(2) { "#f7f7f7" } else { "#ffffff" };
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
        let extents = bar_extents(frame, &lane);
        // Labels drawn beside their bars, so two never overlap.
        let mut labels: Vec<(f64, f64)> = Vec::new();
        for (i, (bar, &(bx, ex))) in lane.iter().zip(&extents).enumerate() {
            let y = top + (LANE - BAR) / 2.0;
            self.write_bar(svg, name, bar, (bx, ex), y);
            let others: Vec<(f64, f64)> = extents
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, e)| *e)
                .collect();
            let text = 6.6 * bar.label.chars().count() as f64 + 8.0;
            if let Some((tx, anchor, fill)) = place_label((bx, ex), text, &others, &mut labels) {
                let text_y = y + BAR / 2.0 + 4.0;
                let _ = writeln!(
                    svg,
                    r#"<text x="{tx:.1}" y="{text_y:.1}" text-anchor="{anchor}" fill="{fill}">{}</text>"#,
                    esc(&bar.label)
                );
            }
        }
        let _ = writeln!(svg, "</g>");
    }

    /// One bar of lane `name` from `bx` to `ex` at height `y`, its details
    /// in a tooltip; dashed when estimated.
    fn write_bar(&self, svg: &mut String, name: &str, bar: &Bar, (bx, ex): (f64, f64), y: f64) {
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
    }

    /// A swatch and a name for each kind drawn, plus red for failures,
    /// along `ly`.
    fn write_legend(&self, svg: &mut String, ly: f64) {
        let mut lx = 16.0;
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
        let _ = writeln!(svg, "</g>");
    }
}

/// The time axis: about eight ticks at a round step, with gridlines.
fn write_axis(svg: &mut String, frame: &Frame) {
    let step = tick_step(frame.end);
    let _ = writeln!(svg, r#"<g class="axis">"#);
    let mut tick = 0;
    while tick <= frame.end {
        let tx = frame.x(tick);
        let _ = writeln!(
            svg,
            r##"<line x1="{tx:.1}" y1="{:.1}" x2="{tx:.1}" y2="{:.1}" stroke="#e3e3e3"/><text x="{tx:.1}" y="{:.1}" text-anchor="middle" fill="#666">{}</text>"##,
            TOP - 12.0,
            frame.lanes_bottom,
            TOP - 18.0,
            axis_label(tick)
        );
        tick += step;
    }
    let _ = writeln!(svg, "</g>");
}

/// A continuation's dashed line across the lanes, labelled below them.
fn write_marker(svg: &mut String, frame: &Frame, marker: &Marker) {
    let mx = frame.x(marker.at_ms);
    // Left of the line when the right would run off the picture.
    let (tx, anchor) = if mx + 7.0 * marker.label.len() as f64 > WIDTH {
        (mx - 4.0, "end")
    } else {
        (mx + 4.0, "start")
    };
    let _ = writeln!(
        svg,
        r##"<g class="marker" data-at-ms="{}"><line x1="{mx:.1}" y1="{:.1}" x2="{mx:.1}" y2="{:.1}" stroke="#222" stroke-width="1.5" stroke-dasharray="6 4"/><text x="{tx:.1}" y="{:.1}" text-anchor="{anchor}" fill="#222">{}</text></g>"##,
        marker.at_ms,
        TOP - 6.0,
        frame.lanes_bottom,
        frame.lanes_bottom + 16.0,
        esc(&marker.label)
    );
}

/// Where each bar starts and ends, in px: one too short to see at this
/// scale is still drawn, MIN_BAR px wide.
fn bar_extents(frame: &Frame, bars: &[&Bar]) -> Vec<(f64, f64)> {
    bars.iter()
        .map(|b| {
            let (from, to) = (frame.x(b.start_ms), frame.x(b.end_ms));
            (from, from + (to - from).max(MIN_BAR))
        })
        .collect()
}

/// Where a label `text` px wide goes, as (x, anchor, fill): inside its bar
/// (from `bx` to `ex`) when it fits, else beside it where neither the other
/// bars nor the labels already placed are, else nowhere (the tooltip has
/// it). A label placed beside is added to `labels`.
fn place_label(
    (bx, ex): (f64, f64),
    text: f64,
    others: &[(f64, f64)],
    labels: &mut Vec<(f64, f64)>,
) -> Option<(f64, &'static str, &'static str)> {
    let free = |from: f64, to: f64, taken: &[(f64, f64)]| {
        from >= LEFT && to <= WIDTH - 4.0 && others.iter().chain(taken).all(|(s, e)| *e <= from || *s >= to)
    };
    if ex - bx > text {
        Some((bx + 4.0, "start", "#fff"))
    } else if free(ex, ex + text, labels) {
        labels.push((ex, ex + text));
        Some((ex + 4.0, "start", "#333"))
    } else if free(bx - text, bx, labels) {
        labels.push((bx - text, bx));
        Some((bx - 4.0, "end", "#333"))
    } else {
        None
    }
}

/// The axis step for a chart `end_ms` long: the roundest giving at most
/// eight ticks.
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

/// `0`, `30s`, `1m30s`, `5m`, `1h`, `1h30m`.
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
