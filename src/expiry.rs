//! Abandoned partial uploads: finding state files under ROOT that have not
//! changed for longer than the expiry time, and expiring them.
//!
//! Expiring removes the data and leaves a small marker in place of the state
//! file, so a client that comes back to resume is told why it starts again;
//! markers are removed once they are themselves older than the expiry time.
//! Nothing outside ROOT is visited: symbolic links are not followed; the
//! walk is the crate's one bounded walker ([`crate::walk`]).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::error::{Error, Result};
use crate::partial::{self, PartialPaths};
use crate::paths::STATE_SUFFIX;
use crate::walk::{Event, Walk};

/// What one sweep did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Partial uploads expired (data removed, marker left).
    pub expired: usize,
    /// Old markers removed.
    pub markers_removed: usize,
}

/// Expire every partial upload under `root` whose state file is older than
/// `max_age`. `hold` is asked for each target (its path relative to `root`,
/// `/`-separated) and returns a guard that keeps writers away while it is
/// expired, or `None` when the target is in use.
pub fn sweep<G>(
    root: &Path,
    max_age: Duration,
    mut hold: impl FnMut(&str) -> Option<G>,
) -> Result<Swept> {
    let now = SystemTime::now();
    let mut swept = Swept::default();
    let mut walk = Walk::new(root);
    while let Some(event) = walk.next() {
        match event {
            Event::Child(child) if child.file_type.is_dir() => {
                walk.descend(&child);
            }
            Event::Child(child) if child.file_type.is_file() && is_state_file(&child.path) => {
                expire_if_old(root, &child.path, now, max_age, &mut hold, &mut swept)?;
            }
            Event::Child(_) => {}
            Event::Unreadable {
                depth: 0, error, ..
            } => {
                return Err(Error::local_io(
                    format!("listing {}", root.display()),
                    error,
                ));
            }
            // One unreadable subdirectory must not stop expiry elsewhere.
            Event::Unreadable { dir, error, .. } => {
                tracing::warn!("expiry: skipped {}: {error}", dir.display());
            }
        }
    }
    Ok(swept)
}

fn is_state_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(STATE_SUFFIX) && n.len() > STATE_SUFFIX.len())
}

fn expire_if_old<G>(
    root: &Path,
    state: &Path,
    now: SystemTime,
    max_age: Duration,
    hold: &mut impl FnMut(&str) -> Option<G>,
    swept: &mut Swept,
) -> Result<()> {
    let age = || {
        fs::metadata(state)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .unwrap_or_default()
    };
    if age() <= max_age {
        return Ok(());
    }
    let target = target_of(state);
    let Some(rel) = target
        .strip_prefix(root)
        .ok()
        .and_then(|r| r.to_str())
        .map(str::to_string)
    else {
        return Ok(());
    };
    let Some(_guard) = hold(&rel) else {
        return Ok(());
    };
    // A writer may have committed and let go since the first look.
    let age = age();
    if age <= max_age {
        return Ok(());
    }
    let paths = PartialPaths::for_target(&target);
    let text = fs::read_to_string(state).unwrap_or_default();
    if partial::is_expiry_marker(&text) {
        paths.remove_all()?;
        swept.markers_removed += 1;
    } else {
        let why = format!(
            "the partial upload was abandoned for more than {} and was removed",
            human_duration(max_age)
        );
        partial::expire(&paths, &why)?;
        swept.expired += 1;
        tracing::info!(
            "expired the partial upload of {rel} (idle {})",
            human_duration(age)
        );
    }
    Ok(())
}

fn target_of(state: &Path) -> PathBuf {
    let name = state
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(STATE_SUFFIX))
        .unwrap_or_default();
    state.with_file_name(name)
}

/// `90s`, `5m`, `3h`, `7d`: the largest whole unit.
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        s if s >= 86_400 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s >= 3_600 && s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s >= 60 && s % 60 == 0 => format!("{}m", s / 60),
        s if s > 0 => format!("{s}s"),
        _ => format!("{}ms", d.as_millis()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_in_their_largest_whole_unit() {
        assert_eq!(human_duration(Duration::from_secs(7 * 86_400)), "7d");
        assert_eq!(human_duration(Duration::from_secs(90)), "90s");
    }
}
