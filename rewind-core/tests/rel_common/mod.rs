//! Harness of the reliability suite (`tests/reliability_*.rs`).
//!
//! It runs the real `rewind` binary as a child process on loopback ports,
//! kills it (SIGKILL or SIGTERM), restarts it on the same directory, reads
//! its memory and file-descriptor counts from `/proc`, and talks to it with
//! real ZeroMQ sockets that never block forever: every receive has a
//! deadline, so a server that stops answering fails a test instead of
//! hanging it.
//!
//! Long variants of the tests read their sizes from environment variables
//! (see [`env_usize`]); the default is the fast size that `cargo test` runs.

#![allow(dead_code)]

use std::collections::{HashSet, VecDeque};
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// How long the binary may take to print `rewind is ready` (builds may be
/// running on the same two cores).
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a client waits for a reply before the test fails.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(20);
/// How much of the server's output is kept for failure messages.
const OUTPUT_KEEP: usize = 64 << 10;

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

/// A loopback port that was free a moment ago and that this process has not
/// handed out before.
pub fn free_port() -> u16 {
    static GIVEN: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let given = GIVEN.get_or_init(Default::default);
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("bind an ephemeral loopback port")
            .local_addr()
            .unwrap()
            .port();
        if given.lock().unwrap().insert(port) {
            return port;
        }
    }
}

/// The four endpoints of one server process.
#[derive(Clone, Debug)]
pub struct Endpoints {
    pub query: String,
    pub streaming: String,
    pub command: String,
    pub publish: String,
}

impl Endpoints {
    pub fn fresh() -> Endpoints {
        let ep = || format!("tcp://127.0.0.1:{}", free_port());
        Endpoints {
            query: ep(),
            streaming: ep(),
            command: ep(),
            publish: ep(),
        }
    }
}

/// Which store the server serves.
#[derive(Clone, Debug)]
pub enum StoreArg {
    InMemory,
    Lmdb(PathBuf),
}

/// How to start the server.
#[derive(Clone, Debug)]
pub struct ServerSpec {
    pub store: StoreArg,
    pub extra: Vec<OsString>,
    /// Environment variables for the child.
    pub env: Vec<(String, String)>,
}

impl ServerSpec {
    pub fn lmdb(dir: &Path) -> ServerSpec {
        ServerSpec {
            store: StoreArg::Lmdb(dir.to_path_buf()),
            extra: Vec::new(),
            env: Vec::new(),
        }
    }

    pub fn in_memory() -> ServerSpec {
        ServerSpec {
            store: StoreArg::InMemory,
            extra: Vec::new(),
            env: Vec::new(),
        }
    }

    pub fn arg(mut self, a: impl Into<OsString>) -> ServerSpec {
        self.extra.push(a.into());
        self
    }

    fn command(&self, e: Option<&Endpoints>) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rewind"));
        match &self.store {
            StoreArg::InMemory => {
                cmd.arg("--in-memory");
            }
            StoreArg::Lmdb(d) => {
                cmd.arg("--data-dir").arg(d);
            }
        }
        if let Some(e) = e {
            cmd.args(["--query-bind-endpoint", &e.query])
                .args(["--streaming-bind-endpoint", &e.streaming])
                .args(["--command-bind-endpoint", &e.command])
                .args(["--publish-bind-endpoint", &e.publish]);
        }
        cmd.args(&self.extra)
            .env_remove("RUST_LOG")
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Starts the server on fresh ports and waits until it is ready. Retries
    /// with other ports when one was taken in the meantime.
    pub fn start(&self) -> Server {
        let mut last = String::new();
        for _ in 0..5 {
            match self.try_start() {
                Ok(s) => return s,
                Err(out) if out.contains("cannot bind endpoint") => last = out,
                Err(out) => panic!("rewind did not become ready; output:\n{out}"),
            }
        }
        panic!("rewind could not bind its endpoints in 5 tries; output:\n{last}")
    }

