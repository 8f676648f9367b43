//! Every file in tests/malformed/ is a spec with one mistake. Its first line says
//! `# expect: TEXT`; reading it must fail with a message containing TEXT and a real
//! `file:line:col` position.

use std::path::Path;

#[test]
fn each_malformed_spec_is_rejected_with_position_and_message() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed");
    let known = vec!["ksock_hello".to_string()];
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 15, "only {} malformed specs", files.len());
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let want = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{}: first line must be `# expect: …`", f.display()));
        let err = ksock_spec::load_file(&f, &known)
            .map(|_| ())
            .expect_err(&format!("{} was accepted", f.display()));
        let shown = err.to_string();
        assert!(
            shown.contains(want),
            "{}: message {shown:?} lacks {want:?}",
            f.display()
        );
        assert!(err.line >= 2, "{}: no real line in {shown:?}", f.display());
        assert!(err.col >= 1);
        let prefix = format!("{}:{}:{}: ", f.display(), err.line, err.col);
        assert!(
            shown.starts_with(&prefix),
            "{shown:?} does not start with {prefix:?}"
        );
    }
}

/// Module names from `kmods/*/Kbuild` (`obj-m := name.o`).
fn kmods_names() -> Vec<String> {
    let kmods = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kmods");
    let mut names = Vec::new();
    for e in std::fs::read_dir(kmods).unwrap().flatten() {
        let Ok(text) = std::fs::read_to_string(e.path().join("Kbuild")) else {
            continue;
        };
        for l in text.lines() {
            if let Some(rest) = l.trim().strip_prefix("obj-m") {
                let objs = rest.trim_start_matches([' ', ':', '+', '=']);
                names.extend(
                    objs.split_whitespace()
                        .filter_map(|o| o.strip_suffix(".o"))
                        .map(String::from),
                );
            }
        }
    }
    names
}

#[test]
fn the_shipped_specs_all_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs");
    let known = kmods_names();
    assert!(known.len() >= 4, "{known:?}");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "yaml") {
            ksock_spec::load_file(&p, &known).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n >= 3);
}

#[test]
fn an_unreadable_file_names_the_file_without_a_fake_position() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("latin1.yaml");
    // "description: caf\xe9" in Latin-1: not UTF-8.
    std::fs::write(&f, b"description: caf\xe9\nsteps: []\n").unwrap();
    let err = ksock_spec::load_file(&f, &[]).unwrap_err().to_string();
    let want = format!("{}: cannot read: ", f.display());
    assert!(
        err.starts_with(&want),
        "{err:?} does not start with {want:?}"
    );
    assert!(!err.contains(":0:"), "fake position in {err:?}");
}
