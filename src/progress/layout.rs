//! The line of a progress bar, fitted to the terminal's width: which parts
//! are shown (name, bytes and percentage always; then the bar, rate, ETA and
//! the message as room allows), the name shortened in the middle with an
//! ellipsis, the message cut to what is left. While a transfer waits to
//! reconnect, the reason comes before the bar and the rate and ETA are left
//! out, so `retry in 2s: connection refused` stays visible at 80 columns.

use std::fmt::Write as _;

use indicatif::{ProgressState, ProgressStyle};

use crate::report::human_bytes;

/// Columns of `  1.5 MiB/3.0 MiB  ` (each side up to `1023.9 KiB`).
const DONE: usize = 21;
/// Columns of ` 50%`.
const PERCENT: usize = 4;
/// Columns of `1023.9 KiB/s`.
const RATE: usize = 12;
/// Columns of `ETA 59s `.
const ETA: usize = 8;
/// The name's column: at least this wide when there is room, at most
/// [`NAME_MAX`].
const NAME_MIN: usize = 12;
const NAME_MAX: usize = 24;
/// The bar, between its brackets.
const BAR_MIN: usize = 10;
const BAR_MAX: usize = 24;
/// Shortest message worth showing (when not waiting to reconnect).
const MESSAGE_MIN: usize = 8;

/// What a bar shows: the widths of its parts and the texts it fills in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Columns of the name.
    name: usize,
    /// Columns of the bar between its brackets (0: no bar).
    bar: usize,
    rate: bool,
    eta: bool,
    /// Columns of the message with its leading space (0: no message).
    message_room: usize,
    /// The name, shortened to its column.
    pub prefix: String,
    /// The message, cut to what is left.
    pub message: String,
}

/// The line for a terminal `width` columns wide (the last column is left
/// free, so a line never wraps). `waiting`: the transfer waits to reconnect
/// and `message` says why.
pub fn fit(width: u16, label: &str, message: &str, waiting: bool) -> Line {
    let budget = usize::from(width).saturating_sub(1);
    let mut left = budget.saturating_sub(DONE + 1 + PERCENT + 1);
    let mut name = NAME_MIN.min(columns(label)).min(left);
    left -= name;
    let wanted = columns(message);
    let mut message_room = 0;
    let mut show_message = |left: &mut usize| {
        message_room = (wanted + 1).min(*left);
        *left -= message_room;
    };
    let (bar, rate, eta);
    if waiting {
        if wanted > 0 {
            show_message(&mut left);
        }
        bar = take(&mut left, BAR_MIN + 3);
        (rate, eta) = (false, false);
    } else {
        bar = take(&mut left, BAR_MIN + 3);
        rate = take(&mut left, RATE + 1);
        eta = take(&mut left, ETA + 1);
        if wanted > 0 && left > MESSAGE_MIN {
            show_message(&mut left);
        }
    }
    let grow = (NAME_MAX - name.min(NAME_MAX)).min(left);
    name += grow;
    left -= grow;
    let bar = if bar {
        BAR_MIN + (BAR_MAX - BAR_MIN).min(left)
    } else {
        0
    };
    Line {
        name,
        bar,
        rate,
        eta,
        message_room,
        prefix: shorten_middle(label, name),
        message: shorten_end(message, message_room.saturating_sub(1)),
    }
}

/// Take `need` columns from `left` if they are there.
fn take(left: &mut usize, need: usize) -> bool {
    let fits = *left >= need;
    if fits {
        *left -= need;
    }
    fits
}

/// The overall bar's label for `done` of `files` files in at most `room`
/// columns: `total: 3 of 10 files`, else shorter forms down to `3/10`
/// and then `3`.
pub fn files_label(done: usize, files: usize, room: usize) -> String {
    let forms = [
        format!("total: {done} of {files} files"),
        format!("total: {done}/{files} files"),
        format!("total: {done}/{files}"),
        format!("{done}/{files} files"),
        format!("{done}/{files}"),
    ];
    forms
        .into_iter()
        .find(|form| columns(form) <= room)
        .unwrap_or_else(|| shorten_middle(&done.to_string(), room))
}

impl Line {
    /// Columns of the name (the prefix).
    pub fn name_columns(&self) -> usize {
        self.name
    }

