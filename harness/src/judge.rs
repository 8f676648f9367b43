//! Judging a spec from what the guest reported. Pure: no I/O, so every rule is unit-tested.

use ksock_proto::SpecResult;
use ksock_spec::{KernelVersion, Spec};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

/// The first expectation that did not hold, with the evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// What the spec expected (`dmesg /pattern/ after line 3`, `step load …`).
    pub expected: String,
    /// What happened instead.
    pub actual: String,
    /// The kernel log lines of the spec.
    pub dmesg: Vec<String>,
    /// The end of the serial console (filled by the runner).
    pub console_tail: String,
}

/// Where a verdict was reached: running the spec in a guest, or building its modules (a
/// module that does not build for a kernel fails its specs there, and nothing boots).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    #[default]
    Run,
    Build,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub spec: String,
    pub kernel: String,
    pub release: String,
    /// Module flavour the spec ran with (`rust` or `c`).
    pub flavour: String,
    pub status: Status,
    pub duration_ms: u64,
    pub failure: Option<Failure>,
    /// Why it was skipped.
    pub note: String,
    /// Kernel log lines logged during the spec (empty when it did not run).
    #[serde(default)]
    pub dmesg: Vec<String>,
    /// `build` when a module the spec loads did not build for this kernel: the failure's
    /// `actual` holds the compiler's errors and the kernel API changes they show.
    #[serde(default)]
    pub stage: Stage,
}

/// The ordered dmesg patterns: each must match a line after the previous match.
/// Returns the first unmatched pattern and the index it was searched from.
fn first_unmatched<'a>(
    patterns: &'a [ksock_spec::Pattern],
    lines: &[String],
) -> Option<(&'a ksock_spec::Pattern, usize)> {
    let mut from = 0;
    for p in patterns {
        match lines[from..].iter().position(|l| p.is_match(l)) {
            Some(i) => from += i + 1,
            None => return Some((p, from)),
        }
    }
    None
}

/// Judges one spec's result; `console_tail` is attached to failures.
pub fn judge(spec: &Spec, version: &KernelVersion, result: &SpecResult) -> Result<(), Failure> {
    check_run(spec, result)
        .and_then(|()| check_log(spec, version, &result.dmesg))
        .map_err(|(expected, actual)| Failure {
            expected,
            actual,
            dmesg: result.dmesg.clone(),
            console_tail: String::new(),
        })
}

/// A failed check: what was expected, what was seen.
type Miss = (String, String);

/// Every step ran and succeeded, the kernel is clean after the spec, and it did not splat.
fn check_run(spec: &Spec, result: &SpecResult) -> Result<(), Miss> {
    if let Some(a) = result.actions.iter().find(|a| !a.ok) {
        return Err((format!("step `{}` to succeed", a.action), a.detail.clone()));
    }
    let (ran, want) = (result.actions.len(), spec.steps.len());
    if ran < want {
        return Err((
            format!("all {want} steps to run"),
            format!("only {ran} ran"),
        ));
    }
    if !result.stuck_modules.is_empty() {
        return Err((
            "a clean kernel after the spec (every module it loaded unloaded)".into(),
            format!(
                "still loaded after the spec, and unloading failed: {}",
                result.stuck_modules.join(", ")
            ),
        ));
    }
    let splats = ksock_vm::boot::splats(result.dmesg.iter().map(String::as_str));
    match splats.first() {
        Some(s) => Err((
            "no kernel splat (BUG, WARNING, Oops, KASAN, refcount, lockup…)".into(),
            s.clone(),
        )),
        None => Ok(()),
    }
}

/// The spec's `expect` on the kernel log: lines in order, counts, data lengths, absences.
fn check_log(spec: &Spec, version: &KernelVersion, dmesg: &[String]) -> Result<(), Miss> {
    if let Some((p, from)) = first_unmatched(spec.dmesg_for(version), dmesg) {
        let after = if from == 0 {
            String::new()
        } else {
            format!(" after line {from} (`{}`)", dmesg[from - 1])
        };
        return Err((
            format!("a kernel log line matching /{}/{after}", p.as_str()),
            format!(
                "no such line among the {} lines logged during the spec",
                dmesg.len()
            ),
        ));
    }
    for c in &spec.expect.counts {
        let n = dmesg.iter().filter(|l| c.pattern.is_match(l)).count();
        if n != c.times {
            return Err((
                format!(
                    "{} kernel log line(s) matching /{}/",
                    c.times,
                    c.pattern.as_str()
                ),
                format!("{n} such line(s)"),
            ));
        }
    }
    for p in &spec.expect.log_lengths {
        if let Some(actual) = overlong(&p.0, dmesg) {
            return Err((
                format!(
                    "log lines matching /{}/ to show at most `len` bytes of data",
                    p.as_str()
                ),
                actual,
            ));
        }
    }
    for p in &spec.expect.absent {
        if let Some(l) = dmesg.iter().find(|l| p.is_match(l)) {
            return Err((
                format!("no kernel log line matching /{}/", p.as_str()),
                l.clone(),
            ));
        }
    }
    Ok(())
}

