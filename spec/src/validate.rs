//! Checks that need the whole spec: known modules, possible steps, sane limits.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::model::{Fuzz, Load, Sockets, Sockopt, Spec, Step, WaitDmesg};

/// A spec mistake, with its place in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub file: PathBuf,
    /// 1-based; 0 when the error is about the whole file (it cannot be read).
    pub line: usize,
    pub col: usize,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            // About the file as a whole (it cannot be read): no position to show.
            write!(f, "{}: {}", self.file.display(), self.message)?;
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                self.line,
                self.col,
                self.message
            )?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecError {}

/// Longest wait or sleep a spec may ask for, in ms.
const MAX_WAIT_MS: u64 = 600_000;

/// Byte offset → (1-based line, 1-based column).
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = offset - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

/// Byte offsets of the lines that are not comments.
fn code_spans(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut off = 0;
    text.split_inclusive('\n').filter_map(move |l| {
        let here = off;
        off += l.len();
        (!l.trim_start().starts_with('#')).then_some((here, l))
    })
}

/// Position of the `nth` match of `re` outside comments, searching from byte `from`.
fn locate_from(text: &str, re: &str, nth: usize, from: usize) -> (usize, usize) {
    let re = regex::Regex::new(re).expect("locator regex");
    let offsets: Vec<usize> = code_spans(text)
        .flat_map(|(off, l)| re.find_iter(l).map(|m| off + m.start()).collect::<Vec<_>>())
        .filter(|o| *o >= from)
        .collect();
    offsets.get(nth).map_or((1, 1), |o| position(text, *o))
}

fn locate(text: &str, re: &str, nth: usize) -> (usize, usize) {
    locate_from(text, re, nth, 0)
}

/// Byte offset of the `i`-th item of the top-level `steps:` list (best effort).
fn step_offset(text: &str, i: usize) -> usize {
    let mut in_steps = false;
    let mut indent = None;
    let mut n = 0;
    for (off, l) in code_spans(text) {
        let trimmed = l.trim_start();
        let ind = l.len() - trimmed.len();
        if !in_steps {
            in_steps = l.starts_with("steps:");
            continue;
        }
        if ind == 0 && !trimmed.starts_with('-') && !trimmed.trim().is_empty() {
            break; // the next top-level key
        }
        if trimmed.starts_with("- ") && indent.is_none_or(|x| x == ind) {
            indent = Some(ind);
            if n == i {
                return off + ind;
            }
            n += 1;
        }
    }
    0
}

pub(crate) fn validate(
    spec: &Spec,
    text: &str,
    file: &Path,
    known_modules: &[String],
) -> Result<(), SpecError> {
    let mut c = Checker {
        text,
        file,
        known_modules,
        loaded: Vec::new(),
        peers: Vec::new(),
        joined: Vec::new(),
        seen_loads: Vec::new(),
        seen_unloads: Vec::new(),
    };
    c.has_steps(spec)?;
    c.found_with(spec)?;
    for (i, step) in spec.steps.iter().enumerate() {
        c.step(i, step)?;
    }
    c.peers_joined()?;
    c.log_lengths(spec)
}

/// The checks of one spec: its text (for positions), and what the steps so far have
/// loaded, started and joined.
struct Checker<'a> {
    text: &'a str,
    file: &'a Path,
    known_modules: &'a [String],
    loaded: Vec<&'a str>,
    peers: Vec<&'a str>,
    joined: Vec<&'a str>,
    seen_loads: Vec<&'a str>,
    seen_unloads: Vec<&'a str>,
}

impl<'a> Checker<'a> {
    fn err(&self, (line, col): (usize, usize), message: String, hint: Option<String>) -> SpecError {
        SpecError {
            file: self.file.to_path_buf(),
            line,
            col,
            message,
            hint,
        }
    }

