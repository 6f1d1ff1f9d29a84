//! Human output: statuses, warnings and errors on stderr, coloured when stderr is a terminal and
//! `NO_COLOR` is unset.

use std::error::Error as _;

use anstyle::{AnsiColor, Style};

use crate::error::Error;
use crate::escape::terminal;

const GREEN: Style = Style::new()
    .bold()
    .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Green)));
const YELLOW: Style = Style::new()
    .bold()
    .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Yellow)));
const RED: Style = Style::new()
    .bold()
    .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Red)));
const CYAN: Style = Style::new()
    .bold()
    .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Cyan)));
const BOLD: Style = Style::new().bold();

#[derive(Debug, Clone, Copy)]
pub struct Printer {
    pub quiet: bool,
    pub verbose: bool,
}

impl Printer {
    /// A cargo-style status line: a right-aligned verb, then the message.
    pub fn status(&self, verb: &str, message: impl std::fmt::Display) {
        if !self.quiet {
            let message = message.to_string();
            anstream::eprintln!("{GREEN}{verb:>12}{GREEN:#} {}", terminal(&message));
        }
    }

    /// A plain line of detail under a status.
    pub fn detail(&self, message: impl std::fmt::Display) {
        if !self.quiet {
            anstream::eprintln!("{}", terminal(&message.to_string()));
        }
    }

    pub fn debug(&self, message: impl std::fmt::Display) {
        if self.verbose {
            anstream::eprintln!("{BOLD}debug:{BOLD:#} {}", terminal(&message.to_string()));
        }
    }

    /// An error line for a failure that is reported, not returned (a task that failed).
    pub fn failure(&self, message: impl std::fmt::Display) {
        anstream::eprintln!("{RED}error{RED:#}: {}", terminal(&message.to_string()));
    }

    pub fn warn(&self, message: impl std::fmt::Display) {
        anstream::eprintln!("{YELLOW}warning{YELLOW:#}: {}", terminal(&message.to_string()));
    }

    /// The error, each cause it wraps, and its hint.
    pub fn error(&self, err: &Error) {
        anstream::eprintln!("{RED}error{RED:#}: {}", terminal(&err.to_string()));
        let mut previous = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            if !previous.contains(&text) {
                anstream::eprintln!("  {BOLD}caused by:{BOLD:#} {}", terminal(&text));
            }
            previous = text;
            source = cause.source();
        }
        if let Some(hint) = err.hint() {
            anstream::eprintln!("{CYAN}hint{CYAN:#}: {}", terminal(&hint.to_string()));
        }
    }
}
