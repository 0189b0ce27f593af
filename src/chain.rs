//! Resumable SHA-256 whose chaining value doubles as the per-chunk check value.
//!
//! This module owns [`ChainHasher`], a streaming SHA-256 that exposes its
//! internal chaining value ([`ChainState`]) at every 64-byte-aligned offset and
//! can be resumed from such a value. A transfer checks each chunk by comparing
//! chaining values, and the final [`ChainHasher::finalize`] yields the ordinary
//! SHA-256 digest of the whole file (what `sha256sum` prints). It also owns the
//! small hex helpers used to put states and digests on the wire.

use sha2::block_api::compress256;
use thiserror::Error;

/// Length in bytes of one SHA-256 message block.
pub const BLOCK_LEN: usize = 64;

/// The SHA-256 initial hash value H0..H7 (FIPS 180-4, section 5.3.3).
const IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// Offset within the final block where the 64-bit message bit length goes.
const LEN_OFFSET: usize = BLOCK_LEN - 8;

/// Errors from resuming a [`ChainHasher`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ChainError {
    /// A hash can only be resumed at a multiple of [`BLOCK_LEN`] bytes.
    #[error("cannot resume SHA-256 at byte offset {0}: not a multiple of {BLOCK_LEN}")]
    Unaligned(u64),
}

/// The SHA-256 chaining value (8 words, stored big-endian as 32 bytes) after a 64-byte-aligned prefix.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct ChainState(pub [u8; 32]);

impl ChainState {
    /// The chaining value of the empty prefix: the SHA-256 IV (H0..H7) big-endian.
    pub const INITIAL: ChainState = ChainState::from_words(&IV);

    /// Encodes the state words big-endian.
    const fn from_words(words: &[u32; 8]) -> ChainState {
        let mut out = [0u8; 32];
        let mut i = 0;
        while i < 8 {
            let b = words[i].to_be_bytes();
            out[4 * i] = b[0];
            out[4 * i + 1] = b[1];
            out[4 * i + 2] = b[2];
            out[4 * i + 3] = b[3];
            i += 1;
        }
        ChainState(out)
    }

    /// Decodes the big-endian bytes into state words.
    fn to_words(self) -> [u32; 8] {
        let mut words = [0u32; 8];
        for (word, bytes) in words.iter_mut().zip(self.0.as_chunks::<4>().0) {
            *word = u32::from_be_bytes(*bytes);
        }
        words
    }

    /// The state as 64 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// Parses exactly 64 hex characters (either case); `None` otherwise.
    pub fn from_hex(s: &str) -> Option<ChainState> {
        digest_from_hex(s).map(ChainState)
    }
}

/// Streaming SHA-256 that can expose and resume from its chaining value.
#[derive(Clone, Debug)]
pub struct ChainHasher {
    /// Chaining value after all complete blocks fed so far.
    state: [u32; 8],
    /// Total bytes hashed, including those still in `buf`.
    len: u64,
    /// Bytes of a partial block not yet compressed.
    buf: [u8; BLOCK_LEN],
    /// Number of valid bytes in `buf` (always `< BLOCK_LEN`).
    buf_len: usize,
}

impl Default for ChainHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainHasher {
    /// A hasher for an empty message.
    pub fn new() -> Self {
        ChainHasher {
            state: IV,
            len: 0,
            buf: [0; BLOCK_LEN],
            buf_len: 0,
        }
    }

    /// Continue a hash whose first `len` bytes (`len % 64 == 0`) led to `state`.
    pub fn resume(state: ChainState, len: u64) -> Result<Self, ChainError> {
        if !len.is_multiple_of(BLOCK_LEN as u64) {
            return Err(ChainError::Unaligned(len));
        }
        Ok(ChainHasher {
            state: state.to_words(),
            len,
            buf: [0; BLOCK_LEN],
            buf_len: 0,
        })
    }

