//! What a user sees in a real terminal (a detached tmux session): progress
//! bars per file and overall, a reconnect shown inside the bar rather than
//! as lines, bars that fit an 80-column terminal with the retry reason
//! visible, and no colour with `NO_COLOR`. Skipped when tmux is missing.
//!
//! `WSRESUME_CAPTURE=docs/terminal-capture.txt cargo test --test terminal`
//! also writes the mid-transfer screen to that file.
#![allow(clippy::unwrap_used)]

use wsresume_testkit as support;

use std::time::Duration;

use support::tmux::{Tmux, wsresume_shell};
use support::{Rig, random_file, s, sha256_file};

const SIZE: u64 = 3 * 1024 * 1024;
const WAIT: Duration = Duration::from_secs(60);

fn exit_code(screen: &str) -> Option<String> {
    screen
        .lines()
        .find_map(|l| l.strip_prefix("EXIT="))
        .map(|c| c.trim().to_string())
}

#[test]
fn bars_show_files_total_and_reconnects() {
    if !Tmux::available() {
        eprintln!("tmux not installed: skipped");
        return;
    }
    let rig = Rig::new(&[]);
    let names = ["alpha.bin", "beta.bin", "gamma.bin"];
    let files: Vec<_> = names
        .iter()
        .map(|n| random_file(rig.local.path(), n, SIZE))
        .collect();
    rig.proxy.throttle(4 * 1024 * 1024);
    rig.proxy.cut_after(SIZE / 2, 1);
    let url = rig.proxy.url("up/");
    let mut args: Vec<&str> = vec!["send"];
    args.extend(files.iter().map(|f| s(f)));
    args.extend([
        url.as_str(),
        "--chunk-size",
        "64K",
        "--retry-max-delay",
        "1",
    ]);
    let shell = wsresume_shell(&[], &args);
    let tmux = Tmux::start(&shell);
    let (screen, seen) = tmux.wait_for(WAIT, |screen| {
        screen.contains("reconnect") && screen.contains("total: ")
    });
    assert!(seen, "no bar with a reconnect:\n{screen}");
    if let Ok(path) = std::env::var("WSRESUME_CAPTURE") {
        let header = "# tmux capture-pane (120x30) of `wsresume send alpha.bin beta.bin \
                      gamma.bin ws://127.0.0.1:PORT/up/` through a proxy that throttles \
                      to 4 MiB/s and cuts the first connection after 1.5 MiB.\n\
                      # Made by: WSRESUME_CAPTURE=docs/terminal-capture.txt \
                      cargo test --test terminal bars_show_files_total_and_reconnects\n\n";
        std::fs::write(path, format!("{header}{}\n", screen.trim_end())).unwrap();
    }
    let bar_line = screen.lines().find(|l| l.contains("reconnect")).unwrap();
    assert!(bar_line.contains("alpha.bin"), "{bar_line}");
    assert!(
        bar_line.contains("MiB/s") || bar_line.contains("KiB/s"),
        "{bar_line}"
    );
    assert!(bar_line.contains('['), "no bar drawn: {bar_line}");
    let total_line = screen.lines().find(|l| l.contains("total: ")).unwrap();
    assert!(total_line.contains("of 3 files"), "{total_line}");
    let (end, done) = tmux.wait_for(WAIT, |screen| exit_code(screen).is_some());
    assert!(done, "did not finish:\n{end}");
    assert_eq!(exit_code(&end).as_deref(), Some("0"), "screen:\n{end}");
    assert!(
        !end.contains("retry in"),
        "reconnect printed as a line, not in the bar:\n{end}"
    );
    assert_eq!(
        end.matches("sha256 ").count(),
        3,
        "one summary per file:\n{end}"
    );
    for (name, file) in names.iter().zip(&files) {
        let stored = rig.root.path().join("up").join(name);
        assert_eq!(sha256_file(&stored), sha256_file(file));
    }
}

/// At 80 columns no bar line wraps, a long name is shortened with an
/// ellipsis, and while the client waits to reconnect to a port nothing
/// listens on any more its bar says why (`retry in 2s: connection refused`)
/// next to the name, percentage and bytes.
#[test]
fn bars_fit_80_columns_and_show_why_they_wait() {
    if !Tmux::available() {
        eprintln!("tmux not installed: skipped");
        return;
    }
    let Rig {
        root,
        local,
        server: _server,
        proxy,
    } = Rig::new(&[]);
    let name = "a-rather-long-release-name-2026-05-01.tar.gz";
    let src = random_file(root.path(), name, SIZE);
    let dest = local.path().join("copy.tar.gz");
    proxy.throttle(1024 * 1024);
    let url = proxy.url(name);
    let args = [
        "get",
        url.as_str(),
        s(&dest),
        "--chunk-size",
        "64K",
        "--retry-max-delay",
        "5",
        "--retries",
        "30",
    ];
    let tmux = Tmux::start_sized(&wsresume_shell(&[], &args), 80, 24);
    let (screen, moving) = tmux.wait_for(WAIT, |screen| {
        screen
            .lines()
            .any(|l| l.starts_with("a-rather") && l.contains("[="))
    });
    assert!(moving, "no bar:\n{screen}");
    check_no_wrap(&tmux.capture_joined());
    // The proxy goes away: the connection is cut and its port refuses.
    let port = proxy.addr().port();
    drop(proxy);
    let (screen, waiting) = tmux.wait_for(WAIT, |screen| {
        screen
            .lines()
            .any(|l| l.contains("retry in") && l.contains("refused"))
    });
    assert!(waiting, "no retry reason in the bar:\n{screen}");
    let line = screen.lines().find(|l| l.contains("retry in")).unwrap();
    assert!(line.starts_with("a-rather") && line.contains('…'), "{line}");
    assert!(line.contains('%') && line.contains("MiB"), "{line}");
    check_no_wrap(&tmux.capture_joined());
    // A server comes up on that port and the download finishes.
    let listen = format!("127.0.0.1:{port}");
    let _back = support::Proc::wsresume(&["serve", s(root.path()), "--listen", &listen]);
    let (end, done) = tmux.wait_for(WAIT, |screen| exit_code(screen).is_some());
    assert!(done && exit_code(&end).as_deref() == Some("0"), "{end}");
    assert_eq!(sha256_file(&dest), sha256_file(&src));
}

