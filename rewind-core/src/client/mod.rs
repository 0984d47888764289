//! The Rust client of a Rewind server: [`Client`], which speaks the native
//! protocol (`docs/native-protocol.md`) and has the methods of the embedded
//! [`Store`](crate::Store), with the same arguments, results and errors.
//! Code written against [`EventStore`](crate::EventStore) moves between an
//! embedded store and a server by changing its constructor only.
//!
//! | module | owns |
//! |---|---|
//! | `options` | [`ClientOptions`]: timeouts, retries, the credit window, CURVE keys |
//! | `connection` | one DEALER socket and its monitor |
//! | `io` | the socket work, done by the callers' threads (one leads: it polls and routes replies by request id) and by a background thread when none leads: reconnects, resends, subscriptions |
//! | `table` | the request table: ids, deadlines, resends (no sockets) |
//! | `reads` | the rest of a read cut off by a reconnect (no sockets) |
//! | `credit` | a subscription's credit window (no sockets) |
//! | `tracker` | a subscription's state in the connection: resume position, liveness (no sockets) |
//! | `subscription` | [`RemoteSubscription`] and [`RemoteStopHandle`] |
//!
//! ```no_run
//! use rewind_core::client::Client;
//! use rewind_core::{ExpectedVersion, NewEvent};
//!
//! let client = Client::connect("tcp://127.0.0.1:9004").unwrap();
//! let appended = client
//!     .append(b"orders", vec![NewEvent::new("created")], ExpectedVersion::Any)
//!     .unwrap(); // durable on the server when this returns
//! let events = client.read_stream_vec(b"orders", 0, 10).unwrap();
//! assert_eq!(events[0].id, appended[0].id);
//! ```

mod connection;
mod credit;
mod io;
mod options;
mod reads;
mod subscription;
mod table;
mod tracker;

pub use options::{ClientOptions, CurveKeys};
pub use subscription::{RemoteStopHandle, RemoteSubscription};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::model::{check_event_id, new_event_id};
use crate::protocol::native::{encode_request, Direction, Reply, Request, FROM_LAST};
use crate::{
    Appended, Error, Event, EventRef, ExpectedVersion, LogFilter, NewEvent, Result, StreamAppend,
    StreamHead,
};
use io::{Command, Io, Shared};

pub use crate::event_store::{StoreInfo, StreamListing};

/// What every handle of one client shares.
pub(crate) struct Inner {
    tx: Sender<Command>,
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    options: ClientOptions,
    next_key: AtomicU64,
}

impl Inner {
    /// Hands a command to the background thread and wakes it.
    pub(crate) fn command(&self, cmd: Command) -> Result<()> {
        self.tx.send(cmd).map_err(|_| Error::Closed)?;
        self.shared.wake_background();
        Ok(())
    }

    fn close(&self) {
        let _ = self.tx.send(Command::Close);
        self.shared.wake_background();
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.close();
    }
}

/// A connection to a Rewind server, with the methods of
/// [`Store`](crate::Store).
///
/// A `Client` is a cheap handle: clones share one connection, and any
/// number of threads may call it at once; their requests are in flight
/// together (their appends share the server's group commit). A caller's
/// thread sends its request and, while no other waits on the socket,
/// receives the replies itself; one background thread keeps the
/// subscriptions and whatever is in flight when no caller waits. The connection is made lazily:
/// [`connect`](Client::connect) only checks the endpoint, and a server
/// that is not there yet is found when it comes.
///
/// Every request waits up to the request timeout for its reply, then the
/// client reconnects and sends it again (appends are safe to resend: the
/// client gives every event without an id a UUIDv7 first, so the server
/// recognises a retry and returns the original positions); after the
/// retries of [`ClientOptions`] it fails with [`Error::Network`]. Errors the
/// server reports are the embedded store's: [`Error::WrongExpectedVersion`]
/// with the stream and its version, [`Error::DuplicateId`],
/// [`Error::InvalidArgument`], [`Error::StorageFull`], [`Error::ReadOnly`];
/// a client that is closed, or a server that is stopping for good, gives
/// [`Error::Closed`].
///
/// The client closes when the last handle (and the last subscription) is
/// dropped, or at [`close`](Client::close).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("options", &self.inner.options)
            .finish()
    }
}

