//! The fuzzer's guest half: what executes [`ksock_fuzz`]'s op languages against the loaded
//! module (everything else — languages, models, titles, the shrinker, findings — is in
//! that crate). Here: the sockopt executor and its oracles (this file), the bounded spec
//! step ([`run`]), libFuzzer's session ([`session`], started by [`libfuzzer`]), message and
//! client sequences ([`msg`], [`client`]), coverage ([`cov`]), the input record
//! ([`record`]) and the benchmark's bare replay ([`raw`]).
//!
//! Oracles that need no knowledge of the module: a buffer of exactly the given length that
//! ends at a guard page must never fault; canary bytes after it must stay intact; a get
//! must not return a length larger than it was given; no kernel splat; the module unloads.
//! With a named model, also its contract ([`ksock_fuzz::model`]).

pub mod client;
pub mod cov;
pub mod libfuzzer;
pub mod msg;
pub mod raw;
pub mod record;
pub mod session;

use std::borrow::Cow;
use std::time::Instant;

use ksock_fuzz::model::{self, Expected, Model, SockoptModel};
use ksock_fuzz::{
    lang::sockopt::Op, lang::sockopt::Place, lang::sockopt::Reload, lang::sockopt::Target,
};

use crate::guarded::{Arena, BAD_USER_POINTER, FILL_LIMIT};
use crate::kmsg::Kmsg;
use crate::modules;

/// Canary bytes after a `Place::Canary` buffer.
const CANARY_LEN: usize = 16;
/// Buffers are never larger than this; a longer stated length is not "exact".
pub(crate) const MAX_BUF: usize = (1 << 20) + 4096;

/// The arena every op's buffer is placed in.
pub(crate) fn arena() -> std::io::Result<Arena> {
    Arena::new(MAX_BUF + CANARY_LEN)
}

use ksock_fuzz::params::{apply_str, Vary};
use ksock_fuzz::shrink::shrink;
pub use ksock_fuzz::titles::{title, Oracle, Violation};
pub use ksock_fuzz::Campaign;
use ksock_fuzz::Decoded;

/// The outcome of a campaign.
#[derive(Debug)]
pub struct Report {
    pub sequences: u64,
    pub ops: u64,
    pub seconds: f64,
    /// The first finding: sequence index, the oracle, and the shrunk sequence.
    pub finding: Option<(u64, Violation, Vec<Op>)>,
}

/// The module under test, as a reload needs it.
pub(crate) struct Module<'a> {
    pub name: &'a str,
    pub ko: &'a std::path::Path,
    /// What a reload op loads it with.
    pub reload: Reloads<'a>,
}

/// What a reload op loads the module with.
#[derive(Clone, Copy)]
pub(crate) enum Reloads<'a> {
    /// The parameters the model varies, with the campaign's `seed_bugs` mask (which
    /// in-range reloads keep).
    Model(Model, i64),
    /// The target's own parameters, with what its table varies (`vary`).
    Vary(&'a str, &'a [Vary]),
}

impl<'a> Reloads<'a> {
    /// With a model, its parameters; without, `params` with `vary` applied.
    pub(crate) fn of(
        model: Option<Model>,
        seed_bugs: i64,
        params: &'a str,
        vary: &'a [Vary],
    ) -> Self {
        match model {
            Some(m) => Reloads::Model(m, seed_bugs),
            None => Reloads::Vary(params, vary),
        }
    }
}

impl Module<'_> {
    pub(crate) fn reload_params(&self, r: &Reload) -> String {
        match self.reload {
            Reloads::Model(m, seed_bugs) => m.reload_params(r, seed_bugs),
            Reloads::Vary(p, vary) => apply_str(p, vary, &r.params),
        }
    }
}

pub use ksock_fuzz::config::seed_bugs_in;

/// What one op did.
pub(crate) struct Observed {
    /// An unload that failed or left the module's optnames behind.
    unload: Option<String>,
    errno: Option<i32>,
    value: Option<Vec<u8>>,
    returned_len: Option<i64>,
    /// The buffer really is as long as the length the kernel was given.
    exact: bool,
    canary_intact: bool,
}

