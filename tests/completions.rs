//! The committed completion scripts and man pages match what the CLI
//! generates; run `scripts/gen-completions.sh` after changing a flag.

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

#[test]
fn committed_man_pages_match_the_cli() {
    let pages = [
        (None, "wsresume.1"),
        (Some("serve"), "wsresume-serve.1"),
        (Some("send"), "wsresume-send.1"),
        (Some("get"), "wsresume-get.1"),
        (Some("ls"), "wsresume-ls.1"),
        (Some("config"), "wsresume-config.1"),
        (Some("token"), "wsresume-token.1"),
        (Some("completions"), "wsresume-completions.1"),
    ];
    for (command, file) in pages {
        let output = Command::new(env!("CARGO_BIN_EXE_wsresume"))
            .arg("man")
            .args(command)
            .output()
            .unwrap();
        assert!(output.status.success(), "man {command:?} failed");
        let path = format!("{}/man/{file}", env!("CARGO_MANIFEST_DIR"));
        let committed = std::fs::read(&path).unwrap();
        assert!(
            committed == output.stdout,
            "{path} is out of date: run scripts/gen-completions.sh"
        );
    }
    let listed = std::fs::read_dir(format!("{}/man", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .count();
    assert_eq!(listed, pages.len(), "a page in man/ is not checked here");
}

#[test]
fn version_names_the_protocol() {
    let output = Command::new(env!("CARGO_BIN_EXE_wsresume"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.starts_with("wsresume "), "{text}");
    assert!(
        text.contains("(protocol wsresume.v2, wsresume.v1)"),
        "{text}"
    );
}
