//! Tests of the subscriptions' logic against a recording outlet and an
//! in-memory store: history, `CAUGHT_UP`, live feeding from commits,
//! credit, full pipes, heartbeats, timeouts and limits.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;
use crate::protocol::native::decode_reply;
use crate::server::query::tests::FakeOutlet;
use crate::{ExpectedVersion, NewEvent};

const PEER: &[u8] = b"peer";

fn limits() -> Limits {
    Limits {
        max_subscriptions: 3,
        heartbeat: Duration::from_millis(1000),
        peer_timeout: Duration::from_millis(10_000),
    }
}

/// A store whose commits are recorded, to be fed to the subscriptions as
/// the event loop would.
struct Fixture {
    store: Store,
    commits: Arc<Mutex<Vec<Arc<Vec<CommittedAppend>>>>>,
    subs: Subscriptions,
    out: FakeOutlet,
    t0: Instant,
}

impl Fixture {
    fn new(events: u64) -> Fixture {
        Fixture::on(Store::in_memory(), events)
    }

    fn on(store: Store, events: u64) -> Fixture {
        let commits = Arc::new(Mutex::new(Vec::new()));
        let c = commits.clone();
        store.add_listener(Box::new(move |b| c.lock().unwrap().push(b.clone())));
        let t0 = Instant::now();
        let f = Fixture {
            store,
            commits,
            subs: Subscriptions::new(limits(), t0),
            out: FakeOutlet::with_room(1_000_000),
            t0,
        };
        f.append(events);
        f.commits.lock().unwrap().clear();
        f
    }

    /// Appends `n` events, to streams `a` and `b` in turn, one commit each.
    fn append(&self, n: u64) {
        for _ in 0..n {
            let p = self.store.next_position().unwrap();
            let s = if p % 2 == 0 { "a" } else { "b" };
            self.store
                .append(s.as_bytes(), vec![NewEvent::new("d")], ExpectedVersion::Any)
                .unwrap();
        }
    }

    /// Hands the recorded commits to the subscriptions.
    fn feed(&mut self) {
        let commits: Vec<_> = self.commits.lock().unwrap().drain(..).collect();
        for c in commits {
            self.subs.committed(&self.out, &c, self.t0);
        }
    }

    fn run(&mut self) {
        while self.subs.has_runnable() {
            self.subs.run(&self.store, &self.out, 512, self.t0);
        }
    }

    /// What was sent, decoded: (request id, reply).
    fn sent(&self) -> Vec<(u64, Reply)> {
        self.out
            .take()
            .into_iter()
            .map(|m| {
                assert_eq!(m[0], PEER);
                decode_reply(&m[1..]).unwrap()
            })
            .collect()
    }

    fn subscribe(&mut self, id: u64, from: Option<u64>, credit: u64, f: LogFilter) {
        self.subs
            .subscribe(&self.store, PEER, id, from, credit, f, self.t0)
            .unwrap();
    }
}

/// The positions of the events in `replies`, and the other replies.
fn split(replies: Vec<(u64, Reply)>) -> (Vec<u64>, Vec<Reply>) {
    let mut positions = Vec::new();
    let mut others = Vec::new();
    for (_, r) in replies {
        match r {
            Reply::Events(es) => positions.extend(es.iter().map(|e| e.position)),
            other => others.push(other),
        }
    }
    (positions, others)
}

#[test]
fn history_then_caught_up_then_live_events_each_once() {
    let mut f = Fixture::new(2500);
    f.subscribe(9, Some(0), 100_000, LogFilter::all());
    f.run();
    let sent = f.sent();
    assert!(sent.iter().all(|(id, _)| *id == 9));
    let (positions, others) = split(sent);
    assert_eq!(positions, (0..2500).collect::<Vec<_>>());
    assert_eq!(
        others,
        vec![
            Reply::Subscribed {
                start: 0,
                heartbeat_interval_ms: 1000
            },
            Reply::CaughtUp {
                next_position: 2500
            }
        ]
    );
    f.append(3);
    f.feed();
    assert!(!f.subs.has_runnable(), "live events come from the commits");
    let (positions, others) = split(f.sent());
    assert_eq!(positions, vec![2500, 2501, 2502]);
    assert!(others.is_empty());
}

#[test]
fn a_filtered_subscription_from_now_sees_only_what_passes() {
    let mut f = Fixture::new(10);
    f.subscribe(1, None, 100, LogFilter::all().with_stream_prefix("b"));
    f.run();
    let (positions, others) = split(f.sent());
    assert!(positions.is_empty());
    assert_eq!(
        others[0],
        Reply::Subscribed {
            start: 10,
            heartbeat_interval_ms: 1000
        }
    );
    f.append(4);
    f.feed();
    assert_eq!(split(f.sent()).0, vec![11, 13]);
}

