//! The storage backend trait, and the batch planner every backend shares.
//!
//! A [`Backend`] stores events durably. It sees appends in batches: the
//! group-commit writer of [`Store`](crate::Store) hands it every append that
//! arrived while the previous commit was in flight, and the backend commits
//! them in one transaction. Each append in a batch succeeds or fails on its
//! own (a version conflict fails one append, not its neighbours); a failure of
//! the transaction itself fails the whole batch.
//!
//! The rules of an append are checked in one place, [`plan_batch`], which
//! every backend calls before it writes (this crate's LMDB and in-memory
//! backends, and the Python package's backend over a Python event store): a
//! backend describes the state before the batch through a [`StoreView`],
//! and writes exactly the appends the plan accepts, where the plan puts
//! them.

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
}

/// Plans a batch of appends: checks every append against the store (as
/// `view` shows it) and against the appends accepted before it in the same
/// batch, and says where each accepted append goes. The one place where the
/// append rules live, for every backend.
///
/// For each append, in order:
/// - the stream name has 1 to 255 bytes ([`Error::InvalidArgument`]);
/// - the append has at least one event ([`Error::InvalidArgument`]);
/// - its expected version allows the stream's version: the version in the
///   store, or after the appends accepted earlier in the batch
///   ([`Error::WrongExpectedVersion`]);
/// - every id has 1 to 255 bytes ([`Error::InvalidArgument`]), and is new:
///   not twice in the append, not in an append accepted earlier in the batch,
///   not in the store ([`Error::DuplicateId`], naming the first such id).
///
/// An accepted append gets the next versions of its stream and the next
/// positions of the log (the first is `next_position`, the position the
/// backend's next event gets), and the id of the event before it in its
/// stream. A refused append takes no version, position or id: the appends
/// after it are planned as if it were not in the batch. A backend then
/// writes exactly the accepted appends, in order.
///
/// Returns one outcome per append, in order. An error of the view fails the
/// append it was asked about; the outer `Result` is `Ok` (it is for
/// backends whose planning can fail as a whole).
///
/// ```
/// use rewind_core::backend::{plan_batch, AppendRequest, StoreView};
/// use rewind_core::{Error, ExpectedVersion, Result, StreamHead};
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
/// }
///
/// let append = |stream: &str, expected, ids: &[&str]| AppendRequest {
///     stream: stream.into(),
///     expected,
///     events: ids.iter().map(|id| (id.as_bytes().to_vec(), b"data".to_vec())).collect(),
/// };
/// let batch = [
///     append("s", ExpectedVersion::Exact(0), &["e2", "e3"]), // s: versions 1 and 2
///     append("s", ExpectedVersion::Exact(0), &["e4"]),       // s is at version 2 now
///     append("t", ExpectedVersion::NoStream, &["e1"]),       // e1 is taken
///     append("t", ExpectedVersion::NoStream, &["e5"]),       // t: version 0
/// ];
/// let outcomes = plan_batch(&mut OneEvent, 1, &batch).unwrap();
///
/// let s = outcomes[0].as_ref().unwrap();
/// assert_eq!((s.first_version, s.first_position), (1, 1));
/// assert_eq!(s.prev_id.as_deref(), Some(&b"e1"[..]));
/// assert!(matches!(outcomes[1], Err(Error::WrongExpectedVersion { actual: Some(2), .. })));
/// assert!(matches!(&outcomes[2], Err(Error::DuplicateId(id)) if id == b"e1"));
/// let t = outcomes[3].as_ref().unwrap();
/// assert_eq!((t.first_version, t.first_position, t.prev_id.clone()), (0, 3, None));
/// ```
pub fn plan_batch(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MAX_NAME_LEN as MAX;

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
    }

    fn append(stream: &str, expected: ExpectedVersion, ids: &[&str]) -> AppendRequest {
        AppendRequest {
            stream: stream.as_bytes().to_vec(),
            expected,
            events: ids
                .iter()
                .map(|id| (id.as_bytes().to_vec(), format!("data of {id}").into_bytes()))
                .collect(),
        }
    }

    fn plan(log: &mut Log, batch: &[AppendRequest]) -> Vec<Result<AppendOutcome>> {
        let next = log.next_position();
        plan_batch(log, next, batch).expect("planning never fails as a whole")
    }

    fn outcome(version: u64, position: u64, prev: Option<&str>) -> AppendOutcome {
        AppendOutcome {
            first_version: version,
            first_position: position,
            prev_id: prev.map(|p| p.as_bytes().to_vec()),
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
        use ExpectedVersion::*;
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
        use ExpectedVersion::*;
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
}
