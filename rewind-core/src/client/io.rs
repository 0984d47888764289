//! The socket work of a [`Client`](super::Client): the connection's state
//! behind one lock, worked by the callers' threads themselves and by one
//! background thread.
//!
//! A caller sends its request on the DEALER socket itself (under the
//! lock), then waits for its reply. One waiting caller at a time is the
//! *leader*: it polls the socket (outside the lock), reads what came and
//! hands every reply to its request's channel, its own included, and runs
//! the timers; when its own reply is in, it leaves the role. The others
//! wait on their channels. With no leader, the background thread does the
//! same (for subscriptions, and for requests still in flight when a leader
//! leaves); it also takes the subscriptions' commands ([`Command`], through
//! a channel and an inproc wake socket). A request so costs its caller no
//! hand-over between threads of the client. The rules that keep a reply
//! from waiting unseen: whoever touches the socket reads it until it has
//! nothing more (so ZeroMQ's descriptor signals the next message), and a
//! thread that is not the leader and touched it rings the leader's bell.
//!
//! The connection is kept alive the same way by whoever works it:
//!
//! - a request whose reply is late, or a dropped connection, makes it open
//!   a new connection and resend everything in flight under new ids (a
//!   read resumes after the last event it delivered; an append carries its
//!   ids, so the server recognises a retry); a request sent too often fails
//!   with [`Error::Network`];
//! - subscriptions: it forwards their events, grants credit as callers
//!   consume, sends `PING` at the heartbeat interval, and resubscribes
//!   (from the position after the last event handed on) after a
//!   reconnect, a server restart, or the server's silence for the peer
//!   timeout.

use std::collections::{HashMap, HashSet, VecDeque};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::client::connection::{Connection, LinkEvent};
use crate::client::options::{ClientOptions, CurveBinary};
use crate::client::reads::{rest_of, ReadProgress, Rest};
use crate::client::table::RequestTable;
use crate::client::tracker::{Due, OnError, SubMsg, Tracker};
use crate::protocol::native::{
    decode_reply, encode_request, request_id_of, ErrorCode, ErrorReply, Reply, Request,
};
use crate::{Error, LogFilter, Result};

/// Where the replies to one request go, in order: one reply, or a read's
/// `EVENTS`… then `END`; an `Err` is the last.
pub(crate) type ReplySink = Sender<Result<Reply>>;

/// The most messages read from the socket before its reader looks at
/// its callers and timers again.
const RECV_BURST: usize = 512;

/// What a caller asks of the background thread.
pub(crate) enum Command {
    /// Start a subscription.
    Subscribe {
        /// The caller's name for it.
        key: u64,
        /// Where it starts (`None`: from now).
        from: Option<u64>,
        /// What it passes.
        filter: LogFilter,
        /// Where its events go.
        sink: Sender<SubMsg>,
        /// Told the start position once the server accepts it (or why not).
        ack: SyncSender<Result<u64>>,
    },
    /// The caller consumed `n` events of subscription `key`.
    Consumed {
        /// The subscription.
        key: u64,
        /// How many events.
        n: u64,
    },
    /// End subscription `key`.
    Unsubscribe {
        /// The subscription.
        key: u64,
    },
    /// Stop the thread.
    Close,
}

/// What callers and the background thread share.
pub(crate) struct Shared {
    /// The connection's state; whoever holds it may use the socket.
    state: Mutex<Io>,
    /// A wake-up of the background thread is on its way: callers need not
    /// send another.
    wake_pending: AtomicBool,
    /// The callers' end of the background thread's wake pair.
    ring: Mutex<zmq::Socket>,
    /// The leader's bell: rung by a thread that touched the socket while a
    /// leader polls it, or that handed it a reply; polled by the leader.
    bell: UnixDatagram,
    bell_rx: UnixDatagram,
}

struct Pending {
    request: Request,
    frames: Vec<Vec<u8>>,
    sink: ReplySink,
    progress: ReadProgress,
    /// The server answered `SHUTTING_DOWN`: if no other server answers,
    /// the request fails with [`Error::Closed`].
    shutting_down: bool,
}

struct Sub {
    tracker: Tracker,
    wire_id: u64,
    sink: Sender<SubMsg>,
    /// The caller waiting for the first `SUBSCRIBED`.
    ack: Option<SyncSender<Result<u64>>>,
}

