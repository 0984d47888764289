//! The PostgreSQL figures: durable one-event appends from 1 and from 32
//! clients, through Rewind on PostgreSQL with one store and with three
//! stores on the same database (as three servers would be), beside the
//! raw baseline (the same durable single-row insert transactions through
//! the `postgres` crate, one connection per client) and beside Rewind on
//! LMDB and in memory, in the same run.
//!
//! The benchmark starts a throwaway PostgreSQL cluster of its own, on disk
//! and durable (`fsync=on`, `synchronous_commit=on`, PostgreSQL's defaults
//! otherwise), with the testkit's [`Cluster`]. Every repetition measures
//! every setting in turn, the order rotating from one repetition to the
//! next; the report gives medians, and each ratio is the median of the
//! per-repetition ratios to the raw baseline.

use std::path::PathBuf;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use ::postgres::{Client, NoTls};
use rewind_core::{ExpectedVersion, NewEvent, Store};
use rewind_testkit::postgres::{Cluster, ClusterOptions};

use crate::embedded::payload;
use crate::{median, median_ratio, Result};

/// What to measure, and how long.
#[derive(Debug, Clone)]
pub struct PgSettings {
    /// Repetitions; the report gives medians.
    pub reps: usize,
    /// How long each measurement runs.
    pub window: Duration,
    /// The numbers of concurrent clients measured (each appends one event
    /// per call to a stream of its own).
    pub clients: Vec<usize>,
    /// The stores (Rewind servers) sharing the database in the shared
    /// setting.
    pub shared_stores: usize,
    /// Bytes of event data.
    pub payload: usize,
    /// Where the cluster and the LMDB store go (on disk); `None` for the
    /// system's temporary directory.
    pub dir: Option<PathBuf>,
}

impl PgSettings {
    /// The full run: 5 repetitions of 2 s, 1 and 32 clients, 3 stores.
    pub fn full() -> PgSettings {
        PgSettings {
            reps: 5,
            window: Duration::from_secs(2),
            clients: vec![1, 32],
            shared_stores: 3,
            payload: 32,
            dir: None,
        }
    }

    /// Every code path at a tiny size, for the smoke test.
    pub fn smoke() -> PgSettings {
        PgSettings {
            reps: 1,
            window: Duration::from_millis(100),
            clients: vec![1, 4],
            ..PgSettings::full()
        }
    }
}

/// The settings measured, in the report's column order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Single-row `INSERT` transactions through the `postgres` crate.
    RawPostgres,
    /// Rewind on PostgreSQL, one store.
    RewindPostgres,
    /// Rewind on PostgreSQL, several stores on the one database, each
    /// client sending its calls to them in turn.
    RewindPostgresShared,
    /// Rewind on LMDB.
    RewindLmdb,
    /// Rewind in memory (not durable).
    RewindMemory,
}

/// Every setting, in the report's order.
pub const TARGETS: [Target; 5] = [
    Target::RawPostgres,
    Target::RewindPostgres,
    Target::RewindPostgresShared,
    Target::RewindLmdb,
    Target::RewindMemory,
];

impl Target {
    /// The column heading.
    pub fn name(self, shared_stores: usize) -> String {
        match self {
            Target::RawPostgres => "raw PostgreSQL INSERT".into(),
            Target::RewindPostgres => "Rewind PostgreSQL, 1 store".into(),
            Target::RewindPostgresShared => {
                format!("Rewind PostgreSQL, {shared_stores} stores")
            }
            Target::RewindLmdb => "Rewind LMDB".into(),
            Target::RewindMemory => "Rewind in memory".into(),
        }
    }
}

/// The rates of one number of clients: per target, one per repetition.
#[derive(Debug, Clone)]
pub struct PgRow {
    /// Concurrent clients.
    pub clients: usize,
    /// Events/s per repetition, in [`TARGETS`] order.
    pub rates: Vec<Vec<f64>>,
}

impl PgRow {
    /// The median rate of `t`.
    pub fn median(&self, t: Target) -> f64 {
        median(&self.rates[index(t)])
    }

