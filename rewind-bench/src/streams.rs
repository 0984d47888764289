//! The figures of appends across streams and of subscriptions (8 to 10),
//! and their raw LMDB baselines.
//!
//! - Figure 8: many threads each append to two streams at once
//!   (`Store::append_multi`, durable, sharing group commits), beside raw
//!   LMDB where each such append is its own durable transaction writing the
//!   same records (log record, id index entry and stream index entry per
//!   event, one head per stream) from as many threads: what an application
//!   gets from LMDB without a group commit.
//! - Figure 9: a subscription from position 0 of the pre-loaded store, to
//!   its caught-up marker, beside figure 5's raw cursor scan.
//! - Figure 10: a subscription following live appends (one writer, figure
//!   6's appends), events delivered per second, beside figure 6's raw
//!   baseline: LMDB making the same events durable with nobody reading.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lmdb::{Transaction, WriteFlags};
use rewind_core::{
    Batch, ExpectedVersion, LogFilter, NewEvent, Store, StreamAppend, SubscriptionItem,
};

use crate::embedded::{payload, rate, raw_env, rewind_record_len, RAW_MAP_SIZE, STREAM};
use crate::Result;

/// The shape of figure 8's appends.
#[derive(Debug, Clone, Copy)]
pub struct MultiShape {
    /// Threads appending at once.
    pub threads: usize,
    /// Streams per append.
    pub streams: usize,
    /// Events per stream per append.
    pub per_stream: usize,
}

impl MultiShape {
    /// Events per append.
    pub fn events(&self) -> usize {
        self.streams * self.per_stream
    }
}

/// Runs `work(thread, deadline)` on `threads` threads until `d` has passed
/// and returns the sum of what they return.
fn on_threads(
    threads: usize,
    d: Duration,
    work: &(dyn Fn(usize, Instant) -> Result<usize> + Sync),
) -> Result<usize> {
    let deadline = Instant::now() + d;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| scope.spawn(move || work(t, deadline)))
            .collect();
        let mut n = 0;
        for h in handles {
            n += h.join().map_err(|_| "a benchmark thread panicked")??;
        }
        Ok(n)
    })
}

/// A stream name of the same length for every thread and part.
fn stream_name(thread: usize, part: usize) -> Vec<u8> {
    format!("acct-{thread:04}-{part:02}").into_bytes()
}

/// Figure 8 and its baseline, in alternating slices. Returns (Rewind,
/// baseline) in events/s.
pub fn multi_append_vs_raw(
    rewind_path: &Path,
    raw_path: &Path,
    shape: MultiShape,
    window: Duration,
    payload_len: usize,
) -> Result<(f64, f64)> {
    let data = payload(payload_len);
    let store = Store::open_lmdb(rewind_path)?;
    let rewind_side = |t: usize, deadline: Instant| -> Result<usize> {
        let mut n = 0;
        while Instant::now() < deadline {
            let parts = (0..shape.streams)
                .map(|p| {
                    let events = (0..shape.per_stream)
                        .map(|_| NewEvent::new(data.clone()))
                        .collect();
                    StreamAppend::new(stream_name(t, p), events, ExpectedVersion::Any)
                })
                .collect();
            n += store.append_multi(parts)?.len();
        }
        Ok(n)
    };

    std::fs::create_dir_all(raw_path)?;
    // Opened as `raw_env` opens its environments, with room for the four
    // databases.
    let env = lmdb::Environment::new()
        .set_flags(lmdb::EnvironmentFlags::NO_TLS)
        .set_map_size(RAW_MAP_SIZE)
        .set_max_dbs(4)
        .open(raw_path)?;
    let log = env.create_db(Some("log"), lmdb::DatabaseFlags::empty())?;
    let ids = env.create_db(Some("ids"), lmdb::DatabaseFlags::empty())?;
    let streams = env.create_db(Some("streams"), lmdb::DatabaseFlags::empty())?;
    let heads = env.create_db(Some("heads"), lmdb::DatabaseFlags::empty())?;
    let record = payload(rewind_record_len(payload_len));
    // Positions and ids: assigned inside the write transaction, which LMDB
    // gives one thread at a time.
    let next = AtomicU64::new(0);
    let versions: Vec<Vec<AtomicU64>> = (0..shape.threads)
        .map(|_| (0..shape.streams).map(|_| AtomicU64::new(0)).collect())
        .collect();
    let raw_side = |t: usize, deadline: Instant| -> Result<usize> {
        let mut n = 0;
        while Instant::now() < deadline {
            let mut txn = env.begin_rw_txn()?;
            let mut pos = next.load(Ordering::SeqCst);
            for (p, version) in versions[t].iter().enumerate() {
                let stream = stream_name(t, p);
                let mut v = version.load(Ordering::SeqCst);
                for _ in 0..shape.per_stream {
                    let id = format!("{pos:036}");
                    txn.put(log, &pos.to_be_bytes(), &record, WriteFlags::APPEND)?;
                    txn.put(ids, &id, &pos.to_be_bytes(), WriteFlags::empty())?;
                    let mut key = stream.clone();
                    key.extend_from_slice(&v.to_be_bytes());
                    txn.put(streams, &key, &pos.to_be_bytes(), WriteFlags::empty())?;
                    pos += 1;
                    v += 1;
                }
                let mut head = (v - 1).to_be_bytes().to_vec();
                head.extend_from_slice(&(pos - 1).to_be_bytes());
                txn.put(heads, &stream, &head, WriteFlags::empty())?;
                version.store(v, Ordering::SeqCst);
            }
            next.store(pos, Ordering::SeqCst);
            txn.commit()?;
            n += shape.events();
        }
        Ok(n)
    };
    // Warm-up: each side once.
    on_threads(shape.threads, Duration::from_millis(20), &rewind_side)?;
    on_threads(shape.threads, Duration::from_millis(20), &raw_side)?;
    let rates = crate::interleave(
        window,
        &mut |d| on_threads(shape.threads, d, &rewind_side),
        &mut |d| on_threads(shape.threads, d, &raw_side),
    );
    store.close()?;
    drop(store);
    drop(env);
    std::fs::remove_dir_all(rewind_path)?;
    std::fs::remove_dir_all(raw_path)?;
    rates
}

