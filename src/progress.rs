//! Progress on standard error, in one of three styles: indicatif bars on a
//! terminal (one per file and an overall bar for several files, reconnects
//! shown in the bar), short plain lines for logs (at most one per
//! [`plain::INTERVAL`] or per 10 %), or nothing.
//!
//! [`Progress`] is made once per command; [`FileProgress`] is the handle a
//! transfer reports to. All output of a run goes through here, so notes and
//! reconnect messages never tear a bar.

mod plain;

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::report::human_bytes;

/// How progress is shown (`--progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProgressMode {
    /// No progress output.
    None,
    /// Progress bars (drawn only on a terminal).
    Bar,
    /// A short line every few seconds or every 10 %, for logs.
    Plain,
}

impl ProgressMode {
    /// The default: nothing with `-q`, bars on a terminal, plain lines otherwise.
    pub fn default_for(quiet: bool) -> ProgressMode {
        if quiet {
            ProgressMode::None
        } else if std::io::stderr().is_terminal() {
            ProgressMode::Bar
        } else {
            ProgressMode::Plain
        }
    }

    /// The name used on the command line and in the config file.
    pub fn name(self) -> &'static str {
        match self {
            ProgressMode::None => "none",
            ProgressMode::Bar => "bar",
            ProgressMode::Plain => "plain",
        }
    }
}

/// The progress display of one command (one or several files).
pub struct Progress {
    mode: ProgressMode,
    chatter: bool,
    multi: MultiProgress,
    overall: Option<ProgressBar>,
}

impl Progress {
    /// A display in `mode`; `chatter` allows notes (off with `-q`). With
    /// `files > 1` and bars, an overall bar of `total` bytes is shown.
    pub fn new(mode: ProgressMode, chatter: bool, files: usize, total: u64) -> Progress {
        let target = match mode {
            ProgressMode::Bar => ProgressDrawTarget::stderr_with_hz(10),
            _ => ProgressDrawTarget::hidden(),
        };
        let multi = MultiProgress::with_draw_target(target);
        let overall = (mode == ProgressMode::Bar && files > 1).then(|| {
            let bar = multi.add(ProgressBar::new(total));
            bar.set_style(bar_style("green/white"));
            bar.set_prefix(format!("total: 0 of {files} files"));
            bar
        });
        Progress {
            mode,
            chatter,
            multi,
            overall,
        }
    }

    /// A display that shows nothing (for library callers and tests).
    pub fn hidden() -> Progress {
        Progress::new(ProgressMode::None, false, 1, 0)
    }