/// Every line of a joined capture fits 80 columns (a longer one wrapped).
fn check_no_wrap(joined: &str) {
    for line in joined.lines() {
        assert!(
            line.chars().count() <= 80,
            "a line wraps at 80 columns ({} chars): {line:?}\n{joined}",
            line.chars().count()
        );
    }
}

/// Bars are coloured on a terminal, and not at all with `NO_COLOR`.
#[test]
fn no_color_turns_colours_off() {
    if !Tmux::available() {
        eprintln!("tmux not installed: skipped");
        return;
    }
    let rig = Rig::new(&[]);
    random_file(rig.root.path(), "c.bin", SIZE);
    rig.proxy.throttle(SIZE);
    let url = rig.proxy.url("c.bin");
    for (no_color, coloured) in [("", true), ("1", false)] {
        let dest = rig.local.path().join(format!("c{no_color}.bin"));
        let args = ["get", url.as_str(), s(&dest), "--chunk-size", "64K"];
        let tmux = Tmux::start(&wsresume_shell(&[("NO_COLOR", no_color)], &args));
        let (screen, seen) = tmux.wait_for(WAIT, |screen| {
            screen
                .lines()
                .any(|l| l.starts_with("c.bin") && l.contains("[="))
        });
        assert!(seen, "no bar:\n{screen}");
        let raw = tmux.capture(true);
        let has_colour = ["\x1b[36m", "\x1b[34m", "\x1b[32m"]
            .iter()
            .any(|c| raw.contains(c));
        assert_eq!(has_colour, coloured, "NO_COLOR={no_color:?}: {raw:?}");
        let (end, done) = tmux.wait_for(WAIT, |screen| exit_code(screen).is_some());
        assert!(done && exit_code(&end).as_deref() == Some("0"), "{end}");
    }
}

/// A tree at 80 columns: one overall line (files done of total, bytes,
/// percentage) above the bar of the large file in flight; the small files
/// get no bars of their own and no line wraps.
#[test]
fn a_tree_shows_one_overall_bar_above_the_files_in_flight() {
    if !Tmux::available() {
        eprintln!("tmux not installed: skipped");
        return;
    }
    let rig = Rig::new(&[]);
    let small = 150;
    for i in 0..small {
        random_file(rig.root.path(), &format!("t/s/f{i}.bin"), 4096);
    }
    random_file(rig.root.path(), "t/large.bin", SIZE);
    rig.proxy.throttle(1024 * 1024);
    let url = rig.proxy.url("t/");
    let dest = rig.local.path().join("copy");
    std::fs::create_dir(&dest).unwrap();
    let args = ["get", "-r", url.as_str(), s(&dest), "--chunk-size", "64K"];
    let tmux = Tmux::start_sized(&wsresume_shell(&[], &args), 80, 24);
    let count = format!("/{}", small + 1);
    let (screen, seen) = tmux.wait_for(WAIT, |screen| {
        let lines: Vec<_> = screen.lines().collect();
        let total = lines
            .iter()
            .position(|l| l.starts_with("total: ") && l.contains(&count));
        let large = lines
            .iter()
            .position(|l| l.starts_with("large.bin") && l.contains("[="));
        matches!((total, large), (Some(t), Some(l)) if t < l)
    });
    assert!(
        seen,
        "no overall line above the large file's bar:\n{screen}"
    );
    let total = screen.lines().find(|l| l.starts_with("total: ")).unwrap();
    assert!(total.contains("MiB") && total.contains('%'), "{total}");
    assert!(total.contains('['), "no overall bar drawn: {total}");
    let bars = screen.lines().filter(|l| l.contains("[")).count();
    assert!(bars <= 3, "bars for small files:\n{screen}");
    // indicatif fills each bar's row with spaces to the last column, so
    // with two bars tmux joins them (`-J`); a bar's row whose text reaches
    // the last column is one that wrapped. (Each finished file's result
    // line above the bars is text, free to wrap.)
    let bar_rows = tmux.capture(false);
    let bar_rows = bar_rows.lines().filter(|row| row.contains("% ["));
    for row in bar_rows {
        let used = row.trim_end().chars().count();
        assert!(used < 80, "a row reaches column 80: {row:?}\n{screen}");
    }
    let (end, done) = tmux.wait_for(WAIT, |screen| exit_code(screen).is_some());
    assert!(done && exit_code(&end).as_deref() == Some("0"), "{end}");
    assert_eq!(
        sha256_file(&dest.join("t/large.bin")),
        sha256_file(&rig.root.path().join("t/large.bin"))
    );
}
