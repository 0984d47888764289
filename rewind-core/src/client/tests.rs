//! Tests of [`Client`] over real sockets against a small stand-in server in
//! this process: an embedded [`Store`] behind a ROUTER speaking the native
//! protocol through the codec, which can be told to swallow replies, fall
//! silent, or stop and start again on the same endpoint. (The suites in
//! `rewind-cli/tests/e2e/client.rs` run the client against the real
//! server.)

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::*;
use crate::protocol::native::{decode_request, encode_error, encode_reply, ErrorReply, ServerInfo};
use crate::{EventStore, Store, Subscription, SubscriptionItem};

const HEARTBEAT_MS: u64 = 50;
const WAIT: Duration = Duration::from_secs(10);

/// What the stand-in server does besides serving.
#[derive(Default)]
struct Quirks {
    /// Appends to serve without sending their reply.
    swallow_appends: AtomicU32,
    /// Reads to cut off after their first batch (no more, no `END`).
    cut_reads: AtomicU32,
    /// Ignore every message, send nothing.
    silent: AtomicBool,
    /// Requests received.
    requests: AtomicU32,
    /// `PING`s received.
    pings: AtomicU32,
}

struct StandIn {
    store: Store,
    endpoint: String,
    quirks: Arc<Quirks>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

struct Sub {
    sub: Subscription,
    credit: u64,
    quiet_since: Instant,
}

impl StandIn {
    fn start(store: Store, endpoint: Option<&str>) -> StandIn {
        let ctx = zmq::Context::new();
        let router = ctx.socket(zmq::ROUTER).unwrap();
        router.set_linger(0).unwrap();
        let endpoint = match endpoint {
            Some(e) => {
                // The port may take a moment to be free again.
                let deadline = Instant::now() + WAIT;
                while let Err(e) = router.bind(e) {
                    assert!(Instant::now() < deadline, "rebind: {e}");
                    std::thread::sleep(Duration::from_millis(20));
                }
                e.to_string()
            }
            None => {
                router.bind("tcp://127.0.0.1:*").unwrap();
                router.get_last_endpoint().unwrap().unwrap()
            }
        };
        let quirks = Arc::new(Quirks::default());
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (store, quirks, stop) = (store.clone(), quirks.clone(), stop.clone());
            std::thread::spawn(move || serve(&router, &store, &quirks, &stop))
        };
        StandIn {
            store,
            endpoint,
            quirks,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops serving and closes the socket (clients see the connection
    /// drop); returns the store and the endpoint to start again on.
    fn kill(mut self) -> (Store, String) {
        self.halt();
        (self.store.clone(), self.endpoint.clone())
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.halt();
    }
}

fn send(router: &zmq::Socket, peer: &[u8], frames: Vec<Vec<u8>>) {
    let mut msg = vec![peer.to_vec()];
    msg.extend(frames);
    router.send_multipart(msg, 0).unwrap();
}

/// Sends a read's events two by two, then `END` (or, for a read to cut
/// off, the first two only).
fn stream_out(reply: &dyn Fn(Reply), events: &[Event], quirks: &Quirks) {
    let cut = quirks
        .cut_reads
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    for chunk in events.chunks(2) {
        reply(Reply::Events(chunk.to_vec()));
        if cut {
            return;
        }
    }
    reply(Reply::End {
        count: events.len() as u64,
    });
}

fn serve(router: &zmq::Socket, store: &Store, quirks: &Quirks, stop: &AtomicBool) {
    let mut subs: HashMap<(Vec<u8>, u64), Sub> = HashMap::new();
    while !stop.load(Ordering::SeqCst) {
        if router.poll(zmq::POLLIN, 5).unwrap_or(0) > 0 {
            while let Ok(mut msg) = router.recv_multipart(zmq::DONTWAIT) {
                quirks.requests.fetch_add(1, Ordering::SeqCst);
                if quirks.silent.load(Ordering::SeqCst) {
                    continue;
                }
                let peer = msg.remove(0);
                let (id, request) = match decode_request(&msg) {
                    Ok(r) => r,
                    Err(refusal) => {
                        let id = refusal.request_id.unwrap_or(0);
                        send(router, &peer, encode_error(id, &refusal.error));
                        continue;
                    }
                };
                let reply = |r: Reply| send(router, &peer, encode_reply(id, &r).unwrap());
                let fail =
                    |e: Error| send(router, &peer, encode_error(id, &ErrorReply::from_error(&e)));
                match request {
                    Request::Ping => {
                        quirks.pings.fetch_add(1, Ordering::SeqCst);
                        reply(Reply::Pong)
                    }
                    Request::Info => reply(Reply::Info(ServerInfo {
                        version: "test".into(),
                        next_position: store.next_position().unwrap(),
                        protocol_versions: "1".into(),
                        max_message_size: 1 << 20,
                        heartbeat_interval_ms: HEARTBEAT_MS,
                    })),
                    Request::Append(parts) => match store.append_multi(parts) {
                        Ok(a) => {
                            if quirks
                                .swallow_appends
                                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                                    n.checked_sub(1)
                                })
                                .is_err()
                            {
                                reply(Reply::Appended(
                                    a.into_iter()
                                        .map(|a| crate::protocol::native::AppendedEvent {
                                            id: a.id,
                                            version: a.version,
                                            position: a.position,
                                        })
                                        .collect(),
                                ))
                            }
                        }
                        Err(e) => fail(e),
                    },
                    Request::ReadStream {
                        stream,
                        direction,
                        from,
                        limit,
                    } => {
                        let limit = if limit == 0 {
                            usize::MAX
                        } else {
                            limit as usize
                        };
                        let events = match direction {
                            Direction::Forward => store.read_stream_vec(&stream, from, limit),
                            Direction::Backward => {
                                store.read_stream_backward_vec(&stream, Some(from), limit)
                            }
                        }
                        .unwrap();
                        stream_out(&reply, &events, quirks);
                    }
                    Request::ReadLog {
                        direction,
                        from,
                        limit,
                        filter,
                    } => {
                        let limit = if limit == 0 {
                            usize::MAX
                        } else {
                            limit as usize
                        };
                        let events = match direction {
                            Direction::Forward => store.read_log_filtered_vec(from, limit, &filter),
                            Direction::Backward => store.read_log_backward_vec(Some(from), limit),
                        }
                        .unwrap();
                        stream_out(&reply, &events, quirks);
                    }
                    Request::Get { id } => reply(match store.get(&id).unwrap() {
                        Some(e) => Reply::Event(e),
                        None => Reply::None,
                    }),
                    Request::Head { stream } => reply(match store.stream_head(&stream).unwrap() {
                        Some(h) => Reply::Head(h),
                        None => Reply::None,
                    }),
                    Request::Streams { after, limit } => {
                        let page = EventStore::list_streams(store, &after, limit as usize).unwrap();
                        reply(Reply::Streams(page));
                    }
                    Request::Subscribe {
                        from,
                        credit,
                        filter,
                    } => match store.subscribe(from, filter) {
                        Ok(sub) => {
                            reply(Reply::Subscribed {
                                start: sub.position(),
                                heartbeat_interval_ms: HEARTBEAT_MS,
                            });
                            subs.insert(
                                (peer.clone(), id),
                                Sub {
                                    sub,
                                    credit,
                                    quiet_since: Instant::now(),
                                },
                            );
                        }
                        Err(e) => fail(e),
                    },
                    Request::Credit { credit } => match subs.get_mut(&(peer.clone(), id)) {
                        Some(s) => s.credit += credit,
                        None => fail(Error::Network("unknown".into())),
                    },
                    Request::Unsubscribe => {
                        if subs.remove(&(peer.clone(), id)).is_some() {
                            reply(Reply::End { count: 0 });
                        }
                    }
                }
            }
        }
        if quirks.silent.load(Ordering::SeqCst) {
            continue;
        }
        for ((peer, id), s) in subs.iter_mut() {
            let mut batch = Vec::new();
            let mut caught_up = false;
            while s.credit > 0 {
                match s.sub.next_timeout(Duration::ZERO).unwrap() {
                    Some(SubscriptionItem::Event(e)) => {
                        s.credit -= 1;
                        batch.push(e);
                    }
                    Some(SubscriptionItem::CaughtUp) => {
                        caught_up = true;
                        break;
                    }
                    None => break,
                }
            }
            if !batch.is_empty() {
                s.quiet_since = Instant::now();
                send(
                    router,
                    peer,
                    encode_reply(*id, &Reply::Events(batch)).unwrap(),
                );
            }
            if caught_up {
                let next_position = s.sub.position();
                send(
                    router,
                    peer,
                    encode_reply(*id, &Reply::CaughtUp { next_position }).unwrap(),
                );
            }
            if s.quiet_since.elapsed() >= Duration::from_millis(HEARTBEAT_MS) {
                s.quiet_since = Instant::now();
                let position = s.sub.position();
                send(
                    router,
                    peer,
                    encode_reply(*id, &Reply::Heartbeat { position }).unwrap(),
                );
            }
        }
    }
}

fn quick() -> ClientOptions {
    ClientOptions::default()
        .with_request_timeout(Duration::from_millis(300))
        .with_retries(3)
        .with_credit_window(8)
}

fn data(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| String::from_utf8(e.data.clone()).unwrap())
        .collect()
}

