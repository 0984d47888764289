//! Live subscriptions (`Store::subscribe`), run against both backends:
//! history, the caught-up marker and live events; exactly once and in order
//! under concurrent writers; no effect on writers; stop; no polling.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use crate::backends;
use rewind_core::{
    Error, Event, ExpectedVersion, LogFilter, NewEvent, Store, Subscription, SubscriptionItem,
};

/// Long enough for anything that should happen, short enough to fail a
/// hung test.
const WAIT: Duration = Duration::from_secs(20);

fn append(s: &Store, stream: &str, data: &str) -> u64 {
    s.append(
        stream.as_bytes(),
        vec![NewEvent::new(data)],
        ExpectedVersion::Any,
    )
    .unwrap()[0]
        .position
}

#[derive(Debug, PartialEq, Eq)]
enum Item {
    Ev(String),
    CaughtUp,
}

fn next(sub: &mut Subscription) -> Item {
    match sub.next_timeout(WAIT).unwrap().expect("an item in time") {
        SubscriptionItem::Event(e) => Item::Ev(String::from_utf8(e.data).unwrap()),
        SubscriptionItem::CaughtUp => Item::CaughtUp,
    }
}

fn ev(d: &str) -> Item {
    Item::Ev(d.to_string())
}

fn nothing_within(sub: &mut Subscription, d: Duration) -> bool {
    sub.next_timeout(d).unwrap().is_none()
}

#[test]
fn history_then_caught_up_then_live() {
    for (name, s, _d) in backends() {
        append(&s, "a", "h1");
        append(&s, "b", "h2");
        let mut sub = s.subscribe(Some(0), LogFilter::all()).unwrap();
        assert_eq!(next(&mut sub), ev("h1"), "{name}");
        assert_eq!(next(&mut sub), ev("h2"), "{name}");
        assert_eq!(next(&mut sub), Item::CaughtUp, "{name}");
        assert!(
            nothing_within(&mut sub, Duration::from_millis(50)),
            "{name}"
        );
        // A live event wakes a subscriber blocked in next.
        let writer = {
            let s = s.clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(100));
                append(&s, "a", "live1");
                append(&s, "c", "live2");
            })
        };
        assert_eq!(next(&mut sub), ev("live1"), "{name}");
        assert_eq!(next(&mut sub), ev("live2"), "{name}");
        writer.join().unwrap();
        assert!(
            nothing_within(&mut sub, Duration::from_millis(50)),
            "{name}"
        );
        assert_eq!(sub.position(), 4, "{name}");
    }
}

#[test]
fn from_a_position_and_from_now() {
    for (name, s, _d) in backends() {
        for i in 0..10 {
            append(&s, "a", &i.to_string());
        }
        let mut mid = s.subscribe(Some(7), LogFilter::all()).unwrap();
        let mut now = s.subscribe(None, LogFilter::all()).unwrap();
        assert_eq!(now.position(), 10, "{name}");
        assert_eq!(next(&mut mid), ev("7"), "{name}");
        assert_eq!(next(&mut mid), ev("8"), "{name}");
        assert_eq!(next(&mut mid), ev("9"), "{name}");
        assert_eq!(next(&mut mid), Item::CaughtUp, "{name}");
        assert_eq!(next(&mut now), Item::CaughtUp, "{name}");
        append(&s, "b", "10");
        assert_eq!(next(&mut mid), ev("10"), "{name}");
        assert_eq!(next(&mut now), ev("10"), "{name}");
        // The position of the next event is the last one allowed; past it
        // is a mistake (a position from another store, say), said at once.
        let mut at_end = s.subscribe(Some(11), LogFilter::all()).unwrap();
        assert_eq!(next(&mut at_end), Item::CaughtUp, "{name}");
        let err = s
            .subscribe(Some(12), LogFilter::all())
            .expect_err("refused");
        assert!(
            matches!(&err, rewind_core::Error::InvalidArgument(m) if m.contains("past the end")),
            "{name}: {err}"
        );
        append(&s, "b", "11");
        assert_eq!(next(&mut at_end), ev("11"), "{name}");
    }
}

