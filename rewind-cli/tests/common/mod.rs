//! Shared harness for the end-to-end tests.
//!
//! It starts the real `rewind` binary as a child process on loopback with
//! fresh ports, waits for `rewind is ready` on its stderr, and talks to it with
//! real ZeroMQ sockets that carry receive timeouts, so a server bug fails a
//! test instead of hanging it. The child is killed when its handle drops.
//!
//! The reliability suite (`rel_common`) builds on this module.

#![allow(dead_code)]

use std::collections::HashSet;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// How long a client waits for any single reply message.
pub const RECV_TIMEOUT_MS: i32 = 20_000;
/// How long the binary may take to print `rewind is ready` (the machine may be busy building).
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a stopping server may take to exit.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of the server's output is kept for failure messages.
const OUTPUT_KEEP: usize = 64 << 10;
/// The v1 cap on events per QUERY reply.
pub const V1_PAGE: usize = 100;

/// Path of the binary under test: `REWIND_E2E_BIN` when set (to run this
/// suite against another build or another implementation of the same CLI),
/// else the `rewind` binary of this package.
pub fn rewind_bin() -> PathBuf {
    match std::env::var_os("REWIND_E2E_BIN") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_rewind")),
    }
}

/// A loopback TCP port that was free a moment ago and that no other test in
/// this process has been handed.
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

/// `tcp://127.0.0.1:PORT`
pub fn tcp(port: u16) -> String {
    format!("tcp://127.0.0.1:{port}")
}

/// The four endpoints of one server.
#[derive(Clone, Debug)]
pub struct Endpoints {
    /// v1 REQ/REP endpoint.
    pub query: String,
    /// v1 PUB endpoint.
    pub streaming: String,
    /// v2 ROUTER endpoint.
    pub command: String,
    /// v2 PUB endpoint.
    pub publish: String,
}

impl Endpoints {
    /// Four fresh loopback endpoints.
    pub fn fresh() -> Endpoints {
        Endpoints {
            query: tcp(free_port()),
            streaming: tcp(free_port()),
            command: tcp(free_port()),
            publish: tcp(free_port()),
        }
    }

    fn flags(&self) -> Vec<OsString> {
        [
            ("--query-bind-endpoint", &self.query),
            ("--streaming-bind-endpoint", &self.streaming),
            ("--command-bind-endpoint", &self.command),
            ("--publish-bind-endpoint", &self.publish),
        ]
        .iter()
        .flat_map(|(f, v)| [OsString::from(f), OsString::from(v)])
        .collect()
    }
}

/// How to launch the binary. By default: fresh endpoints passed as flags.
#[derive(Clone, Debug)]
pub struct Spawn {
    config: Option<PathBuf>,
    args: Vec<OsString>,
    endpoints: Option<Endpoints>,
    cwd: Option<PathBuf>,
    env: Vec<(OsString, OsString)>,
}

impl Default for Spawn {
    fn default() -> Self {
        Spawn::new()
    }
}

impl Spawn {
    /// Fresh endpoints (as flags), no store option yet.
    pub fn new() -> Spawn {
        Spawn {
            config: None,
            args: Vec::new(),
            endpoints: Some(Endpoints::fresh()),
            cwd: None,
            env: Vec::new(),
        }
    }

    /// Nothing at all on the command line (the embedded default).
    pub fn bare() -> Spawn {
        Spawn {
            config: None,
            args: Vec::new(),
            endpoints: None,
            cwd: None,
            env: Vec::new(),
        }
    }

    /// A durable LMDB store in `dir`, fresh endpoints.
    pub fn lmdb(dir: &Path) -> Spawn {
        Spawn::new().arg("--data-dir").arg(dir)
    }

    /// An in-memory store, fresh endpoints.
    pub fn in_memory() -> Spawn {
        Spawn::new().arg("--in-memory")
    }

    /// Pass CONFIGFILE as the positional argument.
    pub fn config(mut self, path: &Path) -> Spawn {
        self.config = Some(path.to_path_buf());
        self
    }

    /// Do not pass endpoint flags (the config file or the default provides them).
    pub fn without_endpoint_flags(mut self) -> Spawn {
        self.endpoints = None;
        self
    }

