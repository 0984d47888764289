//! Clients of the server (peers) and their reply slots: the state machine
//! that keeps pipelined replies in request order.
//!
//! Each request of a peer gets a [`Slot`] at the back of the peer's queue;
//! replies leave from the front only, so a reply that is ready early (a
//! failed request behind a pending append, say) waits its turn. A slot is
//! named by its sequence number, which appends carry to the writer and back.
//! A peer whose connection went away is forgotten; one that comes back with
//! the same routing id is a new peer with a new epoch, so a completion meant
//! for the old one finds no slot.
//!
//! Plain data: no sockets, no store. Sending is [`super::pump`]'s job.

use std::collections::{HashMap, VecDeque};

use super::native::reads::NativeRead;
use crate::protocol::{self, Protocol};
use crate::{Appended, Result};

/// A client: the socket it talks to and its routing id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct PeerKey {
    pub proto: Protocol,
    pub id: Vec<u8>,
}

/// One request's place in its peer's queue.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Slot {
    /// A reply ready to send (its frames).
    Ready(Vec<Vec<u8>>),
    /// An append on its way to the disk.
    Appending,
    /// A publish that waits for an earlier query of the same client to fix
    /// its range, so that the query does not see it.
    Held { stream: Vec<u8>, data: Vec<u8> },
    /// A query that runs when it reaches the head of the queue.
    Query {
        stream: Vec<u8>,
        from: Option<Vec<u8>>,
        to: Option<Vec<u8>>,
    },
    /// A v2 query being streamed: the versions still to send.
    Streaming {
        stream: Vec<u8>,
        next: u64,
        end: u64,
    },
    /// A native append on its way to the disk; its reply carries this
    /// request id.
    NativeAppending { request_id: u64 },
    /// A native read being streamed.
    NativeRead(Box<NativeRead>),
}

impl Slot {
    /// A one-frame `ERROR <reason>` reply.
    pub fn error(reason: &str) -> Slot {
        Slot::Ready(vec![protocol::error_frame(reason)])
    }

    /// The reply to a PUBLISH once the writer is done with it.
    pub fn appended(proto: Protocol, result: Result<Vec<Appended>>) -> Slot {
        Slot::Ready(match result {
            Ok(appended) => protocol::published_reply(proto, &appended[0].id),
            Err(e) => vec![protocol::error_frame(&e.to_string())],
        })
    }
}

/// A client with replies still to send.
#[derive(Debug)]
pub(super) struct Peer {
    /// Tells this peer from an earlier one with the same routing id.
    epoch: u64,
    /// The frames before the request, up to and including the empty one.
    envelope: Vec<Vec<u8>>,
    /// Reply slots in request order; `slots[0]` has sequence number `head`.
    slots: VecDeque<Slot>,
    head: u64,
    /// Waiting for its pipe to drain (it is on the server's blocked list).
    blocked: bool,
    /// `Query` slots in the queue whose range is not fixed yet.
    unresolved: usize,
}

