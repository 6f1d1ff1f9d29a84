//! Text from untrusted places (archive entry names, server replies, locks, manifests) made safe to
//! print on a terminal.
//!
//! A name carrying `\e[2J` would clear the user's screen, a `\r` could overwrite the line that
//! says what went wrong, a bidi override could make `evil.sh` read as `hs.live`, and a name of
//! 256 MiB would flood stderr. [`untrusted`] shows control and bidi characters as escapes and
//! cuts long text short; every place velo prints such text goes through it. [`Printer`]
//! additionally passes every line it prints through [`terminal`], so a name that reaches a message
//! some other way still cannot drive the terminal. A replayed task log keeps its colours but
//! nothing else that drives a terminal ([`colours_only`]).
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

/// A captured log as it may reach a terminal when someone else captured it (a cache artifact
/// from a remote): printable text, tabs, newlines, carriage returns and SGR colour and style
/// codes pass, so a build's coloured output replays as it ran; every other control (cursor
/// moves, screen clears, OSC title or clipboard writes, device strings, bells) is dropped.
pub fn colours_only(log: &[u8]) -> Vec<u8> {
    struct Keep(Vec<u8>);
    impl anstyle_parse::Perform for Keep {
        fn print(&mut self, c: char) {
            // A C1 control arrives as a UTF-8 "character" (U+009B is CSI to many terminals).
            if c.is_control() {
                return;
            }
            let mut buffer = [0; 4];
            self.0.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
        }
        fn execute(&mut self, byte: u8) {
            if matches!(byte, b'\n' | b'\t' | b'\r') {
                self.0.push(byte);
            }
        }
        fn csi_dispatch(
            &mut self,
            params: &anstyle_parse::Params,
            intermediates: &[u8],
            ignore: bool,
            action: u8,
        ) {
            if action != b'm' || !intermediates.is_empty() || ignore {
                return;
            }
            self.0.extend_from_slice(b"\x1b[");
            for (i, param) in params.iter().enumerate() {
                if i > 0 {
                    self.0.push(b';');
                }
                for (j, value) in param.iter().enumerate() {
                    if j > 0 {
                        self.0.push(b':');
                    }
                    self.0.extend_from_slice(value.to_string().as_bytes());
                }
            }
            self.0.push(b'm');
        }
    }
    let mut parser = anstyle_parse::Parser::<anstyle_parse::DefaultCharAccumulator>::new();
    let mut keep = Keep(Vec::with_capacity(log.len()));
    for byte in log {
        parser.advance(&mut keep, *byte);
    }
    keep.0
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_replayed_log_keeps_colours_and_nothing_else_that_drives_a_terminal() {
        let log = b"\x1b[1;31mred\x1b[0m\t\x1b[38:5:208mx\x1b[m\x1b[2J\x1b[H\x1b]52;c;ZXZpbA==\x07\
                    \x1b]0;title\x1b\\\x1bP+q\x1b\\ok\x07 100%\r\xc3\xa9\n";
        assert_eq!(
            String::from_utf8(colours_only(log)).unwrap(),
            "\x1b[1;31mred\x1b[0m\t\x1b[38:5:208mx\x1b[0mok 100%\r\u{e9}\n"
        );
    }

    use super::*;

    #[test]
    fn a_replayed_log_drops_c1_controls_sent_as_utf8() {
        // U+009B is CSI and U+009D is OSC to a terminal taking C1 controls in UTF-8.
        let log = "a\u{9b}2J\u{9d}0;t\u{9c}b\u{85}c".as_bytes();
        assert_eq!(String::from_utf8(colours_only(log)).unwrap(), "a2J0;tbc");
    }

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
