//! Server-rendered SVG charts: no JavaScript, no external assets. Each chart has a
//! `<title>` and a `<desc>` (named by `aria-labelledby`), and the page shows the same
//! numbers as a table beside it, so the chart is never the only way to read them.
//!
//! Time series are drawn as steps: each bucket is a flat segment across its own width,
//! so an empty bucket is a visible zero and two adjacent busy buckets are joined at
//! their own heights, never through zero (no saw-teeth). Series differ by colour
//! (each passes 3:1 against white), by dash pattern and by marker shape, so they are
//! told apart without colour too. Every point's marker carries a `<title>` with its
//! series, value and time (a tooltip in browsers, read by screen readers).

use std::fmt::Write;

use crate::platform::time::display;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 48.0;

/// One series: its name (in the key and each point's title) and a value per bucket
/// (`None`: not measured, drawn as a gap).
pub struct Series<'a> {
    pub name: &'a str,
    pub values: Vec<Option<f64>>,
}

/// A chart of series over time buckets.
pub struct TimeChart<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    /// The y axis's title, with its unit ("Calls per 15 minutes").
    pub y_title: &'a str,
    /// Appended to values in labels and titles (" ms"), or empty.
    pub unit: &'a str,
    /// Each bucket's start (Unix seconds) and width.
    pub starts: &'a [i64],
    pub step: i64,
    pub series: &'a [Series<'a>],
    /// A limit to draw across the chart (an alert rule's threshold), with its label.
    pub threshold: Option<(f64, &'a str)>,
}

pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A round upper bound for the axis, at least `max`.
fn nice_max(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if step * magnitude >= max {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

fn label(value: f64) -> String {
    if value >= 1_000_000.0 {
        format!("{:.1}M", value / 1_000_000.0)
    } else if value >= 10_000.0 {
        format!("{:.0}k", value / 1_000.0)
    } else if value.fract() == 0.0 {
        crate::platform::format::thousands(value as i64)
    } else {
        format!("{value:.1}")
    }
}

/// A tick label for a bucket start on a chart spanning `span` seconds: the day for
/// day steps, the time within the day when the chart covers a day or less, the date
/// and time otherwise (a week of hours must not read as one day's clock).
pub fn tick(at: i64, step: i64, span: i64) -> String {
    let text = display(at);
    if step >= 86_400 {
        text.get(5..10).unwrap_or_default().to_string()
    } else if span <= 86_400 {
        text.get(11..16).unwrap_or_default().to_string()
    } else {
        text.get(5..16).unwrap_or_default().to_string()
    }
}

/// The marker of series `n` at (`x`, `y`): a circle, a square, then a diamond.
fn marker(n: usize, x: f64, y: f64, size: f64) -> String {
    match n % 3 {
        0 => format!("<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{size:.1}\""),
        1 => format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"",
            x - size,
            y - size,
            2.0 * size,
            2.0 * size
        ),
        _ => format!(
            "<path d=\"M{x:.1},{:.1} L{:.1},{y:.1} L{x:.1},{:.1} L{:.1},{y:.1} Z\"",
            y - size * 1.3,
            x + size * 1.3,
            y + size * 1.3,
            x - size * 1.3
        ),
    }
}

/// The step path of `values`, with `x(n)` the left edge of bucket `n`.
fn step_path(values: &[Option<f64>], x: impl Fn(usize) -> f64, y: impl Fn(f64) -> f64) -> String {
    let mut path = String::new();
    let mut pen_down = false;
    for (n, value) in values.iter().enumerate() {
        match value {
            Some(v) if pen_down => {
                let _ = write!(path, "V{:.1} H{:.1} ", y(*v), x(n + 1));
            }
            Some(v) => {
                let _ = write!(path, "M{:.1},{:.1} H{:.1} ", x(n), y(*v), x(n + 1));
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    path.trim_end().to_string()
}

fn open_svg(
    svg: &mut String,
    id: &str,
    title: &str,
    description: &str,
    class: &str,
    w: f64,
    h: f64,
) {
    let _ = write!(
        svg,
        "<svg class=\"{class}\" id=\"{id}\" role=\"img\" aria-labelledby=\"{id}-title {id}-desc\" viewBox=\"0 0 {w} {h:.0}\" xmlns=\"http://www.w3.org/2000/svg\">\
         <title id=\"{id}-title\">{}</title><desc id=\"{id}-desc\">{}</desc>",
        escape(title),
        escape(description)
    );
}

/// The chart as SVG.
pub fn time_chart(chart: &TimeChart) -> String {
    let points = chart.starts.len().max(1);
    let max = chart
        .series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .copied()
        .chain(chart.threshold.map(|t| t.0))
        .fold(0.0_f64, f64::max);
    let top = nice_max(max);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |n: usize| LEFT + plot_w * (n as f64) / (points as f64);
    let y = |v: f64| TOP + plot_h * (1.0 - v / top);
    let mut svg = String::new();
    open_svg(
        &mut svg,
        chart.id,
        chart.title,
        chart.description,
        "chart",
        WIDTH,
        HEIGHT,
    );
    for step in 0..=4 {
        let v = top * f64::from(step) / 4.0;
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\"/>\
             <text class=\"axis\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            y(v),
            y(v),
            LEFT - 6.0,
            y(v) + 4.0,
            escape(&format!("{}{}", label(v), chart.unit))
        );
    }
    let every = points.div_ceil(6).max(1);
    for (n, at) in chart.starts.iter().enumerate() {
        if n % every == 0 {
            let _ = write!(
                svg,
                "<line class=\"grid\" x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{1:.1}\" y2=\"{2:.1}\"/>\
                 <text class=\"axis\" x=\"{0:.1}\" y=\"{3:.1}\" text-anchor=\"middle\">{4}</text>",
                x(n),
                TOP + plot_h,
                TOP + plot_h + 4.0,
                TOP + plot_h + 16.0,
                escape(&tick(*at, chart.step, chart.step * points as i64))
            );
        }
    }
    // Axis titles, with their units.
    let _ = write!(
        svg,
        "<text class=\"axis-title\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">Time (UTC)</text>\
         <text class=\"axis-title\" transform=\"translate(14 {:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
        LEFT + plot_w / 2.0,
        HEIGHT - 6.0,
        TOP + plot_h / 2.0,
        escape(chart.y_title)
    );
    if let Some((value, name)) = chart.threshold {
        let _ = write!(
            svg,
            "<line class=\"threshold\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{2:.1}\" y2=\"{2:.1}\"><title>{3}</title></line>\
             <text class=\"legend\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{3}</text>",
            WIDTH - RIGHT,
            WIDTH - RIGHT - 4.0,
            y(value),
            escape(&format!("{name}: {}{}", label(value), chart.unit)),
        );
    }
    for (k, series) in chart.series.iter().enumerate() {
        let _ = write!(
            svg,
            "<path class=\"series s{k}\" d=\"{}\"/>",
            step_path(&series.values, x, y)
        );
        let _ = write!(svg, "<g class=\"points s{k}\">");
        for (n, value) in series.values.iter().enumerate() {
            if let (Some(v), Some(at)) = (value, chart.starts.get(n)) {
                // Empty buckets keep their title (a value of 0 is a value) but no
                // visible marker, so a quiet night does not fill the axis with dots.
                let zero = if *v == 0.0 { " class=\"zero\"" } else { "" };
                let _ = write!(
                    svg,
                    "{}{zero}><title>{}</title></{}>",
                    marker(k, (x(n) + x(n + 1)) / 2.0, y(*v), 2.5),
                    escape(&format!(
                        "{}: {}{} at {}",
                        series.name,
                        label(*v),
                        chart.unit,
                        display(*at)
                    )),
                    ["circle", "rect", "path"][k % 3]
                );
            }
        }
        svg.push_str("</g>");
    }
    // The key, in the chart, so it prints with it: each series' line and marker.
    let mut lx = LEFT;
    for (k, series) in chart.series.iter().enumerate() {
        let _ = write!(
            svg,
            "<g class=\"key s{k}\"><line class=\"series s{k}\" x1=\"{lx:.1}\" x2=\"{:.1}\" y1=\"12\" y2=\"12\"/>{}/><text class=\"legend\" x=\"{:.1}\" y=\"16\">{}</text></g>",
            lx + 24.0,
            marker(k, lx + 12.0, 12.0, 3.5),
            lx + 30.0,
            escape(series.name)
        );
        lx += 44.0 + 7.0 * series.name.chars().count() as f64;
    }
    svg.push_str("</svg>");
    svg
}

/// A small chart of one series for a dashboard row: no axes, its figures in its
/// title (the row beside it states them too).
pub fn sparkline(id: &str, title: &str, values: &[f64]) -> String {
    let (w, h) = (120.0, 28.0);
    let top = nice_max(values.iter().copied().fold(0.0, f64::max));
    let points = values.len().max(1);
    let x = |n: usize| w * (n as f64) / (points as f64);
    let y = |v: f64| 2.0 + (h - 4.0) * (1.0 - v / top);
    let mut svg = String::new();
    open_svg(&mut svg, id, title, title, "sparkline", w, h);
    let values: Vec<Option<f64>> = values.iter().copied().map(Some).collect();
    let _ = write!(
        svg,
        "<path class=\"series s0\" d=\"{}\"/></svg>",
        step_path(&values, x, y)
    );
    svg
}

/// A horizontal bar chart of (label, value), in the given order.
pub fn bar_chart(id: &str, title: &str, description: &str, bars: &[(String, i64)]) -> String {
    let row = 22.0;
    let label_w = 330.0;
    let height = 16.0 + row * bars.len().max(1) as f64 + 8.0;
    let max = bars.iter().map(|b| b.1).max().unwrap_or(0) as f64;
    let top = nice_max(max);
    let plot_w = WIDTH - label_w - 80.0;
    let mut svg = String::new();
    open_svg(&mut svg, id, title, description, "chart", WIDTH, height);
    for (n, (name, value)) in bars.iter().enumerate() {
        let y = 16.0 + row * n as f64;
        let w = plot_w * (*value as f64) / top;
        let shown: String = if name.chars().count() > 48 {
            let tail: Vec<char> = name.chars().rev().take(47).collect();
            format!("…{}", tail.into_iter().rev().collect::<String>())
        } else {
            name.clone()
        };
        let _ = write!(
            svg,
            "<text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
             <rect class=\"bar\" x=\"{label_w}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\"><title>{}</title></rect>\
             <text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            label_w - 6.0,
            y + 14.0,
            escape(&shown),
            y + 3.0,
            row - 6.0,
            escape(&format!("{name}: {}", label(*value as f64))),
            label_w + w + 6.0,
            y + 14.0,
            label(*value as f64)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn titles(svg: &str) -> Vec<String> {
        svg.split("<title>")
            .skip(1)
            .map(|s| s.split("</title>").next().unwrap_or_default().to_string())
            .collect()
    }

    /// The y of each vertex of a path ("M x,y", "H x", "V y").
    fn path_ys(d: &str) -> Vec<f64> {
        let mut ys = Vec::new();
        for part in d.split_whitespace() {
            if let Some(rest) = part.strip_prefix('M') {
                ys.push(rest.split(',').nth(1).unwrap().parse().unwrap());
            } else if let Some(rest) = part.strip_prefix('V') {
                ys.push(rest.parse().unwrap());
            }
        }
        ys
    }

    #[test]
    fn known_buckets_draw_steps_with_titles_and_a_key() {
        let hour = 3_600;
        let starts: Vec<i64> = (0..5)
            .map(|n| 1_700_000_000 - 1_700_000_000 % hour + n * hour)
            .collect();
        let series = [
            Series {
                name: "Calls",
                values: vec![Some(40.0), Some(10.0), Some(0.0), Some(20.0), None],
            },
            Series {
                name: "Errors <5xx>",
                values: vec![Some(2.0), Some(0.0), Some(0.0), Some(1.0), None],
            },
        ];
        let svg = time_chart(&TimeChart {
            id: "calls",
            title: "Calls & errors",
            description: "Calls per hour",
            y_title: "Calls per hour",
            unit: "",
            starts: &starts,
            step: hour,
            series: &series,
            threshold: Some((30.0, "Threshold")),
        });
        assert!(svg.contains("aria-labelledby=\"calls-title calls-desc\""));
        assert!(svg.contains("<title id=\"calls-title\">Calls &amp; errors</title>"));
        // Each measured point has its value and time; the unmeasured one has none.
        let titles = titles(&svg);
        assert!(
            titles.contains(&format!("Calls: 40 at {}", display(starts[0]))),
            "{titles:?}"
        );
        assert!(titles.contains(&format!("Calls: 0 at {}", display(starts[2]))));
        assert!(titles.contains(&format!("Errors &lt;5xx&gt;: 1 at {}", display(starts[3]))));
        assert!(!titles.iter().any(|t| t.ends_with(&display(starts[4]))));
        assert!(titles.contains(&"Threshold: 30".to_string()));
        // The key names both series, with their classes (colour, dash, marker).
        assert!(svg.contains("<g class=\"key s0\">") && svg.contains(">Calls</text>"));
        assert!(svg.contains("<g class=\"key s1\">") && svg.contains(">Errors &lt;5xx&gt;</text>"));
        // Axis titles.
        assert!(svg.contains(">Time (UTC)</text>") && svg.contains(">Calls per hour</text>"));
        // No saw-tooth: the calls path visits 40, 10, 0, 20 in turn and the zero
        // only where the bucket is empty.
        let d = svg
            .split("<path class=\"series s0\" d=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let top = nice_max(40.0);
        let plot_h = HEIGHT - TOP - BOTTOM;
        let expected: Vec<f64> = [40.0, 10.0, 0.0, 20.0]
            .iter()
            .map(|v| ((TOP + plot_h * (1.0 - v / top)) * 10.0).round() / 10.0)
            .collect();
        assert_eq!(path_ys(d), expected, "{d}");
    }

    #[test]
    fn adjacent_busy_buckets_never_dip_to_zero_and_gaps_lift_the_pen() {
        let d = step_path(
            &[Some(5.0), Some(6.0), None, Some(7.0)],
            |n| n as f64 * 10.0,
            |v| 100.0 - v,
        );
        assert_eq!(d, "M0.0,95.0 H10.0 V94.0 H20.0 M30.0,93.0 H40.0");
    }

    #[test]
    fn bars_and_sparklines_are_labelled_and_escaped() {
        let bars = bar_chart(
            "top",
            "Top",
            "Top endpoints",
            &[("GET /a".into(), 5), ("GET /<b>".into(), 0)],
        );
        assert!(bars.contains(">5</text>") && bars.contains("GET /&lt;b&gt;"));
        assert!(bars.contains("<title>GET /a: 5</title>"));
        let spark = sparkline("s", "Calls over 24 hours: 12", &[1.0, 0.0, 11.0]);
        assert!(spark.contains("<title id=\"s-title\">Calls over 24 hours: 12</title>"));
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(120.0), 200.0);
        assert_eq!(label(12_345.0), "12k");
        assert_eq!(label(1_234.0), "1,234");
        // 2023-11-14 22:13 UTC: a day's chart shows the time, a week's the date too.
        assert_eq!(tick(1_700_000_000, 900, 86_400), "22:13");
        assert_eq!(tick(1_700_000_000, 3_600, 7 * 86_400), "11-14 22:13");
        assert_eq!(tick(1_700_000_000, 86_400, 90 * 86_400), "11-14");
    }
}
