//! The process's entry: parse the arguments, run, print the error and pick
//! the exit code. With `--json`, every failure has its JSON line on stdout,
//! usage errors and failures before any transfer included; on stderr when
//! stdout carries a file (`get URL -`).

use std::ffi::OsString;

use clap::Parser;

use super::output::Output;
use crate::cli::{Cli, Command};
use crate::error::{ExitCode, exit_code_of};
use crate::report::error_json;

/// Run the command line `args` (program name first); the exit status.
pub fn main(args: Vec<OsString>) -> u8 {
    crate::color::apply();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => return usage_error(&args, e),
    };
    let out = Output::new(json_requested(&cli), stdout_is_data(&cli));
    let op = op_name(&cli.command);
    match super::run_with(cli, &out) {
        Ok(()) => ExitCode::Success.status(),
        Err(err) => {
            eprintln!("wsresume: {err:#}");
            let code = exit_code_of(&err);
            // An interrupted file has no line of its own yet, even when
            // earlier files of the run have theirs.
            if out.json() && (!out.printed() || code == ExitCode::Interrupted) {
                out.json_line(None, &error_json(op, &err));
            }
            code.status()
        }
    }
}

/// Print clap's message (help and version are not errors); with `--json`
/// also a JSON line.
fn usage_error(args: &[OsString], e: clap::Error) -> u8 {
    let _ = e.print();
    let code = ExitCode::of_clap(&e);
    if code == ExitCode::Success {
        return code.status();
    }
    if wants_json(args) {
        let message = e.render().to_string();
        let first = message.lines().next().unwrap_or("usage error");
        let first = first.trim_start_matches("error: ").to_string();
        let err = anyhow::Error::new(crate::error::Error::Usage(first));
        let op = args
            .get(1)
            .and_then(|a| a.to_str())
            .filter(|a| is_command(a));
        Output::new(true, wants_stdout_dest(args)).json_line(None, &error_json(op, &err));
    }
    code.status()
}

/// `--json` among the arguments (before a `--`).
fn wants_json(args: &[OsString]) -> bool {
    args.iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| a == "--json")
}

/// Whether the arguments are a `get` with DEST `-` (standard output
/// carries the file), for a command line clap refused.
fn wants_stdout_dest(args: &[OsString]) -> bool {
    let mut rest = args
        .iter()
        .skip(1)
        .skip_while(|a| !a.to_str().is_some_and(is_command));
    rest.next().is_some_and(|command| command == "get") && rest.any(|a| a == "-")
}

fn is_command(name: &str) -> bool {
    use clap::CommandFactory;
    Cli::command().find_subcommand(name).is_some()
}

/// Whether the parsed command asked for JSON.
fn json_requested(cli: &Cli) -> bool {
    match &cli.command {
        Command::Send(args) => args.client.json,
        Command::Get(args) => args.client.json,
        Command::Config(args) => args.client.json,
        Command::Ls(args) => args.client.json,
        _ => false,
    }
}

/// Whether standard output carries a file's bytes (`get URL -`).
fn stdout_is_data(cli: &Cli) -> bool {
    matches!(&cli.command, Command::Get(args) if args.dest.as_deref().is_some_and(|d| d.as_os_str() == "-"))
}

/// The `op` of the command's JSON lines.
fn op_name(command: &Command) -> Option<&'static str> {
    Some(match command {
        Command::Send(_) => "send",
        Command::Get(_) => "get",
        Command::Serve(_) => "serve",
        Command::Config(_) => "config",
        Command::Ls(_) => "ls",
        Command::Completions { .. } => "completions",
        Command::Token(_) => "token",
        Command::Man { .. } => "man",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_get_to_standard_output_is_recognised_in_a_refused_command_line() {
        let cases: [(&[&str], bool); 6] = [
            (&["get", "ws://h/f", "-", "--json", "--bogus"], true),
            (&["-v", "get", "--bogus", "ws://h/f", "-"], true),
            (&["get", "ws://h/f", "out", "--json"], false),
            (&["send", "-", "ws://h/f", "--json"], false),
            (&["ls", "-", "--json"], false),
            (&["--bogus", "-"], false),
        ];
        for (args, expected) in cases {
            let args: Vec<OsString> = std::iter::once("wsresume")
                .chain(args.iter().copied())
                .map(OsString::from)
                .collect();
            assert_eq!(wants_stdout_dest(&args), expected, "{args:?}");
        }
    }
}
