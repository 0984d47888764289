//! The wire protocols: v1 and v2 here, the native protocol in [`native`].
//!
//! The v1 and v2 protocols carry multipart messages whose first frame names the
//! request. [`parse_request`] turns the frames after the envelope into a
//! [`Request`] or a [`ProtocolError`]; the `*_reply` functions encode the
//! answers. Nothing here touches a socket, so the server, tests and fuzzers
//! share one encoding.

use std::fmt;

use crate::model::{check_event_id, check_stream_name};
use crate::Printable;

pub mod native;

/// The most events in one reply of a v1 query.
pub const V1_QUERY_CAP: usize = 100;

/// Which wire protocol a message arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// The original Rewind: REQ/REP, one stream.
    V1,
    /// Gorewind: DEALER/ROUTER, named streams, streamed query replies.
    V2,
    /// The native protocol ([`native`]): its own codec, not
    /// [`parse_request`].
    Native,
}

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Store one event.
    Publish {
        /// The stream (v1: the default stream).
        stream: Vec<u8>,
        /// The event's data.
        data: Vec<u8>,
    },
    /// Read the events of a stream after `from` up to and including `to`.
    Query {
        /// The stream (v1: the default stream).
        stream: Vec<u8>,
        /// Exclusive lower bound; `None` from the first event.
        from: Option<Vec<u8>>,
        /// Inclusive upper bound; `None` to the last event.
        to: Option<Vec<u8>>,
    },
    /// The exit codeword: reply `QUIT` and stop the server.
    Exit,
}

/// Why a request was refused; sent back as `ERROR <reason>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the parser needs to know of the server's settings.
#[derive(Debug, Clone, Copy)]
pub struct ParseOptions<'a> {
    /// The stream v1 requests work on.
    pub default_stream: &'a [u8],
    /// The exit codeword, if one is set.
    pub exit_codeword: Option<&'a [u8]>,
    /// The largest request, all frames together, in bytes.
    pub max_message_size: usize,
}

fn bound(frame: &[u8], what: &str) -> Result<Option<Vec<u8>>, ProtocolError> {
    if frame.is_empty() {
        return Ok(None);
    }
    check_event_id(frame).map_err(|_| {
        ProtocolError(format!(
            "invalid '{what}' event id: an id has 1 to {} bytes, not {}",
            crate::MAX_NAME_LEN,
            frame.len()
        ))
    })?;
    Ok(Some(frame.to_vec()))
}

fn stream_name(frame: &[u8]) -> Result<Vec<u8>, ProtocolError> {
    check_stream_name(frame).map_err(|_| {
        ProtocolError(format!(
            "invalid stream name: a stream name has 1 to {} bytes, not {}",
            crate::MAX_NAME_LEN,
            frame.len()
        ))
    })?;
    Ok(frame.to_vec())
}

/// Shortens a frame for an error message.
fn excerpt(frame: &[u8]) -> String {
    const MAX: usize = 64;
    if frame.len() > MAX {
        format!("{}...", Printable(&frame[..MAX]))
    } else {
        Printable(frame).to_string()
    }
}

/// Parses the frames of a request (the envelope already removed).
pub fn parse_request<F: AsRef<[u8]>>(
    protocol: Protocol,
    frames: &[F],
    opts: &ParseOptions<'_>,
) -> Result<Request, ProtocolError> {
    let Some(first) = frames.first().map(AsRef::as_ref) else {
        return Err(ProtocolError("empty request".into()));
    };
    if opts.exit_codeword == Some(first) {
        return Ok(Request::Exit);
    }
    let size: usize = frames.iter().map(|f| f.as_ref().len()).sum();
    if size > opts.max_message_size {
        return Err(ProtocolError(format!(
            "message of {size} bytes exceeds the maximum message size of {} bytes",
            opts.max_message_size
        )));
    }
    let args: Vec<&[u8]> = frames[1..].iter().map(AsRef::as_ref).collect();
    let count = |want: usize, usage: &str| {
        if args.len() == want {
            Ok(())
        } else {
            Err(ProtocolError(format!(
                "{} takes {want} frame{} ({usage}), got {}",
                Printable(first),
                if want == 1 { "" } else { "s" },
                args.len()
            )))
        }
    };
    match (protocol, first) {
        (Protocol::V1, b"PUBLISH") => {
            count(1, "the event data")?;
            Ok(Request::Publish {
                stream: opts.default_stream.to_vec(),
                data: args[0].to_vec(),
            })
        }
        (Protocol::V1, b"QUERY") => {
            count(2, "from id, to id")?;
            Ok(Request::Query {
                stream: opts.default_stream.to_vec(),
                from: bound(args[0], "from")?,
                to: bound(args[1], "to")?,
            })
        }
        (Protocol::V2, b"PUBLISH") => {
            count(2, "stream, event data")?;
            Ok(Request::Publish {
                stream: stream_name(args[0])?,
                data: args[1].to_vec(),
            })
        }
        (Protocol::V2, b"QUERY") => {
            count(3, "stream, from id, to id")?;
            Ok(Request::Query {
                stream: stream_name(args[0])?,
                from: bound(args[1], "from")?,
                to: bound(args[2], "to")?,
            })
        }
        _ => Err(ProtocolError(format!(
            "unknown request type: {}",
            excerpt(first)
        ))),
    }
}

