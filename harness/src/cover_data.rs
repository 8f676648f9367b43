//! A campaign's coverage by source line, gathered from its directory alone (so a page can
//! be written after the campaign, `ksock fuzz NAME --report`, and for merged CI shards):
//! the guests' configs (which `.ko`s), their reach files (points, hits, first inputs; see
//! `ksock_fuzz::reach`), the first inputs themselves, the host's timeline of status lines,
//! the campaign's summary and the findings store. [`crate::cover_page`] renders it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ksock_fuzz::reach::Reached;
use ksock_fuzz::FuzzConfig;
use serde::{Deserialize, Serialize};

use crate::coverage::{self, Point};
use crate::lines::{self, ModuleCov, PointReach, Region};

/// The page, in the campaign's directory.
pub const PAGE_FILE: &str = "coverage.html";
/// The same coverage as JSON (per line: state, points, hits, first input).
pub const LINES_FILE: &str = "coverage-lines.json";
/// Per job: one [`Sample`] a line, from each status line the guest printed.
pub const TIMELINE_FILE: &str = "timeline.jsonl";
/// The campaign's [`Summary`], written when it ends.
pub const SUMMARY_FILE: &str = "campaign.json";

/// What a campaign did, as its page shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub target: String,
    /// The modules fuzzed (`srv + ctl`).
    pub label: String,
    pub release: String,
    pub flavour: String,
    /// Module parameters added for the campaign (`seed_bugs=1`).
    pub params: Vec<String>,
    pub fuzz_seconds: f64,
    pub execs: u64,
    pub boots: usize,
    pub corpus: usize,
    /// Seconds of fuzzing before each title was first reported.
    pub time_to_find: BTreeMap<String, f64>,
    pub stopped: Option<String>,
    /// A merge of other corpora rather than fuzzing.
    pub merge: bool,
}

/// One status line of one job.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// The job's fuzzing seconds (boots excluded).
    pub t: f64,
    pub job: usize,
    pub execs: u64,
    pub execs_per_s: f64,
    /// The campaign's points so far.
    pub points: usize,
    pub corpus: u64,
}

/// A first input, decoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    pub bytes: usize,
    /// The decoded sequence, one op a line (as findings' reports show them).
    pub sequence: String,
}

/// One finding in the store (this campaign's or an earlier one's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub title: String,
    pub oracle: String,
    pub detail: String,
    pub dir: PathBuf,
    /// Seconds of this campaign's fuzzing before it was first reported.
    pub found_after: Option<f64>,
    /// Its `report.txt`: the sequence and, for a kernel that went down, the console.
    pub report: String,
}

/// Everything the page shows; written as [`LINES_FILE`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub summary: Option<Summary>,
    pub modules: Vec<ModuleCov>,
    /// The never-reached regions of the modules' own files, largest first.
    pub regions: Vec<Region>,
    /// By id: the inputs lines name as their first.
    pub inputs: BTreeMap<String, Input>,
    pub findings: Vec<Finding>,
    pub timeline: Vec<Sample>,
}

impl Report {
    pub fn points(&self) -> (usize, usize) {
        self.modules
            .iter()
            .fold((0, 0), |(c, a), m| (c + m.covered, a + m.points))
    }
}

/// Gathers the report of the campaign whose directory is `base`
/// (`target/ksock/fuzz/<target>/<release>-<flavour>`).
pub fn gather(base: &Path) -> Result<Report> {
    let jobs = job_dirs(base);
    let cfg = jobs
        .iter()
        .find_map(|d| read_json::<FuzzConfig>(&d.join(ksock_fuzz::config::FUZZ_CONFIG_FILE)))
        .with_context(|| {
            format!(
                "{}: no campaign's jobs (jobs/<n>/{}) to report on",
                base.display(),
                ksock_fuzz::config::FUZZ_CONFIG_FILE
            )
        })?;
    let kos: Vec<(String, PathBuf)> = std::iter::once((cfg.module.clone(), cfg.ko.clone()))
        .chain(cfg.also.iter().map(|a| (a.name.clone(), a.ko.clone())))
        .collect();
    let several = kos.len() > 1;
    let mut all = BTreeMap::new();
    for (m, ko) in &kos {
        all.insert(m.clone(), coverage::points(ko)?);
    }
    let campaign_all: BTreeSet<Point> = all
        .iter()
        .flat_map(|(m, ps)| ps.iter().map(|p| named(m, p, several)))
        .collect();
    let reached = reached(&jobs, &campaign_all);
    let mut modules = Vec::new();
    let mut by_module = BTreeMap::new();
    for (m, ko) in &kos {
        let ml = lines::module_lines(ko, &all[m])?;
        let mine: BTreeMap<Point, PointReach> = all[m]
            .iter()
            .filter_map(|p| Some((p.clone(), reached.get(&named(m, p, several))?.clone())))
            .collect();
        modules.push(lines::module_coverage(m, ko, &ml, &all[m], &mine));
        by_module.insert(m.clone(), ml);
    }
    let summary = read_json::<Summary>(&base.join(SUMMARY_FILE));
    Ok(Report {
        regions: lines::never_reached(&modules, &by_module),
        inputs: inputs(&cfg, &jobs, &modules),
        findings: findings(base, summary.as_ref()),
        timeline: timeline(&jobs),
        summary,
        modules,
    })
}

