//! Unit tests of partial files on a real temporary directory: reopening an
//! untouched partial (only its last chunk re-hashed), re-verifying a touched
//! one and cutting it back to its first bad chunk, finishing (the rename
//! comes last, then the state files go), the bound on unrecorded data, how
//! a state file is judged, and which partials closing or an identical target
//! removes.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use super::state::StateRecord;
use super::*;
use crate::chain::ChainHasher;

const C: u64 = 4096;

/// A file of `len` bytes and the chaining value after each whole chunk of
/// `chunk` bytes (the last one only if it is whole).
fn data(len: u64, chunk: u64) -> (Vec<u8>, Vec<ChainState>) {
    let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    let mut hasher = ChainHasher::new();
    let mut states = Vec::new();
    for piece in bytes.chunks(chunk as usize) {
        hasher.update(piece);
        if piece.len() as u64 == chunk {
            states.push(hasher.state().unwrap());
        }
    }
    (bytes, states)
}

struct Setup {
    _dir: tempfile::TempDir,
    paths: PartialPaths,
    bytes: Vec<u8>,
    states: Vec<ChainState>,
    source: SourceIdentity,
}

/// A partial of a `chunks * C + 100`-byte source with `recorded` chunks
/// written, verified and committed; the partial is dropped (as by a kill).
fn setup(chunks: u64, recorded: usize) -> Setup {
    let dir = tempfile::TempDir::new().unwrap();
    let paths = PartialPaths::for_target(&dir.path().join("file.bin"));
    let (bytes, states) = data(chunks * C + 100, C);
    let source = SourceIdentity {
        id: "etag-1".into(),
        size: bytes.len() as u64,
    };
    let mut partial = Partial::create(paths.clone(), source.clone(), C).unwrap();
    for (i, state) in states.iter().take(recorded).enumerate() {
        let at = i * C as usize;
        partial
            .write_at(at as u64, &bytes[at..at + C as usize])
            .unwrap();
        partial.chunk_verified(*state).unwrap();
    }
    partial.commit().unwrap();
    Setup {
        _dir: dir,
        paths,
        bytes,
        states,
        source,
    }
}

impl Setup {
    fn reopen(&self) -> Reopened {
        Partial::reopen(self.paths.clone(), Some(&self.source))
            .unwrap()
            .expect("a partial is there")
            .expect("the partial is usable")
    }

    /// Overwrite one byte of chunk `index`, keeping the part file's mtime
    /// (untouched, as far as the state can tell) or not.
    fn damage(&self, index: u64, keep_mtime: bool) {
        let file = OpenOptions::new()
            .write(true)
            .open(&self.paths.part)
            .unwrap();
        let mtime = file.metadata().unwrap().modified().unwrap();
        file.write_all_at(&[0xff ^ self.bytes[(index * C) as usize]], index * C)
            .unwrap();
        if keep_mtime {
            file.set_modified(mtime).unwrap();
        } else {
            let later = mtime + std::time::Duration::from_secs(1);
            file.set_modified(later).unwrap();
        }
    }

    fn recorded_chunks(&self) -> u64 {
        let text = fs::read_to_string(&self.paths.state).unwrap();
        StateRecord::parse(&text).unwrap().verified_chunks
    }
}

#[test]
fn an_untouched_partial_is_trusted_after_rehashing_its_last_chunk_only() {
    // (damaged chunk, mtime kept, chunks kept, a note)
    let cases: [(Option<u64>, bool, u64, bool); 4] = [
        (None, true, 3, false),
        // Looks untouched: only the last chunk is read, so chunk 0 passes.
        (Some(0), true, 3, false),
        // The last chunk fails: everything is re-verified, up to it.
        (Some(2), true, 2, true),
        // Touched: re-verified chunk by chunk, cut back at chunk 0.
        (Some(0), false, 0, true),
    ];
    for (damaged, keep_mtime, kept, noted) in cases {
        let setup = setup(4, 3);
        if let Some(index) = damaged {
            setup.damage(index, keep_mtime);
        }
        let reopened = setup.reopen();
        let what = format!("damaged {damaged:?}, mtime kept {keep_mtime}");
        let expected_state = match kept {
            0 => ChainState::INITIAL,
            n => setup.states[n as usize - 1],
        };
        assert_eq!(
            reopened.partial.verified(),
            (kept * C, expected_state),
            "{what}"
        );
        assert_eq!(
            reopened.note.is_some(),
            noted,
            "{what}: {:?}",
            reopened.note
        );
        assert_eq!(setup.recorded_chunks(), kept, "{what}: the state follows");
    }
}

