//! Counters of what a store and its server do, and their Prometheus text
//! exposition.
//!
//! A [`Metrics`] is a set of atomics: the store's writer records commits
//! (batch sizes, latency, events), the store records reads, the server
//! records clients and queue depths. Recording is a relaxed atomic add, so
//! it costs nothing measurable on the commit and request paths.
//! [`Metrics::render`] writes the Prometheus text format (version 0.0.4);
//! [`MetricsEndpoint`] serves it over HTTP (`GET /metrics`), off unless an
//! address is configured.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::{Error, Result};

/// A histogram with fixed buckets.
pub struct Histogram {
    bounds: &'static [f64],
    /// One count per bound, and one for `+Inf`.
    counts: Box<[AtomicU64]>,
    /// The sum of observations, in millionths of the unit.
    sum_micros: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, value: f64) {
        let i = self
            .bounds
            .iter()
            .position(|b| value <= *b)
            .unwrap_or(self.bounds.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add((value * 1e6) as u64, Ordering::Relaxed);
    }

    /// The number of observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, count) in self.bounds.iter().zip(self.counts.iter()) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        cumulative += self.counts[self.bounds.len()].load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {cumulative}");
    }
}

const BATCH_BOUNDS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0, 8192.0,
];
const LATENCY_BOUNDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// What a store and its server have done. Shared by the store (see
/// [`Store::metrics`](crate::Store::metrics)) and the server on it.
pub struct Metrics {
    /// Appends acknowledged as durable.
    pub appends: AtomicU64,
    /// Events in those appends.
    pub events_appended: AtomicU64,
    /// Appends refused or failed.
    pub append_errors: AtomicU64,
    /// Appends submitted and not yet answered (the writer's queue).
    pub appends_in_flight: AtomicI64,
    /// Reads: stream, log, id and range reads of the store.
    pub reads: AtomicU64,
    /// Appends per commit.
    pub commit_batch: Histogram,
    /// Seconds from the start of a commit to its durable end.
    pub commit_seconds: Histogram,
    /// Requests the server received, by protocol: v1, v2, native.
    pub requests: [AtomicU64; 3],
    /// Clients connected to the query and command endpoints.
    pub clients: AtomicI64,
    /// Subscribers connected to the streaming and publish endpoints.
    pub subscribers: AtomicI64,
    /// Native protocol subscriptions the server serves.
    pub native_subscriptions: AtomicI64,
    /// Replies the server holds for clients, not yet sent.
    pub pending_replies: AtomicI64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            appends: AtomicU64::new(0),
            events_appended: AtomicU64::new(0),
            append_errors: AtomicU64::new(0),
            appends_in_flight: AtomicI64::new(0),
            reads: AtomicU64::new(0),
            commit_batch: Histogram::new(BATCH_BOUNDS),
            commit_seconds: Histogram::new(LATENCY_BOUNDS),
            requests: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
            clients: AtomicI64::new(0),
            subscribers: AtomicI64::new(0),
            native_subscriptions: AtomicI64::new(0),
            pending_replies: AtomicI64::new(0),
        }
    }
}

/// How much room a store takes, for the exposition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StorageUse {
    /// Bytes the store's files take on disk.
    pub bytes_on_disk: u64,
    /// The size of the memory map (the most the store can hold before it
    /// grows), when the backend has one.
    pub map_bytes: Option<u64>,
    /// Bytes of the map in use, when the backend knows.
    pub used_bytes: Option<u64>,
    /// The number of events stored.
    pub events: u64,
}

fn counter(out: &mut String, name: &str, help: &str, kind: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    let _ = writeln!(out, "{name} {value}");
}

