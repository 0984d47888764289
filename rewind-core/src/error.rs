//! The one error type of the crate, and the categories callers handle
//! errors by. Every variant holds Rewind's own data (or `std::io::Error`):
//! third-party errors (LMDB, ZeroMQ, PostgreSQL) are converted at the boundary into a
//! variant with a message.

use std::fmt;

/// The result type of every fallible Rewind operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in Rewind.
///
/// Variants a caller can act on (a version conflict, a duplicate id, a full
/// store) are distinct; the rest carry a message.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The expected version of an append did not match the stream.
    WrongExpectedVersion {
        /// The stream that was appended to.
        stream: Vec<u8>,
        /// What the caller expected.
        expected: crate::ExpectedVersion,
        /// The version of the last event in the stream, `None` when the stream
        /// does not exist.
        actual: Option<u64>,
    },
    /// An event with this id is already stored.
    DuplicateId(Vec<u8>),
    /// No event has this id.
    UnknownId(Vec<u8>),
    /// The id exists, but its event belongs to another stream.
    IdNotInStream {
        /// The id that was looked up.
        id: Vec<u8>,
        /// The stream the caller asked about.
        stream: Vec<u8>,
    },
    /// In a range query, the `from` event comes after the `to` event.
    RangeOrder,
    /// An argument is out of its domain (an id or stream name of the wrong
    /// length, an empty append, an oversized event).
    InvalidArgument(String),
    /// The store is full: its configured size limit is reached, or the disk
    /// is. Nothing was written; reads keep working.
    StorageFull(String),
    /// The store was opened read-only.
    ReadOnly,
    /// The store has been closed.
    Closed,
    /// The files of the store are not a Rewind store, or are damaged.
    Corrupt(String),
    /// An operating-system error.
    Io(std::io::Error),
    /// The storage engine failed in a way none of the variants above
    /// covers (an unexpected LMDB return code, say); the message says how.
    Storage(String),
    /// An error reported by a backend implemented outside this crate (for
    /// example a Python event store).
    Backend(String),
    /// A configuration error, detected before any file is created.
    Config(String),
    /// A server endpoint could not be bound (taken, malformed, or not
    /// allowed).
    Bind {
        /// The endpoint, as given.
        endpoint: String,
        /// Why it could not be bound.
        reason: String,
    },
    /// The messaging layer failed (creating a ZeroMQ context or socket,
    /// setting an option), or a client's server could not be reached (no
    /// reply after its retries, a refused CURVE handshake).
    Network(String),
    /// A bug in Rewind: an internal thread panicked or an invariant broke.
    Internal(String),
}

/// The broad family of an [`Error`], for callers that handle failures by
/// kind rather than one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCategory {
    /// The request was refused and nothing changed; the caller can act on
    /// it (a version conflict, a duplicate or unknown id, a bad argument, a
    /// closed or read-only store).
    Request,
    /// The store could not do what was asked: full, damaged, or failing.
    Storage,
    /// The configuration is wrong; detected before anything starts.
    Config,
    /// The server could not start or run: an endpoint, the network layer.
    Server,
    /// A bug in Rewind.
    Internal,
}

impl Error {
    /// The family this error belongs to.
    pub fn category(&self) -> ErrorCategory {
        match self {
            Error::WrongExpectedVersion { .. }
            | Error::DuplicateId(_)
            | Error::UnknownId(_)
            | Error::IdNotInStream { .. }
            | Error::RangeOrder
            | Error::InvalidArgument(_)
            | Error::ReadOnly
            | Error::Closed => ErrorCategory::Request,
            Error::StorageFull(_)
            | Error::Corrupt(_)
            | Error::Io(_)
            | Error::Storage(_)
            | Error::Backend(_) => ErrorCategory::Storage,
            Error::Config(_) => ErrorCategory::Config,
            Error::Bind { .. } | Error::Network(_) => ErrorCategory::Server,
            Error::Internal(_) => ErrorCategory::Internal,
        }
    }

