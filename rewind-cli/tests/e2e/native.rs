//! End-to-end tests of the native protocol (`docs/native-protocol.md`)
//! against the real binary over real ZeroMQ: a few exchanges built byte by
//! byte to pin the document's layout, the rest through the codec; every
//! command, every reachable error code, reads, subscriptions with credit,
//! heartbeats and resumption, and events shared with v1 and v2.

use std::collections::HashSet;
use std::thread;
use std::time::{Duration, Instant};

use rewind_core::protocol::native::{
    Direction, ErrorCode, ErrorDetails, Reply, Request, FROM_LAST,
};
use rewind_core::{Event, ExpectedVersion, LogFilter, NewEvent, StreamAppend};
use rewind_testkit::prelude::*;

use crate::rewind;

const TAG: &[u8] = b"rewind/1";

fn be(v: u64) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

fn part(stream: &str, expected: ExpectedVersion, events: Vec<NewEvent>) -> StreamAppend {
    StreamAppend::new(stream, events, expected)
}

fn ev(id: &str, data: &str) -> NewEvent {
    NewEvent::with_id(id, data)
}

/// The error a request got, checked to be one.
fn error_of(reply: Reply) -> rewind_core::protocol::native::ErrorReply {
    match reply {
        Reply::Error(e) => e,
        other => panic!("expected an ERROR, got {other:?}"),
    }
}

/// Appends `n` events to `stream`, `per` to an append, with data `d<i>`.
fn fill(c: &mut Native, stream: &str, n: usize, per: usize, size: usize) {
    let mut i = 0;
    while i < n {
        let events = (i..(i + per).min(n))
            .map(|k| {
                let mut d = format!("d{k}-").into_bytes();
                d.resize(size.max(d.len()), b'x');
                NewEvent::new(d)
            })
            .collect::<Vec<_>>();
        i += events.len();
        c.append(vec![part(stream, ExpectedVersion::Any, events)])
            .unwrap();
    }
}

fn log_read(from: u64, direction: Direction, limit: u64, filter: LogFilter) -> Request {
    Request::ReadLog {
        direction,
        from,
        limit,
        filter,
    }
}

fn positions(events: &[Event]) -> Vec<u64> {
    events.iter().map(|e| e.position).collect()
}

#[test]
fn an_info_exchange_has_the_documented_bytes() {
    let server = Spawn::in_memory(rewind()).start();
    let c = Native::connect(&server);
    c.send_raw(&[TAG, &[0, 0, 0, 0, 0, 0, 0, 42], b"INFO"]);
    let m = c.recv_raw();
    assert_eq!(m.len(), 8, "{}", show(&m));
    assert_eq!(m[0], TAG);
    assert_eq!(m[1], [0, 0, 0, 0, 0, 0, 0, 42]);
    assert_eq!(m[2], b"INFO");
    assert_eq!(m[3], env!("CARGO_PKG_VERSION").as_bytes());
    assert_eq!(m[4], be(0), "an empty log: the next position is 0");
    assert_eq!(m[5], b"1");
    assert_eq!(m[6], be(16 << 20), "the default max-message-size");
    assert_eq!(m[7], [0, 0, 0, 0, 0, 0, 0x03, 0xe8], "1,000 ms");
    c.send_raw(&[TAG, &be(7), b"PING"]);
    assert_eq!(c.recv_raw(), vec![TAG.to_vec(), be(7), b"PONG".to_vec()]);
}

