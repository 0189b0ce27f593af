//! Turning a URL path into a path confined under the server ROOT.
//!
//! This module owns the server's path policy: how raw (percent-encoded) URL
//! path text becomes a validated [`RelPath`] ([`parse_request_path`]), which names are reserved for the server's own partial
//! files ([`reserved_suffix`]), and how a [`RelPath`] is mapped onto the
//! filesystem without leaving ROOT, for reading ([`resolve_existing`]) and for
//! creating ([`resolve_for_create`]). Error messages name the offending
//! segment or the relative path, never the server's absolute paths.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use percent_encoding::percent_decode_str;
use thiserror::Error;

/// Longest accepted segment, in bytes after decoding (the common `NAME_MAX`).
pub const MAX_SEGMENT_LEN: usize = 255;

/// Longest accepted relative path (segments joined by `/`), in bytes after decoding.
pub const MAX_PATH_LEN: usize = 4096;

/// The data of a partial file (beside its target).
pub const PART_SUFFIX: &str = ".wsresume-part";
/// A partial file's state (verified chunks), or an expiry marker.
pub const STATE_SUFFIX: &str = ".wsresume-state";
/// A partial file's chunk check values.
pub const CHUNKS_SUFFIX: &str = ".wsresume-chunks";
/// A state file being replaced.
pub const TMP_SUFFIX: &str = ".wsresume-tmp";
/// The lock a download holds on its target.
pub const LOCK_SUFFIX: &str = ".wsresume-lock";

/// The one list of file-name suffixes wsresume keeps beside a target
/// (partial data, state, locks): never served, targeted, listed or sent.
pub const RESERVED_SUFFIXES: [&str; 5] = [
    PART_SUFFIX,
    STATE_SUFFIX,
    CHUNKS_SUFFIX,
    TMP_SUFFIX,
    LOCK_SUFFIX,
];

/// How many characters of an over-long segment an error message quotes.
const QUOTE_LEN: usize = 32;

/// Why a path was refused.
#[derive(Debug, Error)]
pub enum PathError {
    /// The path text is empty.
    #[error("empty path")]
    Empty,
    /// The path text does not start with `/`.
    #[error("path {0:?} does not start with '/'")]
    NotAbsolute(String),
    /// The path names the root directory where a file is needed.
    #[error("path {0:?} names the root directory, not a file")]
    Root(String),
    /// Two `/` in a row, a trailing `/`, or a leading `//`.
    #[error("path {0:?} has an empty segment (a doubled or trailing '/')")]
    EmptySegment(String),
    /// A `.` or `..` segment, also when percent-encoded.
    #[error("path segment {0:?} is not allowed ('.' and '..' are refused)")]
    DotSegment(String),
    /// A segment containing `/`, e.g. decoded from `%2F`.
    #[error("path segment {0:?} contains a '/' (from %2F, or inside a name)")]
    SlashInSegment(String),
    /// A segment containing a backslash.
    #[error("path segment {0:?} contains a backslash")]
    Backslash(String),
    /// A segment containing NUL or another ASCII control character.
    #[error("path segment {0:?} contains a control character")]
    ControlChar(String),
    /// A segment whose percent-decoded bytes are not UTF-8 (quoted as sent).
    #[error("path segment {0:?} is not valid UTF-8 once percent-decoded")]
    NotUtf8(String),
    /// A segment longer than [`MAX_SEGMENT_LEN`] bytes.
    #[error(
        "path segment starting {start:?} is {len} bytes, over the {MAX_SEGMENT_LEN}-byte limit"
    )]
    SegmentTooLong {
        /// The first characters of the segment.
        start: String,
        /// Its length in bytes.
        len: usize,
    },
    /// A path longer than [`MAX_PATH_LEN`] bytes.
    #[error("path is over the {MAX_PATH_LEN}-byte limit")]
    PathTooLong,
    /// A segment naming one of the server's partial/state files.
    #[error("{0:?} names a reserved file (a wsresume partial or state file)")]
    Reserved(String),
    /// Nothing exists at the path.
    #[error("{0}: no such file")]
    NotFound(String),
    /// The path (through a symbolic link) leads outside ROOT.
    #[error("{0}: leads outside the served directory")]
    Escapes(String),
    /// The path ends at a symbolic link that points at nothing.
    #[error("{0}: is a symbolic link to nothing")]
    DanglingLink(String),
    /// A parent component exists but is not a directory.
    #[error("{0}: is not a directory")]
    NotADirectory(String),
    /// The target of an upload is a directory.
    #[error("{0}: is a directory")]
    IsADirectory(String),
    /// The filesystem failed while checking or creating the path.
    #[error("{path}: {source}")]
    Io {
        /// The relative path being worked on.
        path: String,
        /// What failed.
        source: io::Error,
    },
}

