//! The UmaDB side of the peer benchmark: measurements made through UmaDB's
//! own Rust client (`umadb-client`) against a running `umadb` server, each
//! answered with one line `events=N seconds=S` for the driver
//! (`rewind-bench-peers`) to read. The Rewind side makes the same
//! measurements in `rewind-bench/src/peers/rewind.rs`; what each figure
//! does is described there and in the README.
//!
//! ```text
//! umadb-peer --url http://127.0.0.1:PORT [--events N] [--payload BYTES]
//!            (--figure FIGURE [--window SECS] | --serve)
//! ```
//!
//! With `--serve` it reads one command per line on standard input,
//! `FIGURE [SECS]`, and answers each on standard output; the clients stay
//! connected between commands, so the driver can alternate short slices of
//! a timed figure with the Rewind side's.
//!
//! FIGURE is one of `append-1` (1 event per request, 1 client), `append-32`
//! (1 event per request, 32 clients), `append-batch` (`--events` events in
//! requests of 1,000), `read` (read every event), `subscribe` (a
//! subscription from the start until `--events` events have come) and
//! `conditional` (1 event per request, each conditional on the stream's
//! last event, 1 client). The timed ones (`append-1`, `append-32`,
//! `conditional`) run for SECS.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::try_join_all;
use tokio::sync::Barrier;
use umadb_client::AsyncUmaDbClient;
use umadb_dcb::{DcbAppendCondition, DcbEvent, DcbEventStoreAsync, DcbQuery, DcbQueryItem};

type Error = Box<dyn std::error::Error + Send + Sync>;
type Result<T> = std::result::Result<T, Error>;

/// Events per request in the batch figure.
const BATCH: usize = 1_000;
/// Clients in the concurrent figure.
const CLIENTS: usize = 32;
/// The event type of every event the benchmark writes.
const EVENT_TYPE: &str = "Bench";
/// The stream (tag) of the conditional appends.
const CONDITIONAL_STREAM: &str = "conditional";

struct Args {
    url: String,
    figure: Option<String>,
    serve: bool,
    window: Duration,
    events: usize,
    payload: usize,
}

