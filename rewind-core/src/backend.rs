//! The storage backend trait, and the batch planner every backend shares.
//!
//! A [`Backend`] stores events durably. It sees appends in batches: the
//! group-commit writer of [`Store`](crate::Store) hands it every append that
//! arrived while the previous commit was in flight, and the backend commits
//! them in one transaction. Each append in a batch succeeds or fails on its
//! own (a version conflict fails one append, not its neighbours); a failure of
//! the transaction itself fails the whole batch. One append may span several
//! streams ([`AppendRequest::parts`]): its parts are stored all or none.
//!
//! The rules of an append are checked in one place, [`plan_batch`], which
//! every backend calls before it writes (this crate's LMDB and in-memory
//! backends, and the Python package's backend over a Python event store): a
//! backend describes the state before the batch through a [`StoreView`],
//! and writes exactly the appends the plan says to write
//! ([`AppendOutcome::Written`]), where the plan puts them
//! ([`events_to_write`]).

use std::collections::{HashMap, HashSet};

use crate::model::{check_event_id, check_event_type, check_stream_name};
use crate::store::CommittedAppend;
use crate::{Appended, Error, Event, EventRef, ExpectedVersion, Printable, Result, StreamHead};

/// An event ready for a backend: its id is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedEvent {
    /// The event's id (the one given, or the one generated).
    pub id: Vec<u8>,
    /// The event's type (UTF-8, at most 255 bytes; [`check_append`] checks it).
    pub event_type: Vec<u8>,
    /// The event's metadata.
    pub metadata: Vec<u8>,
    /// The event's data.
    pub data: Vec<u8>,
}

impl PreparedEvent {
    /// An event with an id and data, no type and no metadata (as the v1 and
    /// v2 wire protocols append them).
    pub fn new(id: impl Into<Vec<u8>>, data: impl Into<Vec<u8>>) -> Self {
        PreparedEvent {
            id: id.into(),
            event_type: Vec::new(),
            metadata: Vec::new(),
            data: data.into(),
        }
    }

    /// The bytes the event brings: id, type, metadata and data (what the
    /// writer's batch limit counts).
    pub fn len_bytes(&self) -> usize {
        self.id.len() + self.event_type.len() + self.metadata.len() + self.data.len()
    }

    /// Whether `stored` holds this event: same id, type, metadata and data.
    pub fn same_as(&self, stored: EventRef<'_>) -> bool {
        stored.id == self.id.as_slice()
            && stored.data == self.data.as_slice()
            && stored.event_type == self.event_type.as_slice()
            && stored.metadata == self.metadata.as_slice()
    }
}

/// The events one append adds to one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRequest {
    /// The stream to append to.
    pub stream: Vec<u8>,
    /// The condition on the stream's version before the append.
    pub expected: ExpectedVersion,
    /// The events, in order.
    pub events: Vec<PreparedEvent>,
}

/// One append, ready for a backend: events for one or more streams, each
/// under its own expected version, stored all or none. Its events take
/// consecutive positions, part after part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendRequest {
    /// The streams and their events, in order; each stream at most once.
    pub parts: Vec<StreamRequest>,
}

impl AppendRequest {
    /// An append to one stream.
    pub fn single(
        stream: impl Into<Vec<u8>>,
        expected: ExpectedVersion,
        events: Vec<PreparedEvent>,
    ) -> Self {
        AppendRequest {
            parts: vec![StreamRequest {
                stream: stream.into(),
                expected,
                events,
            }],
        }
    }

    /// The number of events in every part.
    pub fn event_count(&self) -> usize {
        self.parts.iter().map(|p| p.events.len()).sum()
    }

    /// Every event with the stream it goes to, in request order.
    pub fn events(&self) -> impl Iterator<Item = (&[u8], &PreparedEvent)> + '_ {
        self.parts
            .iter()
            .flat_map(|p| p.events.iter().map(move |e| (p.stream.as_slice(), e)))
    }
}

/// Where one part of a written append goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartOutcome {
    /// The version of the part's first event in its stream.
    pub first_version: u64,
    /// The position of the part's first event; the others follow it.
    pub first_position: u64,
    /// The id of the event that preceded the part in its stream.
    pub prev_id: Option<Vec<u8>>,
}

/// What becomes of an accepted append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendOutcome {
    /// The append is new: the backend writes it (and, once the backend
    /// returns it, has written it) where each part's outcome says, in the
    /// order of the parts.
    Written(Vec<PartOutcome>),
    /// Every event of the append is stored already, identically, where the
    /// request would have put it: a retry of an append that succeeded. It
    /// is not written again; here is where each event is, in request order.
    AlreadyStored(Vec<Appended>),
}

impl AppendOutcome {
    /// Where each part goes, if the append is to be written.
    pub fn written(&self) -> Option<&[PartOutcome]> {
        match self {
            AppendOutcome::Written(parts) => Some(parts),
            AppendOutcome::AlreadyStored(_) => None,
        }
    }
}

/// One event a backend writes, where the plan puts it.
#[derive(Debug, Clone, Copy)]
pub struct PlannedEvent<'a> {
    /// Its stream.
    pub stream: &'a [u8],
    /// The event.
    pub event: &'a PreparedEvent,
    /// Its version in the stream.
    pub version: u64,
    /// Its position in the log.
    pub position: u64,
}

/// Every event of `batch` that the plan `outcomes` says to write, with its
/// version and position, in position order.
pub fn events_to_write<'a>(
    batch: &'a [AppendRequest],
    outcomes: &'a [Result<AppendOutcome>],
) -> impl Iterator<Item = PlannedEvent<'a>> + 'a {
    parts_to_write(batch, outcomes).flat_map(|(part, o)| {
        part.events
            .iter()
            .enumerate()
            .map(move |(i, event)| PlannedEvent {
                stream: &part.stream,
                event,
                version: o.first_version + i as u64,
                position: o.first_position + i as u64,
            })
    })
}

/// Every part of `batch` that the plan `outcomes` says to write, with its
/// outcome, in position order.
pub fn parts_to_write<'a>(
    batch: &'a [AppendRequest],
    outcomes: &'a [Result<AppendOutcome>],
) -> impl Iterator<Item = (&'a StreamRequest, &'a PartOutcome)> + 'a {
    batch
        .iter()
        .zip(outcomes)
        .filter_map(|(req, o)| Some((req, o.as_ref().ok()?.written()?)))
        .flat_map(|(req, parts)| req.parts.iter().zip(parts))
}

