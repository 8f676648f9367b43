//! The in-guest fuzzer: libFuzzer drives op sequences (`ksock_ops`: sockopt calls, TCP
//! messages, client loads) against a module loaded in a ksock guest, persistently (one load
//! for the whole campaign). Installed beside `ksock` (`cargo install --path cli`), so a
//! project needs no build of ksock's sources to fuzz.
//!
//! Started by the harness (`ksock fuzz NAME`) inside the guest with
//! `KSOCK_FUZZ_CONFIG=<shared dir>/fuzz.json`. Coverage comes from the module itself:
//! it was built with trace-pc instrumentation and the ksock_cov runtime, and each input's
//! trace is folded into libFuzzer's extra counters below. Findings are saved by the
//! session ([`ksock_agent::persistent`]); the fuzzer never aborts on one, so a campaign
//! goes on to find the next bug.
#![no_main]

use std::sync::Mutex;

use ksock_agent::persistent::{read_config, Session};
use libfuzzer_sys::{fuzz_target, Corpus};

/// libFuzzer's extra coverage counters: it finds this section by its `__start_`/`__stop_`
/// symbols, clears it before each input and turns the counts into features. It scans all
/// of it on every input (slow under TCG), so it is sized for modules of a few thousand
/// blocks, not 64 KiB.
#[used]
#[link_section = "__libfuzzer_extra_counters"]
static mut COUNTERS: [u8; 1 << 12] = [0; 1 << 12];

static SESSION: Mutex<Option<Session>> = Mutex::new(None);

extern "C" fn finish() {
    if let Ok(mut s) = SESSION.lock() {
        if let Some(s) = s.as_mut() {
            s.finish();
        }
    }
}

/// libFuzzer's `-merge=1` runs this binary twice: an outer process that only plans, and an
/// inner one (`-merge_inner=1`) that runs the inputs. Only the inner one may load the
/// modules (the outer one would hold the coverage runtime the inner one reloads).
fn merge_outer() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "-merge=1") && !args.iter().any(|a| a.starts_with("-merge_inner="))
}

fn start_session() {
    let path = std::env::var_os("KSOCK_FUZZ_CONFIG")
        .expect("KSOCK_FUZZ_CONFIG names the fuzz config (the harness sets it)");
    let cfg = read_config(std::path::Path::new(&path)).expect("fuzz config");
    match Session::start(cfg) {
        Ok(s) => *SESSION.lock().unwrap() = Some(s),
        Err(e) => {
            eprintln!("ksock fuzzer: cannot start: {e:#}");
            std::process::exit(2);
        }
    }
    // SAFETY: registering a plain extern "C" function with atexit.
    unsafe { libc::atexit(finish) };
}

fuzz_target!(
    init: {
        if !merge_outer() {
            start_session();
        }
    },
    |data: &[u8]| -> Corpus {
        let mut guard = SESSION.lock().unwrap();
        let session = guard.as_mut().expect("initialised");
        // SAFETY: libFuzzer runs inputs on one thread and reads the counters only between
        // inputs; nothing else touches them.
        let counters = unsafe { &mut *std::ptr::addr_of_mut!(COUNTERS) };
        match session.run(data, counters) {
            Ok(true) => Corpus::Keep,
            Ok(false) => Corpus::Reject,
            Err(e) => {
                // The guest itself misbehaves (not a finding about the module): stop.
                eprintln!("ksock fuzzer: {e:#}");
                std::process::exit(3);
            }
        }
    }
);
