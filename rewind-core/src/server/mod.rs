//! The ZeroMQ server: both wire protocols over one store.
//!
//! One thread owns every socket. Requests arrive on ROUTER sockets (v1
//! clients use REQ, v2 clients DEALER); each client (peer) gets a queue of
//! reply slots in request order, so pipelined requests are answered in
//! order while their appends are already on their way to the group-commit
//! writer. Appends complete on the writer thread, which hands the outcome
//! back through a channel and wakes the server through an inproc socket.
//! Committed events are published on the PUB sockets in commit order.
//!
//! Replies are sent without blocking and with `ROUTER_MANDATORY`, so a
//! client that reads slowly never stalls the others: when its pipe is at
//! the high-water mark, its streamed query pauses and resumes when the pipe
//! drains. Nothing is dropped: a peer whose connection is gone loses its
//! pending replies (there is no one to send them to) and nothing else.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::protocol::{self, parse_request, ParseOptions, Protocol, Request};
use crate::store::{CommittedAppend, ListenerId};
use crate::{Appended, Error, NewEvent, Result, Store};
use peer::{PeerKey, Peers, Slot};
use pump::{Pumped, STREAM_BUDGET};

mod options;
mod peer;
mod pump;
mod query;
mod sockets;

pub use options::{
    ServerOptions, DEFAULT_COMMAND_ENDPOINT, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_PUBLISH_ENDPOINT,
    DEFAULT_QUERY_ENDPOINT, DEFAULT_STREAMING_ENDPOINT,
};

/// Why the server stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitReason {
    /// [`Server::stop`] (or a signal) asked it to.
    Stopped,
    /// A client sent the exit codeword.
    ExitCodeword,
}

/// Wakes the server thread from another thread.
struct Waker {
    pending: AtomicBool,
    socket: Mutex<zmq::Socket>,
}

impl Waker {
    fn wake(&self) {
        if !self.pending.swap(true, Ordering::SeqCst) {
            let s = self.socket.lock().unwrap_or_else(|e| e.into_inner());
            // The wake socket's queue is never full (one message at most is
            // pending), so a failure here means the server is gone.
            let _ = s.send(&b""[..], zmq::DONTWAIT);
        }
    }
}

/// Asks a running server to stop; cheap to clone and usable from any thread.
#[derive(Clone)]
pub struct StopHandle {
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
}

impl StopHandle {
    /// Asks the server to stop gracefully: it stops taking requests, waits
    /// for the appends in flight to be committed and acknowledged, and
    /// closes its sockets. Does not block; calling it again is harmless.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.waker.wake();
    }
}

type Finished = Arc<(Mutex<Option<Result<ExitReason>>>, Condvar)>;

/// A running server.
pub struct Server {
    handle: StopHandle,
    bound: ServerOptions,
    thread: Option<JoinHandle<()>>,
    finished: Finished,
}

