//! Tokens with scopes (`serve --tokens FILE`, `serve --token`): the tokens
//! file parsed and validated once ([`Tokens::from_toml`]), a presented
//! bearer token turned into the [`Grant`] it carries
//! ([`Tokens::authenticate`]: its SHA-256 compared in constant time with
//! each entry's; the token itself is never stored), and what a grant
//! allows ([`Grant::allows`]: a [`Right`] on a path under one of its
//! prefixes, matched segment by segment). Pure: the caller reads the file
//! and enforces the answer.

use std::collections::HashSet;
use std::fmt;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use thiserror::Error;

use crate::chain::{digest_from_hex, hex};
use crate::paths::RelPath;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Right {
    /// Download files (`get`, HTTP `GET`/`HEAD` of a file, digests).
    Read,
    /// List directories (`ls`, `-r`, an HTTP index).
    List,
    /// Upload files (`send`).
    Write,
}

impl Right {
    /// Every right, in the order the file spells them.
    pub const ALL: [Right; 3] = [Right::Read, Right::List, Right::Write];

    /// The name in the tokens file.
    pub fn name(self) -> &'static str {
        match self {
            Right::Read => "read",
            Right::List => "list",
            Right::Write => "write",
        }
    }

    /// The right `name` spells, if any.
    pub fn parse(name: &str) -> Option<Right> {
        Right::ALL.into_iter().find(|r| r.name() == name)
    }

    fn bit(self) -> u8 {
        match self {
            Right::Read => 1,
            Right::List => 2,
            Right::Write => 4,
        }
    }
}

/// A path prefix of a grant, as segments: `/` is none (everything);
/// `/ci/` is the directory `ci` and everything under it (a file named
/// `ci` is not in it); `/ci` is also a file named `ci`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix {
    segments: Vec<String>,
    /// Written with a trailing `/` (or `/` itself): a directory only.
    dir: bool,
}

impl Prefix {
    /// Parse `/`, `/ci/`, `/a/b`: it must start with `/`; no empty, `.`
    /// or `..` segments (one trailing `/` is allowed).
    pub fn parse(text: &str) -> Result<Prefix, String> {
        let Some(rest) = text.strip_prefix('/') else {
            return Err(format!("{text:?} does not start with \"/\""));
        };
        if rest.is_empty() {
            return Ok(Prefix {
                segments: vec![],
                dir: true,
            });
        }
        let dir = rest.ends_with('/');
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let mut segments = Vec::new();
        for segment in rest.split('/') {
            if segment.is_empty() || segment == "." || segment == ".." {
                return Err(format!("{text:?} has an empty, \".\" or \"..\" segment"));
            }
            segments.push(segment.to_string());
        }
        Ok(Prefix { segments, dir })
    }

    /// Whether `path` is this prefix or lies under it.
    pub fn covers(&self, path: &RelPath) -> bool {
        path.segments().starts_with(&self.segments)
    }

    /// Whether a file at `path` is inside: under the prefix, or the
    /// prefix itself when it was written without a trailing `/`.
    pub fn holds_file(&self, path: &RelPath) -> bool {
        self.covers(path) && (!self.dir || path.segments().len() > self.segments.len())
    }
}

impl fmt::Display for Prefix {
    /// `/` or `/ci/`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("/")?;
        let last = self.segments.len();
        for (i, segment) in self.segments.iter().enumerate() {
            f.write_str(segment)?;
            if i + 1 < last || self.dir {
                f.write_str("/")?;
            }
        }
        Ok(())
    }
}

/// What an authenticated connection may do: the token's name (none for
/// `--token` or no token at all), its rights and its path prefixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The name in the tokens file, for the logs.
    pub name: Option<String>,
    rights: u8,
    paths: Vec<Prefix>,
}

impl Grant {
    /// Every right on `/`, unnamed: a server without tokens, or `--token`.
    pub fn everything() -> Grant {
        Grant {
            name: None,
            rights: Right::ALL.iter().map(|r| r.bit()).sum(),
            paths: vec![Prefix {
                segments: vec![],
                dir: true,
            }],
        }
    }

