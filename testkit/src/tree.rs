//! Trees for the tree tests: a [`Manifest`] of what a test wrote (sizes
//! and SHA-256), walks that check a destination against it at any depth
//! (complete targets only, exactly the files, no leftovers), and a
//! [`Route`]: one `send -r` or `get -r` through a [`Rig`]'s proxy, with
//! its payload-direction byte count and its reports checked file by file.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use rand::RngExt;
use sha2::{Digest, Sha256};

use crate::{
    FaultProxy, PART_MARK, Proc, RUN_TIMEOUT, Rig, base_cmd, client_args, json_lines, sha256_file,
};

/// `len` bytes of xorshift64 noise from a random seed: unlike `rand`'s
/// generator in a debug build, quick enough for trees of tens of MiB.
pub fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = rand::rng().random::<u64>() | 1;
    let mut data = Vec::with_capacity(len + 8);
    while data.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.truncate(len);
    data
}

/// A file a test wrote: size and SHA-256.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub size: u64,
    pub sha256: String,
}

/// What a test put in a tree, by `/`-separated relative path.
#[derive(Clone, Debug, Default)]
pub struct Manifest(pub BTreeMap<String, Entry>);

impl Manifest {
    /// Writes `data` to `top/rel` (creating parents) and records it.
    pub fn write(&mut self, top: &Path, rel: &str, data: &[u8]) {
        let path = top.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, data).unwrap();
        let entry = Entry {
            size: data.len() as u64,
            sha256: crate::hex(&Sha256::digest(data)),
        };
        self.0.insert(rel.to_string(), entry);
    }

    /// `count` files of 1–8 KiB under `top/prefix`, in nested directories.
    pub fn small_files(&mut self, top: &Path, prefix: &str, count: usize) {
        for i in 0..count {
            let rel = format!("{prefix}d{:02}/e{}/f{i:04}.bin", i % 23, i % 5);
            let len = rand::rng().random_range(1024..=8192);
            self.write(top, &rel, &noise(len));
        }
    }

    /// Removes `top/rel` from the tree and the record; returns its entry.
    pub fn remove(&mut self, top: &Path, rel: &str) -> Entry {
        fs::remove_file(top.join(rel)).unwrap();
        self.0.remove(rel).unwrap()
    }

    pub fn bytes(&self) -> u64 {
        self.0.values().map(|e| e.size).sum()
    }

    /// How many files.
    pub fn files(&self) -> usize {
        self.0.len()
    }
}

/// Every regular file under `dir`, at any depth, by relative path.
pub fn files_under(dir: &Path) -> BTreeMap<String, PathBuf> {
    let mut found = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        let Ok(entries) = fs::read_dir(&next) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(t) if t.is_file() => {
                    let rel = path.strip_prefix(dir).unwrap().to_str().unwrap();
                    found.insert(rel.to_string(), path.clone());
                }
                _ => {}
            }
        }
    }
    found
}

/// The targets under `dir`: files that are not wsresume's partial, state
/// or lock files.
pub fn targets(dir: &Path) -> BTreeMap<String, PathBuf> {
    let mut found = files_under(dir);
    found.retain(|rel, _| !rel.contains(PART_MARK));
    found
}

/// Asserts that `dir` holds no partial, state or lock file at any depth.
pub fn assert_clean(dir: &Path) {
    let left: Vec<String> = files_under(dir)
        .into_keys()
        .filter(|rel| rel.contains(PART_MARK))
        .collect();
    assert!(left.is_empty(), "leftovers in {}: {left:?}", dir.display());
}

/// Asserts that every target present under `dir` is complete: byte for
/// byte one of `expected`. Returns how many there are and their bytes.
pub fn check_targets(dir: &Path, expected: &Manifest) -> (usize, u64) {
    let mut bytes = 0;
    let found = targets(dir);
    for (rel, path) in &found {
        let entry = expected
            .0
            .get(rel)
            .unwrap_or_else(|| panic!("{rel}: a target that no source had, in {}", dir.display()));
        let sha = sha256_file(path);
        let len = crate::file_len(path);
        assert!(
            sha == entry.sha256,
            "{rel} is partial or wrong: {len} bytes of {}, SHA-256 {sha}",
            entry.size
        );
        bytes += entry.size;
    }
    (found.len(), bytes)
}

/// Asserts that `dir` holds exactly the files of `expected` (nothing else,
/// not even a partial file), each with its SHA-256.
pub fn assert_exact(dir: &Path, expected: &Manifest) {
    let found = files_under(dir);
    let missing: Vec<_> = expected
        .0
        .keys()
        .filter(|r| !found.contains_key(*r))
        .collect();
    let extra: Vec<_> = found
        .keys()
        .filter(|r| !expected.0.contains_key(*r))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{}: {} missing {:?}..., {} extra {:?}...",
        dir.display(),
        missing.len(),
        &missing[..missing.len().min(5)],
        extra.len(),
        &extra[..extra.len().min(5)]
    );
    check_targets(dir, expected);
}

