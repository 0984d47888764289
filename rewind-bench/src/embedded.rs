//! The embedded figures (Rust API) and their raw LMDB baselines, and the
//! pre-loaded store the read figures share.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lmdb::{Cursor, Database, Environment, EnvironmentFlags, Transaction, WriteFlags};
use rewind_core::{ExpectedVersion, LogFilter, NewEvent, Store};

use crate::Result;

/// The stream the read figures use.
pub const STREAM: &[u8] = b"bench";
/// The stream of the events figure 7's filter passes: as long a name as
/// [`STREAM`], so that every record has the size of the baseline's.
pub const MATCH_STREAM: &[u8] = b"match";
/// The event type of the events figure 7's filter passes (the others have
/// none).
pub const MATCH_TYPE: &[u8] = b"m";
/// In figure 7's store, one event in this many is in [`MATCH_STREAM`], with
/// the type [`MATCH_TYPE`].
pub const MATCH_EVERY: usize = 100;
/// Events per append while pre-loading.
const LOAD_BATCH: usize = 10_000;
/// Map size of the raw LMDB environments (the map is sparse).
pub const RAW_MAP_SIZE: usize = 8 << 30;

/// The size of the record Rewind's LMDB backend keeps in its log for an
/// event of [`STREAM`] with a generated (36-byte) id, no type, no metadata
/// and `payload` bytes of data: tag and record version (2), stream length,
/// stream, id length, id, version (8), type length, metadata length, data.
pub fn rewind_record_len(payload: usize) -> usize {
    6 + STREAM.len() + 36 + 8 + payload
}

/// The event data used everywhere: `n` bytes, not all alike.
pub fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

/// A raw LMDB environment opened the way Rewind opens its own (durable
/// commits: LMDB's default sync behaviour).
pub fn raw_env(path: &Path) -> Result<Environment> {
    std::fs::create_dir_all(path)?;
    Ok(Environment::new()
        .set_flags(EnvironmentFlags::NO_TLS)
        .set_map_size(RAW_MAP_SIZE)
        .open(path)?)
}

/// A Rewind store holding `events` events of one stream, appended through
/// the embedded API in big appends.
pub struct LoadedStore {
    /// The store.
    pub store: Store,
    /// Events in [`STREAM`] (the whole log).
    pub events: usize,
    path: PathBuf,
}

impl LoadedStore {
    /// Creates the store at `path` and loads it.
    pub fn create(path: &Path, events: usize, payload_len: usize) -> Result<LoadedStore> {
        let store = Store::open_lmdb(path)?;
        let data = payload(payload_len);
        let mut left = events;
        while left > 0 {
            let n = left.min(LOAD_BATCH);
            let batch = (0..n).map(|_| NewEvent::new(data.clone())).collect();
            store.append(STREAM, batch, ExpectedVersion::Any)?;
            left -= n;
        }
        Ok(LoadedStore {
            store,
            events,
            path: path.to_path_buf(),
        })
    }

    /// Figure 5: visits the whole log with `Store::read_log`; events/s.
    pub fn read_log_rate(&self) -> Result<f64> {
        let mut n = 0usize;
        let mut sum = 0usize;
        let t = Instant::now();
        self.store.read_log(0, usize::MAX, |ev| {
            n += 1;
            sum = sum.wrapping_add(ev.data.len() + ev.id[0] as usize);
            true
        })?;
        let dt = t.elapsed();
        black_box(sum);
        check_count("read_log", n, self.events)?;
        Ok(rate(n, dt))
    }
}