/// A validated path relative to ROOT: non-empty UTF-8 segments with no
/// separators, dot segments, control characters or reserved names.
/// The empty `RelPath` (no segments, its `Default`) names the root.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RelPath {
    segments: Vec<String>,
}

impl RelPath {
    /// The decoded segments, outermost first.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// The path of these decoded segments, each checked as a request's
    /// would be.
    pub fn from_segments(segments: Vec<String>) -> Result<RelPath, PathError> {
        for segment in &segments {
            if segment.is_empty() {
                return Err(PathError::EmptySegment(segments.join("/")));
            }
            check_segment(segment)?;
        }
        Ok(RelPath { segments })
    }

    /// The last segment, or `None` for the root.
    pub fn file_name(&self) -> Option<&str> {
        self.segments.last().map(String::as_str)
    }

    /// This path followed by `tail`, a relative path of segments joined by
    /// `/` as a listing shows them (already checked by the walk).
    pub fn join(&self, tail: &str) -> RelPath {
        let mut segments = self.segments.clone();
        segments.extend(
            tail.split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        );
        RelPath { segments }
    }

    /// The path as a relative [`PathBuf`].
    pub fn to_path_buf(&self) -> PathBuf {
        self.segments.iter().collect()
    }
}

impl fmt::Display for RelPath {
    /// The segments joined by `/`, without a leading `/` (empty for the root).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.segments.join("/"))
    }
}