#[test]
fn a_touched_partial_is_reverified_and_kept_when_it_checks_out() {
    let setup = setup(4, 3);
    // Unverified bytes written after the last record, as before a SIGKILL.
    let file = OpenOptions::new()
        .write(true)
        .open(&setup.paths.part)
        .unwrap();
    let at = 3 * C as usize;
    file.write_all_at(&setup.bytes[at..at + 1000], at as u64)
        .unwrap();
    drop(file);
    let reopened = setup.reopen();
    assert_eq!(reopened.partial.verified(), (3 * C, setup.states[2]));
    assert!(reopened.note.is_none(), "{:?}", reopened.note);
}

#[test]
fn a_touched_partial_is_cut_back_to_its_first_bad_chunk() {
    let setup = setup(6, 5);
    setup.damage(3, false);
    setup.damage(1, false);
    let reopened = setup.reopen();
    assert_eq!(reopened.partial.verified(), (C, setup.states[0]));
    let note = reopened.note.expect("the user is told");
    assert!(note.contains("kept 1 of 5"), "{note}");
    assert_eq!(setup.recorded_chunks(), 1);
    // The next commit records from there on, in order.
    let mut partial = reopened.partial;
    partial
        .write_at(C, &setup.bytes[C as usize..2 * C as usize])
        .unwrap();
    partial.chunk_verified(setup.states[1]).unwrap();
    partial.commit().unwrap();
    drop(partial);
    assert_eq!(setup.reopen().partial.verified(), (2 * C, setup.states[1]));
}

#[test]
fn a_partial_of_another_source_or_without_data_is_refused() {
    let setup = setup(2, 1);
    let other = SourceIdentity {
        id: "etag-2".into(),
        size: setup.source.size,
    };
    let refused = Partial::reopen(setup.paths.clone(), Some(&other)).unwrap();
    assert!(matches!(refused, Some(Err(_))));
    fs::remove_file(&setup.paths.part).unwrap();
    let refused = Partial::reopen(setup.paths.clone(), None).unwrap();
    assert!(matches!(refused, Some(Err(ref why)) if why.contains("missing")));
    setup.paths.remove_all().unwrap();
    assert!(
        Partial::reopen(setup.paths.clone(), None)
            .unwrap()
            .is_none()
    );
}

#[test]
fn finish_renames_last_and_removes_the_state_files() {
    let setup = setup(3, 3);
    let target = setup.paths.target.clone();
    fs::write(&target, b"the old file").unwrap();
    let mut partial = setup.reopen().partial;
    let at = 3 * C as usize;
    partial.write_at(at as u64, &setup.bytes[at..]).unwrap();
    // Written past the end by a sender gone wrong: cut at the source size.
    partial
        .write_at(setup.bytes.len() as u64, b"beyond the end")
        .unwrap();
    partial.commit().unwrap();
    assert_eq!(
        fs::read(&target).unwrap(),
        b"the old file",
        "not before finish"
    );
    let placed = partial.placed();
    partial.finish().unwrap();
    assert_eq!(fs::read(&target).unwrap(), setup.bytes);
    assert_eq!(placed.get().map(fs::Metadata::len), Some(setup.source.size));
    assert_eq!(
        placed.chain(),
        Some((C, &setup.states[..3])),
        "the chaining values of every chunk below the end, for a hash cache"
    );
    let left: Vec<PathBuf> = [&setup.paths.part, &setup.paths.state, &setup.paths.chunks]
        .into_iter()
        .chain([&setup.paths.tmp])
        .filter(|p| p.exists())
        .cloned()
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    // Committing after the rename changes nothing.
    partial.commit().unwrap();
    assert!(!setup.paths.state.exists());
}

