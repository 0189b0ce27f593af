//! Data frames on a compressing connection (PROTOCOL.md section 2.1): one
//! marker byte, then the raw bytes ([`FRAME_RAW`]) or one zstd frame whose
//! content is at most one data frame ([`FRAME_ZSTD`]). [`Packer`] makes
//! them on the sending side (a zstd context and the `auto` [`Policy`] per
//! connection); [`Unpacker`] reads them, refusing anything that would
//! inflate past [`MAX_DATA_FRAME`].

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::compress::{Choice, Measured, PROBE, Policy, Probe};
use super::pool::BufferPool;
use crate::error::{Error, Result};
use crate::protocol::{CompressMode, FRAME_RAW, FRAME_ZSTD, MAX_DATA_FRAME};

/// zstd's fastest regular level: compression has to keep up with links of
/// hundreds of MB/s to be worth anything there.
const LEVEL: i32 = 1;
/// Largest window a peer's frame may ask for (one data frame fits).
const WINDOW_LOG_MAX: u32 = 19;
/// The most time between two paced frames counted as waiting for the link
/// (a longer pause is the session's, not the link's).
const MAX_GAP: Duration = Duration::from_secs(1);

/// Makes the data frames of one connection.
pub struct Packer {
    zstd: zstd::bulk::Compressor<'static>,
    policy: Policy,
    /// The frame handed out last, until its wait is known.
    pending: Option<Measured>,
    /// Room for a probe's output.
    scratch: Vec<u8>,
    /// Frames packed, frames compressed, raw bytes, wire bytes.
    totals: [u64; 4],
    /// Time reading and hashing, compressing, waiting for room.
    times: [Duration; 3],
    /// When the last paced frame was handed out.
    last: Option<Instant>,
}

impl std::fmt::Debug for Packer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packer")
            .field("policy", &self.policy)
            .finish()
    }
}

impl Packer {
    /// A packer compressing as `mode` says.
    pub fn new(mode: CompressMode) -> Result<Packer> {
        Packer::with_policy(Policy::new(mode))
    }

    /// A packer for a paced sender ([`Packer::pack_paced`]).
    pub fn paced(mode: CompressMode) -> Result<Packer> {
        Packer::with_policy(Policy::paced(mode))
    }

    fn with_policy(policy: Policy) -> Result<Packer> {
        let zstd = zstd::bulk::Compressor::new(LEVEL)
            .map_err(|e| Error::Protocol(format!("cannot set up zstd: {e}")))?;
        Ok(Packer {
            zstd,
            policy,
            pending: None,
            scratch: Vec::with_capacity(PROBE),
            totals: [0; 4],
            times: [Duration::ZERO; 3],
            last: None,
        })
    }

    /// The frame for `buf`, whose first byte is free for the marker and
    /// whose rest are the raw bytes, read and hashed in `produce`.
    pub fn pack(&mut self, buf: BytesMut, produce: Duration, pool: &mut BufferPool) -> Bytes {
        pool.lend(self.pack_buf(buf, produce))
    }

    /// The frame for the raw bytes `raw` (a small file's, read and hashed
    /// in `produce`), in a buffer of its own.
    pub fn pack_slice(&mut self, raw: &[u8], produce: Duration) -> Bytes {
        let mut buf = BytesMut::with_capacity(raw.len() + 1);
        buf.extend_from_slice(&[FRAME_RAW]);
        buf.extend_from_slice(raw);
        self.pack_buf(buf, produce).freeze()
    }