    /// The handle for one file, labelled `label`.
    pub fn file(&self, label: &str) -> FileProgress {
        let bar = match self.mode {
            ProgressMode::Bar => {
                let bar = ProgressBar::hidden();
                bar.set_style(bar_style("cyan/blue"));
                bar.set_prefix(label.to_string());
                bar
            }
            _ => ProgressBar::hidden(),
        };
        FileProgress {
            inner: Arc::new(Inner {
                mode: self.mode,
                chatter: self.chatter,
                label: label.to_string(),
                multi: self.multi.clone(),
                bar,
                overall: self.overall.clone(),
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// Print a line above the bars (unless `-q`).
    pub fn note(&self, text: &str) {
        if self.chatter {
            self.println(text);
        }
    }

    /// Print a line above the bars, whatever `-q` says (errors, summaries).
    pub fn println(&self, text: &str) {
        self.suspend(|| eprintln!("{text}"));
    }

    /// Run `print` with the bars out of the way.
    pub fn suspend(&self, print: impl FnOnce()) {
        self.multi.suspend(print);
    }

    /// One more file is finished (for the overall bar's count).
    pub fn file_done(&self, done: usize, files: usize) {
        if let Some(overall) = &self.overall {
            overall.set_prefix(format!("total: {done} of {files} files"));
        }
    }

    /// Remove the bars.
    pub fn finish(&self) {
        if let Some(overall) = &self.overall {
            overall.finish_and_clear();
        }
        let _ = self.multi.clear();
    }
}

/// A bar's line: label, bytes, the bar in `colours`, rate, ETA, status.
fn bar_style(colours: &str) -> ProgressStyle {
    let template = format!(
        "{{prefix:<24!}} {{bytes:>10}}/{{total_bytes:<10}} [{{bar:24.{colours}}}] \
         {{bytes_per_sec:>12}} ETA {{eta:<4}} {{wide_msg}}"
    );
    ProgressStyle::with_template(&template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// The progress of one file; cheap to clone.
#[derive(Clone)]
pub struct FileProgress {
    inner: Arc<Inner>,
}

struct Inner {
    mode: ProgressMode,
    chatter: bool,
    label: String,
    multi: MultiProgress,
    bar: ProgressBar,
    overall: Option<ProgressBar>,
    state: Mutex<State>,
}

/// What a file's display remembers.
#[derive(Default)]
struct State {
    started: bool,
    position: u64,
    resumed_from: u64,
    reconnects: u32,
    plain: plain::PlainState,
}

impl FileProgress {
    /// A handle that shows nothing.
    pub fn hidden() -> FileProgress {
        Progress::hidden().file("")
    }

    /// The transfer knows its size and where it resumes (again after a
    /// restart from zero).
    pub fn start(&self, total: u64, resumed_from: u64) {
        let inner = &self.inner;
        let mut state = self.lock();
        let first = !state.started;
        state.started = true;
        state.resumed_from = resumed_from;
        if inner.mode == ProgressMode::Bar {
            inner.bar.set_length(total);
            inner.bar.set_position(resumed_from);
            inner.bar.reset_eta();
            if first {
                let bar = inner.multi.add(inner.bar.clone());
                bar.enable_steady_tick(Duration::from_millis(200));
            }
        }
        if let Some(overall) = &inner.overall {
            adjust(overall, state.position, resumed_from);
            if first {
                overall.reset_eta();
            }
        }
        state.position = resumed_from;
        self.refresh_message(&state);
        if inner.mode == ProgressMode::Plain {
            state.plain.start(total, resumed_from);
            if resumed_from > 0 && inner.chatter {
                let line = plain::resumed_line(&inner.label, resumed_from, total);
                eprintln!("{line}");
            }
        }
    }

    /// The other side already held this file: it counts as done (in the
    /// overall bar), without a bar of its own.
    pub fn skipped(&self, size: u64) {
        let mut state = self.lock();
        if let Some(overall) = &self.inner.overall {
            adjust(overall, state.position, size);
        }
        state.position = size;
    }

    /// Verified (or sent) bytes are now `position`.
    pub fn set_position(&self, position: u64) {
        let inner = &self.inner;
        let mut state = self.lock();
        if let Some(overall) = &inner.overall {
            adjust(overall, state.position, position);
        }
        state.position = position;
        inner.bar.set_position(position);
        if inner.mode == ProgressMode::Plain
            && let Some(line) = state.plain.update(&inner.label, position)
        {
            eprintln!("{line}");
        }
    }

    /// `n` more bytes.
    pub fn inc(&self, n: u64) {
        let position = self.lock().position + n;
        self.set_position(position);
    }

    /// The connection failed; the next attempt starts after `delay`.
    pub fn reconnecting(&self, reason: &str, delay: Duration) {
        let inner = &self.inner;
        let mut state = self.lock();
        state.reconnects += 1;
        let wait = format!("retry in {:.1}s: {reason}", delay.as_secs_f64());
        match inner.mode {
            ProgressMode::Bar => inner.bar.set_message(wait),
            ProgressMode::Plain if inner.chatter => {
                if let Some(line) = state.plain.reconnect(&inner.label, &wait) {
                    eprintln!("{line}");
                }
            }
            ProgressMode::None if inner.chatter => eprintln!("wsresume: {reason}; {wait}"),
            _ => {}
        }
    }

    /// A new connection carries on.
    pub fn connected(&self) {
        let state = self.lock();
        self.refresh_message(&state);
    }

    /// A message for the user about this file (unless `-q`).
    pub fn note(&self, text: &str) {
        if self.inner.chatter {
            let line = format!("wsresume: {}: {text}", self.inner.label);
            self.inner.multi.suspend(|| eprintln!("{line}"));
        }
    }

    /// The transfer ended (either way); remove its bar.
    pub fn finish(&self) {
        self.inner.bar.finish_and_clear();
        self.inner.multi.remove(&self.inner.bar);
    }

    /// Reconnects so far.
    pub fn reconnects(&self) -> u32 {
        self.lock().reconnects
    }

    fn refresh_message(&self, state: &State) {
        let mut extra = Vec::new();
        if state.resumed_from > 0 {
            extra.push(format!("resumed at {}", human_bytes(state.resumed_from)));
        }
        match state.reconnects {
            0 => {}
            1 => extra.push("1 reconnect".into()),
            n => extra.push(format!("{n} reconnects")),
        }
        self.inner.bar.set_message(extra.join(", "));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Move `bar` by the change from `from` to `to`.
fn adjust(bar: &ProgressBar, from: u64, to: u64) {
    if to >= from {
        bar.inc(to - from);
    } else {
        bar.dec(from - to);
    }
}
