//! Native subscriptions served on the server thread: per subscription a
//! cursor (the next log position to examine), its credit and its filter.
//!
//! - A subscription behind the head of the log reads from the store, a
//!   batch per turn, straight from borrowed records; when a read finds the
//!   end of the log it sends `CAUGHT_UP` (once) and becomes *live*.
//! - A live subscription whose cursor is at the start of a newly committed
//!   batch is fed from that batch (the events the server receives for its
//!   PUB sockets anyway); any other lands back on the store.
//! - An event is encoded only within credit, and a subscription buffers at
//!   most the messages it could not send because its client's pipe is full;
//!   then its client is *blocked* (the event loop retries it when the pipe
//!   drains) and only that client waits. With no credit left a
//!   subscription reads nothing until `CREDIT` comes.
//! - The tick sends `HEARTBEAT` on subscriptions idle for an interval and
//!   ends with `ERROR TIMEOUT` those of clients silent for the peer timeout.
//! - A read of the store that fails with a storage error (the database is
//!   unreachable for now) does not end the subscription: the tick gives it
//!   another turn, from just after the last event it handed over.
//!
//! Sends through an [`Outlet`] (a ROUTER socket, or a recorder in the
//! tests); knows nothing of the peers' reply queues.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::batcher::{Batcher, Ready};
use crate::protocol::native::{
    self, ErrorCode, ErrorReply, Reply, HEARTBEAT_INTERVAL_MS, MAX_BATCH_EVENTS, MAX_SUBSCRIPTIONS,
    PEER_TIMEOUT_INTERVALS,
};
use crate::server::pump::{Outlet, Sent};
use crate::store::CommittedAppend;
use crate::{Error, LogFilter, Store};

/// The most log positions one read of a subscription examines, so that a
/// selective filter over a long history does not hold the loop.
const SCAN_SPAN: u64 = 1 << 14;

/// A message of a subscription not sent yet (its client's pipe was full).
#[derive(Debug)]
enum Pending {
    Frames(Vec<Vec<u8>>),
    Events(Ready),
}

#[derive(Debug)]
struct Sub {
    filter: LogFilter,
    /// The next log position to examine.
    cursor: u64,
    /// Events that may still be encoded.
    credit: u64,
    /// Events sent.
    sent: u64,
    caught_up: bool,
    /// At the end of the log, waiting for commits.
    live: bool,
    /// On the run queue.
    queued: bool,
    batcher: Batcher,
    pending: VecDeque<Pending>,
    last_sent: Instant,
}

impl Sub {
    /// The position below which every passing event has been sent.
    fn reached(&self) -> u64 {
        self.batcher.first_held_position().unwrap_or(self.cursor)
    }
}

/// A client with subscriptions.
#[derive(Debug)]
struct SubPeer {
    envelope: Vec<Vec<u8>>,
    last_heard: Instant,
    /// Its pipe is full: it waits for the event loop's retry.
    blocked: bool,
    subs: HashMap<u64, Sub>,
}

/// The limits of the subscriptions of one server.
#[derive(Debug, Clone, Copy)]
pub(in crate::server) struct Limits {
    pub max_subscriptions: usize,
    pub heartbeat: Duration,
    pub peer_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        let heartbeat = Duration::from_millis(HEARTBEAT_INTERVAL_MS);
        Limits {
            max_subscriptions: MAX_SUBSCRIPTIONS,
            heartbeat,
            peer_timeout: heartbeat * PEER_TIMEOUT_INTERVALS as u32,
        }
    }
}

/// Every subscription of the server.
pub(in crate::server) struct Subscriptions {
    peers: HashMap<Vec<u8>, SubPeer>,
    count: usize,
    limits: Limits,
    /// Subscriptions with a turn due, by client and request id.
    runnable: VecDeque<(Vec<u8>, u64)>,
    /// Clients whose pipe filled up since the event loop last asked.
    newly_blocked: Vec<Vec<u8>>,
    next_tick: Instant,
    /// Messages sent so far (to tell whether a retry moved any).
    messages: u64,
    /// Subscriptions whose read of the store failed (the database is
    /// away): the tick gives them a turn again.
    stalled: Vec<(Vec<u8>, u64)>,
}

