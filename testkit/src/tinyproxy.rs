//! `Tinyproxy`: a real HTTP proxy for the client's proxy tests (Debian's
//! `tinyproxy`, installed by `scripts/test.sh`) on a free port of
//! 127.0.0.1 with its configuration and log in a temporary directory,
//! stopped on drop. It tunnels with `CONNECT` to the ports it is given
//! only, asks for Basic credentials, and logs every request.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::process::{Proc, start_on_free_port};

/// A program on the PATH or in an sbin directory.
pub fn program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A running tinyproxy.
pub struct Tinyproxy {
    proc: Proc,
    dir: tempfile::TempDir,
    addr: SocketAddr,
}

impl Tinyproxy {
    /// Starts tinyproxy asking for `user`:`password` (Basic) and tunnelling
    /// only to `connect_ports`.
    pub fn start(tinyproxy: &Path, user: &str, password: &str, connect_ports: &[u16]) -> Tinyproxy {
        let make = |port: u16| {
            let dir = tempfile::TempDir::new().unwrap();
            let ports: String = connect_ports
                .iter()
                .map(|p| format!("ConnectPort {p}\n"))
                .collect();
            let conf = format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 600\nMaxClients 100\n\
                 LogFile \"{}\"\nLogLevel Connect\nAllow 127.0.0.1\n\
                 BasicAuth {user} {password}\n{ports}",
                dir.path().join("tinyproxy.log").display()
            );
            let conf_path = dir.path().join("tinyproxy.conf");
            fs::write(&conf_path, conf).unwrap();
            let mut cmd = Command::new(tinyproxy);
            cmd.arg("-d").arg("-c").arg(&conf_path);
            (Proc::spawn(cmd), dir)
        };
        let (proc, dir, addr) = start_on_free_port("tinyproxy", make, |proc, dir| {
            let log = fs::read_to_string(dir.join("tinyproxy.log")).unwrap_or_default();
            format!("{log}{}", proc.stderr_text())
        });
        Tinyproxy { proc, dir, addr }
    }

    /// `http://USER:PASSWORD@127.0.0.1:PORT`.
    pub fn url(&self, user: &str, password: &str) -> String {
        format!("http://{user}:{password}@{}", self.addr)
    }

    /// Its log (requests at level Connect) and standard error.
    pub fn log(&self) -> String {
        let log = fs::read_to_string(self.dir.path().join("tinyproxy.log")).unwrap_or_default();
        format!("{log}{}", self.proc.stderr_text())
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- tinyproxy log ---\n{}", self.log());
        }
        self.proc.terminate(Duration::from_secs(5));
    }
}
