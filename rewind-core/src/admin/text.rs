//! Showing stored bytes to a person, safely: one line, nothing a terminal
//! would act on, and the exact bytes recoverable from what is shown.
//!
//! Printable UTF-8 is shown as it is. A backslash is `\\`; newline,
//! carriage return and tab are `\n`, `\r`, `\t`; other control characters
//! are `\xHH` (ASCII) or `\u{HHHH}` (the C1 controls and the line and
//! paragraph separators); bytes that are not UTF-8 are `\xHH`. In a field
//! (a stream name or an id) a space is `\x20` as well, so that fields
//! separated by spaces stay apart.

use std::fmt::Write as _;

/// How to show a byte string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Escape {
    /// Escape spaces too (for a field followed by another field).
    pub field: bool,
    /// Show at most this many bytes of it, then how many were left out.
    pub max_bytes: Option<usize>,
}

impl Escape {
    /// A field: spaces escaped, never cut.
    pub const FIELD: Escape = Escape {
        field: true,
        max_bytes: None,
    };

    /// The rest of a line: spaces kept, cut after `max_bytes` when given.
    pub fn rest(max_bytes: Option<usize>) -> Escape {
        Escape {
            field: false,
            max_bytes,
        }
    }

    /// Appends `bytes`, escaped, to `out`.
    pub fn push(self, out: &mut String, bytes: &[u8]) {
        let (shown, cut) = match self.max_bytes {
            Some(max) if bytes.len() > max => (&bytes[..max], bytes.len() - max),
            _ => (bytes, 0),
        };
        for chunk in shown.utf8_chunks() {
            for c in chunk.valid().chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    ' ' if self.field => out.push_str("\\x20"),
                    c if c.is_ascii_control() => {
                        let _ = write!(out, "\\x{:02x}", c as u32);
                    }
                    c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                        let _ = write!(out, "\\u{{{:04x}}}", c as u32);
                    }
                    c => out.push(c),
                }
            }
            // A cut in the middle of a character leaves invalid bytes too.
            for b in chunk.invalid() {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
        if cut > 0 {
            let _ = write!(out, "…(+{cut} bytes)");
        }
    }

    /// `bytes`, escaped.
    pub fn show(self, bytes: &[u8]) -> String {
        let mut s = String::new();
        self.push(&mut s, bytes);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reverses the escaping (for the tests: the bytes must be recoverable).
    fn unescape(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '\\' {
                let mut b = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
                continue;
            }
            match chars.next().unwrap() {
                '\\' => out.push(b'\\'),
                'n' => out.push(b'\n'),
                'r' => out.push(b'\r'),
                't' => out.push(b'\t'),
                'x' => {
                    let h: String = chars.by_ref().take(2).collect();
                    out.push(u8::from_str_radix(&h, 16).unwrap());
                }
                'u' => {
                    assert_eq!(chars.next(), Some('{'));
                    let h: String = chars.by_ref().take_while(|&c| c != '}').collect();
                    let c = char::from_u32(u32::from_str_radix(&h, 16).unwrap()).unwrap();
                    let mut b = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
                }
                other => panic!("unknown escape {other}"),
            }
        }
        out
    }

    #[test]
    fn printable_text_is_shown_as_it_is() {
        assert_eq!(Escape::rest(None).show(b"hello, world"), "hello, world");
        assert_eq!(Escape::rest(None).show("é 😀".as_bytes()), "é 😀");
        assert_eq!(Escape::FIELD.show(b"order-17"), "order-17");
    }

    #[test]
    fn controls_backslashes_and_bad_bytes_are_escaped() {
        assert_eq!(
            Escape::rest(None).show(b"a\\b\nc\rd\te\x1b[2J\x7f\x00 \xff\xfe"),
            "a\\\\b\\nc\\rd\\te\\x1b[2J\\x7f\\x00 \\xff\\xfe"
        );
        assert_eq!(
            Escape::rest(None).show("\u{85}\u{9b}\u{2028}".as_bytes()),
            "\\u{0085}\\u{009b}\\u{2028}"
        );
        assert_eq!(Escape::FIELD.show(b"my stream"), "my\\x20stream");
    }

    #[test]
    fn every_byte_string_is_recoverable_and_one_line() {
        let all: Vec<u8> = (0..=255).collect();
        let mut samples = vec![all.clone(), b"caf\xc3\xa9 \\x41".to_vec()];
        samples.push("line\u{2029}sep \u{85}".as_bytes().to_vec());
        for bytes in samples {
            for esc in [Escape::FIELD, Escape::rest(None)] {
                let s = esc.show(&bytes);
                assert!(!s.chars().any(|c| c.is_control()), "{s:?}");
                if esc.field {
                    assert!(!s.contains(' '));
                }
                assert_eq!(unescape(&s), bytes);
            }
        }
    }

    #[test]
    fn long_data_is_cut_and_says_how_much_is_left() {
        assert_eq!(
            Escape::rest(Some(5)).show(b"0123456789"),
            "01234…(+5 bytes)"
        );
        assert_eq!(Escape::rest(Some(10)).show(b"0123456789"), "0123456789");
        assert_eq!(Escape::rest(Some(0)).show(b"ab"), "…(+2 bytes)");
        // a cut inside a character shows its first bytes escaped
        assert_eq!(
            Escape::rest(Some(1)).show("é".as_bytes()),
            "\\xc3…(+1 bytes)"
        );
    }
}