/// Appends the numbers of `range` to stream "s", one event each.
fn numbers<S: EventStore>(s: &S, range: std::ops::Range<u64>) {
    for i in range {
        s.append(
            b"s",
            vec![NewEvent::new(i.to_string())],
            ExpectedVersion::Any,
        )
        .unwrap();
    }
}

/// The events a subscription hands out until `n` came (CaughtUp noted as
/// "^").
fn take(sub: &mut RemoteSubscription, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let deadline = Instant::now() + WAIT;
    while out.len() < n {
        assert!(Instant::now() < deadline, "only {out:?} in time");
        match sub.next_timeout(Duration::from_millis(50)).unwrap() {
            Some(SubscriptionItem::Event(e)) => out.push(String::from_utf8(e.data).unwrap()),
            Some(SubscriptionItem::CaughtUp) => out.push("^".into()),
            None => {}
        }
    }
    out
}

#[test]
fn appends_reads_and_lookups_go_through_the_stand_in() {
    let server = StandIn::start(Store::in_memory(), None);
    let c = Client::connect_with(&server.endpoint, quick()).unwrap();
    let a = c
        .append(
            b"s",
            vec![NewEvent::new("0"), NewEvent::new("1")],
            ExpectedVersion::NoStream,
        )
        .unwrap();
    assert_eq!(
        (a[1].version, a[1].position, a[1].stream.as_slice()),
        (1, 1, &b"s"[..])
    );
    assert_eq!(a[0].id.len(), 36, "a UUID given by the client");
    let err = c
        .append(b"s", vec![NewEvent::new("x")], ExpectedVersion::Exact(0))
        .unwrap_err();
    assert!(
        matches!(err, Error::WrongExpectedVersion { ref stream, expected: ExpectedVersion::Exact(0), actual: Some(1) } if stream == b"s"),
        "{err:?}"
    );
    numbers(&c, 2..7);
    assert_eq!(
        data(&c.read_stream_vec(b"s", 1, 3).unwrap()),
        ["1", "2", "3"]
    );
    assert_eq!(
        data(&c.read_stream_backward_vec(b"s", None, 2).unwrap()),
        ["6", "5"]
    );
    assert_eq!(data(&c.read_log_vec(5, 0).unwrap()), Vec::<String>::new());
    assert_eq!(data(&c.read_log_vec(5, 9).unwrap()), ["5", "6"]);
    let mut seen = Vec::new();
    c.read_log(0, 100, |e| {
        seen.push(e.position);
        e.position < 3
    })
    .unwrap();
    assert_eq!(seen, [0, 1, 2, 3], "the visitor stops the read");
    assert_eq!(c.get(&a[0].id).unwrap().unwrap().data, b"0");
    assert!(!c.contains(b"nope").unwrap());
    assert_eq!(c.stream_head(b"s").unwrap().unwrap().version, 6);
    assert_eq!(c.next_position().unwrap(), 7);
    assert_eq!(c.list_streams(b"", 10).unwrap()[0].name, b"s");
}

