//! The embedded figures (Rust API) and their raw LMDB baselines, and the
//! pre-loaded store the read figures share.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lmdb::{Cursor, Database, Environment, EnvironmentFlags, Transaction, WriteFlags};
use rewind_core::{ExpectedVersion, NewEvent, Store};

use crate::Result;

/// The stream the read figures use.
pub const STREAM: &[u8] = b"bench";
/// Events per append while pre-loading.
const LOAD_BATCH: usize = 10_000;
/// Map size of the raw LMDB environments (the map is sparse).
const RAW_MAP_SIZE: usize = 8 << 30;

/// The size of the record Rewind's LMDB backend keeps in its log for an
/// event of [`STREAM`] with a generated (36-byte) id and `payload` bytes of
/// data: stream length, stream, id length, id, version (8), data.
pub fn rewind_record_len(payload: usize) -> usize {
    2 + STREAM.len() + 36 + 8 + payload
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

    /// Figure 5's baseline: a cursor scan of every record in one read
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

/// Figure 6: `Store::append` of `batch` events per call on a fresh LMDB
/// store for `window`; events/s.
pub fn append_rewind(
    path: &Path,
    batch: usize,
    window: Duration,
    payload_len: usize,
) -> Result<f64> {
    let store = Store::open_lmdb(path)?;
    let data = payload(payload_len);
    let events = || (0..batch).map(|_| NewEvent::new(data.clone())).collect();
    store.append(STREAM, events(), ExpectedVersion::Any)?; // warm-up
    let mut n = 0usize;
    let t = Instant::now();
    while t.elapsed() < window {
        store.append(STREAM, events(), ExpectedVersion::Any)?;
        n += batch;
    }
    let dt = t.elapsed();
    store.close()?;
    drop(store);
    std::fs::remove_dir_all(path)?;
    Ok(rate(n, dt))
}

/// Figure 6's baseline: raw LMDB, `batch` puts per durable transaction,
/// for `window`; puts/s.
pub fn append_raw(path: &Path, batch: usize, window: Duration, payload_len: usize) -> Result<f64> {
    let env = raw_env(path)?;
    let db = env.open_db(None)?;
    let data = payload(payload_len);
    let mut k = 0u64;
    let txn_of_puts = |k: &mut u64| -> Result<()> {
        let mut txn = env.begin_rw_txn()?;
        for _ in 0..batch {
            txn.put(db, &k.to_be_bytes(), &data, WriteFlags::APPEND)?;
            *k += 1;
        }
        txn.commit()?;
        Ok(())
    };
    txn_of_puts(&mut k)?; // warm-up
    let mut n = 0usize;
    let t = Instant::now();
    while t.elapsed() < window {
        txn_of_puts(&mut k)?;
        n += batch;
    }
    let dt = t.elapsed();
    drop(env);
    std::fs::remove_dir_all(path)?;
    Ok(rate(n, dt))
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
