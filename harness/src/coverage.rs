//! A module's coverage points, read from its `.ko`.
//!
//! A module built for coverage (`vm::kernel::PreparedKernel::build_module_with`) calls
//! `__sanitizer_cov_trace_pc` at the start of every basic block. Each call site is one
//! point; in the relocatable `.ko` it is a relocation against that symbol. The runtime
//! (`kmods/c/cov`) records the call's return address, which the guest turns into
//! `(section, offset)` with `/sys/module/<mod>/sections/`; here the same point is the
//! relocation's offset plus the 4 bytes of the `call rel32` operand it patches (x86-64).

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result};
use object::{Object, ObjectSection, ObjectSymbol, RelocationTarget, SectionKind};
use serde::{Deserialize, Serialize};

/// The function every instrumented block calls.
pub const TRACE_PC: &str = "__sanitizer_cov_trace_pc";

/// One instrumented point: a return address relative to its section.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Point {
    pub section: String,
    pub offset: u64,
}

/// Every point of the module in `ko`; empty when it was not built for coverage.
pub fn points(ko: &Path) -> Result<BTreeSet<Point>> {
    let data = std::fs::read(ko).with_context(|| format!("reading {}", ko.display()))?;
    let file = object::File::parse(&*data).with_context(|| format!("parsing {}", ko.display()))?;
    let mut out = BTreeSet::new();
    for section in file.sections().filter(|s| s.kind() == SectionKind::Text) {
        let name = section.name()?.to_string();
        for (offset, reloc) in section.relocations() {
            let RelocationTarget::Symbol(idx) = reloc.target() else {
                continue;
            };
            if file.symbol_by_index(idx)?.name()? == TRACE_PC {
                out.insert(Point {
                    section: name.clone(),
                    offset: offset + 4,
                });
            }
        }
    }
    Ok(out)
}

/// "N of M instrumented points of <module> (P%)".
/// The points code of a failed load ran (the guest knows them only by their offset in a
/// page, see the agent's `fuzz::session`), where exactly one code point of the module has that
/// page offset. Sound because a module's text starts on a page (seen on 6.1 and 7.2) and
/// each code point is claimed only when no other one could be it.
pub fn resolve_dead(dead: &BTreeSet<u64>, all: &BTreeSet<Point>) -> BTreeSet<Point> {
    dead.iter()
        .filter_map(|d| {
            let mut c = all
                .iter()
                .filter(|p| p.offset % 4096 == *d && p.section.contains("text"));
            match (c.next(), c.next()) {
                (Some(p), None) => Some(p.clone()),
                _ => None,
            }
        })
        .collect()
}

pub fn summary(module: &str, hit: &BTreeSet<Point>, all: &BTreeSet<Point>) -> String {
    let n = hit.intersection(all).count();
    let pct = if all.is_empty() {
        0.0
    } else {
        100.0 * n as f64 / all.len() as f64
    };
    format!(
        "{n} of {} instrumented points of {module} ({pct:.0}%)",
        all.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_uninstrumented_object_has_no_points() {
        // The test binary itself is an ELF file without trace-pc calls.
        let me = std::env::current_exe().unwrap();
        assert!(points(&me).unwrap().is_empty());
    }

    #[test]
    fn the_summary_counts_only_known_points() {
        let p = |s: &str, o| Point {
            section: s.into(),
            offset: o,
        };
        let all: BTreeSet<_> = [p(".text", 4), p(".text", 9), p(".init.text", 4)].into();
        let hit: BTreeSet<_> = [p(".text", 9), p(".text", 77)].into();
        assert_eq!(
            summary("m", &hit, &all),
            "1 of 3 instrumented points of m (33%)"
        );
    }

    #[test]
    fn dead_code_is_claimed_only_where_one_point_fits() {
        let p = |s: &str, o| Point {
            section: s.into(),
            offset: o,
        };
        let all: BTreeSet<_> = [
            p(".text", 0x2e8),
            p(".text", 0x37c),
            p(".text", 0x1000 + 0x37c),
            p(".data", 0x10),
        ]
        .into();
        let dead: BTreeSet<u64> = [0x2e8, 0x37c, 0x10, 0x555].into();
        assert_eq!(
            resolve_dead(&dead, &all),
            [p(".text", 0x2e8)].into(),
            "0x37c could be either of two points; 0x10 is no code"
        );
    }
}
