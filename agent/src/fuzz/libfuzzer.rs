//! The in-guest fuzzer: libFuzzer drives op sequences (sockopt calls, TCP messages, client
//! loads) against a module loaded in a ksock guest, persistently (one load for the whole
//! campaign). `ksock agent fuzz <libFuzzer flags>` (or `ksock-agent fuzz …`): libFuzzer is
//! linked into the agent and started with `LLVMFuzzerRunDriver`, so the one installed
//! `ksock` program is also the fuzzer.
//!
//! Started by the harness (`ksock fuzz NAME`) inside the guest with
//! `KSOCK_FUZZ_CONFIG=<shared dir>/fuzz.json`. Coverage comes from the module itself: it
//! was built with trace-pc instrumentation and the ksock_cov runtime, and each input's
//! trace is folded into libFuzzer's extra counters below. Findings are saved by the
//! session ([`crate::fuzz::session`]); the fuzzer never aborts on one, so a campaign goes on
//! to find the next bug.

use std::ffi::{c_char, c_int, CString};
use std::process::ExitCode;
use std::sync::Mutex;

use crate::fuzz::session::{read_config, Session};

// Linked for libFuzzer's objects; nothing of the crate's Rust API is used.
extern crate libfuzzer_sys;

/// libFuzzer's extra coverage counters: it finds this section by its `__start_`/`__stop_`
/// symbols, clears it before each input and turns the counts into features. It scans all
/// of it on every input (slow under TCG), so it is sized for modules of a few thousand
/// blocks, not 64 KiB.
#[used]
#[link_section = "__libfuzzer_extra_counters"]
static mut COUNTERS: [u8; 1 << 12] = [0; 1 << 12];

static SESSION: Mutex<Option<Session>> = Mutex::new(None);

extern "C" {
    /// libFuzzer's entry point for a program with its own `main` (FuzzerDriver.cpp).
    fn LLVMFuzzerRunDriver(
        argc: *mut c_int,
        argv: *mut *mut *mut c_char,
        callback: extern "C" fn(*const u8, usize) -> c_int,
    ) -> c_int;
}

/// What libfuzzer-sys's `LLVMFuzzerTestOneInput` calls; libFuzzer runs [`one_input`] instead
/// (given to `LLVMFuzzerRunDriver`), so this only completes the link.
// libfuzzer-sys declares it with a slice: the same Rust ABI on both sides.
#[allow(improper_ctypes_definitions)]
#[no_mangle]
pub extern "C" fn rust_fuzzer_test_input(bytes: &[u8]) -> i32 {
    one_input(bytes.as_ptr(), bytes.len())
}

extern "C" fn finish() {
    if let Ok(mut s) = SESSION.lock() {
        if let Some(s) = s.as_mut() {
            s.finish();
        }
    }
}

/// libFuzzer's `-merge=1` runs this program twice: an outer process that only plans, and an
/// inner one (`-merge_inner=1`) that runs the inputs. Only the inner one may load the
/// modules (the outer one would hold the coverage runtime the inner one reloads).
fn merge_outer(args: &[String]) -> bool {
    args.iter().any(|a| a == "-merge=1") && !args.iter().any(|a| a.starts_with("-merge_inner="))
}

fn start_session() -> Result<(), String> {
    let path = std::env::var_os("KSOCK_FUZZ_CONFIG")
        .ok_or("KSOCK_FUZZ_CONFIG names the fuzz config (the harness sets it)")?;
    let cfg = read_config(std::path::Path::new(&path)).map_err(|e| format!("{e:#}"))?;
    let s = Session::start(cfg).map_err(|e| format!("cannot start: {e:#}"))?;
    *SESSION.lock().expect("session") = Some(s);
    // SAFETY: registering a plain extern "C" function with atexit (libFuzzer exits when
    // its time is up).
    unsafe { libc::atexit(finish) };
    Ok(())
}

/// One input: 0 keeps it (if it adds coverage), -1 tells libFuzzer not to keep it.
extern "C" fn one_input(data: *const u8, size: usize) -> c_int {
    let data = match size {
        0 => &[][..],
        // SAFETY: libFuzzer passes a buffer of `size` bytes that lives for this call.
        _ => unsafe { std::slice::from_raw_parts(data, size) },
    };
    let mut guard = SESSION.lock().expect("session");
    let Some(session) = guard.as_mut() else {
        return -1;
    };
    // SAFETY: libFuzzer runs inputs on one thread and reads the counters only between
    // inputs; nothing else touches them.
    let counters = unsafe { &mut *std::ptr::addr_of_mut!(COUNTERS) };
    match session.run(data, counters) {
        Ok(true) => 0,
        Ok(false) => -1,
        Err(e) => {
            // The guest itself misbehaves (not a finding about the module): stop.
            eprintln!("ksock fuzzer: {e:#}");
            std::process::exit(3);
        }
    }
}

/// libFuzzer's argv[0]: what starts this fuzzer again, for its merge, which runs
/// `argv[0] <flags> -merge_inner=1` through the shell: this executable and its words up
/// to `fuzz` (`ksock agent fuzz` installed, `ksock-agent fuzz` in this repository).
fn self_command() -> String {
    let argv: Vec<String> = std::env::args().collect();
    let upto = argv
        .iter()
        .skip(1)
        .position(|w| w == "fuzz")
        .map_or(0, |i| i + 1);
    let exe = std::env::current_exe().map_or_else(
        |_| argv.first().cloned().unwrap_or_default(),
        |p| p.display().to_string(),
    );
    std::iter::once(exe)
        .chain(argv.iter().skip(1).take(upto).cloned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `fuzz <libFuzzer flags…>`: libFuzzer with this session, in a ksock guest only.
pub fn main(args: &[String]) -> ExitCode {
    if let Err(e) = crate::guard::ensure_guest() {
        eprintln!("ksock-agent: {e}");
        return ExitCode::from(3);
    }
    if !merge_outer(args) {
        if let Err(e) = start_session() {
            eprintln!("ksock fuzzer: {e}");
            return ExitCode::from(2);
        }
    }
    // libFuzzer parses argv[1..] as its flags and corpus directories.
    let owned: Vec<CString> = std::iter::once(self_command())
        .chain(args.iter().skip(1).cloned())
        .map(|a| CString::new(a).unwrap_or_default())
        .collect();
    let mut ptrs: Vec<*mut c_char> = owned.iter().map(|a| a.as_ptr() as *mut c_char).collect();
    ptrs.push(std::ptr::null_mut());
    let mut argc = (ptrs.len() - 1) as c_int;
    let mut argv = ptrs.as_mut_ptr();
    // SAFETY: argc/argv describe NUL-terminated strings that outlive the call (`owned`);
    // libFuzzer may reorder the pointer array, which is ours.
    let rc = unsafe { LLVMFuzzerRunDriver(&mut argc, &mut argv, one_input) };
    ExitCode::from(rc.clamp(0, 255) as u8)
}
