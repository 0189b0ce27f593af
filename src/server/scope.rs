//! What a connection's token may ask for: every protocol request checked
//! against the connection's [`Grant`] before its handler runs (`get` needs
//! `read`, `put` needs `write`, `list` needs `list` on the directory it
//! names, and `read` too for digests), refused `forbidden` (exit code 8
//! for the client). A listing needs its own directory inside the grant's
//! prefixes, so everything it shows is inside them too: a token limited to
//! `/ci/` cannot list `/` at all (refused, not filtered). Without `read`,
//! a listing's cached digests are left out.

use super::context::Context;
use super::listing::parse_list_path;
use super::refusal::Refusal;
use super::request::{PutRequest, Request};
use crate::auth::{Grant, Right};
use crate::paths::{self, RelPath};
use crate::protocol::ErrorCode;

/// Refuse `request` unless `grant` allows it, on its path as written and,
/// for a grant limited to some paths, where that path really leads (its
/// symbolic links followed); then [`adjust`] it to the grant.
pub async fn authorize(ctx: &Context, grant: &Grant, request: &mut Request) -> Result<(), Refusal> {
    let rel = request_path(request)?;
    check_at(grant, request, &rel)?;
    let real = real_path(ctx, grant, &rel).await?;
    if let Some(real) = &real {
        check_at(grant, request, real)?;
    }
    adjust(grant, request, real.as_ref().unwrap_or(&rel));
    Ok(())
}

/// Refuse the eager upload `put` unless `grant` allows writing its path,
/// as written and where it leads.
pub async fn authorize_put(ctx: &Context, grant: &Grant, put: &PutRequest) -> Result<(), Refusal> {
    let rel = file_path(&put.path)?;
    need(grant, Right::Write, rel.clone(), &put.path)?;
    match real_path(ctx, grant, &rel).await? {
        Some(real) => need(grant, Right::Write, real, &put.path),
        None => Ok(()),
    }
}

/// The path a request names.
fn request_path(request: &Request) -> Result<RelPath, Refusal> {
    match request {
        Request::Get(get) => file_path(&get.path),
        Request::Put(put) => file_path(&put.path),
        Request::List(list) => parse_list_path(&list.path).map_err(forbidden),
    }
}

/// Whether `grant` allows `request` on `rel` (its path, or where it leads):
/// `get` needs `read`, `put` `write`, a listing `list` (and `read` over the
/// directory for digests).
fn check_at(grant: &Grant, request: &Request, rel: &RelPath) -> Result<(), Refusal> {
    match request {
        Request::Get(get) => need(grant, Right::Read, rel.clone(), &get.path),
        Request::Put(put) => need(grant, Right::Write, rel.clone(), &put.path),
        Request::List(list) => list_rights(grant, rel, list.options.sha256, &list.path),
    }
}

/// Fit an allowed request to the grant: a listing without `read` loses its
/// cached digests, a limited grant's listing shows only links that stay
/// inside the listed directory, and without `read` on `rel` a plain
/// `put`'s digest is not used (its `done{skipped}` would tell whether the
/// target holds a guessed file).
fn adjust(grant: &Grant, request: &mut Request, rel: &RelPath) {
    match request {
        Request::List(list) => {
            list.options.cached &= grant.has(Right::Read);
            list.options.links_within = !grant.unscoped();
        }
        Request::Put(put) if !put.eager && !grant.allows(Right::Read, rel) => put.sha256 = None,
        _ => {}
    }
}

/// Whether `grant` may read the file at `path` (a `get` opened ahead),
/// where it leads too. Blocks.
pub fn may_read(ctx: &Context, grant: &Grant, path: &str) -> bool {
    let Ok(rel) = paths::parse_request_path(path) else {
        return false;
    };
    if !grant.allows(Right::Read, &rel) {
        return false;
    }
    grant.unscoped()
        || match ctx.storage.real_path(&rel) {
            Ok(None) => true,
            Ok(Some(real)) => grant.allows(Right::Read, &real),
            Err(_) => false,
        }
}

/// For a grant limited to some paths: where `rel` really is, when that
/// is not where it is written (`None` otherwise, and always for a grant
/// of every path).
pub async fn real_path(
    ctx: &Context,
    grant: &Grant,
    rel: &RelPath,
) -> Result<Option<RelPath>, Refusal> {
    if grant.unscoped() {
        return Ok(None);
    }
    let (storage, resolve) = (ctx.storage.clone(), rel.clone());
    tokio::task::spawn_blocking(move || storage.real_path(&resolve))
        .await
        .map_err(|e| Refusal::new(ErrorCode::Internal, e.to_string()))?
        .map_err(|e| Refusal::new(ErrorCode::Forbidden, e.to_string()))
}

/// A listing of `dir` needs `list` there, and `read` over it for digests.
fn list_rights(grant: &Grant, dir: &RelPath, sha256: bool, path: &str) -> Result<(), Refusal> {
    need(grant, Right::List, dir.clone(), path)?;
    if sha256 && !grant.allows_within(Right::Read, dir) {
        let why = refused(grant, Right::Read, path);
        return Err(Refusal::new(ErrorCode::Forbidden, why));
    }
    Ok(())
}

fn file_path(path: &str) -> Result<RelPath, Refusal> {
    paths::parse_request_path(path).map_err(forbidden)
}

fn forbidden(e: paths::PathError) -> Refusal {
    Refusal::new(ErrorCode::Forbidden, e.to_string())
}