impl Peer {
    fn new(epoch: u64) -> Peer {
        Peer {
            epoch,
            envelope: Vec::new(),
            slots: VecDeque::new(),
            head: 0,
            blocked: false,
            unresolved: 0,
        }
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The sequence number the next request gets.
    pub fn next_seq(&self) -> u64 {
        self.head + self.slots.len() as u64
    }

    /// Whether a PUBLISH must wait ([`Slot::Held`]) for an earlier query.
    pub fn holds_publishes(&self) -> bool {
        self.unresolved > 0
    }

    pub fn is_blocked(&self) -> bool {
        self.blocked
    }

    pub fn set_blocked(&mut self, blocked: bool) {
        self.blocked = blocked;
    }

    /// Queues the slot of the request numbered [`next_seq`](Peer::next_seq);
    /// returns whether it is at the head (so there may be something to send).
    pub fn enqueue(&mut self, slot: Slot) -> bool {
        if matches!(slot, Slot::Query { .. }) {
            self.unresolved += 1;
        }
        self.slots.push_back(slot);
        self.slots.len() == 1
    }

    /// Fills slot `seq` with the outcome of its append; returns whether it
    /// is the head (so the reply can go). A slot no longer queued is ignored.
    pub fn complete(&mut self, seq: u64, proto: Protocol, result: Result<Vec<Appended>>) -> bool {
        let Some(slot) = seq
            .checked_sub(self.head)
            .and_then(|i| self.slots.get_mut(i as usize))
        else {
            return false;
        };
        *slot = match slot {
            Slot::NativeAppending { request_id } => {
                Slot::Ready(super::native::appended_reply(*request_id, result))
            }
            _ => Slot::appended(proto, result),
        };
        seq == self.head
    }

    /// The head slot and the envelope its reply goes out with.
    pub fn head(&mut self) -> Option<(&mut Slot, &[Vec<u8>])> {
        let envelope = &self.envelope;
        self.slots.front_mut().map(|s| (s, envelope.as_slice()))
    }

    /// Drops the head slot, its reply sent.
    pub fn pop_head(&mut self) {
        self.slots.pop_front();
        self.head += 1;
    }

    /// Replaces the head `Query`, its range now fixed, with `resolved`, and
    /// hands each publish held behind it (up to the next query) to `submit`
    /// with its sequence number; those slots become `Appending`.
    pub fn resolve_head(&mut self, resolved: Slot, mut submit: impl FnMut(u64, Vec<u8>, Vec<u8>)) {
        debug_assert!(matches!(self.slots.front(), Some(Slot::Query { .. })));
        self.slots[0] = resolved;
        self.unresolved -= 1;
        for (i, later) in self.slots.iter_mut().enumerate().skip(1) {
            match later {
                Slot::Query { .. } => break,
                Slot::Held { stream, data } => {
                    let (stream, data) = (std::mem::take(stream), std::mem::take(data));
                    *later = Slot::Appending;
                    submit(self.head + i as u64, stream, data);
                }
                _ => {}
            }
        }
    }

    /// At shutdown: every query, stream and held publish becomes an error
    /// reply, and the peer is no longer waiting for its pipe.
    pub fn abandon_work(&mut self, reason: &str) {
        self.blocked = false;
        self.unresolved = 0;
        for slot in self.slots.iter_mut() {
            if let Slot::NativeRead(read) = slot {
                *slot = Slot::Ready(read.shutting_down());
            } else if matches!(
                slot,
                Slot::Query { .. } | Slot::Streaming { .. } | Slot::Held { .. }
            ) {
                *slot = Slot::error(reason);
            }
        }
    }
}

/// The peers with replies still to send, by key.
#[derive(Debug, Default)]
pub(super) struct Peers {
    map: HashMap<PeerKey, Peer>,
    /// The epoch of the newest peer.
    newest_epoch: u64,
}

impl Peers {
    /// The peer a request from `key` belongs to, a new one (with a new epoch)
    /// when none is known; its replies go out with `envelope` from now on.
    pub fn arrive(&mut self, key: &PeerKey, envelope: Vec<Vec<u8>>) -> &mut Peer {
        let newest = &mut self.newest_epoch;
        let peer = self.map.entry(key.clone()).or_insert_with(|| {
            *newest += 1;
            Peer::new(*newest)
        });
        peer.envelope = envelope;
        peer
    }

    pub fn get_mut(&mut self, key: &PeerKey) -> Option<&mut Peer> {
        self.map.get_mut(key)
    }

    /// The peer `key` if it is still the one of `epoch`.
    pub fn current(&mut self, key: &PeerKey, epoch: u64) -> Option<&mut Peer> {
        self.map.get_mut(key).filter(|p| p.epoch == epoch)
    }

    /// Forgets a peer: its queue is drained, or its connection is gone.
    pub fn remove(&mut self, key: &PeerKey) {
        self.map.remove(key);
    }

    pub fn keys(&self) -> Vec<PeerKey> {
        self.map.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    fn key(id: &[u8]) -> PeerKey {
        PeerKey {
            proto: Protocol::V2,
            id: id.to_vec(),
        }
    }

    fn ok(id: &str) -> Result<Vec<Appended>> {
        Ok(vec![Appended {
            id: id.as_bytes().to_vec(),
            stream: b"s".to_vec(),
            version: 0,
            position: 0,
        }])
    }

    fn ready(frames: &[&[u8]]) -> Slot {
        Slot::Ready(frames.iter().map(|f| f.to_vec()).collect())
    }

    fn query() -> Slot {
        Slot::Query {
            stream: b"s".to_vec(),
            from: None,
            to: None,
        }
    }

    fn held(data: &[u8]) -> Slot {
        Slot::Held {
            stream: b"s".to_vec(),
            data: data.to_vec(),
        }
    }

    /// Pops every ready reply at the head, as a send that always succeeds.
    fn sendable(peer: &mut Peer) -> Vec<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        while let Some((Slot::Ready(reply), _)) = peer.head() {
            out.push(std::mem::take(reply));
            peer.pop_head();
        }
        out
    }

