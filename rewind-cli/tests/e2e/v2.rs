//! End-to-end tests of wire protocol v2 (Gorewind: DEALER clients on the
//! ROUTER command endpoint, and the PUB publish endpoint), against the real binary.

use std::collections::HashSet;
use std::thread;
use std::time::Duration;

use rewind_testkit::prelude::*;

use crate::rewind;

/// Publishes `n` events to `stream` pipelined in windows; returns the ids in order.
fn publish_many(
    d: &Dealer,
    stream: &[u8],
    n: usize,
    data: impl Fn(usize) -> Vec<u8>,
) -> Vec<Vec<u8>> {
    let mut ids = Vec::with_capacity(n);
    let window = 500;
    let mut i = 0;
    while i < n {
        let end = (i + window).min(n);
        for k in i..end {
            d.send(&[b"PUBLISH".as_slice(), stream, &data(k)]);
        }
        for _ in i..end {
            ids.push(parse_published(&d.recv()));
        }
        i = end;
    }
    ids
}

#[test]
fn publish_replies_published_and_a_canonical_uuid_id() {
    let server = Spawn::in_memory(rewind()).start();
    let d = server.dealer();
    d.send(&[b"PUBLISH".as_slice(), b"orders", b"{\"n\":1}"]);
    let raw = d.sock.recv_multipart(0).expect("a reply");
    assert_eq!(raw.len(), 3, "[``, PUBLISHED, id]: {}", show(&raw));
    assert!(raw[0].is_empty());
    assert_eq!(raw[1], b"PUBLISHED");
    assert_canonical_uuid(&raw[2]);
    let id2 = d.publish(b"orders", b"{\"n\":2}");
    assert_canonical_uuid(&id2);
    assert_ne!(raw[2], id2, "ids are unique");
}

#[test]
fn query_streams_one_event_message_per_event_in_order_then_end() {
    let server = Spawn::in_memory(rewind()).start();
    let d = server.dealer();
    let a0 = d.publish(b"a", b"a0");
    let b0 = d.publish(b"b", b"b0");
    let a1 = d.publish(b"a", b"a1");
    let a2 = d.publish(b"a", b"a2");

    d.send(&[b"QUERY".as_slice(), b"a", b"", b""]);
    let mut raw = Vec::new();
    for _ in 0..4 {
        raw.push(d.sock.recv_multipart(0).expect("a reply message"));
    }
    let expect =
        |id: &[u8], data: &[u8]| vec![b"".to_vec(), b"EVENT".to_vec(), id.to_vec(), data.to_vec()];
    assert_eq!(raw[0], expect(&a0, b"a0"), "{}", show(&raw[0]));
    assert_eq!(raw[1], expect(&a1, b"a1"));
    assert_eq!(raw[2], expect(&a2, b"a2"));
    assert_eq!(
        raw[3],
        vec![b"".to_vec(), b"END".to_vec()],
        "{}",
        show(&raw[3])
    );
    d.assert_silent(150, "after END");

    assert_eq!(d.query(b"b", b"", b""), vec![(b0, b"b0".to_vec())]);
}

#[test]
fn query_of_a_stream_never_written_is_just_end() {
    let server = Spawn::in_memory(rewind()).start();
    let d = server.dealer();
    d.publish(b"a", b"x");
    let reply = d.request(&[b"QUERY".as_slice(), b"nobody-wrote-here", b"", b""]);
    assert_eq!(reply, vec![b"END".to_vec()], "{}", show(&reply));
}

#[test]
fn query_bounds_are_exclusive_from_and_inclusive_to_within_the_stream() {
    let server = Spawn::in_memory(rewind()).start();
    let d = server.dealer();
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(d.publish(b"s", format!("s{i}").as_bytes()));
        d.publish(b"noise", format!("n{i}").as_bytes());
    }
    let ev = |i: usize| (ids[i].clone(), format!("s{i}").into_bytes());
    assert_eq!(
        d.query(b"s", &ids[1], b""),
        (2..6).map(ev).collect::<Vec<_>>()
    );
    assert_eq!(
        d.query(b"s", b"", &ids[2]),
        (0..=2).map(ev).collect::<Vec<_>>()
    );
    assert_eq!(
        d.query(b"s", &ids[0], &ids[4]),
        (1..=4).map(ev).collect::<Vec<_>>()
    );
    assert!(d.query(b"s", &ids[3], &ids[3]).is_empty(), "from == to");
    assert!(d.query(b"s", &ids[5], b"").is_empty(), "after the last");
}

#[test]
fn query_errors_are_one_error_message_and_nothing_after() {
    let server = Spawn::in_memory(rewind()).start();
    let d = server.dealer();
    let s0 = d.publish(b"s", b"0");
    let s1 = d.publish(b"s", b"1");
    let t0 = d.publish(b"t", b"0");
    d.expect_error(
        &[b"QUERY".as_slice(), b"s", b"no-such-id", b""],
        "unknown from id",
    );
    d.expect_error(
        &[b"QUERY".as_slice(), b"s", b"", b"no-such-id"],
        "unknown to id",
    );
    d.expect_error(&[b"QUERY".as_slice(), b"s", &s1, &s0], "from later than to");
    d.expect_error(
        &[b"QUERY".as_slice(), b"s", &t0, b""],
        "from id of another stream",
    );
    d.expect_error(
        &[b"QUERY".as_slice(), b"s", b"", &t0],
        "to id of another stream",
    );
    d.assert_still_serving();
}

