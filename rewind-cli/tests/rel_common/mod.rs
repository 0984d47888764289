//! Harness of the reliability suite (`tests/reliability_*.rs`).
//!
//! It builds on the end-to-end harness (`common`), which runs the real
//! `rewind` binary as a child process on loopback ports and talks to it with
//! real ZeroMQ sockets that never block forever. On top of that it restarts
//! the server on the same directory on fresh ports, kills it, reads its
//! memory and file-descriptor counts from `/proc`, and pipelines requests.
//!
//! Long variants of the tests read their sizes from environment variables
//! (see [`env_usize`]); the default is the fast size that `cargo test` runs.

#![allow(dead_code)]

#[path = "../common/mod.rs"]
mod common;

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

pub use common::*;

/// A running `rewind` process; killed when dropped.
pub type Server = common::Rewind;

/// How long a client waits for a reply before the test fails.
pub const REPLY_TIMEOUT: Duration = Duration::from_millis(RECV_TIMEOUT_MS as u64);

/// An environment variable as a number, or `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {v:?}")),
        Err(_) => default,
    }
}

/// A small deterministic random generator (SplitMix64), seeded from
/// `REWIND_SEED` or the clock; the seed is printed so a failure can be
/// replayed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn from_env(what: &str) -> Rng {
        let seed = match std::env::var("REWIND_SEED") {
            Ok(s) => s.parse().expect("REWIND_SEED must be a u64"),
            Err(_) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64,
        };
        eprintln!("[{what}] seed {seed} (replay with REWIND_SEED={seed})");
        Rng(seed)
    }

    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Raises this process's soft limit on open files to at least `want` (up to
/// the hard limit). Child processes started afterwards inherit it.
/// Returns the soft limit in force.
pub fn raise_fd_limit(want: u64) -> u64 {
    unsafe {
        let mut l = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut l), 0);
        if l.rlim_cur < want {
            l.rlim_cur = want.min(l.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &l), 0);
        }
        l.rlim_cur
    }
}

/// How to start the server: a store and extra flags. Every start picks
/// fresh ports, so a restart on the same directory never meets the old ones.
#[derive(Clone, Debug)]
pub struct ServerSpec(Spawn);

impl ServerSpec {
    pub fn lmdb(dir: &Path) -> ServerSpec {
        ServerSpec(Spawn::lmdb(dir))
    }

    pub fn in_memory() -> ServerSpec {
        ServerSpec(Spawn::in_memory())
    }

    pub fn arg(self, a: impl Into<OsString>) -> ServerSpec {
        ServerSpec(self.0.arg(a))
    }

    pub fn env(self, key: impl Into<OsString>, value: impl Into<OsString>) -> ServerSpec {
        ServerSpec(self.0.env(key, value))
    }

    /// Starts the server on fresh ports and waits until it is ready. Retries
    /// with other ports when one was taken in the meantime.
    pub fn start(&self) -> Server {
        let mut last = String::new();
        for _ in 0..5 {
            let endpoints = Endpoints::fresh();
            let spawn = self.0.clone().endpoints(endpoints.clone());
            match spawn.try_start_at(endpoints) {
                Ok(s) => return s,
                Err(out) if out.contains("cannot bind endpoint") => last = out,
                Err(out) => panic!("rewind did not become ready; output:\n{out}"),
            }
        }
        panic!("rewind could not bind its endpoints in 5 tries; output:\n{last}")
    }

    /// Starts the server without waiting for readiness (for crash tests that
    /// kill it while it opens the store).
    pub fn spawn_unready(&self) -> Server {
        self.0.clone().refresh_ports().spawn_unready()
    }

    /// Runs the binary expecting it to exit by itself.
    pub fn run_to_exit(&self) -> Finished {
        self.0.clone().refresh_ports().run_to_exit()
    }
}

/// A refusal to open a store.
pub trait Refused {
    /// Asserts a clean refusal: a non-zero exit code (not a signal), no
    /// panic, no `rewind is ready`, and exactly one line on stderr. Returns it.
    fn assert_refused(&self) -> String;
}

impl Refused for Finished {
    fn assert_refused(&self) -> String {
        assert!(
            !self.stderr.contains("panicked") && !self.stderr.contains("rewind is ready"),
            "the store must be refused before serving, without a panic; stderr:\n{}",
            self.stderr
        );
        self.assert_clean_failure()
    }
}

/// Memory figures of a process, in KiB, from `/proc/PID/status`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mem {
    pub vm_rss: u64,
    pub rss_anon: u64,
    pub rss_file: u64,
}

