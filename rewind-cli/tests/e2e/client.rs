//! The Rust client (`rewind_core::Client`) against the real binary.
//!
//! One behavioural suite is written against `rewind_core::EventStore` and
//! runs twice, on an embedded `Store` and on a `Client` of a `rewind`
//! process: the two must agree on appends, expected versions, multi-stream
//! atomicity, retries, every read, filters, lookups and subscriptions. Then
//! the client's own promises: many threads on one client, a request resent
//! to a frozen server and to a restarted one (stored once), a subscription
//! across a restart (every event once), a stop from another thread, and a
//! clear error when nothing listens.

use std::collections::HashSet;
use std::thread;
use std::time::{Duration, Instant};

use rewind_core::{
    Client, ClientOptions, Error, Event, EventStore, EventSubscription, ExpectedVersion, LogFilter,
    NewEvent, Store, StreamAppend, SubscriptionItem, SubscriptionStop,
};
use rewind_testkit::prelude::*;

use crate::metrics::{metrics_address, sample, scrape};
use crate::rewind;

const WAIT: Duration = Duration::from_secs(20);

/// Options that notice a dead server quickly, with retries enough to
/// outlast a restart.
fn quick() -> ClientOptions {
    ClientOptions::default()
        .with_request_timeout(Duration::from_millis(500))
        .with_retries(40)
}

/// A server on an in-memory store and a client of it.
fn served() -> (Rewind, Client) {
    let server = Spawn::in_memory(rewind()).start();
    let client = Client::connect_with(&server.endpoints.native, quick()).unwrap();
    (server, client)
}

fn data(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| String::from_utf8(e.data.clone()).unwrap())
        .collect()
}

fn one(data: &str) -> Vec<NewEvent> {
    vec![NewEvent::new(data)]
}

/// The next `n` items of a subscription, events as their data and
/// `CaughtUp` as "^".
fn take<S: EventSubscription>(sub: &mut S, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let deadline = Instant::now() + WAIT;
    while out.len() < n {
        assert!(Instant::now() < deadline, "only {out:?} came in time");
        match sub.next_timeout(Duration::from_millis(100)).unwrap() {
            Some(SubscriptionItem::Event(e)) => out.push(String::from_utf8(e.data).unwrap()),
            Some(SubscriptionItem::CaughtUp) => out.push("^".into()),
            None => {}
        }
    }
    out
}

/// Runs each part of the suite as two tests: `embedded` and `served`.
macro_rules! on_both {
    ($($part:ident),* $(,)?) => {
        $(
            mod $part {
                #[test]
                fn embedded() {
                    super::$part(&rewind_core::Store::in_memory());
                }

                #[test]
                fn served() {
                    let (_server, client) = super::served();
                    super::$part(&client);
                }
            }
        )*
    };
}

on_both!(
    appends_and_expected_versions,
    multi_stream_appends_are_atomic,
    a_retried_append_returns_its_first_positions,
    reads_both_ways_with_limits,
    filtered_reads,
    lookups_heads_and_listings,
    subscriptions_go_from_history_to_live,
);

