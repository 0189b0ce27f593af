//! Compressed data frames at the protocol level (PROTOCOL.md section 2.1):
//! the upgrade header that negotiates them, the marker byte that starts
//! each binary frame, `--compress`'s modes. Pure, table-tested.

/// The upgrade header that negotiates compressed data frames (PROTOCOL.md
/// section 2.1): the client sends `zstd` (with `; mode=on` or `; mode=auto`),
/// a server that compresses answers `zstd` in its 101.
pub const COMPRESS_HEADER: &str = "wsresume-compress";
/// A data frame's first byte on a compressing connection: raw bytes follow.
pub const FRAME_RAW: u8 = 0;
/// A data frame's first byte on a compressing connection: one zstd frame
/// follows whose content is at most [`MAX_DATA_FRAME`](super::MAX_DATA_FRAME) bytes.
pub const FRAME_ZSTD: u8 = 1;

/// `--compress`: whether data frames are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CompressMode {
    /// Per frame, when the sender judges it makes the transfer faster.
    #[default]
    Auto,
    /// Every frame that shrinks.
    On,
    /// Never; the header is not sent.
    Off,
}

impl CompressMode {
    /// Parse `auto`, `on` or `off`.
    pub fn parse(text: &str) -> std::result::Result<CompressMode, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(CompressMode::Auto),
            "on" => Ok(CompressMode::On),
            "off" => Ok(CompressMode::Off),
            other => Err(format!("compress must be auto, on or off, not {other:?}")),
        }
    }

    /// The mode's name.
    pub fn as_str(self) -> &'static str {
        match self {
            CompressMode::Auto => "auto",
            CompressMode::On => "on",
            CompressMode::Off => "off",
        }
    }

    /// The request header's value asking for this mode (None: `off`).
    pub fn request_header(self) -> Option<String> {
        (self != CompressMode::Off).then(|| format!("zstd; mode={}", self.as_str()))
    }
}

/// What a server makes of a client's [`COMPRESS_HEADER`]: the mode to
/// compress its data frames with, or None when the client asked for no
/// codec this server knows (`zstd` without a mode is `auto`; an unknown
/// mode is `auto` too: compression is an optimisation, never a refusal).
pub fn compress_requested<'a>(values: impl Iterator<Item = &'a str>) -> Option<CompressMode> {
    for offer in values.flat_map(|v| v.split(',')) {
        let mut parts = offer.split(';').map(str::trim);
        if !parts.next().is_some_and(|c| c.eq_ignore_ascii_case("zstd")) {
            continue;
        }
        let mode = parts
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("mode"))
            .and_then(|(_, v)| CompressMode::parse(v).ok());
        return Some(match mode {
            Some(CompressMode::On) => CompressMode::On,
            _ => CompressMode::Auto,
        });
    }
    None
}

/// Whether a server's 101 answered [`COMPRESS_HEADER`] with `zstd`.
pub fn compress_agreed<'a>(values: impl Iterator<Item = &'a str>) -> bool {
    values.flat_map(|v| v.split(',')).any(|v| {
        v.split(';')
            .next()
            .is_some_and(|c| c.trim().eq_ignore_ascii_case("zstd"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_is_negotiated_by_header() {
        use CompressMode::{Auto, On};
        // (request header values, what the server compresses with)
        let cases: [(&[&str], Option<CompressMode>); 9] = [
            (&[], None),
            (&["zstd"], Some(Auto)),
            (&["zstd; mode=auto"], Some(Auto)),
            (&["ZSTD;mode=on"], Some(On)),
            (&["zstd; mode=off"], Some(Auto)),
            (&["zstd; mode=fast"], Some(Auto)),
            (&["gzip, zstd; mode=on"], Some(On)),
            (&["gzip"], None),
            (&["br", "zstd"], Some(Auto)),
        ];
        for (values, want) in cases {
            assert_eq!(
                compress_requested(values.iter().copied()),
                want,
                "{values:?}"
            );
        }
        let agreed: [(&[&str], bool); 4] = [
            (&[], false),
            (&["zstd"], true),
            (&["Zstd; x=1"], true),
            (&["gzip"], false),
        ];
        for (values, want) in agreed {
            assert_eq!(compress_agreed(values.iter().copied()), want, "{values:?}");
        }
        for (text, want) in [
            ("auto", Ok(Auto)),
            ("ON", Ok(On)),
            (" off ", Ok(CompressMode::Off)),
        ] {
            assert_eq!(CompressMode::parse(text), want);
        }
        assert!(CompressMode::parse("yes").is_err());
        assert_eq!(On.request_header().as_deref(), Some("zstd; mode=on"));
        assert_eq!(CompressMode::Off.request_header(), None);
    }
}