    /// [`Packer::pack_slice`] for a sender paced by its peer rather than
    /// by a queue to the socket: a session, whose small files go out as
    /// the answers to earlier ones come back (kernel buffers take a whole
    /// window of them, so the socket rarely makes anyone wait). The time
    /// since the last frame, less what reading and packing this one took,
    /// is the wait: a slow link (or receiver) shows as a low drain rate,
    /// a sender that never pauses as a fast one.
    pub fn pack_paced(&mut self, raw: &[u8], produce: Duration) -> Bytes {
        let frame = self.pack_slice(raw, produce);
        let now = Instant::now();
        let gap = self.last.map_or(Duration::ZERO, |last| now - last);
        self.last = Some(now);
        let busy = self.pending.map_or(Duration::ZERO, |m| {
            m.produce + m.compress.unwrap_or_default() + m.probe.map(|p| p.took).unwrap_or_default()
        });
        self.waited(gap.min(MAX_GAP).saturating_sub(busy), 0);
        frame
    }

    /// [`Packer::pack`], the frame left in `buf`.
    fn pack_buf(&mut self, mut buf: BytesMut, produce: Duration) -> BytesMut {
        let raw = buf.len().saturating_sub(1);
        buf[0] = FRAME_RAW;
        let mut measured = Measured {
            raw,
            wire: raw + 1,
            produce,
            ..Measured::default()
        };
        match self.policy.choose(raw) {
            Choice::Raw => {}
            Choice::Probe => measured.probe = Some(self.probe(&buf[1..])),
            Choice::Compress => {
                let started = Instant::now();
                // Into the packer's own buffer, then over the raw bytes
                // (hashed already): one frame buffer per frame, as raw.
                self.scratch.clear();
                self.scratch.reserve(raw);
                let packed = self.zstd.compress_to_buffer(&buf[1..], &mut self.scratch);
                measured.compress = Some(started.elapsed());
                if let Some(n) = packed.ok().filter(|n| *n < raw) {
                    buf[0] = FRAME_ZSTD;
                    buf[1..=n].copy_from_slice(&self.scratch[..n]);
                    buf.truncate(n + 1);
                    measured.wire = n + 1;
                }
            }
        }
        let packed = u64::from(buf.first() == Some(&FRAME_ZSTD));
        let added = [1, packed, raw as u64, buf.len() as u64];
        for (total, n) in self.totals.iter_mut().zip(added) {
            *total += n;
        }
        self.pending = Some(measured);
        buf
    }

    /// Compress the first [`PROBE`] bytes of `raw` to see how they shrink.
    fn probe(&mut self, raw: &[u8]) -> Probe {
        let sample = &raw[..raw.len().min(PROBE)];
        let started = Instant::now();
        self.scratch.clear();
        let packed = self.zstd.compress_to_buffer(sample, &mut self.scratch);
        Probe {
            raw: sample.len(),
            packed: packed.unwrap_or(sample.len()).min(sample.len()),
            took: started.elapsed(),
        }
    }

    /// Frames packed so far.
    pub fn frames(&self) -> u64 {
        self.totals[0]
    }

    /// What was packed so far, for the log.
    pub fn summary(&self) -> String {
        let [frames, packed, raw, wire] = self.totals;
        let link = match self.policy.link_rate() {
            Some(rate) => format!("{:.1} MB/s", rate / 1e6),
            None => "faster than the sender".into(),
        };
        let [read, compress, wait] = self.times.map(|t| t.as_secs_f64());
        format!(
            "{packed} of {frames} frames compressed, {raw} bytes in {wire} on the wire, \
             link {link}; {read:.2}s reading, {compress:.2}s compressing, {wait:.2}s waiting"
        )
    }

    /// The last item handed out (a frame, or a check message of `wire`
    /// bytes when no frame is pending) waited this long for room.
    pub fn waited(&mut self, wait: Duration, wire: usize) {
        let measured = self.pending.take().unwrap_or(Measured {
            wire,
            ..Measured::default()
        });
        let probed = measured.probe.map(|p| p.took).unwrap_or_default();
        let add = [
            measured.produce,
            measured.compress.unwrap_or_default() + probed,
            wait,
        ];
        for (total, t) in self.times.iter_mut().zip(add) {
            *total += t;
        }
        self.policy.record(Measured { wait, ..measured });
    }
}

/// Reads the data frames of one connection.
pub struct Unpacker {
    zstd: zstd::bulk::Decompressor<'static>,
}

