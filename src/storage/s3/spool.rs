//! Where the bytes of the part being received of a bucket upload are kept
//! until `put_part` ([`PartBytes`]): a part of up to [`SPOOL_ABOVE`] bytes
//! in memory; a larger one (S3's 10 000-part limit makes the parts of
//! files over about 80 GiB larger than 8 MiB) spooled as it arrives to an
//! unlinked temporary file in `$TMPDIR`, and handed to `put_part` as a
//! memory map of that file, so its bytes come from the page cache
//! (reclaimable), not from the process's own memory. The anonymous memory
//! of an upload's part is so bounded whatever the file's size; the file
//! has no name, so nothing is left behind whatever happens.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use rustix::fs::{Mode, OFlags};

/// Parts larger than this are spooled to a temporary file.
pub const SPOOL_ABOVE: u64 = 8 << 20;

/// A test hook: the threshold in bytes in place of [`SPOOL_ABOVE`].
pub const SPOOL_ENV: &str = "WSRESUME_S3_SPOOL_ABOVE";

/// The threshold this process uses: [`SPOOL_ENV`] if it is set to a
/// number, else [`SPOOL_ABOVE`].
pub fn spool_above_from_env() -> u64 {
    std::env::var(SPOOL_ENV)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(SPOOL_ABOVE)
}

/// The bytes of one part as they arrive (see the module's doc).
#[derive(Debug)]
pub struct PartBytes {
    /// Parts larger than this go to a spool file.
    spool_above: u64,
    /// Where spool files are made.
    dir: PathBuf,
    held: Held,
}

#[derive(Debug)]
enum Held {
    /// Nothing of the current part yet.
    Empty,
    Memory(Vec<u8>),
    /// An unlinked file and how many bytes of it are the part's.
    Spool(File, u64),
}

impl PartBytes {
    /// Nothing held; parts over `spool_above` bytes go to files in `dir`.
    pub fn new(spool_above: u64, dir: PathBuf) -> PartBytes {
        PartBytes {
            spool_above,
            dir,
            held: Held::Empty,
        }
    }

    /// Where spool files are made (for messages).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Keep the first `keep` bytes of the part (fewer than held after a
    /// rewind), then append `data`. The first bytes of a part, which has
    /// `expected` bytes once complete, choose where it is kept. Gives
    /// whether this write started a spool file.
    pub fn write(&mut self, keep: u64, data: &[u8], expected: u64) -> io::Result<bool> {
        let started = matches!(self.held, Held::Empty) && expected > self.spool_above;
        if matches!(self.held, Held::Empty) {
            self.held = match started {
                true => Held::Spool(spool_file(&self.dir)?, 0),
                false => Held::Memory(Vec::with_capacity(expected as usize)),
            };
        }
        match &mut self.held {
            // Not after the start above.
            Held::Empty => {}
            Held::Memory(bytes) => {
                let keep = held_prefix(keep, bytes.len() as u64)?;
                bytes.truncate(keep as usize);
                bytes.extend_from_slice(data);
            }
            Held::Spool(file, len) => {
                let keep = held_prefix(keep, *len)?;
                if keep < *len {
                    file.set_len(keep)?;
                }
                file.write_all_at(data, keep)?;
                *len = keep + data.len() as u64;
            }
        }
        Ok(started)
    }

    /// The part's bytes, taken: nothing is held after. A spooled part is a
    /// read-only map of its file, which goes when the last `Bytes` of it
    /// is dropped.
    pub fn take(&mut self) -> io::Result<Bytes> {
        match std::mem::replace(&mut self.held, Held::Empty) {
            Held::Empty => Ok(Bytes::new()),
            Held::Memory(bytes) => Ok(Bytes::from(bytes)),
            Held::Spool(_, 0) => Ok(Bytes::new()),
            Held::Spool(file, len) => {
                let len = usize::try_from(len).map_err(io::Error::other)?;
                // SAFETY: the file is this process's alone (it never had a
                // name, or lost it as it was made) and is neither written
                // nor truncated once mapped: the only handle on it is
                // dropped here, and the map is read-only.
                let map = unsafe { memmap2::MmapOptions::new().len(len).map(&file)? };
                // A hint only: pages already sent may be dropped first.
                let _ = map.advise(memmap2::Advice::Sequential);
                Ok(Bytes::from_owner(map))
            }
        }
    }
}

/// `keep` if that many bytes are held, else an error (the bookkeeping and
/// the bytes disagree).
fn held_prefix(keep: u64, held: u64) -> io::Result<u64> {
    match keep <= held {
        true => Ok(keep),
        false => Err(io::Error::other(format!(
            "the part holds {held} bytes, not the {keep} to keep"
        ))),
    }
}

