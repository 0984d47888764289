//! Failover of the PostgreSQL backend on real PostgreSQL: a store connected
//! by a multi-host connection string (`target_session_attrs=read-write`)
//! to a primary and its synchronous streaming replica keeps appending while
//! the primary is stopped at once and the replica promoted. The store finds
//! the new primary by itself; every append it acknowledged is on the new
//! primary at the position it was acknowledged with; an append in flight
//! during the failover fails with a storage error naming the database, and
//! sending it again succeeds exactly once.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rewind_core::{Error, ExpectedVersion, NewEvent, Store};
use rewind_testkit::postgres::{Cluster, ClusterOptions};

/// Threads appending through the one store.
const CLIENTS: usize = 4;
/// Appends acknowledged before the primary is stopped.
const BEFORE: usize = 200;
/// Appends acknowledged by the new primary before the appenders stop.
const AFTER: usize = 200;
/// How long the failover may take to be over.
const PATIENCE: Duration = Duration::from_secs(30);

/// Polls `f` until it holds, failing the test after [`PATIENCE`].
fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < PATIENCE, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// What one appending thread saw.
#[derive(Default)]
struct Outcomes {
    /// Acknowledged appends: id, stream and position.
    acked: Vec<(String, String, u64)>,
    /// Appends that failed: id, stream and the error's text.
    failed: Vec<(String, String, String)>,
}

/// The connection string to both clusters, primary first.
fn multi_host_dsn(primary: &Cluster, replica: &Cluster, db: &str) -> String {
    format!(
        "host={},{} port={},{} user=postgres dbname={db} \
         target_session_attrs=read-write connect_timeout=5",
        primary.socket_dir().display(),
        replica.socket_dir().display(),
        primary.port(),
        replica.port()
    )
}