/// Runs `c.runs` generated sequences, each on a freshly loaded module; stops at the first
/// finding and shrinks it.
pub fn run(c: &Campaign, kmsg: &mut Kmsg, dmesg: &mut Vec<String>) -> anyhow::Result<Report> {
    let splats = regex::RegexSet::new(&c.splats)?;
    let start = Instant::now();
    let mut report = Report {
        sequences: 0,
        ops: 0,
        seconds: 0.0,
        finding: None,
    };
    let mut arena = arena()?;
    for i in 0..c.runs {
        let ops = ksock_fuzz::lang::sockopt::generate(c.seed, i, c.max_ops);
        report.sequences += 1;
        let (done, violation) = run_sequence(c, &ops, &mut arena, kmsg, dmesg, &splats)?;
        report.ops += done as u64;
        if let Some(v) = violation {
            let oracle = v.oracle;
            let found = Decoded::Sockopt(ops[..done].to_vec());
            let (small, v) = shrink(found, v, |trial| {
                let Decoded::Sockopt(ops) = trial else {
                    unreachable!("the bounded step runs sockopt sequences")
                };
                Ok::<_, anyhow::Error>(
                    match run_sequence(c, ops, &mut arena, kmsg, dmesg, &splats)? {
                        (n, Some(v)) if v.oracle == oracle => Some((n - 1, v)),
                        _ => None,
                    },
                )
            })?;
            let Decoded::Sockopt(small) = small else {
                unreachable!("shrinking keeps the language")
            };
            report.finding = Some((i, v, small));
            break;
        }
    }
    let _ = modules::unload(&c.module);
    report.seconds = start.elapsed().as_secs_f64();
    Ok(report)
}

/// Reloads the module and runs `ops`; returns how many ran and the first violation.
fn run_sequence(
    c: &Campaign,
    ops: &[Op],
    arena: &mut Arena,
    kmsg: &mut Kmsg,
    dmesg: &mut Vec<String>,
    splats: &regex::RegexSet,
) -> anyhow::Result<(usize, Option<Violation>)> {
    if modules::is_loaded(&c.module) {
        if let Err(e) = modules::unload(&c.module) {
            return Ok((0, Some(Violation::new(Oracle::Unload, e.to_string()))));
        }
    }
    modules::load(&c.path, &c.params)?;
    let mut m = SockoptModel::new(c.target, seed_bugs_in(&c.params));
    let module = Module {
        name: &c.module,
        ko: &c.path,
        reload: Reloads::of(c.model, m.seed_bugs, &c.params, &c.vary),
    };
    // SAFETY: plain socket(2) call; closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
    anyhow::ensure!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
    let mut result = (ops.len(), None);
    for (i, op) in ops.iter().enumerate() {
        let t = m.target;
        let obs = exec(arena, fd, op, &t, &module)?;
        let expected = c.model.map(|_| m.step(op));
        let logged: Vec<String> = kmsg.read_available().iter().map(|r| r.line()).collect();
        let splat = logged.iter().find(|l| splats.is_match(l)).cloned();
        dmesg.extend(logged);
        let v = splat
            .map(|l| Violation::new(Oracle::KernelSplat, l))
            .or_else(|| check(op, &obs, &t, expected.as_ref()));
        if v.is_some() {
            result = (i + 1, v);
            break;
        }
    }
    // SAFETY: closing the socket opened above.
    unsafe { libc::close(fd) };
    Ok(result)
}

/// The oracles, for one op.
pub(crate) fn check(
    op: &Op,
    obs: &Observed,
    t: &Target,
    expected: Option<&Expected>,
) -> Option<Violation> {
    if let Some(why) = &obs.unload {
        return Some(Violation::new(Oracle::Unload, why.clone()));
    }
    let (place, write) = match op {
        Op::Set { place, .. } => (*place, false),
        Op::Get { place, .. } => (*place, true),
        // No buffer: only the contract speaks about a reload.
        Op::Reload(_) => (Place::Null, false),
    };
    let valid = obs.exact && matches!(place, Place::Guarded | Place::Canary);
    if valid && obs.errno == Some(model::EFAULT) {
        return Some(Violation::new(
            Oracle::GuardPage,
            format!(
                "{} faulted on a valid buffer of exactly the given length: the kernel touched \
                 memory past it",
                if write { "get" } else { "set" }
            ),
        ));
    }
    if !obs.canary_intact {
        return Some(Violation::new(
            Oracle::Canary,
            "bytes after the buffer were overwritten".into(),
        ));
    }
    if let (Op::Get { opt, len, .. }, Some(r)) = (op, obs.returned_len) {
        let given = len.resolve(&t.for_opt(opt.resolve(t))).max(0);
        if obs.errno.is_none() && r > given {
            return Some(Violation::new(
                Oracle::ReturnedLength,
                format!("get returned optlen {r}, larger than the {given} given"),
            ));
        }
    }
    let exp = expected?;
    let ok = match (exp, obs.errno) {
        (Expected::Err(errs), Some(e)) => errs.contains(&e),
        (Expected::Ok(None), None) => true,
        (Expected::Ok(Some(v)), None) => obs.value.as_deref() == Some(v.as_slice()),
        _ => false,
    };
    (!ok).then(|| {
        Violation::new(
            Oracle::Model,
            format!(
                "expected {}, got {}",
                describe_expected(exp),
                match (obs.errno, &obs.value) {
                    (Some(e), _) => modules::errno_name(e),
                    (None, Some(v)) => format!("{:?}", String::from_utf8_lossy(v)),
                    (None, None) => "success".into(),
                }
            ),
        )
    })
}

