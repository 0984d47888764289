//! The ZeroMQ figures: Rewind's server over loopback TCP, and the raw
//! ZeroMQ (and LMDB) chains it is bounded by. Rewind and its baseline are
//! driven by the same client code.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use lmdb::{Transaction, WriteFlags};
use rewind_core::server::{Server, ServerOptions};
use rewind_core::Store;

use crate::embedded::{self, payload, LoadedStore, STREAM};
use crate::Result;

/// How long a client waits for any reply before the benchmark gives up.
const REPLY_TIMEOUT_MS: i32 = 30_000;
/// How often a raw server thread looks at its stop flag.
const POLL_MS: i32 = 50;
/// The id the raw servers and publisher send: as long as a generated id.
const FAKE_ID: &[u8; 36] = b"01890a5d-ac96-774b-bcce-b302099a8057";

/// Rewind's server, in-process, on `store`, with all four endpoints bound on
/// fresh loopback ports (the shipped configuration).
struct RunningServer {
    server: Option<Server>,
    query: String,
    command: String,
}

impl RunningServer {
    fn start(store: &Store) -> Result<RunningServer> {
        let any = || vec!["tcp://127.0.0.1:*".to_owned()];
        let opts = ServerOptions {
            query_endpoints: any(),
            streaming_endpoints: any(),
            command_endpoints: any(),
            publish_endpoints: any(),
            ..ServerOptions::default()
        };
        let server = Server::start(store.clone(), opts)?;
        let bound = server.bound_options();
        let (query, command) = match (
            bound.query_endpoints.first(),
            bound.command_endpoints.first(),
        ) {
            (Some(q), Some(c)) => (q.clone(), c.clone()),
            _ => return Err("the server did not report its endpoints".into()),
        };
        Ok(RunningServer {
            server: Some(server),
            query,
            command,
        })
    }

    fn stop(mut self) -> Result<()> {
        if let Some(s) = self.server.take() {
            s.stop();
            s.join()?;
        }
        Ok(())
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop();
            let _ = s.join();
        }
    }
}

/// Reads one multipart message into `msg` frame by frame (no allocation);
/// returns its first frame after an optional empty delimiter, cut to 16 bytes.
fn recv_kind(sock: &zmq::Socket, msg: &mut zmq::Message, delimited: bool) -> Result<Vec<u8>> {
    sock.recv(msg, 0)?;
    if delimited {
        if !msg.is_empty() || !msg.get_more() {
            return Err("reply without an empty delimiter frame".into());
        }
        sock.recv(msg, 0)?;
    }
    let kind = msg[..msg.len().min(16)].to_vec();
    while msg.get_more() {
        sock.recv(msg, 0)?;
    }
    Ok(kind)
}

/// Reads a reply (after the empty delimiter when `delimited`) and fails
/// unless it is `PUBLISHED`.
fn expect_published(sock: &zmq::Socket, msg: &mut zmq::Message, delimited: bool) -> Result<()> {
    let kind = recv_kind(sock, msg, delimited)?;
    if kind != b"PUBLISHED" {
        return Err(format!("unexpected reply {:?}", String::from_utf8_lossy(&kind)).into());
    }
    Ok(())
}

fn client(ctx: &zmq::Context, kind: zmq::SocketType, ep: &str) -> Result<zmq::Socket> {
    let s = ctx.socket(kind)?;
    s.set_linger(0)?;
    s.set_rcvtimeo(REPLY_TIMEOUT_MS)?;
    s.connect(ep)?;
    Ok(s)
}