    /// Use these endpoints (as flags) instead of fresh ones.
    pub fn endpoints(mut self, e: Endpoints) -> Spawn {
        self.endpoints = Some(e);
        self
    }

    /// Pick fresh ports again (for a restart on the same store).
    pub fn refresh_ports(mut self) -> Spawn {
        if self.endpoints.is_some() {
            self.endpoints = Some(Endpoints::fresh());
        }
        self
    }

    /// One more command-line argument.
    pub fn arg(mut self, a: impl Into<OsString>) -> Spawn {
        self.args.push(a.into());
        self
    }

    /// Run in this working directory.
    pub fn cwd(mut self, dir: &Path) -> Spawn {
        self.cwd = Some(dir.to_path_buf());
        self
    }

    /// One more environment variable for the child.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Spawn {
        self.env.push((key.into(), value.into()));
        self
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(rewind_bin());
        if let Some(c) = &self.config {
            cmd.arg(c);
        }
        if let Some(e) = &self.endpoints {
            cmd.args(e.flags());
        }
        cmd.args(&self.args);
        if let Some(d) = &self.cwd {
            cmd.current_dir(d);
        }
        cmd.env_remove("RUST_LOG")
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Start the binary and wait until it reports `rewind is ready`.
    /// `endpoints` must be given for clients (they come from flags, or use
    /// [`Spawn::start_at`] when a config file names them).
    pub fn start(&self) -> Rewind {
        let e = self
            .endpoints
            .clone()
            .expect("Spawn::start needs endpoints; use start_at with a config file");
        self.start_at(e)
    }

    /// Start the binary; clients will connect to `endpoints`.
    pub fn start_at(&self, endpoints: Endpoints) -> Rewind {
        self.try_start_at(endpoints)
            .unwrap_or_else(|output| panic!("rewind exited before it was ready; output:\n{output}"))
    }

    /// Start the binary; `Err(output)` when it exits before it is ready.
    /// Panics when it neither becomes ready nor exits in time.
    pub fn try_start_at(&self, endpoints: Endpoints) -> Result<Rewind, String> {
        let mut child = self.command().spawn().expect("spawn the rewind binary");
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
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "rewind did not print `rewind is ready` within {READY_TIMEOUT:?}; output:\n{}",
                        output.lock().unwrap()
                    );
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = wait_timeout(&mut child, EXIT_TIMEOUT);
                    thread::sleep(Duration::from_millis(50));
                    let out = output.lock().unwrap();
                    return Err(format!("(exit status {status:?})\n{out}"));
                }
            }
        }
        Ok(Rewind {
            child: Some(child),
            endpoints,
            output,
            ctx: zmq::Context::new(),
        })
    }

    /// Start the binary without waiting for it to be ready (to kill it while
    /// it opens its store, for instance).
    pub fn spawn_unready(&self) -> Rewind {
        let mut child = self.command().spawn().expect("spawn the rewind binary");
        let output = Arc::new(Mutex::new(String::new()));
        drain(child.stderr.take().unwrap(), output.clone(), None);
        drain(child.stdout.take().unwrap(), output.clone(), None);
        Rewind {
            child: Some(child),
            endpoints: self
                .endpoints
                .clone()
                .expect("spawn_unready needs endpoints"),
            output,
            ctx: zmq::Context::new(),
        }
    }

    /// Run the binary expecting it to exit by itself (a failure to start, or
    /// `--help`). Panics if it becomes ready or does not exit in time.
    pub fn run_to_exit(&self) -> Finished {
        let mut child = self.command().spawn().expect("spawn the rewind binary");
        let stderr = Arc::new(Mutex::new(String::new()));
        let stdout = Arc::new(Mutex::new(String::new()));
        let h1 = drain(child.stderr.take().unwrap(), stderr.clone(), None);
        let h2 = drain(child.stdout.take().unwrap(), stdout.clone(), None);
        let status = wait_timeout(&mut child, EXIT_TIMEOUT);
        let status = match status {
            Some(s) => s,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "rewind did not exit within {EXIT_TIMEOUT:?}; it was expected to; stderr:\n{}",
                    stderr.lock().unwrap()
                );
            }
        };
        let _ = h1.join();
        let _ = h2.join();
        let stderr = stderr.lock().unwrap().clone();
        let stdout = stdout.lock().unwrap().clone();
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
    /// Asserts a clean failure: non-zero exit status, no panic trace, and an
    /// error that fits on one line of stderr. Returns that line.
    pub fn assert_clean_failure(&self) -> String {
        assert!(
            !self.status.success() && self.status.code().is_some(),
            "expected a non-zero exit status, got {:?}; stderr:\n{}",
            self.status,
            self.stderr
        );
        assert_no_panic(&self.stderr);
        assert_no_panic(&self.stdout);
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "expected a one-line error on stderr, got {} lines:\n{}",
            lines.len(),
            self.stderr
        );
        lines[0].to_string()
    }
}

