//! The store: a backend behind a group-commit writer.
//!
//! Every append goes through one writer thread. The writer takes every
//! append that is waiting, commits them in one durable transaction, then
//! tells each caller how its own append fared. Appends that arrive while a
//! commit is in flight wait for the next one, so many writers share the cost
//! of each disk sync.
//!
//! Commit listeners hear of every committed batch in commit order. For a
//! log only this store writes (LMDB, memory), the writer tells them after
//! the commit and before it acknowledges the appenders. For a log that
//! other servers append to as well (PostgreSQL), the backend's follower
//! tells them of every server's commits, read back from the log, and the
//! writer tells them nothing (so each commit is told once).

use std::cell::RefCell;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use crate::backend::{
    check_append, Announce, AppendOutcome, AppendRequest, Backend, Follower, PreparedEvent,
    StreamRequest,
};
use crate::lmdb::{LmdbBackend, LmdbOptions};
use crate::memory::MemoryBackend;
use crate::metrics::{Metrics, StorageUse};
use crate::model::new_event_id;
use crate::postgres::PostgresOptions;
use crate::{
    Appended, Error, Event, EventRef, ExpectedVersion, NewEvent, Result, StreamAppend, StreamHead,
};
use crate::{LogFilter, Subscription};

/// The most appends committed in one transaction.
const MAX_BATCH_APPENDS: usize = 8192;
/// The most event bytes (ids, types, metadata and data) committed in one
/// transaction (more appends wait).
const MAX_BATCH_BYTES: usize = 64 << 20;

/// What the writer calls once an append is durable (or has failed).
pub type Completion = Box<dyn FnOnce(Result<Vec<Appended>>) + Send + 'static>;

/// The events one committed append added to one stream, as listeners see
/// them. An append to several streams is one `CommittedAppend` per stream,
/// next to each other in the batch, in the order of the request (which is
/// the order of their positions). Read back from a shared log (a
/// PostgreSQL store's follower), it is a run of consecutive events of one
/// stream, which may hold more than one append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedAppend {
    /// The stream appended to.
    pub stream: Vec<u8>,
    /// The id of the event before this append in the stream.
    pub prev_id: Option<Vec<u8>>,
    /// The version of the first event.
    pub first_version: u64,
    /// The position of the first event.
    pub first_position: u64,
    /// The events, in order.
    pub events: Vec<PreparedEvent>,
}

impl CommittedAppend {
    /// Each event with the id of the event before it in its stream.
    pub fn iter(&self) -> impl Iterator<Item = (EventRef<'_>, Option<&[u8]>)> {
        self.events.iter().enumerate().map(move |(i, e)| {
            let prev = if i == 0 {
                self.prev_id.as_deref()
            } else {
                Some(self.events[i - 1].id.as_slice())
            };
            let ev = EventRef {
                id: &e.id,
                event_type: &e.event_type,
                metadata: &e.metadata,
                data: &e.data,
                stream: &self.stream,
                version: self.first_version + i as u64,
                position: self.first_position + i as u64,
            };
            (ev, prev)
        })
    }
}

/// A function told of every committed batch, in commit order, after it is
/// durable: before the appenders are acknowledged when the store's writer
/// tells it (LMDB, memory); independently of the acknowledgement, possibly
/// after it, when the backend follows a shared log (PostgreSQL: every
/// server's commits, read back from the database).
pub type CommitListener = Box<dyn Fn(&Arc<Vec<CommittedAppend>>) + Send + Sync + 'static>;

/// Identifies a registered [`CommitListener`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerId(u64);

type Listeners = RwLock<Vec<(ListenerId, CommitListener)>>;

/// A completion that is called exactly once: if it is dropped uncalled (its
/// append never reached a commit), it reports [`Error::Closed`].
struct Pending(Option<Completion>);

impl Pending {
    fn complete(mut self, r: Result<Vec<Appended>>) {
        if let Some(f) = self.0.take() {
            f(r);
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f(Err(Error::Closed));
        }
    }
}

/// What runs once the listeners and callers of one commit have been told.
type Deferred = Vec<Box<dyn FnOnce()>>;

thread_local! {
    /// On the writer thread while it tells listeners and callers of one
    /// commit: what is to run once they all have been told.
    static AFTER_BATCH: RefCell<Option<Deferred>> = const { RefCell::new(None) };
}

