//! Property tests (proptest) of the two places hostile input meets first:
//! the control-message decoder and the path confinement. Arbitrary text never
//! panics the decoder and every message survives a round trip; an accepted
//! path never has a segment that could leave ROOT, and resolving it for
//! creation never lands outside ROOT, even with symlinks planted in ROOT.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use wsresume::chain::ChainState;
use wsresume::paths::{parse_request_path, reserved_suffix, resolve_existing, resolve_for_create};
use wsresume::protocol::{self, Have, Message, ResumePoint};

/// Text built from the pieces path attacks are made of.
fn path_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("/".to_string()),
        Just("..".to_string()),
        Just(".".to_string()),
        Just("%2e".to_string()),
        Just("%2E%2e".to_string()),
        Just("%2f".to_string()),
        Just("%5c".to_string()),
        Just("\\".to_string()),
        Just("%00".to_string()),
        Just("%".to_string()),
        Just("%ff".to_string()),
        Just("link".to_string()),
        Just("dirlink".to_string()),
        Just(".wsresume-part".to_string()),
        "[a-z]{1,8}",
        any::<String>(),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

fn chain_state() -> impl Strategy<Value = ChainState> {
    any::<[u8; 32]>().prop_map(ChainState)
}

fn message() -> impl Strategy<Value = Message> {
    let resume =
        (any::<String>(), any::<u64>(), chain_state()).prop_map(|(etag, offset, state)| {
            ResumePoint {
                etag,
                offset,
                state,
            }
        });
    prop_oneof![
        (
            any::<String>(),
            any::<u64>(),
            prop::option::of(resume),
            prop::option::of((any::<u64>(), "[0-9a-f]{64}")),
            any::<bool>()
        )
            .prop_map(|(path, chunk_size, resume, have, attrs)| Message::Get(
                protocol::Get {
                    path,
                    chunk_size,
                    resume,
                    have: have.map(|(size, sha256)| Have { size, sha256 }),
                    attrs,
                }
            )),
        (
            (any::<String>(), any::<u64>(), any::<u64>(), any::<String>()),
            (
                prop::option::of("[0-9a-f]{64}"),
                any::<Option<i64>>(),
                any::<Option<u32>>(),
                any::<bool>()
            )
        )
            .prop_map(
                |((path, size, chunk_size, source_id), (sha256, mtime_ns, mode, eager))| {
                    Message::Put(protocol::Put {
                        path,
                        size,
                        chunk_size,
                        source_id,
                        sha256,
                        mtime_ns,
                        mode,
                        eager,
                    })
                }
            ),
        (any::<u64>(), chain_state()).prop_map(|(index, state)| Message::Chunk { index, state }),
        any::<u64>().prop_map(|offset| Message::Ack { offset }),
        "[0-9a-f]{64}".prop_map(|sha256| Message::Eof { sha256 }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decoder_never_panics_on_arbitrary_text(text in any::<String>()) {
        let _ = Message::decode(&text);
    }

    #[test]
    fn decoder_never_panics_on_json_shaped_text(
        kind in prop_oneof![Just("get"), Just("put"), Just("chunk"), Just("eof"), Just("x")],
        body in "[ -~]{0,80}",
    ) {
        let _ = Message::decode(&format!(r#"{{"type":"{kind}",{body}}}"#));
    }

    #[test]
    fn messages_round_trip(m in message()) {
        prop_assert_eq!(Message::decode(&m.encode()).unwrap(), m);
    }

    #[test]
    fn accepted_paths_have_only_plain_segments(raw in path_like()) {
        if let Ok(rel) = parse_request_path(&raw) {
            prop_assert!(!rel.segments().is_empty());
            for seg in rel.segments() {
                prop_assert!(!seg.is_empty() && seg != "." && seg != "..", "{:?}", seg);
                prop_assert!(!seg.contains(['/', '\\', '\0']), "{:?}", seg);
                prop_assert!(!reserved_suffix(seg), "{:?}", seg);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn resolved_paths_stay_under_root(raw in path_like()) {
        let top = tempfile::TempDir::new().unwrap();
        let root = top.path().join("root");
        std::fs::create_dir_all(top.path().join("outside")).unwrap();
        std::fs::create_dir(&root).unwrap();
        std::os::unix::fs::symlink(top.path().join("outside"), root.join("dirlink")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("link")).unwrap();
        let root = root.canonicalize().unwrap();
        if let Ok(rel) = parse_request_path(&raw) {
            if let Ok(path) = resolve_for_create(&root, &rel) {
                prop_assert!(path.starts_with(&root), "{} escaped", path.display());
            }
            if let Ok(path) = resolve_existing(&root, &rel) {
                prop_assert!(path.starts_with(&root), "{} escaped", path.display());
            }
        }
        let outside: Vec<_> = std::fs::read_dir(top.path().join("outside")).unwrap().collect();
        prop_assert!(outside.is_empty(), "something was created outside ROOT");
    }
}
