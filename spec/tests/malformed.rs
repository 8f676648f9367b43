//! Every file in tests/malformed/ is a spec with one mistake. Its first line says
//! `# expect: TEXT`; reading it must fail with a message containing TEXT and a real
//! `file:line:col` position.

use std::path::Path;

mod common;

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

#[test]
fn the_shipped_specs_all_parse() {
    let known = common::kmods_names();
    assert!(known.len() >= 4, "{known:?}");
    let files = common::shipped_specs();
    for p in &files {
        ksock_spec::load_file(p, &known).unwrap_or_else(|e| panic!("{e}"));
    }
    assert!(files.len() >= 3);
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
