//! The `auto` decision of `--compress`: whether the next data frame goes
//! compressed, judged only from what the sending side measured: how well
//! recent frames compressed, how fast the compressor and the reading
//! (read + hash) run, and how fast the consumer (the socket behind a
//! bounded queue) drains the frames. Pure: no clock, no codec; the caller
//! reports durations ([`Measured`]) and asks ([`Policy::choose`]).
//!
//! The drain rate is known only while the sender waits for room in the
//! queue: then the consumer sets the pace, and wire bytes over elapsed time
//! is the link's rate. A sender that never waits has a link at least as
//! fast as itself, where compressing can only add time.
//!
//! A *paced* sender ([`Policy::paced`]: a session's small files, sent as
//! the answers to earlier ones come back) sends in bursts and then waits
//! long: its windows close on time only, so that a burst is measured
//! together with the wait that follows it. Its drain rate may be its
//! receiver's pace rather than the link's, so on a link that looks fast
//! the model's yes is put to the test ([`Trial`]).

use std::time::Duration;

use super::trial::Trial;
use crate::protocol::CompressMode;

/// Compress only when the estimate beats sending raw by this factor.
const MARGIN: f64 = 1.15;
/// Weight of a new observation in the running averages.
const ALPHA: f64 = 0.3;
/// A window of measurements closes after this much time (long enough to
/// smooth over a socket that drains in bursts)...
const WINDOW_TIME: f64 = 0.1;
/// ...or this many frames.
const WINDOW_FRAMES: u32 = 64;
/// The sender "waited" in a window when waiting took this share of it.
const WAITED_SHARE: f64 = 0.05;
/// Frames between samples when not compressing: starts here...
const SAMPLE_MIN: u32 = 8;
/// ...and doubles while samples keep saying no, up to here.
const SAMPLE_MAX: u32 = 64;

/// What to do with the next frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Send the bytes as they are.
    Raw,
    /// Compress (and send raw anyway should it not shrink).
    Compress,
    /// Send raw, but compress the first [`PROBE`] bytes to re-estimate
    /// (a fraction of the cost of compressing the frame).
    Probe,
}

/// Bytes of a frame compressed by a [`Choice::Probe`].
pub const PROBE: usize = 32 * 1024;

/// What a probe found: `raw` bytes compressed to `packed` in `took`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Probe {
    /// Bytes probed.
    pub raw: usize,
    /// Their compressed size (`raw` when they did not shrink).
    pub packed: usize,
    /// Time compressing them.
    pub took: Duration,
}

/// What sending one frame (or a check message) cost.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Measured {
    /// Uncompressed bytes of the frame (0 for a check message).
    pub raw: usize,
    /// Bytes it took on the wire.
    pub wire: usize,
    /// Reading and hashing it.
    pub produce: Duration,
    /// Compressing it, when it was.
    pub compress: Option<Duration>,
    /// What probing it found, when it was probed.
    pub probe: Option<Probe>,
    /// Waiting for room in the queue to the socket.
    pub wait: Duration,
}

/// Measurements not yet folded into the link's rate.
#[derive(Debug, Clone, Default)]
struct Window {
    frames: u32,
    wire: f64,
    busy: f64,
    wait: f64,
}

/// The running estimates and the sampling schedule of one connection.
#[derive(Debug, Clone)]
pub struct Policy {
    mode: CompressMode,
    /// Wire bytes per raw byte of compressed frames.
    ratio: Option<f64>,
    /// Raw bytes per second through the compressor.
    compress_rate: Option<f64>,
    /// Raw bytes per second of reading and hashing.
    produce_rate: Option<f64>,
    /// Wire bytes per second the consumer drains (None: faster than the
    /// sender so far).
    link: Option<f64>,
    window: Window,
    since_sample: u32,
    sample_every: u32,
    sampling: bool,
    /// Windows close on time only, and compressing is tried against
    /// sending raw (a paced sender).
    paced: Option<Trial>,
}

impl Policy {
    /// A fresh policy for `mode` (`off` never compresses).
    pub fn new(mode: CompressMode) -> Policy {
        Policy {
            mode,
            ratio: None,
            compress_rate: None,
            produce_rate: None,
            link: None,
            window: Window::default(),
            since_sample: 0,
            sample_every: SAMPLE_MIN,
            sampling: false,
            paced: None,
        }
    }