/// The state of the connection, behind [`Shared`]'s lock.
pub(crate) struct Io {
    ctx: zmq::Context,
    endpoint: String,
    options: ClientOptions,
    curve: Option<CurveBinary>,
    conn: Connection,
    connections: u64,
    /// A caller is the leader (polls the socket and runs the timers).
    leader: bool,
    /// The client is closed: nothing more is sent.
    closed: bool,
    /// The monitor of this connection was read to its end once: ZeroMQ's
    /// descriptor signals only after a read found nothing.
    link_armed: bool,
    table: RequestTable<Pending>,
    subs: HashMap<u64, Sub>,
    /// Request id → subscription key.
    sub_ids: HashMap<u64, u64>,
    /// Ids whose messages are dropped until their `END` (or `ERROR`):
    /// subscriptions ended by `UNSUBSCRIBE`, reads the caller left.
    ignored: HashSet<u64>,
    outbox: VecDeque<Vec<Vec<u8>>>,
    last_sent: Instant,
    reconnect: bool,
    /// Why the last CURVE handshake failed, for the error of the requests
    /// that then fail (each failed handshake drops the connection, which
    /// costs them a send: a refused key fails them in moments).
    link_error: Option<String>,
}

impl Background {
    /// Runs until [`Command::Close`] or until every caller is gone.
    pub fn run(self) {
        let shared = self.shared.clone();
        let mut woken = false;
        let mut monitor = false;
        loop {
            let mut st = shared.lock();
            if woken {
                if !self.take_commands(&mut st) {
                    break;
                }
                if st.leader {
                    // Touched the socket under a leader: read it to its
                    // end and tell the leader.
                    st.flush();
                    st.receive();
                    drop(st);
                    shared.ring_leader();
                    st = shared.lock();
                }
            }
            let poll = if st.leader {
                None
            } else {
                let drained = st.service(monitor);
                let timeout = if drained { st.poll_timeout() } else { 0 };
                Some((st.fds(), timeout))
            };
            drop(st);
            let (woke, link) = match poll {
                None => {
                    let mut items = [self.wake.as_poll_item(zmq::POLLIN)];
                    let _ = zmq::poll(&mut items, -1);
                    (items[0].is_readable(), false)
                }
                Some(((socket, link), timeout)) => {
                    let mut items = [
                        self.wake.as_poll_item(zmq::POLLIN),
                        zmq::PollItem::from_fd(socket, zmq::POLLIN),
                        zmq::PollItem::from_fd(link, zmq::POLLIN),
                    ];
                    if let Err(e) = zmq::poll(&mut items, timeout) {
                        if e != zmq::Error::EINTR {
                            log::error!("client background thread: poll failed: {e}");
                            std::thread::sleep(Duration::from_millis(10));
                        }
                    }
                    (items[0].is_readable(), items[2].is_readable())
                }
            };
            woken = woke;
            monitor = link;
        }
        let mut st = shared.lock();
        st.shutdown();
        drop(st);
        shared.ring_leader();
    }

    /// Takes every waiting command; `false` when the thread is to stop.
    fn take_commands(&self, st: &mut Io) -> bool {
        while self.wake.recv_bytes(zmq::DONTWAIT).is_ok() {}
        // Cleared before the channel is drained: a command sent after the
        // drain rings again.
        self.shared.wake_pending.store(false, Ordering::SeqCst);
        loop {
            match self.rx.try_recv() {
                Ok(Command::Close) | Err(TryRecvError::Disconnected) => return false,
                Ok(cmd) => st.command(cmd),
                Err(TryRecvError::Empty) => return true,
            }
        }
    }
}

/// The background thread's ends: its wake socket and the command channel.
pub(crate) struct Background {
    shared: Arc<Shared>,
    wake: zmq::Socket,
    rx: Receiver<Command>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Io> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Rings the leader's bell (a full bell is rung already).
    fn ring_leader(&self) {
        let _ = self.bell.send(&[0]);
    }

    /// Wakes the background thread (once, until it has looked).
    pub fn wake_background(&self) {
        if !self.wake_pending.swap(true, Ordering::SeqCst) {
            let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
            // The thread may be gone (closed): the caller learns it from
            // the channel or from the state.
            let _ = ring.send(&b""[..], zmq::DONTWAIT);
        }
    }