    /// Feeds `data` into the hash. Whole blocks are compressed straight from
    /// the input; only a leading/trailing partial block is buffered.
    pub fn update(&mut self, mut data: &[u8]) {
        self.len = self.len.wrapping_add(data.len() as u64);
        if self.buf_len > 0 {
            let take = (BLOCK_LEN - self.buf_len).min(data.len());
            let (head, tail) = data.split_at(take);
            self.buf[self.buf_len..self.buf_len + take].copy_from_slice(head);
            self.buf_len += take;
            data = tail;
            if self.buf_len < BLOCK_LEN {
                return;
            }
            compress256(&mut self.state, &[self.buf]);
            self.buf_len = 0;
        }
        let (blocks, rest) = data.as_chunks::<BLOCK_LEN>();
        if !blocks.is_empty() {
            compress256(&mut self.state, blocks);
        }
        self.buf[..rest.len()].copy_from_slice(rest);
        self.buf_len = rest.len();
    }

    /// Bytes hashed so far (including any resumed prefix).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when nothing has been hashed (and nothing was resumed).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The chaining value, or `None` when `len()` is not a multiple of 64.
    pub fn state(&self) -> Option<ChainState> {
        (self.buf_len == 0).then(|| ChainState::from_words(&self.state))
    }

    /// Standard SHA-256 digest of everything hashed (what `sha256sum` prints), via MD padding.
    pub fn finalize(mut self) -> [u8; 32] {
        let bit_len = self.len.wrapping_mul(8);
        self.buf[self.buf_len] = 0x80;
        self.buf[self.buf_len + 1..].fill(0);
        if self.buf_len >= LEN_OFFSET {
            compress256(&mut self.state, &[self.buf]);
            self.buf.fill(0);
        }
        self.buf[LEN_OFFSET..].copy_from_slice(&bit_len.to_be_bytes());
        compress256(&mut self.state, &[self.buf]);
        ChainState::from_words(&self.state).0
    }
}

/// Lowercase hex encoding of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Parses a 32-byte digest from exactly 64 hex characters (either case).
pub fn digest_from_hex(s: &str) -> Option<[u8; 32]> {
    let (pairs, rest) = s.as_bytes().as_chunks::<2>();
    if pairs.len() != 32 || !rest.is_empty() {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, &[hi, lo]) in out.iter_mut().zip(pairs) {
        *byte = (nibble(hi)? << 4) | nibble(lo)?;
    }
    Some(out)
}

