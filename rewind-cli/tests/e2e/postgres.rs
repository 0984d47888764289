//! The binary on PostgreSQL: `--postgres DSN` and a `PostgresEventStore`
//! section of a configuration file both serve a database; two servers on
//! one database serve one log; a database that cannot be reached is a
//! clean failure.

use rewind_testkit::postgres::Cluster;
use rewind_testkit::prelude::*;

use crate::rewind;

#[test]
fn two_servers_on_one_database_serve_one_log() {
    let cluster = Cluster::shared();
    let db = cluster.new_database();
    let by_flag = Spawn::new(rewind())
        .arg("--postgres")
        .arg(cluster.dsn(&db))
        .start();

    let dir = tempdir("pg-config");
    let e = Endpoints::fresh();
    let conf = write_file(
        dir.path(),
        "rewind.conf",
        &format!(
            "[general]\n\
             command-bind-endpoint={}\n\
             publish-bind-endpoint={}\n\
             storage-backend=pg\n\n\
             [pg]\n\
             class=rewind.server.eventstores.PostgresEventStore\n\
             dsn={}\n",
            e.command,
            e.publish,
            cluster.url(&db)
        ),
    );
    let by_config = Spawn::bare(rewind()).config(&conf).start_at(e);

    let a = by_flag.dealer().publish(b"orders", b"through the first");
    let b = by_config.dealer().publish(b"orders", b"through the second");
    let c = by_flag.dealer().publish(b"orders", b"and the first again");
    let want = vec![
        (a, b"through the first".to_vec()),
        (b, b"through the second".to_vec()),
        (c, b"and the first again".to_vec()),
    ];
    assert_eq!(by_flag.dealer().query(b"orders", b"", b""), want);
    assert_eq!(by_config.dealer().query(b"orders", b"", b""), want);
    let ready = by_flag.output();
    assert!(
        ready.contains(&db),
        "the ready line names the database: {ready}"
    );
    by_flag.stop();
    by_config.stop();

    // The events outlive both servers.
    let again = Spawn::new(rewind())
        .arg("--postgres")
        .arg(cluster.url(&db))
        .start();
    assert_eq!(again.dealer().query(b"orders", b"", b""), want);
}

#[test]
fn a_database_that_cannot_be_reached_is_a_clean_failure() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let line = Spawn::new(rewind())
        .arg("--postgres")
        .arg(format!(
            "host=127.0.0.1 port={port} dbname=events user=rewind password=hunter2"
        ))
        .run_to_exit()
        .assert_refused();
    assert!(line.contains("cannot connect to"), "{line}");
    assert!(line.contains("events"), "{line}");
    assert!(
        !line.contains("hunter2"),
        "the password never shows: {line}"
    );
}

/// Servers on one database while clients write through each of them: a
/// native subscriber and a v2 PUB subscriber on each server, writers on
/// each (their appends carry ids of their own, so a retry is harmless).
mod shared_log {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::thread::{self, JoinHandle};
    use std::time::{Duration, Instant};

    use rewind_core::{
        Appended, Client, ClientOptions, Error, Event, ExpectedVersion, LogFilter, NewEvent,
        SubscriptionItem,
    };
    use rewind_testkit::prelude::*;

    use crate::rewind;

    /// Servers on the database.
    const SERVERS: usize = 3;
    /// Writing clients per server.
    const WRITERS: usize = 2;
    /// Appends per writer.
    const APPENDS: usize = 80;
    /// How long subscribers may take to see the whole log.
    const WAIT: Duration = Duration::from_secs(30);

    /// One event as every subscriber must see it: stream, id, data.
    type Seen = (Vec<u8>, Vec<u8>, Vec<u8>);

    fn seen(e: &Event) -> Seen {
        (e.stream.clone(), e.id.clone(), e.data.clone())
    }

    /// What a writer did: the appends acknowledged (with their ids), the
    /// ids of those that failed, and whether it wrote after `mark` was set.
    #[derive(Default)]
    struct Written {
        acknowledged: Vec<Appended>,
        failed: Vec<(Vec<u8>, Error)>,
        after_mark: usize,
    }

    /// Everything the test runs: servers, subscribers, writers.
    struct Run {
        servers: Vec<Option<Rewind>>,
        native: Vec<JoinHandle<Result<Vec<Seen>, String>>>,
        publish: Vec<JoinHandle<Vec<Seen>>>,
        writers: Vec<JoinHandle<Written>>,
        mark: Arc<AtomicBool>,
        gone: Vec<Arc<AtomicBool>>,
        total: Arc<Mutex<Option<usize>>>,
    }

