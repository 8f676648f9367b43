//! The agent's command line. `ksock-agent run --plan FILE --out DIR`: executes a plan inside a ksock guest.
//! `ksock-agent serve --dir DIR`: a warm guest: runs `DIR/plan-N.json` for N = 1, 2, … as
//! each appears, results in `DIR/out-N/`, until `DIR/stop` appears.
//! `ksock-agent check-guest`: exits 0 inside a ksock guest, 3 elsewhere.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::proto::Plan;

const USAGE: &str = "usage: ksock-agent run --plan FILE --out DIR | ksock-agent serve --dir DIR | \
                     ksock-agent check-guest | \
                     ksock-agent raw-loop --config FUZZ.json --corpus DIR --seconds N | \
                     KSOCK_FUZZ_CONFIG=FUZZ.json ksock-agent fuzz LIBFUZZER-FLAGS… CORPUS\n\
                     Runs inside guests booted by ksock; refuses to load modules anywhere else.";

/// The agent's command line, without the program name (`ksock-agent`'s, or `ksock agent`'s).
pub fn main(args: Vec<String>) -> ExitCode {
    match args.first().map(String::as_str) {
        Some("check-guest") => match crate::guard::ensure_guest() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ksock-agent: {e}");
                ExitCode::from(3)
            }
        },
        Some("raw-loop") => raw_loop(&args),
        Some("fuzz") => crate::fuzz::libfuzzer::main(&args),
        Some("serve") => serve(&args),
        Some("run") => {
            let get = |flag: &str| {
                args.windows(2)
                    .find(|w| w[0] == flag)
                    .map(|w| PathBuf::from(&w[1]))
            };
            let (Some(plan), Some(out)) = (get("--plan"), get("--out")) else {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            };
            if let Err(e) = crate::guard::ensure_guest() {
                eprintln!("ksock-agent: {e}");
                return ExitCode::from(3);
            }
            let plan: Plan = match std::fs::read(&plan)
                .map_err(anyhow::Error::from)
                .and_then(|b| serde_json::from_slice(&b).map_err(Into::into))
            {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("ksock-agent: {}: {e}", plan.display());
                    return ExitCode::from(2);
                }
            };
            match crate::run::run_plan(&plan, &out) {
                Ok(_) => {
                    println!("KSOCK-AGENT-DONE");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("ksock-agent: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// `serve`: plans one after another in one boot (`cargo xtask watch`).
fn serve(args: &[String]) -> ExitCode {
    let Some(dir) = args
        .windows(2)
        .find(|w| w[0] == "--dir")
        .map(|w| PathBuf::from(&w[1]))
    else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    if let Err(e) = crate::guard::ensure_guest() {
        eprintln!("ksock-agent: {e}");
        return ExitCode::from(3);
    }
    match crate::run::serve(&dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ksock-agent: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The fuzz benchmark's floors, in the same boot as the fuzzer, after it: its corpus's calls
/// replayed bare and plain set+get pairs, printed as
/// `KSOCK-RAW syscalls_per_s=N pair_per_s=M executor_per_s=E`.
fn raw_loop(args: &[String]) -> ExitCode {
    let get = |flag: &str| args.windows(2).find(|w| w[0] == flag).map(|w| w[1].clone());
    let (Some(config), Some(corpus), Some(seconds)) =
        (get("--config"), get("--corpus"), get("--seconds"))
    else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let run = || -> anyhow::Result<(f64, f64, f64)> {
        let cfg = crate::fuzz::session::read_config(std::path::Path::new(&config))?;
        let mut s = crate::fuzz::session::Session::start(cfg)?;
        let d = std::time::Duration::from_secs(seconds.parse()?);
        s.raw_floors(std::path::Path::new(&corpus), d)
    };
    match run() {
        Ok((same, pair, executor)) => {
            println!(
                "KSOCK-RAW syscalls_per_s={same:.0} pair_per_s={pair:.0} executor_per_s={executor:.0}"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ksock-agent: raw loop: {e:#}");
            ExitCode::FAILURE
        }
    }
}
