//! Progress on standard error, in one of three styles: indicatif bars on a
//! terminal (an overall bar for several files — files done of total, bytes,
//! rate, ETA — with a bar per file in flight under it, reconnects shown in
//! the bar), short plain lines for logs (at most one per
//! [`plain::INTERVAL`] or per 10 %, for a file and for a job of several
//! files as a whole), or nothing.
//!
//! [`Progress`] is made once per command; [`FileProgress`] is the handle a
//! transfer reports to. Bytes moved without a handle (the small files of a
//! session) count on the overall display only ([`Progress::advance`]). All
//! output of a run goes through here, so notes and reconnect messages never
//! tear a bar. Each bar's line is fitted to the terminal's width (`layout`)
//! and fitted again when the width changes.

mod layout;
mod plain;

use std::fmt::Write;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState};

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
    overall: Option<Arc<Overall>>,
}

impl Progress {
    /// A display in `mode`; `chatter` allows notes (off with `-q`). With
    /// `files > 1`, the job as a whole (`total` bytes) is shown too: an
    /// overall bar above the files' bars, or plain `total: ...` lines.
    pub fn new(mode: ProgressMode, chatter: bool, files: usize, total: u64) -> Progress {
        let target = match mode {
            ProgressMode::Bar => ProgressDrawTarget::stderr_with_hz(10),
            _ => ProgressDrawTarget::hidden(),
        };
        let multi = MultiProgress::with_draw_target(target);
        let overall = Overall::new(mode, &multi, files, total).map(Arc::new);
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
            overall.count(0, bytes, true);
        }
    }

    /// `bytes` of a file without a [`FileProgress`] that the other side
    /// already held (an identical file, skipped): they count on the overall
    /// display like [`Progress::advance`], but not in the plain lines' rate.
    pub fn skipped(&self, bytes: u64) {
        if let Some(overall) = &self.overall {
            overall.count(0, bytes, false);
        }
    }

    /// Take back `bytes` given to [`Progress::advance`] that were lost (a
    /// cut session: the small file is requested again from its start).
    pub fn retract(&self, bytes: u64) {
        if let Some(overall) = &self.overall {
            overall.count(bytes, 0, true);
        }
    }

    /// `done` of the job's files are finished (the overall count; a
    /// smaller `done` than one already given is ignored; `files` is the
    /// job's count given to [`Progress::new`]). Cheap: no text is made per
    /// call.
    pub fn file_done(&self, done: usize, files: usize) {
        if let Some(overall) = &self.overall {
            overall.file_done(done.min(files));
        }
    }

    /// Remove the bars.
    pub fn finish(&self) {
        if let Some(bar) = self.overall.as_ref().and_then(|o| o.bar.as_ref()) {
            bar.bar.finish_and_clear();
        }
        let _ = self.multi.clear();
    }
}

/// The display of a job of several files as a whole: its bar above the
/// files' bars, or its plain lines.
struct Overall {
    /// Files finished (read by the bar's label when it is drawn).
    done: Arc<AtomicUsize>,
    bar: Option<FittedBar>,
    lines: Option<Mutex<plain::JobLines>>,
}

impl Overall {
    /// The display for `files` files of `total` bytes, if `mode` shows one.
    fn new(mode: ProgressMode, multi: &MultiProgress, files: usize, total: u64) -> Option<Overall> {
        if files < 2 {
            return None;
        }
        let done = Arc::new(AtomicUsize::new(0));
        let (bar, lines) = match mode {
            ProgressMode::Bar => {
                let bar = multi.add(ProgressBar::new(total));
                let label = layout::files_label(files, files, usize::MAX);
                let mut fitted = FittedBar::new(bar, "green/white", &label, true);
                fitted.files = Some((done.clone(), files));
                fitted.update(|_| {});
                (Some(fitted), None)
            }
            ProgressMode::Plain => {
                let lines = plain::JobLines::new(files, total, Instant::now());
                (None, Some(Mutex::new(lines)))
            }
            ProgressMode::None => return None,
        };
        Some(Overall { done, bar, lines })
    }

    /// A file's count went from `from` to `to` bytes; `moved`: the bytes
    /// moved now (else they were there already: a skip, a resumed part).
    fn count(&self, from: u64, to: u64, moved: bool) {
        if let Some(bar) = &self.bar {
            adjust(&bar.bar, from, to);
            bar.refit_if_resized();
        }
        if let Some(lines) = &self.lines {
            let mut lines = lines
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            lines.count(from, to, moved);
            self.print_due(&mut lines);
        }
    }

