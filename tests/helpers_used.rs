//! Every public helper of the test kit (`testkit/`) is used by some test:
//! rustc's dead-code lint does not look at a library's public items, so this
//! test does, across all test binaries.
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
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tests = root.join("tests");
    let support = sources(&root.join("testkit/src"));
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
