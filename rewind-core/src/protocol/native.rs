//! The native protocol, version 1 (`docs/native-protocol.md`): encoding and
//! decoding every message in both directions, with no socket and no store.
//!
//! - Client → server: [`Request`], encoded by [`encode_request`] and decoded
//!   by [`decode_request`] (which refuses bad input with the exact
//!   [`ErrorReply`] the server sends back).
//! - Server → client: [`Reply`], encoded by [`encode_reply`] and decoded by
//!   [`decode_reply`]. The server encodes event batches straight from
//!   borrowed store records with [`BatchEncoder`]; a client decodes them
//!   into owned events ([`decode_batch`]) or walks them borrowed
//!   ([`BatchIter`]).
//! - Errors: [`ErrorCode`] (with its ASCII name), [`ErrorReply`], and the
//!   mappings from and to [`Error`].
//!
//! Decoding never panics and never trusts a length or a count before it has
//! checked that the bytes are there.

use std::fmt;

use crate::model::{check_event_id, check_stream_name};
use crate::{
    Appended, Error, Event, EventRef, ExpectedVersion, LogFilter, NewEvent, Printable,
    StreamAppend, StreamHead, MAX_NAME_LEN,
};

/// Frame 0 of every message of this version.
pub const TAG: &[u8] = b"rewind/1";
/// The protocol versions this code speaks, as `INFO` and
/// `UNSUPPORTED_VERSION` list them.
pub const VERSIONS: &str = "1";
/// The most events in one `EVENTS` batch.
pub const MAX_BATCH_EVENTS: usize = 1000;
/// The most bytes in one `EVENTS` batch, unless one event alone is larger.
pub const MAX_BATCH_BYTES: usize = 1 << 20;
/// A from version or position meaning "from the last event" (backward).
pub const FROM_LAST: u64 = u64::MAX;
/// The most parts (streams) in one append.
pub const MAX_APPEND_PARTS: usize = 1024;
/// The most streams in one `STREAMS` page.
pub const MAX_STREAMS_PAGE: u64 = 1000;
/// The most subscriptions one server serves at once.
pub const MAX_SUBSCRIPTIONS: usize = 100_000;
/// The heartbeat interval, in milliseconds.
pub const HEARTBEAT_INTERVAL_MS: u64 = 1000;
/// The peer timeout, in heartbeat intervals.
pub const PEER_TIMEOUT_INTERVALS: u64 = 10;
/// The request id of replies to a message whose tag or id is unusable.
pub const NO_REQUEST_ID: u64 = 0;

/// The fixed bytes of an event record besides its variable fields:
/// position, version, three `str8` lengths and two `blob32` lengths.
const RECORD_FIXED: usize = 8 + 8 + 1 + 1 + 1 + 4 + 4;
/// The fewest bytes one event of an append body takes.
const APPEND_EVENT_MIN: usize = 1 + 1 + 4 + 4;

/// A direction of a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Up from the start (`F`).
    Forward,
    /// Down from the start (`B`).
    Backward,
}

impl Direction {
    fn byte(self) -> u8 {
        match self {
            Direction::Forward => b'F',
            Direction::Backward => b'B',
        }
    }
}

/// A request, client → server (frames 2… of a message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `PING` → `PONG`.
    Ping,
    /// `INFO` → `INFO`.
    Info,
    /// `APPEND` → `APPENDED`: the parts, atomically.
    Append(Vec<StreamAppend>),
    /// `READ_STREAM` → `EVENTS`… `END`.
    ReadStream {
        /// The stream.
        stream: Vec<u8>,
        /// Forward or backward.
        direction: Direction,
        /// The first version (inclusive); backward, [`FROM_LAST`] for the
        /// last event.
        from: u64,
        /// The most events; 0 for no limit.
        limit: u64,
    },
    /// `READ_LOG` → `EVENTS`… `END`.
    ReadLog {
        /// Forward or backward.
        direction: Direction,
        /// The first position (inclusive); backward, [`FROM_LAST`] for the
        /// last event.
        from: u64,
        /// The most events passing the filter; 0 for no limit.
        limit: u64,
        /// Which events pass.
        filter: LogFilter,
    },
    /// `GET` → `EVENT` or `NONE`.
    Get {
        /// The event id.
        id: Vec<u8>,
    },
    /// `HEAD` → `HEAD` or `NONE`.
    Head {
        /// The stream.
        stream: Vec<u8>,
    },
    /// `STREAMS` → `STREAMS`.
    Streams {
        /// List the streams whose names sort after this (empty: from the
        /// first).
        after: Vec<u8>,
        /// The most streams, 1 to [`MAX_STREAMS_PAGE`].
        limit: u64,
    },
    /// `SUBSCRIBE` → `SUBSCRIBED`, `EVENTS`…, `CAUGHT_UP`, `EVENTS`…
    Subscribe {
        /// The first position (inclusive); `None`: from the next position.
        from: Option<u64>,
        /// The events the server may send before it hears more.
        credit: u64,
        /// Which events pass.
        filter: LogFilter,
    },
    /// `CREDIT` (no reply): more credit for the subscription named by the
    /// request id.
    Credit {
        /// Added to the credit left.
        credit: u64,
    },
    /// `UNSUBSCRIBE` → `END` on the subscription named by the request id.
    Unsubscribe,
}

impl Request {
    /// The command word (frame 2).
    pub fn kind(&self) -> &'static str {
        match self {
            Request::Ping => "PING",
            Request::Info => "INFO",
            Request::Append(_) => "APPEND",
            Request::ReadStream { .. } => "READ_STREAM",
            Request::ReadLog { .. } => "READ_LOG",
            Request::Get { .. } => "GET",
            Request::Head { .. } => "HEAD",
            Request::Streams { .. } => "STREAMS",
            Request::Subscribe { .. } => "SUBSCRIBE",
            Request::Credit { .. } => "CREDIT",
            Request::Unsubscribe => "UNSUBSCRIBE",
        }
    }
}

/// What `INFO` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// The server's version, e.g. `0.6.0`.
    pub version: String,
    /// The next log position (the number of events in the log).
    pub next_position: u64,
    /// The protocol versions the server speaks, comma-separated.
    pub protocol_versions: String,
    /// The largest message the server accepts, in bytes.
    pub max_message_size: u64,
    /// The heartbeat interval, in milliseconds.
    pub heartbeat_interval_ms: u64,
}

/// Where one appended event landed, as `APPENDED` says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendedEvent {
    /// The event's id (the one assigned when the request left it empty).
    pub id: Vec<u8>,
    /// Its version in its stream.
    pub version: u64,
    /// Its position in the log.
    pub position: u64,
}

/// One stream of a `STREAMS` page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamListing {
    /// The stream's name.
    pub name: Vec<u8>,
    /// The version of its last event.
    pub version: u64,
    /// The position of its last event.
    pub position: u64,
}

