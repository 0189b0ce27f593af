//! A file's modification time and permission bits as they travel: read
//! from metadata, carried as integers (`mtime_ns`, `mode`), and applied to
//! a finished file before it is renamed into place (a rename keeps both).

use std::fs::{File, FileTimes, Metadata, Permissions};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Permission bits a client carries and applies (`-p`): rwx for user,
/// group and others plus setuid, setgid and sticky, as `scp -p` does.
pub const CLIENT_MODE_BITS: u32 = 0o7777;
/// Permission bits a server applies to an upload: never setuid, setgid or
/// sticky, whatever the client asks.
pub const SERVER_MODE_BITS: u32 = 0o777;
/// Kept on every upload the server stores: it must be able to serve it.
pub const SERVER_OWNER_READ: u32 = 0o400;

/// What a finished file gets besides its bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileAttrs {
    /// Modification time, nanoseconds since the Unix epoch (negative before).
    pub mtime_ns: Option<i64>,
    /// Permission bits, already masked by the caller.
    pub mode: Option<u32>,
}

impl FileAttrs {
    /// Whether `meta` already has these attributes.
    pub fn matches(&self, meta: &Metadata) -> bool {
        self.mtime_ns.is_none_or(|ns| ns == mtime_ns(meta))
            && self.mode.is_none_or(|mode| mode == mode_bits(meta))
    }

    /// Set the modification time and permissions of the open `file`.
    pub fn apply(&self, file: &File) -> std::io::Result<()> {
        if let Some(ns) = self.mtime_ns {
            file.set_times(FileTimes::new().set_modified(system_time(ns)))?;
        }
        if let Some(mode) = self.mode {
            file.set_permissions(Permissions::from_mode(mode))?;
        }
        Ok(())
    }
}

/// The modification time in nanoseconds since the epoch (negative before).
pub fn mtime_ns(meta: &Metadata) -> i64 {
    meta.mtime()
        .saturating_mul(1_000_000_000)
        .saturating_add(meta.mtime_nsec())
}

/// The status change time (ctime) in nanoseconds since the epoch. No user
/// can set it: any write or metadata change moves it forward.
pub fn ctime_ns(meta: &Metadata) -> i64 {
    meta.ctime()
        .saturating_mul(1_000_000_000)
        .saturating_add(meta.ctime_nsec())
}

/// The permission bits of `meta` (`mode & 0o7777`).
pub fn mode_bits(meta: &Metadata) -> u32 {
    meta.mode() & CLIENT_MODE_BITS
}

/// The mode a server applies for a client's `mode`.
pub fn server_mode(requested: u32) -> u32 {
    (requested & SERVER_MODE_BITS) | SERVER_OWNER_READ
}

/// `ns` nanoseconds from the epoch as a `SystemTime`.
pub fn system_time(ns: i64) -> SystemTime {
    let magnitude = Duration::from_nanos(ns.unsigned_abs());
    let time = if ns >= 0 {
        UNIX_EPOCH.checked_add(magnitude)
    } else {
        UNIX_EPOCH.checked_sub(magnitude)
    };
    time.unwrap_or(UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_through_nanoseconds() {
        let cases = [0, 1, 1_700_000_000_123_456_789, -1, -1_500_000_000];
        // The extremes are representable (no panic), whatever a file
        // system then makes of them.
        for ns in [i64::MIN, i64::MAX] {
            assert_ne!(system_time(ns), UNIX_EPOCH);
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = File::create(&path).unwrap();
        for ns in cases {
            let attrs = FileAttrs {
                mtime_ns: Some(ns),
                mode: None,
            };
            attrs.apply(&file).unwrap();
            let meta = std::fs::metadata(&path).unwrap();
            assert_eq!(mtime_ns(&meta), ns);
            assert!(attrs.matches(&meta));
        }
    }

    #[test]
    fn server_mode_drops_special_bits_and_keeps_owner_read() {
        let cases = [
            (0o640, 0o640),
            (0o4755, 0o755),
            (0o2644, 0o644),
            (0o1777, 0o777),
            (0o000, 0o400),
            (0o200, 0o600),
            (0o177777, 0o777),
        ];
        for (requested, applied) in cases {
            assert_eq!(server_mode(requested), applied, "{requested:o}");
        }
    }

    #[test]
    fn modes_apply_and_match() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = File::create(&path).unwrap();
        let attrs = FileAttrs {
            mtime_ns: None,
            mode: Some(0o640),
        };
        attrs.apply(&file).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(mode_bits(&meta), 0o640);
        assert!(attrs.matches(&meta));
        assert!(
            !FileAttrs {
                mode: Some(0o600),
                ..attrs
            }
            .matches(&meta)
        );
    }
}