/// Asserts that `text` carries no Rust panic trace.
pub fn assert_no_panic(text: &str) {
    assert!(
        !text.contains("panicked at") && !text.contains("stack backtrace"),
        "a Rust panic trace appeared:\n{text}"
    );
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
                    keep_tail(&mut into.lock().unwrap(), &line);
                    if let Some(tx) = &lines {
                        let _ = tx.send(line);
                    }
                }
            }
        }
    })
}

/// Appends `line` to `out`, keeping only the last part of a long output.
fn keep_tail(out: &mut String, line: &str) {
    out.push_str(line);
    if out.len() > 2 * OUTPUT_KEEP {
        let mut cut = out.len() - OUTPUT_KEEP;
        while !out.is_char_boundary(cut) {
            cut += 1;
        }
        out.replace_range(..cut, "[...]\n");
    }
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
        thread::sleep(Duration::from_millis(20));
    }
}

/// A running `rewind` process. Killed on drop.
pub struct Rewind {
    child: Option<Child>,
    /// Where its sockets are.
    pub endpoints: Endpoints,
    output: Arc<Mutex<String>>,
    /// The client-side ZeroMQ context.
    pub ctx: zmq::Context,
}

impl Rewind {
    /// Everything the process wrote to stderr and stdout so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// The process id.
    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("process handle").id() as i32
    }

    /// Sends a signal to the process.
    pub fn signal(&self, sig: i32) {
        let rc = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(rc, 0, "kill({sig}) failed");
    }

    /// Waits for the process to exit by itself.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let child = self.child.as_mut().expect("process handle");
        match wait_timeout(child, EXIT_TIMEOUT) {
            Some(s) => {
                // Let the drain threads catch the last lines.
                thread::sleep(Duration::from_millis(50));
                assert_no_panic(&self.output());
                s
            }
            None => panic!(
                "rewind did not exit within {EXIT_TIMEOUT:?}; output:\n{}",
                self.output()
            ),
        }
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .expect("process handle")
            .try_wait()
            .unwrap()
            .is_none()
    }

    /// Asserts the process is still running (did not crash).
    pub fn assert_running(&mut self) {
        if !self.is_running() {
            let status = self.wait_exit();
            panic!(
                "rewind is no longer running ({status:?}); output:\n{}",
                self.output()
            );
        }
    }

    /// SIGKILL, and waits for the process to be gone.
    pub fn kill9(&mut self) -> ExitStatus {
        let mut c = self.child.take().expect("server already gone");
        let _ = c.kill();
        c.wait().expect("wait for the killed server")
    }

    /// SIGTERM, then asserts a clean exit with status 0.
    pub fn stop(mut self) {
        self.signal(libc::SIGTERM);
        let status = self.wait_exit();
        assert_eq!(
            status.code(),
            Some(0),
            "rewind should exit 0 on SIGTERM, got {status:?}; output:\n{}",
            self.output()
        );
    }

    /// The last lines of the output, for failure messages.
    pub fn tail(&self) -> String {
        tail_of(&self.output)
    }

    fn socket(&self, kind: zmq::SocketType) -> zmq::Socket {
        unconnected(&self.ctx, kind)
    }

    /// A v1 REQ client on the query endpoint.
    pub fn req(&self) -> Req {
        Req::connect(&self.ctx, self)
    }

    /// A v2 DEALER client on the command endpoint.
    pub fn dealer(&self) -> Dealer {
        self.dealer_with(|_| {})
    }

    /// A v2 DEALER client, with socket options set before it connects.
    pub fn dealer_with(&self, setup: impl FnOnce(&zmq::Socket)) -> Dealer {
        let sock = self.socket(zmq::DEALER);
        setup(&sock);
        sock.connect(&self.endpoints.command).unwrap();
        Dealer {
            sock,
            log: self.output.clone(),
        }
    }

    /// A raw socket of any type connected to `endpoint`, with timeouts set.
    pub fn raw(&self, kind: zmq::SocketType, endpoint: &str) -> zmq::Socket {
        socket(&self.ctx, kind, endpoint)
    }

    /// A SUB on the v1 streaming endpoint, subscribed to everything, connected.
    pub fn v1_sub(&self) -> Sub {
        self.sub(&self.endpoints.streaming.clone(), b"")
    }

    /// A SUB on the v2 publish endpoint, subscribed to `prefix`, connected.
    pub fn v2_sub(&self, prefix: &[u8]) -> Sub {
        self.sub(&self.endpoints.publish.clone(), prefix)
    }

    fn sub(&self, endpoint: &str, prefix: &[u8]) -> Sub {
        let sock = self.socket(zmq::SUB);
        sock.set_rcvhwm(0).unwrap();
        sock.set_subscribe(prefix).unwrap();
        connect_handshaken(&self.ctx, &sock, endpoint);
        // The subscription goes out right after the handshake; give the
        // server a moment to take it in before anything is published.
        thread::sleep(Duration::from_millis(200));
        Sub {
            sock,
            log: self.output.clone(),
        }
    }
}