fn describe_expected(e: &Expected) -> String {
    match e {
        Expected::Ok(None) => "success".into(),
        Expected::Ok(Some(v)) => format!("{:?}", String::from_utf8_lossy(v)),
        Expected::Err(errs) => errs
            .iter()
            .map(|e| modules::errno_name(*e))
            .collect::<Vec<_>>()
            .join(" or "),
    }
}

/// What a set or get passes to the kernel, resolved against the module's range: the one
/// reading of an op that the executor, the benchmark's bare replay and its breakdown share.
pub(crate) struct Call<'a> {
    pub set: bool,
    pub opt: i32,
    /// The optlen given (a set's as the kernel sees it, a get's as written).
    pub stated: i64,
    /// A set's fill pattern (empty for a get): the op's fill, or the struct its optname's
    /// layout builds from it.
    pub fill: Cow<'a, [u8]>,
    pub place: Place,
}

impl Call<'_> {
    /// Bytes of buffer the op gets (its stated length, capped).
    pub fn size(&self) -> usize {
        (self.stated.max(0) as usize).min(MAX_BUF)
    }
}

/// `op` as a call; `None` for a reload. On an optname with a layout, lengths are relative
/// to the struct and a set writes the struct its fill builds.
pub(crate) fn call_of<'a>(op: &'a Op, t: &Target) -> Option<Call<'a>> {
    Some(match op {
        Op::Reload(_) => return None,
        Op::Set {
            opt,
            len,
            fill,
            place,
        } => {
            let opt = opt.resolve(t);
            Call {
                set: true,
                opt,
                stated: model::set_len(*len, &t.for_opt(opt)) as i64,
                fill: t.set_value(opt, fill),
                place: *place,
            }
        }
        Op::Get { opt, len, place } => {
            let opt = opt.resolve(t);
            Call {
                set: false,
                opt,
                stated: len.resolve(&t.for_opt(opt)),
                fill: Cow::Borrowed(&[]),
                place: *place,
            }
        }
    })
}

/// Only the buffer [`exec`] would prepare for `op` (for the benchmark's breakdown).
pub(crate) fn prepare_only(arena: &mut Arena, op: &Op, t: &Target) {
    let Some(c) = call_of(op, t) else { return };
    let canary = if c.place == Place::Canary {
        CANARY_LEN
    } else {
        0
    };
    let mut b = arena.buf(c.size(), canary, &c.fill);
    std::hint::black_box(b.as_mut_slice().first());
}

