//! Listing the bucket under PREFIX with the rules of a local listing
//! (`storage/listing.rs`): entries sorted by path, at most
//! [`MAX_ENTRIES`] (then `truncated`), names a URL cannot address left
//! out, and the reserved `PREFIX/.wsresume/` never shown. Non-recursive:
//! the objects and the "directories" (common prefixes) right under the
//! path; recursive: files only, at any depth. A path that is an object
//! lists as that one file.
//!
//! Pages of keys are read one at a time (memory bound), and a recursive
//! listing of the top skips the internal objects with one `start-after`
//! instead of paging through them. A console's empty "folder" object
//! (`NAME/`) is a directory, never a file: a recursive listing tells them
//! from empty files by a HEAD of each empty object.

use std::collections::HashSet;

use futures_util::StreamExt;
use object_store::ObjectMeta;
use object_store::ObjectStoreExt;
use object_store::list::{PaginatedListOptions, PaginatedListStore};

use super::download::download_etag;
use super::{INTERNAL, S3Store, store_error};
use crate::paths::{self, RelPath};
use crate::protocol::{EntryKind, ListEntry};
use crate::storage::{ListOptions, Listing, StorageError};

/// HEAD requests one listing has in flight (telling folders from files).
const HEADS_AT_ONCE: usize = 16;
/// Most entries one listing returns (memory bound); more: `truncated`.
const MAX_ENTRIES: usize = crate::protocol::MAX_LIST_ENTRIES;

/// Whether `path` (relative, `/`-separated) is one a request URL can name:
/// each segment percent-encoded as the client encodes it must parse as a
/// request path (no reserved names, no dot segments, no backslashes...).
pub(super) fn addressable(path: &str) -> bool {
    let encoded: Vec<String> = path
        .split('/')
        .map(|s| percent_encoding::utf8_percent_encode(s, crate::PATH_SEGMENT).to_string())
        .collect();
    paths::parse_request_path(&format!("/{}", encoded.join("/"))).is_ok()
}

/// The path shown for `rest` (a key below the listed directory), or `None`
/// when it is not shown: an internal object (only the top holds them),
/// or a name a URL cannot address.
fn shown(rest: &str, at_top: bool) -> Option<&str> {
    let first = rest.split('/').next().unwrap_or_default();
    let internal = at_top && first == INTERNAL;
    (!rest.is_empty() && !internal && addressable(rest)).then_some(rest)
}

impl S3Store {
    /// [`crate::storage::Storage::list`] for a bucket.
    pub(super) fn listing(
        &self,
        rel: &RelPath,
        options: ListOptions,
    ) -> Result<Listing, StorageError> {
        let dir = match rel.to_string().is_empty() {
            true => self
                .prefix_key()
                .map(|k| format!("{k}/"))
                .unwrap_or_default(),
            false => format!("{}/", self.key_of(rel)?),
        };
        let mut pages = Pages::new(self, dir, options.recursive);
        let mut listing = Listing::default();
        let mut seen = false;
        while let Some(page) = pages.next()? {
            seen |= !page.objects.is_empty() || !page.common_prefixes.is_empty();
            for prefix in &page.common_prefixes {
                if let Some(path) = pages
                    .rest(prefix.as_ref())
                    .and_then(|r| shown(r, pages.at_top))
                {
                    listing.entries.push(dir_entry(path));
                }
            }
            let markers = match options.recursive {
                true => self.folder_markers(&page.objects),
                false => HashSet::new(),
            };
            for object in &page.objects {
                if markers.contains(object.location.as_ref()) {
                    continue;
                }
                if let Some(path) = pages
                    .rest(object.location.as_ref())
                    .and_then(|r| shown(r, pages.at_top))
                {
                    note_file(&mut listing, path, object, options);
                }
            }
            if listing.entries.len() > MAX_ENTRIES {
                listing.entries.truncate(MAX_ENTRIES);
                listing.truncated = true;
                break;
            }
        }
        if !seen && !rel.to_string().is_empty() {
            return self.list_file(rel, options);
        }
        finish(&mut listing);
        Ok(listing)
    }

