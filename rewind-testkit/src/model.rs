//! A reference model of the store, and a checker that runs a sequence of
//! operations against a real [`Store`] and the model side by side.
//!
//! Shared by the property tests (`rewind-core/tests/properties/store.rs`)
//! and the cargo-fuzz targets `store_ops` and `store_lmdb`
//! (`fuzz/fuzz_targets/`), so a fuzzer finding replays as a test. The model
//! is deliberately naive: a vector of events and linear scans, written from
//! the specification, not from the implementation.

use std::sync::{Arc, Mutex};

use rewind_core::{
    Appended, Error, Event, ExpectedVersion, NewEvent, Store, StreamAppend, StreamHead,
};

/// The stream names operations pick from: valid ones, an empty one, one of
/// the maximal length and one that is too long.
pub fn stream_name(i: u8) -> Vec<u8> {
    match i % 7 {
        0 => b"alpha".to_vec(),
        1 => b"beta".to_vec(),
        2 => b"gamma/\x00\xff".to_vec(),
        3 => b"alpha2".to_vec(),
        4 => vec![b'm'; 255],
        5 => Vec::new(),
        _ => vec![b's'; 256],
    }
}

/// The event types operations pick from: none (most often), short ones,
/// one of the maximal length, and two invalid ones (too long, not UTF-8).
pub fn event_type(i: u8) -> Vec<u8> {
    match i % 8 {
        0..=2 => Vec::new(),
        3 => b"OrderPlaced".to_vec(),
        4 => "Commande pass\u{e9}e".as_bytes().to_vec(),
        5 => vec![b't'; 255],
        6 => vec![b't'; 256],
        _ => b"bad \xff type".to_vec(),
    }
}

/// How an operation names an event id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdChoice {
    /// Append: let the store generate one. Lookups: an id that is not stored.
    Generated,
    /// One of a few fixed ids, so that duplicates happen.
    Pool(u8),
    /// An id nobody used before.
    Fresh,
    /// The id of an event already stored (by position, modulo the log size).
    Existing(u16),
    /// The empty id (invalid).
    Empty,
    /// A 256-byte id (invalid).
    TooLong,
    /// A 255-byte id (valid, the longest).
    Longest,
}

/// The expected version of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exp {
    /// [`ExpectedVersion::Any`].
    Any,
    /// [`ExpectedVersion::NoStream`].
    NoStream,
    /// [`ExpectedVersion::StreamExists`].
    StreamExists,
    /// [`ExpectedVersion::Exact`] with this version.
    Exact(u8),
}

impl Exp {
    /// The store's expected version.
    pub fn get(self) -> ExpectedVersion {
        match self {
            Exp::Any => ExpectedVersion::Any,
            Exp::NoStream => ExpectedVersion::NoStream,
            Exp::StreamExists => ExpectedVersion::StreamExists,
            Exp::Exact(v) => ExpectedVersion::Exact(u64::from(v)),
        }
    }
}

/// One event of an append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSpec {
    /// How it names its id.
    pub id: IdChoice,
    /// Its type, through [`event_type`].
    pub event_type: u8,
    /// Its metadata.
    pub metadata: Vec<u8>,
    /// Its data.
    pub data: Vec<u8>,
}

impl EventSpec {
    /// An event with no type and no metadata.
    pub fn plain(id: IdChoice, data: Vec<u8>) -> EventSpec {
        EventSpec {
            id,
            event_type: 0,
            metadata: Vec::new(),
            data,
        }
    }
}

/// The events an append adds to one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendSpec {
    /// The stream, through [`stream_name`].
    pub stream: u8,
    /// The events.
    pub events: Vec<EventSpec>,
    /// The expected version.
    pub expected: Exp,
}

/// How a [`Op::Retry`] changes the append it sends again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Not at all: a true retry.
    Same,
    /// One more byte in the data of the last event.
    Data,
    /// Another type for the first event.
    Type,
    /// Other metadata for the first event.
    Metadata,
    /// Without the last event of the last part (when it has two or more).
    DropLast,
    /// With a fresh event at the end of the last part.
    AddFresh,
    /// Expecting any version of the first part's stream.
    ExpectAny,
    /// The parts in the opposite order.
    Reversed,
}

