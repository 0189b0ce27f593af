//! A headless Chromium for tests/browser.rs: tests/browser/driver.mjs
//! under node (playwright-core from `target/browser-node`, installed by
//! scripts/test.sh, or `WSRESUME_TEST_BROWSER_NODE`; Debian's
//! `/usr/bin/chromium`, or `WSRESUME_TEST_CHROMIUM`), driven one command
//! per line so the test decides when to cut, throttle or reload. Its
//! answers come through a reader thread and a bounded channel; every
//! command waits a bounded time.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::Duration;

/// The workspace's root (testkit's parent).
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The npm prefix holding playwright-core.
fn node_prefix() -> PathBuf {
    std::env::var_os("WSRESUME_TEST_BROWSER_NODE")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/browser-node"))
}

fn chromium() -> PathBuf {
    std::env::var_os("WSRESUME_TEST_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Whether node, Chromium and playwright-core are all here (through
/// [`crate::have_part`]: a missing one skips, or fails under CI=true).
pub fn available() -> bool {
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let playwright = node_prefix()
        .join("node_modules/playwright-core/package.json")
        .is_file();
    crate::have_part(node, "node")
        && crate::have_part(chromium().is_file(), "chromium")
        && crate::have_part(playwright, "playwright-core (scripts/test.sh)")
}

/// A running driver. Dropping it ends node and Chromium.
pub struct Browser {
    child: Child,
    stdin: Option<ChildStdin>,
    answers: Receiver<String>,
}

impl Browser {
    /// Starts the driver (and Chromium, with a fresh profile).
    pub fn start() -> Browser {
        let mut child = Command::new("node")
            .arg(workspace().join("tests/browser/driver.mjs"))
            .env("BROWSER_NODE", node_prefix())
            .env("CHROMIUM", chromium())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, answers) = sync_channel(16);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Browser {
            child,
            stdin,
            answers,
        }
    }

    /// Sends one command; its answer (after `ok `), or the driver's error.
    pub fn try_cmd(&mut self, line: &str, timeout: Duration) -> Result<String, String> {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
        let answer = self
            .answers
            .recv_timeout(timeout)
            .map_err(|e| format!("{line}: no answer within {timeout:?}: {e}"))?;
        match answer.strip_prefix("ok") {
            Some(rest) => Ok(rest.trim_start().to_string()),
            None => Err(format!("{line}: {answer}")),
        }
    }

    /// [`Browser::try_cmd`] that must succeed.
    pub fn cmd(&mut self, line: &str, timeout: Duration) -> String {
        self.try_cmd(line, timeout).unwrap()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = writeln!(stdin, "quit");
        }
        if self.wait(Duration::from_secs(10)) {
            return;
        }
        // SIGTERM: playwright closes Chromium on its way out.
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: a signal to our own child, by its id.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        if self.wait(Duration::from_secs(5)) {
            return;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    /// Whether the driver exited within `timeout`.
    fn wait(&mut self, timeout: Duration) -> bool {
        crate::wait_until(timeout, || matches!(self.child.try_wait(), Ok(Some(_))))
    }
}