/// A visitor over events; it returns `false` to stop the read.
pub type Visitor<'v> = dyn FnMut(EventRef<'_>) -> bool + 'v;

/// Durable storage of events. Implemented by the LMDB and in-memory
/// backends of this crate, and by foreign stores (the Python package wraps
/// user-defined Python event stores in it).
///
/// All methods may be called from several threads at once, but
/// [`append_batch`](Backend::append_batch) is only ever called by one thread
/// at a time (the store's writer).
pub trait Backend: Send + Sync + 'static {
    /// Commits a batch of appends in one durable transaction and returns one
    /// outcome per request, in order (planned by [`plan_batch`]). Returns
    /// `Err` only when the transaction as a whole failed, in which case
    /// nothing of the batch is stored.
    fn append_batch(&self, batch: &[AppendRequest]) -> Result<Vec<Result<AppendOutcome>>>;

    /// Visits up to `limit` events of the whole log from `from_position` on,
    /// in position order.
    fn read_log(&self, from_position: u64, limit: usize, visit: &mut Visitor<'_>) -> Result<()>;

    /// Visits up to `limit` events of `stream` from `from_version` on, in
    /// version order. A stream that does not exist has no events.
    fn read_stream(
        &self,
        stream: &[u8],
        from_version: u64,
        limit: usize,
        visit: &mut Visitor<'_>,
    ) -> Result<()>;

    /// Visits up to `limit` events of the whole log backwards, from
    /// `from_position` (inclusive; `None` or a position past the end: from
    /// the last event) down to position 0.
    ///
    /// The default reads forwards and copies the events; backends with a
    /// cheaper way override it.
    fn read_log_backward(
        &self,
        from_position: Option<u64>,
        limit: usize,
        visit: &mut Visitor<'_>,
    ) -> Result<()> {
        let end = self.next_position()?;
        let Some(start) = backward_start(from_position, end) else {
            return Ok(());
        };
        let count = backward_count(start, limit);
        let mut events = Vec::with_capacity(count.min(1024));
        self.read_log(start + 1 - count as u64, count, &mut |e| {
            events.push(e.to_owned());
            true
        })?;
        visit_reversed(&events, visit);
        Ok(())
    }

    /// Visits up to `limit` events of `stream` backwards, from
    /// `from_version` (inclusive; `None` or a version past the end: from the
    /// last event) down to version 0. A stream that does not exist has no
    /// events.
    ///
    /// The default reads forwards and copies the events; backends with a
    /// cheaper way override it.
    fn read_stream_backward(
        &self,
        stream: &[u8],
        from_version: Option<u64>,
        limit: usize,
        visit: &mut Visitor<'_>,
    ) -> Result<()> {
        let Some(head) = self.stream_head(stream)? else {
            return Ok(());
        };
        let Some(start) = backward_start(from_version, head.version + 1) else {
            return Ok(());
        };
        let count = backward_count(start, limit);
        let mut events = Vec::with_capacity(count.min(1024));
        self.read_stream(stream, start + 1 - count as u64, count, &mut |e| {
            events.push(e.to_owned());
            true
        })?;
        visit_reversed(&events, visit);
        Ok(())
    }

    /// Visits the event with this id, if there is one; returns whether there was.
    fn get(&self, id: &[u8], visit: &mut Visitor<'_>) -> Result<bool>;

    /// The last event of `stream`, `None` when the stream does not exist.
    fn stream_head(&self, stream: &[u8]) -> Result<Option<StreamHead>>;

    /// The position the next appended event will get (the number of events
    /// ever stored).
    fn next_position(&self) -> Result<u64>;

    /// Visits up to `limit` streams whose names sort after `after`
    /// (byte-wise; empty: from the first), in name order, each with its last
    /// event; `visit` returns `false` to stop.
    ///
    /// The default refuses with [`Error::InvalidArgument`]: a backend that
    /// cannot list its streams (a foreign store) need not.
    fn list_streams(
        &self,
        after: &[u8],
        limit: usize,
        visit: &mut dyn FnMut(&[u8], StreamHead) -> bool,
    ) -> Result<()> {
        let _ = (after, limit, visit);
        Err(Error::InvalidArgument(
            "this store cannot list its streams".into(),
        ))
    }

    /// How much room the store takes, when the backend can tell (the
    /// metrics endpoint shows it).
    fn storage_use(&self) -> Result<Option<crate::metrics::StorageUse>> {
        Ok(None)
    }

    /// Forces everything committed to disk. Backends that sync on every
    /// commit (all of this crate's) need not do anything.
    fn sync(&self) -> Result<()> {
        Ok(())
    }

    /// For a log that other processes append to as well (the PostgreSQL
    /// backend, shared by several servers): starts a follower that hands
    /// `announce` every batch committed from the log's head at open on,
    /// by any writer, in position order, each event once, after it is
    /// durable. The store's commit listeners are then fed by the follower
    /// alone; its own writer announces nothing.
    ///
    /// `None` (the default): the log has no other writer, and the store's
    /// writer announces its own commits.
    fn follow(&self, announce: Announce) -> Option<Box<dyn Follower>> {
        let _ = announce;
        None
    }
}

/// Where a [`Backend::follow`] follower hands the batches it reads: the
/// store's commit listeners. Called from the follower's thread.
pub type Announce = Box<dyn Fn(Vec<CommittedAppend>) + Send + 'static>;

/// A running follower of a shared log (see [`Backend::follow`]).
pub trait Follower: Send {
    /// Announces what is committed now (best effort: not when the
    /// database cannot be reached), then stops; returns once the
    /// follower's thread has ended, or after a few seconds without it.
    fn stop(&mut self);
}

/// The first version (or position) a backward read visits, of a sequence of
/// `len` events, when asked to start at `from`; `None` when it visits
/// nothing.
pub(crate) fn backward_start(from: Option<u64>, len: u64) -> Option<u64> {
    let last = len.checked_sub(1)?;
    Some(from.map_or(last, |f| f.min(last)))
}

/// How many events a backward read from `start` down to 0 visits, at most
/// `limit`.
fn backward_count(start: u64, limit: usize) -> usize {
    usize::try_from(start + 1).map_or(limit, |n| n.min(limit))
}

fn visit_reversed(events: &[Event], visit: &mut Visitor<'_>) {
    for e in events.iter().rev() {
        if !visit(e.as_ref()) {
            break;
        }
    }
}

/// What [`plan_batch`] needs to know about the store as it was before the
/// batch: a backend implements it over its committed state (or over the
/// transaction the batch will be written in).
///
/// An error of the view fails the append it was asked about, not the batch:
/// a backend that holds only some streams, or only some ids, can refuse the
/// others here.
pub trait StoreView {
    /// The last event of `stream`, `None` when the stream does not exist.
    fn head(&mut self, stream: &[u8]) -> Result<Option<StreamHead>>;
    /// Whether an event with this id is stored (in any stream).
    fn contains_id(&mut self, id: &[u8]) -> Result<bool>;
    /// The event stored under this id, if any. Asked only about the ids of
    /// an append whose ids are all stored (a possible retry).
    fn event(&mut self, id: &[u8]) -> Result<Option<Event>>;
}

/// Checks what an append must be whatever the store holds: at least one
/// part; in each part a stream name of 1 to 255 bytes, a stream not named
/// by an earlier part, at least one event; in each event an id of 1 to 255
/// bytes and a type of UTF-8 text of at most 255 bytes. Every failure is
/// [`Error::InvalidArgument`].
pub fn check_append(req: &AppendRequest) -> Result<()> {
    if req.parts.is_empty() {
        return Err(Error::InvalidArgument(
            "an append needs at least one event".into(),
        ));
    }
    // Few parts are compared pairwise; many go through a set.
    let mut streams: HashSet<&[u8]> = HashSet::new();
    for (i, part) in req.parts.iter().enumerate() {
        check_stream_name(&part.stream)?;
        if part.events.is_empty() {
            return Err(Error::InvalidArgument(if req.parts.len() == 1 {
                "an append needs at least one event".into()
            } else {
                format!(
                    "the append to stream {} has no events",
                    Printable(&part.stream)
                )
            }));
        }
        let named_before = if req.parts.len() <= 8 {
            req.parts[..i].iter().any(|p| p.stream == part.stream)
        } else {
            !streams.insert(&part.stream)
        };
        if named_before {
            return Err(Error::InvalidArgument(format!(
                "stream {} is named twice in one append",
                Printable(&part.stream)
            )));
        }
        for e in &part.events {
            check_event_id(&e.id)?;
            check_event_type(&e.event_type)?;
        }
    }
    Ok(())
}

/// Where an event accepted earlier in the batch goes.
struct Placed<'a> {
    stream: &'a [u8],
    event: &'a PreparedEvent,
    version: u64,
    position: u64,
}