/// One operation on the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `Store::append`, waiting for it.
    Append(AppendSpec),
    /// `Store::append_multi` of the parts (maybe none), waiting for it.
    AppendMulti(Vec<AppendSpec>),
    /// Several appends at once (`Store::append_async` for one part,
    /// `Store::append_multi_async` for several; they may share a commit),
    /// then waiting for all: must behave as the same appends one after
    /// another.
    Batch(Vec<Vec<AppendSpec>>),
    /// An earlier append (modulo the number of appends so far) sent again
    /// through `Store::append_multi`, with its generated ids as the store
    /// assigned them, maybe changed.
    Retry {
        /// Which earlier append.
        index: u16,
        /// How it is changed.
        change: Change,
    },
    /// `Store::read_stream_vec`.
    ReadStream {
        /// The stream, through [`stream_name`].
        stream: u8,
        /// The first version, modulo 10.
        from: u8,
        /// The limit: modulo 12, or no limit for 255.
        limit: u8,
    },
    /// `Store::read_stream_backward_vec`.
    ReadStreamBackward {
        /// The stream, through [`stream_name`].
        stream: u8,
        /// The first version, modulo 10 (`None`: from the end).
        from: Option<u8>,
        /// The limit: modulo 12, or no limit for 255.
        limit: u8,
    },
    /// `Store::read_log_vec`.
    ReadLog {
        /// The first position, modulo 40.
        from: u8,
        /// The limit: modulo 12, or no limit for 255.
        limit: u8,
    },
    /// `Store::read_log_backward_vec`.
    ReadLogBackward {
        /// The first position, modulo 40 (`None`: from the end).
        from: Option<u8>,
        /// The limit: modulo 12, or no limit for 255.
        limit: u8,
    },
    /// `Store::get` and `Store::contains`.
    Get(IdChoice),
    /// `Store::query`: the events of a stream after one id, up to another.
    Query {
        /// The stream, through [`stream_name`].
        stream: u8,
        /// The id the range starts after, if any.
        from: Option<IdChoice>,
        /// The id the range ends at, if any.
        to: Option<IdChoice>,
        /// The limit: modulo 12, or no limit for 255.
        limit: u8,
    },
    /// `Store::stream_head` of the stream, through [`stream_name`].
    Head(u8),
    /// `Store::next_position`.
    NextPosition,
    /// Close the store and open it again (durable backends only).
    Reopen,
}

/// The error kinds the model predicts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// This stream is not at the expected version; it is at this one.
    WrongExpectedVersion(Vec<u8>, Option<u64>),
    /// This id is already stored, or given twice.
    DuplicateId(Vec<u8>),
    /// An empty or too long stream name or id, a stream named twice, an
    /// invalid type, or no events.
    InvalidArgument,
    /// A range bound names an id that is not stored.
    UnknownId,
    /// A range bound names an event of another stream.
    IdNotInStream,
    /// A range ends before it starts.
    RangeOrder,
}

fn kind_of(e: &Error) -> Kind {
    match e {
        Error::WrongExpectedVersion { stream, actual, .. } => {
            Kind::WrongExpectedVersion(stream.clone(), *actual)
        }
        Error::DuplicateId(id) => Kind::DuplicateId(id.clone()),
        Error::InvalidArgument(_) => Kind::InvalidArgument,
        Error::UnknownId(_) => Kind::UnknownId,
        Error::IdNotInStream { .. } => Kind::IdNotInStream,
        Error::RangeOrder => Kind::RangeOrder,
        other => panic!("unexpected error from the store: {other}"),
    }
}

fn limit_of(l: u8) -> usize {
    if l == 255 {
        usize::MAX
    } else {
        usize::from(l % 12)
    }
}

/// An append with its stream names, ids and types resolved.
type Resolved = Vec<StreamAppend>;

/// What the model says an append does.
#[derive(Debug)]
enum Predicted {
    /// It is new: its events go at the end of the log.
    New,
    /// It is a retry: its events are where these are.
    Retry(Vec<Appended>),
}

/// The model: every event in log order.
#[derive(Default, Debug)]
pub struct Model {
    /// Every event appended so far, in log order.
    pub log: Vec<Event>,
    fresh: u64,
    /// Every append so far, with the ids the store gave the events when it
    /// stored them.
    history: Vec<Resolved>,
}