    /// The median of the per-repetition ratios of `t` to raw PostgreSQL.
    pub fn ratio(&self, t: Target) -> f64 {
        median_ratio(
            &self.rates[index(t)],
            &self.rates[index(Target::RawPostgres)],
        )
    }
}

fn index(t: Target) -> usize {
    TARGETS.iter().position(|&x| x == t).expect("listed")
}

/// The raw baseline's table: the columns and keys of Rewind's
/// `rewind_events`, the position from an identity column.
const RAW_TABLE: &str = "CREATE TABLE raw_events (
    position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id bytea NOT NULL UNIQUE,
    stream bytea NOT NULL,
    version bigint NOT NULL,
    event_type bytea NOT NULL,
    metadata bytea NOT NULL,
    data bytea NOT NULL,
    UNIQUE (stream, version)
)";

/// One raw insert: a transaction of its own (autocommit), durable.
const RAW_INSERT: &str =
    "INSERT INTO raw_events (id, stream, version, event_type, metadata, data) \
     VALUES ($1, $2, $3, '', '', $4)";

/// Everything the measurements run on.
struct Bench {
    raw_db: String,
    single: Store,
    shared: Vec<Store>,
    lmdb: Store,
    memory: Store,
    /// The LMDB store's directory (removed at the end).
    _lmdb_dir: tempfile::TempDir,
    data: Vec<u8>,
    /// Appends made so far, so that every raw row and stream is new.
    round: u64,
    /// The cluster, last: it is stopped and removed after the stores are
    /// closed.
    cluster: Cluster,
}

impl Bench {
    fn new(s: &PgSettings) -> Result<Bench> {
        let cluster = Cluster::start_with(&ClusterOptions {
            durable: true,
            parent: s.dir.clone(),
            settings: Vec::new(),
        })?;
        let rewind_db = cluster.new_database();
        let shared_db = cluster.new_database();
        let raw_db = cluster.new_database();
        cluster.connect(&raw_db).batch_execute(RAW_TABLE)?;
        let single = Store::open_postgres(cluster.dsn(&rewind_db))?;
        let shared = (0..s.shared_stores.max(1))
            .map(|_| Store::open_postgres(cluster.dsn(&shared_db)))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let lmdb_dir = match &s.dir {
            Some(d) => tempfile::tempdir_in(d)?,
            None => tempfile::tempdir()?,
        };
        let lmdb = Store::open_lmdb(lmdb_dir.path().join("store"))?;
        Ok(Bench {
            cluster,
            raw_db,
            single,
            shared,
            lmdb,
            memory: Store::in_memory(),
            _lmdb_dir: lmdb_dir,
            data: payload(s.payload),
            round: 0,
        })
    }

    /// `clients` threads appending one event per call to `t` for `window`;
    /// events/s.
    fn measure(&mut self, t: Target, clients: usize, window: Duration) -> Result<f64> {
        self.round += 1;
        let round = self.round;
        match t {
            Target::RawPostgres => {
                let conns = (0..clients)
                    .map(|_| Client::connect(&self.cluster.dsn(&self.raw_db), NoTls))
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                let data = &self.data;
                timed(conns, window, |conn, c, i| {
                    let id = format!("r{round}-c{c}-{i}");
                    let stream = format!("r{round}-c{c}");
                    conn.execute(
                        RAW_INSERT,
                        &[&id.as_bytes(), &stream.as_bytes(), &(i as i64), data],
                    )?;
                    Ok(())
                })
            }
            _ => {
                let stores: &[Store] = match t {
                    Target::RewindPostgres => std::slice::from_ref(&self.single),
                    Target::RewindPostgresShared => &self.shared,
                    Target::RewindLmdb => std::slice::from_ref(&self.lmdb),
                    _ => std::slice::from_ref(&self.memory),
                };
                // Each client sends its calls to the stores in turn, as
                // a client behind a load balancer would.
                let per_client = vec![(); clients];
                let data = &self.data;
                timed(per_client, window, |_, c, i| {
                    let stream = format!("r{round}-c{c}");
                    let store = &stores[(c + i as usize) % stores.len()];
                    store.append(
                        stream.as_bytes(),
                        vec![NewEvent::new(data.clone())],
                        ExpectedVersion::Any,
                    )?;
                    Ok(())
                })
            }
        }
    }
}

