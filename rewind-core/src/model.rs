//! The data model: events, streams, versions and positions.

use std::fmt;

use crate::{Error, Result};

/// The longest stream name, and the longest event id, in bytes.
pub const MAX_NAME_LEN: usize = 255;

/// The longest event type, in bytes.
pub const MAX_TYPE_LEN: usize = 255;

/// An event as it is stored, borrowed from the store (no copy).
///
/// The borrow ends with the read call that handed it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRef<'a> {
    /// The event's id, unique in the store.
    pub id: &'a [u8],
    /// The event's type: UTF-8 text of 0 to 255 bytes (empty for events
    /// that arrived through the v1 or v2 wire protocol).
    pub event_type: &'a [u8],
    /// The event's metadata, opaque bytes (empty for events that arrived
    /// through the v1 or v2 wire protocol).
    pub metadata: &'a [u8],
    /// The event's data, opaque bytes.
    pub data: &'a [u8],
    /// The stream the event belongs to.
    pub stream: &'a [u8],
    /// The version of the event in its stream: 0, 1, 2, …
    pub version: u64,
    /// The position of the event in the store-wide log.
    pub position: u64,
}

impl EventRef<'_> {
    /// Copies the event out of the store.
    pub fn to_owned(&self) -> Event {
        Event {
            id: self.id.to_vec(),
            event_type: self.event_type.to_vec(),
            metadata: self.metadata.to_vec(),
            data: self.data.to_vec(),
            stream: self.stream.to_vec(),
            version: self.version,
            position: self.position,
        }
    }
}

/// An event, owned.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Event {
    /// The event's id, unique in the store.
    pub id: Vec<u8>,
    /// The event's type: UTF-8 text of 0 to 255 bytes (empty for events
    /// that arrived through the v1 or v2 wire protocol).
    pub event_type: Vec<u8>,
    /// The event's metadata, opaque bytes (empty for events that arrived
    /// through the v1 or v2 wire protocol).
    pub metadata: Vec<u8>,
    /// The event's data, opaque bytes.
    pub data: Vec<u8>,
    /// The stream the event belongs to.
    pub stream: Vec<u8>,
    /// The version of the event in its stream: 0, 1, 2, …
    pub version: u64,
    /// The position of the event in the store-wide log.
    pub position: u64,
}

impl Event {
    /// Borrows the event.
    pub fn as_ref(&self) -> EventRef<'_> {
        EventRef {
            id: &self.id,
            event_type: &self.event_type,
            metadata: &self.metadata,
            data: &self.data,
            stream: &self.stream,
            version: self.version,
            position: self.position,
        }
    }
}

/// An event to append: data, an id (one is generated when it is `None`),
/// a type and metadata (both empty unless set).
///
/// ```
/// use rewind_core::NewEvent;
///
/// let e = NewEvent::new(r#"{"total": 12}"#)
///     .with_type("OrderPlaced")
///     .with_metadata(r#"{"user": "ann"}"#);
/// assert_eq!(e.event_type, b"OrderPlaced");
/// assert!(e.id.is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewEvent {
    /// The id to store the event under; `None` lets the store assign a UUID.
    pub id: Option<Vec<u8>>,
    /// The event's type: UTF-8 text of 0 to 255 bytes (checked when it is
    /// appended).
    pub event_type: Vec<u8>,
    /// The event's metadata, opaque bytes.
    pub metadata: Vec<u8>,
    /// The event's data.
    pub data: Vec<u8>,
}

impl NewEvent {
    /// An event whose id the store assigns, with no type and no metadata.
    pub fn new(data: impl Into<Vec<u8>>) -> Self {
        NewEvent {
            data: data.into(),
            ..NewEvent::default()
        }
    }

    /// An event with an id chosen by the caller, with no type and no
    /// metadata.
    pub fn with_id(id: impl Into<Vec<u8>>, data: impl Into<Vec<u8>>) -> Self {
        NewEvent {
            id: Some(id.into()),
            data: data.into(),
            ..NewEvent::default()
        }
    }

    /// The event with this type (UTF-8, at most 255 bytes: an append of an
    /// event with another type is refused with
    /// [`Error::InvalidArgument`]).
    pub fn with_type(mut self, event_type: impl Into<Vec<u8>>) -> Self {
        self.event_type = event_type.into();
        self
    }

    /// The event with this metadata.
    pub fn with_metadata(mut self, metadata: impl Into<Vec<u8>>) -> Self {
        self.metadata = metadata.into();
        self
    }
}

/// The events one append adds to one stream, under the stream's own
/// expected version: a part of [`Store::append_multi`](crate::Store::append_multi).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamAppend {
    /// The stream to append to.
    pub stream: Vec<u8>,
    /// The condition on the stream's version before the append.
    pub expected: ExpectedVersion,
    /// The events, in order.
    pub events: Vec<NewEvent>,
}

impl StreamAppend {
    /// `events` for `stream`, if the stream is at the `expected` version
    /// (the arguments in the order of [`Store::append`](crate::Store::append)).
    pub fn new(
        stream: impl Into<Vec<u8>>,
        events: Vec<NewEvent>,
        expected: ExpectedVersion,
    ) -> Self {
        StreamAppend {
            stream: stream.into(),
            expected,
            events,
        }
    }
}

