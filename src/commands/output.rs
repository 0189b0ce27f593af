//! Where a command's results go: `--json` lines on standard output (and a
//! record of whether one was printed, so a failure before any transfer still
//! gets its line), everything else on standard error.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::progress::Progress;

/// The output of one command.
pub struct Output {
    json: bool,
    printed: AtomicBool,
}

impl Output {
    /// Output with or without `--json`.
    pub fn new(json: bool) -> Output {
        Output {
            json,
            printed: AtomicBool::new(false),
        }
    }

    /// Whether `--json` was given.
    pub fn json(&self) -> bool {
        self.json
    }

    /// Print one JSON line on stdout (when `--json`), without tearing bars.
    pub fn json_line(&self, progress: Option<&Progress>, line: &str) {
        if !self.json {
            return;
        }
        self.printed.store(true, Ordering::SeqCst);
        let print = || {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}").and_then(|()| out.flush());
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
