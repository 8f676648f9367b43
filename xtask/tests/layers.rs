//! vm/ is layered: each module of `ksock-vm` imports only from its own layer or the ones
//! below, and no modules import each other in a cycle (within a layer either). The layers
//! are the table in `vm/src/lib.rs`'s docs (`| 1 | [`host`] | … |`: a top-level module and
//! everything under it); this test reads that table, so it is the only one.
//!
//! An import is a `use crate::…`/`use super::…`/`use self::…` (or a child module's name in a
//! `mod.rs`), or a `crate::…`/`super::…` path in code, macros' arguments included. It points
//! to the longest module its path names; the re-exports in `lib.rs` (the old flat paths, such
//! as `crate::Error`) are followed to where they lead.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use proc_macro2::{TokenStream, TokenTree};

fn vm_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("vm/src")
}

/// One source file of the crate under test.
struct Source {
    /// `host::cache`; empty for the crate root.
    module: Vec<String>,
    /// For messages: `vm/src/host/cache.rs`.
    file: String,
    text: String,
}

/// vm's module files, named by their module paths.
fn vm_sources() -> Vec<Source> {
    let src = vm_src();
    let mut out = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p.strip_prefix(&src).unwrap().with_extension("");
            let mut module: Vec<String> = rel
                .iter()
                .map(|s| s.to_string_lossy().to_string())
                .collect();
            if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
                module.pop();
            }
            out.push(Source {
                module,
                file: format!("vm/src/{}", p.strip_prefix(&src).unwrap().display()),
                text: std::fs::read_to_string(&p).unwrap(),
            });
        }
    }
    out.sort_by(|a, b| a.module.cmp(&b.module));
    out
}

/// The layer table in the crate root's docs: top-level module → layer number.
fn layer_table(lib_rs: &str) -> BTreeMap<String, u32> {
    let mut table = BTreeMap::new();
    for line in lib_rs.lines() {
        let Some(row) = line.strip_prefix("//! |") else {
            continue;
        };
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (Some(n), Some(m)) = (cells.first(), cells.get(1)) else {
            continue;
        };
        let (Ok(n), Some(name)) = (n.parse::<u32>(), m.split('`').nth(1)) else {
            continue;
        };
        table.insert(name.to_string(), n);
    }
    table
}

/// An import as written, where it is.
#[derive(Clone)]
struct Import {
    path: Vec<String>,
    line: usize,
}

/// Every import of one file, each with the module (inline ones included) it is written in.
struct Imports {
    module: Vec<String>,
    found: Found,
}

impl Imports {
    fn add(&mut self, path: Vec<String>, line: usize) {
        self.found
            .push((self.module.clone(), Import { path, line }));
    }

    fn add_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.add_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                let mut path = prefix.clone();
                if n.ident != "self" {
                    path.push(n.ident.to_string());
                }
                self.add(path, n.ident.span().start().line);
            }
            syn::UseTree::Rename(r) => {
                let mut path = prefix.clone();
                path.push(r.ident.to_string());
                self.add(path, r.ident.span().start().line);
            }
            syn::UseTree::Glob(g) => self.add(prefix.clone(), g.star_token.spans[0].start().line),
            syn::UseTree::Group(g) => g.items.iter().for_each(|t| self.add_tree(prefix, t)),
        }
    }

    /// `crate::a::b` and `super::a` paths among a macro's tokens.
    fn add_tokens(&mut self, tokens: TokenStream) {
        let flat = flatten(tokens);
        for (i, t) in flat.iter().enumerate() {
            let TokenTree::Ident(start) = t else { continue };
            // Not the tail of a longer path (`$crate`'s, another crate's `x::crate`).
            let leads = i < 2 || !is_colons(&flat, i - 2);
            if !(start == "crate" || start == "super") || !leads {
                continue;
            }
            let mut path = vec![start.to_string()];
            let mut j = i + 1;
            while is_colons(&flat, j) {
                let Some(TokenTree::Ident(next)) = flat.get(j + 2) else {
                    break;
                };
                path.push(next.to_string());
                j += 3;
            }
            self.add(path, start.span().start().line);
        }
    }
}

