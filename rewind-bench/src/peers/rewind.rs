//! The Rewind side of the peer benchmark: the six measurements made against
//! a running `rewind` server, through the v2 protocol (DEALER clients on the
//! command endpoint) until the native protocol's client lands. Each
//! measurement returns (events, seconds), like the UmaDB harness.
//!
//! v2 has no multi-event append, no log read, no catch-up subscription and
//! no expected version: the 1,000-event figure sends 1,000 one-event
//! `PUBLISH` requests in flight instead of one request; the read is a
//! streamed `QUERY` of the stream that holds every event; the subscription
//! and the conditional append are not measured (`None`).

use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use crate::embedded::payload;
use crate::Result;

/// How long a client waits for any reply before the benchmark gives up.
const REPLY_TIMEOUT_MS: i32 = 30_000;

/// The stream every event of the batch figure goes to (so it holds every
/// event the read and the subscription figures take).
pub const BULK: &[u8] = b"bulk";

fn dealer(ctx: &zmq::Context, ep: &str, hwm: i32) -> Result<zmq::Socket> {
    let s = ctx.socket(zmq::DEALER)?;
    s.set_linger(0)?;
    s.set_rcvtimeo(REPLY_TIMEOUT_MS)?;
    s.set_sndhwm(hwm)?;
    s.set_rcvhwm(hwm)?;
    s.connect(ep)?;
    Ok(s)
}

fn send_publish(sock: &zmq::Socket, stream: &[u8], data: &[u8]) -> Result<()> {
    sock.send(&b""[..], zmq::SNDMORE)?;
    sock.send(&b"PUBLISH"[..], zmq::SNDMORE)?;
    sock.send(stream, zmq::SNDMORE)?;
    sock.send(data, 0)?;
    Ok(())
}

/// Reads one v2 reply (after its empty delimiter) and returns its kind.
fn recv_kind(sock: &zmq::Socket, msg: &mut zmq::Message) -> Result<Vec<u8>> {
    sock.recv(msg, 0)?;
    if !msg.is_empty() || !msg.get_more() {
        return Err("a v2 reply without its empty delimiter frame".into());
    }
    sock.recv(msg, 0)?;
    let kind = msg[..msg.len().min(16)].to_vec();
    while msg.get_more() {
        sock.recv(msg, 0)?;
    }
    Ok(kind)
}

fn expect_published(sock: &zmq::Socket, msg: &mut zmq::Message) -> Result<()> {
    let kind = recv_kind(sock, msg)?;
    if kind != b"PUBLISHED" {
        return Err(format!("unexpected reply {:?}", String::from_utf8_lossy(&kind)).into());
    }
    Ok(())
}

/// The connections of the timed figures, kept between the slices they
/// run in.
pub struct Session {
    ctx: zmq::Context,
    ep: String,
    data: Vec<u8>,
    /// The clients of the one-event figures, each with its own connection
    /// and stream, warmed up by one append each.
    appenders: Vec<(zmq::Socket, Vec<u8>)>,
}

impl Session {
    /// A session on the server at `ep`, appending events of `payload_len`
    /// bytes.
    pub fn new(ep: &str, payload_len: usize) -> Session {
        Session {
            ctx: zmq::Context::new(),
            ep: ep.to_owned(),
            data: payload(payload_len),
            appenders: Vec::new(),
        }
    }

    /// `clients` clients, one thread and connection each, each appending
    /// one event per request to its own stream for `window`; the events
    /// appended.
    pub fn append_one_by_one(&mut self, clients: usize, window: Duration) -> Result<usize> {
        let mut msg = zmq::Message::new();
        while self.appenders.len() < clients {
            let sock = dealer(&self.ctx, &self.ep, 1000)?;
            let stream = format!("one-{}", self.appenders.len()).into_bytes();
            send_publish(&sock, &stream, &self.data)?; // connects and warms up
            expect_published(&sock, &mut msg)?;
            self.appenders.push((sock, stream));
        }
        let data = &self.data[..];
        let barrier = Barrier::new(clients);
        thread::scope(|scope| {
            let threads: Vec<_> = self.appenders[..clients]
                .iter_mut()
                .map(|(sock, stream)| {
                    let (stream, barrier) = (&stream[..], &barrier);
                    scope.spawn(move || -> Result<usize> {
                        let mut msg = zmq::Message::new();
                        barrier.wait();
                        let deadline = Instant::now() + window;
                        let mut n = 0;
                        while Instant::now() < deadline {
                            send_publish(&*sock, stream, data)?;
                            expect_published(&*sock, &mut msg)?;
                            n += 1;
                        }
                        Ok(n)
                    })
                })
                .collect();
            let mut total = 0;
            for t in threads {
                total += t.join().map_err(|_| "a client thread panicked")??;
            }
            Ok(total)
        })
    }

    /// Appends with an expected version: v2 has none.
    pub fn append_conditional(&mut self, _window: Duration) -> Result<Option<usize>> {
        Ok(None)
    }
}

/// `events` events in rounds of `batch`: v2 has no multi-event append, so
/// a round is `batch` one-event requests in flight at once on one DEALER.
pub fn append_batches(
    ep: &str,
    events: usize,
    batch: usize,
    payload_len: usize,
) -> Result<(u64, f64)> {
    let ctx = zmq::Context::new();
    let hwm = i32::try_from(2 * batch + 16).unwrap_or(i32::MAX);
    let sock = dealer(&ctx, ep, hwm)?;
    let data = payload(payload_len);
    let mut msg = zmq::Message::new();
    query(&sock, b"no-such-stream")?; // connects and warms up
    if recv_kind(&sock, &mut msg)? != b"END" {
        return Err("the warm-up query did not end with END".into());
    }
    let start = Instant::now();
    let mut left = events;
    while left > 0 {
        let n = left.min(batch);
        for _ in 0..n {
            send_publish(&sock, BULK, &data)?;
        }
        for _ in 0..n {
            expect_published(&sock, &mut msg)?;
        }
        left -= n;
    }
    Ok((events as u64, start.elapsed().as_secs_f64()))
}

fn query(sock: &zmq::Socket, stream: &[u8]) -> Result<()> {
    for (i, f) in [&b""[..], b"QUERY", stream, b"", b""].iter().enumerate() {
        sock.send(*f, if i < 4 { zmq::SNDMORE } else { 0 })?;
    }
    Ok(())
}

/// Every event, read in one streamed v2 `QUERY` of the stream that holds
/// them all; fails unless exactly `events` come.
pub fn read_all(ep: &str, events: usize) -> Result<(u64, f64)> {
    let ctx = zmq::Context::new();
    let sock = dealer(&ctx, ep, 1000)?;
    let mut msg = zmq::Message::new();
    query(&sock, b"no-such-stream")?; // connects and warms up
    if recv_kind(&sock, &mut msg)? != b"END" {
        return Err("the warm-up query did not end with END".into());
    }
    let start = Instant::now();
    query(&sock, BULK)?;
    let mut n = 0usize;
    loop {
        match &recv_kind(&sock, &mut msg)?[..] {
            b"EVENT" => n += 1,
            b"END" => break,
            other => {
                return Err(format!("unexpected reply {:?}", String::from_utf8_lossy(other)).into())
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    if n != events {
        return Err(format!("the query returned {n} events, expected {events}").into());
    }
    Ok((n as u64, secs))
}

/// A subscription catching up from position 0: v2 has none.
pub fn subscribe_all(_ep: &str, _events: usize) -> Result<Option<(u64, f64)>> {
    Ok(None)
}