/// The SHA-256 of a whole file (as `sha256sum` prints it), read in 1 MiB
/// blocks.
pub fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = ChainHasher::default();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hex(&hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

/// Value of one ASCII hex digit.
fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};
    use sha2::{Digest, Sha256};

    fn random_bytes(rng: &mut StdRng, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        rng.fill(&mut v[..]);
        v
    }

    /// Feeds `data` to `h` in random-sized pieces (including empty ones).
    fn feed_randomly(h: &mut ChainHasher, rng: &mut StdRng, mut data: &[u8]) {
        while !data.is_empty() {
            let max = if rng.random_bool(0.5) { 70 } else { 5000 };
            let n = rng.random_range(0..=max).min(data.len());
            let (head, tail) = data.split_at(n);
            h.update(head);
            data = tail;
        }
    }

    const LENGTHS: &[usize] = &[0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, (1 << 20) + 3];

    #[test]
    fn finalize_matches_sha2() {
        let mut rng = StdRng::seed_from_u64(1);
        for &len in LENGTHS {
            let data = random_bytes(&mut rng, len);
            let expected: [u8; 32] = Sha256::digest(&data).into();
            let mut one = ChainHasher::new();
            one.update(&data);
            assert_eq!(one.len(), len as u64);
            assert_eq!(one.finalize(), expected, "one pass, len {len}");
            for round in 0..4 {
                let mut h = ChainHasher::default();
                feed_randomly(&mut h, &mut rng, &data);
                assert_eq!(h.finalize(), expected, "split round {round}, len {len}");
            }
        }
    }

    #[test]
    fn known_vectors() {
        let cases: &[(&[u8], &str)] = &[
            (
                b"",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            (
                b"abc",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
        ];
        for &(input, want) in cases {
            let mut h = ChainHasher::new();
            h.update(input);
            assert_eq!(hex(&h.finalize()), want);
        }
    }

    #[test]
    fn resume_at_aligned_split_matches_one_pass() {
        let mut rng = StdRng::seed_from_u64(2);
        let cases: &[(usize, usize)] = &[
            (0, 0),
            (0, 100),
            (64, 64),
            (64, 65),
            (128, 1000),
            (4096, 10_000),
            (65_536, (1 << 20) + 3),
        ];
        for &(split, len) in cases {
            let data = random_bytes(&mut rng, len);
            let mut first = ChainHasher::new();
            feed_randomly(&mut first, &mut rng, &data[..split]);
            let state = first.state().expect("aligned split has a state");
            let mut resumed = ChainHasher::resume(state, split as u64).expect("aligned");
            assert_eq!(resumed.state(), Some(state));
            feed_randomly(&mut resumed, &mut rng, &data[split..]);
            assert_eq!(resumed.len(), len as u64);
            let expected: [u8; 32] = Sha256::digest(&data).into();
            assert_eq!(resumed.finalize(), expected, "split {split}, len {len}");
        }
    }

    #[test]
    fn state_presence_follows_alignment() {
        let cases: &[(usize, bool)] = &[
            (0, true),
            (1, false),
            (63, false),
            (64, true),
            (65, false),
            (128, true),
            (1000, false),
            (1024, true),
        ];
        for &(len, aligned) in cases {
            let mut h = ChainHasher::new();
            h.update(&vec![7u8; len]);
            assert_eq!(h.state().is_some(), aligned, "len {len}");
        }
        assert_eq!(ChainHasher::new().state(), Some(ChainState::INITIAL));
        assert!(ChainHasher::new().is_empty());
    }

    #[test]
    fn resume_rejects_unaligned() {
        let cases: &[(u64, bool)] = &[
            (0, true),
            (1, false),
            (63, false),
            (64, true),
            (100, false),
            (1 << 40, true),
            (u64::MAX, false),
        ];
        for &(len, ok) in cases {
            let r = ChainHasher::resume(ChainState::INITIAL, len);
            match (ok, r) {
                (true, Ok(h)) => assert_eq!(h.len(), len),
                (false, Err(e)) => assert_eq!(e, ChainError::Unaligned(len)),
                (_, other) => panic!("len {len}: unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn initial_state_hex() {
        assert_eq!(
            ChainState::INITIAL.to_hex(),
            "6a09e667bb67ae853c6ef372a54ff53a510e527f9b05688c1f83d9ab5be0cd19"
        );
    }

    #[test]
    fn hex_round_trips() {
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..50 {
            let mut bytes = [0u8; 32];
            rng.fill(&mut bytes[..]);
            let s = ChainState(bytes);
            let text = s.to_hex();
            assert_eq!(text.len(), 64);
            assert_eq!(text, text.to_lowercase());
            assert_eq!(ChainState::from_hex(&text), Some(s));
            assert_eq!(ChainState::from_hex(&text.to_uppercase()), Some(s));
            assert_eq!(digest_from_hex(&hex(&bytes)), Some(bytes));
        }
        assert_eq!(hex(&[]), "");
        assert_eq!(hex(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
    }

    #[test]
    fn from_hex_rejects_malformed() {
        let good = "ab".repeat(32);
        let cases: Vec<(&str, String)> = vec![
            ("empty", String::new()),
            ("63 chars", good[..63].to_string()),
            ("65 chars", format!("{good}a")),
            ("128 chars", good.repeat(2)),
            ("non-hex letter", format!("g{}", &good[1..])),
            ("space", format!(" {}", &good[1..])),
            ("sign", format!("+{}", &good[1..])),
            ("0x prefix", format!("0x{}", &good[2..])),
            ("multibyte", format!("é{}", &good[2..])),
        ];
        for (name, text) in cases {
            assert_eq!(ChainState::from_hex(&text), None, "{name}");
            assert_eq!(digest_from_hex(&text), None, "{name}");
        }
    }
}