#[test]
fn verified_data_waits_for_its_record_at_most_the_byte_bound() {
    const BIG: u64 = 1 << 20;
    let dir = tempfile::TempDir::new().unwrap();
    let paths = PartialPaths::for_target(&dir.path().join("big.bin"));
    let chunks = 2 * MAX_UNRECORDED_BYTES / BIG + 8;
    let (bytes, states) = data(chunks * BIG + 1, BIG);
    let source = SourceIdentity {
        id: "etag".into(),
        size: bytes.len() as u64,
    };
    let mut partial = Partial::create(paths.clone(), source, BIG).unwrap();
    for (i, state) in states.iter().enumerate() {
        let at = i * BIG as usize;
        for frame in bytes[at..at + BIG as usize].chunks(256 << 10) {
            let offset = (frame.as_ptr() as usize - bytes.as_ptr() as usize) as u64;
            partial.write_at(offset, frame).unwrap();
        }
        partial.chunk_verified(*state).unwrap();
        let text = fs::read_to_string(&paths.state).unwrap();
        let recorded = StateRecord::parse(&text).unwrap().verified_chunks * BIG;
        let verified = (i as u64 + 1) * BIG;
        assert!(
            verified - recorded <= MAX_UNRECORDED_BYTES,
            "chunk {i}: {verified} verified, {recorded} recorded"
        );
    }
}

#[test]
fn state_files_are_judged_before_any_data_is_read() {
    let source = SourceIdentity {
        id: "e".into(),
        size: 10 * C,
    };
    let good = StateRecord::new(source, C, 3, ChainState::INITIAL, (3 * C, 1));
    let good = serde_json::to_value(&good).unwrap();
    let with = |field: &str, value: serde_json::Value| {
        let mut v = good.clone();
        v[field] = value;
        v.to_string()
    };
    let cases: Vec<(&str, String, Option<&str>)> = vec![
        ("good", good.to_string(), None),
        ("not json", "{".into(), Some("damaged")),
        (
            "another format",
            with("format", "x".into()),
            Some("not a wsresume"),
        ),
        (
            "another version",
            with("version", 2.into()),
            Some("version 2"),
        ),
        (
            "expired",
            r#"{"format":"wsresume-state","version":1,"expired":"too old"}"#.into(),
            Some("too old"),
        ),
        (
            "bad chunk size",
            with("chunk_size", 1000.into()),
            Some("inconsistent"),
        ),
        (
            "beyond the source",
            with("verified_chunks", 11.into()),
            Some("inconsistent"),
        ),
        (
            "bad state",
            with("state", "zz".into()),
            Some("inconsistent"),
        ),
        (
            "missing field",
            with("source", serde_json::Value::Null),
            Some("damaged"),
        ),
    ];
    for (name, text, error) in cases {
        match (StateRecord::parse(&text), error) {
            (Ok(_), None) => {}
            (Err(why), Some(part)) => assert!(why.contains(part), "{name}: {why}"),
            (other, _) => panic!("{name}: {other:?}"),
        }
    }
    assert!(is_expiry_marker(r#"{"expired":"x"}"#));
    assert!(!is_expiry_marker(&good.to_string()));
}

#[test]
fn closing_keeps_a_partial_with_verified_chunks_and_drops_one_without() {
    let kept = setup(2, 1);
    kept.reopen().partial.close().unwrap();
    assert_eq!(kept.recorded_chunks(), 1, "the verified chunk stays");
    assert!(kept.paths.part.exists());

    let empty = setup(2, 0);
    let mut partial = empty.reopen().partial;
    // Unverified bytes only: nothing worth resuming.
    partial.write_at(0, &empty.bytes[..100]).unwrap();
    partial.close().unwrap();
    let left: Vec<&PathBuf> = [&empty.paths.part, &empty.paths.state, &empty.paths.chunks]
        .into_iter()
        .filter(|p| p.exists())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn a_partial_is_dropped_only_for_its_own_source() {
    let setup = setup(2, 1);
    let other = SourceIdentity {
        id: "etag-2".into(),
        size: setup.source.size,
    };
    assert!(!setup.paths.remove_if_from(&other).unwrap(), "another's");
    assert!(setup.paths.state.exists() && setup.paths.part.exists());
    assert!(setup.paths.remove_if_from(&setup.source).unwrap());
    assert!(!setup.paths.state.exists() && !setup.paths.part.exists());
    assert!(
        !setup.paths.remove_if_from(&setup.source).unwrap(),
        "none there"
    );
}
