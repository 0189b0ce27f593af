//! `Nginx`: Debian's nginx (installed by `scripts/test.sh`) as a load
//! balancer in front of several servers, on a free port of 127.0.0.1, with
//! its configuration, pid file, logs and temporary files in a temporary
//! directory of its own; stopped on drop.
//!
//! The site configuration (the `map`, `upstream` and `server` blocks) is
//! the caller's, so a test can run the one README.md shows: the upstream
//! servers `127.0.0.1:9001`, `127.0.0.1:9002`, ... and `listen 8080;` in
//! it are replaced by the real addresses.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::process::Proc;
use super::process::start_on_free_port;

/// The first upstream port of a site configuration, then 9002, ...
const FIRST_PORT: u16 = 9001;
/// The listening directive of a site configuration.
const LISTEN: &str = "listen 8080;";

/// nginx's binary: on the PATH, or in /usr/sbin (Debian's, for a user
/// whose PATH lacks sbin).
pub fn nginx_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|p| p.is_file())
}

/// A running nginx.
pub struct Nginx {
    proc: Proc,
    dir: tempfile::TempDir,
    addr: SocketAddr,
}

impl Nginx {
    /// Starts `nginx` with `site` (upstreams and `listen` as in the module
    /// doc) balancing over `upstreams`; panics with its error log if it
    /// does not listen within 20 s.
    pub fn start(nginx: &Path, site: &str, upstreams: &[SocketAddr]) -> Nginx {
        let make = |port: u16| {
            let dir = tempfile::TempDir::new().unwrap();
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let conf = main_conf(dir.path(), &site_conf(site, addr, upstreams));
            let conf_path = dir.path().join("nginx.conf");
            fs::write(&conf_path, conf).unwrap();
            let mut cmd = Command::new(nginx);
            cmd.arg("-p")
                .arg(dir.path())
                .arg("-e")
                .arg(dir.path().join("error.log"))
                .arg("-c")
                .arg(&conf_path);
            (Proc::spawn(cmd), dir)
        };
        let (proc, dir, addr) = start_on_free_port("nginx", make, |proc, dir| {
            let log = fs::read_to_string(dir.join("error.log")).unwrap_or_default();
            format!("{log}{}", proc.stderr_text())
        });
        Nginx { proc, dir, addr }
    }

    /// `ws://127.0.0.1:PORT/path` through the load balancer.
    pub fn url(&self, path: &str) -> String {
        format!("ws://{}/{}", self.addr, path.trim_start_matches('/'))
    }

    /// Its error log and standard error.
    pub fn log(&self) -> String {
        let log = fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default();
        format!("{log}{}", self.proc.stderr_text())
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- nginx log ---\n{}", self.log());
        }
        // SIGTERM stops the master and its workers at once (a SIGKILL
        // would leave the workers to notice on their own).
        self.proc.terminate(Duration::from_secs(5));
    }
}

/// `site` with its upstream addresses and listening port replaced.
fn site_conf(site: &str, listen: SocketAddr, upstreams: &[SocketAddr]) -> String {
    assert_eq!(site.matches(LISTEN).count(), 1, "no `{LISTEN}` in {site}");
    let mut conf = site.replace(LISTEN, &format!("listen {listen};"));
    for (i, addr) in upstreams.iter().enumerate() {
        let placeholder = format!("server 127.0.0.1:{};", FIRST_PORT + i as u16);
        assert_eq!(
            conf.matches(&placeholder).count(),
            1,
            "no `{placeholder}` in {site}"
        );
        conf = conf.replace(&placeholder, &format!("server {addr};"));
    }
    conf
}

/// The main configuration around a site: in the foreground, everything
/// in `dir`.
fn main_conf(dir: &Path, site: &str) -> String {
    let d = dir.display();
    format!(
        "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n\
         access_log off;\n\
         client_body_temp_path {d}/body;\nproxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\nuwsgi_temp_path {d}/uwsgi;\nscgi_temp_path {d}/scgi;\n\
         {site}\n}}\n"
    )
}