impl std::fmt::Debug for Unpacker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Unpacker")
    }
}

impl Unpacker {
    /// A fresh decompression context.
    pub fn new() -> Result<Unpacker> {
        let mut zstd = zstd::bulk::Decompressor::new()
            .map_err(|e| Error::Protocol(format!("cannot set up zstd: {e}")))?;
        zstd.window_log_max(WINDOW_LOG_MAX)
            .map_err(|e| Error::Protocol(format!("cannot set up zstd: {e}")))?;
        Ok(Unpacker { zstd })
    }

    /// The raw bytes a received frame carries; a frame that is malformed
    /// or would hold more than one data frame is a protocol error.
    pub fn unpack(&mut self, frame: Bytes) -> Result<Bytes> {
        match frame.first() {
            None => Err(Error::Protocol("an empty data frame".into())),
            Some(&FRAME_RAW) => Ok(frame.slice(1..)),
            Some(&FRAME_ZSTD) => self.inflate(&frame[1..]),
            Some(other) => Err(Error::Protocol(format!(
                "a data frame with the unknown marker {other}"
            ))),
        }
    }

    fn inflate(&mut self, packed: &[u8]) -> Result<Bytes> {
        let bad = |what: String| Error::Protocol(format!("a bad compressed data frame: {what}"));
        let declared = zstd::zstd_safe::get_frame_content_size(packed)
            .map_err(|_| bad("no zstd frame".into()))?;
        // Exactly one frame (PROTOCOL 2.1): nothing before or after it.
        if zstd::zstd_safe::find_frame_compressed_size(packed) != Ok(packed.len()) {
            return Err(bad("not exactly one zstd frame".into()));
        }
        let room = match declared {
            Some(n) if n > MAX_DATA_FRAME as u64 => {
                return Err(bad(format!("it holds {n} bytes, more than a data frame")));
            }
            Some(n) => n as usize,
            None => MAX_DATA_FRAME,
        };
        let mut out = Vec::with_capacity(room);
        let n = self
            .zstd
            .decompress_to_buffer(packed, &mut out)
            .map_err(|e| bad(e.to_string()))?;
        out.truncate(n);
        Ok(Bytes::from(out))
    }
}

/// The compression contexts of one connection that packs and unpacks data
/// frames itself (a session, PROTOCOL.md sections 2.1 and 13): one
/// [`Packer`] for every small file it sends, so that the `auto` policy
/// learns across files, and one [`Unpacker`] for every frame it receives.
#[derive(Debug)]
pub struct Codec {
    /// The mode agreed at the upgrade.
    pub mode: CompressMode,
    /// Packs outgoing data frames.
    pub packer: Packer,
    /// Reads incoming data frames.
    pub unpacker: Unpacker,
}

impl Codec {
    /// Fresh contexts for `mode`.
    pub fn new(mode: CompressMode) -> Result<Codec> {
        Ok(Codec {
            mode,
            packer: Packer::paced(mode)?,
            unpacker: Unpacker::new()?,
        })
    }
}

