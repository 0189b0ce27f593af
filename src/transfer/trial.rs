//! Trials for a paced sender's `auto` decision (a session's small files):
//! its drain rate is the pace of its peer's answers, which a slow link and
//! a receiver busy with each file's own work (opening, writing, syncing)
//! both make low. Only the first is helped by fewer bytes, so where the
//! link looks fast enough for compressing to cost real CPU, the sender
//! tries both ways and keeps the faster: a stretch compressed, a stretch
//! raw, each measured in raw bytes per second once the frames sent before
//! it are answered; the verdict holds for a while (longer each time it
//! repeats), then the trials run again. On a slower link compressing costs
//! little CPU next to the link's time, and the model decides alone. Pure.

/// Above this pace (raw bytes per second) compressing is tried before it
/// is trusted; below it, zstd (some 300 MB/s and more) costs a few per
/// cent of a core at most.
pub const TRY_ABOVE: f64 = 8e6;
/// The pace is measured over spans of at least this many seconds.
const PACE_SECS: f64 = 0.1;
/// Frames sent after a switch before measuring: those before it are still
/// being answered (a session keeps up to 64 files, or 64 frames of 256 KiB,
/// outstanding).
const LAG: u32 = 64;
/// Frames measured in each trial...
const MEASURE: u32 = 64;
/// ...and at least this many seconds.
const MEASURE_SECS: f64 = 0.02;
/// Compressing must be this much faster to win.
const MARGIN: f64 = 1.15;
/// A first verdict holds for this many times as many frames as its trial
/// took; doubled each time it repeats, up to [`HOLD_MAX`] times.
const HOLD_MIN: u32 = 8;
const HOLD_MAX: u32 = 64;

/// Where the trials stand.
#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    /// No trial: the model decides.
    Idle,
    /// Trying compressed frames.
    Packed,
    /// Trying raw frames; the compressed ones made this many raw bytes a
    /// second.
    Plain { packed: f64 },
    /// A verdict, for this many more frames.
    Verdict { compress: bool, left: u32 },
}

/// The trials of one paced sender.
#[derive(Debug, Clone)]
pub struct Trial {
    state: State,
    /// Frames in the current trial, and what the measured ones moved.
    frames: u32,
    raw: f64,
    secs: f64,
    /// The last verdict, and how long the next one holds.
    last: Option<bool>,
    hold: u32,
    /// Raw bytes per second (a running average over spans), and the span
    /// being measured: raw bytes, seconds.
    pace: Option<f64>,
    span: (f64, f64),
}

impl Default for Trial {
    fn default() -> Trial {
        Trial {
            state: State::Idle,
            frames: 0,
            raw: 0.0,
            secs: 0.0,
            last: None,
            hold: HOLD_MIN,
            pace: None,
            span: (0.0, 0.0),
        }
    }
}

impl Trial {
    /// Whether to compress the next frame; `model`: what the model says.
    pub fn advise(&mut self, model: bool) -> bool {
        if self.state == State::Idle && model && self.pace.is_some_and(|p| p > TRY_ABOVE) {
            self.switch(State::Packed);
        }
        match self.state {
            State::Idle => model,
            State::Packed => true,
            State::Plain { .. } => false,
            State::Verdict { compress, .. } => compress && model,
        }
    }

    /// A frame of `raw` bytes went out `secs` after the one before it.
    pub fn observe(&mut self, raw: usize, secs: f64) {
        self.span = (self.span.0 + raw as f64, self.span.1 + secs);
        if self.span.1 >= PACE_SECS {
            let now = self.span.0 / self.span.1;
            self.pace = Some(self.pace.map_or(now, |p| p + 0.3 * (now - p)));
            self.span = (0.0, 0.0);
        }
        self.frames += 1;
        if let State::Verdict { compress, left } = self.state {
            self.state = match left.saturating_sub(1) {
                0 => State::Idle,
                left => State::Verdict { compress, left },
            };
            return;
        }
        if self.state == State::Idle || self.frames <= LAG {
            return;
        }
        self.raw += raw as f64;
        self.secs += secs;
        if self.frames < LAG + MEASURE || self.secs < MEASURE_SECS {
            return;
        }
        let rate = self.raw / self.secs;
        match self.state {
            State::Packed => self.switch(State::Plain { packed: rate }),
            State::Plain { packed } => self.verdict(packed > rate * MARGIN),
            _ => {}
        }
    }

