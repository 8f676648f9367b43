//! `cargo xtask test`: what CI runs, in tiers. Each tier is listed with its runner before it
//! runs, and its count printed:
//!
//! - `host`: every test target that boots nothing, what plain `cargo test --workspace` and
//!   `cargo nextest run --workspace` run (lib, bin and integration tests).
//! - `doc`: doctests (`cargo test --doc`: nextest does not run them).
//! - `guest`: the test targets that require the `guest-tests` feature, found with
//!   `cargo metadata` (they boot guests or build in real kernel trees; xtask/tests/tiers.rs
//!   checks that every test which does is one), but the spec x kernel binary.
//! - `specs`: that binary, by `cargo test` in one process on purpose: it batches each
//!   kernel's specs into one boot (under nextest every test is its own process and boot).
//!
//! `host` and `guest` run under cargo-nextest where it is installed, else `cargo test`, with
//! the same cargo target selection; `--list` prints what either would run (xtask/tests/
//! runners.rs compares the two). An ignored test is a skipped one: it is named, counted,
//! and with `CI` set it fails the run.

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::flags::{RunnerArg, TestArgs};

/// The feature every guest test target requires (`required-features` in its Cargo.toml).
pub const GUEST_FEATURE: &str = "guest-tests";
/// The spec x kernel binary (package, test target), run in one `cargo test` process.
const SPECS: (&str, &str) = ("ksock-harness", "specs");

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Runner {
    Nextest,
    Cargo,
}

impl Runner {
    fn name(self) -> &'static str {
        match self {
            Runner::Nextest => "cargo-nextest",
            Runner::Cargo => "cargo test",
        }
    }
}

/// A test target of the workspace, from `cargo metadata`.
#[derive(Debug)]
struct Target {
    package: String,
    name: String,
    guest: bool,
}

/// One tier: the cargo target selection, and the runner that runs it.
#[derive(Debug)]
struct Tier {
    name: &'static str,
    runner: Runner,
    args: Vec<String>,
    /// Whether `cargo xtask test -- ARGS` go to this tier's runner.
    runner_args: bool,
    /// In the spec x kernel binary an ignored test is a spec whose `kernels` condition
    /// excludes the kernel: not applicable rather than skipped.
    ignored_is_skip: bool,
}

/// What a tier's runner would run: `<binary-id> <test>` (nextest's binary ids), sorted, and
/// the ignored ones, which it skips.
#[derive(Debug, Default, PartialEq)]
struct Listing {
    tests: Vec<String>,
    ignored: Vec<String>,
}

/// Where and how cargo runs: the workspace, cargo, the tests' environment, and each
/// package's manifest path and name (from `cargo metadata`).
struct Ctx<'a> {
    root: &'a Path,
    cargo: String,
    env: Vec<(&'static str, String)>,
    packages: Vec<(String, String)>,
}

impl Ctx<'_> {
    /// `cargo ARGS` in the workspace, with the tests' environment.
    fn cargo(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.cargo);
        c.args(args)
            .current_dir(self.root)
            .envs(self.env.iter().cloned());
        c
    }
}

