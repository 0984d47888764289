//! Reads: the log by position, a stream by version, an event by id, stream
//! heads and the next position, each in one read transaction of
//! [`Env::with_read`]; and the lookups in a transaction that the writer
//! shares (the last position, a stream's head).
//!
//! Reads hand out events borrowed from LMDB's pages (no copy). Nothing here
//! writes, resizes or decides a byte layout: keys and values are decoded by
//! [`codec`](super::codec).

use lmdb::{Cursor, Database, RoTransaction, Transaction};

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
fn event_at<'t>(
    txn: &'t RoTransaction<'_>,
    log: Database,
    position: u64,
) -> Result<Option<EventRef<'t>>> {
    match not_found_is_none(txn.get(log, &pos_key(position)))? {
        Some(rec) => Ok(Some(decode_record(position, rec)?)),
        None => Ok(None),
    }
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
