//! End-to-end tests across both protocols: one event, one id; exact
//! round-trips of large, empty and binary data; bad input; many concurrent
//! clients.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use rewind_testkit::prelude::*;

use crate::rewind;

#[test]
fn an_event_published_via_v1_is_visible_via_v2_on_stream_default_with_the_same_id() {
    let server = Spawn::in_memory(rewind()).start();
    let req = server.req();
    let d = server.dealer();
    req.publish(b"from-v1");
    let v1 = req.query_all();
    assert_eq!(v1.len(), 1);
    let v2 = d.query(b"default", b"", b"");
    assert_eq!(v2, v1, "same id and data through both protocols");
    // The v1 id works as a v2 bound.
    assert!(d.query(b"default", &v1[0].0, b"").is_empty());
}

#[test]
fn an_event_published_via_v2_on_stream_default_is_visible_via_v1_with_the_same_id() {
    let server = Spawn::in_memory(rewind()).start();
    let req = server.req();
    let d = server.dealer();
    req.publish(b"one");
    let id = d.publish(b"default", b"two");
    d.publish(b"elsewhere", b"not in v1");
    req.publish(b"three");
    let v1 = req.query_all();
    let data: Vec<&[u8]> = v1.iter().map(|e| e.1.as_slice()).collect();
    assert_eq!(
        data,
        vec![&b"one"[..], b"two", b"three"],
        "v1 sees only stream default"
    );
    assert_eq!(v1[1].0, id, "same id");
    assert_eq!(
        req.query(b"", &id),
        v1[..2].to_vec(),
        "the v2 id works as a v1 bound"
    );
    assert_eq!(d.query(b"default", b"", b""), v1);
}

#[test]
fn default_stream_flag_names_the_stream_v1_works_on() {
    let server = Spawn::in_memory(rewind())
        .arg("--default-stream")
        .arg("legacy")
        .start();
    let req = server.req();
    let d = server.dealer();
    req.publish(b"old");
    let v1 = req.query_all();
    assert_eq!(d.query(b"legacy", b"", b""), v1);
    assert!(d.query(b"default", b"", b"").is_empty());
}

#[test]
fn v1_streaming_and_v2_publish_sockets_carry_the_same_id_for_one_event() {
    let server = Spawn::in_memory(rewind()).start();
    let s1 = server.v1_sub();
    let s2 = server.v2_sub(b"");
    let req = server.req();
    req.publish(b"hello");
    let m1 = s1.recv();
    let m2 = s2.recv();
    assert_eq!(m1.len(), 3, "{}", show(&m1));
    assert_eq!(
        m2,
        vec![b"default".to_vec(), m1[0].clone(), b"hello".to_vec()],
        "{}",
        show(&m2)
    );
}

fn binary_all_bytes() -> Vec<u8> {
    let mut d: Vec<u8> = (0..=255u8).collect();
    d.extend((0..=255u8).rev());
    d.extend_from_slice(b"\0END\0ERROR \r\n\xff\xfe");
    d
}