/// A module's point as the campaign names it (`module/section` with several modules).
fn named(module: &str, p: &Point, several: bool) -> Point {
    match several {
        true => Point {
            section: format!("{module}/{}", p.section),
            offset: p.offset,
        },
        false => p.clone(),
    }
}

fn job_dirs(base: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<(usize, PathBuf)> = std::fs::read_dir(base.join("jobs"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path())))
        .collect();
    dirs.sort();
    dirs.into_iter().map(|(_, p)| p).collect()
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Every boot's reach file of every job: hits summed, the earliest first input kept (boot
/// by boot, then input by input). Code failed loads ran is resolved as the campaign does.
fn reached(jobs: &[PathBuf], all: &BTreeSet<Point>) -> BTreeMap<Point, PointReach> {
    let mut out: BTreeMap<Point, PointReach> = BTreeMap::new();
    let mut add = |p: Point, r: &Reached, boot: u64| {
        let e = out.entry(p).or_default();
        e.hits += r.hits;
        if let Some(id) = &r.first {
            let at = (boot, r.exec);
            if e.first.as_ref().is_none_or(|(_, t)| at < *t) {
                e.first = Some((id.clone(), at));
            }
        }
    };
    for (boot, list) in jobs.iter().flat_map(|d| reach_files(d)) {
        for r in &list {
            if r.section != ksock_fuzz::config::DEAD_SECTION {
                let p = Point {
                    section: r.section.clone(),
                    offset: r.offset,
                };
                add(p, r, boot);
                continue;
            }
            let one: BTreeSet<u64> = [r.offset].into();
            for p in coverage::resolve_dead(&one, all) {
                add(p, r, boot);
            }
        }
    }
    out
}

/// A point as `coverage.json` lists it.
type PlainPoint = (String, u64);

/// A job's reach files with their boot numbers (`reach-boot<n>.json`; the running boot's
/// `reach.json` last), each with the points of the same boot's `coverage.json` it lacks
/// (the guest writes reach files with its status lines, coverage files at once: a kernel
/// that went down in between left points in the latter only; a guest that predates reach
/// files, all of them), without hits or first inputs.
fn reach_files(job: &Path) -> Vec<(u64, Vec<Reached>)> {
    let mut boots: BTreeMap<u64, (Vec<Reached>, Vec<PlainPoint>)> = BTreeMap::new();
    for e in std::fs::read_dir(job).into_iter().flatten().flatten() {
        let Some(name) = e.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let (kind, boot) = match name.as_str() {
            ksock_fuzz::reach::REACH_FILE => ("reach", u64::MAX),
            ksock_fuzz::config::COVERAGE_FILE => ("coverage", u64::MAX),
            n => match n.strip_suffix(".json").and_then(|n| n.split_once("-boot")) {
                Some((k, b)) => match b.parse() {
                    Ok(b) => (k, b),
                    Err(_) => continue,
                },
                None => continue,
            },
        };
        let entry = boots.entry(boot).or_default();
        match kind {
            "reach" => entry.0 = read_json(&e.path()).unwrap_or_default(),
            "coverage" => entry.1 = read_json(&e.path()).unwrap_or_default(),
            _ => {}
        }
    }
    boots
        .into_iter()
        .map(|(boot, (mut reach, plain))| {
            let known: BTreeSet<(String, u64)> = reach
                .iter()
                .map(|r| (r.section.clone(), r.offset))
                .collect();
            reach.extend(plain.into_iter().filter(|p| !known.contains(p)).map(
                |(section, offset)| Reached {
                    section,
                    offset,
                    hits: 0,
                    first: None,
                    exec: 0,
                },
            ));
            (boot, reach)
        })
        .collect()
}

