//! The shape issue 27 asked for, checked on the source: `platform/` imports no
//! feature folder, and no import circle joins feature folders. A feature's
//! dependencies are the `crate::<folder>` paths its files name; a new one that closes
//! a circle (platform importing a feature to run its job or build its state, say)
//! fails here with the circle it made.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Each top-level module of the app crate, with the other modules its files name.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../app/src");
    let mut modules = BTreeMap::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        if name != "lib" {
            modules.insert(name, path);
        }
    }
    let mut graph = BTreeMap::new();
    for (name, path) in &modules {
        let mut files = Vec::new();
        if path.is_dir() {
            rust_files(path, &mut files);
        } else {
            files.push(path.clone());
        }
        let mut uses = BTreeSet::new();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (at, _) in text.match_indices("crate::") {
                let rest = &text[at + "crate::".len()..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                    .unwrap_or(rest.len());
                let target = &rest[..end];
                if target != name && modules.contains_key(target) {
                    uses.insert(target.to_string());
                }
            }
        }
        graph.insert(name.clone(), uses);
    }
    graph
}

/// A circle through `start`, if there is one: the path back to it.
fn circle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![vec![start.to_string()]];
    let mut seen = BTreeSet::new();
    while let Some(path) = stack.pop() {
        let last = path.last().unwrap();
        for next in &graph[last] {
            if next == start {
                let mut circle = path.clone();
                circle.push(next.clone());
                return Some(circle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push(longer);
            }
        }
    }
    None
}

#[test]
fn platform_imports_no_feature() {
    let graph = imports();
    assert!(graph.contains_key("platform") && graph.contains_key("oauth"));
    assert_eq!(
        graph["platform"],
        BTreeSet::new(),
        "platform/ keeps the mechanisms; server/src/compose.rs composes the features"
    );
}

#[test]
fn no_import_circle_between_features() {
    let graph = imports();
    for module in graph.keys() {
        if let Some(circle) = circle_from(&graph, module) {
            panic!("import circle: {}", circle.join(" -> "));
        }
    }
}
