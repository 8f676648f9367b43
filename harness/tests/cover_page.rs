//! A campaign's coverage page in a real browser: a short campaign of the correct sockopt
//! module (no planted bug), its page opened in headless Chromium, a screenshot kept, and the
//! DOM as the browser built it checked: a line every valid set runs is marked covered, a
//! line only the planted bug runs is marked missed, and the covered line links to the
//! first input that reached it.
//!
//! Chromium is Debian's `chromium` package, in a Debian root ksock makes with mmdebstrap
//! as it makes its toolchain roots (an ordinary user's unshare mode included), cached as
//! `roots/browser-<suite>` (~60 s and ~780 MB the first time); it runs through ksock's
//! chroot helper, so no browser need be installed on the host. The screenshots and the
//! page are kept in `target/ksock/artifacts/cover_page/`. A merge of a shard's corpus
//! writes the same page.

use std::path::{Path, PathBuf};

use ksock_harness::campaign::{self, CampaignOptions};
use ksock_harness::cover_data::Report;
use ksock_harness::project::Project;
use ksock_vm::chroot::{run_in_root, Bind};

/// The suite the browser root comes from.
const BROWSER_SUITE: &str = "trixie";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A Debian root holding `chromium` (made once, then cached).
fn browser_root(cache: &ksock_vm::Cache) -> PathBuf {
    let log = cache.root().join("logs").join("browser-root.log");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    let mirror = ksock_vm::debian::mirror().unwrap();
    let packages = ["chromium", "fonts-dejavu-core"].map(String::from);
    let r = ksock_vm::debian::roots::ensure(
        cache,
        &format!("browser-{BROWSER_SUITE}"),
        &[BROWSER_SUITE],
        &mirror,
        &packages,
        &log,
    )
    .unwrap_or_else(|e| panic!("making the browser root: {e}"));
    r.path
}

/// Runs headless Chromium in `browser` on `page` (under `dir`, seen as /page): the DOM it
/// built after running the page's scripts, and screenshots (`(height, png)`: the top of
/// the page in a window that tall) into `out`.
fn chromium(browser: &Path, dir: &Path, page: &str, shots: &[(u32, &str)], out: &Path) -> String {
    let flags = "--headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run";
    let mut script = format!(
        "chromium {flags} --dump-dom file:///page/{page} > /out/dom.html 2>> /out/chromium.log\n"
    );
    for (height, png) in shots {
        script.push_str(&format!(
            "chromium {flags} --window-size=1280,{height} --screenshot=/out/{png} \
             file:///page/{page} 2>> /out/chromium.log\n"
        ));
    }
    let binds = [
        Bind {
            host: dir.to_path_buf(),
            inside: "/page".into(),
            writable: false,
        },
        Bind {
            host: out.to_path_buf(),
            inside: "/out".into(),
            writable: true,
        },
    ];
    run_in_root(browser, &binds, &script, &out.join("run.log"))
        .unwrap_or_else(|e| panic!("chromium: {e}"));
    std::fs::read_to_string(out.join("dom.html")).unwrap()
}

/// What the browser says of a line: its row's state and the background its code cell got.
const PROBE: &str = r#"<script>
function probe(file, line) {
  const row = document.querySelector(`tr[data-file="${file}"][data-line="${line}"]`);
  if (!row) return {missing: true};
  const link = row.querySelector('td.h a');
  const target = link ? document.getElementById(link.getAttribute('href').slice(1)) : null;
  return {state: row.dataset.state, cls: row.className,
          background: getComputedStyle(row.querySelector('td.c')).backgroundColor,
          first_input: target ? target.querySelector('pre').textContent : null};
}
const out = document.createElement('pre');
out.id = 'ksock-probe';
out.textContent = JSON.stringify({reached: probe('sockopt.rs', REACHED), seeded: probe('sockopt.rs', SEEDED),
  plot: !!document.querySelector('svg#plot polyline')});
document.body.appendChild(out);
</script>"#;

/// The line of sockopt.rs holding `needle` (1-based).
fn line_of(report: &Report, needle: &str) -> u32 {
    let f = report.modules[0]
        .files
        .iter()
        .find(|f| f.name == "sockopt.rs")
        .expect("sockopt.rs on the page");
    let text = std::fs::read_to_string(f.source.as_ref().unwrap()).unwrap();
    1 + text
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no {needle:?} in sockopt.rs")) as u32
}