#[test]
fn no_credit_pauses_and_credit_resumes_with_nothing_lost() {
    let mut f = Fixture::new(10);
    f.subscribe(1, Some(0), 4, LogFilter::all());
    f.run();
    assert_eq!(split(f.sent()).0, vec![0, 1, 2, 3]);
    f.append(5);
    f.feed();
    f.run();
    assert!(f.sent().is_empty(), "nothing is sent without credit");
    f.subs.credit(PEER, 1, 100).unwrap();
    f.run();
    let (positions, others) = split(f.sent());
    assert_eq!(positions, (4..15).collect::<Vec<_>>());
    assert_eq!(others, vec![Reply::CaughtUp { next_position: 15 }]);
    assert!(f.subs.credit(PEER, 2, 1).is_err(), "unknown subscription");
}

#[test]
fn caught_up_needs_no_credit() {
    let mut f = Fixture::new(3);
    f.subscribe(1, None, 0, LogFilter::all());
    f.run();
    let (positions, others) = split(f.sent());
    assert!(positions.is_empty());
    assert_eq!(others[1], Reply::CaughtUp { next_position: 3 });
    f.append(2);
    f.feed();
    f.run();
    assert!(f.sent().is_empty(), "no credit, no events");
    f.subs.credit(PEER, 1, 5).unwrap();
    f.run();
    assert_eq!(split(f.sent()), (vec![3, 4], vec![]));
}

#[test]
fn live_feeding_stops_at_the_credit_and_the_store_gives_the_rest() {
    let mut f = Fixture::new(0);
    f.subscribe(1, None, 2, LogFilter::all());
    f.run();
    f.sent();
    f.append(5);
    f.feed();
    assert_eq!(split(f.sent()).0, vec![0, 1]);
    f.subs.credit(PEER, 1, 10).unwrap();
    f.run();
    assert_eq!(split(f.sent()).0, vec![2, 3, 4]);
    f.append(1);
    f.feed();
    assert_eq!(split(f.sent()).0, vec![5], "live again");
}

#[test]
fn a_full_pipe_blocks_only_until_the_retry() {
    let mut f = Fixture::new(2500);
    f.out.room.set(2);
    f.subscribe(1, Some(0), 100_000, LogFilter::all());
    f.run();
    assert_eq!(f.subs.take_blocked(), vec![PEER.to_vec()]);
    assert!(!f.subs.has_runnable());
    let (first, _) = split(f.sent());
    assert_eq!(first.len(), 1000, "SUBSCRIBED and one batch");
    f.append(10);
    f.feed();
    assert!(f.sent().is_empty(), "a blocked client gets nothing live");
    f.out.room.set(1_000_000);
    f.subs.unblock(PEER);
    f.run();
    let (rest, others) = split(f.sent());
    assert_eq!(rest, (1000..2510).collect::<Vec<_>>());
    assert_eq!(
        others,
        vec![Reply::CaughtUp {
            next_position: 2510
        }]
    );
}

#[test]
fn a_gone_client_loses_its_subscriptions() {
    let mut f = Fixture::new(3);
    f.subscribe(1, Some(0), 10, LogFilter::all());
    f.subscribe(2, Some(0), 10, LogFilter::all());
    assert_eq!(f.subs.len(), 2);
    f.out.gone.set(true);
    f.run();
    assert_eq!(f.subs.len(), 0);
}

#[test]
fn heartbeats_on_idle_subscriptions_and_timeouts_for_silent_clients() {
    let mut f = Fixture::new(4);
    f.subscribe(1, None, 10, LogFilter::all().with_stream_prefix("zz"));
    f.run();
    f.sent();
    let t = f.t0;
    assert!(!f.subs.tick_due(t));
    f.subs.tick(&f.out, t + Duration::from_millis(500));
    assert!(f.sent().is_empty(), "not idle for an interval yet");
    f.append(2);
    f.feed();
    f.subs.tick(&f.out, t + Duration::from_millis(1000));
    assert_eq!(
        f.sent(),
        vec![(1, Reply::Heartbeat { position: 6 })],
        "filtered events move the position"
    );
    f.subs.heard(PEER, t + Duration::from_millis(5000));
    f.subs.tick(&f.out, t + Duration::from_millis(12_000));
    assert_eq!(f.subs.len(), 1, "heard from at 5 s");
    assert_eq!(f.sent().len(), 1, "a heartbeat");
    f.subs.tick(&f.out, t + Duration::from_millis(15_000));
    let sent = f.sent();
    let Reply::Error(e) = &sent[0].1 else {
        panic!("{sent:?}")
    };
    assert_eq!(e.code, ErrorCode::Timeout);
    assert_eq!(f.subs.len(), 0);
    assert_eq!(f.subs.wait_limit(t), None);
}