    /// A copy of the error, for each caller that shares a failed commit.
    pub(crate) fn replicate(&self) -> Error {
        match self {
            Error::WrongExpectedVersion {
                stream,
                expected,
                actual,
            } => Error::WrongExpectedVersion {
                stream: stream.clone(),
                expected: *expected,
                actual: *actual,
            },
            Error::DuplicateId(id) => Error::DuplicateId(id.clone()),
            Error::UnknownId(id) => Error::UnknownId(id.clone()),
            Error::IdNotInStream { id, stream } => Error::IdNotInStream {
                id: id.clone(),
                stream: stream.clone(),
            },
            Error::RangeOrder => Error::RangeOrder,
            Error::InvalidArgument(m) => Error::InvalidArgument(m.clone()),
            Error::StorageFull(m) => Error::StorageFull(m.clone()),
            Error::ReadOnly => Error::ReadOnly,
            Error::Closed => Error::Closed,
            Error::Corrupt(m) => Error::Corrupt(m.clone()),
            Error::Io(e) => Error::Io(std::io::Error::new(e.kind(), e.to_string())),
            Error::Storage(m) => Error::Storage(m.clone()),
            Error::Backend(m) => Error::Backend(m.clone()),
            Error::Config(m) => Error::Config(m.clone()),
            Error::Bind { endpoint, reason } => Error::Bind {
                endpoint: endpoint.clone(),
                reason: reason.clone(),
            },
            Error::Network(m) => Error::Network(m.clone()),
            Error::Internal(m) => Error::Internal(m.clone()),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::WrongExpectedVersion {
                stream,
                expected,
                actual,
            } => {
                write!(
                    f,
                    "wrong expected version for stream {}: expected {}, ",
                    Printable(stream),
                    expected
                )?;
                match actual {
                    Some(v) => write!(f, "stream is at version {v}"),
                    None => write!(f, "stream does not exist"),
                }
            }
            Error::DuplicateId(id) => write!(f, "event id already exists: {}", Printable(id)),
            Error::UnknownId(id) => write!(f, "unknown event id: {}", Printable(id)),
            Error::IdNotInStream { id, stream } => write!(
                f,
                "event id {} is not in stream {}",
                Printable(id),
                Printable(stream)
            ),
            Error::RangeOrder => write!(f, "the 'from' event comes after the 'to' event"),
            Error::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            Error::StorageFull(m) => write!(f, "storage full: {m}"),
            Error::ReadOnly => write!(f, "the store is open read-only"),
            Error::Closed => write!(f, "the store is closed"),
            Error::Corrupt(m) => write!(f, "corrupt store: {m}"),
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Storage(m) => write!(f, "storage error: {m}"),
            Error::Backend(m) => write!(f, "{m}"),
            Error::Config(m) => write!(f, "configuration error: {m}"),
            Error::Bind { endpoint, reason } => {
                write!(f, "cannot bind endpoint {endpoint}: {reason}")
            }
            Error::Network(m) => write!(f, "network error: {m}"),
            Error::Internal(m) => write!(f, "internal error (a bug in Rewind): {m}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        if e.raw_os_error() == Some(libc::ENOSPC) {
            return Error::StorageFull(e.to_string());
        }
        Error::Io(e)
    }
}

impl From<lmdb::Error> for Error {
    fn from(e: lmdb::Error) -> Self {
        match e {
            lmdb::Error::MapFull => Error::StorageFull("the store reached its size limit".into()),
            lmdb::Error::Other(code) if code == libc::ENOSPC => {
                Error::StorageFull("no space left on device".into())
            }
            lmdb::Error::Other(code) if code == libc::EDQUOT => {
                Error::StorageFull("disk quota exceeded".into())
            }
            lmdb::Error::Invalid | lmdb::Error::Corrupted | lmdb::Error::PageNotFound => {
                Error::Corrupt(e.to_string())
            }
            lmdb::Error::VersionMismatch => Error::Corrupt(e.to_string()),
            other => Error::Storage(format!("LMDB: {other}")),
        }
    }
}

/// A database's error with its SQLSTATE; any other (connecting, I/O) with
/// the chain of its causes.
#[cfg(feature = "postgres")]
impl From<::postgres::Error> for Error {
    fn from(e: ::postgres::Error) -> Self {
        if let Some(db) = e.as_db_error() {
            return Error::Storage(format!(
                "PostgreSQL: {} (SQLSTATE {})",
                db.message(),
                db.code().code()
            ));
        }
        let mut msg = format!("PostgreSQL: {e}");
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            source = s.source();
        }
        Error::Storage(msg)
    }
}

impl From<zmq::Error> for Error {
    fn from(e: zmq::Error) -> Self {
        Error::Network(e.to_string())
    }
}

/// Shows a byte string as text when it is printable ASCII, and escaped
/// otherwise, so that error messages stay one readable line.
pub struct Printable<'a>(pub &'a [u8]);

impl fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                if c.is_control() {
                    write!(f, "{}", c.escape_default())?;
                } else {
                    write!(f, "{c}")?;
                }
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}