/// The single frame of an error reply (both protocols).
pub fn error_frame(reason: &str) -> Vec<u8> {
    format!("ERROR {reason}").into_bytes()
}

/// The reply to a stored PUBLISH.
pub fn published_reply(protocol: Protocol, id: &[u8]) -> Vec<Vec<u8>> {
    match protocol {
        Protocol::V1 => vec![b"PUBLISHED".to_vec()],
        Protocol::V2 | Protocol::Native => vec![b"PUBLISHED".to_vec(), id.to_vec()],
    }
}

/// The reply to the exit codeword.
pub fn quit_reply() -> Vec<Vec<u8>> {
    vec![b"QUIT".to_vec()]
}

/// The frames the v1 streaming socket sends for an event.
pub fn v1_stream_frames<'a>(
    id: &'a [u8],
    prev_id: Option<&'a [u8]>,
    data: &'a [u8],
) -> [&'a [u8]; 3] {
    [id, prev_id.unwrap_or(b""), data]
}

/// The frames the v2 publish socket sends for an event.
pub fn v2_publish_frames<'a>(stream: &'a [u8], id: &'a [u8], data: &'a [u8]) -> [&'a [u8]; 3] {
    [stream, id, data]
}

/// The frame that ends a query reply.
pub const END: &[u8] = b"END";
/// The first frame of each event message of a v2 query reply.
pub const EVENT: &[u8] = b"EVENT";

#[cfg(test)]
mod tests {
    use super::*;

    const OPTS: ParseOptions<'static> = ParseOptions {
        default_stream: b"default",
        exit_codeword: Some(b"BYE"),
        max_message_size: 1000,
    };

    fn p(proto: Protocol, frames: &[&[u8]]) -> Result<Request, ProtocolError> {
        parse_request(proto, frames, &OPTS)
    }

    #[test]
    fn v1_requests_work_on_the_default_stream() {
        assert_eq!(
            p(Protocol::V1, &[b"PUBLISH", b"x"]).unwrap(),
            Request::Publish {
                stream: b"default".to_vec(),
                data: b"x".to_vec()
            }
        );
        assert_eq!(
            p(Protocol::V1, &[b"QUERY", b"", b"b"]).unwrap(),
            Request::Query {
                stream: b"default".to_vec(),
                from: None,
                to: Some(b"b".to_vec())
            }
        );
    }

    #[test]
    fn v2_requests_name_their_stream() {
        assert_eq!(
            p(Protocol::V2, &[b"PUBLISH", b"s", b""]).unwrap(),
            Request::Publish {
                stream: b"s".to_vec(),
                data: vec![]
            }
        );
        assert!(p(Protocol::V2, &[b"PUBLISH", b"", b"d"])
            .unwrap_err()
            .0
            .contains("stream name"));
        assert!(p(Protocol::V2, &[b"QUERY", b"s", b""])
            .unwrap_err()
            .0
            .contains("takes 3 frames"));
    }

    #[test]
    fn bad_requests_are_errors() {
        assert_eq!(p(Protocol::V1, &[]).unwrap_err().0, "empty request");
        assert!(p(Protocol::V1, &[b"PUBLISH"])
            .unwrap_err()
            .0
            .contains("takes 1 frame"));
        assert!(p(Protocol::V1, &[b"PUBLISH", b"a", b"b"]).is_err());
        assert!(p(Protocol::V1, &[b"NOPE"])
            .unwrap_err()
            .0
            .starts_with("unknown request type"));
        assert!(p(Protocol::V1, &[b"QUERY", &[b'i'; 256], b""])
            .unwrap_err()
            .0
            .contains("'from'"));
        assert!(p(Protocol::V1, &[b"PUBLISH", &[0u8; 1001]])
            .unwrap_err()
            .0
            .contains("maximum message size"));
        assert_eq!(
            p(Protocol::V2, &[b"BYE", b"whatever"]).unwrap(),
            Request::Exit
        );
    }

    #[test]
    fn error_frames_start_with_error_space() {
        assert_eq!(error_frame("boom"), b"ERROR boom");
    }
}
