//! Coverage points → source lines, through the module's own debug information.
//!
//! A point ([`crate::coverage::Point`]) is a return address from `__sanitizer_cov_trace_pc`
//! relative to its section; its source line is the call's (5 bytes before on x86-64, as
//! syzkaller's `PreviousInstructionPC` does before it symbolizes a kcov PC). The `.ko` is
//! relocatable: every section starts at address 0 and the DWARF refers to code through
//! relocations, so this lays the code sections out at distinct addresses, applies the
//! `.rela.debug_*` relocations to private copies of the DWARF sections against that
//! layout, and asks `addr2line` (gimli) for each call's frames: inlined code yields its own
//! line first, then each call site out to the real function. C and Rust units alike.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use object::{Object, ObjectSection, ObjectSymbol, RelocationTarget, SectionIndex};
use serde::{Deserialize, Serialize};

use crate::coverage::Point;

/// Bytes of the `call rel32` whose return address a point is (x86-64).
const CALL_LEN: u64 = 5;
/// Where the first code section is placed: away from 0, which DWARF consumers read as
/// "no address" (a discarded function's tombstone).
const LAYOUT_START: u64 = 0x10_0000;

/// One frame of a point: innermost (the line the instrumented block is on, maybe inside an
/// inlined function) first, the real function's line last.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Frame {
    /// As the compiler saw it (`/ksock/mod/sockopt.rs`).
    pub file: String,
    pub line: u32,
    /// Demangled; the function the frame's code belongs to.
    pub function: String,
}

/// Where each point of one module lies in its source.
#[derive(Debug, Clone, Default)]
pub struct ModuleLines {
    /// Per point, its frames (innermost first); points without line information are absent.
    pub frames: BTreeMap<Point, Vec<Frame>>,
    /// Where the module's own sources were as the compiler saw them (`/ksock/mod`): its
    /// units' compilation directories, and the directories of units named by an absolute
    /// path (a C module built against Debian's headers compiles in the headers' directory).
    /// On the host they lie beside its `.ko`.
    pub comp_dirs: BTreeSet<String>,
}

/// The frames of each of `points` (named as [`crate::coverage::points`] names them) in
/// `ko`, read from its DWARF.
pub fn module_lines(ko: &Path, points: &BTreeSet<Point>) -> Result<ModuleLines> {
    let data = std::fs::read(ko).with_context(|| format!("reading {}", ko.display()))?;
    let file = object::File::parse(&*data).with_context(|| format!("parsing {}", ko.display()))?;
    let bases = layout(&file);
    let sections = debug_sections(&file, &bases)
        .with_context(|| format!("reading the debug information of {}", ko.display()))?;
    let dwarf = gimli::Dwarf::load(|id| -> Result<_> {
        let bytes: &[u8] = sections.get(id.name()).map_or(&[], |v| v.as_slice());
        Ok(gimli::EndianSlice::new(bytes, gimli::LittleEndian))
    })?;
    let comp_dirs = comp_dirs(&dwarf)?;
    if comp_dirs.is_empty() {
        bail!(
            "{} has no debug information (its kernel was built without CONFIG_DEBUG_INFO?)",
            ko.display()
        );
    }
    let ctx = addr2line::Context::from_dwarf(dwarf)?;
    let by_name: BTreeMap<&str, u64> = file
        .sections()
        .filter_map(|s| Some((s.name().ok()?, *bases.get(&s.index())?)))
        .collect();
    let mut frames = BTreeMap::new();
    for p in points {
        let Some(base) = by_name.get(p.section.as_str()) else {
            continue;
        };
        // A call the compiler gave no line (line 0: code it made up, an unrolled loop's
        // block) is known by the block's next instruction, the return address.
        let mut f = frames_at(&ctx, base + p.offset.saturating_sub(CALL_LEN))?;
        if f.is_empty() {
            f = frames_at(&ctx, base + p.offset)?;
        }
        if !f.is_empty() {
            frames.insert(p.clone(), f);
        }
    }
    Ok(ModuleLines { frames, comp_dirs })
}