/// The inputs the lines name, decoded in the target's language.
fn inputs(cfg: &FuzzConfig, jobs: &[PathBuf], modules: &[ModuleCov]) -> BTreeMap<String, Input> {
    let ids: BTreeSet<&str> = modules
        .iter()
        .flat_map(|m| &m.files)
        .flat_map(|f| f.lines.values())
        .filter_map(|l| l.first_input.as_deref())
        .collect();
    ids.into_iter()
        .filter_map(|id| {
            let bytes = jobs
                .iter()
                .find_map(|d| std::fs::read(d.join(ksock_fuzz::reach::INPUTS_DIR).join(id)).ok())?;
            let sequence = cfg.decode(&bytes).describe(&cfg.target);
            Some((
                id.to_string(),
                Input {
                    bytes: bytes.len(),
                    sequence,
                },
            ))
        })
        .collect()
}

fn findings(base: &Path, summary: Option<&Summary>) -> Vec<Finding> {
    let dir = base.join(ksock_fuzz::findings::FINDINGS_DIR);
    let mut out: Vec<Finding> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let meta: ksock_fuzz::FindingMeta = read_json(&e.path().join("finding.json"))?;
            Some(Finding {
                found_after: summary.and_then(|s| s.time_to_find.get(&meta.title).copied()),
                report: std::fs::read_to_string(e.path().join("report.txt")).unwrap_or_default(),
                oracle: meta.oracle.to_string(),
                detail: meta.detail.clone(),
                title: meta.title,
                dir: e.path(),
            })
        })
        .collect();
    // This campaign's, in the order they came; then earlier campaigns', by title.
    out.sort_by(|a, b| {
        (
            a.found_after.is_none(),
            a.found_after.unwrap_or(0.0),
            &a.title,
        )
            .partial_cmp(&(
                b.found_after.is_none(),
                b.found_after.unwrap_or(0.0),
                &b.title,
            ))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    out
}

fn timeline(jobs: &[PathBuf]) -> Vec<Sample> {
    jobs.iter()
        .filter_map(|d| std::fs::read_to_string(d.join(TIMELINE_FILE)).ok())
        .flat_map(|text| {
            text.lines()
                .filter_map(|l| serde_json::from_str::<Sample>(l).ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Appends one sample to a job's timeline.
pub fn record_sample(job_dir: &Path, s: &Sample) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(job_dir.join(TIMELINE_FILE))?;
    writeln!(f, "{}", serde_json::to_string(s)?)
}

/// What [`write`] wrote.
#[derive(Debug, Clone)]
pub struct Written {
    pub page: PathBuf,
    pub json: PathBuf,
    pub page_bytes: u64,
    /// Gathering, mapping and rendering.
    pub seconds: f64,
    pub regions: Vec<Region>,
    /// "N of M points, K of L lines of the modules' own files".
    pub lines_summary: String,
}

/// Writes the page and its JSON into `base`.
pub fn write(base: &Path) -> Result<Written> {
    let t = std::time::Instant::now();
    let report = gather(base)?;
    let html = crate::cover_page::render(&report);
    let page = base.join(PAGE_FILE);
    let json = base.join(LINES_FILE);
    std::fs::write(&json, serde_json::to_vec_pretty(&report)?)
        .with_context(|| json.display().to_string())?;
    std::fs::write(&page, &html).with_context(|| page.display().to_string())?;
    let own = report
        .modules
        .iter()
        .flat_map(|m| &m.files)
        .filter(|f| f.source.is_some());
    let (mut reached, mut code) = (0, 0);
    for f in own {
        code += f.lines.len();
        reached += f.lines.values().filter(|l| l.state.reached()).count();
    }
    let (c, a) = report.points();
    Ok(Written {
        page_bytes: html.len() as u64,
        seconds: t.elapsed().as_secs_f64(),
        regions: report.regions.clone(),
        lines_summary: format!(
            "{c} of {a} points, {reached} of {code} lines with code in the modules' own files"
        ),
        page,
        json,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lines::tests::{at, object};

    /// A campaign directory as a campaign leaves it, around `testdata/cover/inl.c`'s object
    /// as the module: `entry`'s points reached over two boots, `other`'s never.
    fn campaign_dir(obj: &Path) -> (tempfile::TempDir, BTreeSet<Point>) {
        let base = tempfile::tempdir().unwrap();
        let job = base.path().join("jobs/0");
        std::fs::create_dir_all(job.join(ksock_fuzz::reach::INPUTS_DIR)).unwrap();
        let cfg = serde_json::json!({
            "module": "inl", "ko": obj, "params": "", "runtime": null,
            "language": "sockopt",
            "target": {"level": 0, "optmin": 128, "optmax": 130, "capacity": 64},
            "model": null, "reset": null, "max_ops": 16, "splats": [],
            "out": job, "findings": base.path().join("findings"),
        });
        std::fs::write(job.join("fuzz.json"), cfg.to_string()).unwrap();
        let all = coverage::points(obj).unwrap();
        let lines = lines::module_lines(obj, &all).unwrap();
        let entry: Vec<&Point> = at(&lines, "entry").into_iter().map(|(p, _)| p).collect();
        let input = b"\x01\x02\x03\x04\x05\x06\x07\x08".to_vec();
        let id = ksock_fuzz::reach::input_id(&input);
        std::fs::write(job.join("inputs").join(&id), &input).unwrap();
        for boot in [1, 2] {
            // Boot 2 went down before its last point reached its reach file: it is in its
            // coverage file only.
            let last = entry.len() - boot as usize + 1;
            let plain: Vec<(&str, u64)> = entry
                .iter()
                .map(|p| (p.section.as_str(), p.offset))
                .collect();
            let f = job.join(format!("coverage-boot{boot}.json"));
            std::fs::write(f, serde_json::to_vec(&plain).unwrap()).unwrap();
            let list: Vec<Reached> = entry[..last]
                .iter()
                .map(|p| Reached {
                    section: p.section.clone(),
                    offset: p.offset,
                    hits: 10,
                    first: Some(id.clone()),
                    exec: boot,
                })
                .collect();
            let f = job.join(format!("reach-boot{boot}.json"));
            std::fs::write(f, serde_json::to_vec(&list).unwrap()).unwrap();
        }
        for (t, points) in [(2.0, 3), (4.0, entry.len())] {
            let s = Sample {
                t,
                job: 0,
                execs: 100,
                execs_per_s: 50.0,
                points,
                corpus: 4,
            };
            record_sample(&job, &s).unwrap();
        }
        (base, entry.into_iter().cloned().collect())
    }

    #[test]
    fn the_page_shows_each_line_as_its_points_ran_with_its_first_input() {
        let (_o, obj) = object();
        let (base, entry) = campaign_dir(&obj);
        let summary = Summary {
            target: "inl".into(),
            time_to_find: [("a bug".to_string(), 3.5)].into(),
            ..Summary::default()
        };
        std::fs::write(
            base.path().join(SUMMARY_FILE),
            serde_json::to_vec(&summary).unwrap(),
        )
        .unwrap();
        let w = write(base.path()).unwrap();
        let html = std::fs::read_to_string(&w.page).unwrap();
        let report: Report = serde_json::from_slice(&std::fs::read(&w.json).unwrap()).unwrap();
        let m = &report.modules[0];
        assert_eq!(
            (m.covered, m.points),
            (entry.len(), coverage::points(&obj).unwrap().len())
        );
        let file = m.files.iter().find(|f| f.name == "inl.c").unwrap();
        let text = std::fs::read_to_string(obj.with_file_name("inl.c")).unwrap();
        let line_of =
            |needle: &str| 1 + text.lines().position(|l| l.contains(needle)).unwrap() as u32;
        let row = |n: u32, state: &str| {
            format!("data-file=\"inl.c\" data-line=\"{n}\" data-state=\"{state}\"")
        };
        // Hits add up over boots; the first input is the earlier boot's, decoded.
        let call = &file.lines[&line_of("return twice(x)")];
        assert_eq!((call.state.name(), call.hits), ("covered", 20));
        let id = call.first_input.clone().unwrap();
        assert!(html.contains(&row(line_of("return twice(x)"), "covered")));
        assert!(html.contains(&format!("<a href=\"#in-{id}\">20</a>")));
        assert!(html.contains(&format!("<div id=\"in-{id}\">")));
        assert!(
            report.inputs[&id].sequence.contains("1."),
            "{:?}",
            report.inputs
        );
        let lines = lines::module_lines(&obj, &coverage::points(&obj).unwrap()).unwrap();
        let other = at(&lines, "other")[0].1[0].line;
        assert!(html.contains(&row(other, "function-never-ran")));
        assert!(html.contains(&row(2, "none")), "a comment line has no code");
        assert!(
            w.regions[0].to_string().starts_with("inl.c:"),
            "{:?}",
            w.regions
        );
        assert_eq!(html.matches("<polyline").count(), 3);
        assert!(
            !html.contains("http://") || html.matches("http://").count() == 1,
            "only SVG's namespace"
        );
        assert!(
            !html.contains("<script") && !html.contains("src="),
            "self-contained"
        );
    }
}
