//! The Rewind side of the peer benchmark: the six measurements made against
//! a running `rewind` server through its native protocol and Rust client
//! ([`rewind_core::client::Client`]), the same way the UmaDB harness
//! (`rewind-bench/peers/umadb`) makes them through UmaDB's client.
//!
//! Every event has 100 bytes of data (by default), the type `Bench`, a
//! stream, and an id (the client gives each event a UUIDv7; the UmaDB side
//! gives its events a UUIDv7 and a tag naming the stream). A "client" is
//! one `Client`, with its own connection.

use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use rewind_core::client::Client;
use rewind_core::{Batch, Event, ExpectedVersion, LogFilter, NewEvent};

use crate::embedded::payload;
use crate::Result;

/// The event type of every event the benchmark writes.
pub const EVENT_TYPE: &[u8] = b"Bench";
/// The stream every event of the batch figure goes to.
pub const BULK: &[u8] = b"bulk";
/// The stream of the conditional appends.
pub const CONDITIONAL: &[u8] = b"conditional";

fn event(data: &[u8]) -> NewEvent {
    NewEvent::new(data).with_type(EVENT_TYPE)
}

/// An event read back is one the benchmark wrote, after `last`.
fn check(e: &Event, last: Option<u64>, payload_len: usize) -> Result<()> {
    if last.is_some_and(|l| e.position <= l)
        || e.data.len() != payload_len
        || e.event_type != EVENT_TYPE
    {
        return Err(format!("unexpected event at position {} after {last:?}", e.position).into());
    }
    Ok(())
}

/// The clients of the timed figures, kept between the slices they run in.
pub struct Session {
    ep: String,
    data: Vec<u8>,
    /// The clients of the one-event figures, each with its own connection
    /// and stream, warmed up by one append each.
    appenders: Vec<(Client, Vec<u8>)>,
    /// The conditional figure's client and the version of its stream's
    /// last event.
    conditional: Option<(Client, ExpectedVersion)>,
}

impl Session {
    /// A session on the server at `ep` (its native endpoint), appending
    /// events of `payload_len` bytes.
    pub fn new(ep: &str, payload_len: usize) -> Session {
        Session {
            ep: ep.to_owned(),
            data: payload(payload_len),
            appenders: Vec::new(),
            conditional: None,
        }
    }

    /// `clients` clients, one thread each, each appending one event per
    /// request to its own stream for `window`; the events appended.
    pub fn append_one_by_one(&mut self, clients: usize, window: Duration) -> Result<usize> {
        while self.appenders.len() < clients {
            let client = Client::connect(&self.ep)?;
            let stream = format!("one-{}", self.appenders.len()).into_bytes();
            // Connects and warms up.
            client.append(&stream, vec![event(&self.data)], ExpectedVersion::Any)?;
            self.appenders.push((client, stream));
        }
        let data = &self.data[..];
        let barrier = Barrier::new(clients);
        thread::scope(|scope| {
            let threads: Vec<_> = self.appenders[..clients]
                .iter()
                .map(|(client, stream)| {
                    let barrier = &barrier;
                    scope.spawn(move || -> Result<usize> {
                        barrier.wait();
                        let deadline = Instant::now() + window;
                        let mut n = 0;
                        while Instant::now() < deadline {
                            client.append(stream, vec![event(data)], ExpectedVersion::Any)?;
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

    /// One client appending one event per request to its stream, each
    /// with the expected version of the stream's last event (the one it
    /// appended before), for `window`; the events appended.
    pub fn append_conditional(&mut self, window: Duration) -> Result<usize> {
        if self.conditional.is_none() {
            let client = Client::connect(&self.ep)?;
            let expected = match client.stream_head(CONDITIONAL)? {
                Some(head) => ExpectedVersion::Exact(head.version),
                None => ExpectedVersion::NoStream,
            };
            self.conditional = Some((client, expected));
        }
        let Some((client, expected)) = self.conditional.as_mut() else {
            return Err("no conditional client".into());
        };
        let deadline = Instant::now() + window;
        let mut n = 0;
        while Instant::now() < deadline {
            let appended = client.append(CONDITIONAL, vec![event(&self.data)], *expected)?;
            let last = appended.last().ok_or("an append without a result")?;
            *expected = ExpectedVersion::Exact(last.version);
            n += 1;
        }
        Ok(n)
    }
}

/// `events` events in requests of `batch` events, one client.
pub fn append_batches(
    ep: &str,
    events: usize,
    batch: usize,
    payload_len: usize,
) -> Result<(u64, f64)> {
    let client = Client::connect(ep)?;
    client.info()?; // connects and warms up
    let data = payload(payload_len);
    let start = Instant::now();
    let mut left = events;
    while left > 0 {
        let n = left.min(batch);
        let batch = (0..n).map(|_| event(&data)).collect();
        client.append(BULK, batch, ExpectedVersion::Any)?;
        left -= n;
    }
    Ok((events as u64, start.elapsed().as_secs_f64()))
}

/// Every event of the log, read forward from position 0 with
/// `read_log_vec`; fails unless exactly `events` come.
pub fn read_all(ep: &str, events: usize, payload_len: usize) -> Result<(u64, f64)> {
    let client = Client::connect(ep)?;
    client.info()?; // connects and warms up
    let start = Instant::now();
    let all = client.read_log_vec(0, usize::MAX)?;
    let mut last = None;
    for e in &all {
        check(e, last, payload_len)?;
        last = Some(e.position);
    }
    let secs = start.elapsed().as_secs_f64();
    if all.len() != events {
        return Err(format!("read {} events, expected {events}", all.len()).into());
    }
    Ok((events as u64, secs))
}

/// A subscription from position 0 until it is caught up; fails unless it
/// hands out exactly `events` events before that.
pub fn subscribe_all(ep: &str, events: usize, payload_len: usize) -> Result<(u64, f64)> {
    let client = Client::connect(ep)?;
    client.info()?; // connects and warms up
    let start = Instant::now();
    let mut sub = client.subscribe(Some(0), LogFilter::all())?;
    let mut n = 0usize;
    let mut last: Option<u64> = None;
    let mut bad = None;
    loop {
        let got = sub.next_batch(Duration::from_secs(30), usize::MAX, |e| {
            if last.is_some_and(|l| e.position <= l)
                || e.data.len() != payload_len
                || e.event_type != EVENT_TYPE
            {
                bad = Some(e.position);
                return false;
            }
            last = Some(e.position);
            true
        })?;
        if let Some(p) = bad {
            return Err(format!("unexpected event at position {p}").into());
        }
        match got {
            Some(Batch::Events(k)) => n += k,
            Some(Batch::CaughtUp) => break,
            None => return Err(format!("the subscription stalled after {n} events").into()),
        }
    }
    let secs = start.elapsed().as_secs_f64();
    sub.stop();
    if n != events {
        return Err(format!("the subscription gave {n} events, expected {events}").into());
    }
    Ok((n as u64, secs))
}