    /// The indicatif template, the bar in `colours`.
    fn template(&self, colours: &str) -> String {
        let mut template = format!("{{prefix:<{}}} {{done}} {{percent:>3}}%", self.name);
        if self.bar > 0 {
            let _ = write!(template, " [{{bar:{}.{colours}}}]", self.bar);
        }
        if self.rate {
            template.push_str(" {rate}");
        }
        if self.eta {
            template.push_str(" ETA {eta:<4}");
        }
        if self.message_room > 0 {
            template.push_str(" {msg}");
        }
        template
    }

    /// The indicatif style of the line, the bar in `colours`.
    pub fn style(&self, colours: &str) -> ProgressStyle {
        ProgressStyle::with_template(&self.template(colours))
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .with_key("done", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let total = s.len().unwrap_or(s.pos());
                let _ = write!(w, "{:>10}/{:<10}", human_bytes(s.pos()), human_bytes(total));
            })
            .with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let rate = format!("{}/s", human_bytes(s.per_sec() as u64));
                let _ = write!(w, "{rate:>RATE$}");
            })
            .progress_chars("=> ")
    }

    /// The most columns the line takes (an ETA over an hour aside).
    #[cfg(test)]
    fn max_columns(&self) -> usize {
        let optional = [
            (self.bar > 0, self.bar + 3),
            (self.rate, RATE + 1),
            (self.eta, ETA + 1),
            (self.message_room > 0, columns(&self.message) + 1),
        ];
        self.name.max(columns(&self.prefix))
            + 1
            + DONE
            + 1
            + PERCENT
            + optional
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, n)| n)
                .sum::<usize>()
    }
}

/// A reconnect delay as a bar shows it: `0.2s`, `2s`.
pub fn delay_text(delay: std::time::Duration) -> String {
    let secs = delay.as_secs_f64();
    if secs < 1.0 {
        format!("{secs:.1}s")
    } else {
        format!("{secs:.0}s")
    }
}

/// The reason of a failed attempt, short enough for a bar: no URL in
/// front, no `IO error:`, no `(os error N)`, `connection refused` rather
/// than `Connection refused`.
pub fn short_reason(reason: &str) -> String {
    let mut text = reason;
    if text.starts_with("ws://") || text.starts_with("wss://") {
        text = text.split_once(": ").map_or(text, |(_, rest)| rest);
    }
    let text = text.replace("IO error: ", "");
    let text = match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => &text[..at],
        _ => &text,
    };
    text.split(": ")
        .map(lower_first_word)
        .collect::<Vec<_>>()
        .join(": ")
}

/// `Connection refused` → `connection refused`; `TLS`, `EOF` stay.
fn lower_first_word(part: &str) -> String {
    let mut chars = part.chars();
    match (chars.next(), chars.next()) {
        (Some(first), Some(second)) if first.is_uppercase() && second.is_lowercase() => {
            first.to_lowercase().chain(part.chars().skip(1)).collect()
        }
        _ => part.to_string(),
    }
}

/// Terminal columns of `text`.
fn columns(text: &str) -> usize {
    console::measure_text_width(text)
}

fn char_columns(c: char) -> usize {
    columns(c.encode_utf8(&mut [0; 4]))
}

/// `text` in at most `room` columns: cut in the middle with `…`, keeping
/// the end (a file's extension) and more of the start.
fn shorten_middle(text: &str, room: usize) -> String {
    if columns(text) <= room {
        return text.to_string();
    }
    if room == 0 {
        return String::new();
    }
    let keep = room - 1;
    let tail_room = keep / 3;
    let mut tail = Vec::new();
    let mut used = 0;
    for c in text.chars().rev() {
        if used + char_columns(c) > tail_room {
            break;
        }
        used += char_columns(c);
        tail.push(c);
    }
    let mut head = String::new();
    for c in text.chars() {
        if used + char_columns(c) > keep {
            break;
        }
        used += char_columns(c);
        head.push(c);
    }
    head.push('…');
    head.extend(tail.iter().rev());
    head
}

