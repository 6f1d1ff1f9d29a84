//! Text from untrusted places (archive entry names, server replies, locks, manifests) made safe to
//! print on a terminal.
//!
//! A name carrying `\e[2J` would clear the user's screen, a `\r` could overwrite the line that
//! says what went wrong, a bidi override could make `evil.sh` read as `hs.live`, and a name of
//! 256 MiB would flood stderr. [`untrusted`] shows control and bidi characters as escapes and
//! cuts long text short; every place velo prints such text goes through it. [`Printer`]
//! additionally passes every line it prints through [`terminal`], so a name that reaches a message
//! some other way still cannot drive the terminal.
//!
//! [`Printer`]: crate::cli::Printer

use std::borrow::Cow;
use std::fmt;
use std::path::Path;

/// Characters of untrusted text shown before it is cut short.
pub const MAX_SHOWN_CHARS: usize = 256;

/// `text` for display: see the module docs.
pub fn untrusted(text: &str) -> Untrusted<'_> {
    Untrusted {
        text: Cow::Borrowed(text),
        message: false,
    }
}

/// A path that may hold untrusted components, for display (lossy for non-UTF-8 bytes).
pub fn untrusted_path(path: &Path) -> Untrusted<'_> {
    Untrusted {
        text: path.to_string_lossy(),
        message: false,
    }
}

/// A whole message for the terminal: like [`untrusted`], but its line breaks and tabs are kept and
/// it is not cut short (the names inside it are, where they were shown with [`untrusted`]).
pub fn terminal(text: &str) -> Untrusted<'_> {
    Untrusted {
        text: Cow::Borrowed(text),
        message: true,
    }
}

/// Untrusted text that displays escaped and bounded.
#[derive(Debug, Clone)]
pub struct Untrusted<'a> {
    text: Cow<'a, str>,
    /// A message of velo's own: multi-line, any length.
    message: bool,
}

impl fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text: &str = &self.text;
        for (shown, c) in text.chars().enumerate() {
            if shown == MAX_SHOWN_CHARS && !self.message {
                return write!(f, "…[{} bytes in all]", text.len());
            }
            match c {
                '\n' | '\t' if self.message => fmt::Write::write_char(f, c)?,
                '\x1b' => f.write_str("\\e")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if needs_escape(c) => write!(f, "\\u{{{:x}}}", u32::from(c))?,
                c => fmt::Write::write_char(f, c)?,
            }
        }
        Ok(())
    }
}

/// Control characters (C0, DEL, C1) and the invisible characters that reorder or hide text.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_controls_and_bidi_overrides() {
        let shown = untrusted("a\x1b[2J\r\n\tb\u{7f}\u{9b}c\u{202e}d\u{2066}").to_string();
        assert_eq!(shown, "a\\e[2J\\r\\n\\tb\\u{7f}\\u{9b}c\\u{202e}d\\u{2066}");
    }

    #[test]
    fn a_message_keeps_its_lines_but_not_escapes() {
        let long = format!("one\ntwo\tthree \x1b[2J\r{}", "x".repeat(1000));
        let shown = terminal(&long).to_string();
        assert_eq!(shown, format!("one\ntwo\tthree \\e[2J\\r{}", "x".repeat(1000)));
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        assert_eq!(
            untrusted("pkg/bin/jq-1.7 ü 漢字").to_string(),
            "pkg/bin/jq-1.7 ü 漢字"
        );
    }

    #[test]
    fn cuts_long_text_short() {
        let long = "n".repeat(10_000);
        let shown = untrusted(&long).to_string();
        assert_eq!(
            shown,
            format!("{}…[10000 bytes in all]", "n".repeat(MAX_SHOWN_CHARS))
        );
        let exact = "n".repeat(MAX_SHOWN_CHARS);
        assert_eq!(untrusted(&exact).to_string(), exact);
    }
}
