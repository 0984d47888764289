//! The export format (version 1): JSON Lines, binary-safe, checked.
//!
//! A file is UTF-8 text, one JSON object per line, each line ending with
//! `\n`:
//!
//! 1. the **header**: `{"format":"rewind-export","version":1,"events":N}`,
//!    where N is the number of event lines that follow;
//! 2. N **event** lines, in position order from position 0 with no gap:
//!    `{"position":P,"stream":S,"version":V,"id":I,"data":D}`, where S, I
//!    and D are the stream name, the id and the data in base64 (RFC 4648,
//!    standard alphabet, with padding), P the event's position in the log
//!    and V its version in its stream; an event with a type or metadata
//!    has the keys `"type":T` and `"metadata":M` after `"id"` (each only
//!    when not empty; base64 too), so a store of untyped events exports to
//!    the same bytes as before types existed, and a reader that does not
//!    know them refuses such a file instead of dropping them;
//! 3. the **trailer**: `{"end":true,"events":N,"sha256":H}`, where H is the
//!    SHA-256 of every byte of the file before the trailer (the header and
//!    the event lines, with their newlines), in lowercase hexadecimal.
//!
//! Nothing follows the trailer. [`ExportWriter`] writes exactly that
//! layout (keys in this order, no spaces), so one store always exports to
//! the same bytes. [`ExportReader`] accepts any JSON layout of the same
//! objects (white space, key order, string escapes), but no other keys, no
//! other format or version, and only the canonical base64 of each value;
//! it refuses a file whose count or checksum does not match, or that ends
//! before its trailer.

use std::io::{self, BufRead, Read, Write};

use super::base64;
use super::json::{self, Value};
use super::sha256::Sha256;
use crate::{Error, Event, EventRef, Result};

/// The name in the header.
pub const FORMAT_NAME: &str = "rewind-export";
/// The version this code writes and reads.
pub const FORMAT_VERSION: u64 = 1;
/// The longest line read (a damaged file may have no newline at all).
const MAX_LINE: u64 = 1 << 30;

/// Appends the event line of `e` to `out` (without its newline). The
/// event lines of `rewind-admin cat --format jsonl` are these too.
pub fn push_event_line(out: &mut String, e: &EventRef<'_>) {
    out.push_str("{\"position\":");
    out.push_str(&e.position.to_string());
    out.push_str(",\"stream\":\"");
    base64::encode_into(out, e.stream);
    out.push_str("\",\"version\":");
    out.push_str(&e.version.to_string());
    out.push_str(",\"id\":\"");
    base64::encode_into(out, e.id);
    if !e.event_type.is_empty() {
        out.push_str("\",\"type\":\"");
        base64::encode_into(out, e.event_type);
    }
    if !e.metadata.is_empty() {
        out.push_str("\",\"metadata\":\"");
        base64::encode_into(out, e.metadata);
    }
    out.push_str("\",\"data\":\"");
    base64::encode_into(out, e.data);
    out.push_str("\"}");
}

/// The header line of an export of `events` events (with its newline).
pub fn header_line(events: u64) -> String {
    format!("{{\"format\":\"{FORMAT_NAME}\",\"version\":{FORMAT_VERSION},\"events\":{events}}}\n")
}

/// The trailer line (with its newline).
pub fn trailer_line(events: u64, sha256_hex: &str) -> String {
    format!("{{\"end\":true,\"events\":{events},\"sha256\":\"{sha256_hex}\"}}\n")
}

/// What an export or an import went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The number of events.
    pub events: u64,
    /// The SHA-256 of the file before its trailer, in lowercase hex.
    pub sha256: String,
}

/// Writes an export: the header when created, one line per event, the
/// trailer at [`finish`](ExportWriter::finish).
pub struct ExportWriter<W: Write> {
    out: W,
    hash: Sha256,
    declared: u64,
    written: u64,
    line: String,
}

impl<W: Write> ExportWriter<W> {
    /// Starts an export of exactly `events` events to `out`.
    pub fn new(mut out: W, events: u64) -> io::Result<Self> {
        let header = header_line(events);
        out.write_all(header.as_bytes())?;
        let mut hash = Sha256::new();
        hash.update(header.as_bytes());
        Ok(ExportWriter {
            out,
            hash,
            declared: events,
            written: 0,
            line: String::new(),
        })
    }

