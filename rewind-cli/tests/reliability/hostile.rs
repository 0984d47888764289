//! Hostile input over the wire: oversized frames, hundreds of frames, empty
//! frames, invalid ids and stream names, random messages, raw TCP garbage,
//! and clients that disconnect in the middle of a request. The server must
//! answer what it can, never crash, and keep its memory and file
//! descriptors bounded.
//!
//! Long: `REWIND_HOSTILE_ROUNDS=200 cargo test --release -p rewind-cli --test reliability hostile::`.

use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use rewind_testkit::prelude::*;

use crate::rewind;

const MAX_MESSAGE: usize = 1 << 20;

fn is_error(r: &[Vec<u8>]) -> bool {
    r.len() == 1 && r[0].starts_with(b"ERROR ") && r[0].len() > 6 && !r[0].contains(&b'\n')
}

fn expect_error(r: Vec<Vec<u8>>, what: &str) {
    assert!(
        is_error(&r),
        "{what}: expected one ERROR frame, got {}",
        show(&r)
    );
}

/// Reads replies to one v2 request until it is complete: PUBLISHED, ERROR,
/// QUIT, or a streamed query up to END. Panics on any other shape.
fn v2_complete_reply(v2: &Dealer, what: &str) {
    loop {
        let r = v2.recv();
        match r.first().map(Vec::as_slice) {
            Some(b"PUBLISHED") if r.len() == 2 => return,
            Some(b"EVENT") if r.len() == 3 => continue,
            Some(b"END") if r.len() == 1 => return,
            _ if is_error(&r) => return,
            _ => panic!("{what}: malformed v2 reply {}", show(&r)),
        }
    }
}

fn v1_reply_is_well_formed(r: &[Vec<u8>]) -> bool {
    is_error(r)
        || r == [b"PUBLISHED".to_vec()]
        || (r.len() % 2 == 1 && r.last().unwrap() == b"END")
        || r.len() == 200
}

/// A random frame: empty, short text, an id-like string, or random bytes
/// (sometimes long).
fn random_frame(rng: &mut Rng) -> Vec<u8> {
    match rng.below(8) {
        0 => Vec::new(),
        1 => b"PUBLISH".to_vec(),
        2 => b"QUERY".to_vec(),
        3 => vec![b'i'; 250 + rng.below(10) as usize],
        4 => (0..rng.below(100_000))
            .map(|_| rng.next_u64() as u8)
            .collect(),
        _ => (0..rng.below(40)).map(|_| rng.next_u64() as u8).collect(),
    }
}

fn random_message(rng: &mut Rng) -> Vec<Vec<u8>> {
    let n = match rng.below(10) {
        0 => 200 + rng.below(300) as usize,
        _ => 1 + rng.below(5) as usize,
    };
    let mut m: Vec<Vec<u8>> = (0..n).map(|_| random_frame(rng)).collect();
    if rng.below(2) == 0 {
        m[0] = if rng.below(2) == 0 {
            b"PUBLISH".to_vec()
        } else {
            b"QUERY".to_vec()
        };
    }
    m
}