/// Runs `op` in a loop on a thread per item of `state` (client `c`, call
/// `i`) until `window` has passed; the calls completed per second.
fn timed<S: Send>(
    state: Vec<S>,
    window: Duration,
    op: impl Fn(&mut S, usize, u64) -> Result<()> + Sync,
) -> Result<f64> {
    let start = Arc::new(Barrier::new(state.len() + 1));
    let op = &op;
    let (done, elapsed) = thread::scope(|scope| {
        let workers: Vec<_> = state
            .into_iter()
            .enumerate()
            .map(|(c, mut s)| {
                let start = start.clone();
                scope.spawn(move || -> Result<u64> {
                    start.wait();
                    let t = Instant::now();
                    let mut i = 0u64;
                    while t.elapsed() < window {
                        op(&mut s, c, i)?;
                        i += 1;
                    }
                    Ok(i)
                })
            })
            .collect();
        start.wait();
        let t = Instant::now();
        let done: Result<u64> = workers
            .into_iter()
            .map(|w| w.join().expect("a client thread panicked"))
            .sum();
        (done, t.elapsed())
    });
    Ok(done? as f64 / elapsed.as_secs_f64())
}

/// Runs the benchmark: a row per number of clients. `progress` hears of
/// each measurement.
pub fn run(s: &PgSettings, progress: &mut dyn FnMut(&str)) -> Result<Vec<PgRow>> {
    progress("starting a durable PostgreSQL cluster");
    let mut bench = Bench::new(s)?;
    let mut rows: Vec<PgRow> = s
        .clients
        .iter()
        .map(|&clients| PgRow {
            clients,
            rates: vec![Vec::new(); TARGETS.len()],
        })
        .collect();
    // A short warm-up of every setting, not counted.
    for &t in &TARGETS {
        bench.measure(t, 1, s.window / 4)?;
    }
    for rep in 0..s.reps {
        for row in &mut rows {
            for k in 0..TARGETS.len() {
                let t = TARGETS[(k + rep) % TARGETS.len()];
                let r = bench.measure(t, row.clients, s.window)?;
                progress(&format!(
                    "rep {}: {} clients, {}: {:.0}/s",
                    rep + 1,
                    row.clients,
                    t.name(s.shared_stores),
                    r
                ));
                row.rates[index(t)].push(r);
            }
        }
    }
    Ok(rows)
}

/// The results as a markdown table: medians, and each Rewind setting's
/// ratio to raw PostgreSQL.
pub fn table(rows: &[PgRow], shared_stores: usize) -> String {
    use crate::report::rate;
    use std::fmt::Write;
    let mut out = String::new();
    let names: Vec<String> = TARGETS.iter().map(|t| t.name(shared_stores)).collect();
    let _ = writeln!(
        out,
        "| one-event appends, events/s (medians) | {} |",
        names.join(" | ")
    );
    let _ = writeln!(out, "|---|{}", "---|".repeat(TARGETS.len()));
    for row in rows {
        let cells: Vec<String> = TARGETS
            .iter()
            .map(|&t| {
                if t == Target::RawPostgres {
                    rate(row.median(t))
                } else {
                    format!("{} ({:.2}×)", rate(row.median(t)), row.ratio(t))
                }
            })
            .collect();
        let clients = if row.clients == 1 {
            "1 client".to_string()
        } else {
            format!("{} clients", row.clients)
        };
        let _ = writeln!(out, "| {clients} | {} |", cells.join(" | "));
    }
    let _ = writeln!(
        out,
        "\n(×: the median of the per-repetition ratios to raw PostgreSQL)\n\nsamples:"
    );
    for row in rows {
        for (t, rates) in TARGETS.iter().zip(&row.rates) {
            let list: Vec<String> = rates.iter().map(|&r| rate(r)).collect();
            let _ = writeln!(
                out,
                "  {} clients, {}: {}",
                row.clients,
                t.name(shared_stores),
                list.join(" ")
            );
        }
    }
    out
}
