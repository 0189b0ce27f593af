//! Plain progress lines for logs: a line when another 10 % is done or
//! [`INTERVAL`] has passed since the last one, never more often than
//! [`MIN_GAP`]; reconnects are folded into those lines.

use std::time::{Duration, Instant};

use crate::report::human_bytes;

/// Longest time between two lines while bytes move.
pub const INTERVAL: Duration = Duration::from_secs(5);
/// Shortest time between two lines (except the last one).
const MIN_GAP: Duration = Duration::from_millis(500);

/// When the last line was printed and what it said.
#[derive(Default)]
pub struct PlainState {
    total: u64,
    started: Option<(Instant, u64)>,
    last_line: Option<Instant>,
    last_tenth: u64,
    pending_reconnect: Option<String>,
}

impl PlainState {
    /// The transfer (re)starts at `resumed_from` of `total`.
    pub fn start(&mut self, total: u64, resumed_from: u64) {
        let now = Instant::now();
        self.total = total;
        self.started = Some((now, resumed_from));
        self.last_line = Some(now);
        self.last_tenth = tenth(resumed_from, total);
    }

    /// The line to print for `position`, if one is due.
    pub fn update(&mut self, label: &str, position: u64) -> Option<String> {
        let now = Instant::now();
        let since = self.last_line.map_or(INTERVAL, |t| now - t);
        let tenth = tenth(position, self.total);
        let done = position >= self.total && self.total > 0;
        let due = (tenth > self.last_tenth && since >= MIN_GAP) || since >= INTERVAL;
        if !(due || done && tenth > self.last_tenth) {
            return None;
        }
        self.last_line = Some(now);
        self.last_tenth = tenth;
        Some(self.line(label, position, now))
    }

    /// A reconnect: printed at once unless a line was printed just now, in
    /// which case it goes with the next line.
    pub fn reconnect(&mut self, label: &str, what: &str) -> Option<String> {
        let now = Instant::now();
        if self.last_line.is_some_and(|t| now - t < MIN_GAP) {
            self.pending_reconnect = Some(what.to_string());
            return None;
        }
        self.last_line = Some(now);
        Some(format!("{label}: {what}"))
    }

    fn line(&mut self, label: &str, position: u64, now: Instant) -> String {
        let total = self.total;
        let percent = position
            .saturating_mul(100)
            .checked_div(total)
            .unwrap_or(100);
        let mut line = format!(
            "{label}: {percent}% ({} of {})",
            human_bytes(position),
            human_bytes(total)
        );
        if let Some((start, from)) = self.started {
            let secs = (now - start).as_secs_f64();
            let moved = position.saturating_sub(from);
            if secs > 0.0 && moved > 0 {
                let rate = moved as f64 / secs;
                let eta = total.saturating_sub(position) as f64 / rate;
                line.push_str(&format!(
                    ", {}/s, ETA {}",
                    human_bytes(rate as u64),
                    eta_text(eta)
                ));
            }
        }
        if let Some(what) = self.pending_reconnect.take() {
            line.push_str(&format!(" ({what})"));
        }
        line
    }
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
        state.last_line = Some(Instant::now() - MIN_GAP);
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
        state.last_line = Some(Instant::now() - INTERVAL);
        assert!(state.update("f", 1).is_some());
    }

    #[test]
    fn reconnects_right_after_a_line_wait_for_the_next() {
        let mut state = PlainState::default();
        state.start(1000, 0);
        assert!(state.reconnect("f", "retry in 0.2s: cut").is_none());
        state.last_line = Some(Instant::now() - INTERVAL);
        let line = state.update("f", 500).unwrap();
        assert!(line.ends_with("(retry in 0.2s: cut)"), "{line}");
    }

    #[test]
    fn eta_reads_well() {
        assert_eq!(eta_text(5.2), "5s");
        assert_eq!(eta_text(125.0), "2m05s");
        assert_eq!(eta_text(7300.0), "2h01m");
    }
}