impl Model {
    fn stream_events<'a>(&'a self, stream: &'a [u8]) -> impl Iterator<Item = &'a Event> + 'a {
        self.log.iter().filter(move |e| e.stream == stream)
    }

    fn head(&self, stream: &[u8]) -> Option<StreamHead> {
        self.stream_events(stream).last().map(|e| StreamHead {
            version: e.version,
            position: e.position,
            id: e.id.clone(),
        })
    }

    fn by_id(&self, id: &[u8]) -> Option<&Event> {
        self.log.iter().find(|e| e.id == id)
    }

    fn fresh_id(&mut self) -> Vec<u8> {
        self.fresh += 1;
        format!("fresh-{}", self.fresh).into_bytes()
    }

    /// The bytes of an id choice (`None`: let the store generate one).
    fn id_bytes(&mut self, c: &IdChoice) -> Option<Vec<u8>> {
        match c {
            IdChoice::Generated => None,
            IdChoice::Pool(k) => Some(format!("pool-{}", k % 6).into_bytes()),
            IdChoice::Fresh => Some(self.fresh_id()),
            IdChoice::Existing(i) => {
                if self.log.is_empty() {
                    Some(b"pool-0".to_vec())
                } else {
                    Some(self.log[usize::from(*i) % self.log.len()].id.clone())
                }
            }
            IdChoice::Empty => Some(Vec::new()),
            IdChoice::TooLong => Some(vec![b'i'; 256]),
            IdChoice::Longest => Some(vec![b'L'; 255]),
        }
    }

    /// An id to look up: a generated choice means one that is not stored.
    fn lookup_id(&mut self, c: &IdChoice) -> Vec<u8> {
        self.id_bytes(c).unwrap_or_else(|| b"not-stored".to_vec())
    }

    /// If every event of the append is stored already, identically, at
    /// versions the request allows (consecutive in each stream, starting
    /// where the expected version says): where they are. Otherwise the
    /// first id that is not.
    fn retry_of(&self, parts: &[StreamAppend]) -> Result<Vec<Appended>, Vec<u8>> {
        let mut found = Vec::new();
        for p in parts {
            // The version the next event must have; `None` for any.
            let mut next: Option<u128> = match p.expected {
                ExpectedVersion::Exact(n) => Some(u128::from(n) + 1),
                ExpectedVersion::NoStream => Some(0),
                _ => None,
            };
            for e in &p.events {
                let Some(id) = &e.id else {
                    return Err(Vec::new()); // a generated id is new
                };
                let Some(s) = self.by_id(id) else {
                    return Err(id.clone());
                };
                let same = s.stream == p.stream
                    && s.data == e.data
                    && s.event_type == e.event_type
                    && s.metadata == e.metadata;
                let at = match next {
                    Some(n) => u128::from(s.version) == n,
                    None => p.expected != ExpectedVersion::StreamExists || s.version > 0,
                };
                if !same || !at {
                    return Err(id.clone());
                }
                next = Some(u128::from(s.version) + 1);
                found.push(Appended {
                    id: id.clone(),
                    stream: p.stream.clone(),
                    version: s.version,
                    position: s.position,
                });
            }
        }
        Ok(found)
    }

    /// What an append must do, before it happens.
    fn predict(&self, parts: &[StreamAppend]) -> Result<Predicted, Kind> {
        if parts.is_empty() {
            return Err(Kind::InvalidArgument);
        }
        for (i, p) in parts.iter().enumerate() {
            if p.stream.is_empty() || p.stream.len() > 255 || p.events.is_empty() {
                return Err(Kind::InvalidArgument);
            }
            if parts[..i].iter().any(|q| q.stream == p.stream) {
                return Err(Kind::InvalidArgument);
            }
            for e in &p.events {
                if e.id
                    .as_ref()
                    .is_some_and(|id| id.is_empty() || id.len() > 255)
                {
                    return Err(Kind::InvalidArgument);
                }
                if e.event_type.len() > 255 || std::str::from_utf8(&e.event_type).is_err() {
                    return Err(Kind::InvalidArgument);
                }
            }
        }
        // An append with a known id (or one given twice) is a retry or a
        // duplicate, whatever the versions of its streams.
        let mut seen: Vec<&Vec<u8>> = Vec::new();
        let mut first_stored: Option<&Vec<u8>> = None;
        let mut stored = 0;
        let mut total = 0;
        for e in parts.iter().flat_map(|p| &p.events) {
            total += 1;
            let Some(id) = &e.id else { continue };
            if seen.contains(&id) {
                return Err(Kind::DuplicateId(first_stored.unwrap_or(id).clone()));
            }
            seen.push(id);
            if self.by_id(id).is_some() {
                stored += 1;
                first_stored.get_or_insert(id);
            }
        }
        match first_stored {
            None => {}
            Some(first) if stored < total => return Err(Kind::DuplicateId(first.clone())),
            Some(_) => {
                return self
                    .retry_of(parts)
                    .map(Predicted::Retry)
                    .map_err(Kind::DuplicateId)
            }
        }
        for p in parts {
            let actual = self.head(&p.stream).map(|h| h.version);
            if !p.expected.allows(actual) {
                return Err(Kind::WrongExpectedVersion(p.stream.clone(), actual));
            }
        }
        Ok(Predicted::New)
    }

    /// Checks one append's outcome against the prediction and applies it.
    fn apply(&mut self, parts: Resolved, got: rewind_core::Result<Vec<Appended>>) {
        let want = self.predict(&parts);
        let appended = match (want, got) {
            (Ok(Predicted::New), Ok(a)) => a,
            (Ok(Predicted::Retry(found)), Ok(a)) => {
                assert_eq!(a, found, "a retry returns where the events are");
                self.history.push(parts);
                return;
            }
            (Err(k), Err(e)) => {
                assert_eq!(kind_of(&e), k, "append {parts:?}: wrong error: {e}");
                self.history.push(parts);
                return;
            }
            (Ok(p), Err(e)) => {
                panic!("append {parts:?} failed, the model says {p:?}: {e}")
            }
            (Err(k), Ok(a)) => {
                panic!("append {parts:?} succeeded ({a:?}), the model says {k:?}")
            }
        };
        let total: usize = parts.iter().map(|p| p.events.len()).sum();
        assert_eq!(appended.len(), total);
        let mut appended = appended.into_iter();
        let mut stored = parts.clone();
        for (p, stored_part) in parts.into_iter().zip(&mut stored) {
            let first_version = self.head(&p.stream).map_or(0, |h| h.version + 1);
            for (i, (e, stored_event)) in p
                .events
                .into_iter()
                .zip(&mut stored_part.events)
                .enumerate()
            {
                let a = appended.next().expect("counted");
                match &e.id {
                    Some(id) => assert_eq!(&a.id, id, "the given id is kept"),
                    None => {
                        let text = std::str::from_utf8(&a.id).expect("generated ids are text");
                        let u = uuid::Uuid::parse_str(text).expect("generated ids are UUIDs");
                        assert_eq!(u.hyphenated().to_string(), text, "canonical form");
                        assert!(self.by_id(&a.id).is_none(), "generated id collides");
                    }
                }
                assert_eq!(a.stream, p.stream, "stream");
                assert_eq!(a.version, first_version + i as u64, "version");
                assert_eq!(a.position, self.log.len() as u64, "position");
                stored_event.id = Some(a.id.clone());
                self.log.push(Event {
                    id: a.id,
                    event_type: e.event_type,
                    metadata: e.metadata,
                    data: e.data,
                    stream: p.stream.clone(),
                    version: a.version,
                    position: a.position,
                });
            }
        }
        self.history.push(stored);
    }

    fn resolve_part(&mut self, spec: &AppendSpec) -> StreamAppend {
        let events = spec
            .events
            .iter()
            .map(|e| NewEvent {
                id: self.id_bytes(&e.id),
                event_type: event_type(e.event_type),
                metadata: e.metadata.clone(),
                data: e.data.clone(),
            })
            .collect();
        StreamAppend::new(stream_name(spec.stream), events, spec.expected.get())
    }

    fn resolve(&mut self, specs: &[AppendSpec]) -> Resolved {
        specs.iter().map(|s| self.resolve_part(s)).collect()
    }

    /// An earlier append, changed as `change` says.
    fn retry(&mut self, index: u16, change: Change) -> Option<Resolved> {
        if self.history.is_empty() {
            return None;
        }
        let mut parts = self.history[usize::from(index) % self.history.len()].clone();
        let fresh = self.fresh_id();
        let first = parts.first_mut().and_then(|p| p.events.first_mut());
        match change {
            Change::Same => {}
            Change::Data => {
                if let Some(e) = parts.last_mut().and_then(|p| p.events.last_mut()) {
                    e.data.push(b'!');
                }
            }
            Change::Type => {
                if let Some(e) = first {
                    e.event_type = if e.event_type.is_empty() {
                        b"Changed".to_vec()
                    } else {
                        Vec::new()
                    };
                }
            }
            Change::Metadata => {
                if let Some(e) = first {
                    e.metadata.push(1);
                }
            }
            Change::DropLast => {
                if let Some(p) = parts.last_mut().filter(|p| p.events.len() > 1) {
                    p.events.pop();
                }
            }
            Change::AddFresh => {
                if let Some(p) = parts.last_mut() {
                    p.events.push(NewEvent::with_id(fresh, "fresh"));
                }
            }
            Change::ExpectAny => {
                if let Some(p) = parts.first_mut() {
                    p.expected = ExpectedVersion::Any;
                }
            }
            Change::Reversed => parts.reverse(),
        }
        Some(parts)
    }

    fn query(
        &self,
        stream: &[u8],
        from: Option<&[u8]>,
        to: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Event>, Kind> {
        let version_of = |id: &[u8]| -> Result<u64, Kind> {
            match self.by_id(id) {
                None => Err(Kind::UnknownId),
                Some(e) if e.stream != stream => Err(Kind::IdNotInStream),
                Some(e) => Ok(e.version),
            }
        };
        let start = match from {
            Some(id) => version_of(id)? + 1,
            None => 0,
        };
        let end = match to {
            Some(id) => version_of(id)? + 1,
            None => self.head(stream).map_or(0, |h| h.version + 1),
        };
        if start > end {
            return Err(Kind::RangeOrder);
        }
        Ok(self
            .stream_events(stream)
            .filter(|e| e.version >= start && e.version < end)
            .take(limit)
            .cloned()
            .collect())
    }
}

