//! Crash durability through the native protocol: the real `rewind` binary
//! on an LMDB directory is SIGKILLed again and again (every fourth time
//! stopped with SIGTERM instead), and restarted on the same directory and
//! endpoints, while several `rewind_core::Client`s
//! append to one and several streams with expected versions, and several
//! live subscriptions follow the log: three resumed by the client itself
//! (one with a filter), and one that the test drops after every restart
//! and subscribes again from its last position + 1.
//!
//! After the run the store is opened directly and checked: every
//! acknowledged append is there at the versions and positions it was given,
//! every append is all or nothing, nothing refused or unknown is stored
//! half, positions are contiguous; and every subscriber received every
//! event of the final log that its filter passes, exactly once, in
//! position order, with no gap.
//!
//! Fast: `cargo test -p rewind-cli --test reliability native_crash::` (10 kills).
//! Long: `REWIND_NATIVE_CRASH_KILLS=300 cargo test --release -p rewind-cli
//! --test reliability native_crash::` (`scripts/crash-cycles.sh` does;
//! `REWIND_SEED` replays).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rewind_core::{
    Appended, Client, ClientOptions, Error, Event, ExpectedVersion, LogFilter, NewEvent, Store,
    StreamAppend, SubscriptionItem,
};
use rewind_testkit::prelude::*;

use crate::rewind;

/// Writer clients, each with streams of its own.
const WRITERS: u64 = 4;
/// Streams per writer.
const OWN_STREAMS: u64 = 3;
/// How long the subscribers may take to reach the end of the log once the
/// writers are done.
const SETTLE: Duration = Duration::from_secs(30);

/// Options that notice a dead server quickly and outlast many restarts.
fn options() -> ClientOptions {
    ClientOptions::default()
        .with_request_timeout(Duration::from_millis(400))
        .with_retries(100)
        .with_credit_window(64)
}

/// One append as the writer made it, and how it ended.
struct Attempt {
    /// Its events' ids and streams, in request order.
    events: Vec<(Vec<u8>, Vec<u8>)>,
    outcome: Outcome,
}

enum Outcome {
    Acked(Vec<Appended>),
    /// The client gave up (outcome unknown): all or nothing still holds.
    Unknown(String),
    Refused(Error),
}

