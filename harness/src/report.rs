//! The terminal summary: one line per spec × kernel, then each failure in full.

use std::fmt::Write;

use crate::judge::{Failure, Stage, Status, Verdict};

const DMESG_SHOWN: usize = 40;

/// `PASS`, `FAIL`, `SKIP`, or `BUILD` for a spec failed by its module's build.
fn tag(v: &Verdict) -> &'static str {
    match (v.status, v.stage) {
        (Status::Fail, Stage::Build) => "BUILD",
        (Status::Pass, _) => "PASS",
        (Status::Fail, _) => "FAIL",
        (Status::Skip, _) => "SKIP",
    }
}

/// A build failure in one line: `module m (c) did not build: x.c:9: …`.
fn build_summary(f: &Failure) -> String {
    let module = f.expected.strip_suffix(" to build").unwrap_or(&f.expected);
    let first = f.actual.lines().next().unwrap_or("");
    format!("{module} did not build: {first}")
}

/// Continuation lines of a multi-line value, indented under its label.
fn indented(text: &str) -> String {
    text.lines().collect::<Vec<_>>().join("\n          ")
}

pub fn render(verdicts: &[Verdict]) -> String {
    let mut s = String::new();
    let w = verdicts.iter().map(|v| v.spec.len()).max().unwrap_or(4);
    for v in verdicts {
        let tag = tag(v);
        let why = match (&v.failure, v.status) {
            (Some(f), _) if v.stage == Stage::Build => build_summary(f),
            (Some(f), _) => format!("expected {}", f.expected),
            (None, Status::Skip) => v.note.clone(),
            _ => String::new(),
        };
        let _ = writeln!(
            s,
            "{tag:<5} {:<5} {:<4} {:<w$}  {:>6.2} s  {why}",
            v.kernel,
            v.flavour,
            v.spec,
            v.duration_ms as f64 / 1000.0
        );
    }
    let mut builds_shown: Vec<(&str, &str, &str)> = Vec::new();
    for v in verdicts.iter().filter(|v| v.status == Status::Fail) {
        let Some(f) = &v.failure else { continue };
        if v.stage == Stage::Build {
            // One section per module build, naming every spec it failed.
            let key = (v.kernel.as_str(), v.flavour.as_str(), f.expected.as_str());
            if !builds_shown.contains(&key) {
                builds_shown.push(key);
                render_build(&mut s, v, f, verdicts);
            }
            continue;
        }
        let _ = writeln!(
            s,
            "\n--- FAIL {} on {} ({}) ---",
            v.spec, v.kernel, v.release
        );
        let _ = writeln!(s, "expected: {}", f.expected);
        let _ = writeln!(s, "actual:   {}", indented(&f.actual));
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

/// The section of a module build that failed on `v`'s kernel: the specs it failed, the
/// compiler's errors with the API changes they show, the log's end.
fn render_build(s: &mut String, v: &Verdict, f: &Failure, verdicts: &[Verdict]) {
    let specs: Vec<&str> = verdicts
        .iter()
        .filter(|o| o.stage == Stage::Build && o.kernel == v.kernel && o.flavour == v.flavour)
        .filter(|o| {
            o.failure
                .as_ref()
                .is_some_and(|of| of.expected == f.expected)
        })
        .map(|o| o.spec.as_str())
        .collect();
    let _ = writeln!(
        s,
        "\n--- BUILD on {} ({}): {}; specs not run: {} ---",
        v.kernel,
        v.release,
        build_summary(f).split(':').next().unwrap_or(""),
        specs.join(", ")
    );
    let _ = writeln!(s, "expected: {}", f.expected);
    let _ = writeln!(s, "actual:   {}", indented(&f.actual));
    let _ = writeln!(s, "build log tail:");
    for l in f.console_tail.lines() {
        let _ = writeln!(s, "  | {l}");
    }
}

/// The machine-readable report (`--json FILE`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Report {
    /// Format version of this file.
    pub format: u32,
    pub verdicts: Vec<Verdict>,
}

impl Report {
    pub const FORMAT: u32 = 1;

    pub fn new(verdicts: Vec<Verdict>) -> Self {
        Self {
            format: Self::FORMAT,
            verdicts,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report serialises")
    }

    pub fn from_json(text: &str) -> serde_json::Result<Self> {
        serde_json::from_str(text)
    }
}

/// A JUnit `<failure>`'s message, type and text.
fn junit_failure(stage: Stage, f: &Failure) -> (String, &'static str, String) {
    match stage {
        Stage::Build => (
            build_summary(f),
            "build",
            format!("{}\nbuild log tail:\n{}", f.actual, f.console_tail),
        ),
        Stage::Run => (
            format!("expected {}", f.expected),
            "expectation",
            format!(
                "actual: {}\nkernel log:\n{}\nconsole tail:\n{}",
                f.actual,
                f.dmesg.join("\n"),
                f.console_tail
            ),
        ),
    }
}

/// JUnit XML (`--junit FILE`): one `<testsuite>` per kernel, one `<testcase>` per spec,
/// `<failure>` with the expectation and evidence, `<skipped>` for specs a kernel excludes.
pub fn junit(verdicts: &[Verdict]) -> String {
    use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

    let secs = |ms: u64| format!("{:.3}", ms as f64 / 1000.0);
    let count = |vs: &[&Verdict], st: Status| vs.iter().filter(|v| v.status == st).count();
    let mut kernels: Vec<&str> = Vec::new();
    for v in verdicts {
        if !kernels.contains(&v.kernel.as_str()) {
            kernels.push(&v.kernel);
        }
    }
    let mut w = quick_xml::Writer::new_with_indent(Vec::new(), b' ', 2);
    let mut put = |e: Event<'_>| w.write_event(e).expect("writing to memory");
    put(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
    let all: Vec<&Verdict> = verdicts.iter().collect();
    let total_ms: u64 = verdicts.iter().map(|v| v.duration_ms).sum();
    let mut root = BytesStart::new("testsuites");
    root.push_attribute(("name", "ksock"));
    root.push_attribute(("tests", all.len().to_string().as_str()));
    root.push_attribute(("failures", count(&all, Status::Fail).to_string().as_str()));
    root.push_attribute(("errors", "0"));
    root.push_attribute(("skipped", count(&all, Status::Skip).to_string().as_str()));
    root.push_attribute(("time", secs(total_ms).as_str()));
    put(Event::Start(root));
    for k in kernels {
        let vs: Vec<&Verdict> = verdicts.iter().filter(|v| v.kernel == k).collect();
        let release = vs.first().map(|v| v.release.as_str()).unwrap_or("");
        let mut suite = BytesStart::new("testsuite");
        suite.push_attribute(("name", format!("kernel {k} ({release})").as_str()));
        suite.push_attribute(("tests", vs.len().to_string().as_str()));
        suite.push_attribute(("failures", count(&vs, Status::Fail).to_string().as_str()));
        suite.push_attribute(("errors", "0"));
        suite.push_attribute(("skipped", count(&vs, Status::Skip).to_string().as_str()));
        suite.push_attribute((
            "time",
            secs(vs.iter().map(|v| v.duration_ms).sum()).as_str(),
        ));
        put(Event::Start(suite));
        for v in vs {
            let mut case = BytesStart::new("testcase");
            case.push_attribute(("classname", format!("ksock.{k}.{}", v.flavour).as_str()));
            case.push_attribute(("name", v.spec.as_str()));
            case.push_attribute(("time", secs(v.duration_ms).as_str()));
            match (&v.status, &v.failure) {
                (Status::Fail, Some(f)) => {
                    put(Event::Start(case));
                    let mut fail = BytesStart::new("failure");
                    let (message, kind, body) = junit_failure(v.stage, f);
                    fail.push_attribute(("message", message.as_str()));
                    fail.push_attribute(("type", kind));
                    put(Event::Start(fail));
                    put(Event::Text(BytesText::new(&body)));
                    put(Event::End(BytesEnd::new("failure")));
                    put(Event::End(BytesEnd::new("testcase")));
                }
                (Status::Skip, _) => {
                    put(Event::Start(case));
                    let mut skip = BytesStart::new("skipped");
                    skip.push_attribute(("message", v.note.as_str()));
                    put(Event::Empty(skip));
                    put(Event::End(BytesEnd::new("testcase")));
                }
                _ => put(Event::Empty(case)),
            }
        }
        put(Event::End(BytesEnd::new("testsuite")));
    }
    put(Event::End(BytesEnd::new("testsuites")));
    String::from_utf8(w.into_inner()).expect("quick-xml writes UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::Failure;

    fn sample() -> Vec<Verdict> {
        let v = |spec: &str, kernel: &str, status| Verdict {
            spec: spec.into(),
            kernel: kernel.into(),
            release: format!("{kernel}.1+deb14-amd64"),
            flavour: "rust".into(),
            status,
            duration_ms: 1234,
            failure: None,
            note: String::new(),
            dmesg: vec!["[ 1.0] ksock_hello: loaded count=1".into()],
            stage: Stage::Run,
        };
        let mut failed = v("server-echo", "7.3", Status::Fail);
        failed.failure = Some(Failure {
            expected: "a kernel log line matching /x <&> \"y\"/".into(),
            actual: "no such line".into(),
            dmesg: vec!["[ 1.0] ksock_server: listening <port=8888>".into()],
            console_tail: "| Kernel panic & more".into(),
        });
        let mut skipped = v("new-only", "7.2", Status::Skip);
        skipped.note = "kernel 7.2 is outside `>= 7.3`".into();
        vec![
            v("hello-parameter", "7.2", Status::Pass),
            skipped,
            v("hello-parameter", "7.3", Status::Pass),
            failed,
        ]
    }

    /// Two specs of one module that did not build on 7.2, one that passed on 6.1.
    fn with_a_build_failure() -> Vec<Verdict> {
        let mut vs = sample();
        vs.truncate(1);
        vs[0].kernel = "6.1".into();
        let failure = Failure {
            expected: "module outside to build".into(),
            actual: "outside.c:9: implicit declaration of function 'kernel_sendpage'\n\
                     kernel API changes these errors show:\n\
                     kernel_sendpage(), changed in Linux 6.5: was removed (this kernel: 7.2.13)"
                .into(),
            dmesg: vec![],
            console_tail: "make: *** Error 2\n(full log: /c/logs/m.log)".into(),
        };
        for spec in ["outside-logs", "outside-load-unload"] {
            vs.push(Verdict {
                spec: spec.into(),
                kernel: "7.2".into(),
                release: "7.2.13+deb14-amd64".into(),
                flavour: "c".into(),
                status: Status::Fail,
                duration_ms: 0,
                failure: Some(failure.clone()),
                note: String::new(),
                dmesg: vec![],
                stage: Stage::Build,
            });
        }
        vs
    }

    #[test]
    fn a_build_failure_is_a_build_verdict_in_every_report() {
        let vs = with_a_build_failure();
        let text = render(&vs);
        assert!(text.contains("\nBUILD 7.2   c    outside-logs "), "{text}");
        assert!(
            text.contains("0.00 s  module outside did not build: outside.c:9: implicit declaration of function 'kernel_sendpage'\n"),
            "{text}"
        );
        assert!(text.contains("PASS  6.1"), "{text}");
        // One section for the module, naming both specs, with the explanation and the log.
        assert_eq!(text.matches("--- BUILD on 7.2").count(), 1, "{text}");
        for want in [
            "specs not run: outside-logs, outside-load-unload ---",
            "          kernel_sendpage(), changed in Linux 6.5: was removed",
            "  | (full log: /c/logs/m.log)",
            "1 passed, 2 failed, 0 skipped",
        ] {
            assert!(text.contains(want), "{want} in\n{text}");
        }
        let json = Report::new(vs.clone()).to_json();
        assert!(json.contains("\"stage\": \"build\""), "{json}");
        assert_eq!(Report::from_json(&json).unwrap().verdicts, vs);
        // A report from before stages reads as run verdicts.
        let old = json.replace(",\n      \"stage\": \"build\"", "");
        let old = old.replace(",\n      \"stage\": \"run\"", "");
        assert!(!old.contains("stage"), "{old}");
        let back = Report::from_json(&old).unwrap();
        assert!(back.verdicts.iter().all(|v| v.stage == Stage::Run));
        let xml = junit(&vs);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let failures: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("failure"))
            .collect();
        assert_eq!(failures.len(), 2);
        for f in failures {
            assert_eq!(f.attribute("type"), Some("build"));
            assert!(f
                .attribute("message")
                .unwrap()
                .starts_with("module outside did not build: outside.c:9"));
            assert!(f.text().unwrap().contains("changed in Linux 6.5"));
        }
    }

    #[test]
    fn json_report_round_trips() {
        let r = Report::new(sample());
        let back = Report::from_json(&r.to_json()).unwrap();
        assert_eq!(r, back);
    }

    /// Checks the structure the JUnit XSD (as Jenkins, GitLab and GitHub read it) requires:
    /// testsuites > testsuite[name,tests,failures,errors,skipped,time] >
    /// testcase[name,classname,time] with at most one of failure[message,type] / skipped,
    /// counts that add up, and numbers where numbers go.
    #[test]
    fn junit_is_valid_junit() {
        let xml = junit(&sample());
        let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        let num = |n: roxmltree::Node, a: &str| -> f64 {
            n.attribute(a)
                .unwrap_or_else(|| panic!("<{}> lacks {a}", n.tag_name().name()))
                .parse()
                .unwrap_or_else(|_| panic!("{a} is not a number"))
        };
        let suites: Vec<_> = root.children().filter(|n| n.is_element()).collect();
        assert_eq!(suites.len(), 2);
        let (mut tests, mut failures, mut skipped) = (0.0, 0.0, 0.0);
        for s in &suites {
            assert_eq!(s.tag_name().name(), "testsuite");
            assert!(s.attribute("name").is_some_and(|n| !n.is_empty()));
            num(*s, "time");
            num(*s, "errors");
            let cases: Vec<_> = s.children().filter(|n| n.is_element()).collect();
            assert_eq!(num(*s, "tests") as usize, cases.len());
            let mut f = 0;
            let mut k = 0;
            for c in &cases {
                assert_eq!(c.tag_name().name(), "testcase");
                assert!(c.attribute("name").is_some() && c.attribute("classname").is_some());
                num(*c, "time");
                let kids: Vec<_> = c.children().filter(|n| n.is_element()).collect();
                assert!(kids.len() <= 1);
                if let Some(kid) = kids.first() {
                    match kid.tag_name().name() {
                        "failure" => {
                            assert!(kid.attribute("message").is_some());
                            assert!(kid.attribute("type").is_some());
                            assert!(kid
                                .text()
                                .unwrap_or("")
                                .contains("ksock_server: listening <port=8888>"));
                            f += 1;
                        }
                        "skipped" => k += 1,
                        other => panic!("unexpected <{other}> in a testcase"),
                    }
                }
            }
            assert_eq!(num(*s, "failures") as usize, f);
            assert_eq!(num(*s, "skipped") as usize, k);
            tests += num(*s, "tests");
            failures += num(*s, "failures");
            skipped += num(*s, "skipped");
        }
        assert_eq!(num(root, "tests"), tests);
        assert_eq!(num(root, "failures"), failures);
        assert_eq!(num(root, "skipped"), skipped);
        assert_eq!((tests, failures, skipped), (4.0, 1.0, 1.0));
    }
}