fn frames(request_id: u64, reply: &Reply) -> Vec<Vec<u8>> {
    native::encode_reply(request_id, reply).unwrap_or_default()
}

/// Sends `pending` in order; stops at the first message that does not go.
fn flush<O: Outlet>(
    sub: &mut Sub,
    out: &O,
    envelope: &[Vec<u8>],
    request_id: u64,
    now: Instant,
    messages: &mut u64,
) -> Sent {
    let id = request_id.to_be_bytes();
    while let Some(p) = sub.pending.front_mut() {
        let (r, events) = match p {
            Pending::Frames(f) => (out.send(envelope, f), 0),
            Pending::Events(ready) => (
                out.send_owned(envelope, &[native::TAG, &id, b"EVENTS"], &mut ready.body),
                ready.events,
            ),
        };
        if r != Sent::Yes {
            return r;
        }
        sub.sent += events;
        sub.last_sent = now;
        sub.pending.pop_front();
        *messages += 1;
    }
    Sent::Yes
}

/// Queues the batch built so far, if any.
fn take_batch(sub: &mut Sub) {
    if let Some(r) = sub.batcher.take() {
        sub.pending.push_back(Pending::Events(r));
    }
}

/// Offers `e` within credit; queues the batch when it is complete.
fn offer(sub: &mut Sub, e: &crate::EventRef<'_>) -> bool {
    sub.credit -= 1;
    if !sub.batcher.offer(e) {
        take_batch(sub);
        return false;
    }
    true
}

impl Subscriptions {
    pub fn new(limits: Limits, now: Instant) -> Subscriptions {
        Subscriptions {
            peers: HashMap::new(),
            count: 0,
            limits,
            runnable: VecDeque::new(),
            newly_blocked: Vec::new(),
            next_tick: now + limits.heartbeat / 4,
            stalled: Vec::new(),
            messages: 0,
        }
    }

    /// Messages the subscriptions have sent so far.
    pub fn messages_sent(&self) -> u64 {
        self.messages
    }

    /// The number of live subscriptions.
    pub fn len(&self) -> usize {
        self.count
    }

    /// A message from `routing_id` arrived: it is alive.
    pub fn heard(&mut self, routing_id: &[u8], now: Instant) {
        if let Some(p) = self.peers.get_mut(routing_id) {
            p.last_heard = now;
        }
    }

    fn queue(runnable: &mut VecDeque<(Vec<u8>, u64)>, routing_id: &[u8], id: u64, sub: &mut Sub) {
        if !sub.queued {
            sub.queued = true;
            runnable.push_back((routing_id.to_vec(), id));
        }
    }

    /// Starts subscription `request_id` of `routing_id`; its `SUBSCRIBED`
    /// goes out on its first turn.
    #[allow(clippy::too_many_arguments)]
    pub fn subscribe(
        &mut self,
        store: &Store,
        routing_id: &[u8],
        request_id: u64,
        from: Option<u64>,
        credit: u64,
        filter: LogFilter,
        now: Instant,
    ) -> Result<(), ErrorReply> {
        if self.count >= self.limits.max_subscriptions {
            return Err(ErrorReply::new(
                ErrorCode::TooManySubscriptions,
                format!(
                    "the server serves at most {} subscriptions",
                    self.limits.max_subscriptions
                ),
            ));
        }
        let next = store
            .next_position()
            .map_err(|e| ErrorReply::from_error(&e))?;
        let start = from.unwrap_or(next);
        if start > next {
            return Err(ErrorReply::invalid(format!(
                "the subscription starts at position {start}, past the end of the log ({next})"
            )));
        }
        let peer = self
            .peers
            .entry(routing_id.to_vec())
            .or_insert_with(|| SubPeer {
                envelope: vec![routing_id.to_vec()],
                last_heard: now,
                blocked: false,
                subs: HashMap::new(),
            });
        if peer.subs.contains_key(&request_id) {
            return Err(ErrorReply::invalid(format!(
                "request id {request_id} already names a live subscription"
            )));
        }
        let subscribed = frames(
            request_id,
            &Reply::Subscribed {
                start,
                heartbeat_interval_ms: self.limits.heartbeat.as_millis() as u64,
            },
        );
        let mut sub = Sub {
            filter,
            cursor: start,
            credit,
            sent: 0,
            caught_up: false,
            live: false,
            queued: false,
            batcher: Batcher::new(),
            pending: VecDeque::from([Pending::Frames(subscribed)]),
            last_sent: now,
        };
        Self::queue(&mut self.runnable, routing_id, request_id, &mut sub);
        peer.subs.insert(request_id, sub);
        self.count += 1;
        Ok(())
    }