#[test]
fn unknown_commands_and_wrong_frame_counts_are_errors() {
    let server = Spawn::in_memory(rewind()).start();
    let d = server.dealer();
    d.expect_error(&[b"FROBNICATE".as_slice(), b"s"], "unknown command");
    d.expect_error(&[b"".as_slice()], "empty command");
    d.expect_error(&[b"PUBLISH".as_slice()], "PUBLISH alone");
    d.expect_error(&[b"PUBLISH".as_slice(), b"s"], "PUBLISH without data");
    d.expect_error(
        &[b"PUBLISH".as_slice(), b"s", b"d", b"extra"],
        "PUBLISH with 4 frames",
    );
    d.expect_error(&[b"QUERY".as_slice(), b"s"], "QUERY with stream only");
    d.expect_error(&[b"QUERY".as_slice(), b"s", b""], "QUERY with one bound");
    d.expect_error(
        &[b"QUERY".as_slice(), b"s", b"", b"", b""],
        "QUERY with extra frame",
    );
    assert_eq!(
        d.query(b"s", b"", b""),
        vec![],
        "rejected PUBLISHes store nothing"
    );
    d.assert_still_serving();
}

#[test]
fn a_delimiter_with_no_request_is_an_error_or_dropped_and_serving_goes_on() {
    let server = Spawn::in_memory(rewind()).start();
    let d = server.dealer();
    d.sock.send(b"".as_slice(), 0).unwrap();
    if let Some(m) = d.try_recv(500) {
        assert_error_frame(&m, "delimiter only");
    }
    d.assert_still_serving();
}

#[test]
fn stream_names_of_length_0_and_256_are_errors_and_255_works() {
    let server = Spawn::in_memory(rewind()).start();
    let d = server.dealer();
    let long = vec![b'x'; 256];
    let max = vec![b'y'; 255];
    d.expect_error(
        &[b"PUBLISH".as_slice(), b"", b"data"],
        "publish to empty stream name",
    );
    d.expect_error(
        &[b"PUBLISH".as_slice(), &long, b"data"],
        "publish to 256-byte stream name",
    );
    d.expect_error(
        &[b"QUERY".as_slice(), b"", b"", b""],
        "query empty stream name",
    );
    d.expect_error(
        &[b"QUERY".as_slice(), &long, b"", b""],
        "query 256-byte stream name",
    );
    let id = d.publish(&max, b"data");
    assert_eq!(d.query(&max, b"", b""), vec![(id, b"data".to_vec())]);
    d.assert_still_serving();
}

#[test]
fn ids_longer_than_255_bytes_are_errors() {
    let server = Spawn::in_memory(rewind()).start();
    let d = server.dealer();
    let id = d.publish(b"s", b"x");
    let long = vec![b'a'; 256];
    d.expect_error(&[b"QUERY".as_slice(), b"s", &long, b""], "256-byte from id");
    d.expect_error(&[b"QUERY".as_slice(), b"s", b"", &long], "256-byte to id");
    d.expect_error(
        &[b"QUERY".as_slice(), b"s", &id, &long],
        "256-byte to id after a valid from",
    );
    let req = server.req();
    req.expect_error(&[b"QUERY".as_slice(), &long, b""], "v1: 256-byte from id");
    req.expect_error(&[b"QUERY".as_slice(), b"", &long], "v1: 256-byte to id");
    d.assert_still_serving();
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = Spawn::in_memory(rewind()).start();
    let d = server.dealer();
    // Everything is sent before any reply is read.
    for i in 0..50 {
        d.send(&[b"PUBLISH".as_slice(), b"p", format!("p{i}").as_bytes()]);
    }
    d.send(&[b"QUERY".as_slice(), b"p", b"", b""]);
    d.send(&[b"BOGUS".as_slice()]);
    d.send(&[b"PUBLISH".as_slice(), b"q", b"q0"]);
    d.send(&[b"QUERY".as_slice(), b"p", b"no-such-id", b""]);
    d.send(&[b"QUERY".as_slice(), b"q", b"", b""]);
    for i in 50..100 {
        d.send(&[b"PUBLISH".as_slice(), b"p", format!("p{i}").as_bytes()]);
    }

    let mut ids = Vec::new();
    for _ in 0..50 {
        ids.push(parse_published(&d.recv()));
    }
    let events = d.read_query().expect("first QUERY");
    let seen: Vec<String> = events
        .iter()
        .map(|e| String::from_utf8_lossy(&e.1).into_owned())
        .collect();
    let want: Vec<String> = (0..50).map(|i| format!("p{i}")).collect();
    assert_eq!(
        seen, want,
        "a pipelined QUERY must see exactly the 50 PUBLISHes sent before it, none sent after it"
    );
    assert!(
        events.iter().map(|e| &e.0).eq(ids.iter()),
        "ids as acknowledged"
    );
    assert_error_frame(&d.recv(), "BOGUS");
    let q0 = parse_published(&d.recv());
    assert!(d.read_query().is_err(), "QUERY from an unknown id");
    assert_eq!(d.read_query().expect("QUERY q"), vec![(q0, b"q0".to_vec())]);
    for _ in 50..100 {
        ids.push(parse_published(&d.recv()));
    }
    d.assert_silent(150, "all replies read");
    let all = d.query(b"p", b"", b"");
    assert_eq!(
        all,
        (0..100)
            .map(|i| (ids[i].clone(), format!("p{i}").into_bytes()))
            .collect::<Vec<_>>(),
        "replies came in request order and the events were stored in that order"
    );
}