#[test]
fn an_append_whose_reply_was_lost_is_resent_and_answered_with_its_first_positions() {
    let server = StandIn::start(Store::in_memory(), None);
    let c = Client::connect_with(&server.endpoint, quick()).unwrap();
    c.append(b"other", vec![NewEvent::new("first")], ExpectedVersion::Any)
        .unwrap();
    server.quirks.swallow_appends.store(2, Ordering::SeqCst);
    let a = c
        .append(
            b"s",
            vec![NewEvent::new("a"), NewEvent::new("b")],
            ExpectedVersion::NoStream,
        )
        .unwrap();
    assert_eq!(
        a.iter().map(|a| a.position).collect::<Vec<_>>(),
        [1, 2],
        "the original positions"
    );
    assert_eq!(server.store.next_position().unwrap(), 3, "stored once");
}

#[test]
fn a_read_cut_off_goes_on_where_it_stopped_on_a_new_connection() {
    let server = StandIn::start(Store::in_memory(), None);
    let c = Client::connect_with(&server.endpoint, quick()).unwrap();
    numbers(&c, 0..7);
    server.quirks.cut_reads.store(2, Ordering::SeqCst);
    let all: Vec<String> = (0..7).map(|i| i.to_string()).collect();
    assert_eq!(data(&c.read_stream_vec(b"s", 0, 100).unwrap()), all);
    server.quirks.cut_reads.store(1, Ordering::SeqCst);
    assert_eq!(
        data(&c.read_log_backward_vec(None, 4).unwrap()),
        ["6", "5", "4", "3"]
    );
    server.quirks.cut_reads.store(1, Ordering::SeqCst);
    assert_eq!(
        data(&c.read_log_vec(0, 2).unwrap()),
        ["0", "1"],
        "complete after one batch"
    );
}