fn parse_secs(s: &str) -> std::result::Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|e| format!("seconds {s:?}: {e}"))?;
    if !(secs.is_finite() && secs > 0.0) {
        return Err(format!("seconds {s:?}: not a positive number"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_args() -> std::result::Result<Args, String> {
    let mut a = Args {
        url: String::new(),
        figure: None,
        serve: false,
        window: Duration::from_secs(2),
        events: 200_000,
        payload: 100,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--serve" {
            a.serve = true;
            continue;
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--url" => a.url = value,
            "--figure" => a.figure = Some(value),
            "--window" => a.window = parse_secs(&value)?,
            "--events" => a.events = value.parse().map_err(|e| format!("--events: {e}"))?,
            "--payload" => a.payload = value.parse().map_err(|e| format!("--payload: {e}"))?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.url.is_empty() {
        return Err("--url is required".into());
    }
    if a.serve == a.figure.is_some() {
        return Err("give either --figure or --serve".into());
    }
    Ok(a)
}

/// The data of every event: `payload` bytes, the same on both sides.
fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

/// One event of the stream `stream` (a tag: UmaDB's way to group events,
/// and what an append condition selects on), with a client-made id as the
/// Rewind client gives every event.
fn event(stream: &str, data: &[u8]) -> DcbEvent {
    DcbEvent::new()
        .event_type(EVENT_TYPE)
        .tags([stream])
        .data(data.to_vec())
        .uuid(uuid::Uuid::now_v7())
}

/// The connections of one harness run, kept between commands.
struct Session {
    url: String,
    events: usize,
    data: Arc<Vec<u8>>,
    /// The clients of the one-event figures, each with its own connection
    /// and stream, warmed up by one append each.
    appenders: Vec<(Arc<AsyncUmaDbClient>, String)>,
    /// The conditional figure's client and the position of its stream's
    /// last event.
    conditional: Option<(AsyncUmaDbClient, Option<u64>)>,
}

impl Session {
    async fn connect(&self) -> Result<AsyncUmaDbClient> {
        Ok(AsyncUmaDbClient::connect(self.url.clone(), None, None, None).await?)
    }

    /// `clients` clients appending one event per request each, for
    /// `window`; (events, seconds).
    async fn append_one_by_one(&mut self, clients: usize, window: Duration) -> Result<(u64, f64)> {
        while self.appenders.len() < clients {
            let client = self.connect().await?;
            let stream = format!("one-{}", self.appenders.len());
            client
                .append(vec![event(&stream, &self.data)], None, None)
                .await?;
            self.appenders.push((Arc::new(client), stream));
        }
        let barrier = Arc::new(Barrier::new(clients + 1));
        let mut tasks = Vec::new();
        for (client, stream) in &self.appenders[..clients] {
            let (client, stream) = (client.clone(), stream.clone());
            let (data, barrier) = (self.data.clone(), barrier.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let deadline = Instant::now() + window;
                let mut n = 0u64;
                while Instant::now() < deadline {
                    client
                        .append(vec![event(&stream, &data)], None, None)
                        .await?;
                    n += 1;
                }
                Ok::<u64, Error>(n)
            }));
        }
        barrier.wait().await;
        let t = Instant::now();
        let mut total = 0;
        for r in try_join_all(tasks).await? {
            total += r?;
        }
        Ok((total, t.elapsed().as_secs_f64()))
    }

    /// `events` events in requests of `BATCH`, one client.
    async fn append_batches(&self) -> Result<(u64, f64)> {
        let client = self.connect().await?;
        let t = Instant::now();
        let mut left = self.events;
        while left > 0 {
            let n = left.min(BATCH);
            let events = (0..n).map(|_| event("bulk", &self.data)).collect();
            client.append(events, None, None).await?;
            left -= n;
        }
        Ok((self.events as u64, t.elapsed().as_secs_f64()))
    }

    /// Every event of the store, read forward from the start; fails unless
    /// exactly `events` come.
    async fn read_all(&self) -> Result<(u64, f64)> {
        let client = self.connect().await?;
        let t = Instant::now();
        let mut response = client.read(None, None, false, None).await?;
        let mut n = 0u64;
        let mut last = 0u64;
        loop {
            let batch = response.next_batch().await?;
            if batch.is_empty() {
                break;
            }
            for e in &batch {
                check_event(e, last, self.data.len())?;
                last = e.position;
            }
            n += batch.len() as u64;
        }
        let secs = t.elapsed().as_secs_f64();
        if n as usize != self.events {
            return Err(format!("read {n} events, expected {}", self.events).into());
        }
        Ok((n, secs))
    }

    /// A subscription from the start of the store until `events` events
    /// have come (the store holds exactly that many: caught up).
    async fn subscribe_all(&self) -> Result<(u64, f64)> {
        let client = self.connect().await?;
        let t = Instant::now();
        let mut sub = client.subscribe(None, None).await?;
        let mut n = 0u64;
        let mut last = 0u64;
        while (n as usize) < self.events {
            let batch = sub
                .next_batch_timeout(Duration::from_secs(30))
                .await
                .map_err(|e| format!("subscription after {n} events: {e}"))?;
            for e in &batch {
                check_event(e, last, self.data.len())?;
                last = e.position;
            }
            n += batch.len() as u64;
        }
        let secs = t.elapsed().as_secs_f64();
        sub.cancel();
        if n as usize != self.events {
            return Err(format!("subscription gave {n} events, expected {}", self.events).into());
        }
        Ok((n, secs))
    }

    /// One client appending one event per request to its stream, each
    /// append conditional on the stream's last event being the one it
    /// appended before (UmaDB's equivalent of an expected version), for
    /// `window`.
    async fn append_conditional(&mut self, window: Duration) -> Result<(u64, f64)> {
        let query = DcbQuery::new().item(DcbQueryItem::new().tags([CONDITIONAL_STREAM]));
        if self.conditional.is_none() {
            let client = self.connect().await?;
            // The stream's last position so far (none when it is new).
            let (existing, _) = client
                .read(Some(query.clone()), None, true, Some(1))
                .await?
                .collect_with_head()
                .await?;
            let after = existing.first().map(|e| e.position);
            self.conditional = Some((client, after));
        }
        let Some((client, after)) = self.conditional.as_mut() else {
            return Err("no conditional client".into());
        };
        let t = Instant::now();
        let deadline = t + window;
        let mut n = 0u64;
        while Instant::now() < deadline {
            let condition = DcbAppendCondition::new(query.clone()).after(*after);
            let position = client
                .append(
                    vec![event(CONDITIONAL_STREAM, &self.data)],
                    Some(condition),
                    None,
                )
                .await?;
            *after = Some(position);
            n += 1;
        }
        Ok((n, t.elapsed().as_secs_f64()))
    }

    async fn run(&mut self, figure: &str, window: Duration) -> Result<(u64, f64)> {
        match figure {
            "append-1" => self.append_one_by_one(1, window).await,
            "append-32" => self.append_one_by_one(CLIENTS, window).await,
            "append-batch" => self.append_batches().await,
            "read" => self.read_all().await,
            "subscribe" => self.subscribe_all().await,
            "conditional" => self.append_conditional(window).await,
            other => Err(format!("unknown figure {other}").into()),
        }
    }
}

/// An event read back is the one the benchmark wrote, after `last`.
fn check_event(e: &umadb_dcb::DcbSequencedEvent, last: u64, payload_len: usize) -> Result<()> {
    if e.position <= last || e.event.data.len() != payload_len || e.event.event_type != EVENT_TYPE {
        return Err(format!("unexpected event at position {} after {last}", e.position).into());
    }
    Ok(())
}

/// Answers `FIGURE [SECS]` lines until standard input ends.
async fn serve(session: &mut Session, default_window: Duration) -> Result<()> {
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    for line in stdin.lock().lines() {
        let line = line?;
        let mut words = line.split_whitespace();
        let Some(figure) = words.next() else {
            continue;
        };
        let window = match words.next() {
            Some(s) => parse_secs(s)?,
            None => default_window,
        };
        let (events, secs) = session
            .run(figure, window)
            .await
            .map_err(|e| format!("{figure}: {e}"))?;
        writeln!(stdout, "events={events} seconds={secs:.6}")?;
        stdout.flush()?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("umadb-peer: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("umadb-peer: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut session = Session {
        url: args.url.clone(),
        events: args.events,
        data: Arc::new(payload(args.payload)),
        appenders: Vec::new(),
        conditional: None,
    };
    let result = rt.block_on(async {
        match &args.figure {
            Some(figure) => {
                let (events, secs) = session
                    .run(figure, args.window)
                    .await
                    .map_err(|e| format!("{figure}: {e}"))?;
                println!("events={events} seconds={secs:.6}");
                Ok(())
            }
            None => serve(&mut session, args.window).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("umadb-peer: {e}");
            ExitCode::FAILURE
        }
    }
}