/// `clients` REQ clients, one thread each, publishing `PUBLISH data` one
/// request at a time for `window`; replies/s over all clients.
fn run_req_clients(ep: &str, clients: usize, window: Duration, payload_len: usize) -> Result<f64> {
    let ctx = zmq::Context::new();
    let barrier = Arc::new(Barrier::new(clients));
    let data = payload(payload_len);
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (ctx, barrier, data, ep) =
                (ctx.clone(), barrier.clone(), data.clone(), ep.to_owned());
            thread::spawn(move || -> Result<(usize, Instant, Instant)> {
                let sock = client(&ctx, zmq::REQ, &ep)?;
                let mut msg = zmq::Message::new();
                let mut publish = || -> Result<()> {
                    sock.send(&b"PUBLISH"[..], zmq::SNDMORE)?;
                    sock.send(&data[..], 0)?;
                    expect_published(&sock, &mut msg, false)
                };
                publish()?; // connects and warms up
                barrier.wait();
                let start = Instant::now();
                let mut n = 0;
                while start.elapsed() < window {
                    publish()?;
                    n += 1;
                }
                Ok((n, start, Instant::now()))
            })
        })
        .collect();
    combine(threads)
}

/// Total count over the span from the earliest start to the latest end.
fn combine(threads: Vec<thread::JoinHandle<Result<(usize, Instant, Instant)>>>) -> Result<f64> {
    let mut total = 0;
    let mut first: Option<Instant> = None;
    let mut last: Option<Instant> = None;
    for t in threads {
        let (n, s, e) = t.join().map_err(|_| "a client thread panicked")??;
        total += n;
        first = Some(first.map_or(s, |f| f.min(s)));
        last = Some(last.map_or(e, |l| l.max(e)));
    }
    let (Some(s), Some(e)) = (first, last) else {
        return Err("no clients".into());
    };
    Ok(embedded::rate(total, e - s))
}

/// Figure 2: v1 `PUBLISH` from `clients` REQ clients to Rewind's
/// server on a fresh durable LMDB store at `path`; events/s.
pub fn v1_publish_rewind(
    path: &Path,
    clients: usize,
    window: Duration,
    payload_len: usize,
) -> Result<f64> {
    let store = Store::open_lmdb(path)?;
    let server = RunningServer::start(&store)?;
    let r = run_req_clients(&server.query, clients, window, payload_len);
    server.stop()?;
    store.close()?;
    drop(store);
    std::fs::remove_dir_all(path)?;
    r
}

/// A REQ client that publishes one event per round trip.
struct ReqPublisher {
    sock: zmq::Socket,
    msg: zmq::Message,
    data: Vec<u8>,
}

impl ReqPublisher {
    fn connect(ctx: &zmq::Context, ep: &str, payload_len: usize) -> Result<ReqPublisher> {
        let mut p = ReqPublisher {
            sock: client(ctx, zmq::REQ, ep)?,
            msg: zmq::Message::new(),
            data: payload(payload_len),
        };
        p.publish()?; // connects and warms up
        Ok(p)
    }

    fn publish(&mut self) -> Result<()> {
        self.sock.send(&b"PUBLISH"[..], zmq::SNDMORE)?;
        self.sock.send(&self.data[..], 0)?;
        expect_published(&self.sock, &mut self.msg, false)
    }

    /// Publishes for `d`; returns how many events.
    fn run_for(&mut self, d: Duration) -> Result<usize> {
        let t = Instant::now();
        let mut n = 0;
        while t.elapsed() < d {
            self.publish()?;
            n += 1;
        }
        Ok(n)
    }
}

/// A REP server thread that, for each request, puts its data into a raw
/// LMDB database (one put, one durable commit) and replies `PUBLISHED`.
struct RawRepServer {
    endpoint: String,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<Result<()>>>,
}

