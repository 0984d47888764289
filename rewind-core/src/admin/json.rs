//! The little JSON the tools speak: writing strings and flat objects, and
//! reading one flat object per line (the export format and nothing more).
//!
//! The reader accepts any JSON text whose top level is an object of
//! strings, non-negative integers, booleans and nulls (any white space, any
//! key order, every string escape); it refuses nested values, fractions,
//! exponents, negative numbers and repeated keys.

use std::fmt::Write as _;

/// A value of a flat object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A string.
    Str(String),
    /// A non-negative integer that fits 64 bits.
    Int(u64),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
}

/// Appends `s` to `out` as a JSON string (quoted and escaped).
pub fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The members of the flat object in `line`, in order, or why it is not
/// one.
pub fn parse_object(line: &str) -> Result<Vec<(String, Value)>, String> {
    let mut p = Parser {
        s: line.as_bytes(),
        i: 0,
    };
    p.ws();
    p.expect(b'{')?;
    let mut members: Vec<(String, Value)> = Vec::new();
    p.ws();
    if p.peek() == Some(b'}') {
        p.i += 1;
    } else {
        loop {
            p.ws();
            let key = p.string()?;
            if members.iter().any(|(k, _)| *k == key) {
                return Err(format!("the key {key:?} appears twice"));
            }
            p.ws();
            p.expect(b':')?;
            p.ws();
            let value = p.value()?;
            members.push((key, value));
            p.ws();
            match p.next() {
                Some(b',') => continue,
                Some(b'}') => break,
                Some(_) => return Err(p.unexpected_at(p.i - 1, "',' or '}'")),
                None => return Err(p.unexpected_at(p.i, "',' or '}'")),
            }
        }
    }
    p.ws();
    if p.i != p.s.len() {
        return Err(p.unexpected_at(p.i, "the end of the line"));
    }
    Ok(members)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek();
        self.i += usize::from(c.is_some());
        c
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.i += 1;
        }
    }

    /// Why the character at `at` (0-based) is not what was `wanted`.
    fn unexpected_at(&self, at: usize, wanted: &str) -> String {
        if at >= self.s.len() {
            format!("expected {wanted}, found the end of the line")
        } else {
            format!("expected {wanted} at column {}", at + 1)
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.unexpected_at(self.i, &format!("'{}'", c as char)))
        }
    }

    fn value(&mut self) -> Result<Value, String> {
        match self.peek() {
            Some(b'"') => Ok(Value::Str(self.string()?)),
            Some(b'0'..=b'9') => self.integer(),
            Some(b't') => self.word("true", Value::Bool(true)),
            Some(b'f') => self.word("false", Value::Bool(false)),
            Some(b'n') => self.word("null", Value::Null),
            Some(b'-') => Err(format!("a negative number at column {}", self.i + 1)),
            Some(b'{' | b'[') => Err(format!("a nested value at column {}", self.i + 1)),
            _ => Err(self.unexpected_at(self.i, "a value")),
        }
    }

    fn word(&mut self, w: &str, v: Value) -> Result<Value, String> {
        if self.s[self.i..].starts_with(w.as_bytes()) {
            self.i += w.len();
            Ok(v)
        } else {
            Err(self.unexpected_at(self.i, "a value"))
        }
    }

    fn integer(&mut self) -> Result<Value, String> {
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        let digits = std::str::from_utf8(&self.s[start..self.i]).expect("ASCII digits");
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return Err(format!(
                "a number that is not an integer at column {}",
                start + 1
            ));
        }
        if digits.len() > 1 && digits.starts_with('0') {
            return Err(format!(
                "a number with a leading zero at column {}",
                start + 1
            ));
        }
        digits
            .parse()
            .map(Value::Int)
            .map_err(|_| format!("a number too large at column {}", start + 1))
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let h = self
            .s
            .get(self.i..self.i + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| format!("a bad \\u escape at column {}", self.i))?;
        self.i += 4;
        Ok(u32::from_str_radix(h, 16).expect("hex digits"))
    }

    fn string(&mut self) -> Result<String, String> {
        if self.peek() != Some(b'"') {
            return Err(self.unexpected_at(self.i, "a string"));
        }
        self.i += 1;
        let mut out = String::new();
        loop {
            let start = self.i;
            while !matches!(self.peek(), Some(b'"' | b'\\') | None) {
                if self.s[self.i] < 0x20 {
                    return Err(format!(
                        "a control character in a string at column {}",
                        self.i + 1
                    ));
                }
                self.i += 1;
            }
            out.push_str(std::str::from_utf8(&self.s[start..self.i]).expect("the line is a str"));
            match self.next() {
                Some(b'"') => return Ok(out),
                Some(b'\\') => {
                    let c = match self.next() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if !self.s[self.i..].starts_with(b"\\u") {
                                    return Err("a lone surrogate in a \\u escape".into());
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err("a lone surrogate in a \\u escape".into());
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            char::from_u32(code)
                                .ok_or_else(|| "a lone surrogate in a \\u escape".to_string())?
                        }
                        _ => return Err(format!("a bad escape at column {}", self.i)),
                    };
                    out.push(c);
                }
                _ => return Err("a string that does not end".into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(line: &str) -> Vec<(String, Value)> {
        parse_object(line).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    #[test]
    fn flat_objects_parse_in_any_layout() {
        assert_eq!(obj("{}"), vec![]);
        assert_eq!(obj(" { } "), vec![]);
        assert_eq!(
            obj(r#"{"a":1,"b":"x","c":true,"d":false,"e":null}"#),
            vec![
                ("a".into(), Value::Int(1)),
                ("b".into(), Value::Str("x".into())),
                ("c".into(), Value::Bool(true)),
                ("d".into(), Value::Bool(false)),
                ("e".into(), Value::Null),
            ]
        );
        assert_eq!(
            obj("\t{ \"n\" :\r 18446744073709551615 ,\"z\": 0 }\n"),
            vec![
                ("n".into(), Value::Int(u64::MAX)),
                ("z".into(), Value::Int(0))
            ]
        );
    }

    #[test]
    fn string_escapes_decode() {
        assert_eq!(
            obj(r#"{"s":"q\" b\\ s\/ \b\f\n\r\t \u00e9 \ud83d\ude00 é"}"#)[0].1,
            Value::Str("q\" b\\ s/ \u{8}\u{c}\n\r\t é 😀 é".into())
        );
    }

    #[test]
    fn written_strings_read_back() {
        let tricky = "a\"b\\c\n\r\t\u{1}\u{1f} é 😀 \u{7f}";
        let mut line = String::from("{");
        push_str(&mut line, "k");
        line.push(':');
        push_str(&mut line, tricky);
        line.push('}');
        assert_eq!(obj(&line), vec![("k".into(), Value::Str(tricky.into()))]);
        assert!(!line.contains('\n'));
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "[]",
            "{",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{\"a\":1 \"b\":2}",
            "{\"a\":-1}",
            "{\"a\":1.5}",
            "{\"a\":1e3}",
            "{\"a\":01}",
            "{\"a\":18446744073709551616}",
            "{\"a\":{}}",
            "{\"a\":[1]}",
            "{\"a\":tru}",
            "{\"a\":\"x}",
            "{\"a\":\"\\x\"}",
            "{\"a\":\"\\ud800\"}",
            "{\"a\":\"\\udc00\"}",
            "{\"a\":\"tab\there\"}",
            "{\"a\":1,\"a\":2}",
            "{\"a\":1} x",
            "{a:1}",
        ] {
            assert!(parse_object(bad).is_err(), "{bad:?} parsed");
        }
    }
}