#[test]
fn limits_unknown_ids_unsubscribe_and_shutdown() {
    let mut f = Fixture::new(5);
    let e = f
        .subs
        .subscribe(&f.store, PEER, 1, Some(6), 1, LogFilter::all(), f.t0)
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidArgument);
    for id in 1..=3 {
        f.subscribe(id, Some(5), 1, LogFilter::all());
    }
    let e = f
        .subs
        .subscribe(&f.store, b"other", 4, None, 1, LogFilter::all(), f.t0)
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::TooManySubscriptions);
    f.run();
    f.sent();
    assert_eq!(f.subs.unsubscribe(PEER, 2).unwrap(), 0);
    let e = f.subs.unsubscribe(PEER, 2).unwrap_err();
    assert_eq!(e.code, ErrorCode::UnknownSubscription);
    let e = f
        .subs
        .subscribe(&f.store, PEER, 1, None, 1, LogFilter::all(), f.t0)
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidArgument, "id 1 is live");
    f.subs.shutdown(&f.out);
    let mut ended: Vec<u64> = f
        .sent()
        .into_iter()
        .map(|(id, r)| {
            let Reply::Error(e) = r else { panic!("{r:?}") };
            assert_eq!(e.code, ErrorCode::ShuttingDown);
            id
        })
        .collect();
    ended.sort();
    assert_eq!(ended, vec![1, 3]);
    assert_eq!(f.subs.len(), 0);
}

/// An in-memory backend whose log reads fail with a storage error while
/// `down` is set, after handing over a few events (a database that went
/// away in the middle of a read).
struct Flaky {
    inner: crate::memory::MemoryBackend,
    down: Arc<std::sync::atomic::AtomicBool>,
}

impl crate::Backend for Flaky {
    fn append_batch(
        &self,
        batch: &[crate::backend::AppendRequest],
    ) -> crate::Result<Vec<crate::Result<crate::backend::AppendOutcome>>> {
        self.inner.append_batch(batch)
    }

    fn read_log(
        &self,
        from: u64,
        limit: usize,
        visit: &mut crate::backend::Visitor<'_>,
    ) -> crate::Result<()> {
        if !self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return self.inner.read_log(from, limit, visit);
        }
        self.inner.read_log(from, limit.min(3), visit)?;
        Err(Error::Storage("the database is away".into()))
    }

    fn read_stream(
        &self,
        stream: &[u8],
        from: u64,
        limit: usize,
        visit: &mut crate::backend::Visitor<'_>,
    ) -> crate::Result<()> {
        self.inner.read_stream(stream, from, limit, visit)
    }

    fn get(&self, id: &[u8], visit: &mut crate::backend::Visitor<'_>) -> crate::Result<bool> {
        self.inner.get(id, visit)
    }

    fn stream_head(&self, stream: &[u8]) -> crate::Result<Option<crate::StreamHead>> {
        self.inner.stream_head(stream)
    }

    fn next_position(&self) -> crate::Result<u64> {
        self.inner.next_position()
    }
}

#[test]
fn a_read_that_fails_for_a_while_is_retried_at_the_tick_without_a_duplicate() {
    let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let store = Store::from_backend(Arc::new(Flaky {
        inner: crate::memory::MemoryBackend::new(),
        down: down.clone(),
    }));
    let mut f = Fixture::on(store, 40);
    down.store(true, std::sync::atomic::Ordering::SeqCst);
    f.subscribe(1, Some(0), 1000, LogFilter::all());
    f.run();
    assert!(!f.subs.has_runnable(), "no busy retry");
    // Still down at the first tick: still waiting, not ended.
    f.subs.tick(&f.out, f.t0 + Duration::from_millis(300));
    f.run();
    down.store(false, std::sync::atomic::Ordering::SeqCst);
    f.subs.tick(&f.out, f.t0 + Duration::from_millis(600));
    f.run();
    let (positions, others) = split(f.sent());
    assert_eq!(positions, (0..40).collect::<Vec<_>>(), "each event once");
    assert!(
        others.iter().all(|r| !matches!(r, Reply::Error(_))),
        "{others:?}"
    );
    assert!(others.contains(&Reply::CaughtUp { next_position: 40 }));
}