    /// Whether the grant has `right` at all.
    pub fn has(&self, right: Right) -> bool {
        self.rights & right.bit() != 0
    }

    /// Whether `right` is granted on `path` (the root is the empty path),
    /// segment by segment (`/ci/` covers `ci` and `ci/x`, not `cibar`):
    /// `list` on a prefix's directory or under it; `read` and `write` on
    /// a file inside one ([`Prefix::holds_file`]: `/ci/` lets no one
    /// touch a file named `ci`).
    pub fn allows(&self, right: Right, path: &RelPath) -> bool {
        self.has(right)
            && self.paths.iter().any(|p| match right {
                Right::List => p.covers(path),
                Right::Read | Right::Write => p.holds_file(path),
            })
    }

    /// Whether `right` is granted on everything under the directory
    /// `dir`, which is a prefix's or lies under one (the digests of a
    /// listing need `read` there).
    pub fn allows_within(&self, right: Right, dir: &RelPath) -> bool {
        self.has(right) && self.paths.iter().any(|p| p.covers(dir))
    }

    /// Whether the grant holds every path (no prefix but `/`).
    pub fn unscoped(&self) -> bool {
        self.paths.iter().any(|p| p.segments.is_empty())
    }

    /// The rights, as the file names them.
    pub fn rights(&self) -> Vec<Right> {
        Right::ALL.into_iter().filter(|r| self.has(*r)).collect()
    }

    /// The path prefixes.
    pub fn paths(&self) -> &[Prefix] {
        &self.paths
    }
}

/// Why a presented token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum AuthError {
    /// None was presented.
    #[error("a token is required (Authorization: Bearer TOKEN)")]
    Missing,
    /// It matches no token.
    #[error("the token is not valid")]
    Invalid,
}

/// What is wrong with a tokens file.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TokensError {
    /// Not TOML, or not the tokens file's shape (an unknown key).
    #[error("not a valid tokens file: {0}")]
    Toml(String),
    /// No `[[token]]` table at all.
    #[error("no [[token]] tables: nobody could connect")]
    Empty,
    /// One field of one token.
    #[error("token {token}: {field}: {why}")]
    Field {
        /// The token's name, or `#N` (its place in the file) without one.
        token: String,
        /// The key.
        field: &'static str,
        /// What is wrong with it.
        why: String,
    },
}

/// The tokens a server accepts, each with its grant.
#[derive(Debug, Clone)]
pub struct Tokens {
    entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    digest: [u8; 32],
    grant: Grant,
}

/// A `[[token]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    token: Vec<RawToken>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    name: Option<String>,
    sha256: Option<String>,
    rights: Option<Vec<String>>,
    paths: Option<Vec<String>>,
}

impl Tokens {
    /// Parse and validate a tokens file: every table has a unique `name`
    /// (letters, digits, `.`, `_`, `-`), a `sha256` of 64 hex digits (no
    /// two alike), one or more `rights` among `read`, `list`, `write`,
    /// and one or more `paths` starting with `/`.
    pub fn from_toml(text: &str) -> Result<Tokens, TokensError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| TokensError::Toml(e.to_string()))?;
        if raw.token.is_empty() {
            return Err(TokensError::Empty);
        }
        let (mut names, mut digests) = (HashSet::new(), HashSet::new());
        let mut entries = Vec::new();
        for (index, raw) in raw.token.into_iter().enumerate() {
            let entry = validate(index, raw)?;
            let name = entry.grant.name.clone().unwrap_or_default();
            let bad = |field, why: &str| TokensError::Field {
                token: name.clone(),
                field,
                why: why.to_string(),
            };
            if !names.insert(name.clone()) {
                return Err(bad("name", "another token has this name"));
            }
            if !digests.insert(entry.digest) {
                return Err(bad("sha256", "another token has this sha256"));
            }
            entries.push(entry);
        }
        Ok(Tokens { entries })
    }

    /// One token with every right on `/`, unnamed (`serve --token`).
    pub fn single(token: &str) -> Tokens {
        Tokens {
            entries: vec![Entry {
                digest: digest(token),
                grant: Grant::everything(),
            }],
        }
    }

    /// How many tokens there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none (never, once validated).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The grant of the token `presented` (empty: none presented). Its
    /// SHA-256 is compared with every entry's in constant time.
    pub fn authenticate(&self, presented: &str) -> Result<Grant, AuthError> {
        if presented.is_empty() {
            return Err(AuthError::Missing);
        }
        let presented = digest(presented);
        let mut found = None;
        for entry in &self.entries {
            let same = bool::from(entry.digest.ct_eq(&presented));
            if same && found.is_none() {
                found = Some(&entry.grant);
            }
        }
        found.cloned().ok_or(AuthError::Invalid)
    }
}