/// Every committed event a listener was told of, with the id it was told
/// came before it in its stream.
type Seen = Arc<Mutex<Vec<(Event, Option<Vec<u8>>)>>>;

fn listen(store: &Store, seen: &Seen) {
    let seen = seen.clone();
    store.add_listener(Box::new(move |batch| {
        let mut seen = seen.lock().unwrap();
        for append in batch.iter() {
            for (e, prev) in append.iter() {
                seen.push((e.to_owned(), prev.map(<[u8]>::to_vec)));
            }
        }
    }));
}

/// Sends one append (of one part through `Store::append_async`, of several
/// through `Store::append_multi_async`) and returns where its result comes.
fn send(
    store: &Store,
    parts: Resolved,
) -> std::sync::mpsc::Receiver<rewind_core::Result<Vec<Appended>>> {
    let (tx, rx) = std::sync::mpsc::channel();
    let done = Box::new(move |r| {
        let _ = tx.send(r);
    });
    if parts.len() == 1 {
        let p = parts.into_iter().next().expect("one part");
        store.append_async(&p.stream, p.events, p.expected, done);
    } else {
        store.append_multi_async(parts, done);
    }
    rx
}

/// Runs `ops` against `store` and `model`, panicking at the first
/// difference. `reopen` closes the store and opens it again (`None` for a
/// store that does not survive a close). Listeners must be told of every
/// event stored, once, in log order, with the id before it in its stream.
pub fn run_ops(
    mut store: Store,
    model: &mut Model,
    ops: &[Op],
    mut reopen: Option<&mut dyn FnMut(Store) -> Store>,
) -> Store {
    let seen: Seen = Arc::default();
    let seen_before = model.log.len();
    listen(&store, &seen);
    for (n, op) in ops.iter().enumerate() {
        let ctx = format!("op {n}: {op:?}");
        match op {
            Op::Append(spec) => {
                let p = model.resolve_part(spec);
                let got = store.append(&p.stream, p.events.clone(), p.expected);
                model.apply(vec![p], got);
            }
            Op::AppendMulti(specs) => {
                let parts = model.resolve(specs);
                let got = store.append_multi(parts.clone());
                model.apply(parts, got);
            }
            Op::Batch(appends) => {
                let resolved: Vec<Resolved> = appends.iter().map(|a| model.resolve(a)).collect();
                let rxs: Vec<_> = resolved
                    .iter()
                    .map(|parts| send(&store, parts.clone()))
                    .collect();
                for (parts, rx) in resolved.into_iter().zip(rxs) {
                    let got = rx.recv().expect("an append completes exactly once");
                    model.apply(parts, got);
                }
            }
            Op::Retry { index, change } => {
                if let Some(parts) = model.retry(*index, *change) {
                    let got = store.append_multi(parts.clone());
                    model.apply(parts, got);
                }
            }
            Op::ReadStream {
                stream,
                from,
                limit,
            } => {
                let s = stream_name(*stream);
                let got = store
                    .read_stream_vec(&s, u64::from(*from % 10), limit_of(*limit))
                    .unwrap();
                let want: Vec<Event> = model
                    .stream_events(&s)
                    .filter(|e| e.version >= u64::from(*from % 10))
                    .take(limit_of(*limit))
                    .cloned()
                    .collect();
                assert_eq!(got, want, "{ctx}");
            }
            Op::ReadStreamBackward {
                stream,
                from,
                limit,
            } => {
                let s = stream_name(*stream);
                let from = from.map(|f| u64::from(f % 10));
                let got = store
                    .read_stream_backward_vec(&s, from, limit_of(*limit))
                    .unwrap();
                let mut want: Vec<Event> = model
                    .stream_events(&s)
                    .filter(|e| from.is_none_or(|f| e.version <= f))
                    .cloned()
                    .collect();
                want.reverse();
                want.truncate(limit_of(*limit));
                assert_eq!(got, want, "{ctx}");
            }
            Op::ReadLog { from, limit } => {
                let from = u64::from(*from % 40);
                let got = store.read_log_vec(from, limit_of(*limit)).unwrap();
                let want: Vec<Event> = model
                    .log
                    .iter()
                    .skip(from as usize)
                    .take(limit_of(*limit))
                    .cloned()
                    .collect();
                assert_eq!(got, want, "{ctx}");
            }
            Op::ReadLogBackward { from, limit } => {
                let from = from.map(|f| u64::from(f % 40));
                let got = store.read_log_backward_vec(from, limit_of(*limit)).unwrap();
                let want: Vec<Event> = model
                    .log
                    .iter()
                    .rev()
                    .filter(|e| from.is_none_or(|f| e.position <= f))
                    .take(limit_of(*limit))
                    .cloned()
                    .collect();
                assert_eq!(got, want, "{ctx}");
            }
            Op::Get(c) => {
                let id = model.lookup_id(c);
                assert_eq!(store.get(&id).unwrap().as_ref(), model.by_id(&id), "{ctx}");
                assert_eq!(
                    store.contains(&id).unwrap(),
                    model.by_id(&id).is_some(),
                    "{ctx}"
                );
            }
            Op::Query {
                stream,
                from,
                to,
                limit,
            } => {
                let s = stream_name(*stream);
                let from = from.as_ref().map(|c| model.lookup_id(c));
                let to = to.as_ref().map(|c| model.lookup_id(c));
                let want = model.query(&s, from.as_deref(), to.as_deref(), limit_of(*limit));
                let mut got = Vec::new();
                let r = store.query(&s, from.as_deref(), to.as_deref(), limit_of(*limit), |e| {
                    got.push(e.to_owned());
                    true
                });
                match (r, want) {
                    (Ok(()), Ok(w)) => assert_eq!(got, w, "{ctx}"),
                    (Err(e), Err(k)) => assert_eq!(kind_of(&e), k, "{ctx}: {e}"),
                    (r, w) => panic!("{ctx}: store {r:?}, model {w:?}"),
                }
            }
            Op::Head(stream) => {
                let s = stream_name(*stream);
                assert_eq!(store.stream_head(&s).unwrap(), model.head(&s), "{ctx}");
            }
            Op::NextPosition => {
                assert_eq!(
                    store.next_position().unwrap(),
                    model.log.len() as u64,
                    "{ctx}"
                );
            }
            Op::Reopen => {
                if let Some(f) = reopen.as_mut() {
                    store = f(store);
                    listen(&store, &seen);
                }
            }
        }
    }
    // Finally the whole log, every stream head, every id.
    assert_eq!(store.read_log_vec(0, usize::MAX).unwrap(), model.log);
    for i in 0..7 {
        let s = stream_name(i);
        assert_eq!(store.stream_head(&s).unwrap(), model.head(&s));
    }
    for e in &model.log {
        assert_eq!(store.get(&e.id).unwrap().as_ref(), Some(e));
    }
    // And what the listeners were told.
    let seen = seen.lock().unwrap();
    let told: Vec<&Event> = seen.iter().map(|(e, _)| e).collect();
    let stored: Vec<&Event> = model.log[seen_before..].iter().collect();
    assert_eq!(
        told, stored,
        "listeners see every stored event once, in order"
    );
    for (e, prev) in seen.iter() {
        let want = e
            .version
            .checked_sub(1)
            .and_then(|v| model.stream_events(&e.stream).find(|x| x.version == v))
            .map(|x| x.id.clone());
        assert_eq!(prev, &want, "the previous id of {e:?}");
    }
    store
}

