//! The storage backend trait, and the batch planner every backend shares.
//!
//! A [`Backend`] stores events durably. It sees appends in batches: the
//! group-commit writer of [`Store`](crate::Store) hands it every append that
//! arrived while the previous commit was in flight, and the backend commits
//! them in one transaction. Each append in a batch succeeds or fails on its
//! own (a version conflict fails one append, not its neighbours); a failure of
//! the transaction itself fails the whole batch.

use std::collections::{HashMap, HashSet};

use crate::model::{check_event_id, check_stream_name};
use crate::{Error, EventRef, ExpectedVersion, Result, StreamHead};

/// One append, ready for a backend: every event has its id.
#[derive(Debug, Clone)]
pub struct AppendRequest {
    /// The stream to append to.
    pub stream: Vec<u8>,
    /// The condition on the stream's current version.
    pub expected: ExpectedVersion,
    /// The events, in order: `(id, data)`.
    pub events: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Where an accepted append landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendOutcome {
    /// The version of the first appended event.
    pub first_version: u64,
    /// The position of the first appended event; the others follow it.
    pub first_position: u64,
    /// The id of the event that preceded the append in its stream.
    pub prev_id: Option<Vec<u8>>,
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
    /// outcome per request, in order. Returns `Err` only when the transaction
    /// as a whole failed, in which case nothing of the batch is stored.
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

    /// Visits the event with this id, if there is one; returns whether there was.
    fn get(&self, id: &[u8], visit: &mut Visitor<'_>) -> Result<bool>;

    /// The last event of `stream`, `None` when the stream does not exist.
    fn stream_head(&self, stream: &[u8]) -> Result<Option<StreamHead>>;

    /// The position the next appended event will get (the number of events
    /// ever stored).
    fn next_position(&self) -> Result<u64>;

    /// Forces everything committed to disk. Backends that sync on every
    /// commit (all of this crate's) need not do anything.
    fn sync(&self) -> Result<()> {
        Ok(())
    }
}

/// The facts a batch planner needs from the state before the batch.
pub(crate) trait StoreView {
    fn head(&mut self, stream: &[u8]) -> Result<Option<StreamHead>>;
    fn contains_id(&mut self, id: &[u8]) -> Result<bool>;
}

/// Validates every append of a batch against the store and against the
/// appends before it in the same batch, and assigns versions and positions.
/// The one place where the append rules live, for every backend.
pub(crate) fn plan_batch(
    view: &mut dyn StoreView,
    mut next_position: u64,
    batch: &[AppendRequest],
) -> Result<Vec<Result<AppendOutcome>>> {
    let mut heads: HashMap<&[u8], Option<StreamHead>> = HashMap::new();
    let mut new_ids: HashSet<&[u8]> = HashSet::new();
    let mut outcomes = Vec::with_capacity(batch.len());
    for req in batch {
        let outcome = (|| {
            check_stream_name(&req.stream)?;
            if req.events.is_empty() {
                return Err(Error::InvalidArgument(
                    "an append needs at least one event".into(),
                ));
            }
            let head = match heads.get(req.stream.as_slice()) {
                Some(h) => h.clone(),
                None => view.head(&req.stream)?,
            };
            let actual = head.as_ref().map(|h| h.version);
            if !req.expected.allows(actual) {
                return Err(Error::WrongExpectedVersion {
                    stream: req.stream.clone(),
                    expected: req.expected,
                    actual,
                });
            }
            let mut seen: HashSet<&[u8]> = HashSet::new();
            for (id, _) in &req.events {
                check_event_id(id)?;
                if !seen.insert(id) || new_ids.contains(id.as_slice()) || view.contains_id(id)? {
                    return Err(Error::DuplicateId(id.clone()));
                }
            }
            Ok(AppendOutcome {
                first_version: actual.map_or(0, |v| v + 1),
                first_position: next_position,
                prev_id: head.map(|h| h.id),
            })
        })();
        if let Ok(o) = &outcome {
            let n = req.events.len() as u64;
            let (last_id, _) = req.events.last().expect("checked non-empty");
            heads.insert(
                &req.stream,
                Some(StreamHead {
                    version: o.first_version + n - 1,
                    position: o.first_position + n - 1,
                    id: last_id.clone(),
                }),
            );
            new_ids.extend(req.events.iter().map(|(id, _)| id.as_slice()));
            next_position += n;
        }
        outcomes.push(outcome);
    }
    Ok(outcomes)
}
