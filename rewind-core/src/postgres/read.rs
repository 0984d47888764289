//! Reads: the log and streams both ways, a page of rows per query (events
//! never change once committed, so the pages of one read fit together),
//! an event by id, heads, the list of streams, the next position, and the
//! room the tables take.

use ::postgres::types::ToSql;
use ::postgres::Row;

use super::conn::{Conn, Pool, Statements};
use crate::backend::Visitor;
use crate::metrics::StorageUse;
use crate::{EventRef, Result, StreamHead};

/// The most rows one query of a read fetches.
const PAGE: usize = 512;

/// A u64 as PostgreSQL's bigint, saturating (positions and versions never
/// reach 2^63; a bound past them means "to the end").
pub(super) fn big(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A non-negative bigint of Rewind's tables as a u64.
pub(super) fn unsigned(n: i64) -> u64 {
    n.max(0) as u64
}

/// The event in a row of [`EVENT_COLUMNS`](super::conn::EVENT_COLUMNS).
pub(super) fn event_ref(row: &Row) -> EventRef<'_> {
    EventRef {
        position: unsigned(row.get(0)),
        id: row.get(1),
        stream: row.get(2),
        version: unsigned(row.get(3)),
        event_type: row.get(4),
        metadata: row.get(5),
        data: row.get(6),
    }
}

/// The rows of a statement, or the database's error.
type Rows = std::result::Result<Vec<Row>, ::postgres::Error>;

/// Fetches a page of a read: at most `n` events from `from` on.
type PageQuery<'q> = &'q dyn Fn(&mut Conn, u64, usize) -> Rows;

/// Which way a read goes, and by which number.
#[derive(Clone, Copy)]
enum Order {
    Forward,
    Backward,
}