/// Runs `f` at the end of the commit being handed out, if this is the
/// writer thread telling listeners and completions of one (so a wake-up
/// two of them would each send goes once, after both); otherwise gives
/// `f` back to be run now.
pub(crate) fn after_batch(f: Box<dyn FnOnce()>) -> std::result::Result<(), Box<dyn FnOnce()>> {
    AFTER_BATCH.with(|a| match a.borrow_mut().as_mut() {
        Some(queue) => {
            queue.push(f);
            Ok(())
        }
        None => Err(f),
    })
}

/// Tells the listeners and then the callers of one commit, and runs what
/// they left for the end ([`after_batch`]).
fn hand_out(tell: impl FnOnce()) {
    AFTER_BATCH.with(|a| *a.borrow_mut() = Some(Vec::new()));
    tell();
    let queued = AFTER_BATCH
        .with(|a| a.borrow_mut().take())
        .unwrap_or_default();
    for f in queued {
        f();
    }
}

enum Msg {
    Append(AppendRequest, Pending),
    Stop,
}

struct Inner {
    backend: Arc<dyn Backend>,
    metrics: Arc<Metrics>,
    tx: Sender<Msg>,
    writer: Mutex<Option<JoinHandle<()>>>,
    listeners: Arc<Listeners>,
    next_listener: AtomicU64,
    /// The backend's follower of a shared log, which feeds the listeners
    /// in place of the writer.
    follower: Mutex<Option<Box<dyn Follower>>>,
}

impl Inner {
    /// Stops the writer (after it commits what was submitted), then the
    /// follower (after it announces what is committed).
    fn stop_threads(&self) {
        let _ = self.tx.send(Msg::Stop);
        let writer = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(h) = writer {
            let _ = h.join();
        }
        let follower = self
            .follower
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(mut f) = follower {
            f.stop();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop_threads();
    }
}

/// An event store: streams of events, durable appends with optimistic
/// concurrency, and reads by version, position and id.
///
/// A `Store` is a cheap handle: clones share one store, and it may be used
/// from any number of threads at once. The store closes when the last handle
/// is dropped, or at [`close`](Store::close).
///
/// ```
/// use rewind_core::{ExpectedVersion, NewEvent, Store};
///
/// let store = Store::in_memory();
/// let appended = store
///     .append(b"orders", vec![NewEvent::new("created"), NewEvent::new("paid")], ExpectedVersion::NoStream)
///     .unwrap();
/// assert_eq!(appended[1].version, 1);
/// let events = store.read_stream_vec(b"orders", 0, 10).unwrap();
/// assert_eq!(events[0].data, b"created");
/// ```
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

/// Which backend to open, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOptions {
    /// Events live in memory and are lost with the process.
    InMemory,
    /// An LMDB directory.
    Lmdb(LmdbOptions),
    /// A PostgreSQL database (needs the cargo feature `postgres`, on by
    /// default).
    Postgres(PostgresOptions),
}

impl Store {
    /// Opens the store `options` describe.
    pub fn open(options: &StoreOptions) -> Result<Store> {
        match options {
            StoreOptions::InMemory => Ok(Store::in_memory()),
            StoreOptions::Lmdb(o) => Ok(Store::from_backend(Arc::new(LmdbBackend::open(o)?))),
            #[cfg(feature = "postgres")]
            StoreOptions::Postgres(o) => Ok(Store::from_backend(Arc::new(
                crate::postgres::PostgresBackend::open(o)?,
            ))),
            #[cfg(not(feature = "postgres"))]
            StoreOptions::Postgres(_) => Err(Error::Config(
                "this Rewind was built without the PostgreSQL backend (cargo feature `postgres`)"
                    .into(),
            )),
        }
    }

    /// Opens the PostgreSQL store in the database `dsn` names (libpq's
    /// key-value form or a URL), with defaults; creates Rewind's tables
    /// there when it has none.
    pub fn open_postgres(dsn: impl Into<String>) -> Result<Store> {
        Store::open(&StoreOptions::Postgres(PostgresOptions::new(dsn)))
    }

    /// Opens (or creates) an LMDB store in directory `path`, with defaults.
    pub fn open_lmdb(path: impl Into<std::path::PathBuf>) -> Result<Store> {
        Store::open(&StoreOptions::Lmdb(LmdbOptions::new(path)))
    }

    /// A new, empty, in-memory store.
    pub fn in_memory() -> Store {
        Store::from_backend(Arc::new(MemoryBackend::new()))
    }

