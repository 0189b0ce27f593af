//! Progress on standard error, in one of three styles: indicatif bars on a
//! terminal (one per file and an overall bar for several files, reconnects
//! shown in the bar), short plain lines for logs (at most one per
//! [`plain::INTERVAL`] or per 10 %), or nothing.
//!
//! [`Progress`] is made once per command; [`FileProgress`] is the handle a
//! transfer reports to. All output of a run goes through here, so notes and
//! reconnect messages never tear a bar. Each bar's line is fitted to the
//! terminal's width (`layout`) and fitted again when the width changes.

mod layout;
mod plain;

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget};

use crate::report::human_bytes;

pub use crate::cli::ProgressMode;

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
}

/// The progress display of one command (one or several files).
pub struct Progress {
    mode: ProgressMode,
    chatter: bool,
    multi: MultiProgress,
    overall: Option<Arc<FittedBar>>,
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
            let label = format!("total: 0 of {files} files");
            Arc::new(FittedBar::new(bar, "green/white", &label, true))
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
        let shown = self.mode == ProgressMode::Bar;
        let line = FittedBar::new(ProgressBar::hidden(), "cyan/blue", label, shown);
        FileProgress {
            inner: Arc::new(Inner {
                mode: self.mode,
                chatter: self.chatter,
                label: label.to_string(),
                multi: self.multi.clone(),
                bar: line.bar.clone(),
                line,
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

    /// `bytes` more moved without a [`FileProgress`] of their own (small
    /// files of a session): they count on the overall display only, and no
    /// bar is made for them. Cheap enough for thousands of calls a second.
    /// The file count still comes from [`Progress::file_done`].
    pub fn advance(&self, bytes: u64) {
        if let Some(overall) = &self.overall {
            overall.bar.inc(bytes);
        }
    }

    /// One more file is finished (for the overall bar's count).
    pub fn file_done(&self, done: usize, files: usize) {
        if let Some(overall) = &self.overall {
            overall.update(|text| text.label = format!("total: {done} of {files} files"));
        }
    }

    /// Remove the bars.
    pub fn finish(&self) {
        if let Some(overall) = &self.overall {
            overall.bar.finish_and_clear();
        }
        let _ = self.multi.clear();
    }
}

/// How often a bar checks whether the terminal's width changed.
const WIDTH_CHECK: Duration = Duration::from_secs(1);

/// The terminal's width now (80 columns when it cannot be told).
fn terminal_width() -> u16 {
    console::Term::stderr()
        .size_checked()
        .map_or(80, |(_, columns)| columns)
}

/// A bar whose line is fitted to the terminal's width.
struct FittedBar {
    bar: ProgressBar,
    colours: &'static str,
    /// Whether the bar is ever drawn (bar mode).
    shown: bool,
    text: Mutex<BarText>,
}

/// What a bar's line says, and the width it was fitted to.
struct BarText {
    label: String,
    message: String,
    /// Waiting to reconnect: `message` says why.
    waiting: bool,
    width: u16,
    checked: Instant,
}

impl FittedBar {
    fn new(bar: ProgressBar, colours: &'static str, label: &str, shown: bool) -> FittedBar {
        let fitted = FittedBar {
            bar,
            colours,
            shown,
            text: Mutex::new(BarText {
                label: label.to_string(),
                message: String::new(),
                waiting: false,
                width: 0,
                checked: Instant::now(),
            }),
        };
        fitted.update(|_| {});
        fitted
    }

    /// Change what the line says and fit it again.
    fn update(&self, change: impl FnOnce(&mut BarText)) {
        self.with_text(|text| {
            change(text);
            text.width = terminal_width();
            text.checked = Instant::now();
            true
        });
    }

    /// Fit the line again if the terminal's width changed (checked at most
    /// every [`WIDTH_CHECK`]).
    fn refit_if_resized(&self) {
        self.with_text(|text| {
            if text.checked.elapsed() < WIDTH_CHECK {
                return false;
            }
            text.checked = Instant::now();
            let width = terminal_width();
            let resized = width != text.width;
            text.width = width;
            resized
        });
    }

    /// Run `change` on the line's text (when the bar is shown) and fit the
    /// line again if it says so.
    fn with_text(&self, change: impl FnOnce(&mut BarText) -> bool) {
        if !self.shown {
            return;
        }
        let mut text = self
            .text
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if change(&mut text) {
            self.apply(&text);
        }
    }

    fn apply(&self, text: &BarText) {
        let line = layout::fit(text.width, &text.label, &text.message, text.waiting);
        self.bar.set_style(line.style(self.colours));
        self.bar.set_prefix(line.prefix);
        self.bar.set_message(line.message);
    }
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
    /// The file's bar (`line.bar`).
    bar: ProgressBar,
    line: FittedBar,
    overall: Option<Arc<FittedBar>>,
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
            adjust(&overall.bar, state.position, resumed_from);
            if first {
                overall.bar.reset_eta();
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
            adjust(&overall.bar, state.position, size);
        }
        state.position = size;
    }

    /// Verified (or sent) bytes are now `position`.
    pub fn set_position(&self, position: u64) {
        self.move_to(&mut self.lock(), position);
    }

    /// `n` more bytes (per data frame: one lock).
    pub fn inc(&self, n: u64) {
        let mut state = self.lock();
        let position = state.position + n;
        self.move_to(&mut state, position);
    }

    fn move_to(&self, state: &mut State, position: u64) {
        let inner = &self.inner;
        if let Some(overall) = &inner.overall {
            adjust(&overall.bar, state.position, position);
            overall.refit_if_resized();
        }
        state.position = position;
        inner.bar.set_position(position);
        inner.line.refit_if_resized();
        if inner.mode == ProgressMode::Plain
            && let Some(line) = state.plain.update(&inner.label, position)
        {
            eprintln!("{line}");
        }
    }

    /// The connection failed; the next attempt starts after `delay`.
    pub fn reconnecting(&self, reason: &str, delay: Duration) {
        let inner = &self.inner;
        let mut state = self.lock();
        state.reconnects += 1;
        let delay = layout::delay_text(delay);
        let wait = format!("retry in {delay}: {reason}");
        match inner.mode {
            ProgressMode::Bar => inner.line.update(|text| {
                text.message = format!("retry in {delay}: {}", layout::short_reason(reason));
                text.waiting = true;
            }),
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
        self.inner.line.update(|text| {
            text.message = extra.join(", ");
            text.waiting = false;
        });
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