impl RawRepServer {
    fn start(ctx: &zmq::Context, path: &Path) -> Result<RawRepServer> {
        let env = embedded::raw_env(path)?;
        let db = env.open_db(None)?;
        let rep = ctx.socket(zmq::REP)?;
        rep.set_linger(0)?;
        rep.set_rcvtimeo(POLL_MS)?;
        rep.bind("tcp://127.0.0.1:*")?;
        let endpoint = rep
            .get_last_endpoint()?
            .map_err(|_| "endpoint is not UTF-8")?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            thread::spawn(move || -> Result<()> {
                let mut key = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let frames = match rep.recv_multipart(0) {
                        Ok(f) => f,
                        Err(zmq::Error::EAGAIN) => continue,
                        Err(e) => return Err(e.into()),
                    };
                    let data = frames.last().ok_or("an empty request")?;
                    let mut txn = env.begin_rw_txn()?;
                    txn.put(db, &key.to_be_bytes(), data, WriteFlags::APPEND)?;
                    txn.commit()?;
                    key += 1;
                    rep.send(&b"PUBLISHED"[..], 0)?;
                }
                Ok(())
            })
        };
        Ok(RawRepServer {
            endpoint,
            stop,
            thread: Some(thread),
        })
    }

    fn stop(mut self) -> Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| "the REP thread panicked")?,
            None => Ok(()),
        }
    }
}

impl Drop for RawRepServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Figure 1 and its baseline, in alternating slices: v1 `PUBLISH` from one
/// REQ client to Rewind's server on a fresh durable LMDB store at
/// `rewind_path`, and the same client code against a REP thread that makes
/// one durable LMDB commit per request in a fresh database at `raw_path`.
/// Returns (Rewind, baseline) in events/s.
pub fn v1_publish_one_vs_raw(
    rewind_path: &Path,
    raw_path: &Path,
    window: Duration,
    payload_len: usize,
) -> Result<(f64, f64)> {
    let store = Store::open_lmdb(rewind_path)?;
    let server = RunningServer::start(&store)?;
    let ctx = zmq::Context::new();
    let raw = RawRepServer::start(&ctx, raw_path)?;
    let mut rewind_client = ReqPublisher::connect(&ctx, &server.query, payload_len)?;
    let mut raw_client = ReqPublisher::connect(&ctx, &raw.endpoint, payload_len)?;
    let rates = crate::interleave(window, &mut |d| rewind_client.run_for(d), &mut |d| {
        raw_client.run_for(d)
    });
    drop((rewind_client, raw_client));
    raw.stop()?;
    server.stop()?;
    store.close()?;
    drop(store);
    std::fs::remove_dir_all(rewind_path)?;
    std::fs::remove_dir_all(raw_path)?;
    rates
}

/// `dealers` DEALER clients, one thread each, each keeping `in_flight`
/// v2 `PUBLISH` requests outstanding for `window`, then collecting the
/// replies still due; replies/s over all clients.
fn run_dealers(
    ep: &str,
    dealers: usize,
    in_flight: usize,
    window: Duration,
    payload_len: usize,
) -> Result<f64> {
    let ctx = zmq::Context::new();
    let barrier = Arc::new(Barrier::new(dealers));
    let data = payload(payload_len);
    let hwm = i32::try_from(2 * in_flight + 16).unwrap_or(i32::MAX);
    let threads: Vec<_> = (0..dealers)
        .map(|_| {
            let (ctx, barrier, data, ep) =
                (ctx.clone(), barrier.clone(), data.clone(), ep.to_owned());
            thread::spawn(move || -> Result<(usize, Instant, Instant)> {
                let sock = ctx.socket(zmq::DEALER)?;
                sock.set_linger(0)?;
                sock.set_rcvtimeo(REPLY_TIMEOUT_MS)?;
                sock.set_sndhwm(hwm)?;
                sock.set_rcvhwm(hwm)?;
                sock.connect(&ep)?;
                let send = || -> Result<()> {
                    sock.send(&b""[..], zmq::SNDMORE)?;
                    sock.send(&b"PUBLISH"[..], zmq::SNDMORE)?;
                    sock.send(STREAM, zmq::SNDMORE)?;
                    sock.send(&data[..], 0)?;
                    Ok(())
                };
                let mut msg = zmq::Message::new();
                let mut recv = || -> Result<()> { expect_published(&sock, &mut msg, true) };
                send()?; // connects and warms up
                recv()?;
                barrier.wait();
                let start = Instant::now();
                for _ in 0..in_flight {
                    send()?;
                }
                let (mut sent, mut done) = (in_flight, 0);
                while done < sent {
                    recv()?;
                    done += 1;
                    if start.elapsed() < window {
                        send()?;
                        sent += 1;
                    }
                }
                Ok((done, start, Instant::now()))
            })
        })
        .collect();
    combine(threads)
}