impl Server {
    /// Binds every endpoint of `options` and starts serving `store` on a
    /// thread of its own. Returns once every socket is bound.
    ///
    /// Errors: [`Error::Config`] / [`Error::InvalidArgument`] for bad
    /// options, [`Error::Bind`] naming an endpoint that cannot be bound,
    /// [`Error::Network`] when ZeroMQ cannot make a socket.
    pub fn start(store: Store, options: ServerOptions) -> Result<Server> {
        options.validate()?;
        let ctx = zmq::Context::new();
        ctx.set_io_threads(options.zmq_io_threads)?;
        let mut bound = options.without_endpoints();
        let bind = |kind: zmq::SocketType,
                    eps: &[String],
                    out: &mut Vec<String>|
         -> Result<Option<zmq::Socket>> {
            if eps.is_empty() {
                return Ok(None);
            }
            let s = ctx.socket(kind)?;
            s.set_linger(2000)?;
            if kind == zmq::ROUTER {
                s.set_router_mandatory(true)?;
                // A request larger than this closes the connection; requests
                // up to it get an ERROR reply when over max_message_size.
                let hard = options.max_message_size.saturating_mul(4).max(1 << 20);
                s.set_maxmsgsize(i64::try_from(hard).unwrap_or(i64::MAX))?;
            } else {
                s.set_sndhwm(10_000)?;
            }
            for ep in eps {
                s.bind(ep).map_err(|e| Error::Bind {
                    endpoint: ep.clone(),
                    reason: e.to_string(),
                })?;
                // The endpoint as bound: a wildcard port is resolved.
                let last = s.get_last_endpoint()?.unwrap_or_else(|_| ep.clone());
                out.push(last);
            }
            Ok(Some(s))
        };
        let v1 = bind(
            zmq::ROUTER,
            &options.query_endpoints,
            &mut bound.query_endpoints,
        )?;
        let v1_pub = bind(
            zmq::PUB,
            &options.streaming_endpoints,
            &mut bound.streaming_endpoints,
        )?;
        let v2 = bind(
            zmq::ROUTER,
            &options.command_endpoints,
            &mut bound.command_endpoints,
        )?;
        let v2_pub = bind(
            zmq::PUB,
            &options.publish_endpoints,
            &mut bound.publish_endpoints,
        )?;

        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let wake_ep = format!(
            "inproc://rewind-wake-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let wake_rx = ctx.socket(zmq::PULL)?;
        wake_rx.bind(&wake_ep)?;
        let wake_tx = ctx.socket(zmq::PUSH)?;
        wake_tx.set_linger(0)?;
        wake_tx.connect(&wake_ep)?;
        let waker = Arc::new(Waker {
            pending: AtomicBool::new(false),
            socket: Mutex::new(wake_tx),
        });
        let handle = StopHandle {
            stop: Arc::new(AtomicBool::new(false)),
            waker: waker.clone(),
        };

        let (tx, rx) = mpsc::channel();
        let listener = {
            let tx = tx.clone();
            let waker = waker.clone();
            store.add_listener(Box::new(move |batch| {
                let _ = tx.send(Note::Committed(batch.clone()));
                waker.wake();
            }))
        };
        let finished: Finished = Arc::default();
        let mut core = Core {
            store,
            listener,
            options,
            sockets: [v1, v2],
            v1_pub,
            v2_pub,
            wake_rx,
            notes: rx,
            appends: Appends {
                notes: tx,
                waker: waker.clone(),
                in_flight: 0,
            },
            waker,
            stop: handle.stop.clone(),
            peers: Peers::default(),
            runnable: VecDeque::new(),
            blocked: [Vec::new(), Vec::new()],
            exit: None,
            sent: 0,
            pollout: true,
            last_retry: Instant::now(),
        };
        let done = finished.clone();
        let thread = std::thread::Builder::new()
            .name("rewind-server".into())
            .spawn(move || {
                let r = core.run();
                core.shutdown();
                drop(core);
                drop(ctx);
                let (m, cv) = &*done;
                *m.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
                cv.notify_all();
            })
            .map_err(Error::Io)?;
        Ok(Server {
            handle,
            bound,
            thread: Some(thread),
            finished,
        })
    }

    /// The options the server runs with, its endpoints as bound: an endpoint
    /// given with a wildcard port (`tcp://127.0.0.1:*`) shows the port the
    /// system chose.
    pub fn bound_options(&self) -> &ServerOptions {
        &self.bound
    }

    /// Asks the server to stop; see [`StopHandle::stop`].
    pub fn stop(&self) {
        self.handle.stop();
    }

    /// A handle that can stop the server from any thread.
    pub fn stop_handle(&self) -> StopHandle {
        self.handle.clone()
    }

    /// Waits up to `timeout` for the server to stop; returns whether it has.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let (m, cv) = &*self.finished;
        let g = m.lock().unwrap_or_else(|e| e.into_inner());
        let (g, _) = cv
            .wait_timeout_while(g, timeout, |r| r.is_none())
            .unwrap_or_else(|e| e.into_inner());
        g.is_some()
    }

