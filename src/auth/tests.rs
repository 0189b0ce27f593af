use super::*;
use crate::paths::parse_request_path;

/// `""` is the root; else a request path without its leading `/`.
fn rel(path: &str) -> RelPath {
    match path {
        "" => RelPath::default(),
        _ => parse_request_path(&format!("/{path}")).unwrap(),
    }
}

fn grant(rights: &[Right], paths: &[&str]) -> Grant {
    Grant {
        name: Some("t".into()),
        rights: rights.iter().map(|r| r.bit()).sum(),
        paths: paths.iter().map(|p| Prefix::parse(p).unwrap()).collect(),
    }
}

#[test]
fn prefixes_match_whole_segments() {
    use Right::*;
    // (prefixes, right asked, path, allowed)
    let cases: &[(&[&str], Right, &str, bool)] = &[
        (&["/"], List, "", true),
        (&["/"], Read, "", false),
        (&["/"], Read, "f", true),
        (&["/"], Read, "a/b/c", true),
        (&["/ci/"], Read, "ci/x", true),
        (&["/ci/"], List, "ci", true),
        (&["/ci/"], Read, "ci", false),
        (&["/ci/"], Write, "ci", false),
        (&["/ci/"], List, "ci/sub", true),
        (&["/ci/"], Read, "ci/deep/er/x", true),
        (&["/ci/"], Read, "cibar", false),
        (&["/ci/"], Read, "cibar/x", false),
        (&["/ci/"], Read, "", false),
        (&["/ci/"], Read, "other/ci/x", false),
        (&["/ci"], Read, "ci/x", true),
        (&["/ci"], Read, "ci", true),
        (&["/ci"], Read, "cix", false),
        (&["/a/b/"], Read, "a", false),
        (&["/a/b/"], List, "a/b", true),
        (&["/a/b/"], Read, "a/b", false),
        (&["/a/b"], Write, "a/b", true),
        (&["/a/b/"], Read, "a/bc", false),
        (&["/a/", "/b/"], Read, "b/x", true),
        (&["/a/", "/b/"], Read, "c/x", false),
        (&["/x y/"], Read, "x%20y/f", true),
    ];
    for (prefixes, right, path, want) in cases {
        let g = grant(&Right::ALL, prefixes);
        assert_eq!(g.allows(*right, &rel(path)), *want, "{prefixes:?} {path}");
    }
}

#[test]
fn rights_are_exactly_those_written() {
    use Right::*;
    // (rights held, right asked, allowed)
    let cases: &[(&[Right], Right, bool)] = &[
        (&[Read], Read, true),
        (&[Read], List, false),
        (&[Read], Write, false),
        (&[Write], Read, false),
        (&[Write], Write, true),
        (&[List, Read], List, true),
        (&[List, Read], Write, false),
        (&[Read, List, Write], Write, true),
    ];
    for (held, right, want) in cases {
        let g = grant(held, &["/"]);
        assert_eq!(g.allows(*right, &rel("f")), *want, "{held:?} {right:?}");
        assert_eq!(g.rights().len(), held.len());
    }
    assert!(Grant::everything().allows(Write, &rel("f")));
    assert!(Grant::everything().allows(List, &rel("")));
    assert!(Grant::everything().unscoped());
}

#[test]
fn prefixes_parse_or_say_why_not() {
    // (text, shown back as, or None for an error)
    let cases = [
        ("/", Some("/")),
        ("/ci/", Some("/ci/")),
        ("/ci", Some("/ci")),
        ("/a/b", Some("/a/b")),
        ("ci/", None),
        ("", None),
        ("//", None),
        ("/a//b/", None),
        ("/../x", None),
        ("/a/./b", None),
    ];
    for (text, want) in cases {
        let got = Prefix::parse(text).ok().map(|p| p.to_string());
        assert_eq!(got.as_deref(), want, "{text:?}");
    }
}

const CI: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn table(name: &str, sha: &str, rights: &str, paths: &str) -> String {
    format!("[[token]]\nname = {name}\nsha256 = {sha}\nrights = {rights}\npaths = {paths}\n")
}

