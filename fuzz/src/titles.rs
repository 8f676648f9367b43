//! Crash titles: a finding's name, and its directory's ([`slug`]). One title per bug, not
//! per input (syzkaller's manner): what went wrong, in which call, in which module; a kernel
//! report is titled by its first line without addresses or offsets. Every title ksock gives
//! is made here: by the guest's oracles ([`title`]), from a splat in the kernel log
//! ([`splat_title`]) and from a console that ends in a panic ([`crash_title`]), the last
//! checked against the console fixtures in `testdata/titles/`.

use std::fmt;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use crate::lang::sockopt::Op;

/// The oracle that fired: in a finding's report and `finding.json` as its words
/// (`guard page`, `kernel panic`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Oracle {
    /// A call faulted on a valid buffer ending at a guard page.
    #[serde(rename = "guard page")]
    GuardPage,
    /// Bytes after a buffer were overwritten.
    #[serde(rename = "canary")]
    Canary,
    /// A get returned a larger optlen than it was given.
    #[serde(rename = "returned length")]
    ReturnedLength,
    /// The target's named model disagrees.
    #[serde(rename = "model")]
    Model,
    /// The module does not unload cleanly.
    #[serde(rename = "unload")]
    Unload,
    /// A kernel splat in the log.
    #[serde(rename = "kernel splat")]
    KernelSplat,
    /// A server logs bytes it did not receive (the `echo_log` model).
    #[serde(rename = "log")]
    Log,
    /// A server echoes bytes it was not sent (the `echo_log` model).
    #[serde(rename = "echo")]
    Echo,
    /// A client module sends bytes it was not given.
    #[serde(rename = "delivery")]
    Delivery,
    /// A client module mishandles its parameters at load.
    #[serde(rename = "load")]
    Load,
    /// The kernel panicked (seen by the host).
    #[serde(rename = "kernel panic")]
    KernelPanic,
    /// An input never returned (seen by the host).
    #[serde(rename = "deadline")]
    Deadline,
}

impl fmt::Display for Oracle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words = serde_json::to_value(self).expect("a unit variant");
        f.write_str(words.as_str().expect("renamed to words"))
    }
}

/// An oracle that fired, and what it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub oracle: Oracle,
    pub detail: String,
}

impl Violation {
    pub fn new(oracle: Oracle, detail: String) -> Self {
        Self { oracle, detail }
    }
}

/// A guest finding's title: `v` after `op` (the sockopt call it followed, if it was one)
/// in `module`.
pub fn title(op: Option<&Op>, v: &Violation, module: &str) -> String {
    let call = match op {
        Some(Op::Set { .. }) => "set",
        Some(Op::Get { .. }) => "get",
        Some(Op::Reload(_)) => "reload",
        None => "a sequence",
    };
    match v.oracle {
        Oracle::GuardPage if call == "set" => format!("{call} reads past optlen in {module}"),
        Oracle::GuardPage | Oracle::Canary => format!("{call} writes past optlen in {module}"),
        Oracle::ReturnedLength => format!("{call} returns a larger optlen in {module}"),
        Oracle::Model => format!("{call} breaks {module}'s contract"),
        Oracle::Unload => format!("{module} does not unload cleanly"),
        Oracle::KernelSplat => splat_title(&v.detail),
        Oracle::Log => format!("{module} logs bytes it did not receive"),
        Oracle::Echo => format!("{module} echoes bytes it was not sent"),
        Oracle::Delivery => format!("{module} sends bytes it was not given"),
        Oracle::Load => format!("{module} mishandles its parameters"),
        Oracle::KernelPanic => "Kernel panic".into(),
        Oracle::Deadline => format!("an op does not return in {module}"),
    }
}

/// The title of a crash from the guest's console: the kernel's first report line, without
/// addresses, and the function it happened in (`BUG: kernel NULL pointer dereference in
/// srv_get`). Only kernel lines count (`[ time]` first; libFuzzer's are not the
/// kernel's); `is_splat` says which of them is a report (the harness's splat patterns).
pub fn crash_title(console: &[String], is_splat: impl Fn(&str) -> bool) -> String {
    let kernel: Vec<&str> = console
        .iter()
        .map(String::as_str)
        .filter(|l| l.trim_start().starts_with('['))
        .collect();
    let rip = kernel.iter().find_map(|l| {
        let f = l.split_once("RIP: 0010:")?.1;
        Some(f.split(['+', ' ']).next()?.to_string())
    });
    if is_fortify(&kernel, rip.as_deref()) {
        return match module_frame(&kernel) {
            Some(f) => format!("{FORTIFY_TITLE} in {f}"),
            None => FORTIFY_TITLE.to_string(),
        };
    }
    let first = kernel.iter().find(|l| is_splat(l)).copied();
    let title = first.map_or_else(|| "Kernel panic".into(), splat_title);
    match module_frame(&kernel).or(rip) {
        Some(f) if !title.contains(" in ") && !f.is_empty() => format!("{title} in {f}"),
        _ => title,
    }
}