fn mib() -> Vec<u8> {
    (0..1024 * 1024)
        .map(|i: usize| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

#[test]
fn large_empty_and_binary_events_round_trip_exactly_via_v1() {
    let server = Spawn::in_memory(rewind()).start();
    let sub = server.v1_sub();
    let req = server.req();
    let payloads = vec![
        mib(),
        Vec::new(),
        binary_all_bytes(),
        b"END".to_vec(),
        b"ERROR x".to_vec(),
    ];
    for p in &payloads {
        req.publish(p);
    }
    let all = req.query_all();
    let got: Vec<Vec<u8>> = all.iter().map(|e| e.1.clone()).collect();
    assert_eq!(got.len(), payloads.len());
    for (i, (g, p)) in got.iter().zip(&payloads).enumerate() {
        assert!(
            g == p,
            "payload {i} changed: {} bytes back for {} sent",
            g.len(),
            p.len()
        );
    }
    for (i, p) in payloads.iter().enumerate() {
        let m = sub.recv();
        assert_eq!(m.len(), 3);
        assert!(&m[2] == p, "streamed payload {i} changed");
    }
}

#[test]
fn large_empty_and_binary_events_round_trip_exactly_via_v2() {
    let server = Spawn::in_memory(rewind()).start();
    let sub = server.v2_sub(b"bin");
    let d = server.dealer();
    let payloads = vec![mib(), Vec::new(), binary_all_bytes()];
    let binary_stream = b"bin\0\xff\x01stream".to_vec();
    let mut ids = Vec::new();
    for p in &payloads {
        ids.push(d.publish(&binary_stream, p));
    }
    let all = d.query(&binary_stream, b"", b"");
    assert_eq!(all.len(), payloads.len());
    for (i, ((id, g), p)) in all.iter().zip(&payloads).enumerate() {
        assert_eq!(id, &ids[i]);
        assert!(
            g == p,
            "payload {i} changed: {} bytes back for {} sent",
            g.len(),
            p.len()
        );
    }
    for (i, p) in payloads.iter().enumerate() {
        let m = sub.recv();
        assert_eq!(m.len(), 3);
        assert_eq!(m[0], binary_stream);
        assert!(&m[2] == p, "published payload {i} changed");
    }
}

#[test]
fn an_oversized_message_gets_an_error_and_the_server_keeps_serving() {
    let server = Spawn::in_memory(rewind())
        .arg("--max-message-size")
        .arg("1024")
        .start();
    let req = server.req();
    let d = server.dealer();
    let big = vec![b'x'; 2048];
    req.expect_error(
        &[b"PUBLISH".as_slice(), &big],
        "v1 2 KiB publish over a 1 KiB limit",
    );
    d.expect_error(
        &[b"PUBLISH".as_slice(), b"s", &big],
        "v2 2 KiB publish over a 1 KiB limit",
    );
    assert!(
        req.query_all().is_empty(),
        "the oversized event was not stored"
    );
    assert!(
        d.query(b"s", b"", b"").is_empty(),
        "the oversized event was not stored"
    );
    req.publish(&[b'y'; 100]);
    d.publish(b"s", &[b'z'; 100]);
    req.assert_still_serving();
    d.assert_still_serving();
}

#[test]
fn requests_with_hundreds_of_frames_get_errors() {
    let server = Spawn::in_memory(rewind()).start();
    let req = server.req();
    let d = server.dealer();
    let mut frames: Vec<Vec<u8>> = vec![b"PUBLISH".to_vec()];
    frames.extend((0..500).map(|i| format!("f{i}").into_bytes()));
    req.expect_error(&frames, "v1 PUBLISH with 500 data frames");
    frames[0] = b"QUERY".to_vec();
    req.expect_error(&frames, "v1 QUERY with 500 frames");
    d.expect_error(&frames, "v2 QUERY with 500 frames");
    frames[0] = b"PUBLISH".to_vec();
    d.expect_error(&frames, "v2 PUBLISH with 500 frames");
    let empties = vec![Vec::<u8>::new(); 300];
    req.expect_error(&empties, "v1: 300 empty frames");
    assert!(req.query_all().is_empty());
    req.assert_still_serving();
    d.assert_still_serving();
}

#[test]
fn a_message_without_an_envelope_does_not_crash_the_server() {
    let mut server = Spawn::in_memory(rewind()).start();
    // A raw DEALER on the v1 endpoint, without the empty delimiter REQ adds.
    let raw = server.raw(zmq::DEALER, &server.endpoints.query.clone());
    raw.send_multipart([&b"PUBLISH"[..], b"no envelope"], 0)
        .unwrap();
    raw.send_multipart([&b"QUERY"[..], b"", b""], 0).unwrap();
    raw.send(&b"x"[..], 0).unwrap();
    // The same on the v2 endpoint.
    let raw2 = server.raw(zmq::DEALER, &server.endpoints.command.clone());
    raw2.send_multipart([&b"PUBLISH"[..], b"s", b"no envelope"], 0)
        .unwrap();
    raw2.send_multipart([&b"QUERY"[..], b"s", b"", b""], 0)
        .unwrap();
    thread::sleep(Duration::from_millis(300));
    // Whatever came back (if anything), the raw sockets must not have
    // wedged the server.
    while raw.poll(zmq::POLLIN, 0).unwrap() > 0 {
        raw.recv_multipart(0).unwrap();
    }
    server.assert_running();
    server.req().assert_still_serving();
    server.dealer().assert_still_serving();
    // A REQ on the v2 endpoint (its envelope is the delimiter v2 expects).
    let req_on_v2 = server.raw(zmq::REQ, &server.endpoints.command.clone());
    req_on_v2
        .send_multipart([&b"PUBLISH"[..], b"s", b"via REQ"], 0)
        .unwrap();
    let _ = req_on_v2.poll(zmq::POLLIN, 500);
    server.assert_running();
    server.dealer().assert_still_serving();
}

#[test]
fn clients_that_disconnect_mid_request_do_not_disturb_the_server() {
    let mut server = Spawn::in_memory(rewind()).start();
    let d = server.dealer();
    for i in 0..300 {
        d.send(&[b"PUBLISH".as_slice(), b"s", format!("{i}").as_bytes()]);
    }
    for _ in 0..300 {
        parse_published(&d.recv());
    }
    let req = server.req();
    for i in 0..150 {
        req.publish(format!("{i}").as_bytes());
    }
    for _ in 0..20 {
        // v1: a QUERY (capped reply) and a PUBLISH, then gone before the reply.
        let r = server.ctx.socket(zmq::REQ).unwrap();
        r.set_linger(1000).unwrap();
        r.connect(&server.endpoints.query).unwrap();
        r.send_multipart([&b"QUERY"[..], b"", b""], 0).unwrap();
        drop(r);
        let r = server.ctx.socket(zmq::REQ).unwrap();
        r.set_linger(1000).unwrap();
        r.connect(&server.endpoints.query).unwrap();
        r.send_multipart([&b"PUBLISH"[..], b"gone"], 0).unwrap();
        drop(r);
        // v2: a streamed QUERY read for one message only, then gone.
        let g = server.dealer();
        g.send(&[b"QUERY".as_slice(), b"s", b"", b""]);
        let first = g.recv();
        assert_eq!(first[0], b"EVENT");
        drop(g);
    }
    thread::sleep(Duration::from_millis(200));
    server.assert_running();
    let all = d.query(b"s", b"", b"");
    assert_eq!(
        all.len(),
        300,
        "a full query still works after the disconnects"
    );
    req.assert_still_serving();
    d.assert_still_serving();
}

#[test]
fn a_client_that_stops_reading_a_streamed_query_does_not_stall_other_clients() {
    let server = Spawn::in_memory(rewind()).start();
    let d = server.dealer();
    let mut blob = vec![b'.'; 10 * 1024];
    for i in 0..2000usize {
        blob[..8].copy_from_slice(&(i as u64).to_be_bytes());
        d.send(&[b"PUBLISH".as_slice(), b"big", &blob]);
        if i % 500 == 499 {
            for _ in 0..500 {
                parse_published(&d.recv());
            }
        }
    }
    // 20 MB of result for a client that never reads it (but stays connected).
    let stalled = server.dealer_with(|s| s.set_rcvhwm(1).unwrap());
    stalled.send(&[b"QUERY".as_slice(), b"big", b"", b""]);
    thread::sleep(Duration::from_millis(500));
    // Everyone else is still served, through both protocols.
    let req = server.req();
    for i in 0..10 {
        req.publish(format!("other-{i}").as_bytes());
    }
    assert_eq!(req.query_all().len(), 10);
    let other = server.dealer();
    other.publish(b"small", b"x");
    assert_eq!(other.query(b"small", b"", b"").len(), 1);
    // And the stalled client, once it reads, still gets everything.
    let mut n = 0;
    loop {
        let m = stalled.recv();
        if m == [b"END".to_vec()] {
            break;
        }
        assert_eq!(m[0], b"EVENT");
        assert_eq!(&m[2][..8], &(n as u64).to_be_bytes());
        n += 1;
    }
    assert_eq!(n, 2000);
}

#[test]
fn many_concurrent_req_clients_every_acknowledged_event_is_stored_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Spawn::lmdb(rewind(), &dir.path().join("data")).start();
    let clients = 32;
    let per_client = 50;
    let barrier = Arc::new(Barrier::new(clients));
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let req = server.req();
            let barrier = barrier.clone();
            thread::spawn(move || {
                barrier.wait();
                for n in 0..per_client {
                    req.publish(&tagged(c, n));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a client thread failed");
    }
    let all = server.req().query_all();
    assert_eq!(
        all.len(),
        clients * per_client,
        "every acknowledged event stored, none extra"
    );
    let ids: HashSet<&Vec<u8>> = all.iter().map(|e| &e.0).collect();
    assert_eq!(ids.len(), all.len(), "ids are unique");
    for (id, _) in &all {
        assert_canonical_uuid(id);
    }
    // Exactly once each, and each client's events in the order it sent them.
    let mut next: HashMap<usize, usize> = HashMap::new();
    for (_, data) in &all {
        let text = String::from_utf8(data.clone()).unwrap();
        let mut parts = text.split('-');
        let c: usize = parts.nth(1).unwrap().parse().unwrap();
        let n: usize = parts.nth(1).unwrap().parse().unwrap();
        let want = next.entry(c).or_insert(0);
        assert_eq!(n, *want, "client {c}: events out of order or duplicated");
        *want += 1;
    }
    assert!(next.values().all(|&v| v == per_client));
    // The v2 view of stream default agrees.
    assert_eq!(server.dealer().query(b"default", b"", b""), all);
}

#[test]
fn many_concurrent_dealers_pipelining_get_unique_ids_that_are_all_stored() {
    let dir = tempfile::tempdir().unwrap();
    let server = Spawn::lmdb(rewind(), &dir.path().join("data")).start();
    let clients = 8;
    let per_client = 200;
    let barrier = Arc::new(Barrier::new(clients));
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let d = server.dealer();
            let barrier = barrier.clone();
            thread::spawn(move || {
                barrier.wait();
                // Half the clients share a stream, half have their own.
                let stream = if c % 2 == 0 {
                    "shared".to_string()
                } else {
                    format!("own-{c}")
                };
                for n in 0..per_client {
                    d.send(&[b"PUBLISH".as_slice(), stream.as_bytes(), &tagged(c, n)]);
                }
                let ids: Vec<Vec<u8>> = (0..per_client)
                    .map(|_| parse_published(&d.recv()))
                    .collect();
                (c, stream, ids)
            })
        })
        .collect();
    let results: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("client thread"))
        .collect();
    let d = server.dealer();
    let mut all_ids = HashSet::new();
    let mut shared_expected = HashMap::new();
    for (c, stream, ids) in &results {
        for (n, id) in ids.iter().enumerate() {
            assert!(all_ids.insert(id.clone()), "duplicate id");
            if stream == "shared" {
                shared_expected.insert(id.clone(), tagged(*c, n));
            }
        }
        if stream != "shared" {
            let got = d.query(stream.as_bytes(), b"", b"");
            let want: Vec<Ev> = ids
                .iter()
                .enumerate()
                .map(|(n, id)| (id.clone(), tagged(*c, n)))
                .collect();
            assert_eq!(got, want, "stream {stream}");
        }
    }
    let shared = d.query(b"shared", b"", b"");
    assert_eq!(shared.len(), shared_expected.len());
    for (id, data) in &shared {
        assert_eq!(
            shared_expected.get(id),
            Some(data),
            "every acknowledged id stored once with its data"
        );
    }
    // Each client's events keep their send order within the shared stream.
    let pos: HashMap<&Vec<u8>, usize> = shared.iter().enumerate().map(|(i, e)| (&e.0, i)).collect();
    for (_, stream, ids) in &results {
        if stream == "shared" {
            let p: Vec<usize> = ids.iter().map(|id| pos[id]).collect();
            assert!(
                p.windows(2).all(|w| w[0] < w[1]),
                "a dealer's pipelined publishes kept their order"
            );
        }
    }
}