/// One round of every kind of hostile client.
fn hostile_round(
    ctx: &zmq::Context,
    server: &mut Rewind,
    rng: &mut Rng,
    known_id: &[u8],
    other_id: &[u8],
) {
    let v1 = Req::connect(ctx, server);
    let v2 = Dealer::connect(ctx, server);

    // Oversized (over --max-message-size, under the transport's hard limit).
    expect_error(
        v1.request(&[b"PUBLISH".as_slice(), &vec![b'o'; MAX_MESSAGE + 1]]),
        "v1 oversized",
    );
    expect_error(
        v2.request(&[b"PUBLISH".as_slice(), b"s", &vec![b'o'; MAX_MESSAGE + 1]]),
        "v2 oversized",
    );
    // Hundreds of frames; empty frames; a lone empty frame.
    let many: Vec<Vec<u8>> = std::iter::once(b"PUBLISH".to_vec())
        .chain((0..500).map(|i| vec![b'f'; i % 3]))
        .collect();
    expect_error(v1.request(&many), "v1 500 frames");
    expect_error(v2.request(&many), "v2 500 frames");
    expect_error(v1.request(&[b"".as_slice()]), "v1 empty frame");
    expect_error(v2.request(&[b"".as_slice()]), "v2 empty frame");
    expect_error(
        v2.request(&[b"".as_slice(), b"", b"", b""]),
        "v2 empty frames",
    );
    // Invalid ids and stream names.
    let long = vec![b'x'; 256];
    expect_error(
        v1.request(&[b"QUERY".as_slice(), &long, b""]),
        "v1 long from",
    );
    expect_error(v1.request(&[b"QUERY".as_slice(), b"", &long]), "v1 long to");
    expect_error(
        v1.request(&[b"QUERY".as_slice(), b"no-such-id", b""]),
        "v1 unknown id",
    );
    expect_error(
        v1.request(&[b"QUERY".as_slice(), &[0xff, 0, 0xfe][..], b""]),
        "v1 binary id",
    );
    expect_error(
        v2.request(&[b"PUBLISH".as_slice(), b"", b"d"]),
        "v2 empty stream",
    );
    expect_error(
        v2.request(&[b"PUBLISH".as_slice(), &long, b"d"]),
        "v2 long stream",
    );
    expect_error(
        v2.request(&[b"QUERY".as_slice(), &long, b"", b""]),
        "v2 long stream query",
    );
    expect_error(
        v2.request(&[b"QUERY".as_slice(), b"hostile-big", other_id, b""]),
        "v2 id of another stream",
    );
    expect_error(
        v2.request(&[b"QUERY".as_slice(), b"hostile-big", b"", b"\x00"]),
        "v2 unknown to",
    );

    // Random messages on both protocols: every one gets a well-formed reply.
    for _ in 0..20 {
        let m = random_message(rng);
        let r = v1.request(&m);
        assert!(v1_reply_is_well_formed(&r), "v1 random: {}", show(&r));
        v2.send(&random_message(rng));
        v2_complete_reply(&v2, "v2 random");
    }

    // A DEALER without the empty delimiter: dropped, the connection still works.
    {
        let raw = socket(ctx, zmq::DEALER, &server.endpoints.command);
        raw.send_multipart([b"PUBLISH".as_slice(), b"s", b"d"], 0)
            .unwrap();
        raw.send_multipart([b"".as_slice(), b"QUERY", b"hostile-big", b"", known_id], 0)
            .unwrap();
        let r = recv(&raw, "after a message without delimiter");
        assert!(r.len() >= 2 && r[0].is_empty(), "{}", show(&r));
    }

    // Over the transport's hard limit: the connection is dropped, no reply.
    {
        let req = socket(ctx, zmq::REQ, &server.endpoints.query);
        req.send_multipart([b"PUBLISH".as_slice(), &vec![b'h'; 5 * MAX_MESSAGE]], 0)
            .unwrap();
        assert!(recv_within(&req, Duration::from_millis(200)).is_none());
    }

    // Clients that disconnect mid-request: a huge QUERY, pipelined
    // PUBLISHes, a REQ publish, all closed without reading the reply.
    for _ in 0..10 {
        let d = socket(ctx, zmq::DEALER, &server.endpoints.command);
        d.send_multipart([b"".as_slice(), b"QUERY", b"hostile-big", b"", b""], 0)
            .unwrap();
        drop(d);
        let d = socket(ctx, zmq::DEALER, &server.endpoints.command);
        for i in 0..20 {
            d.send_multipart(
                [
                    b"".as_slice(),
                    b"PUBLISH",
                    b"hostile-gone",
                    format!("{i}").as_bytes(),
                ],
                0,
            )
            .unwrap();
        }
        drop(d);
        let r = socket(ctx, zmq::REQ, &server.endpoints.query);
        r.send_multipart([b"PUBLISH".as_slice(), b"bye"], 0)
            .unwrap();
        drop(r);
        let r = socket(ctx, zmq::REQ, &server.endpoints.query);
        r.send_multipart([b"QUERY".as_slice(), b"", b""], 0)
            .unwrap();
        drop(r);
    }

    // Raw TCP: garbage, a half greeting, and nothing at all.
    for ep in [&server.endpoints.query, &server.endpoints.command] {
        let addr = ep.trim_start_matches("tcp://");
        let junk: Vec<u8> = (0..rng.below(5000)).map(|_| rng.next_u64() as u8).collect();
        if let Ok(mut s) = TcpStream::connect(addr) {
            let _ = s.write_all(&junk);
        }
        if let Ok(mut s) = TcpStream::connect(addr) {
            // A ZMTP 3 signature, then a frame header announcing 2^62 bytes.
            let _ = s.write_all(&[0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 3, 0]);
            let _ = s.write_all(&[0u8; 52]);
            let _ = s.write_all(&[0x06, 0x40, 0, 0, 0, 0, 0, 0, 0]);
            thread::sleep(Duration::from_millis(5));
        }
        drop(TcpStream::connect(addr));
    }

    server.assert_running();
    // The honest clients are still served.
    v1.publish(b"still-here");
    assert!(v2.try_query(b"hostile-big", b"", known_id).unwrap().len() == 1);
}

