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
            "{tag}  {:<5} {:<4} {:<w$}  {:>6.2} s  {why}",
            v.kernel,
            v.flavour,
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
                    fail.push_attribute(("message", format!("expected {}", f.expected).as_str()));
                    fail.push_attribute(("type", "expectation"));
                    put(Event::Start(fail));
                    let body = format!(
                        "actual: {}\nkernel log:\n{}\nconsole tail:\n{}",
                        f.actual,
                        f.dmesg.join("\n"),
                        f.console_tail
                    );
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