impl Client {
    /// A client of the server at `endpoint` (`tcp://host:port`), with the
    /// default options.
    ///
    /// Errors: [`Error::InvalidArgument`] for an endpoint ZeroMQ cannot
    /// connect to, [`Error::Network`] when the messaging layer fails.
    pub fn connect(endpoint: &str) -> Result<Client> {
        Client::connect_with(endpoint, ClientOptions::default())
    }

    /// A client of the server at `endpoint`, with `options`.
    ///
    /// Errors: as [`connect`](Client::connect), and [`Error::Config`] for
    /// options out of their domain, or CURVE keys that are not Z85 keys or
    /// that this build of ZeroMQ cannot use.
    pub fn connect_with(endpoint: &str, options: ClientOptions) -> Result<Client> {
        let curve = options.check()?;
        let (background, tx, shared) = Io::open(endpoint, options.clone(), curve)?;
        let thread = std::thread::Builder::new()
            .name("rewind-client".into())
            .spawn(move || background.run())
            .map_err(|e| Error::Internal(format!("cannot start the client's thread: {e}")))?;
        Ok(Client {
            inner: Arc::new(Inner {
                tx,
                shared,
                thread: Mutex::new(Some(thread)),
                options,
                next_key: AtomicU64::new(1),
            }),
        })
    }

    /// The options the client was made with.
    pub fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    /// Stops the client's thread: requests in flight and later ones fail
    /// with [`Error::Closed`], subscriptions end with it. Closing twice is
    /// harmless.
    pub fn close(&self) {
        self.inner.close();
    }