/// Visits up to `limit` events, a page at a time: `query` fetches the page
/// of at most `n` events from `from` on (in the read's order); `key` is
/// the number the read goes by (position or version).
fn paged(
    pool: &Pool,
    mut from: u64,
    order: Order,
    limit: usize,
    key: fn(&EventRef<'_>) -> u64,
    query: PageQuery<'_>,
    visit: &mut Visitor<'_>,
) -> Result<()> {
    let mut left = limit;
    while left > 0 {
        let n = left.min(PAGE);
        let rows = pool.with_reader(|conn| query(conn, from, n))?;
        for row in &rows {
            let e = event_ref(row);
            let k = key(&e);
            if !visit(e) {
                return Ok(());
            }
            match order {
                Order::Forward => from = k + 1,
                Order::Backward if k == 0 => return Ok(()),
                Order::Backward => from = k - 1,
            }
        }
        if rows.len() < n {
            break;
        }
        left -= n;
    }
    Ok(())
}

/// Runs one prepared statement of `conn`.
fn run(
    conn: &mut Conn,
    stmt: fn(&Statements) -> &::postgres::Statement,
    params: &[&(dyn ToSql + Sync)],
) -> Rows {
    let (client, stmts) = conn.statements()?;
    client.query(stmt(stmts), params)
}

fn position(e: &EventRef<'_>) -> u64 {
    e.position
}

fn version(e: &EventRef<'_>) -> u64 {
    e.version
}

pub(super) fn read_log(
    pool: &Pool,
    from_position: u64,
    limit: usize,
    visit: &mut Visitor<'_>,
) -> Result<()> {
    let query = |conn: &mut Conn, from: u64, n: usize| {
        run(conn, |s| &s.read_log, &[&big(from), &(n as i64)])
    };
    paged(
        pool,
        from_position,
        Order::Forward,
        limit,
        position,
        &query,
        visit,
    )
}

pub(super) fn read_log_backward(
    pool: &Pool,
    from_position: Option<u64>,
    limit: usize,
    visit: &mut Visitor<'_>,
) -> Result<()> {
    let start = from_position.unwrap_or(u64::MAX);
    let query = |conn: &mut Conn, from: u64, n: usize| {
        run(conn, |s| &s.read_log_backward, &[&big(from), &(n as i64)])
    };
    paged(pool, start, Order::Backward, limit, position, &query, visit)
}

pub(super) fn read_stream(
    pool: &Pool,
    stream: &[u8],
    from_version: u64,
    limit: usize,
    visit: &mut Visitor<'_>,
) -> Result<()> {
    let query = |conn: &mut Conn, from: u64, n: usize| {
        run(
            conn,
            |s| &s.read_stream,
            &[&stream, &big(from), &(n as i64)],
        )
    };
    paged(
        pool,
        from_version,
        Order::Forward,
        limit,
        version,
        &query,
        visit,
    )
}

pub(super) fn read_stream_backward(
    pool: &Pool,
    stream: &[u8],
    from_version: Option<u64>,
    limit: usize,
    visit: &mut Visitor<'_>,
) -> Result<()> {
    let start = from_version.unwrap_or(u64::MAX);
    let query = |conn: &mut Conn, from: u64, n: usize| {
        run(
            conn,
            |s| &s.read_stream_backward,
            &[&stream, &big(from), &(n as i64)],
        )
    };
    paged(pool, start, Order::Backward, limit, version, &query, visit)
}

pub(super) fn get(pool: &Pool, id: &[u8], visit: &mut Visitor<'_>) -> Result<bool> {
    let rows = pool.with_reader(|conn| run(conn, |s| &s.get, &[&id]))?;
    match rows.first() {
        Some(row) => {
            visit(event_ref(row));
            Ok(true)
        }
        None => Ok(false),
    }
}

/// A head from the columns version, position, last id starting at `at`.
pub(super) fn head_at(row: &Row, at: usize) -> StreamHead {
    StreamHead {
        version: unsigned(row.get(at)),
        position: unsigned(row.get(at + 1)),
        id: row.get::<_, Vec<u8>>(at + 2),
    }
}

pub(super) fn stream_head(pool: &Pool, stream: &[u8]) -> Result<Option<StreamHead>> {
    let rows = pool.with_reader(|conn| run(conn, |s| &s.head, &[&stream]))?;
    Ok(rows.first().map(|r| head_at(r, 0)))
}

pub(super) fn next_position(pool: &Pool) -> Result<u64> {
    let rows = pool.with_reader(|conn| run(conn, |s| &s.next_position, &[]))?;
    Ok(rows.first().map_or(0, |r| unsigned(r.get(0))))
}

pub(super) fn list_streams(
    pool: &Pool,
    after: &[u8],
    limit: usize,
    visit: &mut dyn FnMut(&[u8], StreamHead) -> bool,
) -> Result<()> {
    let mut after = after.to_vec();
    let mut left = limit;
    while left > 0 {
        let n = left.min(PAGE);
        let rows = pool.with_reader(|conn| {
            run(conn, |s| &s.list_streams, &[&after.as_slice(), &(n as i64)])
        })?;
        for row in &rows {
            let name: &[u8] = row.get(0);
            if !visit(name, head_at(row, 1)) {
                return Ok(());
            }
        }
        match rows.last() {
            Some(last) if rows.len() == n => after = last.get::<_, Vec<u8>>(0),
            _ => break,
        }
        left -= n;
    }
    Ok(())
}

pub(super) fn storage_use(pool: &Pool) -> Result<StorageUse> {
    let bytes: i64 = pool.with_reader(|conn| {
        Ok(conn
            .client
            .query_one(
                "SELECT COALESCE(SUM(pg_total_relation_size(t)), 0)::bigint FROM unnest(\
                 ARRAY['rewind_events', 'rewind_streams', 'rewind_log_head']::regclass[]) t",
                &[],
            )?
            .get(0))
    })?;
    Ok(StorageUse {
        bytes_on_disk: unsigned(bytes),
        map_bytes: None,
        used_bytes: None,
        events: next_position(pool)?,
    })
}