    fn try_start(&self) -> Result<Server, String> {
        let endpoints = Endpoints::fresh();
        let mut child = self
            .command(Some(&endpoints))
            .spawn()
            .expect("spawn the rewind binary");
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel::<String>();
        drain(child.stderr.take().unwrap(), output.clone(), Some(tx));
        drain(child.stdout.take().unwrap(), output.clone(), None);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains("rewind is ready") => break,
                Ok(_) => {}
                Err(e) => {
                    if e == mpsc::RecvTimeoutError::Timeout {
                        let _ = child.kill();
                    }
                    let _ = child.wait();
                    thread::sleep(Duration::from_millis(50));
                    let out = output.lock().unwrap().clone();
                    return Err(out);
                }
            }
        }
        let pid = child.id() as i32;
        Ok(Server {
            child: Some(child),
            pid,
            endpoints,
            output,
        })
    }

    /// Starts the server without waiting for readiness (for crash tests that
    /// kill it while it opens the store).
    pub fn spawn_unready(&self) -> Server {
        let endpoints = Endpoints::fresh();
        let mut child = self
            .command(Some(&endpoints))
            .spawn()
            .expect("spawn the rewind binary");
        let output = Arc::new(Mutex::new(String::new()));
        drain(child.stderr.take().unwrap(), output.clone(), None);
        drain(child.stdout.take().unwrap(), output.clone(), None);
        let pid = child.id() as i32;
        Server {
            child: Some(child),
            pid,
            endpoints,
            output,
        }
    }

    /// Runs the binary expecting it to exit by itself.
    pub fn run_to_exit(&self) -> Finished {
        let mut child = self
            .command(Some(&Endpoints::fresh()))
            .spawn()
            .expect("spawn the rewind binary");
        let out = Arc::new(Mutex::new(String::new()));
        let err = Arc::new(Mutex::new(String::new()));
        let h1 = drain(child.stderr.take().unwrap(), err.clone(), None);
        let h2 = drain(child.stdout.take().unwrap(), out.clone(), None);
        let status = match wait_timeout(&mut child, Duration::from_secs(30)) {
            Some(s) => s,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "rewind was expected to exit by itself; stderr:\n{}",
                    err.lock().unwrap()
                );
            }
        };
        let _ = h1.join();
        let _ = h2.join();
        let stderr = err.lock().unwrap().clone();
        let stdout = out.lock().unwrap().clone();
        Finished {
            status,
            stdout,
            stderr,
        }
    }
}

/// A process that ran to its end.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// Asserts a clean refusal: a non-zero exit code (not a signal), no
    /// panic, no `rewind is ready`, and exactly one line on stderr. Returns it.
    pub fn assert_refused(&self) -> String {
        assert!(
            !self.status.success() && self.status.code().is_some(),
            "expected a non-zero exit code, got {:?}; stderr:\n{}",
            self.status,
            self.stderr
        );
        assert!(
            !self.stderr.contains("panicked") && !self.stderr.contains("rewind is ready"),
            "the store must be refused before serving, without a panic; stderr:\n{}",
            self.stderr
        );
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "expected a one-line error, got:\n{}",
            self.stderr
        );
        lines[0].to_string()
    }
}

fn drain(
    pipe: impl Read + Send + 'static,
    into: Arc<Mutex<String>>,
    lines: Option<mpsc::Sender<String>>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf).into_owned();
                    {
                        let mut out = into.lock().unwrap();
                        out.push_str(&line);
                        if out.len() > 2 * OUTPUT_KEEP {
                            let mut cut = out.len() - OUTPUT_KEEP;
                            while !out.is_char_boundary(cut) {
                                cut += 1;
                            }
                            out.replace_range(..cut, "[...]\n");
                        }
                    }
                    if let Some(tx) = &lines {
                        let _ = tx.send(line);
                    }
                }
            }
        }
    })
}

fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            return Some(s);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Memory figures of a process, in KiB, from `/proc/PID/status`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mem {
    pub vm_rss: u64,
    pub rss_anon: u64,
    pub rss_file: u64,
}

/// A running `rewind` process; killed when dropped.
pub struct Server {
    child: Option<Child>,
    pub pid: i32,
    pub endpoints: Endpoints,
    output: Arc<Mutex<String>>,
}

impl Server {
    /// What the process wrote so far (the last part of it).
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// The last lines of the output, for failure messages.
    pub fn tail(&self) -> String {
        let out = self.output();
        let lines: Vec<&str> = out.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    pub fn signal(&self, sig: i32) {
        let rc = unsafe { libc::kill(self.pid, sig) };
        assert_eq!(rc, 0, "kill({}, {sig}) failed", self.pid);
    }

    /// SIGKILL, and waits for the process to be gone.
    pub fn kill9(&mut self) -> ExitStatus {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            c.wait().expect("wait for the killed server")
        } else {
            panic!("server already gone")
        }
    }