    /// Which of the empty `objects` of a recursive listing are "folders"
    /// (a console's `NAME/`, listed as `NAME` since keys lose their
    /// trailing `/`): those whose `NAME` a HEAD does not find. Several
    /// HEADs at once; one that fails otherwise keeps the object a file.
    fn folder_markers(&self, objects: &[ObjectMeta]) -> HashSet<String> {
        let empty = objects
            .iter()
            .filter(|o| o.size == 0)
            .map(|o| o.location.clone());
        let heads = futures_util::stream::iter(empty)
            .map(|key| async move {
                let found = self.store.head(&key).await;
                (key, found)
            })
            .buffer_unordered(HEADS_AT_ONCE)
            .collect::<Vec<_>>();
        self.block_on(heads)
            .into_iter()
            .filter(|(_, found)| matches!(found, Err(object_store::Error::NotFound { .. })))
            .map(|(key, _)| key.to_string())
            .collect()
    }

    /// A listing of the object `rel` alone, named by its file name; no
    /// such object: `NotFound`.
    fn list_file(&self, rel: &RelPath, options: ListOptions) -> Result<Listing, StorageError> {
        let key = self.key_of(rel)?;
        let meta = match self.block_on(self.store.head(&key)) {
            Ok(meta) => meta,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(StorageError::NotFound(rel.to_string()));
            }
            Err(e) => return Err(store_error(&format!("listing /{rel}"), &e)),
        };
        let mut listing = Listing::default();
        let name = rel.file_name().unwrap_or_default().to_string();
        note_file(&mut listing, &name, &meta, options);
        Ok(listing)
    }
}

/// The pages of keys under one directory.
struct Pages<'a> {
    store: &'a S3Store,
    /// The listed directory's key with its trailing `/` ("" for the
    /// bucket's root).
    dir: String,
    recursive: bool,
    /// Whether the listed directory is the top (PREFIX), which holds the
    /// internal objects.
    at_top: bool,
    token: Option<String>,
    offset: Option<String>,
    done: bool,
}

impl<'a> Pages<'a> {
    fn new(store: &'a S3Store, dir: String, recursive: bool) -> Pages<'a> {
        let top = store
            .prefix_key()
            .map(|k| format!("{k}/"))
            .unwrap_or_default();
        Pages {
            at_top: dir == top,
            store,
            dir,
            recursive,
            token: None,
            offset: None,
            done: false,
        }
    }

    /// `key` below the listed directory, if it is below it.
    fn rest<'k>(&self, key: &'k str) -> Option<&'k str> {
        key.strip_prefix(self.dir.as_str())
    }

    /// The next page, or `None` after the last.
    fn next(&mut self) -> Result<Option<object_store::ListResult>, StorageError> {
        if self.done {
            return Ok(None);
        }
        let options = PaginatedListOptions {
            delimiter: (!self.recursive).then_some(std::borrow::Cow::Borrowed("/")),
            page_token: self.token.take(),
            offset: self.offset.take(),
            ..Default::default()
        };
        let prefix = (!self.dir.is_empty()).then_some(self.dir.as_str());
        let what = format!("listing {}", self.dir);
        let page = self
            .store
            .block_on(self.store.store.list_paginated(prefix, options))
            .map_err(|e| store_error(&what, &e))?;
        self.token = page.page_token;
        // A recursive listing of the top whose page ended among the
        // internal objects goes on after all of them.
        let internal = format!("{}{INTERNAL}/", self.dir);
        let skip = self.recursive
            && self.at_top
            && self.token.is_some()
            && page
                .result
                .objects
                .last()
                .is_some_and(|o| o.location.as_ref().starts_with(&internal));
        if skip {
            self.token = None;
            self.offset = Some(format!("{internal}{}", char::MAX));
        }
        self.done = self.token.is_none() && !skip;
        Ok(Some(page.result))
    }
}

