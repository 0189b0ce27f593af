//! An S3-compatible server for the tests and direct access to its buckets:
//! `Moto` (moto's server from PyPI, installed by `scripts/test.sh` into
//! `target/s3-venv`, started on a free port of 127.0.0.1 and stopped on
//! drop, or when the test process ends however it ends), `Bucket` (one per
//! test: the AWS environment for `serve --store`, and objects read, put,
//! deleted and listed by plain HTTP, as another tool would), and
//! `store_cmd` (a `wsresume serve --store` command line in that
//! environment).
//!
//! moto checks no signature: a request with any `Authorization` header
//! counts as the test user's (without one it is anonymous, and moto
//! refuses anonymous reads of objects).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{ChildStdin, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::process::Proc;
use super::{base_cmd, closed_port, wait_until};

/// The variable `scripts/test.sh` sets to moto's `moto_server`; without it,
/// `target/s3-venv/bin/moto_server`.
pub const MOTO_ENV: &str = "WSRESUME_TEST_MOTO";
/// How long moto may take to answer after its start (about 3 s usually).
const MOTO_STARTUP: Duration = Duration::from_secs(60);
/// Ports tried before giving up (a free port may be taken meanwhile).
const PORT_TRIES: usize = 3;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const IO_TIMEOUT: Duration = Duration::from_secs(60);
const AUTH: &str = "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, \
                    SignedHeaders=host, Signature=00";

/// Runs moto on `$0 -p $1` until the test process's end of the pipe on
/// fd 3 closes (the test ended, however), then stops it; exits with moto.
const WRAPPER: &str = r#"exec 3<&0
"$0" -H 127.0.0.1 -p "$1" </dev/null & m=$!
{ cat >/dev/null; kill "$m" 2>/dev/null; } <&3 &
exec 3<&-
wait "$m""#;