/// Distinct addresses for the code sections (every allocated section of an `ET_REL` starts
/// at 0).
fn layout(file: &object::File) -> HashMap<SectionIndex, u64> {
    let mut next = LAYOUT_START;
    let mut bases = HashMap::new();
    for s in file.sections() {
        let object::SectionFlags::Elf { sh_flags, .. } = s.flags() else {
            continue;
        };
        if !sh_flags.contains(object::elf::SHF_ALLOC) {
            continue;
        }
        let align = s.align().max(16);
        next = next.div_ceil(align) * align;
        bases.insert(s.index(), next);
        next += s.size().max(1);
    }
    bases
}

/// The DWARF sections gimli reads, by name, with their relocations applied against `bases`.
fn debug_sections(
    file: &object::File,
    bases: &HashMap<SectionIndex, u64>,
) -> Result<BTreeMap<&'static str, Vec<u8>>> {
    use gimli::SectionId as S;
    let mut out = BTreeMap::new();
    for id in [
        S::DebugAbbrev,
        S::DebugAddr,
        S::DebugInfo,
        S::DebugLine,
        S::DebugLineStr,
        S::DebugRanges,
        S::DebugRngLists,
        S::DebugStr,
        S::DebugStrOffsets,
        S::DebugAranges,
    ] {
        let Some(section) = file.section_by_name(id.name()) else {
            continue;
        };
        let data: Cow<[u8]> = section.uncompressed_data().with_context(|| {
            format!("{}: compressed debug sections are not supported", id.name())
        })?;
        let mut data = data.into_owned();
        relocate(file, &section, bases, &mut data)
            .with_context(|| format!("relocating {}", id.name()))?;
        out.insert(id.name(), data);
    }
    Ok(out)
}

/// Applies `section`'s relocations to `data` (absolute 32- and 64-bit ones: what DWARF in a
/// relocatable object uses).
fn relocate(
    file: &object::File,
    section: &object::Section,
    bases: &HashMap<SectionIndex, u64>,
    data: &mut [u8],
) -> Result<()> {
    for (offset, r) in section.relocations() {
        let target = match r.target() {
            RelocationTarget::Symbol(i) => {
                let sym = file.symbol_by_index(i)?;
                let base = sym
                    .section_index()
                    .and_then(|s| bases.get(&s).copied())
                    .unwrap_or(0);
                base + sym.address()
            }
            RelocationTarget::Section(s) => bases.get(&s).copied().unwrap_or(0),
            _ => continue,
        };
        let value = target.wrapping_add_signed(r.addend());
        let at = usize::try_from(offset)?;
        match (r.kind(), r.size()) {
            (object::RelocationKind::Absolute, 64) => {
                data[at..at + 8].copy_from_slice(&value.to_le_bytes());
            }
            (object::RelocationKind::Absolute, 32) => {
                data[at..at + 4].copy_from_slice(&(value as u32).to_le_bytes());
            }
            (kind, size) => bail!("relocation {kind:?}/{size} at {offset:#x}"),
        }
    }
    Ok(())
}

type Reader<'a> = gimli::EndianSlice<'a, gimli::LittleEndian>;

fn comp_dirs(dwarf: &gimli::Dwarf<Reader>) -> Result<BTreeSet<String>> {
    let mut dirs = BTreeSet::new();
    let mut units = dwarf.units();
    while let Some(header) = units.next()? {
        let unit = dwarf.unit(header)?;
        if let Some(d) = unit.comp_dir {
            dirs.insert(d.to_string_lossy().into_owned());
        }
        let name = unit.name.map(|n| n.to_string_lossy().into_owned());
        if let Some(parent) = name.as_deref().and_then(|n| Path::new(n).parent()) {
            if parent.is_absolute() && parent != Path::new("/") {
                dirs.insert(parent.display().to_string());
            }
        }
    }
    Ok(dirs)
}

/// The frames at `addr`, innermost first; the real function's name is each frame's own.
fn frames_at(ctx: &addr2line::Context<Reader>, addr: u64) -> Result<Vec<Frame>> {
    let mut it = ctx.find_frames(addr).skip_all_loads()?;
    let mut out = Vec::new();
    while let Some(f) = it.next()? {
        let Some(loc) = f.location else {
            continue;
        };
        let (Some(file), Some(line)) = (loc.file, loc.line) else {
            continue;
        };
        let function = match &f.function {
            Some(n) => n.demangle()?.into_owned(),
            None => String::new(),
        };
        out.push(Frame {
            file: file.to_string(),
            line,
            function,
        });
    }
    Ok(out)
}

