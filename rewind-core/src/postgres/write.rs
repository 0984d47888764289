//! The batch append: one transaction per batch of the group commit. It
//! locks the log's head row first, so the appends of every server on the
//! database take turns; reads what the batch's appends need to know (their
//! ids and streams) in two queries; plans the batch with the shared
//! [`plan_batch`]; writes the events and the streams' heads in one
//! statement each; moves the log's head; commits.

use std::collections::HashMap;

use super::conn::{Conn, Failed, Pool};
use super::read::{event_ref, head_at, unsigned};
use crate::backend::{
    events_to_write, parts_to_write, plan_batch, AppendOutcome, AppendRequest, StoreView,
};
use crate::{Error, Event, Result, StreamHead};

/// The outcomes of a batch.
type Outcomes = Vec<Result<AppendOutcome>>;

/// What the batch's appends need to know of the store, read under the lock.
struct Prefetched {
    /// The stored events among the batch's ids.
    stored: HashMap<Vec<u8>, Event>,
    /// The heads of the batch's streams that exist.
    heads: HashMap<Vec<u8>, StreamHead>,
}

impl StoreView for Prefetched {
    fn head(&mut self, stream: &[u8]) -> Result<Option<StreamHead>> {
        Ok(self.heads.get(stream).cloned())
    }

    fn contains_id(&mut self, id: &[u8]) -> Result<bool> {
        Ok(self.stored.contains_key(id))
    }

    fn event(&mut self, id: &[u8]) -> Result<Option<Event>> {
        Ok(self.stored.get(id).cloned())
    }
}

/// Commits `batch` in one transaction (see
/// [`Backend::append_batch`](crate::Backend::append_batch)).
pub(super) fn append_batch(pool: &Pool, batch: &[AppendRequest]) -> Result<Outcomes> {
    pool.with_writer(|conn| try_append(conn, batch))
}

/// A bigint column value of a position or version.
fn big(n: u64) -> std::result::Result<i64, Failed> {
    i64::try_from(n)
        .map_err(|_| Failed::Rewind(Error::StorageFull("positions are exhausted".into())))
}

fn try_append(conn: &mut Conn, batch: &[AppendRequest]) -> std::result::Result<Outcomes, Failed> {
    let (client, stmts) = conn.statements()?;
    let mut txn = client.transaction()?;
    let next = unsigned(txn.query_one(&stmts.lock_head, &[])?.get(0));
    let ids: Vec<&[u8]> = batch
        .iter()
        .flat_map(|r| r.events())
        .map(|(_, e)| e.id.as_slice())
        .collect();
    let mut streams: Vec<&[u8]> = batch
        .iter()
        .flat_map(|r| r.parts.iter().map(|p| p.stream.as_slice()))
        .collect();
    streams.sort_unstable();
    streams.dedup();
    let stored = txn
        .query(&stmts.events_by_ids, &[&ids])?
        .iter()
        .map(|row| {
            let e = event_ref(row).to_owned();
            (e.id.clone(), e)
        })
        .collect();
    let heads = txn
        .query(&stmts.heads_of, &[&streams])?
        .iter()
        .map(|row| (row.get::<_, Vec<u8>>(0), head_at(row, 1)))
        .collect();
    let outcomes =
        plan_batch(&mut Prefetched { stored, heads }, next, batch).map_err(Failed::Rewind)?;

    let mut positions = Vec::new();
    let mut ids = Vec::new();
    let mut event_streams = Vec::new();
    let mut versions = Vec::new();
    let mut types = Vec::new();
    let mut metadata = Vec::new();
    let mut data = Vec::new();
    for p in events_to_write(batch, &outcomes) {
        positions.push(big(p.position)?);
        ids.push(p.event.id.as_slice());
        event_streams.push(p.stream);
        versions.push(big(p.version)?);
        types.push(p.event.event_type.as_slice());
        metadata.push(p.event.metadata.as_slice());
        data.push(p.event.data.as_slice());
    }
    if positions.is_empty() {
        // Nothing to write: every append was refused or a retry.
        txn.rollback()?;
        return Ok(outcomes);
    }
    txn.execute(
        &stmts.insert_events,
        &[
            &positions,
            &ids,
            &event_streams,
            &versions,
            &types,
            &metadata,
            &data,
        ],
    )?;
    // Each stream's last head in the batch (parts come in position order).
    let mut last: HashMap<&[u8], (i64, i64, &[u8])> = HashMap::new();
    for (part, o) in parts_to_write(batch, &outcomes) {
        let n = part.events.len() as u64;
        let id = part
            .events
            .last()
            .expect("a written part has events")
            .id
            .as_slice();
        last.insert(
            &part.stream,
            (
                big(o.first_version + n - 1)?,
                big(o.first_position + n - 1)?,
                id,
            ),
        );
    }
    let mut head_streams = Vec::with_capacity(last.len());
    let mut head_versions = Vec::with_capacity(last.len());
    let mut head_positions = Vec::with_capacity(last.len());
    let mut head_ids = Vec::with_capacity(last.len());
    for (stream, (v, p, id)) in last {
        head_streams.push(stream);
        head_versions.push(v);
        head_positions.push(p);
        head_ids.push(id);
    }
    txn.execute(
        &stmts.upsert_heads,
        &[&head_streams, &head_versions, &head_positions, &head_ids],
    )?;
    txn.execute(&stmts.set_head, &[&big(next + positions.len() as u64)?])?;
    // From here on the batch may be stored even if the call fails.
    txn.commit().map_err(|error| Failed::Postgres {
        error,
        repeatable: false,
    })?;
    Ok(outcomes)
}
