//! The saving per day as an SVG bar chart (`orchestrator savings --svg`),
//! a plain SVG the program writes itself: one bar per UTC day of the
//! window, its height the USD saved that day at on-demand list prices
//! (known prices only), a caption saying so.

use std::fmt::Write;

use super::Report;

const DAY_WIDTH: f64 = 16.0;
const CHART_HEIGHT: f64 = 160.0;
const LEFT: f64 = 50.0;
const TOP: f64 = 40.0;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl Report {
    /// The chart of [`Report::per_day`], every day of the window.
    pub fn to_svg(&self) -> String {
        let mut days = Vec::new();
        let mut day = self.window.from;
        while day < self.window.to && days.len() < 400 {
            days.push(day);
            day = match day.tomorrow() {
                Ok(d) => d,
                Err(_) => break,
            };
        }
        let top = self.per_day.values().copied().fold(0.0_f64, f64::max);
        let width = LEFT + DAY_WIDTH * days.len() as f64 + 20.0;
        let height = TOP + CHART_HEIGHT + 70.0;
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
             viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"11\">\n"
        );
        let title = format!(
            "{}: saved {:.2} USD at on-demand list prices, {} to {}",
            self.workload,
            self.saved_usd,
            self.window.from,
            self.window.to.yesterday().unwrap_or(self.window.to)
        );
        let _ = writeln!(
            svg,
            "<text x=\"{LEFT}\" y=\"20\" font-size=\"13\">{}</text>",
            escape(&title)
        );
        let _ = writeln!(
            svg,
            "<text x=\"{LEFT}\" y=\"34\" fill=\"#555\">max {top:.2} USD a day</text>"
        );
        for (i, day) in days.iter().enumerate() {
            let usd = self.per_day.get(day).copied().unwrap_or(0.0);
            let h = if top > 0.0 { CHART_HEIGHT * usd / top } else { 0.0 };
            let x = LEFT + DAY_WIDTH * i as f64;
            let y = TOP + CHART_HEIGHT - h;
            let _ = writeln!(
                svg,
                "<rect class=\"day\" data-day=\"{day}\" data-usd=\"{usd:.4}\" x=\"{x}\" y=\"{y:.2}\" \
                 width=\"{}\" height=\"{h:.2}\" fill=\"#2a7\"><title>{day}: {usd:.2} USD</title></rect>",
                DAY_WIDTH - 2.0
            );
        }
        let base = TOP + CHART_HEIGHT;
        let _ = writeln!(
            svg,
            "<line x1=\"{LEFT}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\" stroke=\"#333\"/>",
            width - 20.0
        );
        for (i, caveat) in self.caveats.iter().take(2).enumerate() {
            let short: String = caveat.split(':').next().unwrap_or(caveat).chars().take(120).collect();
            let y = base + 20.0 + 16.0 * i as f64;
            let _ = writeln!(
                svg,
                "<text x=\"{LEFT}\" y=\"{y}\" fill=\"#555\">{}</text>",
                escape(&short)
            );
        }
        svg.push_str("</svg>\n");
        svg
    }
}