/// What `/proc` tells about a running server.
pub trait ProcInfo {
    /// Memory from /proc/PID/status.
    fn mem(&self) -> Mem;
    /// The number of open file descriptors of the process.
    fn fd_count(&self) -> usize;
    /// Polls `/proc/PID/fd` until the count drops to `at_most` (or the
    /// deadline passes); returns the last count.
    fn fd_count_settled(&self, at_most: usize, within: Duration) -> usize;
}

impl ProcInfo for Server {
    fn mem(&self) -> Mem {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/PID/status");
        let field = |name: &str| -> u64 {
            text.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Mem {
            vm_rss: field("VmRSS:"),
            rss_anon: field("RssAnon:"),
            rss_file: field("RssFile:"),
        }
    }

    fn fd_count(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("read /proc/PID/fd")
            .count()
    }

    fn fd_count_settled(&self, at_most: usize, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        loop {
            let n = self.fd_count();
            if n <= at_most || Instant::now() >= deadline {
                return n;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Receives one message within `timeout`, or `None`.
pub fn recv_within(s: &zmq::Socket, timeout: Duration) -> Option<Vec<Vec<u8>>> {
    let ms = timeout.as_millis().min(i64::MAX as u128) as i64;
    if s.poll(zmq::POLLIN, ms).expect("poll") == 0 {
        return None;
    }
    Some(s.recv_multipart(0).expect("recv after POLLIN"))
}

/// Receives one message or fails the test.
pub fn recv(s: &zmq::Socket, what: &str) -> Vec<Vec<u8>> {
    recv_within(s, REPLY_TIMEOUT).unwrap_or_else(|| panic!("{what}: no reply in {REPLY_TIMEOUT:?}"))
}

/// Pipelined v2 publishing.
pub trait Pipelined {
    /// Sends `n` PUBLISH requests with at most `window` unanswered at once,
    /// data from `data(i)`; returns the ids in order.
    fn publish_pipelined(
        &self,
        stream: &[u8],
        n: usize,
        window: usize,
        data: impl FnMut(usize) -> Vec<u8>,
    ) -> Vec<Vec<u8>>;
}

impl Pipelined for Dealer {
    fn publish_pipelined(
        &self,
        stream: &[u8],
        n: usize,
        window: usize,
        mut data: impl FnMut(usize) -> Vec<u8>,
    ) -> Vec<Vec<u8>> {
        let mut ids = Vec::with_capacity(n);
        let mut sent = 0;
        let mut outstanding = VecDeque::new();
        while ids.len() < n {
            while sent < n && outstanding.len() < window {
                self.send(&[b"PUBLISH".as_slice(), stream, &data(sent)]);
                outstanding.push_back(sent);
                sent += 1;
            }
            let r = self.recv();
            assert!(
                r.len() == 2 && r[0] == b"PUBLISHED",
                "v2 PUBLISH: {}",
                show(&r)
            );
            outstanding.pop_front();
            ids.push(r[1].clone());
        }
        ids
    }
}

/// A SUB socket subscribed to everything; waits until it is connected.
pub fn subscriber(
    ctx: &zmq::Context,
    endpoint: &str,
    setup: impl FnOnce(&zmq::Socket),
) -> zmq::Socket {
    let s = ctx.socket(zmq::SUB).unwrap();
    s.set_linger(0).unwrap();
    setup(&s);
    s.set_subscribe(b"").unwrap();
    connect_handshaken(ctx, &s, endpoint);
    s
}

/// Waits until a subscription has reached the server: publishes probe
/// events through `probe` until one arrives on `sub` (probes are skipped by
/// callers by their `probe-` prefix).
pub fn settle_subscription(sub: &zmq::Socket, mut probe: impl FnMut()) {
    let deadline = Instant::now() + REPLY_TIMEOUT;
    while Instant::now() < deadline {
        probe();
        if recv_within(sub, Duration::from_millis(100)).is_some() {
            while recv_within(sub, Duration::from_millis(50)).is_some() {}
            return;
        }
    }
    panic!("the subscription never took effect");
}

/// A fresh temporary directory for a test.
pub fn tempdir(what: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("rewind-rel-{what}-"))
        .tempdir()
        .expect("create a temporary directory")
}

/// Opens an LMDB store read-only (as another process would).
pub fn open_read_only(dir: &Path) -> rewind_core::Store {
    let mut o = rewind_core::lmdb::LmdbOptions::new(dir);
    o.read_only = true;
    rewind_core::Store::open(&rewind_core::StoreOptions::Lmdb(o))
        .unwrap_or_else(|e| panic!("open {} read-only: {e}", dir.display()))
}
