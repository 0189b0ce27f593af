//! The process's entry: parse the arguments, run, print the error and pick
//! the exit code. With `--json`, every failure has its JSON line on stdout,
//! usage errors and failures before any transfer included.

use std::ffi::OsString;

use clap::Parser;

use super::output::Output;
use crate::cli::{Cli, Command};
use crate::report::error_json;

/// Run the command line `args` (program name first); the exit status.
pub fn main(args: Vec<OsString>) -> u8 {
    crate::color::apply();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => return usage_error(&args, &e),
    };
    let out = Output::new(json_requested(&cli));
    let op = op_name(&cli.command);
    match super::run_with(cli, &out) {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("wsresume: {err:#}");
            // An interrupted file has no line of its own yet, even when
            // earlier files of the run have theirs.
            let interrupted =
                crate::error::exit_code_of(&err) == crate::error::ExitCode::Interrupted;
            if out.json() && (!out.printed() || interrupted) {
                out.json_line(None, &error_json(op, &err));
            }
            crate::error::exit_code_of(&err).code() as u8
        }
    }
}

/// Print clap's message (help and version are not errors); with `--json`
/// also a JSON line.
fn usage_error(args: &[OsString], e: &clap::Error) -> u8 {
    let _ = e.print();
    if !e.use_stderr() {
        return 0;
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
        Output::new(true).json_line(None, &error_json(op, &err));
    }
    crate::error::ExitCode::Usage.code() as u8
}

/// `--json` among the arguments (before a `--`).
fn wants_json(args: &[OsString]) -> bool {
    args.iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| a == "--json")
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

/// The `op` of the command's JSON lines.
fn op_name(command: &Command) -> Option<&'static str> {
    Some(match command {
        Command::Send(_) => "send",
        Command::Get(_) => "get",
        Command::Serve(_) => "serve",
        Command::Config(_) => "config",
        Command::Ls(_) => "ls",
        Command::Completions { .. } => "completions",
        Command::Man { .. } => "man",
    })
}
