//! The guest side of module coverage: the trace that `kmods/c/cov` (ksock_cov) fills, and
//! the module's section addresses that turn a return address into a stable point.
//!
//! The trace is kcov's shape: word 0 counts entries, words 1.. hold the return addresses
//! of `__sanitizer_cov_trace_pc` calls made by the instrumented module, from any task.
//! A point is `(section, offset)`, the same on every load of the module, and the same as
//! the host computes from the `.ko`'s relocations (`ksock_harness::coverage`).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use ksock_fuzz::reach::Reached;

/// The runtime's device.
pub const DEVICE: &str = "/dev/ksock_cov";

/// The mapped trace.
pub struct Trace {
    words: *mut u64,
    len: usize,
}

impl Trace {
    /// Maps `words` 8-byte words of [`DEVICE`] (ksock_cov's `words` parameter).
    pub fn open(words: usize) -> Result<Self> {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(DEVICE)
            .with_context(|| format!("opening {DEVICE} (is ksock_cov loaded?)"))?;
        let bytes = words * 8;
        // SAFETY: a shared mapping of the device's vmalloc_user area, checked below; the
        // fd may be closed once mapped.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                std::os::fd::AsRawFd::as_raw_fd(&f),
                0,
            )
        };
        anyhow::ensure!(
            p != libc::MAP_FAILED,
            "mmap {DEVICE}: {}",
            std::io::Error::last_os_error()
        );
        Ok(Self {
            words: p.cast(),
            len: words,
        })
    }

    /// Forgets what was recorded so far.
    pub fn reset(&mut self) {
        // SAFETY: word 0 lies in the mapping; the kernel updates it atomically, so a
        // volatile store is what a concurrent kernel writer can observe.
        unsafe { std::ptr::write_volatile(self.words, 0) };
    }

    /// Calls `f` with each address recorded since the last reset (those that fit).
    pub fn for_each(&self, mut f: impl FnMut(u64)) {
        // SAFETY: reads within the mapping; entries are written by the kernel as whole
        // words (WRITE_ONCE), so a volatile read sees a whole address or 0.
        unsafe {
            let n = (std::ptr::read_volatile(self.words) as usize).min(self.len - 1);
            for i in 1..=n {
                f(std::ptr::read_volatile(self.words.add(i)));
            }
        }
    }
}

impl Drop for Trace {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what `open` mapped.
        unsafe { libc::munmap(self.words.cast(), self.len * 8) };
    }
}

/// Where a loaded module's sections lie, to turn addresses into points. A point's section
/// index is its name's place in the sorted names, so it means the same after a reload.
#[derive(Debug, Clone, Default)]
pub struct Sections {
    /// Section names, sorted.
    names: Vec<String>,
    /// (start address, index in `names`), sorted by address.
    starts: Vec<(u64, usize)>,
}