fn flatten(tokens: TokenStream) -> Vec<TokenTree> {
    let mut out = Vec::new();
    for t in tokens {
        match t {
            TokenTree::Group(g) => out.extend(flatten(g.stream())),
            t => out.push(t),
        }
    }
    out
}

/// Whether `flat[at..]` starts with `::`.
fn is_colons(flat: &[TokenTree], at: usize) -> bool {
    let colon =
        |t: Option<&TokenTree>| matches!(t, Some(TokenTree::Punct(p)) if p.as_char() == ':');
    colon(flat.get(at)) && colon(flat.get(at + 1))
}

impl<'a> syn::visit::Visit<'a> for Imports {
    fn visit_item_use(&mut self, u: &'a syn::ItemUse) {
        self.add_tree(&mut Vec::new(), &u.tree);
    }
    fn visit_path(&mut self, p: &'a syn::Path) {
        let path: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
        if matches!(path.first().map(String::as_str), Some("crate" | "super")) {
            self.add(path, p.segments[0].ident.span().start().line);
        }
        syn::visit::visit_path(self, p);
    }
    fn visit_visibility(&mut self, _: &'a syn::Visibility) {
        // `pub(crate)` names the crate, not an import.
    }
    fn visit_macro(&mut self, m: &'a syn::Macro) {
        self.add_tokens(m.tokens.clone());
        syn::visit::visit_macro(self, m);
    }
    fn visit_item_mod(&mut self, m: &'a syn::ItemMod) {
        self.module.push(m.ident.to_string());
        syn::visit::visit_item_mod(self, m);
        self.module.pop();
    }
}

/// Imports as found: each with the module (inline ones included) it is written in.
type Found = Vec<(Vec<String>, Import)>;

/// The crate as a graph: each module's file and imports, and where the root's re-exports lead.
struct Crate {
    modules: BTreeMap<Vec<String>, (String, Found)>,
    /// `Error` → `host::error::Error`: the root's `pub use`s.
    aliases: BTreeMap<String, Vec<String>>,
}

impl Crate {
    fn parse(sources: &[Source]) -> Self {
        let mut modules = BTreeMap::new();
        let mut aliases = BTreeMap::new();
        for s in sources {
            let file = syn::parse_file(&s.text).unwrap_or_else(|e| panic!("{}: {e}", s.file));
            let mut v = Imports {
                module: s.module.clone(),
                found: Vec::new(),
            };
            syn::visit::Visit::visit_file(&mut v, &file);
            if s.module.is_empty() {
                for item in &file.items {
                    if let syn::Item::Use(u) = item {
                        let mut at = Imports {
                            module: Vec::new(),
                            found: Vec::new(),
                        };
                        at.add_tree(&mut Vec::new(), &u.tree);
                        for (_, i) in at.found {
                            let p = i
                                .path
                                .strip_prefix(&["crate".to_string()])
                                .unwrap_or(&i.path);
                            aliases.insert(p.last().unwrap().clone(), p.to_vec());
                        }
                    }
                }
            }
            modules.insert(s.module.clone(), (s.file.clone(), v.found));
        }
        Crate { modules, aliases }
    }