    /// Sends a request (encoded under request id 0); its replies come on
    /// the receiver, through [`next`](Shared::next). Returns the request's
    /// id too (a resend changes it: it only tells whether the request is
    /// still the one in flight).
    ///
    /// Errors: [`Error::Closed`] when the client is closed.
    pub fn request(
        &self,
        request: Request,
        frames: Vec<Vec<u8>>,
    ) -> Result<(u64, Receiver<Result<Reply>>)> {
        let (sink, rx) = std::sync::mpsc::channel();
        let mut st = self.lock();
        if st.closed {
            return Err(Error::Closed);
        }
        let id = st.request(request, frames, sink, Instant::now());
        st.flush();
        st.receive();
        let ring = st.leader;
        drop(st);
        if ring {
            self.ring_leader();
        }
        Ok((id, rx))
    }

    /// Forgets request `id` if it is still in flight under that id (its
    /// caller left): its remaining replies are dropped as they come, and
    /// its deadline can no longer renew the connection.
    pub fn abandon(&self, id: u64) {
        let mut st = self.lock();
        if st.table.remove(id).is_some() {
            st.ignored.insert(id);
        }
    }

    /// The next reply on `rx` (`None`: the client closed and it will never
    /// come): leads while no one else does, or waits for the leader (or
    /// the background thread) to hand it over.
    ///
    /// A leader that leaves with only its own request (`id`, a read whose
    /// rest is coming) in flight wakes nobody: it will be back for the
    /// next reply, and what comes meanwhile waits in ZeroMQ's queue.
    pub fn next(&self, id: u64, rx: &Receiver<Result<Reply>>) -> Option<Result<Reply>> {
        match rx.try_recv() {
            Ok(r) => return Some(r),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) => {}
        }
        let mut st = self.lock();
        if st.leader || st.closed {
            drop(st);
            return rx.recv().ok();
        }
        st.leader = true;
        let mut monitor = false;
        let reply = loop {
            let drained = st.service(monitor);
            match rx.try_recv() {
                Ok(r) => break Some(r),
                Err(TryRecvError::Disconnected) => break None,
                Err(TryRecvError::Empty) => {}
            }
            if st.closed {
                drop(st);
                let r = rx.recv().ok();
                st = self.lock();
                break r;
            }
            let (socket, link) = st.fds();
            let timeout = if drained { st.poll_timeout() } else { 0 };
            drop(st);
            let mut items = [
                zmq::PollItem::from_fd(socket, zmq::POLLIN),
                zmq::PollItem::from_fd(link, zmq::POLLIN),
                zmq::PollItem::from_fd(self.bell_rx.as_raw_fd(), zmq::POLLIN),
            ];
            if zmq::poll(&mut items, timeout).is_err() {
                std::thread::sleep(Duration::from_millis(1));
            }
            monitor = items[1].is_readable();
            if items[2].is_readable() {
                let mut buf = [0u8; 16];
                while self.bell_rx.recv(&mut buf).is_ok() {}
            }
            st = self.lock();
        };
        st.leader = false;
        let handover = st.needs_receiver_besides(id);
        drop(st);
        if handover {
            self.wake_background();
        }
        reply
    }
}

