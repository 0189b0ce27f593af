//! Error kinds of the library and the one mapping from errors to exit codes.
//!
//! Every failure that reaches the user is an [`Error`] somewhere in an
//! `anyhow` chain; [`exit_code_of`] finds it and picks the contract's code.

use std::io;

/// The process exit codes of the user contract (wget's table, plus 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Success.
    Success = 0,
    /// Any other error.
    Other = 1,
    /// Usage error.
    Usage = 2,
    /// Local file I/O error.
    LocalIo = 3,
    /// Network failure: retries exhausted, or the server's name does not
    /// resolve.
    Network = 4,
    /// TLS failure: the certificate did not verify, or only one side speaks
    /// TLS.
    Tls = 5,
    /// Authentication failure.
    Auth = 6,
    /// The peer spoke something invalid or an unsupported version.
    Protocol = 7,
    /// The server refused the request.
    Refused = 8,
    /// Integrity failure that retries could not repair.
    Integrity = 9,
    /// Interrupted by SIGINT; state kept.
    Interrupted = 130,
}

impl ExitCode {
    /// The numeric code handed to the operating system.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The process's exit status.
    pub fn status(self) -> u8 {
        self as u8
    }

    /// The code for clap's verdict on a command line: help and version
    /// printed on request are a success, anything else a usage error.
    pub fn of_clap(err: &clap::Error) -> ExitCode {
        match err.kind() {
            clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                ExitCode::Success
            }
            _ => ExitCode::Usage,
        }
    }
}

/// What went wrong, classified by what the user can do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line or a setting is wrong.
    #[error("{0}")]
    Usage(String),
    /// Reading or writing a local file failed.
    #[error("{context}")]
    LocalIo {
        /// What was being done, naming the file.
        context: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The connection failed or dropped; worth another attempt.
    #[error("{0}")]
    Network(String),
    /// The server's host name does not resolve. Final before the first
    /// connection of a run succeeded (a typo), retried after it.
    #[error("{0}")]
    UnknownHost(String),
    /// Nothing listens on the server's port. Retried only briefly before the
    /// first connection of a run succeeded (unless `--retry-connrefused`),
    /// patiently after it.
    #[error("{0}")]
    ConnectionRefused(String),
    /// A TLS certificate did not verify, or one side does not speak TLS.
    #[error("TLS: {0}")]
    Tls(String),
    /// The server rejected the token (or its absence).
    #[error("authentication failed: {0}")]
    Auth(String),
    /// The peer broke the protocol or speaks another version.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The server refused the request.
    #[error("{0}")]
    Refused(String),
    /// The server has nothing at that path (a refusal, told apart so that
    /// a tree upload can treat it as an empty directory).
    #[error("{0}")]
    NotFound(String),
    /// The path names a directory where a file was expected (the server's
    /// `is_directory`, or a directory URL given to `get`): use `-r`.
    #[error("{0}")]
    IsDirectory(String),
    /// Another run holds the lock of this download target.
    #[error("{0}")]
    Locked(String),
    /// A chunk or the whole file failed its SHA-256 check.
    #[error("integrity check failed: {0}")]
    Integrity(String),
    /// An integrity failure that no retry can repair (the source changed
    /// after part of it was already handed on, to standard output).
    #[error("integrity check failed: {0}")]
    Unrepairable(String),
    /// SIGINT or SIGTERM arrived; the state is kept.
    #[error("interrupted; verified progress is kept, run the same command to resume")]
    Interrupted,
    /// Transient failures went on longer than `--retries` allows.
    #[error("giving up after {attempts} attempts: {last}")]
    RetriesExhausted {
        /// Attempts made in this run.
        attempts: u32,
        /// The last failure.
        last: Box<Error>,
    },
    /// Several files of one run failed (each was reported already); the
    /// run exits with the first failure's code.
    #[error("{failed} of {count} files failed")]
    Several {
        /// Files that failed.
        failed: usize,
        /// Files in the run.
        count: usize,
        /// The first failure's exit code.
        first: ExitCode,
    },
}

