//! The PostgreSQL backend: a database that several Rewind servers may share,
//! with one gap-free log.
//!
//! Tables (in the connection's `search_path`, normally `public`):
//!
//! | table                   | holds |
//! |-------------------------|-------|
//! | `rewind_schema_version` | one row: the version of this layout ([`SCHEMA_VERSION`]) |
//! | `rewind_log_head`       | one row: the position the next event gets |
//! | `rewind_events`         | every event: position (key), id (unique), stream and version (unique together), type, metadata, data |
//! | `rewind_streams`        | each stream's head: its last version, position and id |
//!
//! Every batch of the group commit is one transaction. It starts by locking
//! the row of `rewind_log_head` (`SELECT ... FOR UPDATE`), so the appends
//! of every server on the database are serialised: positions are
//! contiguous, and commit order is position order (a reader never sees
//! position N+1 while N is uncommitted). Under that lock the batch is
//! planned by the shared [`plan_batch`](crate::backend::plan_batch) over
//! what the transaction sees, written, and committed; the appenders are
//! acknowledged after COMMIT returns.
//!
//! A store's commit listeners (subscriptions, a server's PUB sockets and
//! native subscriptions) are fed from the database, not from the store's
//! writer: a follower `LISTEN`s on the channel every batch transaction
//! notifies, reads the log from the last position it announced to the
//! committed head, and announces it in position order. So every server
//! hears every commit on the database, each once, after it is durable;
//! possibly after the appender was acknowledged.
//!
//! The parts:
//!
//! | module   | owns |
//! |----------|------|
//! | `conn`   | the connection string, connecting, the prepared statements, the pool of reading connections and the writer's connection, reconnecting |
//! | `schema` | creating the tables, checking their version |
//! | `read`   | reads by position and stream (both ways), by id, heads, streams, the next position |
//! | `write`  | the batch transaction, which notifies the followers as it commits |
//! | `follow` | the follower: the thread that feeds the store's commit listeners from the log, so that every server hears every server's commits |

#[cfg(feature = "postgres")]
mod conn;
#[cfg(feature = "postgres")]
mod follow;
#[cfg(feature = "postgres")]
mod read;
#[cfg(feature = "postgres")]
mod schema;
#[cfg(feature = "postgres")]
mod write;

use std::fmt;

#[cfg(feature = "postgres")]
pub use backend::PostgresBackend;
#[cfg(feature = "postgres")]
pub use schema::SCHEMA_VERSION;

/// Options of a PostgreSQL store.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresOptions {
    /// The connection string, in libpq's key-value form
    /// (`host=db1 port=5432 dbname=events user=rewind`) or as a URL
    /// (`postgresql://rewind@db1:5432/events`). Several hosts with
    /// `target_session_attrs=read-write` connect to whichever is the
    /// primary. Without a password in it, the `PGPASSWORD` environment
    /// variable is used, if set.
    pub dsn: String,
    /// The most idle connections kept for reads (more are opened while
    /// many reads run at once).
    pub max_idle_connections: usize,
}

impl PostgresOptions {
    /// Defaults for the database `dsn` names: up to 8 idle reading
    /// connections.
    pub fn new(dsn: impl Into<String>) -> Self {
        PostgresOptions {
            dsn: dsn.into(),
            max_idle_connections: 8,
        }
    }

    /// The database in words, without its password: hosts, ports,
    /// database and user.
    pub fn describe(&self) -> String {
        #[cfg(feature = "postgres")]
        if let Some(d) = conn::describe(&self.dsn) {
            return d;
        }
        "a PostgreSQL database".into()
    }
}

/// Shows the options without the password the connection string may hold.
impl fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("dsn", &self.describe())
            .field("max_idle_connections", &self.max_idle_connections)
            .finish()
    }
}

#[cfg(feature = "postgres")]
mod backend {
    use std::sync::Arc;

    use super::conn::Pool;
    use super::follow::LogFollower;
    use super::{read, schema, write, PostgresOptions};
    use crate::backend::{Announce, AppendOutcome, AppendRequest, Backend, Follower, Visitor};
    use crate::metrics::StorageUse;
    use crate::{Result, StreamHead};

    /// A store in a PostgreSQL database.
    pub struct PostgresBackend {
        pool: Arc<Pool>,
        /// The log's head when the backend was opened: where its follower
        /// starts.
        opened_at: u64,
    }

    impl PostgresBackend {
        /// Connects to the database `options` name, creates Rewind's tables
        /// when they are missing, and checks their version.
        ///
        /// Errors: [`Error::Config`](crate::Error::Config) for a malformed
        /// connection string; [`Error::Storage`](crate::Error::Storage)
        /// when the database cannot be reached or refuses, or holds tables
        /// of a newer Rewind ([`SCHEMA_VERSION`](super::SCHEMA_VERSION)).
        pub fn open(options: &PostgresOptions) -> Result<Self> {
            let pool = Arc::new(Pool::new(options)?);
            pool.with_writer(schema::prepare)?;
            let opened_at = read::next_position(&pool)?;
            Ok(PostgresBackend { pool, opened_at })
        }
    }

    impl Backend for PostgresBackend {
        fn append_batch(&self, batch: &[AppendRequest]) -> Result<Vec<Result<AppendOutcome>>> {
            write::append_batch(&self.pool, batch)
        }

        fn read_log(
            &self,
            from_position: u64,
            limit: usize,
            visit: &mut Visitor<'_>,
        ) -> Result<()> {
            read::read_log(&self.pool, from_position, limit, visit)
        }

        fn read_stream(
            &self,
            stream: &[u8],
            from_version: u64,
            limit: usize,
            visit: &mut Visitor<'_>,
        ) -> Result<()> {
            read::read_stream(&self.pool, stream, from_version, limit, visit)
        }

        fn read_log_backward(
            &self,
            from_position: Option<u64>,
            limit: usize,
            visit: &mut Visitor<'_>,
        ) -> Result<()> {
            read::read_log_backward(&self.pool, from_position, limit, visit)
        }

        fn read_stream_backward(
            &self,
            stream: &[u8],
            from_version: Option<u64>,
            limit: usize,
            visit: &mut Visitor<'_>,
        ) -> Result<()> {
            read::read_stream_backward(&self.pool, stream, from_version, limit, visit)
        }

        fn get(&self, id: &[u8], visit: &mut Visitor<'_>) -> Result<bool> {
            read::get(&self.pool, id, visit)
        }

        fn stream_head(&self, stream: &[u8]) -> Result<Option<StreamHead>> {
            read::stream_head(&self.pool, stream)
        }

        fn next_position(&self) -> Result<u64> {
            read::next_position(&self.pool)
        }

        fn list_streams(
            &self,
            after: &[u8],
            limit: usize,
            visit: &mut dyn FnMut(&[u8], StreamHead) -> bool,
        ) -> Result<()> {
            read::list_streams(&self.pool, after, limit, visit)
        }

        fn storage_use(&self) -> Result<Option<StorageUse>> {
            read::storage_use(&self.pool).map(Some)
        }

        fn follow(&self, announce: Announce) -> Option<Box<dyn Follower>> {
            Some(Box::new(LogFollower::start(
                self.pool.clone(),
                self.opened_at,
                announce,
            )))
        }
    }
}