/// Appends until `stop`, to its own streams with exact expected versions
/// (and now and then to a shared stream with none); returns every attempt.
fn writer(endpoint: String, w: u64, seed: u64, stop: Arc<AtomicBool>) -> Vec<Attempt> {
    let client = Client::connect_with(&endpoint, options()).unwrap();
    let mut rng = Rng::new(seed);
    let mut versions: HashMap<Vec<u8>, Option<u64>> = (0..OWN_STREAMS)
        .map(|k| (format!("w{w}-s{k}").into_bytes(), None))
        .collect();
    let mut attempts = Vec::new();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let key = format!("w{w}-a{n}");
        n += 1;
        let mut streams: Vec<u64> = (0..OWN_STREAMS).collect();
        for i in (1..streams.len()).rev() {
            streams.swap(i, rng.below(i as u64 + 1) as usize);
        }
        streams.truncate(1 + rng.below(OWN_STREAMS) as usize);
        let mut names: Vec<Vec<u8>> = streams
            .iter()
            .map(|k| format!("w{w}-s{k}").into_bytes())
            .collect();
        if rng.below(5) == 0 {
            names.push(b"shared".to_vec());
        }
        let mut events = Vec::new();
        let parts: Vec<StreamAppend> = names
            .iter()
            .enumerate()
            .map(|(p, name)| {
                let expected = match versions.get(name) {
                    None => ExpectedVersion::Any,
                    Some(_) if rng.below(6) == 0 => ExpectedVersion::Any,
                    Some(None) => ExpectedVersion::NoStream,
                    Some(Some(v)) => ExpectedVersion::Exact(*v),
                };
                let count = 1 + rng.below(3) as usize;
                let evs = (0..count)
                    .map(|i| {
                        let id = format!("{key}/p{p}/e{i}");
                        events.push((id.clone().into_bytes(), name.clone()));
                        NewEvent::with_id(id.clone(), format!("{id}|{}", "x".repeat(i * 37)))
                            .with_type(if p == 0 { "first" } else { "other" })
                    })
                    .collect();
                StreamAppend::new(name.clone(), evs, expected)
            })
            .collect();
        // The version each part's first event must take, where the
        // expected version says.
        let first_versions: Vec<(Vec<u8>, Option<u64>)> = parts
            .iter()
            .map(|p| {
                let v = match p.expected {
                    ExpectedVersion::NoStream => Some(0),
                    ExpectedVersion::Exact(v) => Some(v + 1),
                    _ => None,
                };
                (p.stream.clone(), v)
            })
            .collect();
        let result = if parts.len() == 1 {
            let part = parts.into_iter().next().unwrap();
            client.append(&part.stream, part.events, part.expected)
        } else {
            client.append_multi(parts)
        };
        let outcome = match result {
            Ok(appended) => {
                for (stream, want) in &first_versions {
                    let first = appended.iter().find(|a| &a.stream == stream).unwrap();
                    if let Some(v) = want {
                        assert_eq!(first.version, *v, "the expected version of {key}");
                    }
                }
                for a in &appended {
                    if let Some(v) = versions.get_mut(&a.stream) {
                        *v = Some(a.version);
                    }
                }
                Outcome::Acked(appended)
            }
            Err(e @ (Error::Network(_) | Error::Closed)) => {
                // Learn the versions again before going on.
                for (name, v) in versions.iter_mut() {
                    loop {
                        match client.stream_head(name) {
                            Ok(h) => break *v = h.map(|h| h.version),
                            Err(_) if !stop.load(Ordering::Relaxed) => continue,
                            Err(_) => break,
                        }
                    }
                }
                Outcome::Unknown(e.to_string())
            }
            Err(e) => Outcome::Refused(e),
        };
        attempts.push(Attempt { events, outcome });
    }
    attempts
}

/// What a subscriber received: (position, id) in arrival order, and the
/// error that ended it, if any.
type Received = (Vec<(u64, Vec<u8>)>, Option<String>);

/// Follows the log from position 0 with the client's own resume until
/// `target` (the final log's next position, once known) is reached.
fn subscriber(endpoint: String, filter: LogFilter, target: Arc<AtomicU64>) -> Received {
    let client = Client::connect_with(&endpoint, options()).unwrap();
    let mut sub = client.subscribe(Some(0), filter).unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let t = target.load(Ordering::SeqCst);
        if sub.position() >= t || Instant::now() > deadline {
            return (got, None);
        }
        match sub.next_timeout(Duration::from_millis(100)) {
            Ok(Some(SubscriptionItem::Event(e))) => got.push((e.position, e.id)),
            Ok(_) => {}
            Err(e) => return (got, Some(e.to_string())),
        }
    }
}

/// Subscribes afresh after every restart (told by `restarts`), from the
/// position after the last event it received.
fn resubscriber(endpoint: String, restarts: Arc<AtomicU64>, target: Arc<AtomicU64>) -> Received {
    let client = Client::connect_with(&endpoint, options()).unwrap();
    let mut got: Vec<(u64, Vec<u8>)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut subscribes = 0;
    'outer: loop {
        let seen = restarts.load(Ordering::SeqCst);
        let from = got.last().map_or(0, |(p, _)| p + 1);
        let mut sub = loop {
            match client.subscribe(Some(from), LogFilter::all()) {
                Ok(s) => break s,
                Err(Error::Network(_)) if Instant::now() < deadline => continue,
                Err(e) => return (got, Some(format!("subscribe from {from}: {e}"))),
            }
        };
        subscribes += 1;
        loop {
            if sub.position() >= target.load(Ordering::SeqCst) || Instant::now() > deadline {
                break 'outer;
            }
            if restarts.load(Ordering::SeqCst) != seen {
                // Dropped: the next one starts after the last event received.
                continue 'outer;
            }
            match sub.next_timeout(Duration::from_millis(50)) {
                Ok(Some(SubscriptionItem::Event(e))) => got.push((e.position, e.id)),
                Ok(_) => {}
                Err(e) => return (got, Some(e.to_string())),
            }
        }
    }
    eprintln!("[native-crash] the resubscriber subscribed {subscribes} times");
    (got, None)
}

