//! Rewind's tables: created in a new database, their version checked in an
//! existing one. Servers starting at once on one database take turns
//! (a transaction-scoped advisory lock), so the tables are created once.

use super::conn::{Conn, Failed};
use crate::Error;

/// The version of the tables this Rewind creates and understands. A
/// database whose `rewind_schema_version` holds a higher one is refused.
pub const SCHEMA_VERSION: i32 = 1;

/// The advisory lock key that serialises creating the tables ("rewind").
const SCHEMA_LOCK: i64 = 0x7265_7769_6e64;

/// The tables of version 1.
const CREATE_V1: &str = "
CREATE TABLE rewind_schema_version (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    version integer NOT NULL
);
CREATE TABLE rewind_log_head (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    next_position bigint NOT NULL CHECK (next_position >= 0)
);
INSERT INTO rewind_log_head (next_position) VALUES (0);
CREATE TABLE rewind_events (
    position bigint PRIMARY KEY CHECK (position >= 0),
    id bytea NOT NULL UNIQUE,
    stream bytea NOT NULL,
    version bigint NOT NULL CHECK (version >= 0),
    event_type bytea NOT NULL,
    metadata bytea NOT NULL,
    data bytea NOT NULL,
    UNIQUE (stream, version)
);
CREATE TABLE rewind_streams (
    stream bytea PRIMARY KEY,
    version bigint NOT NULL,
    position bigint NOT NULL,
    last_id bytea NOT NULL
);
INSERT INTO rewind_schema_version (version) VALUES (1);
";

/// Creates the tables when the database has none, or checks their version.
pub(super) fn prepare(conn: &mut Conn) -> Result<(), Failed> {
    let mut txn = conn.client.transaction()?;
    txn.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
    let exists: bool = txn
        .query_one(
            "SELECT to_regclass('rewind_schema_version') IS NOT NULL",
            &[],
        )?
        .get(0);
    if exists {
        let row = txn.query_opt("SELECT version FROM rewind_schema_version", &[])?;
        let Some(row) = row else {
            return Err(Failed::Rewind(Error::Corrupt(
                "the table rewind_schema_version has no row: not a Rewind database".into(),
            )));
        };
        let version: i32 = row.get(0);
        if version > SCHEMA_VERSION {
            return Err(Failed::Rewind(Error::Storage(format!(
                "the database holds Rewind's tables of version {version}, newer than this \
                 Rewind knows ({SCHEMA_VERSION}): run a newer Rewind"
            ))));
        }
    } else {
        log::info!("creating Rewind's tables (version {SCHEMA_VERSION})");
        txn.batch_execute(CREATE_V1)?;
    }
    txn.commit()?;
    Ok(())
}
