//! The server's tokens, read and validated once at start: `--token`,
//! `--token-file` or `WSRESUME_TOKEN` (one token with every right on `/`),
//! or `--tokens FILE` (each token with its own rights and paths,
//! [`crate::auth::Tokens::from_toml`]). The two ways do not mix.

use crate::auth::Tokens;
use crate::cli::ServeArgs;
use crate::error::{Error, Result};

/// The tokens `serve` accepts, if any. A tokens file that does not parse
/// or validate is a usage error naming the file, the token and the field.
pub fn server_tokens(args: &ServeArgs) -> Result<Option<Tokens>> {
    let Some(path) = &args.tokens else {
        return Ok(super::server_token(args)?.map(|t| Tokens::single(&t)));
    };
    if args.token_file.is_some() || args.token.as_deref().is_some_and(|t| !t.is_empty()) {
        return Err(Error::Usage(
            "--tokens cannot be combined with --token, --token-file or WSRESUME_TOKEN: \
             give every token its [[token]] table in the tokens file"
                .into(),
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::local_io(format!("reading tokens file {}", path.display()), e))?;
    let tokens = Tokens::from_toml(&text)
        .map_err(|e| Error::Usage(format!("tokens file {}: {e}", path.display())))?;
    Ok(Some(tokens))
}
