//! What the guest-tier tests of the `ksock` command share: an ordinary user to run it as
//! (made when the test runs as root, as CI does), and running it as that user.

#![allow(dead_code)] // Each test binary uses its own part.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const USER: &str = "ksock-test";

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The ordinary user's uid, gid and home: `ksock-test` (made once) when run as root.
pub fn ordinary_user() -> Option<(u32, u32, PathBuf)> {
    if !is_root() {
        return None;
    }
    ksock::setup().expect("host packages, as root");
    let exists = Command::new("id")
        .arg(USER)
        .output()
        .unwrap()
        .status
        .success();
    if !exists {
        let st = Command::new("useradd")
            .args(["--create-home", "--shell", "/bin/sh", USER])
            .status()
            .unwrap();
        assert!(st.success(), "useradd {USER}");
    }
    let id = |flag: &str| -> u32 {
        let o = Command::new("id").args([flag, USER]).output().unwrap();
        String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()
    };
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let home = passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f[0] == USER).then(|| PathBuf::from(f[5]))
        })
        .expect("a home directory");
    Some((id("-u"), id("-g"), home))
}

/// `ksock args` in `dir`, as the ordinary user, with nothing of this process's environment.
pub fn ksock(bin: &Path, dir: &Path, user: &Option<(u32, u32, PathBuf)>, args: &[&str]) -> Output {
    let mut cmd = match user {
        Some((_, _, home)) => {
            let mut c = Command::new("runuser");
            c.args(["-u", USER, "--", "env", "-i"])
                .arg(format!("HOME={}", home.display()))
                .arg(format!("USER={USER}"))
                .arg("PATH=/usr/bin:/bin")
                .arg(bin);
            c
        }
        None => Command::new(bin),
    };
    cmd.args(args).current_dir(dir).output().unwrap()
}

pub fn chown_tree(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(p, Some(uid), Some(gid)).unwrap();
    if p.is_dir() {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            chown_tree(&e.path(), uid, gid);
        }
    }
}

/// A C module project in `tmp` as a user starts it: `tmp/<name>/` with a Kbuild and
/// `<name>.c` holding `source`, the user's own copy of the program (`tmp/ksock`: this
/// checkout may be where they cannot read), and `ksock init` run in it, all the user's.
/// Returns the project directory and the program.
pub fn users_project(
    tmp: &Path,
    name: &str,
    source: &str,
    user: &Option<(u32, u32, PathBuf)>,
) -> (PathBuf, PathBuf) {
    let dir = tmp.join(name);
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("Kbuild"), format!("obj-m := {name}.o\n")).unwrap();
    std::fs::write(dir.join(format!("{name}.c")), source).unwrap();
    let bin = tmp.join("ksock");
    std::fs::copy(env!("CARGO_BIN_EXE_ksock"), &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    if let Some((uid, gid, _)) = user {
        std::fs::set_permissions(tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
        chown_tree(tmp, *uid, *gid);
    }
    let init = ksock(&bin, &dir, user, &["init"]);
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    (dir, bin)
}

/// `findings/<title>/` of `target`'s campaign on `kernel` (its one `<release>-c` directory).
pub fn finding_dir(project: &Path, target: &str, kernel: &str, title: &str) -> PathBuf {
    let base = project.join("target/ksock/fuzz").join(target);
    let run = std::fs::read_dir(&base)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            name.starts_with(&format!("{kernel}.")) && name.ends_with("-c")
        })
        .unwrap_or_else(|| panic!("no campaign directory for {kernel} in {}", base.display()));
    run.join("findings").join(ksock_fuzz::titles::slug(title))
}

/// A finding saved as the README says: `report.txt` first says `title: …` and holds the
/// decoded sequence (a line with `op_word`), beside `sequence.json` and `input.bin`.
/// `context` is printed when the report is missing.
pub fn assert_saved(f: &Path, title: &str, op_word: &str, context: &str) {
    let report = std::fs::read_to_string(f.join("report.txt"))
        .unwrap_or_else(|e| panic!("{}: {e}\n{context}", f.display()));
    assert_eq!(
        report.lines().next(),
        Some(format!("title: {title}").as_str()),
        "{report}"
    );
    assert!(
        report.contains(op_word),
        "no decoded sequence in:\n{report}"
    );
    let seq: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(f.join("sequence.json")).unwrap()).unwrap();
    assert!(!seq.is_empty());
    assert!(f.join("input.bin").is_file());
}

/// `ksock repro <finding> --kernel K` in the project, which must succeed: the regression
/// spec it wrote (`specs/regressions/<title>.yaml`) and the command's output.
pub fn repro(
    bin: &Path,
    dir: &Path,
    user: &Option<(u32, u32, PathBuf)>,
    kernel: &str,
    finding: &Path,
    title: &str,
) -> (String, String) {
    let run = ksock(
        bin,
        dir,
        user,
        &["repro", &finding.to_string_lossy(), "--kernel", kernel],
    );
    let out = String::from_utf8_lossy(&run.stdout).into_owned();
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{out}\n{err}");
    let name = ksock_fuzz::titles::slug(title);
    let spec = dir.join(format!("specs/regressions/{name}.yaml"));
    let yaml =
        std::fs::read_to_string(&spec).unwrap_or_else(|e| panic!("{}: {e}\n{out}", spec.display()));
    (yaml, out)
}
