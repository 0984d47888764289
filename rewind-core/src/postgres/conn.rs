//! Connections to the database: reading the connection string, connecting
//! (with the defaults Rewind needs), the statements every connection
//! prepares, a pool of connections for reads, and the writer's own
//! connection. A connection found broken is dropped and the next use opens
//! a new one, so the backend reconnects by itself after the server
//! restarts or fails over.

use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use ::postgres::config::Host;
use ::postgres::{Client, Config, NoTls, Statement};

use super::follow::CHANNEL;
use super::PostgresOptions;
use crate::{Error, Result};

/// How long connecting may take when the connection string does not say.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The columns of an event, in the order [`super::read`] decodes them.
pub(super) const EVENT_COLUMNS: &str = "position, id, stream, version, event_type, metadata, data";

/// The statements Rewind runs, prepared once per connection.
pub(super) struct Statements {
    pub lock_head: Statement,
    pub events_by_ids: Statement,
    pub heads_of: Statement,
    pub insert_events: Statement,
    pub upsert_heads: Statement,
    pub set_head: Statement,
    pub read_log: Statement,
    pub read_log_backward: Statement,
    pub read_stream: Statement,
    pub read_stream_backward: Statement,
    pub get: Statement,
    pub head: Statement,
    pub next_position: Statement,
    pub list_streams: Statement,
}

impl Statements {
    fn prepare(client: &mut Client) -> std::result::Result<Statements, ::postgres::Error> {
        let ev = EVENT_COLUMNS;
        let mut p = |sql: &str| client.prepare(sql);
        Ok(Statements {
            lock_head: p("SELECT next_position FROM rewind_log_head FOR UPDATE")?,
            events_by_ids: p(&format!(
                "SELECT {ev} FROM rewind_events WHERE id = ANY($1::bytea[])"
            ))?,
            heads_of: p(
                "SELECT stream, version, position, last_id FROM rewind_streams \
                 WHERE stream = ANY($1::bytea[])",
            )?,
            insert_events: p("INSERT INTO rewind_events \
                 (position, id, stream, version, event_type, metadata, data) \
                 SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bytea[], $4::bigint[], \
                 $5::bytea[], $6::bytea[], $7::bytea[])")?,
            upsert_heads: p(
                "INSERT INTO rewind_streams (stream, version, position, last_id) \
                 SELECT * FROM unnest($1::bytea[], $2::bigint[], $3::bigint[], $4::bytea[]) \
                 ON CONFLICT (stream) DO UPDATE SET version = EXCLUDED.version, \
                 position = EXCLUDED.position, last_id = EXCLUDED.last_id",
            )?,
            // Moves the head and notifies the followers of every server
            // (delivered when the transaction commits).
            set_head: p(&format!(
                "WITH moved AS (UPDATE rewind_log_head SET next_position = $1::bigint \
                 RETURNING next_position) \
                 SELECT pg_notify('{CHANNEL}', next_position::text) FROM moved"
            ))?,
            read_log: p(&format!(
                "SELECT {ev} FROM rewind_events WHERE position >= $1::bigint \
                 ORDER BY position LIMIT $2::bigint"
            ))?,
            read_log_backward: p(&format!(
                "SELECT {ev} FROM rewind_events WHERE position <= $1::bigint \
                 ORDER BY position DESC LIMIT $2::bigint"
            ))?,
            read_stream: p(&format!(
                "SELECT {ev} FROM rewind_events WHERE stream = $1::bytea AND version >= $2::bigint \
                 ORDER BY version LIMIT $3::bigint"
            ))?,
            read_stream_backward: p(&format!(
                "SELECT {ev} FROM rewind_events WHERE stream = $1::bytea AND version <= $2::bigint \
                 ORDER BY version DESC LIMIT $3::bigint"
            ))?,
            get: p(&format!(
                "SELECT {ev} FROM rewind_events WHERE id = $1::bytea"
            ))?,
            head: p(
                "SELECT version, position, last_id FROM rewind_streams WHERE stream = $1::bytea",
            )?,
            next_position: p("SELECT next_position FROM rewind_log_head")?,
            list_streams: p(
                "SELECT stream, version, position, last_id FROM rewind_streams \
                 WHERE stream > $1::bytea ORDER BY stream LIMIT $2::bigint",
            )?,
        })
    }
}

/// An open connection and its prepared statements (prepared on first use:
/// the connection that creates the tables cannot prepare them before).
pub(super) struct Conn {
    pub client: Client,
    stmts: Option<Statements>,
}

impl Conn {
    /// The prepared statements, preparing them on first use.
    pub fn statements(
        &mut self,
    ) -> std::result::Result<(&mut Client, &Statements), ::postgres::Error> {
        if self.stmts.is_none() {
            self.stmts = Some(Statements::prepare(&mut self.client)?);
        }
        Ok((
            &mut self.client,
            self.stmts.as_ref().expect("prepared above"),
        ))
    }

    fn is_broken(&self) -> bool {
        self.client.is_closed()
    }
}

/// The connections of one backend: the writer's and a pool for reads.
pub(super) struct Pool {
    config: Config,
    what: String,
    max_idle: usize,
    idle: Mutex<Vec<Conn>>,
    writer: Mutex<Option<Conn>>,
}

/// Whether an error means the connection is gone (the server restarted,
/// the network failed), so that a new connection may succeed.
pub(super) fn is_connection_error(e: &::postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(code) = e.code() {
        // admin_shutdown, crash_shutdown, cannot_connect_now
        return ["57P01", "57P02", "57P03"].contains(&code.code());
    }
    // An I/O failure talking to the server.
    std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
}

