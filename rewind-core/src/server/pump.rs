//! The pump: sends what the head of one peer's queue has ready, in request
//! order, until the queue is empty, waits for an append, the peer's pipe is
//! full, or the peer has used up its turn.
//!
//! Sends through an [`Outlet`] (a ROUTER socket in the server, a recorder in
//! the tests) and never blocks; what the pump stopped for is returned as a
//! [`Pumped`] for the event loop to act on (forget the peer, list it as
//! blocked, or give it another turn). It never touches other peers.

use super::native::reads::ReadTurn;
use super::peer::{Peer, Slot};
use super::query::{self, Streamed};
use crate::protocol::{self, Protocol};
use crate::Store;

/// Events streamed per peer before others get their turn.
pub(super) const STREAM_BUDGET: usize = 512;

/// How sending one message to a peer went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sent {
    Yes,
    /// The peer's pipe is at its high-water mark; nothing was sent.
    WouldBlock,
    /// The peer's connection is gone.
    Gone,
}

/// Where replies go: sends one message, the envelope then the frames,
/// without blocking.
pub(super) trait Outlet {
    fn send<F: AsRef<[u8]>>(&self, envelope: &[Vec<u8>], frames: &[F]) -> Sent;

    /// Sends the envelope, `head`, then `body` as the last frame, handing
    /// `body` over without copying it when the outlet can; on
    /// [`Sent::Yes`] `body` is left empty, otherwise it is untouched.
    fn send_owned(&self, envelope: &[Vec<u8>], head: &[&[u8]], body: &mut Vec<u8>) -> Sent {
        let mut frames: Vec<&[u8]> = head.to_vec();
        frames.push(body);
        let sent = self.send(envelope, &frames);
        if sent == Sent::Yes {
            body.clear();
        }
        sent
    }
}

/// Why the pump stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pumped {
    /// The head waits for its append, or the peer for its pipe (and is on
    /// the blocked list already).
    Waiting,
    /// Every reply is sent: the peer can be forgotten.
    Drained,
    /// The peer's pipe just filled up: retry when it drains.
    Blocked,
    /// The peer's connection is gone: forget it and its replies.
    Gone,
    /// The budget ran out with events left to stream: pump it again later.
    Yielded,
}

