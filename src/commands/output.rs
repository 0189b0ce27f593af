//! Where a command's results go: `--json` lines on standard output (and a
//! record of whether one was printed, so a failure before any transfer still
//! gets its line), everything else on standard error. When standard output
//! carries a file (`get URL -`), JSON lines go to standard error too.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::progress::Progress;

/// The output of one command.
pub struct Output {
    json: bool,
    /// Standard output carries a file's bytes: nothing else may go there.
    stdout_is_data: bool,
    printed: AtomicBool,
}

impl Output {
    /// Output with or without `--json`; `stdout_is_data` when standard
    /// output carries a file (`get URL -`).
    pub fn new(json: bool, stdout_is_data: bool) -> Output {
        Output {
            json,
            stdout_is_data,
            printed: AtomicBool::new(false),
        }
    }

    /// Whether `--json` was given.
    pub fn json(&self) -> bool {
        self.json
    }

    /// Print one JSON line on stdout (when `--json`; on stderr when stdout
    /// carries a file), without tearing bars.
    pub fn json_line(&self, progress: Option<&Progress>, line: &str) {
        if !self.json {
            return;
        }
        self.printed.store(true, Ordering::SeqCst);
        let print = || {
            let _ = if self.stdout_is_data {
                let mut err = std::io::stderr().lock();
                writeln!(err, "{line}").and_then(|()| err.flush())
            } else {
                let mut out = std::io::stdout().lock();
                writeln!(out, "{line}").and_then(|()| out.flush())
            };
        };
        match progress {
            Some(p) => p.suspend(print),
            None => print(),
        }
    }

    /// Whether a JSON line was printed (so a failure has its report).
    pub fn printed(&self) -> bool {
        self.printed.load(Ordering::SeqCst)
    }
}