impl Error {
    /// Shorthand for a local I/O error with context.
    pub fn local_io(context: impl Into<String>, source: io::Error) -> Self {
        Error::LocalIo {
            context: context.into(),
            source,
        }
    }

    /// Whether another attempt may fix it (network trouble, a bad chunk).
    /// The retry runner treats an unknown host and a refused connection
    /// specially until a first connection succeeded.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Network(_)
                | Error::UnknownHost(_)
                | Error::ConnectionRefused(_)
                | Error::Integrity(_)
        )
    }

    /// The contract's exit code for this error.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Usage(_) | Error::IsDirectory(_) => ExitCode::Usage,
            Error::Locked(_) => ExitCode::Other,
            Error::LocalIo { .. } => ExitCode::LocalIo,
            Error::Network(_) | Error::UnknownHost(_) | Error::ConnectionRefused(_) => {
                ExitCode::Network
            }
            Error::Tls(_) => ExitCode::Tls,
            Error::Auth(_) => ExitCode::Auth,
            Error::Protocol(_) => ExitCode::Protocol,
            Error::Refused(_) | Error::NotFound(_) => ExitCode::Refused,
            Error::Integrity(_) | Error::Unrepairable(_) => ExitCode::Integrity,
            Error::Interrupted => ExitCode::Interrupted,
            Error::RetriesExhausted { last, .. } => match last.exit_code() {
                ExitCode::Integrity => ExitCode::Integrity,
                _ => ExitCode::Network,
            },
            Error::Several { first, .. } => *first,
        }
    }
}

/// The exit code for an error chain: the first [`Error`] in it, else 1.
pub fn exit_code_of(err: &anyhow::Error) -> ExitCode {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<Error>() {
            return e.exit_code();
        }
    }
    ExitCode::Other
}

/// Result with the library's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_contract() {
        let cases: Vec<(Error, i32)> = vec![
            (Error::Usage("x".into()), 2),
            (Error::local_io("x", io::Error::other("y")), 3),
            (Error::Network("x".into()), 4),
            (Error::UnknownHost("x".into()), 4),
            (Error::ConnectionRefused("x".into()), 4),
            (Error::Tls("x".into()), 5),
            (Error::Auth("x".into()), 6),
            (Error::Protocol("x".into()), 7),
            (Error::Refused("x".into()), 8),
            (Error::NotFound("x".into()), 8),
            (Error::IsDirectory("x".into()), 2),
            (Error::Locked("x".into()), 1),
            (Error::Unrepairable("x".into()), 9),
            (Error::Integrity("x".into()), 9),
            (Error::Interrupted, 130),
            (
                Error::RetriesExhausted {
                    attempts: 3,
                    last: Box::new(Error::Network("x".into())),
                },
                4,
            ),
            (
                Error::RetriesExhausted {
                    attempts: 3,
                    last: Box::new(Error::Integrity("x".into())),
                },
                9,
            ),
        ];
        for (err, code) in cases {
            assert_eq!(err.exit_code().code(), code, "{err}");
        }
    }

    #[test]
    fn clap_help_and_version_succeed_other_refusals_are_usage_errors() {
        use clap::error::ErrorKind;
        let cases = [
            (ErrorKind::DisplayHelp, 0),
            (ErrorKind::DisplayVersion, 0),
            (ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand, 2),
            (ErrorKind::UnknownArgument, 2),
            (ErrorKind::InvalidValue, 2),
            (ErrorKind::MissingRequiredArgument, 2),
        ];
        for (kind, code) in cases {
            let err = clap::Error::new(kind);
            assert_eq!(ExitCode::of_clap(&err).status(), code, "{kind:?}");
        }
    }

    #[test]
    fn exit_code_found_through_context() {
        let err = anyhow::Error::new(Error::Refused("nope".into())).context("sending a.txt");
        assert_eq!(exit_code_of(&err), ExitCode::Refused);
        assert_eq!(exit_code_of(&anyhow::anyhow!("plain")), ExitCode::Other);
    }
}