impl Metrics {
    /// The metrics in the Prometheus text format, with the store's use of
    /// storage when it is known.
    pub fn render(&self, storage: Option<StorageUse>) -> String {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let g = |a: &AtomicI64| a.load(Ordering::Relaxed).max(0);
        let mut out = String::with_capacity(4096);
        let o = &mut out;
        counter(
            o,
            "rewind_appends_total",
            "Appends acknowledged as durable.",
            "counter",
            l(&self.appends),
        );
        counter(
            o,
            "rewind_events_appended_total",
            "Events in acknowledged appends.",
            "counter",
            l(&self.events_appended),
        );
        counter(
            o,
            "rewind_append_errors_total",
            "Appends refused or failed.",
            "counter",
            l(&self.append_errors),
        );
        counter(
            o,
            "rewind_reads_total",
            "Reads of the store (stream, log, id and range reads).",
            "counter",
            l(&self.reads),
        );
        let _ = writeln!(
            o,
            "# HELP rewind_requests_total Requests received, by wire protocol."
        );
        let _ = writeln!(o, "# TYPE rewind_requests_total counter");
        for (i, p) in ["v1", "v2", "native"].iter().enumerate() {
            let _ = writeln!(
                o,
                "rewind_requests_total{{protocol=\"{p}\"}} {}",
                l(&self.requests[i])
            );
        }
        self.commit_batch.render(
            o,
            "rewind_commit_batch_appends",
            "Appends committed together in one transaction.",
        );
        self.commit_seconds.render(
            o,
            "rewind_commit_seconds",
            "Time from the start of a commit to its durable end.",
        );
        counter(
            o,
            "rewind_appends_in_flight",
            "Appends submitted and not yet answered (the writer's queue).",
            "gauge",
            g(&self.appends_in_flight),
        );
        counter(
            o,
            "rewind_pending_replies",
            "Replies the server holds for clients, not yet sent.",
            "gauge",
            g(&self.pending_replies),
        );
        counter(
            o,
            "rewind_clients",
            "Clients connected to the query and command endpoints.",
            "gauge",
            g(&self.clients),
        );
        counter(
            o,
            "rewind_subscribers",
            "Subscribers connected to the streaming and publish endpoints.",
            "gauge",
            g(&self.subscribers),
        );
        counter(
            o,
            "rewind_native_subscriptions",
            "Subscriptions the server serves on the native endpoints.",
            "gauge",
            g(&self.native_subscriptions),
        );
        if let Some(s) = storage {
            counter(o, "rewind_events", "Events stored.", "gauge", s.events);
            counter(
                o,
                "rewind_storage_bytes",
                "Bytes the store's files take on disk.",
                "gauge",
                s.bytes_on_disk,
            );
            if let Some(m) = s.map_bytes {
                counter(
                    o,
                    "rewind_storage_map_bytes",
                    "Size of the store's memory map.",
                    "gauge",
                    m,
                );
            }
            if let Some(u) = s.used_bytes {
                counter(
                    o,
                    "rewind_storage_used_bytes",
                    "Bytes of the memory map in use.",
                    "gauge",
                    u,
                );
            }
        }
        out
    }
}

/// What the endpoint renders on each scrape.
pub type Render = Arc<dyn Fn() -> String + Send + Sync>;