    /// Whether the server has stopped.
    pub fn is_finished(&self) -> bool {
        self.wait_timeout(Duration::ZERO)
    }

    /// Blocks until the server has stopped and tells why.
    pub fn join(mut self) -> Result<ExitReason> {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let (m, _) = &*self.finished;
        m.lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or(Err(Error::Internal("the server thread panicked".into())))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.handle.stop();
            let _ = t.join();
        }
    }
}

/// What other threads tell the server thread.
enum Note {
    Committed(Arc<Vec<CommittedAppend>>),
    Done {
        peer: PeerKey,
        epoch: u64,
        seq: u64,
        result: Result<Vec<Appended>>,
    },
}

/// How often peers blocked at the high-water mark are retried when POLLOUT
/// cannot tell that their pipe drained.
const BLOCKED_RETRY: Duration = Duration::from_millis(2);

/// Messages read from one socket before others get their turn.
const RECV_BUDGET: usize = 512;

struct Core {
    store: Store,
    listener: ListenerId,
    options: ServerOptions,
    /// The request sockets: v1, v2.
    sockets: [Option<zmq::Socket>; 2],
    v1_pub: Option<zmq::Socket>,
    v2_pub: Option<zmq::Socket>,
    wake_rx: zmq::Socket,
    notes: Receiver<Note>,
    appends: Appends,
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    peers: Peers,
    /// Peers with work left after their budget ran out.
    runnable: VecDeque<PeerKey>,
    /// Peers waiting for their pipe to drain, per request socket.
    blocked: [Vec<PeerKey>; 2],
    exit: Option<ExitReason>,
    /// Messages sent to peers so far (to tell whether a retry moved any).
    sent: u64,
    /// Whether blocked peers wait for POLLOUT (else for a timer).
    pollout: bool,
    /// When blocked peers were last retried.
    last_retry: Instant,
}

fn idx(p: Protocol) -> usize {
    match p {
        Protocol::V1 => 0,
        Protocol::V2 => 1,
    }
}

impl Core {
    fn stopping(&self) -> bool {
        self.exit.is_some() || self.stop.load(Ordering::SeqCst)
    }

    fn run(&mut self) -> Result<ExitReason> {
        loop {
            if self.stopping() && self.appends.in_flight == 0 {
                return Ok(self.exit.unwrap_or(ExitReason::Stopped));
            }
            self.poll_once()?;
        }
    }