/// Where moto's server is: `$WSRESUME_TEST_MOTO`, or in `target/s3-venv`.
pub fn moto_path() -> PathBuf {
    if let Some(path) = std::env::var_os(MOTO_ENV) {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let target = exe.ancestors().nth(3).expect("target/");
    target.join("s3-venv/bin/moto_server")
}

/// A running moto server (stopped on drop).
pub struct Moto {
    proc: Proc,
    /// Held open while moto should run.
    tie: Option<ChildStdin>,
    port: u16,
}

impl Moto {
    /// Starts moto with extra environment variables (e.g.
    /// `INITIAL_NO_AUTH_ACTION_COUNT=0`, which makes it check credentials);
    /// `None` when moto is not installed (see `have_part`).
    pub fn start(env: &[(&str, &str)]) -> Option<Moto> {
        let path = moto_path();
        if !super::have_part(path.is_file(), &format!("moto ({})", path.display())) {
            return None;
        }
        let mut failures = Vec::new();
        for _ in 0..PORT_TRIES {
            match Moto::try_start(&path, env) {
                Ok(moto) => return Some(moto),
                Err(why) => failures.push(why),
            }
        }
        panic!("moto did not start: {failures:#?}");
    }

    fn try_start(path: &std::path::Path, env: &[(&str, &str)]) -> Result<Moto, String> {
        let port = closed_port();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", WRAPPER])
            .arg(path)
            .arg(port.to_string())
            .envs(env.iter().copied());
        let (proc, tie) = Proc::spawn_tied(cmd);
        // On failure, dropping it stops what started.
        let mut moto = Moto {
            proc,
            tie: Some(tie),
            port,
        };
        let up = wait_until(MOTO_STARTUP, || {
            moto.proc.try_status().is_some() || moto.request("GET", "/", &[]).is_ok()
        });
        if up && moto.proc.try_status().is_none() {
            return Ok(moto);
        }
        Err(format!(
            "port {port}: {:?}, stderr:\n{}",
            moto.proc.try_status(),
            moto.proc.stderr_text()
        ))
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// Creates a new bucket named after `tag` (made unique in this
    /// process and among processes).
    pub fn bucket(&self, tag: &str) -> Bucket {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let seq = SEQ.fetch_add(1, Ordering::SeqCst);
        let tag: String = tag
            .chars()
            .map(|c| match c.to_ascii_lowercase() {
                c @ ('a'..='z' | '0'..='9') => c,
                _ => '-',
            })
            .take(40)
            .collect();
        let bucket = Bucket {
            name: format!("{tag}-{}-{seq}", std::process::id()),
            addr: self.addr(),
        };
        let reply = bucket.call("PUT", &format!("/{}", bucket.name), &[]);
        assert_eq!(
            reply.status, 200,
            "create bucket {}: {reply:?}",
            bucket.name
        );
        bucket
    }

    fn request(&self, method: &str, target: &str, body: &[u8]) -> io::Result<Reply> {
        http(self.addr(), method, target, body)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // The wrapper stops moto once its end of the pipe closes.
        drop(self.tie.take());
        self.proc.wait_timeout(Duration::from_secs(10));
    }
}

/// One HTTP answer.
#[derive(Debug)]
struct Reply {
    status: u16,
    body: Vec<u8>,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A bucket of a `Moto`.
pub struct Bucket {
    pub name: String,
    addr: SocketAddr,
}

impl Bucket {
    /// The AWS environment of a process using this bucket.
    pub fn env(&self) -> Vec<(String, String)> {
        aws_env(&format!("http://{}", self.addr))
    }

    /// `s3://BUCKET` or `s3://BUCKET/PREFIX`.
    pub fn store_url(&self, prefix: &str) -> String {
        match prefix.trim_matches('/') {
            "" => format!("s3://{}", self.name),
            prefix => format!("s3://{}/{prefix}", self.name),
        }
    }

    fn call(&self, method: &str, target: &str, body: &[u8]) -> Reply {
        http(self.addr, method, target, body)
            .unwrap_or_else(|e| panic!("{method} {target} to moto: {e}"))
    }

    fn object(&self, key: &str) -> String {
        format!("/{}/{}", self.name, encode(key))
    }

    /// Puts an object, as another tool would (`aws s3 cp`).
    pub fn put(&self, key: &str, data: &[u8]) {
        let reply = self.call("PUT", &self.object(key), data);
        assert_eq!(reply.status, 200, "PUT {key}: {reply:?}");
    }

    /// An object's bytes, `None` if there is no such key.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let reply = self.call("GET", &self.object(key), &[]);
        match reply.status {
            200 => Some(reply.body),
            404 => None,
            _ => panic!("GET {key}: {} {}", reply.status, reply.text()),
        }
    }

    pub fn delete(&self, key: &str) {
        let reply = self.call("DELETE", &self.object(key), &[]);
        assert!(matches!(reply.status, 200 | 204), "DELETE {key}: {reply:?}");
    }

    /// Every key starting with `prefix`, sorted.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let target = format!("/{}?list-type=2&prefix={}", self.name, encode(prefix));
        self.listed_keys(&target)
    }

    /// The sorted `Key`s of the one page a listing request `target` answers.
    fn listed_keys(&self, target: &str) -> Vec<String> {
        let reply = self.call("GET", target, &[]);
        assert_eq!(reply.status, 200, "GET {target}: {reply:?}");
        let text = reply.text();
        assert!(
            text.contains("<IsTruncated>false<"),
            "more than a page: {text}"
        );
        let mut keys = xml_values(&text, "Key");
        keys.sort();
        keys
    }

    /// The keys of the bucket's multipart uploads in progress
    /// (ListMultipartUploads), one per upload.
    pub fn multipart_uploads(&self) -> Vec<String> {
        self.listed_keys(&format!("/{}?uploads", self.name))
    }
}

/// The environment `serve --store` reads (moto takes any key).
pub fn aws_env(endpoint: &str) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// `wsresume serve --store URL --listen 127.0.0.1:0` (hermetic), with
/// `env` as its only AWS environment (the test's own `AWS_*` are removed).
pub fn store_cmd(url: &str, env: &[(String, String)]) -> Command {
    let mut cmd = base_cmd();
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(name);
        }
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v))).args([
        "serve",
        "--store",
        url,
        "--listen",
        "127.0.0.1:0",
    ]);
    cmd
}

/// Percent-encodes a key for a request line (`/` kept).
fn encode(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The text of every `<TAG>...</TAG>` in `xml`, entities decoded.
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split_once(&close).map(|(v, _)| v))
        .map(|v| {
            v.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&")
        })
        .collect()
}

/// One HTTP/1.1 request with `Connection: close`; the answer is read to
/// the end (moto answers with a length, never chunked).
fn http(addr: SocketAddr, method: &str, target: &str, body: &[u8]) -> io::Result<Reply> {
    let mut stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {AUTH}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_reply(&raw).ok_or_else(|| io::Error::other(format!("bad answer: {raw:?}")))
}

fn parse_reply(raw: &[u8]) -> Option<Reply> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    assert!(
        !head.contains("transfer-encoding: chunked"),
        "chunked: {head}"
    );
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some(Reply {
        status,
        body: raw[end + 4..].to_vec(),
    })
}