#[test]
fn v1_streaming_carries_only_the_default_stream_with_its_own_previous_id_chain() {
    let server = Spawn::in_memory(rewind()).start();
    let sub = server.v1_sub();
    let req = server.req();
    let d = server.dealer();
    req.publish(b"a");
    d.publish(b"other", b"not v1");
    let b = d.publish(b"default", b"b");
    d.publish(b"other", b"not v1 either");
    req.publish(b"c");
    let all = req.query_all();
    assert_eq!(all.len(), 3);
    assert_eq!(all[1].0, b);
    let mut prev = Vec::new();
    for (id, data) in &all {
        let m = sub.recv();
        assert_eq!(
            m,
            vec![id.clone(), prev.clone(), data.clone()],
            "v1 streaming: events of stream default only, chained by their previous id: {}",
            show(&m)
        );
        prev = id.clone();
    }
    assert!(
        sub.try_recv(200).is_none(),
        "events of other streams are not on the v1 streaming socket"
    );
}

#[test]
fn streamed_events_are_already_stored_and_come_in_commit_order_under_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    let server = Spawn::lmdb(rewind(), &dir.path().join("data")).start();
    let s1 = server.v1_sub();
    let s2 = server.v2_sub(b"");
    let clients = 16;
    let per_client = 25;
    let total = clients * per_client;
    let barrier = Arc::new(Barrier::new(clients));
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let req = server.req();
            let barrier = barrier.clone();
            thread::spawn(move || {
                barrier.wait();
                for n in 0..per_client {
                    req.publish(&tagged(c, n));
                }
            })
        })
        .collect();
    // While they publish, every streamed id must already be queryable.
    let checker = server.req();
    let mut streamed = Vec::new();
    for i in 0..total {
        let m = s1.recv();
        assert_eq!(m.len(), 3, "{}", show(&m));
        if i % 20 == 0 {
            let upto = checker.query_all_range(b"", &m[0]);
            assert_eq!(
                upto.last().map(|e| &e.0),
                Some(&m[0]),
                "a streamed event is stored before it is streamed"
            );
        }
        streamed.push(m);
    }
    for h in handles {
        h.join().expect("client thread");
    }
    let all = checker.query_all();
    assert_eq!(all.len(), total);
    let mut prev = Vec::new();
    for (i, (m, (id, data))) in streamed.iter().zip(&all).enumerate() {
        assert_eq!(
            (&m[0], &m[2]),
            (id, data),
            "streamed message {i} is not the stored event {i}"
        );
        assert_eq!(m[1], prev, "previous id of message {i}");
        prev = id.clone();
    }
    for (i, (id, data)) in all.iter().enumerate() {
        let m = s2.recv();
        assert_eq!(
            m,
            vec![b"default".to_vec(), id.clone(), data.clone()],
            "v2 publish message {i} in commit order"
        );
    }
    assert!(s1.try_recv(100).is_none() && s2.try_recv(100).is_none());
}

#[test]
fn the_default_maximum_message_size_is_16_mib() {
    let server = Spawn::in_memory(rewind()).start();
    let req = server.req();
    let fits = vec![b'a'; 15 << 20];
    req.publish(&fits);
    let too_big = vec![b'b'; 17 << 20];
    req.expect_error(&[b"PUBLISH".as_slice(), &too_big], "17 MiB publish");
    let all = req.query_all();
    assert_eq!(all.len(), 1);
    assert!(all[0].1 == fits);
    req.assert_still_serving();
}
