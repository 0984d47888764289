//! The batch append: one write transaction per batch, planned by the
//! shared [`plan_batch`] and put into the four databases; and the loop that
//! retries it when the map is full (after growing it) or was resized by
//! another process.
//!
//! The only writer of events. It decides nothing about byte layouts (that
//! is [`codec`](super::codec)) nor about map sizes (that is
//! [`env`](super::env)); a failed attempt is aborted whole, so a batch is
//! stored entirely or not at all.

use lmdb::{Cursor, RoCursor, RwTransaction, Transaction, WriteFlags};

use super::codec::{encode_head, encode_record, pos_key, push_stream_key, read_u64};
use super::env::{disk_nearly_full, Env};
use super::read::{event_at, head_in, next_position_in, not_found_is_none};
use crate::backend::{
    events_to_write, parts_to_write, plan_batch, AppendOutcome, AppendRequest, PlannedEvent,
    StoreView,
};
use crate::{Error, Event, EventRef, Result, StreamHead};

/// The outcomes of a batch, or the error that failed it as a whole.
type Outcomes = Result<Vec<Result<AppendOutcome>>>;

/// A rough size of what `batch` adds to the store, in bytes: what the map
/// must at least grow by for it to fit.
fn batch_bytes(batch: &[AppendRequest]) -> usize {
    batch
        .iter()
        .flat_map(|r| r.events())
        .map(|(_, e)| e.id.len() + e.len_bytes() + 128)
        .sum()
}

