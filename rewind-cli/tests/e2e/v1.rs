//! End-to-end tests of wire protocol v1 (the original Rewind: REQ/REP query
//! endpoint and the PUB streaming endpoint), against the real binary.

use std::collections::HashSet;

use rewind_testkit::prelude::*;

use crate::rewind;

fn ids(events: &[(Vec<u8>, Vec<u8>)]) -> Vec<Vec<u8>> {
    events.iter().map(|e| e.0.clone()).collect()
}

fn datas(events: &[(Vec<u8>, Vec<u8>)]) -> Vec<Vec<u8>> {
    events.iter().map(|e| e.1.clone()).collect()
}

/// Publishes `n` events `e0`, `e1`, ... and returns them as stored (id, data).
fn publish_n(req: &Req, n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    for i in 0..n {
        req.publish(format!("e{i}").as_bytes());
    }
    let all = req.query_all();
    assert_eq!(all.len(), n);
    all
}

#[test]
fn publish_replies_with_the_single_frame_published() {
    let server = Spawn::in_memory(rewind()).start();
    let req = server.req();
    let reply = req.request(&[b"PUBLISH".as_slice(), b"hello"]);
    assert_eq!(reply, vec![b"PUBLISHED".to_vec()], "{}", show(&reply));
}

#[test]
fn assigned_ids_are_unique_canonical_uuid_text() {
    let server = Spawn::in_memory(rewind()).start();
    let req = server.req();
    let all = publish_n(&req, 20);
    for (id, _) in &all {
        assert_canonical_uuid(id);
    }
    let unique: HashSet<_> = ids(&all).into_iter().collect();
    assert_eq!(unique.len(), 20, "ids must be unique");
}

#[test]
fn query_on_an_empty_store_is_just_end() {
    let server = Spawn::in_memory(rewind()).start();
    let req = server.req();
    let reply = req.request(&[b"QUERY".as_slice(), b"", b""]);
    assert_eq!(reply, vec![b"END".to_vec()], "{}", show(&reply));
}

#[test]
fn query_without_bounds_returns_every_event_in_publish_order_then_end() {
    let server = Spawn::in_memory(rewind()).start();
    let req = server.req();
    for i in 0..5 {
        req.publish(format!("e{i}").as_bytes());
    }
    let reply = req.request(&[b"QUERY".as_slice(), b"", b""]);
    assert_eq!(reply.len(), 11, "5 id/data pairs and END: {}", show(&reply));
    assert_eq!(reply[10], b"END");
    let data: Vec<&[u8]> = reply[..10].chunks(2).map(|c| c[1].as_slice()).collect();
    assert_eq!(
        data,
        vec![&b"e0"[..], b"e1", b"e2", b"e3", b"e4"],
        "events in publish order"
    );
}

#[test]
fn query_from_only_returns_events_after_it_exclusive() {
    let server = Spawn::in_memory(rewind()).start();
    let req = server.req();
    let all = publish_n(&req, 6);
    let got = req.query(&all[2].0, b"");
    assert_eq!(got, all[3..].to_vec());
    let got = req.query(&all[5].0, b"");
    assert!(got.is_empty(), "nothing after the last event");
}

#[test]
fn query_to_only_returns_events_up_to_it_inclusive() {
    let server = Spawn::in_memory(rewind()).start();
    let req = server.req();
    let all = publish_n(&req, 6);
    assert_eq!(req.query(b"", &all[3].0), all[..=3].to_vec());
    assert_eq!(req.query(b"", &all[0].0), all[..1].to_vec());
}

#[test]
fn query_from_and_to_is_exclusive_from_inclusive_to() {
    let server = Spawn::in_memory(rewind()).start();
    let req = server.req();
    let all = publish_n(&req, 8);
    assert_eq!(req.query(&all[1].0, &all[5].0), all[2..=5].to_vec());
    assert_eq!(req.query(&all[1].0, &all[2].0), all[2..=2].to_vec());
    assert_eq!(req.query(&all[0].0, &all[7].0), all[1..].to_vec());
}