    /// Where step `i` begins.
    fn step_at(&self, i: usize) -> (usize, usize) {
        position(self.text, step_offset(self.text, i))
    }

    fn has_steps(&self, spec: &Spec) -> Result<(), SpecError> {
        if spec.steps.is_empty() {
            return Err(self.err(
                locate(self.text, r"^steps\s*:", 0).max((1, 1)),
                "`steps` is empty".into(),
                Some("add at least one step, e.g. `- load: {module: ksock_hello}`".into()),
            ));
        }
        Ok(())
    }

    fn found_with(&self, spec: &Spec) -> Result<(), SpecError> {
        let Some(f) = &spec.found_with else {
            return Ok(());
        };
        if !spec
            .steps
            .iter()
            .any(|s| matches!(s, Step::Load(l) if l.module == f.module))
        {
            return Err(self.err(
                locate(self.text, r"^found_with\s*:", 0).max((1, 1)),
                format!("found_with.module: no step loads `{}`", f.module),
                Some("found_with's parameters go into the load steps of that module".into()),
            ));
        }
        Ok(())
    }

    fn step(&mut self, i: usize, step: &'a Step) -> Result<(), SpecError> {
        match step {
            Step::Load(l) => self.load(i, l),
            Step::Unload(m) => self.unload(i, m),
            Step::WaitDmesg(w) => self.wait_dmesg(i, w),
            Step::Client(c) => {
                check_addr(&c.addr, i, "client", self.text, self.file)?;
                match &c.background {
                    Some(name) => new_peer(name, &mut self.peers, i, self.text, self.file),
                    None => Ok(()),
                }
            }
            Step::Server(sv) => {
                check_addr(&sv.addr, i, "server", self.text, self.file)?;
                new_peer(&sv.name, &mut self.peers, i, self.text, self.file)
            }
            Step::Join(name) => self.join(i, name),
            Step::Sockopt(o) => self.sockopt(i, o),
            Step::Sockets(so) => self.sockets(i, so),
            Step::Fuzz(f) => self.fuzz(i, f),
            Step::Sleep(ms) => self.sleep(i, *ms),
        }
    }

    fn load(&mut self, i: usize, l: &'a Load) -> Result<(), SpecError> {
        let nth = self.seen_loads.iter().filter(|m| **m == l.module).count();
        self.seen_loads.push(&l.module);
        let at = locate(
            self.text,
            &format!(r#"module\s*:\s*["']?{}"#, regex::escape(&l.module)),
            nth,
        );
        if !self.known_modules.contains(&l.module) {
            return Err(self.err(
                at,
                format!("steps[{i}].load: unknown module `{}`", l.module),
                Some(format!(
                    "modules in kmods/: {}",
                    if self.known_modules.is_empty() {
                        "(none)".to_string()
                    } else {
                        self.known_modules.join(", ")
                    }
                )),
            ));
        }
        if self.loaded.contains(&l.module.as_str()) {
            return Err(self.err(
                at,
                format!(
                    "steps[{i}].load: `{}` is already loaded at this point",
                    l.module
                ),
                Some("unload it first (`- unload: NAME`)".into()),
            ));
        }
        self.param_names(i, l)?;
        if let Some(name) = &l.background {
            new_peer(name, &mut self.peers, i, self.text, self.file)?;
        }
        if l.expect_error.is_none() {
            self.loaded.push(&l.module);
        }
        Ok(())
    }

    fn param_names(&self, i: usize, l: &Load) -> Result<(), SpecError> {
        for name in l.params.keys() {
            let ok = !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit());
            if !ok {
                return Err(self.err(
                    locate(self.text, &regex::escape(name), 0),
                    format!("steps[{i}].load.params: `{name}` is not a parameter name"),
                    Some("module parameter names are C identifiers".into()),
                ));
            }
        }
        Ok(())
    }