/// A reply, server → client (frames 2… of a message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `PONG`.
    Pong,
    /// `INFO`.
    Info(ServerInfo),
    /// `APPENDED`: every event of the request, in request order.
    Appended(Vec<AppendedEvent>),
    /// `EVENTS`: a batch of a read or a subscription.
    Events(Vec<Event>),
    /// `END`: the number of events sent.
    End {
        /// Events sent by the read or subscription.
        count: u64,
    },
    /// `EVENT`: the event `GET` asked for.
    Event(Event),
    /// `NONE`: no such event or stream.
    None,
    /// `HEAD`: the last event of a stream (the id is that event's).
    Head(StreamHead),
    /// `STREAMS`: a page of streams in name order.
    Streams(Vec<StreamListing>),
    /// `SUBSCRIBED`.
    Subscribed {
        /// The position the subscription starts at.
        start: u64,
        /// The heartbeat interval, in milliseconds.
        heartbeat_interval_ms: u64,
    },
    /// `CAUGHT_UP`: what follows is live.
    CaughtUp {
        /// The next log position at that moment.
        next_position: u64,
    },
    /// `HEARTBEAT`: the subscription has been idle.
    Heartbeat {
        /// Every event below this position that passes the filter has
        /// been sent.
        position: u64,
    },
    /// `ERROR`: the last message of its request or subscription.
    Error(ErrorReply),
}

impl Reply {
    /// The reply kind (frame 2).
    pub fn kind(&self) -> &'static str {
        match self {
            Reply::Pong => "PONG",
            Reply::Info(_) => "INFO",
            Reply::Appended(_) => "APPENDED",
            Reply::Events(_) => "EVENTS",
            Reply::End { .. } => "END",
            Reply::Event(_) => "EVENT",
            Reply::None => "NONE",
            Reply::Head(_) => "HEAD",
            Reply::Streams(_) => "STREAMS",
            Reply::Subscribed { .. } => "SUBSCRIBED",
            Reply::CaughtUp { .. } => "CAUGHT_UP",
            Reply::Heartbeat { .. } => "HEARTBEAT",
            Reply::Error(_) => "ERROR",
        }
    }
}

/// The error codes of section 6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// A frame is missing, extra, of the wrong size, or a body does not
    /// decode.
    Malformed,
    /// Frame 0 is not `rewind/1`.
    UnsupportedVersion,
    /// Frame 2 names no command.
    UnknownCommand,
    /// The message is larger than the server accepts.
    TooLarge,
    /// An argument is out of its domain.
    InvalidArgument,
    /// An append's expected version did not match.
    WrongExpectedVersion,
    /// An id is already stored (and the append is not a retry).
    DuplicateId,
    /// `CREDIT` or `UNSUBSCRIBE` names no live subscription.
    UnknownSubscription,
    /// The server's limit of subscriptions is reached.
    TooManySubscriptions,
    /// The server heard nothing from the client for the peer timeout.
    Timeout,
    /// The store is full; nothing was written.
    StorageFull,
    /// The store is read-only.
    ReadOnly,
    /// The server is stopping.
    ShuttingDown,
    /// The storage engine failed.
    Storage,
    /// A bug in Rewind.
    Internal,
}

impl ErrorCode {
    /// Every code, in the order of the document.
    pub const ALL: [ErrorCode; 15] = [
        ErrorCode::Malformed,
        ErrorCode::UnsupportedVersion,
        ErrorCode::UnknownCommand,
        ErrorCode::TooLarge,
        ErrorCode::InvalidArgument,
        ErrorCode::WrongExpectedVersion,
        ErrorCode::DuplicateId,
        ErrorCode::UnknownSubscription,
        ErrorCode::TooManySubscriptions,
        ErrorCode::Timeout,
        ErrorCode::StorageFull,
        ErrorCode::ReadOnly,
        ErrorCode::ShuttingDown,
        ErrorCode::Storage,
        ErrorCode::Internal,
    ];

    /// The code as it travels (frame 3 of `ERROR`).
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::Malformed => "MALFORMED",
            ErrorCode::UnsupportedVersion => "UNSUPPORTED_VERSION",
            ErrorCode::UnknownCommand => "UNKNOWN_COMMAND",
            ErrorCode::TooLarge => "TOO_LARGE",
            ErrorCode::InvalidArgument => "INVALID_ARGUMENT",
            ErrorCode::WrongExpectedVersion => "WRONG_EXPECTED_VERSION",
            ErrorCode::DuplicateId => "DUPLICATE_ID",
            ErrorCode::UnknownSubscription => "UNKNOWN_SUBSCRIPTION",
            ErrorCode::TooManySubscriptions => "TOO_MANY_SUBSCRIPTIONS",
            ErrorCode::Timeout => "TIMEOUT",
            ErrorCode::StorageFull => "STORAGE_FULL",
            ErrorCode::ReadOnly => "READ_ONLY",
            ErrorCode::ShuttingDown => "SHUTTING_DOWN",
            ErrorCode::Storage => "STORAGE",
            ErrorCode::Internal => "INTERNAL",
        }
    }

    /// The code named `name`, if it is one of this version's.
    pub fn from_name(name: &[u8]) -> Option<ErrorCode> {
        ErrorCode::ALL
            .iter()
            .copied()
            .find(|c| c.name().as_bytes() == name)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The details some error codes carry (frames 5…).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorDetails {
    /// No details.
    None,
    /// `UNSUPPORTED_VERSION`: the versions the server speaks.
    Versions(String),
    /// `WRONG_EXPECTED_VERSION`: the stream and its last version (`None`:
    /// it has no events).
    WrongExpectedVersion {
        /// The stream whose version did not match.
        stream: Vec<u8>,
        /// Its last version.
        actual: Option<u64>,
    },
    /// `DUPLICATE_ID`: the id.
    DuplicateId(Vec<u8>),
}

/// An `ERROR` reply: a code, a message, and the details of its code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReply {
    /// The code.
    pub code: ErrorCode,
    /// A human-readable message.
    pub message: String,
    /// Details, for the codes that have them.
    pub details: ErrorDetails,
}

