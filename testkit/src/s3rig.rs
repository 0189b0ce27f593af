//! The rig of the object-store tests (`tests/s3_*.rs`): one moto per test
//! binary, and per test a bucket of its own served by two `serve --store`
//! instances (`Pair`), with what the tests read of the bucket directly
//! (objects, upload records, multipart uploads) and the client runs they
//! repeat.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::s3::{Bucket, Moto};
use super::{
    FaultProxy, Proc, RUN_TIMEOUT, Server, client_args, hex, random_file, run_ok_json, s,
    sha256_file, wait_until,
};

/// The part size of every file here: 5 MiB (S3's minimum; a multiple of
/// the tests' 64 KiB chunks; files up to 48 GiB).
pub const PART: u64 = 5 << 20;
/// Every test serves its bucket under this prefix.
pub const PREFIX: &str = "data";
/// Per connection and direction, where a test must act mid-transfer.
pub const RATE: u64 = 6 << 20;
/// Longest wait for one thing to happen.
pub const WAIT: Duration = Duration::from_secs(60);

/// moto, once for this test binary; `None` (the test skips) when it is
/// not installed outside CI.
pub fn moto() -> Option<&'static Moto> {
    static MOTO: OnceLock<Option<Moto>> = OnceLock::new();
    MOTO.get_or_init(|| Moto::start(&[])).as_ref()
}

/// A bucket of its own and two instances serving it.
pub struct Pair {
    pub bucket: Bucket,
    pub a: Server,
    pub b: Server,
    pub local: tempfile::TempDir,
}

/// A new bucket named after `tag` and two instances serving it under
/// `PREFIX` with `server_args`; `None` when moto is missing (outside CI).
pub fn pair(tag: &str, server_args: &[&str]) -> Option<Pair> {
    pair_with_env(tag, server_args, &[])
}

/// [`pair`], with `env` added to the instances' environment.
pub fn pair_with_env(tag: &str, server_args: &[&str], env: &[(&str, &str)]) -> Option<Pair> {
    let bucket = moto()?.bucket(tag);
    let url = bucket.store_url(PREFIX);
    let mut vars = bucket.env();
    vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let a = Server::start_store(&url, &vars, server_args);
    let b = Server::start_store(&url, &vars, server_args);
    Some(Pair {
        bucket,
        a,
        b,
        local: tempfile::TempDir::new().unwrap(),
    })
}

impl Pair {
    /// The key of the file at `rel`.
    pub fn key(&self, rel: &str) -> String {
        format!("{PREFIX}/{rel}")
    }

    /// SHA-256 of the object at `rel`, `None` when there is none.
    pub fn object_sha(&self, rel: &str) -> Option<String> {
        self.bucket.get(&self.key(rel)).map(|b| sha256_of(&b))
    }

    /// The keys of the upload records.
    pub fn records(&self) -> Vec<String> {
        self.bucket.keys(&self.key(".wsresume/uploads/"))
    }

    /// Parts recorded as done by the upload records (the most of any).
    pub fn recorded_parts(&self) -> usize {
        let parts = |key: &String| {
            let bytes = self.bucket.get(key)?;
            let record: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
            Some(record["parts"].as_array()?.len())
        };
        self.records().iter().filter_map(parts).max().unwrap_or(0)
    }

    /// No upload record and no multipart upload is left in the bucket.
    pub fn assert_no_upload_state(&self) {
        let ok = wait_until(Duration::from_secs(10), || {
            self.records().is_empty() && self.bucket.multipart_uploads().is_empty()
        });
        assert!(
            ok,
            "left in the bucket: records {:?}, multipart uploads of {:?}",
            self.records(),
            self.bucket.multipart_uploads()
        );
    }

    /// A random file of `size` bytes in `local`, and its SHA-256.
    pub fn file(&self, name: &str, size: u64) -> (PathBuf, String) {
        let path = random_file(self.local.path(), name, size);
        let sha = sha256_file(&path);
        (path, sha)
    }

    /// Starts `send SRC URL` (64 KiB chunks, quick retries).
    pub fn spawn_send(&self, src: &Path, url: &str) -> Proc {
        Proc::wsresume(&client_args(&["send", s(src), url], &["--json", "-q"]))
    }

    /// Waits until an upload has `parts` parts recorded in the bucket (while
    /// `client` still runs).
    pub fn wait_for_parts(&self, client: &mut Proc, parts: usize) {
        let done = wait_until(WAIT, || {
            client.try_status().is_some() || self.recorded_parts() >= parts
        });
        assert!(
            done && client.try_status().is_none(),
            "no {parts} parts recorded while the client ran ({:?}): records {:?}\n{}",
            client.try_status(),
            self.records(),
            client.stderr_text()
        );
    }
}

/// Lowercase hex SHA-256 of `data`.
pub fn sha256_of(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// `send SRC URL` to its end; the report.
pub fn send(src: &Path, url: &str) -> serde_json::Value {
    run_ok_json(&client_args(&["send", s(src), url], &[]))
}

/// `get URL DEST` to its end; the report.
pub fn get(url: &str, dest: &Path) -> serde_json::Value {
    run_ok_json(&client_args(&["get", url, s(dest)], &[]))
}

/// Starts `get URL DEST` (64 KiB chunks, quick retries).
pub fn spawn_get(url: &str, dest: &Path) -> Proc {
    Proc::wsresume(&client_args(&["get", url, s(dest)], &["-q"]))
}

/// A proxy to `upstream`, throttled to `RATE`.
pub fn slow_proxy(upstream: &Server) -> FaultProxy {
    let proxy = FaultProxy::new(upstream.addr());
    proxy.throttle(RATE);
    proxy
}

/// The exit code of `client`, waiting for it (up to `RUN_TIMEOUT`).
pub fn exit_code(client: &mut Proc) -> i32 {
    let status = client.wait_timeout(RUN_TIMEOUT);
    status
        .and_then(|st| st.code())
        .unwrap_or_else(|| panic!("client: {status:?}\n{}", client.stderr_text()))
}