#[test]
fn filters_apply_to_history_and_live_events() {
    for (name, s, _d) in backends() {
        // Enough skipped history to take several reads.
        for k in 0..12 {
            append(&s, "order-1", &(k * 100).to_string());
            let skipped = (k * 100 + 1..k * 100 + 100)
                .map(|i| NewEvent::new(i.to_string()))
                .collect();
            s.append(b"cart-1", skipped, ExpectedVersion::Any).unwrap();
        }
        let orders = LogFilter::all().with_stream_prefix("order-");
        let mut sub = s.subscribe(Some(0), orders).unwrap();
        for i in (0..1200).step_by(100) {
            assert_eq!(next(&mut sub), ev(&i.to_string()), "{name}");
        }
        assert_eq!(next(&mut sub), Item::CaughtUp, "{name}");
        assert_eq!(sub.position(), 1200, "{name}");
        append(&s, "cart-2", "skipped");
        append(&s, "order-2", "passed");
        assert_eq!(next(&mut sub), ev("passed"), "{name}");
        assert_eq!(sub.position(), 1202, "{name}");

        // Events without a type have the empty type.
        let mut untyped = s
            .subscribe(Some(1200), LogFilter::all().with_event_types([""]))
            .unwrap();
        assert_eq!(next(&mut untyped), ev("skipped"), "{name}");
        assert_eq!(next(&mut untyped), ev("passed"), "{name}");
        let mut typed = s
            .subscribe(Some(0), LogFilter::all().with_event_types(["created"]))
            .unwrap();
        assert_eq!(next(&mut typed), Item::CaughtUp, "{name}");
        append(&s, "order-3", "untyped");
        assert!(
            nothing_within(&mut typed, Duration::from_millis(100)),
            "{name}"
        );
        assert_eq!(typed.position(), 1203, "{name}");
    }
}

/// Everything `sub` hands out until its position reaches `end` (once `end`
/// is known), then whatever comes within a short while; and how many
/// CaughtUp markers came.
fn drain(mut sub: Subscription, end: &AtomicU64) -> (Vec<Event>, usize) {
    let mut events = Vec::new();
    let mut caught_up = 0;
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < WAIT * 3, "the subscription stalled");
        if sub.position() >= end.load(Ordering::SeqCst) {
            break;
        }
        match sub.next_timeout(Duration::from_millis(100)).unwrap() {
            Some(SubscriptionItem::Event(e)) => events.push(e),
            Some(SubscriptionItem::CaughtUp) => caught_up += 1,
            None => {}
        }
    }
    while let Some(item) = sub.next_timeout(Duration::from_millis(100)).unwrap() {
        match item {
            SubscriptionItem::Event(e) => events.push(e),
            SubscriptionItem::CaughtUp => caught_up += 1,
        }
    }
    (events, caught_up)
}

