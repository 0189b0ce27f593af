//! What a connection's token may ask for: every protocol request checked
//! against the connection's [`Grant`] before its handler runs (`get` needs
//! `read`, `put` needs `write`, `list` needs `list` on the directory it
//! names, and `read` too for digests), refused `forbidden` (exit code 8
//! for the client). A listing needs its own directory inside the grant's
//! prefixes, so everything it shows is inside them too: a token limited to
//! `/ci/` cannot list `/` at all (refused, not filtered). Without `read`,
//! a listing's cached digests are left out.

use super::listing::parse_list_path;
use super::refusal::Refusal;
use super::request::{PutRequest, Request};
use crate::auth::{Grant, Right};
use crate::paths::{self, RelPath};
use crate::protocol::ErrorCode;

/// Refuse `request` unless `grant` allows it; a listing without `read`
/// loses its cached digests.
pub fn authorize(grant: &Grant, request: &mut Request) -> Result<(), Refusal> {
    match request {
        Request::Get(get) => need(grant, Right::Read, file_path(&get.path)?, &get.path),
        Request::Put(put) => authorize_put(grant, put),
        Request::List(list) => {
            let rel = parse_list_path(&list.path).map_err(forbidden)?;
            need(grant, Right::List, rel.clone(), &list.path)?;
            if list.options.sha256 {
                need(grant, Right::Read, rel, &list.path)?;
            }
            if !grant.has(Right::Read) {
                list.options.cached = false;
            }
            Ok(())
        }
    }
}

/// Refuse the upload `put` unless `grant` allows writing its path.
pub fn authorize_put(grant: &Grant, put: &PutRequest) -> Result<(), Refusal> {
    need(grant, Right::Write, file_path(&put.path)?, &put.path)
}

/// Whether `grant` may read the file at `path` (a `get` opened ahead).
pub fn may_read(grant: &Grant, path: &str) -> bool {
    paths::parse_request_path(path).is_ok_and(|rel| grant.allows(Right::Read, &rel))
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
            let got = authorize(&grant(rights, paths), &mut req);
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
            authorize(&grant(rights, r#"["/"]"#), &mut req).unwrap();
            let Request::List(list) = req else { panic!() };
            assert_eq!(list.options.cached, cached, "{rights}");
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