    fn client(server: &Rewind, retries: u32) -> Client {
        let opts = ClientOptions::default()
            .with_request_timeout(Duration::from_millis(500))
            .with_retries(retries);
        Client::connect_with(&server.endpoints.native, opts).unwrap()
    }

    impl Run {
        /// `SERVERS` servers on the database `dsn`, with their subscribers
        /// connected, then the writers started. A writer gives up an append
        /// after `retries` resends (and goes on with the next, unless its
        /// server is gone).
        fn start(dsn: &str, retries: u32) -> Run {
            let servers: Vec<Rewind> = (0..SERVERS)
                .map(|_| Spawn::new(rewind()).arg("--postgres").arg(dsn).start())
                .collect();
            let total = Arc::new(Mutex::new(None));
            let mark = Arc::new(AtomicBool::new(false));
            // Subscribers first: each hears every event from position 0.
            // Set when a server is killed: its subscribers stop.
            let gone: Vec<Arc<AtomicBool>> = (0..SERVERS).map(|_| Arc::default()).collect();
            let native = servers
                .iter()
                .zip(&gone)
                .map(|(s, gone)| {
                    // A small credit window: the subscription often reads
                    // the store rather than being fed live.
                    let opts = ClientOptions::default()
                        .with_request_timeout(Duration::from_millis(500))
                        .with_retries(40)
                        .with_credit_window(8);
                    let c = Client::connect_with(&s.endpoints.native, opts).unwrap();
                    let mut sub = c.subscribe(Some(0), LogFilter::all()).unwrap();
                    let total = total.clone();
                    let gone = gone.clone();
                    thread::spawn(move || {
                        let _c = c;
                        let mut got = Vec::new();
                        let mut deadline = None;
                        loop {
                            let want = *total.lock().unwrap();
                            if let Some(n) = want {
                                let d = *deadline.get_or_insert(Instant::now() + WAIT);
                                if got.len() >= n
                                    || Instant::now() > d
                                    || gone.load(Ordering::SeqCst)
                                {
                                    return Ok(got);
                                }
                            }
                            match sub.next_timeout(Duration::from_millis(100)) {
                                Ok(Some(SubscriptionItem::Event(e))) => got.push(seen(&e)),
                                Ok(_) => {}
                                Err(e) => return Err(format!("after {} events: {e}", got.len())),
                            }
                        }
                    })
                })
                .collect();
            let publish = servers
                .iter()
                .zip(&gone)
                .map(|(s, gone)| {
                    let sub = s.v2_sub(b"");
                    let total = total.clone();
                    let gone = gone.clone();
                    thread::spawn(move || {
                        let mut got = Vec::new();
                        let mut deadline = None;
                        loop {
                            let want = *total.lock().unwrap();
                            if let Some(n) = want {
                                let d = *deadline.get_or_insert(Instant::now() + WAIT);
                                if got.len() >= n
                                    || Instant::now() > d
                                    || gone.load(Ordering::SeqCst)
                                {
                                    return got;
                                }
                            }
                            if let Some(m) = sub.try_recv(100) {
                                assert_eq!(m.len(), 3, "stream, id, data");
                                got.push((m[0].clone(), m[1].clone(), m[2].clone()));
                            }
                        }
                    })
                })
                .collect();
            let writers = servers
                .iter()
                .enumerate()
                .flat_map(|(s, server)| (0..WRITERS).map(move |w| (s, w, server)))
                .map(|(s, w, server)| {
                    let c = client(server, retries);
                    let mark = mark.clone();
                    thread::spawn(move || {
                        let mut out = Written::default();
                        for i in 0..APPENDS {
                            let id = format!("s{s}-w{w}-{i}");
                            let mut events = vec![NewEvent::with_id(id.clone(), id.clone())];
                            if i % 3 == 0 {
                                events.push(NewEvent::with_id(format!("{id}+"), "second"));
                            }
                            let stream = format!("stream-{}", i % 5);
                            match c.append(stream.as_bytes(), events, ExpectedVersion::Any) {
                                Ok(a) => {
                                    if mark.load(Ordering::SeqCst) {
                                        out.after_mark += 1;
                                    }
                                    out.acknowledged.extend(a);
                                }
                                Err(e @ Error::Network(_)) => {
                                    // The server is gone.
                                    out.failed.push((id.into_bytes(), e));
                                    break;
                                }
                                Err(e) => {
                                    // The database is away: try again soon.
                                    out.failed.push((id.into_bytes(), e));
                                    thread::sleep(Duration::from_millis(50));
                                }
                            }
                        }
                        out
                    })
                })
                .collect();
            Run {
                servers: servers.into_iter().map(Some).collect(),
                native,
                gone,
                publish,
                writers,
                mark,
                total,
            }
        }