impl Sections {
    /// Reads `/sys/module/<module>/sections/` (root only; addresses are real for root).
    pub fn of_module(module: &str) -> Result<Self> {
        let dir = Path::new("/sys/module").join(module).join("sections");
        let mut starts = Vec::new();
        for e in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let e = e?;
            let text = std::fs::read_to_string(e.path())?;
            let addr = u64::from_str_radix(text.trim().trim_start_matches("0x"), 16)
                .with_context(|| format!("{}: not an address", e.path().display()))?;
            starts.push((addr, e.file_name().to_string_lossy().into_owned()));
        }
        Ok(Self::from_starts(starts))
    }

    /// The sections of several modules; with more than one, each section's name carries
    /// its module (`srv/.text`), as the host names their points.
    pub fn of_modules(modules: &[String]) -> Result<Self> {
        Self::of_modules_as(modules, modules.len() > 1)
    }

    /// The sections of `modules`, named as [`Self::of_modules`] names those of a session
    /// with several modules (`prefixed`) or with one.
    pub fn of_modules_as(modules: &[String], prefixed: bool) -> Result<Self> {
        if let ([one], false) = (modules, prefixed) {
            return Self::of_module(one);
        }
        let mut starts = Vec::new();
        for m in modules {
            let s = Self::of_module(m)?;
            starts.extend(
                s.starts
                    .iter()
                    .map(|&(a, i)| (a, format!("{m}/{}", s.names[i]))),
            );
        }
        Ok(Self::from_starts(starts))
    }

    pub fn from_starts(mut starts: Vec<(u64, String)>) -> Self {
        // Zero-sized and unloaded sections report 0; they hold no code.
        starts.retain(|(a, _)| *a != 0);
        let mut names: Vec<String> = starts.iter().map(|(_, n)| n.clone()).collect();
        names.sort();
        let mut starts: Vec<(u64, usize)> = starts
            .into_iter()
            .map(|(a, n)| (a, names.binary_search(&n).expect("a listed name")))
            .collect();
        starts.sort();
        Self { names, starts }
    }

    /// The section holding `addr` and the offset in it; `None` below the first section.
    /// (Addresses past the module's end map to its last section: the runtime only records
    /// calls made by the module, and the fuzzer reads the trace before each unload, so
    /// that does not happen.)
    pub fn locate(&self, addr: u64) -> Option<(usize, u64)> {
        let i = self.starts.partition_point(|(a, _)| *a <= addr);
        i.checked_sub(1)
            .map(|i| (self.starts[i].1, addr - self.starts[i].0))
    }

    pub fn name(&self, index: usize) -> &str {
        &self.names[index]
    }

    /// The index of the section named `name`.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.names.binary_search_by(|n| n.as_str().cmp(name)).ok()
    }

    /// Forgets where the `.init*` sections of every module but `keep` lie (names keep their
    /// indices). The kernel frees a module's init code when its init returns, and a module
    /// loaded later may be given that memory: seen with the mixed target's two modules,
    /// whose code landed where the former's init had been and was counted as that init.
    pub fn expire_init(&mut self, keep: Option<&str>) {
        let names = &self.names;
        self.starts.retain(|&(_, i)| {
            let (owner, section) = match names[i].split_once('/') {
                Some((m, s)) => (Some(m), s),
                None => (None, names[i].as_str()),
            };
            !section.starts_with(".init") || keep.is_some_and(|k| owner.is_none_or(|o| o == k))
        });
    }
}

/// Every point seen in one load of the module, as `(section index, offset)`, with how often
/// it ran and the input that reached it first: no allocation on the per-address path;
/// names come in when they are written out. Code a failed load ran is kept apart, by its
/// offset in a page (see the session's `Pc::Dead`).
#[derive(Debug, Default)]
pub struct Seen {
    points: BTreeMap<(usize, u64), Reach>,
    dead: BTreeMap<u64, Reach>,
    /// Points first seen by the input being folded, waiting for its id ([`Seen::claim`]).
    unclaimed: bool,
}

/// What is known of one point.
#[derive(Debug, Clone, Default)]
struct Reach {
    hits: u64,
    /// The first input that ran it (`ksock_fuzz::reach::input_hash`), and its number.
    first: Option<(u64, u64)>,
    claimed: bool,
}

impl Reach {
    /// One more run; true when it is the first.
    fn hit(&mut self) -> bool {
        self.hits += 1;
        self.hits == 1
    }
}

impl Seen {
    /// Records a run of a located point; true when it is new.
    pub fn insert(&mut self, point: (usize, u64)) -> bool {
        let new = self.points.entry(point).or_default().hit();
        self.unclaimed |= new;
        new
    }

    /// Records a run of code a failed load ran, by its offset in a page; true when new.
    pub fn insert_dead(&mut self, page_off: u64) -> bool {
        let new = self.dead.entry(page_off).or_default().hit();
        self.unclaimed |= new;
        new
    }