    /// The module `path`, written in module `at`, points to; `None` for another crate.
    fn resolve(&self, at: &[String], path: &[String]) -> Option<Vec<String>> {
        let mut base = at.to_vec();
        let mut rest = path;
        match path.first()?.as_str() {
            "crate" => {
                base.clear();
                rest = &path[1..];
                if let Some(target) = rest.first().and_then(|f| self.aliases.get(f)) {
                    let mut full = target.clone();
                    full.extend_from_slice(&rest[1..]);
                    return Some(self.longest_module(&full));
                }
            }
            "self" => rest = &path[1..],
            "super" => {
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop();
                    rest = &rest[1..];
                }
            }
            first => {
                let mut child = at.to_vec();
                child.push(first.to_string());
                if !self.modules.contains_key(&child) {
                    return None;
                }
            }
        }
        base.extend_from_slice(rest);
        Some(self.longest_module(&base))
    }

    fn longest_module(&self, path: &[String]) -> Vec<String> {
        (0..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|p| self.modules.contains_key(p))
            .unwrap_or_default()
    }

    /// Module → module, with the first import that makes each edge (file, import).
    fn edges(&self) -> BTreeMap<(Vec<String>, Vec<String>), (String, Import)> {
        let mut edges = BTreeMap::new();
        for (module, (file, imports)) in &self.modules {
            for (at, import) in imports {
                let Some(to) = self.resolve(at, &import.path) else {
                    continue;
                };
                if &to != module {
                    edges
                        .entry((module.clone(), to))
                        .or_insert_with(|| (file.clone(), import.clone()));
                }
            }
        }
        edges
    }
}

fn name(module: &[String]) -> String {
    if module.is_empty() {
        "the crate root".into()
    } else {
        module.join("::")
    }
}

fn shown(file: &str, i: &Import) -> String {
    format!("{file}:{}: `{}`", i.line, i.path.join("::"))
}

/// Imports that point up a layer, or into the crate root, or come from a module in no layer.
fn upward_imports(krate: &Crate, table: &BTreeMap<String, u32>) -> Vec<String> {
    let layer = |m: &[String]| m.first().and_then(|top| table.get(top).copied());
    let mut bad = Vec::new();
    for (module, (file, _)) in &krate.modules {
        if !module.is_empty() && layer(module).is_none() {
            bad.push(format!(
                "{file}: module {} is in no layer; add its top module to the table in lib.rs",
                name(module)
            ));
        }
    }
    for ((from, to), (file, import)) in krate.edges() {
        if from.is_empty() {
            continue; // The root only declares the layers and re-exports.
        }
        let (Some(lf), lt) = (layer(&from), layer(&to)) else {
            continue;
        };
        match lt {
            None => bad.push(format!(
                "{}: {} (layer {lf}) uses an item of the crate root, which holds only the \
                 layer table and re-exports",
                shown(&file, &import),
                name(&from)
            )),
            Some(lt) if lt > lf => bad.push(format!(
                "{}: {} (layer {lf}, `{}`) imports {} from layer {lt} (`{}`) above it",
                shown(&file, &import),
                name(&from),
                from[0],
                name(&to),
                to[0]
            )),
            Some(_) => {}
        }
    }
    bad
}

/// Cycles among the modules: one per module that some cycle goes through first, each shown
/// as the imports around it.
fn cycles(krate: &Crate) -> Vec<String> {
    let edges = krate.edges();
    let mut next: BTreeMap<&Vec<String>, Vec<&Vec<String>>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        if !from.is_empty() && !to.is_empty() {
            next.entry(from).or_default().push(to);
        }
    }
    let mut found = Vec::new();
    let mut in_a_cycle = BTreeSet::new();
    for start in next.keys() {
        if in_a_cycle.contains(*start) {
            continue;
        }
        // Breadth-first from `start` back to it: the shortest cycle through it.
        let mut came_from: BTreeMap<&Vec<String>, &Vec<String>> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([*start]);
        while let Some(m) = queue.pop_front() {
            for &t in next.get(m).into_iter().flatten() {
                if t == *start {
                    let mut cycle = vec![m];
                    while let Some(&p) = came_from.get(cycle.last().unwrap()) {
                        cycle.push(p);
                    }
                    cycle.reverse();
                    cycle.push(start);
                    in_a_cycle.extend(cycle.iter().map(|m| (*m).clone()));
                    let steps: Vec<String> = cycle
                        .windows(2)
                        .map(|w| {
                            let (file, i) = &edges[&(w[0].clone(), w[1].clone())];
                            format!("  {} → {}: {}", name(w[0]), name(w[1]), shown(file, i))
                        })
                        .collect();
                    found.push(format!(
                        "a cycle through {}:\n{}",
                        name(start),
                        steps.join("\n")
                    ));
                    queue.clear();
                    break;
                }
                if t != *start && !came_from.contains_key(t) {
                    came_from.insert(t, m);
                    queue.push_back(t);
                }
            }
        }
    }
    found
}