#[test]
fn a_read_stopped_early_is_left_and_never_sent_again() {
    let server = StandIn::start(Store::in_memory(), None);
    let c = Client::connect_with(&server.endpoint, quick()).unwrap();
    numbers(&c, 0..7);
    // The read's END never comes; the visitor stops it before.
    server.quirks.cut_reads.store(1, Ordering::SeqCst);
    let mut seen = 0;
    c.read_log(0, 100, |_| {
        seen += 1;
        seen < 2
    })
    .unwrap();
    assert_eq!(seen, 2);
    let before = server.quirks.requests.load(Ordering::SeqCst);
    // Past the read's deadline: had the client kept it, the next call
    // would find it late and send it again on a new connection.
    std::thread::sleep(Duration::from_millis(900));
    assert_eq!(c.next_position().unwrap(), 7);
    assert_eq!(
        server.quirks.requests.load(Ordering::SeqCst),
        before + 1,
        "only the INFO was sent"
    );
}

#[test]
fn a_server_that_never_answers_gives_a_network_error_after_the_retries() {
    let server = StandIn::start(Store::in_memory(), None);
    server.quirks.silent.store(true, Ordering::SeqCst);
    let opts = quick().with_retries(2);
    let c = Client::connect_with(&server.endpoint, opts).unwrap();
    let started = Instant::now();
    let err = c.next_position().unwrap_err();
    assert!(
        matches!(err, Error::Network(ref m) if m.contains("3 sends")),
        "{err}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "three timeouts"
    );
    assert!(server.quirks.requests.load(Ordering::SeqCst) >= 3);
}

#[test]
fn many_threads_share_one_client() {
    let server = StandIn::start(Store::in_memory(), None);
    let c = Client::connect_with(&server.endpoint, quick()).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let c = c.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    let stream = format!("t{t}");
                    let a = c
                        .append(
                            stream.as_bytes(),
                            vec![NewEvent::new(i.to_string())],
                            before(i),
                        )
                        .unwrap();
                    assert_eq!(a[0].version, i);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(c.next_position().unwrap(), 400);
}

/// The expected version of the `i`th event of a stream.
fn before(i: u64) -> ExpectedVersion {
    match i {
        0 => ExpectedVersion::NoStream,
        _ => ExpectedVersion::Exact(i - 1),
    }
}

#[test]
fn a_subscription_hands_out_history_caught_up_and_live_with_credit() {
    let server = StandIn::start(Store::in_memory(), None);
    let c = Client::connect_with(&server.endpoint, quick()).unwrap();
    numbers(&c, 0..20);
    let mut sub = c.subscribe(Some(3), LogFilter::all()).unwrap();
    assert_eq!(sub.position(), 3);
    let got = take(&mut sub, 18);
    let want: Vec<String> = (3..20)
        .map(|i| i.to_string())
        .chain(["^".to_string()])
        .collect();
    assert_eq!(got, want, "a window of 8 refilled as events are consumed");
    assert_eq!(sub.position(), 20);
    c.append(b"s", vec![NewEvent::new("live")], ExpectedVersion::Any)
        .unwrap();
    assert_eq!(take(&mut sub, 1), ["live"]);
    // Heartbeats come and go; nothing else does.
    assert_eq!(sub.next_timeout(Duration::from_millis(200)).unwrap(), None);
}

#[test]
fn a_subscription_survives_a_restart_of_the_server_and_sees_each_event_once() {
    let server = StandIn::start(Store::in_memory(), None);
    let c = Client::connect_with(&server.endpoint, quick()).unwrap();
    numbers(&c, 0..5);
    let mut sub = c.subscribe(Some(0), LogFilter::all()).unwrap();
    assert_eq!(take(&mut sub, 6).last().unwrap(), "^");
    let (store, endpoint) = server.kill();
    // Written while the server is away.
    numbers(&store, 5..10);
    let _server = StandIn::start(store, Some(&endpoint));
    let got = take(&mut sub, 5);
    assert_eq!(got, ["5", "6", "7", "8", "9"]);
    c.append(b"s", vec![NewEvent::new("10")], ExpectedVersion::Any)
        .unwrap();
    assert_eq!(take(&mut sub, 1), ["10"]);
    assert_eq!(sub.next_timeout(Duration::from_millis(200)).unwrap(), None);
}

