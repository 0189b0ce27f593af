//! The committed completion scripts match what the CLI generates; run
//! `scripts/gen-completions.sh` after changing a flag.

use std::process::Command;

#[test]
fn committed_completions_match_the_cli() {
    let cases = [
        ("bash", "wsresume.bash"),
        ("zsh", "_wsresume"),
        ("fish", "wsresume.fish"),
        ("powershell", "_wsresume.ps1"),
        ("elvish", "wsresume.elv"),
    ];
    for (shell, file) in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_wsresume"))
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(output.status.success(), "completions {shell} failed");
        let path = format!("{}/completions/{file}", env!("CARGO_MANIFEST_DIR"));
        let committed = std::fs::read(&path).unwrap();
        assert!(
            committed == output.stdout,
            "{path} is out of date: run scripts/gen-completions.sh"
        );
    }
}