    /// Writes the next event; its position must be the number of events
    /// written before it.
    pub fn event(&mut self, e: &EventRef<'_>) -> io::Result<()> {
        if e.position != self.written || self.written == self.declared {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "event at position {} is not event {} of {}",
                    e.position, self.written, self.declared
                ),
            ));
        }
        self.line.clear();
        push_event_line(&mut self.line, e);
        self.line.push('\n');
        self.out.write_all(self.line.as_bytes())?;
        self.hash.update(self.line.as_bytes());
        self.written += 1;
        Ok(())
    }

    /// Writes the trailer and flushes; returns the output and what was
    /// written.
    pub fn finish(mut self) -> io::Result<(W, Checked)> {
        if self.written != self.declared {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} events written, {} declared",
                    self.written, self.declared
                ),
            ));
        }
        let sha256 = self.hash.finish_hex();
        self.out
            .write_all(trailer_line(self.written, &sha256).as_bytes())?;
        self.out.flush()?;
        Ok((
            self.out,
            Checked {
                events: self.written,
                sha256,
            },
        ))
    }
}

/// Reads an export, checking everything the format promises.
pub struct ExportReader<R: BufRead> {
    input: R,
    hash: Option<Sha256>,
    line_no: u64,
    declared: u64,
    read: u64,
    buf: Vec<u8>,
    checked: Option<Checked>,
}

fn bad(line: u64, what: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(format!("line {line}: {what}"))
}

/// The message of an argument error, without its family's prefix.
fn message(e: Error) -> String {
    match e {
        Error::InvalidArgument(m) => m,
        e => e.to_string(),
    }
}

/// The members of an object, taken one by one; the rest must be none.
struct Members {
    line: u64,
    members: Vec<(String, Value)>,
}

impl Members {
    fn take(&mut self, key: &str) -> Result<Value> {
        match self.members.iter().position(|(k, _)| k == key) {
            Some(i) => Ok(self.members.remove(i).1),
            None => Err(bad(self.line, format!("the key \"{key}\" is missing"))),
        }
    }

    fn int(&mut self, key: &str) -> Result<u64> {
        match self.take(key)? {
            Value::Int(n) => Ok(n),
            _ => Err(bad(self.line, format!("\"{key}\" must be an integer"))),
        }
    }

    fn string(&mut self, key: &str) -> Result<String> {
        match self.take(key)? {
            Value::Str(s) => Ok(s),
            _ => Err(bad(self.line, format!("\"{key}\" must be a string"))),
        }
    }

    fn bytes(&mut self, key: &str) -> Result<Vec<u8>> {
        let s = self.string(key)?;
        base64::decode(&s).ok_or_else(|| bad(self.line, format!("\"{key}\" is not base64")))
    }

    /// A base64 value that may be missing (empty then).
    fn optional_bytes(&mut self, key: &str) -> Result<Vec<u8>> {
        if self.members.iter().any(|(k, _)| k == key) {
            self.bytes(key)
        } else {
            Ok(Vec::new())
        }
    }

    fn done(self) -> Result<()> {
        match self.members.first() {
            None => Ok(()),
            Some((k, _)) => Err(bad(self.line, format!("an unknown key \"{k}\""))),
        }
    }
}

impl<R: BufRead> ExportReader<R> {
    /// Reads and checks the header.
    ///
    /// Errors: [`Error::InvalidArgument`] (with the line number) when the
    /// input is not an export this version reads; [`Error::Io`] when it
    /// cannot be read.
    pub fn new(input: R) -> Result<Self> {
        let mut r = ExportReader {
            input,
            hash: Some(Sha256::new()),
            line_no: 0,
            declared: 0,
            read: 0,
            buf: Vec::new(),
            checked: None,
        };
        let mut m = match r.next_line()? {
            Some(m) => m,
            None => {
                return Err(Error::InvalidArgument(
                    "the file is empty: not a Rewind export".into(),
                ))
            }
        };
        let not_export = || {
            bad(
                1,
                "not a Rewind export (no \"format\":\"rewind-export\" header)",
            )
        };
        match m.take("format") {
            Ok(Value::Str(f)) if f == FORMAT_NAME => {}
            _ => return Err(not_export()),
        }
        let version = m.int("version")?;
        if version != FORMAT_VERSION {
            return Err(bad(
                1,
                format!("export format version {version} is not supported (this reads version {FORMAT_VERSION})"),
            ));
        }
        r.declared = m.int("events")?;
        m.done()?;
        r.hash.as_mut().expect("hashing").update(&r.buf);
        Ok(r)
    }