    /// Sends a request; its replies come through the returned handle.
    fn call(&self, request: Request) -> Result<Replies<'_>> {
        let frames = encode_request(0, &request)?;
        let (id, rx) = self.inner.shared.request(request, frames)?;
        Ok(Replies {
            shared: &self.inner.shared,
            id,
            rx,
        })
    }

    /// Sends a request with one reply, and waits for it.
    fn call_one(&self, request: Request) -> Result<Reply> {
        let kind = request.kind();
        match self.call(request)?.recv() {
            Ok(Ok(Reply::Error(e))) => Err(e.into_error(None)),
            Ok(r) => r,
            Err(_) => Err(Error::Closed),
        }
        .map_err(|e| {
            log::trace!("{kind} failed: {e}");
            e
        })
    }

    /// Sends a read and hands its events to `visit` as they come.
    fn read(&self, request: Request, mut visit: impl FnMut(EventRef<'_>) -> bool) -> Result<()> {
        let rx = self.call(request)?;
        loop {
            match rx.recv() {
                Ok(Ok(Reply::Events(batch))) => {
                    for e in &batch {
                        if !visit(e.as_ref()) {
                            return Ok(());
                        }
                    }
                }
                Ok(Ok(Reply::End { .. })) => return Ok(()),
                Ok(Ok(other)) => return Err(unexpected(&other, "EVENTS or END")),
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(Error::Closed),
            }
        }
    }

    /// Sends a read and collects its events.
    fn read_vec(&self, request: Request) -> Result<Vec<Event>> {
        let rx = self.call(request)?;
        let mut out = Vec::new();
        loop {
            match rx.recv() {
                Ok(Ok(Reply::Events(batch))) => out.extend(batch),
                Ok(Ok(Reply::End { .. })) => return Ok(out),
                Ok(Ok(other)) => return Err(unexpected(&other, "EVENTS or END")),
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(Error::Closed),
            }
        }
    }

    /// Appends `events` to `stream` atomically, if the stream is at the
    /// `expected` version, and blocks until the server has made the append
    /// durable. As [`Store::append`](crate::Store::append).
    pub fn append(
        &self,
        stream: &[u8],
        events: Vec<NewEvent>,
        expected: ExpectedVersion,
    ) -> Result<Vec<Appended>> {
        self.append_multi(vec![StreamAppend::new(stream, events, expected)])
    }

    /// Appends events to several streams in one atomic step, each under its
    /// own expected version. As
    /// [`Store::append_multi`](crate::Store::append_multi), retries
    /// included: an event without an id gets a UUIDv7 here, before the
    /// append is sent, so a resend is recognised as a retry. A given id
    /// that is empty or too long is [`Error::InvalidArgument`], as for the
    /// store (the protocol reads an empty id as "assign one").
    pub fn append_multi(&self, mut parts: Vec<StreamAppend>) -> Result<Vec<Appended>> {
        for e in parts.iter_mut().flat_map(|p| p.events.iter_mut()) {
            match &e.id {
                // An empty id would reach the server as "assign one": the
                // embedded store refuses it, and so does the client.
                Some(id) => check_event_id(id)?,
                None => e.id = Some(new_event_id()),
            }
        }
        let streams: Vec<(Vec<u8>, usize)> = parts
            .iter()
            .map(|p| (p.stream.clone(), p.events.len()))
            .collect();
        let rx = self.call(Request::Append(parts))?;
        let appended = match rx.recv() {
            Ok(Ok(Reply::Appended(a))) => a,
            Ok(Ok(other)) => return Err(unexpected(&other, "APPENDED")),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(Error::Closed),
        };
        let want: usize = streams.iter().map(|(_, n)| n).sum();
        if appended.len() != want {
            return Err(Error::Internal(format!(
                "the server acknowledged {} events of an append of {want}",
                appended.len()
            )));
        }
        let mut events = appended.into_iter();
        let mut out = Vec::with_capacity(want);
        for (stream, n) in streams {
            out.extend(events.by_ref().take(n).map(|a| Appended {
                id: a.id,
                stream: stream.clone(),
                version: a.version,
                position: a.position,
            }));
        }
        Ok(out)
    }

    /// Visits up to `limit` events of `stream` from version `from_version`
    /// on. `visit` returns `false` to stop early.
    pub fn read_stream(
        &self,
        stream: &[u8],
        from_version: u64,
        limit: usize,
        visit: impl FnMut(EventRef<'_>) -> bool,
    ) -> Result<()> {
        if limit == 0 {
            return Ok(());
        }
        self.read(
            stream_read(stream, Direction::Forward, from_version, limit),
            visit,
        )
    }

    /// Up to `limit` events of `stream` from version `from_version` on.
    pub fn read_stream_vec(
        &self,
        stream: &[u8],
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<Event>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.read_vec(stream_read(stream, Direction::Forward, from_version, limit))
    }

    /// Visits up to `limit` events of `stream` backwards from version
    /// `from_version` (inclusive; `None`, or a version past the end: from
    /// the last event) down to version 0.
    pub fn read_stream_backward(
        &self,
        stream: &[u8],
        from_version: Option<u64>,
        limit: usize,
        visit: impl FnMut(EventRef<'_>) -> bool,
    ) -> Result<()> {
        if limit == 0 {
            return Ok(());
        }
        let from = from_version.unwrap_or(FROM_LAST);
        self.read(stream_read(stream, Direction::Backward, from, limit), visit)
    }

    /// Up to `limit` events of `stream` backwards from version
    /// `from_version` (inclusive; `None`: from the last event).
    pub fn read_stream_backward_vec(
        &self,
        stream: &[u8],
        from_version: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Event>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let from = from_version.unwrap_or(FROM_LAST);
        self.read_vec(stream_read(stream, Direction::Backward, from, limit))
    }

    /// Visits up to `limit` events of the whole log from `from_position` on.
    pub fn read_log(
        &self,
        from_position: u64,
        limit: usize,
        visit: impl FnMut(EventRef<'_>) -> bool,
    ) -> Result<()> {
        if limit == 0 {
            return Ok(());
        }
        let all = LogFilter::all();
        self.read(
            log_read(Direction::Forward, from_position, limit, &all),
            visit,
        )
    }

    /// Up to `limit` events of the whole log from `from_position` on.
    pub fn read_log_vec(&self, from_position: u64, limit: usize) -> Result<Vec<Event>> {
        self.read_log_filtered_vec(from_position, limit, &LogFilter::all())
    }

    /// Visits up to `limit` events of the log backwards from position
    /// `from_position` (inclusive; `None`, or a position past the end: from
    /// the last event) down to position 0.
    pub fn read_log_backward(
        &self,
        from_position: Option<u64>,
        limit: usize,
        visit: impl FnMut(EventRef<'_>) -> bool,
    ) -> Result<()> {
        if limit == 0 {
            return Ok(());
        }
        let from = from_position.unwrap_or(FROM_LAST);
        let all = LogFilter::all();
        self.read(log_read(Direction::Backward, from, limit, &all), visit)
    }

    /// Up to `limit` events of the log backwards from position
    /// `from_position` (inclusive; `None`: from the last event).
    pub fn read_log_backward_vec(
        &self,
        from_position: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Event>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let from = from_position.unwrap_or(FROM_LAST);
        self.read_vec(log_read(
            Direction::Backward,
            from,
            limit,
            &LogFilter::all(),
        ))
    }

    /// Up to `limit` events of the log from `from_position` on that
    /// `filter` passes; the server skips the others.
    pub fn read_log_filtered_vec(
        &self,
        from_position: u64,
        limit: usize,
        filter: &LogFilter,
    ) -> Result<Vec<Event>> {
        if limit == 0 || passes_nothing(filter) {
            return Ok(Vec::new());
        }
        self.read_vec(log_read(Direction::Forward, from_position, limit, filter))
    }

    /// The event with this id, if any.
    pub fn get(&self, id: &[u8]) -> Result<Option<Event>> {
        match self.call_one(Request::Get { id: id.to_vec() })? {
            Reply::Event(e) => Ok(Some(e)),
            Reply::None => Ok(None),
            other => Err(unexpected(&other, "EVENT or NONE")),
        }
    }

    /// Whether an event with this id is stored.
    pub fn contains(&self, id: &[u8]) -> Result<bool> {
        Ok(self.get(id)?.is_some())
    }

    /// The last event of `stream`; `None` when the stream does not exist.
    pub fn stream_head(&self, stream: &[u8]) -> Result<Option<StreamHead>> {
        match self.call_one(Request::Head {
            stream: stream.to_vec(),
        })? {
            Reply::Head(h) => Ok(Some(h)),
            Reply::None => Ok(None),
            other => Err(unexpected(&other, "HEAD or NONE")),
        }
    }

    /// The position the next event will get: the number of events stored.
    pub fn next_position(&self) -> Result<u64> {
        Ok(self.info()?.next_position)
    }

    /// What the server says of itself: its version, the next position, the
    /// largest message it accepts, its heartbeat interval.
    pub fn info(&self) -> Result<StoreInfo> {
        match self.call_one(Request::Info)? {
            Reply::Info(i) => Ok(StoreInfo {
                version: i.version,
                next_position: i.next_position,
                protocol_versions: i
                    .protocol_versions
                    .split(',')
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty())
                    .collect(),
                max_message_size: Some(i.max_message_size),
                heartbeat: Some(Duration::from_millis(i.heartbeat_interval_ms)),
            }),
            other => Err(unexpected(&other, "INFO")),
        }
    }

    /// Up to `limit` streams whose names sort after `after` (byte-wise; empty
    /// to start), in name order, with their heads. Fewer than `limit` means
    /// the listing is complete; otherwise ask again with the last name.
    /// `limit` is 1 to 1,000 ([`Error::InvalidArgument`] otherwise).
    pub fn list_streams(&self, after: &[u8], limit: usize) -> Result<Vec<StreamListing>> {
        match self.call_one(Request::Streams {
            after: after.to_vec(),
            limit: limit as u64,
        })? {
            Reply::Streams(page) => Ok(page
                .into_iter()
                .map(|s| StreamListing {
                    name: s.name,
                    version: s.version,
                    position: s.position,
                })
                .collect()),
            other => Err(unexpected(&other, "STREAMS")),
        }
    }

    /// Subscribes to the log from `from_position` (`None`: from the end of
    /// the log when the server receives it), passing the events `filter`
    /// passes: first the history, then
    /// [`SubscriptionItem::CaughtUp`](crate::SubscriptionItem::CaughtUp)
    /// once, then each event as it commits. Returns once the server has
    /// accepted the subscription. See [`RemoteSubscription`].
    ///
    /// Errors: [`Error::InvalidArgument`] for a position past the end of
    /// the log; [`Error::Network`] when the server does not answer.
    pub fn subscribe(
        &self,
        from_position: Option<u64>,
        filter: LogFilter,
    ) -> Result<RemoteSubscription> {
        let key = self.inner.next_key.fetch_add(1, Ordering::Relaxed);
        let (sink, rx) = mpsc::channel();
        let (ack, acked) = mpsc::sync_channel(1);
        self.inner.command(Command::Subscribe {
            key,
            from: from_position,
            filter,
            sink: sink.clone(),
            ack,
        })?;
        let start = acked.recv().unwrap_or(Err(Error::Closed))?;
        Ok(RemoteSubscription::new(
            self.clone(),
            key,
            rx,
            sink,
            start,
            self.inner.options.credit_window,
        ))
    }
}

/// The replies of one request, as they come.
struct Replies<'a> {
    shared: &'a Shared,
    /// The request's first id.
    id: u64,
    rx: mpsc::Receiver<Result<Reply>>,
}

impl Replies<'_> {
    /// The next reply; `Err` when the client closed before it came.
    fn recv(&self) -> std::result::Result<Result<Reply>, mpsc::RecvError> {
        self.shared.next(self.id, &self.rx).ok_or(mpsc::RecvError)
    }
}

impl Drop for Replies<'_> {
    /// A caller that stops before the last reply (a read stopped early)
    /// leaves its request: what still comes for it is dropped.
    fn drop(&mut self) {
        self.shared.abandon(self.id);
    }
}

