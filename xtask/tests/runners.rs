//! `cargo xtask test` runs the same tests with or without cargo-nextest: each tier listed by
//! cargo-nextest (`cargo nextest list`) and by `cargo test` (the executables it builds, each
//! asked for its tests) gives the same tests, nothing runs. In the guest tier because the
//! listing builds the guest tests (it boots nothing).

use std::collections::BTreeMap;
use std::process::Command;

/// Tier → its `<binary> <test>` lines, from `cargo xtask test --list --runner RUNNER`.
fn listing(runner: &str) -> BTreeMap<String, Vec<String>> {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["test", "--list", "--runner", runner])
        .env("CARGO", env!("CARGO"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "--runner {runner}:\n{err}");
    eprintln!("--runner {runner}:");
    for line in err.lines().filter(|l| l.starts_with("tier ")) {
        eprintln!("  {line}");
    }
    let mut tiers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let (tier, test) = line.split_once(' ').unwrap();
        tiers.entry(tier.into()).or_default().push(test.into());
    }
    tiers
}

fn nextest_installed() -> bool {
    Command::new(env!("CARGO"))
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn with_or_without_nextest_every_tier_has_the_same_tests() {
    if !nextest_installed() {
        eprintln!("SKIPPED: cargo-nextest is not installed, there is nothing to compare with");
        assert!(
            std::env::var("CI").is_err(),
            "CI runs every test: install cargo-nextest"
        );
        return;
    }
    let cargo = listing("cargo");
    let nextest = listing("nextest");
    let none = Vec::new();
    for tier in ["host", "doc", "guest", "specs"] {
        let c = cargo.get(tier).unwrap_or(&none);
        let n = nextest.get(tier).unwrap_or(&none);
        let only = |a: &Vec<String>, b: &Vec<String>| -> Vec<String> {
            a.iter().filter(|t| !b.contains(t)).cloned().collect()
        };
        assert!(
            c == n,
            "tier {tier}: only cargo test runs {:?}, only nextest runs {:?}",
            only(c, n),
            only(n, c)
        );
    }
    assert_eq!(
        cargo.keys().collect::<Vec<_>>(),
        nextest.keys().collect::<Vec<_>>()
    );
    let count = |t: &str| cargo.get(t).map_or(0, Vec::len);
    assert!(count("host") > 50 && count("guest") > 10 && count("specs") > 10);
    // A test binary belongs to one tier.
    let binaries = |t: &str| -> Vec<String> {
        cargo[t]
            .iter()
            .map(|l| l.split(' ').next().unwrap().to_string())
            .collect()
    };
    let guest = binaries("guest");
    let both: Vec<_> = binaries("host")
        .into_iter()
        .filter(|b| guest.contains(b))
        .collect();
    assert!(both.is_empty(), "in the host and guest tiers: {both:?}");
}