/// Where a file the compiler saw lies on the host: the module's own sources (below a
/// compilation directory) are copied beside its `.ko`; others (kernel headers, the kernel
/// crate, core) are `None`.
pub fn host_source(ko: &Path, comp_dirs: &BTreeSet<String>, file: &str) -> Option<PathBuf> {
    comp_dirs.iter().rev().find_map(|d| {
        let p = ko.parent()?.join(Path::new(file).strip_prefix(d).ok()?);
        p.is_file().then_some(p)
    })
}

/// A source line's state, after syzkaller's coverage page (`docs/coverage.md`): every
/// point on it ran, some did, none did in a function that ran, none did and neither did
/// its function. Lines without points have no state (no code, or none instrumented).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Covered,
    Partial,
    Missed,
    /// Missed, and no point of its function ran.
    FunctionNeverRan,
}

impl State {
    /// The line ran (all or part of it).
    pub fn reached(self) -> bool {
        matches!(self, State::Covered | State::Partial)
    }

    pub fn name(self) -> &'static str {
        match self {
            State::Covered => "covered",
            State::Partial => "partial",
            State::Missed => "missed",
            State::FunctionNeverRan => "function-never-ran",
        }
    }
}

/// What a campaign knows of one point it reached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PointReach {
    /// Times it ran (trace entries), over every boot.
    pub hits: u64,
    /// The first input that reached it, and when (ordered: earlier first); `None` for the
    /// module's load or when the guest did not say.
    pub first: Option<(String, (u64, u64))>,
}

/// One source line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineCov {
    pub state: State,
    /// Points on the line (its own blocks, and inlined code whose call site it is).
    pub points: usize,
    pub covered: usize,
    /// Times its busiest point ran.
    pub hits: u64,
    /// The first input that reached it (its id; the report lists the inputs).
    pub first_input: Option<String>,
    /// The real (not inlined) functions its points lie in.
    pub functions: BTreeSet<String>,
}

/// One source file of a module (its own, or one it inlined code from).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileCov {
    /// As the compiler saw it.
    pub file: String,
    /// The module's own files by their names in its directory, others as `file`.
    pub name: String,
    /// The source on the host: the module's own files only.
    pub source: Option<PathBuf>,
    pub points: usize,
    pub covered: usize,
    pub lines: BTreeMap<u32, LineCov>,
}

/// One module's coverage by source line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModuleCov {
    pub module: String,
    pub ko: PathBuf,
    pub points: usize,
    pub covered: usize,
    /// Points the debug information gives no line.
    pub without_line: usize,
    /// The module's own files first, then the others, each by name.
    pub files: Vec<FileCov>,
}

/// Lines of `module` (its `.ko`, all its points and their frames) given what ran.
pub fn module_coverage(
    module: &str,
    ko: &Path,
    lines: &ModuleLines,
    all: &BTreeSet<Point>,
    reached: &BTreeMap<Point, PointReach>,
) -> ModuleCov {
    // Real functions with a point that ran.
    let ran: BTreeSet<&str> = lines
        .frames
        .iter()
        .filter(|(p, _)| reached.contains_key(*p))
        .filter_map(|(_, f)| Some(f.last()?.function.as_str()))
        .collect();
    let mut on_line: BTreeMap<(&str, u32), BTreeSet<&Point>> = BTreeMap::new();
    for (p, frames) in lines.frames.iter().filter(|(p, _)| all.contains(*p)) {
        for f in frames {
            on_line.entry((&f.file, f.line)).or_default().insert(p);
        }
    }
    let mut files: BTreeMap<&str, FileCov> = BTreeMap::new();
    for ((file, line), points) in &on_line {
        let fc = files.entry(file).or_insert_with(|| {
            let source = host_source(ko, &lines.comp_dirs, file);
            // The module's own files by their names in its directory.
            let own = source
                .as_deref()
                .and_then(|s| s.strip_prefix(ko.parent()?).ok());
            FileCov {
                file: file.to_string(),
                name: own.map_or(file.to_string(), |o| o.display().to_string()),
                source,
                points: 0,
                covered: 0,
                lines: BTreeMap::new(),
            }
        });
        fc.lines
            .insert(*line, line_cov(points, lines, reached, &ran));
    }
    for fc in files.values_mut() {
        let mine: BTreeSet<&Point> = on_line
            .iter()
            .filter(|((f, _), _)| *f == fc.file)
            .flat_map(|(_, ps)| ps.iter().copied())
            .collect();
        fc.points = mine.len();
        fc.covered = mine.iter().filter(|p| reached.contains_key(**p)).count();
    }
    let mut files: Vec<FileCov> = files.into_values().collect();
    files.sort_by_key(|f| (f.source.is_none(), f.name.clone()));
    ModuleCov {
        module: module.to_string(),
        ko: ko.to_path_buf(),
        points: all.len(),
        covered: all.iter().filter(|p| reached.contains_key(*p)).count(),
        without_line: all
            .iter()
            .filter(|p| !lines.frames.contains_key(*p))
            .count(),
        files,
    }
}