#[test]
fn a_slow_reader_gets_every_event_of_a_large_streamed_query_exactly_once_in_order() {
    let server = Spawn::in_memory(rewind()).start();
    let writer = server.dealer();
    let n = 20_000;
    // 1 KiB per event: 20 MB in all, far beyond the socket buffers and
    // high-water marks between server and reader.
    let data = |i: usize| {
        let mut d = format!("event-{i:06}-").into_bytes();
        d.resize(1024, b'.');
        d
    };
    let ids = publish_many(&writer, b"big", n, data);

    let reader = server.dealer_with(|s| {
        s.set_rcvhwm(10).unwrap();
        s.set_rcvbuf(4096).unwrap();
    });
    reader.send(&[b"QUERY".as_slice(), b"big", b"", b""]);
    // Do not read at all for a while: the server must wait, not drop.
    thread::sleep(Duration::from_millis(1500));
    let mut got = 0usize;
    loop {
        let msg = reader.recv();
        if msg == [b"END".to_vec()] {
            break;
        }
        assert_eq!(msg.len(), 3, "EVENT message: {}", show(&msg));
        assert_eq!(msg[0], b"EVENT");
        assert!(got < n, "more events than were published");
        assert_eq!(
            (&msg[1], &msg[2]),
            (&ids[got], &data(got)),
            "event {got} out of order, duplicated or missing"
        );
        got += 1;
        if got % 2000 == 0 {
            thread::sleep(Duration::from_millis(100));
        }
    }
    assert_eq!(got, n, "the streamed query was truncated");
    reader.assert_silent(150, "after END");
}

#[test]
fn publish_socket_sends_stream_id_data_and_subscribers_filter_by_stream_prefix() {
    let server = Spawn::in_memory(rewind()).start();
    let alpha = server.v2_sub(b"alpha");
    let all = server.v2_sub(b"");
    let d = server.dealer();
    let a1 = d.publish(b"alpha", b"1");
    let b1 = d.publish(b"beta", b"2");
    let ab = d.publish(b"alphabet", b"3");
    let a2 = d.publish(b"alpha", b"4");

    let expected_alpha = [
        vec![b"alpha".to_vec(), a1.clone(), b"1".to_vec()],
        vec![b"alphabet".to_vec(), ab.clone(), b"3".to_vec()],
        vec![b"alpha".to_vec(), a2.clone(), b"4".to_vec()],
    ];
    for (i, want) in expected_alpha.iter().enumerate() {
        let got = alpha.recv();
        assert_eq!(&got, want, "alpha subscriber message {i}: {}", show(&got));
    }
    assert!(alpha.try_recv(200).is_none(), "beta must be filtered out");

    let expected_all = [
        vec![b"alpha".to_vec(), a1, b"1".to_vec()],
        vec![b"beta".to_vec(), b1, b"2".to_vec()],
        vec![b"alphabet".to_vec(), ab, b"3".to_vec()],
        vec![b"alpha".to_vec(), a2, b"4".to_vec()],
    ];
    for want in &expected_all {
        assert_eq!(&all.recv(), want);
    }
    assert!(all.try_recv(200).is_none());
}

#[test]
fn replies_go_to_the_right_dealer_among_many() {
    let server = Spawn::in_memory(rewind()).start();
    let dealers: Vec<Dealer> = (0..8).map(|_| server.dealer()).collect();
    for (i, d) in dealers.iter().enumerate() {
        for k in 0..10 {
            d.send(&[
                b"PUBLISH".as_slice(),
                format!("d{i}").as_bytes(),
                format!("{k}").as_bytes(),
            ]);
        }
        d.send(&[b"QUERY".as_slice(), format!("d{i}").as_bytes(), b"", b""]);
    }
    let mut seen = HashSet::new();
    for (i, d) in dealers.iter().enumerate() {
        let ids: Vec<Vec<u8>> = (0..10).map(|_| parse_published(&d.recv())).collect();
        let events = d.read_query().expect("query");
        assert_eq!(
            events,
            ids.iter()
                .enumerate()
                .map(|(k, id)| (id.clone(), format!("{k}").into_bytes()))
                .collect::<Vec<_>>(),
            "dealer {i} got its own replies"
        );
        for id in ids {
            assert!(seen.insert(id), "ids unique across dealers");
        }
    }
}