/// A socket with linger 0 and send/receive timeouts, not yet connected.
pub fn unconnected(ctx: &zmq::Context, kind: zmq::SocketType) -> zmq::Socket {
    let s = ctx.socket(kind).unwrap();
    s.set_linger(0).unwrap();
    s.set_rcvtimeo(RECV_TIMEOUT_MS).unwrap();
    s.set_sndtimeo(RECV_TIMEOUT_MS).unwrap();
    s
}

/// A socket with linger 0 and send/receive timeouts, connected to `endpoint`.
pub fn socket(ctx: &zmq::Context, kind: zmq::SocketType, endpoint: &str) -> zmq::Socket {
    let s = unconnected(ctx, kind);
    s.connect(endpoint).unwrap();
    s
}

/// Connects `sock` to `endpoint` and waits until the ZMTP handshake is done
/// (so that a SUB's subscription is on its way before anything is published).
pub fn connect_handshaken(ctx: &zmq::Context, sock: &zmq::Socket, endpoint: &str) {
    static N: AtomicUsize = AtomicUsize::new(0);
    let addr = format!(
        "inproc://test-monitor-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    sock.monitor(&addr, zmq::SocketEvent::HANDSHAKE_SUCCEEDED as i32)
        .unwrap();
    let mon = ctx.socket(zmq::PAIR).unwrap();
    mon.set_linger(0).unwrap();
    mon.set_rcvtimeo(RECV_TIMEOUT_MS).unwrap();
    mon.connect(&addr).unwrap();
    sock.connect(endpoint).unwrap();
    let ev = mon
        .recv_multipart(0)
        .unwrap_or_else(|e| panic!("could not connect to {endpoint}: {e}"));
    let code = u16::from_le_bytes([ev[0][0], ev[0][1]]);
    assert_eq!(
        zmq::SocketEvent::from_raw(code),
        zmq::SocketEvent::HANDSHAKE_SUCCEEDED
    );
    sock.monitor("", 0).ok();
}

/// A log for a client that is not tied to one server's output.
fn detached_log() -> Arc<Mutex<String>> {
    Arc::new(Mutex::new("(server output not attached)".to_string()))
}

impl Drop for Rewind {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn tail_of(log: &Arc<Mutex<String>>) -> String {
    let all = log.lock().unwrap();
    let lines: Vec<&str> = all.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Renders frames for an assertion message.
pub fn show(frames: &[Vec<u8>]) -> String {
    let mut out = format!("{} frame(s): [", frames.len());
    for (i, f) in frames.iter().take(8).enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let shown: Vec<u8> = f.iter().take(60).copied().collect();
        out.push_str(&format!("{:?}", shown.escape_ascii().to_string()));
        if f.len() > 60 {
            out.push_str(&format!("..({} bytes)", f.len()));
        }
    }
    if frames.len() > 8 {
        out.push_str(", ...");
    }
    out.push(']');
    out
}

/// Asserts `id` is a UUID in the canonical 36-character lowercase hyphenated form.
pub fn assert_canonical_uuid(id: &[u8]) {
    let text = std::str::from_utf8(id)
        .unwrap_or_else(|_| panic!("id is not text: {:?}", id.escape_ascii().to_string()));
    assert_eq!(text.len(), 36, "id {text:?} is not 36 characters");
    let parsed =
        uuid::Uuid::try_parse(text).unwrap_or_else(|e| panic!("id {text:?} is not a UUID: {e}"));
    assert_eq!(
        parsed.hyphenated().to_string(),
        text,
        "id is not in canonical lowercase form"
    );
}

/// One v1 QUERY reply, parsed and checked for shape.
#[derive(Debug)]
pub struct Page {
    pub events: Vec<(Vec<u8>, Vec<u8>)>,
    pub end: bool,
}

/// Parses a v1 QUERY reply: id, data pairs then `END`, or exactly 100 pairs
/// without `END`. Panics on any other shape (including an ERROR reply).
pub fn parse_v1_page(frames: &[Vec<u8>]) -> Page {
    let end = frames.len() % 2 == 1;
    if end {
        assert_eq!(
            frames.last().unwrap().as_slice(),
            b"END",
            "a QUERY reply must end with END or be exactly {V1_PAGE} events; got {}",
            show(frames)
        );
        let n = frames.len() / 2;
        assert!(
            n < V1_PAGE,
            "a QUERY reply of {n} events must not carry END (at most {V1_PAGE} per reply, and no END when exactly {V1_PAGE})"
        );
    } else {
        assert_eq!(
            frames.len(),
            2 * V1_PAGE,
            "a QUERY reply without END must hold exactly {V1_PAGE} events; got {}",
            show(frames)
        );
    }
    let events = frames[..frames.len() - usize::from(end)]
        .chunks(2)
        .map(|c| (c[0].clone(), c[1].clone()))
        .collect();
    Page { events, end }
}

/// Asserts `frames` is one error frame: `ERROR <reason>`. Returns the frame as text.
pub fn assert_error_frame(frames: &[Vec<u8>], what: &str) -> String {
    assert_eq!(
        frames.len(),
        1,
        "{what}: an error reply is a single frame; got {}",
        show(frames)
    );
    let f = &frames[0];
    assert!(
        f.starts_with(b"ERROR ") && f.len() > b"ERROR ".len(),
        "{what}: expected `ERROR <reason>`; got {}",
        show(frames)
    );
    String::from_utf8_lossy(f).into_owned()
}

/// A v1 REQ client.
pub struct Req {
    pub sock: zmq::Socket,
    log: Arc<Mutex<String>>,
}

impl Req {
    /// A REQ client in `ctx` on the query endpoint of `server`.
    pub fn connect(ctx: &zmq::Context, server: &Rewind) -> Req {
        Req {
            sock: socket(ctx, zmq::REQ, &server.endpoints.query),
            log: server.output.clone(),
        }
    }

    /// A client over a connected REQ socket.
    pub fn on(sock: zmq::Socket) -> Req {
        Req {
            sock,
            log: detached_log(),
        }
    }

    /// Sends one multipart request and returns the reply frames.
    pub fn request<F: AsRef<[u8]>>(&self, frames: &[F]) -> Vec<Vec<u8>> {
        let parts: Vec<&[u8]> = frames.iter().map(|f| f.as_ref()).collect();
        self.sock
            .send_multipart(parts, 0)
            .unwrap_or_else(|e| panic!("REQ send failed: {e}"));
        self.sock.recv_multipart(0).unwrap_or_else(|e| {
            panic!(
                "no v1 reply within {RECV_TIMEOUT_MS} ms ({e}); server output tail:\n{}",
                tail_of(&self.log)
            )
        })
    }

    /// PUBLISH data; asserts the reply is the single frame `PUBLISHED`.
    pub fn publish(&self, data: &[u8]) {
        let reply = self.request(&[b"PUBLISH".as_slice(), data]);
        assert_eq!(
            reply,
            vec![b"PUBLISHED".to_vec()],
            "PUBLISH reply: {}",
            show(&reply)
        );
    }

    /// One QUERY page.
    pub fn page(&self, from: &[u8], to: &[u8]) -> Page {
        let reply = self.request(&[b"QUERY".as_slice(), from, to]);
        parse_v1_page(&reply)
    }

    /// QUERY from..to, asserting a single reply with END (fewer than 100 events).
    pub fn query(&self, from: &[u8], to: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let p = self.page(from, to);
        assert!(p.end, "expected END in the reply");
        p.events
    }

    /// Pages through QUERY from `from` to `to` like the original client.
    pub fn query_all_range(&self, from: &[u8], to: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut all = Vec::new();
        let mut from = from.to_vec();
        for _ in 0..100_000 {
            let p = self.page(&from, to);
            if let Some((last, _)) = p.events.last() {
                from = last.clone();
            }
            all.extend(p.events);
            if p.end {
                return all;
            }
        }
        panic!("paging never reached END");
    }

    /// Every event of the v1 stream, paging as needed.
    pub fn query_all(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.query_all_range(b"", b"")
    }

    /// Sends a request that must be answered with one `ERROR <reason>` frame.
    pub fn expect_error<F: AsRef<[u8]>>(&self, frames: &[F], what: &str) -> String {
        let reply = self.request(frames);
        assert_error_frame(&reply, what)
    }

    /// Asserts the server still answers this client: a PUBLISH, then a QUERY
    /// whose last event is the one just published.
    pub fn assert_still_serving(&self) {
        static N: AtomicUsize = AtomicUsize::new(0);
        let marker = format!("still-serving-{}", N.fetch_add(1, Ordering::Relaxed));
        self.publish(marker.as_bytes());
        let all = self.query_all();
        assert_eq!(
            all.last().map(|e| e.1.as_slice()),
            Some(marker.as_bytes()),
            "the event just published must be the last one"
        );
    }
}

/// A v2 DEALER client (sends the empty delimiter itself).
pub struct Dealer {
    pub sock: zmq::Socket,
    log: Arc<Mutex<String>>,
}

/// One event of a v2 query: (id, data).
pub type Ev = (Vec<u8>, Vec<u8>);

impl Dealer {
    /// A DEALER client in `ctx` on the command endpoint of `server`.
    pub fn connect(ctx: &zmq::Context, server: &Rewind) -> Dealer {
        Dealer {
            sock: socket(ctx, zmq::DEALER, &server.endpoints.command),
            log: server.output.clone(),
        }
    }

    /// A client over a connected DEALER socket.
    pub fn on(sock: zmq::Socket) -> Dealer {
        Dealer {
            sock,
            log: detached_log(),
        }
    }

    /// Sends [``, frames...].
    pub fn send<F: AsRef<[u8]>>(&self, frames: &[F]) {
        let mut parts: Vec<&[u8]> = vec![b""];
        parts.extend(frames.iter().map(|f| f.as_ref()));
        self.sock
            .send_multipart(parts, 0)
            .unwrap_or_else(|e| panic!("DEALER send failed: {e}"));
    }

    /// Receives one message, asserts the empty delimiter and strips it.
    pub fn recv(&self) -> Vec<Vec<u8>> {
        let mut msg = self.sock.recv_multipart(0).unwrap_or_else(|e| {
            panic!(
                "no v2 message within {RECV_TIMEOUT_MS} ms ({e}); server output tail:\n{}",
                tail_of(&self.log)
            )
        });
        assert!(
            !msg.is_empty() && msg[0].is_empty(),
            "a v2 reply must start with the empty delimiter; got {}",
            show(&msg)
        );
        msg.remove(0);
        msg
    }

    /// Receives within `ms` milliseconds, or None.
    pub fn try_recv(&self, ms: i64) -> Option<Vec<Vec<u8>>> {
        if self.sock.poll(zmq::POLLIN, ms).unwrap() == 0 {
            return None;
        }
        Some(self.recv())
    }

    /// Asserts nothing arrives within `ms` milliseconds.
    pub fn assert_silent(&self, ms: i64, what: &str) {
        if let Some(m) = self.try_recv(ms) {
            panic!("{what}: expected nothing more, got {}", show(&m));
        }
    }

    /// One request, one reply message.
    pub fn request<F: AsRef<[u8]>>(&self, frames: &[F]) -> Vec<Vec<u8>> {
        self.send(frames);
        self.recv()
    }

    /// PUBLISH stream data; asserts [PUBLISHED, id] and returns the id.
    pub fn publish(&self, stream: &[u8], data: &[u8]) -> Vec<u8> {
        let reply = self.request(&[b"PUBLISH".as_slice(), stream, data]);
        parse_published(&reply)
    }

    /// Reads one streamed QUERY result: EVENT messages then END, or an ERROR.
    pub fn read_query(&self) -> Result<Vec<Ev>, String> {
        let mut events = Vec::new();
        loop {
            let msg = self.recv();
            match msg.first().map(|f| f.as_slice()) {
                Some(b"EVENT") => {
                    assert_eq!(msg.len(), 3, "EVENT message: {}", show(&msg));
                    let mut it = msg.into_iter().skip(1);
                    events.push((it.next().unwrap(), it.next().unwrap()));
                }
                Some(b"END") => {
                    assert_eq!(msg.len(), 1, "END message: {}", show(&msg));
                    return Ok(events);
                }
                _ => {
                    let e = assert_error_frame(&msg, "v2 QUERY");
                    assert!(
                        events.is_empty(),
                        "ERROR after {} events of a query",
                        events.len()
                    );
                    return Err(e);
                }
            }
        }
    }

    /// QUERY stream from to: `Ok(events)` or `Err(error text)`.
    pub fn try_query(&self, stream: &[u8], from: &[u8], to: &[u8]) -> Result<Vec<Ev>, String> {
        self.send(&[b"QUERY".as_slice(), stream, from, to]);
        self.read_query()
    }

    /// QUERY stream from to; panics on an error reply.
    pub fn query(&self, stream: &[u8], from: &[u8], to: &[u8]) -> Vec<Ev> {
        self.try_query(stream, from, to)
            .unwrap_or_else(|e| panic!("QUERY failed: {e}"))
    }

    /// Sends a request that must be answered with one [`ERROR <reason>`]
    /// message and nothing after it.
    pub fn expect_error<F: AsRef<[u8]>>(&self, frames: &[F], what: &str) -> String {
        let reply = self.request(frames);
        let e = assert_error_frame(&reply, what);
        self.assert_silent(150, what);
        e
    }

    /// Asserts the server still answers this client.
    pub fn assert_still_serving(&self) {
        let id = self.publish(b"still-serving", b"x");
        let all = self.query(b"still-serving", b"", b"");
        assert_eq!(all.last().map(|e| &e.0), Some(&id));
    }
}

/// Parses [PUBLISHED, id] and returns the id.
pub fn parse_published(reply: &[Vec<u8>]) -> Vec<u8> {
    assert!(
        reply.len() == 2 && reply[0] == b"PUBLISHED",
        "v2 PUBLISH reply must be [PUBLISHED, id]; got {}",
        show(reply)
    );
    reply[1].clone()
}

/// A connected SUB client.
pub struct Sub {
    pub sock: zmq::Socket,
    log: Arc<Mutex<String>>,
}

impl Sub {
    /// Receives one message.
    pub fn recv(&self) -> Vec<Vec<u8>> {
        self.sock.recv_multipart(0).unwrap_or_else(|e| {
            panic!(
                "no published message within {RECV_TIMEOUT_MS} ms ({e}); server output tail:\n{}",
                tail_of(&self.log)
            )
        })
    }

    /// Receives within `ms` milliseconds, or None.
    pub fn try_recv(&self, ms: i64) -> Option<Vec<Vec<u8>>> {
        if self.sock.poll(zmq::POLLIN, ms).unwrap() == 0 {
            return None;
        }
        Some(self.recv())
    }
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Data that is unique per (client, n).
pub fn tagged(client: usize, n: usize) -> Vec<u8> {
    format!("client-{client}-event-{n}").into_bytes()
}