impl ErrorReply {
    /// An error with no details.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ErrorReply {
        ErrorReply {
            code,
            message: message.into(),
            details: ErrorDetails::None,
        }
    }

    /// `MALFORMED` with this message.
    pub fn malformed(message: impl Into<String>) -> ErrorReply {
        ErrorReply::new(ErrorCode::Malformed, message)
    }

    /// `INVALID_ARGUMENT` with this message.
    pub fn invalid(message: impl Into<String>) -> ErrorReply {
        ErrorReply::new(ErrorCode::InvalidArgument, message)
    }

    /// The reply the server sends for a failed operation: one code per
    /// [`Error`] variant, with details for a version conflict and a
    /// duplicate id.
    pub fn from_error(e: &Error) -> ErrorReply {
        let message = e.to_string();
        let (code, details) = match e {
            Error::WrongExpectedVersion { stream, actual, .. } => (
                ErrorCode::WrongExpectedVersion,
                ErrorDetails::WrongExpectedVersion {
                    stream: stream.clone(),
                    actual: *actual,
                },
            ),
            Error::DuplicateId(id) => (
                ErrorCode::DuplicateId,
                ErrorDetails::DuplicateId(id.clone()),
            ),
            Error::UnknownId(_)
            | Error::IdNotInStream { .. }
            | Error::RangeOrder
            | Error::InvalidArgument(_) => (ErrorCode::InvalidArgument, ErrorDetails::None),
            Error::StorageFull(_) => (ErrorCode::StorageFull, ErrorDetails::None),
            Error::ReadOnly => (ErrorCode::ReadOnly, ErrorDetails::None),
            Error::Closed => (ErrorCode::ShuttingDown, ErrorDetails::None),
            Error::Corrupt(_) | Error::Io(_) | Error::Storage(_) | Error::Backend(_) => {
                (ErrorCode::Storage, ErrorDetails::None)
            }
            Error::Config(_) | Error::Bind { .. } | Error::Network(_) | Error::Internal(_) => {
                (ErrorCode::Internal, ErrorDetails::None)
            }
        };
        ErrorReply {
            code,
            message,
            details,
        }
    }

    /// The [`Error`] a client reports for this reply. `append` is the
    /// request it answers, when it was an append: a version conflict
    /// takes the expected version of the named stream from it (`Any` when
    /// it is not given).
    ///
    /// | code | error |
    /// |---|---|
    /// | `WRONG_EXPECTED_VERSION` | [`Error::WrongExpectedVersion`] |
    /// | `DUPLICATE_ID` | [`Error::DuplicateId`] |
    /// | `INVALID_ARGUMENT`, `TOO_LARGE` | [`Error::InvalidArgument`] |
    /// | `STORAGE_FULL` | [`Error::StorageFull`] |
    /// | `READ_ONLY` | [`Error::ReadOnly`] |
    /// | `SHUTTING_DOWN` | [`Error::Closed`] |
    /// | `STORAGE` | [`Error::Storage`] |
    /// | `UNSUPPORTED_VERSION`, `TIMEOUT`, `UNKNOWN_SUBSCRIPTION`, `TOO_MANY_SUBSCRIPTIONS` | [`Error::Network`] |
    /// | `MALFORMED`, `UNKNOWN_COMMAND`, `INTERNAL` | [`Error::Internal`] |
    pub fn into_error(self, append: Option<&[StreamAppend]>) -> Error {
        let m = self.message;
        match (self.code, self.details) {
            (
                ErrorCode::WrongExpectedVersion,
                ErrorDetails::WrongExpectedVersion { stream, actual },
            ) => {
                let expected = append
                    .and_then(|parts| parts.iter().find(|p| p.stream == stream))
                    .map_or(ExpectedVersion::Any, |p| p.expected);
                Error::WrongExpectedVersion {
                    stream,
                    expected,
                    actual,
                }
            }
            (ErrorCode::DuplicateId, ErrorDetails::DuplicateId(id)) => Error::DuplicateId(id),
            (ErrorCode::InvalidArgument | ErrorCode::TooLarge, _) => {
                Error::InvalidArgument(strip(&m, "invalid argument: "))
            }
            (ErrorCode::StorageFull, _) => Error::StorageFull(strip(&m, "storage full: ")),
            (ErrorCode::ReadOnly, _) => Error::ReadOnly,
            (ErrorCode::ShuttingDown, _) => Error::Closed,
            (ErrorCode::Storage, _) => Error::Storage(strip(&m, "storage error: ")),
            (
                ErrorCode::UnsupportedVersion
                | ErrorCode::Timeout
                | ErrorCode::UnknownSubscription
                | ErrorCode::TooManySubscriptions,
                _,
            ) => Error::Network(format!("{}: {m}", self.code)),
            (code, _) => Error::Internal(format!("{code}: {m}")),
        }
    }
}

/// `message` without `prefix` (the server's `Display` of the error adds it
/// and the client's adds it again).
fn strip(message: &str, prefix: &str) -> String {
    message.strip_prefix(prefix).unwrap_or(message).to_string()
}

impl fmt::Display for ErrorReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// A request the server refuses before it is understood, and the request id
/// to answer it under (`None`: the message is dropped, as it has too few
/// frames and no usable id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The id to reply under; `None` to drop the message.
    pub request_id: Option<u64>,
    /// The reply.
    pub error: ErrorReply,
}

// ---------------------------------------------------------------------------
// Encoding helpers

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// A `str8`; a field longer than 255 bytes cannot be encoded.
fn put_str8(out: &mut Vec<u8>, field: &[u8], what: &str) -> Result<(), Error> {
    let len = u8::try_from(field.len()).map_err(|_| {
        Error::InvalidArgument(format!(
            "{what} must have at most {MAX_NAME_LEN} bytes, not {}",
            field.len()
        ))
    })?;
    out.push(len);
    out.extend_from_slice(field);
    Ok(())
}

/// A `blob32`; a field of 4 GiB or more cannot be encoded.
fn put_blob32(out: &mut Vec<u8>, field: &[u8], what: &str) -> Result<(), Error> {
    let len = u32::try_from(field.len()).map_err(|_| {
        Error::InvalidArgument(format!(
            "{what} must be smaller than 4 GiB, not {} bytes",
            field.len()
        ))
    })?;
    put_u32(out, len);
    out.extend_from_slice(field);
    Ok(())
}

fn u64_frame(v: u64) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

/// The first three frames of a message: tag, request id, kind.
pub fn header(request_id: u64, kind: &str) -> [Vec<u8>; 3] {
    [
        TAG.to_vec(),
        u64_frame(request_id),
        kind.as_bytes().to_vec(),
    ]
}

fn message(request_id: u64, kind: &str, args: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut frames = Vec::with_capacity(3 + args.len());
    frames.extend(header(request_id, kind));
    frames.extend(args);
    frames
}

/// Appends one event record to `out`, straight from the borrowed event.
///
/// Errors: [`Error::InvalidArgument`] when a field is too long for its
/// encoding (never for an event read from a store).
pub fn put_event(out: &mut Vec<u8>, e: &EventRef<'_>) -> Result<(), Error> {
    out.reserve(RECORD_FIXED + e.stream.len() + e.id.len() + e.event_type.len());
    put_u64(out, e.position);
    put_u64(out, e.version);
    put_str8(out, e.stream, "a stream name")?;
    put_str8(out, e.id, "an event id")?;
    put_str8(out, e.event_type, "an event type")?;
    put_blob32(out, e.metadata, "metadata")?;
    put_blob32(out, e.data, "data")
}

