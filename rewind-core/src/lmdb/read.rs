//! Reads: the log by position and a stream by version (forwards, and
//! backwards with a reverse cursor), an event by id, stream heads and the
//! next position, each in one read transaction of [`Env::with_read`]; and
//! the lookups in a transaction that the writer shares (the last position,
//! a stream's head, an event by position).
//!
//! Reads hand out events borrowed from LMDB's pages (no copy). Nothing here
//! writes, resizes or decides a byte layout: keys and values are decoded by
//! [`codec`](super::codec).

use lmdb::{Cursor, Database, RoCursor, Transaction};

use super::codec::{decode_head, decode_record, pos_key, read_u64, same_stream, stream_key};
use super::env::Env;
use crate::backend::Visitor;
use crate::{Error, EventRef, Result, StreamHead};

/// LMDB's "not found" as `None`.
#[inline]
pub(super) fn not_found_is_none<T>(r: lmdb::Result<T>) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(lmdb::Error::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The position the next event gets: one past the last key of `log`.
pub(super) fn next_position_in(txn: &impl Transaction, log: Database) -> Result<u64> {
    let cur = txn.open_ro_cursor(log)?;
    match cur.get(None, None, lmdb_sys::MDB_LAST) {
        Ok((Some(k), _)) => Ok(read_u64(k)? + 1),
        Ok((None, _)) | Err(lmdb::Error::NotFound) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

/// The last event of `stream`, from the `heads` database.
pub(super) fn head_in(
    txn: &impl Transaction,
    heads: Database,
    stream: &[u8],
) -> Result<Option<StreamHead>> {
    not_found_is_none(txn.get(heads, &stream))?
        .map(decode_head)
        .transpose()
}

/// The event at `position`, if there is one.
#[inline]
pub(super) fn event_at<'t>(
    txn: &'t impl Transaction,
    log: Database,
    position: u64,
) -> Result<Option<EventRef<'t>>> {
    match not_found_is_none(txn.get(log, &pos_key(position)))? {
        Some(rec) => Ok(Some(decode_record(position, rec)?)),
        None => Ok(None),
    }
}

/// The entry of `cur` a backward read from `key` starts at: `key` itself,
/// or the last one before it.
fn last_at_or_before<'t>(cur: &RoCursor<'t>, key: &[u8]) -> Result<Option<(&'t [u8], &'t [u8])>> {
    match cur.get(Some(key), None, lmdb_sys::MDB_SET_RANGE) {
        Ok((Some(k), v)) if k == key => Ok(Some((k, v))),
        Ok(_) => step_back(cur),
        Err(lmdb::Error::NotFound) => {
            Ok(not_found_is_none(cur.get(None, None, lmdb_sys::MDB_LAST))?
                .map(|(k, v)| (k.unwrap_or_default(), v)))
        }
        Err(e) => Err(e.into()),
    }
}

/// The entry before the one `cur` is at.
#[inline]
fn step_back<'t>(cur: &RoCursor<'t>) -> Result<Option<(&'t [u8], &'t [u8])>> {
    Ok(not_found_is_none(cur.get(None, None, lmdb_sys::MDB_PREV))?
        .map(|(k, v)| (k.unwrap_or_default(), v)))
}

/// Visits up to `limit` events of the log from `from_position` on.
pub(super) fn read_log(
    env: &Env,
    from_position: u64,
    limit: usize,
    visit: &mut Visitor<'_>,
) -> Result<()> {
    if limit == 0 {
        return Ok(());
    }
    let log = env.dbs().log;
    env.with_read(|txn| {
        let mut cur = txn.open_ro_cursor(log)?;
        for (n, item) in cur.iter_from(pos_key(from_position)).enumerate() {
            let (k, v) = item?;
            let ev = decode_record(read_u64(k)?, v)?;
            if !visit(ev) || n + 1 >= limit {
                break;
            }
        }
        Ok(())
    })
}