    #[test]
    fn replies_leave_in_request_order_when_appends_complete_out_of_order() {
        let mut peers = Peers::default();
        let k = key(b"a");
        let p = peers.arrive(&k, vec![b"a".to_vec(), vec![]]);
        for seq in 0..3 {
            assert_eq!(p.next_seq(), seq);
            assert_eq!(p.enqueue(Slot::Appending), seq == 0);
        }
        assert!(!p.complete(2, Protocol::V2, ok("third")));
        assert!(!p.complete(1, Protocol::V2, ok("second")));
        assert!(
            sendable(p).is_empty(),
            "the head still waits for its append"
        );
        assert!(p.complete(0, Protocol::V2, ok("first")));
        assert_eq!(
            sendable(p),
            vec![
                vec![b"PUBLISHED".to_vec(), b"first".to_vec()],
                vec![b"PUBLISHED".to_vec(), b"second".to_vec()],
                vec![b"PUBLISHED".to_vec(), b"third".to_vec()],
            ]
        );
        assert!(p.head().is_none());
        assert_eq!(p.next_seq(), 3);
    }

    #[test]
    fn an_error_ready_early_waits_behind_a_pending_append() {
        let mut peers = Peers::default();
        let k = key(b"a");
        let p = peers.arrive(&k, vec![]);
        p.enqueue(Slot::Appending);
        assert!(!p.enqueue(Slot::error("bad request")));
        assert!(sendable(p).is_empty());
        assert!(p.complete(0, Protocol::V1, Err(Error::StorageFull("disk".into()))));
        let full = format!("ERROR {}", Error::StorageFull("disk".into()));
        assert_eq!(
            sendable(p),
            vec![vec![full.into_bytes()], vec![b"ERROR bad request".to_vec()],]
        );
    }

    #[test]
    fn a_v1_append_reply_is_one_frame() {
        assert_eq!(
            Slot::appended(Protocol::V1, ok("x")),
            ready(&[b"PUBLISHED"])
        );
        assert_eq!(
            Slot::appended(Protocol::V2, ok("x")),
            ready(&[b"PUBLISHED", b"x"])
        );
    }

    #[test]
    fn completions_for_slots_no_longer_queued_are_ignored() {
        let mut peers = Peers::default();
        let k = key(b"a");
        let p = peers.arrive(&k, vec![]);
        p.enqueue(Slot::Ready(vec![b"one".to_vec()]));
        assert_eq!(sendable(p).len(), 1);
        // Sequence 0 was sent, 1 was never asked for.
        assert!(!p.complete(0, Protocol::V2, ok("late")));
        assert!(!p.complete(1, Protocol::V2, ok("future")));
        assert!(p.head().is_none());
    }

    #[test]
    fn a_reconnected_peer_never_gets_the_reply_of_its_predecessor() {
        let mut peers = Peers::default();
        let k = key(b"same-id");
        let old = peers.arrive(&k, vec![b"old".to_vec()]);
        let old_epoch = old.epoch();
        old.enqueue(Slot::Appending);
        // Its connection is gone: forgotten with the append in flight.
        peers.remove(&k);
        assert!(peers.current(&k, old_epoch).is_none());

        let new = peers.arrive(&k, vec![b"new".to_vec()]);
        let new_epoch = new.epoch();
        assert!(new_epoch > old_epoch);
        assert_eq!(new.next_seq(), 0, "the new peer numbers from zero again");
        new.enqueue(Slot::Appending);
        assert!(peers.current(&k, old_epoch).is_none());
        let new = peers.current(&k, new_epoch).unwrap();
        assert!(matches!(new.head(), Some((Slot::Appending, _))));
        assert!(new.complete(0, Protocol::V2, ok("mine")));
        let (slot, envelope) = new.head().unwrap();
        assert_eq!(*slot, ready(&[b"PUBLISHED", b"mine"]));
        assert_eq!(envelope, [b"new".to_vec()]);
    }

