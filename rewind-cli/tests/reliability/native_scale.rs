//! The native protocol at scale against the real binary: 200
//! `rewind_core::Client`s with 1,000 subscriptions at once (some with
//! filters, half of them with a small credit window), joining while
//! writers append; every subscription receives every event of the log it
//! asked for exactly once, in position order; the writers are not starved
//! (each keeps appending, none waits long); the whole run stays within its
//! time limit.
//!
//! Sizes: `REWIND_NATIVE_SCALE_CLIENTS` (200), `REWIND_NATIVE_SCALE_SUBS`
//! (per client, 5), `REWIND_NATIVE_SCALE_APPENDS` (per writer, 80).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use rewind_core::{Client, ClientOptions, Event, ExpectedVersion, LogFilter, NewEvent};
use rewind_testkit::prelude::*;

use crate::rewind;

/// Clients that also write.
const WRITERS: usize = 10;
/// The time the whole run may take at the default size (longer runs get
/// as much more as they write).
const LIMIT: Duration = Duration::from_secs(30);
/// Appends per writer at the default size.
const APPENDS: u64 = 80;
/// The longest one append may wait.
const SLOWEST_APPEND: Duration = Duration::from_secs(5);

fn fnv(h: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(h, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// What a subscription received, folded: how many events, whether their
/// positions rose, and a digest of (position, id) in arrival order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    count: u64,
    in_order: bool,
    digest: u64,
}

impl Seen {
    fn new() -> Seen {
        Seen {
            count: 0,
            in_order: true,
            digest: 0xcbf2_9ce4_8422_2325,
        }
    }

    fn add(&mut self, position: u64, id: &[u8], last: &mut Option<u64>) {
        if last.is_some_and(|l| l >= position) {
            self.in_order = false;
        }
        *last = Some(position);
        self.count += 1;
        self.digest = fnv(fnv(self.digest, &position.to_be_bytes()), id);
    }

    /// What a subscription with `filter` should have seen of `log`.
    fn of(log: &[Event], filter: &LogFilter) -> Seen {
        let mut s = Seen::new();
        let mut last = None;
        for e in log.iter().filter(|e| filter.matches(&e.as_ref())) {
            s.add(e.position, &e.id, &mut last);
        }
        s
    }
}

/// The filter of subscription `k`: most see everything; some one writer's
/// streams, some one type.
fn filter(k: usize) -> LogFilter {
    match k % 5 {
        3 => LogFilter::all().with_stream_prefix(format!("writer-{}-", k % WRITERS)),
        4 => LogFilter::all().with_event_types(["even"]),
        _ => LogFilter::all(),
    }
}

#[test]
fn two_hundred_clients_with_a_thousand_subscriptions_each_see_every_event_once() {
    let _turn = crate::TURNS.take(module_path!());
    let clients = env_usize("REWIND_NATIVE_SCALE_CLIENTS", 200);
    let per_client = env_usize("REWIND_NATIVE_SCALE_SUBS", 5);
    let appends = env_usize("REWIND_NATIVE_SCALE_APPENDS", APPENDS as usize) as u64;
    let limit = LIMIT * appends.div_ceil(APPENDS).max(1) as u32;
    raise_fd_limit(8192);
    let server = Spawn::in_memory(rewind()).start();
    let endpoint = server.endpoints.native.clone();
    let started = Instant::now();
    let options = ClientOptions::default().with_request_timeout(Duration::from_secs(10));
    // The end of the log once every writer is done.
    let target = Arc::new(AtomicU64::new(u64::MAX));
    let subscribed = Arc::new(AtomicUsize::new(0));
    let ready = Arc::new(Barrier::new(clients + 1));
    let readers: Vec<_> = (0..clients)
        .map(|c| {
            let (endpoint, options) = (endpoint.clone(), options.clone());
            let (target, subscribed, ready) = (target.clone(), subscribed.clone(), ready.clone());
            thread::spawn(move || {
                // Every other client with a small credit window: its
                // subscriptions run out of credit again and again.
                let options = if c % 2 == 1 {
                    options.with_credit_window(32)
                } else {
                    options
                };
                let client = Client::connect_with(&endpoint, options).unwrap();
                ready.wait();
                // Joining while the writers write: history, then live.
                thread::sleep(Duration::from_millis((c as u64 * 7) % 1500));
                let mut subs: Vec<_> = (0..per_client)
                    .map(|s| {
                        let k = c * per_client + s;
                        let sub = client.subscribe(Some(0), filter(k)).unwrap();
                        subscribed.fetch_add(1, Ordering::SeqCst);
                        (k, sub, Seen::new(), None)
                    })
                    .collect();
                let deadline = Instant::now() + limit * 2;
                loop {
                    let t = target.load(Ordering::SeqCst);
                    if subs.iter().all(|(_, sub, _, _)| sub.position() >= t) {
                        break;
                    }
                    assert!(Instant::now() < deadline, "client {c} never caught up");
                    for (_, sub, seen, last) in subs.iter_mut() {
                        sub.next_batch(Duration::from_millis(5), 1000, |e| {
                            seen.add(e.position, e.id, last);
                            true
                        })
                        .unwrap();
                    }
                }
                subs.into_iter()
                    .map(|(k, _, seen, _)| (k, seen))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    ready.wait();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (endpoint, options) = (endpoint.clone(), options.clone());
            thread::spawn(move || {
                let client = Client::connect_with(&endpoint, options).unwrap();
                let mut slowest = Duration::ZERO;
                for n in 0..appends {
                    let stream = format!("writer-{w}-{}", n % 3);
                    let expected = match n / 3 {
                        0 => ExpectedVersion::NoStream,
                        v => ExpectedVersion::Exact(2 * v - 1),
                    };
                    let events = (0..2)
                        .map(|i| {
                            let ty = if i == 0 { "even" } else { "odd" };
                            NewEvent::new(format!("{w}/{n}/{i}")).with_type(ty)
                        })
                        .collect();
                    let t = Instant::now();
                    client.append(stream.as_bytes(), events, expected).unwrap();
                    slowest = slowest.max(t.elapsed());
                    thread::sleep(Duration::from_millis(10));
                }
                slowest
            })
        })
        .collect();
    let slowest: Vec<Duration> = writers.into_iter().map(|h| h.join().unwrap()).collect();
    let writing = started.elapsed();
    let checker = Client::connect(&endpoint).unwrap();
    let log = checker.read_log_vec(0, usize::MAX).unwrap();
    assert_eq!(log.len() as u64, WRITERS as u64 * appends * 2);
    target.store(log.len() as u64, Ordering::SeqCst);
    let mut results = Vec::new();
    for h in readers {
        results.extend(h.join().unwrap());
    }
    let elapsed = started.elapsed();
    assert_eq!(results.len(), clients * per_client);
    assert_eq!(subscribed.load(Ordering::SeqCst), clients * per_client);
    let mut wrong = Vec::new();
    for (k, seen) in &results {
        let want = Seen::of(&log, &filter(*k));
        if *seen != want {
            wrong.push((*k, *seen, want));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} subscriptions saw something else than the log, e.g. {:?}",
        wrong.len(),
        results.len(),
        &wrong[..wrong.len().min(3)]
    );
    let worst = slowest.iter().max().unwrap();
    assert!(
        *worst < SLOWEST_APPEND,
        "a writer waited {worst:?} for an append"
    );
    assert!(elapsed < limit, "the run took {elapsed:?}");
    let delivered: u64 = results.iter().map(|(_, s)| s.count).sum();
    eprintln!(
        "[native-scale] {clients} clients, {} subscriptions, {} events written in {writing:?} \
         (slowest append {worst:?}), {delivered} deliveries, all done in {elapsed:?}",
        results.len(),
        log.len()
    );
    assert_no_panic(&server.output());
}