/// Checks one subscriber's events against the final log.
fn check_received(name: &str, received: &Received, log: &[Event], filter: &LogFilter) {
    let (got, error) = received;
    assert!(error.is_none(), "{name} ended with an error: {error:?}");
    let want: Vec<(u64, &[u8])> = log
        .iter()
        .filter(|e| filter.matches(&e.as_ref()))
        .map(|e| (e.position, e.id.as_slice()))
        .collect();
    let got: Vec<(u64, &[u8])> = got.iter().map(|(p, id)| (*p, id.as_slice())).collect();
    if got != want {
        let first = got
            .iter()
            .zip(&want)
            .position(|(g, w)| g != w)
            .unwrap_or(got.len().min(want.len()));
        panic!(
            "{name}: received {} events, the log has {} for it; first difference at index \
             {first}: got {:?}, want {:?}",
            got.len(),
            want.len(),
            got.get(first)
                .map(|(p, id)| (p, String::from_utf8_lossy(id))),
            want.get(first)
                .map(|(p, id)| (p, String::from_utf8_lossy(id))),
        );
    }
}

/// Checks the stored log against the writers' attempts.
fn check_log(log: &[Event], attempts: &[Vec<Attempt>]) {
    for (i, e) in log.iter().enumerate() {
        assert_eq!(e.position, i as u64, "positions are contiguous");
    }
    let by_id: HashMap<&[u8], &Event> = log.iter().map(|e| (e.id.as_slice(), e)).collect();
    assert_eq!(by_id.len(), log.len(), "an id is stored twice");
    // Versions in each stream: 0, 1, 2... in log order.
    let mut next_version: BTreeMap<&[u8], u64> = BTreeMap::new();
    for e in log {
        let v = next_version.entry(e.stream.as_slice()).or_insert(0);
        assert_eq!(e.version, *v, "versions of {:?}", e.stream);
        *v += 1;
    }
    let (mut acked, mut unknown, mut stored_events) = (0, 0, 0);
    for a in attempts.iter().flatten() {
        let present = a
            .events
            .iter()
            .filter(|(id, _)| by_id.contains_key(id.as_slice()))
            .count();
        assert!(
            present == 0 || present == a.events.len(),
            "an append stored in part: {present} of {:?}",
            a.events
        );
        for (id, stream) in &a.events {
            if let Some(e) = by_id.get(id.as_slice()) {
                assert_eq!(&e.stream, stream, "the stream of {id:?}");
            }
        }
        stored_events += present;
        match &a.outcome {
            Outcome::Acked(appended) => {
                acked += 1;
                assert_eq!(present, a.events.len(), "an acknowledged append was lost");
                assert_eq!(appended.len(), a.events.len());
                for (ap, (id, stream)) in appended.iter().zip(&a.events) {
                    let e = by_id[id.as_slice()];
                    assert_eq!(
                        (&ap.id, &ap.stream, ap.version, ap.position),
                        (id, stream, e.version, e.position),
                        "where the acknowledgement said it was"
                    );
                }
            }
            Outcome::Unknown(why) => {
                unknown += 1;
                eprintln!("[native-crash] an append of unknown outcome: {why}");
            }
            Outcome::Refused(e) => panic!("an append was refused: {e} ({:?})", a.events),
        }
    }
    assert_eq!(
        stored_events,
        log.len(),
        "every stored event belongs to an append"
    );
    eprintln!(
        "[native-crash] {} events stored, {acked} appends acknowledged, {unknown} unknown",
        log.len()
    );
}