/// Figure 3: v2 `PUBLISH` from pipelining DEALERs to Rewind's server on a
/// fresh durable LMDB store at `path`; events/s.
pub fn v2_publish_rewind(
    path: &Path,
    dealers: usize,
    in_flight: usize,
    window: Duration,
    payload_len: usize,
) -> Result<f64> {
    let store = Store::open_lmdb(path)?;
    let server = RunningServer::start(&store)?;
    let r = run_dealers(&server.command, dealers, in_flight, window, payload_len);
    server.stop()?;
    store.close()?;
    drop(store);
    std::fs::remove_dir_all(path)?;
    r
}

/// Figure 3's baseline: a ROUTER thread answering each request at once
/// with `PUBLISHED id` (no storage), driven by the same DEALER clients;
/// replies/s.
pub fn dealer_router_raw(
    dealers: usize,
    in_flight: usize,
    window: Duration,
    payload_len: usize,
) -> Result<f64> {
    let ctx = zmq::Context::new();
    let router = ctx.socket(zmq::ROUTER)?;
    router.set_linger(0)?;
    router.set_rcvtimeo(POLL_MS)?;
    router.set_router_mandatory(true)?;
    router.bind("tcp://127.0.0.1:*")?;
    let ep = router
        .get_last_endpoint()?
        .map_err(|_| "endpoint is not UTF-8")?;
    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let stop = stop.clone();
        thread::spawn(move || -> Result<()> {
            while !stop.load(Ordering::Relaxed) {
                let frames = match router.recv_multipart(0) {
                    Ok(f) => f,
                    Err(zmq::Error::EAGAIN) => continue,
                    Err(e) => return Err(e.into()),
                };
                router.send(&frames[0][..], zmq::SNDMORE)?;
                router.send(&b""[..], zmq::SNDMORE)?;
                router.send(&b"PUBLISHED"[..], zmq::SNDMORE)?;
                router.send(&FAKE_ID[..], 0)?;
            }
            Ok(())
        })
    };
    let r = run_dealers(&ep, dealers, in_flight, window, payload_len);
    stop.store(true, Ordering::Relaxed);
    server.join().map_err(|_| "the ROUTER thread panicked")??;
    r
}

/// Figure 4: one DEALER sends a v2 `QUERY` of the whole pre-loaded stream
/// to Rewind's server and reads every `EVENT` message up to `END`; events/s.
pub fn v2_query_rewind(loaded: &LoadedStore) -> Result<f64> {
    let server = RunningServer::start(&loaded.store)?;
    let ctx = zmq::Context::new();
    let sock = client(&ctx, zmq::DEALER, &server.command)?;
    let mut msg = zmq::Message::new();
    let query = |stream: &[u8]| -> Result<()> {
        for (i, f) in [&b""[..], b"QUERY", stream, b"", b""].iter().enumerate() {
            sock.send(*f, if i < 4 { zmq::SNDMORE } else { 0 })?;
        }
        Ok(())
    };
    // Connects and warms up: a stream that does not exist has no events.
    query(b"no-such-stream")?;
    let warm = recv_kind(&sock, &mut msg, true).map_err(|e| format!("warm-up query: {e}"))?;
    if warm != b"END" {
        return Err("the warm-up query did not end with END".into());
    }
    let start = Instant::now();
    query(STREAM)?;
    let mut n = 0usize;
    loop {
        let kind = recv_kind(&sock, &mut msg, true)
            .map_err(|e| format!("after {n} of {} events of the query: {e}", loaded.events))?;
        match &kind[..] {
            b"EVENT" => n += 1,
            b"END" => break,
            other => {
                return Err(format!("unexpected reply {:?}", String::from_utf8_lossy(other)).into())
            }
        }
    }
    let dt = start.elapsed();
    drop(sock);
    server.stop()?;
    if n != loaded.events {
        return Err(format!("the query returned {n} events, expected {}", loaded.events).into());
    }
    Ok(embedded::rate(n, dt))
}