#[test]
fn a_store_fails_over_to_a_synchronous_replica_and_keeps_every_acknowledged_append() {
    let started = Instant::now();
    let fail = |e: String| -> ! { panic!("PostgreSQL is needed: {e}") };
    let primary = Cluster::start().unwrap_or_else(|e| fail(e));
    let replica = Cluster::replica_of(&primary, "replica", &ClusterOptions::default())
        .unwrap_or_else(|e| fail(e));

    // Synchronous replication, as recommended: a COMMIT returns once the
    // replica has flushed its WAL (`synchronous_commit = on`, the default,
    // with the replica named in `synchronous_standby_names`). The replica's
    // own configuration keeps the setting empty, so that once promoted and
    // alone it commits without waiting for a standby it no longer has.
    let mut admin = primary.connect("postgres");
    for sql in [
        "ALTER SYSTEM SET synchronous_standby_names = 'replica'",
        "SELECT pg_reload_conf()",
    ] {
        admin.simple_query(sql).unwrap();
    }
    wait_for("the replica to be a synchronous standby", || {
        admin
            .query(
                "SELECT 1 FROM pg_stat_replication \
                 WHERE application_name = 'replica' AND sync_state = 'sync'",
                &[],
            )
            .unwrap()
            .len()
            == 1
    });
    let setting: String = admin
        .query_one("SHOW synchronous_commit", &[])
        .unwrap()
        .get(0);
    assert_eq!(setting, "on");
    let db = primary.new_database();

    let store = Store::open_postgres(multi_host_dsn(&primary, &replica, &db)).unwrap();
    let acked = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let appenders: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let store = store.clone();
            let acked = acked.clone();
            let stop = stop.clone();
            thread::spawn(move || {
                let stream = format!("client-{c}");
                let mut seen = Outcomes::default();
                let mut i = 0usize;
                while !stop.load(Ordering::SeqCst) {
                    let id = format!("{stream}-{i}");
                    i += 1;
                    let ev = NewEvent::with_id(id.clone(), id.clone());
                    match store.append(stream.as_bytes(), vec![ev], ExpectedVersion::Any) {
                        Ok(a) => {
                            assert_eq!(a.len(), 1);
                            assert_eq!(a[0].id, id.as_bytes());
                            seen.acked.push((id, stream.clone(), a[0].position));
                            acked.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) => {
                            assert!(matches!(e, Error::Storage(_)), "not a storage error: {e}");
                            seen.failed.push((id, stream.clone(), e.to_string()));
                            thread::sleep(Duration::from_millis(10));
                        }
                    }
                }
                seen
            })
        })
        .collect();

    wait_for("appends to the primary", || {
        acked.load(Ordering::SeqCst) >= BEFORE
    });
    let failover = Instant::now();
    primary.stop_server().unwrap();
    let at_stop = acked.load(Ordering::SeqCst);
    replica.promote().unwrap();
    wait_for("appends to the promoted replica", || {
        acked.load(Ordering::SeqCst) >= at_stop + AFTER
    });
    let failover = failover.elapsed();
    stop.store(true, Ordering::SeqCst);
    let outcomes: Vec<Outcomes> = appenders.into_iter().map(|a| a.join().unwrap()).collect();

    let acked: Vec<_> = outcomes.iter().flat_map(|o| &o.acked).collect();
    let failed: Vec<_> = outcomes.iter().flat_map(|o| &o.failed).collect();
    assert!(
        !failed.is_empty(),
        "no append was in flight while the primary was down: the test saw no failover"
    );
    for (_, _, text) in &failed {
        assert!(
            text.contains("PostgreSQL database") && text.contains(&db),
            "an append failed without naming the database: {text}"
        );
    }

    // Each failed append sent again (same id, same data) succeeds: stored
    // now, or found stored already if its COMMIT had made it before the
    // connection broke.
    let mut retried = Vec::new();
    for (id, stream, _) in &failed {
        let ev = NewEvent::with_id(id.clone(), id.clone());
        let a = store
            .append(stream.as_bytes(), vec![ev], ExpectedVersion::Any)
            .unwrap_or_else(|e| panic!("sending {id} again failed: {e}"));
        retried.push((id.clone(), a[0].position));
    }

    // The store is on the new primary now, and its log is whole.
    let mut sql = replica.connect(&db);
    let in_recovery: bool = sql
        .query_one("SELECT pg_is_in_recovery()", &[])
        .unwrap()
        .get(0);
    assert!(!in_recovery, "the replica was promoted");
    let log = store.read_log_vec(0, usize::MAX).unwrap();
    let rows: i64 = sql
        .query_one("SELECT count(*) FROM rewind_events", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows as usize, log.len(), "the store reads the new primary");
    for (i, e) in log.iter().enumerate() {
        assert_eq!(e.position, i as u64, "a gap in the log");
    }
    let by_id: HashMap<&[u8], u64> = log.iter().map(|e| (&e.id[..], e.position)).collect();
    assert_eq!(by_id.len(), log.len(), "each id once");
    for (id, stream, position) in &acked {
        let e = &log[*position as usize];
        assert_eq!(
            (&e.id[..], &e.stream[..], &e.data[..]),
            (id.as_bytes(), stream.as_bytes(), id.as_bytes()),
            "acknowledged append {id} at {position} is not on the new primary"
        );
    }
    for (id, position) in &retried {
        assert_eq!(by_id.get(id.as_bytes()), Some(position), "{id}");
    }
    // Nothing else is in the log: every event is an acknowledged append or
    // a failed one sent again.
    let sent: HashSet<&[u8]> = acked
        .iter()
        .map(|(id, _, _)| id.as_bytes())
        .chain(failed.iter().map(|(id, _, _)| id.as_bytes()))
        .collect();
    assert_eq!(sent.len(), log.len(), "the log holds exactly what was sent");
    assert!(log.iter().all(|e| sent.contains(&e.id[..])));

    eprintln!(
        "failover: {} appends acknowledged, {} failed during the failover and were sent again; \
         {:.2} s from stopping the primary to {AFTER} appends on the new one; {:.1} s in all; \
         the errors: {:?}",
        acked.len(),
        failed.len(),
        failover.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        failed
            .iter()
            .map(|(_, _, text)| text.as_str())
            .collect::<HashSet<_>>()
    );
}