    #[test]
    fn a_known_peer_keeps_its_epoch_and_takes_the_latest_envelope() {
        let mut peers = Peers::default();
        let (a, b) = (key(b"a"), key(b"b"));
        let e = peers.arrive(&a, vec![b"1".to_vec()]).epoch();
        peers.arrive(&a, vec![b"2".to_vec()]).enqueue(query());
        assert_eq!(peers.arrive(&b, vec![]).epoch(), e + 1);
        let p = peers.get_mut(&a).unwrap();
        assert_eq!(p.epoch(), e);
        assert_eq!(p.head().unwrap().1, [b"2".to_vec()]);
        let mut keys = peers.keys();
        keys.sort_by(|x, y| x.id.cmp(&y.id));
        assert_eq!(keys, vec![a, b]);
    }

    #[test]
    fn publishes_behind_a_query_are_held_until_it_resolves() {
        let mut peers = Peers::default();
        let p = peers.arrive(&key(b"a"), vec![]);
        assert!(!p.holds_publishes());
        p.enqueue(query());
        assert!(p.holds_publishes());
        p.enqueue(held(b"p1"));
        p.enqueue(Slot::error("in between"));
        p.enqueue(held(b"p2"));
        p.enqueue(query());
        p.enqueue(held(b"p3"));

        let mut submitted = Vec::new();
        p.resolve_head(ready(&[b"END"]), |seq, stream, data| {
            submitted.push((seq, stream, data))
        });
        assert_eq!(
            submitted,
            vec![
                (1, b"s".to_vec(), b"p1".to_vec()),
                (3, b"s".to_vec(), b"p2".to_vec())
            ]
        );
        assert!(p.holds_publishes(), "the second query is not resolved yet");
        assert_eq!(sendable(p), vec![vec![b"END".to_vec()]]);
        assert!(matches!(p.head(), Some((Slot::Appending, _))));
        assert!(p.complete(1, Protocol::V2, ok("p1")));
        assert!(!p.complete(3, Protocol::V2, ok("p2")));
        assert_eq!(sendable(p).len(), 3);

        submitted.clear();
        p.resolve_head(Slot::error("unknown id"), |seq, _, data| {
            submitted.push((seq, vec![], data))
        });
        assert_eq!(submitted, vec![(5, vec![], b"p3".to_vec())]);
        assert!(!p.holds_publishes());
        assert_eq!(sendable(p), vec![vec![b"ERROR unknown id".to_vec()]]);
        assert!(matches!(p.head(), Some((Slot::Appending, _))));
    }

    #[test]
    fn the_queue_drains_to_empty_and_the_peer_can_be_forgotten() {
        let mut peers = Peers::default();
        let k = key(b"a");
        let p = peers.arrive(&k, vec![]);
        assert!(p.enqueue(ready(&[b"1"])));
        assert!(!p.enqueue(ready(&[b"2"])));
        assert_eq!(sendable(p).len(), 2);
        assert!(p.head().is_none());
        assert!(
            p.enqueue(ready(&[b"3"])),
            "an empty queue's next slot is the head"
        );
        assert_eq!(p.next_seq(), 3);
        peers.remove(&k);
        assert!(peers.get_mut(&k).is_none());
    }

    #[test]
    fn shutdown_turns_unfinished_work_into_errors() {
        let mut peers = Peers::default();
        let p = peers.arrive(&key(b"a"), vec![]);
        p.set_blocked(true);
        p.enqueue(Slot::Streaming {
            stream: b"s".to_vec(),
            next: 3,
            end: 9,
        });
        p.enqueue(ready(&[b"PUBLISHED"]));
        p.enqueue(query());
        p.enqueue(held(b"x"));
        p.enqueue(Slot::Appending);
        p.abandon_work("the server is shutting down");
        assert!(!p.is_blocked());
        assert!(!p.holds_publishes());
        let err = ready(&[b"ERROR the server is shutting down"]);
        assert_eq!(
            p.slots,
            [
                Slot::error("the server is shutting down"),
                ready(&[b"PUBLISHED"]),
                Slot::error("the server is shutting down"),
                err,
                Slot::Appending
            ]
        );
    }
}
