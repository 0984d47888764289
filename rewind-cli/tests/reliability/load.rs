//! Load and soak: many concurrent clients and subscribers, a long stream of
//! events with resident memory measured, and thousands of connects and
//! disconnects with file descriptors counted.
//!
//! Fast: part of `cargo test -p rewind-cli`.
//! Long: `scripts/soak.sh [EVENTS]` (REWIND_SOAK_EVENTS, default 1,000,000;
//! REWIND_FD_CYCLES for the connect/disconnect count).

use std::collections::HashSet;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use rewind_testkit::prelude::*;

use crate::rewind;

#[test]
fn two_hundred_req_clients_and_a_thousand_subscribers_are_served() {
    let _turn = crate::TURNS.take(module_path!());
    let limit = raise_fd_limit(8192);
    assert!(
        limit >= 4096,
        "the open-file limit ({limit}) is too low for this test"
    );
    let dir = tempdir("load");
    let server = ServerSpec::lmdb(rewind(), &dir.path().join("store")).start();
    let n_subs = env_usize("REWIND_LOAD_SUBSCRIBERS", 1000);
    let n_clients = env_usize("REWIND_LOAD_CLIENTS", 200);
    let per_client = 5;

    // A thousand subscribers, half on each publish socket, spread over
    // several contexts (a context holds at most 1023 sockets).
    let contexts: Vec<zmq::Context> = (0..n_subs.div_ceil(250))
        .map(|_| zmq::Context::new())
        .collect();
    let subs: Vec<(bool, zmq::Socket)> = (0..n_subs)
        .map(|i| {
            let v1 = i % 2 == 0;
            let s = contexts[i / 250].socket(zmq::SUB).unwrap();
            s.set_linger(0).unwrap();
            s.set_rcvhwm(0).unwrap();
            s.set_subscribe(b"").unwrap();
            let ep = if v1 {
                &server.endpoints.streaming
            } else {
                &server.endpoints.publish
            };
            s.connect(ep).unwrap();
            (v1, s)
        })
        .collect();
    // Every subscription is in place once each subscriber got a probe.
    let ctx = zmq::Context::new();
    let probe = Dealer::connect(&ctx, &server);
    let mut settled = vec![false; n_subs];
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut probes = 0;
    while settled.iter().any(|s| !s) {
        assert!(Instant::now() < deadline, "subscriptions never settled");
        probe.publish(b"default", b"probe");
        probes += 1;
        thread::sleep(Duration::from_millis(50));
        for (i, (_, s)) in subs.iter().enumerate() {
            while s.recv_multipart(zmq::DONTWAIT).is_ok() {
                settled[i] = true;
            }
        }
    }
    thread::sleep(Duration::from_millis(200));
    for (_, s) in &subs {
        while s.recv_multipart(zmq::DONTWAIT).is_ok() {}
    }
    let before = server.fd_count();

    // Two hundred REQ clients at once.
    let barrier = Arc::new(Barrier::new(n_clients));
    let t = Instant::now();
    let clients: Vec<_> = (0..n_clients)
        .map(|c| {
            let ctx = ctx.clone();
            let ep = server.endpoints.query.clone();
            let barrier = barrier.clone();
            thread::spawn(move || {
                let req = Req::on(socket(&ctx, zmq::REQ, &ep));
                barrier.wait();
                for k in 0..per_client {
                    req.publish(format!("load-c{c}-e{k}").as_bytes());
                }
                let page = req.request(&[b"QUERY".as_slice(), b"", b""]);
                assert!(page.len() >= 2, "{}", show(&page));
            })
        })
        .collect();
    for c in clients {
        c.join().expect("a REQ client failed");
    }
    let elapsed = t.elapsed();
    let during = server.fd_count();

    // Every subscriber receives every event, in the store's order.
    let req = Req::connect(&ctx, &server);
    let stream = req.query_all();
    let expected: Vec<&[u8]> = stream.iter().skip(probes).map(|e| e.1.as_slice()).collect();
    assert_eq!(expected.len(), n_clients * per_client);
    for (i, (v1, s)) in subs.iter().enumerate() {
        for (k, want) in expected.iter().enumerate() {
            let m = recv_within(s, Duration::from_secs(20))
                .unwrap_or_else(|| panic!("subscriber {i} got {k} of {} events", expected.len()));
            // v1: [id, previous id, data]; v2: [stream, id, data].
            assert_eq!(m[2].as_slice(), *want, "subscriber {i}, event {k}");
            if !*v1 {
                assert_eq!(m[0], b"default");
            }
        }
    }
    eprintln!(
        "[load] {n_clients} REQ clients x {per_client} publishes in {elapsed:?}; {n_subs} subscribers \
         received all {} events each; server fds {before} -> {during}",
        expected.len()
    );
    drop(subs);
    drop(contexts);
    server.stop();
}

/// Reads a subscriber until `stop`; counts what it got and checks the order.
fn reader(
    ctx: zmq::Context,
    endpoint: String,
    stop: Arc<AtomicBool>,
    got: Arc<AtomicUsize>,
) -> thread::JoinHandle<()> {
    let s = subscriber(&ctx, &endpoint, |s| s.set_rcvhwm(0).unwrap());
    thread::spawn(move || {
        let _ctx = ctx;
        while !stop.load(Ordering::SeqCst) {
            while let Ok(m) = s.recv_multipart(zmq::DONTWAIT) {
                assert_eq!(m.len(), 3);
                got.fetch_add(1, Ordering::Relaxed);
            }
            let _ = s.poll(zmq::POLLIN, 20);
        }
    })
}

