//! ZeroMQ sockets for talking to a server under test: every socket has
//! linger 0 and send/receive timeouts, so a server bug fails a test instead
//! of hanging it. Also the SUB client ([`Sub`]), receiving within a
//! deadline, and the clients a [`Rewind`] hands out.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::dealer::Dealer;
use crate::process::{tail_of, Rewind};
use crate::req::Req;

/// How long a client waits for any single reply message, in milliseconds.
pub const RECV_TIMEOUT_MS: i32 = 20_000;
/// How long a client waits for a reply before the test fails.
pub const REPLY_TIMEOUT: Duration = Duration::from_millis(RECV_TIMEOUT_MS as u64);

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
pub(crate) fn detached_log() -> Arc<Mutex<String>> {
    Arc::new(Mutex::new("(server output not attached)".to_string()))
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

/// A SUB socket subscribed to everything, with `setup` applied before it
/// connects; returns once it is connected.
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

/// A connected SUB client.
pub struct Sub {
    /// The socket.
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

/// Clients of a running server, in its client-side context; their failure
/// messages carry the tail of the server's output.
impl Rewind {
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
        Dealer::with_log(sock, self.output.clone())
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
