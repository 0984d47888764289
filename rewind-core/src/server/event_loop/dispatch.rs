//! What a request, or the completion of an append, does on the server
//! thread: a request gets a slot at the back of its peer's queue (a
//! PUBLISH goes to the store at once unless an earlier query holds it
//! back), a completion fills its slot, and then the peer is pumped and the
//! loop acts on why the pump stopped.
//!
//! Changes peers and the loop's lists of blocked and runnable peers; the
//! sockets are reached only through the pump.

use super::Core;
use crate::protocol::{self, parse_request, Protocol, Request};
use crate::server::peer::{PeerKey, Slot};
use crate::server::pump::{self, Pumped, STREAM_BUDGET};
use crate::server::sockets;
use crate::server::ExitReason;
use crate::{Appended, Result};

impl Core {
    /// Handles one message from a request socket: envelope, then request.
    pub(super) fn handle_message(&mut self, proto: Protocol, mut frames: Vec<Vec<u8>>) {
        self.store.metrics().requests[super::sockets::index(proto)]
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if proto == Protocol::Native {
            self.handle_native(frames);
            return;
        }
        let Some(body) = body_start(&frames) else {
            log::warn!(
                "dropped a {} message of {} frames without an envelope delimiter",
                if proto == Protocol::V1 { "v1" } else { "v2" },
                frames.len()
            );
            return;
        };
        let request = parse_request(proto, &frames[body..], &self.options.parse_options());
        frames.truncate(body);
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

    /// The append of `key`'s slot `seq` is done: its reply may go.
    pub(super) fn complete(
        &mut self,
        key: &PeerKey,
        epoch: u64,
        seq: u64,
        result: Result<Vec<Appended>>,
    ) {
        // A peer of another epoch is a reconnect with the same routing id:
        // the client this reply was for is gone.
        let Some(peer) = self.peers.current(key, epoch) else {
            return;
        };
        if peer.complete(seq, key.proto, result) {
            self.pump(key);
        }
    }

    /// Sends what the head of a peer's queue has ready, in order, and acts
    /// on why the pump stopped.
    pub(super) fn pump(&mut self, key: &PeerKey) {
        let i = sockets::index(key.proto);
        let Some(peer) = self.peers.get_mut(key) else {
            return;
        };
        // A peer exists only for a socket that received its request.
        let Some(socket) = self.sockets.request(i) else {
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
            Pumped::Blocked => self.blocked.push(i, key.clone()),
            Pumped::Yielded => self.runnable.push_back(key.clone()),
        }
    }
}

/// Where the request starts: after the envelope's empty delimiter frame.
fn body_start(frames: &[Vec<u8>]) -> Option<usize> {
    frames.iter().position(Vec::is_empty).map(|d| d + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(parts: &[&str]) -> Vec<Vec<u8>> {
        parts.iter().map(|p| p.as_bytes().to_vec()).collect()
    }

    #[test]
    fn the_request_starts_after_the_first_empty_frame() {
        assert_eq!(body_start(&f(&["id", "", "PUBLISH", "x"])), Some(2));
        // REQ through a proxy: more routing frames, then the delimiter; an
        // empty frame in the body is data.
        assert_eq!(body_start(&f(&["a", "b", "", "PUBLISH", ""])), Some(3));
        assert_eq!(body_start(&f(&["id", ""])), Some(2));
        assert_eq!(body_start(&f(&["id", "PUBLISH"])), None);
        assert_eq!(body_start(&[]), None);
    }
}
