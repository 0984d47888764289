//! What only the PostgreSQL backend promises: several stores (as separate
//! servers would open) on one database share one gap-free log; a store
//! reconnects by itself after PostgreSQL restarts; the tables are created
//! once and a newer version of them is refused; both forms of connection
//! string, several hosts, and no password in descriptions.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use rewind_core::postgres::{PostgresOptions, SCHEMA_VERSION};
use rewind_core::{
    Error, Event, ExpectedVersion, LogFilter, NewEvent, Store, Subscription, SubscriptionItem,
};
use rewind_testkit::postgres::Cluster;

/// Stores on one database, as separate servers would have.
const SERVERS: usize = 3;
/// Appending threads per store.
const THREADS: usize = 3;
/// Appends per thread.
const APPENDS: usize = 60;

fn shared_db() -> (&'static Cluster, String) {
    let cluster = Cluster::shared();
    let db = cluster.new_database();
    (cluster, db)
}

#[test]
fn several_stores_on_one_database_share_one_gap_free_log() {
    let (cluster, db) = shared_db();
    let stores: Vec<Store> = (0..SERVERS)
        .map(|_| Store::open_postgres(cluster.dsn(&db)).unwrap())
        .collect();
    let done = Arc::new(AtomicBool::new(false));
    // A reader on a store of its own follows the log as it grows: it must
    // never see a position before every one below it is visible.
    let reader = {
        let store = Store::open_postgres(cluster.dsn(&db)).unwrap();
        let done = done.clone();
        thread::spawn(move || {
            let mut seen: Vec<Event> = Vec::new();
            let mut reads = 0usize;
            loop {
                let finished = done.load(Ordering::SeqCst);
                let next = seen.len() as u64;
                let head = store.next_position().unwrap();
                let batch = store.read_log_vec(next, 10_000).unwrap();
                reads += 1;
                for (i, e) in batch.iter().enumerate() {
                    assert_eq!(e.position, next + i as u64, "a gap in the log");
                }
                assert!(
                    next + batch.len() as u64 >= head,
                    "next_position said {head}, but the log ends at {}",
                    next + batch.len() as u64
                );
                seen.extend(batch);
                if finished {
                    return (seen, reads);
                }
            }
        })
    };
    // Every thread appends to a stream of its own and, with an exact
    // expected version, to one stream that every server shares.
    let start = Arc::new(Barrier::new(SERVERS * THREADS));
    let shared_ok = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = stores
        .iter()
        .enumerate()
        .flat_map(|(s, store)| (0..THREADS).map(move |t| (s, t, store.clone())))
        .map(|(s, t, store)| {
            let start = start.clone();
            let shared_ok = shared_ok.clone();
            thread::spawn(move || {
                start.wait();
                let own = format!("server-{s}-thread-{t}");
                let mut appended = Vec::new();
                for i in 0..APPENDS {
                    let a = store
                        .append(
                            own.as_bytes(),
                            vec![NewEvent::new(format!("{own}/{i}")), NewEvent::new("second")],
                            if i == 0 {
                                ExpectedVersion::NoStream
                            } else {
                                ExpectedVersion::Exact(2 * i as u64 - 1)
                            },
                        )
                        .unwrap();
                    appended.extend(a);
                    let head = store.stream_head(b"shared").unwrap().map(|h| h.version);
                    let expected = head.map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
                    match store.append(b"shared", vec![NewEvent::new(own.clone())], expected) {
                        Ok(a) => {
                            shared_ok.fetch_add(1, Ordering::SeqCst);
                            appended.extend(a);
                        }
                        Err(Error::WrongExpectedVersion { .. }) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
                appended
            })
        })
        .collect();
    let appended: Vec<_> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    done.store(true, Ordering::SeqCst);
    let (seen, reads) = reader.join().unwrap();

    let total = SERVERS * THREADS * APPENDS * 2 + shared_ok.load(Ordering::SeqCst);
    assert_eq!(appended.len(), total);
    let mut positions: Vec<u64> = appended.iter().map(|a| a.position).collect();
    positions.sort_unstable();
    assert_eq!(
        positions,
        (0..total as u64).collect::<Vec<_>>(),
        "contiguous, each once"
    );
    assert_eq!(seen.len(), total, "the reader saw the whole log");
    assert!(reads > 1, "the reader read while the writers wrote");
    for a in &appended {
        let e = &seen[a.position as usize];
        assert_eq!(
            (&e.id, &e.stream, e.version),
            (&a.id, &a.stream, a.version),
            "the log holds each append where it was acknowledged"
        );
    }
    // The shared stream's versions follow each other: each server saw the
    // others' commits under the lock.
    let shared = stores[0].read_stream_vec(b"shared", 0, usize::MAX).unwrap();
    assert_eq!(shared.len(), shared_ok.load(Ordering::SeqCst));
    assert!(shared.len() >= THREADS, "some shared appends succeeded");
    for (v, e) in shared.iter().enumerate() {
        assert_eq!(e.version, v as u64);
    }
    for s in &stores {
        assert_eq!(s.next_position().unwrap(), total as u64);
    }
}

#[test]
fn a_store_reconnects_after_postgresql_restarts() {
    let cluster = Cluster::start().unwrap_or_else(|e| panic!("PostgreSQL is needed: {e}"));
    let db = cluster.new_database();
    let store = Store::open_postgres(cluster.dsn(&db)).unwrap();
    // A subscription on another store of the database follows through
    // every restart.
    let watcher = Store::open_postgres(cluster.dsn(&db)).unwrap();
    let mut sub = watcher.subscribe(Some(0), LogFilter::all()).unwrap();
    let append = |data: &str| store.append(b"s", vec![NewEvent::new(data)], ExpectedVersion::Any);
    append("before").unwrap();
    assert_eq!(store.read_log_vec(0, 10).unwrap().len(), 1);

    // Every connection of the store breaks; the next append and read
    // reconnect by themselves.
    cluster.restart_server().unwrap();
    let a = append("after a restart").unwrap();
    assert_eq!(a[0].position, 1);
    assert_eq!(store.read_log_vec(0, 10).unwrap().len(), 2);

    // While PostgreSQL is down, appends and reads fail, saying why.
    cluster.stop_server().unwrap();
    let err = append("while down").unwrap_err();
    assert!(matches!(err, Error::Storage(_)), "{err}");
    assert!(err.to_string().contains("PostgreSQL"), "{err}");
    let err = store.read_log_vec(0, 10).unwrap_err();
    assert!(matches!(err, Error::Storage(_)), "{err}");

    // Back up: the same store goes on where the log ended.
    cluster.start_server().unwrap();
    let a = append("back").unwrap();
    assert_eq!(a[0].position, 2);
    let log: Vec<Vec<u8>> = store
        .read_log_vec(0, 10)
        .unwrap()
        .into_iter()
        .map(|e| e.data)
        .collect();
    assert_eq!(log, [&b"before"[..], b"after a restart", b"back"]);
    let heard: Vec<Vec<u8>> = live_events(&mut sub, 3)
        .into_iter()
        .map(|e| e.data)
        .collect();
    assert_eq!(heard, log, "the subscription saw the whole log, once");
}

/// The next `n` events of `sub` (skipping the caught-up marker), waiting
/// up to 20 seconds for each.
fn live_events(sub: &mut Subscription, n: usize) -> Vec<Event> {
    let mut out = Vec::new();
    while out.len() < n {
        match sub.next_timeout(Duration::from_secs(20)).unwrap() {
            Some(SubscriptionItem::Event(e)) => out.push(e),
            Some(SubscriptionItem::CaughtUp) => {}
            None => panic!("no event came (after {} of {n})", out.len()),
        }
    }
    out
}

/// What a listener heard: each event's position and previous id.
type Told = Arc<Mutex<Vec<(u64, Option<Vec<u8>>)>>>;

#[test]
fn every_store_on_a_database_hears_every_commit_once_in_order() {
    let (cluster, db) = shared_db();
    let stores: Vec<Store> = (0..SERVERS)
        .map(|_| Store::open_postgres(cluster.dsn(&db)).unwrap())
        .collect();
    // On each store: a subscription, and a listener recording positions
    // and previous ids.
    let mut subs: Vec<Subscription> = stores
        .iter()
        .map(|s| s.subscribe(None, LogFilter::all()).unwrap())
        .collect();
    let told: Vec<Told> = stores
        .iter()
        .map(|s| {
            let told = Arc::new(Mutex::new(Vec::new()));
            let t = told.clone();
            s.add_listener(Box::new(move |batch| {
                for a in batch.iter() {
                    for (e, prev) in a.iter() {
                        t.lock()
                            .unwrap()
                            .push((e.position, prev.map(<[u8]>::to_vec)));
                    }
                }
            }));
            told
        })
        .collect();
    let writers: Vec<_> = stores
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let s = s.clone();
            thread::spawn(move || {
                for n in 0..APPENDS {
                    let stream = format!("s{}", n % 4);
                    s.append(
                        stream.as_bytes(),
                        vec![NewEvent::new(format!("{i}/{n}")), NewEvent::new("b")],
                        ExpectedVersion::Any,
                    )
                    .unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let log = stores[0].read_log_vec(0, usize::MAX).unwrap();
    assert_eq!(log.len(), SERVERS * APPENDS * 2);
    for sub in &mut subs {
        assert_eq!(live_events(sub, log.len()), log, "a subscription's log");
    }
    // The previous id of each event: the event before it in its stream.
    let mut last_of: std::collections::HashMap<&[u8], &[u8]> = Default::default();
    let want: Vec<(u64, Option<Vec<u8>>)> = log
        .iter()
        .map(|e| {
            let prev = last_of.insert(&e.stream, &e.id).map(<[u8]>::to_vec);
            (e.position, prev)
        })
        .collect();
    for t in &told {
        let n = want.len();
        wait(|| t.lock().unwrap().len() >= n);
        assert_eq!(*t.lock().unwrap(), want, "a listener's log");
    }
    // Closing a store tells its listeners of what was committed before.
    let s = Store::open_postgres(cluster.dsn(&db)).unwrap();
    let last = Arc::new(AtomicUsize::new(0));
    let l2 = last.clone();
    s.add_listener(Box::new(move |batch| {
        l2.fetch_add(batch.iter().map(|a| a.events.len()).sum(), Ordering::SeqCst);
    }));
    s.append(b"late", vec![NewEvent::new("x")], ExpectedVersion::Any)
        .unwrap();
    s.close().unwrap();
    assert_eq!(last.load(Ordering::SeqCst), 1, "told before the close");
    for sub in &mut subs {
        assert_eq!(live_events(sub, 1)[0].stream, b"late");
    }
}

/// Waits up to 10 seconds for `done`.
fn wait(mut done: impl FnMut() -> bool) {
    crate::wait_until("every commit is told", &mut done);
}

#[test]
fn the_tables_are_created_once_and_a_newer_version_is_refused() {
    let (cluster, db) = shared_db();
    let start = Arc::new(Barrier::new(4));
    let openers: Vec<_> = (0..4)
        .map(|_| {
            let dsn = cluster.dsn(&db);
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                Store::open_postgres(dsn).map(|_| ())
            })
        })
        .collect();
    for o in openers {
        o.join().unwrap().unwrap();
    }
    let mut sql = cluster.connect(&db);
    let version: i32 = sql
        .query_one("SELECT version FROM rewind_schema_version", &[])
        .unwrap()
        .get(0);
    assert_eq!(version, SCHEMA_VERSION);

    let store = Store::open_postgres(cluster.dsn(&db)).unwrap();
    store
        .append(b"kept", vec![NewEvent::new("x")], ExpectedVersion::NoStream)
        .unwrap();
    drop(store);
    let store = Store::open_postgres(cluster.dsn(&db)).unwrap();
    assert_eq!(store.read_stream_vec(b"kept", 0, 10).unwrap().len(), 1);
    drop(store);

    sql.execute(
        "UPDATE rewind_schema_version SET version = $1",
        &[&(SCHEMA_VERSION + 1)],
    )
    .unwrap();
    let err = Store::open_postgres(cluster.dsn(&db))
        .err()
        .expect("a newer version of the tables is refused");
    let text = err.to_string();
    assert!(
        text.contains(&format!("version {}", SCHEMA_VERSION + 1)) && text.contains("newer"),
        "{text}"
    );
}

#[test]
fn urls_several_hosts_and_bad_connection_strings() {
    let (cluster, db) = shared_db();
    let by_socket = Store::open_postgres(cluster.dsn(&db)).unwrap();
    by_socket
        .append(
            b"s",
            vec![NewEvent::with_id("one", "1")],
            ExpectedVersion::Any,
        )
        .unwrap();
    let by_url = Store::open_postgres(cluster.url(&db)).unwrap();
    assert_eq!(by_url.get(b"one").unwrap().unwrap().data, b"1");

    // The first host refuses; the second is the read-write primary.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let multi = format!(
        "host=127.0.0.1,127.0.0.1 port={dead_port},{} user=postgres dbname={db} \
         target_session_attrs=read-write connect_timeout=5",
        cluster.port()
    );
    let by_multi = Store::open_postgres(multi).unwrap();
    by_multi
        .append(
            b"s",
            vec![NewEvent::with_id("two", "2")],
            ExpectedVersion::Exact(0),
        )
        .unwrap();
    assert_eq!(by_socket.read_stream_vec(b"s", 0, 10).unwrap().len(), 2);

    let err = Store::open_postgres(format!(
        "host=127.0.0.1 port={dead_port} user=postgres dbname={db} password=hunter2"
    ))
    .err()
    .expect("nothing listens there");
    let text = err.to_string();
    assert!(matches!(err, Error::Storage(_)), "{text}");
    assert!(
        text.contains("cannot connect to") && text.contains(&db),
        "{text}"
    );
    assert!(
        !text.contains("hunter2"),
        "the password is never shown: {text}"
    );

    let err = Store::open_postgres("host=x port=notaport")
        .err()
        .expect("a malformed string");
    assert!(matches!(err, Error::Config(_)), "{err}");
}

#[test]
fn descriptions_never_show_the_password() {
    for dsn in [
        "host=db1 port=5433 dbname=events user=rewind password=hunter2",
        "postgresql://rewind:hunter2@db1:5433/events",
    ] {
        let o = PostgresOptions::new(dsn);
        let shown = format!("{} {o:?}", o.describe());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("events") && shown.contains("db1:5433") && shown.contains("rewind"),
            "{shown}"
        );
    }
}