/// Commits `batch` in one durable transaction (see
/// [`Backend::append_batch`](crate::Backend::append_batch)).
pub(super) fn append_batch(env: &Env, batch: &[AppendRequest]) -> Outcomes {
    if env.read_only() {
        return Err(Error::ReadOnly);
    }
    let bytes = batch_bytes(batch);
    env.count_commit();
    loop {
        match env.with_write(|txn| try_append(env, txn, batch)) {
            Ok(outcome) => return outcome,
            Err(lmdb::Error::MapFull) => {
                // Pages pinned by a dead reader become free again.
                if env.clear_dead_readers() == 0 {
                    env.grow(bytes)?;
                }
            }
            Err(lmdb::Error::MapResized) => env.adopt_resize()?,
            // LMDB reports a short write as EIO: on a full disk that is
            // the first sign, before writes fail with ENOSPC.
            Err(lmdb::Error::Other(libc::EIO))
                if disk_nearly_full(env.path(), 2 * bytes as u64 + (1 << 20)) =>
            {
                return Err(Error::StorageFull("no space left on device".into()))
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The store as the planner sees it, inside the write transaction.
struct TxnView<'a, 't> {
    txn: &'a RwTransaction<'t>,
    /// Looks ids up; a cursor kept across lookups skips the descent from
    /// the root when the next id falls on the same leaf (generated ids are
    /// time-ordered, so they mostly do).
    ids: RoCursor<'a>,
    heads: lmdb::Database,
    log: lmdb::Database,
}

impl StoreView for TxnView<'_, '_> {
    fn head(&mut self, stream: &[u8]) -> Result<Option<StreamHead>> {
        head_in(self.txn, self.heads, stream)
    }

    fn contains_id(&mut self, id: &[u8]) -> Result<bool> {
        Ok(not_found_is_none(self.ids.get(Some(id), None, lmdb_sys::MDB_SET))?.is_some())
    }

    fn event(&mut self, id: &[u8]) -> Result<Option<Event>> {
        let Some((_, p)) = not_found_is_none(self.ids.get(Some(id), None, lmdb_sys::MDB_SET))?
        else {
            return Ok(None);
        };
        let position = read_u64(p)?;
        let ev = event_at(self.txn, self.log, position)?.ok_or_else(|| {
            Error::Corrupt(format!("id index points at missing position {position}"))
        })?;
        Ok(Some(ev.to_owned()))
    }
}

/// The event as the codec takes it.
#[inline]
fn as_event_ref<'a>(p: &PlannedEvent<'a>) -> EventRef<'a> {
    EventRef {
        id: &p.event.id,
        event_type: &p.event.event_type,
        metadata: &p.event.metadata,
        data: &p.event.data,
        stream: p.stream,
        version: p.version,
        position: p.position,
    }
}

/// One attempt at the batch. The outer error is LMDB's, for the retry loop
/// to act on; the inner one fails the batch as it is. Dropping `txn`
/// without committing aborts it.
fn try_append(
    env: &Env,
    mut txn: RwTransaction<'_>,
    batch: &[AppendRequest],
) -> lmdb::Result<Outcomes> {
    let dbs = env.dbs();
    let next = match next_position_in(&txn, dbs.log) {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    let outcomes = {
        let mut view = TxnView {
            txn: &txn,
            ids: txn.open_ro_cursor(dbs.ids)?,
            heads: dbs.heads,
            log: dbs.log,
        };
        match plan_batch(&mut view, next, batch) {
            Ok(o) => o,
            Err(e) => return Ok(Err(e)),
        }
    };
    // One database at a time, each through one cursor: a put next to
    // the previous one finds its leaf without a descent from the root.
    // (MDB_APPEND would look the last key up from the root on every
    // put; LMDB packs sequential inserts as tightly without it.)
    let mut buf = Vec::new();
    {
        let mut cur = txn.open_rw_cursor(dbs.log)?;
        for p in events_to_write(batch, &outcomes) {
            encode_record(&mut buf, &as_event_ref(&p));
            cur.put(&pos_key(p.position), &buf, WriteFlags::NO_OVERWRITE)?;
        }
    }
    {
        let mut cur = txn.open_rw_cursor(dbs.ids)?;
        for p in events_to_write(batch, &outcomes) {
            cur.put(&p.event.id, &pos_key(p.position), WriteFlags::NO_OVERWRITE)?;
        }
    }
    {
        let mut cur = txn.open_rw_cursor(dbs.streams)?;
        for p in events_to_write(batch, &outcomes) {
            buf.clear();
            push_stream_key(&mut buf, p.stream, p.version);
            cur.put(&buf, &pos_key(p.position), WriteFlags::empty())?;
        }
    }
    for (part, o) in parts_to_write(batch, &outcomes) {
        let n = part.events.len() as u64;
        let last = part.events.last().expect("a written part has events");
        encode_head(
            &mut buf,
            o.first_version + n - 1,
            o.first_position + n - 1,
            &last.id,
        );
        txn.put(dbs.heads, &part.stream, &buf, WriteFlags::empty())?;
    }
    txn.commit()?;
    Ok(Ok(outcomes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{PartOutcome, PreparedEvent, StreamRequest};
    use crate::lmdb::codec::{decode_head, decode_record, read_u64, stream_key};
    use crate::lmdb::read::{next_position, read_log};
    use crate::lmdb::LmdbOptions;
    use crate::ExpectedVersion;

    fn open(dir: &tempfile::TempDir, initial: usize, limit: Option<usize>) -> Env {
        Env::open(&LmdbOptions {
            initial_map_size: initial,
            max_map_size: limit,
            ..LmdbOptions::new(dir.path().join("db"))
        })
        .unwrap()
    }

    fn req(stream: &[u8], expected: ExpectedVersion, ids: &[&str], data: &[u8]) -> AppendRequest {
        let events = ids.iter().map(|id| PreparedEvent::new(*id, data)).collect();
        AppendRequest::single(stream, expected, events)
    }

    fn written(o: &Result<AppendOutcome>) -> &PartOutcome {
        &o.as_ref().unwrap().written().unwrap()[0]
    }

    /// Every key and value of a database, raw.
    fn raw(env: &Env, db: lmdb::Database) -> Vec<(Vec<u8>, Vec<u8>)> {
        env.with_read(|txn| {
            let mut cur = txn.open_ro_cursor(db)?;
            cur.iter_start()
                .map(|kv| {
                    kv.map(|(k, v)| (k.to_vec(), v.to_vec()))
                        .map_err(Into::into)
                })
                .collect()
        })
        .unwrap()
    }

    #[test]
    fn a_batch_lands_in_every_database_in_the_documented_layout() {
        let dir = tempfile::tempdir().unwrap();
        let env = open(&dir, 1 << 20, None);
        let out = append_batch(
            &env,
            &[
                req(b"s", ExpectedVersion::Any, &["a", "b"], b"d"),
                req(b"t", ExpectedVersion::Any, &["c"], b""),
            ],
        )
        .unwrap();
        assert_eq!(out.len(), 2);
        let o = written(&out[1]);
        assert_eq!((o.first_version, o.first_position), (0, 2));
        let dbs = env.dbs();
        let p = |n: u64| n.to_be_bytes().to_vec();
        assert_eq!(
            raw(&env, dbs.log),
            [
                (
                    p(0),
                    [&[0, 2, 1, b's', 1, b'a'][..], &p(0), &[0, 0], b"d"].concat()
                ),
                (
                    p(1),
                    [&[0, 2, 1, b's', 1, b'b'][..], &p(1), &[0, 0], b"d"].concat()
                ),
                (
                    p(2),
                    [&[0, 2, 1, b't', 1, b'c'][..], &p(0), &[0, 0]].concat()
                ),
            ]
        );
        assert_eq!(
            raw(&env, dbs.ids),
            [
                (b"a".to_vec(), p(0)),
                (b"b".to_vec(), p(1)),
                (b"c".to_vec(), p(2))
            ]
        );
        assert_eq!(
            raw(&env, dbs.streams),
            [
                (stream_key(b"s", 0), p(0)),
                (stream_key(b"s", 1), p(1)),
                (stream_key(b"t", 0), p(2))
            ]
        );
        assert_eq!(
            raw(&env, dbs.heads),
            [
                (b"s".to_vec(), [p(1), p(1), b"b".to_vec()].concat()),
                (b"t".to_vec(), [p(0), p(2), b"c".to_vec()].concat())
            ]
        );
        // and decodes back
        let (k, v) = &raw(&env, dbs.log)[1];
        let ev = decode_record(read_u64(k).unwrap(), v).unwrap();
        assert_eq!((ev.id, ev.version, ev.position), (&b"b"[..], 1, 1));
        let h = decode_head(&raw(&env, dbs.heads)[0].1).unwrap();
        assert_eq!(h.id, b"b");
    }

    #[test]
    fn a_batch_continues_streams_and_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let env = open(&dir, 1 << 20, None);
        append_batch(&env, &[req(b"s", ExpectedVersion::Any, &["a"], b"1")]).unwrap();
        let out = append_batch(
            &env,
            &[
                req(b"s", ExpectedVersion::Exact(0), &["b"], b"2"),
                req(b"s", ExpectedVersion::Exact(0), &["c"], b"x"), // conflicts with the one before
                req(b"s", ExpectedVersion::Exact(1), &["d"], b"3"),
            ],
        )
        .unwrap();
        assert!(out[0].is_ok() && out[2].is_ok());
        assert!(matches!(out[1], Err(Error::WrongExpectedVersion { .. })));
        assert_eq!(written(&out[0]).prev_id.as_deref(), Some(&b"a"[..]));
        let mut got = Vec::new();
        read_log(&env, 0, usize::MAX, &mut |e| {
            got.push((e.id.to_vec(), e.version, e.position));
            true
        })
        .unwrap();
        assert_eq!(
            got,
            [
                (b"a".to_vec(), 0, 0),
                (b"b".to_vec(), 1, 1),
                (b"d".to_vec(), 2, 2)
            ]
        );
        let h = head_in_env(&env, b"s");
        assert_eq!((h.version, h.position, h.id), (2, 2, b"d".to_vec()));
    }

    fn head_in_env(env: &Env, stream: &[u8]) -> StreamHead {
        let heads = env.dbs().heads;
        env.with_read(|txn| head_in(txn, heads, stream))
            .unwrap()
            .unwrap()
    }

    #[test]
    fn a_full_map_grows_and_the_batch_is_retried() {
        let dir = tempfile::tempdir().unwrap();
        let env = open(&dir, 64 << 10, None);
        let before = env.map_size().unwrap();
        let ids: Vec<String> = (0..2000).map(|i| format!("id-{i}")).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let out = append_batch(&env, &[req(b"s", ExpectedVersion::Any, &ids, &[7; 200])]).unwrap();
        assert!(out[0].is_ok());
        assert!(env.map_size().unwrap() > before);
        assert_eq!(next_position(&env).unwrap(), 2000);
    }

    #[test]
    fn a_batch_past_the_limit_is_refused_whole_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let env = open(&dir, 64 << 10, Some(256 << 10));
        append_batch(&env, &[req(b"s", ExpectedVersion::Any, &["first"], b"")]).unwrap();
        let ids: Vec<String> = (0..1000).map(|i| format!("id-{i}")).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let big = [
            req(b"t", ExpectedVersion::Any, &["small"], b""),
            req(b"s", ExpectedVersion::Any, &ids, &[7; 1000]),
        ];
        assert!(matches!(
            append_batch(&env, &big),
            Err(Error::StorageFull(_))
        ));
        assert_eq!(env.map_size().unwrap(), 256 << 10);
        let dbs = env.dbs();
        assert_eq!(raw(&env, dbs.log).len(), 1);
        assert_eq!(raw(&env, dbs.ids).len(), 1);
        assert_eq!(raw(&env, dbs.streams).len(), 1);
        assert_eq!(raw(&env, dbs.heads).len(), 1);
        // and the store still takes what fits
        append_batch(&env, &[req(b"t", ExpectedVersion::Any, &["small"], b"")]).unwrap();
        assert_eq!(next_position(&env).unwrap(), 2);
    }

    #[test]
    fn a_batch_of_refused_appends_stores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let env = open(&dir, 1 << 20, None);
        append_batch(&env, &[req(b"s", ExpectedVersion::Any, &["a"], b"")]).unwrap();
        let out = append_batch(
            &env,
            &[
                req(b"s", ExpectedVersion::NoStream, &["b"], b""),
                req(b"t", ExpectedVersion::Any, &["a"], b""), // duplicate id
                req(b"", ExpectedVersion::Any, &["c"], b""),  // no stream name
            ],
        )
        .unwrap();
        assert!(matches!(out[0], Err(Error::WrongExpectedVersion { .. })));
        assert!(matches!(out[1], Err(Error::DuplicateId(_))));
        assert!(matches!(out[2], Err(Error::InvalidArgument(_))));
        let dbs = env.dbs();
        for db in [dbs.log, dbs.ids, dbs.streams, dbs.heads] {
            assert_eq!(raw(&env, db).len(), 1);
        }
    }

    #[test]
    fn a_read_only_store_refuses_appends() {
        let dir = tempfile::tempdir().unwrap();
        drop(open(&dir, 1 << 20, None));
        let env = Env::open(&LmdbOptions {
            read_only: true,
            ..LmdbOptions::new(dir.path().join("db"))
        })
        .unwrap();
        assert!(matches!(
            append_batch(&env, &[req(b"s", ExpectedVersion::Any, &["a"], b"")]),
            Err(Error::ReadOnly)
        ));
    }

    #[test]
    fn the_growth_estimate_counts_ids_twice_the_rest_once_and_overhead() {
        assert_eq!(batch_bytes(&[]), 0);
        let mut typed = PreparedEvent::new("f", "");
        typed.event_type = b"Type".to_vec();
        typed.metadata = b"meta-data".to_vec();
        let b = [
            req(b"s", ExpectedVersion::Any, &["ab", "cd"], b"xyz"),
            req(b"t", ExpectedVersion::Any, &["e"], b""),
            AppendRequest::single("u", ExpectedVersion::Any, vec![typed]),
        ];
        assert_eq!(
            batch_bytes(&b),
            2 * (4 + 3 + 128) + (2 + 128) + (2 + 4 + 9 + 128)
        );
    }

    #[test]
    fn a_multi_stream_append_is_written_whole_with_types_and_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let env = open(&dir, 1 << 20, None);
        append_batch(&env, &[req(b"s", ExpectedVersion::Any, &["a"], b"1")]).unwrap();
        let mut typed = PreparedEvent::new("c", "3");
        typed.event_type = b"Typed".to_vec();
        typed.metadata = vec![0, 1, 2];
        let multi = AppendRequest {
            parts: vec![
                StreamRequest {
                    stream: b"t".to_vec(),
                    expected: ExpectedVersion::NoStream,
                    events: vec![PreparedEvent::new("b", "2"), typed],
                },
                StreamRequest {
                    stream: b"s".to_vec(),
                    expected: ExpectedVersion::Exact(0),
                    events: vec![PreparedEvent::new("d", "4")],
                },
            ],
        };
        let conflicting = AppendRequest {
            parts: vec![
                StreamRequest {
                    stream: b"u".to_vec(),
                    expected: ExpectedVersion::Any,
                    events: vec![PreparedEvent::new("e", "5")],
                },
                StreamRequest {
                    stream: b"s".to_vec(),
                    expected: ExpectedVersion::NoStream,
                    events: vec![PreparedEvent::new("f", "6")],
                },
            ],
        };
        let out = append_batch(&env, &[multi.clone(), conflicting]).unwrap();
        assert_eq!(
            out[0].as_ref().unwrap().written().unwrap(),
            [
                PartOutcome {
                    first_version: 0,
                    first_position: 1,
                    prev_id: None
                },
                PartOutcome {
                    first_version: 1,
                    first_position: 3,
                    prev_id: Some(b"a".to_vec())
                }
            ]
        );
        assert!(matches!(out[1], Err(Error::WrongExpectedVersion { .. })));
        let mut got = Vec::new();
        read_log(&env, 0, usize::MAX, &mut |e| {
            got.push(e.to_owned());
            true
        })
        .unwrap();
        let summary: Vec<_> = got
            .iter()
            .map(|e| (e.id.clone(), e.stream.clone(), e.version, e.position))
            .collect();
        assert_eq!(
            summary,
            [
                (b"a".to_vec(), b"s".to_vec(), 0, 0),
                (b"b".to_vec(), b"t".to_vec(), 0, 1),
                (b"c".to_vec(), b"t".to_vec(), 1, 2),
                (b"d".to_vec(), b"s".to_vec(), 1, 3),
            ]
        );
        assert_eq!(
            (got[2].event_type.as_slice(), got[2].metadata.as_slice()),
            (&b"Typed"[..], &[0, 1, 2][..])
        );
        assert_eq!(head_in_env(&env, b"t").id, b"c");
        assert_eq!(head_in_env(&env, b"s").id, b"d");
        // The same append again is a retry: found, not written.
        let again = append_batch(&env, &[multi]).unwrap();
        match &again[0] {
            Ok(AppendOutcome::AlreadyStored(found)) => {
                let at: Vec<_> = found.iter().map(|a| (a.version, a.position)).collect();
                assert_eq!(at, [(0, 1), (1, 2), (1, 3)]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(next_position(&env).unwrap(), 4);
        assert_eq!(raw(&env, env.dbs().ids).len(), 4);
    }
}