        /// Waits until the log holds `n` events.
        fn wait_for_appends(&self, reader: &Client, n: u64) {
            let deadline = Instant::now() + WAIT;
            while reader.next_position().unwrap_or(0) < n {
                assert!(Instant::now() < deadline, "the writers are stuck");
                thread::sleep(Duration::from_millis(20));
            }
        }

        /// Waits for the writers, then checks that every surviving
        /// server's subscribers saw the whole log, in order, each event
        /// once, and that every acknowledged append is in it where it was
        /// acknowledged. Returns what the writers did.
        fn finish(self, reader: &Client) -> Vec<Written> {
            let written: Vec<Written> = self
                .writers
                .into_iter()
                .map(|w| w.join().unwrap())
                .collect();
            let log = reader.read_log_vec(0, usize::MAX).unwrap();
            for (p, e) in log.iter().enumerate() {
                assert_eq!(e.position, p as u64, "a gap in the log");
            }
            *self.total.lock().unwrap() = Some(log.len());
            let want: Vec<Seen> = log.iter().map(seen).collect();
            for w in &written {
                for a in &w.acknowledged {
                    let e = &log[a.position as usize];
                    assert_eq!(
                        (&e.id, &e.stream, e.version),
                        (&a.id, &a.stream, a.version),
                        "an acknowledged append is in the log where it was acknowledged"
                    );
                }
            }
            for (i, (n, p)) in self.native.into_iter().zip(self.publish).enumerate() {
                let n = n.join().unwrap();
                let p = p.join().unwrap();
                if self.servers[i].is_none() {
                    continue; // killed
                }
                let n =
                    n.unwrap_or_else(|e| panic!("server {i}: the native subscription failed {e}"));
                assert_eq!(n.len(), want.len(), "server {i}: native subscriber's count");
                assert!(
                    n == want,
                    "server {i}: the native subscriber saw another log"
                );
                assert_eq!(p.len(), want.len(), "server {i}: PUB subscriber's count");
                assert!(p == want, "server {i}: the PUB subscriber saw another log");
            }
            written
        }
    }

    #[test]
    fn three_servers_on_one_database_deliver_one_log_to_every_subscriber_through_a_kill() {
        let cluster = rewind_testkit::postgres::Cluster::shared();
        let dsn = cluster.dsn(&cluster.new_database());
        let mut run = Run::start(&dsn, 2);
        let reader = client(run.servers[0].as_ref().unwrap(), 40);
        run.wait_for_appends(&reader, 150);
        // SIGKILL of the last server under load.
        run.servers[SERVERS - 1].take().unwrap().kill9();
        run.gone[SERVERS - 1].store(true, Ordering::SeqCst);
        run.mark.store(true, Ordering::SeqCst);
        let written = run.finish(&reader);
        let (survivors, killed) = written.split_at((SERVERS - 1) * WRITERS);
        for w in survivors {
            assert!(w.failed.is_empty(), "a surviving server failed appends");
            assert!(w.after_mark > 0, "the surviving servers carried on");
        }
        for w in killed {
            assert!(
                !w.failed.is_empty(),
                "the killed server's writers were cut off"
            );
        }
    }

    #[test]
    fn postgresql_restarting_under_load_loses_nothing_acknowledged() {
        let cluster = rewind_testkit::postgres::Cluster::start()
            .unwrap_or_else(|e| panic!("PostgreSQL is needed: {e}"));
        let dsn = cluster.dsn(&cluster.new_database());
        let run = Run::start(&dsn, 40);
        let reader = client(run.servers[0].as_ref().unwrap(), 40);
        run.wait_for_appends(&reader, 150);
        cluster.restart_server().unwrap();
        // Every server writes again, having reconnected by itself.
        for (i, server) in run.servers.iter().flatten().enumerate() {
            let c = client(server, 40);
            let id = format!("after-the-restart-{i}");
            let a = c
                .append(
                    b"after",
                    vec![NewEvent::with_id(id.clone(), id)],
                    ExpectedVersion::Any,
                )
                .unwrap_or_else(|e| panic!("server {i} after the restart: {e}"));
            assert_eq!(a.len(), 1);
        }
        let written = run.finish(&reader);
        let mut failures = 0;
        for w in &written {
            for (id, e) in &w.failed {
                failures += 1;
                // A clear failure: the database's, said so.
                assert!(
                    matches!(e, Error::Storage(_)),
                    "{}: {e:?}",
                    String::from_utf8_lossy(id)
                );
            }
        }
        eprintln!("appends failed across the restart: {failures}");
    }
}
