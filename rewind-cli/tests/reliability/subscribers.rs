//! Slow and lost subscribers.
//!
//! A PUB socket drops messages for a subscriber whose queue is at the
//! high-water mark (ZeroMQ's contract; the server's is 100,000 messages per
//! subscriber). These tests stall subscribers past that mark and show that
//! (1) a v1 client following the original recovery recipe -- compare each
//! message's previous id with the last id it has, and QUERY the gap -- still
//! ends with every event exactly once, in order; and (2) stalled subscribers
//! never slow down or block publishers.

use std::thread;
use std::time::{Duration, Instant};

use rewind_testkit::prelude::*;

use crate::rewind;

/// Events published while the subscriber is stalled: above the server's
/// PUB high-water mark of 100,000 plus what socket buffers hold.
fn flood_size() -> usize {
    env_usize("REWIND_FLOOD_EVENTS", 130_000)
}

/// A SUB that buffers as little as possible, so that a stalled reader
/// reaches the server's high-water mark soon.
fn stalled_sub(ctx: &zmq::Context, endpoint: &str) -> zmq::Socket {
    subscriber(ctx, endpoint, |s| {
        s.set_rcvhwm(1).unwrap();
        s.set_rcvbuf(4096).unwrap();
    })
}

/// The original client's recovery recipe over the v1 sockets.
struct Follower {
    events: Vec<Ev>,
    gaps: usize,
    received: usize,
}

impl Follower {
    fn new() -> Follower {
        Follower {
            events: Vec::new(),
            gaps: 0,
            received: 0,
        }
    }

    fn last(&self) -> &[u8] {
        self.events.last().map_or(b"", |e| e.0.as_slice())
    }

    /// Handles one streamed message [id, prev id, data].
    fn on_message(&mut self, req: &Req, msg: Vec<Vec<u8>>) {
        assert_eq!(msg.len(), 3, "{}", show(&msg));
        self.received += 1;
        let [id, prev, data]: [Vec<u8>; 3] = msg.try_into().unwrap();
        if prev != self.last() {
            // A gap: everything after our last id up to the previous one.
            let missed = req.query_all_range(self.last(), &prev);
            assert_eq!(
                missed.last().map(|e| e.0.as_slice()).unwrap_or(b""),
                prev.as_slice(),
                "the gap query must end at the previous id"
            );
            self.gaps += 1;
            self.events.extend(missed);
        }
        self.events.push((id, data));
    }

    /// At the end of the test: whatever came after the last message seen.
    fn catch_up(&mut self, req: &Req) {
        let rest = req.query_all_range(self.last(), b"");
        self.events.extend(rest);
    }
}

#[test]
fn stalled_v1_subscriber_loses_messages_and_the_recipe_recovers_every_event_once() {
    let _turn = crate::TURNS.take(module_path!());
    let dir = tempdir("follow");
    let server = ServerSpec::lmdb(rewind(), &dir.path().join("store")).start();
    let ctx = zmq::Context::new();
    let req = Req::connect(&ctx, &server);
    // Some history before the subscriber arrives.
    for i in 0..150 {
        req.publish(format!("history-{i}").as_bytes());
    }
    let sub = stalled_sub(&ctx, &server.endpoints.streaming);
    settle_subscription_v1(&sub, &req);

    // Flood while the subscriber does not read: v2 DEALERs write to the v1
    // stream, and a v1 REQ client writes too.
    let n = flood_size();
    let v1_publisher = {
        let ctx = ctx.clone();
        let query = server.endpoints.query.clone();
        thread::spawn(move || {
            let req = Req::on(socket(&ctx, zmq::REQ, &query));
            for i in 0..500 {
                req.publish(format!("v1-during-flood-{i}").as_bytes());
            }
        })
    };
    let v2 = Dealer::connect(&ctx, &server);
    v2.publish_pipelined(b"default", n, 256, |i| format!("flood-{i}").into_bytes());
    v1_publisher.join().unwrap();

    // Now follow: read everything that is still queued, recovering gaps.
    let mut f = Follower::new();
    while let Some(m) = recv_within(&sub, Duration::from_millis(500)) {
        f.on_message(&req, m);
    }
    // And a few live events after the flood.
    for i in 0..20 {
        req.publish(format!("after-{i}").as_bytes());
        f.on_message(&req, recv(&sub, "live event after the flood"));
    }
    f.catch_up(&req);

    let all = req.query_all();
    eprintln!(
        "[follow] {} events in the stream, {} messages received by the stalled subscriber, \
         {} gaps recovered by QUERY",
        all.len(),
        f.received,
        f.gaps
    );
    assert!(
        f.received < all.len() && f.gaps > 0,
        "the stalled subscriber was expected to lose messages past the high-water mark \
         ({} of {} received)",
        f.received,
        all.len()
    );
    assert_eq!(f.events.len(), all.len(), "every event exactly once");
    assert!(
        f.events == all,
        "the recipe's events differ from the store's"
    );
}