/// The optimistic-concurrency condition of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ExpectedVersion {
    /// Append whatever the state of the stream.
    #[default]
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must exist (hold at least one event).
    StreamExists,
    /// The last event of the stream must have exactly this version.
    Exact(u64),
}

impl ExpectedVersion {
    /// Whether a stream whose last version is `actual` (`None`: no stream)
    /// satisfies the condition.
    pub fn allows(self, actual: Option<u64>) -> bool {
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => actual.is_none(),
            ExpectedVersion::StreamExists => actual.is_some(),
            ExpectedVersion::Exact(v) => actual == Some(v),
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::Any => write!(f, "any version"),
            ExpectedVersion::NoStream => write!(f, "no stream"),
            ExpectedVersion::StreamExists => write!(f, "an existing stream"),
            ExpectedVersion::Exact(v) => write!(f, "version {v}"),
        }
    }
}

/// Where one appended event landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The id of the event (the one given, or the one generated).
    pub id: Vec<u8>,
    /// The stream it was appended to.
    pub stream: Vec<u8>,
    /// Its version in its stream.
    pub version: u64,
    /// Its position in the store-wide log.
    pub position: u64,
}

/// The last event of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamHead {
    /// The version of the last event (the stream holds `version + 1` events).
    pub version: u64,
    /// The position of the last event.
    pub position: u64,
    /// The id of the last event.
    pub id: Vec<u8>,
}

/// Checks that a stream name has 1 to 255 bytes.
pub fn check_stream_name(stream: &[u8]) -> Result<()> {
    if stream.is_empty() || stream.len() > MAX_NAME_LEN {
        return Err(Error::InvalidArgument(format!(
            "a stream name must have 1 to {MAX_NAME_LEN} bytes, not {}",
            stream.len()
        )));
    }
    Ok(())
}

/// Checks that an event id has 1 to 255 bytes.
pub fn check_event_id(id: &[u8]) -> Result<()> {
    if id.is_empty() || id.len() > MAX_NAME_LEN {
        return Err(Error::InvalidArgument(format!(
            "an event id must have 1 to {MAX_NAME_LEN} bytes, not {}",
            id.len()
        )));
    }
    Ok(())
}

/// Checks that an event type is UTF-8 text of at most 255 bytes.
pub fn check_event_type(event_type: &[u8]) -> Result<()> {
    if event_type.len() > MAX_TYPE_LEN {
        return Err(Error::InvalidArgument(format!(
            "an event type must have at most {MAX_TYPE_LEN} bytes, not {}",
            event_type.len()
        )));
    }
    if std::str::from_utf8(event_type).is_err() {
        return Err(Error::InvalidArgument(format!(
            "an event type must be UTF-8 text, not {}",
            crate::Printable(event_type)
        )));
    }
    Ok(())
}

/// A new UUIDv7 in its canonical 36-character lowercase form.
pub fn new_event_id() -> Vec<u8> {
    uuid::Uuid::now_v7()
        .hyphenated()
        .encode_lower(&mut uuid::Uuid::encode_buffer())
        .as_bytes()
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_version_rules() {
        use ExpectedVersion::*;
        assert!(Any.allows(None) && Any.allows(Some(3)));
        assert!(NoStream.allows(None) && !NoStream.allows(Some(0)));
        assert!(!StreamExists.allows(None) && StreamExists.allows(Some(0)));
        assert!(Exact(2).allows(Some(2)) && !Exact(2).allows(Some(1)) && !Exact(0).allows(None));
    }

    #[test]
    fn generated_ids_are_canonical_uuids() {
        let id = new_event_id();
        assert_eq!(id.len(), 36);
        let s = std::str::from_utf8(&id).unwrap();
        assert_eq!(s, s.to_lowercase());
        assert_eq!(uuid::Uuid::parse_str(s).unwrap().get_version_num(), 7);
        assert_ne!(new_event_id(), id);
    }

    #[test]
    fn name_lengths_are_checked() {
        assert!(check_stream_name(b"").is_err());
        assert!(check_stream_name(&[b'a'; 255]).is_ok());
        assert!(check_stream_name(&[b'a'; 256]).is_err());
        assert!(check_event_id(b"").is_err());
        assert!(check_event_id(&[0u8; 255]).is_ok());
    }

    #[test]
    fn event_types_are_short_utf8_text() {
        assert!(check_event_type(b"").is_ok());
        assert!(check_event_type("Commande pass\u{e9}e".as_bytes()).is_ok());
        assert!(check_event_type(&[b't'; 255]).is_ok());
        // 254 bytes of 'e' and a two-byte character: 256 bytes
        let long = format!("{}\u{e9}", "e".repeat(254));
        assert!(matches!(
            check_event_type(long.as_bytes()),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            check_event_type(&[b't'; 256]),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            check_event_type(b"bad\xff"),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            check_event_type(&[0xC3]),
            Err(Error::InvalidArgument(_))
        ));
    }

    #[test]
    fn new_events_are_built_step_by_step() {
        let e = NewEvent::with_id("e-1", "data")
            .with_type("Placed")
            .with_metadata(vec![0u8, 1]);
        assert_eq!(
            e,
            NewEvent {
                id: Some(b"e-1".to_vec()),
                event_type: b"Placed".to_vec(),
                metadata: vec![0, 1],
                data: b"data".to_vec(),
            }
        );
        let plain = NewEvent::new("d");
        assert!(plain.id.is_none() && plain.event_type.is_empty() && plain.metadata.is_empty());
    }
}