    fn unknown(request_id: u64) -> ErrorReply {
        ErrorReply::new(
            ErrorCode::UnknownSubscription,
            format!("no live subscription has request id {request_id}"),
        )
    }

    /// Adds `credit` to subscription `request_id` of `routing_id`.
    pub fn credit(
        &mut self,
        routing_id: &[u8],
        request_id: u64,
        credit: u64,
    ) -> Result<(), ErrorReply> {
        let sub = self
            .peers
            .get_mut(routing_id)
            .and_then(|p| p.subs.get_mut(&request_id))
            .ok_or_else(|| Self::unknown(request_id))?;
        sub.credit = sub.credit.saturating_add(credit);
        if !sub.live {
            Self::queue(&mut self.runnable, routing_id, request_id, sub);
        }
        Ok(())
    }

    /// Ends subscription `request_id` of `routing_id`; returns how many
    /// events it sent (for its `END`). Messages not sent yet are dropped.
    pub fn unsubscribe(&mut self, routing_id: &[u8], request_id: u64) -> Result<u64, ErrorReply> {
        let peer = self
            .peers
            .get_mut(routing_id)
            .ok_or_else(|| Self::unknown(request_id))?;
        let sub = peer
            .subs
            .remove(&request_id)
            .ok_or_else(|| Self::unknown(request_id))?;
        if peer.subs.is_empty() {
            self.peers.remove(routing_id);
        }
        self.count -= 1;
        Ok(sub.sent)
    }

