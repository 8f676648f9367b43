//! A campaign's page: one self-contained HTML file (inline style, inline SVG, no script, no
//! network), after syzkaller's `/cover` (`docs/coverage.md`): per module and file the share
//! of points covered, then each of the module's own files line by line, coloured covered /
//! partly covered / missed in a function that ran / missed in a function that never ran,
//! with the times the line ran linking to the first input that reached it (its decoded
//! sequence); findings with their sequences, console excerpts and the time they were found;
//! coverage, corpus and execs/s over the campaign's time.
//!
//! Each source line is a `<tr>` with `data-file`, `data-line` and `data-state` (one of
//! [`crate::lines::State::name`], or `none`), so a browser test can find a line's state.

use std::fmt::Write as _;

use crate::cover_data::{Report, Sample};
use crate::lines::{FileCov, LineCov, ModuleCov};

const STYLE: &str = "
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse}td,th{padding:2px 8px;text-align:left;vertical-align:top}
table.files td.num,table.files th.num{text-align:right}
.bar{display:inline-block;width:120px;height:10px;background:#f3c4c4;vertical-align:middle}
.bar span{display:block;height:10px;background:#5cb85c}
table.src{font:12.5px/1.35 ui-monospace,monospace;width:100%}
table.src td{padding:0 6px;white-space:pre}
table.src td.n{color:#888;text-align:right;user-select:none}
table.src td.h{text-align:right;color:#555;min-width:4em}
tr.none td.c,.legend .none{color:#777}
tr.covered td.c,.legend .covered{background:#d4f4d4}
tr.partial td.c,.legend .partial{background:#fde3b0}
tr.missed td.c,.legend .missed{background:#ffc9c9}
tr.function-never-ran td.c,.legend .function-never-ran{background:#f19a9a}
.legend span{padding:1px 6px;margin-right:8px}
pre{background:#f6f6f6;padding:6px;overflow:auto;max-height:24em}
.muted{color:#777}
";

/// The whole page.
pub fn render(r: &Report) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let title = match &r.summary {
        Some(s) => format!("ksock fuzz {}: {} on {}", s.target, s.label, s.release),
        None => "ksock fuzz: coverage".to_string(),
    };
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{t}</title><style>{STYLE}</style></head><body>\n<h1>{t}</h1>\n",
        t = esc(&title)
    );
    header(&mut h, r);
    timeline(&mut h, &r.timeline);
    findings(&mut h, r);
    regions(&mut h, r);
    files_table(&mut h, &r.modules);
    for (mi, m) in r.modules.iter().enumerate() {
        for (fi, f) in m.files.iter().enumerate() {
            source(&mut h, &format!("m{mi}f{fi}"), m, f);
        }
    }
    inputs(&mut h, r);
    h.push_str("</body></html>\n");
    h
}

fn header(h: &mut String, r: &Report) {
    let (c, a) = r.points();
    let _ = write!(
        h,
        "<p id=\"summary\"><b>{c} of {a} instrumented points ({:.0}%)</b>",
        pct(c, a)
    );
    if let Some(s) = &r.summary {
        let _ = write!(
            h,
            " · {} flavour · {:.0} s of {} · {} execs ({:.0}/s) · corpus {} · {} boot(s){}{}",
            esc(&s.flavour),
            s.fuzz_seconds,
            if s.merge { "merging" } else { "fuzzing" },
            s.execs,
            s.execs as f64 / s.fuzz_seconds.max(1.0),
            s.corpus,
            s.boots,
            match s.params.is_empty() {
                true => String::new(),
                false => format!(" · {}", esc(&s.params.join(" "))),
            },
            s.stopped
                .as_ref()
                .map(|w| format!("<br>{}", esc(w)))
                .unwrap_or_default(),
        );
    }
    h.push_str(
        "</p>\n<p class=\"legend\">lines: <span class=\"covered\">covered</span>\
         <span class=\"partial\">partly covered</span>\
         <span class=\"missed\">missed (its function ran)</span>\
         <span class=\"function-never-ran\">missed (its function never ran)</span>\
         <span class=\"none\">no instrumented code</span> · the number left of a line: \
         times it ran, linking to the first input that reached it</p>\n",
    );
}

fn regions(h: &mut String, r: &Report) {
    h.push_str("<h2 id=\"gaps\">Never reached</h2>\n");
    if r.regions.is_empty() {
        h.push_str("<p>Every line with code in the modules' own files was reached.</p>\n");
        return;
    }
    h.push_str("<ol>\n");
    for g in r.regions.iter().take(10) {
        let anchor = anchor_of(r, &g.module, &g.file, g.first);
        let _ = writeln!(
            h,
            "<li><a href=\"#{anchor}\">{}</a></li>",
            esc(&g.to_string())
        );
    }
    h.push_str("</ol>\n");
}

/// The id of a source line's row.
fn anchor_of(r: &Report, module: &str, file: &str, line: u32) -> String {
    r.modules
        .iter()
        .enumerate()
        .filter(|(_, m)| m.module == module)
        .find_map(|(mi, m)| {
            let fi = m.files.iter().position(|f| f.name == file)?;
            Some(format!("m{mi}f{fi}-L{line}"))
        })
        .unwrap_or_default()
}

fn files_table(h: &mut String, modules: &[ModuleCov]) {
    h.push_str("<h2 id=\"files\">Files</h2>\n<table class=\"files\"><tr><th>module / file</th><th class=\"num\">points</th><th class=\"num\">covered</th><th></th></tr>\n");
    for (mi, m) in modules.iter().enumerate() {
        let _ = writeln!(
            h,
            "<tr><td><b>{}</b>{}</td>{}</tr>",
            esc(&m.module),
            match m.without_line {
                0 => String::new(),
                n => format!(" <span class=\"muted\">({n} point(s) without a source line)</span>"),
            },
            share_cells(m.covered, m.points)
        );
        for (fi, f) in m.files.iter().enumerate() {
            let name = match f.source {
                Some(_) => format!("<a href=\"#m{mi}f{fi}\">{}</a>", esc(&f.name)),
                None => format!("<span class=\"muted\">{} (inlined)</span>", esc(&f.name)),
            };
            let _ = writeln!(
                h,
                "<tr><td>&nbsp;&nbsp;{name}</td>{}</tr>",
                share_cells(f.covered, f.points)
            );
        }
    }
    h.push_str("</table>\n");
}

fn share_cells(covered: usize, points: usize) -> String {
    let p = pct(covered, points);
    format!(
        "<td class=\"num\">{points}</td><td class=\"num\">{p:.0}%</td>\
         <td><span class=\"bar\"><span style=\"width:{p:.0}%\"></span></span></td>"
    )
}

/// A file's source, line by line; files without source (inlined from the kernel or core)
/// list their lines with points only.
fn source(h: &mut String, id: &str, m: &ModuleCov, f: &FileCov) {
    let text = f
        .source
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok());
    let Some(text) = text else {
        return;
    };
    let _ = writeln!(
        h,
        "<h2 id=\"{id}\">{} <span class=\"muted\">{} · {:.0}% of {} points</span></h2>\n\
         <table class=\"src\" data-module=\"{}\" data-file=\"{}\">",
        esc(&f.name),
        esc(&m.module),
        pct(f.covered, f.points),
        f.points,
        esc(&m.module),
        esc(&f.name)
    );
    for (i, code) in text.lines().enumerate() {
        let n = i as u32 + 1;
        line_row(h, id, &f.name, n, code, f.lines.get(&n));
    }
    h.push_str("</table>\n");
}

fn line_row(h: &mut String, id: &str, file: &str, n: u32, code: &str, l: Option<&LineCov>) {
    let state = l.map_or("none", |l| l.state.name());
    let (title, hits) = match l {
        None => (String::new(), String::new()),
        Some(l) => (
            format!(
                " title=\"{} of {} point(s) ran; {}\"",
                l.covered,
                l.points,
                esc(&l.functions.iter().cloned().collect::<Vec<_>>().join(", "))
            ),
            // Without hits (a guest that did not count them) a reached line says so.
            match (&l.first_input, l.hits) {
                (Some(i), 0) => format!("<a href=\"#in-{i}\">ran</a>"),
                (Some(i), n) => format!("<a href=\"#in-{i}\">{n}</a>"),
                (None, 0) => String::new(),
                (None, n) => n.to_string(),
            },
        ),
    };
    let _ = writeln!(
        h,
        "<tr id=\"{id}-L{n}\" class=\"{state}\" data-file=\"{}\" data-line=\"{n}\" \
         data-state=\"{state}\"{title}><td class=\"n\">{n}</td><td class=\"h\">{hits}</td>\
         <td class=\"c\">{}</td></tr>",
        esc(file),
        esc(&code.replace('\t', "        "))
    );
}

fn inputs(h: &mut String, r: &Report) {
    h.push_str("<h2 id=\"inputs\">First inputs</h2>\n");
    if r.inputs.is_empty() {
        h.push_str("<p class=\"muted\">No inputs were recorded.</p>\n");
    }
    for (id, i) in &r.inputs {
        let _ = writeln!(
            h,
            "<div id=\"in-{id}\"><h3>input {id} <span class=\"muted\">({} bytes)</span></h3>\
             <pre>{}</pre></div>",
            i.bytes,
            esc(&i.sequence)
        );
    }
}

fn findings(h: &mut String, r: &Report) {
    h.push_str("<h2 id=\"findings\">Findings</h2>\n");
    if r.findings.is_empty() {
        h.push_str("<p>None.</p>\n");
        return;
    }
    h.push_str("<table>\n<tr><th>title</th><th>found after</th><th>oracle</th></tr>\n");
    for f in &r.findings {
        let _ = writeln!(
            h,
            "<tr><td><details><summary>{}</summary><p>{}</p><pre>{}</pre>\
             <p class=\"muted\">{}</p></details></td><td>{}</td><td>{}</td></tr>",
            esc(&f.title),
            esc(&f.detail),
            esc(&excerpt(&f.report)),
            esc(&f.dir.display().to_string()),
            f.found_after
                .map(|t| format!("{t:.1} s"))
                .unwrap_or_else(|| "an earlier campaign".into()),
            esc(&f.oracle),
        );
    }
    h.push_str("</table>\n");
}

/// A finding's report with its console cut to the lines around the splat.
fn excerpt(report: &str) -> String {
    let Some((head, console)) = report.split_once("\nconsole:\n") else {
        return report.to_string();
    };
    let lines: Vec<&str> = console.lines().collect();
    let at = lines
        .iter()
        .position(|l| {
            [
                "BUG:",
                "WARNING:",
                "Oops",
                "general protection",
                "Kernel panic",
            ]
            .iter()
            .any(|m| l.contains(m))
        })
        .unwrap_or(0);
    let from = at.saturating_sub(3);
    let to = (at + 25).min(lines.len());
    format!(
        "{head}\nconsole (lines {}-{} of {}):\n{}",
        from + 1,
        to,
        lines.len(),
        lines[from..to].join("\n")
    )
}

fn timeline(h: &mut String, samples: &[Sample]) {
    h.push_str("<h2 id=\"timeline\">Over time</h2>\n");
    if samples.is_empty() {
        h.push_str("<p class=\"muted\">No status lines were recorded.</p>\n");
        return;
    }
    h.push_str(&crate::cover_plot::svg(samples));
}

fn pct(n: usize, of: usize) -> f64 {
    if of == 0 {
        0.0
    } else {
        100.0 * n as f64 / of as f64
    }
}

/// Text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}