/// The error as Rewind's (see the conversion in [`crate::Error`]).
pub(super) fn to_error(e: ::postgres::Error) -> Error {
    Error::from(e)
}

/// The connection string parsed, with Rewind's defaults: a connect
/// timeout, and the password from `PGPASSWORD` when the string has none.
fn parse(dsn: &str) -> Result<Config> {
    let mut config = Config::from_str(dsn).map_err(|e| {
        Error::Config(format!(
            "invalid PostgreSQL connection string: {}",
            to_error(e)
        ))
    })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_password().is_none() {
        if let Ok(p) = std::env::var("PGPASSWORD") {
            config.password(p);
        }
    }
    if config.get_application_name().is_none() {
        config.application_name("rewind");
    }
    Ok(config)
}

/// The database a connection string names, in words, without a password:
/// `None` when the string does not parse.
pub(super) fn describe(dsn: &str) -> Option<String> {
    let config = Config::from_str(dsn).ok()?;
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match h {
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(path) => format!("{}:{port}", path.display()),
            }
        })
        .collect();
    let hosts = if hosts.is_empty() {
        "the default host".to_string()
    } else {
        hosts.join(",")
    };
    let user = config.get_user().unwrap_or("(default user)");
    let db = config.get_dbname().unwrap_or(user);
    Some(format!("the PostgreSQL database {db} on {hosts} as {user}"))
}

impl Pool {
    /// A pool for the database `options` name; opens no connection yet.
    pub fn new(options: &PostgresOptions) -> Result<Pool> {
        Ok(Pool {
            config: parse(&options.dsn)?,
            what: options.describe(),
            max_idle: options.max_idle_connections,
            idle: Mutex::new(Vec::new()),
            writer: Mutex::new(None),
        })
    }

    /// A new connection, with durable commits.
    pub fn connect(&self) -> Result<Conn> {
        let mut client = self.config.connect(NoTls).map_err(|e| {
            let Error::Storage(m) = to_error(e) else {
                unreachable!("to_error makes storage errors")
            };
            Error::Storage(format!("cannot connect to {}: {m}", self.what))
        })?;
        // An acknowledgement means durable: a server (or database) set to
        // commit asynchronously commits Rewind's transactions synchronously.
        let sync = client
            .query_one("SHOW synchronous_commit", &[])
            .map_err(to_error)?;
        if sync.get::<_, &str>(0) == "off" {
            client
                .batch_execute("SET synchronous_commit = on")
                .map_err(to_error)?;
        }
        Ok(Conn {
            client,
            stmts: None,
        })
    }

    /// Runs `f` on a connection of the pool (opening one when none is
    /// idle). When the connection turns out broken (the server restarted
    /// since it was last used), `f` runs once more on a new one: `f` must
    /// be safe to repeat (a read, or a transaction that did not commit).
    pub fn with_reader<T>(
        &self,
        mut f: impl FnMut(&mut Conn) -> std::result::Result<T, ::postgres::Error>,
    ) -> Result<T> {
        let pooled = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let (mut conn, fresh) = match pooled {
            Some(c) if !c.is_broken() => (c, false),
            _ => (self.connect()?, true),
        };
        let result = match f(&mut conn) {
            Err(e) if !fresh && is_connection_error(&e) => {
                conn = self.connect()?;
                f(&mut conn)
            }
            other => other,
        };
        if !conn.is_broken() {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < self.max_idle {
                idle.push(conn);
            }
        }
        result.map_err(to_error)
    }

    /// Runs `f` on the writer's connection (opening it when there is none,
    /// or it broke). When `f` fails on a connection that was open before
    /// and turns out broken, `f` runs once more on a new connection if the
    /// failure is [repeatable](Failed::Postgres): nothing of it can have
    /// been committed.
    pub fn with_writer<T>(
        &self,
        mut f: impl FnMut(&mut Conn) -> std::result::Result<T, Failed>,
    ) -> Result<T> {
        let mut slot = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let mut fresh = false;
        if slot.as_ref().is_none_or(Conn::is_broken) {
            *slot = Some(self.connect()?);
            fresh = true;
        }
        loop {
            let conn = slot.as_mut().expect("connected above");
            let (e, repeatable) = match f(conn) {
                Ok(v) => return Ok(v),
                Err(Failed::Rewind(e)) => return Err(e),
                Err(Failed::Postgres { error, repeatable }) => (error, repeatable),
            };
            let lost = is_connection_error(&e);
            if lost {
                *slot = None;
            }
            if lost && repeatable && !fresh {
                log::warn!(
                    "the connection to {} was lost ({}); reconnecting",
                    self.what,
                    to_error(e)
                );
                *slot = Some(self.connect()?);
                fresh = true;
                continue;
            }
            let err = to_error(e);
            return Err(if lost && !repeatable {
                Error::Storage(format!(
                    "the connection to {} was lost while committing; the batch may or may not \
                     be stored (sending the append again is safe: a retry of a stored append \
                     returns its positions): {err}",
                    self.what
                ))
            } else {
                err
            });
        }
    }
}

/// How a step on the writer's connection failed.
pub(super) enum Failed {
    /// The database failed; `repeatable` when nothing of the step can have
    /// been committed (it failed before COMMIT was sent), so the step may
    /// run again on a new connection.
    Postgres {
        /// The error.
        error: ::postgres::Error,
        /// Whether the step may run again.
        repeatable: bool,
    },
    /// Rewind refused (the tables are of a newer version, say).
    Rewind(Error),
}

/// A failure before COMMIT: repeatable.
impl From<::postgres::Error> for Failed {
    fn from(error: ::postgres::Error) -> Self {
        Failed::Postgres {
            error,
            repeatable: true,
        }
    }
}