/// An HTTP endpoint serving `GET /metrics` (and `/`) in the Prometheus text
/// format, on a thread of its own. Stops when dropped.
pub struct MetricsEndpoint {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsEndpoint {
    /// Binds `address` (`host:port`; port 0 picks a free one) and serves.
    ///
    /// Errors: [`Error::Bind`] when the address cannot be bound.
    pub fn start(address: &str, render: Render) -> Result<MetricsEndpoint> {
        let bind_err = |e: std::io::Error| Error::Bind {
            endpoint: address.to_string(),
            reason: e.to_string(),
        };
        let listener = TcpListener::bind(address).map_err(bind_err)?;
        let addr = listener.local_addr().map_err(bind_err)?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("rewind-metrics".into())
                .spawn(move || {
                    for conn in listener.incoming() {
                        if stop.load(Ordering::Acquire) {
                            break;
                        }
                        if let Ok(conn) = conn {
                            if let Err(e) = answer(conn, &render) {
                                log::debug!("metrics request: {e}");
                            }
                        }
                    }
                })
                .map_err(Error::Io)?
        };
        Ok(MetricsEndpoint {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The address as bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsEndpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answers one HTTP request.
fn answer(mut conn: TcpStream, render: &Render) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    conn.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = [0u8; 4096];
    let mut len = 0;
    // Read the request head (up to the blank line, or 4 KiB).
    while len < buf.len() {
        let n = conn.read(&mut buf[len..])?;
        if n == 0 {
            break;
        }
        len += n;
        if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let head = String::from_utf8_lossy(&buf[..len]);
    let mut words = head.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let (status, content_type, body) = match (method, path) {
        ("GET", "/metrics" | "/") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            render(),
        ),
        ("GET", _) => (
            "404 Not Found",
            "text/plain",
            "not found: try /metrics\n".into(),
        ),
        _ => ("405 Method Not Allowed", "text/plain", "GET only\n".into()),
    };
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    conn.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_count_every_observation() {
        let h = Histogram::new(&[1.0, 10.0]);
        for v in [0.5, 1.0, 5.0, 50.0] {
            h.observe(v);
        }
        let mut out = String::new();
        h.render(&mut out, "x", "help");
        assert!(out.contains("x_bucket{le=\"1\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"10\"} 3\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"+Inf\"} 4\n"), "{out}");
        assert!(out.contains("x_count 4\n"), "{out}");
        assert!(out.contains("x_sum 56.5\n"), "{out}");
        assert_eq!(h.count(), 4);
    }

    #[test]
    fn the_exposition_names_every_metric_once_with_help_and_type() {
        let m = Metrics::default();
        m.appends.fetch_add(3, Ordering::Relaxed);
        m.clients.fetch_sub(1, Ordering::Relaxed); // a gauge never shows below 0
        let text = m.render(Some(StorageUse {
            bytes_on_disk: 10,
            map_bytes: Some(20),
            used_bytes: None,
            events: 3,
        }));
        assert!(
            text.contains("\nrewind_appends_total 3\n")
                || text.starts_with("# HELP rewind_appends_total")
        );
        assert!(text.contains("rewind_appends_total 3\n"));
        assert!(text.contains("rewind_clients 0\n"));
        assert!(text.contains("rewind_native_subscriptions 0\n"));
        assert!(text.contains("rewind_storage_map_bytes 20\n"));
        assert!(!text.contains("rewind_storage_used_bytes"));
        for line in text.lines().filter(|l| l.starts_with("# TYPE")) {
            let name = line.split_whitespace().nth(2).unwrap();
            assert_eq!(
                text.matches(&format!("# TYPE {name} ")).count(),
                1,
                "{name}"
            );
            assert!(text.contains(&format!("# HELP {name} ")), "{name}");
        }
    }

    #[test]
    fn the_endpoint_serves_get_metrics_over_http() {
        let e =
            MetricsEndpoint::start("127.0.0.1:0", Arc::new(|| "rewind_x 1\n".to_string())).unwrap();
        let get = |req: &str| {
            let mut c = TcpStream::connect(e.local_addr()).unwrap();
            c.write_all(req.as_bytes()).unwrap();
            let mut s = String::new();
            c.read_to_string(&mut s).unwrap();
            s
        };
        let ok = get("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains("version=0.0.4"));
        assert!(ok.ends_with("\r\n\r\nrewind_x 1\n"), "{ok}");
        assert!(get("GET /nope HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        assert!(get("POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
        drop(e);
    }

    #[test]
    fn an_address_in_use_is_a_bind_error() {
        let e = MetricsEndpoint::start("127.0.0.1:0", Arc::new(String::new)).unwrap();
        let err = MetricsEndpoint::start(&e.local_addr().to_string(), Arc::new(String::new))
            .err()
            .expect("in use");
        assert!(matches!(err, Error::Bind { .. }), "{err}");
    }
}