#[test]
fn a_tokens_file_is_checked_field_by_field() {
    let ok = table("\"ci\"", &format!("\"{CI}\""), "[\"read\"]", "[\"/ci/\"]");
    // (file, the error's text contains, or None when valid)
    let cases: Vec<(String, Option<&str>)> = vec![
        (ok.clone(), None),
        (
            format!("{ok}\n{}", ok.replace("\"ci\"", "\"dl\"")),
            Some("token dl: sha256: another token"),
        ),
        (
            format!("{ok}\n{}", ok.replace(CI, &"a".repeat(64))),
            Some("token ci: name: another token"),
        ),
        ("".into(), Some("no [[token]]")),
        ("[[token]\n".into(), Some("TOML")),
        (
            ok.replace("[\"read\"]", "[\"read\", \"delete\"]"),
            Some("token ci: rights: unknown right \"delete\""),
        ),
        (
            ok.replace("[\"read\"]", "[]"),
            Some("token ci: rights: missing or empty"),
        ),
        (
            ok.replace(CI, "xyz"),
            Some("token ci: sha256: \"xyz\" is not 64 hex"),
        ),
        (ok.replace(CI, &"g".repeat(64)), Some("token ci: sha256:")),
        (
            ok.replace("[\"/ci/\"]", "[\"ci/\"]"),
            Some("token ci: paths: \"ci/\" does not start"),
        ),
        (
            ok.replace("[\"/ci/\"]", "[]"),
            Some("token ci: paths: missing or empty"),
        ),
        (
            ok.replace("name = \"ci\"\n", ""),
            Some("token #1: name: missing"),
        ),
        (ok.replace("\"ci\"", "\"a b\""), Some("token #1: name:")),
        (ok.replace("sha256", "sha"), Some("unknown field")),
        (format!("{ok}extra = 1\n"), Some("unknown field")),
    ];
    for (text, want) in cases {
        let got = Tokens::from_toml(&text);
        match (want, got) {
            (None, Ok(tokens)) => assert_eq!(tokens.len(), 1),
            (Some(want), Err(e)) => {
                let e = e.to_string();
                assert!(e.contains(want), "{text}\n=> {e}\nwanted {want}");
            }
            (want, got) => panic!("{text}\nwanted {want:?}, got {got:?}"),
        }
    }
}

#[test]
fn a_presented_token_gets_its_own_grant() {
    let file = format!(
        "{}{}",
        table(
            "\"ci\"",
            &format!("\"{}\"", sha256_hex("test")),
            "[\"read\", \"write\"]",
            "[\"/ci/\"]"
        ),
        table(
            "\"dl\"",
            &format!("\"{}\"", sha256_hex("other").to_uppercase()),
            "[\"read\"]",
            "[\"/\"]"
        ),
    );
    let tokens = Tokens::from_toml(&file).unwrap();
    assert_eq!(sha256_hex("test"), CI);
    // (presented, name of the grant or the error)
    let cases = [
        ("test", Ok("ci")),
        ("other", Ok("dl")),
        ("tes", Err(AuthError::Invalid)),
        ("test ", Err(AuthError::Invalid)),
        (CI, Err(AuthError::Invalid)),
        ("", Err(AuthError::Missing)),
    ];
    for (presented, want) in cases {
        let got = tokens.authenticate(presented);
        let got = got.as_ref().map(|g| g.name.as_deref().unwrap_or(""));
        assert_eq!(got.map_err(|e| *e), want, "{presented:?}");
    }
    let ci = tokens.authenticate("test").unwrap();
    assert!(ci.allows(Right::Write, &rel("ci/a")) && !ci.allows(Right::List, &rel("ci")));
    let single = Tokens::single("s3cret");
    assert_eq!(single.authenticate("s3cret"), Ok(Grant::everything()));
    assert_eq!(single.authenticate("s3cre"), Err(AuthError::Invalid));
}

#[test]
fn a_printed_entry_parses_back() {
    let paths = vec!["/ci/".to_string(), "/with \"quote\"/".to_string()];
    let text = entry_toml("ci-2", "tok", &[Right::Read, Right::Write], &paths);
    let tokens = Tokens::from_toml(&text).unwrap();
    let grant = tokens.authenticate("tok").unwrap();
    assert_eq!(grant.name.as_deref(), Some("ci-2"));
    assert_eq!(grant.rights(), vec![Right::Read, Right::Write]);
    assert!(grant.allows(Right::Read, &rel("with%20%22quote%22/x")));
}