    /// A store over any backend; starts the writer thread (and the
    /// backend's follower, when it follows a shared log).
    pub fn from_backend(backend: Arc<dyn Backend>) -> Store {
        let (tx, rx) = mpsc::channel();
        let listeners: Arc<Listeners> = Arc::default();
        let metrics: Arc<Metrics> = Arc::default();
        let follower = {
            let listeners = listeners.clone();
            let announce: Announce = Box::new(move |batch| tell(&listeners, &Arc::new(batch)));
            backend.follow(announce)
        };
        let writer = {
            let backend = backend.clone();
            // With a follower, the writer announces nothing itself.
            let listeners = follower.is_none().then(|| listeners.clone());
            let metrics = metrics.clone();
            std::thread::Builder::new()
                .name("rewind-writer".into())
                .spawn(move || writer_loop(&*backend, listeners.as_deref(), &metrics, rx))
                .expect("spawning the writer thread")
        };
        Store {
            inner: Arc::new(Inner {
                backend,
                metrics,
                tx,
                writer: Mutex::new(Some(writer)),
                listeners,
                next_listener: AtomicU64::new(0),
                follower: Mutex::new(follower),
            }),
        }
    }

    fn prepare(parts: Vec<StreamAppend>) -> Result<AppendRequest> {
        let parts = parts
            .into_iter()
            .map(|p| StreamRequest {
                stream: p.stream,
                expected: p.expected,
                events: p
                    .events
                    .into_iter()
                    .map(|e| PreparedEvent {
                        id: e.id.unwrap_or_else(new_event_id),
                        event_type: e.event_type,
                        metadata: e.metadata,
                        data: e.data,
                    })
                    .collect(),
            })
            .collect();
        let req = AppendRequest { parts };
        check_append(&req)?;
        Ok(req)
    }

    /// Appends `events` to `stream` atomically, if the stream is at the
    /// `expected` version. Returns without blocking; `done` is called on the
    /// writer thread once the append is durable (or has failed), exactly once.
    /// It must not block for long: it delays every other acknowledgement.
    ///
    /// The one-stream form of [`append_multi_async`](Store::append_multi_async).
    pub fn append_async(
        &self,
        stream: &[u8],
        events: Vec<NewEvent>,
        expected: ExpectedVersion,
        done: Completion,
    ) {
        self.append_multi_async(vec![StreamAppend::new(stream, events, expected)], done)
    }

    /// Appends events to several streams atomically (see
    /// [`append_multi`](Store::append_multi)). Returns without blocking;
    /// `done` is called on the writer thread once the append is durable (or
    /// has failed), exactly once. It must not block for long: it delays
    /// every other acknowledgement.
    pub fn append_multi_async(&self, parts: Vec<StreamAppend>, done: Completion) {
        let req = match Self::prepare(parts) {
            Ok(r) => r,
            Err(e) => {
                self.inner
                    .metrics
                    .append_errors
                    .fetch_add(1, Ordering::Relaxed);
                return done(Err(e));
            }
        };
        self.inner
            .metrics
            .appends_in_flight
            .fetch_add(1, Ordering::Relaxed);
        // A send to a stopped writer returns the message, whose Pending then
        // reports Closed as it drops.
        let _ = self.inner.tx.send(Msg::Append(req, Pending(Some(done))));
    }

    /// Appends `events` to `stream` atomically, if the stream is at the
    /// `expected` version, and blocks until the append is durable on disk.
    /// The one-stream form of [`append_multi`](Store::append_multi): the
    /// same rules, retries included.
    ///
    /// Errors: [`Error::WrongExpectedVersion`], [`Error::DuplicateId`],
    /// [`Error::InvalidArgument`], [`Error::StorageFull`], [`Error::Closed`],
    /// or an I/O error of the backend.
    pub fn append(
        &self,
        stream: &[u8],
        events: Vec<NewEvent>,
        expected: ExpectedVersion,
    ) -> Result<Vec<Appended>> {
        self.append_multi(vec![StreamAppend::new(stream, events, expected)])
    }

