//! Server-rendered SVG charts: no JavaScript, no external assets. Each chart has a
//! `<title>` and a `<desc>` (named by `aria-labelledby`), and the page shows the same
//! numbers as a table beside it, so the chart is never the only way to read them.
//! The drawing is Gatehouse's own, small on purpose: a line chart over time and a
//! horizontal bar chart are all the pages need.

use std::fmt::Write;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 36.0;

/// One line of a line chart: its name, its CSS class (colour and dash pattern, so
/// lines differ without colour too) and a value per point (`None`: no data).
pub struct Line<'a> {
    pub name: &'a str,
    pub class: &'a str,
    pub values: Vec<Option<f64>>,
}

fn escape(text: &str) -> String {
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
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// A line chart of `lines` over `x_labels` (one per point; a few are printed).
pub fn line_chart(
    id: &str,
    title: &str,
    description: &str,
    unit: &str,
    x_labels: &[String],
    lines: &[Line],
) -> String {
    let points = x_labels.len().max(1);
    let max = lines
        .iter()
        .flat_map(|l| l.values.iter().flatten())
        .fold(0.0_f64, |a, b| a.max(*b));
    let top = nice_max(max);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |n: usize| LEFT + plot_w * (n as f64) / ((points.max(2) - 1) as f64);
    let y = |v: f64| TOP + plot_h * (1.0 - v / top);
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"chart\" id=\"{id}\" role=\"img\" aria-labelledby=\"{id}-title {id}-desc\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" xmlns=\"http://www.w3.org/2000/svg\">\
         <title id=\"{id}-title\">{}</title><desc id=\"{id}-desc\">{}</desc>",
        escape(title),
        escape(description)
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
            escape(&format!("{}{}", label(v), unit))
        );
    }
    let every = (points / 6).max(1);
    for (n, text) in x_labels.iter().enumerate() {
        if n % every == 0 {
            let _ = write!(
                svg,
                "<text class=\"axis\" x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                x(n),
                HEIGHT - 12.0,
                escape(text)
            );
        }
    }
    for line in lines {
        let mut path = String::new();
        let mut pen_down = false;
        for (n, value) in line.values.iter().enumerate() {
            match value {
                Some(v) => {
                    let _ = write!(
                        path,
                        "{}{:.1},{:.1} ",
                        if pen_down { "L" } else { "M" },
                        x(n),
                        y(*v)
                    );
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        let _ = write!(
            svg,
            "<path class=\"line {}\" d=\"{}\"><title>{}</title></path>",
            line.class,
            path.trim_end(),
            escape(line.name)
        );
    }
    // The legend, in the chart, so it prints with it.
    let mut lx = LEFT;
    for line in lines {
        let _ = write!(
            svg,
            "<line class=\"line {}\" x1=\"{lx:.1}\" x2=\"{:.1}\" y1=\"8\" y2=\"8\"/><text class=\"legend\" x=\"{:.1}\" y=\"12\">{}</text>",
            line.class,
            lx + 18.0,
            lx + 22.0,
            escape(line.name)
        );
        lx += 30.0 + 7.0 * line.name.len() as f64;
    }
    svg.push_str("</svg>");
    svg
}

/// A horizontal bar chart of (label, value), in the given order.
pub fn bar_chart(id: &str, title: &str, description: &str, bars: &[(String, i64)]) -> String {
    let row = 22.0;
    let label_w = 330.0;
    let height = TOP + row * bars.len().max(1) as f64 + 8.0;
    let max = bars.iter().map(|b| b.1).max().unwrap_or(0) as f64;
    let top = nice_max(max);
    let plot_w = WIDTH - label_w - 80.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"chart\" id=\"{id}\" role=\"img\" aria-labelledby=\"{id}-title {id}-desc\" viewBox=\"0 0 {WIDTH} {height:.0}\" xmlns=\"http://www.w3.org/2000/svg\">\
         <title id=\"{id}-title\">{}</title><desc id=\"{id}-desc\">{}</desc>",
        escape(title),
        escape(description)
    );
    for (n, (name, value)) in bars.iter().enumerate() {
        let y = TOP + row * n as f64;
        let w = plot_w * (*value as f64) / top;
        let shown: String = if name.chars().count() > 48 {
            format!(
                "…{}",
                name.chars()
                    .rev()
                    .take(47)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<String>()
            )
        } else {
            name.clone()
        };
        let _ = write!(
            svg,
            "<text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
             <rect class=\"bar\" x=\"{label_w}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\"/>\
             <text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            label_w - 6.0,
            y + 14.0,
            escape(&shown),
            y + 3.0,
            row - 6.0,
            label_w + w + 6.0,
            y + 14.0,
            value
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_labelled_and_escaped() {
        let svg = line_chart(
            "calls",
            "Calls <& errors>",
            "Calls per hour",
            "",
            &["00:00".into(), "01:00".into()],
            &[Line {
                name: "Calls",
                class: "calls",
                values: vec![Some(3.0), None],
            }],
        );
        assert!(svg.contains("aria-labelledby=\"calls-title calls-desc\""));
        assert!(svg.contains("<title id=\"calls-title\">Calls &lt;&amp; errors&gt;</title>"));
        assert!(svg.contains("role=\"img\""));
        let bars = bar_chart(
            "top",
            "Top",
            "Top endpoints",
            &[("GET /a".into(), 5), ("GET /b".into(), 0)],
        );
        assert!(bars.contains(">5</text>") && bars.contains("GET /b"));
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(120.0), 200.0);
    }
}
