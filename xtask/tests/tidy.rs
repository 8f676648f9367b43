//! House rules, checked on every `cargo test` (rust-analyzer's tidy tests are the model):
//! things a reviewer would otherwise have to remember.
//!
//! - kmods: every source file starts with an SPDX line; `UnsafeCell` and `unsafe impl` stay
//!   in kmods/lib (modules use the kernel crate's locks and ksock's wrappers); every
//!   `unsafe` block has a `// SAFETY:` comment (clippy's `undocumented_unsafe_blocks`, which
//!   the cargo workspaces deny, cannot see kbuild-built code).
//! - Every crate of the workspace (and spec/fuzz/), kmods aside: no function over
//!   [`MAX_FN_LINES`] lines.
//! - Crate dependencies match the "depends on" column of ARCHITECTURE.md's code map.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The longest function a crate may hold (kmods aside).
const MAX_FN_LINES: usize = 80;

/// Where [`MAX_FN_LINES`] holds: every crate directory but kmods.
const FN_LENGTH_DIRS: &[&str] = &[
    "spec", "vm", "agent", "proto", "fuzz", "cli", "harness", "xtask",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Regular files (not symlinks) under `dir` whose names end in one of `exts`.
fn files(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let (path, ty) = (e.path(), e.file_type().unwrap());
            if ty.is_dir() && e.file_name() != "target" {
                stack.push(path);
            } else if ty.is_file() && exts.iter().any(|x| path.to_string_lossy().ends_with(x)) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn rel(p: &Path) -> String {
    p.strip_prefix(root()).unwrap().display().to_string()
}

#[test]
fn kmods_files_carry_spdx_headers() {
    let bad: Vec<String> = files(&root().join("kmods"), &[".rs", ".c", ".h"])
        .into_iter()
        .filter(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            !text
                .lines()
                .next()
                .unwrap_or("")
                .contains("SPDX-License-Identifier:")
        })
        .map(|p| rel(&p))
        .collect();
    assert!(bad.is_empty(), "no SPDX line at the top of: {bad:?}");
}

#[test]
fn kmods_share_state_through_the_kernel_crate_outside_lib() {
    let lib = root().join("kmods/lib");
    let mut bad = Vec::new();
    for p in files(&root().join("kmods"), &[".rs"]) {
        if p.starts_with(&lib) {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        for (i, l) in text.lines().enumerate() {
            if l.contains("UnsafeCell") || l.contains("unsafe impl") {
                bad.push(format!("{}:{}: {}", rel(&p), i + 1, l.trim()));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "use kernel::sync's locks or kmods/lib's wrappers instead:\n{}",
        bad.join("\n")
    );
}

#[test]
fn kmods_unsafe_blocks_say_why_they_are_sound() {
    let mut bad = Vec::new();
    for p in files(&root().join("kmods"), &[".rs"]) {
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            if !l.contains("unsafe {") || l.trim_start().starts_with("//") {
                continue;
            }
            // The comment sits right above the statement, which may start a few lines up
            // (`let x = unsafe {` after attributes, or inside a call's arguments).
            let above = lines[i.saturating_sub(6)..=i]
                .iter()
                .any(|a| a.contains("SAFETY:"));
            if !above {
                bad.push(format!("{}:{}: {}", rel(&p), i + 1, l.trim()));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "unsafe without `// SAFETY:`:\n{}",
        bad.join("\n")
    );
}

#[test]
fn cargo_workspaces_deny_undocumented_unsafe_blocks() {
    for manifest in ["Cargo.toml", "spec/fuzz/Cargo.toml"] {
        let text = std::fs::read_to_string(root().join(manifest)).unwrap();
        assert!(
            text.lines()
                .any(|l| l.replace(' ', "") == "undocumented_unsafe_blocks=\"deny\""),
            "{manifest}: `undocumented_unsafe_blocks = \"deny\"` missing from its lints"
        );
    }
    for p in files(&root(), &["Cargo.toml"]) {
        let text = std::fs::read_to_string(&p).unwrap();
        if text.contains("[package]") && !p.starts_with(root().join("spec/fuzz")) {
            assert!(
                text.contains("[lints]\nworkspace = true"),
                "{}: no `[lints] workspace = true`",
                rel(&p)
            );
        }
    }
}

/// Every `fn` (free, in an impl or a trait, nested too) with its length in lines, from the
/// `fn` keyword to the closing brace.
struct Lengths(Vec<(String, usize, usize)>);

impl Lengths {
    fn add(&mut self, name: &syn::Ident, sig: &syn::Signature, block: &syn::Block) {
        let start = sig.fn_token.span.start().line;
        let end = block.brace_token.span.close().end().line;
        self.0.push((name.to_string(), start, end + 1 - start));
    }
}

impl<'a> syn::visit::Visit<'a> for Lengths {
    fn visit_item_fn(&mut self, f: &'a syn::ItemFn) {
        self.add(&f.sig.ident, &f.sig, &f.block);
        syn::visit::visit_item_fn(self, f);
    }
    fn visit_impl_item_fn(&mut self, f: &'a syn::ImplItemFn) {
        self.add(&f.sig.ident, &f.sig, &f.block);
        syn::visit::visit_impl_item_fn(self, f);
    }
    fn visit_trait_item_fn(&mut self, f: &'a syn::TraitItemFn) {
        if let Some(b) = &f.default {
            self.add(&f.sig.ident, &f.sig, b);
        }
        syn::visit::visit_trait_item_fn(self, f);
    }
}

#[test]
fn functions_fit_on_a_screen() {
    let mut bad = Vec::new();
    for dir in FN_LENGTH_DIRS {
        for p in files(&root().join(dir), &[".rs"]) {
            let text = std::fs::read_to_string(&p).unwrap();
            let file = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", rel(&p)));
            let mut v = Lengths(Vec::new());
            syn::visit::Visit::visit_file(&mut v, &file);
            for (name, line, len) in v.0 {
                if len > MAX_FN_LINES {
                    bad.push(format!("{}:{line}: fn {name} is {len} lines", rel(&p)));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "functions over {MAX_FN_LINES} lines (split them into named steps):\n{}",
        bad.join("\n")
    );
}

/// The "depends on" column of ARCHITECTURE.md's code map: crate → the ksock crates it
/// may use.
fn documented_deps() -> BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let mut rows = text.lines().filter(|l| l.starts_with('|'));
    let header: Vec<String> = rows
        .next()
        .expect("a code map table")
        .split('|')
        .map(|c| c.trim().to_string())
        .collect();
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    let (krate, deps) = (col("crate"), col("depends on"));
    let ticked = |c: &str| -> Vec<String> {
        c.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    rows.filter_map(|r| {
        let cells: Vec<&str> = r.split('|').collect();
        let name = ticked(cells.get(krate)?).into_iter().next()?;
        let mut d = ticked(cells.get(deps)?);
        d.sort();
        Some((name, d))
    })
    .collect()
}

#[test]
fn crate_dependencies_match_architecture_md() {
    let meta = common::metadata();
    let mut actual = BTreeMap::new();
    for p in meta["packages"].as_array().unwrap() {
        let mut deps: Vec<String> = p["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["path"].is_string() && d["kind"].is_null())
            .map(|d| d["name"].as_str().unwrap().to_string())
            .collect();
        deps.sort();
        deps.dedup();
        actual.insert(p["name"].as_str().unwrap().to_string(), deps);
    }
    let documented = documented_deps();
    assert_eq!(
        documented, actual,
        "ARCHITECTURE.md's code map (left) and the Cargo manifests (right) disagree"
    );
}
