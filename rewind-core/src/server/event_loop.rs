//! The server thread's loop: one poll over the wake socket and the request
//! sockets, then the notes from other threads, the requests read, the
//! retries of peers blocked at the high-water mark, and a turn for each
//! peer with a stream left and each native subscription with a turn due;
//! at the end, the graceful shutdown.
//!
//! Owns [`Core`], all the state of the server thread. What a request or a
//! completion does to a peer is in `dispatch` (`native` for the native
//! protocol's requests); sending is the pump's.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::appends::Appends;
use super::blocked::{poll_timeout, BlockedPeers};
use super::native::subs::{Limits, Subscriptions};
use super::options::ServerOptions;
use super::peer::{PeerKey, Peers};
use super::publish::publish_batch;
use super::pump::STREAM_BUDGET;
use super::sockets::{self, Sockets};
use super::wake::{Mailbox, Note};
use super::ExitReason;
use crate::protocol::Protocol;
use crate::store::{CommittedAppend, ListenerId};
use crate::{Result, Store};

mod dispatch;
mod native;

/// Messages read from one socket before others get their turn.
const RECV_BUDGET: usize = 512;

/// Everything the server thread works with.
pub(super) struct Core {
    store: Store,
    /// The commit listener that publishes; removed at shutdown.
    listener: ListenerId,
    options: ServerOptions,
    sockets: Sockets,
    mailbox: Mailbox,
    appends: Appends,
    /// Set by the stop handle.
    stop: Arc<AtomicBool>,
    peers: Peers,
    /// Peers with work left after their budget ran out.
    runnable: VecDeque<PeerKey>,
    blocked: BlockedPeers,
    exit: Option<ExitReason>,
    /// Messages sent to peers so far (to tell whether a retry moved any).
    sent: u64,
    /// The native protocol's subscriptions.
    subs: Subscriptions,
}

/// What the poll found, per request socket (v1, v2, native).
struct Readiness {
    woke: bool,
    readable: [bool; sockets::COUNT],
    writable: [bool; sockets::COUNT],
}

impl Core {
    pub fn new(
        store: Store,
        listener: ListenerId,
        options: ServerOptions,
        sockets: Sockets,
        mailbox: Mailbox,
        appends: Appends,
        stop: Arc<AtomicBool>,
    ) -> Core {
        Core {
            store,
            listener,
            options,
            sockets,
            mailbox,
            appends,
            stop,
            peers: Peers::default(),
            runnable: VecDeque::new(),
            blocked: BlockedPeers::new(Instant::now()),
            exit: None,
            sent: 0,
            subs: Subscriptions::new(Limits::default(), Instant::now()),
        }
    }

    /// Serves until asked to stop and every append in flight is answered.
    pub fn run(&mut self) -> Result<ExitReason> {
        loop {
            if self.stopping() && self.appends.in_flight() == 0 {
                return Ok(self.exit.unwrap_or(ExitReason::Stopped));
            }
            self.poll_once()?;
        }
    }

    /// The graceful end: answers what can be answered, then closes.
    pub fn shutdown(&mut self) {
        self.store.remove_listener(self.listener);
        // Appends already submitted are committed and acknowledged by run();
        // late notes (none expected) are published or answered here.
        self.drain_notes();
        if let Some(socket) = self.sockets.request(sockets::index(Protocol::Native)) {
            self.subs.shutdown(socket);
        }
        for key in self.peers.keys() {
            if let Some(p) = self.peers.get_mut(&key) {
                p.abandon_work("the server is shutting down");
            }
            self.pump(&key);
        }
    }

    fn stopping(&self) -> bool {
        self.exit.is_some() || self.stop.load(Ordering::SeqCst)
    }

    fn poll_once(&mut self) -> Result<()> {
        let accepting = !self.stopping();
        let on_timer = self.blocked.on_timer();
        let Some(ready) = self.wait(accepting, on_timer)? else {
            return Ok(());
        };
        if ready.woke {
            self.mailbox.rearm();
        }
        self.drain_notes();
        for i in 0..sockets::COUNT {
            if ready.readable[i] && accepting {
                self.read_requests(i)?;
            }
            if self.blocked.due(i, ready.writable[i], on_timer) {
                self.retry_blocked(i);
            }
        }
        self.run_runnable();
        self.run_subscriptions();
        let metrics = self.store.metrics();
        metrics
            .pending_replies
            .store(self.appends.in_flight() as i64, Ordering::Relaxed);
        metrics
            .native_subscriptions
            .store(self.subs.len() as i64, Ordering::Relaxed);
        Ok(())
    }

