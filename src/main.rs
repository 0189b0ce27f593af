//! The `wsresume` binary: parse, run, map the error to an exit code.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = wsresume::cli::Cli::parse();
    match wsresume::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("wsresume: {err:#}");
            std::process::ExitCode::from(wsresume::commands::exit_code(&err).code() as u8)
        }
    }
}