/// The encoded size of one event record.
pub fn event_record_len(e: &EventRef<'_>) -> usize {
    RECORD_FIXED
        + e.stream.len()
        + e.id.len()
        + e.event_type.len()
        + e.metadata.len()
        + e.data.len()
}

/// Builds one event batch in a buffer the caller keeps (and may reuse):
/// [`begin`](BatchEncoder::begin) clears it, [`push`](BatchEncoder::push)
/// encodes an event straight from the store's borrowed record, and the
/// count is patched in as events are pushed, so the buffer is a complete
/// batch at any time.
#[derive(Debug, Default)]
pub struct BatchEncoder {
    buf: Vec<u8>,
    count: u32,
}

impl BatchEncoder {
    /// An empty batch.
    pub fn new() -> BatchEncoder {
        let mut b = BatchEncoder::default();
        b.begin();
        b
    }

    /// Empties the batch, keeping the buffer's memory.
    pub fn begin(&mut self) {
        self.buf.clear();
        self.buf.extend_from_slice(&[0; 4]);
        self.count = 0;
    }

    /// Whether the batch has room for `e` under the batch limits (an empty
    /// batch always has room for one event).
    pub fn has_room_for(&self, e: &EventRef<'_>) -> bool {
        self.count == 0
            || (self.len() < MAX_BATCH_EVENTS
                && self.buf.len() + event_record_len(e) <= MAX_BATCH_BYTES)
    }

    /// Adds `e` to the batch.
    ///
    /// Errors: [`Error::InvalidArgument`] when a field is too long for its
    /// encoding (the batch is left as it was).
    pub fn push(&mut self, e: &EventRef<'_>) -> Result<(), Error> {
        let mark = self.buf.len();
        if let Err(err) = put_event(&mut self.buf, e) {
            self.buf.truncate(mark);
            return Err(err);
        }
        self.count += 1;
        self.buf[..4].copy_from_slice(&self.count.to_be_bytes());
        Ok(())
    }

    /// The number of events in the batch.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether the batch has no event.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The encoded batch.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Takes the encoded batch out, leaving an empty batch behind, with a
    /// new buffer as large as the one taken (so that the next batch of a
    /// read grows it no more, which would copy what it holds).
    pub fn take(&mut self) -> Vec<u8> {
        let cap = self.buf.capacity();
        let out = std::mem::replace(&mut self.buf, Vec::with_capacity(cap));
        self.begin();
        out
    }
}

/// The append body of `parts` (frame 3 of `APPEND`), appended to `out`.
///
/// Errors: [`Error::InvalidArgument`] when a field is too long for its
/// encoding, or there are more parts or events than the encoding holds.
pub fn encode_append_body(out: &mut Vec<u8>, parts: &[StreamAppend]) -> Result<(), Error> {
    let count = u16::try_from(parts.len()).map_err(|_| {
        Error::InvalidArgument(format!(
            "an append has at most {MAX_APPEND_PARTS} parts, not {}",
            parts.len()
        ))
    })?;
    out.extend_from_slice(&count.to_be_bytes());
    for part in parts {
        put_str8(out, &part.stream, "a stream name")?;
        let (kind, version) = match part.expected {
            ExpectedVersion::Any => (0u8, 0),
            ExpectedVersion::NoStream => (1, 0),
            ExpectedVersion::StreamExists => (2, 0),
            ExpectedVersion::Exact(v) => (3, v),
        };
        out.push(kind);
        put_u64(out, version);
        let n = u32::try_from(part.events.len()).map_err(|_| {
            Error::InvalidArgument(format!("too many events: {}", part.events.len()))
        })?;
        put_u32(out, n);
        for e in &part.events {
            put_str8(out, e.id.as_deref().unwrap_or(b""), "an event id")?;
            put_str8(out, &e.event_type, "an event type")?;
            put_blob32(out, &e.metadata, "metadata")?;
            put_blob32(out, &e.data, "data")?;
        }
    }
    Ok(())
}

/// The result body of `APPENDED` for these appended events, in request
/// order.
pub fn encode_appended_body(out: &mut Vec<u8>, appended: &[Appended]) -> Result<(), Error> {
    let n = u32::try_from(appended.len())
        .map_err(|_| Error::InvalidArgument(format!("too many events: {}", appended.len())))?;
    out.reserve(4 + appended.len() * (1 + 36 + 16));
    put_u32(out, n);
    for a in appended {
        put_str8(out, &a.id, "an event id")?;
        put_u64(out, a.version);
        put_u64(out, a.position);
    }
    Ok(())
}

/// The body of a `STREAMS` reply.
pub fn encode_streams_body(out: &mut Vec<u8>, streams: &[StreamListing]) -> Result<(), Error> {
    let n = u32::try_from(streams.len())
        .map_err(|_| Error::InvalidArgument(format!("too many streams: {}", streams.len())))?;
    put_u32(out, n);
    for s in streams {
        put_str8(out, &s.name, "a stream name")?;
        put_u64(out, s.version);
        put_u64(out, s.position);
    }
    Ok(())
}

/// The frames of a filter (prefix, then one per type), appended to
/// `frames`.
///
/// Errors: [`Error::InvalidArgument`] for a filter with an empty set of
/// types (it passes nothing, which the protocol cannot say).
pub fn encode_filter(frames: &mut Vec<Vec<u8>>, filter: &LogFilter) -> Result<(), Error> {
    frames.push(filter.stream_prefix.clone().unwrap_or_default());
    if let Some(types) = &filter.event_types {
        if types.is_empty() {
            return Err(Error::InvalidArgument(
                "a filter with an empty set of event types passes nothing and cannot be sent"
                    .into(),
            ));
        }
        frames.extend(types.iter().cloned());
    }
    Ok(())
}