#[test]
fn an_append_by_hand_is_answered_byte_for_byte_and_seen_by_v1_and_v2() {
    let server = Spawn::in_memory(rewind()).start();
    let c = Native::connect(&server);
    #[rustfmt::skip]
    let body: Vec<u8> = vec![
        0, 2,                               // two parts
        7, b'd', b'e', b'f', b'a', b'u', b'l', b't', // "default"
        1, 0, 0, 0, 0, 0, 0, 0, 0,          // no stream
        0, 0, 0, 1,                         // one event
        3, b'e', b'-', b'1',                // id "e-1"
        4, b'T', b'y', b'p', b'e',          // type "Type"
        0, 0, 0, 2, b'{', b'}',             // metadata "{}"
        0, 0, 0, 3, b'o', b'n', b'e',       // data "one"
        1, b's',                            // stream "s"
        0, 0, 0, 0, 0, 0, 0, 0, 0,          // any version
        0, 0, 0, 1,                         // one event
        0,                                  // no id: the server assigns one
        0,                                  // no type
        0, 0, 0, 0,                         // no metadata
        0, 0, 0, 3, b't', b'w', b'o',       // data "two"
    ];
    c.send_raw(&[TAG, &be(9), b"APPEND", &body]);
    let m = c.recv_raw();
    assert_eq!(m.len(), 4, "{}", show(&m));
    assert_eq!(
        (&m[0][..], &m[1][..], &m[2][..]),
        (TAG, &be(9)[..], &b"APPENDED"[..])
    );
    let r = &m[3];
    assert_eq!(r[..4], [0, 0, 0, 2], "two events");
    #[rustfmt::skip]
    assert_eq!(
        r[4..4 + 20],
        [3, b'e', b'-', b'1', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        "e-1: version 0, position 0"
    );
    let id_len = r[24] as usize;
    assert_eq!(id_len, 36, "an assigned UUIDv7");
    let assigned = r[25..25 + id_len].to_vec();
    assert_canonical_uuid(&assigned);
    assert_eq!(
        r[25 + id_len..],
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    );

    // v1 sees the default stream, v2 every stream, with the same ids.
    assert_eq!(
        server.req().query_all(),
        vec![(b"e-1".to_vec(), b"one".to_vec())]
    );
    assert_eq!(
        server.dealer().query(b"s", b"", b""),
        vec![(assigned, b"two".to_vec())]
    );
}

#[test]
fn events_written_by_v1_and_v2_are_read_natively_and_the_other_way_round() {
    let server = Spawn::in_memory(rewind()).start();
    server.req().publish(b"from v1");
    let v2_id = server.dealer().publish(b"orders", b"from v2");
    let mut c = Native::connect(&server);
    let (events, count) = c
        .read(&log_read(0, Direction::Forward, 0, LogFilter::all()))
        .unwrap();
    assert_eq!(count, 2);
    assert_eq!(events[0].stream, b"default");
    assert_eq!(events[0].data, b"from v1");
    assert_eq!(
        (&events[1].id, &events[1].data),
        (&v2_id, &b"from v2".to_vec())
    );
    assert!(events
        .iter()
        .all(|e| e.event_type.is_empty() && e.metadata.is_empty()));
    let Reply::Event(got) = c.call(&Request::Get { id: v2_id.clone() }) else {
        panic!()
    };
    assert_eq!(got, events[1]);

    // A typed native event reaches v2's PUB and query with its data.
    let sub = server.v2_sub(b"");
    let a = c
        .append(vec![part(
            "orders",
            ExpectedVersion::Exact(0),
            vec![ev("n-1", "native").with_type("Placed")],
        )])
        .unwrap();
    assert_eq!((a[0].version, a[0].position), (1, 2));
    assert_eq!(
        sub.recv(),
        vec![b"orders".to_vec(), b"n-1".to_vec(), b"native".to_vec()]
    );
    let q = server.dealer().query(b"orders", b"", b"");
    assert_eq!(q[1], (b"n-1".to_vec(), b"native".to_vec()));
}

#[test]
fn lookups_heads_and_stream_listings() {
    let server = Spawn::in_memory(rewind()).start();
    let mut c = Native::connect(&server);
    assert_eq!(c.call(&Request::Ping), Reply::Pong);
    for s in ["b", "a", "c", "a"] {
        c.append(vec![part(
            s,
            ExpectedVersion::Any,
            vec![NewEvent::new("x")],
        )])
        .unwrap();
    }
    let Reply::Head(h) = c.call(&Request::Head {
        stream: b"a".to_vec(),
    }) else {
        panic!()
    };
    assert_eq!((h.version, h.position), (1, 3));
    let Reply::Event(last) = c.call(&Request::Get { id: h.id.clone() }) else {
        panic!()
    };
    assert_eq!((last.stream, last.position), (b"a".to_vec(), 3));
    assert_eq!(
        c.call(&Request::Head {
            stream: b"zz".to_vec()
        }),
        Reply::None
    );
    assert_eq!(
        c.call(&Request::Get {
            id: b"no-such-id".to_vec()
        }),
        Reply::None
    );
    let page = |c: &mut Native, after: &str, limit| match c.call(&Request::Streams {
        after: after.as_bytes().to_vec(),
        limit,
    }) {
        Reply::Streams(s) => s
            .into_iter()
            .map(|l| (String::from_utf8(l.name).unwrap(), l.version, l.position))
            .collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        page(&mut c, "", 2),
        vec![("a".to_string(), 1, 3), ("b".to_string(), 0, 0)]
    );
    assert_eq!(page(&mut c, "b", 2), vec![("c".to_string(), 0, 2)]);
    assert!(page(&mut c, "c", 1000).is_empty());
    let Reply::Info(info) = c.call(&Request::Info) else {
        panic!()
    };
    assert_eq!(info.next_position, 4);
}

#[test]
fn malformed_and_unknown_requests_get_their_error_codes() {
    let server = Spawn::in_memory(rewind())
        .arg("--max-message-size")
        .arg("4096")
        .start();
    let mut c = Native::connect(&server);
    let err = |frames: &[&[u8]]| {
        c.send_raw(frames);
        let m = c.recv_raw();
        assert_eq!(m[0], TAG);
        assert_eq!(m[2], b"ERROR", "{}", show(&m));
        (m[1].clone(), String::from_utf8(m[3].clone()).unwrap(), m)
    };
    // Frame 0: another version, answered under id 0 with the versions.
    let (id, code, m) = err(&[b"rewind/2", &be(5), b"PING"]);
    assert_eq!((id, code.as_str()), (be(0), "UNSUPPORTED_VERSION"));
    assert_eq!(m[5], b"1");
    // Frame 1: not 8 bytes.
    let (id, code, _) = err(&[TAG, b"1234", b"PING"]);
    assert_eq!((id, code.as_str()), (be(0), "MALFORMED"));
    // Fewer than three frames with a usable id.
    let (id, code, _) = err(&[TAG, &be(6)]);
    assert_eq!((id, code.as_str()), (be(6), "MALFORMED"));
    let (id, code, _) = err(&[TAG, &be(7), b"JUMP"]);
    assert_eq!((id, code.as_str()), (be(7), "UNKNOWN_COMMAND"));
    let (_, code, m) = err(&[TAG, &be(8), b"PING", b"extra"]);
    assert_eq!(code, "MALFORMED");
    assert_eq!(m[4], b"PING takes 0 argument frames (none), not 1");
    let (_, code, m) = err(&[TAG, &be(8), b"READ_STREAM", b"s", b"F", &[0; 7], &be(0)]);
    assert_eq!(code, "MALFORMED");
    assert_eq!(
        m[4],
        b"READ_STREAM: the from version must be a u64 frame of 8 bytes, not 7".to_vec()
    );
    let (_, code, m) = err(&[TAG, &be(8), b"READ_LOG", b"X", &be(0), &be(0), b""]);
    assert_eq!(code, "MALFORMED");
    assert_eq!(
        m[4],
        b"READ_LOG: the direction must be F or B, not X".to_vec()
    );
    let (_, code, m) = err(&[
        TAG,
        &be(8),
        b"APPEND",
        &[0, 1, 1, b's', 9, 0, 0, 0, 0, 0, 0, 0, 0],
    ]);
    assert_eq!(code, "MALFORMED");
    assert_eq!(
        m[4],
        b"append body: part 0: expected version kind must be 0 to 3, not 9".to_vec()
    );
    let (_, code, _) = err(&[TAG, &be(8), b"APPEND", &[0, 1, 1]]);
    assert_eq!(code, "MALFORMED", "a body cut short");
    // Too large for the server's limit (below ZeroMQ's own).
    let big = vec![0u8; 5000];
    let (id, code, _) = err(&[TAG, &be(10), b"APPEND", &big]);
    assert_eq!((id, code.as_str()), (be(10), "TOO_LARGE"));
    // Out of their domain.
    for frames in [
        vec![TAG, &be(11)[..], b"HEAD", b""],
        vec![TAG, &be(11)[..], b"STREAMS", b"", &be(0)[..]],
        vec![TAG, &be(11)[..], b"STREAMS", b"", &be(1001)[..]],
        vec![TAG, &be(11)[..], b"APPEND", &[0, 0]],
        vec![TAG, &be(11)[..], b"SUBSCRIBE", &be(1)[..], &be(10)[..], b""],
    ] {
        let (id, code, m) = err(&frames);
        assert_eq!(
            (id, code.as_str()),
            (be(11), "INVALID_ARGUMENT"),
            "{}",
            show(&m)
        );
    }
    // A message with no usable id is dropped; the server goes on.
    c.send_raw(&[TAG]);
    c.send_raw(&[b"x".as_slice()]);
    assert_eq!(c.call(&Request::Ping), Reply::Pong);
    assert!(
        c.recv_within(Duration::from_millis(200)).is_none(),
        "nothing answers the dropped messages"
    );
    // Nothing was written by any of them.
    let Reply::Info(info) = c.call(&Request::Info) else {
        panic!()
    };
    assert_eq!(info.next_position, 0);
}

#[test]
fn append_conflicts_duplicates_and_retries() {
    let server = Spawn::in_memory(rewind()).start();
    let mut c = Native::connect(&server);
    let first = vec![
        part(
            "acct-1",
            ExpectedVersion::NoStream,
            vec![ev("t1-debit", "-5")],
        ),
        part("acct-2", ExpectedVersion::Any, vec![ev("t1-credit", "+5")]),
    ];
    let done = c.append(first.clone()).unwrap();
    assert_eq!(
        done.iter()
            .map(|a| (a.version, a.position))
            .collect::<Vec<_>>(),
        vec![(0, 0), (0, 1)]
    );
    // The same append again: a retry, answered with the original positions.
    assert_eq!(c.append(first.clone()).unwrap(), done);
    // A conflict on one part refuses the whole append, with details.
    let e = c
        .append(vec![
            part("acct-3", ExpectedVersion::Any, vec![ev("x1", "x")]),
            part("acct-1", ExpectedVersion::Exact(4), vec![ev("x2", "x")]),
        ])
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::WrongExpectedVersion);
    assert_eq!(
        e.details,
        ErrorDetails::WrongExpectedVersion {
            stream: b"acct-1".to_vec(),
            actual: Some(0)
        }
    );
    let e = c
        .append(vec![part(
            "nobody",
            ExpectedVersion::StreamExists,
            vec![ev("x3", "x")],
        )])
        .unwrap_err();
    assert_eq!(
        e.details,
        ErrorDetails::WrongExpectedVersion {
            stream: b"nobody".to_vec(),
            actual: None
        }
    );
    // The raw frames: the stream, then an empty frame for "no events".
    c.send(
        3,
        &Request::Append(vec![part(
            "nobody",
            ExpectedVersion::StreamExists,
            vec![ev("x4", "x")],
        )]),
    );
    let m = c.recv_raw();
    assert_eq!(m[3], b"WRONG_EXPECTED_VERSION");
    assert_eq!((&m[5][..], m[6].len()), (&b"nobody"[..], 0));
    // A stored id in another append: DUPLICATE_ID with the id.
    let e = c
        .append(vec![part(
            "acct-9",
            ExpectedVersion::Any,
            vec![ev("t1-debit", "-5")],
        )])
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::DuplicateId);
    assert_eq!(e.details, ErrorDetails::DuplicateId(b"t1-debit".to_vec()));
    // An id twice in one append, a stream named twice.
    let e = c
        .append(vec![part(
            "z",
            ExpectedVersion::Any,
            vec![ev("twice", "a"), ev("twice", "b")],
        )])
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::DuplicateId);
    let e = c
        .append(vec![
            part("z", ExpectedVersion::Any, vec![ev("z1", "a")]),
            part("z", ExpectedVersion::Any, vec![ev("z2", "b")]),
        ])
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidArgument);
    // Nothing of the refused appends was written.
    let Reply::Info(info) = c.call(&Request::Info) else {
        panic!()
    };
    assert_eq!(info.next_position, 2);
}

