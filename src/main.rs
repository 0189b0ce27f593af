//! The `wsresume` binary: everything happens in [`wsresume::commands::main`].

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(wsresume::commands::main(std::env::args_os().collect()))
}