/// The frames of a request.
///
/// Errors: [`Error::InvalidArgument`] when a field is too long for its
/// encoding, or a filter has an empty set of types.
pub fn encode_request(request_id: u64, request: &Request) -> Result<Vec<Vec<u8>>, Error> {
    let mut args: Vec<Vec<u8>> = Vec::new();
    match request {
        Request::Ping | Request::Info | Request::Unsubscribe => {}
        Request::Append(parts) => {
            let mut body = Vec::new();
            encode_append_body(&mut body, parts)?;
            args.push(body);
        }
        Request::ReadStream {
            stream,
            direction,
            from,
            limit,
        } => {
            args.push(stream.clone());
            args.push(vec![direction.byte()]);
            args.push(u64_frame(*from));
            args.push(u64_frame(*limit));
        }
        Request::ReadLog {
            direction,
            from,
            limit,
            filter,
        } => {
            args.push(vec![direction.byte()]);
            args.push(u64_frame(*from));
            args.push(u64_frame(*limit));
            encode_filter(&mut args, filter)?;
        }
        Request::Get { id } => args.push(id.clone()),
        Request::Head { stream } => args.push(stream.clone()),
        Request::Streams { after, limit } => {
            args.push(after.clone());
            args.push(u64_frame(*limit));
        }
        Request::Subscribe {
            from,
            credit,
            filter,
        } => {
            args.push(from.map(u64_frame).unwrap_or_default());
            args.push(u64_frame(*credit));
            encode_filter(&mut args, filter)?;
        }
        Request::Credit { credit } => args.push(u64_frame(*credit)),
    }
    Ok(message(request_id, request.kind(), args))
}

/// The argument frames of an `ERROR` reply (frames 3…).
pub fn error_args(e: &ErrorReply) -> Vec<Vec<u8>> {
    let mut args = vec![
        e.code.name().as_bytes().to_vec(),
        e.message.as_bytes().to_vec(),
    ];
    match &e.details {
        ErrorDetails::None => {}
        ErrorDetails::Versions(v) => args.push(v.as_bytes().to_vec()),
        ErrorDetails::WrongExpectedVersion { stream, actual } => {
            args.push(stream.clone());
            args.push(actual.map(u64_frame).unwrap_or_default());
        }
        ErrorDetails::DuplicateId(id) => args.push(id.clone()),
    }
    args
}

/// The frames of an `ERROR` reply.
pub fn encode_error(request_id: u64, e: &ErrorReply) -> Vec<Vec<u8>> {
    message(request_id, "ERROR", error_args(e))
}

/// The frames of a reply.
///
/// Errors: [`Error::InvalidArgument`] when a field is too long for its
/// encoding.
pub fn encode_reply(request_id: u64, reply: &Reply) -> Result<Vec<Vec<u8>>, Error> {
    let mut args: Vec<Vec<u8>> = Vec::new();
    match reply {
        Reply::Pong | Reply::None => {}
        Reply::Info(i) => {
            args.push(i.version.as_bytes().to_vec());
            args.push(u64_frame(i.next_position));
            args.push(i.protocol_versions.as_bytes().to_vec());
            args.push(u64_frame(i.max_message_size));
            args.push(u64_frame(i.heartbeat_interval_ms));
        }
        Reply::Appended(events) => {
            let mut body = Vec::new();
            let n = u32::try_from(events.len())
                .map_err(|_| Error::InvalidArgument("too many events".into()))?;
            put_u32(&mut body, n);
            for a in events {
                put_str8(&mut body, &a.id, "an event id")?;
                put_u64(&mut body, a.version);
                put_u64(&mut body, a.position);
            }
            args.push(body);
        }
        Reply::Events(events) => {
            let mut batch = BatchEncoder::new();
            for e in events {
                batch.push(&e.as_ref())?;
            }
            args.push(batch.take());
        }
        Reply::Event(e) => {
            let mut batch = BatchEncoder::new();
            batch.push(&e.as_ref())?;
            args.push(batch.take());
        }
        Reply::End { count } => args.push(u64_frame(*count)),
        Reply::Head(h) => {
            args.push(u64_frame(h.version));
            args.push(u64_frame(h.position));
            args.push(h.id.clone());
        }
        Reply::Streams(streams) => {
            let mut body = Vec::new();
            encode_streams_body(&mut body, streams)?;
            args.push(body);
        }
        Reply::Subscribed {
            start,
            heartbeat_interval_ms,
        } => {
            args.push(u64_frame(*start));
            args.push(u64_frame(*heartbeat_interval_ms));
        }
        Reply::CaughtUp { next_position } => args.push(u64_frame(*next_position)),
        Reply::Heartbeat { position } => args.push(u64_frame(*position)),
        Reply::Error(e) => args = error_args(e),
    }
    Ok(message(request_id, reply.kind(), args))
}

// ---------------------------------------------------------------------------
// Decoding helpers

/// A cursor over a binary body; every read checks the bytes are there and
/// says what was being read when they are not.
struct Body<'a> {
    buf: &'a [u8],
    at: usize,
    what: &'static str,
}

impl<'a> Body<'a> {
    fn new(buf: &'a [u8], what: &'static str) -> Body<'a> {
        Body { buf, at: 0, what }
    }

    fn left(&self) -> usize {
        self.buf.len() - self.at
    }

    fn take(&mut self, n: usize, field: &dyn fmt::Display) -> Result<&'a [u8], String> {
        if n > self.left() {
            return Err(format!(
                "{}: {field} needs {n} bytes at offset {} but only {} remain",
                self.what,
                self.at,
                self.left()
            ));
        }
        let s = &self.buf[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, field: &dyn fmt::Display) -> Result<[u8; N], String> {
        let s = self.take(N, field)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u8(&mut self, field: &dyn fmt::Display) -> Result<u8, String> {
        Ok(self.array::<1>(field)?[0])
    }

    fn u16(&mut self, field: &dyn fmt::Display) -> Result<u16, String> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    fn u32(&mut self, field: &dyn fmt::Display) -> Result<u32, String> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    fn u64(&mut self, field: &dyn fmt::Display) -> Result<u64, String> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    fn str8(&mut self, field: &dyn fmt::Display) -> Result<&'a [u8], String> {
        let n = self.u8(&format_args!("the length of {field}"))?;
        self.take(usize::from(n), field)
    }

    fn blob32(&mut self, field: &dyn fmt::Display) -> Result<&'a [u8], String> {
        let n = self.u32(&format_args!("the length of {field}"))?;
        self.take(n as usize, field)
    }

    fn end(&self) -> Result<(), String> {
        if self.left() == 0 {
            Ok(())
        } else {
            Err(format!(
                "{}: {} bytes left over after the last field",
                self.what,
                self.left()
            ))
        }
    }

    /// Checks that `count` items of at least `min` bytes each can fit in
    /// what is left, before anything is allocated for them.
    fn fits(&self, count: u64, min: usize, items: &str) -> Result<(), String> {
        let need = count.saturating_mul(min as u64);
        if need > self.left() as u64 {
            return Err(format!(
                "{}: {count} {items} need at least {need} bytes but only {} remain",
                self.what,
                self.left()
            ));
        }
        Ok(())
    }
}

fn frame_u64(frame: &[u8], what: &str) -> Result<u64, String> {
    <[u8; 8]>::try_from(frame)
        .map(u64::from_be_bytes)
        .map_err(|_| format!("{what} must be a u64 frame of 8 bytes, not {}", frame.len()))
}

