//! Hostile input on the native endpoint of the real binary, over raw
//! ZeroMQ sockets: wrong tags, short messages, request ids of the wrong
//! size, truncated and garbage bodies, huge counts inside bodies, messages
//! over the maximum size, unknown commands, `CREDIT` and `UNSUBSCRIBE` for
//! unknown subscriptions, credit overflowing, floods of `SUBSCRIBE`, clients
//! that subscribe and vanish (closed, or silent past the peer timeout), raw
//! TCP garbage and random frames. Each is answered as
//! `docs/native-protocol.md` says (or dropped, where it says so), the
//! server never crashes or hangs, and a well-behaved `rewind_core::Client`
//! appending and subscribing beside them is served throughout.
//!
//! Long: `REWIND_NATIVE_HOSTILE_ROUNDS=20000 REWIND_NATIVE_FLOOD=100500
//! cargo test --release -p rewind-cli --test reliability native_hostile::`
//! (`scripts/soak.sh` does; a flood past 100,000 meets the server's limit
//! of subscriptions).

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rewind_core::protocol::native::{
    decode_reply, decode_request, encode_request, ErrorCode, Refusal, Reply, Request,
    MAX_SUBSCRIPTIONS, TAG,
};
use rewind_core::{
    Client, ClientOptions, Event, ExpectedVersion, LogFilter, NewEvent, StreamAppend,
    SubscriptionItem,
};
use rewind_testkit::prelude::*;

use crate::rewind;

/// The subscriptions of the well-behaved client.
const BYSTANDER: u64 = 1;
/// The server's maximum message size in these tests.
const MAX_MESSAGE: usize = 64 << 10;

/// A raw DEALER on the native endpoint.
struct Raw {
    sock: zmq::Socket,
}

impl Raw {
    fn new(server: &Rewind) -> Raw {
        let sock = server.raw(zmq::DEALER, &server.endpoints.native);
        sock.set_rcvhwm(0).unwrap();
        Raw { sock }
    }

    fn send<F: AsRef<[u8]>>(&self, frames: &[F]) {
        let parts: Vec<&[u8]> = frames.iter().map(|f| f.as_ref()).collect();
        self.sock.send_multipart(parts, 0).unwrap();
    }

    fn try_recv(&self, ms: i64) -> Option<(u64, Reply)> {
        let m = recv_within(&self.sock, Duration::from_millis(ms as u64))?;
        Some(decode_reply(&m).unwrap_or_else(|e| panic!("a reply that does not decode: {e}")))
    }

    fn recv(&self, what: &str) -> (u64, Reply) {
        self.try_recv(20_000)
            .unwrap_or_else(|| panic!("{what}: no reply within 20 s"))
    }

    /// Sends `frames` and expects `ERROR code` for request id `id` as the
    /// next message.
    fn refused<F: AsRef<[u8]>>(&self, frames: &[F], id: u64, code: ErrorCode, what: &str) {
        self.send(frames);
        match self.recv(what) {
            (got, Reply::Error(e)) if got == id && e.code == code => {
                assert!(!e.message.is_empty() && !e.message.contains('\n'), "{what}");
            }
            other => panic!("{what}: expected ERROR {code} for id {id}, got {other:?}"),
        }
    }

    fn request(&self, id: u64, r: &Request) -> Reply {
        self.send(&encode_request(id, r).unwrap());
        let (got, reply) = self.recv(r.kind());
        assert_eq!(got, id, "{reply:?}");
        reply
    }

    /// A `PING` answered: the connection is served, and every earlier
    /// reply has arrived (replies to one client keep their order except for
    /// subscriptions and appends, which these tests wait for themselves).
    fn ping(&self, id: u64) {
        self.send(&[TAG, &id.to_be_bytes(), b"PING"]);
        loop {
            match self.recv("PING") {
                (got, Reply::Pong) if got == id => return,
                (_, Reply::Pong) => {}
                other => panic!("before PONG {id}: {other:?}"),
            }
        }
    }

    fn assert_silent(&self, ms: i64, what: &str) {
        if let Some(m) = self.try_recv(ms) {
            panic!("{what}: expected nothing, got {m:?}");
        }
    }
}

