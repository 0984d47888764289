//! What `rewind-admin` prints: statistics, stream lines and event lines,
//! as text for people and as JSON for scripts. Byte strings are escaped
//! in text ([`Escape`]) and base64 in JSON.

use std::fmt::Write as _;
use std::path::Path;

use rewind_core::admin::format::push_event_line;
use rewind_core::admin::json::push_str;
use rewind_core::admin::text::Escape;
use rewind_core::admin::{base64, LmdbStats};
use rewind_core::{EventRef, StreamHead};

use crate::args::Format;
use crate::progress::human_bytes;

fn opt(n: Option<u64>) -> String {
    n.map_or("null".into(), |n| n.to_string())
}

/// The statistics of the store in `dir`, as text or as one JSON object.
pub fn stats(dir: &Path, s: &LmdbStats, json: bool) -> String {
    let format = String::from_utf8_lossy(&s.format);
    if json {
        let mut out = String::from("{\"path\":");
        push_str(&mut out, &dir.display().to_string());
        out.push_str(",\"format\":");
        push_str(&mut out, &format);
        let _ = write!(
            out,
            ",\"events\":{},\"streams\":{},\"head_position\":{},\"next_position\":{},\
             \"disk_bytes\":{},\"data_file_bytes\":{},\"map_size\":{},\"map_used\":{},\
             \"map_free\":{},\"page_size\":{},\"last_txn\":{}}}",
            s.events,
            s.streams,
            opt(s.head_position()),
            s.next_position,
            s.disk_bytes,
            s.data_file_bytes,
            s.map_size,
            s.map_used,
            s.map_free,
            s.page_size,
            s.last_txn
        );
        return out + "\n";
    }
    let pct = |n: u64| {
        if s.map_size == 0 {
            0.0
        } else {
            n as f64 * 100.0 / s.map_size as f64
        }
    };
    let head = match s.head_position() {
        Some(p) => p.to_string(),
        None => "none (the store is empty)".into(),
    };
    format!(
        "store          {}\n\
         format         {format}\n\
         events         {}\n\
         streams        {}\n\
         head position  {head}\n\
         size on disk   {} (data.mdb {} bytes)\n\
         map size       {} (grows by itself when full)\n\
         map used       {} ({:.1}% of the map), {} of it free pages\n\
         page size      {}\n\
         last txn       {}\n",
        dir.display(),
        s.events,
        s.streams,
        human_bytes(s.disk_bytes),
        s.data_file_bytes,
        human_bytes(s.map_size),
        human_bytes(s.map_used),
        pct(s.map_used),
        human_bytes(s.map_free),
        s.page_size,
        s.last_txn,
    )
}

/// One stream: `stream events last-version last-position`, or a JSON
/// object; with its newline.
pub fn stream_line(out: &mut String, name: &[u8], head: &StreamHead, json: bool) {
    if json {
        out.push_str("{\"stream\":\"");
        base64::encode_into(out, name);
        let _ = write!(
            out,
            "\",\"events\":{},\"last_version\":{},\"last_position\":{},\"last_id\":\"",
            head.version + 1,
            head.version,
            head.position
        );
        base64::encode_into(out, &head.id);
        out.push_str("\"}\n");
    } else {
        Escape::FIELD.push(out, name);
        let _ = writeln!(
            out,
            " {} {} {}",
            head.version + 1,
            head.version,
            head.position
        );
    }
}

/// One event, with its newline: `position stream version id data`
/// escaped, or the export format's event line.
pub fn event_line(out: &mut String, e: &EventRef<'_>, format: Format, max_data: Option<usize>) {
    match format {
        Format::Jsonl => push_event_line(out, e),
        Format::Text => {
            let _ = write!(out, "{} ", e.position);
            Escape::FIELD.push(out, e.stream);
            let _ = write!(out, " {} ", e.version);
            Escape::FIELD.push(out, e.id);
            out.push(' ');
            Escape::rest(max_data).push(out, e.data);
        }
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_lines_are_one_line_each_with_five_fields() {
        let e = EventRef {
            id: b"an id",
            data: b"two\nlines and \x1b escape",
            stream: b"my stream",
            version: 3,
            position: 17,
            event_type: b"",
            metadata: b"",
        };
        let mut out = String::new();
        event_line(&mut out, &e, Format::Text, None);
        assert_eq!(
            out,
            "17 my\\x20stream 3 an\\x20id two\\nlines and \\x1b escape\n"
        );
        out.clear();
        event_line(&mut out, &e, Format::Text, Some(3));
        assert_eq!(out, "17 my\\x20stream 3 an\\x20id two…(+19 bytes)\n");
        out.clear();
        event_line(&mut out, &e, Format::Jsonl, Some(3));
        assert_eq!(
            out,
            "{\"position\":17,\"stream\":\"bXkgc3RyZWFt\",\"version\":3,\"id\":\"YW4gaWQ=\",\
             \"data\":\"dHdvCmxpbmVzIGFuZCAbIGVzY2FwZQ==\"}\n"
        );
    }

    #[test]
    fn stream_lines() {
        let head = StreamHead {
            version: 4,
            position: 99,
            id: b"x".to_vec(),
        };
        let mut out = String::new();
        stream_line(&mut out, b"orders 1", &head, false);
        stream_line(&mut out, b"orders 1", &head, true);
        assert_eq!(
            out,
            "orders\\x201 5 4 99\n{\"stream\":\"b3JkZXJzIDE=\",\"events\":5,\"last_version\":4,\"last_position\":99,\"last_id\":\"eA==\"}\n"
        );
    }
}