fn frame_text(frame: &[u8], what: &str) -> Result<String, String> {
    String::from_utf8(frame.to_vec())
        .map_err(|_| format!("{what} must be UTF-8 text, not {}", excerpt(frame)))
}

fn excerpt(frame: &[u8]) -> String {
    const MAX: usize = 32;
    if frame.len() > MAX {
        format!("{}...", Printable(&frame[..MAX]))
    } else {
        Printable(frame).to_string()
    }
}

fn frame_direction(frame: &[u8]) -> Result<Direction, String> {
    match frame {
        b"F" => Ok(Direction::Forward),
        b"B" => Ok(Direction::Backward),
        _ => Err(format!(
            "the direction must be F or B, not {}",
            excerpt(frame)
        )),
    }
}

/// Decodes one event record at the body's cursor.
/// A field of event `index`, named in an error message only when one is
/// made (formatting it for every field of every event cost more than the
/// decoding).
struct EventField {
    index: usize,
    name: &'static str,
}

impl fmt::Display for EventField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "event {}: {}", self.index, self.name)
    }
}

fn event_at<'a>(body: &mut Body<'a>, index: usize) -> Result<EventRef<'a>, String> {
    let field = |name: &'static str| EventField { index, name };
    let position = body.u64(&field("position"))?;
    let version = body.u64(&field("version"))?;
    let stream = body.str8(&field("stream name"))?;
    if stream.is_empty() {
        return Err(format!("{}: event {index}: empty stream name", body.what));
    }
    let id = body.str8(&field("id"))?;
    if id.is_empty() {
        return Err(format!("{}: event {index}: empty id", body.what));
    }
    let event_type = body.str8(&field("type"))?;
    if std::str::from_utf8(event_type).is_err() {
        return Err(format!(
            "{}: event {index}: the type is not UTF-8",
            body.what
        ));
    }
    let metadata = body.blob32(&field("metadata"))?;
    let data = body.blob32(&field("data"))?;
    Ok(EventRef {
        id,
        event_type,
        metadata,
        data,
        stream,
        version,
        position,
    })
}

/// The events of an event batch, borrowed from its bytes. The count is
/// checked against the bytes before anything is read; each item is an
/// event or the error that ends the walk (after an error, the iterator
/// yields nothing more). A batch that decodes yields exactly its count of
/// events and then checks nothing is left over.
pub struct BatchIter<'a> {
    body: Body<'a>,
    left: u32,
    index: usize,
    failed: bool,
}