/// One table checked: the name it goes by in errors is its `name`, or its
/// place (`#1`) when that is missing.
fn validate(index: usize, raw: RawToken) -> Result<Entry, TokensError> {
    let place = format!("#{}", index + 1);
    let bad = |token: &str, field, why: String| TokensError::Field {
        token: token.to_string(),
        field,
        why,
    };
    let name = raw
        .name
        .ok_or_else(|| bad(&place, "name", "missing".into()))?;
    check_name(&name).map_err(|why| bad(&place, "name", why))?;
    let sha256 = raw
        .sha256
        .ok_or_else(|| bad(&name, "sha256", "missing".into()))?;
    let digest = digest_from_hex(&sha256).ok_or_else(|| {
        let why = format!("{sha256:?} is not 64 hex digits (the SHA-256 of the token)");
        bad(&name, "sha256", why)
    })?;
    let rights = raw.rights.unwrap_or_default();
    if rights.is_empty() {
        let why = "missing or empty: give one or more of \"read\", \"list\", \"write\"";
        return Err(bad(&name, "rights", why.into()));
    }
    let mut bits = 0;
    for right in &rights {
        let right = Right::parse(right).ok_or_else(|| {
            let why = format!("unknown right {right:?} (read, list or write)");
            bad(&name, "rights", why)
        })?;
        bits |= right.bit();
    }
    let paths = raw.paths.unwrap_or_default();
    if paths.is_empty() {
        let why = "missing or empty: give one or more prefixes such as \"/\" or \"/ci/\"";
        return Err(bad(&name, "paths", why.into()));
    }
    let paths = (paths.iter().map(|p| Prefix::parse(p)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|why| bad(&name, "paths", why))?;
    let grant = Grant {
        name: Some(name),
        rights: bits,
        paths,
    };
    Ok(Entry { digest, grant })
}

/// A token's name appears in logs: 1 to 64 of letters, digits, `.`, `_`, `-`.
fn check_name(name: &str) -> Result<(), String> {
    let fine = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty() || name.len() > 64 || !name.chars().all(fine) {
        return Err(format!(
            "{name:?}: use 1 to 64 letters, digits, '.', '_' or '-'"
        ));
    }
    Ok(())
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The hex SHA-256 of `token`, as a tokens file records it.
pub fn sha256_hex(token: &str) -> String {
    hex(&digest(token))
}

/// The `[[token]]` table for `token`, to paste into a tokens file.
pub fn entry_toml(name: &str, token: &str, rights: &[Right], paths: &[String]) -> String {
    let string = |s: &str| toml::Value::String(s.to_string()).to_string();
    let list = |items: Vec<String>| {
        let items: Vec<String> = items.iter().map(|s| string(s)).collect();
        format!("[{}]", items.join(", "))
    };
    let rights = list(rights.iter().map(|r| r.name().to_string()).collect());
    format!(
        "[[token]]\nname = {}\nsha256 = \"{}\"\nrights = {rights}\npaths = {}\n",
        string(name),
        sha256_hex(token),
        list(paths.to_vec()),
    )
}

#[cfg(test)]
mod tests;