/// Figure 4's baseline: a PUB socket sends `events` messages `EVENT, id,
/// data` to one SUB socket over loopback TCP, with no high-water mark on
/// either side (nothing is dropped); messages/s from the first send to the
/// last receive.
pub fn pubsub_raw(events: usize, payload_len: usize) -> Result<f64> {
    let ctx = zmq::Context::new();
    let publisher = ctx.socket(zmq::PUB)?;
    publisher.set_linger(0)?;
    publisher.set_sndhwm(0)?;
    publisher.bind("tcp://127.0.0.1:*")?;
    let ep = publisher
        .get_last_endpoint()?
        .map_err(|_| "endpoint is not UTF-8")?;
    let sub = ctx.socket(zmq::SUB)?;
    sub.set_linger(0)?;
    sub.set_rcvhwm(0)?;
    sub.set_rcvtimeo(REPLY_TIMEOUT_MS)?;
    sub.set_subscribe(b"")?;
    sub.connect(&ep)?;
    let ready = Arc::new(AtomicBool::new(false));
    let sender = {
        let ready = ready.clone();
        // The thread hands its socket back: closing it early would discard
        // the messages still queued (linger 0).
        thread::spawn(move || -> Result<(Instant, zmq::Socket)> {
            // A subscription takes a moment to reach the publisher: until
            // the subscriber has heard one, keep saying hello.
            let give_up = Instant::now() + Duration::from_secs(10);
            while !ready.load(Ordering::Acquire) {
                if Instant::now() > give_up {
                    return Err("the subscriber never connected".into());
                }
                publisher.send(&b"WARM"[..], 0)?;
                thread::sleep(Duration::from_millis(1));
            }
            let data = payload(payload_len);
            let mut id = *FAKE_ID;
            let start = Instant::now();
            for i in 0..events as u64 {
                id[28..].copy_from_slice(&i.to_be_bytes());
                publisher.send(&b"EVENT"[..], zmq::SNDMORE)?;
                publisher.send(&id[..], zmq::SNDMORE)?;
                publisher.send(&data[..], 0)?;
            }
            publisher.send(&b"END"[..], 0)?;
            Ok((start, publisher))
        })
    };
    let mut msg = zmq::Message::new();
    let mut n = 0usize;
    let mut result: Result<()> = Ok(());
    loop {
        match recv_kind(&sub, &mut msg, false)
            .map_err(|e| format!("PUB/SUB after {n} messages: {e}"))
        {
            Ok(k) if k == b"WARM" => ready.store(true, Ordering::Release),
            Ok(k) if k == b"EVENT" => n += 1,
            Ok(k) if k == b"END" => break,
            Ok(k) => {
                result =
                    Err(format!("unexpected message {:?}", String::from_utf8_lossy(&k)).into());
                break;
            }
            Err(e) => {
                result = Err(e.into());
                break;
            }
        }
    }
    let end = Instant::now();
    ready.store(true, Ordering::Release);
    let (start, publisher) = sender
        .join()
        .map_err(|_| "the publisher thread panicked")??;
    result?;
    drop(publisher);
    if n != events {
        return Err(format!("the subscriber got {n} messages, expected {events}").into());
    }
    Ok(embedded::rate(n, end - start))
}
