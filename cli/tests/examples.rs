//! The examples run as written, from a copy outside the repository, with the `ksock`
//! program only: `examples/seed_server` (seed 000's server, whose init blocks in accept)
//! passes with a background load on 7.2 and 6.1; and a spec whose background load never returns fails
//! saying so, while the spec after it still passes on a fresh guest.

mod common;

use std::path::{Path, PathBuf};

use common::{chown_tree, ksock, ordinary_user};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_name() == "target" {
            continue;
        }
        if src.is_dir() {
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// `examples/<name>` copied into a temporary directory the test user owns, and the program.
fn example(name: &str, tmp: &Path, user: &Option<(u32, u32, PathBuf)>) -> (PathBuf, PathBuf) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name);
    let dir = tmp.join(name);
    copy_dir(&src, &dir);
    let bin = tmp.join("ksock");
    std::fs::copy(env!("CARGO_BIN_EXE_ksock"), &bin).unwrap();
    if let Some((uid, gid, _)) = user {
        chown_tree(tmp, *uid, *gid);
    }
    (dir, bin)
}

/// The JSON report's verdicts: (spec@kernel, status, what failed).
fn verdicts(json: &Path) -> Vec<(String, String, String)> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    v["verdicts"]
        .as_array()
        .expect("verdicts")
        .iter()
        .map(|x| {
            (
                format!(
                    "{}@{}",
                    x["spec"].as_str().unwrap_or_default(),
                    x["kernel"].as_str().unwrap_or_default()
                ),
                x["status"].as_str().unwrap_or_default().to_string(),
                x["failure"]["actual"].to_string(),
            )
        })
        .collect()
}

#[test]
fn seed_server_runs_with_a_background_load_and_a_blocked_init_is_named() {
    let user = ordinary_user();
    let tmp = tempfile::tempdir().unwrap();
    let (dir, bin) = example("seed_server", tmp.path(), &user);
    // A spec whose init never returns (nobody connects), then one that needs port 8888
    // free: it passes only on a new guest. (The blocked one does not wait for the port:
    // the article's server binds without SO_REUSEADDR, so right after the first spec its
    // bind may meet that connection's TIME_WAIT, and it then accepts on another port.)
    let specs = dir.join("specs");
    std::fs::write(
        specs.join("seed_server-blocked-init.yaml"),
        "steps:\n  - load: {module: seed_server, background: init}\n  \
         - sleep: 500\n  - join: init\n",
    )
    .unwrap();
    std::fs::copy(
        specs.join("seed_server-accepts-one-client.yaml"),
        specs.join("seed_server-runs-again-after-it.yaml"),
    )
    .unwrap();
    if let Some((uid, gid, _)) = &user {
        chown_tree(&specs, *uid, *gid);
    }
    let json = dir.join("verdicts.json");
    let out = ksock(
        &bin,
        &dir,
        &user,
        &[
            "run",
            "--kernel",
            "7.2",
            "--kernel",
            "6.1",
            "--json",
            json.to_str().unwrap(),
        ],
    );
    let log = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "one spec fails on purpose:\n{log}");
    let v = verdicts(&json);
    let find = |name: &str| {
        v.iter()
            .find(|x| x.0 == name)
            .unwrap_or_else(|| panic!("{name}: {v:?}\n{log}"))
    };
    for k in ["7.2", "6.1"] {
        let at = |spec: &str| find(&format!("{spec}@{k}"));
        assert_eq!(at("seed_server-accepts-one-client").1, "pass", "{k}\n{log}");
        assert_eq!(
            at("seed_server-runs-again-after-it").1,
            "pass",
            "{k}\n{log}"
        );
        let blocked = at("seed_server-blocked-init");
        assert_eq!(blocked.1, "fail", "{k}\n{log}");
        assert!(
            blocked.2.contains("init has not returned"),
            "the failure names the blocked init: {blocked:?}"
        );
    }
}