#[test]
fn query_from_equal_to_is_empty_just_end() {
    let server = Spawn::in_memory(rewind()).start();
    let req = server.req();
    let all = publish_n(&req, 3);
    let reply = req.request(&[b"QUERY".as_slice(), &all[1].0, &all[1].0]);
    assert_eq!(reply, vec![b"END".to_vec()], "{}", show(&reply));
}

#[test]
fn query_is_capped_at_100_events_without_end_and_paging_returns_each_event_once() {
    let server = Spawn::in_memory(rewind()).start();
    let req = server.req();
    let n = 250;
    for i in 0..n {
        req.publish(format!("e{i}").as_bytes());
    }
    let expected: Vec<Vec<u8>> = (0..n).map(|i| format!("e{i}").into_bytes()).collect();

    let first = req.request(&[b"QUERY".as_slice(), b"", b""]);
    assert_eq!(
        first.len(),
        200,
        "a capped reply is exactly 100 id/data pairs and no END: {}",
        show(&first)
    );
    assert_ne!(first.last().unwrap(), b"END");

    // Paging from the last id, like the original client.
    let mut pages = Vec::new();
    let mut from = Vec::new();
    let mut all = Vec::new();
    loop {
        let p = req.page(&from, b"");
        pages.push((p.events.len(), p.end));
        if let Some(last) = p.events.last() {
            from = last.0.clone();
        }
        all.extend(p.events);
        if p.end {
            break;
        }
        assert!(pages.len() < 10, "paging does not terminate");
    }
    assert_eq!(pages, vec![(100, false), (100, false), (50, true)]);
    assert_eq!(datas(&all), expected, "every event exactly once, in order");
    let unique: HashSet<_> = ids(&all).into_iter().collect();
    assert_eq!(unique.len(), n);

    // The cap holds for a bounded range too: exactly 100 events, no END,
    // and asking again from the last id (= to) gives just END.
    let p = req.page(&all[49].0, &all[149].0);
    assert_eq!((p.events.len(), p.end), (100, false));
    assert_eq!(p.events, all[50..150].to_vec());
    let reply = req.request(&[b"QUERY".as_slice(), &all[149].0, &all[149].0]);
    assert_eq!(reply, vec![b"END".to_vec()]);
}

#[test]
fn query_with_an_unknown_from_id_is_an_error() {
    let server = Spawn::in_memory(rewind()).start();
    let req = server.req();
    publish_n(&req, 2);
    req.expect_error(
        &[b"QUERY".as_slice(), b"no-such-id", b""],
        "unknown from id",
    );
    req.expect_error(
        &[
            b"QUERY".as_slice(),
            b"00000000-0000-7000-8000-000000000000",
            b"",
        ],
        "unknown from id (well-formed UUID)",
    );
    req.assert_still_serving();
}

#[test]
fn query_with_an_unknown_to_id_is_an_error() {
    let server = Spawn::in_memory(rewind()).start();
    let req = server.req();
    let all = publish_n(&req, 2);
    req.expect_error(&[b"QUERY".as_slice(), b"", b"no-such-id"], "unknown to id");
    req.expect_error(
        &[b"QUERY".as_slice(), &all[0].0, b"no-such-id"],
        "known from, unknown to",
    );
    req.assert_still_serving();
}

#[test]
fn query_with_from_later_than_to_is_an_error() {
    let server = Spawn::in_memory(rewind()).start();
    let req = server.req();
    let all = publish_n(&req, 4);
    req.expect_error(
        &[b"QUERY".as_slice(), &all[3].0, &all[1].0],
        "from later than to",
    );
    req.assert_still_serving();
}

