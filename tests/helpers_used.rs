//! Every helper in `tests/support` is used by some test. Each test binary
//! compiles the support module and uses a part of it, so rustc's dead-code
//! lint is off there; this test stands in for it across all binaries.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;

/// Names declared `pub fn`, `pub const`, `pub struct` or `pub enum` in `text`.
fn declared(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in text.lines() {
        let line = line.trim_start();
        for kind in ["pub fn ", "pub const ", "pub struct ", "pub enum "] {
            if let Some(rest) = line.strip_prefix(kind) {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                names.push(name);
            }
        }
    }
    names
}

/// How often `name` occurs as a whole word in `text`.
fn uses(text: &str, name: &str) -> usize {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(name)
        .filter(|(at, _)| {
            let before = text[..*at].chars().next_back().is_none_or(|c| !word(c));
            let after = text[at + name.len()..]
                .chars()
                .next()
                .is_none_or(|c| !word(c));
            before && after
        })
        .count()
}

fn sources(dir: &Path) -> Vec<(String, String)> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| (p.display().to_string(), fs::read_to_string(&p).unwrap()))
        .collect();
    files.sort();
    files
}

#[test]
fn every_support_helper_is_used_by_a_test() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let support = sources(&tests.join("support"));
    let all: String = sources(&tests)
        .into_iter()
        .chain(support.iter().cloned())
        .filter(|(path, _)| !path.ends_with("helpers_used.rs"))
        .map(|(_, text)| text)
        .collect();
    let mut unused = Vec::new();
    for (path, text) in &support {
        for name in declared(text) {
            // The declaration itself is one occurrence.
            if uses(&all, &name) < 2 {
                unused.push(format!("{path}: {name}"));
            }
        }
    }
    assert!(
        unused.is_empty(),
        "support helpers no test uses: {unused:#?}"
    );
}
