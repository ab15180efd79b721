//! The latency distribution as an SVG percentile plot, written by hand.
//!
//! The x axis is the percentile on the usual "nines" scale: position
//! `log10(1 / (1 - q))`, so 0%, 90%, 99%, 99.9%, ... are evenly spaced and the
//! tail gets the room it deserves. The y axis is the latency on a log scale,
//! because a tail is often a thousand times the median.

use std::fmt::Write;

use hdrhistogram::Histogram;

use super::report::PERCENTILES;
use crate::units;

const WIDTH: f64 = 860.0;
const HEIGHT: f64 = 520.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 830.0;
const TOP: f64 = 80.0;
const BOTTOM: f64 = 450.0;
/// Points along the curve.
const SAMPLES: usize = 400;

/// Escapes text for an SVG text node or attribute.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `0.999` as `99.9%`.
fn percent_label(nines: u32) -> String {
    match nines {
        0 => "0%".to_owned(),
        n => format!("{}%", 100.0 - 100.0 / 10f64.powi(n as i32))
            .trim_end_matches('0')
            .to_owned(),
    }
}

/// A decade of nanoseconds as `100 ns`, `1 µs`, `10 ms`, `1 s`.
fn decade_label(ns: f64) -> String {
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    format!("{} {unit}", value.round())
}

/// The SVG of the percentile plot of `histogram` (nanoseconds).
pub fn percentile_svg(histogram: &Histogram<u64>, title: &str, subtitle: &str) -> String {
    let count = histogram.len().max(1);
    // Enough nines to reach the largest sample, at least 99%, at most 99.99999%.
    let nines_max = ((count as f64).log10().ceil() as u32).clamp(2, 7);
    let x_of = |nines: f64| LEFT + (RIGHT - LEFT) * nines / f64::from(nines_max);
    let low = (histogram.min().max(1) as f64).log10().floor();
    let mut high = (histogram.max().max(1) as f64).log10().ceil();
    if high <= low {
        high = low + 1.0;
    }
    let y_of = |ns: u64| {
        let position = ((ns.max(1) as f64).log10() - low) / (high - low);
        BOTTOM - (BOTTOM - TOP) * position.clamp(0.0, 1.0)
    };
    let quantile_at = |nines: f64| 1.0 - 10f64.powf(-nines);

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="28" font-size="16" text-anchor="middle">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );
    let _ = writeln!(
        svg,
        r##"<text x="{}" y="50" fill="#555" text-anchor="middle">{}</text>"##,
        WIDTH / 2.0,
        escape(subtitle)
    );

    // Grid and labels of the y axis, one line per decade.
    let _ = writeln!(svg, r##"<g stroke="#ddd">"##);
    for decade in low as i32..=high as i32 {
        let y = y_of(10f64.powi(decade) as u64);
        let _ = writeln!(
            svg,
            r#"<line x1="{LEFT}" y1="{y:.1}" x2="{RIGHT}" y2="{y:.1}"/>"#
        );
    }
    for nines in 0..=nines_max {
        let x = x_of(f64::from(nines));
        let _ = writeln!(
            svg,
            r#"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{BOTTOM}"/>"#
        );
    }
    let _ = writeln!(svg, "</g>");
    for decade in low as i32..=high as i32 {
        let ns = 10f64.powi(decade);
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 8.0,
            y_of(ns as u64) + 4.0,
            decade_label(ns)
        );
    }
    for nines in 0..=nines_max {
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            x_of(f64::from(nines)),
            BOTTOM + 18.0,
            percent_label(nines)
        );
    }
    let _ = writeln!(
        svg,
        r##"<rect x="{LEFT}" y="{TOP}" width="{}" height="{}" fill="none" stroke="#333"/>"##,
        RIGHT - LEFT,
        BOTTOM - TOP
    );
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">percentile (log scale of 1/(1 - p))</text>"#,
        (LEFT + RIGHT) / 2.0,
        BOTTOM + 42.0
    );
    let _ = writeln!(
        svg,
        r#"<text transform="translate(22 {}) rotate(-90)" text-anchor="middle">latency (log scale)</text>"#,
        (TOP + BOTTOM) / 2.0
    );

    // The curve.
    let mut points = String::new();
    for step in 0..=SAMPLES {
        let nines = f64::from(nines_max) * step as f64 / SAMPLES as f64;
        let ns = histogram.value_at_quantile(quantile_at(nines));
        let _ = write!(points, "{:.1},{:.1} ", x_of(nines), y_of(ns));
    }
    let _ = writeln!(
        svg,
        r##"<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{}"/>"##,
        points.trim_end()
    );

    // The reported percentiles, marked and labelled.
    let mut marks: Vec<(String, f64, u64)> = PERCENTILES
        .iter()
        .map(|&(label, q)| {
            (
                label.to_owned(),
                -(1.0 - q).log10(),
                histogram.value_at_quantile(q),
            )
        })
        .collect();
    marks.push(("max".to_owned(), f64::from(nines_max), histogram.max()));
    for (label, nines, ns) in marks {
        let (x, y) = (x_of(nines.min(f64::from(nines_max))), y_of(ns));
        // Labels sit up and to the right of their mark, but the last one's
        // to the left, inside the frame.
        let (label_x, anchor) = if label == "max" {
            (x - 6.0, "end")
        } else {
            (x + 6.0, "start")
        };
        let _ = writeln!(
            svg,
            r##"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="#d62728"/><text x="{label_x:.1}" y="{:.1}" text-anchor="{anchor}" fill="#d62728" stroke="white" stroke-width="3" paint-order="stroke">{label} {}</text>"##,
            y - 8.0,
            escape(&units::nanos(ns))
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_labels_count_nines() {
        assert_eq!(percent_label(0), "0%");
        assert_eq!(percent_label(1), "90%");
        assert_eq!(percent_label(3), "99.9%");
        assert_eq!(percent_label(5), "99.999%");
    }

    #[test]
    fn decade_labels_pick_a_unit() {
        assert_eq!(decade_label(100.0), "100 ns");
        assert_eq!(decade_label(1e3), "1 µs");
        assert_eq!(decade_label(1e7), "10 ms");
    }

    #[test]
    fn the_plot_is_one_svg_element_with_its_axes() {
        let mut histogram = super::super::child::new_histogram();
        for value in 1..=10_000u64 {
            histogram.record(value * 10).unwrap();
        }
        let svg = percentile_svg(&histogram, "a <title>", "sub");
        assert!(svg.starts_with("<svg "));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("a &lt;title&gt;"));
        for label in ["90%", "99%", "99.9%", "99.99%", "percentile", "p99.9"] {
            assert!(svg.contains(label), "missing {label}");
        }
    }
}
