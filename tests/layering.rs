//! The layers' arrows point down, and nothing imports in a circle (issue 22
//! item 2), checked on the source itself so that a new `use` that runs back
//! up fails the suite, not a reviewer's patience:
//! - `domain` imports nothing of ours; `events` nothing of `app`, `http` or
//!   `webhooks`; `app` nothing of `http`, `webhooks`, the server or the
//!   command line; `webhooks` nothing of `http`; `ingest` (a broker's
//!   consumer) nothing of `http` or `webhooks`; `http` nothing of the
//!   server, the command line or `ingest`.
//! - In every folder (the crate's root included), no two modules import each
//!   other, directly or round a longer circle.
//!
//! A reference is any `crate::…` or `super::…` path outside a comment,
//! `use` groups (`crate::{a, b::c}`) included.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The top-level modules each layer must not reach.
const FORBIDDEN: &[(&str, &[&str])] = &[
    (
        "domain",
        &["app", "cli", "config", "connections", "events", "health", "http", "ingest", "server", "tls", "webhooks"],
    ),
    ("events", &["app", "cli", "config", "connections", "http", "ingest", "server", "tls", "webhooks"]),
    ("app", &["cli", "config", "connections", "http", "ingest", "server", "tls", "webhooks"]),
    ("webhooks", &["cli", "connections", "http", "ingest", "server", "tls"]),
    ("ingest", &["cli", "connections", "http", "server", "tls", "webhooks"]),
    ("http", &["cli", "ingest", "server"]),
];

/// A module's path from the crate root (`["app", "bookings", "create"]`).
type ModulePath = Vec<String>;

/// Every `.rs` file under `dir` with its module path.
fn modules(root: &Path, dir: &Path, found: &mut Vec<(ModulePath, PathBuf)>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            modules(root, &path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path.strip_prefix(root).unwrap().with_extension("");
            let mut segments: ModulePath = relative.iter().map(|s| s.to_string_lossy().into_owned()).collect();
            if matches!(segments.last().map(String::as_str), Some("mod" | "lib" | "main")) {
                segments.pop();
            }
            found.push((segments, path));
        }
    }
}

/// The source without comments (line comments and doc comments; a `//`
/// inside a string only hides the rest of its line).
fn code(source: &str) -> String {
    let mut kept = String::new();
    for line in source.lines() {
        let line = match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        };
        kept.push_str(line);
        kept.push('\n');
    }
    kept
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The paths that follow `at` (just past `crate::` or `super::`), `use`
/// groups expanded to their first segment each.
fn paths_from(text: &str) -> Vec<Vec<String>> {
    let mut segments = Vec::new();
    let mut rest = text;
    loop {
        if let Some(group) = rest.strip_prefix('{') {
            // One level of a `use` group: each member's first segments.
            let mut depth = 0;
            let mut member = String::new();
            let mut members = Vec::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => members.push(std::mem::take(&mut member)),
                    _ if depth == 0 => member.push(c),
                    _ => {}
                }
            }
            members.push(member);
            return members
                .iter()
                .map(|m| {
                    let mut path = segments.clone();
                    path.extend(m.split("::").map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned));
                    path
                })
                .collect();
        }
        let name: String = rest.chars().take_while(|&c| is_ident(c)).collect();
        if name.is_empty() {
            return vec![segments];
        }
        rest = &rest[name.len()..];
        segments.push(name);
        match rest.strip_prefix("::") {
            Some(next) => rest = next,
            None => return vec![segments],
        }
    }
}

/// Every absolute module path `module`'s code refers to.
fn references(module: &ModulePath, code: &str) -> Vec<ModulePath> {
    let mut found = Vec::new();
    for (keyword, base) in [("crate::", Vec::new()), ("super::", module[..module.len().saturating_sub(1)].to_vec())] {
        let mut from = 0;
        while let Some(at) = code[from..].find(keyword) {
            let start = from + at;
            from = start + keyword.len();
            if code[..start].chars().next_back().is_some_and(is_ident) {
                continue;
            }
            // `super::super::x`
            let mut base = base.clone();
            let mut rest = &code[from..];
            while let Some(next) = rest.strip_prefix("super::") {
                base.pop();
                rest = next;
            }
            for path in paths_from(rest) {
                let mut absolute = base.clone();
                absolute.extend(path);
                found.push(absolute);
            }
        }
    }
    found
}