impl Io {
    /// Connects to `endpoint` and makes the state the callers and the
    /// background thread share, and the background thread's ends.
    ///
    /// Errors: [`Error::InvalidArgument`] for an endpoint ZeroMQ cannot
    /// connect to, [`Error::Network`] when the messaging layer fails.
    pub fn open(
        endpoint: &str,
        options: ClientOptions,
        curve: Option<CurveBinary>,
    ) -> Result<(Background, Sender<Command>, Arc<Shared>)> {
        let ctx = zmq::Context::new();
        let conn = Connection::open(&ctx, endpoint, curve.as_ref(), 1)?;
        let wake_name = "inproc://rewind-client-wake";
        let wake = ctx.socket(zmq::PAIR)?;
        wake.bind(wake_name)?;
        let ring = ctx.socket(zmq::PAIR)?;
        ring.set_linger(0)?;
        ring.connect(wake_name)?;
        let (bell, bell_rx) = UnixDatagram::pair()
            .and_then(|(a, b)| {
                a.set_nonblocking(true)?;
                b.set_nonblocking(true)?;
                Ok((a, b))
            })
            .map_err(|e| Error::Network(format!("cannot make the client's bell: {e}")))?;
        let (tx, rx) = std::sync::mpsc::channel();
        let io = Io {
            table: RequestTable::new(options.request_timeout, options.retries),
            ctx,
            endpoint: endpoint.to_string(),
            options,
            curve,
            conn,
            connections: 1,
            leader: false,
            closed: false,
            link_armed: false,
            subs: HashMap::new(),
            sub_ids: HashMap::new(),
            ignored: HashSet::new(),
            outbox: VecDeque::new(),
            last_sent: Instant::now(),
            reconnect: false,
            link_error: None,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(io),
            wake_pending: AtomicBool::new(false),
            ring: Mutex::new(ring),
            bell,
            bell_rx,
        });
        let background = Background {
            shared: shared.clone(),
            wake,
            rx,
        };
        Ok((background, tx, shared))
    }

    /// The descriptors that signal the socket and its monitor.
    fn fds(&self) -> (std::os::unix::io::RawFd, std::os::unix::io::RawFd) {
        // ZMQ_FD cannot fail on a live socket; -1 is ignored by poll.
        (
            self.conn.socket.get_fd().unwrap_or(-1),
            self.conn.monitor.get_fd().unwrap_or(-1),
        )
    }

    /// How long to poll before a timer is due, in ZeroMQ's terms.
    fn poll_timeout(&self) -> i64 {
        let now = Instant::now();
        match self.next_timer(now) {
            None => -1,
            Some(t) => {
                let ms = t.saturating_duration_since(now).as_millis();
                // Round up: waking early would only spin.
                i64::try_from(ms).unwrap_or(i64::MAX).saturating_add(1)
            }
        }
    }

    /// Whether someone must poll the socket when no caller leads: requests
    /// or subscriptions in flight, or messages waiting to leave.
    fn needs_receiver_besides(&self, id: u64) -> bool {
        let others = self.table.len() - usize::from(self.table.contains(id));
        !self.closed && (others > 0 || !self.subs.is_empty() || !self.outbox.is_empty())
    }

    /// Everything due on the socket: the monitor's news (when `monitor`),
    /// what waits to leave, what came, the timers and a new connection
    /// when one is needed. `false` when the socket was not read to its end
    /// (poll again at once).
    fn service(&mut self, monitor: bool) -> bool {
        let mut monitor = monitor;
        // A new connection's monitor is read once more, to arm it.
        for _ in 0..2 {
            if monitor || !self.link_armed {
                self.link_armed = true;
                self.link_events();
            }
            self.flush();
            self.receive();
            self.timers(Instant::now());
            if !self.reconnect {
                break;
            }
            self.renew(Instant::now());
            monitor = false;
        }
        self.flush();
        self.receive()
    }

    fn link_events(&mut self) {
        for event in self.conn.events() {
            match event {
                LinkEvent::Disconnected => self.reconnect = true,
                LinkEvent::HandshakeFailed(why) => {
                    log::warn!("client of {}: {why}", self.endpoint);
                    self.link_error = Some(why);
                }
            }
        }
    }

    /// Sends a caller's request (encoded under request id 0).
    fn request(
        &mut self,
        request: Request,
        frames: Vec<Vec<u8>>,
        sink: ReplySink,
        now: Instant,
    ) -> u64 {
        let id = self.table.insert(
            Pending {
                request,
                frames,
                sink,
                progress: ReadProgress::default(),
                shutting_down: false,
            },
            now,
        );
        let entry = self.table.get_mut(id).expect("just inserted");
        entry.req.frames[1] = id.to_be_bytes().to_vec();
        let frames = entry.req.frames.clone();
        self.send(frames);
        id
    }

    fn command(&mut self, cmd: Command) {
        let now = Instant::now();
        match cmd {
            Command::Subscribe {
                key,
                from,
                filter,
                sink,
                ack,
            } => {
                let tracker = Tracker::new(
                    from,
                    filter,
                    self.options.credit_window,
                    self.options.heartbeat,
                    self.options.request_timeout,
                    self.options.retries,
                    now,
                );
                self.subs.insert(
                    key,
                    Sub {
                        tracker,
                        wire_id: 0,
                        sink,
                        ack: Some(ack),
                    },
                );
                self.subscribe(key, now);
            }
            Command::Consumed { key, n } => {
                if let Some(sub) = self.subs.get_mut(&key) {
                    if let Some(credit) = sub.tracker.consumed(n) {
                        let id = sub.wire_id;
                        self.send_request(id, &Request::Credit { credit });
                    }
                }
            }
            Command::Unsubscribe { key } => {
                if let Some(sub) = self.subs.remove(&key) {
                    self.sub_ids.remove(&sub.wire_id);
                    self.ignored.insert(sub.wire_id);
                    self.send_request(sub.wire_id, &Request::Unsubscribe);
                }
            }
            Command::Close => unreachable!("handled by take_commands"),
        }
    }

    /// Sends (again) the `SUBSCRIBE` of subscription `key`, under a new id.
    fn subscribe(&mut self, key: u64, now: Instant) {
        let id = self.table.fresh_id();
        let Some(sub) = self.subs.get_mut(&key) else {
            return;
        };
        self.sub_ids.remove(&sub.wire_id);
        sub.wire_id = id;
        self.sub_ids.insert(id, key);
        let request = sub.tracker.subscribe(now);
        self.send_request(id, &request);
    }

    fn send_request(&mut self, id: u64, request: &Request) {
        match encode_request(id, request) {
            Ok(frames) => self.send(frames),
            // Only a request a caller built can fail to encode, and callers
            // encode theirs first.
            Err(e) => log::error!("client: cannot encode {}: {e}", request.kind()),
        }
    }

    fn send(&mut self, frames: Vec<Vec<u8>>) {
        self.last_sent = Instant::now();
        if !self.outbox.is_empty() {
            self.outbox.push_back(frames);
            return;
        }
        match self.conn.socket.send_multipart(&frames, zmq::DONTWAIT) {
            Ok(()) => {}
            Err(zmq::Error::EAGAIN) => self.outbox.push_back(frames),
            Err(e) => {
                log::warn!("client of {}: send failed: {e}", self.endpoint);
                self.reconnect = true;
            }
        }
    }

    fn flush(&mut self) {
        while let Some(frames) = self.outbox.pop_front() {
            match self.conn.socket.send_multipart(&frames, zmq::DONTWAIT) {
                Ok(()) => {}
                Err(zmq::Error::EAGAIN) => {
                    self.outbox.push_front(frames);
                    return;
                }
                Err(e) => {
                    log::warn!("client of {}: send failed: {e}", self.endpoint);
                    self.reconnect = true;
                    return;
                }
            }
        }
    }

    /// Reads what came, up to a burst; `true` when the socket has nothing
    /// more (so its descriptor will signal the next message).
    fn receive(&mut self) -> bool {
        for _ in 0..RECV_BURST {
            match self.conn.socket.recv_multipart(zmq::DONTWAIT) {
                Ok(frames) => self.message(&frames),
                Err(_) => return true,
            }
        }
        false
    }

    fn message(&mut self, frames: &[Vec<u8>]) {
        let now = Instant::now();
        // The server is reached: a handshake that failed before is past.
        self.link_error = None;
        let (id, reply) = match decode_reply(frames) {
            Ok(r) => r,
            Err(why) => {
                let id = request_id_of(frames).unwrap_or(0);
                match self.table.remove(id) {
                    Some(p) => {
                        let _ = p.sink.send(Err(Error::Internal(format!(
                            "the server sent a reply this client cannot read: {why}"
                        ))));
                    }
                    // On a subscription: a reply kind this client does not
                    // know may be ignored (section 10).
                    None => log::debug!("client: ignored a message it cannot read: {why}"),
                }
                return;
            }
        };
        if let Some(&key) = self.sub_ids.get(&id) {
            self.sub_reply(key, reply, now);
        } else if self.table.get_mut(id).is_some() {
            self.request_reply(id, reply, now);
        } else if self.ignored.contains(&id) {
            if matches!(reply, Reply::End { .. } | Reply::Error(_)) {
                self.ignored.remove(&id);
            }
        } else if matches!(
            reply,
            Reply::Subscribed { .. }
                | Reply::Events(_)
                | Reply::CaughtUp { .. }
                | Reply::Heartbeat { .. }
        ) {
            // A subscription nobody here knows (a duplicate SUBSCRIBE that
            // got through): end it, once.
            self.ignored.insert(id);
            self.send_request(id, &Request::Unsubscribe);
        }
    }

    fn request_reply(&mut self, id: u64, reply: Reply, now: Instant) {
        match reply {
            Reply::Events(batch) => {
                self.table.touch(id, now);
                let entry = self.table.get_mut(id).expect("checked by the caller");
                entry.req.progress.saw(&batch);
                if entry.req.sink.send(Ok(Reply::Events(batch))).is_err() {
                    // The caller stopped reading: the rest is dropped here.
                    self.table.remove(id);
                    self.ignored.insert(id);
                }
            }
            Reply::Error(e) if e.code == ErrorCode::ShuttingDown => {
                // The server is stopping and did nothing: the request waits
                // for the connection to drop (or its deadline), and goes to
                // the server that comes next.
                if let Some(entry) = self.table.get_mut(id) {
                    entry.req.shutting_down = true;
                }
            }
            Reply::Error(e) => {
                let p = self.table.remove(id).expect("checked by the caller");
                let append = match &p.request {
                    Request::Append(parts) => Some(parts.as_slice()),
                    _ => None,
                };
                let _ = p.sink.send(Err(e.into_error(append)));
            }
            reply => {
                let p = self.table.remove(id).expect("checked by the caller");
                let _ = p.sink.send(Ok(reply));
            }
        }
    }

    fn sub_reply(&mut self, key: u64, reply: Reply, now: Instant) {
        let Some(sub) = self.subs.get_mut(&key) else {
            return;
        };
        let mut grant = None;
        match reply {
            Reply::Subscribed {
                start,
                heartbeat_interval_ms,
            } => {
                let first = sub.tracker.subscribed(start, heartbeat_interval_ms, now);
                if let Some(ack) = sub.ack.take().filter(|_| first) {
                    let _ = ack.send(Ok(start));
                }
            }
            Reply::Events(batch) => {
                let (events, credit) = sub.tracker.events(batch, now);
                grant = credit;
                if !events.is_empty() {
                    let _ = sub.sink.send(SubMsg::Events(events));
                }
            }
            Reply::CaughtUp { next_position } => {
                let _ = sub.sink.send(sub.tracker.caught_up(next_position, now));
            }
            Reply::Heartbeat { position } => {
                let _ = sub.sink.send(sub.tracker.heartbeat(position, now));
            }
            Reply::End { .. } => self.sub_ended(key, None, now),
            Reply::Error(e) => self.sub_ended(key, Some(e), now),
            // PONG, or a reply kind a subscription does not have: ignored.
            _ => {}
        }
        if let Some(credit) = grant {
            let id = self.subs[&key].wire_id;
            self.send_request(id, &Request::Credit { credit });
        }
    }

    fn sub_ended(&mut self, key: u64, error: Option<ErrorReply>, now: Instant) {
        let Some(sub) = self.subs.get_mut(&key) else {
            return;
        };
        self.sub_ids.remove(&sub.wire_id);
        match sub.tracker.ended(error.as_ref().map(|e| e.code), now) {
            OnError::Resubscribe => {
                log::info!(
                    "client of {}: the server ended a subscription ({}); subscribing again",
                    self.endpoint,
                    error.as_ref().map_or("END".to_string(), |e| e.to_string())
                );
            }
            OnError::Fail => {
                let sub = self.subs.remove(&key).expect("present");
                let err = match error {
                    Some(e) => e.into_error(None),
                    None => Error::Network("the server ended the subscription".into()),
                };
                match sub.ack {
                    Some(ack) => {
                        let _ = ack.send(Err(err));
                    }
                    None => {
                        let _ = sub.sink.send(SubMsg::Failed(err));
                    }
                }
            }
        }
    }

    /// The earliest time something is due.
    fn next_timer(&self, now: Instant) -> Option<Instant> {
        let mut t = self.table.next_deadline();
        for s in self.subs.values().filter_map(|s| s.tracker.next_timer()) {
            t = Some(t.map_or(s, |t| t.min(s)));
        }
        if let Some(hb) = self.heartbeat() {
            let ping = (self.last_sent + hb).max(now);
            t = Some(t.map_or(ping, |t| t.min(ping)));
        }
        t
    }

    /// The interval at which to show signs of life: the shortest of the
    /// live subscriptions' (none without one).
    fn heartbeat(&self) -> Option<Duration> {
        self.subs
            .values()
            .filter(|s| s.tracker.is_active())
            .map(|s| s.tracker.heartbeat_interval())
            .min()
    }

    fn timers(&mut self, now: Instant) {
        let expired = self.table.expire(now);
        for (p, sends) in expired.failed {
            let _ = p.sink.send(Err(self.gave_up(&p, sends)));
        }
        if expired.retry {
            self.reconnect = true;
        }
        let mut resubscribe = Vec::new();
        let mut give_up = Vec::new();
        for (key, sub) in &self.subs {
            match sub.tracker.due(now) {
                Due::Nothing => {}
                Due::Resubscribe => resubscribe.push(*key),
                Due::Reconnect => self.reconnect = true,
                Due::GiveUp => give_up.push(*key),
            }
        }
        for key in give_up {
            let sub = self.subs.remove(&key).expect("present");
            self.sub_ids.remove(&sub.wire_id);
            let err = self.no_reply(self.options.retries + 1);
            if let Some(ack) = sub.ack {
                let _ = ack.send(Err(err));
            }
        }
        if !self.reconnect {
            for key in resubscribe {
                self.subscribe(key, now);
            }
        }
        if let Some(hb) = self.heartbeat() {
            if now >= self.last_sent + hb {
                let id = self.table.fresh_id();
                self.send_request(id, &Request::Ping);
            }
        }
    }

    /// The error of a request that was sent `sends` times in vain.
    fn gave_up(&self, p: &Pending, sends: u32) -> Error {
        if p.shutting_down {
            Error::Closed
        } else {
            self.no_reply(sends)
        }
    }

    fn no_reply(&self, sends: u32) -> Error {
        let sends = format!("{sends} send{}", if sends == 1 { "" } else { "s" });
        Error::Network(match &self.link_error {
            Some(why) => format!("{}: {why} ({sends})", self.endpoint),
            None => format!(
                "no reply from {} within {:?} ({sends})",
                self.endpoint, self.options.request_timeout
            ),
        })
    }

    /// Opens a new connection and sends everything in flight there again.
    fn renew(&mut self, now: Instant) {
        self.reconnect = false;
        let conn = match Connection::open(
            &self.ctx,
            &self.endpoint,
            self.curve.as_ref(),
            self.connections + 1,
        ) {
            Ok(c) => c,
            Err(e) => {
                // The endpoint connected once: this is the messaging layer
                // failing. Keep the old connection and try again later.
                log::error!("client of {}: cannot reconnect: {e}", self.endpoint);
                return;
            }
        };
        log::debug!("client of {}: new connection", self.endpoint);
        self.connections += 1;
        self.conn = conn;
        self.link_armed = false;
        self.outbox.clear();
        self.ignored.clear();
        let (ids, failed) = self.table.rekey_all(now);
        for (p, sends) in failed {
            let _ = p.sink.send(Err(self.gave_up(&p, sends)));
        }
        for id in ids {
            let entry = self.table.get_mut(id).expect("just rekeyed");
            match rest_of(&entry.req.request, entry.req.progress) {
                Rest::Done => {
                    let p = self.table.remove(id).expect("present");
                    let _ = p.sink.send(Ok(Reply::End {
                        count: p.progress.delivered,
                    }));
                    continue;
                }
                Rest::Unchanged => {}
                Rest::Ask(rest) => match encode_request(0, &rest) {
                    Ok(frames) => {
                        entry.req.request = rest;
                        entry.req.frames = frames;
                    }
                    Err(e) => {
                        let p = self.table.remove(id).expect("present");
                        let _ = p.sink.send(Err(e));
                        continue;
                    }
                },
            }
            let entry = self.table.get_mut(id).expect("present");
            entry.req.frames[1] = id.to_be_bytes().to_vec();
            let frames = entry.req.frames.clone();
            self.send(frames);
        }
        let keys: Vec<u64> = self.subs.keys().copied().collect();
        for key in keys {
            self.subscribe(key, now);
        }
    }

    /// Ends every subscription (asking the server too) and fails what is
    /// in flight with [`Error::Closed`].
    fn shutdown(&mut self) {
        self.closed = true;
        let subs: Vec<Sub> = self.subs.drain().map(|(_, s)| s).collect();
        for sub in subs {
            self.send_request(sub.wire_id, &Request::Unsubscribe);
            match sub.ack {
                Some(ack) => {
                    let _ = ack.send(Err(Error::Closed));
                }
                None => {
                    let _ = sub.sink.send(SubMsg::Failed(Error::Closed));
                }
            }
        }
        for p in self.table.drain() {
            let _ = p.sink.send(Err(Error::Closed));
        }
        // Give the UNSUBSCRIBEs a moment to leave; a server that is away
        // ends the subscriptions at its peer timeout.
        let _ = self.conn.socket.set_linger(100);
    }
}