/// A `READ_STREAM` of up to `limit` events.
fn stream_read(stream: &[u8], direction: Direction, from: u64, limit: usize) -> Request {
    Request::ReadStream {
        stream: stream.to_vec(),
        direction,
        from,
        limit: limit as u64,
    }
}

/// A `READ_LOG` of up to `limit` events passing `filter`.
fn log_read(direction: Direction, from: u64, limit: usize, filter: &LogFilter) -> Request {
    Request::ReadLog {
        direction,
        from,
        limit: limit as u64,
        filter: filter.clone(),
    }
}

/// Whether `filter` has an empty set of types (it passes nothing, and has
/// no encoding on the wire).
fn passes_nothing(filter: &LogFilter) -> bool {
    filter.event_types.as_ref().is_some_and(Vec::is_empty)
}

/// `filter` as it can travel: a set of no types goes as no set (the
/// subscription applies the filter itself).
pub(crate) fn wire_filter(filter: &LogFilter) -> LogFilter {
    let mut f = filter.clone();
    if passes_nothing(&f) {
        f.event_types = None;
    }
    f
}

fn unexpected(reply: &Reply, wanted: &str) -> Error {
    Error::Internal(format!(
        "the server answered {} where {wanted} was due",
        reply.kind()
    ))
}

#[cfg(test)]
mod tests;