/// True when `name` ends in one of [`RESERVED_SUFFIXES`].
pub fn reserved_suffix(name: &str) -> bool {
    RESERVED_SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// Parses a file path from raw URL path text such as `/dir/a%20b.iso`.
///
/// The text must start with `/`; it is split on `/` before each segment is
/// percent-decoded, so `%2F` cannot introduce a separator. The root itself,
/// empty segments and a trailing `/` are refused.
pub fn parse_request_path(raw: &str) -> Result<RelPath, PathError> {
    let rest = strip_leading_slash(raw)?;
    if rest.is_empty() {
        return Err(PathError::Root(raw.to_owned()));
    }
    parse_segments(raw, rest)
}

/// Drops the leading `/`, refusing empty or relative text.
fn strip_leading_slash(raw: &str) -> Result<&str, PathError> {
    if raw.is_empty() {
        return Err(PathError::Empty);
    }
    raw.strip_prefix('/')
        .ok_or_else(|| PathError::NotAbsolute(raw.to_owned()))
}

/// Splits `rest` (raw text after the leading `/`) and validates each segment.
fn parse_segments(raw: &str, rest: &str) -> Result<RelPath, PathError> {
    let mut segments = Vec::new();
    let mut total = 0usize;
    for raw_segment in rest.split('/') {
        if raw_segment.is_empty() {
            return Err(PathError::EmptySegment(raw.to_owned()));
        }
        let segment = decode_segment(raw_segment)?;
        total += segment.len() + usize::from(!segments.is_empty());
        if total > MAX_PATH_LEN {
            return Err(PathError::PathTooLong);
        }
        segments.push(segment);
    }
    Ok(RelPath { segments })
}

/// Percent-decodes one raw segment and validates the result.
fn decode_segment(raw_segment: &str) -> Result<String, PathError> {
    let bytes: Vec<u8> = percent_decode_str(raw_segment).collect();
    let segment =
        String::from_utf8(bytes).map_err(|_| PathError::NotUtf8(raw_segment.to_owned()))?;
    check_segment(&segment)?;
    Ok(segment)
}

/// Validates one decoded, non-empty segment.
fn check_segment(segment: &str) -> Result<(), PathError> {
    if segment.len() > MAX_SEGMENT_LEN {
        return Err(PathError::SegmentTooLong {
            start: segment.chars().take(QUOTE_LEN).collect(),
            len: segment.len(),
        });
    }
    let owned = || segment.to_owned();
    if segment == "." || segment == ".." {
        return Err(PathError::DotSegment(owned()));
    }
    if segment.contains('/') {
        return Err(PathError::SlashInSegment(owned()));
    }
    if segment.contains('\\') {
        return Err(PathError::Backslash(owned()));
    }
    if segment.chars().any(|c| c.is_ascii_control()) {
        return Err(PathError::ControlChar(owned()));
    }
    if reserved_suffix(segment) {
        return Err(PathError::Reserved(owned()));
    }
    Ok(())
}

/// Resolves an existing path for reading: joins it to the canonical `root`,
/// canonicalizes it (following every symbolic link) and refuses a result
/// outside `root` or naming a reserved file. Returns the canonical path.
pub fn resolve_existing(root: &Path, rel: &RelPath) -> Result<PathBuf, PathError> {
    let canon = canonical(&root.join(rel.to_path_buf()), rel)?;
    check_confined(root, &canon, rel)?;
    Ok(canon)
}

/// Resolves a path for an upload under the canonical `root`, creating missing
/// parent directories. Every existing parent must be a directory whose
/// canonical path stays under `root`; an existing target must not be a
/// directory nor a symbolic link leading outside `root` or to nothing.
/// Returns the target's path: its canonical parent joined with its name.
pub fn resolve_for_create(root: &Path, rel: &RelPath) -> Result<PathBuf, PathError> {
    let Some((name, parents)) = rel.segments.split_last() else {
        return Err(PathError::Root(String::from("/")));
    };
    let mut dir = root.to_path_buf();
    for (depth, segment) in parents.iter().enumerate() {
        let sub = RelPath {
            segments: rel.segments[..=depth].to_vec(),
        };
        dir = enter_or_create_dir(root, &dir.join(segment), &sub)?;
    }
    let target = dir.join(name);
    check_create_target(root, &target, rel)?;
    Ok(target)
}

/// Makes sure `path` (the directory named by `sub`) exists under `root`,
/// creating it if missing; returns its canonical path.
fn enter_or_create_dir(root: &Path, path: &Path, sub: &RelPath) -> Result<PathBuf, PathError> {
    match fs::symlink_metadata(path) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => match fs::create_dir(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_error(sub, e)),
        },
        Err(e) => return Err(io_error(sub, e)),
    }
    // Whatever is there now (ours, or a racing creator's), check it.
    let canon = match fs::canonicalize(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(PathError::DanglingLink(sub.to_string()));
        }
        other => other.map_err(|e| io_error(sub, e))?,
    };
    if !canon.starts_with(root) {
        return Err(PathError::Escapes(sub.to_string()));
    }
    let meta = fs::metadata(&canon).map_err(|e| io_error(sub, e))?;
    if !meta.is_dir() {
        return Err(PathError::NotADirectory(sub.to_string()));
    }
    Ok(canon)
}

/// Checks an upload target that may or may not exist yet.
fn check_create_target(root: &Path, target: &Path, rel: &RelPath) -> Result<(), PathError> {
    let meta = match fs::symlink_metadata(target) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        other => other.map_err(|e| io_error(rel, e))?,
    };
    if meta.file_type().is_symlink() {
        let canon = match fs::canonicalize(target) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(PathError::DanglingLink(rel.to_string()));
            }
            other => other.map_err(|e| io_error(rel, e))?,
        };
        check_confined(root, &canon, rel)?;
        let meta = fs::metadata(&canon).map_err(|e| io_error(rel, e))?;
        if meta.is_dir() {
            return Err(PathError::IsADirectory(rel.to_string()));
        }
    } else if meta.is_dir() {
        return Err(PathError::IsADirectory(rel.to_string()));
    }
    Ok(())
}