    /// Polls the wake socket and the request sockets; `None` when a signal
    /// interrupted the poll.
    fn wait(&self, accepting: bool, on_timer: bool) -> Result<Option<Readiness>> {
        let mut items = Vec::with_capacity(1 + sockets::COUNT);
        items.push(self.mailbox.poll_item());
        for i in 0..sockets::COUNT {
            if let Some(s) = self.sockets.request(i) {
                let mut ev = zmq::PollEvents::empty();
                if accepting {
                    ev |= zmq::POLLIN;
                }
                if self.blocked.wants_pollout(i) {
                    ev |= zmq::POLLOUT;
                }
                items.push(s.as_poll_item(ev));
            }
        }
        let retry_in = on_timer.then(|| self.blocked.retry_in(Instant::now()));
        let mut timeout = poll_timeout(!self.runnable.is_empty(), retry_in, self.stopping());
        if let Some(limit) = self.subs.wait_limit(Instant::now()) {
            // Rounded up, so that a tick due in 0.4 ms is not a busy loop.
            let ms = limit.as_micros().div_ceil(1000) as i64;
            timeout = if timeout < 0 { ms } else { timeout.min(ms) };
        }
        match zmq::poll(&mut items, timeout) {
            Ok(_) => {}
            // A signal (SIGINT, SIGTERM) landed on this thread: the stop
            // handle, if that is what it was, has already woken us.
            Err(zmq::Error::EINTR) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        let mut ready = Readiness {
            woke: items[0].is_readable(),
            readable: [false; sockets::COUNT],
            writable: [false; sockets::COUNT],
        };
        let mut polled = items[1..].iter();
        for i in 0..sockets::COUNT {
            if self.sockets.request(i).is_some() {
                let item = polled.next().expect("one poll item per request socket");
                ready.readable[i] = item.is_readable();
                ready.writable[i] = item.is_writable();
            }
        }
        Ok(Some(ready))
    }

    fn drain_notes(&mut self) {
        while let Some(note) = self.mailbox.next() {
            match note {
                Note::Committed(batch) => {
                    self.publish(&batch);
                    if self.subs.len() > 0 {
                        if let Some(s) = self.sockets.request(sockets::index(Protocol::Native)) {
                            self.subs.committed(s, &batch, Instant::now());
                        }
                        self.note_blocked_subscribers();
                    }
                }
                Note::Done {
                    peer,
                    epoch,
                    seq,
                    result,
                } => {
                    self.appends.completed();
                    self.complete(&peer, epoch, seq, result);
                }
            }
        }
    }

    fn publish(&self, batch: &[CommittedAppend]) {
        publish_batch(
            batch,
            &self.options.default_stream,
            self.sockets.v1_pub.as_ref(),
            self.sockets.v2_pub.as_ref(),
        );
    }

    /// Reads and handles the requests waiting on request socket `i`, up to
    /// the budget, or until the exit codeword.
    fn read_requests(&mut self, i: usize) -> Result<()> {
        let proto = sockets::PROTOCOLS[i];
        for _ in 0..RECV_BUDGET {
            let Some(socket) = self.sockets.request(i) else {
                return Ok(());
            };
            let Some(frames) = sockets::receive(socket)? else {
                return Ok(());
            };
            self.handle_message(proto, frames);
            if self.exit.is_some() {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Pumps every peer blocked on request socket `i` again (and gives
    /// the native subscriptions of those clients their turn).
    fn retry_blocked(&mut self, i: usize) {
        let before = self.sent + self.subs.messages_sent();
        for key in self.blocked.take(i) {
            if let Some(p) = self.peers.get_mut(&key) {
                p.set_blocked(false);
            }
            if key.proto == Protocol::Native {
                self.subs.unblock(&key.id);
            }
            self.pump(&key);
        }
        if i == sockets::index(Protocol::Native) {
            self.run_subscriptions();
        }
        let moved = self.sent + self.subs.messages_sent() != before;
        self.blocked.retried(moved, Instant::now());
    }

    /// Gives each native subscription with a turn due its turn, and sends
    /// the heartbeats and timeouts due.
    fn run_subscriptions(&mut self) {
        let Some(socket) = self.sockets.request(sockets::index(Protocol::Native)) else {
            return;
        };
        let now = Instant::now();
        if self.subs.has_runnable() {
            self.subs.run(&self.store, socket, STREAM_BUDGET, now);
        }
        if self.subs.tick_due(now) {
            self.subs.tick(socket, now);
        }
        self.note_blocked_subscribers();
    }

    /// Lists the native clients whose subscriptions found their pipe full,
    /// for the retries of blocked peers.
    fn note_blocked_subscribers(&mut self) {
        let i = sockets::index(Protocol::Native);
        for id in self.subs.take_blocked() {
            self.blocked.push(
                i,
                PeerKey {
                    proto: Protocol::Native,
                    id,
                },
            );
        }
    }

    /// Gives each peer that used up its budget one more turn.
    fn run_runnable(&mut self) {
        let rounds = self.runnable.len();
        for _ in 0..rounds {
            if let Some(key) = self.runnable.pop_front() {
                self.pump(&key);
            }
        }
    }
}
