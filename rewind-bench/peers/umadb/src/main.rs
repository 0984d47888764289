//! The UmaDB side of the peer benchmark: one measurement per run, made
//! through UmaDB's own Rust client (`umadb-client`) against a running
//! `umadb` server, printed as one line `events=N seconds=S` for the driver
//! (`rewind-bench-peers`) to read. The Rewind side makes the same
//! measurements in `rewind-bench/src/peers/rewind.rs`; what each figure
//! does is described there and in the README.
//!
//! ```text
//! umadb-peer --url http://127.0.0.1:PORT --figure FIGURE
//!            [--window SECS] [--events N] [--payload BYTES]
//! ```
//!
//! FIGURE is one of `append-1` (1 event per request, 1 client), `append-32`
//! (1 event per request, 32 clients), `append-batch` (`--events` events in
//! requests of 1,000), `read` (read every event), `subscribe` (a
//! subscription from the start until `--events` events have come) and
//! `conditional` (1 event per request, each conditional on the stream's
//! last event, 1 client).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::try_join_all;
use tokio::sync::Barrier;
use umadb_client::AsyncUmaDbClient;
use umadb_dcb::{DcbAppendCondition, DcbEvent, DcbEventStoreAsync, DcbQuery, DcbQueryItem};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Events per request in the batch figure.
const BATCH: usize = 1_000;
/// Clients in the concurrent figure.
const CLIENTS: usize = 32;
/// The event type of every event the benchmark writes.
const EVENT_TYPE: &str = "Bench";

struct Args {
    url: String,
    figure: String,
    window: Duration,
    events: usize,
    payload: usize,
}

fn parse_args() -> std::result::Result<Args, String> {
    let mut url = None;
    let mut figure = None;
    let mut window = Duration::from_secs(2);
    let mut events = 200_000;
    let mut payload = 100;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => url = Some(value()?),
            "--figure" => figure = Some(value()?),
            "--window" => {
                let secs: f64 = value()?.parse().map_err(|e| format!("--window: {e}"))?;
                window = Duration::from_secs_f64(secs);
            }
            "--events" => events = value()?.parse().map_err(|e| format!("--events: {e}"))?,
            "--payload" => payload = value()?.parse().map_err(|e| format!("--payload: {e}"))?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        url: url.ok_or("--url is required")?,
        figure: figure.ok_or("--figure is required")?,
        window,
        events,
        payload,
    })
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

async fn connect(url: &str) -> Result<AsyncUmaDbClient> {
    Ok(AsyncUmaDbClient::connect(url.to_owned(), None, None, None).await?)
}

/// `clients` clients, each on its own connection and stream, appending one
/// event per request until `window` has passed; (events, seconds).
async fn append_one_by_one(args: &Args, clients: usize) -> Result<(u64, f64)> {
    let data = Arc::new(payload(args.payload));
    let barrier = Arc::new(Barrier::new(clients + 1));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let client = connect(&args.url).await?;
        let (data, barrier, window) = (data.clone(), barrier.clone(), args.window);
        tasks.push(tokio::spawn(async move {
            let stream = format!("one-{c}");
            barrier.wait().await;
            let deadline = Instant::now() + window;
            let mut n = 0u64;
            while Instant::now() < deadline {
                client
                    .append(vec![event(&stream, &data)], None, None)
                    .await?;
                n += 1;
            }
            Ok::<u64, Box<dyn std::error::Error + Send + Sync>>(n)
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

/// `args.events` events in requests of `BATCH`, one client.
async fn append_batches(args: &Args) -> Result<(u64, f64)> {
    let client = connect(&args.url).await?;
    let data = payload(args.payload);
    let t = Instant::now();
    let mut left = args.events;
    while left > 0 {
        let n = left.min(BATCH);
        let events = (0..n).map(|_| event("bulk", &data)).collect();
        client.append(events, None, None).await?;
        left -= n;
    }
    Ok((args.events as u64, t.elapsed().as_secs_f64()))
}

/// Every event of the store, read forward from the start.
async fn read_all(args: &Args) -> Result<(u64, f64)> {
    let client = connect(&args.url).await?;
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
            check_event(e, last, args.payload)?;
            last = e.position;
        }
        n += batch.len() as u64;
    }
    let secs = t.elapsed().as_secs_f64();
    if n as usize != args.events {
        return Err(format!("read {n} events, expected {}", args.events).into());
    }
    Ok((n, secs))
}

/// A subscription from the start of the store until `args.events` events
/// have come (the store holds exactly that many: caught up).
async fn subscribe_all(args: &Args) -> Result<(u64, f64)> {
    let client = connect(&args.url).await?;
    let t = Instant::now();
    let mut sub = client.subscribe(None, None).await?;
    let mut n = 0u64;
    let mut last = 0u64;
    while (n as usize) < args.events {
        let batch = sub
            .next_batch_timeout(Duration::from_secs(30))
            .await
            .map_err(|e| format!("subscription after {n} events: {e}"))?;
        for e in &batch {
            check_event(e, last, args.payload)?;
            last = e.position;
        }
        n += batch.len() as u64;
    }
    let secs = t.elapsed().as_secs_f64();
    sub.cancel();
    if n as usize != args.events {
        return Err(format!("subscription gave {n} events, expected {}", args.events).into());
    }
    Ok((n, secs))
}

/// One client appending one event per request to its stream, each append
/// conditional on the stream's last event being the one it appended before
/// (UmaDB's equivalent of an expected version), until `window` has passed.
async fn append_conditional(args: &Args) -> Result<(u64, f64)> {
    let client = connect(&args.url).await?;
    let data = payload(args.payload);
    let stream = "conditional";
    let query = DcbQuery::new().item(DcbQueryItem::new().tags([stream]));
    // The stream's last position so far (none when the stream is new).
    let (existing, _) = client
        .read(Some(query.clone()), None, true, Some(1))
        .await?
        .collect_with_head()
        .await?;
    let mut after = existing.first().map(|e| e.position);
    let t = Instant::now();
    let deadline = t + args.window;
    let mut n = 0u64;
    while Instant::now() < deadline {
        let condition = DcbAppendCondition::new(query.clone()).after(after);
        let position = client
            .append(vec![event(stream, &data)], Some(condition), None)
            .await?;
        after = Some(position);
        n += 1;
    }
    Ok((n, t.elapsed().as_secs_f64()))
}

/// An event read back is the one the benchmark wrote, after `last`.
fn check_event(e: &umadb_dcb::DcbSequencedEvent, last: u64, payload_len: usize) -> Result<()> {
    if e.position <= last || e.event.data.len() != payload_len || e.event.event_type != EVENT_TYPE {
        return Err(format!("unexpected event at position {} after {last}", e.position).into());
    }
    Ok(())
}

async fn run(args: &Args) -> Result<(u64, f64)> {
    match args.figure.as_str() {
        "append-1" => append_one_by_one(args, 1).await,
        "append-32" => append_one_by_one(args, CLIENTS).await,
        "append-batch" => append_batches(args).await,
        "read" => read_all(args).await,
        "subscribe" => subscribe_all(args).await,
        "conditional" => append_conditional(args).await,
        other => Err(format!("unknown figure {other}").into()),
    }
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
    match rt.block_on(run(&args)) {
        Ok((events, secs)) => {
            println!("events={events} seconds={secs:.6}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("umadb-peer: {}: {e}", args.figure);
            ExitCode::FAILURE
        }
    }
}