impl<'a> BatchIter<'a> {
    /// Starts walking `batch`.
    ///
    /// Errors: a `MALFORMED` message when the count is missing or cannot
    /// fit in the bytes.
    pub fn new(batch: &'a [u8]) -> Result<BatchIter<'a>, String> {
        let mut body = Body::new(batch, "event batch");
        let left = body.u32(&"the event count")?;
        body.fits(u64::from(left), RECORD_FIXED, "events")?;
        Ok(BatchIter {
            body,
            left,
            index: 0,
            failed: false,
        })
    }

    /// The number of events the batch says it holds.
    pub fn remaining(&self) -> usize {
        self.left as usize
    }
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = Result<EventRef<'a>, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if self.left == 0 {
            // Checked once, after the last event.
            if self.index != usize::MAX {
                self.index = usize::MAX;
                if let Err(e) = self.body.end() {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
            return None;
        }
        let r = event_at(&mut self.body, self.index);
        self.left -= 1;
        self.index += 1;
        if r.is_err() {
            self.failed = true;
        }
        Some(r)
    }
}

/// The events of an event batch, owned.
///
/// Errors: a message saying where the batch does not decode.
pub fn decode_batch(batch: &[u8]) -> Result<Vec<Event>, String> {
    let iter = BatchIter::new(batch)?;
    let mut out = Vec::with_capacity(iter.remaining());
    for e in iter {
        out.push(e?.to_owned());
    }
    Ok(out)
}

/// The parts of an append body. Structure errors are `MALFORMED`; a
/// count or a name out of its domain is `INVALID_ARGUMENT`.
pub fn decode_append_body(body: &[u8]) -> Result<Vec<StreamAppend>, ErrorReply> {
    let mut b = Body::new(body, "append body");
    let m = ErrorReply::malformed;
    let count = b.u16(&"the part count").map_err(m)?;
    if count == 0 || usize::from(count) > MAX_APPEND_PARTS {
        return Err(ErrorReply::invalid(format!(
            "an append has 1 to {MAX_APPEND_PARTS} parts, not {count}"
        )));
    }
    let mut parts = Vec::with_capacity(usize::from(count));
    for p in 0..usize::from(count) {
        let stream = b.str8(&format_args!("part {p}: stream name")).map_err(m)?;
        if stream.is_empty() {
            return Err(ErrorReply::invalid(format!(
                "part {p}: a stream name must have 1 to {MAX_NAME_LEN} bytes, not 0"
            )));
        }
        let kind = b
            .u8(&format_args!("part {p}: expected version kind"))
            .map_err(m)?;
        let version = b
            .u64(&format_args!("part {p}: expected version"))
            .map_err(m)?;
        let expected = match (kind, version) {
            (0, 0) => ExpectedVersion::Any,
            (1, 0) => ExpectedVersion::NoStream,
            (2, 0) => ExpectedVersion::StreamExists,
            (3, v) => ExpectedVersion::Exact(v),
            (0..=2, v) => {
                return Err(m(format!(
                    "append body: part {p}: expected version kind {kind} takes version 0, not {v}"
                )))
            }
            _ => {
                return Err(m(format!(
                    "append body: part {p}: expected version kind must be 0 to 3, not {kind}"
                )))
            }
        };
        let n = b.u32(&format_args!("part {p}: event count")).map_err(m)?;
        if n == 0 {
            return Err(ErrorReply::invalid(format!(
                "part {p}: a part must have at least one event"
            )));
        }
        b.fits(u64::from(n), APPEND_EVENT_MIN, "events")
            .map_err(m)?;
        let mut events = Vec::with_capacity(n as usize);
        for i in 0..n {
            let field = |name: &str| format!("part {p}: event {i}: {name}");
            let id = b.str8(&field("id")).map_err(m)?;
            let event_type = b.str8(&field("type")).map_err(m)?;
            let metadata = b.blob32(&field("metadata")).map_err(m)?;
            let data = b.blob32(&field("data")).map_err(m)?;
            events.push(NewEvent {
                id: (!id.is_empty()).then(|| id.to_vec()),
                event_type: event_type.to_vec(),
                metadata: metadata.to_vec(),
                data: data.to_vec(),
            });
        }
        parts.push(StreamAppend {
            stream: stream.to_vec(),
            expected,
            events,
        });
    }
    b.end().map_err(m)?;
    Ok(parts)
}

/// The body of `APPENDED`.
pub fn decode_appended_body(body: &[u8]) -> Result<Vec<AppendedEvent>, String> {
    let mut b = Body::new(body, "APPENDED body");
    let n = b.u32(&"the event count")?;
    b.fits(u64::from(n), 1 + 16, "events")?;
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n {
        let id = b.str8(&format_args!("event {i}: id"))?.to_vec();
        let version = b.u64(&format_args!("event {i}: version"))?;
        let position = b.u64(&format_args!("event {i}: position"))?;
        out.push(AppendedEvent {
            id,
            version,
            position,
        });
    }
    b.end()?;
    Ok(out)
}

/// The body of a `STREAMS` reply.
pub fn decode_streams_body(body: &[u8]) -> Result<Vec<StreamListing>, String> {
    let mut b = Body::new(body, "STREAMS body");
    let n = b.u32(&"the stream count")?;
    b.fits(u64::from(n), 1 + 16, "streams")?;
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n {
        let name = b.str8(&format_args!("stream {i}: name"))?.to_vec();
        let version = b.u64(&format_args!("stream {i}: version"))?;
        let position = b.u64(&format_args!("stream {i}: position"))?;
        out.push(StreamListing {
            name,
            version,
            position,
        });
    }
    b.end()?;
    Ok(out)
}

/// The filter given by `frames` (the prefix frame, then type frames).
pub fn decode_filter<F: AsRef<[u8]>>(frames: &[F]) -> Result<LogFilter, String> {
    let Some((prefix, types)) = frames.split_first() else {
        return Err("the filter needs at least the stream-prefix frame".into());
    };
    let mut filter = LogFilter::all();
    if !prefix.as_ref().is_empty() {
        filter.stream_prefix = Some(prefix.as_ref().to_vec());
    }
    if !types.is_empty() {
        let mut list = Vec::with_capacity(types.len());
        for (i, t) in types.iter().enumerate() {
            let t = t.as_ref();
            if std::str::from_utf8(t).is_err() {
                return Err(format!("filter type {i} is not UTF-8: {}", excerpt(t)));
            }
            list.push(t.to_vec());
        }
        filter.event_types = Some(list);
    }
    Ok(filter)
}

/// The request id of a message, if frame 1 is one (whatever frame 0 says).
pub fn request_id_of<F: AsRef<[u8]>>(frames: &[F]) -> Option<u64> {
    frames
        .get(1)
        .and_then(|f| <[u8; 8]>::try_from(f.as_ref()).ok())
        .map(u64::from_be_bytes)
}

/// Checks tag, request id and frame count: the request id and the kind
/// with its arguments.
fn envelope<F: AsRef<[u8]>>(frames: &[F], direction: &str) -> Result<(u64, usize), Refusal> {
    if frames.len() < 3 {
        return Err(Refusal {
            request_id: request_id_of(frames),
            error: ErrorReply::malformed(format!(
                "a {direction} has at least 3 frames (tag, request id, kind), not {}",
                frames.len()
            )),
        });
    }
    if frames[0].as_ref() != TAG {
        return Err(Refusal {
            request_id: Some(NO_REQUEST_ID),
            error: ErrorReply {
                code: ErrorCode::UnsupportedVersion,
                message: format!(
                    "unsupported protocol tag {}: this server speaks rewind/1",
                    excerpt(frames[0].as_ref())
                ),
                details: ErrorDetails::Versions(VERSIONS.into()),
            },
        });
    }
    let Some(id) = request_id_of(frames) else {
        return Err(Refusal {
            request_id: Some(NO_REQUEST_ID),
            error: ErrorReply::malformed(format!(
                "the request id must be a u64 frame of 8 bytes, not {}",
                frames[1].as_ref().len()
            )),
        });
    };
    Ok((id, frames.len() - 3))
}

/// Decodes a request: its id and what it asks.
///
/// Errors: the [`Refusal`] to send back (section 6 of the document).
pub fn decode_request<F: AsRef<[u8]>>(frames: &[F]) -> Result<(u64, Request), Refusal> {
    let (id, _) = envelope(frames, "request")?;
    let refuse = |error: ErrorReply| Refusal {
        request_id: Some(id),
        error,
    };
    let kind = frames[2].as_ref();
    let args: &[F] = &frames[3..];
    let arg = |i: usize| args[i].as_ref();
    let name = excerpt(kind);
    let count = |min: usize, max: usize, usage: &str| {
        if args.len() < min || args.len() > max {
            let want = if min == max {
                format!("{min}")
            } else if max == usize::MAX {
                format!("at least {min}")
            } else {
                format!("{min} to {max}")
            };
            Err(refuse(ErrorReply::malformed(format!(
                "{name} takes {want} argument frame{} ({usage}), not {}",
                if min == 1 && max == 1 { "" } else { "s" },
                args.len()
            ))))
        } else {
            Ok(())
        }
    };
    let m = |msg: String| refuse(ErrorReply::malformed(format!("{name}: {msg}")));
    let name_arg = |frame: &[u8], what: &str, check: fn(&[u8]) -> crate::Result<()>| {
        check(frame).map(|_| frame.to_vec()).map_err(|_| {
            refuse(ErrorReply::invalid(format!(
                "{name}: {what} must have 1 to {MAX_NAME_LEN} bytes, not {}",
                frame.len()
            )))
        })
    };
    let request = match kind {
        b"PING" => {
            count(0, 0, "none")?;
            Request::Ping
        }
        b"INFO" => {
            count(0, 0, "none")?;
            Request::Info
        }
        b"UNSUBSCRIBE" => {
            count(0, 0, "none")?;
            Request::Unsubscribe
        }
        b"APPEND" => {
            count(1, 1, "the append body")?;
            Request::Append(decode_append_body(arg(0)).map_err(refuse)?)
        }
        b"READ_STREAM" => {
            count(4, 4, "stream, direction, from version, limit")?;
            let stream = name_arg(arg(0), "the stream name", check_stream_name)?;
            Request::ReadStream {
                stream,
                direction: frame_direction(arg(1)).map_err(m)?,
                from: frame_u64(arg(2), "the from version").map_err(m)?,
                limit: frame_u64(arg(3), "the limit").map_err(m)?,
            }
        }
        b"READ_LOG" => {
            count(4, usize::MAX, "direction, from position, limit, filter")?;
            Request::ReadLog {
                direction: frame_direction(arg(0)).map_err(m)?,
                from: frame_u64(arg(1), "the from position").map_err(m)?,
                limit: frame_u64(arg(2), "the limit").map_err(m)?,
                filter: decode_filter(&args[3..]).map_err(m)?,
            }
        }
        b"GET" => {
            count(1, 1, "the event id")?;
            Request::Get {
                id: name_arg(arg(0), "an event id", check_event_id)?,
            }
        }
        b"HEAD" => {
            count(1, 1, "the stream name")?;
            Request::Head {
                stream: name_arg(arg(0), "the stream name", check_stream_name)?,
            }
        }
        b"STREAMS" => {
            count(2, 2, "after, limit")?;
            if arg(0).len() > MAX_NAME_LEN {
                return Err(refuse(ErrorReply::invalid(format!(
                    "STREAMS: 'after' must have at most {MAX_NAME_LEN} bytes, not {}",
                    arg(0).len()
                ))));
            }
            let limit = frame_u64(arg(1), "the limit").map_err(m)?;
            if limit == 0 || limit > MAX_STREAMS_PAGE {
                return Err(refuse(ErrorReply::invalid(format!(
                    "STREAMS: the limit must be 1 to {MAX_STREAMS_PAGE}, not {limit}"
                ))));
            }
            Request::Streams {
                after: arg(0).to_vec(),
                limit,
            }
        }
        b"SUBSCRIBE" => {
            count(3, usize::MAX, "from position, credit, filter")?;
            let from = if arg(0).is_empty() {
                None
            } else {
                Some(frame_u64(arg(0), "the from position (or an empty frame)").map_err(m)?)
            };
            Request::Subscribe {
                from,
                credit: frame_u64(arg(1), "the credit").map_err(m)?,
                filter: decode_filter(&args[2..]).map_err(m)?,
            }
        }
        b"CREDIT" => {
            count(1, 1, "the credit")?;
            Request::Credit {
                credit: frame_u64(arg(0), "the credit").map_err(m)?,
            }
        }
        _ => {
            return Err(refuse(ErrorReply::new(
                ErrorCode::UnknownCommand,
                format!("unknown command {name}"),
            )))
        }
    };
    Ok((id, request))
}

/// Decodes the details frames of an `ERROR` with this code.
fn decode_error<F: AsRef<[u8]>>(args: &[F]) -> Result<ErrorReply, String> {
    if args.len() < 2 {
        return Err(format!(
            "ERROR has at least 2 argument frames (code, message), not {}",
            args.len()
        ));
    }
    let name = args[0].as_ref();
    let message = String::from_utf8_lossy(args[1].as_ref()).into_owned();
    let details = &args[2..];
    let Some(code) = ErrorCode::from_name(name) else {
        // A code of a later version: treated like INTERNAL (section 10).
        return Ok(ErrorReply::new(
            ErrorCode::Internal,
            format!("{}: {message}", excerpt(name)),
        ));
    };
    let want = |n: usize| {
        if details.len() == n {
            Ok(())
        } else {
            Err(format!(
                "ERROR {code} has {n} detail frame{}, not {}",
                if n == 1 { "" } else { "s" },
                details.len()
            ))
        }
    };
    let details = match code {
        ErrorCode::UnsupportedVersion => {
            want(1)?;
            ErrorDetails::Versions(frame_text(details[0].as_ref(), "the versions")?)
        }
        ErrorCode::WrongExpectedVersion => {
            want(2)?;
            let actual = match details[1].as_ref() {
                [] => None,
                f => Some(frame_u64(f, "the stream's last version")?),
            };
            ErrorDetails::WrongExpectedVersion {
                stream: details[0].as_ref().to_vec(),
                actual,
            }
        }
        ErrorCode::DuplicateId => {
            want(1)?;
            ErrorDetails::DuplicateId(details[0].as_ref().to_vec())
        }
        _ => {
            want(0)?;
            ErrorDetails::None
        }
    };
    Ok(ErrorReply {
        code,
        message,
        details,
    })
}

/// Decodes a reply: the request id it answers and the reply.
///
/// Errors: a message saying what does not decode (a client treats the
/// reply as a protocol failure).
pub fn decode_reply<F: AsRef<[u8]>>(frames: &[F]) -> Result<(u64, Reply), String> {
    let (id, _) = envelope(frames, "reply").map_err(|r| r.error.message)?;
    let kind = frames[2].as_ref();
    let args = &frames[3..];
    let name = excerpt(kind);
    let count = |n: usize| {
        if args.len() == n {
            Ok(())
        } else {
            Err(format!(
                "{name} has {n} argument frame{}, not {}",
                if n == 1 { "" } else { "s" },
                args.len()
            ))
        }
    };
    let u = |i: usize, what: &str| frame_u64(args[i].as_ref(), what);
    let reply = match kind {
        b"PONG" => {
            count(0)?;
            Reply::Pong
        }
        b"NONE" => {
            count(0)?;
            Reply::None
        }
        b"INFO" => {
            count(5)?;
            Reply::Info(ServerInfo {
                version: frame_text(args[0].as_ref(), "the server version")?,
                next_position: u(1, "the next position")?,
                protocol_versions: frame_text(args[2].as_ref(), "the protocol versions")?,
                max_message_size: u(3, "the max message size")?,
                heartbeat_interval_ms: u(4, "the heartbeat interval")?,
            })
        }
        b"APPENDED" => {
            count(1)?;
            Reply::Appended(decode_appended_body(args[0].as_ref())?)
        }
        b"EVENTS" => {
            count(1)?;
            let events = decode_batch(args[0].as_ref())?;
            if events.is_empty() {
                return Err("EVENTS has at least one event".into());
            }
            Reply::Events(events)
        }
        b"EVENT" => {
            count(1)?;
            let mut events = decode_batch(args[0].as_ref())?;
            if events.len() != 1 {
                return Err(format!("EVENT has exactly one event, not {}", events.len()));
            }
            Reply::Event(events.remove(0))
        }
        b"END" => {
            count(1)?;
            Reply::End {
                count: u(0, "the event count")?,
            }
        }
        b"HEAD" => {
            count(3)?;
            Reply::Head(StreamHead {
                version: u(0, "the version")?,
                position: u(1, "the position")?,
                id: args[2].as_ref().to_vec(),
            })
        }
        b"STREAMS" => {
            count(1)?;
            Reply::Streams(decode_streams_body(args[0].as_ref())?)
        }
        b"SUBSCRIBED" => {
            count(2)?;
            Reply::Subscribed {
                start: u(0, "the start position")?,
                heartbeat_interval_ms: u(1, "the heartbeat interval")?,
            }
        }
        b"CAUGHT_UP" => {
            count(1)?;
            Reply::CaughtUp {
                next_position: u(0, "the next position")?,
            }
        }
        b"HEARTBEAT" => {
            count(1)?;
            Reply::Heartbeat {
                position: u(0, "the position")?,
            }
        }
        b"ERROR" => Reply::Error(decode_error(args)?),
        _ => return Err(format!("unknown reply kind {name}")),
    };
    Ok((id, reply))
}

#[cfg(test)]
mod tests;