#[test]
fn the_page_marks_reached_and_unreached_lines_in_a_browser() {
    let cache = ksock_vm::Cache::from_env().unwrap();
    let t0 = std::time::Instant::now();
    let browser = browser_root(&cache);
    eprintln!("browser root: {:.1} s", t0.elapsed().as_secs_f64());
    let project = Project::open(&root()).unwrap();
    let work = tempfile::tempdir().unwrap();
    let opts = CampaignOptions {
        seconds: 20,
        ..CampaignOptions::new(
            project.config.fuzz_target("sockopt").unwrap().clone(),
            ksock_vm::catalog::DEFAULT_KERNEL,
            work.path().to_path_buf(),
        )
    };
    let r = campaign::run(&cache, &project, &opts).unwrap();
    let page = r.page.expect("the campaign wrote its page");
    let report: Report = serde_json::from_slice(&std::fs::read(&page.json).unwrap()).unwrap();
    // Every valid set stores its length here; only the planted copy bug (seed_bugs=1) sets
    // the length from the message's NUL.
    let reached = line_of(&report, "store.buf = tmp;");
    let seeded = line_of(&report, "store.len = store.buf.iter().position");
    let state = |n: u32| {
        report.modules[0]
            .files
            .iter()
            .find(|f| f.name == "sockopt.rs")
            .unwrap()
            .lines
            .get(&n)
            .map(|l| l.state.name())
    };
    assert_eq!(
        state(reached),
        Some("covered"),
        "line {reached} in the JSON"
    );
    assert_eq!(state(seeded), Some("missed"), "line {seeded} in the JSON");
    let seen = in_the_browser(&browser, &page.page, &report, reached, seeded);
    assert_eq!(seen["reached"]["state"], "covered", "{seen}");
    assert_eq!(
        seen["reached"]["background"], "rgb(212, 244, 212)",
        "{seen}"
    );
    assert!(
        seen["reached"]["first_input"]
            .as_str()
            .is_some_and(|s| s.contains("set opt=")),
        "the covered line links to its first input's sequence: {seen}"
    );
    assert_eq!(seen["seeded"]["state"], "missed", "{seen}");
    assert_eq!(seen["seeded"]["background"], "rgb(255, 201, 201)", "{seen}");
    assert_eq!(seen["plot"], true, "{seen}");
}

/// Opens `page` in Chromium with the probe for lines `reached` and `seeded` of
/// sockopt.rs; keeps the page and two screenshots (its top, all of it) as artifacts;
/// returns what the probe saw.
fn in_the_browser(
    browser: &Path,
    page: &Path,
    report: &Report,
    reached: u32,
    seeded: u32,
) -> serde_json::Value {
    let artifacts = root().join("target/ksock/artifacts/cover_page");
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).unwrap();
    let html = std::fs::read_to_string(page).unwrap();
    std::fs::write(artifacts.join("coverage.html"), &html).unwrap();
    let probe = PROBE
        .replace("REACHED", &reached.to_string())
        .replace("SEEDED", &seeded.to_string());
    let pages = tempfile::tempdir().unwrap();
    std::fs::write(
        pages.path().join("probe.html"),
        html.replace("</body>", &format!("{probe}</body>")),
    )
    .unwrap();
    // The whole page: its head, then every line of source (~17 px each).
    let lines: usize = report.modules[0]
        .files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f.source.as_ref()?).ok())
        .map(|t| t.lines().count())
        .sum();
    let full = 1800 + 17 * lines as u32;
    let t1 = std::time::Instant::now();
    let dom = chromium(
        browser,
        pages.path(),
        "probe.html",
        &[(1400, "page-top.png"), (full, "page-full.png")],
        &artifacts,
    );
    eprintln!("chromium: {:.1} s", t1.elapsed().as_secs_f64());
    for png in ["page-top.png", "page-full.png"] {
        let bytes = std::fs::read(artifacts.join(png)).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "{png} is no PNG");
    }
    eprintln!("screenshots in {}", artifacts.display());
    probe_result(&dom)
}

/// How CI combines shards: a shard's corpus merged into an empty campaign directory runs its
/// inputs in a guest (libFuzzer's `-merge=1` starts the fuzzer again for them), keeps
/// those that add coverage, and writes the same page.
#[test]
fn a_merge_runs_the_shards_inputs_and_writes_the_page() {
    let cache = ksock_vm::Cache::from_env().unwrap();
    let project = Project::open(&root()).unwrap();
    let target = project.config.fuzz_target("sockopt").unwrap().clone();
    let shard = tempfile::tempdir().unwrap();
    let opts = CampaignOptions {
        seconds: 15,
        ..CampaignOptions::new(
            target.clone(),
            ksock_vm::catalog::DEFAULT_KERNEL,
            shard.path().to_path_buf(),
        )
    };
    let fuzzed = campaign::run(&cache, &project, &opts).unwrap();
    assert!(fuzzed.corpus_at_end > 0);
    let merged = tempfile::tempdir().unwrap();
    let opts = CampaignOptions {
        merge: vec![fuzzed.corpus.clone()],
        ..CampaignOptions::new(
            target,
            ksock_vm::catalog::DEFAULT_KERNEL,
            merged.path().to_path_buf(),
        )
    };
    let r = campaign::run(&cache, &project, &opts).unwrap();
    assert!(
        r.corpus_at_end > 0,
        "the merge kept none of the shard's {} inputs",
        fuzzed.corpus_at_end
    );
    let page = r.page.expect("the merge wrote its page");
    let report: Report = serde_json::from_slice(&std::fs::read(&page.json).unwrap()).unwrap();
    let (covered, all) = report.points();
    assert!(
        covered * 3 > all,
        "the merged page counts {covered} of {all} points"
    );
    assert!(report.summary.unwrap().merge);
}

/// The probe's JSON out of the DOM Chromium dumped.
fn probe_result(dom: &str) -> serde_json::Value {
    let start = dom
        .find("<pre id=\"ksock-probe\">")
        .unwrap_or_else(|| panic!("no probe in the DOM:\n{dom}"));
    let rest = &dom[start + "<pre id=\"ksock-probe\">".len()..];
    let json = &rest[..rest.find("</pre>").unwrap()];
    let json = json
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">");
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"))
}