    /// A fresh policy for a paced sender: one that sends in bursts, as
    /// its peer's answers allow, and then waits (a session).
    pub fn paced(mode: CompressMode) -> Policy {
        Policy {
            paced: Some(Trial::default()),
            ..Policy::new(mode)
        }
    }

    /// Whether to compress the next frame of `raw` bytes.
    pub fn choose(&mut self, raw: usize) -> Choice {
        self.sampling = false;
        match self.mode {
            CompressMode::Off => return Choice::Raw,
            CompressMode::On => return Choice::Compress,
            CompressMode::Auto => {}
        }
        if self.ratio.is_none() {
            return Choice::Probe;
        }
        let pays = self.pays(raw);
        let compress = match &mut self.paced {
            Some(trial) => trial.advise(pays),
            None => pays,
        };
        if compress {
            self.since_sample = 0;
            return Choice::Compress;
        }
        self.since_sample += 1;
        if self.since_sample >= self.sample_every {
            self.since_sample = 0;
            self.sampling = true;
            return Choice::Probe;
        }
        Choice::Raw
    }

    /// Fold in what the last frame (or check message) cost.
    pub fn record(&mut self, m: Measured) {
        if m.raw > 0 {
            let raw = m.raw as f64;
            let produce = m.produce.as_secs_f64().max(1e-9);
            self.produce_rate = Some(average(self.produce_rate, raw / produce));
            if let Some(took) = m.compress {
                self.compressed(raw, m.wire as f64, took);
            }
        }
        if let Some(probe) = m.probe.filter(|p| p.raw > 0) {
            self.compressed(probe.raw as f64, probe.packed as f64, probe.took);
        }
        if let Some(trial) = self.paced.as_mut().filter(|_| m.raw > 0) {
            let probe = m.probe.map(|p| p.took).unwrap_or_default();
            let spent = m.produce + m.compress.unwrap_or_default() + probe + m.wait;
            trial.observe(m.raw, spent.as_secs_f64());
        }
        if self.sampling && m.probe.is_some() {
            self.sample_every = match self.pays(m.raw.max(1)) {
                true => SAMPLE_MIN,
                false => (self.sample_every * 2).min(SAMPLE_MAX),
            };
        }
        self.add_to_window(m);
    }

    fn compressed(&mut self, raw: f64, packed: f64, took: Duration) {
        let took = took.as_secs_f64().max(1e-9);
        self.compress_rate = Some(average(self.compress_rate, raw / took));
        self.ratio = Some(average(self.ratio, packed / raw));
    }

    /// The estimated wire bytes per second of the link (None: unknown,
    /// faster than the sender).
    pub fn link_rate(&self) -> Option<f64> {
        self.link
    }

    fn add_to_window(&mut self, m: Measured) {
        let w = &mut self.window;
        w.frames += u32::from(m.raw > 0);
        w.wire += m.wire as f64;
        let probe = m.probe.map(|p| p.took).unwrap_or_default();
        w.busy += (m.produce + m.compress.unwrap_or_default() + probe).as_secs_f64();
        w.wait += m.wait.as_secs_f64();
        let elapsed = w.busy + w.wait;
        let full = self.paced.is_none() && w.frames >= WINDOW_FRAMES;
        if !full && elapsed < WINDOW_TIME {
            return;
        }
        if elapsed > 0.0 && w.wire > 0.0 {
            let rate = w.wire / elapsed;
            self.link = if w.wait >= WAITED_SHARE * elapsed {
                Some(average(self.link, rate))
            } else {
                // Not waiting: the link is at least this fast.
                self.link.map(|link| link.max(rate))
            };
        }
        self.window = Window::default();
    }

    /// Whether compressing a frame of `raw` bytes is estimated to make the
    /// transfer faster: reading, compressing and the link overlap, so a
    /// frame costs the slowest of them.
    fn pays(&self, raw: usize) -> bool {
        let (Some(ratio), Some(compress), Some(produce)) =
            (self.ratio, self.compress_rate, self.produce_rate)
        else {
            return false;
        };
        // Unknown until the sender waits for room: faster than the sender,
        // as far as anyone can tell. (Not compressing meanwhile matters: a
        // rate measured while compressing can be the receiver's pace, not
        // the link's, and would keep a fast link compressing.)
        let Some(link) = self.link else {
            return false;
        };
        let raw = raw as f64;
        let read = raw / produce;
        let plain = read.max(raw / link);
        let packed = (read + raw / compress).max(raw * ratio / link);
        packed * MARGIN < plain
    }
}