    fn switch(&mut self, state: State) {
        (self.state, self.frames, self.raw, self.secs) = (state, 0, 0.0, 0.0);
    }

    fn verdict(&mut self, compress: bool) {
        self.hold = match self.last == Some(compress) {
            true => (self.hold * 2).min(HOLD_MAX),
            false => HOLD_MIN,
        };
        self.last = Some(compress);
        let left = self.hold * self.frames.max(LAG + MEASURE);
        self.switch(State::Verdict { compress, left });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A paced sender of 4 KiB frames whose raw bytes per second are
    /// `plain` sent raw and `packed` compressed, the model saying yes: the
    /// share of `frames` frames compressed.
    fn share(plain: f64, packed: f64, frames: usize) -> f64 {
        let mut trial = Trial::default();
        let mut compressed = 0;
        for _ in 0..frames {
            let compress = trial.advise(true);
            let rate = if compress { packed } else { plain };
            compressed += usize::from(compress);
            trial.observe(4096, 4096.0 / rate);
        }
        compressed as f64 / frames as f64
    }

    #[test]
    fn on_a_fast_looking_link_compressing_is_kept_only_when_it_wins() {
        // (what, raw bytes a second plain, compressed, share compressed:
        // at least, at most)
        let cases = [
            ("1 MB/s link: no trials", 1e6, 4e6, 1.0, 1.0),
            ("loopback, CPU bound", 70e6, 60e6, 0.0, 0.1),
            ("loopback, no gain", 70e6, 75e6, 0.0, 0.1),
            ("loopback, slow receiver", 12e6, 12e6, 0.0, 0.15),
            ("10 MB/s link, text", 10e6, 35e6, 0.85, 1.0),
            ("100 MB/s link, text", 60e6, 200e6, 0.9, 1.0),
        ];
        for (what, plain, packed, least, most) in cases {
            let got = share(plain, packed, 40_000);
            assert!((least..=most).contains(&got), "{what}: {got}");
        }
    }

    #[test]
    fn verdicts_hold_longer_as_they_repeat_and_the_model_can_overrule() {
        let mut trial = Trial::default();
        let mut switches = Vec::new();
        let mut last = None;
        for i in 0..20_000 {
            let compress = trial.advise(true);
            if last != Some(compress) {
                switches.push(i);
                last = Some(compress);
            }
            trial.observe(4096, 4096.0 / if compress { 40e6 } else { 50e6 });
        }
        // Compressed as the model says until the pace is known, then a
        // compressed trial; then raw but for a compressed trial after each
        // verdict, each verdict held twice as long as the last.
        let gaps: Vec<usize> = switches.windows(2).map(|w| w[1] - w[0]).collect();
        let trial = gaps[2];
        assert!(trial >= (LAG + MEASURE) as usize, "{gaps:?}");
        assert!(gaps[0] > trial, "{gaps:?}");
        assert_eq!(gaps[4], trial, "{gaps:?}");
        assert!(gaps[1] > trial * (1 + HOLD_MIN as usize), "{gaps:?}");
        assert!(gaps[3] > gaps[1] * 3 / 2, "{gaps:?}");
        assert!(gaps[5] > gaps[3] * 3 / 2, "{gaps:?}");
        // The model saying no wins over a verdict to compress.
        let mut trial = Trial::default();
        trial.verdict(true);
        assert!(trial.advise(true));
        assert!(!trial.advise(false));
    }
}