/// The first line matching `re` whose `data` group shows more bytes than its `len` says.
fn overlong(re: &regex::Regex, dmesg: &[String]) -> Option<String> {
    dmesg.iter().find_map(|l| {
        let c = re.captures(l)?;
        let len: usize = c.name("len")?.as_str().parse().ok()?;
        let shown = ksock_fuzz::lang::msg::logged_bytes(c.name("data")?.as_str());
        (shown > len).then(|| format!("{shown} data bytes for len={len}: {l}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ksock_proto::ActionResult;
    use std::path::Path;

    fn spec(yaml: &str) -> Spec {
        ksock_spec::parse_str(yaml, Path::new("t.yaml"), &["ksock_hello".to_string()]).unwrap()
    }

    fn result(lines: &[&str]) -> SpecResult {
        SpecResult {
            name: "t".into(),
            actions: vec![ActionResult {
                action: "load ksock_hello".into(),
                ok: true,
                detail: String::new(),
            }],
            dmesg: lines.iter().map(|s| s.to_string()).collect(),
            leftover_modules: vec![],
            stuck_modules: vec![],
            duration_ms: 1,
        }
    }

    const V72: KernelVersion = KernelVersion { major: 7, minor: 2 };
    const YAML: &str = "steps:\n  - load: {module: ksock_hello}\nexpect:\n  dmesg: ['a=1', 'b=2']\n  absent: ['oops-ish']\n";

    #[test]
    fn ordered_patterns_pass_and_fail() {
        let s = spec(YAML);
        assert!(judge(&s, &V72, &result(&["x", "a=1", "y", "b=2"])).is_ok());
        // b before a: order matters.
        let f = judge(&s, &V72, &result(&["b=2", "a=1"])).unwrap_err();
        assert!(f.expected.contains("/b=2/ after line 2"), "{f:?}");
        assert_eq!(f.dmesg, vec!["b=2", "a=1"]);
    }

    #[test]
    fn absent_and_splats_fail() {
        let s = spec(YAML);
        let f = judge(&s, &V72, &result(&["a=1", "b=2", "oops-ish"])).unwrap_err();
        assert_eq!(f.actual, "oops-ish");
        let f = judge(
            &s,
            &V72,
            &result(&["a=1", "b=2", "[ 1.0] BUG: unable to handle page fault"]),
        )
        .unwrap_err();
        assert!(f.expected.contains("splat"));
    }

    #[test]
    fn a_log_line_showing_more_data_than_its_length_fails() {
        let s = spec(
            "steps:\n  - load: {module: ksock_hello}\nexpect:\n  log_lengths: ['recv len=(?P<len>\\d+) data=(?P<data>.*)$']\n",
        );
        assert!(judge(
            &s,
            &V72,
            &result(&["recv len=3 data=abc", r"recv len=1 data=\xff"])
        )
        .is_ok());
        let f = judge(&s, &V72, &result(&["recv len=2 data=abcd"])).unwrap_err();
        assert_eq!(f.actual, "4 data bytes for len=2: recv len=2 data=abcd");
    }

    #[test]
    fn failed_step_is_reported_first() {
        let s = spec(YAML);
        let mut r = result(&["a=1", "b=2"]);
        r.actions[0].ok = false;
        r.actions[0].detail = "load ksock_hello.ko: EINVAL (22)".into();
        let f = judge(&s, &V72, &r).unwrap_err();
        assert!(f.expected.contains("load ksock_hello"));
        assert!(f.actual.contains("EINVAL"));
    }

    #[test]
    fn a_module_that_cannot_be_unloaded_fails_the_spec() {
        let s = spec(YAML);
        let mut r = result(&["a=1", "b=2"]);
        r.leftover_modules = vec!["ksock_hello".into()];
        assert!(judge(&s, &V72, &r).is_ok(), "cleaned up: fine");
        r.stuck_modules = vec!["ksock_hello".into()];
        let f = judge(&s, &V72, &r).unwrap_err();
        assert!(f.actual.contains("ksock_hello"));
    }

    #[test]
    fn counts_must_match_exactly() {
        let s = spec(
            "steps:\n  - load: {module: ksock_hello}\nexpect:\n  counts: [{pattern: 'recv', times: 2}]\n",
        );
        assert!(judge(&s, &V72, &result(&["recv 1", "x", "recv 2"])).is_ok());
        let f = judge(&s, &V72, &result(&["recv 1", "recv 2", "recv 3"])).unwrap_err();
        assert_eq!(f.actual, "3 such line(s)");
        assert!(judge(&s, &V72, &result(&["recv 1"])).is_err());
    }

    #[test]
    fn overrides_apply_by_kernel_version() {
        let s = spec(
            "steps:\n  - load: {module: ksock_hello}\nexpect:\n  dmesg: ['old']\n  overrides:\n    - kernels: '>= 7.3'\n      dmesg: ['new']\n",
        );
        let r = result(&["new"]);
        assert!(judge(&s, &KernelVersion { major: 7, minor: 3 }, &r).is_ok());
        assert!(judge(&s, &V72, &r).is_err());
    }
}
