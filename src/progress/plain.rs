//! Plain progress lines for logs: a line when another 10 % is done or
//! [`INTERVAL`] has passed since the last one, never more often than
//! [`MIN_GAP`]; reconnects are folded into those lines. One rule ([`Pace`])
//! for a file's lines and for a job's (`total: 3 of 10 files, ...`).

use std::time::{Duration, Instant};

use crate::report::human_bytes;

/// Longest time between two lines while bytes move.
pub const INTERVAL: Duration = Duration::from_secs(5);
/// Shortest time between two lines (except the last one).
const MIN_GAP: Duration = Duration::from_millis(500);

/// When a line is due: another tenth of `total` is done (but not sooner
/// than [`MIN_GAP`] after the last line), or [`INTERVAL`] has passed since
/// the last line; the end (all of `total`) always shows. The one rule for
/// a file's lines and a job's.
#[derive(Default)]
struct Pace {
    total: u64,
    last_line: Option<Instant>,
    last_tenth: u64,
}

impl Pace {
    /// Counting (again) from `position` of `total` at `now`.
    fn start(&mut self, total: u64, position: u64, now: Instant) {
        self.total = total;
        self.last_line = Some(now);
        self.last_tenth = tenth(position, total);
    }

    /// Whether a line is due for `position` at `now` (remembered when it
    /// is). `may_end`: the last tenth may be shown (a job holds it back
    /// until every file is done, so its last line says so).
    fn due(&mut self, position: u64, may_end: bool, now: Instant) -> bool {
        let since = self
            .last_line
            .map_or(INTERVAL, |t| now.saturating_duration_since(t));
        let mut tenth = tenth(position, self.total);
        if !may_end {
            tenth = tenth.min(9);
        }
        let done = tenth == 10 && self.total > 0;
        let new_tenth = tenth > self.last_tenth;
        let due = (new_tenth && since >= MIN_GAP) || since >= INTERVAL;
        if !(due || done && new_tenth) {
            return false;
        }
        self.last_line = Some(now);
        self.last_tenth = self.last_tenth.max(tenth);
        true
    }

    /// The percentage `position` is of the total.
    fn percent(&self, position: u64) -> u64 {
        position
            .saturating_mul(100)
            .checked_div(self.total)
            .unwrap_or(100)
    }
}

/// When the last line of a file was printed and what it said.
#[derive(Default)]
pub struct PlainState {
    pace: Pace,
    started: Option<(Instant, u64)>,
    pending_reconnect: Option<String>,
}

impl PlainState {
    /// The transfer (re)starts at `resumed_from` of `total`.
    pub fn start(&mut self, total: u64, resumed_from: u64) {
        let now = Instant::now();
        self.pace.start(total, resumed_from, now);
        self.started = Some((now, resumed_from));
    }

    /// The line to print for `position`, if one is due.
    pub fn update(&mut self, label: &str, position: u64) -> Option<String> {
        let now = Instant::now();
        self.pace
            .due(position, true, now)
            .then(|| self.line(label, position, now))
    }

    /// A reconnect: printed at once unless a line was printed just now, in
    /// which case it goes with the next line.
    pub fn reconnect(&mut self, label: &str, what: &str) -> Option<String> {
        let now = Instant::now();
        if self.pace.last_line.is_some_and(|t| now - t < MIN_GAP) {
            self.pending_reconnect = Some(what.to_string());
            return None;
        }
        self.pace.last_line = Some(now);
        Some(format!("{label}: {what}"))
    }

    fn line(&mut self, label: &str, position: u64, now: Instant) -> String {
        let total = self.pace.total;
        let mut line = format!(
            "{label}: {}% ({} of {})",
            self.pace.percent(position),
            human_bytes(position),
            human_bytes(total)
        );
        if let Some((start, from)) = self.started {
            let moved = position.saturating_sub(from);
            line.push_str(&rate_and_eta(
                moved,
                now - start,
                total.saturating_sub(position),
            ));
        }
        if let Some(what) = self.pending_reconnect.take() {
            line.push_str(&format!(" ({what})"));
        }
        line
    }
}

