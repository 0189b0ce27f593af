//! Colour on standard error: only on a terminal, never with `NO_COLOR`
//! set to anything but the empty string (<https://no-color.org>). Progress
//! bars (indicatif, through `console`) and logs both follow [`enabled`];
//! clap follows `NO_COLOR` by itself.

use std::io::IsTerminal;

/// Whether stderr may be coloured.
pub fn enabled() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::stderr().is_terminal()
}

/// Turn colours off in `console` (and so in progress bars) unless allowed.
pub fn apply() {
    if !enabled() {
        console::set_colors_enabled(false);
        console::set_colors_enabled_stderr(false);
    }
}