impl Drop for LoadedStore {
    fn drop(&mut self) {
        let _ = self.store.close();
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A Rewind store of `events` events, one in [`MATCH_EVERY`] in
/// [`MATCH_STREAM`] and the others in [`STREAM`], spread evenly over the
/// log: figure 7 reads it through an event-type filter that passes 1%.
pub struct MixedStore {
    store: Store,
    events: usize,
    matching: usize,
    path: PathBuf,
}

impl MixedStore {
    /// Creates the store at `path` and loads it: in each run of
    /// [`MATCH_EVERY`] positions, the last event is in [`MATCH_STREAM`].
    /// The appends are submitted without waiting, so they share commits.
    pub fn create(path: &Path, events: usize, payload_len: usize) -> Result<MixedStore> {
        let store = Store::open_lmdb(path)?;
        let data = payload(payload_len);
        let (tx, rx) = std::sync::mpsc::channel();
        let submit = |stream: &[u8], n: usize| {
            let tx = tx.clone();
            let event_type = if stream == MATCH_STREAM {
                MATCH_TYPE
            } else {
                b""
            };
            let batch = (0..n)
                .map(|_| NewEvent::new(data.clone()).with_type(event_type))
                .collect();
            store.append_async(
                stream,
                batch,
                ExpectedVersion::Any,
                Box::new(move |r| {
                    let _ = tx.send(r.map(|_| ()));
                }),
            );
        };
        let (mut left, mut matching) = (events, 0);
        while left > 0 {
            let run = left.min(MATCH_EVERY);
            if run > 1 {
                submit(STREAM, run - 1);
            }
            submit(MATCH_STREAM, 1);
            matching += 1;
            left -= run;
        }
        drop(tx);
        for r in rx {
            r?;
        }
        check_count(
            "loading the mixed store",
            store.next_position()? as usize,
            events,
        )?;
        Ok(MixedStore {
            store,
            events,
            matching,
            path: path.to_path_buf(),
        })
    }

    /// Figure 7: `Store::read_log_filtered` over the whole log with an
    /// event-type filter that passes 1% of the events; events examined per
    /// second.
    pub fn filtered_read_rate(&self) -> Result<f64> {
        let filter = LogFilter::all().with_event_type(MATCH_TYPE);
        let mut n = 0usize;
        let mut sum = 0usize;
        let t = Instant::now();
        let end = self.store.read_log_filtered(0, usize::MAX, &filter, |ev| {
            n += 1;
            sum = sum.wrapping_add(ev.data.len() + ev.id[0] as usize);
            true
        })?;
        let dt = t.elapsed();
        black_box(sum);
        check_count("read_log_filtered's matches", n, self.matching)?;
        check_count("read_log_filtered's scan", end as usize, self.events)?;
        Ok(rate(self.events, dt))
    }
}

impl Drop for MixedStore {
    fn drop(&mut self) {
        let _ = self.store.close();
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A raw LMDB database of `records` records keyed by a big-endian counter.
pub struct RawScanDb {
    env: Environment,
    db: Database,
    records: usize,
    path: PathBuf,
}

impl RawScanDb {
    /// Creates the database at `path` with `records` values of `value_len` bytes.
    pub fn create(path: &Path, records: usize, value_len: usize) -> Result<RawScanDb> {
        let env = raw_env(path)?;
        let db = env.open_db(None)?;
        let value = payload(value_len);
        let mut k = 0u64;
        while (k as usize) < records {
            let mut txn = env.begin_rw_txn()?;
            for _ in 0..100_000.min(records - k as usize) {
                txn.put(db, &k.to_be_bytes(), &value, WriteFlags::APPEND)?;
                k += 1;
            }
            txn.commit()?;
        }
        Ok(RawScanDb {
            env,
            db,
            records,
            path: path.to_path_buf(),
        })
    }

    /// Figure 5's (and 7's) baseline: a cursor scan of every record in one read
    /// transaction, touching each value; records/s.
    pub fn scan_rate(&self) -> Result<f64> {
        let mut n = 0usize;
        let mut sum = 0usize;
        let t = Instant::now();
        {
            let txn = self.env.begin_ro_txn()?;
            let mut cur = txn.open_ro_cursor(self.db)?;
            for item in cur.iter_start() {
                let (k, v) = item?;
                n += 1;
                sum = sum.wrapping_add(v.len() + k[7] as usize + v[0] as usize);
            }
        }
        let dt = t.elapsed();
        black_box(sum);
        check_count("raw scan", n, self.records)?;
        Ok(rate(n, dt))
    }
}

impl Drop for RawScanDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Figure 6 and its baseline, in alternating slices: `Store::append` of
/// `batch` events per call on a fresh LMDB store at `rewind_path`, and raw
/// LMDB transactions of `batch` puts, committed durably, in a fresh
/// database at `raw_path`. Returns (Rewind, baseline) in events/s.
pub fn append_vs_raw(
    rewind_path: &Path,
    raw_path: &Path,
    batch: usize,
    window: Duration,
    payload_len: usize,
) -> Result<(f64, f64)> {
    let data = payload(payload_len);
    let store = Store::open_lmdb(rewind_path)?;
    let append = || -> Result<()> {
        let events = (0..batch).map(|_| NewEvent::new(data.clone())).collect();
        store.append(STREAM, events, ExpectedVersion::Any)?;
        Ok(())
    };
    let env = raw_env(raw_path)?;
    let db = env.open_db(None)?;
    let mut key = 0u64;
    let mut raw_txn = || -> Result<()> {
        let mut txn = env.begin_rw_txn()?;
        for _ in 0..batch {
            txn.put(db, &key.to_be_bytes(), &data, WriteFlags::APPEND)?;
            key += 1;
        }
        txn.commit()?;
        Ok(())
    };
    append()?; // warm-up
    raw_txn()?;
    let rates = crate::interleave(
        window,
        &mut |d| {
            let t = Instant::now();
            let mut n = 0;
            while t.elapsed() < d {
                append()?;
                n += batch;
            }
            Ok(n)
        },
        &mut |d| {
            let t = Instant::now();
            let mut n = 0;
            while t.elapsed() < d {
                raw_txn()?;
                n += batch;
            }
            Ok(n)
        },
    );
    store.close()?;
    drop(store);
    drop(env);
    std::fs::remove_dir_all(rewind_path)?;
    std::fs::remove_dir_all(raw_path)?;
    rates
}

/// `n` per `dt`, per second.
pub fn rate(n: usize, dt: Duration) -> f64 {
    n as f64 / dt.as_secs_f64().max(1e-9)
}

fn check_count(what: &str, got: usize, want: usize) -> Result<()> {
    if got != want {
        return Err(format!("{what} saw {got} records, expected {want}").into());
    }
    Ok(())
}