/// The plain lines of a job of several files: one line for the whole job
/// (files done, bytes, rate, ETA) by the same rule as a file's.
pub struct JobLines {
    files: usize,
    pace: Pace,
    started: Instant,
    /// Bytes counted so far.
    position: u64,
    /// Bytes counted without moving now (skipped files, resumed parts):
    /// left out of the rate.
    credited: u64,
    /// The line with every file done was printed.
    ended: bool,
}

impl JobLines {
    /// A job of `files` files, `total` bytes, starting at `now`.
    pub fn new(files: usize, total: u64, now: Instant) -> JobLines {
        let mut pace = Pace::default();
        pace.start(total, 0, now);
        JobLines {
            files,
            pace,
            started: now,
            position: 0,
            credited: 0,
            ended: false,
        }
    }

    /// The count of a file went from `from` to `to` bytes; `moved`: the
    /// bytes moved now (else they were there already).
    pub fn count(&mut self, from: u64, to: u64, moved: bool) {
        self.position = shift(self.position, from, to);
        if !moved {
            self.credited = shift(self.credited, from, to);
        }
    }

    /// The line to print with `done` files finished, if one is due at
    /// `now`; the first time every file is done, always (failed files may
    /// leave bytes uncounted), and nothing after that line.
    pub fn update(&mut self, done: usize, now: Instant) -> Option<String> {
        if self.ended {
            return None;
        }
        let all_done = done >= self.files;
        let due = self.pace.due(self.position, all_done, now);
        if !due && !all_done {
            return None;
        }
        self.ended = all_done;
        Some(self.line(done, now))
    }

    fn line(&self, done: usize, now: Instant) -> String {
        let (position, total) = (self.position, self.pace.total);
        let mut line = format!(
            "total: {done} of {} files, {} of {} ({}%)",
            self.files,
            human_bytes(position),
            human_bytes(total),
            self.pace.percent(position)
        );
        let moved = position.saturating_sub(self.credited);
        let left = total.saturating_sub(position);
        line.push_str(&rate_and_eta(moved, now - self.started, left));
        line
    }
}

/// `value` moved by the change from `from` to `to` (never below 0).
fn shift(value: u64, from: u64, to: u64) -> u64 {
    if to >= from {
        value.saturating_add(to - from)
    } else {
        value.saturating_sub(from - to)
    }
}

/// `, 12.3 MiB/s, ETA 5s` after `moved` bytes in `elapsed` with `left` to
/// go (nothing before the first byte).
fn rate_and_eta(moved: u64, elapsed: Duration, left: u64) -> String {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 || moved == 0 {
        return String::new();
    }
    let rate = moved as f64 / secs;
    let eta = left as f64 / rate;
    format!(", {}/s, ETA {}", human_bytes(rate as u64), eta_text(eta))
}

/// The line printed when a transfer resumes.
pub fn resumed_line(label: &str, resumed_from: u64, total: u64) -> String {
    format!(
        "{label}: resumed at {} of {}",
        human_bytes(resumed_from),
        human_bytes(total)
    )
}

fn tenth(position: u64, total: u64) -> u64 {
    if total == 0 {
        10
    } else {
        (position.min(total) as u128 * 10 / total as u128) as u64
    }
}