/// A FORTIFY_SOURCE crash's title, before the module's function that made the call.
/// Kernels word the report differently and may not show it at all: `detected buffer
/// overflow in memcpy` before 6.9, `memcpy: detected buffer overflow: 200 byte write of
/// buffer size 64` after (a WARN, which a quiet console leaves out: only the BUG in
/// `__fortify_panic` is sure to be there). One bug, one title on every kernel: the report's
/// function is in the finding's console excerpt.
const FORTIFY_TITLE: &str = "FORTIFY_SOURCE: buffer overflow";

/// Whether the console holds a FORTIFY_SOURCE report, by its words or by the BUG's place.
fn is_fortify(kernel: &[&str], rip: Option<&str>) -> bool {
    let reported = kernel
        .iter()
        .any(|l| l.contains("detected buffer overflow"));
    let in_fortify =
        rip.is_some_and(|f| ["fortify_panic", "__fortify_panic", "__fortify_report"].contains(&f));
    reported || in_fortify
}

/// The first stack frame in a module (`srv_recv+0x3c/0x90 [tcp_srv]`): where the module
/// under test called what crashed, when the crash itself is in a kernel helper.
fn module_frame(kernel: &[&str]) -> Option<String> {
    static FRAME: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"\]\s+(?:RIP: 0010:)?([A-Za-z0-9_.]+)\+0x[0-9a-f]+/0x[0-9a-f]+ \[\w+\]")
            .expect("valid regex")
    });
    kernel
        .iter()
        .find_map(|l| Some(FRAME.captures(l)?[1].to_string()))
}

/// A title as a directory name: `set reads past optlen in m` → `set-reads-past-optlen-in-m`.
pub fn slug(title: &str) -> String {
    let s: String = title
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    s.split('-')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// `BUG: KFENCE: out-of-bounds read in foo+0x1c/0x80` → `BUG: KFENCE: out-of-bounds read
/// in foo`: the log line from its report word on, without timestamps or offsets.
pub fn splat_title(line: &str) -> String {
    let words = [
        "BUG:",
        "WARNING:",
        "UBSAN:",
        "KFENCE:",
        "INFO:",
        "general protection",
        "Oops",
    ];
    let start = words.iter().filter_map(|w| line.find(w)).min().unwrap_or(0);
    static NOISE: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"\+0x[0-9a-f]+/0x[0-9a-f]+|\s+\[[^\]]*\]|0x[0-9a-f]{6,}")
            .expect("valid regex")
    });
    let mut title = line[start..].to_string();
    // What differs between two reports of one bug: the address, the oops counter.
    for cut in [", address:", ", probably for ", ": 0000 [#", " [#"] {
        if let Some(i) = title.find(cut) {
            title.truncate(i);
        }
    }
    NOISE.replace_all(&title, "").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_directory_names() {
        assert_eq!(
            slug("BUG: KFENCE: out-of-bounds read in f"),
            "bug-kfence-out-of-bounds-read-in-f"
        );
    }
}

#[cfg(test)]
mod fixtures {
    use super::*;

    /// Every file in `testdata/titles/` is `TITLE: <title>`, a blank line, then a guest's
    /// console as the host saw it (syzkaller's `pkg/report/testdata` manner): the title
    /// [`crash_title`] must give it, with the splat patterns specs and campaigns use.
    #[test]
    fn console_fixtures_get_their_titles() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/titles");
        let set = regex::RegexSet::new(ksock_vm::boot::SPLAT_PATTERNS).unwrap();
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let (head, console) = text.split_once("\n\n").expect("TITLE line, blank line");
            let want = head.strip_prefix("TITLE: ").expect("a TITLE: line");
            let console: Vec<String> = console.lines().map(String::from).collect();
            let got = crash_title(&console, |l| set.is_match(l));
            assert_eq!(got, want, "{}", path.display());
            n += 1;
        }
        assert!(n >= 5, "{n} fixtures in {}", dir.display());
    }

    #[test]
    fn oracles_read_as_their_words_and_titles_name_the_call() {
        assert_eq!(Oracle::GuardPage.to_string(), "guard page");
        assert_eq!(
            serde_json::from_str::<Oracle>("\"kernel panic\"").unwrap(),
            Oracle::KernelPanic
        );
        let v = Violation::new(Oracle::Unload, "busy".into());
        assert_eq!(title(None, &v, "m"), "m does not unload cleanly");
    }
}
