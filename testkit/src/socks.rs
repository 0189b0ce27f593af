//! `Socks`: a real SOCKS5 server for the client's proxy tests: microsocks
//! (Debian's `microsocks`, installed by `scripts/test.sh`; Dante's
//! username method checks system accounts, which a test cannot create
//! without changing the machine) on a free port of 127.0.0.1, with or
//! without a username and password (RFC 1929); it resolves names itself
//! (`socks5h://`). Stopped on drop.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::process::Proc;
use super::process::start_on_free_port;

/// A running microsocks.
pub struct Socks {
    proc: Proc,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Socks {
    /// Starts microsocks, asking for `credentials` when given.
    pub fn start(microsocks: &Path, credentials: Option<(&str, &str)>) -> Socks {
        let make = |port: u16| {
            let mut cmd = Command::new(microsocks);
            cmd.args(["-i", "127.0.0.1", "-p", &port.to_string()]);
            if let Some((user, password)) = credentials {
                cmd.args(["-u", user, "-P", password]);
            }
            (Proc::spawn(cmd), tempfile::TempDir::new().unwrap())
        };
        let (proc, _dir, addr) =
            start_on_free_port("microsocks", make, |proc, _| proc.stderr_text());
        Socks { proc, addr, _dir }
    }

    /// `SCHEME://[USER:PASSWORD@]127.0.0.1:PORT`.
    pub fn url(&self, scheme: &str, credentials: Option<(&str, &str)>) -> String {
        match credentials {
            Some((user, password)) => format!("{scheme}://{user}:{password}@{}", self.addr),
            None => format!("{scheme}://{}", self.addr),
        }
    }
}

impl Drop for Socks {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- microsocks stderr ---\n{}", self.proc.stderr_text());
        }
        self.proc.terminate(Duration::from_secs(5));
    }
}