    /// The clients whose pipe filled up since the last call.
    pub fn take_blocked(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.newly_blocked)
    }

    /// The pipe of `routing_id` may have room again: its subscriptions get
    /// a turn.
    pub fn unblock(&mut self, routing_id: &[u8]) {
        if let Some(peer) = self.peers.get_mut(routing_id) {
            if peer.blocked {
                peer.blocked = false;
                for (id, sub) in peer.subs.iter_mut() {
                    Self::queue(&mut self.runnable, routing_id, *id, sub);
                }
            }
        }
    }

    /// Whether some subscription has a turn due.
    pub fn has_runnable(&self) -> bool {
        !self.runnable.is_empty()
    }

    /// How long the event loop may sleep for the subscriptions' sake.
    pub fn wait_limit(&self, now: Instant) -> Option<Duration> {
        if !self.runnable.is_empty() {
            Some(Duration::ZERO)
        } else if self.count > 0 {
            Some(self.next_tick.saturating_duration_since(now))
        } else {
            None
        }
    }

    fn remove_peer(&mut self, routing_id: &[u8]) {
        if let Some(p) = self.peers.remove(routing_id) {
            self.count -= p.subs.len();
        }
    }

    /// Ends subscription `request_id` of `routing_id` with `error`, sent
    /// if the pipe takes it.
    fn fail<O: Outlet>(&mut self, out: &O, routing_id: &[u8], request_id: u64, error: &ErrorReply) {
        if let Some(peer) = self.peers.get_mut(routing_id) {
            if peer.subs.remove(&request_id).is_some() {
                self.count -= 1;
                let _ = out.send(&peer.envelope, &native::encode_error(request_id, error));
            }
            if peer.subs.is_empty() {
                self.peers.remove(routing_id);
            }
        }
    }

    /// Gives up to every queued subscription a turn (at most `budget` events
    /// read each); counts the messages sent in `sent`.
    pub fn run<O: Outlet>(&mut self, store: &Store, out: &O, budget: usize, now: Instant) {
        for _ in 0..self.runnable.len() {
            let Some((routing_id, id)) = self.runnable.pop_front() else {
                break;
            };
            match self.turn(store, out, &routing_id, id, budget, now) {
                Ok(()) => {}
                Err(e @ Error::Storage(_)) => {
                    // The storage is unreachable for now (PostgreSQL
                    // restarting): the subscription tries again at the
                    // next tick rather than ending.
                    log::warn!("a subscription's read failed ({e}); retrying");
                    self.stalled.push((routing_id, id));
                }
                Err(e) => self.fail(out, &routing_id, id, &ErrorReply::from_error(&e)),
            }
        }
    }

    fn turn<O: Outlet>(
        &mut self,
        store: &Store,
        out: &O,
        routing_id: &[u8],
        id: u64,
        mut budget: usize,
        now: Instant,
    ) -> crate::Result<()> {
        let Some(peer) = self.peers.get_mut(routing_id) else {
            return Ok(());
        };
        let Some(sub) = peer.subs.get_mut(&id) else {
            return Ok(());
        };
        sub.queued = false;
        if peer.blocked {
            // The retry of its client queues it again.
            return Ok(());
        }
        loop {
            match flush(sub, out, &peer.envelope, id, now, &mut self.messages) {
                Sent::Yes => {}
                Sent::WouldBlock => {
                    peer.blocked = true;
                    sub.live = false;
                    self.newly_blocked.push(routing_id.to_vec());
                    return Ok(());
                }
                Sent::Gone => {
                    self.remove_peer(routing_id);
                    return Ok(());
                }
            }
            if sub.live {
                return Ok(());
            }
            if sub.credit == 0 {
                // CAUGHT_UP is not an event: it goes without credit.
                if !sub.caught_up
                    && sub.batcher.held() == 0
                    && sub.cursor >= store.next_position()?
                {
                    sub.caught_up = true;
                    sub.live = true;
                    let m = frames(
                        id,
                        &Reply::CaughtUp {
                            next_position: sub.cursor,
                        },
                    );
                    sub.pending.push_back(Pending::Frames(m));
                    continue;
                }
                return Ok(());
            }
            if budget == 0 {
                Self::queue(&mut self.runnable, routing_id, id, sub);
                return Ok(());
            }
            let end = store.next_position()?;
            let room = MAX_BATCH_EVENTS.saturating_sub(sub.batcher.held()).max(1);
            let limit = usize::try_from(sub.credit).map_or(room, |c| c.min(room));
            let before = sub.cursor;
            let span = end.min(before.saturating_add(SCAN_SPAN));
            let Sub {
                filter,
                batcher,
                credit,
                cursor,
                ..
            } = &mut *sub;
            let mut complete = false;
            let next = store.scan_log(before, span, limit, filter, &mut |e| {
                // Kept up to date, so that a read that fails half-way
                // resumes after the events it handed over.
                *cursor = e.position + 1;
                *credit -= 1;
                let go = batcher.offer(&e);
                complete |= !go;
                go
            })?;
            sub.cursor = next;
            budget =
                budget.saturating_sub(usize::try_from(next - before).unwrap_or(usize::MAX).max(1));
            if complete || sub.credit == 0 {
                take_batch(sub);
            }
            if sub.cursor >= end {
                take_batch(sub);
                take_batch(sub); // a spilled event
                if !sub.caught_up {
                    sub.caught_up = true;
                    let m = frames(
                        id,
                        &Reply::CaughtUp {
                            next_position: sub.cursor,
                        },
                    );
                    sub.pending.push_back(Pending::Frames(m));
                }
                sub.live = true;
            }
        }
    }

    /// A batch is committed: live subscriptions at its start take their
    /// events from it; the others read them from the store later.
    pub fn committed<O: Outlet>(&mut self, out: &O, batch: &[CommittedAppend], now: Instant) {
        let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
            return;
        };
        let start = first.first_position;
        let end = last.first_position + last.events.len() as u64;
        let mut gone = Vec::new();
        for (routing_id, peer) in self.peers.iter_mut() {
            for (&id, sub) in peer.subs.iter_mut() {
                if !sub.live || sub.cursor >= end {
                    continue;
                }
                if peer.blocked || sub.cursor < start || sub.credit == 0 {
                    sub.live = false;
                    if !peer.blocked && sub.credit > 0 {
                        Self::queue(&mut self.runnable, routing_id, id, sub);
                    }
                    continue;
                }
                'feed: for append in batch {
                    for (e, _) in append.iter() {
                        if e.position < sub.cursor {
                            continue;
                        }
                        if sub.credit == 0 {
                            break 'feed;
                        }
                        sub.cursor = e.position + 1;
                        if sub.filter.matches(&e) && !offer(sub, &e) {
                            // A complete batch: send it before going on.
                            match flush(sub, out, &peer.envelope, id, now, &mut self.messages) {
                                Sent::Yes => {}
                                _ => break 'feed,
                            }
                        }
                    }
                }
                take_batch(sub);
                take_batch(sub);
                if sub.cursor < end {
                    // Out of credit (or a full pipe): the rest is read from
                    // the store when it can go.
                    sub.live = false;
                }
                match flush(sub, out, &peer.envelope, id, now, &mut self.messages) {
                    Sent::Yes => {
                        if !sub.live && sub.credit > 0 {
                            Self::queue(&mut self.runnable, routing_id, id, sub);
                        }
                    }
                    Sent::WouldBlock => {
                        sub.live = false;
                        if !peer.blocked {
                            peer.blocked = true;
                            self.newly_blocked.push(routing_id.clone());
                        }
                    }
                    Sent::Gone => {
                        gone.push(routing_id.clone());
                        break;
                    }
                }
            }
        }
        for g in gone {
            self.remove_peer(&g);
        }
    }

    /// Whether the tick is due.
    pub fn tick_due(&self, now: Instant) -> bool {
        self.count > 0 && now >= self.next_tick
    }

    /// Heartbeats on idle subscriptions; `ERROR TIMEOUT` for those of
    /// clients silent for the peer timeout.
    pub fn tick<O: Outlet>(&mut self, out: &O, now: Instant) {
        self.next_tick = now + self.limits.heartbeat / 4;
        for (routing_id, id) in std::mem::take(&mut self.stalled) {
            if let Some(sub) = self
                .peers
                .get_mut(&routing_id)
                .and_then(|p| p.subs.get_mut(&id))
            {
                Self::queue(&mut self.runnable, &routing_id, id, sub);
            }
        }
        let timeout = self.limits.peer_timeout;
        let silent: Vec<Vec<u8>> = self
            .peers
            .iter()
            .filter(|(_, p)| now.saturating_duration_since(p.last_heard) >= timeout)
            .map(|(k, _)| k.clone())
            .collect();
        for routing_id in silent {
            let ids: Vec<u64> = self.peers[&routing_id].subs.keys().copied().collect();
            let e = ErrorReply::new(
                ErrorCode::Timeout,
                format!(
                    "nothing heard from the client for {} ms",
                    timeout.as_millis()
                ),
            );
            log::info!(
                "ending {} subscription(s) of a client silent for {} ms",
                ids.len(),
                timeout.as_millis()
            );
            for id in ids {
                self.fail(out, &routing_id, id, &e);
            }
        }
        let mut gone = Vec::new();
        for (routing_id, peer) in self.peers.iter_mut() {
            if peer.blocked {
                continue;
            }
            for (&id, sub) in peer.subs.iter_mut() {
                if !sub.pending.is_empty()
                    || now.saturating_duration_since(sub.last_sent) < self.limits.heartbeat
                {
                    continue;
                }
                let m = frames(
                    id,
                    &Reply::Heartbeat {
                        position: sub.reached(),
                    },
                );
                match out.send(&peer.envelope, &m) {
                    Sent::Yes => {
                        sub.last_sent = now;
                        self.messages += 1;
                    }
                    Sent::WouldBlock => {
                        peer.blocked = true;
                        self.newly_blocked.push(routing_id.clone());
                        break;
                    }
                    Sent::Gone => {
                        gone.push(routing_id.clone());
                        break;
                    }
                }
            }
        }
        for g in gone {
            self.remove_peer(&g);
        }
    }

    /// The server stops: every subscription ends with `ERROR
    /// SHUTTING_DOWN` (sent if its client's pipe takes it).
    pub fn shutdown<O: Outlet>(&mut self, out: &O) {
        let e = ErrorReply::from_error(&Error::Closed);
        let e = ErrorReply {
            message: "the server is shutting down".into(),
            ..e
        };
        for (_, peer) in self.peers.drain() {
            for id in peer.subs.keys() {
                let _ = out.send(&peer.envelope, &native::encode_error(*id, &e));
            }
        }
        self.count = 0;
        self.runnable.clear();
    }
}

#[cfg(test)]
mod tests;