/// A new empty file in `dir` that no name leads to: `O_TMPFILE`, or where
/// the file system lacks it a file made with a random name and unlinked
/// at once.
fn spool_file(dir: &Path) -> io::Result<File> {
    let (mode, flags) = (Mode::from_raw_mode(0o600), OFlags::RDWR | OFlags::CLOEXEC);
    match rustix::fs::open(dir, flags | OFlags::TMPFILE, mode) {
        Ok(fd) => Ok(File::from(fd)),
        Err(e) if e == rustix::io::Errno::NOENT || e == rustix::io::Errno::NOTDIR => Err(e.into()),
        // No O_TMPFILE here (EOPNOTSUPP, or EISDIR/EINVAL on old kernels).
        Err(_) => unlinked_file(dir),
    }
}

/// A new empty file in `dir` made with a random name, unlinked at once.
fn unlinked_file(dir: &Path) -> io::Result<File> {
    let (mode, flags) = (Mode::from_raw_mode(0o600), OFlags::RDWR | OFlags::CLOEXEC);
    let name = dir.join(format!(
        ".wsresume-spool-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    let fd = rustix::fs::open(&name, flags | OFlags::CREATE | OFlags::EXCL, mode)?;
    rustix::fs::unlink(&name)?;
    Ok(File::from(fd))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files with a name in `dir`.
    fn names(dir: &Path) -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    }

    #[test]
    fn parts_over_the_threshold_are_spooled_and_rewinds_drop_what_follows() {
        let dir = tempfile::TempDir::new().unwrap();
        // (expected part length, writes as (keep, bytes), started a spool
        // file, the part's bytes at the end)
        type Case = (u64, &'static [(u64, &'static [u8])], bool, &'static [u8]);
        let cases: [Case; 5] = [
            (4, &[(0, b"ab"), (2, b"cd")], false, b"abcd"),
            (8, &[(0, b"abcd"), (4, b"efgh")], true, b"abcdefgh"),
            (
                8,
                &[(0, b"abcd"), (2, b"xy"), (4, b"efgh")],
                true,
                b"abxyefgh",
            ),
            (8, &[(0, b"abcd"), (0, b"wxyz")], true, b"wxyz"),
            (4, &[(0, b"ab"), (1, b"zz")], false, b"azz"),
        ];
        for (expected, writes, spooled, want) in cases {
            let mut part = PartBytes::new(4, dir.path().to_path_buf());
            let mut started = false;
            for (keep, data) in writes {
                started |= part.write(*keep, data, expected).unwrap();
                assert!(names(dir.path()).is_empty(), "a spool file with a name");
            }
            assert_eq!(started, spooled, "{want:?}");
            assert_eq!(&part.take().unwrap()[..], want);
            assert!(part.take().unwrap().is_empty(), "held after take");
        }
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn keeping_more_than_is_held_is_an_error() {
        let dir = tempfile::TempDir::new().unwrap();
        for expected in [2, 100] {
            let mut part = PartBytes::new(10, dir.path().to_path_buf());
            part.write(0, b"ab", expected).unwrap();
            assert!(part.write(3, b"c", expected).is_err(), "{expected}");
        }
    }

    #[test]
    fn a_missing_spool_directory_is_an_error_and_small_parts_do_not_need_it() {
        let dir = tempfile::TempDir::new().unwrap();
        let missing = dir.path().join("missing");
        let mut part = PartBytes::new(4, missing.clone());
        assert!(part.write(0, b"abcd", 4).is_ok(), "in memory");
        assert_eq!(&part.take().unwrap()[..], b"abcd");
        let e = part.write(0, b"abcd", 8).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
        assert_eq!(part.dir(), missing);
    }

    #[test]
    fn the_fallback_spool_file_has_no_name_either() {
        let dir = tempfile::TempDir::new().unwrap();
        let file = unlinked_file(dir.path()).unwrap();
        file.write_all_at(b"abc", 0).unwrap();
        assert!(names(dir.path()).is_empty());
        assert_eq!(file.metadata().unwrap().len(), 3);
        assert!(unlinked_file(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn a_spooled_part_outlives_its_holder_until_its_bytes_are_dropped() {
        let dir = tempfile::TempDir::new().unwrap();
        let mut part = PartBytes::new(0, dir.path().to_path_buf());
        part.write(0, &[7; 100_000], 100_000).unwrap();
        let bytes = part.take().unwrap();
        drop(part);
        let copy = bytes.clone();
        drop(bytes);
        assert!(copy.iter().all(|&b| b == 7) && copy.len() == 100_000);
    }
}