#[test]
fn exactly_once_and_in_order_under_concurrent_writers() {
    const WRITERS: usize = 4;
    const APPENDS: usize = 150;
    for (name, s, _d) in backends() {
        append(&s, "w0-0", "before");
        let end = Arc::new(AtomicU64::new(u64::MAX));
        let w1 = LogFilter::all().with_stream_prefix("w1-");
        let subs = vec![
            (
                LogFilter::all(),
                s.subscribe(Some(0), LogFilter::all()).unwrap(),
            ),
            (w1.clone(), s.subscribe(Some(0), w1).unwrap()),
            (
                LogFilter::all(),
                s.subscribe(None, LogFilter::all()).unwrap(),
            ),
        ];
        let readers: Vec<_> = subs
            .into_iter()
            .map(|(filter, sub)| {
                let start = sub.position();
                let end = end.clone();
                let h = thread::spawn(move || drain(sub, &end));
                (filter, start, h)
            })
            .collect();
        let go = Arc::new(Barrier::new(WRITERS));
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let s = s.clone();
                let go = go.clone();
                thread::spawn(move || {
                    go.wait();
                    for i in 0..APPENDS {
                        let n = 1 + i % 3;
                        let events = (0..n)
                            .map(|j| NewEvent::new(format!("{w}-{i}-{j}")))
                            .collect();
                        let stream = format!("w{w}-{}", i % 5);
                        s.append(stream.as_bytes(), events, ExpectedVersion::Any)
                            .unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let total = s.next_position().unwrap();
        assert_eq!(total, 1 + (WRITERS * APPENDS * 2) as u64, "{name}");
        end.store(total, Ordering::SeqCst);
        for (filter, start, h) in readers {
            let (got, caught_up) = h.join().unwrap();
            let want = s.read_log_filtered_vec(start, usize::MAX, &filter).unwrap();
            assert!(!want.is_empty(), "{name}");
            assert_eq!(got.len(), want.len(), "{name}: {filter:?} from {start}");
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(g, w, "{name}: {filter:?} from {start}");
            }
            assert_eq!(caught_up, 1, "{name}: {filter:?} from {start}");
        }
    }
}

#[test]
fn a_slow_subscriber_does_not_slow_the_writers() {
    const APPENDS: usize = 100;
    for (name, s, _d) in backends() {
        let write = |tag: &str| {
            let t = Instant::now();
            for i in 0..APPENDS {
                append(&s, "w", &format!("{tag}{i}"));
            }
            t.elapsed()
        };
        let alone = write("warm-up");
        let alone = alone.min(write("alone"));

        // A subscriber that takes 8 times as long over an event as the
        // writer over an append (and at least 20 ms): a writer that waited
        // for it would take 8 times as long.
        let pause = (alone * 8 / APPENDS as u32).max(Duration::from_millis(20));
        let sub = s.subscribe(None, LogFilter::all()).unwrap();
        let hurry = Arc::new(AtomicBool::new(false));
        let consumed = Arc::new(AtomicUsize::new(0));
        let reader = {
            let hurry = hurry.clone();
            let consumed = consumed.clone();
            thread::spawn(move || {
                let mut sub = sub;
                let mut data = Vec::new();
                loop {
                    let item = sub.next_timeout(WAIT).unwrap();
                    match item.expect("the events, in time") {
                        SubscriptionItem::Event(e) => {
                            data.push(String::from_utf8(e.data).unwrap());
                            consumed.fetch_add(1, Ordering::SeqCst);
                            if data.len() == APPENDS {
                                break;
                            }
                        }
                        SubscriptionItem::CaughtUp => continue,
                    }
                    if !hurry.load(Ordering::SeqCst) {
                        thread::sleep(pause);
                    }
                }
                data
            })
        };
        let with = write("with");
        let behind = APPENDS - consumed.load(Ordering::SeqCst);
        hurry.store(true, Ordering::SeqCst);
        let data = reader.join().unwrap();

        // The writer finished while the subscriber was far behind: it did
        // not wait for it.
        assert!(
            behind >= APPENDS / 2,
            "{name}: the subscriber was only {behind} events behind after {with:?}"
        );
        assert!(
            with < alone * 4 + Duration::from_millis(500),
            "{name}: {APPENDS} appends took {with:?} with a slow subscriber, {alone:?} without"
        );
        // And the subscriber, catching up from the store, lost nothing.
        let want: Vec<String> = (0..APPENDS).map(|i| format!("with{i}")).collect();
        assert_eq!(data, want, "{name}");
    }
}

#[test]
fn stop_from_another_thread_wakes_a_blocked_next() {
    for (name, s, _d) in backends() {
        let mut sub = s.subscribe(None, LogFilter::all()).unwrap();
        assert_eq!(next(&mut sub), Item::CaughtUp, "{name}");
        let stop = sub.stop_handle();
        let blocked = thread::spawn(move || {
            let item = sub.next();
            (item.is_none(), Instant::now(), sub.next().is_none())
        });
        thread::sleep(Duration::from_millis(200));
        assert!(
            !blocked.is_finished(),
            "{name}: next returned before the stop"
        );
        let stopped_at = Instant::now();
        stop.stop();
        while !blocked.is_finished() {
            assert!(
                stopped_at.elapsed() < WAIT,
                "{name}: the stop did not wake next"
            );
            thread::sleep(Duration::from_millis(10));
        }
        let (ended, returned_at, stays_ended) = blocked.join().unwrap();
        assert!(ended && stays_ended, "{name}");
        let took = returned_at.saturating_duration_since(stopped_at);
        assert!(took < Duration::from_millis(500), "{name}: took {took:?}");
        assert!(stop.is_stopped(), "{name}");
        // Events after the stop are not handed out.
        let mut sub = s.subscribe(Some(0), LogFilter::all()).unwrap();
        append(&s, "a", "x");
        sub.stop();
        assert_eq!(sub.next_timeout(WAIT).unwrap(), None, "{name}");
    }
}

#[test]
fn a_waiting_subscription_does_not_poll_the_store() {
    let runs: Vec<_> = backends()
        .into_iter()
        .map(|(name, s, d)| {
            thread::spawn(move || {
                let _d = d;
                append(&s, "a", "1");
                let mut sub = s.subscribe(Some(0), LogFilter::all()).unwrap();
                assert_eq!(next(&mut sub), ev("1"), "{name}");
                assert_eq!(next(&mut sub), Item::CaughtUp, "{name}");
                let reads = s.metrics().reads.load(Ordering::SeqCst);
                let t = Instant::now();
                assert!(nothing_within(&mut sub, Duration::from_secs(2)), "{name}");
                let waited = t.elapsed();
                assert!(waited >= Duration::from_millis(1900), "{name}: {waited:?}");
                assert_eq!(
                    s.metrics().reads.load(Ordering::SeqCst),
                    reads,
                    "{name}: the subscription read the store while no commit came"
                );
                // One commit, then one read hands it out.
                append(&s, "a", "2");
                assert_eq!(next(&mut sub), ev("2"), "{name}");
                assert_eq!(
                    s.metrics().reads.load(Ordering::SeqCst),
                    reads + 1,
                    "{name}"
                );
            })
        })
        .collect();
    for r in runs {
        r.join().unwrap();
    }
}

#[test]
fn closing_the_store_ends_the_subscription() {
    for (name, s, _d) in backends() {
        append(&s, "a", "1");
        let mut sub = s.subscribe(Some(0), LogFilter::all()).unwrap();
        assert_eq!(next(&mut sub), ev("1"), "{name}");
        assert_eq!(next(&mut sub), Item::CaughtUp, "{name}");
        let blocked = thread::spawn(move || sub.next_timeout(WAIT));
        thread::sleep(Duration::from_millis(100));
        s.close().unwrap();
        assert!(
            matches!(blocked.join().unwrap(), Err(Error::Closed)),
            "{name}"
        );
        assert!(s.is_closed(), "{name}");
    }
}

#[test]
fn a_subscription_from_position_zero_of_a_reopened_lmdb_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let s = Store::open_lmdb(&path).unwrap();
        for i in 0..300 {
            append(&s, "a", &i.to_string());
        }
        s.close().unwrap();
    }
    let s = Store::open_lmdb(&path).unwrap();
    let mut sub = s.subscribe(Some(0), LogFilter::all()).unwrap();
    for i in 0..300 {
        assert_eq!(next(&mut sub), ev(&i.to_string()));
    }
    assert_eq!(next(&mut sub), Item::CaughtUp);
    append(&s, "a", "300");
    assert_eq!(next(&mut sub), ev("300"));
}