    /// SIGTERM; asserts a clean exit with status 0.
    pub fn stop(mut self) {
        self.signal(libc::SIGTERM);
        let mut child = self.child.take().unwrap();
        let status = wait_timeout(&mut child, Duration::from_secs(30))
            .unwrap_or_else(|| panic!("rewind did not stop on SIGTERM:\n{}", self.tail()));
        thread::sleep(Duration::from_millis(20));
        assert_eq!(
            status.code(),
            Some(0),
            "rewind must exit 0 on SIGTERM, got {status:?}:\n{}",
            self.tail()
        );
        assert!(!self.output().contains("panicked"), "{}", self.output());
    }

    /// Panics (with the output) unless the process is still running.
    pub fn assert_running(&mut self) {
        let c = self.child.as_mut().expect("process handle");
        if let Some(status) = c.try_wait().unwrap() {
            thread::sleep(Duration::from_millis(50));
            panic!(
                "rewind is no longer running ({status:?}); output:\n{}",
                self.tail()
            );
        }
    }

    /// Memory from /proc/PID/status.
    pub fn mem(&self) -> Mem {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
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

    /// The number of open file descriptors of the process.
    pub fn fd_count(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid))
            .expect("read /proc/PID/fd")
            .count()
    }

    /// Polls `/proc/PID/fd` until the count drops to `at_most` (or the
    /// deadline passes); returns the last count.
    pub fn fd_count_settled(&self, at_most: usize, within: Duration) -> usize {
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

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A socket with linger 0, connected to `endpoint`.
pub fn socket(ctx: &zmq::Context, kind: zmq::SocketType, endpoint: &str) -> zmq::Socket {
    let s = ctx.socket(kind).unwrap();
    s.set_linger(0).unwrap();
    s.set_sndtimeo(REPLY_TIMEOUT.as_millis() as i32).unwrap();
    s.set_rcvtimeo(REPLY_TIMEOUT.as_millis() as i32).unwrap();
    s.connect(endpoint).unwrap();
    s
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

/// Shows frames for an assertion message.
pub fn show(frames: &[Vec<u8>]) -> String {
    let shown: Vec<String> = frames
        .iter()
        .take(6)
        .map(|f| {
            let s = f.iter().take(80).copied().collect::<Vec<u8>>();
            format!("{:?}", s.escape_ascii().to_string())
        })
        .collect();
    format!("{} frame(s): [{}]", frames.len(), shown.join(", "))
}

/// A v1 REQ client.
pub struct V1 {
    pub sock: zmq::Socket,
}

impl V1 {
    pub fn connect(ctx: &zmq::Context, server: &Server) -> V1 {
        V1 {
            sock: socket(ctx, zmq::REQ, &server.endpoints.query),
        }
    }

    pub fn request<F: AsRef<[u8]>>(&self, frames: &[F]) -> Vec<Vec<u8>> {
        let parts: Vec<&[u8]> = frames.iter().map(|f| f.as_ref()).collect();
        self.sock.send_multipart(parts, 0).expect("REQ send");
        recv(&self.sock, "v1 request")
    }

    /// PUBLISH; returns the reply frames.
    pub fn publish(&self, data: &[u8]) -> Vec<Vec<u8>> {
        self.request(&[b"PUBLISH".as_slice(), data])
    }

    pub fn publish_ok(&self, data: &[u8]) {
        let r = self.publish(data);
        assert_eq!(r, vec![b"PUBLISHED".to_vec()], "v1 PUBLISH: {}", show(&r));
    }

    /// Every event of the v1 stream from `from` on (exclusive) up to `to`
    /// (inclusive; empty: to the end), paging like the original client.
    pub fn query_range(&self, from: &[u8], to: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut all = Vec::new();
        let mut from = from.to_vec();
        loop {
            let r = self.request(&[b"QUERY".as_slice(), &from, to]);
            let end = r.len() % 2 == 1;
            if end {
                assert_eq!(r.last().unwrap(), b"END", "v1 QUERY reply: {}", show(&r));
            } else {
                assert_eq!(r.len(), 200, "v1 QUERY page: {}", show(&r));
            }
            let pairs = &r[..r.len() - usize::from(end)];
            for c in pairs.chunks(2) {
                all.push((c[0].clone(), c[1].clone()));
            }
            if end {
                return all;
            }
            from = all.last().unwrap().0.clone();
        }
    }

    pub fn query_all(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.query_range(b"", b"")
    }
}

/// An event as the wire shows it: (id, data).
pub type IdData = (Vec<u8>, Vec<u8>);

/// A v2 DEALER client.
pub struct V2 {
    pub sock: zmq::Socket,
}

impl V2 {
    pub fn connect(ctx: &zmq::Context, server: &Server) -> V2 {
        V2 {
            sock: socket(ctx, zmq::DEALER, &server.endpoints.command),
        }
    }

    pub fn send<F: AsRef<[u8]>>(&self, frames: &[F]) {
        let mut parts: Vec<&[u8]> = vec![b""];
        parts.extend(frames.iter().map(|f| f.as_ref()));
        self.sock.send_multipart(parts, 0).expect("DEALER send");
    }

    /// One message, delimiter stripped.
    pub fn recv(&self) -> Vec<Vec<u8>> {
        let mut m = recv(&self.sock, "v2 reply");
        assert!(
            !m.is_empty() && m[0].is_empty(),
            "v2 reply without delimiter: {}",
            show(&m)
        );
        m.remove(0);
        m
    }

    pub fn request<F: AsRef<[u8]>>(&self, frames: &[F]) -> Vec<Vec<u8>> {
        self.send(frames);
        self.recv()
    }

    /// PUBLISH; returns the id.
    pub fn publish_ok(&self, stream: &[u8], data: &[u8]) -> Vec<u8> {
        let r = self.request(&[b"PUBLISH".as_slice(), stream, data]);
        assert!(
            r.len() == 2 && r[0] == b"PUBLISHED",
            "v2 PUBLISH: {}",
            show(&r)
        );
        r[1].clone()
    }

    /// Sends `n` PUBLISH requests with at most `window` unanswered at once,
    /// data from `data(i)`; returns the ids in order.
    pub fn publish_pipelined(
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

    /// A streamed QUERY: `Ok(events)` or `Err(error text)`.
    pub fn query(&self, stream: &[u8], from: &[u8], to: &[u8]) -> Result<Vec<IdData>, String> {
        self.send(&[b"QUERY".as_slice(), stream, from, to]);
        let mut events = Vec::new();
        loop {
            let m = self.recv();
            match m.first().map(Vec::as_slice) {
                Some(b"EVENT") if m.len() == 3 => events.push((m[1].clone(), m[2].clone())),
                Some(b"END") if m.len() == 1 => return Ok(events),
                Some(f) if m.len() == 1 && f.starts_with(b"ERROR ") && events.is_empty() => {
                    return Err(String::from_utf8_lossy(f).into_owned())
                }
                _ => panic!("unexpected v2 QUERY message: {}", show(&m)),
            }
        }
    }
}

/// A SUB socket subscribed to everything; waits until it is connected.
pub fn subscriber(
    ctx: &zmq::Context,
    endpoint: &str,
    setup: impl FnOnce(&zmq::Socket),
) -> zmq::Socket {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let s = ctx.socket(zmq::SUB).unwrap();
    s.set_linger(0).unwrap();
    setup(&s);
    s.set_subscribe(b"").unwrap();
    let addr = format!(
        "inproc://rel-monitor-{}",
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    s.monitor(&addr, zmq::SocketEvent::HANDSHAKE_SUCCEEDED as i32)
        .unwrap();
    let mon = ctx.socket(zmq::PAIR).unwrap();
    mon.set_linger(0).unwrap();
    mon.connect(&addr).unwrap();
    s.connect(endpoint).unwrap();
    let ev = recv_within(&mon, REPLY_TIMEOUT)
        .unwrap_or_else(|| panic!("SUB could not connect to {endpoint}"));
    assert_eq!(
        u16::from_le_bytes([ev[0][0], ev[0][1]]),
        zmq::SocketEvent::HANDSHAKE_SUCCEEDED as u16
    );
    s.monitor("", 0).ok();
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
