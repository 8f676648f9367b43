//! The terminal summary: one line per spec × kernel, then each failure in full.

use std::fmt::Write;

use crate::judge::{Status, Verdict};

const DMESG_SHOWN: usize = 40;

pub fn render(verdicts: &[Verdict]) -> String {
    let mut s = String::new();
    let w = verdicts.iter().map(|v| v.spec.len()).max().unwrap_or(4);
    for v in verdicts {
        let tag = match v.status {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        };
        let why = match (&v.failure, v.status) {
            (Some(f), _) => format!("expected {}", f.expected),
            (None, Status::Skip) => v.note.clone(),
            _ => String::new(),
        };
        let _ = writeln!(
            s,
            "{tag}  {:<5} {:<w$}  {:>6.2} s  {why}",
            v.kernel,
            v.spec,
            v.duration_ms as f64 / 1000.0
        );
    }
    for v in verdicts.iter().filter(|v| v.status == Status::Fail) {
        let Some(f) = &v.failure else { continue };
        let _ = writeln!(
            s,
            "\n--- FAIL {} on {} ({}) ---",
            v.spec, v.kernel, v.release
        );
        let _ = writeln!(s, "expected: {}", f.expected);
        let _ = writeln!(s, "actual:   {}", f.actual);
        let _ = writeln!(s, "kernel log during the spec ({} lines):", f.dmesg.len());
        let skip = f.dmesg.len().saturating_sub(DMESG_SHOWN);
        if skip > 0 {
            let _ = writeln!(s, "  … {skip} earlier lines …");
        }
        for l in &f.dmesg[skip..] {
            let _ = writeln!(s, "  {l}");
        }
        if !f.console_tail.is_empty() {
            let _ = writeln!(s, "console tail:");
            for l in f.console_tail.lines() {
                let _ = writeln!(s, "  | {l}");
            }
        }
    }
    let count = |st| verdicts.iter().filter(|v| v.status == st).count();
    let _ = writeln!(
        s,
        "\n{} passed, {} failed, {} skipped",
        count(Status::Pass),
        count(Status::Fail),
        count(Status::Skip)
    );
    s
}