fn need(grant: &Grant, right: Right, rel: RelPath, path: &str) -> Result<(), Refusal> {
    if grant.allows(right, &rel) {
        return Ok(());
    }
    Err(Refusal::new(
        ErrorCode::Forbidden,
        refused(grant, right, path),
    ))
}

/// Why `grant` may not do `right` on `path`, in words.
pub fn refused(grant: &Grant, right: Right, path: &str) -> String {
    let who = match &grant.name {
        Some(name) => format!("the token {name:?}"),
        None => "the token".to_string(),
    };
    if !grant.has(right) {
        return format!("{path}: {who} has no {} right", right.name());
    }
    let within: Vec<String> = grant.paths().iter().map(ToString::to_string).collect();
    format!(
        "{path}: {who} may {} only under {}",
        right.name(),
        within.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Tokens;

    fn grant(rights: &str, paths: &str) -> Grant {
        let sha = crate::auth::sha256_hex("t");
        let file = format!(
            "[[token]]\nname = \"t\"\nsha256 = \"{sha}\"\nrights = {rights}\npaths = {paths}\n"
        );
        Tokens::from_toml(&file).unwrap().authenticate("t").unwrap()
    }

    /// [`authorize`] on the path as written only (no storage).
    fn check(grant: &Grant, request: &mut Request) -> Result<(), Refusal> {
        let rel = request_path(request)?;
        check_at(grant, request, &rel)?;
        adjust(grant, request, &rel);
        Ok(())
    }

    fn request(json: &str) -> Request {
        Request::from_message(crate::protocol::Message::decode(json).unwrap()).unwrap()
    }

    #[test]
    fn each_request_needs_its_right_on_its_path() {
        let get = |p: &str| format!(r#"{{"type":"get","path":"{p}","chunk_size":4096}}"#);
        let put = |p: &str| {
            format!(r#"{{"type":"put","path":"{p}","size":1,"chunk_size":4096,"source_id":"s"}}"#)
        };
        let list = |p: &str, sha: bool| {
            format!(r#"{{"type":"list","path":"{p}","recursive":true,"sha256":{sha}}}"#)
        };
        let (all, ci) = (r#"["read","list","write"]"#, r#"["/ci/"]"#);
        // (rights, paths, request, allowed)
        let cases = [
            (r#"["read"]"#, r#"["/"]"#, get("/a"), true),
            (r#"["read"]"#, r#"["/"]"#, put("/a"), false),
            (r#"["read"]"#, r#"["/"]"#, list("/", false), false),
            (r#"["write"]"#, r#"["/"]"#, put("/a/b"), true),
            (r#"["write"]"#, r#"["/"]"#, get("/a"), false),
            (r#"["list"]"#, r#"["/"]"#, list("/", false), true),
            (r#"["list"]"#, r#"["/"]"#, list("/", true), false),
            (r#"["list","read"]"#, r#"["/"]"#, list("/d/", true), true),
            (all, ci, get("/ci/x"), true),
            (all, ci, put("/ci/x"), true),
            (all, ci, list("/ci/", false), true),
            (all, ci, list("/ci", false), true),
            (all, ci, list("/", false), false),
            (all, ci, get("/cibar"), false),
            (all, ci, put("/x"), false),
            (all, ci, get("/ci/../x"), false),
            (all, ci, get("/ci%2F..%2Fx"), false),
        ];
        for (rights, paths, json, allowed) in cases {
            let mut req = request(&json);
            let got = check(&grant(rights, paths), &mut req);
            assert_eq!(got.is_ok(), allowed, "{rights} {paths} {json}: {got:?}");
            if let Err(refusal) = got {
                assert_eq!(refusal.code, ErrorCode::Forbidden);
            }
        }
    }

    #[test]
    fn a_listing_without_read_has_no_cached_digests() {
        let json = r#"{"type":"list","path":"/","recursive":true,"cached":true}"#;
        for (rights, cached) in [(r#"["list"]"#, false), (r#"["list","read"]"#, true)] {
            let mut req = request(json);
            check(&grant(rights, r#"["/"]"#), &mut req).unwrap();
            let Request::List(list) = req else { panic!() };
            assert_eq!(list.options.cached, cached, "{rights}");
        }
    }

    #[test]
    fn a_put_keeps_its_digest_only_with_read_or_its_data() {
        let sha = "0".repeat(64);
        let put = |eager: bool| {
            format!(
                r#"{{"type":"put","path":"/a","size":1,"chunk_size":4096,"source_id":"s","sha256":"{sha}","eager":{eager}}}"#
            )
        };
        // (rights, eager, digest kept)
        let cases = [
            (r#"["write"]"#, false, false),
            (r#"["write","read"]"#, false, true),
            (r#"["write"]"#, true, true),
        ];
        for (rights, eager, kept) in cases {
            let mut req = request(&put(eager));
            check(&grant(rights, r#"["/"]"#), &mut req).unwrap();
            let Request::Put(put) = req else { panic!() };
            assert_eq!(put.sha256.is_some(), kept, "{rights} eager={eager}");
        }
    }

    #[test]
    fn a_refusal_says_which_right_or_where() {
        let g = grant(r#"["read"]"#, r#"["/ci/","/dl/"]"#);
        assert_eq!(
            refused(&g, Right::Write, "/ci/x"),
            "/ci/x: the token \"t\" has no write right"
        );
        assert_eq!(
            refused(&g, Right::Read, "/x"),
            "/x: the token \"t\" may read only under /ci/, /dl/"
        );
    }
}
