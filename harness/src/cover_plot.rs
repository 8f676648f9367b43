//! The campaign's time series as an inline SVG: points covered, corpus size and execs/s
//! against fuzzing seconds (boots excluded), one panel each, one line per job.

use std::fmt::Write as _;

use crate::cover_data::Sample;

const WIDTH: f64 = 760.0;
const PANEL: f64 = 120.0;
/// Left margin for the value labels, bottom for the time axis.
const LEFT: f64 = 70.0;
const GAP: f64 = 28.0;
const COLOURS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

/// One panel: its name and the value it plots.
type Panel = (&'static str, fn(&Sample) -> f64);

/// The three panels, one `<svg>`.
pub fn svg(samples: &[Sample]) -> String {
    let t_max = samples.iter().map(|s| s.t).fold(1.0, f64::max);
    let panels: [Panel; 3] = [
        ("points covered", |s| s.points as f64),
        ("corpus inputs", |s| s.corpus as f64),
        ("execs/s", |s| s.execs_per_s),
    ];
    let height = panels.len() as f64 * (PANEL + GAP) + 24.0;
    let mut o = format!(
        "<svg id=\"plot\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" \
         height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" font-family=\"sans-serif\" \
         font-size=\"11\" role=\"img\" aria-label=\"coverage, corpus and execs/s over time\">\n"
    );
    for (i, (name, value)) in panels.iter().enumerate() {
        let top = 8.0 + i as f64 * (PANEL + GAP);
        panel(&mut o, samples, top, t_max, name, *value);
    }
    let bottom = 8.0 + panels.len() as f64 * (PANEL + GAP) - GAP + 14.0;
    let _ = writeln!(
        o,
        "<text x=\"{LEFT}\" y=\"{bottom}\">0 s</text>\
         <text x=\"{WIDTH}\" y=\"{bottom}\" text-anchor=\"end\">{t_max:.0} s of fuzzing</text>"
    );
    o.push_str("</svg>\n");
    o
}

fn panel(
    o: &mut String,
    samples: &[Sample],
    top: f64,
    t_max: f64,
    name: &str,
    v: fn(&Sample) -> f64,
) {
    let v_max = samples.iter().map(v).fold(0.0, f64::max);
    let span = if v_max > 0.0 { v_max * 1.1 } else { 1.0 };
    let w = WIDTH - LEFT - 4.0;
    let x = |t: f64| LEFT + w * t / t_max;
    let y = |val: f64| top + PANEL - PANEL * val / span;
    let _ = writeln!(
        o,
        "<rect x=\"{LEFT}\" y=\"{top}\" width=\"{w}\" height=\"{PANEL}\" fill=\"#fafafa\" \
         stroke=\"#ccc\"/><text x=\"{}\" y=\"{}\" font-weight=\"bold\">{name}</text>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\">0</text>",
        LEFT + 6.0,
        top + 14.0,
        LEFT - 6.0,
        y(v_max) + 4.0,
        fmt_value(v_max),
        LEFT - 6.0,
        top + PANEL,
    );
    let mut jobs: Vec<usize> = samples.iter().map(|s| s.job).collect();
    jobs.sort();
    jobs.dedup();
    for (k, job) in jobs.iter().enumerate() {
        let pts: Vec<String> = samples
            .iter()
            .filter(|s| s.job == *job)
            .map(|s| format!("{:.1},{:.1}", x(s.t), y(v(s))))
            .collect();
        let _ = writeln!(
            o,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" points=\"{}\"/>",
            COLOURS[k % COLOURS.len()],
            pts.join(" ")
        );
    }
}

fn fmt_value(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plot_has_a_line_per_job_and_panel() {
        let s = |t: f64, job, points| Sample {
            t,
            job,
            execs: 10 * t as u64,
            execs_per_s: 600.0,
            points,
            corpus: 3,
        };
        let svg = svg(&[s(2.0, 0, 20), s(4.0, 0, 25), s(2.0, 1, 21), s(6.0, 1, 25)]);
        assert_eq!(svg.matches("<polyline").count(), 6);
        assert!(svg.contains(">points covered<") && svg.contains(">execs/s<"));
        assert!(svg.contains("6 s of fuzzing"));
    }
}