fn appends_and_expected_versions<S: EventStore>(s: &S) {
    let a = s
        .append(
            b"s",
            vec![
                NewEvent::new("0"),
                NewEvent::new("1").with_type("T").with_metadata("m"),
            ],
            ExpectedVersion::NoStream,
        )
        .unwrap();
    assert_eq!(
        a.iter()
            .map(|a| (a.version, a.position))
            .collect::<Vec<_>>(),
        [(0, 0), (1, 1)]
    );
    assert_eq!(a[0].stream, b"s");
    assert_eq!(a[0].id.len(), 36, "a UUID");
    let e = s.get(&a[1].id).unwrap().unwrap();
    assert_eq!(
        (e.event_type.as_slice(), e.metadata.as_slice()),
        (&b"T"[..], &b"m"[..])
    );
    match s
        .append(b"s", one("x"), ExpectedVersion::NoStream)
        .unwrap_err()
    {
        Error::WrongExpectedVersion {
            stream,
            expected,
            actual,
        } => assert_eq!(
            (stream.as_slice(), expected, actual),
            (&b"s"[..], ExpectedVersion::NoStream, Some(1))
        ),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        s.append(b"s", one("x"), ExpectedVersion::Exact(0)),
        Err(Error::WrongExpectedVersion {
            actual: Some(1),
            ..
        })
    ));
    assert!(matches!(
        s.append(b"new", one("x"), ExpectedVersion::StreamExists),
        Err(Error::WrongExpectedVersion { actual: None, .. })
    ));
    assert_eq!(
        s.append(b"s", one("2"), ExpectedVersion::Exact(1)).unwrap()[0].version,
        2
    );
    assert_eq!(
        s.append(b"s", one("3"), ExpectedVersion::StreamExists)
            .unwrap()[0]
            .version,
        3
    );
    assert_eq!(
        s.append(b"t", one("4"), ExpectedVersion::Any).unwrap()[0].position,
        4
    );
    // An id already stored under another event.
    let err = s
        .append(
            b"u",
            vec![NewEvent::with_id(a[0].id.clone(), "other")],
            ExpectedVersion::Any,
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::DuplicateId(ref id) if *id == a[0].id),
        "{err:?}"
    );
    // Bad arguments are refused the same way.
    assert!(matches!(
        s.append(b"", one("x"), ExpectedVersion::Any),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        s.append(b"s", Vec::new(), ExpectedVersion::Any),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        s.append(
            b"s",
            vec![NewEvent::new("x").with_type(vec![0xff])],
            ExpectedVersion::Any
        ),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(s.next_position().unwrap(), 5, "nothing refused was stored");
}

fn multi_stream_appends_are_atomic<S: EventStore>(s: &S) {
    s.append(b"b", one("b0"), ExpectedVersion::Any).unwrap();
    let ok = s
        .append_multi(vec![
            StreamAppend::new("a", one("a0"), ExpectedVersion::NoStream),
            StreamAppend::new(
                "b",
                vec![NewEvent::new("b1"), NewEvent::new("b2")],
                ExpectedVersion::Exact(0),
            ),
        ])
        .unwrap();
    assert_eq!(
        ok.iter()
            .map(|a| (
                String::from_utf8(a.stream.clone()).unwrap(),
                a.version,
                a.position
            ))
            .collect::<Vec<_>>(),
        [("a".into(), 0, 1), ("b".into(), 1, 2), ("b".into(), 2, 3)]
    );
    // One conflicting part refuses the whole append.
    let err = s
        .append_multi(vec![
            StreamAppend::new("c", one("c0"), ExpectedVersion::NoStream),
            StreamAppend::new("b", one("b3"), ExpectedVersion::Exact(1)),
        ])
        .unwrap_err();
    assert!(
        matches!(err, Error::WrongExpectedVersion { ref stream, expected: ExpectedVersion::Exact(1), actual: Some(2) } if stream == b"b"),
        "{err:?}"
    );
    assert!(
        s.stream_head(b"c").unwrap().is_none(),
        "no part was written"
    );
    // A stream named twice is a bad argument.
    assert!(matches!(
        s.append_multi(vec![
            StreamAppend::new("d", one("1"), ExpectedVersion::Any),
            StreamAppend::new("d", one("2"), ExpectedVersion::Any),
        ]),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(s.next_position().unwrap(), 4);
}

fn a_retried_append_returns_its_first_positions<S: EventStore>(s: &S) {
    let append = vec![
        StreamAppend::new(
            "x",
            vec![NewEvent::with_id("id-1", "1")],
            ExpectedVersion::NoStream,
        ),
        StreamAppend::new(
            "y",
            vec![NewEvent::with_id("id-2", "2")],
            ExpectedVersion::Any,
        ),
    ];
    let first = s.append_multi(append.clone()).unwrap();
    s.append(b"x", one("later"), ExpectedVersion::Any).unwrap();
    assert_eq!(
        s.append_multi(append.clone()).unwrap(),
        first,
        "the same answer"
    );
    assert_eq!(s.next_position().unwrap(), 3, "written once");
    // The same ids with other data are not a retry.
    let mut changed = append;
    changed[0].events[0].data = b"other".to_vec();
    assert!(matches!(s.append_multi(changed), Err(Error::DuplicateId(ref id)) if id == b"id-1"));
}

fn reads_both_ways_with_limits<S: EventStore>(s: &S) {
    for i in 0..2500 {
        let stream = if i % 2 == 0 { "even" } else { "odd" };
        s.append(stream.as_bytes(), one(&i.to_string()), ExpectedVersion::Any)
            .unwrap();
    }
    let evens = s.read_stream_vec(b"even", 0, usize::MAX).unwrap();
    assert_eq!(evens.len(), 1250, "a read longer than one batch is whole");
    assert_eq!(evens[1249].data, b"2498");
    assert_eq!(data(&s.read_stream_vec(b"odd", 3, 2).unwrap()), ["7", "9"]);
    assert!(s.read_stream_vec(b"odd", 3, 0).unwrap().is_empty());
    assert!(s.read_stream_vec(b"none", 0, 10).unwrap().is_empty());
    assert!(s.read_stream_vec(b"odd", 5000, 10).unwrap().is_empty());
    assert_eq!(
        data(&s.read_stream_backward_vec(b"odd", None, 2).unwrap()),
        ["2499", "2497"]
    );
    assert_eq!(
        data(&s.read_stream_backward_vec(b"odd", Some(1), 10).unwrap()),
        ["3", "1"]
    );
    assert_eq!(
        data(&s.read_stream_backward_vec(b"odd", Some(99_999), 1).unwrap()),
        ["2499"],
        "past the end: from the last event"
    );
    assert_eq!(s.read_log_vec(0, usize::MAX).unwrap().len(), 2500);
    assert_eq!(data(&s.read_log_vec(2498, 10).unwrap()), ["2498", "2499"]);
    assert_eq!(
        data(&s.read_log_backward_vec(None, 3).unwrap()),
        ["2499", "2498", "2497"]
    );
    assert_eq!(
        data(&s.read_log_backward_vec(Some(1), 10).unwrap()),
        ["1", "0"]
    );
    // The visitor forms, stopped early.
    let mut seen = Vec::new();
    s.read_log(10, 100, |e| {
        seen.push(e.position);
        seen.len() < 3
    })
    .unwrap();
    assert_eq!(seen, [10, 11, 12]);
    let mut seen = Vec::new();
    s.read_stream(b"even", 0, 1000, |e| {
        seen.push(e.version);
        true
    })
    .unwrap();
    assert_eq!(seen, (0..1000).collect::<Vec<u64>>());
    let mut seen = Vec::new();
    s.read_stream_backward(b"even", None, 2, |e| {
        seen.push(e.version);
        true
    })
    .unwrap();
    assert_eq!(seen, [1249, 1248]);
    let mut seen = Vec::new();
    s.read_log_backward(Some(5), 100, |e| {
        seen.push(e.position);
        e.position > 3
    })
    .unwrap();
    assert_eq!(seen, [5, 4, 3]);
}

fn filtered_reads<S: EventStore>(s: &S) {
    for (stream, ty) in [
        ("order-1", "placed"),
        ("cart-1", "added"),
        ("order-2", "placed"),
        ("order-1", "paid"),
        ("cart-1", "paid"),
    ] {
        s.append(
            stream.as_bytes(),
            vec![NewEvent::new(format!("{stream}/{ty}")).with_type(ty)],
            ExpectedVersion::Any,
        )
        .unwrap();
    }
    let orders = LogFilter::all().with_stream_prefix("order-");
    assert_eq!(
        data(&s.read_log_filtered_vec(0, 10, &orders).unwrap()),
        ["order-1/placed", "order-2/placed", "order-1/paid"]
    );
    assert_eq!(
        data(&s.read_log_filtered_vec(1, 1, &orders).unwrap()),
        ["order-2/placed"]
    );
    let paid = LogFilter::all().with_event_types(["paid"]);
    assert_eq!(
        data(&s.read_log_filtered_vec(0, 10, &paid).unwrap()),
        ["order-1/paid", "cart-1/paid"]
    );
    let both = orders.clone().with_event_types(["paid", "added"]);
    assert_eq!(
        data(&s.read_log_filtered_vec(0, 10, &both).unwrap()),
        ["order-1/paid"]
    );
    let nothing = LogFilter::all().with_event_types(Vec::<Vec<u8>>::new());
    assert!(s.read_log_filtered_vec(0, 10, &nothing).unwrap().is_empty());
    assert!(s
        .read_log_filtered_vec(0, 10, &LogFilter::all().with_stream_prefix("zzz"))
        .unwrap()
        .is_empty());
}

fn lookups_heads_and_listings<S: EventStore>(s: &S) {
    assert_eq!(s.next_position().unwrap(), 0);
    assert!(s.stream_head(b"a").unwrap().is_none());
    let a = s
        .append(
            b"a",
            vec![NewEvent::with_id("e-1", "1"), NewEvent::new("2")],
            ExpectedVersion::Any,
        )
        .unwrap();
    s.append(b"c", one("3"), ExpectedVersion::Any).unwrap();
    s.append(b"b", one("4"), ExpectedVersion::Any).unwrap();
    let e = s.get(b"e-1").unwrap().unwrap();
    assert_eq!(
        (
            e.stream.as_slice(),
            e.version,
            e.position,
            e.data.as_slice()
        ),
        (&b"a"[..], 0, 0, &b"1"[..])
    );
    assert!(s.get(b"e-2").unwrap().is_none());
    assert!(s.contains(b"e-1").unwrap());
    assert!(!s.contains(b"e-2").unwrap());
    let head = s.stream_head(b"a").unwrap().unwrap();
    assert_eq!(
        (head.version, head.position, head.id),
        (1, 1, a[1].id.clone())
    );
    assert_eq!(s.next_position().unwrap(), 4);
    let names = |after: &[u8], limit| -> Vec<(String, u64, u64)> {
        s.list_streams(after, limit)
            .unwrap()
            .into_iter()
            .map(|l| (String::from_utf8(l.name).unwrap(), l.version, l.position))
            .collect()
    };
    assert_eq!(
        names(b"", 10),
        [("a".into(), 1, 1), ("b".into(), 0, 3), ("c".into(), 0, 2)]
    );
    assert_eq!(names(b"a", 1), [("b".into(), 0, 3)]);
    assert!(names(b"c", 10).is_empty());
    let info = s.info().unwrap();
    assert_eq!(info.next_position, 4);
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
}

fn subscriptions_go_from_history_to_live<S: EventStore>(s: &S) {
    for i in 0..5 {
        let stream = if i % 2 == 0 { "a-1" } else { "b-1" };
        s.append(stream.as_bytes(), one(&i.to_string()), ExpectedVersion::Any)
            .unwrap();
    }
    let mut all = s.subscribe(Some(1), LogFilter::all()).unwrap();
    assert_eq!(all.position(), 1);
    let mut only_a = s
        .subscribe(Some(0), LogFilter::all().with_stream_prefix("a-"))
        .unwrap();
    let mut from_now = s.subscribe(None, LogFilter::all()).unwrap();
    assert_eq!(from_now.position(), 5);
    assert_eq!(take(&mut all, 5), ["1", "2", "3", "4", "^"]);
    assert_eq!(all.position(), 5);
    assert_eq!(take(&mut only_a, 4), ["0", "2", "4", "^"]);
    assert_eq!(take(&mut from_now, 1), ["^"]);
    s.append(b"a-2", one("5"), ExpectedVersion::Any).unwrap();
    s.append(b"b-2", one("6"), ExpectedVersion::Any).unwrap();
    assert_eq!(take(&mut all, 2), ["5", "6"]);
    assert_eq!(take(&mut only_a, 1), ["5"]);
    assert_eq!(take(&mut from_now, 2), ["5", "6"]);
    // The filtered one moves past what it skips.
    assert_eq!(
        only_a.next_timeout(Duration::from_millis(300)).unwrap(),
        None
    );
    assert_eq!(all.next_timeout(Duration::from_millis(100)).unwrap(), None);
    // Batches.
    s.append(
        b"a-3",
        vec![NewEvent::new("7"), NewEvent::new("8")],
        ExpectedVersion::Any,
    )
    .unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + WAIT;
    while got.len() < 2 && Instant::now() < deadline {
        all.next_batch(Duration::from_millis(100), 10, |e| {
            got.push(e.position);
            true
        })
        .unwrap();
    }
    assert_eq!(got, [7, 8]);
    // A start past the end is refused.
    assert!(matches!(
        s.subscribe(Some(100), LogFilter::all()),
        Err(Error::InvalidArgument(_))
    ));
    // Stopped: nothing more.
    let stop = all.stop_handle();
    stop.stop();
    assert!(all.is_stopped());
    assert_eq!(all.next_timeout(Duration::from_millis(10)).unwrap(), None);
}

#[test]
fn many_threads_share_one_client_and_their_appends_are_in_flight_together() {
    let dir = tempfile::tempdir().unwrap();
    let server = Spawn::lmdb(rewind(), &dir.path().join("data"))
        .arg("--metrics-bind-address")
        .arg("127.0.0.1:0")
        .start();
    let client = Client::connect_with(&server.endpoints.native, quick()).unwrap();
    let threads = 16;
    let each = 100u64;
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let c = client.clone();
            thread::spawn(move || {
                let stream = format!("thread-{t}");
                for i in 0..each {
                    let expected = match i {
                        0 => ExpectedVersion::NoStream,
                        _ => ExpectedVersion::Exact(i - 1),
                    };
                    let a = c
                        .append(stream.as_bytes(), one(&i.to_string()), expected)
                        .unwrap();
                    assert_eq!(a[0].version, i);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let elapsed = started.elapsed();
    assert_eq!(client.next_position().unwrap(), threads * each);
    for t in 0..threads {
        let events = client
            .read_stream_vec(format!("thread-{t}").as_bytes(), 0, 1000)
            .unwrap();
        assert_eq!(events.len() as u64, each);
    }
    // Every position once.
    let positions: HashSet<u64> = client
        .read_log_vec(0, usize::MAX)
        .unwrap()
        .iter()
        .map(|e| e.position)
        .collect();
    assert_eq!(positions.len() as u64, threads * each);
    // Durable commits on disk are slow enough for the appends in flight
    // together to share them.
    let text = scrape(&metrics_address(&server));
    let commits = sample(&text, "rewind_commit_batch_appends_count");
    let appends = sample(&text, "rewind_commit_batch_appends_sum");
    assert_eq!(appends, (threads * each) as f64, "{text}");
    assert!(commits < appends, "no commit was shared: {commits} commits");
    eprintln!(
        "{} appends from {threads} threads in {elapsed:?}, {commits} commits",
        threads * each
    );
}

#[test]
fn an_append_resent_to_a_frozen_server_is_stored_once() {
    let server = Spawn::in_memory(rewind())
        .arg("--metrics-bind-address")
        .arg("127.0.0.1:0")
        .start();
    let metrics = metrics_address(&server);
    let client = Client::connect_with(&server.endpoints.native, quick()).unwrap();
    client
        .append(b"s", one("before"), ExpectedVersion::Any)
        .unwrap();
    server.signal(libc::SIGSTOP);
    let c = client.clone();
    let writer = thread::spawn(move || {
        c.append(
            b"s",
            vec![NewEvent::new("a"), NewEvent::new("b")],
            ExpectedVersion::Exact(0),
        )
    });
    // Long enough for the client to give up the first connection and send
    // the append again on a second (and more).
    thread::sleep(Duration::from_millis(1600));
    server.signal(libc::SIGCONT);
    let appended = writer.join().unwrap().unwrap();
    assert_eq!(
        appended
            .iter()
            .map(|a| (a.version, a.position))
            .collect::<Vec<_>>(),
        [(1, 1), (2, 2)]
    );
    assert_eq!(
        data(&client.read_stream_vec(b"s", 0, 10).unwrap()),
        ["before", "a", "b"]
    );
    assert_eq!(client.next_position().unwrap(), 3);
    // Stored once, however many of its copies reached the server (the
    // first one, if ZeroMQ hands it on after the thaw, and the resends).
    let text = scrape(&metrics);
    assert!(sample(&text, "rewind_appends_total") >= 2.0, "{text}");
    assert_eq!(sample(&text, "rewind_events_appended_total"), 3.0, "{text}");
}

#[test]
fn a_request_in_flight_across_a_kill_and_restart_is_answered_by_the_new_server() {
    let dir = tempfile::tempdir().unwrap();
    let spawn = Spawn::lmdb(rewind(), &dir.path().join("data"));
    let mut server = spawn.start();
    let client = Client::connect_with(&server.endpoints.native, quick()).unwrap();
    let first = client
        .append(
            b"s",
            vec![NewEvent::with_id("one", "1")],
            ExpectedVersion::NoStream,
        )
        .unwrap();
    server.kill9();
    let c = client.clone();
    let writer = thread::spawn(move || c.append(b"s", one("2"), ExpectedVersion::Exact(0)));
    thread::sleep(Duration::from_millis(700));
    let _server = spawn.start();
    let second = writer.join().unwrap().unwrap();
    assert_eq!((second[0].version, second[0].position), (1, 1));
    // The acknowledged append, sent again to the new server: a retry.
    let again = client
        .append(
            b"s",
            vec![NewEvent::with_id("one", "1")],
            ExpectedVersion::NoStream,
        )
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(
        data(&client.read_stream_vec(b"s", 0, 10).unwrap()),
        ["1", "2"]
    );
}

#[test]
fn a_subscription_survives_a_restart_and_sees_every_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let spawn = Spawn::lmdb(rewind(), &dir.path().join("data"));
    let mut server = spawn.start();
    let opts = quick().with_credit_window(4);
    let writer = Client::connect_with(&server.endpoints.native, opts.clone()).unwrap();
    let reader = Client::connect_with(&server.endpoints.native, opts).unwrap();
    for i in 0..20 {
        writer
            .append(b"s", one(&i.to_string()), ExpectedVersion::Any)
            .unwrap();
    }
    let mut sub = reader.subscribe(Some(0), LogFilter::all()).unwrap();
    // Part of the history, with more on the way (a window of 4).
    let mut got = take(&mut sub, 6);
    server.kill9();
    thread::sleep(Duration::from_millis(300));
    let _server = spawn.start();
    for i in 20..30 {
        writer
            .append(b"s", one(&i.to_string()), ExpectedVersion::Any)
            .unwrap();
    }
    got.extend(take(&mut sub, 25));
    let mut want: Vec<String> = (0..30).map(|i| i.to_string()).collect();
    let caught_up = got.iter().position(|g| g == "^").expect("CaughtUp came");
    want.insert(caught_up, "^".into());
    assert_eq!(got, want, "every event once, in order, CaughtUp once");
    assert!(caught_up >= 20, "CaughtUp after the history");
    writer
        .append(b"s", one("30"), ExpectedVersion::Any)
        .unwrap();
    assert_eq!(take(&mut sub, 1), ["30"]);
    assert_eq!(sub.next_timeout(Duration::from_millis(300)).unwrap(), None);
    assert_eq!(sub.position(), 31);
}

#[test]
fn an_idle_subscription_outlives_the_servers_peer_timeout() {
    let (server, client) = served();
    let mut sub = client.subscribe(None, LogFilter::all()).unwrap();
    assert_eq!(take(&mut sub, 1), ["^"]);
    // Eleven heartbeats with nothing to say but PING.
    assert_eq!(sub.next_timeout(Duration::from_secs(11)).unwrap(), None);
    client
        .append(b"s", one("late"), ExpectedVersion::Any)
        .unwrap();
    assert_eq!(take(&mut sub, 1), ["late"]);
    let out = server.output();
    assert!(
        !out.contains("silent for"),
        "the server timed the client out:\n{out}"
    );
}

#[test]
fn a_subscription_stops_from_another_thread() {
    let (_server, client) = served();
    let mut sub = client.subscribe(None, LogFilter::all()).unwrap();
    assert_eq!(take(&mut sub, 1), ["^"]);
    let stop = sub.stop_handle();
    let stopper = thread::spawn(move || {
        thread::sleep(Duration::from_millis(200));
        stop.stop();
    });
    let started = Instant::now();
    assert_eq!(sub.next_blocking().unwrap(), None);
    assert!(started.elapsed() >= Duration::from_millis(150));
    stopper.join().unwrap();
    // The client goes on.
    client.append(b"s", one("x"), ExpectedVersion::Any).unwrap();
    drop(sub);
    client.close();
    assert!(matches!(client.next_position(), Err(Error::Closed)));
}

#[test]
fn nothing_listening_is_a_clear_error_after_the_timeouts() {
    let endpoint = tcp(free_port());
    let opts = ClientOptions::default()
        .with_request_timeout(Duration::from_millis(200))
        .with_retries(2);
    let client = Client::connect_with(&endpoint, opts).unwrap();
    let started = Instant::now();
    let err = client
        .append(b"s", one("x"), ExpectedVersion::Any)
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        matches!(err, Error::Network(ref m) if m.contains(&endpoint) && m.contains("3 sends")),
        "{err}"
    );
    assert!(
        elapsed >= Duration::from_millis(600) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    let err = client.subscribe(None, LogFilter::all()).unwrap_err();
    assert!(matches!(err, Error::Network(_)), "{err}");
}

#[test]
fn curve_keys_need_curve_support() {
    let keys = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
    let opts = ClientOptions::default().with_curve(keys, keys, keys);
    match Client::connect_with("tcp://127.0.0.1:1", opts) {
        Err(Error::Config(m)) if zmq::has("curve") != Some(true) => {
            assert!(m.contains("CURVE"), "{m}")
        }
        Ok(_) if zmq::has("curve") == Some(true) => {}
        other => panic!(
            "curve: {:?}, got {:?}",
            zmq::has("curve"),
            other.map(|_| ())
        ),
    }
}

#[test]
fn curve_lets_in_the_allowed_client_keys_only() {
    if zmq::has("curve") != Some(true) {
        // This build of ZeroMQ has no CURVE: the test above checks that the
        // client says so; this one needs a build with CURVE.
        eprintln!("CURVE is not available in this build: not run");
        return;
    }
    let z85 = |k: &[u8]| zmq::z85_encode(k).unwrap();
    let server_keys = zmq::CurveKeyPair::new().unwrap();
    let allowed = zmq::CurveKeyPair::new().unwrap();
    let other = zmq::CurveKeyPair::new().unwrap();
    let server_public = z85(&server_keys.public_key);
    let server = Spawn::in_memory(rewind())
        .arg(format!(
            "--curve-secret-key={}",
            z85(&server_keys.secret_key)
        ))
        .arg(format!("--curve-public-key={server_public}"))
        .arg(format!(
            "--curve-allowed-clients={}",
            z85(&allowed.public_key)
        ))
        .start();
    let native = &server.endpoints.native;
    let with = |keys: &zmq::CurveKeyPair| {
        quick().with_curve(
            server_public.clone(),
            z85(&keys.public_key),
            z85(&keys.secret_key),
        )
    };
    let client = Client::connect_with(native, with(&allowed)).unwrap();
    client
        .append(b"s", one("secret"), ExpectedVersion::Any)
        .unwrap();
    let mut sub = client.subscribe(Some(0), LogFilter::all()).unwrap();
    assert_eq!(take(&mut sub, 2), ["secret", "^"]);
    let short = |o: ClientOptions| {
        o.with_request_timeout(Duration::from_millis(300))
            .with_retries(1)
    };
    let stranger = Client::connect_with(native, short(with(&other))).unwrap();
    let err = stranger.next_position().unwrap_err();
    assert!(
        matches!(err, Error::Network(ref m) if m.contains("CURVE")),
        "{err}"
    );
    let plain = Client::connect_with(native, short(ClientOptions::default())).unwrap();
    assert!(matches!(plain.next_position(), Err(Error::Network(_))));
    assert_eq!(
        client.next_position().unwrap(),
        1,
        "the allowed client goes on"
    );
}

#[test]
fn the_embedded_store_and_the_client_are_one_constructor_apart() {
    fn count<S: EventStore>(s: &S) -> u64 {
        s.append(b"x", one("1"), ExpectedVersion::Any).unwrap();
        s.next_position().unwrap()
    }
    let (_server, client) = served();
    assert_eq!(count(&Store::in_memory()), count(&client));
}
