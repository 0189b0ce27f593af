//! The one place progress bars are made: on stderr, only when it is a
//! terminal and `-q` is not given; hidden otherwise.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A byte progress bar for `label`, starting at `resumed_from` of `total`.
pub fn transfer_bar(label: &str, total: u64, resumed_from: u64, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
    }
    let bar = ProgressBar::new(total);
    let template = "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}";
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_position(resumed_from);
    let message = if resumed_from > 0 {
        format!(
            "{label} (resumed at {})",
            crate::report::human_bytes(resumed_from)
        )
    } else {
        label.to_string()
    };
    bar.set_message(message);
    bar
}
