//! A detached tmux session on a private socket: a real terminal for tests of
//! what a user sees (progress bars, colours). Killed on drop.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::wait_until;

/// A running tmux server with one session.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Whether tmux can be run here (tests that need it are skipped if not,
    /// and fail under `CI=true`).
    pub fn available() -> bool {
        let found = Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        super::have_part(found, "tmux")
    }

    /// Runs `shell_command` in a new 120x30 terminal.
    pub fn start(shell_command: &str) -> Tmux {
        Tmux::start_sized(shell_command, 120, 30)
    }

    /// Runs `shell_command` in a new terminal of `columns` x `rows`.
    pub fn start_sized(shell_command: &str, columns: u16, rows: u16) -> Tmux {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let socket = format!(
            "wsresume-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let status = Command::new("tmux")
            .args(["-L", &socket, "-f", "/dev/null", "new-session", "-d"])
            .args(["-x", &columns.to_string(), "-y", &rows.to_string()])
            .args(["-s", "t", shell_command])
            .status()
            .unwrap();
        assert!(status.success(), "tmux new-session failed");
        Tmux { socket }
    }

    /// The visible screen as text (`-e`: with escape sequences for colours).
    pub fn capture(&self, escapes: bool) -> String {
        let mut cmd = Command::new("tmux");
        cmd.args(["-L", &self.socket, "capture-pane", "-p", "-t", "t"]);
        if escapes {
            cmd.arg("-e");
        }
        let out = cmd.output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The visible screen with wrapped lines joined (`-J`): a line longer
    /// than the terminal is one that wrapped.
    pub fn capture_joined(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-J", "-t", "t"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits up to `timeout` for a screen satisfying `cond`; returns the
    /// last screen seen and whether it matched.
    pub fn wait_for(
        &self,
        timeout: Duration,
        mut cond: impl FnMut(&str) -> bool,
    ) -> (String, bool) {
        let mut screen = String::new();
        let ok = wait_until(timeout, || {
            screen = self.capture(false);
            cond(&screen)
        });
        (screen, ok)
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

/// Quotes `arg` for a POSIX shell.
pub fn sh_quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
}

/// A shell command running the binary under test hermetically with `args`
/// and `env` (an empty value unsets the variable), then printing
/// `EXIT=<code>` and staying open for the capture.
pub fn wsresume_shell(env: &[(&str, &str)], args: &[&str]) -> String {
    let mut cmd = String::from("env");
    for var in super::SETTING_VARS.iter().chain(&super::NETWORK_VARS) {
        cmd.push_str(&format!(" -u {var}"));
    }
    for (k, _) in env.iter().filter(|(_, v)| v.is_empty()) {
        cmd.push_str(&format!(" -u {k}"));
    }
    cmd.push_str(" WSRESUME_CONFIG=/nonexistent/config.toml");
    for (k, v) in env.iter().filter(|(_, v)| !v.is_empty()) {
        cmd.push_str(&format!(" {k}={}", sh_quote(v)));
    }
    cmd.push(' ');
    cmd.push_str(&sh_quote(super::bin()));
    for arg in args {
        cmd.push(' ');
        cmd.push_str(&sh_quote(arg));
    }
    cmd.push_str("; echo EXIT=$?; sleep 600");
    cmd
}