fn id(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

/// The `rewind_native_subscriptions` gauge.
fn native_subscriptions(metrics: &str) -> f64 {
    sample(&scrape(metrics), "rewind_native_subscriptions")
}

/// Waits up to `within` for the gauge to read `want`.
fn await_subscriptions(metrics: &str, want: f64, within: Duration, what: &str) {
    let deadline = Instant::now() + within;
    loop {
        let n = native_subscriptions(metrics);
        if n == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {n} native subscriptions, want {want}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for `times` lines of the server's log with `needle` (a line may
/// reach us a moment after the reply that followed it).
fn await_log(server: &Rewind, needle: &str, times: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.output().matches(needle).count() < times {
        assert!(
            Instant::now() < deadline,
            "no {times} lines with {needle:?} in the log:\n{}",
            server.output()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// A server on an in-memory store with a small maximum message size and
/// its metrics endpoint.
fn server() -> (Rewind, String) {
    let server = Spawn::in_memory(rewind())
        .arg("--max-message-size")
        .arg(MAX_MESSAGE.to_string())
        .arg("--metrics-bind-address")
        .arg("127.0.0.1:0")
        .start();
    let metrics = metrics_address(&server);
    (server, metrics)
}

/// A well-behaved client beside the hostile ones: appends with exact
/// expected versions and follows the log, until stopped; then checks that
/// it saw every event of the log in order and that no request took long.
struct Bystander {
    stop: Arc<AtomicBool>,
    target: Arc<AtomicU64>,
    writer: thread::JoinHandle<(u64, Duration)>,
    reader: thread::JoinHandle<Vec<u64>>,
    client: Client,
}

impl Bystander {
    fn start(endpoint: &str) -> Bystander {
        let stop = Arc::new(AtomicBool::new(false));
        let target = Arc::new(AtomicU64::new(u64::MAX));
        let options = ClientOptions::default().with_request_timeout(Duration::from_secs(10));
        let client = Client::connect_with(endpoint, options).unwrap();
        let mut sub = client.subscribe(Some(0), LogFilter::all()).unwrap();
        let (c, s) = (client.clone(), stop.clone());
        let writer = thread::spawn(move || {
            let mut worst = Duration::ZERO;
            let mut n = 0u64;
            while !s.load(Ordering::Relaxed) {
                let started = Instant::now();
                let expected = match n {
                    0 => ExpectedVersion::NoStream,
                    _ => ExpectedVersion::Exact(n - 1),
                };
                let a = c
                    .append(b"bystander", vec![NewEvent::new(n.to_string())], expected)
                    .unwrap_or_else(|e| panic!("the bystander's append {n} failed: {e}"));
                assert_eq!(a[0].version, n);
                worst = worst.max(started.elapsed());
                n += 1;
                thread::sleep(Duration::from_millis(5));
            }
            (n, worst)
        });
        let t = target.clone();
        let reader = thread::spawn(move || {
            let mut got = Vec::new();
            let mut deadline = None;
            while sub.position() < t.load(Ordering::SeqCst) {
                if t.load(Ordering::SeqCst) != u64::MAX {
                    let d = *deadline.get_or_insert(Instant::now() + Duration::from_secs(20));
                    assert!(Instant::now() < d, "the bystander's subscription stalled");
                }
                match sub.next_timeout(Duration::from_millis(100)) {
                    Ok(Some(SubscriptionItem::Event(e))) => got.push(e.position),
                    Ok(_) => {}
                    Err(e) => panic!("the bystander's subscription failed: {e}"),
                }
            }
            got
        });
        Bystander {
            stop,
            target,
            writer,
            reader,
            client,
        }
    }

    /// Stops it and checks it was served: every append acknowledged soon,
    /// and the subscription whole against the log.
    fn finish(self) {
        self.stop.store(true, Ordering::SeqCst);
        let (appends, worst) = self.writer.join().unwrap();
        let log: Vec<Event> = self.client.read_log_vec(0, usize::MAX).unwrap();
        self.target.store(log.len() as u64, Ordering::SeqCst);
        let positions = self.reader.join().unwrap();
        let want: Vec<u64> = log.iter().map(|e| e.position).collect();
        assert_eq!(positions, want, "the bystander's subscription");
        assert!(appends > 20, "the bystander appended only {appends} times");
        assert!(
            worst < Duration::from_secs(5),
            "a bystander's append took {worst:?}"
        );
        eprintln!("[native-hostile] the bystander: {appends} appends, the slowest {worst:?}");
    }
}

/// A valid append body for `stream` with one event.
fn append_body(stream: &[u8], data: &[u8]) -> Vec<u8> {
    let frames = encode_request(
        1,
        &Request::Append(vec![StreamAppend::new(
            stream.to_vec(),
            vec![NewEvent::with_id("hostile-id", data.to_vec()).with_type("T")],
            ExpectedVersion::Any,
        )]),
    )
    .unwrap();
    frames[3].clone()
}

/// The envelope and the frame shapes of section 6.
fn envelopes(raw: &Raw, server: &Rewind) {
    // A wrong tag: UNSUPPORTED_VERSION with request id 0 and the versions.
    for tag in [&b"rewind/2"[..], b"", b"REWIND/1", b"rewind/1 "] {
        raw.send(&[tag, &id(5), b"PING"]);
        match raw.recv("a wrong tag") {
            (0, Reply::Error(e)) if e.code == ErrorCode::UnsupportedVersion => assert_eq!(
                e.details,
                rewind_core::protocol::native::ErrorDetails::Versions("1".into())
            ),
            other => panic!("wrong tag {tag:?}: {other:?}"),
        }
    }
    // Request ids of the wrong size: MALFORMED with id 0.
    for bad in [&b""[..], b"1234567", b"123456789", &[0u8; 64]] {
        raw.refused(&[TAG, bad, b"PING"], 0, ErrorCode::Malformed, "a bad id");
    }
    // Fewer than three frames: MALFORMED with a usable id, else dropped.
    raw.refused(&[TAG, &id(7)], 7, ErrorCode::Malformed, "two frames");
    raw.send(&[TAG]);
    raw.send(&[&b"x"[..], b"1234567"]);
    raw.send(&[&b""[..]]);
    raw.assert_silent(300, "messages without a usable id are dropped");
    raw.ping(8);
    // ... and logged.
    await_log(
        server,
        "dropped a native message: a request has at least 3 frames",
        3,
    );
    // Unknown commands.
    for kind in [&b"FOO"[..], b"ping", b"", b"PING\0", &[0xff; 300]] {
        raw.refused(
            &[TAG, &id(9), kind],
            9,
            ErrorCode::UnknownCommand,
            "a command",
        );
    }
    // Wrong arity and frame sizes.
    raw.refused(
        &[TAG, &id(10), b"PING", b"x"],
        10,
        ErrorCode::Malformed,
        "PING x",
    );
    raw.refused(
        &[TAG, &id(11), b"APPEND"],
        11,
        ErrorCode::Malformed,
        "APPEND",
    );
    raw.refused(
        &[TAG, &id(12), b"READ_LOG", b"F", b"1234567", &id(0), b""],
        12,
        ErrorCode::Malformed,
        "a 7-byte position",
    );
    raw.refused(
        &[TAG, &id(13), b"READ_LOG", b"X", &id(0), &id(0), b""],
        13,
        ErrorCode::Malformed,
        "a direction X",
    );
    raw.refused(
        &[TAG, &id(14), b"SUBSCRIBE", &id(0), &id(1)],
        14,
        ErrorCode::Malformed,
        "SUBSCRIBE without a filter",
    );
    raw.refused(
        &[TAG, &id(15), b"STREAMS", b"", &id(0)],
        15,
        ErrorCode::InvalidArgument,
        "STREAMS limit 0",
    );
    raw.refused(
        &[TAG, &id(16), b"GET", b""],
        16,
        ErrorCode::InvalidArgument,
        "an empty id",
    );
    raw.refused(
        &[TAG, &id(17), b"SUBSCRIBE", &id(u64::MAX), &id(1), b""],
        17,
        ErrorCode::InvalidArgument,
        "a start past the end",
    );
}

/// Append bodies cut short, with garbage, and with counts far larger than
/// the bytes that follow.
fn bodies(raw: &Raw, rng: &mut Rng) {
    let body = append_body(b"hostile", b"some data");
    // Every truncation of a valid body is refused, and nothing is stored.
    for cut in 0..body.len() {
        raw.refused(
            &[TAG, &id(20), b"APPEND", &body[..cut]],
            20,
            ErrorCode::Malformed,
            &format!("a body cut at {cut}"),
        );
    }
    let mut longer = body.clone();
    longer.push(0);
    raw.refused(
        &[TAG, &id(21), b"APPEND", &longer],
        21,
        ErrorCode::Malformed,
        "a trailing byte",
    );
    // Huge counts and lengths with nothing behind them.
    let huge: Vec<Vec<u8>> = vec![
        vec![0x04, 0x00],                                        // 1,024 parts, no bytes
        [&[0, 1, 1, b's', 0][..], &[0; 8], &[0xff; 4]].concat(), // u32::MAX events
        [
            &[0, 1, 1, b's', 0][..],
            &[0; 8],
            &[0, 0, 0, 1],
            &[0, 0],
            &[0xff; 4],
        ]
        .concat(), // a 4 GiB metadata
    ];
    for (i, b) in huge.iter().enumerate() {
        raw.refused(
            &[TAG, &id(22), b"APPEND", b],
            22,
            ErrorCode::Malformed,
            &format!("huge {i}"),
        );
    }
    // Part counts out of their domain.
    raw.refused(
        &[TAG, &id(22), b"APPEND", &[0xff, 0xff]],
        22,
        ErrorCode::InvalidArgument,
        "65,535 parts",
    );
    raw.refused(
        &[TAG, &id(23), b"APPEND", &[0, 0]],
        23,
        ErrorCode::InvalidArgument,
        "no part",
    );
    // Garbage: refused (or, by a rare chance, a valid append).
    for _ in 0..300 {
        let mut b = body.clone();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(b.len() as u64) as usize;
            b[at] = rng.next_u64() as u8;
        }
        raw.send(&[TAG, &id(24), b"APPEND", &b]);
        match raw.recv("a mangled body") {
            (24, Reply::Error(e)) => assert!(
                matches!(
                    e.code,
                    ErrorCode::Malformed
                        | ErrorCode::InvalidArgument
                        | ErrorCode::DuplicateId
                        | ErrorCode::WrongExpectedVersion
                ),
                "{e:?}"
            ),
            (24, Reply::Appended(_)) => {}
            other => panic!("a mangled body: {other:?}"),
        }
    }
}

/// Messages over the maximum size: `TOO_LARGE`; a frame over ZeroMQ's own
/// limit closes the connection, and the socket's next connection is served.
fn oversized(raw: &Raw) {
    let big = vec![7u8; MAX_MESSAGE + 1];
    raw.refused(
        &[TAG, &id(30), b"APPEND", &big],
        30,
        ErrorCode::TooLarge,
        "over the maximum",
    );
    let frames: Vec<Vec<u8>> = [TAG.to_vec(), id(31).to_vec(), b"READ_LOG".to_vec()]
        .into_iter()
        .chain((0..100).map(|_| vec![b'p'; 1000]))
        .collect();
    raw.refused(
        &frames,
        31,
        ErrorCode::TooLarge,
        "many frames over the maximum",
    );
    raw.send(&[TAG, &id(32), b"APPEND", &vec![0u8; 2 << 20]]);
    raw.assert_silent(500, "a frame over ZeroMQ's limit");
    raw.ping(33);
}

/// `CREDIT` and `UNSUBSCRIBE` for subscriptions that do not exist, credit
/// added up past `u64::MAX`, a subscription id used twice.
fn subscription_commands(raw: &Raw, client: &Client) {
    raw.refused(
        &[TAG, &id(40), b"CREDIT", &id(5)],
        40,
        ErrorCode::UnknownSubscription,
        "CREDIT",
    );
    raw.refused(
        &[TAG, &id(41), b"UNSUBSCRIBE"],
        41,
        ErrorCode::UnknownSubscription,
        "UNSUBSCRIBE",
    );
    let subscribe = Request::Subscribe {
        from: None,
        credit: u64::MAX,
        filter: LogFilter::all().with_stream_prefix("overflow"),
    };
    assert!(matches!(
        raw.request(42, &subscribe),
        Reply::Subscribed { .. }
    ));
    assert!(matches!(
        raw.recv("CAUGHT_UP"),
        (42, Reply::CaughtUp { .. })
    ));
    raw.send(&[TAG, &id(42), b"CREDIT", &id(u64::MAX)]);
    raw.send(&[TAG, &id(42), b"CREDIT", &id(u64::MAX)]);
    raw.refused(
        &encode_request(42, &subscribe).unwrap(),
        42,
        ErrorCode::InvalidArgument,
        "the id of a live subscription",
    );
    for i in 0..3 {
        client
            .append(
                b"overflow",
                vec![NewEvent::new(format!("{i}"))],
                ExpectedVersion::Any,
            )
            .unwrap();
    }
    let mut seen = 0;
    while seen < 3 {
        match raw.recv("events after the overflow") {
            (42, Reply::Events(ev)) => seen += ev.len(),
            (42, Reply::Heartbeat { .. }) => {}
            other => panic!("{other:?}"),
        }
    }
    raw.send(&[TAG, &id(42), b"UNSUBSCRIBE"]);
    loop {
        match raw.recv("END") {
            (42, Reply::End { count }) => break assert_eq!(count, 3),
            (42, Reply::Heartbeat { .. }) => {}
            other => panic!("{other:?}"),
        }
    }
    raw.refused(
        &[TAG, &id(42), b"CREDIT", &id(1)],
        42,
        ErrorCode::UnknownSubscription,
        "ended",
    );
}

/// A flood of `SUBSCRIBE`s on one connection, each answered (`SUBSCRIBED`,
/// or `TOO_MANY_SUBSCRIPTIONS` past the server's limit), then the
/// connection closed: its subscriptions go with it. Only the bystander's
/// subscription is left beside it (`BYSTANDER`).
fn subscribe_flood(server: &Rewind, metrics: &str, n: u64) {
    let flood = Raw::new(server);
    let subscribe = |i: u64| {
        // No credit: the server sends nothing but SUBSCRIBED (and
        // heartbeats).
        encode_request(
            1000 + i,
            &Request::Subscribe {
                from: Some(0),
                credit: 0,
                filter: LogFilter::all(),
            },
        )
        .unwrap()
    };
    for i in 0..n {
        flood.send(&subscribe(i));
    }
    // The client says it is alive every half heartbeat while it waits.
    let mut pinged = Instant::now();
    let mut alive = |flood: &Raw| {
        if pinged.elapsed() > Duration::from_millis(500) {
            flood.send(&[TAG, &id(1), b"PING"]);
            pinged = Instant::now();
        }
    };
    let room = MAX_SUBSCRIPTIONS as u64 - BYSTANDER;
    let (mut accepted, mut refused) = (0u64, 0u64);
    while accepted + refused < n {
        alive(&flood);
        match flood.recv("the flood") {
            (_, Reply::Subscribed { .. }) => accepted += 1,
            (_, Reply::Error(e)) if e.code == ErrorCode::TooManySubscriptions => refused += 1,
            (_, Reply::Heartbeat { .. } | Reply::Pong) => {}
            other => panic!("the flood: {other:?}"),
        }
    }
    assert_eq!((accepted, refused), (n.min(room), n.saturating_sub(room)));
    let want = (accepted + BYSTANDER) as f64;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        alive(&flood);
        while flood.try_recv(0).is_some() {}
        let got = native_subscriptions(metrics);
        if got == want {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the flood: {got} subscriptions, want {want}"
        );
        thread::sleep(Duration::from_millis(50));
    }
    eprintln!("[native-hostile] a flood of {n} SUBSCRIBEs: {accepted} accepted, {refused} refused");
    drop(flood);
    // Gone: its subscriptions end at their next send (a heartbeat at most).
    await_subscriptions(
        metrics,
        BYSTANDER as f64,
        Duration::from_secs(30),
        "after the flood",
    );
}

/// Clients that subscribe from the start of the log with plenty of credit
/// and never read (their pipes fill up: the server holds their
/// subscriptions, not the others), then vanish.
fn stalled_then_gone(server: &Rewind, metrics: &str) {
    let before = BYSTANDER as f64;
    let stalled: Vec<Raw> = (0..5)
        .map(|_| {
            let sock = server.raw(zmq::DEALER, &server.endpoints.native);
            sock.set_rcvhwm(2).unwrap();
            Raw { sock }
        })
        .collect();
    for raw in &stalled {
        for i in 0..20 {
            raw.send(
                &encode_request(
                    i,
                    &Request::Subscribe {
                        from: Some(0),
                        credit: u64::MAX,
                        filter: LogFilter::all(),
                    },
                )
                .unwrap(),
            );
        }
    }
    await_subscriptions(metrics, before + 100.0, Duration::from_secs(10), "stalled");
    thread::sleep(Duration::from_millis(1500));
    drop(stalled);
    await_subscriptions(
        metrics,
        before,
        Duration::from_secs(30),
        "stalled, then gone",
    );
}

/// Connections that each subscribe and go at once, one after another: the
/// server ends their subscriptions and keeps no file descriptor of theirs.
fn subscribe_and_vanish(server: &Rewind, metrics: &str, n: usize) {
    let before = BYSTANDER as f64;
    let fds = server.fd_count();
    for i in 0..n {
        let raw = Raw::new(server);
        let subscribe = Request::Subscribe {
            from: None,
            credit: 100,
            filter: LogFilter::all(),
        };
        assert!(matches!(
            raw.request(i as u64, &subscribe),
            Reply::Subscribed { .. }
        ));
    }
    await_subscriptions(metrics, before, Duration::from_secs(30), "vanished");
    let left = server.fd_count_settled(fds + 2, Duration::from_secs(10));
    assert!(
        left <= fds + 2,
        "{left} file descriptors after {n} vanished subscribers, {fds} before"
    );
}

/// A client that subscribes and then says nothing, its socket open: its
/// subscription ends with `ERROR TIMEOUT` after the peer timeout.
fn silent_subscriber(server: &Rewind) {
    let raw = Raw::new(server);
    let subscribe = Request::Subscribe {
        from: None,
        credit: 10,
        filter: LogFilter::all().with_stream_prefix("nobody"),
    };
    let started = Instant::now();
    assert!(matches!(
        raw.request(50, &subscribe),
        Reply::Subscribed { .. }
    ));
    loop {
        match raw.recv("the end of a silent client's subscription") {
            (50, Reply::CaughtUp { .. } | Reply::Heartbeat { .. }) => {}
            (50, Reply::Error(e)) if e.code == ErrorCode::Timeout => break,
            other => panic!("{other:?}"),
        }
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(9) && waited < Duration::from_secs(15),
        "timed out after {waited:?}"
    );
    await_log(server, "silent for", 1);
}

/// A raw TCP connection that writes garbage to the native port.
fn tcp_garbage(server: &Rewind, rng: &mut Rng) {
    let port = server.endpoints.native.rsplit(':').next().unwrap();
    let mut s = TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    let junk: Vec<u8> = (0..4096).map(|_| rng.next_u64() as u8).collect();
    let _ = s.write_all(&junk);
    let _ = s.write_all(b"\xff\x00\x00\x00\x00\x00\x00\x00\x01\x7f");
    drop(s);
}

/// A random frame: words the parser knows, the tag, ids, or random bytes.
fn random_frame(rng: &mut Rng) -> Vec<u8> {
    const WORDS: [&[u8]; 12] = [
        b"PING",
        b"INFO",
        b"APPEND",
        b"READ_STREAM",
        b"READ_LOG",
        b"GET",
        b"HEAD",
        b"STREAMS",
        b"CREDIT",
        b"UNSUBSCRIBE",
        b"F",
        b"B",
    ];
    match rng.below(8) {
        0 => Vec::new(),
        1 => WORDS[rng.below(WORDS.len() as u64) as usize].to_vec(),
        2 => rng.below(1000).to_be_bytes().to_vec(),
        3 => TAG.to_vec(),
        4 => (0..rng.below(3000)).map(|_| rng.next_u64() as u8).collect(),
        _ => (0..rng.below(20)).map(|_| rng.next_u64() as u8).collect(),
    }
}

/// Random messages (no `SUBSCRIBE`, whose stream of messages would outlive
/// the round): each answered exactly as the decoder says, checked by a
/// `PING` after it.
fn random_messages(raw: &Raw, rng: &mut Rng, rounds: usize) {
    let mut answered = 0;
    for round in 0..rounds {
        let n = rng.below(7) as usize;
        let mut m: Vec<Vec<u8>> = (0..n).map(|_| random_frame(rng)).collect();
        if n >= 3 && rng.below(3) > 0 {
            m[0] = TAG.to_vec();
            m[1] = (round as u64 + 100_000).to_be_bytes().to_vec();
        }
        if m.is_empty() {
            continue;
        }
        let expect = decode_request(&m);
        if matches!(expect, Ok((_, Request::Subscribe { .. }))) {
            continue;
        }
        raw.send(&m);
        let sentinel = u64::MAX - round as u64;
        raw.send(&[TAG, &id(sentinel), b"PING"]);
        let mut replies = Vec::new();
        loop {
            match raw.recv("a random message") {
                (got, Reply::Pong) if got == sentinel => break,
                other => replies.push(other),
            }
        }
        match expect {
            Err(Refusal {
                request_id: None, ..
            }) => assert!(replies.is_empty(), "dropped, yet {replies:?}"),
            Err(Refusal {
                request_id: Some(rid),
                error,
            }) => match replies.as_slice() {
                [(got, Reply::Error(e))] if *got == rid && e.code == error.code => answered += 1,
                other => panic!(
                    "{m:?}: expected ERROR {} for {rid}, got {other:?}",
                    error.code
                ),
            },
            Ok((rid, request)) => {
                assert!(
                    !replies.is_empty() && replies.iter().all(|(g, _)| *g == rid),
                    "{request:?}: {replies:?}"
                );
                answered += 1;
            }
        }
    }
    eprintln!("[native-hostile] {rounds} random messages, {answered} answered");
}

#[test]
fn the_native_endpoint_survives_hostile_input_and_serves_a_bystander() {
    let _turn = crate::TURNS.take(module_path!());
    let mut rng = Rng::from_env("native-hostile");
    let rounds = env_usize("REWIND_NATIVE_HOSTILE_ROUNDS", 1500);
    let flood = env_usize("REWIND_NATIVE_FLOOD", 3000);
    let (mut server, metrics) = server();
    let endpoint = server.endpoints.native.clone();
    let bystander = Bystander::start(&endpoint);
    let client = Client::connect(&endpoint).unwrap();
    let raw = Raw::new(&server);
    raw.ping(1);
    // The silent subscriber waits out the peer timeout beside the rest.
    thread::scope(|scope| {
        let silent = scope.spawn(|| silent_subscriber(&server));
        envelopes(&raw, &server);
        bodies(&raw, &mut rng);
        oversized(&raw);
        subscription_commands(&raw, &client);
        tcp_garbage(&server, &mut rng);
        random_messages(&raw, &mut rng, rounds);
        silent.join().unwrap();
    });
    subscribe_flood(&server, &metrics, flood as u64);
    stalled_then_gone(&server, &metrics);
    subscribe_and_vanish(&server, &metrics, 300);
    raw.ping(2);
    bystander.finish();
    // Every subscription is gone: the bystander's ended with UNSUBSCRIBE,
    // the silent one timed out, the flood's went with its connection.
    await_subscriptions(&metrics, 0.0, Duration::from_secs(5), "at the end");
    server.assert_running();
    assert_no_panic(&server.output());
}