/// The store before the batch, plus the appends accepted earlier in it.
struct Planner<'v, 'b> {
    view: &'v mut dyn StoreView,
    heads: HashMap<&'b [u8], StreamHead>,
    placed: HashMap<&'b [u8], Placed<'b>>,
    next_position: u64,
}

impl<'b> Planner<'_, 'b> {
    fn head(&mut self, stream: &[u8]) -> Result<Option<StreamHead>> {
        match self.heads.get(stream) {
            Some(h) => Ok(Some(h.clone())),
            None => self.view.head(stream),
        }
    }

    fn contains_id(&mut self, id: &[u8]) -> Result<bool> {
        Ok(self.placed.contains_key(id) || self.view.contains_id(id)?)
    }

    /// Whether `ev`, to append to `stream`, is stored as it is; and if so,
    /// its version and position.
    fn stored_as(&mut self, stream: &[u8], ev: &PreparedEvent) -> Result<Option<(u64, u64)>> {
        if let Some(p) = self.placed.get(ev.id.as_slice()) {
            let same = p.stream == stream
                && p.event.data == ev.data
                && p.event.event_type == ev.event_type
                && p.event.metadata == ev.metadata;
            return Ok(same.then_some((p.version, p.position)));
        }
        Ok(match self.view.event(&ev.id)? {
            Some(e) if e.stream == stream && ev.same_as(e.as_ref()) => {
                Some((e.version, e.position))
            }
            _ => None,
        })
    }

    /// If every event of `req` is stored as it is, at versions the request
    /// allows (consecutive in each stream in request order, starting where
    /// the expected version says), where they are: `Ok`. Otherwise the
    /// first id that is not: `Err`.
    fn retry_of(&mut self, req: &AppendRequest) -> Result<Result<Vec<Appended>, Vec<u8>>> {
        let mut found = Vec::with_capacity(req.event_count());
        for part in &req.parts {
            // The version the next event must have (u128: `Exact(u64::MAX)`
            // wants one no event can have); `None` for any.
            let mut next: Option<u128> = match part.expected {
                ExpectedVersion::Exact(n) => Some(u128::from(n) + 1),
                ExpectedVersion::NoStream => Some(0),
                ExpectedVersion::Any | ExpectedVersion::StreamExists => None,
            };
            for ev in &part.events {
                let fits = match self.stored_as(&part.stream, ev)? {
                    Some((version, position)) => {
                        let at = match next {
                            Some(n) => u128::from(version) == n,
                            None => part.expected != ExpectedVersion::StreamExists || version > 0,
                        };
                        at.then_some((version, position))
                    }
                    None => None,
                };
                let Some((version, position)) = fits else {
                    return Ok(Err(ev.id.clone()));
                };
                next = Some(u128::from(version) + 1);
                found.push(Appended {
                    id: ev.id.clone(),
                    stream: part.stream.clone(),
                    version,
                    position,
                });
            }
        }
        Ok(Ok(found))
    }

    fn plan(&mut self, req: &AppendRequest) -> Result<AppendOutcome> {
        check_append(req)?;
        // Ids first: an append with a known id is a retry or a duplicate,
        // whatever the streams' versions are now.
        let mut seen: HashSet<&[u8]> = HashSet::new();
        let mut stored = 0;
        let mut first_stored = None;
        for (_, ev) in req.events() {
            if !seen.insert(&ev.id) {
                return Err(Error::DuplicateId(first_stored.unwrap_or(&ev.id).clone()));
            }
            if self.contains_id(&ev.id)? {
                stored += 1;
                first_stored.get_or_insert(&ev.id);
            }
        }
        match first_stored {
            None => {}
            Some(first) if stored < seen.len() => return Err(Error::DuplicateId(first.clone())),
            Some(_) => {
                return match self.retry_of(req)? {
                    Ok(found) => Ok(AppendOutcome::AlreadyStored(found)),
                    Err(id) => Err(Error::DuplicateId(id)),
                }
            }
        }
        let mut parts = Vec::with_capacity(req.parts.len());
        let mut position = self.next_position;
        for part in &req.parts {
            let head = self.head(&part.stream)?;
            let actual = head.as_ref().map(|h| h.version);
            if !part.expected.allows(actual) {
                return Err(Error::WrongExpectedVersion {
                    stream: part.stream.clone(),
                    expected: part.expected,
                    actual,
                });
            }
            parts.push(PartOutcome {
                first_version: actual.map_or(0, |v| v + 1),
                first_position: position,
                prev_id: head.map(|h| h.id),
            });
            position += part.events.len() as u64;
        }
        Ok(AppendOutcome::Written(parts))
    }

    /// Takes an append to be written into account for the appends after it.
    fn accept(&mut self, req: &'b AppendRequest, parts: &[PartOutcome]) {
        for (part, o) in req.parts.iter().zip(parts) {
            for (i, event) in part.events.iter().enumerate() {
                let placed = Placed {
                    stream: &part.stream,
                    event,
                    version: o.first_version + i as u64,
                    position: o.first_position + i as u64,
                };
                self.placed.insert(&event.id, placed);
            }
            let n = part.events.len() as u64;
            let last = part.events.last().expect("checked non-empty");
            self.heads.insert(
                &part.stream,
                StreamHead {
                    version: o.first_version + n - 1,
                    position: o.first_position + n - 1,
                    id: last.id.clone(),
                },
            );
        }
        self.next_position += req.event_count() as u64;
    }
}