#[test]
fn reads_go_both_ways_with_filters_and_limits() {
    let server = Spawn::in_memory(rewind()).start();
    let mut c = Native::connect(&server);
    for i in 0..20u64 {
        let stream = if i % 2 == 0 { "order-1" } else { "cart-1" };
        let t = if i % 4 < 2 { "Placed" } else { "Paid" };
        c.append(vec![part(
            stream,
            ExpectedVersion::Any,
            vec![NewEvent::new(format!("{i}"))
                .with_type(t)
                .with_metadata(format!("m{i}"))],
        )])
        .unwrap();
    }
    let read = |c: &mut Native, r: Request| {
        let (events, count) = c.read(&r).unwrap();
        assert_eq!(count as usize, events.len());
        positions(&events)
    };
    let stream = |name: &str, direction, from, limit| Request::ReadStream {
        stream: name.as_bytes().to_vec(),
        direction,
        from,
        limit,
    };
    assert_eq!(
        read(&mut c, stream("order-1", Direction::Forward, 7, 0)),
        vec![14, 16, 18]
    );
    assert_eq!(
        read(&mut c, stream("order-1", Direction::Forward, 2, 2)),
        vec![4, 6]
    );
    assert_eq!(
        read(&mut c, stream("cart-1", Direction::Backward, FROM_LAST, 3)),
        vec![19, 17, 15]
    );
    assert_eq!(
        read(&mut c, stream("cart-1", Direction::Backward, 1, 0)),
        vec![3, 1]
    );
    assert!(read(&mut c, stream("none", Direction::Forward, 0, 0)).is_empty());
    let orders_paid = LogFilter::all()
        .with_stream_prefix("order-")
        .with_event_type("Paid");
    assert_eq!(
        read(
            &mut c,
            log_read(0, Direction::Forward, 0, orders_paid.clone())
        ),
        vec![2, 6, 10, 14, 18]
    );
    assert_eq!(
        read(
            &mut c,
            log_read(7, Direction::Forward, 2, orders_paid.clone())
        ),
        vec![10, 14]
    );
    assert_eq!(
        read(
            &mut c,
            log_read(FROM_LAST, Direction::Backward, 2, orders_paid)
        ),
        vec![18, 14]
    );
    let two_types = LogFilter::all().with_event_types(["Paid", "Placed"]);
    assert_eq!(
        read(&mut c, log_read(3, Direction::Backward, 0, two_types)).len(),
        4
    );
    let (events, _) = c
        .read(&log_read(5, Direction::Forward, 1, LogFilter::all()))
        .unwrap();
    assert_eq!(
        (
            &events[0].metadata[..],
            &events[0].event_type[..],
            &events[0].data[..]
        ),
        (&b"m5"[..], &b"Placed"[..], &b"5"[..])
    );
}