/// Waits until the v1 subscription is in place: publishes probes until one
/// arrives, then drains them.
fn settle_subscription_v1(sub: &zmq::Socket, req: &Req) {
    let mut i = 0;
    settle_subscription(sub, || {
        req.publish(format!("probe-{i}").as_bytes());
        i += 1;
    });
}

/// Publishes `n` events through one DEALER (pipelined) and, at the same
/// time, `n / 20` through one REQ; returns events per second of each.
fn measure(ctx: &zmq::Context, server: &Rewind, n: usize, tag: &str) -> (f64, f64) {
    let query = server.endpoints.query.clone();
    let ctx2 = ctx.clone();
    let n_req = n / 20;
    let tag2 = tag.to_string();
    let req_thread = thread::spawn(move || {
        let req = Req::on(socket(&ctx2, zmq::REQ, &query));
        let t = Instant::now();
        for i in 0..n_req {
            req.publish(format!("{tag2}-req-{i}").as_bytes());
        }
        n_req as f64 / t.elapsed().as_secs_f64()
    });
    let v2 = Dealer::connect(ctx, server);
    let t = Instant::now();
    v2.publish_pipelined(b"default", n, 128, |i| format!("{tag}-{i}").into_bytes());
    let dealer_rate = n as f64 / t.elapsed().as_secs_f64();
    (dealer_rate, req_thread.join().unwrap())
}

#[test]
fn stalled_subscribers_never_slow_down_or_block_publishers() {
    let _turn = crate::TURNS.take(module_path!());
    let server = ServerSpec::in_memory(rewind()).start();
    let ctx = zmq::Context::new();
    let m = 20_000;
    measure(&ctx, &server, m / 4, "warm-up");
    let (base_dealer, base_req) = measure(&ctx, &server, m, "baseline");

    // Stalled subscribers on both publish sockets; fill their queues to the
    // high-water mark.
    let v1_sub = stalled_sub(&ctx, &server.endpoints.streaming);
    let v2_sub = stalled_sub(&ctx, &server.endpoints.publish);
    let v2 = Dealer::connect(&ctx, &server);
    let t = Instant::now();
    v2.publish_pipelined(b"default", flood_size(), 256, |i| {
        format!("fill-{i}").into_bytes()
    });
    let fill_rate = flood_size() as f64 / t.elapsed().as_secs_f64();

    // Publishing goes on at full speed while they are at the mark.
    let (slow_dealer, slow_req) = measure(&ctx, &server, m, "stalled");
    eprintln!(
        "[slow-sub] DEALER pipelined: {base_dealer:.0} ev/s without subscribers, \
         {slow_dealer:.0} ev/s with 2 stalled subscribers at the HWM ({fill_rate:.0} ev/s \
         while filling); REQ: {base_req:.0} vs {slow_req:.0} ev/s"
    );
    // Loose bounds: the two cores are shared with other work. A publisher
    // blocked by a subscriber would not finish at all (replies time out).
    assert!(
        slow_dealer > base_dealer * 0.4,
        "pipelined publishing slowed from {base_dealer:.0} to {slow_dealer:.0} events/s"
    );
    assert!(
        slow_req > base_req * 0.4,
        "REQ publishing slowed from {base_req:.0} to {slow_req:.0} events/s"
    );

    // The stalled subscribers did lose messages: far fewer are queued for
    // them than were published.
    let mut queued = [0usize; 2];
    for (i, s) in [&v1_sub, &v2_sub].into_iter().enumerate() {
        while recv_within(s, Duration::from_millis(300)).is_some() {
            queued[i] += 1;
        }
    }
    let published = flood_size() + 2 * m;
    eprintln!("[slow-sub] {published} published after subscribing; queued for the stalled subscribers: {queued:?}");
    assert!(queued[0] < published && queued[1] < published);
}