/// Visits up to `limit` events of `stream` from `from_version` on.
pub(super) fn read_stream(
    env: &Env,
    stream: &[u8],
    from_version: u64,
    limit: usize,
    visit: &mut Visitor<'_>,
) -> Result<()> {
    if limit == 0 || stream.is_empty() || stream.len() > crate::MAX_NAME_LEN {
        return Ok(());
    }
    let start = stream_key(stream, from_version);
    let dbs = env.dbs();
    env.with_read(|txn| {
        let mut cur = txn.open_ro_cursor(dbs.streams)?;
        for (n, item) in cur.iter_from(&start).enumerate() {
            let (k, v) = item?;
            if !same_stream(k, &start) {
                break;
            }
            let position = read_u64(v)?;
            let ev = event_at(txn, dbs.log, position)?.ok_or_else(|| {
                Error::Corrupt(format!(
                    "stream index points at missing position {position}"
                ))
            })?;
            if !visit(ev) || n + 1 >= limit {
                break;
            }
        }
        Ok(())
    })
}

/// Visits up to `limit` events of the log backwards from `from_position`
/// (inclusive; `None`: from the last event).
pub(super) fn read_log_backward(
    env: &Env,
    from_position: Option<u64>,
    limit: usize,
    visit: &mut Visitor<'_>,
) -> Result<()> {
    if limit == 0 {
        return Ok(());
    }
    let log = env.dbs().log;
    let start = pos_key(from_position.unwrap_or(u64::MAX));
    env.with_read(|txn| {
        let cur = txn.open_ro_cursor(log)?;
        let mut item = last_at_or_before(&cur, &start)?;
        let mut n = 0;
        while let Some((k, v)) = item {
            let ev = decode_record(read_u64(k)?, v)?;
            n += 1;
            if !visit(ev) || n >= limit {
                break;
            }
            item = step_back(&cur)?;
        }
        Ok(())
    })
}

/// Visits up to `limit` events of `stream` backwards from `from_version`
/// (inclusive; `None`: from the last event).
pub(super) fn read_stream_backward(
    env: &Env,
    stream: &[u8],
    from_version: Option<u64>,
    limit: usize,
    visit: &mut Visitor<'_>,
) -> Result<()> {
    if limit == 0 || stream.is_empty() || stream.len() > crate::MAX_NAME_LEN {
        return Ok(());
    }
    let start = stream_key(stream, from_version.unwrap_or(u64::MAX));
    let dbs = env.dbs();
    env.with_read(|txn| {
        let cur = txn.open_ro_cursor(dbs.streams)?;
        let mut item = last_at_or_before(&cur, &start)?;
        let mut n = 0;
        while let Some((k, v)) = item {
            if !same_stream(k, &start) {
                break;
            }
            let position = read_u64(v)?;
            let ev = event_at(txn, dbs.log, position)?.ok_or_else(|| {
                Error::Corrupt(format!(
                    "stream index points at missing position {position}"
                ))
            })?;
            n += 1;
            if !visit(ev) || n >= limit {
                break;
            }
            item = step_back(&cur)?;
        }
        Ok(())
    })
}

/// Visits the event with this id; returns whether there is one.
pub(super) fn get(env: &Env, id: &[u8], visit: &mut Visitor<'_>) -> Result<bool> {
    if id.is_empty() || id.len() > crate::MAX_NAME_LEN {
        return Ok(false);
    }
    let dbs = env.dbs();
    env.with_read(|txn| {
        let Some(p) = not_found_is_none(txn.get(dbs.ids, &id))? else {
            return Ok(false);
        };
        let position = read_u64(p)?;
        let ev = event_at(txn, dbs.log, position)?.ok_or_else(|| {
            Error::Corrupt(format!("id index points at missing position {position}"))
        })?;
        visit(ev);
        Ok(true)
    })
}

/// The last event of `stream`, `None` when the stream does not exist.
pub(super) fn stream_head(env: &Env, stream: &[u8]) -> Result<Option<StreamHead>> {
    if stream.is_empty() || stream.len() > crate::MAX_NAME_LEN {
        return Ok(None);
    }
    let heads = env.dbs().heads;
    env.with_read(|txn| head_in(txn, heads, stream))
}