fn line_cov(
    points: &BTreeSet<&Point>,
    lines: &ModuleLines,
    reached: &BTreeMap<Point, PointReach>,
    ran: &BTreeSet<&str>,
) -> LineCov {
    let hit: Vec<&PointReach> = points.iter().filter_map(|p| reached.get(*p)).collect();
    let functions: BTreeSet<String> = points
        .iter()
        .filter_map(|p| Some(lines.frames.get(*p)?.last()?.function.clone()))
        .collect();
    let state = if hit.len() == points.len() {
        State::Covered
    } else if !hit.is_empty() {
        State::Partial
    } else if functions.iter().any(|f| ran.contains(f.as_str())) {
        State::Missed
    } else {
        State::FunctionNeverRan
    };
    LineCov {
        state,
        points: points.len(),
        covered: hit.len(),
        hits: hit.iter().map(|r| r.hits).max().unwrap_or(0),
        first_input: hit
            .iter()
            .filter_map(|r| r.first.as_ref())
            .min_by_key(|(_, at)| *at)
            .map(|(id, _)| id.clone()),
        functions,
    }
}

/// A run of source lines no input reached: lines with points, all missed, none reached
/// between them (lines without points do not break a run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    pub module: String,
    pub file: String,
    pub first: u32,
    pub last: u32,
    /// Distinct points in it.
    pub points: usize,
}

impl std::fmt::Display for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.first == self.last {
            true => write!(f, "{}:{}", self.file, self.first)?,
            false => write!(f, "{}:{}-{}", self.file, self.first, self.last)?,
        }
        write!(f, " ({} point(s))", self.points)
    }
}

/// The never-reached regions of the modules' own files, largest (by points, then lines)
/// first.
pub fn never_reached(modules: &[ModuleCov], lines: &BTreeMap<String, ModuleLines>) -> Vec<Region> {
    let mut out = Vec::new();
    for m in modules {
        let Some(ml) = lines.get(&m.module) else {
            continue;
        };
        for f in m.files.iter().filter(|f| f.source.is_some()) {
            let mut run: Option<(u32, u32)> = None;
            let mut flush = |run: &mut Option<(u32, u32)>| {
                if let Some((a, b)) = run.take() {
                    out.push(Region {
                        module: m.module.clone(),
                        file: f.name.clone(),
                        first: a,
                        last: b,
                        points: points_between(ml, &f.file, a, b),
                    });
                }
            };
            for (n, l) in &f.lines {
                if l.state.reached() {
                    flush(&mut run);
                } else {
                    run = Some(run.map_or((*n, *n), |(a, _)| (a, *n)));
                }
            }
            flush(&mut run);
        }
    }
    out.sort_by_key(|r| {
        (
            std::cmp::Reverse(r.points),
            std::cmp::Reverse(r.last - r.first),
        )
    });
    out
}