#[test]
fn hostile_clients_never_crash_the_server_nor_grow_its_memory_or_fds() {
    let _turn = crate::TURNS.take(module_path!());
    let dir = tempdir("hostile");
    let mut server = ServerSpec::lmdb(rewind(), &dir.path().join("store"))
        .arg("--max-message-size")
        .arg(MAX_MESSAGE.to_string())
        .start();
    let ctx = zmq::Context::new();
    let mut rng = Rng::from_env("hostile");
    let v2 = Dealer::connect(&ctx, &server);
    let ids = v2.publish_pipelined(b"hostile-big", 5000, 256, |i| {
        format!("big-{i}-{}", "y".repeat(200)).into_bytes()
    });
    let other = v2.publish(b"hostile-other", b"x");
    drop(v2);
    let rounds = env_usize("REWIND_HOSTILE_ROUNDS", 6).max(3);
    let t = Instant::now();
    hostile_round(&ctx, &mut server, &mut rng, &ids[0], &other);
    hostile_round(&ctx, &mut server, &mut rng, &ids[0], &other);
    thread::sleep(Duration::from_millis(300));
    let fds_start = server.fd_count();
    let mem_start = server.mem();
    for _ in 2..rounds {
        hostile_round(&ctx, &mut server, &mut rng, &ids[0], &other);
    }
    thread::sleep(Duration::from_millis(300));
    let mem_end = server.mem();
    let fds_end = server.fd_count_settled(fds_start, Duration::from_secs(5));
    eprintln!(
        "[hostile] {rounds} rounds in {:?}; RssAnon {} -> {} KiB, VmRSS {} -> {} KiB, fds {fds_start} -> {fds_end}",
        t.elapsed(),
        mem_start.rss_anon,
        mem_end.rss_anon,
        mem_start.vm_rss,
        mem_end.vm_rss
    );
    assert!(
        mem_end.rss_anon < mem_start.rss_anon + 24 * 1024,
        "anonymous memory grew from {} to {} KiB",
        mem_start.rss_anon,
        mem_end.rss_anon
    );
    assert!(
        fds_end <= fds_start,
        "fds grew from {fds_start} to {fds_end}"
    );
    // The store is intact.
    let v2 = Dealer::connect(&ctx, &server);
    let got = v2.try_query(b"hostile-big", b"", b"").unwrap();
    assert_eq!(got.len(), ids.len());
    assert!(got.iter().zip(&ids).all(|(g, id)| &g.0 == id));
    drop(v2);
    server.stop();
}

/// Publishes `n` events through a REQ client, one at a time; events per second.
fn req_rate(ctx: &zmq::Context, server: &Rewind, n: usize) -> f64 {
    let req = Req::connect(ctx, server);
    let t = Instant::now();
    for i in 0..n {
        req.publish(format!("rate-{i}").as_bytes());
    }
    n as f64 / t.elapsed().as_secs_f64()
}

/// A v2 client that asks for a long QUERY and then does not read its reply
/// must not slow down anyone else.
///
/// Regression: the server polled its ROUTER for POLLOUT while a peer was
/// blocked; a ROUTER reports POLLOUT when *any* peer's pipe has room, so the
/// loop woke at once, found the stalled peer still blocked and slept 1 ms on
/// every iteration (REQ publishes fell from ~8,000/s to ~430/s).
#[test]
fn stalled_query_reader_never_slows_down_other_clients() {
    let _turn = crate::TURNS.take(module_path!());
    let server = ServerSpec::in_memory(rewind()).start();
    let ctx = zmq::Context::new();
    let v2 = Dealer::connect(&ctx, &server);
    v2.publish_pipelined(b"long", 20_000, 256, |i| vec![b'q'; 100 + i % 7]);
    req_rate(&ctx, &server, 200);
    let base = req_rate(&ctx, &server, 1000);
    let stalled = ctx.socket(zmq::DEALER).unwrap();
    stalled.set_linger(0).unwrap();
    stalled.set_rcvhwm(1).unwrap();
    stalled.set_rcvbuf(4096).unwrap();
    stalled.connect(&server.endpoints.command).unwrap();
    stalled
        .send_multipart([b"".as_slice(), b"QUERY", b"long", b"", b""], 0)
        .unwrap();
    thread::sleep(Duration::from_millis(500));
    // The stall lasts through every attempt, so the regression this test
    // pins down (a 20x slowdown) fails all three; a moment of load on a
    // shared machine fails one at most.
    let mut rates = Vec::new();
    for _ in 0..3 {
        let with = req_rate(&ctx, &server, 1000);
        rates.push(with);
        if with > base * 0.4 {
            break;
        }
    }
    eprintln!(
        "[slow-reader] REQ publishes: {base:.0}/s, {rates:.0?}/s with a stalled QUERY reader"
    );
    let best = rates.iter().copied().fold(0.0, f64::max);
    assert!(
        best > base * 0.4,
        "a stalled QUERY reader slowed REQ publishing from {base:.0}/s to {rates:.0?}/s"
    );
    // And the stalled reader still gets its whole reply once it reads.
    let mut n = 0;
    loop {
        let m = recv(&stalled, "the stalled query");
        if m[1] == b"END" {
            break;
        }
        n += 1;
    }
    assert_eq!(n, 20_000);
}