/// Canonicalizes `path`, mapping a missing file to [`PathError::NotFound`].
fn canonical(path: &Path, rel: &RelPath) -> Result<PathBuf, PathError> {
    fs::canonicalize(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => PathError::NotFound(rel.to_string()),
        _ => io_error(rel, e),
    })
}

/// Refuses a canonical path outside `root` or whose name is reserved.
fn check_confined(root: &Path, canon: &Path, rel: &RelPath) -> Result<(), PathError> {
    if !canon.starts_with(root) {
        return Err(PathError::Escapes(rel.to_string()));
    }
    let name = canon.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if reserved_suffix(name) {
        return Err(PathError::Reserved(rel.to_string()));
    }
    Ok(())
}

/// Wraps an I/O error with the relative path it concerns.
fn io_error(rel: &RelPath, source: io::Error) -> PathError {
    PathError::Io {
        path: rel.to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn accepts_request_paths() {
        let cases: &[(&str, &[&str])] = &[
            ("/a", &["a"]),
            ("/dir/a%20b.iso", &["dir", "a b.iso"]),
            ("/dir/a b.iso", &["dir", "a b.iso"]),
            ("/%C3%A9t%C3%A9/caf%c3%a9.txt", &["été", "café.txt"]),
            ("/日本/файл.bin", &["日本", "файл.bin"]),
            ("/.hidden", &[".hidden"]),
            ("/...", &["..."]),
            ("/a..b/..c", &["a..b", "..c"]),
            ("/%25", &["%"]),
            ("/50%", &["50%"]),
            ("/x.wsresume-part.txt", &["x.wsresume-part.txt"]),
            ("/wsresume-part", &["wsresume-part"]),
        ];
        for &(raw, want) in cases {
            let rel = parse_request_path(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(rel.segments(), want, "{raw}");
            assert_eq!(rel.to_string(), want.join("/"), "{raw}");
            assert_eq!(rel.file_name(), want.last().copied(), "{raw}");
            assert_eq!(rel.to_path_buf(), want.iter().collect::<PathBuf>(), "{raw}");
        }
    }

    #[test]
    fn accepts_length_limits() {
        let seg = "a".repeat(MAX_SEGMENT_LEN);
        assert!(parse_request_path(&format!("/{seg}")).is_ok());
        // 16 segments of 255 bytes plus 15 separators is 4095 bytes.
        let long = vec![seg.as_str(); 16].join("/");
        assert!(parse_request_path(&format!("/{long}")).is_ok());
        assert!(parse_request_path(&format!("/{long}/")).is_err());
        assert!(parse_request_path(&format!("/{long}/x")).is_err());
        // Encoded text is measured after decoding: 255 × "%41" is one 255-byte segment.
        assert!(parse_request_path(&format!("/{}", "%41".repeat(MAX_SEGMENT_LEN))).is_ok());
    }

    /// The variant name, so tables can say which error they expect.
    fn kind(e: &PathError) -> &'static str {
        match e {
            PathError::Empty => "Empty",
            PathError::NotAbsolute(_) => "NotAbsolute",
            PathError::Root(_) => "Root",
            PathError::EmptySegment(_) => "EmptySegment",
            PathError::DotSegment(_) => "DotSegment",
            PathError::SlashInSegment(_) => "SlashInSegment",
            PathError::Backslash(_) => "Backslash",
            PathError::ControlChar(_) => "ControlChar",
            PathError::NotUtf8(_) => "NotUtf8",
            PathError::SegmentTooLong { .. } => "SegmentTooLong",
            PathError::PathTooLong => "PathTooLong",
            PathError::Reserved(_) => "Reserved",
            PathError::NotFound(_) => "NotFound",
            PathError::Escapes(_) => "Escapes",
            PathError::DanglingLink(_) => "DanglingLink",
            PathError::NotADirectory(_) => "NotADirectory",
            PathError::IsADirectory(_) => "IsADirectory",
            PathError::Io { .. } => "Io",
        }
    }

    #[test]
    fn rejects_request_paths() {
        let long_seg = format!("/{}", "a".repeat(MAX_SEGMENT_LEN + 1));
        let long_path = format!("/{}", vec!["b".repeat(200); 21].join("/"));
        // (raw path, expected variant, text the message must contain)
        let cases: &[(&str, &str, &str)] = &[
            ("", "Empty", "empty path"),
            ("a/b", "NotAbsolute", "\"a/b\""),
            ("/", "Root", "root"),
            ("//", "EmptySegment", "\"//\""),
            ("/a//b", "EmptySegment", "\"/a//b\""),
            ("/a/", "EmptySegment", "\"/a/\""),
            ("//etc/passwd", "EmptySegment", "//etc"),
            ("/.", "DotSegment", "\".\""),
            ("/a/../b", "DotSegment", "\"..\""),
            ("/..", "DotSegment", "\"..\""),
            ("/%2e%2e/x", "DotSegment", "\"..\""),
            ("/%2E%2e", "DotSegment", "\"..\""),
            ("/a/%2e", "DotSegment", "\".\""),
            ("/a%2fb", "SlashInSegment", "\"a/b\""),
            ("/..%2fetc", "SlashInSegment", "\"../etc\""),
            ("/%2F", "SlashInSegment", "\"/\""),
            ("/a\\b", "Backslash", "backslash"),
            ("/..%5c..", "Backslash", "backslash"),
            ("/a%00b", "ControlChar", "\"a\\0b\""),
            ("/a\tb", "ControlChar", "control"),
            ("/a%0Ab", "ControlChar", "control"),
            ("/a%7F", "ControlChar", "control"),
            ("/%FF", "NotUtf8", "\"%FF\""),
            ("/%C3", "NotUtf8", "UTF-8"),
            (&long_seg, "SegmentTooLong", "256 bytes"),
            (&long_path, "PathTooLong", "4096"),
            ("/f.wsresume-part", "Reserved", "\"f.wsresume-part\""),
            ("/d/f.wsresume-state", "Reserved", "reserved"),
            ("/f.wsresume-chunks", "Reserved", "reserved"),
            ("/f%2Ewsresume-tmp", "Reserved", "reserved"),
            ("/x.wsresume-part/f", "Reserved", "reserved"),
        ];
        for &(raw, want, msg) in cases {
            let quoted: String = raw.chars().take(40).collect();
            match parse_request_path(raw) {
                Ok(rel) => panic!("{quoted:?} accepted as {rel}"),
                Err(e) => {
                    assert_eq!(kind(&e), want, "{quoted:?}: {e}");
                    assert!(e.to_string().contains(msg), "{quoted:?}: message {e}");
                }
            }
        }
    }

    #[test]
    fn reserved_suffixes() {
        let cases: &[(&str, bool)] = &[
            ("a.wsresume-part", true),
            (".wsresume-state", true),
            ("a.b.wsresume-chunks", true),
            ("a.wsresume-tmp", true),
            ("a.bin.wsresume-lock", true),
            ("a.wsresume-part.bak", false),
            ("a.wsresume", false),
            ("a-wsresume-part", false),
            ("plain", false),
        ];
        for &(name, want) in cases {
            assert_eq!(reserved_suffix(name), want, "{name}");
        }
    }

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let name = format!("wsresume-paths-{}-{n}", std::process::id());
            let dir = std::env::temp_dir().join(name);
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).expect("create temp dir");
            TempDir(fs::canonicalize(&dir).expect("canonical temp dir"))
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// ROOT with files, dirs and links; `outside` is a sibling of ROOT.
    fn fixture() -> (TempDir, PathBuf) {
        let tmp = TempDir::new();
        let root = tmp.0.join("root");
        let outside = tmp.0.join("outside");
        for d in [&root, &outside, &root.join("dir"), &outside.join("odir")] {
            fs::create_dir(d).expect("mkdir");
        }
        fs::write(root.join("file"), b"x").expect("write");
        fs::write(root.join("dir/inner"), b"x").expect("write");
        fs::write(root.join("p.wsresume-part"), b"x").expect("write");
        fs::write(outside.join("secret"), b"x").expect("write");
        let links: &[(&Path, &str)] = &[
            (&outside.join("secret"), "out_file"),
            (&outside, "out_dir"),
            (&root.join("dir"), "in_dir"),
            (&root.join("file"), "in_file"),
            (Path::new("../file"), "dir/rel_in"),
            (Path::new("../../outside/secret"), "dir/rel_out"),
            (&root.join("missing"), "dangling"),
            (&root.join("p.wsresume-part"), "to_part"),
        ];
        for &(target, link) in links {
            symlink(target, root.join(link)).expect("symlink");
        }
        (tmp, root)
    }

    fn rel(raw: &str) -> RelPath {
        parse_request_path(raw).expect("valid test path")
    }

    #[test]
    fn resolve_existing_confines() {
        let (_tmp, root) = fixture();
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("/file", Ok("file")),
            ("/dir/inner", Ok("dir/inner")),
            ("/in_file", Ok("file")),
            ("/in_dir/inner", Ok("dir/inner")),
            ("/dir/rel_in", Ok("file")),
            ("/dir", Ok("dir")),
            ("/out_file", Err("Escapes")),
            ("/out_dir/secret", Err("Escapes")),
            ("/dir/rel_out", Err("Escapes")),
            ("/to_part", Err("Reserved")),
            ("/missing", Err("NotFound")),
            ("/dangling", Err("NotFound")),
            ("/out_dir/nope", Err("NotFound")),
        ];
        for (raw, want) in cases {
            let got = resolve_existing(&root, &rel(raw));
            match (got, want) {
                (Ok(p), Ok(w)) => assert_eq!(p, root.join(w), "{raw}"),
                (Err(e), Err(want)) => assert_eq!(kind(&e), *want, "{raw}: {e}"),
                (got, _) => panic!("{raw}: unexpected {got:?}"),
            }
        }
    }

    #[test]
    fn resolve_for_create_confines() {
        let (_tmp, root) = fixture();
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("/new", Ok("new")),
            ("/file", Ok("file")),
            ("/a/b/c/new", Ok("a/b/c/new")),
            ("/dir/new", Ok("dir/new")),
            ("/in_dir/new", Ok("dir/new")),
            ("/in_file", Ok("in_file")),
            ("/file/new", Err("NotADirectory")),
            ("/in_file/new", Err("NotADirectory")),
            ("/out_dir/new", Err("Escapes")),
            ("/out_dir/odir/new", Err("Escapes")),
            ("/out_file", Err("Escapes")),
            ("/dir/rel_out", Err("Escapes")),
            ("/to_part", Err("Reserved")),
            ("/dangling", Err("DanglingLink")),
            ("/dangling/new", Err("DanglingLink")),
            ("/dir", Err("IsADirectory")),
            ("/in_dir", Err("IsADirectory")),
        ];
        for (raw, want) in cases {
            let got = resolve_for_create(&root, &rel(raw));
            match (got, want) {
                (Ok(p), Ok(w)) => assert_eq!(p, root.join(w), "{raw}"),
                (Err(e), Err(want)) => assert_eq!(kind(&e), *want, "{raw}: {e}"),
                (got, _) => panic!("{raw}: unexpected {got:?}"),
            }
        }
        assert!(root.join("a/b/c").is_dir(), "nested dirs created");
        assert!(
            !root.join("a/b/c/new").exists(),
            "target itself not created"
        );
        assert!(!root.join("file/new").exists());
        let outside = root.parent().expect("has parent").join("outside");
        assert!(!outside.join("new").exists(), "nothing created outside");
    }

    #[test]
    fn resolve_for_create_refuses_root() {
        let (_tmp, root) = fixture();
        let top = RelPath::default();
        assert!(matches!(
            resolve_for_create(&root, &top),
            Err(PathError::Root(_))
        ));
    }
}
