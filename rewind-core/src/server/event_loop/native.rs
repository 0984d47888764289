//! What a native protocol message does on the server thread: its size is
//! checked, it is decoded, and its answer becomes a slot of its peer's
//! reply queue (a reply, an append on its way to the store, a streamed
//! read) or goes to the subscriptions.
//!
//! The envelope of a native message is the routing id alone (DEALER
//! clients send no delimiter frame).

use std::time::Instant;

use super::Core;
use crate::protocol::native::{self, ErrorCode, ErrorReply, Refusal};
use crate::protocol::Protocol;
use crate::server::native::{answer, Answer};
use crate::server::peer::{PeerKey, Slot};

impl Core {
    /// Handles one message from the native socket: routing id, then the
    /// request's frames.
    pub(super) fn handle_native(&mut self, mut frames: Vec<Vec<u8>>) {
        if frames.len() < 2 {
            log::warn!("dropped a native message without a routing id");
            return;
        }
        let request: Vec<Vec<u8>> = frames.split_off(1);
        let routing_id = frames.pop().unwrap_or_default();
        self.subs.heard(&routing_id, Instant::now());
        let size: usize = request.iter().map(Vec::len).sum();
        let decoded = if size > self.options.max_message_size {
            Err(Refusal {
                request_id: Some(native::request_id_of(&request).unwrap_or(0)),
                error: ErrorReply::new(
                    ErrorCode::TooLarge,
                    format!(
                        "a message of {size} bytes exceeds the maximum message size of {} bytes",
                        self.options.max_message_size
                    ),
                ),
            })
        } else {
            native::decode_request(&request)
        };
        drop(request);
        let (request_id, request) = match decoded {
            Ok(r) => r,
            Err(Refusal {
                request_id: None,
                error,
            }) => {
                log::warn!("dropped a native message: {}", error.message);
                return;
            }
            Err(Refusal {
                request_id: Some(id),
                error,
            }) => {
                self.enqueue_native(routing_id, Slot::Ready(native::encode_error(id, &error)));
                return;
            }
        };
        let slot = match answer(
            &self.store,
            self.options.max_message_size,
            request_id,
            request,
        ) {
            Answer::Reply(frames) => Slot::Ready(frames),
            Answer::Read(read) => Slot::NativeRead(read),
            Answer::Append(parts) => {
                let key = PeerKey {
                    proto: Protocol::Native,
                    id: routing_id.clone(),
                };
                let peer = self.peers.arrive(&key, vec![routing_id]);
                let seq = peer.next_seq();
                self.appends
                    .submit_native(&self.store, &key, peer.epoch(), seq, parts);
                if peer.enqueue(Slot::NativeAppending { request_id }) {
                    self.pump(&key);
                }
                return;
            }
            Answer::Subscribe {
                from,
                credit,
                filter,
            } => {
                match self.subs.subscribe(
                    &self.store,
                    &routing_id,
                    request_id,
                    from,
                    credit,
                    filter,
                    Instant::now(),
                ) {
                    Ok(()) => return,
                    Err(e) => Slot::Ready(native::encode_error(request_id, &e)),
                }
            }
            Answer::Credit(credit) => match self.subs.credit(&routing_id, request_id, credit) {
                Ok(()) => return,
                Err(e) => Slot::Ready(native::encode_error(request_id, &e)),
            },
            Answer::Unsubscribe => match self.subs.unsubscribe(&routing_id, request_id) {
                Ok(count) => Slot::Ready(
                    native::encode_reply(request_id, &native::Reply::End { count })
                        .unwrap_or_default(),
                ),
                Err(e) => Slot::Ready(native::encode_error(request_id, &e)),
            },
        };
        self.enqueue_native(routing_id, slot);
    }

    /// Queues `slot` for the native client `routing_id` and pumps it.
    fn enqueue_native(&mut self, routing_id: Vec<u8>, slot: Slot) {
        let key = PeerKey {
            proto: Protocol::Native,
            id: routing_id.clone(),
        };
        if self.peers.arrive(&key, vec![routing_id]).enqueue(slot) {
            self.pump(&key);
        }
    }
}