#[test]
fn a_client_pings_at_the_heartbeat_only_while_it_has_a_subscription() {
    let server = StandIn::start(Store::in_memory(), None);
    let c = Client::connect_with(&server.endpoint, quick()).unwrap();
    c.next_position().unwrap();
    std::thread::sleep(Duration::from_millis(HEARTBEAT_MS * 5));
    assert_eq!(
        server.quirks.pings.load(Ordering::SeqCst),
        0,
        "no subscription"
    );
    let mut sub = c.subscribe(None, LogFilter::all()).unwrap();
    std::thread::sleep(Duration::from_millis(HEARTBEAT_MS * 10));
    let pings = server.quirks.pings.load(Ordering::SeqCst);
    assert!((5..=12).contains(&pings), "{pings} pings in ten heartbeats");
    drop(sub.next_timeout(Duration::ZERO));
    drop(sub);
    std::thread::sleep(Duration::from_millis(HEARTBEAT_MS * 2));
    let after = server.quirks.pings.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(HEARTBEAT_MS * 5));
    assert_eq!(
        server.quirks.pings.load(Ordering::SeqCst),
        after,
        "none once it ended"
    );
}

#[test]
fn a_silent_server_is_left_for_a_new_connection_and_the_subscription_goes_on() {
    let server = StandIn::start(Store::in_memory(), None);
    let c = Client::connect_with(&server.endpoint, quick()).unwrap();
    let mut sub = c.subscribe(None, LogFilter::all()).unwrap();
    assert_eq!(take(&mut sub, 1), ["^"]);
    server.quirks.silent.store(true, Ordering::SeqCst);
    server
        .store
        .append(
            b"s",
            vec![NewEvent::new("while silent")],
            ExpectedVersion::Any,
        )
        .unwrap();
    // Ten heartbeats of silence, then a new connection and a new SUBSCRIBE.
    std::thread::sleep(Duration::from_millis(HEARTBEAT_MS * 12));
    server.quirks.silent.store(false, Ordering::SeqCst);
    assert_eq!(take(&mut sub, 1), ["while silent"]);
}

#[test]
fn a_subscription_stops_from_another_thread_and_the_client_closes() {
    let server = StandIn::start(Store::in_memory(), None);
    let c = Client::connect_with(&server.endpoint, quick()).unwrap();
    let mut sub = c.subscribe(None, LogFilter::all()).unwrap();
    let stop = sub.stop_handle();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        stop.stop();
    });
    let started = Instant::now();
    assert_eq!(
        sub.next_timeout(Duration::from_millis(50)).unwrap(),
        Some(SubscriptionItem::CaughtUp)
    );
    assert_eq!(sub.next_blocking().unwrap(), None, "woken by the stop");
    assert!(started.elapsed() < WAIT);
    t.join().unwrap();
    assert!(sub.is_stopped());
    let mut other = c.subscribe(None, LogFilter::all()).unwrap();
    c.close();
    let end = loop {
        match other.next_timeout(WAIT) {
            Ok(Some(_)) => continue,
            r => break r,
        }
    };
    assert!(matches!(end, Err(Error::Closed)), "{end:?}");
    assert!(matches!(other.next(), Some(Err(Error::Closed))));
    assert!(other.next().is_none(), "the iterator ends after its error");
    assert!(matches!(c.next_position(), Err(Error::Closed)));
}

#[test]
fn nothing_listening_is_a_clear_network_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c =
        Client::connect_with(&format!("tcp://127.0.0.1:{port}"), quick().with_retries(1)).unwrap();
    let err = c
        .append(b"s", vec![NewEvent::new("x")], ExpectedVersion::Any)
        .unwrap_err();
    assert!(
        matches!(err, Error::Network(ref m) if m.contains("no reply from tcp://127.0.0.1")),
        "{err}"
    );
    // Said as what it is: the network, not the messaging library.
    assert!(
        err.to_string().starts_with("network error: no reply"),
        "{err}"
    );
    assert!(matches!(
        Client::connect("not an endpoint"),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn an_empty_or_overlong_id_is_refused_as_the_store_refuses_it() {
    let server = StandIn::start(Store::in_memory(), None);
    let c = Client::connect_with(&server.endpoint, quick()).unwrap();
    for id in [Vec::new(), vec![b'i'; 256]] {
        let err = c
            .append(b"s", vec![NewEvent::with_id(id, "x")], ExpectedVersion::Any)
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument(ref m) if m.contains("event id")),
            "{err}"
        );
    }
    assert_eq!(
        server.quirks.requests.load(Ordering::SeqCst),
        0,
        "refused before sending"
    );
    assert_eq!(c.next_position().unwrap(), 0);
}