/// A URL path with every byte but unreserved ones and `/` percent-encoded.
pub fn url_path(path: &str) -> String {
    let keep = |b: u8| b.is_ascii_alphanumeric() || b"-._~/".contains(&b);
    path.bytes()
        .map(|b| {
            if keep(b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Way {
    Send,
    Get,
}

/// One tree transfer through a rig's proxy: the source tree, where its
/// copy lands, and the command line that makes it.
pub struct Route {
    pub way: Way,
    /// ROOT/REMOTE: the server's side of the transfer.
    pub remote: PathBuf,
    /// The tree sent.
    pub src: PathBuf,
    /// Where its copy lands.
    pub dest: PathBuf,
    /// The client's arguments.
    pub args: Vec<String>,
}

/// `send -r LOCAL/NAME proxy/REMOTE/` (landing in ROOT/REMOTE/NAME), or
/// `get -r proxy/REMOTE/NAME/ LOCAL/copy` (from ROOT/REMOTE/NAME, landing
/// in LOCAL/copy/NAME).
pub fn route(rig: &Rig, way: Way, remote: &str, name: &str) -> Route {
    let (local, root) = (rig.local.path(), rig.root.path());
    let (src, dest, args) = match way {
        Way::Send => {
            let src = local.join(name);
            let url = rig.proxy.url(&url_path(&format!("{remote}/")));
            let args = vec!["send".into(), "-r".into(), crate::s(&src).to_string(), url];
            (src, root.join(remote).join(name), args)
        }
        Way::Get => {
            let url = rig.proxy.url(&url_path(&format!("{remote}/{name}/")));
            let copy = local.join("copy");
            let args = vec!["get".into(), "-r".into(), url, crate::s(&copy).to_string()];
            (root.join(remote).join(name), copy.join(name), args)
        }
    };
    let mut args = client_args(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    args.extend(["--json", "-q"]);
    if way == Way::Get {
        args.push("--create-dirs");
    }
    let args = args.into_iter().map(str::to_string).collect();
    Route {
        way,
        remote: root.join(remote),
        src,
        dest,
        args,
    }
}

impl Route {
    /// The payload direction's byte count (up for `send`, down for `get`).
    pub fn payload(&self, proxy: &FaultProxy) -> u64 {
        match self.way {
            Way::Send => proxy.up(),
            Way::Get => proxy.down(),
        }
    }

    /// Starts the transfer (with extra environment variables).
    pub fn spawn(&self, env: &[(&str, &str)]) -> Proc {
        let mut cmd = base_cmd();
        cmd.args(&self.args).envs(env.iter().copied());
        Proc::spawn(cmd)
    }

    /// Asserts that no partial, state or lock file is left on either side.
    pub fn assert_clean(&self, rig: &Rig) {
        assert_clean(rig.local.path());
        assert_clean(&self.remote);
    }

    /// Runs the transfer to its end; asserts exit 0; returns the reports.
    pub fn run(&self, env: &[(&str, &str)]) -> Vec<serde_json::Value> {
        let mut client = self.spawn(env);
        client.expect_success(RUN_TIMEOUT);
        json_lines(&client.stdout())
    }

    /// The tree's relative path of a report's local side.
    pub fn rel_of(&self, report: &serde_json::Value) -> String {
        let (field, top) = match self.way {
            Way::Send => ("source", &self.src),
            Way::Get => ("target", &self.dest),
        };
        let local = Path::new(crate::json_str(report, field));
        let rel = local
            .strip_prefix(top)
            .unwrap_or_else(|_| panic!("{report}"));
        rel.to_str().unwrap().to_string()
    }

    /// Asserts one `ok` report per file of `tree`, each with its SHA-256;
    /// returns them by relative path.
    pub fn check_reports(
        &self,
        lines: &[serde_json::Value],
        tree: &Manifest,
    ) -> BTreeMap<String, serde_json::Value> {
        let op = match self.way {
            Way::Send => "send",
            Way::Get => "get",
        };
        let mut by_rel = BTreeMap::new();
        for line in lines {
            let rel = self.rel_of(line);
            let entry = tree
                .0
                .get(&rel)
                .unwrap_or_else(|| panic!("no such file: {line}"));
            crate::check_ok_report(line, op, entry.size, &entry.sha256);
            assert!(by_rel.insert(rel, line.clone()).is_none(), "twice: {line}");
        }
        assert_eq!(by_rel.len(), tree.files(), "one report per file");
        by_rel
    }
}