/// `cargo xtask test`: host and doc tiers, then the kernels prepared, the guest and spec tiers.
pub fn test(root: &Path, a: TestArgs) -> Result<ExitCode> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let runner = match a.runner {
        RunnerArg::Nextest => Runner::Nextest,
        RunnerArg::Cargo => Runner::Cargo,
        RunnerArg::Auto if nextest_installed(&cargo) => Runner::Nextest,
        RunnerArg::Auto => Runner::Cargo,
    };
    let kernels: Vec<String> = if a.kernels.is_empty() {
        ksock_vm::catalog::CATALOG
            .iter()
            .map(|e| e.name.to_string())
            .collect()
    } else {
        a.kernels
    };
    let meta = metadata(root, &cargo)?;
    let ctx = Ctx {
        root,
        cargo,
        env: vec![("KSOCK_KERNELS", kernels.join(","))],
        packages: packages(&meta),
    };
    let tiers = tiers(&targets(&meta), runner)?;
    if a.list {
        for t in &tiers {
            let l = list(&ctx, t)?;
            for test in &l.tests {
                println!("{} {test}", t.name);
            }
            eprintln!("{}", headline(t, &l));
        }
        return Ok(ExitCode::SUCCESS);
    }

    ksock::setup()?;
    let mut results = Vec::new();
    let (early, late) = tiers.split_at(2);
    for t in early {
        results.push(run_tier(&ctx, t, &a.runner_args)?);
    }
    // The agent is also the in-guest fuzzer (libFuzzer is linked into it).
    crate::build_agent(root)?;
    let cache = ksock_vm::Cache::from_env()?;
    // Prepare here, with progress on the terminal, rather than inside a captured test.
    for k in &kernels {
        ksock_vm::kernel::prepare(&cache, k, &Default::default())?;
    }
    for t in late {
        results.push(run_tier(&ctx, t, &a.runner_args)?);
    }
    Ok(if verdict(&tiers, &results, ci()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The tiers, in the order they run (host and doc need no kernel: they run first).
fn tiers(targets: &[Target], runner: Runner) -> Result<Vec<Tier>> {
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let is_specs = |t: &Target| (t.package.as_str(), t.name.as_str()) == SPECS;
    let specs = targets
        .iter()
        .find(|t| t.guest && is_specs(t))
        .with_context(|| format!("no guest test target {}::{}", SPECS.0, SPECS.1))?;
    let mut tiers = vec![
        Tier {
            name: "host",
            runner,
            args: strings(&["--workspace", "--tests"]),
            runner_args: true,
            ignored_is_skip: true,
        },
        Tier {
            name: "doc",
            runner: Runner::Cargo,
            args: strings(&["--workspace", "--doc"]),
            runner_args: false,
            ignored_is_skip: true,
        },
    ];
    let guest: Vec<&Target> = targets.iter().filter(|t| t.guest && !is_specs(t)).collect();
    if !guest.is_empty() {
        tiers.push(Tier {
            name: "guest",
            runner,
            args: guest_args(&guest),
            runner_args: true,
            ignored_is_skip: true,
        });
    }
    tiers.push(Tier {
        name: "specs",
        runner: Runner::Cargo,
        args: guest_args(&[specs]),
        runner_args: false,
        ignored_is_skip: false,
    });
    Ok(tiers)
}

/// `-p` each package, its guest feature, `--test` each target.
fn guest_args(targets: &[&Target]) -> Vec<String> {
    let mut packages: Vec<&str> = targets.iter().map(|t| t.package.as_str()).collect();
    packages.dedup();
    let mut args = Vec::new();
    for p in &packages {
        args.extend(["-p".to_string(), p.to_string()]);
    }
    let features: Vec<String> = packages
        .iter()
        .map(|p| format!("{p}/{GUEST_FEATURE}"))
        .collect();
    args.extend(["--features".to_string(), features.join(",")]);
    for t in targets {
        args.extend(["--test".to_string(), t.name.clone()]);
    }
    args
}

fn metadata(root: &Path, cargo: &str) -> Result<Value> {
    let mut cmd = Command::new(cargo);
    cmd.args([
        "metadata",
        "--format-version",
        "1",
        "--no-deps",
        "--offline",
    ])
    .current_dir(root);
    serde_json::from_str(&output(&mut cmd)?).context("cargo metadata's output")
}

fn members(meta: &Value) -> impl Iterator<Item = &Value> {
    meta["packages"].as_array().into_iter().flatten()
}

/// The workspace's test targets, in its packages' order.
fn targets(meta: &Value) -> Vec<Target> {
    let mut targets = Vec::new();
    for p in members(meta) {
        for t in p["targets"].as_array().into_iter().flatten() {
            if !t["kind"]
                .as_array()
                .is_some_and(|k| k.contains(&"test".into()))
            {
                continue;
            }
            let required = t["required-features"].as_array();
            targets.push(Target {
                package: p["name"].as_str().unwrap_or_default().to_string(),
                name: t["name"].as_str().unwrap_or_default().to_string(),
                guest: required.is_some_and(|r| r.contains(&GUEST_FEATURE.into())),
            });
        }
    }
    targets
}

/// Each package's manifest path and name.
fn packages(meta: &Value) -> Vec<(String, String)> {
    members(meta)
        .map(|p| {
            let s = |k: &str| p[k].as_str().unwrap_or_default().to_string();
            (s("manifest_path"), s("name"))
        })
        .collect()
}

fn nextest_installed(cargo: &str) -> bool {
    Command::new(cargo)
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `CI` set (GitHub Actions and most CI services set `CI=true`).
fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

fn headline(t: &Tier, l: &Listing) -> String {
    let what = if t.ignored_is_skip {
        "skipped"
    } else {
        "not applicable"
    };
    format!(
        "tier {}: {} tests, {} {what}, {}",
        t.name,
        l.tests.len(),
        l.ignored.len(),
        t.runner.name()
    )
}

/// What a tier ran: its listing and whether its runner succeeded.
struct TierResult {
    listing: Listing,
    ok: bool,
}

fn run_tier(ctx: &Ctx, t: &Tier, runner_args: &[String]) -> Result<TierResult> {
    let listing = list(ctx, t)?;
    println!("== {} ==", headline(t, &listing));
    let mut cmd = match t.runner {
        Runner::Nextest => ctx.cargo(&["nextest", "run", "--no-fail-fast"]),
        Runner::Cargo => ctx.cargo(&["test", "--no-fail-fast"]),
    };
    cmd.args(&t.args);
    if t.runner_args {
        cmd.args(runner_args);
    }
    let ok = cmd
        .status()
        .with_context(|| format!("running the {} tier", t.name))?
        .success();
    Ok(TierResult { listing, ok })
}

/// Prints each tier's count and result, and the skipped tests; true if all passed and, in
/// CI, none was skipped.
fn verdict(tiers: &[Tier], results: &[TierResult], ci: bool) -> bool {
    println!("== cargo xtask test ==");
    let mut ok = true;
    let mut skipped = Vec::new();
    for (t, r) in tiers.iter().zip(results) {
        let state = if r.ok { "ok" } else { "FAILED" };
        println!("{}: {state}", headline(t, &r.listing));
        ok &= r.ok;
        if t.ignored_is_skip {
            skipped.extend(r.listing.ignored.iter().map(|s| format!("{} {s}", t.name)));
        }
    }
    if !skipped.is_empty() {
        println!("{} tests were skipped (ignored):", skipped.len());
        for s in &skipped {
            println!("  {s}");
        }
        if ci {
            println!("CI runs every test: a skipped test fails the run");
            ok = false;
        }
    }
    ok
}

/// Lists a tier the way its runner finds its tests, without running any.
fn list(ctx: &Ctx, t: &Tier) -> Result<Listing> {
    let mut l = match t.runner {
        Runner::Nextest => list_nextest(ctx, t)?,
        Runner::Cargo if t.args.iter().any(|a| a == "--doc") => list_doc(ctx, t)?,
        Runner::Cargo => list_cargo(ctx, t)?,
    };
    l.tests.sort();
    l.ignored.sort();
    Ok(l)
}

/// `cargo nextest list`'s JSON: every suite's test cases, and which are ignored.
fn list_nextest(ctx: &Ctx, t: &Tier) -> Result<Listing> {
    let mut cmd = ctx.cargo(&["nextest", "list", "--message-format", "json"]);
    let out = output(cmd.args(&t.args))?;
    let json: Value = serde_json::from_str(&out).context("cargo nextest list's output")?;
    Ok(parse_nextest(&json))
}

fn parse_nextest(json: &Value) -> Listing {
    let mut l = Listing::default();
    let suites = json["rust-suites"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values());
    for suite in suites {
        let id = suite["binary-id"].as_str().unwrap_or_default();
        for (name, case) in suite["testcases"].as_object().into_iter().flatten() {
            let test = format!("{id} {name}");
            if case["ignored"].as_bool() == Some(true) {
                l.ignored.push(test.clone());
            }
            l.tests.push(test);
        }
    }
    l
}

/// The executables `cargo test` builds for the tier (`--no-run`, JSON messages), each asked
/// for its tests the way `cargo test` runs it (in its package's directory).
fn list_cargo(ctx: &Ctx, t: &Tier) -> Result<Listing> {
    let json = ["--message-format", "json-render-diagnostics"];
    let mut cmd = ctx.cargo(&["test", "--no-run"]);
    let out = output(cmd.args(json).args(&t.args))?;
    let mut l = Listing::default();
    for msg in out
        .lines()
        .filter_map(|m| serde_json::from_str::<Value>(m).ok())
    {
        let (Some(exe), true) = (msg["executable"].as_str(), msg["profile"]["test"] == true) else {
            continue;
        };
        let manifest = msg["manifest_path"].as_str().unwrap_or_default();
        let id = binary_id(ctx, manifest, &msg["target"])?;
        let dir = Path::new(manifest).parent().unwrap_or(ctx.root);
        let names = |extra: &[&str]| -> Result<Vec<String>> {
            let mut c = Command::new(exe);
            c.args(["--list", "--format", "terse"])
                .args(extra)
                .current_dir(dir)
                .envs(ctx.env.iter().cloned());
            let out = output(&mut c)?;
            Ok(parse_libtest_list(&out)
                .map(|n| format!("{id} {n}"))
                .collect())
        };
        l.tests.extend(names(&[])?);
        l.ignored.extend(names(&["--ignored"])?);
    }
    Ok(l)
}

/// `cargo test --doc -- --list`: doctests have no executable of their own.
fn list_doc(ctx: &Ctx, t: &Tier) -> Result<Listing> {
    let names = |extra: &[&str]| -> Result<Vec<String>> {
        let mut cmd = ctx.cargo(&["test"]);
        cmd.args(&t.args)
            .args(["--", "--list", "--format", "terse"])
            .args(extra);
        let out = output(&mut cmd)?;
        Ok(parse_libtest_list(&out)
            .map(|n| format!("doc {n}"))
            .collect())
    };
    Ok(Listing {
        tests: names(&[])?,
        ignored: names(&["--ignored"])?,
    })
}

/// The test names in a libtest `--list --format terse` output (`name: test` lines).
fn parse_libtest_list(out: &str) -> impl Iterator<Item = &str> {
    out.lines().filter_map(|l| l.strip_suffix(": test"))
}

/// nextest's name for a test binary: its package for a library's unit tests,
/// `package::name` for an integration test, `package::kind/name` otherwise.
fn binary_id(ctx: &Ctx, manifest: &str, target: &Value) -> Result<String> {
    let package = ctx
        .packages
        .iter()
        .find(|(m, _)| m == manifest)
        .map(|(_, n)| n.clone())
        .with_context(|| format!("no workspace package has the manifest {manifest}"))?;
    let kind = target["kind"][0].as_str().unwrap_or_default();
    let name = target["name"].as_str().unwrap_or_default();
    Ok(match kind {
        "lib" | "rlib" | "dylib" | "cdylib" | "staticlib" | "proc-macro" => package,
        "test" => format!("{package}::{name}"),
        _ => format!("{package}::{kind}/{name}"),
    })
}

/// Runs `cmd` with its stderr on the terminal (cargo's progress); its stdout, if it succeeds.
fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed ({})", out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(package: &str, name: &str, guest: bool) -> Target {
        Target {
            package: package.into(),
            name: name.into(),
            guest,
        }
    }

    #[test]
    fn guest_targets_are_their_own_tier_and_specs_runs_alone_under_cargo() {
        let targets = [
            target("ksock-vm", "boots", true),
            target("ksock-harness", "faults", true),
            target("ksock-harness", "specs", true),
            target("ksock-spec", "schema", false),
        ];
        for runner in [Runner::Nextest, Runner::Cargo] {
            let t = tiers(&targets, runner).unwrap();
            let names: Vec<_> = t.iter().map(|t| (t.name, t.runner)).collect();
            assert_eq!(
                names,
                [
                    ("host", runner),
                    ("doc", Runner::Cargo),
                    ("guest", runner),
                    ("specs", Runner::Cargo)
                ]
            );
            assert_eq!(t[0].args, ["--workspace", "--tests"]);
            assert_eq!(
                t[2].args.join(" "),
                "-p ksock-vm -p ksock-harness \
                 --features ksock-vm/guest-tests,ksock-harness/guest-tests \
                 --test boots --test faults"
            );
            assert_eq!(
                t[3].args.join(" "),
                "-p ksock-harness --features ksock-harness/guest-tests --test specs"
            );
        }
        assert!(
            tiers(&targets[..2], Runner::Cargo).is_err(),
            "specs is gone"
        );
    }

    #[test]
    fn listings_name_tests_by_binary_and_count_the_ignored() {
        let json = serde_json::json!({"rust-suites": {
            "ksock-vm": {"binary-id": "ksock-vm", "testcases": {
                "a::b": {"ignored": false}, "a::c": {"ignored": true}}},
            "xtask::tidy": {"binary-id": "xtask::tidy", "testcases": {"t": {"ignored": false}}}
        }});
        let l = parse_nextest(&json);
        assert_eq!(l.tests, ["ksock-vm a::b", "ksock-vm a::c", "xtask::tidy t"]);
        assert_eq!(l.ignored, ["ksock-vm a::c"]);
        let libtest = "a::b: test\nx: benchmark\n7.2::hello: test\n\n2 tests, 1 benchmark\n";
        assert_eq!(
            parse_libtest_list(libtest).collect::<Vec<_>>(),
            ["a::b", "7.2::hello"]
        );
    }

    #[test]
    fn a_skipped_test_is_named_and_fails_only_in_ci() {
        let t = tiers(
            &[
                target("ksock-harness", "faults", true),
                target("ksock-harness", "specs", true),
            ],
            Runner::Cargo,
        )
        .unwrap();
        let result = |ignored: &[&str]| TierResult {
            listing: Listing {
                tests: vec!["x y".into()],
                ignored: ignored.iter().map(|s| s.to_string()).collect(),
            },
            ok: true,
        };
        let clean = || vec![result(&[]), result(&[]), result(&[]), result(&[])];
        assert!(verdict(&t, &clean(), true));
        let mut skipped = clean();
        skipped[2] = result(&["x y"]);
        assert!(verdict(&t, &skipped, false));
        assert!(!verdict(&t, &skipped, true));
        // A spec outside its `kernels` condition is not applicable, not skipped.
        let mut excluded = clean();
        excluded[3] = result(&["x y"]);
        assert!(verdict(&t, &excluded, true));
    }
}