fn average(old: Option<f64>, new: f64) -> f64 {
    match old {
        Some(old) => old + ALPHA * (new - old),
        None => new,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: usize = 256 * 1024;
    const MB: f64 = 1e6;

    /// A sender against a link: `link` wire bytes per second (None:
    /// unlimited), data that compresses to `ratio`, a compressor and a
    /// reader of these speeds (raw bytes per second). Returns the choice
    /// for each of `frames` frames.
    fn simulate(
        mode: CompressMode,
        link: Option<f64>,
        ratio: f64,
        compress: f64,
        produce: f64,
        frames: usize,
    ) -> Vec<Choice> {
        let mut policy = Policy::new(mode);
        let secs = Duration::from_secs_f64;
        (0..frames)
            .map(|_| {
                let choice = policy.choose(FRAME);
                let produce_t = FRAME as f64 / produce;
                let (wire, compress_t) = match choice {
                    Choice::Raw | Choice::Probe => (FRAME, None),
                    Choice::Compress => (
                        (FRAME as f64 * ratio).min(FRAME as f64) as usize + 1,
                        Some(FRAME as f64 / compress),
                    ),
                };
                let probe = (choice == Choice::Probe).then(|| Probe {
                    raw: PROBE,
                    packed: (PROBE as f64 * ratio).min(PROBE as f64) as usize,
                    took: secs(PROBE as f64 / compress),
                });
                let probe_t = probe.map_or(0.0, |p| p.took.as_secs_f64());
                let busy = produce_t + compress_t.unwrap_or(0.0) + probe_t;
                let wait = link.map_or(0.0, |l| (wire as f64 / l - busy).max(0.0));
                policy.record(Measured {
                    raw: FRAME,
                    wire,
                    produce: secs(produce_t),
                    compress: compress_t.map(secs),
                    probe,
                    wait: secs(wait),
                });
                choice
            })
            .collect()
    }

    fn share_compressed(choices: &[Choice]) -> f64 {
        let tail = &choices[choices.len() / 2..];
        let n = tail.iter().filter(|c| **c == Choice::Compress).count();
        n as f64 / tail.len() as f64
    }

    #[test]
    fn auto_compresses_only_where_it_saves_time() {
        use CompressMode::{Auto, Off, On};
        // (what, mode, link, ratio, compressor, reader, share compressed:
        // at least, at most)
        let cases = [
            ("off", Off, Some(10.0 * MB), 0.1, 400.0 * MB, 1e9, 0.0, 0.0),
            ("on, random", On, None, 1.0, 800.0 * MB, 1e9, 1.0, 1.0),
            (
                "text on 10 MB/s",
                Auto,
                Some(10.0 * MB),
                0.15,
                400.0 * MB,
                1e9,
                0.95,
                1.0,
            ),
            (
                "text on 100 MB/s",
                Auto,
                Some(100.0 * MB),
                0.2,
                400.0 * MB,
                1e9,
                0.95,
                1.0,
            ),
            (
                "random on 10 MB/s",
                Auto,
                Some(10.0 * MB),
                1.0,
                800.0 * MB,
                1e9,
                0.0,
                0.07,
            ),
            (
                "text, unlimited",
                Auto,
                None,
                0.15,
                400.0 * MB,
                1e9,
                0.0,
                0.07,
            ),
            (
                "text on 2 GB/s",
                Auto,
                Some(2e9),
                0.15,
                400.0 * MB,
                1e9,
                0.0,
                0.07,
            ),
            (
                "half on 1 GB/s, slow zstd",
                Auto,
                Some(1e9),
                0.5,
                300.0 * MB,
                1e9,
                0.0,
                0.07,
            ),
            (
                "slow disk, fast link",
                Auto,
                Some(1e9),
                0.2,
                400.0 * MB,
                50.0 * MB,
                0.0,
                0.07,
            ),
        ];
        for (what, mode, link, ratio, compress, produce, least, most) in cases {
            let choices = simulate(mode, link, ratio, compress, produce, 400);
            let share = share_compressed(&choices);
            assert!(
                (least..=most).contains(&share),
                "{what}: {share} compressed, wanted {least}..={most}"
            );
        }
    }

    #[test]
    fn before_the_link_is_known_nothing_is_compressed() {
        // (ratio, the first frames' choices on an unlimited link)
        let cases = [(0.2, Choice::Raw), (0.7, Choice::Raw), (1.0, Choice::Raw)];
        for (ratio, want) in cases {
            let choices = simulate(CompressMode::Auto, None, ratio, 400.0 * MB, 1e9, 6);
            assert_eq!(choices[0], Choice::Probe, "the first frame is probed");
            assert!(
                choices[1..].iter().all(|c| *c == want),
                "{ratio}: {choices:?}"
            );
        }
    }

    #[test]
    fn incompressible_data_is_sampled_ever_more_rarely() {
        let choices = simulate(
            CompressMode::Auto,
            Some(10.0 * MB),
            1.0,
            800.0 * MB,
            1e9,
            600,
        );
        let samples: Vec<usize> = choices
            .iter()
            .enumerate()
            .filter(|(_, c)| **c == Choice::Probe)
            .map(|(i, _)| i)
            .collect();
        // The first frame, then gaps doubling from 8 to 64.
        assert_eq!(&samples[..5], &[0, 8, 24, 56, 120]);
        let gaps: Vec<usize> = samples.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.iter().all(|g| *g <= SAMPLE_MAX as usize), "{gaps:?}");
    }

    #[test]
    fn a_paced_sender_measures_its_bursts_with_the_waits_after_them() {
        // Bursts of `burst` frames of 4 KiB read in 10 us each, then a wait
        // that makes the average `link` wire bytes per second (a session on
        // a slow link whose answers come back in groups). (burst, link,
        // whether windows of 64 frames learn it too)
        const SMALL: usize = 4096;
        let cases = [
            (16, 10e6, true),
            (32, 1e6, true),
            (128, 1e6, false),
            (200, 4e6, false),
        ];
        for (burst, link, counted) in cases {
            for paced in [false, true] {
                let mut policy = match paced {
                    true => Policy::paced(CompressMode::Auto),
                    false => Policy::new(CompressMode::Auto),
                };
                let produce = Duration::from_micros(10);
                let gap = (burst * SMALL) as f64 / link - burst as f64 * 10e-6;
                for i in 0..burst * 40 {
                    let wait = match (i + 1) % burst {
                        0 => Duration::from_secs_f64(gap),
                        _ => Duration::ZERO,
                    };
                    policy.record(Measured {
                        raw: SMALL,
                        wire: SMALL,
                        produce,
                        wait,
                        ..Measured::default()
                    });
                }
                let learnt = policy.link_rate().unwrap_or(f64::INFINITY);
                let close = (learnt / link - 1.0).abs() < 0.3;
                // Frame-counted windows mistake a long burst for the link.
                assert_eq!(
                    close,
                    paced || counted,
                    "{burst} at {link}, paced {paced}: learnt {learnt}"
                );
            }
        }
    }

    #[test]
    fn the_link_rate_is_learnt_only_from_waiting() {
        let mut policy = Policy::new(CompressMode::Auto);
        let ms = Duration::from_millis;
        let frame = |wait| Measured {
            raw: FRAME,
            wire: FRAME,
            produce: ms(1),
            compress: None,
            probe: None,
            wait,
        };
        for _ in 0..WINDOW_FRAMES {
            policy.record(frame(ms(0)));
        }
        assert_eq!(policy.link_rate(), None, "never waited: unknown");
        // 26 ms a frame: a window closes after four.
        for _ in 0..4 {
            policy.record(frame(ms(25)));
        }
        let link = policy.link_rate().expect("learnt");
        assert!((link - FRAME as f64 / 0.026).abs() < 1.0, "{link}");
        for _ in 0..WINDOW_FRAMES {
            policy.record(frame(ms(0)));
        }
        let faster = policy.link_rate().expect("kept");
        assert!(faster > link, "not waiting raises it: {faster} > {link}");
    }
}