/// The position the next appended event will get.
pub(super) fn next_position(env: &Env) -> Result<u64> {
    let log = env.dbs().log;
    env.with_read(|txn| next_position_in(txn, log))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lmdb::codec::{encode_head, encode_record, encode_record_v1};
    use crate::lmdb::LmdbOptions;
    use lmdb::WriteFlags;

    /// The type and metadata of the event at `p` in [`store_with`]'s stores.
    fn type_and_metadata(p: u64) -> (Vec<u8>, Vec<u8>) {
        if p % 2 == 0 {
            (vec![], vec![])
        } else {
            (format!("T{p}").into_bytes(), format!("m{p}").into_bytes())
        }
    }

    /// A store whose databases hold `events` (stream, id, data), put in
    /// place byte by byte, as the writer would: the events at even
    /// positions in the layout of Rewind 0.4.0, the others in the current
    /// one, with a type and metadata ([`type_and_metadata`]).
    fn store_with(events: &[(&[u8], &[u8], &[u8])]) -> (tempfile::TempDir, Env) {
        let dir = tempfile::tempdir().unwrap();
        let env = Env::open(&LmdbOptions::new(dir.path().join("db"))).unwrap();
        let dbs = env.dbs();
        env.with_write(|mut txn| {
            let mut versions = std::collections::HashMap::new();
            let mut buf = Vec::new();
            for (p, (stream, id, data)) in events.iter().enumerate() {
                let p = p as u64;
                let v = versions.entry(*stream).or_insert(0u64);
                if p % 2 == 0 {
                    encode_record_v1(&mut buf, stream, id, *v, data);
                } else {
                    let (t, m) = type_and_metadata(p);
                    let ev = EventRef {
                        id,
                        event_type: &t,
                        metadata: &m,
                        data,
                        stream,
                        version: *v,
                        position: p,
                    };
                    encode_record(&mut buf, &ev);
                }
                txn.put(dbs.log, &pos_key(p), &buf, WriteFlags::empty())?;
                txn.put(dbs.ids, id, &pos_key(p), WriteFlags::empty())?;
                txn.put(
                    dbs.streams,
                    &stream_key(stream, *v),
                    &pos_key(p),
                    WriteFlags::empty(),
                )?;
                encode_head(&mut buf, *v, p, id);
                txn.put(dbs.heads, stream, &buf, WriteFlags::empty())?;
                *v += 1;
            }
            txn.commit()
        })
        .unwrap();
        (dir, env)
    }

    const EVENTS: [(&[u8], &[u8], &[u8]); 5] = [
        (b"a", b"id0", b"zero"),
        (b"b", b"id1", b""),
        (b"a", b"id2", b"two"),
        (b"ab", b"id3", b"three"),
        (b"a", b"id4", b"four"),
    ];

    fn log(env: &Env, from: u64, limit: usize) -> Vec<(u64, Vec<u8>, u64, Vec<u8>)> {
        let mut out = Vec::new();
        read_log(env, from, limit, &mut |e| {
            out.push((e.position, e.stream.to_vec(), e.version, e.data.to_vec()));
            true
        })
        .unwrap();
        out
    }

    fn stream(env: &Env, s: &[u8], from: u64, limit: usize) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        read_stream(env, s, from, limit, &mut |e| {
            assert_eq!(e.stream, s);
            out.push((e.version, e.position));
            true
        })
        .unwrap();
        out
    }

    #[test]
    fn the_log_is_read_in_position_order_from_a_position_up_to_a_limit() {
        let (_d, env) = store_with(&EVENTS);
        let all = log(&env, 0, usize::MAX);
        assert_eq!(all.len(), 5);
        assert_eq!(all[0], (0, b"a".to_vec(), 0, b"zero".to_vec()));
        assert_eq!(all[4], (4, b"a".to_vec(), 2, b"four".to_vec()));
        assert_eq!(
            log(&env, 2, 2).iter().map(|e| e.0).collect::<Vec<_>>(),
            [2, 3]
        );
        assert!(log(&env, 5, 10).is_empty());
        assert!(log(&env, 0, 0).is_empty());
        assert!(log(&env, u64::MAX, 10).is_empty());
    }

    #[test]
    fn records_of_both_layouts_read_back_with_their_types_and_metadata() {
        let (_d, env) = store_with(&EVENTS);
        let mut got = Vec::new();
        read_log(&env, 0, usize::MAX, &mut |e| {
            got.push((
                e.position,
                e.id.to_vec(),
                e.event_type.to_vec(),
                e.metadata.to_vec(),
            ));
            true
        })
        .unwrap();
        let want: Vec<_> = EVENTS
            .iter()
            .enumerate()
            .map(|(p, (_, id, _))| {
                let (t, m) = type_and_metadata(p as u64);
                (p as u64, id.to_vec(), t, m)
            })
            .collect();
        assert_eq!(got, want);
        let mut typed = None;
        get(&env, b"id3", &mut |e| {
            typed = Some(e.to_owned());
            true
        })
        .unwrap();
        let typed = typed.unwrap();
        assert_eq!(
            (typed.event_type, typed.metadata),
            (b"T3".to_vec(), b"m3".to_vec())
        );
    }

    fn log_back(env: &Env, from: Option<u64>, limit: usize) -> Vec<u64> {
        let mut out = Vec::new();
        read_log_backward(env, from, limit, &mut |e| {
            out.push(e.position);
            true
        })
        .unwrap();
        out
    }

    fn stream_back(env: &Env, s: &[u8], from: Option<u64>, limit: usize) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        read_stream_backward(env, s, from, limit, &mut |e| {
            assert_eq!(e.stream, s);
            out.push((e.version, e.position));
            true
        })
        .unwrap();
        out
    }

    #[test]
    fn the_log_is_read_backwards_from_a_position_or_the_end() {
        let (_d, env) = store_with(&EVENTS);
        assert_eq!(log_back(&env, None, usize::MAX), [4, 3, 2, 1, 0]);
        assert_eq!(log_back(&env, Some(2), usize::MAX), [2, 1, 0]);
        assert_eq!(log_back(&env, Some(3), 2), [3, 2]);
        assert_eq!(log_back(&env, Some(0), 10), [0]);
        assert_eq!(
            log_back(&env, Some(5), 2),
            [4, 3],
            "past the end: from the last"
        );
        assert_eq!(log_back(&env, Some(u64::MAX), 1), [4]);
        assert!(log_back(&env, None, 0).is_empty());
        let (_d2, empty) = store_with(&[]);
        assert!(log_back(&empty, None, 10).is_empty());
        assert!(log_back(&empty, Some(3), 10).is_empty());
    }

    #[test]
    fn a_stream_is_read_backwards_alone() {
        let (_d, env) = store_with(&EVENTS);
        assert_eq!(
            stream_back(&env, b"a", None, usize::MAX),
            [(2, 4), (1, 2), (0, 0)]
        );
        assert_eq!(
            stream_back(&env, b"a", Some(1), usize::MAX),
            [(1, 2), (0, 0)]
        );
        assert_eq!(stream_back(&env, b"a", Some(2), 1), [(2, 4)]);
        assert_eq!(stream_back(&env, b"a", Some(0), 5), [(0, 0)]);
        assert_eq!(stream_back(&env, b"a", Some(9), 2), [(2, 4), (1, 2)]);
        // keys sort by length first: the streams are a, b, ab in that order
        assert_eq!(stream_back(&env, b"ab", None, 10), [(0, 3)]);
        assert_eq!(stream_back(&env, b"b", None, 10), [(0, 1)]);
        assert_eq!(stream_back(&env, b"b", Some(u64::MAX), 10), [(0, 1)]);
        for missing in [&b"c"[..], b"aa", b"0", b"", &[b'a'; 256]] {
            assert!(
                stream_back(&env, missing, None, 10).is_empty(),
                "{missing:?}"
            );
        }
        assert!(stream_back(&env, b"a", None, 0).is_empty());
        let mut seen = 0;
        read_stream_backward(&env, b"a", None, 10, &mut |_| {
            seen += 1;
            false
        })
        .unwrap();
        assert_eq!(seen, 1, "the visitor stops the read");
    }

    #[test]
    fn a_visitor_stops_a_read() {
        let (_d, env) = store_with(&EVENTS);
        let mut seen = 0;
        read_log(&env, 0, usize::MAX, &mut |_| {
            seen += 1;
            seen < 2
        })
        .unwrap();
        assert_eq!(seen, 2);
    }

    #[test]
    fn a_stream_is_read_alone_and_in_version_order() {
        let (_d, env) = store_with(&EVENTS);
        assert_eq!(stream(&env, b"a", 0, usize::MAX), [(0, 0), (1, 2), (2, 4)]);
        assert_eq!(stream(&env, b"a", 1, 1), [(1, 2)]);
        assert_eq!(stream(&env, b"ab", 0, usize::MAX), [(0, 3)]);
        assert_eq!(stream(&env, b"b", 0, usize::MAX), [(0, 1)]);
        assert!(stream(&env, b"a", 3, 10).is_empty());
        assert!(stream(&env, b"c", 0, 10).is_empty());
        assert!(stream(&env, b"", 0, 10).is_empty());
        assert!(stream(&env, &[b'a'; 256], 0, 10).is_empty());
    }

    #[test]
    fn events_are_found_by_id() {
        let (_d, env) = store_with(&EVENTS);
        let mut found = None;
        assert!(get(&env, b"id3", &mut |e| {
            found = Some((e.position, e.stream.to_vec(), e.data.to_vec()));
            true
        })
        .unwrap());
        assert_eq!(found, Some((3, b"ab".to_vec(), b"three".to_vec())));
        let mut never = |_: EventRef<'_>| panic!("nothing to visit");
        assert!(!get(&env, b"id9", &mut never).unwrap());
        assert!(!get(&env, b"", &mut never).unwrap());
        assert!(!get(&env, &[b'i'; 256], &mut never).unwrap());
    }

    #[test]
    fn heads_and_the_next_position() {
        let (_d, env) = store_with(&EVENTS);
        assert_eq!(
            stream_head(&env, b"a").unwrap(),
            Some(StreamHead {
                version: 2,
                position: 4,
                id: b"id4".to_vec()
            })
        );
        assert_eq!(stream_head(&env, b"c").unwrap(), None);
        assert_eq!(stream_head(&env, b"").unwrap(), None);
        assert_eq!(next_position(&env).unwrap(), 5);
        let (_d2, empty) = store_with(&[]);
        assert_eq!(next_position(&empty).unwrap(), 0);
        assert!(log(&empty, 0, 10).is_empty());
    }

    #[test]
    fn a_dangling_index_entry_is_corrupt() {
        let (_d, env) = store_with(&EVENTS);
        let dbs = env.dbs();
        env.with_write(|mut txn| {
            txn.del(dbs.log, &pos_key(2), None)?;
            txn.commit()
        })
        .unwrap();
        let mut any = |_: EventRef<'_>| true;
        assert!(matches!(
            read_stream(&env, b"a", 0, 10, &mut any),
            Err(Error::Corrupt(m)) if m.contains("missing position 2")
        ));
        assert!(matches!(
            get(&env, b"id2", &mut any),
            Err(Error::Corrupt(m)) if m.contains("missing position 2")
        ));
    }

    #[test]
    fn a_malformed_record_is_corrupt() {
        let (_d, env) = store_with(&EVENTS);
        let log_db = env.dbs().log;
        env.with_write(|mut txn| {
            txn.put(log_db, &pos_key(1), &[9, 1], WriteFlags::empty())?;
            txn.commit()
        })
        .unwrap();
        let mut any = |_: EventRef<'_>| true;
        assert!(matches!(
            read_log(&env, 0, 10, &mut any),
            Err(Error::Corrupt(m)) if m.contains("position 1")
        ));
        // reads that stop before it are fine
        assert_eq!(log(&env, 0, 1).len(), 1);
    }
}
