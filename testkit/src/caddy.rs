//! `Caddy`: Debian's Caddy (installed by `scripts/test.sh`) as a reverse
//! proxy in front of one server, on a free port of 127.0.0.1, plain HTTP,
//! with its home, data and configuration directories in a temporary
//! directory of its own and no admin endpoint; stopped on drop.
//!
//! The site block is the caller's, so a test can run the one README.md
//! shows: its address `files.example.com` becomes `http://127.0.0.1:PORT`
//! (no certificate) and the upstream `127.0.0.1:9001` the real server.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::process::Proc;
use super::process::start_on_free_port;

/// The site address of a site block.
const SITE: &str = "files.example.com {";
/// The upstream of a site block.
const UPSTREAM: &str = "127.0.0.1:9001";

/// Caddy's binary, on the PATH.
pub fn caddy_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("caddy"))
        .find(|p| p.is_file())
}

/// A running Caddy.
pub struct Caddy {
    proc: Proc,
    /// Removed after the process stopped (fields drop after `drop`).
    _dir: tempfile::TempDir,
    addr: SocketAddr,
}

impl Caddy {
    /// Starts `caddy run` with `site` (address and upstream as in the
    /// module doc) in front of `upstream`; panics with its log if it does
    /// not listen within 20 s.
    pub fn start(caddy: &Path, site: &str, upstream: SocketAddr) -> Caddy {
        let make = |port: u16| {
            let dir = tempfile::TempDir::new().unwrap();
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let conf_path = dir.path().join("Caddyfile");
            fs::write(&conf_path, caddyfile(site, addr, upstream)).unwrap();
            let mut cmd = Command::new(caddy);
            cmd.args(["run", "--adapter", "caddyfile", "--config"])
                .arg(&conf_path)
                .env("HOME", dir.path())
                .env("XDG_DATA_HOME", dir.path().join("data"))
                .env("XDG_CONFIG_HOME", dir.path().join("config"));
            (Proc::spawn(cmd), dir)
        };
        let (proc, dir, addr) = start_on_free_port("caddy", make, |proc, _| proc.stderr_text());
        Caddy {
            proc,
            _dir: dir,
            addr,
        }
    }

    /// `ws://127.0.0.1:PORT/path` through Caddy.
    pub fn url(&self, path: &str) -> String {
        format!("ws://{}/{}", self.addr, path.trim_start_matches('/'))
    }
}

impl Drop for Caddy {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- caddy log ---\n{}", self.proc.stderr_text());
        }
        self.proc.terminate(Duration::from_secs(5));
    }
}

/// `site` on `listen`, proxying to `upstream`, without the admin endpoint.
fn caddyfile(site: &str, listen: SocketAddr, upstream: SocketAddr) -> String {
    assert_eq!(site.matches(SITE).count(), 1, "no `{SITE}` in {site}");
    assert_eq!(
        site.matches(UPSTREAM).count(),
        1,
        "no `{UPSTREAM}` in {site}"
    );
    let site = site
        .replace(SITE, &format!("http://{listen} {{"))
        .replace(UPSTREAM, &upstream.to_string());
    format!("{{\n\tadmin off\n}}\n\n{site}")
}