    /// The points first seen since the last claim were reached by the input whose hash is
    /// `input`, the `exec`th; points seen before any input (the module's load) have none.
    /// Returns whether there were such points.
    pub fn claim(&mut self, input: Option<u64>, exec: u64) -> bool {
        if !std::mem::take(&mut self.unclaimed) {
            return false;
        }
        for r in self.points.values_mut().chain(self.dead.values_mut()) {
            if !r.claimed {
                r.claimed = true;
                r.first = input.map(|i| (i, exec));
            }
        }
        true
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The points as `(section name, offset)`, as the host names them, then the dead code
    /// as `(DEAD_SECTION, offset in its page)`.
    pub fn named(&self, sections: &Sections) -> Vec<(String, u64)> {
        self.reached(sections)
            .into_iter()
            .map(|r| (r.section, r.offset))
            .collect()
    }

    /// Every point with its hits and first input (`ksock_fuzz::reach`).
    pub fn reached(&self, sections: &Sections) -> Vec<Reached> {
        let one = |section: String, offset: u64, r: &Reach| Reached {
            section,
            offset,
            hits: r.hits,
            first: r.first.map(|(i, _)| ksock_fuzz::reach::id_of(i)),
            exec: r.first.map_or(0, |(_, e)| e),
        };
        let live = self
            .points
            .iter()
            .map(|(&(i, off), r)| one(sections.name(i).to_string(), off, r));
        let dead = self
            .dead
            .iter()
            .map(|(&off, r)| one(ksock_fuzz::config::DEAD_SECTION.to_string(), off, r));
        live.chain(dead).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_map_to_the_section_below_them() {
        let s = Sections::from_starts(vec![
            (0x2000, ".init.text".into()),
            (0x1000, ".text".into()),
            (0, ".bss".into()),
        ]);
        assert_eq!(s.locate(0xfff), None);
        let (i, off) = s.locate(0x1010).unwrap();
        assert_eq!((s.name(i), off), (".text", 0x10));
        let (i, off) = s.locate(0x2004).unwrap();
        assert_eq!((s.name(i), off), (".init.text", 4));
        let mut seen = Seen::default();
        assert!(seen.insert((i, off)));
        assert!(!seen.insert((i, off)));
        assert_eq!(seen.len(), 1);
        // Loaded again elsewhere, in another order: the same point, the same index.
        let again = Sections::from_starts(vec![
            (0x9000, ".init.text".into()),
            (0xa000, ".text".into()),
        ]);
        assert_eq!(again.locate(0x9004), Some((i, off)));
    }

    #[test]
    fn a_freed_init_does_not_claim_the_code_loaded_over_it() {
        // ksock_sockopt's init was freed; ksock_server's .text was given its memory.
        let mut s = Sections::from_starts(vec![
            (0x1000, "ksock_sockopt/.text".into()),
            (0x5000, "ksock_sockopt/.init.text".into()),
            (0x4000, "ksock_server/.text".into()),
            (0x8000, "ksock_server/.init.text".into()),
        ]);
        let server_text = s.index("ksock_server/.text").unwrap();
        let own_init = s.index("ksock_server/.init.text").unwrap();
        s.expire_init(Some("ksock_server"));
        assert_eq!(s.locate(0x5010), Some((server_text, 0x1010)));
        assert_eq!(
            s.locate(0x8004),
            Some((own_init, 4)),
            "the module just loaded keeps its init"
        );
        s.expire_init(None);
        assert_eq!(s.locate(0x8004), Some((server_text, 0x4004)));
        assert_eq!(
            s.index("ksock_server/.init.text"),
            Some(own_init),
            "indices stay"
        );
        // One module: its sections carry no prefix, and `keep` keeps its init.
        let mut one = Sections::from_starts(vec![
            (0x1000, ".text".into()),
            (0x3000, ".init.text".into()),
        ]);
        one.expire_init(Some("m"));
        assert_eq!(
            one.locate(0x3004).map(|(i, _)| one.name(i)),
            Some(".init.text")
        );
    }
}
