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

use super::codec::{encode_head, encode_record, pos_key, push_stream_key};
use super::env::{disk_nearly_full, Env};
use super::read::{head_in, next_position_in, not_found_is_none};
use crate::backend::{plan_batch, AppendOutcome, AppendRequest, StoreView};
use crate::{Error, Result, StreamHead};

/// The outcomes of a batch, or the error that failed it as a whole.
type Outcomes = Result<Vec<Result<AppendOutcome>>>;

/// A rough size of what `batch` adds to the store, in bytes: what the map
/// must at least grow by for it to fit.
fn batch_bytes(batch: &[AppendRequest]) -> usize {
    batch
        .iter()
        .flat_map(|r| r.events.iter())
        .map(|(id, data)| 2 * id.len() + data.len() + 128)
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
}

impl StoreView for TxnView<'_, '_> {
    fn head(&mut self, stream: &[u8]) -> Result<Option<StreamHead>> {
        head_in(self.txn, self.heads, stream)
    }

    fn contains_id(&mut self, id: &[u8]) -> Result<bool> {
        Ok(not_found_is_none(self.ids.get(Some(id), None, lmdb_sys::MDB_SET))?.is_some())
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
        };
        match plan_batch(&mut view, next, batch) {
            Ok(o) => o,
            Err(e) => return Ok(Err(e)),
        }
    };
    // The accepted events with their versions and positions.
    let events = || {
        batch
            .iter()
            .zip(&outcomes)
            .filter_map(|(req, o)| o.as_ref().ok().map(|o| (req, o)))
            .flat_map(|(req, o)| {
                req.events.iter().enumerate().map(move |(i, (id, data))| {
                    let i = i as u64;
                    (req, id, data, o.first_version + i, o.first_position + i)
                })
            })
    };
    // One database at a time, each through one cursor: a put next to
    // the previous one finds its leaf without a descent from the root.
    // (MDB_APPEND would look the last key up from the root on every
    // put; LMDB packs sequential inserts as tightly without it.)
    let mut buf = Vec::new();
    {
        let mut cur = txn.open_rw_cursor(dbs.log)?;
        for (req, id, data, version, position) in events() {
            encode_record(&mut buf, &req.stream, id, version, data);
            cur.put(&pos_key(position), &buf, WriteFlags::NO_OVERWRITE)?;
        }
    }
    {
        let mut cur = txn.open_rw_cursor(dbs.ids)?;
        for (_, id, _, _, position) in events() {
            cur.put(id, &pos_key(position), WriteFlags::NO_OVERWRITE)?;
        }
    }
    {
        let mut cur = txn.open_rw_cursor(dbs.streams)?;
        for (req, _, _, version, position) in events() {
            buf.clear();
            push_stream_key(&mut buf, &req.stream, version);
            cur.put(&buf, &pos_key(position), WriteFlags::empty())?;
        }
    }
    for (req, outcome) in batch.iter().zip(&outcomes) {
        let Ok(o) = outcome else { continue };
        let n = req.events.len() as u64;
        let (id, _) = req.events.last().expect("an accepted append has events");
        encode_head(
            &mut buf,
            o.first_version + n - 1,
            o.first_position + n - 1,
            id,
        );
        txn.put(dbs.heads, &req.stream, &buf, WriteFlags::empty())?;
    }
    txn.commit()?;
    Ok(Ok(outcomes))
}