#[test]
fn unknown_request_types_are_errors() {
    let server = Spawn::in_memory(rewind()).start();
    let req = server.req();
    req.expect_error(&[b"FROBNICATE".as_slice()], "unknown type");
    req.expect_error(&[b"FROBNICATE".as_slice(), b"x", b"y"], "unknown type");
    req.expect_error(&[b"publish".as_slice(), b"x"], "lower-case publish");
    req.expect_error(&[b"PUBLISHED".as_slice()], "a reply word as request");
    req.expect_error(&[b"END".as_slice()], "END as request");
    req.assert_still_serving();
}

#[test]
fn an_empty_request_is_an_error() {
    let server = Spawn::in_memory(rewind()).start();
    let req = server.req();
    req.expect_error(&[b"".as_slice()], "one empty frame");
    req.expect_error(&[b"".as_slice(), b""], "two empty frames");
    req.assert_still_serving();
}

#[test]
fn publish_with_a_wrong_frame_count_is_an_error_and_stores_nothing() {
    let server = Spawn::in_memory(rewind()).start();
    let req = server.req();
    req.expect_error(&[b"PUBLISH".as_slice()], "PUBLISH without data");
    req.expect_error(
        &[b"PUBLISH".as_slice(), b"a", b"b"],
        "PUBLISH with 2 data frames",
    );
    req.expect_error(
        &[b"PUBLISH".as_slice(), b"a", b"b", b"c"],
        "PUBLISH with 3 data frames",
    );
    assert!(
        req.query_all().is_empty(),
        "a rejected PUBLISH must store nothing"
    );
    req.assert_still_serving();
}

#[test]
fn query_with_a_wrong_frame_count_is_an_error() {
    let server = Spawn::in_memory(rewind()).start();
    let req = server.req();
    publish_n(&req, 2);
    req.expect_error(&[b"QUERY".as_slice()], "QUERY alone");
    req.expect_error(&[b"QUERY".as_slice(), b""], "QUERY with one bound");
    req.expect_error(
        &[b"QUERY".as_slice(), b"", b"", b""],
        "QUERY with three bounds",
    );
    req.assert_still_serving();
}

#[test]
fn streaming_socket_sends_id_previous_id_and_data_with_an_empty_previous_id_first() {
    let server = Spawn::in_memory(rewind()).start();
    let sub = server.v1_sub();
    let req = server.req();
    for i in 0..5 {
        req.publish(format!("s{i}").as_bytes());
    }
    let stored = req.query_all();
    let mut prev: Vec<u8> = Vec::new();
    for (i, (id, data)) in stored.iter().enumerate() {
        let msg = sub.recv();
        assert_eq!(
            msg.len(),
            3,
            "streamed message must be [id, previous id, data]: {}",
            show(&msg)
        );
        assert_eq!(
            &msg[0], id,
            "streamed id of event {i} matches the stored id"
        );
        assert_eq!(
            msg[1], prev,
            "previous id of event {i} (empty for the first event ever)"
        );
        assert_eq!(&msg[2], data);
        prev = id.clone();
    }
    assert!(sub.try_recv(200).is_none(), "one message per event");
}

#[test]
fn previous_id_chain_is_kept_across_a_restart_on_the_same_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let spawn = Spawn::lmdb(rewind(), &dir.path().join("data"));
    let server = spawn.start();
    let req = server.req();
    req.publish(b"before-1");
    req.publish(b"before-2");
    let before = req.query_all();
    drop(req);
    server.stop();

    let server = spawn.clone().refresh_ports().start();
    let sub = server.v1_sub();
    let req = server.req();
    req.publish(b"after-1");
    req.publish(b"after-2");
    let all = req.query_all();
    assert_eq!(all.len(), 4);
    assert_eq!(all[..2].to_vec(), before, "events kept across the restart");

    let first = sub.recv();
    assert_eq!(
        first,
        vec![all[2].0.clone(), before[1].0.clone(), b"after-1".to_vec()],
        "first event after a restart names the last id before it as previous id: {}",
        show(&first)
    );
    let second = sub.recv();
    assert_eq!(
        second,
        vec![all[3].0.clone(), all[2].0.clone(), b"after-2".to_vec()]
    );
}