    fn unload(&mut self, i: usize, m: &'a str) -> Result<(), SpecError> {
        let nth = self.seen_unloads.iter().filter(|x| **x == m).count();
        self.seen_unloads.push(m);
        if !self.loaded.contains(&m) {
            return Err(self.err(
                locate(
                    self.text,
                    &format!(r#"unload\s*:\s*["']?{}"#, regex::escape(m)),
                    nth,
                ),
                format!("steps[{i}].unload: `{m}` is not loaded at this point"),
                Some("a spec can only unload a module an earlier step loaded".into()),
            ));
        }
        self.loaded.retain(|x| *x != m);
        Ok(())
    }

    fn wait_dmesg(&self, i: usize, w: &WaitDmesg) -> Result<(), SpecError> {
        let at = locate_from(self.text, r"timeout_ms\s*:", 0, step_offset(self.text, i));
        if w.timeout_ms == 0 || w.timeout_ms > MAX_WAIT_MS {
            return Err(self.err(
                at,
                format!(
                    "steps[{i}].wait_dmesg.timeout_ms: {} is out of range",
                    w.timeout_ms
                ),
                Some(format!("use 1..={MAX_WAIT_MS}")),
            ));
        }
        Ok(())
    }

    fn join(&mut self, i: usize, name: &'a str) -> Result<(), SpecError> {
        let at = locate(
            self.text,
            &format!(r#"join\s*:\s*["']?{}"#, regex::escape(name)),
            0,
        );
        if !self.peers.contains(&name) || self.joined.contains(&name) {
            return Err(self.err(
                at,
                format!("steps[{i}].join: no running background peer named `{name}`"),
                Some("join names a `server`, or a `client` or `load` with `background`, started by an earlier step, once".into()),
            ));
        }
        self.joined.push(name);
        Ok(())
    }

    fn sockopt(&self, i: usize, o: &Sockopt) -> Result<(), SpecError> {
        if o.set.is_none() && o.set_hex.is_none() && o.get_len.is_none() {
            return Err(self.err(
                self.step_at(i),
                format!("steps[{i}].sockopt: neither `set` nor `get_len` is given"),
                Some("`set: TEXT` (or `set_hex: HEX`) calls setsockopt, `get_len: N` calls getsockopt".into()),
            ));
        }
        for (field, both) in [
            ("set", o.set.is_some() && o.set_hex.is_some()),
            (
                "expect_value",
                o.expect_value.is_some() && o.expect_hex.is_some(),
            ),
            (
                "bad_pointer",
                o.bad_pointer && o.buffer != crate::model::Buffer::Guarded,
            ),
            (
                "expect_error",
                o.expect_error.is_some() && !o.expect_error_any.is_empty(),
            ),
            (
                "expect_not",
                o.expect_not.is_some()
                    && (o.expect_error.is_some()
                        || !o.expect_error_any.is_empty()
                        || o.expect_value.is_some()
                        || o.expect_hex.is_some()),
            ),
            ("repeat", o.repeat && o.optlen.is_none()),
        ] {
            if both {
                return Err(self.err(
                    self.step_at(i),
                    format!("steps[{i}].sockopt.{field}: given twice (with its hex, list or buffer form), with another expectation, or `repeat` without `optlen`"),
                    Some("give one of `set`/`set_hex`, `expect_value`/`expect_hex`, `expect_error`/`expect_error_any`/`expect_not`, `bad_pointer`/`buffer`; `repeat` needs `optlen`".into()),
                ));
            }
        }
        for (field, v) in [("set_hex", &o.set_hex), ("expect_hex", &o.expect_hex)] {
            if let Some(h) = v {
                if crate::model::parse_hex(h).is_none() {
                    return Err(self.err(
                        self.step_at(i),
                        format!("steps[{i}].sockopt.{field}: `{h}` is not hex bytes"),
                        Some("an even number of hex digits, e.g. \"00ff41\"".into()),
                    ));
                }
            }
        }
        Ok(())
    }

    fn sockets(&self, i: usize, so: &Sockets) -> Result<(), SpecError> {
        if so.listening.is_none() && so.established.is_none() && !so.none {
            return Err(self.err(
                self.step_at(i),
                format!("steps[{i}].sockets: nothing to check"),
                Some("give `listening: true|false`, `established: N` or `none: true`".into()),
            ));
        }
        Ok(())
    }

    fn fuzz(&self, i: usize, f: &Fuzz) -> Result<(), SpecError> {
        let at = self.step_at(i);
        let m = f.target.module();
        if !self.known_modules.iter().any(|k| k == m) {
            return Err(self.err(
                at,
                format!("steps[{i}].fuzz: target needs module `{m}`, not in kmods/"),
                None,
            ));
        }
        if self.loaded.contains(&m) {
            return Err(self.err(
                at,
                format!("steps[{i}].fuzz: `{m}` is loaded at this point"),
                Some(
                    "the campaign loads the module itself for each sequence; unload it first"
                        .into(),
                ),
            ));
        }
        if !(1..=100_000).contains(&f.runs) || !(1..=256).contains(&f.max_ops) {
            return Err(self.err(
                at,
                format!(
                    "steps[{i}].fuzz: runs={} max_ops={} out of range",
                    f.runs, f.max_ops
                ),
                Some("use runs 1..=100000 and max_ops 1..=256".into()),
            ));
        }
        Ok(())
    }

    fn sleep(&self, i: usize, ms: u64) -> Result<(), SpecError> {
        if ms > MAX_WAIT_MS {
            return Err(self.err(
                self.step_at(i),
                format!("steps[{i}].sleep: {ms} ms is out of range"),
                Some(format!("use 0..={MAX_WAIT_MS}")),
            ));
        }
        Ok(())
    }

    fn peers_joined(&self) -> Result<(), SpecError> {
        if let Some(p) = self.peers.iter().find(|p| !self.joined.contains(p)) {
            return Err(self.err(
                locate(self.text, &regex::escape(p), 0),
                format!("background peer `{p}` is never joined"),
                Some(format!(
                    "add `- join: {p}` after the steps it should overlap"
                )),
            ));
        }
        Ok(())
    }

    fn log_lengths(&self, spec: &Spec) -> Result<(), SpecError> {
        for (i, p) in spec.expect.log_lengths.iter().enumerate() {
            let names: Vec<&str> = p.0.capture_names().flatten().collect();
            if !(names.contains(&"len") && names.contains(&"data")) {
                return Err(self.err(
                    locate(self.text, r"log_lengths\s*:", 0).max((1, 1)),
                    format!("expect.log_lengths[{i}]: the pattern has no `len` and `data` groups"),
                    Some(r"name them: `len=(?P<len>\d+) data=(?P<data>.*)$`".into()),
                ));
            }
        }
        Ok(())
    }
}

fn check_addr(addr: &str, i: usize, what: &str, text: &str, file: &Path) -> Result<(), SpecError> {
    if addr.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let (line, col) = locate(text, &regex::escape(addr), 0);
    Err(SpecError {
        file: file.to_path_buf(),
        line,
        col,
        message: format!("steps[{i}].{what}.addr: `{addr}` is not an IP address"),
        hint: Some("use a literal address such as 127.0.0.1 (the guest has only loopback)".into()),
    })
}

fn new_peer<'a>(
    name: &'a str,
    peers: &mut Vec<&'a str>,
    i: usize,
    text: &str,
    file: &Path,
) -> Result<(), SpecError> {
    if peers.contains(&name) {
        let at = locate(text, &regex::escape(name), 1);
        return Err(SpecError {
            file: file.to_path_buf(),
            line: at.0,
            col: at.1,
            message: format!("steps[{i}]: a peer named `{name}` already exists"),
            hint: Some("give each background peer its own name".into()),
        });
    }
    peers.push(name);
    Ok(())
}