fn eta_text(secs: f64) -> String {
    let secs = secs.round().min(359_999.0) as u64;
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_come_per_tenth_not_per_update() {
        let mut state = PlainState::default();
        state.start(1000, 0);
        state.pace.last_line = Some(Instant::now() - MIN_GAP);
        assert!(state.update("f", 50).is_none(), "5 % is not a new tenth");
        let line = state.update("f", 100).expect("10 % is due");
        assert!(line.starts_with("f: 10% (100 B of 1000 B)"), "{line}");
        assert!(state.update("f", 150).is_none(), "too soon, same tenth");
        let last = state.update("f", 1000).expect("the end is always shown");
        assert!(last.starts_with("f: 100%"), "{last}");
    }

    #[test]
    fn a_quiet_transfer_still_reports_every_interval() {
        let mut state = PlainState::default();
        state.start(1000, 0);
        state.pace.last_line = Some(Instant::now() - INTERVAL);
        assert!(state.update("f", 1).is_some());
    }

    #[test]
    fn reconnects_right_after_a_line_wait_for_the_next() {
        let mut state = PlainState::default();
        state.start(1000, 0);
        assert!(state.reconnect("f", "retry in 0.2s: cut").is_none());
        state.pace.last_line = Some(Instant::now() - INTERVAL);
        let line = state.update("f", 500).unwrap();
        assert!(line.ends_with("(retry in 0.2s: cut)"), "{line}");
    }

    /// The job's rule, step by step: (ms since the start, bytes counted,
    /// files done) → a line or not.
    #[test]
    fn job_lines_come_per_tenth_or_interval_and_end_with_every_file() {
        let steps = [
            (100, 50, 0, false),     // not a new tenth
            (200, 100, 1, false),    // 10 %, but too soon after the start
            (600, 150, 1, true),     // 10 %
            (700, 290, 2, false),    // 20 %, too soon
            (1200, 300, 3, true),    // 30 %
            (1300, 310, 3, false),   // same tenth
            (6000, 320, 3, false),   // same tenth, 4.8 s
            (6200, 330, 3, true),    // 5 s without a line
            (6300, 1000, 9, false),  // all bytes, too soon
            (6900, 1000, 9, true),   // shown as 90 %'s line: a file is not done
            (7000, 1000, 9, false),  // nothing new
            (7100, 1000, 10, true),  // every file done: shown at once
            (7200, 1000, 10, false), // once
        ];
        let start = Instant::now();
        let mut job = JobLines::new(10, 1000, start);
        let mut position = 0;
        for (millis, to, done, expected) in steps {
            job.count(position, to, true);
            position = to;
            let line = job.update(done, start + Duration::from_millis(millis));
            assert_eq!(line.is_some(), expected, "at {millis} ms: {line:?}");
        }
        let mut job = JobLines::new(2, 1000, start);
        job.count(0, 1000, true);
        let end = job.update(2, start + Duration::from_secs(2)).unwrap();
        assert_eq!(
            end,
            "total: 2 of 2 files, 1000 B of 1000 B (100%), 500 B/s, ETA 0s"
        );
        // A failed file leaves bytes uncounted: the end is shown all the same.
        let mut job = JobLines::new(2, 1000, start);
        job.count(0, 500, true);
        let at = start + Duration::from_secs(1);
        assert!(job.update(1, at).is_some(), "50 %");
        let end = job.update(2, at).expect("every file done");
        assert!(
            end.starts_with("total: 2 of 2 files, 500 B of 1000 B (50%)"),
            "{end}"
        );
        assert!(job.update(2, at + INTERVAL).is_none(), "the end once");
    }

    #[test]
    fn skipped_bytes_count_but_are_not_a_rate() {
        let start = Instant::now();
        let mut job = JobLines::new(3, 1000, start);
        job.count(0, 500, false);
        job.count(0, 100, true);
        let line = job.update(1, start + Duration::from_secs(1)).unwrap();
        assert_eq!(
            line,
            "total: 1 of 3 files, 600 B of 1000 B (60%), 100 B/s, ETA 4s"
        );
        // A file that starts again from zero takes its bytes back.
        job.count(100, 0, false);
        let line = job.update(1, start + Duration::from_secs(7)).unwrap();
        assert!(line.contains("500 B of 1000 B (50%)"), "{line}");
    }

    /// Thousands of small updates a second for a minute: at most a line per
    /// tenth and one per interval, whatever the pattern.
    #[test]
    fn job_lines_stay_few() {
        let start = Instant::now();
        let files = 10_000;
        let total = files as u64 * 4096;
        let mut job = JobLines::new(files, total, start);
        let mut lines = 0;
        let steps = 60_000;
        for step in 1..=steps {
            // A file every 6 ms, bytes in between; the last at the end.
            let done = step * files / steps;
            job.count(0, total / steps as u64, true);
            let now = start + Duration::from_millis(step as u64);
            lines += usize::from(job.update(done, now).is_some());
        }
        let bound = 11 + steps / 5000;
        assert!(lines <= bound, "{lines} lines > {bound}");
        assert!(lines >= 10, "{lines} lines: every tenth should show");
    }

    #[test]
    fn eta_reads_well() {
        assert_eq!(eta_text(5.2), "5s");
        assert_eq!(eta_text(125.0), "2m05s");
        assert_eq!(eta_text(7300.0), "2h01m");
    }
}