#[test]
fn a_read_larger_than_a_batch_arrives_complete_in_batches_within_the_limits() {
    let server = Spawn::in_memory(rewind()).start();
    let mut writer = Native::connect(&server);
    // 6,000 events of 512 bytes: six batches cut by count; and four
    // events of 400 KiB, cut by size.
    fill(&mut writer, "big", 6000, 500, 512);
    fill(&mut writer, "huge", 4, 1, 400 << 10);
    let mut c = Native::connect(&server);
    let id = c.id();
    c.send(id, &log_read(0, Direction::Forward, 0, LogFilter::all()));
    let mut all = Vec::new();
    let mut batches = Vec::new();
    loop {
        match c.recv_for(id) {
            Reply::Events(b) => {
                batches.push(b.len());
                all.extend(b);
            }
            Reply::End { count } => {
                assert_eq!(count, 6004);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(positions(&all), (0..6004).collect::<Vec<_>>());
    assert_eq!(batches, [1000, 1000, 1000, 1000, 1000, 1000, 2, 2]);
    let huge: Vec<_> = all.iter().filter(|e| e.stream == b"huge").collect();
    assert!(huge.iter().all(|e| e.data.len() == 400 << 10));
}

#[test]
fn a_read_larger_than_the_high_water_mark_pauses_and_arrives_complete() {
    let server = Spawn::in_memory(rewind()).start();
    let mut writer = Native::connect(&server);
    // 240 events of 400 KiB (96 MiB): 120 messages of two events, more
    // than the server's pipe (64 messages) and the socket buffers hold.
    fill(&mut writer, "big", 240, 4, 400 << 10);
    // A small receive buffer: the kernel holds little of what it is sent.
    let mut c = Native::with(&server, |s| {
        s.set_rcvhwm(1).unwrap();
        s.set_rcvbuf(64 << 10).unwrap();
    });
    let id = c.id();
    c.send(id, &log_read(0, Direction::Forward, 0, LogFilter::all()));
    // While this client does not read, the server serves the others.
    thread::sleep(Duration::from_millis(500));
    let mut other = Native::connect(&server);
    for _ in 0..3 {
        assert_eq!(other.call(&Request::Ping), Reply::Pong);
        fill(&mut other, "small", 1, 1, 1);
    }
    let mut next = 0u64;
    loop {
        match c.recv_for(id) {
            Reply::Events(b) => {
                assert_eq!(b.len(), 2);
                for e in b {
                    assert_eq!((e.position, e.data.len()), (next, 400 << 10));
                    next += 1;
                }
            }
            Reply::End { count } => {
                assert_eq!(count, 240, "the read is fixed when it arrives");
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(next, 240);
}

/// Receives a subscription's messages until `n` events have arrived;
/// returns them and the other replies, granting credit as it goes when
/// `grant` is set.
fn take_events(c: &mut Native, id: u64, n: usize, grant: Option<u64>) -> (Vec<Event>, Vec<Reply>) {
    let mut events = Vec::new();
    let mut others = Vec::new();
    while events.len() < n {
        match c.recv_for(id) {
            Reply::Events(b) => {
                if let Some(g) = grant {
                    c.send(
                        id,
                        &Request::Credit {
                            credit: g.min(b.len() as u64),
                        },
                    );
                }
                events.extend(b);
            }
            other => others.push(other),
        }
    }
    (events, others)
}

#[test]
fn a_subscription_sends_history_then_caught_up_then_live_events() {
    let server = Spawn::in_memory(rewind()).start();
    let mut w = Native::connect(&server);
    fill(&mut w, "s", 2500, 500, 10);
    let mut c = Native::connect(&server);
    let (id, start) = c.subscribe(Some(100), 10_000, LogFilter::all());
    assert_eq!(start, 100);
    let (history, others) = take_events(&mut c, id, 2400, None);
    assert_eq!(positions(&history), (100..2500).collect::<Vec<_>>());
    assert!(others.is_empty(), "{others:?}");
    assert_eq!(
        c.recv_for(id),
        Reply::CaughtUp {
            next_position: 2500
        }
    );
    w.append(vec![part(
        "t",
        ExpectedVersion::Any,
        vec![ev("live-1", "l")],
    )])
    .unwrap();
    let Reply::Events(live) = c.recv_for(id) else {
        panic!()
    };
    assert_eq!((live[0].position, &live[0].id[..]), (2500, &b"live-1"[..]));
    // UNSUBSCRIBE: END with the number of events sent; then it is unknown.
    c.send(id, &Request::Unsubscribe);
    assert_eq!(c.recv_for(id), Reply::End { count: 2401 });
    c.send(id, &Request::Credit { credit: 5 });
    assert_eq!(
        error_of(c.recv_for(id)).code,
        ErrorCode::UnknownSubscription
    );
    c.send(id, &Request::Unsubscribe);
    assert_eq!(
        error_of(c.recv_for(id)).code,
        ErrorCode::UnknownSubscription
    );
    w.append(vec![part(
        "t",
        ExpectedVersion::Any,
        vec![NewEvent::new("after")],
    )])
    .unwrap();
    assert!(
        c.recv_within(Duration::from_millis(300)).is_none(),
        "nothing after END"
    );
}

#[test]
fn a_filtered_subscription_from_now_skips_what_does_not_pass() {
    let server = Spawn::in_memory(rewind()).start();
    let mut w = Native::connect(&server);
    fill(&mut w, "order-0", 3, 3, 1);
    let mut c = Native::connect(&server);
    let filter = LogFilter::all()
        .with_stream_prefix("order-")
        .with_event_type("Paid");
    let (id, start) = c.subscribe(None, 100, filter);
    assert_eq!(start, 3);
    assert_eq!(c.recv_for(id), Reply::CaughtUp { next_position: 3 });
    w.append(vec![
        part(
            "order-1",
            ExpectedVersion::Any,
            vec![NewEvent::new("a").with_type("Paid")],
        ),
        part(
            "cart-1",
            ExpectedVersion::Any,
            vec![NewEvent::new("b").with_type("Paid")],
        ),
        part(
            "order-2",
            ExpectedVersion::Any,
            vec![NewEvent::new("c").with_type("Placed")],
        ),
        part(
            "order-3",
            ExpectedVersion::Any,
            vec![NewEvent::new("d").with_type("Paid")],
        ),
    ])
    .unwrap();
    let (events, _) = take_events(&mut c, id, 2, None);
    assert_eq!(positions(&events), vec![3, 6]);
}

#[test]
fn no_credit_pauses_a_subscription_and_credit_resumes_it_losing_nothing() {
    let server = Spawn::in_memory(rewind()).start();
    let mut w = Native::connect(&server);
    fill(&mut w, "s", 50, 50, 1);
    let mut c = Native::connect(&server);
    let (id, _) = c.subscribe(Some(0), 10, LogFilter::all());
    let (first, _) = take_events(&mut c, id, 10, None);
    assert_eq!(positions(&first), (0..10).collect::<Vec<_>>());
    fill(&mut w, "s", 20, 5, 1);
    assert!(
        c.recv_within(Duration::from_millis(500)).is_none(),
        "no credit, no events"
    );
    c.send(id, &Request::Credit { credit: 1000 });
    let (rest, others) = take_events(&mut c, id, 60, None);
    assert_eq!(positions(&rest), (10..70).collect::<Vec<_>>());
    assert!(
        others.is_empty() || others == vec![Reply::CaughtUp { next_position: 70 }],
        "{others:?}"
    );
}

#[test]
fn a_subscriber_that_never_reads_does_not_slow_a_writer() {
    let server = Spawn::in_memory(rewind()).start();
    let mut idle = Native::with(&server, |s| s.set_rcvhwm(1).unwrap());
    let (id, _) = idle.subscribe(None, u64::MAX, LogFilter::all());
    let mut w = Native::connect(&server);
    let t = Instant::now();
    for _ in 0..20 {
        fill(&mut w, "s", 1000, 100, 512);
        idle.send(0, &Request::Ping); // alive, if not reading
    }
    let took = t.elapsed();
    // With the idle subscriber's pipe long full, the writer went on; and
    // everyone else is served.
    assert!(took < Duration::from_secs(60), "the writer took {took:?}");
    let mut other = Native::connect(&server);
    let (oid, _) = other.subscribe(Some(19_990), 100, LogFilter::all());
    let (tail, _) = take_events(&mut other, oid, 10, None);
    assert_eq!(positions(&tail), (19_990..20_000).collect::<Vec<_>>());
    // The idle one, reading at last, gets everything in order.
    let mut seen = 0u64;
    assert!(matches!(idle.recv_for(id), Reply::CaughtUp { .. }));
    while seen < 20_000 {
        match idle.recv_for(id) {
            Reply::Events(b) => {
                for e in b {
                    assert_eq!(e.position, seen);
                    seen += 1;
                }
            }
            Reply::Heartbeat { .. } => {}
            other => panic!("{other:?}"),
        }
        if seen % 2000 == 0 {
            idle.send(0, &Request::Ping); // still here
        }
    }
}

#[test]
fn four_concurrent_writers_give_a_subscriber_no_gap_and_no_duplicate() {
    let server = Spawn::in_memory(rewind()).start();
    let mut c = Native::connect(&server);
    let (id, start) = c.subscribe(Some(0), 200, LogFilter::all());
    assert_eq!(start, 0);
    assert_eq!(c.recv_for(id), Reply::CaughtUp { next_position: 0 });
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let mut client = Native::connect(&server);
            thread::spawn(move || {
                for i in 0..250 {
                    let events = (0..4).map(|k| ev(&format!("w{w}-{i}-{k}"), "x")).collect();
                    client
                        .append(vec![part(&format!("w{w}"), ExpectedVersion::Any, events)])
                        .unwrap();
                }
            })
        })
        .collect();
    let (events, others) = take_events(&mut c, id, 4000, Some(200));
    for t in writers {
        t.join().unwrap();
    }
    assert_eq!(positions(&events), (0..4000).collect::<Vec<_>>());
    let ids: HashSet<_> = events.iter().map(|e| e.id.clone()).collect();
    assert_eq!(ids.len(), 4000);
    assert!(
        others.iter().all(|r| matches!(r, Reply::Heartbeat { .. })),
        "{others:?}"
    );
}

#[test]
fn an_idle_subscription_gets_heartbeats_with_its_position() {
    let server = Spawn::in_memory(rewind()).start();
    let mut w = Native::connect(&server);
    fill(&mut w, "a", 3, 3, 1);
    let mut c = Native::connect(&server);
    let (id, _) = c.subscribe(None, 10, LogFilter::all().with_stream_prefix("b"));
    assert_eq!(c.recv_for(id), Reply::CaughtUp { next_position: 3 });
    fill(&mut w, "a", 2, 2, 1);
    let t = Instant::now();
    assert_eq!(c.recv_for(id), Reply::Heartbeat { position: 5 });
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(500) && waited < Duration::from_millis(3000),
        "a heartbeat after {waited:?}"
    );
    c.send(id, &Request::Ping);
    assert_eq!(c.recv_for(id), Reply::Pong);
}

#[test]
fn a_subscriber_resumes_after_a_crash_and_restart_missing_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let spawn = Spawn::lmdb(rewind(), dir.path());
    let mut server = spawn.start();
    let mut w = Native::connect(&server);
    fill(&mut w, "s", 30, 10, 1);
    let mut c = Native::connect(&server);
    let (id, _) = c.subscribe(Some(0), 1000, LogFilter::all());
    let (before, _) = take_events(&mut c, id, 30, None);
    let last = before.last().unwrap().position;
    server.kill9();
    drop(c);
    drop(w);

    let server = spawn.refresh_ports().start();
    let mut w = Native::connect(&server);
    fill(&mut w, "s", 5, 5, 1);
    let mut c = Native::connect(&server);
    let (id, start) = c.subscribe(Some(last + 1), 1000, LogFilter::all());
    assert_eq!(start, 30);
    let (after, _) = take_events(&mut c, id, 5, None);
    assert_eq!(positions(&after), (30..35).collect::<Vec<_>>());
    assert_eq!(c.recv_for(id), Reply::CaughtUp { next_position: 35 });
    // The versions go on where they were.
    assert_eq!(after[0].version, 30);
}

#[test]
fn a_stopping_server_ends_subscriptions_with_shutting_down() {
    let server = Spawn::in_memory(rewind()).start();
    let mut c = Native::connect(&server);
    let (a, _) = c.subscribe(None, 10, LogFilter::all());
    let (b, _) = c.subscribe(None, 10, LogFilter::all());
    assert!(matches!(c.recv_for(a), Reply::CaughtUp { .. }));
    assert!(matches!(c.recv_for(b), Reply::CaughtUp { .. }));
    server.signal(libc::SIGTERM);
    for id in [a, b] {
        assert_eq!(error_of(c.recv_for(id)).code, ErrorCode::ShuttingDown);
    }
}