/// Whether `sample` compresses to at most `ratio` of its size (a probe:
/// one frame of a file, before choosing how to send it).
pub fn shrinks(sample: &[u8], ratio: f64) -> bool {
    let room = (sample.len() as f64 * ratio) as usize;
    let mut out = vec![0u8; room];
    zstd::bulk::compress_to_buffer(sample, &mut out, LEVEL).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(raw: &[u8]) -> BytesMut {
        let mut buf = BytesMut::zeroed(raw.len() + 1);
        buf[1..].copy_from_slice(raw);
        buf
    }

    #[test]
    fn frames_round_trip_and_only_shrinking_ones_are_compressed() {
        let text: Vec<u8> = b"GET /index.html 200 1234\n"
            .iter()
            .copied()
            .cycle()
            .take(MAX_DATA_FRAME)
            .collect();
        let mut state = 1u64;
        let random: Vec<u8> = (0..MAX_DATA_FRAME)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 56) as u8
            })
            .collect();
        let mut pool = BufferPool::new(4);
        let mut unpacker = Unpacker::new().unwrap();
        // (data, mode, marker expected)
        let cases: [(&[u8], CompressMode, u8); 5] = [
            (&text, CompressMode::On, FRAME_ZSTD),
            (&random, CompressMode::On, FRAME_RAW),
            (&text, CompressMode::Off, FRAME_RAW),
            (b"x", CompressMode::On, FRAME_RAW),
            (b"", CompressMode::On, FRAME_RAW),
        ];
        for (data, mode, marker) in cases {
            let mut packer = Packer::new(mode).unwrap();
            let frame = packer.pack(framed(data), Duration::from_millis(1), &mut pool);
            packer.waited(Duration::ZERO, 0);
            assert_eq!(frame[0], marker, "{mode:?} {}", data.len());
            assert!(frame.len() <= data.len() + 1);
            assert_eq!(unpacker.unpack(frame).unwrap(), data);
        }
    }

    #[test]
    fn a_sessions_codec_packs_small_files_and_reads_them_back() {
        let text: Vec<u8> = b"level=info msg=\"request done\" status=200\n"
            .iter()
            .copied()
            .cycle()
            .take(4096)
            .collect();
        // (mode, file, marker expected)
        let cases: [(CompressMode, &[u8], u8); 4] = [
            (CompressMode::On, &text, FRAME_ZSTD),
            (CompressMode::Off, &text, FRAME_RAW),
            (CompressMode::On, b"", FRAME_RAW),
            // `auto` before anything is measured: raw.
            (CompressMode::Auto, &text, FRAME_RAW),
        ];
        for (mode, file, marker) in cases {
            let mut codec = Codec::new(mode).unwrap();
            for _ in 0..3 {
                let frame = codec.packer.pack_paced(file, Duration::from_micros(5));
                assert_eq!(frame[0], marker, "{mode:?} {}", file.len());
                assert_eq!(codec.unpacker.unpack(frame).unwrap(), file);
            }
            assert_eq!(codec.packer.frames(), 3);
        }
    }

    #[test]
    fn bad_and_oversized_frames_are_refused() {
        let big = vec![b'a'; MAX_DATA_FRAME + 1];
        let mut bomb = vec![FRAME_ZSTD];
        bomb.extend(zstd::bulk::compress(&big, 1).unwrap());
        let mut unsized_frame = vec![FRAME_ZSTD];
        {
            // A streaming frame that does not declare its size.
            let mut enc = zstd::stream::Encoder::new(Vec::new(), 1).unwrap();
            std::io::Write::write_all(&mut enc, &big).unwrap();
            unsized_frame.extend(enc.finish().unwrap());
        }
        let one = zstd::bulk::compress(b"abc", 1).unwrap();
        let mut two = vec![FRAME_ZSTD];
        two.extend(&one);
        two.extend(&one);
        let mut trailing = vec![FRAME_ZSTD];
        trailing.extend(&one);
        trailing.push(0);
        let cases: [(&str, Vec<u8>, &str); 7] = [
            ("empty", vec![], "empty"),
            ("unknown marker", vec![7, 1, 2], "unknown marker 7"),
            (
                "not zstd",
                vec![FRAME_ZSTD, 1, 2, 3, 4, 5],
                "bad compressed",
            ),
            ("declared too big", bomb, "more than a data frame"),
            ("inflates too big", unsized_frame, "bad compressed"),
            ("two frames", two, "not exactly one"),
            ("bytes after the frame", trailing, "not exactly one"),
        ];
        let mut unpacker = Unpacker::new().unwrap();
        for (what, frame, want) in cases {
            let err = unpacker.unpack(Bytes::from(frame)).expect_err(what);
            assert!(matches!(err, Error::Protocol(_)), "{what}: {err}");
            assert!(err.to_string().contains(want), "{what}: {err}");
        }
    }
}