/// Sends the replies at the head of `peer`'s queue, streaming at most
/// `budget` query events; counts each message sent in `sent`. Publishes
/// released by a query whose range is now fixed go to `submit` with their
/// sequence numbers.
pub(super) fn pump<O: Outlet>(
    peer: &mut Peer,
    proto: Protocol,
    out: &O,
    store: &Store,
    mut budget: usize,
    sent: &mut u64,
    mut submit: impl FnMut(u64, Vec<u8>, Vec<u8>),
) -> Pumped {
    if peer.is_blocked() {
        return Pumped::Waiting;
    }
    loop {
        let Some((slot, envelope)) = peer.head() else {
            return Pumped::Drained;
        };
        match slot {
            Slot::Appending | Slot::Held { .. } | Slot::NativeAppending { .. } => {
                return Pumped::Waiting
            }
            Slot::NativeRead(read) => match read.turn(store, out, envelope, &mut budget, sent) {
                ReadTurn::Done(last) => *slot = Slot::Ready(last),
                ReadTurn::OutOfBudget => return Pumped::Yielded,
                ReadTurn::Blocked => {
                    peer.set_blocked(true);
                    return Pumped::Blocked;
                }
                ReadTurn::Gone => return Pumped::Gone,
            },
            Slot::Ready(reply) => match out.send(envelope, reply) {
                Sent::Yes => {
                    *sent += 1;
                    peer.pop_head();
                }
                Sent::WouldBlock => {
                    peer.set_blocked(true);
                    return Pumped::Blocked;
                }
                Sent::Gone => return Pumped::Gone,
            },
            Slot::Query { stream, from, to } => {
                let resolved = query::resolve(store, proto, stream, from.as_deref(), to.as_deref());
                // The range is fixed: the publishes this client sent after
                // the query may go to the store now.
                peer.resolve_head(resolved, &mut submit);
            }
            Slot::Streaming { stream, next, end } => {
                match query::stream_events(
                    store,
                    out,
                    envelope,
                    stream,
                    next,
                    *end,
                    &mut budget,
                    sent,
                ) {
                    Streamed::Finished => *slot = Slot::Ready(vec![protocol::END.to_vec()]),
                    Streamed::Progress => {}
                    Streamed::Failed(reason) => *slot = Slot::error(&reason),
                    Streamed::OutOfBudget => return Pumped::Yielded,
                    Streamed::Blocked => {
                        peer.set_blocked(true);
                        return Pumped::Blocked;
                    }
                    Streamed::Gone => return Pumped::Gone,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::peer::{PeerKey, Peers};
    use crate::server::query::tests::{store_with, FakeOutlet};

    fn frames(parts: &[&str]) -> Vec<Vec<u8>> {
        parts.iter().map(|p| p.as_bytes().to_vec()).collect()
    }

    fn query(from: Option<&str>, to: Option<&str>) -> Slot {
        Slot::Query {
            stream: b"s".to_vec(),
            from: from.map(|f| f.as_bytes().to_vec()),
            to: to.map(|t| t.as_bytes().to_vec()),
        }
    }

    fn no_submit(_: u64, _: Vec<u8>, _: Vec<u8>) {
        panic!("nothing should be submitted");
    }

    struct Fixture {
        peers: Peers,
        key: PeerKey,
        store: Store,
        out: FakeOutlet,
        sent: u64,
    }

    impl Fixture {
        fn new(proto: Protocol, events: usize, room: usize) -> Fixture {
            let key = PeerKey {
                proto,
                id: b"p".to_vec(),
            };
            let mut peers = Peers::default();
            peers.arrive(&key, frames(&["p", ""]));
            Fixture {
                peers,
                key,
                store: store_with(events),
                out: FakeOutlet::with_room(room),
                sent: 0,
            }
        }

        fn peer(&mut self) -> &mut Peer {
            self.peers.get_mut(&self.key).unwrap()
        }

        fn pump(&mut self, budget: usize) -> Pumped {
            let peer = self.peers.get_mut(&self.key).unwrap();
            pump(
                peer,
                self.key.proto,
                &self.out,
                &self.store,
                budget,
                &mut self.sent,
                no_submit,
            )
        }

        /// The frames after the envelope of each message sent.
        fn bodies(&self) -> Vec<Vec<Vec<u8>>> {
            let mut all = self.out.take();
            for m in &mut all {
                assert_eq!(m[..2], frames(&["p", ""]), "every reply has the envelope");
                m.drain(..2);
            }
            all
        }
    }

    #[test]
    fn ready_replies_go_in_order_until_the_queue_is_drained() {
        let mut f = Fixture::new(Protocol::V2, 0, 10);
        f.peer().enqueue(Slot::Ready(frames(&["PUBLISHED", "a"])));
        f.peer().enqueue(Slot::error("no"));
        assert_eq!(f.pump(STREAM_BUDGET), Pumped::Drained);
        assert_eq!(
            f.bodies(),
            vec![frames(&["PUBLISHED", "a"]), frames(&["ERROR no"])]
        );
        assert_eq!(f.sent, 2);
        assert_eq!(f.peer().next_seq(), 2);
    }

    #[test]
    fn a_pending_append_at_the_head_holds_back_later_replies() {
        let mut f = Fixture::new(Protocol::V2, 0, 10);
        f.peer().enqueue(Slot::Appending);
        f.peer().enqueue(Slot::error("later"));
        assert_eq!(f.pump(STREAM_BUDGET), Pumped::Waiting);
        assert!(f.bodies().is_empty());
        let ok = Ok(vec![crate::Appended {
            id: b"id".to_vec(),
            stream: b"s".to_vec(),
            version: 0,
            position: 0,
        }]);
        assert!(f.peer().complete(0, Protocol::V2, ok));
        assert_eq!(f.pump(STREAM_BUDGET), Pumped::Drained);
        assert_eq!(
            f.bodies(),
            vec![frames(&["PUBLISHED", "id"]), frames(&["ERROR later"])]
        );
    }

    #[test]
    fn a_full_pipe_blocks_the_peer_until_it_is_retried() {
        let mut f = Fixture::new(Protocol::V1, 0, 1);
        f.peer().enqueue(Slot::Ready(frames(&["one"])));
        f.peer().enqueue(Slot::Ready(frames(&["two"])));
        assert_eq!(f.pump(STREAM_BUDGET), Pumped::Blocked);
        assert!(f.peer().is_blocked());
        f.out.room.set(5);
        // Still listed as blocked: the pump leaves it alone.
        assert_eq!(f.pump(STREAM_BUDGET), Pumped::Waiting);
        assert_eq!(f.bodies(), vec![frames(&["one"])]);
        f.peer().set_blocked(false);
        assert_eq!(f.pump(STREAM_BUDGET), Pumped::Drained);
        assert_eq!(f.bodies(), vec![frames(&["two"])]);
    }

    #[test]
    fn a_lost_connection_stops_the_pump() {
        let mut f = Fixture::new(Protocol::V2, 3, 10);
        f.out.gone.set(true);
        f.peer().enqueue(Slot::Ready(frames(&["x"])));
        assert_eq!(f.pump(STREAM_BUDGET), Pumped::Gone);
        let mut f = Fixture::new(Protocol::V2, 3, 10);
        f.out.gone.set(true);
        f.peer().enqueue(query(None, None));
        assert_eq!(f.pump(STREAM_BUDGET), Pumped::Gone);
        assert_eq!(f.sent, 0);
    }

    #[test]
    fn a_v1_query_is_one_reply() {
        let mut f = Fixture::new(Protocol::V1, 3, 10);
        f.peer().enqueue(query(Some("e0"), None));
        assert_eq!(f.pump(STREAM_BUDGET), Pumped::Drained);
        assert_eq!(f.bodies(), vec![frames(&["e1", "d1", "e2", "d2", "END"])]);
        assert_eq!(f.sent, 1);
    }

    #[test]
    fn a_streamed_query_pauses_at_the_high_water_mark_and_resumes() {
        let mut f = Fixture::new(Protocol::V2, 5, 2);
        f.peer().enqueue(query(None, None));
        f.peer().enqueue(Slot::Ready(frames(&["after"])));
        assert_eq!(f.pump(STREAM_BUDGET), Pumped::Blocked);
        assert_eq!(
            f.bodies(),
            vec![
                frames(&["EVENT", "e0", "d0"]),
                frames(&["EVENT", "e1", "d1"])
            ]
        );
        // The range was fixed when the query reached the head: events
        // appended while it is paused are not part of it.
        f.store
            .append(
                b"s",
                vec![crate::NewEvent::with_id("late", "x")],
                crate::ExpectedVersion::Any,
            )
            .unwrap();
        f.out.room.set(100);
        f.peer().set_blocked(false);
        assert_eq!(f.pump(STREAM_BUDGET), Pumped::Drained);
        assert_eq!(
            f.bodies(),
            vec![
                frames(&["EVENT", "e2", "d2"]),
                frames(&["EVENT", "e3", "d3"]),
                frames(&["EVENT", "e4", "d4"]),
                frames(&["END"]),
                frames(&["after"]),
            ]
        );
        assert_eq!(f.sent, 7);
    }

    #[test]
    fn a_streamed_query_yields_when_its_budget_is_spent() {
        let mut f = Fixture::new(Protocol::V2, 7, 100);
        f.peer().enqueue(query(None, None));
        assert_eq!(f.pump(3), Pumped::Yielded);
        assert_eq!(f.bodies().len(), 3);
        assert_eq!(f.pump(3), Pumped::Yielded);
        assert_eq!(f.bodies().len(), 3);
        assert_eq!(f.pump(3), Pumped::Drained);
        assert_eq!(
            f.bodies(),
            vec![frames(&["EVENT", "e6", "d6"]), frames(&["END"])]
        );
        // An empty range is just END.
        let mut f = Fixture::new(Protocol::V2, 2, 100);
        f.peer().enqueue(query(Some("e1"), None));
        assert_eq!(f.pump(0), Pumped::Drained);
        assert_eq!(f.bodies(), vec![frames(&["END"])]);
    }

    #[test]
    fn a_resolved_query_releases_the_publishes_held_behind_it() {
        let mut f = Fixture::new(Protocol::V2, 1, 100);
        f.peer().enqueue(query(Some("unknown"), None));
        f.peer().enqueue(Slot::Held {
            stream: b"t".to_vec(),
            data: b"later".to_vec(),
        });
        let mut submitted = Vec::new();
        let peer = f.peers.get_mut(&f.key).unwrap();
        let outcome = pump(
            peer,
            Protocol::V2,
            &f.out,
            &f.store,
            STREAM_BUDGET,
            &mut f.sent,
            |seq, stream, data| submitted.push((seq, stream, data)),
        );
        assert_eq!(outcome, Pumped::Waiting, "the released publish is pending");
        assert_eq!(submitted, vec![(1, b"t".to_vec(), b"later".to_vec())]);
        let err = crate::Error::UnknownId(b"unknown".to_vec()).to_string();
        assert_eq!(f.bodies(), vec![vec![protocol::error_frame(&err)]]);
    }
}