fn check(sources: &[Source]) -> (Vec<String>, Vec<String>) {
    let root = sources
        .iter()
        .find(|s| s.module.is_empty())
        .expect("a crate root");
    let table = layer_table(&root.text);
    assert!(!table.is_empty(), "{}: no layer table", root.file);
    let krate = Crate::parse(sources);
    (upward_imports(&krate, &table), cycles(&krate))
}

#[test]
fn vm_imports_only_from_its_own_layer_or_below() {
    let (upward, _) = check(&vm_sources());
    assert!(
        upward.is_empty(),
        "imports against vm's layers (the table in vm/src/lib.rs):\n{}",
        upward.join("\n")
    );
}

#[test]
fn vm_modules_import_each_other_in_no_cycle() {
    let (_, cycles) = check(&vm_sources());
    assert!(
        cycles.is_empty(),
        "vm's modules import in cycles:\n{}",
        cycles.join("\n")
    );
}

#[test]
fn the_layer_table_names_every_top_module_of_vm() {
    let sources = vm_sources();
    let root = sources.iter().find(|s| s.module.is_empty()).unwrap();
    let table = layer_table(&root.text);
    let tops: BTreeSet<String> = sources
        .iter()
        .filter_map(|s| s.module.first().cloned())
        .collect();
    let named: BTreeSet<String> = table.keys().cloned().collect();
    assert_eq!(
        tops, named,
        "vm's top modules (left) and lib.rs's layer table (right)"
    );
}

fn source(module: &str, text: &str) -> Source {
    let module: Vec<String> = module
        .split("::")
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    Source {
        file: format!(
            "{}.rs",
            if module.is_empty() {
                "lib".into()
            } else {
                module.join("/")
            }
        ),
        module,
        text: text.to_string(),
    }
}

/// The checks themselves fail where they should: on a made-up crate with an upward import,
/// one through a root re-export and in a macro, and a cycle within a layer.
#[test]
fn the_checks_catch_upward_imports_and_cycles() {
    let lib = "//! | layer | module |\n//! |---|---|\n//! | 1 | [`low`] |\n//! | 2 | [`high`] |\n\
               pub mod low; pub mod high; pub use high::thing::Thing;";
    let sources = [
        source("", lib),
        source("low", "pub mod a; pub mod b;"),
        source("low::a", "use crate::low::b::f; fn g() { f(); }"),
        source("low::b", "pub fn f() { super::a::g(); }"),
        source("high", "pub mod thing;"),
        source("high::thing", "pub struct Thing; use crate::low::a;"),
        source(
            "low::c",
            "fn h() { let _ = crate::Thing; println!(\"{}\", crate::high::x()); }",
        ),
    ];
    let (upward, cycles) = check(&sources);
    let all = upward.join("\n");
    assert!(
        all.contains("low/c.rs:1: `crate::Thing`: low::c (layer 1, `low`) imports high::thing from layer 2 (`high`) above it"),
        "{all}"
    );
    assert!(
        all.contains("`crate::high::x`"),
        "an import in a macro: {all}"
    );
    assert_eq!(upward.len(), 2, "{all}");
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert!(
        cycles[0].contains("low::a → low::b: low/a.rs:1: `crate::low::b::f`")
            && cycles[0].contains("low::b → low::a: low/b.rs:1: `super::a::g`"),
        "{}",
        cycles[0]
    );
}