    fn poll_once(&mut self) -> Result<()> {
        let accepting = !self.stopping();
        let mut items = Vec::with_capacity(3);
        items.push(self.wake_rx.as_poll_item(zmq::POLLIN));
        let mut which = Vec::with_capacity(2);
        for (i, s) in self.sockets.iter().enumerate() {
            if let Some(s) = s {
                let mut ev = zmq::PollEvents::empty();
                if accepting {
                    ev |= zmq::POLLIN;
                }
                if self.pollout && !self.blocked[i].is_empty() {
                    ev |= zmq::POLLOUT;
                }
                items.push(s.as_poll_item(ev));
                which.push(i);
            }
        }
        let any_blocked = self.blocked.iter().any(|b| !b.is_empty());
        let timed_retry = any_blocked && !self.pollout;
        let timeout = if !self.runnable.is_empty() {
            0
        } else if timed_retry {
            let left = BLOCKED_RETRY.saturating_sub(self.last_retry.elapsed());
            left.as_millis() as i64
        } else if self.stopping() {
            100
        } else {
            -1
        };
        match zmq::poll(&mut items, timeout) {
            Ok(_) => {}
            // A signal (SIGINT, SIGTERM) landed on this thread: the stop
            // handle, if that is what it was, has already woken us.
            Err(zmq::Error::EINTR) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        let woke = items[0].is_readable();
        let mut readable = [false; 2];
        let mut writable = [false; 2];
        for (item, &i) in items[1..].iter().zip(&which) {
            readable[i] = item.is_readable();
            writable[i] = item.is_writable();
        }
        drop(items);
        if woke {
            while self.wake_rx.recv_bytes(zmq::DONTWAIT).is_ok() {}
            self.waker.pending.store(false, Ordering::SeqCst);
        }
        self.drain_notes();
        for i in 0..2 {
            if readable[i] && accepting {
                self.read_requests(i)?;
            }
            let due = timed_retry && self.last_retry.elapsed() >= BLOCKED_RETRY;
            if !self.blocked[i].is_empty() && (writable[i] || due) {
                let before = self.sent;
                for key in std::mem::take(&mut self.blocked[i]) {
                    if let Some(p) = self.peers.get_mut(&key) {
                        p.set_blocked(false);
                    }
                    self.pump(&key);
                }
                // A ROUTER is writable when any peer's pipe has room. While
                // retries move messages, a blocked peer's pipe is draining and
                // POLLOUT tells when; once a retry moves nothing, the room was
                // another peer's, and blocked peers are retried on a timer
                // instead, so the loop neither spins nor sleeps.
                self.pollout = self.sent != before;
                self.last_retry = Instant::now();
            }
        }
        let rounds = self.runnable.len();
        for _ in 0..rounds {
            if let Some(key) = self.runnable.pop_front() {
                self.pump(&key);
            }
        }
        Ok(())
    }

    fn drain_notes(&mut self) {
        while let Ok(note) = self.notes.try_recv() {
            match note {
                Note::Committed(batch) => self.publish(&batch),
                Note::Done {
                    peer,
                    epoch,
                    seq,
                    result,
                } => {
                    self.appends.in_flight -= 1;
                    self.complete(&peer, epoch, seq, result);
                }
            }
        }
    }

    fn publish(&self, batch: &[CommittedAppend]) {
        for append in batch {
            let v1 = self
                .v1_pub
                .as_ref()
                .filter(|_| append.stream == self.options.default_stream);
            for (ev, prev) in append.iter() {
                if let Some(s) = v1 {
                    publish_frames(s, &protocol::v1_stream_frames(ev.id, prev, ev.data));
                }
                if let Some(s) = &self.v2_pub {
                    publish_frames(s, &protocol::v2_publish_frames(ev.stream, ev.id, ev.data));
                }
            }
        }
    }

    fn complete(&mut self, key: &PeerKey, epoch: u64, seq: u64, result: Result<Vec<Appended>>) {
        // A peer of another epoch is a reconnect with the same routing id:
        // the client this reply was for is gone.
        let Some(peer) = self.peers.current(key, epoch) else {
            return;
        };
        if peer.complete(seq, key.proto, result) {
            self.pump(key);
        }
    }

    fn read_requests(&mut self, i: usize) -> Result<()> {
        let proto = if i == 0 { Protocol::V1 } else { Protocol::V2 };
        for _ in 0..RECV_BUDGET {
            let Some(socket) = &self.sockets[i] else {
                return Ok(());
            };
            let frames = match socket.recv_multipart(zmq::DONTWAIT) {
                Ok(f) => f,
                Err(zmq::Error::EAGAIN | zmq::Error::EINTR) => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            self.handle_message(proto, frames);
            if self.exit.is_some() {
                return Ok(());
            }
        }
        Ok(())
    }

    fn handle_message(&mut self, proto: Protocol, mut frames: Vec<Vec<u8>>) {
        let Some(split) = frames.iter().position(Vec::is_empty) else {
            log::warn!(
                "dropped a {} message of {} frames without an envelope delimiter",
                if proto == Protocol::V1 { "v1" } else { "v2" },
                frames.len()
            );
            return;
        };
        let request = parse_request(
            proto,
            &frames[split + 1..],
            &ParseOptions {
                default_stream: &self.options.default_stream,
                exit_codeword: self.options.exit_codeword.as_deref(),
                max_message_size: self.options.max_message_size,
            },
        );
        frames.truncate(split + 1);
        let key = PeerKey {
            proto,
            id: frames[0].clone(),
        };
        let peer = self.peers.arrive(&key, frames);
        let seq = peer.next_seq();
        let slot = match request {
            Err(e) => Slot::error(&e.0),
            Ok(Request::Exit) => {
                log::info!("exit codeword received: stopping");
                self.exit = Some(ExitReason::ExitCodeword);
                Slot::Ready(protocol::quit_reply())
            }
            Ok(Request::Publish { stream, data }) if peer.holds_publishes() => {
                Slot::Held { stream, data }
            }
            Ok(Request::Publish { stream, data }) => {
                self.appends
                    .submit(&self.store, &key, peer.epoch(), seq, stream, data);
                Slot::Appending
            }
            Ok(Request::Query { stream, from, to }) => Slot::Query { stream, from, to },
        };
        if peer.enqueue(slot) {
            self.pump(&key);
        }
    }

    /// Sends what the head of a peer's queue has ready, in order, and acts
    /// on why it stopped.
    fn pump(&mut self, key: &PeerKey) {
        let i = idx(key.proto);
        let Some(peer) = self.peers.get_mut(key) else {
            return;
        };
        // A peer exists only for a socket that received its request.
        let Some(socket) = self.sockets[i].as_ref() else {
            return;
        };
        let (store, appends) = (&self.store, &mut self.appends);
        let epoch = peer.epoch();
        let pumped = pump::pump(
            peer,
            key.proto,
            socket,
            store,
            STREAM_BUDGET,
            &mut self.sent,
            |seq, stream, data| appends.submit(store, key, epoch, seq, stream, data),
        );
        match pumped {
            Pumped::Waiting => {}
            Pumped::Drained | Pumped::Gone => self.peers.remove(key),
            Pumped::Blocked => self.blocked[i].push(key.clone()),
            Pumped::Yielded => self.runnable.push_back(key.clone()),
        }
    }

    /// The graceful end: answers what can be answered, then closes.
    fn shutdown(&mut self) {
        self.store.remove_listener(self.listener);
        // Appends already submitted are committed and acknowledged by run();
        // late notes (none expected) are published or answered here.
        self.drain_notes();
        for key in self.peers.keys() {
            if let Some(p) = self.peers.get_mut(&key) {
                p.abandon_work("the server is shutting down");
            }
            self.pump(&key);
        }
    }
}

/// The server's PUBLISHes on their way to the store.
struct Appends {
    notes: Sender<Note>,
    waker: Arc<Waker>,
    /// Submitted and not yet completed.
    in_flight: usize,
}

impl Appends {
    /// Hands a PUBLISH to the store; its outcome comes back as a
    /// [`Note::Done`] for the peer's slot `seq`.
    fn submit(
        &mut self,
        store: &Store,
        key: &PeerKey,
        epoch: u64,
        seq: u64,
        stream: Vec<u8>,
        data: Vec<u8>,
    ) {
        self.in_flight += 1;
        let tx = self.notes.clone();
        let waker = self.waker.clone();
        let peer = key.clone();
        store.append_async(
            &stream,
            vec![NewEvent::new(data)],
            crate::ExpectedVersion::Any,
            Box::new(move |result| {
                let _ = tx.send(Note::Done {
                    peer,
                    epoch,
                    seq,
                    result,
                });
                waker.wake();
            }),
        );
    }
}

fn publish_frames(socket: &zmq::Socket, frames: &[&[u8]; 3]) {
    for (i, f) in frames.iter().enumerate() {
        let flags = if i < 2 { zmq::SNDMORE } else { 0 };
        if let Err(e) = socket.send(*f, flags | zmq::DONTWAIT) {
            log::warn!("publishing an event failed: {e}");
            return;
        }
    }
}