/// Decodes operations from raw bytes (the fuzzer's input); every input
/// decodes to some sequence.
pub fn decode_ops(data: &[u8]) -> Vec<Op> {
    let mut c = Bytes(data);
    let mut ops = Vec::new();
    while !c.0.is_empty() && ops.len() < 200 {
        ops.push(c.op());
    }
    ops
}

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    fn bytes(&mut self, max: u8) -> Vec<u8> {
        let n = usize::from(self.u8() % max).min(self.0.len());
        let (d, rest) = self.0.split_at(n);
        self.0 = rest;
        d.to_vec()
    }

    fn id(&mut self) -> IdChoice {
        match self.u8() % 10 {
            0..=2 => IdChoice::Generated,
            3 | 4 => IdChoice::Pool(self.u8()),
            5 => IdChoice::Fresh,
            6 => IdChoice::Existing(self.u16()),
            7 => IdChoice::Empty,
            8 => IdChoice::TooLong,
            _ => IdChoice::Longest,
        }
    }

    fn exp(&mut self) -> Exp {
        match self.u8() % 5 {
            0 | 1 => Exp::Any,
            2 => Exp::NoStream,
            3 => Exp::StreamExists,
            _ => Exp::Exact(self.u8() % 8),
        }
    }

    fn event(&mut self) -> EventSpec {
        let id = self.id();
        let event_type = self.u8();
        let metadata = if event_type & 0x80 != 0 {
            self.bytes(8)
        } else {
            Vec::new()
        };
        EventSpec {
            id,
            event_type,
            metadata,
            data: self.bytes(24),
        }
    }

    fn append(&mut self) -> AppendSpec {
        let stream = self.u8();
        let n = usize::from(self.u8() % 5);
        let events = (0..n).map(|_| self.event()).collect();
        AppendSpec {
            stream,
            events,
            expected: self.exp(),
        }
    }

    fn parts(&mut self) -> Vec<AppendSpec> {
        let n = usize::from(self.u8() % 4);
        (0..n).map(|_| self.append()).collect()
    }

    fn change(&mut self) -> Change {
        match self.u8() % 10 {
            0..=2 => Change::Same,
            3 => Change::Data,
            4 => Change::Type,
            5 => Change::Metadata,
            6 => Change::DropLast,
            7 => Change::AddFresh,
            8 => Change::ExpectAny,
            _ => Change::Reversed,
        }
    }

    fn from(&mut self) -> Option<u8> {
        let b = self.u8();
        (b % 3 != 0).then(|| self.u8())
    }

    fn op(&mut self) -> Op {
        match self.u8() % 16 {
            0..=3 => Op::Append(self.append()),
            4 => {
                let n = usize::from(self.u8() % 6) + 1;
                Op::Batch(
                    (0..n)
                        .map(|_| {
                            if self.u8() % 3 == 0 {
                                self.parts()
                            } else {
                                vec![self.append()]
                            }
                        })
                        .collect(),
                )
            }
            5 => Op::ReadStream {
                stream: self.u8(),
                from: self.u8(),
                limit: self.u8(),
            },
            6 => Op::ReadLog {
                from: self.u8(),
                limit: self.u8(),
            },
            7 => Op::Get(self.id()),
            8 => {
                let stream = self.u8();
                let from = (self.u8() % 2 == 0).then(|| self.id());
                let to = (self.u8() % 2 == 0).then(|| self.id());
                Op::Query {
                    stream,
                    from,
                    to,
                    limit: self.u8(),
                }
            }
            9 => Op::Head(self.u8()),
            10 => Op::NextPosition,
            11 => Op::Reopen,
            12 => Op::AppendMulti(self.parts()),
            13 => Op::Retry {
                index: self.u16(),
                change: self.change(),
            },
            14 => Op::ReadStreamBackward {
                stream: self.u8(),
                from: self.from(),
                limit: self.u8(),
            },
            _ => Op::ReadLogBackward {
                from: self.from(),
                limit: self.u8(),
            },
        }
    }
}