/// Figure 9: a subscription from position 0 of `store` (holding `events`
/// events), to its caught-up marker, read in borrowed batches
/// (`Subscription::next_batch`, as figure 5 reads the log); events/s.
pub fn catch_up_rate(store: &Store, events: usize) -> Result<f64> {
    let t = Instant::now();
    let mut sub = store.subscribe(Some(0), LogFilter::all())?;
    let mut n = 0usize;
    let mut sum = 0usize;
    let mut skipped = None;
    loop {
        let batch = sub.next_batch(Duration::from_secs(60), 4096, |e| {
            if e.position != n as u64 && skipped.is_none() {
                skipped = Some(e.position);
            }
            n += 1;
            sum = sum.wrapping_add(e.data.len());
            true
        })?;
        if let Some(p) = skipped {
            return Err(format!("the subscription skipped to {p}").into());
        }
        match batch {
            Some(Batch::Events(_)) => {}
            Some(Batch::CaughtUp) => break,
            None => return Err("the subscription ended before catching up".into()),
        }
    }
    let dt = t.elapsed();
    std::hint::black_box(sum);
    if n != events {
        return Err(format!("the subscription caught up after {n} events, not {events}").into());
    }
    Ok(rate(n, dt))
}

/// Figure 10 and its baseline, in alternating slices: one thread appends
/// `batch` events per durable append while a subscription follows live,
/// counted until it has delivered every event the slice appended; and raw
/// LMDB transactions of `batch` puts, committed durably. Returns (Rewind
/// events delivered/s, baseline events/s).
pub fn live_delivery_vs_raw(
    rewind_path: &Path,
    raw_path: &Path,
    batch: usize,
    window: Duration,
    payload_len: usize,
) -> Result<(f64, f64)> {
    let data = payload(payload_len);
    let store = Store::open_lmdb(rewind_path)?;
    let env = raw_env(raw_path)?;
    let db = env.open_db(None)?;
    let mut key = 0u64;
    let rates = crate::interleave(
        window,
        &mut |d| {
            let mut sub = store.subscribe(None, LogFilter::all())?;
            match sub.next_blocking()? {
                Some(SubscriptionItem::CaughtUp) => {}
                other => return Err(format!("expected the caught-up marker, got {other:?}").into()),
            }
            let from = store.next_position()?;
            std::thread::scope(|scope| -> Result<usize> {
                let mut writer = Some(scope.spawn(|| -> Result<usize> {
                    let deadline = Instant::now() + d;
                    let mut n = 0;
                    while Instant::now() < deadline {
                        let events = (0..batch).map(|_| NewEvent::new(data.clone())).collect();
                        store.append(STREAM, events, ExpectedVersion::Any)?;
                        n += batch;
                    }
                    Ok(n)
                }));
                let mut got = 0usize;
                let mut written = None;
                loop {
                    if matches!(written, Some(w) if got >= w) {
                        break;
                    }
                    match sub.next_timeout(Duration::from_millis(20))? {
                        Some(SubscriptionItem::Event(e)) => {
                            if e.position != from + got as u64 {
                                return Err(format!(
                                    "the subscription delivered {} after {}",
                                    e.position,
                                    from + got as u64
                                )
                                .into());
                            }
                            got += 1;
                        }
                        Some(SubscriptionItem::CaughtUp) => {
                            return Err("a second caught-up marker".into())
                        }
                        None => {}
                    }
                    if writer.as_ref().is_some_and(|w| w.is_finished()) {
                        let w = writer.take().expect("checked").join();
                        written = Some(w.map_err(|_| "the writer panicked")??);
                    }
                }
                Ok(got)
            })
        },
        &mut |d| {
            let deadline = Instant::now() + d;
            let mut n = 0;
            while Instant::now() < deadline {
                let mut txn = env.begin_rw_txn()?;
                for _ in 0..batch {
                    txn.put(db, &key.to_be_bytes(), &data, WriteFlags::APPEND)?;
                    key += 1;
                }
                txn.commit()?;
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