    /// Appends events to several streams in one atomic step, each stream
    /// under its own expected version, and blocks until the append is
    /// durable on disk. Either every part is stored, in one transaction, or
    /// none is. The append is one entry of the group commit, like any other.
    ///
    /// Returns where every event landed, in request order (part after part):
    /// its id, stream, version and position. The events of a new append
    /// take consecutive positions, part after part.
    ///
    /// - Each part names a different stream: a stream named twice is
    ///   [`Error::InvalidArgument`] naming the stream (one part per stream
    ///   keeps the meaning of each expected version plain). So is an append
    ///   with no parts, or a part with no events.
    /// - Ids are unique in the store. An append whose events are **all**
    ///   stored already (by id), identically (same stream, type, metadata
    ///   and data) and at versions consistent with the request (consecutive
    ///   in each stream in request order, the first one `n + 1` after
    ///   `Exact(n)`, 0 after `NoStream`, not 0 after `StreamExists`) is a
    ///   retry of an append that succeeded: it succeeds again, whatever the
    ///   streams' versions are now, writes nothing, tells no listener, and
    ///   returns the original versions and positions. Any other append with
    ///   a stored id (some ids stored and some not, or a stored event that
    ///   differs) or an id given twice is [`Error::DuplicateId`], whatever
    ///   its expected versions say, naming the first stored id (the first
    ///   one that differs, when all are stored).
    /// - Otherwise each part's expected version is checked against its
    ///   stream; a conflict on any refuses the whole append with
    ///   [`Error::WrongExpectedVersion`] naming that stream, its expected and
    ///   its actual version.
    /// - Event types are UTF-8 text of at most 255 bytes, ids and stream
    ///   names 1 to 255 bytes ([`Error::InvalidArgument`]).
    ///
    /// Errors: as [`append`](Store::append).
    ///
    /// ```
    /// use rewind_core::{ExpectedVersion, NewEvent, Store, StreamAppend};
    ///
    /// let store = Store::in_memory();
    /// let transfer = vec![
    ///     StreamAppend::new(
    ///         "account-1",
    ///         vec![NewEvent::with_id("t1-out", "-5").with_type("Debited")],
    ///         ExpectedVersion::Any,
    ///     ),
    ///     StreamAppend::new(
    ///         "account-2",
    ///         vec![NewEvent::with_id("t1-in", "+5").with_type("Credited")],
    ///         ExpectedVersion::NoStream,
    ///     ),
    /// ];
    /// let done = store.append_multi(transfer.clone()).unwrap();
    /// assert_eq!((done[1].stream.as_slice(), done[1].position), (&b"account-2"[..], 1));
    /// // Sent again (the acknowledgement was lost): the same answer, nothing written.
    /// assert_eq!(store.append_multi(transfer).unwrap(), done);
    /// assert_eq!(store.next_position().unwrap(), 2);
    /// ```
    pub fn append_multi(&self, parts: Vec<StreamAppend>) -> Result<Vec<Appended>> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.append_multi_async(
            parts,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        rx.recv().unwrap_or(Err(Error::Closed))
    }