/// Plans a batch of appends: checks every append against the store (as
/// `view` shows it) and against the appends accepted before it in the same
/// batch, and says what becomes of each. The one place where the append
/// rules live, for every backend.
///
/// For each append, in order:
/// - [`check_append`]: at least one part, valid stream names (no stream
///   twice), at least one event in each part, valid ids and types
///   ([`Error::InvalidArgument`]);
/// - every id is new: not twice in the append, not in an append accepted
///   earlier in the batch, not in the store ([`Error::DuplicateId`]) —
///   unless the append is a **retry**: every one of its events is stored
///   already (or accepted earlier in the batch) with the same stream, type,
///   metadata and data, at versions consistent with the request (those of
///   each part consecutive in request order, the first one `n + 1` when the
///   part expected `Exact(n)`, 0 when it expected `NoStream`, not 0 when it
///   expected `StreamExists`). A retry is accepted whatever the streams'
///   versions are now, as [`AppendOutcome::AlreadyStored`] with the
///   original versions and positions, and writes nothing. Any other append
///   with a known id is a duplicate, whatever its expected versions say:
///   when some but not all ids are stored, the error names the first
///   stored one (or the first given twice); when all are stored but one
///   differs, the first that differs;
/// - each part's expected version allows its stream's version: the version
///   in the store, or after the appends accepted earlier in the batch
///   ([`Error::WrongExpectedVersion`], naming the first stream that does
///   not).
///
/// An append to be written ([`AppendOutcome::Written`]) gets, in each part,
/// the next versions of its stream, and the next positions of the log, part
/// after part (the first is `next_position`, the position the backend's
/// next event gets), and the id of the event before the part in its stream.
/// A refused append or a retry takes no version, position or id: the
/// appends after it are planned as if it were not in the batch. A backend
/// then writes exactly the appends to be written, in order
/// ([`events_to_write`]).
///
/// Returns one outcome per append, in order. An error of the view fails the
/// append it was asked about; the outer `Result` is `Ok` (it is for
/// backends whose planning can fail as a whole).
///
/// ```
/// use rewind_core::backend::{plan_batch, AppendOutcome, AppendRequest, PreparedEvent, StoreView};
/// use rewind_core::{Error, Event, ExpectedVersion, Result, StreamHead};
///
/// /// A store that holds one event: `e1`, version 0 of stream `s`, position 0.
/// struct OneEvent;
///
/// impl StoreView for OneEvent {
///     fn head(&mut self, stream: &[u8]) -> Result<Option<StreamHead>> {
///         Ok((stream == b"s").then(|| StreamHead {
///             version: 0,
///             position: 0,
///             id: b"e1".to_vec(),
///         }))
///     }
///     fn contains_id(&mut self, id: &[u8]) -> Result<bool> {
///         Ok(id == b"e1")
///     }
///     fn event(&mut self, id: &[u8]) -> Result<Option<Event>> {
///         Ok((id == b"e1").then(|| Event {
///             id: b"e1".to_vec(),
///             event_type: Vec::new(),
///             metadata: Vec::new(),
///             data: b"data".to_vec(),
///             stream: b"s".to_vec(),
///             version: 0,
///             position: 0,
///         }))
///     }
/// }
///
/// let append = |stream: &str, expected, ids: &[&str]| {
///     let events = ids.iter().map(|id| PreparedEvent::new(*id, "data")).collect();
///     AppendRequest::single(stream, expected, events)
/// };
/// let batch = [
///     append("s", ExpectedVersion::Exact(0), &["e2", "e3"]), // s: versions 1 and 2
///     append("s", ExpectedVersion::Exact(0), &["e4"]),       // s is at version 2 now
///     append("t", ExpectedVersion::NoStream, &["e1", "e5"]), // e1 is taken
///     append("t", ExpectedVersion::NoStream, &["e5"]),       // t: version 0
///     append("s", ExpectedVersion::NoStream, &["e1"]),       // a retry: e1 as stored
/// ];
/// let outcomes = plan_batch(&mut OneEvent, 1, &batch).unwrap();
///
/// let s = &outcomes[0].as_ref().unwrap().written().unwrap()[0];
/// assert_eq!((s.first_version, s.first_position), (1, 1));
/// assert_eq!(s.prev_id.as_deref(), Some(&b"e1"[..]));
/// assert!(matches!(outcomes[1], Err(Error::WrongExpectedVersion { actual: Some(2), .. })));
/// assert!(matches!(&outcomes[2], Err(Error::DuplicateId(id)) if id == b"e1"));
/// let t = &outcomes[3].as_ref().unwrap().written().unwrap()[0];
/// assert_eq!((t.first_version, t.first_position, t.prev_id.clone()), (0, 3, None));
/// match &outcomes[4] {
///     Ok(AppendOutcome::AlreadyStored(found)) => assert_eq!((found[0].version, found[0].position), (0, 0)),
///     other => panic!("{other:?}"),
/// }
/// ```
pub fn plan_batch(
    view: &mut dyn StoreView,
    next_position: u64,
    batch: &[AppendRequest],
) -> Result<Vec<Result<AppendOutcome>>> {
    let mut planner = Planner {
        view,
        heads: HashMap::new(),
        placed: HashMap::new(),
        next_position,
    };
    let mut outcomes = Vec::with_capacity(batch.len());
    for req in batch {
        let outcome = planner.plan(req);
        if let Ok(AppendOutcome::Written(parts)) = &outcome {
            planner.accept(req, parts);
        }
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MAX_NAME_LEN as MAX;
    use ExpectedVersion::{Any, Exact, NoStream, StreamExists};

    /// A store as a list of `(stream, id)` events, in position order.
    #[derive(Default)]
    struct Log {
        events: Vec<(Vec<u8>, Vec<u8>)>,
        /// A stream whose head cannot be read.
        broken: Option<Vec<u8>>,
    }

    impl Log {
        fn with(events: &[(&str, &str)]) -> Log {
            Log {
                events: events
                    .iter()
                    .map(|(s, id)| (s.as_bytes().to_vec(), id.as_bytes().to_vec()))
                    .collect(),
                broken: None,
            }
        }

        fn next_position(&self) -> u64 {
            self.events.len() as u64
        }
    }

    impl StoreView for Log {
        fn head(&mut self, stream: &[u8]) -> Result<Option<StreamHead>> {
            if self.broken.as_deref() == Some(stream) {
                return Err(Error::Backend("cannot read the stream".into()));
            }
            let positions: Vec<usize> = (0..self.events.len())
                .filter(|&p| self.events[p].0 == stream)
                .collect();
            Ok(positions.last().map(|&p| StreamHead {
                version: positions.len() as u64 - 1,
                position: p as u64,
                id: self.events[p].1.clone(),
            }))
        }

        fn contains_id(&mut self, id: &[u8]) -> Result<bool> {
            Ok(self.events.iter().any(|(_, i)| i == id))
        }

        fn event(&mut self, id: &[u8]) -> Result<Option<Event>> {
            let Some(p) = self.events.iter().position(|(_, i)| i == id) else {
                return Ok(None);
            };
            let stream = self.events[p].0.clone();
            let version = self.events[..p]
                .iter()
                .filter(|(s, _)| *s == stream)
                .count();
            Ok(Some(Event {
                id: id.to_vec(),
                event_type: Vec::new(),
                metadata: Vec::new(),
                data: data_of(id),
                stream,
                version: version as u64,
                position: p as u64,
            }))
        }
    }

    fn data_of(id: &[u8]) -> Vec<u8> {
        [b"data of ", id].concat()
    }

    fn event(id: &str) -> PreparedEvent {
        PreparedEvent::new(id, data_of(id.as_bytes()))
    }

    fn part(stream: &str, expected: ExpectedVersion, ids: &[&str]) -> StreamRequest {
        StreamRequest {
            stream: stream.as_bytes().to_vec(),
            expected,
            events: ids.iter().map(|id| event(id)).collect(),
        }
    }

    fn append(stream: &str, expected: ExpectedVersion, ids: &[&str]) -> AppendRequest {
        AppendRequest {
            parts: vec![part(stream, expected, ids)],
        }
    }

    fn multi(parts: Vec<StreamRequest>) -> AppendRequest {
        AppendRequest { parts }
    }

    fn plan(log: &mut Log, batch: &[AppendRequest]) -> Vec<Result<AppendOutcome>> {
        let next = log.next_position();
        plan_batch(log, next, batch).expect("planning never fails as a whole")
    }

    fn part_outcome(version: u64, position: u64, prev: Option<&str>) -> PartOutcome {
        PartOutcome {
            first_version: version,
            first_position: position,
            prev_id: prev.map(|p| p.as_bytes().to_vec()),
        }
    }

    fn outcome(version: u64, position: u64, prev: Option<&str>) -> AppendOutcome {
        AppendOutcome::Written(vec![part_outcome(version, position, prev)])
    }

    /// The versions and positions of a retry.
    fn retried(r: &Result<AppendOutcome>) -> Vec<(String, u64, u64)> {
        match r {
            Ok(AppendOutcome::AlreadyStored(found)) => found
                .iter()
                .map(|a| {
                    (
                        String::from_utf8(a.stream.clone()).unwrap(),
                        a.version,
                        a.position,
                    )
                })
                .collect(),
            other => panic!("expected a retry, got {other:?}"),
        }
    }

    fn ok(r: &Result<AppendOutcome>) -> AppendOutcome {
        match r {
            Ok(o) => o.clone(),
            Err(e) => panic!("append refused: {e}"),
        }
    }

    fn wrong_version(r: &Result<AppendOutcome>) -> Option<u64> {
        match r {
            Err(Error::WrongExpectedVersion { actual, .. }) => *actual,
            other => panic!("expected a version conflict, got {other:?}"),
        }
    }

    fn duplicate(r: &Result<AppendOutcome>) -> String {
        match r {
            Err(Error::DuplicateId(id)) => String::from_utf8(id.clone()).unwrap(),
            other => panic!("expected a duplicate id, got {other:?}"),
        }
    }

    fn invalid(r: &Result<AppendOutcome>) -> bool {
        matches!(r, Err(Error::InvalidArgument(_)))
    }

    #[test]
    fn expected_versions_against_the_store() {
        let mut log = Log::with(&[("s", "a"), ("other", "b"), ("s", "c")]);
        // Stream `s` is at version 1; stream `new` does not exist.
        let cases: Vec<(&str, ExpectedVersion, Option<Option<u64>>)> = vec![
            ("s", Any, None),
            ("s", StreamExists, None),
            ("s", Exact(1), None),
            ("s", Exact(0), Some(Some(1))),
            ("s", Exact(2), Some(Some(1))),
            ("s", NoStream, Some(Some(1))),
            ("new", Any, None),
            ("new", NoStream, None),
            ("new", StreamExists, Some(None)),
            ("new", Exact(0), Some(None)),
        ];
        for (stream, expected, conflict) in cases {
            let outcomes = plan(&mut log, &[append(stream, expected, &["x"])]);
            match conflict {
                None => {
                    let o = ok(&outcomes[0]);
                    if stream == "s" {
                        assert_eq!(o, outcome(2, 3, Some("c")), "{expected:?}");
                    } else {
                        assert_eq!(o, outcome(0, 3, None), "{expected:?}");
                    }
                }
                Some(actual) => {
                    assert_eq!(wrong_version(&outcomes[0]), actual, "{stream} {expected:?}");
                }
            }
        }
    }

    #[test]
    fn expected_versions_see_the_appends_before_them_in_the_batch() {
        let mut log = Log::default();
        let outcomes = plan(
            &mut log,
            &[
                append("s", NoStream, &["a", "b"]),
                append("s", NoStream, &["c"]),
                append("s", Exact(0), &["d"]),
                append("s", Exact(1), &["e"]),
                append("s", StreamExists, &["f"]),
            ],
        );
        assert_eq!(ok(&outcomes[0]), outcome(0, 0, None));
        assert_eq!(wrong_version(&outcomes[1]), Some(1));
        assert_eq!(wrong_version(&outcomes[2]), Some(1));
        assert_eq!(ok(&outcomes[3]), outcome(2, 2, Some("b")));
        assert_eq!(ok(&outcomes[4]), outcome(3, 3, Some("e")));
    }

    #[test]
    fn a_duplicate_within_an_append_refuses_it() {
        let mut log = Log::default();
        let outcomes = plan(
            &mut log,
            &[
                append("s", ExpectedVersion::Any, &["a", "b", "a"]),
                append("s", ExpectedVersion::NoStream, &["a"]),
            ],
        );
        assert_eq!(duplicate(&outcomes[0]), "a");
        // The refused append took nothing: the stream still does not exist.
        assert_eq!(ok(&outcomes[1]), outcome(0, 0, None));
    }

    #[test]
    fn a_duplicate_within_the_batch_refuses_the_later_append() {
        let mut log = Log::default();
        let outcomes = plan(
            &mut log,
            &[
                append("s", ExpectedVersion::Any, &["a", "b"]),
                append("t", ExpectedVersion::Any, &["c", "b"]),
                append("t", ExpectedVersion::Any, &["c"]),
            ],
        );
        assert_eq!(ok(&outcomes[0]), outcome(0, 0, None));
        assert_eq!(duplicate(&outcomes[1]), "b");
        assert_eq!(ok(&outcomes[2]), outcome(0, 2, None));
    }

    #[test]
    fn ids_of_a_refused_append_stay_free() {
        let mut log = Log::with(&[("s", "a")]);
        let outcomes = plan(
            &mut log,
            &[
                append("s", ExpectedVersion::NoStream, &["x", "y"]),
                append("s", ExpectedVersion::Exact(0), &["y", "x"]),
            ],
        );
        assert_eq!(wrong_version(&outcomes[0]), Some(0));
        assert_eq!(ok(&outcomes[1]), outcome(1, 1, Some("a")));
    }

    #[test]
    fn a_duplicate_of_a_stored_id_refuses_the_append() {
        let mut log = Log::with(&[("s", "a"), ("t", "b")]);
        let outcomes = plan(
            &mut log,
            &[
                append("s", ExpectedVersion::Any, &["new", "b"]),
                append("u", ExpectedVersion::Any, &["a"]),
                append("u", ExpectedVersion::Any, &["new"]),
            ],
        );
        assert_eq!(duplicate(&outcomes[0]), "b");
        assert_eq!(duplicate(&outcomes[1]), "a");
        assert_eq!(ok(&outcomes[2]), outcome(0, 2, None));
    }

    #[test]
    fn versions_and_positions_across_several_appends() {
        let mut log = Log::with(&[("s", "s0"), ("t", "t0"), ("s", "s1")]);
        let outcomes = plan(
            &mut log,
            &[
                append("s", ExpectedVersion::Exact(1), &["s2", "s3"]),
                append("t", ExpectedVersion::Any, &["t1"]),
                append("u", ExpectedVersion::NoStream, &["u0", "u1", "u2"]),
                append("s", ExpectedVersion::Exact(99), &["bad"]),
                append("s", ExpectedVersion::Any, &["s4"]),
                append("u", ExpectedVersion::Exact(2), &["u3"]),
            ],
        );
        assert_eq!(ok(&outcomes[0]), outcome(2, 3, Some("s1")));
        assert_eq!(ok(&outcomes[1]), outcome(1, 5, Some("t0")));
        assert_eq!(ok(&outcomes[2]), outcome(0, 6, None));
        assert_eq!(wrong_version(&outcomes[3]), Some(3));
        assert_eq!(ok(&outcomes[4]), outcome(4, 9, Some("s3")));
        assert_eq!(ok(&outcomes[5]), outcome(3, 10, Some("u2")));
    }

    #[test]
    fn names_ids_and_empty_appends() {
        let long = "x".repeat(MAX);
        let too_long = "x".repeat(MAX + 1);
        let mut log = Log::default();
        let outcomes = plan(
            &mut log,
            &[
                append("", ExpectedVersion::Any, &["a"]),
                append(&too_long, ExpectedVersion::Any, &["a"]),
                append("s", ExpectedVersion::Any, &[]),
                append("s", ExpectedVersion::Any, &["b", ""]),
                append("s", ExpectedVersion::Any, &["c", &too_long]),
                append(&long, ExpectedVersion::Any, &[&long]),
                append("s", ExpectedVersion::Any, &["a", "b", "c"]),
            ],
        );
        for (i, o) in outcomes.iter().enumerate().take(5) {
            assert!(invalid(o), "append {i}: {o:?}");
        }
        assert_eq!(ok(&outcomes[5]), outcome(0, 0, None));
        assert_eq!(ok(&outcomes[6]), outcome(0, 1, None));
    }

    #[test]
    fn a_view_error_fails_only_its_append() {
        let mut log = Log::with(&[("s", "a")]);
        log.broken = Some(b"broken".to_vec());
        let outcomes = plan(
            &mut log,
            &[
                append("broken", ExpectedVersion::Any, &["b"]),
                append("s", ExpectedVersion::Any, &["b"]),
            ],
        );
        assert!(matches!(outcomes[0], Err(Error::Backend(_))));
        assert_eq!(ok(&outcomes[1]), outcome(1, 1, Some("a")));
    }

    #[test]
    fn a_multi_stream_append_takes_consecutive_positions_part_after_part() {
        let mut log = Log::with(&[("s", "s0"), ("t", "t0")]);
        let outcomes = plan(
            &mut log,
            &[
                multi(vec![
                    part("t", Exact(0), &["t1", "t2"]),
                    part("u", NoStream, &["u0"]),
                    part("s", StreamExists, &["s1"]),
                ]),
                append("u", Exact(0), &["u1"]),
            ],
        );
        assert_eq!(
            ok(&outcomes[0]),
            AppendOutcome::Written(vec![
                part_outcome(1, 2, Some("t0")),
                part_outcome(0, 4, None),
                part_outcome(1, 5, Some("s0")),
            ])
        );
        assert_eq!(ok(&outcomes[1]), outcome(1, 6, Some("u0")));
    }

    #[test]
    fn a_conflict_on_one_stream_refuses_every_part() {
        let mut log = Log::with(&[("s", "s0")]);
        let outcomes = plan(
            &mut log,
            &[
                multi(vec![
                    part("t", NoStream, &["t0"]),
                    part("s", Exact(5), &["s1"]),
                ]),
                // Nothing of the refused append counts: t does not exist,
                // t0 and s1 are free, position 1 is next.
                multi(vec![
                    part("t", NoStream, &["t0"]),
                    part("s", Exact(0), &["s1"]),
                ]),
            ],
        );
        match &outcomes[0] {
            Err(Error::WrongExpectedVersion {
                stream,
                expected,
                actual,
            }) => {
                assert_eq!(
                    (stream.as_slice(), *expected, *actual),
                    (&b"s"[..], Exact(5), Some(0))
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            ok(&outcomes[1]),
            AppendOutcome::Written(vec![
                part_outcome(0, 1, None),
                part_outcome(1, 2, Some("s0"))
            ])
        );
    }

    #[test]
    fn a_stream_twice_or_an_empty_part_is_invalid() {
        let mut log = Log::default();
        let outcomes = plan(
            &mut log,
            &[
                multi(vec![
                    part("s", Any, &["a"]),
                    part("t", Any, &["b"]),
                    part("s", Any, &["c"]),
                ]),
                multi(vec![part("s", Any, &["a"]), part("t", Any, &[])]),
                multi(vec![]),
                multi(vec![part("s", Any, &["a"]), part("", Any, &["b"])]),
            ],
        );
        for o in &outcomes {
            assert!(invalid(o), "{o:?}");
        }
        match &outcomes[0] {
            Err(Error::InvalidArgument(m)) => assert!(m.contains("stream s is named twice"), "{m}"),
            other => panic!("{other:?}"),
        }
        match &outcomes[1] {
            Err(Error::InvalidArgument(m)) => assert!(m.contains("stream t has no events"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_stream_twice_among_many_parts_is_invalid() {
        let mut log = Log::default();
        let names: Vec<String> = (0..40).map(|i| format!("s{i}")).collect();
        let ids: Vec<String> = (0..41).map(|i| format!("e{i}")).collect();
        let mut parts: Vec<StreamRequest> = names
            .iter()
            .zip(&ids)
            .map(|(n, id)| part(n, Any, &[id.as_str()]))
            .collect();
        let outcomes = plan(&mut log, &[multi(parts.clone())]);
        assert_eq!(ok(&outcomes[0]).written().unwrap().len(), 40);
        parts.push(part("s17", Any, &["e40"]));
        let outcomes = plan(&mut Log::default(), &[multi(parts)]);
        match &outcomes[0] {
            Err(Error::InvalidArgument(m)) => {
                assert!(m.contains("stream s17 is named twice"), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn event_types_are_checked() {
        let mut log = Log::default();
        let typed = |t: &[u8]| {
            let mut e = event("x");
            e.event_type = t.to_vec();
            AppendRequest::single("s", Any, vec![e])
        };
        let outcomes = plan(
            &mut log,
            &[
                typed(&[b't'; 256]),
                typed(b"\xff"),
                typed(&[b't'; 255]),
                typed(b""),
            ],
        );
        assert!(invalid(&outcomes[0]) && invalid(&outcomes[1]));
        assert_eq!(ok(&outcomes[2]), outcome(0, 0, None));
        // x is taken now, with another type: not a retry.
        assert_eq!(duplicate(&outcomes[3]), "x");
    }

    #[test]
    fn a_retry_of_a_stored_append_gets_its_versions_and_positions_back() {
        let mut log = Log::with(&[("s", "a"), ("t", "b"), ("s", "c"), ("s", "d")]);
        let mut retry = |req: AppendRequest| {
            let outcomes = plan(&mut log, &[req]);
            retried(&outcomes[0])
        };
        let at = |found: &[(&str, u64, u64)]| -> Vec<(String, u64, u64)> {
            found
                .iter()
                .map(|(s, v, p)| (s.to_string(), *v, *p))
                .collect()
        };
        assert_eq!(
            retry(append("s", Exact(0), &["c", "d"])),
            at(&[("s", 1, 2), ("s", 2, 3)])
        );
        assert_eq!(
            retry(append("s", Any, &["c", "d"])),
            at(&[("s", 1, 2), ("s", 2, 3)])
        );
        assert_eq!(retry(append("s", StreamExists, &["c"])), at(&[("s", 1, 2)]));
        assert_eq!(
            retry(append("s", NoStream, &["a", "c", "d"])),
            at(&[("s", 0, 0), ("s", 1, 2), ("s", 2, 3)])
        );
        assert_eq!(retry(append("s", Any, &["d"])), at(&[("s", 2, 3)]));
        assert_eq!(
            retry(multi(vec![
                part("t", NoStream, &["b"]),
                part("s", Exact(1), &["d"]),
            ])),
            at(&[("t", 0, 1), ("s", 2, 3)])
        );
        // Positions need not follow each other: the parts in another order.
        assert_eq!(
            retry(multi(vec![
                part("s", Exact(1), &["d"]),
                part("t", NoStream, &["b"]),
            ])),
            at(&[("s", 2, 3), ("t", 0, 1)])
        );
        // Expecting s at 2 wants d at version 3, it is at 2: not a retry,
        // and so a duplicate (though t exists, against NoStream).
        let outcomes = plan(
            &mut log,
            &[multi(vec![
                part("t", NoStream, &["b"]),
                part("s", Exact(2), &["d"]),
            ])],
        );
        assert_eq!(duplicate(&outcomes[0]), "d");
    }

    #[test]
    fn a_retry_takes_nothing_from_the_appends_after_it() {
        let mut log = Log::with(&[("s", "a")]);
        let outcomes = plan(
            &mut log,
            &[append("s", NoStream, &["a"]), append("s", Exact(0), &["b"])],
        );
        assert_eq!(retried(&outcomes[0]), [("s".to_string(), 0, 0)]);
        assert_eq!(ok(&outcomes[1]), outcome(1, 1, Some("a")));
    }

    #[test]
    fn a_retry_within_the_batch_finds_the_append_before_it() {
        let mut log = Log::with(&[("s", "a")]);
        let req = multi(vec![
            part("s", Exact(0), &["b", "c"]),
            part("t", Any, &["d"]),
        ]);
        let outcomes = plan(
            &mut log,
            &[req.clone(), req.clone(), append("t", Exact(0), &["e"])],
        );
        assert_eq!(
            ok(&outcomes[0]),
            AppendOutcome::Written(vec![
                part_outcome(1, 1, Some("a")),
                part_outcome(0, 3, None)
            ])
        );
        assert_eq!(
            retried(&outcomes[1]),
            [
                ("s".to_string(), 1, 1),
                ("s".to_string(), 2, 2),
                ("t".to_string(), 0, 3)
            ]
        );
        assert_eq!(ok(&outcomes[2]), outcome(1, 4, Some("d")));
    }

    #[test]
    fn a_partial_overlap_names_the_first_stored_id() {
        let mut log = Log::with(&[("s", "a"), ("s", "b")]);
        let outcomes = plan(
            &mut log,
            &[
                append("s", Any, &["new", "b", "a"]),
                append("s", Exact(1), &["a", "b", "new"]),
                multi(vec![part("t", Any, &["x"]), part("s", Exact(1), &["b"])]),
                // with a version conflict besides: still a duplicate
                append("s", Exact(0), &["new", "b"]),
                // given twice, after a stored one
                append("s", Any, &["new", "a", "new"]),
            ],
        );
        assert_eq!(duplicate(&outcomes[0]), "b");
        assert_eq!(duplicate(&outcomes[1]), "a");
        assert_eq!(duplicate(&outcomes[2]), "b");
        assert_eq!(duplicate(&outcomes[3]), "b");
        assert_eq!(duplicate(&outcomes[4]), "a");
    }

    #[test]
    fn changed_content_or_place_is_a_duplicate_not_a_retry() {
        let mut log = Log::with(&[("s", "a"), ("t", "b"), ("s", "c")]);
        let with = |f: &dyn Fn(&mut PreparedEvent)| {
            let mut e = event("c");
            f(&mut e);
            AppendRequest::single("s", Exact(0), vec![e])
        };
        let outcomes = plan(
            &mut log,
            &[
                with(&|e| e.data.push(b'!')),
                with(&|e| e.event_type = b"T".to_vec()),
                with(&|e| e.metadata = b"m".to_vec()),
                append("t", Any, &["c"]),             // another stream
                append("s", NoStream, &["c"]),        // c is version 1, not 0
                append("s", Exact(1), &["c"]),        // not version 2
                append("s", Any, &["c", "a"]),        // not consecutive
                append("s", Exact(u64::MAX), &["c"]), // no version follows
                append("s", StreamExists, &["a"]),    // a is version 0
                append("s", Any, &["c", "c"]),        // twice in the append
            ],
        );
        let named: Vec<String> = outcomes.iter().map(duplicate).collect();
        assert_eq!(named, ["c", "c", "c", "c", "c", "c", "a", "c", "a", "c"]);
    }

    /// A backend with only the required reads: backward reads are the
    /// trait's defaults over them.
    struct ForwardOnly(crate::memory::MemoryBackend);

    impl Backend for ForwardOnly {
        fn append_batch(&self, batch: &[AppendRequest]) -> Result<Vec<Result<AppendOutcome>>> {
            self.0.append_batch(batch)
        }
        fn read_log(&self, from: u64, limit: usize, visit: &mut Visitor<'_>) -> Result<()> {
            self.0.read_log(from, limit, visit)
        }
        fn read_stream(
            &self,
            stream: &[u8],
            from: u64,
            limit: usize,
            visit: &mut Visitor<'_>,
        ) -> Result<()> {
            self.0.read_stream(stream, from, limit, visit)
        }
        fn get(&self, id: &[u8], visit: &mut Visitor<'_>) -> Result<bool> {
            self.0.get(id, visit)
        }
        fn stream_head(&self, stream: &[u8]) -> Result<Option<StreamHead>> {
            self.0.stream_head(stream)
        }
        fn next_position(&self) -> Result<u64> {
            self.0.next_position()
        }
    }

    #[test]
    fn the_default_backward_reads_match_the_memory_backends() {
        let memory = crate::memory::MemoryBackend::new();
        let forward = ForwardOnly(crate::memory::MemoryBackend::new());
        let batch = [
            append("a", Any, &["a0", "a1"]),
            append("b", Any, &["b0"]),
            append("a", Any, &["a2"]),
            append("b", Any, &["b1", "b2"]),
            append("a", Any, &["a3"]),
        ];
        memory.append_batch(&batch).unwrap();
        forward.append_batch(&batch).unwrap();
        let read = |b: &dyn Backend, stream: Option<&[u8]>, from, limit| {
            let mut out = Vec::new();
            let mut visit = |e: EventRef<'_>| {
                out.push(e.to_owned());
                out.len() < 3 || limit != 7 // limit 7: the visitor stops at 3
            };
            match stream {
                Some(s) => b.read_stream_backward(s, from, limit, &mut visit).unwrap(),
                None => b.read_log_backward(from, limit, &mut visit).unwrap(),
            }
            out
        };
        let froms = [
            None,
            Some(0),
            Some(1),
            Some(3),
            Some(6),
            Some(7),
            Some(u64::MAX),
        ];
        for stream in [None, Some(&b"a"[..]), Some(b"b"), Some(b"c")] {
            for from in froms {
                for limit in [0, 1, 2, 7, usize::MAX] {
                    let want = read(&memory, stream, from, limit);
                    let got = read(&forward, stream, from, limit);
                    assert_eq!(got, want, "{stream:?} from {from:?} limit {limit}");
                }
            }
        }
        let all: Vec<u64> = read(&memory, None, None, usize::MAX)
            .iter()
            .map(|e| e.position)
            .collect();
        assert_eq!(all, [6, 5, 4, 3, 2, 1, 0]);
        let a: Vec<u64> = read(&forward, Some(b"a"), Some(2), usize::MAX)
            .iter()
            .map(|e| e.version)
            .collect();
        assert_eq!(a, [2, 1, 0]);
    }
}
