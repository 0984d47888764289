//! A reference model of the store, and a checker that runs a sequence of
//! operations against a real [`Store`] and the model side by side.
//!
//! Shared by the property tests (`rewind-core/tests/properties/store.rs`)
//! and the cargo-fuzz targets `store_ops` and `store_lmdb`
//! (`fuzz/fuzz_targets/`), so a fuzzer finding replays as a test. The model
//! is deliberately naive: a vector of events and linear scans, written from
//! the specification, not from the implementation.

use rewind_core::{Error, Event, ExpectedVersion, NewEvent, Store, StreamHead};

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

/// One append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendSpec {
    /// The stream, through [`stream_name`].
    pub stream: u8,
    /// The events: how each names its id, and its data.
    pub events: Vec<(IdChoice, Vec<u8>)>,
    /// The expected version.
    pub expected: Exp,
}

/// One operation on the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `Store::append`, waiting for it.
    Append(AppendSpec),
    /// Several `Store::append_async` at once (they may share a commit), then
    /// waiting for all: must behave as the same appends one after another.
    Batch(Vec<AppendSpec>),
    /// `Store::read_stream_vec`.
    ReadStream {
        /// The stream, through [`stream_name`].
        stream: u8,
        /// The first version, modulo 10.
        from: u8,
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
    /// The stream is not at the expected version; it is at this one.
    WrongExpectedVersion(Option<u64>),
    /// An id is already stored, or given twice.
    DuplicateId,
    /// An empty or too long stream name or id, or no events.
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
        Error::WrongExpectedVersion { actual, .. } => Kind::WrongExpectedVersion(*actual),
        Error::DuplicateId(_) => Kind::DuplicateId,
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

/// Events to append: (id, or `None` for a generated one; data).
type Events = Vec<(Option<Vec<u8>>, Vec<u8>)>;
/// An append with its stream name, events and expected version.
type Resolved = (Vec<u8>, Events, ExpectedVersion);

/// The model: every event in log order.
#[derive(Default, Debug)]
pub struct Model {
    /// Every event appended so far, in log order.
    pub log: Vec<Event>,
    fresh: u64,
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

    /// The bytes of an id choice (`None`: let the store generate one).
    fn id_bytes(&mut self, c: &IdChoice) -> Option<Vec<u8>> {
        match c {
            IdChoice::Generated => None,
            IdChoice::Pool(k) => Some(format!("pool-{}", k % 6).into_bytes()),
            IdChoice::Fresh => {
                self.fresh += 1;
                Some(format!("fresh-{}", self.fresh).into_bytes())
            }
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

    /// What an append must do, before it happens.
    fn predict(
        &self,
        stream: &[u8],
        ids: &[Option<Vec<u8>>],
        exp: ExpectedVersion,
    ) -> Result<(), Kind> {
        if stream.is_empty() || stream.len() > 255 || ids.is_empty() {
            return Err(Kind::InvalidArgument);
        }
        if ids
            .iter()
            .flatten()
            .any(|id| id.is_empty() || id.len() > 255)
        {
            return Err(Kind::InvalidArgument);
        }
        let actual = self.head(stream).map(|h| h.version);
        if !exp.allows(actual) {
            return Err(Kind::WrongExpectedVersion(actual));
        }
        let given: Vec<&Vec<u8>> = ids.iter().flatten().collect();
        for (i, id) in given.iter().enumerate() {
            if given[..i].contains(id) || self.by_id(id).is_some() {
                return Err(Kind::DuplicateId);
            }
        }
        Ok(())
    }

    /// Checks one append's outcome against the prediction and applies it.
    fn apply(
        &mut self,
        stream: &[u8],
        events: &[(Option<Vec<u8>>, Vec<u8>)],
        exp: ExpectedVersion,
        got: rewind_core::Result<Vec<rewind_core::Appended>>,
    ) {
        let ids: Vec<Option<Vec<u8>>> = events.iter().map(|e| e.0.clone()).collect();
        let want = self.predict(stream, &ids, exp);
        let appended = match (want, got) {
            (Ok(()), Ok(a)) => a,
            (Err(k), Err(e)) => {
                assert_eq!(kind_of(&e), k, "append to {stream:?}: wrong error: {e}");
                return;
            }
            (Ok(()), Err(e)) => {
                panic!("append to {stream:?} failed, the model says it succeeds: {e}")
            }
            (Err(k), Ok(a)) => {
                panic!("append to {stream:?} succeeded ({a:?}), the model says {k:?}")
            }
        };
        assert_eq!(appended.len(), events.len());
        let first_version = self.head(stream).map_or(0, |h| h.version + 1);
        for (i, ((id, data), a)) in events.iter().zip(&appended).enumerate() {
            match id {
                Some(id) => assert_eq!(&a.id, id, "the given id is kept"),
                None => {
                    let text = std::str::from_utf8(&a.id).expect("generated ids are text");
                    let u = uuid::Uuid::parse_str(text).expect("generated ids are UUIDs");
                    assert_eq!(u.hyphenated().to_string(), text, "canonical form");
                    assert!(self.by_id(&a.id).is_none(), "generated id collides");
                }
            }
            assert_eq!(a.version, first_version + i as u64, "version");
            assert_eq!(a.position, self.log.len() as u64, "position");
            self.log.push(Event {
                id: a.id.clone(),
                data: data.clone(),
                stream: stream.to_vec(),
                version: a.version,
                position: a.position,
            });
        }
    }

    fn resolve(&mut self, spec: &AppendSpec) -> Resolved {
        let events = spec
            .events
            .iter()
            .map(|(c, d)| (self.id_bytes(c), d.clone()))
            .collect();
        (stream_name(spec.stream), events, spec.expected.get())
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

fn new_events(events: &[(Option<Vec<u8>>, Vec<u8>)]) -> Vec<NewEvent> {
    events
        .iter()
        .map(|(id, d)| NewEvent {
            id: id.clone(),
            data: d.clone(),
        })
        .collect()
}

/// Runs `ops` against `store` and `model`, panicking at the first
/// difference. `reopen` closes the store and opens it again (`None` for a
/// store that does not survive a close).
pub fn run_ops(
    mut store: Store,
    model: &mut Model,
    ops: &[Op],
    mut reopen: Option<&mut dyn FnMut(Store) -> Store>,
) -> Store {
    for (n, op) in ops.iter().enumerate() {
        let ctx = format!("op {n}: {op:?}");
        match op {
            Op::Append(spec) => {
                let (stream, events, exp) = model.resolve(spec);
                let got = store.append(&stream, new_events(&events), exp);
                model.apply(&stream, &events, exp, got);
            }
            Op::Batch(specs) => {
                let resolved: Vec<_> = specs.iter().map(|s| model.resolve(s)).collect();
                let rxs: Vec<_> = resolved
                    .iter()
                    .map(|(stream, events, exp)| {
                        let (tx, rx) = std::sync::mpsc::channel();
                        store.append_async(
                            stream,
                            new_events(events),
                            *exp,
                            Box::new(move |r| {
                                let _ = tx.send(r);
                            }),
                        );
                        rx
                    })
                    .collect();
                for ((stream, events, exp), rx) in resolved.iter().zip(rxs) {
                    let got = rx.recv().expect("append_async completes exactly once");
                    model.apply(stream, events, *exp, got);
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

    fn data(&mut self) -> Vec<u8> {
        let n = usize::from(self.u8() % 24).min(self.0.len());
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

    fn append(&mut self) -> AppendSpec {
        let stream = self.u8();
        let n = usize::from(self.u8() % 5);
        let events = (0..n).map(|_| (self.id(), self.data())).collect();
        AppendSpec {
            stream,
            events,
            expected: self.exp(),
        }
    }

    fn op(&mut self) -> Op {
        match self.u8() % 12 {
            0..=3 => Op::Append(self.append()),
            4 => {
                let n = usize::from(self.u8() % 6) + 1;
                Op::Batch((0..n).map(|_| self.append()).collect())
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
            _ => Op::Reopen,
        }
    }
}