    fn file_done(&self, done: usize) {
        self.done.fetch_max(done, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            // Redrawn (at most at the draw rate) with the new count.
            bar.bar.inc(0);
        }
        if let Some(lines) = &self.lines {
            let mut lines = lines
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            self.print_due(&mut lines);
        }
    }

    fn print_due(&self, lines: &mut plain::JobLines) {
        let done = self.done.load(Ordering::Relaxed);
        if let Some(line) = lines.update(done, Instant::now()) {
            eprintln!("{line}");
        }
    }
}

/// In a job of several files, a file shows plain lines of its own only when
/// it is larger than this (the job's lines cover the small ones; the same
/// limit as a session's small files, `protocol::SMALL_FILE_MAX`).
const OWN_LINES_MIN: u64 = 1 << 20;

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
    /// The overall bar: its label is made from the files done (read when
    /// the bar is drawn) of this many.
    files: Option<(Arc<AtomicUsize>, usize)>,
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
            files: None,
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
        let mut style = line.style(self.colours);
        if let Some((done, files)) = &self.files {
            let (done, files, room) = (done.clone(), *files, line.name_columns());
            style = style.with_key("prefix", move |_: &ProgressState, w: &mut dyn Write| {
                let done = done.load(Ordering::Relaxed);
                let _ = w.write_str(&layout::files_label(done, files, room));
            });
        }
        self.bar.set_style(style);
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
    overall: Option<Arc<Overall>>,
    state: Mutex<State>,
}

/// What a file's display remembers.
#[derive(Default)]
struct State {
    started: bool,
    position: u64,
    resumed_from: u64,
    reconnects: u32,
    /// Plain lines of the file's own (see [`OWN_LINES_MIN`]).
    own_lines: bool,
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
            overall.count(state.position, resumed_from, false);
            if let Some(bar) = overall.bar.as_ref().filter(|_| first) {
                bar.bar.reset_eta();
            }
        }
        state.position = resumed_from;
        self.refresh_message(&state);
        state.own_lines =
            inner.mode == ProgressMode::Plain && (inner.overall.is_none() || total > OWN_LINES_MIN);
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
            overall.count(state.position, size, false);
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
            overall.count(state.position, position, true);
        }
        state.position = position;
        inner.bar.set_position(position);
        inner.line.refit_if_resized();
        if state.own_lines
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

#[cfg(test)]
mod tests {
    use super::*;

    fn overall_position(progress: &Progress) -> u64 {
        let overall = progress.overall.as_ref().unwrap();
        overall.bar.as_ref().unwrap().bar.position()
    }

    /// Bytes with and without a file's handle meet on the overall bar; no
    /// handle, no bar of its own.
    #[test]
    fn the_overall_bar_counts_every_kind_of_byte() {
        let progress = Progress::new(ProgressMode::Bar, false, 4, 10_000);
        progress.advance(1000);
        progress.skipped(500);
        progress.retract(300);
        assert_eq!(overall_position(&progress), 1200);
        let file = progress.file("large.bin");
        file.start(5000, 2000);
        file.inc(1000);
        assert_eq!(overall_position(&progress), 4200);
        file.start(5000, 0);
        assert_eq!(overall_position(&progress), 1200, "restarted from zero");
        file.skipped(5000);
        assert_eq!(overall_position(&progress), 6200);
        progress.file_done(3, 4);
        progress.file_done(2, 4);
        let done = &progress.overall.as_ref().unwrap().done;
        assert_eq!(done.load(Ordering::Relaxed), 3, "the count never goes back");
    }

    #[test]
    fn one_file_or_no_display_has_no_overall() {
        let cases = [
            (ProgressMode::Bar, 1, false),
            (ProgressMode::Bar, 2, true),
            (ProgressMode::Plain, 1, false),
            (ProgressMode::Plain, 2, true),
            (ProgressMode::None, 2, false),
        ];
        for (mode, files, overall) in cases {
            let progress = Progress::new(mode, false, files, 100);
            assert_eq!(progress.overall.is_some(), overall, "{mode:?} {files}");
            progress.advance(100);
            progress.file_done(files, files);
        }
    }
}
