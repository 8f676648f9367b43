//! Fuzz campaigns in a real guest (the default kernel): the planted bugs are found and
//! saved with their decoded sequences, a planted crash is a finding after which the
//! campaign boots again and goes on, the server's receive-path bug is found by message
//! sequences, the client's send-path bug by loads with arbitrary parameters, sockopt calls
//! and messages interleave over two modules, and a correct module gives no finding.

use std::path::{Path, PathBuf};

use ksock_harness::campaign::{self, CampaignOptions, CampaignReport};
use ksock_harness::project::Project;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// This repository's target `name` (ksock.toml's `[[fuzz]]` table), `seed_bugs` planted.
fn campaign(name: &str, seed_bugs: u8, seconds: u64, out: &Path) -> CampaignReport {
    let root = root();
    let cache = ksock_vm::Cache::from_env().unwrap();
    let project = Project::open(&root).unwrap();
    let opts = CampaignOptions {
        seconds,
        params: (seed_bugs != 0)
            .then(|| format!("seed_bugs={seed_bugs}"))
            .into_iter()
            .collect(),
        ..CampaignOptions::new(
            project.config.fuzz_target(name).unwrap().clone(),
            ksock_vm::catalog::DEFAULT_KERNEL,
            out.to_path_buf(),
        )
    };
    campaign::run(&cache, &project, &opts).unwrap()
}

fn titles(r: &CampaignReport) -> Vec<&str> {
    r.findings.iter().map(|f| f.title.as_str()).collect()
}

/// The finding titled `title` was saved with its input and a decoded, readable sequence.
fn assert_saved(r: &CampaignReport, title: &str, op_word: &str) {
    let f = r
        .findings
        .iter()
        .find(|f| f.title == title)
        .unwrap_or_else(|| panic!("no finding {title:?}; found {:?}", titles(r)));
    // The input may be empty: libFuzzer starts with it, and it decodes to one op.
    assert!(f.dir.join("input.bin").is_file());
    let report = std::fs::read_to_string(f.dir.join("report.txt")).unwrap();
    assert!(report.contains(&format!("title: {title}")), "{report}");
    assert!(report.contains(op_word), "no decoded op in:\n{report}");
    let seq: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(f.dir.join("sequence.json")).unwrap()).unwrap();
    assert!(!seq.is_empty());
}

#[test]
fn sockopt_seed_bugs_are_found_and_saved() {
    let out = tempfile::tempdir().unwrap();
    let r = campaign("sockopt", 1, 20, out.path());
    assert_saved(&r, "set reads past optlen in ksock_sockopt", "set opt=");
    assert_saved(&r, "get writes past optlen in ksock_sockopt", "get opt=");
    assert!(r.execs > 100, "only {} execs", r.execs);
    assert!(r.coverage.contains("instrumented points of ksock_sockopt"));
}

#[test]
fn a_panic_is_a_finding_and_the_campaign_goes_on() {
    let out = tempfile::tempdir().unwrap();
    let r = campaign("sockopt", 3, 40, out.path());
    let crash = "BUG: kernel NULL pointer dereference in ksock_sockopt_get";
    assert_saved(&r, crash, "len=Zero");
    let report = std::fs::read_to_string(
        r.findings
            .iter()
            .find(|f| f.title == crash)
            .unwrap()
            .dir
            .join("report.txt"),
    )
    .unwrap();
    // The input that crashed holds the planted trigger: a full set, then a zero-length get.
    assert!(report.contains("len=Capacity"), "{report}");
    assert!(
        report.contains("Kernel panic"),
        "no console excerpt:\n{report}"
    );
    assert!(
        r.boots >= 2,
        "the campaign did not boot again after the panic"
    );
    assert!(titles(&r).contains(&"set reads past optlen in ksock_sockopt"));
}

#[test]
fn the_servers_receive_path_bug_is_found_by_message_sequences() {
    let out = tempfile::tempdir().unwrap();
    let r = campaign("server", 1, 120, out.path());
    assert_saved(
        &r,
        "ksock_server logs bytes it did not receive",
        "send conn=",
    );
}

#[test]
fn a_correct_module_gives_no_finding() {
    let out = tempfile::tempdir().unwrap();
    let r = campaign("sockopt", 0, 30, out.path());
    assert!(r.findings.is_empty(), "false positives: {:?}", titles(&r));
    assert!(r.execs > 100, "only {} execs", r.execs);
}

#[test]
fn the_clients_send_path_bug_is_found_by_loads_with_arbitrary_parameters() {
    let out = tempfile::tempdir().unwrap();
    let r = campaign("client", 1, 20, out.path());
    assert_saved(
        &r,
        "ksock_client sends bytes it was not given",
        "load port=",
    );
    assert!(r.coverage.contains("instrumented points of ksock_client"));
}

#[test]
fn mixed_sequences_interleave_sockopt_calls_and_messages_over_two_modules() {
    let out = tempfile::tempdir().unwrap();
    let r = campaign("mixed", 1, 30, out.path());
    assert_saved(
        &r,
        "set reads past optlen in ksock_sockopt",
        "sockopt: set opt=",
    );
    assert!(
        r.coverage
            .contains("instrumented points of ksock_sockopt + ksock_server"),
        "{}",
        r.coverage
    );
    // The corpus keeps inputs that mix both languages: coverage came from both modules.
    let mixed = std::fs::read_dir(&r.corpus)
        .unwrap()
        .flatten()
        .map(|e| std::fs::read(e.path()).unwrap())
        .filter(|b| {
            let steps = ksock_fuzz::lang::mixed::decode(b, 32);
            ksock_fuzz::lang::mixed::split(&steps) == ksock_fuzz::lang::mixed::Split::Both
        })
        .count();
    assert!(mixed > 0, "no corpus input interleaves calls and messages");
}
