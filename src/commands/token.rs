//! `wsresume token`: a new random token (`wsr_` and 32 bytes from the
//! thread's cryptographic generator, seeded by the OS, as base64url) alone
//! on the
//! first line of standard output, so a script can take it (`read -r`),
//! then a blank line and the `[[token]]` table to paste into the file of
//! `serve --tokens`, which stores only the token's SHA-256.

use std::io::Write;

use base64::Engine;

use crate::auth::{Right, Tokens, TokensError, entry_toml};
use crate::cli::TokenArgs;
use crate::error::Error;

/// Print a new token and its table.
pub fn print(args: &TokenArgs) -> anyhow::Result<()> {
    let token = new_token();
    let table = table(args, &token)?;
    let mut stdout = std::io::stdout().lock();
    write!(
        stdout,
        "{token}\n\n# for the file of `wsresume serve --tokens FILE` \
         (the token itself is not stored)\n{table}"
    )?;
    stdout.flush()?;
    Ok(())
}

/// What every token made here starts with: never a `-` that a command
/// line would take for an option, and a mark secret scanners can look for.
const PREFIX: &str = "wsr_";

/// [`PREFIX`] and 32 random bytes in base64url without padding (47
/// characters, each one a browser accepts in a subprotocol name).
fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    let random = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    format!("{PREFIX}{random}")
}

/// The `[[token]]` table for `token`, checked by parsing it back as a
/// tokens file: a bad name, right or path is a usage error naming its flag.
fn table(args: &TokenArgs, token: &str) -> Result<String, Error> {
    let rights = (args.rights.iter())
        .map(|r| {
            Right::parse(r.trim()).ok_or_else(|| {
                Error::Usage(format!(
                    "--rights: unknown right {r:?} (read, list or write)"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let text = entry_toml(&args.name, token, &rights, &args.paths);
    match Tokens::from_toml(&text) {
        Ok(_) => Ok(text),
        Err(TokensError::Field { field, why, .. }) => {
            Err(Error::Usage(format!("--{field}: {why}")))
        }
        Err(e) => Err(Error::Usage(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(name: &str, rights: &[&str], paths: &[&str]) -> TokenArgs {
        TokenArgs {
            name: name.into(),
            rights: rights.iter().map(|s| s.to_string()).collect(),
            paths: paths.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_new_token_is_random_and_url_safe() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 47);
        assert!(a.starts_with("wsr_"));
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }

    #[test]
    fn the_table_is_checked_like_a_tokens_file() {
        // (name, rights, paths, the usage error's start, or None)
        type Case<'a> = (&'a str, &'a [&'a str], &'a [&'a str], Option<&'a str>);
        let cases: [Case; 5] = [
            ("ci", &["read", "write"], &["/ci/"], None),
            ("token", &["read", "list", "write"], &["/"], None),
            ("ci", &["delete"], &["/"], Some("--rights: unknown right")),
            ("c i", &["read"], &["/"], Some("--name:")),
            ("ci", &["read"], &["ci/"], Some("--paths:")),
        ];
        for (name, rights, paths, want) in cases {
            let got = table(&args(name, rights, paths), "tok");
            match (got, want) {
                (Ok(text), None) => {
                    let tokens = Tokens::from_toml(&text).unwrap();
                    let grant = tokens.authenticate("tok").unwrap();
                    assert_eq!(grant.name.as_deref(), Some(name));
                    assert_eq!(grant.rights().len(), rights.len());
                }
                (Err(e), Some(want)) => assert!(e.to_string().contains(want), "{e}"),
                (got, want) => panic!("{name}: {got:?}, wanted {want:?}"),
            }
        }
    }
}
