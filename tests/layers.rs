//! The layer rules of ARCHITECTURE.md ("Layers"), checked against the code:
//! every `crate::MODULE` that a top-level module's non-test code names must
//! be one its layer may use, and no two modules may depend on each other.
//! A new module must be given a rule here before it can be used.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// Each top-level module of `src/` and the modules it may use. Lower layers
/// first; a module may only use modules listed before it.
const RULES: &[(&str, &[&str])] = &[
    // Pure: no I/O, no exit-code policy. `cli` is the clap grammar only.
    ("chain", &[]),
    ("error", &[]),
    ("color", &[]),
    ("cli", &[]),
    ("cidr", &[]),
    ("protocol", &["chain", "error"]),
    // Small helpers, each with one job.
    ("attrs", &["error"]),
    ("backoff", &[]),
    ("ratelimit", &[]),
    ("tls", &["error"]),
    ("paths", &["error", "protocol"]),
    ("walk", &["error", "paths"]),
    // Tokens with scopes: the tokens file, authentication, what a grant allows.
    ("auth", &["chain", "paths"]),
    ("digests", &["attrs", "chain", "error"]),
    ("report", &["error"]),
    ("progress", &["cli", "color", "report"]),
    // The engine knows nothing of partial files; partial files implement
    // the engine's sink.
    ("transfer", &["attrs", "chain", "error", "protocol"]),
    (
        "partial",
        &["attrs", "chain", "error", "paths", "protocol", "transfer"],
    ),
    ("expiry", &["error", "partial", "paths", "walk"]),
    // Storage never imports the server.
    (
        "storage",
        &[
            "attrs", "chain", "error", "expiry", "partial", "paths", "protocol", "transfer", "walk",
        ],
    ),
    // The two ends of a connection never import each other.
    (
        "server",
        &[
            "attrs", "auth", "chain", "cidr", "error", "expiry", "partial", "paths", "protocol",
            "report", "storage", "tls", "transfer", "walk",
        ],
    ),
    (
        "client",
        &[
            "attrs",
            "backoff",
            "chain",
            "cidr",
            "digests",
            "error",
            "partial",
            "paths",
            "progress",
            "protocol",
            "ratelimit",
            "report",
            "tls",
            "transfer",
        ],
    ),
    // The edge: settings, jobs, commands.
    ("config", &["auth", "cidr", "cli", "error", "protocol"]),
    (
        "jobs",
        &[
            "cli", "client", "config", "digests", "error", "partial", "paths", "progress",
            "protocol", "report", "tls", "walk",
        ],
    ),
    (
        "commands",
        &[
            "auth", "cli", "client", "color", "config", "error", "jobs", "paths", "progress",
            "protocol", "report", "server", "storage", "tls",
        ],
    ),
];

/// Items of `lib.rs` itself that any module may use.
const ROOT_ITEMS: &[&str] = &["ws_config", "VERSION", "PATH_SEGMENT"];

/// The top-level module a file of `src/` belongs to.
fn top_module(rel: &Path) -> String {
    let first = rel.components().next().unwrap();
    let name = first.as_os_str().to_string_lossy();
    name.trim_end_matches(".rs").to_string()
}

/// The code of a file without its `#[cfg(test)]` module (tests may use
/// anything).
fn non_test_code(text: &str) -> &str {
    match text.find("#[cfg(test)]") {
        Some(at) => &text[..at],
        None => text,
    }
}

/// `crate::NAME` references in `code`, including `use crate::{a, b}`.
fn crate_refs(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.insert(name);
                }
            }
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            found.insert(name);
        }
    }
    found
}

fn collect(dir: &Path, src: &Path, deps: &mut BTreeMap<String, BTreeSet<String>>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, src, deps);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let rel = path.strip_prefix(src).unwrap();
        let module = top_module(rel);
        if module == "lib" || module == "main" {
            continue;
        }
        let text = fs::read_to_string(&path).unwrap();
        let refs = crate_refs(non_test_code(&text));
        let used = deps.entry(module.clone()).or_default();
        used.extend(refs.into_iter().filter(|r| *r != module));
    }
}

fn dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut deps = BTreeMap::new();
    collect(&src, &src, &mut deps);
    deps
}

#[test]
fn every_import_follows_the_layer_rules() {
    let rules: BTreeMap<&str, &[&str]> = RULES.iter().copied().collect();
    let mut broken = Vec::new();
    for (module, used) in dependencies() {
        let Some(allowed) = rules.get(module.as_str()) else {
            broken.push(format!("{module}: no rule in tests/layers.rs"));
            continue;
        };
        for dep in used {
            if !allowed.contains(&dep.as_str()) && !ROOT_ITEMS.contains(&dep.as_str()) {
                broken.push(format!("{module} uses {dep}"));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "layer rules broken:\n{}",
        broken.join("\n")
    );
}

/// The rules themselves form layers: a module only uses modules listed
/// before it, so no cycle is possible.
#[test]
fn the_rules_have_no_cycle() {
    let mut seen = BTreeSet::new();
    for (module, allowed) in RULES {
        for dep in *allowed {
            assert!(
                seen.contains(dep) || ROOT_ITEMS.contains(dep),
                "{module} may use {dep}, which is not listed before it"
            );
        }
        seen.insert(*module);
    }
}

#[test]
fn references_are_found_in_paths_and_groups() {
    let code = "use crate::a::B;\nuse crate::{c, d::E};\nfn f() { crate::g::h(); }";
    let found: Vec<String> = crate_refs(code).into_iter().collect();
    assert_eq!(found, ["a", "c", "d", "g"]);
}