/// Performs one op on `fd`.
pub(crate) fn exec(
    arena: &mut Arena,
    fd: libc::c_int,
    op: &Op,
    t: &Target,
    module: &Module,
) -> anyhow::Result<Observed> {
    let c = match (op, call_of(op, t)) {
        (Op::Reload(r), _) => return Ok(reload(fd, r, t, module)),
        (_, Some(c)) => c,
        (_, None) => unreachable!("every op but a reload is a call"),
    };
    let (opt, place, stated, size) = (c.opt, c.place, c.stated, c.size());
    let fill = c.set.then_some(&c.fill);
    let canary = if place == Place::Canary {
        CANARY_LEN
    } else {
        0
    };
    let mut buf = arena.buf(size, canary, &c.fill);
    let ptr = match place {
        Place::Null => std::ptr::null_mut(),
        Place::Unmapped => BAD_USER_POINTER as *mut libc::c_void,
        Place::ReadOnly => buf.read_only_ptr() as *mut libc::c_void,
        _ => buf.ptr() as *mut libc::c_void,
    };
    let mut returned = stated as libc::socklen_t;
    let rc = if fill.is_some() {
        // SAFETY: the kernel validates the user pointer; bad ones are part of the input.
        unsafe { libc::setsockopt(fd, t.level, opt, ptr, stated as libc::socklen_t) }
    } else {
        // SAFETY: as above; `returned` is a socklen_t we own.
        unsafe { libc::getsockopt(fd, t.level, opt, ptr, &mut returned) }
    };
    let errno = (rc < 0).then(|| std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
    let get_ok = fill.is_none() && errno.is_none();
    let returned_len = get_ok.then_some(returned as i32 as i64);
    if fill.is_none() {
        // Even a failed get may have written part of the buffer.
        let said = returned_len.map_or(0, |r| r.max(0) as usize);
        buf.kernel_wrote(said.max(size.min(FILL_LIMIT)));
    }
    let value = returned_len.map(|r| {
        let n = (r.max(0) as usize).min(size);
        buf.as_mut_slice()[..n].to_vec()
    });
    Ok(Observed {
        unload: None,
        errno,
        value,
        returned_len,
        exact: stated >= 0 && stated as usize <= MAX_BUF,
        canary_intact: buf.canary_intact(),
    })
}

/// Unloads the module, checks that its optnames went with it, and loads it with `r`'s
/// parameters: what the load returned is the op's result.
fn reload(fd: libc::c_int, r: &Reload, t: &Target, m: &Module) -> Observed {
    match unload_checked(fd, t, m) {
        Some(why) => Observed::reloaded(Some(why), None),
        None => Observed::reloaded(None, load_with(r, m)),
    }
}

impl Observed {
    /// The outcome of a reload: a failed unload, else the load's errno.
    pub(crate) fn reloaded(unload: Option<String>, errno: Option<i32>) -> Self {
        Observed {
            unload,
            errno,
            value: None,
            returned_len: None,
            exact: false,
            canary_intact: true,
        }
    }
}

/// Unloads the module if it is loaded; says what went wrong if it did not go, or if the
/// optnames it served (from `t.optmin`) still answer afterwards.
pub(crate) fn unload_checked(fd: libc::c_int, t: &Target, m: &Module) -> Option<String> {
    if !modules::is_loaded(m.name) {
        return None;
    }
    if let Err(e) = modules::unload(m.name) {
        return Some(format!("unloading before a reload failed: {e}"));
    }
    let mut buf = [0u8; 64];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: a valid 64-byte buffer and its length.
    let rc = unsafe { libc::getsockopt(fd, t.level, t.optmin, buf.as_mut_ptr().cast(), &mut len) };
    let errno = std::io::Error::last_os_error().raw_os_error();
    (rc == 0 || errno != Some(libc::ENOPROTOOPT)).then(|| {
        format!(
            "optname {} still answers after unload ({})",
            t.optmin,
            if rc == 0 {
                "success".into()
            } else {
                modules::errno_name(errno.unwrap_or(0))
            }
        )
    })
}

/// Loads the module with `r`'s parameters; the errno when the kernel refuses.
pub(crate) fn load_with(r: &Reload, m: &Module) -> Option<i32> {
    modules::load_errno(m.ko, &m.reload_params(r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ksock_fuzz::{lang::sockopt::Len, lang::sockopt::Opt};

    /// A 5-byte get of the first served optname into a buffer placed at `place`.
    fn get(place: Place) -> Op {
        Op::Get {
            opt: Opt::Served(0),
            len: Len::Small(4),
            place,
        }
    }

    fn oracle(op: &Op, obs: &Observed, want: Option<&Expected>) -> Option<Oracle> {
        check(op, obs, &Target::KSOCK_SOCKOPT, want).map(|v| v.oracle)
    }

    #[test]
    fn titles_name_the_bug_not_the_input() {
        let set = Op::Set {
            opt: Opt::Served(0),
            len: Len::Small(1),
            fill: vec![],
            place: Place::Guarded,
        };
        let v = Violation::new(Oracle::GuardPage, "x".into());
        assert_eq!(title(Some(&set), &v, "m"), "set reads past optlen in m");
        let v = Violation::new(Oracle::Canary, "y".into());
        assert_eq!(
            title(Some(&get(Place::Canary)), &v, "m"),
            "get writes past optlen in m"
        );
        let v = Violation::new(
            Oracle::KernelSplat,
            "[   12.5] BUG: KFENCE: out-of-bounds read in srv_recv+0x1c/0x80 [ksock_server]".into(),
        );
        assert_eq!(
            title(None, &v, "m"),
            "BUG: KFENCE: out-of-bounds read in srv_recv"
        );
    }

    #[test]
    fn efault_on_an_exact_guarded_buffer_is_a_guard_page_finding() {
        let obs = Observed {
            unload: None,
            errno: Some(model::EFAULT),
            value: None,
            returned_len: None,
            exact: true,
            canary_intact: true,
        };
        assert_eq!(
            oracle(&get(Place::Guarded), &obs, None),
            Some(Oracle::GuardPage)
        );
        assert_eq!(
            oracle(&get(Place::Null), &obs, None),
            None,
            "EFAULT on NULL is right"
        );
    }

    #[test]
    fn a_longer_returned_length_and_a_model_mismatch_are_findings() {
        let op = get(Place::Canary);
        let obs = Observed {
            unload: None,
            errno: None,
            value: Some(b"a messag".to_vec()),
            returned_len: Some(8),
            exact: true,
            canary_intact: true,
        };
        assert_eq!(oracle(&op, &obs, None), Some(Oracle::ReturnedLength));
        let obs = Observed {
            returned_len: Some(5),
            value: Some(b"a mez".to_vec()),
            ..obs
        };
        let want = Expected::Ok(Some(b"a mes".to_vec()));
        assert_eq!(oracle(&op, &obs, Some(&want)), Some(Oracle::Model));
    }
}