#[test]
fn soak_keeps_resident_memory_flat() {
    let _turn = crate::TURNS.take(module_path!());
    let total = env_usize("REWIND_SOAK_EVENTS", 100_000);
    let dir = tempdir("soak");
    let server = ServerSpec::lmdb(rewind(), &dir.path().join("store")).start();
    let ctx = zmq::Context::new();
    let stop = Arc::new(AtomicBool::new(false));
    let seen = [Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0))];
    let readers = [
        reader(
            ctx.clone(),
            server.endpoints.streaming.clone(),
            stop.clone(),
            seen[0].clone(),
        ),
        reader(
            ctx.clone(),
            server.endpoints.publish.clone(),
            stop.clone(),
            seen[1].clone(),
        ),
    ];
    let publishers = 4;
    let per_chunk = 2_000;
    let chunks = total.div_ceil(per_chunk * publishers);
    let mut samples = Vec::new();
    let t = Instant::now();
    let mut published = 0usize;
    for chunk in 0..chunks {
        // Four pipelined DEALERs (two on the v1 stream) and one REQ client
        // at once; fresh connections each chunk.
        let threads: Vec<_> = (0..publishers)
            .map(|p| {
                let ctx = ctx.clone();
                let ep = server.endpoints.command.clone();
                thread::spawn(move || {
                    let v2 = Dealer::on(socket(&ctx, zmq::DEALER, &ep));
                    let stream = if p < 2 {
                        "default".to_string()
                    } else {
                        format!("soak-{p}")
                    };
                    v2.publish_pipelined(stream.as_bytes(), per_chunk, 128, |i| {
                        format!("soak-{chunk}-{p}-{i}-{}", "d".repeat(64)).into_bytes()
                    });
                })
            })
            .collect();
        let req = Req::connect(&ctx, &server);
        for i in 0..20 {
            req.publish(format!("soak-req-{chunk}-{i}").as_bytes());
        }
        // A query now and then.
        let _ = req.request(&[b"QUERY".as_slice(), b"", b""]);
        for th in threads {
            th.join().unwrap();
        }
        published += publishers * per_chunk + 20;
        if chunk == 0 || chunk + 1 == chunks || chunk % (chunks / 10).max(1) == 0 {
            samples.push((published, server.mem()));
        }
    }
    let elapsed = t.elapsed();
    thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    for r in readers {
        r.join().unwrap();
    }
    let end = server.mem();
    let (_, start) = samples[0];
    for (n, m) in &samples {
        eprintln!(
            "[soak] after {n:>8} events: VmRSS {:>7} KiB, RssAnon {:>7} KiB, RssFile {:>7} KiB",
            m.vm_rss, m.rss_anon, m.rss_file
        );
    }
    eprintln!(
        "[soak] {published} events in {elapsed:?} ({:.0}/s); VmRSS {} -> {} KiB, RssAnon {} -> {} KiB; \
         subscribers received {} (v1) and {} (v2) messages",
        published as f64 / elapsed.as_secs_f64(),
        start.vm_rss,
        end.vm_rss,
        start.rss_anon,
        end.rss_anon,
        seen[0].load(Ordering::Relaxed),
        seen[1].load(Ordering::Relaxed),
    );
    // Anonymous memory (the heap) stays flat; the file-backed part of RSS is
    // LMDB's map of the data file, shared with the page cache.
    assert!(
        end.rss_anon < start.rss_anon + 32 * 1024,
        "the server's heap grew from {} to {} KiB",
        start.rss_anon,
        end.rss_anon
    );
    server.stop();
}

#[test]
fn file_descriptors_do_not_leak_across_thousands_of_connects() {
    let _turn = crate::TURNS.take(module_path!());
    let cycles = env_usize("REWIND_FD_CYCLES", 2000);
    let dir = tempdir("fds");
    let server = ServerSpec::lmdb(rewind(), &dir.path().join("store")).start();
    let ctx = zmq::Context::new();
    Req::connect(&ctx, &server).publish(b"warm-up");
    thread::sleep(Duration::from_millis(200));
    let before = server.fd_count();
    let mut peak = before;
    let t = Instant::now();
    for i in 0..cycles {
        match i % 5 {
            0 => Req::connect(&ctx, &server).publish(b"fd"),
            1 => {
                let v2 = Dealer::connect(&ctx, &server);
                v2.try_query(b"default", b"", b"").unwrap();
            }
            2 => {
                let s = socket(&ctx, zmq::SUB, &server.endpoints.streaming);
                s.set_subscribe(b"").unwrap();
            }
            3 => {
                // Leaves with a request unanswered.
                let s = socket(&ctx, zmq::DEALER, &server.endpoints.command);
                s.send_multipart([b"".as_slice(), b"QUERY", b"default", b"", b""], 0)
                    .unwrap();
            }
            _ => {
                let addr = server.endpoints.publish.trim_start_matches("tcp://");
                drop(TcpStream::connect(addr).unwrap());
            }
        }
        if i % 200 == 0 {
            peak = peak.max(server.fd_count());
        }
    }
    let after = server.fd_count_settled(before, Duration::from_secs(10));
    eprintln!(
        "[fds] {cycles} connect/disconnect cycles in {:?}: server fds {before} before, peak {peak}, {after} after",
        t.elapsed()
    );
    assert!(
        after <= before,
        "file descriptors leaked: {before} -> {after}"
    );
    let mut distinct = HashSet::new();
    for e in std::fs::read_dir(format!("/proc/{}/fd", server.pid())).unwrap() {
        distinct.insert(e.unwrap().file_name());
    }
    assert_eq!(distinct.len(), after);
    Req::connect(&ctx, &server).publish(b"still serving");
    server.stop();
}