/// The longest prefix of `path` that names a module.
fn resolve(path: &[String], known: &BTreeSet<ModulePath>) -> ModulePath {
    (0..=path.len()).rev().map(|n| path[..n].to_vec()).find(|p| known.contains(p)).unwrap_or_default()
}

/// A circle in `edges`, if any, as the modules round it.
fn circle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut round = stack[at..].to_vec();
            round.push(node.to_owned());
            return Some(round);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(round) = visit(next, edges, done, stack) {
                return Some(round);
            }
        }
        stack.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    edges.keys().find_map(|node| visit(node, edges, &mut done, &mut Vec::new()))
}

#[test]
fn lower_layers_import_no_higher_one_and_no_folder_has_a_circle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    modules(&root, &root, &mut files);
    let known: BTreeSet<ModulePath> = files.iter().map(|(m, _)| m.clone()).collect();
    let mut wrong = Vec::new();
    // Per folder (its module path, the root's being empty): child → children it uses.
    let mut folders: BTreeMap<ModulePath, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (module, path) in &files {
        let source = std::fs::read_to_string(path).expect("read source");
        for target in references(module, &code(&source)) {
            let target = resolve(&target, &known);
            if let (Some(from), Some(to)) = (module.first(), target.first()) {
                let forbidden = FORBIDDEN.iter().find(|(layer, _)| layer == from).map_or(&[][..], |(_, f)| f);
                if forbidden.contains(&to.as_str()) {
                    wrong.push(format!("{} imports {}", path.display(), target.join("::")));
                }
            }
            let common = module.iter().zip(&target).take_while(|(a, b)| a == b).count();
            if module.len() > common && target.len() > common {
                let folder = module[..common].to_vec();
                let edges = folders.entry(folder).or_default();
                edges.entry(module[common].clone()).or_default().insert(target[common].clone());
            }
        }
    }
    for (folder, edges) in &folders {
        if let Some(round) = circle(edges) {
            let folder = if folder.is_empty() { "crate".to_owned() } else { folder.join("::") };
            wrong.push(format!("a circle in {folder}: {}", round.join(" → ")));
        }
    }
    assert!(files.len() > 40, "read {} files from {}", files.len(), root.display());
    assert!(wrong.is_empty(), "arrows that run back up or round:\n{}", wrong.join("\n"));
}

#[test]
fn the_checker_sees_use_groups_super_paths_and_circles() {
    let module: ModulePath = vec!["app".into(), "bookings".into(), "create".into()];
    let found = references(&module, "use crate::{domain::Slot, events::{Bus, Delivery}};\nuse super::holds::Hold;");
    assert!(found.contains(&vec!["domain".into(), "Slot".into()]), "{found:?}");
    assert!(found.contains(&vec!["events".into()]), "{found:?}");
    assert!(found.contains(&vec!["app".into(), "bookings".into(), "holds".into(), "Hold".into()]), "{found:?}");
    assert!(
        references(&module, &code("/// [`crate::http::Router`]\nlet a = 1; // crate::http\n")).is_empty(),
        "comments are not code"
    );
    assert!(references(&module, "let x = my_crate::http;").is_empty(), "only whole words");
    let edges: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_owned(), BTreeSet::from(["b".to_owned()])),
        ("b".to_owned(), BTreeSet::from(["c".to_owned()])),
        ("c".to_owned(), BTreeSet::from(["a".to_owned()])),
    ]
    .into();
    assert_eq!(circle(&edges), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
    let mut acyclic = edges.clone();
    acyclic.remove("c");
    assert_eq!(circle(&acyclic), None);
}