    /// Visits up to `limit` events of `stream` from version `from_version`
    /// on, borrowed from the store. `visit` returns `false` to stop early.
    pub fn read_stream(
        &self,
        stream: &[u8],
        from_version: u64,
        limit: usize,
        mut visit: impl FnMut(EventRef<'_>) -> bool,
    ) -> Result<()> {
        self.count_read();
        self.inner
            .backend
            .read_stream(stream, from_version, limit, &mut visit)
    }

    /// Up to `limit` events of `stream` from version `from_version` on.
    pub fn read_stream_vec(
        &self,
        stream: &[u8],
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<Event>> {
        collect(|visit| self.read_stream(stream, from_version, limit, visit))
    }

    /// Visits up to `limit` events of the whole log from `from_position` on.
    pub fn read_log(
        &self,
        from_position: u64,
        limit: usize,
        mut visit: impl FnMut(EventRef<'_>) -> bool,
    ) -> Result<()> {
        self.count_read();
        self.inner
            .backend
            .read_log(from_position, limit, &mut visit)
    }

    /// Up to `limit` events of the whole log from `from_position` on.
    pub fn read_log_vec(&self, from_position: u64, limit: usize) -> Result<Vec<Event>> {
        collect(|visit| self.read_log(from_position, limit, visit))
    }

    /// Visits up to `limit` events of the log from `from_position` on that
    /// `filter` passes, borrowed from the store; `limit` counts the events
    /// visited, and the scan goes on past the events the filter skips (which
    /// are never copied). `visit` returns `false` to stop early.
    ///
    /// Returns the position to resume from: one past the last event
    /// examined, visited or skipped (`from_position` when the log ends
    /// before it). Every event before it was either visited or skipped.
    ///
    /// ```
    /// use rewind_core::{ExpectedVersion, LogFilter, NewEvent, Store};
    ///
    /// let store = Store::in_memory();
    /// for stream in ["order-1", "cart-1", "order-2"] {
    ///     store.append(stream.as_bytes(), vec![NewEvent::new("x")], ExpectedVersion::Any).unwrap();
    /// }
    /// let orders = LogFilter::all().with_stream_prefix("order-");
    /// let mut positions = Vec::new();
    /// let next = store
    ///     .read_log_filtered(0, 10, &orders, |e| {
    ///         positions.push(e.position);
    ///         true
    ///     })
    ///     .unwrap();
    /// assert_eq!((positions, next), (vec![0, 2], 3));
    /// ```
    pub fn read_log_filtered(
        &self,
        from_position: u64,
        limit: usize,
        filter: &LogFilter,
        mut visit: impl FnMut(EventRef<'_>) -> bool,
    ) -> Result<u64> {
        self.scan_log(from_position, u64::MAX, limit, filter, &mut visit)
    }

    /// Up to `limit` events of the log from `from_position` on that `filter`
    /// passes.
    pub fn read_log_filtered_vec(
        &self,
        from_position: u64,
        limit: usize,
        filter: &LogFilter,
    ) -> Result<Vec<Event>> {
        collect(|visit| self.read_log_filtered(from_position, limit, filter, visit))
    }

    /// Visits up to `limit` events of `stream` backwards, borrowed from the
    /// store: from version `from_version` (inclusive; `None`, or a version
    /// past the stream's end, starts at its last event) down to version 0.
    /// `visit` returns `false` to stop early. A stream that does not exist
    /// has no events.
    pub fn read_stream_backward(
        &self,
        stream: &[u8],
        from_version: Option<u64>,
        limit: usize,
        mut visit: impl FnMut(EventRef<'_>) -> bool,
    ) -> Result<()> {
        self.count_read();
        if limit == 0 {
            return Ok(());
        }
        self.inner
            .backend
            .read_stream_backward(stream, from_version, limit, &mut visit)
    }

    /// Up to `limit` events of `stream` backwards from version
    /// `from_version` (inclusive; `None`: from the last event).
    pub fn read_stream_backward_vec(
        &self,
        stream: &[u8],
        from_version: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Event>> {
        collect(|visit| self.read_stream_backward(stream, from_version, limit, visit))
    }

    /// A filtered scan of the log positions `from_position..end`: one read.
    /// Returns the position to resume from.
    pub(crate) fn scan_log(
        &self,
        from_position: u64,
        end: u64,
        limit: usize,
        filter: &LogFilter,
        visit: &mut dyn FnMut(EventRef<'_>) -> bool,
    ) -> Result<u64> {
        self.count_read();
        crate::filter::scan_log(
            &*self.inner.backend,
            from_position,
            end,
            limit,
            filter,
            visit,
        )
    }

    /// Subscribes to the log from `from_position` (`None`: from the end of
    /// the log now), passing the events `filter` passes: first the history,
    /// then [`SubscriptionItem::CaughtUp`](crate::SubscriptionItem::CaughtUp)
    /// once, then each event as it commits. See [`Subscription`].
    ///
    /// Errors: [`Error::InvalidArgument`] for a position past the end of
    /// the log (the position of the next event is the last one allowed).
    pub fn subscribe(&self, from_position: Option<u64>, filter: LogFilter) -> Result<Subscription> {
        Subscription::new(self.clone(), from_position, filter)
    }

    /// Visits up to `limit` events of the whole log backwards, borrowed from
    /// the store: from position `from_position` (inclusive; `None`, or a
    /// position past the end, starts at the last event) down to position 0.
    /// `visit` returns `false` to stop early.
    pub fn read_log_backward(
        &self,
        from_position: Option<u64>,
        limit: usize,
        mut visit: impl FnMut(EventRef<'_>) -> bool,
    ) -> Result<()> {
        self.count_read();
        if limit == 0 {
            return Ok(());
        }
        self.inner
            .backend
            .read_log_backward(from_position, limit, &mut visit)
    }

    /// Up to `limit` events of the whole log backwards from position
    /// `from_position` (inclusive; `None`: from the last event).
    pub fn read_log_backward_vec(
        &self,
        from_position: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Event>> {
        collect(|visit| self.read_log_backward(from_position, limit, visit))
    }

    /// The event with this id, if any.
    pub fn get(&self, id: &[u8]) -> Result<Option<Event>> {
        self.count_read();
        let mut found = None;
        self.inner.backend.get(id, &mut |e| {
            found = Some(e.to_owned());
            false
        })?;
        Ok(found)
    }

    /// Visits the event with this id, borrowed from the store, if there is
    /// one; returns whether there was.
    pub fn visit_id(&self, id: &[u8], mut visit: impl FnMut(EventRef<'_>)) -> Result<bool> {
        self.count_read();
        self.inner.backend.get(id, &mut |e| {
            visit(e);
            false
        })
    }

    /// Whether an event with this id is stored.
    pub fn contains(&self, id: &[u8]) -> Result<bool> {
        self.inner.backend.get(id, &mut |_| false)
    }

    /// The last event of `stream`; `None` when the stream does not exist.
    pub fn stream_head(&self, stream: &[u8]) -> Result<Option<StreamHead>> {
        self.inner.backend.stream_head(stream)
    }

    /// Visits up to `limit` streams whose names sort after `after`
    /// (byte-wise; empty: from the first), in name order, each with its
    /// last event; `visit` returns `false` to stop.
    ///
    /// Errors: [`Error::InvalidArgument`] from a backend that cannot list
    /// its streams (a foreign one may not).
    ///
    /// ```
    /// use rewind_core::{ExpectedVersion, NewEvent, Store};
    ///
    /// let store = Store::in_memory();
    /// for s in ["b", "a", "c"] {
    ///     store.append(s.as_bytes(), vec![NewEvent::new("x")], ExpectedVersion::Any).unwrap();
    /// }
    /// let mut names = Vec::new();
    /// store.list_streams(b"a", 10, |name, _head| {
    ///     names.push(name.to_vec());
    ///     true
    /// }).unwrap();
    /// assert_eq!(names, [b"b".to_vec(), b"c".to_vec()]);
    /// ```
    pub fn list_streams(
        &self,
        after: &[u8],
        limit: usize,
        mut visit: impl FnMut(&[u8], StreamHead) -> bool,
    ) -> Result<()> {
        self.count_read();
        self.inner.backend.list_streams(after, limit, &mut visit)
    }

    /// The position the next event will get: the number of events stored.
    pub fn next_position(&self) -> Result<u64> {
        self.inner.backend.next_position()
    }

    /// The versions of `stream` between two ids, as the wire protocols
    /// define a query: after `from` (exclusive) up to `to` (inclusive); a
    /// missing bound is open. An open upper bound is the stream's head now.
    ///
    /// Errors: [`Error::UnknownId`] for an id not stored,
    /// [`Error::IdNotInStream`] for an id of another stream,
    /// [`Error::RangeOrder`] when `from` comes after `to`.
    pub fn resolve_range(
        &self,
        stream: &[u8],
        from: Option<&[u8]>,
        to: Option<&[u8]>,
    ) -> Result<Range<u64>> {
        range_between(
            stream,
            from,
            to,
            |id| {
                let mut found = None;
                self.inner.backend.get(id, &mut |e| {
                    found = Some((e.stream == stream, e.version));
                    false
                })?;
                Ok(found)
            },
            || self.stream_head(stream),
        )
    }

    /// Visits up to `limit` events of `stream` after `from` (exclusive) up to
    /// `to` (inclusive), as [`resolve_range`](Store::resolve_range) defines.
    pub fn query(
        &self,
        stream: &[u8],
        from: Option<&[u8]>,
        to: Option<&[u8]>,
        limit: usize,
        visit: impl FnMut(EventRef<'_>) -> bool,
    ) -> Result<()> {
        crate::EventStore::query(self, stream, from, to, limit, visit)
    }

    fn count_read(&self) {
        self.inner.metrics.reads.fetch_add(1, Ordering::Relaxed);
    }

    /// What the store (and a server on it) has done: appends, commits,
    /// reads, queue depths. Shared by every handle.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// How much room the store takes, when its backend can tell.
    pub fn storage_use(&self) -> Result<Option<StorageUse>> {
        self.inner.backend.storage_use()
    }

    /// Registers a function told of every committed batch, in commit order
    /// (see [`CommitListener`]). It runs on the writer thread, or on the
    /// follower's for a shared log (PostgreSQL): it must be quick and must
    /// not append.
    pub fn add_listener(&self, listener: CommitListener) -> ListenerId {
        let id = ListenerId(self.inner.next_listener.fetch_add(1, Ordering::Relaxed));
        self.inner
            .listeners
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push((id, listener));
        id
    }

    /// Unregisters a listener; returns whether it was registered.
    pub fn remove_listener(&self, id: ListenerId) -> bool {
        let mut l = self
            .inner
            .listeners
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let before = l.len();
        l.retain(|(i, _)| *i != id);
        l.len() != before
    }

    /// Commits every append already submitted, stops the writer (and the
    /// follower of a shared log, once it has announced what is committed),
    /// drops the commit listeners (subscriptions end) and syncs the
    /// backend. Later appends fail with [`Error::Closed`]; reads keep
    /// working while a handle exists. Closing twice is harmless.
    pub fn close(&self) -> Result<()> {
        self.inner.stop_threads();
        // No commit follows: drop the listeners. (A subscription learns from
        // its listener's drop that the store is closed.)
        let listeners = std::mem::take(
            &mut *self
                .inner
                .listeners
                .write()
                .unwrap_or_else(|e| e.into_inner()),
        );
        drop(listeners);
        self.inner.backend.sync()
    }

    /// Whether the store has been closed ([`close`](Store::close)): appends
    /// fail with [`Error::Closed`], reads keep working.
    pub fn is_closed(&self) -> bool {
        self.inner
            .writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
    }
}

/// The writer: `listeners` are told of its commits, unless a follower tells
/// them (`None`).
fn writer_loop(
    backend: &dyn Backend,
    listeners: Option<&Listeners>,
    metrics: &Metrics,
    rx: Receiver<Msg>,
) {
    let mut stop = false;
    while !stop {
        let (req, pending) = match rx.recv() {
            Ok(Msg::Append(r, p)) => (r, p),
            Ok(Msg::Stop) | Err(_) => break,
        };
        let mut bytes = batch_bytes(&req);
        let mut reqs = vec![req];
        let mut pendings = vec![pending];
        while reqs.len() < MAX_BATCH_APPENDS && bytes < MAX_BATCH_BYTES {
            match rx.try_recv() {
                Ok(Msg::Append(r, p)) => {
                    bytes += batch_bytes(&r);
                    reqs.push(r);
                    pendings.push(p);
                }
                Ok(Msg::Stop) => {
                    stop = true;
                    break;
                }
                Err(_) => break,
            }
        }
        commit_batch(backend, listeners, metrics, reqs, pendings);
    }
    // Whatever is still queued never reaches a commit: each Pending reports
    // Closed as it drops.
    drop(rx);
}

fn batch_bytes(r: &AppendRequest) -> usize {
    r.parts
        .iter()
        .flat_map(|p| &p.events)
        .map(PreparedEvent::len_bytes)
        .sum()
}

fn commit_batch(
    backend: &dyn Backend,
    listeners: Option<&Listeners>,
    metrics: &Metrics,
    reqs: Vec<AppendRequest>,
    pendings: Vec<Pending>,
) {
    let started = std::time::Instant::now();
    let n = reqs.len();
    metrics
        .appends_in_flight
        .fetch_sub(n as i64, Ordering::Relaxed);
    let outcomes = match backend.append_batch(&reqs) {
        Ok(o) => o,
        Err(e) => {
            log::error!("commit of {n} appends failed: {e}");
            metrics.append_errors.fetch_add(n as u64, Ordering::Relaxed);
            for p in pendings {
                p.complete(Err(e.replicate()));
            }
            return;
        }
    };
    metrics
        .commit_seconds
        .observe(started.elapsed().as_secs_f64());
    metrics.commit_batch.observe(n as f64);
    let mut committed = Vec::with_capacity(reqs.len());
    let mut results = Vec::with_capacity(reqs.len());
    for (req, outcome) in reqs.into_iter().zip(outcomes) {
        match outcome {
            Ok(AppendOutcome::Written(parts)) => {
                let count = req.event_count();
                let mut appended = Vec::with_capacity(count);
                for (part, o) in req.parts.into_iter().zip(parts) {
                    appended.extend(part.events.iter().enumerate().map(|(i, e)| Appended {
                        id: e.id.clone(),
                        stream: part.stream.clone(),
                        version: o.first_version + i as u64,
                        position: o.first_position + i as u64,
                    }));
                    committed.push(CommittedAppend {
                        stream: part.stream,
                        prev_id: o.prev_id,
                        first_version: o.first_version,
                        first_position: o.first_position,
                        events: part.events,
                    });
                }
                metrics.appends.fetch_add(1, Ordering::Relaxed);
                metrics
                    .events_appended
                    .fetch_add(count as u64, Ordering::Relaxed);
                results.push(Ok(appended));
            }
            Ok(AppendOutcome::AlreadyStored(appended)) => {
                // A retry: acknowledged again, but nothing new to tell.
                metrics.appends.fetch_add(1, Ordering::Relaxed);
                results.push(Ok(appended));
            }
            Err(e) => {
                metrics.append_errors.fetch_add(1, Ordering::Relaxed);
                results.push(Err(e))
            }
        }
    }
    hand_out(|| {
        if let Some(listeners) = listeners.filter(|_| !committed.is_empty()) {
            tell(listeners, &Arc::new(committed));
        }
        for (p, r) in pendings.into_iter().zip(results) {
            p.complete(r);
        }
    });
}

/// Tells every listener of a committed batch.
fn tell(listeners: &Listeners, batch: &Arc<Vec<CommittedAppend>>) {
    for (_, l) in listeners.read().unwrap_or_else(|e| e.into_inner()).iter() {
        l(batch);
    }
}

/// Runs a visiting read and returns what it visited, copied out of the
/// store: the one body of every `_vec` read.
fn collect<T>(
    read: impl FnOnce(&mut dyn FnMut(EventRef<'_>) -> bool) -> Result<T>,
) -> Result<Vec<Event>> {
    let mut out = Vec::new();
    read(&mut |e| {
        out.push(e.to_owned());
        true
    })?;
    Ok(out)
}

/// The one body of a range query's resolution ([`Store::resolve_range`]
/// and [`EventStore::resolve_range`](crate::EventStore::resolve_range)):
/// `lookup` gives, for an id, whether its event is in `stream` and its
/// version (`None`: not stored); `head` the stream's last event.
pub(crate) fn range_between(
    stream: &[u8],
    from: Option<&[u8]>,
    to: Option<&[u8]>,
    mut lookup: impl FnMut(&[u8]) -> Result<Option<(bool, u64)>>,
    head: impl FnOnce() -> Result<Option<StreamHead>>,
) -> Result<Range<u64>> {
    let mut version_of = |id: &[u8]| -> Result<u64> {
        match lookup(id)? {
            None => Err(Error::UnknownId(id.to_vec())),
            Some((false, _)) => Err(Error::IdNotInStream {
                id: id.to_vec(),
                stream: stream.to_vec(),
            }),
            Some((true, v)) => Ok(v),
        }
    };
    let start = match from {
        Some(id) => version_of(id)? + 1,
        None => 0,
    };
    let end = match to {
        Some(id) => version_of(id)? + 1,
        None => head()?.map_or(0, |h| h.version + 1),
    };
    if start > end {
        return Err(Error::RangeOrder);
    }
    Ok(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn what_a_listener_leaves_for_the_end_runs_after_the_completions_of_its_commit() {
        let store = Store::in_memory();
        let (tx, rx) = mpsc::channel::<&'static str>();
        let from_listener = Mutex::new(tx.clone());
        store.add_listener(Box::new(move |_| {
            let tx = from_listener.lock().unwrap().clone();
            tx.send("listener").unwrap();
            let later = tx.clone();
            let queued = after_batch(Box::new(move || later.send("end of batch").unwrap()));
            assert!(queued.is_ok(), "the writer thread is handing out a commit");
        }));
        let done = tx.clone();
        store.append_multi_async(
            vec![StreamAppend::new(
                b"s",
                vec![NewEvent::new("x")],
                ExpectedVersion::Any,
            )],
            Box::new(move |r| {
                r.unwrap();
                done.send("completion").unwrap();
            }),
        );
        let order: Vec<_> = (0..3)
            .map(|_| rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap())
            .collect();
        assert_eq!(order, ["listener", "completion", "end of batch"]);
        // Elsewhere than on the writer thread, nothing is deferred.
        assert!(after_batch(Box::new(|| {})).is_err());
    }
}