/// `text` in at most `room` columns, cut at the end with `…`.
fn shorten_end(text: &str, room: usize) -> String {
    if columns(text) <= room {
        return text.to_string();
    }
    if room == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 1;
    for c in text.chars() {
        if used + char_columns(c) > room {
            break;
        }
        used += char_columns(c);
        out.push(c);
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_fit_every_width_and_keep_name_bytes_and_the_reason() {
        let long_name = "a-rather-long-release-name-2026-05-01.tar.gz";
        let reason = "retry in 2s: connection refused";
        for width in [40u16, 60, 80, 100, 120, 200] {
            for (label, message, waiting) in [
                ("c.bin", "", false),
                (long_name, "1 reconnect", false),
                (long_name, reason, true),
                ("c.bin", reason, true),
            ] {
                let line = fit(width, label, message, waiting);
                let case = format!("{width} {label} {message:?}: {line:?}");
                assert!(line.max_columns() < usize::from(width), "too wide: {case}");
                assert!(!line.prefix.is_empty(), "{case}");
                if waiting && width >= 80 {
                    assert_eq!(line.message, reason, "{case}");
                    assert!(!line.rate && !line.eta, "{case}");
                }
                if width >= 80 {
                    assert!(
                        columns(&line.prefix) >= NAME_MIN.min(columns(label)),
                        "{case}"
                    );
                }
            }
        }
    }

    #[test]
    fn wide_terminals_show_everything() {
        let line = fit(120, "alpha.bin", "1 reconnect", false);
        let template = line.template("cyan/blue");
        for part in ["[{bar:24.cyan/blue}]", "{rate}", "ETA {eta", "{msg}"] {
            assert!(template.contains(part), "{part}: {template}");
        }
        assert_eq!(line.prefix, "alpha.bin");
        assert_eq!(line.message, "1 reconnect");
    }

    #[test]
    fn names_are_shortened_in_the_middle() {
        let cases = [
            ("short.bin", 12, "short.bin"),
            ("a-rather-long-name.tar.gz", 12, "a-rather….gz"),
            (
                "a-rather-long-release-name-2026-05-01.tar.gz",
                20,
                "a-rather-long…tar.gz",
            ),
            ("a-rather-long-name.tar.gz", 1, "…"),
            ("äöü-äöü-äöü-äöü", 8, "äöü-ä…öü"),
        ];
        for (text, room, expected) in cases {
            let short = shorten_middle(text, room);
            assert_eq!(short, expected, "{text} in {room}");
            assert!(columns(&short) <= room);
        }
        assert_eq!(shorten_end("retry in 2s: refused", 10), "retry in …");
    }

    #[test]
    fn file_counts_get_shorter_to_fit() {
        let cases = [
            (3, 10, 80, "total: 3 of 10 files"),
            (1234, 10_000, 24, "total: 1234/10000 files"),
            (10_000, 10_000, 24, "total: 10000/10000 files"),
            (10_000, 10_000, 20, "total: 10000/10000"),
            (10_000, 10_000, 17, "10000/10000 files"),
            (10_000, 10_000, 12, "10000/10000"),
            (10_000, 10_000, 6, "10000"),
            (10_000, 10_000, 3, "10…"),
        ];
        for (done, files, room, expected) in cases {
            let label = files_label(done, files, room);
            assert_eq!(label, expected, "{done} of {files} in {room}");
            assert!(columns(&label) <= room);
        }
        // The overall line is fitted for its widest label, at every width.
        for width in [40u16, 60, 80, 120] {
            let widest = files_label(10_000, 10_000, usize::MAX);
            let line = fit(width, &widest, "", false);
            let label = files_label(10_000, 10_000, line.name_columns());
            assert!(columns(&label) <= line.name_columns(), "{width}: {label}");
            assert!(line.max_columns() < usize::from(width), "{width}: {line:?}");
        }
    }

    #[test]
    fn delays_read_well() {
        use std::time::Duration;
        let cases = [
            (250, "0.2s"),
            (999, "1.0s"),
            (1000, "1s"),
            (2400, "2s"),
            (29_600, "30s"),
        ];
        for (millis, text) in cases {
            assert_eq!(delay_text(Duration::from_millis(millis)), text);
        }
    }

    #[test]
    fn reasons_lose_url_os_error_and_capitals() {
        let cases = [
            (
                "ws://127.0.0.1:9/x: IO error: Connection refused (os error 111)",
                "connection refused",
            ),
            (
                "connection lost: IO error: Connection reset by peer (os error 104)",
                "connection lost: connection reset by peer",
            ),
            ("ws://h:1/a: connection timed out", "connection timed out"),
            ("the connection was cut", "the connection was cut"),
            ("TLS: EOF during handshake", "TLS: EOF during handshake"),
        ];
        for (reason, expected) in cases {
            assert_eq!(short_reason(reason), expected);
        }
    }
}