#[test]
fn native_clients_and_subscribers_come_through_sigkill_cycles() {
    let _turn = crate::TURNS.take(module_path!());
    let kills = env_usize("REWIND_NATIVE_CRASH_KILLS", 10);
    let max_run_ms = env_usize("REWIND_NATIVE_CRASH_MAX_RUN_MS", 500) as u64;
    let mut rng = Rng::from_env("native-crash");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let spawn = Spawn::lmdb(rewind(), &data);
    let mut server = spawn.start();
    let endpoint = server.endpoints.native.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let target = Arc::new(AtomicU64::new(u64::MAX));
    let restarts = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (e, s, seed) = (endpoint.clone(), stop.clone(), rng.next_u64());
            thread::spawn(move || writer(e, w, seed, s))
        })
        .collect();
    let filters = [
        LogFilter::all(),
        LogFilter::all(),
        LogFilter::all().with_stream_prefix("w1-"),
    ];
    let subscribers: Vec<_> = filters
        .iter()
        .map(|f| {
            let (e, f, t) = (endpoint.clone(), f.clone(), target.clone());
            thread::spawn(move || subscriber(e, f, t))
        })
        .collect();
    let resubscriber = {
        let (e, r, t) = (endpoint.clone(), restarts.clone(), target.clone());
        thread::spawn(move || resubscriber(e, r, t))
    };
    let started = Instant::now();
    for k in 0..kills {
        thread::sleep(Duration::from_millis(100 + rng.below(max_run_ms)));
        if k % 4 == 3 {
            // Now and then a clean stop instead: the server ends its
            // subscriptions with SHUTTING_DOWN and refuses what comes late.
            server.signal(libc::SIGTERM);
            let status = server.wait_exit();
            assert_eq!(status.code(), Some(0), "{}", server.output());
        } else {
            server.kill9();
        }
        thread::sleep(Duration::from_millis(rng.below(150)));
        server = spawn.start();
        restarts.fetch_add(1, Ordering::SeqCst);
        eprintln!("[native-crash] restart {k} at {:?}", started.elapsed());
    }
    // A last stretch without kills, then the writers stop.
    thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    let attempts: Vec<Vec<Attempt>> = writers.into_iter().map(|h| h.join().unwrap()).collect();
    let checker = Client::connect_with(&endpoint, options()).unwrap();
    let end = checker.next_position().unwrap();
    target.store(end, Ordering::SeqCst);
    let settle = Instant::now();
    let received: Vec<Received> = subscribers.into_iter().map(|h| h.join().unwrap()).collect();
    let resubscribed = resubscriber.join().unwrap();
    assert!(
        settle.elapsed() < SETTLE,
        "the subscribers took {:?} to reach the end of the log",
        settle.elapsed()
    );
    assert_no_panic(&server.output());
    server.kill9();
    drop(checker);
    let store = Store::open_lmdb(&data).unwrap();
    let log = store.read_log_vec(0, usize::MAX).unwrap();
    assert_eq!(log.len() as u64, end, "the log after the last kill");
    check_log(&log, &attempts);
    for (i, (r, f)) in received.iter().zip(&filters).enumerate() {
        check_received(&format!("subscriber {i}"), r, &log, f);
    }
    check_received("the resubscriber", &resubscribed, &log, &LogFilter::all());
    assert!(
        log.iter().any(|e| e.stream == b"shared") && end > 100,
        "the run wrote too little to say anything: {end} events"
    );
    eprintln!(
        "[native-crash] {kills} restarts (SIGKILL, or SIGTERM every fourth) in {:?}, {end} events, every subscriber whole",
        started.elapsed()
    );
}