    /// The number of events the header announces.
    pub fn declared_events(&self) -> u64 {
        self.declared
    }

    /// The number of the line read last (from 1).
    pub fn line_number(&self) -> u64 {
        self.line_no
    }

    /// The next line as an object; `None` at the end of the input.
    fn next_line(&mut self) -> Result<Option<Members>> {
        self.buf.clear();
        let n = Read::take(&mut self.input, MAX_LINE).read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            return Ok(None);
        }
        self.line_no += 1;
        let line = self.line_no;
        if self.buf.last() != Some(&b'\n') {
            return Err(if n as u64 == MAX_LINE {
                bad(line, "a line longer than 1 GiB")
            } else {
                bad(line, "the file ends in the middle of a line (truncated)")
            });
        }
        let text = std::str::from_utf8(&self.buf[..self.buf.len() - 1])
            .map_err(|_| bad(line, "not UTF-8 text"))?;
        let members = json::parse_object(text).map_err(|e| bad(line, e))?;
        Ok(Some(Members { line, members }))
    }

    /// The next event, or `None` after the trailer, once the count and the
    /// checksum are checked and nothing follows.
    pub fn next_event(&mut self) -> Result<Option<Event>> {
        if self.checked.is_some() {
            return Ok(None);
        }
        let Some(mut m) = self.next_line()? else {
            return Err(Error::InvalidArgument(format!(
                "the file ends after {} of its {} events, without its trailer (truncated)",
                self.read, self.declared
            )));
        };
        let line = m.line;
        if m.members.iter().any(|(k, _)| k == "end") {
            if m.take("end")? != Value::Bool(true) {
                return Err(bad(line, "\"end\" must be true"));
            }
            let events = m.int("events")?;
            let sha = m.string("sha256")?;
            m.done()?;
            if events != self.read || events != self.declared {
                return Err(bad(
                    line,
                    format!(
                        "the trailer counts {events} events, the header {}, the file has {}",
                        self.declared, self.read
                    ),
                ));
            }
            let actual = self.hash.take().expect("hashing").finish_hex();
            if sha != actual {
                return Err(bad(
                    line,
                    "the checksum does not match: the file is damaged",
                ));
            }
            self.buf.clear();
            if self.input.read_until(b'\n', &mut self.buf)? > 0 {
                return Err(bad(line + 1, "something follows the trailer"));
            }
            self.checked = Some(Checked {
                events,
                sha256: actual,
            });
            return Ok(None);
        }
        if self.read == self.declared {
            return Err(bad(
                line,
                format!(
                    "more events than the {} the header announces",
                    self.declared
                ),
            ));
        }
        let position = m.int("position")?;
        let stream = m.bytes("stream")?;
        let version = m.int("version")?;
        let id = m.bytes("id")?;
        let event_type = m.optional_bytes("type")?;
        let metadata = m.optional_bytes("metadata")?;
        let data = m.bytes("data")?;
        m.done()?;
        if position != self.read {
            return Err(bad(
                line,
                format!("position {position} where {} was expected", self.read),
            ));
        }
        crate::model::check_stream_name(&stream).map_err(|e| bad(line, message(e)))?;
        crate::model::check_event_id(&id).map_err(|e| bad(line, message(e)))?;
        crate::model::check_event_type(&event_type).map_err(|e| bad(line, message(e)))?;
        self.hash.as_mut().expect("hashing").update(&self.buf);
        self.read += 1;
        Ok(Some(Event {
            id,
            data,
            stream,
            version,
            position,
            event_type,
            metadata,
        }))
    }

    /// The count and checksum, once the trailer has been read and checked.
    pub fn checked(&self) -> Option<&Checked> {
        self.checked.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev<'a>(
        position: u64,
        stream: &'a [u8],
        version: u64,
        id: &'a [u8],
        data: &'a [u8],
    ) -> EventRef<'a> {
        EventRef {
            id,
            data,
            stream,
            version,
            position,
            event_type: b"",
            metadata: b"",
        }
    }

    fn sample() -> Vec<u8> {
        let mut w = ExportWriter::new(Vec::new(), 3).unwrap();
        w.event(&ev(0, b"orders", 0, b"id-0", b"created")).unwrap();
        w.event(&ev(1, b"\x00\xff bin", 0, b"\n", b"")).unwrap();
        w.event(&ev(2, b"orders", 1, b"id-2", &[0, 1, 2, 255]))
            .unwrap();
        w.finish().unwrap().0
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<Event>> {
        let mut r = ExportReader::new(bytes)?;
        let mut out = Vec::new();
        while let Some(e) = r.next_event()? {
            out.push(e);
        }
        assert!(r.checked().is_some());
        assert_eq!(r.next_event()?, None);
        Ok(out)
    }

    fn refusal(bytes: &[u8]) -> String {
        match read_all(bytes) {
            Err(Error::InvalidArgument(m)) => m,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    /// The documented bytes, exactly: the format is a promise.
    #[test]
    fn the_layout_is_the_documented_one() {
        let text = String::from_utf8(sample()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            r#"{"format":"rewind-export","version":1,"events":3}"#
        );
        assert_eq!(
            lines[1],
            r#"{"position":0,"stream":"b3JkZXJz","version":0,"id":"aWQtMA==","data":"Y3JlYXRlZA=="}"#
        );
        assert_eq!(
            lines[2],
            r#"{"position":1,"stream":"AP8gYmlu","version":0,"id":"Cg==","data":""}"#
        );
        let mut h = Sha256::new();
        h.update(&text.as_bytes()[..text.len() - lines[4].len() - 1]);
        assert_eq!(
            lines[4],
            format!(r#"{{"end":true,"events":3,"sha256":"{}"}}"#, h.finish_hex())
        );
        assert_eq!(lines.len(), 5);
        assert!(text.ends_with("}\n"));
    }

    #[test]
    fn what_is_written_reads_back_exactly() {
        let events = read_all(&sample()).unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!(events[1].stream, b"\x00\xff bin");
        assert_eq!(events[1].id, b"\n");
        assert_eq!(events[2].data, [0, 1, 2, 255]);
        assert_eq!(
            events
                .iter()
                .map(|e| (e.position, e.version))
                .collect::<Vec<_>>(),
            [(0, 0), (1, 0), (2, 1)]
        );
        let empty = ExportWriter::new(Vec::new(), 0)
            .unwrap()
            .finish()
            .unwrap()
            .0;
        assert!(read_all(&empty).unwrap().is_empty());
    }

    #[test]
    fn types_and_metadata_round_trip_and_appear_only_when_set() {
        let typed = EventRef {
            event_type: b"OrderPlaced",
            metadata: b"\x00meta",
            ..ev(0, b"orders", 0, b"id-0", b"created")
        };
        let untyped = ev(1, b"orders", 1, b"id-1", b"paid");
        let mut line = String::new();
        push_event_line(&mut line, &typed);
        assert_eq!(
            line,
            r#"{"position":0,"stream":"b3JkZXJz","version":0,"id":"aWQtMA==","type":"T3JkZXJQbGFjZWQ=","metadata":"AG1ldGE=","data":"Y3JlYXRlZA=="}"#
        );
        let mut w = ExportWriter::new(Vec::new(), 2).unwrap();
        w.event(&typed).unwrap();
        w.event(&untyped).unwrap();
        let bytes = w.finish().unwrap().0;
        assert_eq!(
            String::from_utf8_lossy(&bytes).matches("\"type\"").count(),
            1
        );
        let events = read_all(&bytes).unwrap();
        assert_eq!(events[0], typed.to_owned());
        assert_eq!(events[1], untyped.to_owned());
    }

    #[test]
    fn any_json_layout_of_the_same_objects_reads() {
        let good = String::from_utf8(sample()).unwrap();
        let lines: Vec<&str> = good.lines().collect();
        // reorder the keys and space out the first event line: the
        // checksum covers the bytes, so recompute it
        let event = r#" { "data" : "Y3JlYXRlZA==", "id":"aWQtMA==" , "version":0,"stream":"b3JkZXJz","position":0 } "#;
        let body = format!("{}\n{event}\n{}\n{}\n", lines[0], lines[2], lines[3]);
        let mut h = Sha256::new();
        h.update(body.as_bytes());
        let file = format!("{body}{}", trailer_line(3, &h.finish_hex()));
        assert_eq!(
            read_all(file.as_bytes()).unwrap(),
            read_all(&sample()).unwrap()
        );
    }

    #[test]
    fn a_damaged_file_is_refused_with_its_line() {
        let good = sample();
        let text = String::from_utf8(good.clone()).unwrap();
        // one changed byte of data
        let flipped = text.replace("Y3JlYXRlZA==", "Y3JlYXRlZQ==");
        assert_eq!(
            refusal(flipped.as_bytes()),
            "line 5: the checksum does not match: the file is damaged"
        );
        // truncated anywhere
        for cut in [good.len() - 1, good.len() - 40, 60, 10] {
            let m = refusal(&good[..cut]);
            assert!(m.contains("truncated"), "cut at {cut}: {m}");
        }
        let lines: Vec<&str> = text.lines().collect();
        let without_trailer = format!("{}\n{}\n{}\n{}\n", lines[0], lines[1], lines[2], lines[3]);
        assert!(refusal(without_trailer.as_bytes()).contains("ends after 3 of its 3 events"));
        // something after the trailer
        let mut extra = good.clone();
        extra.extend_from_slice(b"\n");
        assert_eq!(refusal(&extra), "line 6: something follows the trailer");
        // a missing event
        let gap = format!("{}\n{}\n{}\n{}\n", lines[0], lines[1], lines[3], lines[4]);
        assert_eq!(
            refusal(gap.as_bytes()),
            "line 3: position 2 where 1 was expected"
        );
    }

    #[test]
    fn other_formats_and_versions_are_refused() {
        assert_eq!(refusal(b""), "the file is empty: not a Rewind export");
        assert!(refusal(b"id\tZGF0YQ==\n").starts_with("line 1: expected '{' at column 1"));
        assert!(
            refusal(b"{\"format\":\"other\",\"version\":1,\"events\":0}\n")
                .contains("not a Rewind export")
        );
        assert_eq!(
            refusal(b"{\"format\":\"rewind-export\",\"version\":2,\"events\":0}\n"),
            "line 1: export format version 2 is not supported (this reads version 1)"
        );
        assert_eq!(
            refusal(b"{\"format\":\"rewind-export\",\"version\":1,\"events\":0,\"x\":1}\n"),
            "line 1: an unknown key \"x\""
        );
    }

    #[test]
    fn bad_event_lines_are_refused() {
        let header = header_line(1);
        let case = |event: &str| {
            let body = format!("{header}{event}\n");
            let mut h = Sha256::new();
            h.update(body.as_bytes());
            refusal(format!("{body}{}", trailer_line(1, &h.finish_hex())).as_bytes())
        };
        let ok = r#"{"position":0,"stream":"cw==","version":0,"id":"aQ==","data":""}"#;
        assert!(read_all(
            format!("{header}{ok}\n{}", {
                let mut h = Sha256::new();
                h.update(format!("{header}{ok}\n").as_bytes());
                trailer_line(1, &h.finish_hex())
            })
            .as_bytes()
        )
        .is_ok());
        assert_eq!(
            case(r#"{"position":0,"stream":"cw=","version":0,"id":"aQ==","data":""}"#),
            "line 2: \"stream\" is not base64"
        );
        assert_eq!(
            case(r#"{"position":0,"stream":"","version":0,"id":"aQ==","data":""}"#),
            "line 2: a stream name must have 1 to 255 bytes, not 0"
        );
        assert_eq!(
            case(r#"{"position":0,"stream":"cw==","version":0,"data":""}"#),
            "line 2: the key \"id\" is missing"
        );
        assert_eq!(
            case(r#"{"position":0,"stream":"cw==","version":"0","id":"aQ==","data":""}"#),
            "line 2: \"version\" must be an integer"
        );
        assert_eq!(
            case(r#"{"position":0,"stream":"cw==","version":0,"id":"aQ==","data":"","kind":""}"#),
            "line 2: an unknown key \"kind\""
        );
        // An event type must be UTF-8.
        let bad_type = case(
            r#"{"position":0,"stream":"cw==","version":0,"id":"aQ==","type":"/w==","data":""}"#,
        );
        assert!(
            bad_type.starts_with("line 2: ") && bad_type.contains("UTF-8"),
            "{bad_type}"
        );
        assert!(case("{\"position\":0,\"stream\":\"\u{fffd}").contains("line 2"));
    }

    #[test]
    fn the_writer_keeps_its_count() {
        let mut w = ExportWriter::new(Vec::new(), 1).unwrap();
        assert!(w.event(&ev(1, b"s", 0, b"i", b"")).is_err());
        w.event(&ev(0, b"s", 0, b"i", b"")).unwrap();
        assert!(w.event(&ev(1, b"s", 1, b"j", b"")).is_err());
        assert!(ExportWriter::new(Vec::new(), 2).unwrap().finish().is_err());
    }
}