fn points_between(ml: &ModuleLines, file: &str, first: u32, last: u32) -> usize {
    ml.frames
        .values()
        .filter(|fs| {
            fs.iter()
                .any(|f| f.file == file && (first..=last).contains(&f.line))
        })
        .count()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `testdata/cover/inl.c` compiled as kbuild compiles a module's object: relocatable,
    /// trace-pc instrumented, with debug information.
    pub(crate) fn object() -> (tempfile::TempDir, PathBuf) {
        compiled(|dir| (dir.to_path_buf(), "inl.c".into()))
    }

    /// `inl.c` copied into a new directory and compiled from where `how` says (the
    /// directory to run in, the source's path as given to the compiler).
    fn compiled(how: impl Fn(&Path) -> (PathBuf, PathBuf)) -> (tempfile::TempDir, PathBuf) {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/cover/inl.c");
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(&src, dir.path().join("inl.c")).unwrap();
        let obj = dir.path().join("inl.o");
        let (cwd, arg) = how(dir.path());
        let st = std::process::Command::new("cc")
            .args(["-c", "-g", "-O2", "-fsanitize-coverage=trace-pc", "-o"])
            .arg(&obj)
            .arg(arg)
            .current_dir(cwd)
            .status()
            .expect("cc (the host's C compiler) runs");
        assert!(st.success());
        (dir, obj)
    }

    #[test]
    fn a_unit_named_by_its_absolute_path_is_the_modules_own_wherever_it_compiled() {
        // As kbuild compiles a C module against Debian's headers: in the headers' directory,
        // the source named by its absolute path.
        let elsewhere = tempfile::tempdir().unwrap();
        let (_dir, obj) = compiled(|d| (elsewhere.path().to_path_buf(), d.join("inl.c")));
        let all = crate::coverage::points(&obj).unwrap();
        let m = module_lines(&obj, &all).unwrap();
        let cov = module_coverage("inl", &obj, &m, &all, &BTreeMap::new());
        assert_eq!(cov.files[0].name, "inl.c");
        assert_eq!(cov.files[0].source, Some(obj.with_file_name("inl.c")));
    }

    pub(crate) fn at<'a>(m: &'a ModuleLines, function: &str) -> Vec<(&'a Point, &'a Vec<Frame>)> {
        m.frames
            .iter()
            .filter(|(_, f)| f.last().unwrap().function == function)
            .collect()
    }

    #[test]
    fn points_of_a_relocatable_object_map_to_their_lines_inlined_code_to_its_own() {
        let (_dir, obj) = object();
        let all = crate::coverage::points(&obj).unwrap();
        let m = module_lines(&obj, &all).unwrap();
        assert_eq!(m.frames.len(), all.len(), "every point has a line");
        let text = std::fs::read_to_string(obj.with_file_name("inl.c")).unwrap();
        let line_of =
            |needle: &str| 1 + text.lines().position(|l| l.contains(needle)).unwrap() as u32;
        // A section of its own, laid out apart from .text: its points are `other`'s.
        let other = at(&m, "other");
        assert!(!other.is_empty());
        assert!(other.iter().all(|(p, _)| p.section == ".text.other"));
        assert!(other
            .iter()
            .all(|(_, f)| f[0].line >= line_of("int other") && f[0].file.ends_with("inl.c")));
        // `twice` is inlined into `entry`: its blocks are on its own lines, then the call's.
        let inlined: Vec<_> = at(&m, "entry")
            .into_iter()
            .filter(|(_, f)| f.len() == 2)
            .collect();
        assert!(!inlined.is_empty(), "{:#?}", m.frames);
        for (_, f) in inlined {
            assert_eq!(f[0].function, "twice");
            assert!((line_of("int twice")..line_of("int entry")).contains(&f[0].line));
            assert_eq!(f[1].line, line_of("return twice(x)"));
        }
        let dir = obj.parent().unwrap();
        assert_eq!(
            host_source(
                &obj,
                &m.comp_dirs,
                &m.frames.values().next().unwrap()[0].file
            ),
            Some(dir.join("inl.c"))
        );
    }

    /// Every point that ran is on lines that ran; every line that did not has no point that
    /// ran; a line's counts are its points'.
    fn assert_agree(m: &ModuleLines, all: &BTreeSet<Point>, reached: &BTreeMap<Point, PointReach>) {
        let cov = module_coverage("inl", Path::new("/nowhere/inl.ko"), m, all, reached);
        let state = |file: &str, line: u32| {
            cov.files
                .iter()
                .find(|f| f.file == file)
                .and_then(|f| f.lines.get(&line))
                .map(|l| l.state)
        };
        for (p, frames) in &m.frames {
            for f in frames {
                let s = state(&f.file, f.line).expect("a point's line has a state");
                assert_eq!(s.reached(), reached.contains_key(p) || s == State::Partial);
                if reached.contains_key(p) {
                    assert!(s.reached(), "{p:?} ran but {}:{} is {s:?}", f.file, f.line);
                }
            }
        }
        assert_eq!(
            cov.covered,
            reached.keys().filter(|p| all.contains(*p)).count()
        );
        for f in &cov.files {
            for l in f.lines.values() {
                assert!(l.covered <= l.points);
                assert_eq!(l.state == State::Covered, l.covered == l.points);
            }
        }
    }

    #[test]
    fn line_states_agree_with_the_points() {
        let (_dir, obj) = object();
        let all = crate::coverage::points(&obj).unwrap();
        let m = module_lines(&obj, &all).unwrap();
        // Nothing ran, all of it ran, and every other point ran (first inputs in order).
        let ran = |pick: &dyn Fn(usize) -> bool| -> BTreeMap<Point, PointReach> {
            all.iter()
                .enumerate()
                .filter(|(i, _)| pick(*i))
                .map(|(i, p)| {
                    let first = Some((format!("in{i}"), (0, i as u64)));
                    (
                        p.clone(),
                        PointReach {
                            hits: 1 + i as u64,
                            first,
                        },
                    )
                })
                .collect()
        };
        for pick in [&|_| false, &|_| true, &|i| i % 2 == 0] as [&dyn Fn(usize) -> bool; 3] {
            assert_agree(&m, &all, &ran(pick));
        }
        // With `entry` run and `other` not: `other`'s lines are in a function that never ran.
        let entry: BTreeMap<Point, PointReach> = at(&m, "entry")
            .into_iter()
            .map(|(p, _)| (p.clone(), PointReach::default()))
            .collect();
        let cov = module_coverage("inl", &obj, &m, &all, &entry);
        let file = cov.files.iter().find(|f| f.name == "inl.c").unwrap();
        let other_line = at(&m, "other")[0].1[0].line;
        assert_eq!(file.lines[&other_line].state, State::FunctionNeverRan);
        let regions = never_reached(&[cov], &[("inl".to_string(), m.clone())].into());
        assert_eq!(regions[0].file, "inl.c");
        assert!(regions[0].first <= other_line && other_line <= regions[0].last);
    }

    #[test]
    fn a_lines_first_input_is_the_earliest_of_its_points() {
        let p = |o| Point {
            section: ".text".into(),
            offset: o,
        };
        let f = |line| Frame {
            file: "/b/m.c".into(),
            line,
            function: "f".into(),
        };
        let m = ModuleLines {
            frames: [(p(5), vec![f(3)]), (p(9), vec![f(3)]), (p(20), vec![f(4)])].into(),
            comp_dirs: ["/b".to_string()].into(),
        };
        let all: BTreeSet<Point> = [p(5), p(9), p(20)].into();
        let reach = |id: &str, at, hits| PointReach {
            hits,
            first: Some((id.to_string(), at)),
        };
        let reached = [
            (p(5), reach("late", (2, 1), 7)),
            (p(9), reach("early", (1, 50), 3)),
        ]
        .into();
        let cov = module_coverage("m", Path::new("/nowhere/m.ko"), &m, &all, &reached);
        let l3 = &cov.files[0].lines[&3];
        assert_eq!(
            (l3.state, l3.hits, l3.first_input.as_deref()),
            (State::Covered, 7, Some("early"))
        );
        assert_eq!(cov.files[0].lines[&4].state, State::Missed);
        assert_eq!(
            (cov.files[0].name.as_str(), cov.files[0].source.as_ref()),
            ("/b/m.c", None),
            "a file not beside the .ko is no own file: named as compiled"
        );
    }
}