/// A directory's entry.
fn dir_entry(path: &str) -> ListEntry {
    ListEntry {
        path: path.to_string(),
        kind: EntryKind::Dir,
        size: None,
        modified: None,
        sha256: None,
    }
}

/// Add the file `object` as `path`, with its etag when the options ask.
fn note_file(listing: &mut Listing, path: &str, object: &ObjectMeta, options: ListOptions) {
    if options.cached
        && let Some(e_tag) = &object.e_tag
    {
        listing
            .etags
            .insert(path.to_string(), download_etag(e_tag, object.size));
    }
    listing.entries.push(ListEntry {
        path: path.to_string(),
        kind: EntryKind::File,
        size: Some(object.size),
        modified: Some(object.last_modified.timestamp()),
        sha256: None,
    });
}

/// Sort, and drop a file whose name is also a directory's (a console's
/// empty "folder" object `NAME/`, or an object beside objects under
/// `NAME/`): the directory wins, as a download of it says.
fn finish(listing: &mut Listing) {
    let mut dirs: HashSet<String> = HashSet::new();
    for entry in &listing.entries {
        match entry.kind {
            EntryKind::Dir => {
                dirs.insert(entry.path.clone());
            }
            EntryKind::File => {
                let mut parent = entry.path.as_str();
                while let Some((up, _)) = parent.rsplit_once('/') {
                    if !dirs.insert(up.to_string()) {
                        break;
                    }
                    parent = up;
                }
            }
        }
    }
    listing
        .entries
        .retain(|e| e.kind == EntryKind::Dir || !dirs.contains(&e.path));
    listing.etags.retain(|path, _| !dirs.contains(path));
    listing.entries.sort_by(|a, b| a.path.cmp(&b.path));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_and_unaddressable_keys_are_not_shown() {
        let cases: [(&str, bool, Option<&str>); 10] = [
            ("a.bin", true, Some("a.bin")),
            ("sub/b c#1.txt", true, Some("sub/b c#1.txt")),
            (".wsresume", true, None),
            (".wsresume/hashes/ab", true, None),
            (".wsresume/hashes/ab", false, Some(".wsresume/hashes/ab")),
            ("x.wsresume-part", true, None),
            ("d/x.wsresume-state", false, None),
            ("back\\slash", true, None),
            ("", true, None),
            ("dir/../up", true, None),
        ];
        for (rest, at_top, want) in cases {
            assert_eq!(shown(rest, at_top), want, "{rest:?} at top {at_top}");
        }
    }

    fn entry(path: &str, kind: EntryKind) -> ListEntry {
        ListEntry {
            path: path.into(),
            kind,
            size: (kind == EntryKind::File).then_some(0),
            modified: None,
            sha256: None,
        }
    }

    #[test]
    fn a_directory_hides_a_file_of_its_name_and_entries_are_sorted() {
        use EntryKind::{Dir, File};
        type Case<'a> = (&'a [(&'a str, EntryKind)], &'a [&'a str]);
        let cases: [Case; 4] = [
            (&[("b", File), ("a", Dir), ("a", File)], &["a", "b"]),
            (
                &[("d", File), ("d/x", File), ("d-y", File)],
                &["d-y", "d/x"],
            ),
            (
                &[("d/e", File), ("d/e/f/g", File), ("d", File)],
                &["d/e/f/g"],
            ),
            (&[("z", File), ("y", File)], &["y", "z"]),
        ];
        for (given, want) in cases {
            let mut listing = Listing::default();
            for (path, kind) in given {
                listing.entries.push(entry(path, *kind));
                listing.etags.insert(path.to_string(), "e".into());
            }
            finish(&mut listing);
            let got: Vec<&str> = listing.entries.iter().map(|e| e.path.as_str()).collect();
            assert_eq!(got, want, "{given:?}");
            let mut etags: Vec<&str> = listing.etags.keys().map(String::as_str).collect();
            etags.sort();
            assert!(etags.iter().all(|p| want.contains(p)), "{etags:?}");
        }
    }
}
