//! The native protocol client of the tests: a DEALER socket on the native
//! endpoint that sends raw frames (to pin the byte layout) or requests
//! encoded by `rewind_core::protocol::native`, and receives replies,
//! decoded, within the clients' timeout. Also the helpers most tests
//! need: an append that must succeed, a whole read, and a subscription
//! that tracks what it has received.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rewind_core::protocol::native::{
    decode_reply, encode_request, AppendedEvent, ErrorReply, Reply, Request,
};
use rewind_core::{Event, LogFilter, StreamAppend};

use crate::client::{recv_within, socket, REPLY_TIMEOUT};
use crate::frames::show;
use crate::process::{tail_of, Rewind};

/// A native DEALER client. Replies to other requests that arrive while a
/// call waits for its own are kept for later [`Native::recv_for`] calls.
pub struct Native {
    /// The socket.
    pub sock: zmq::Socket,
    log: Arc<Mutex<String>>,
    next_id: u64,
    early: VecDeque<(u64, Reply)>,
}

impl Native {
    /// A client in the server's client context on its native endpoint.
    pub fn connect(server: &Rewind) -> Native {
        Native::with(server, |_| {})
    }

    /// A client with `setup` applied to its socket before it connects.
    pub fn with(server: &Rewind, setup: impl FnOnce(&zmq::Socket)) -> Native {
        let sock = crate::client::unconnected(&server.ctx, zmq::DEALER);
        setup(&sock);
        sock.connect(&server.endpoints.native).unwrap();
        Native {
            sock,
            log: server.output.clone(),
            next_id: 1,
            early: VecDeque::new(),
        }
    }

    /// A client on `endpoint` (no server output attached).
    pub fn at(ctx: &zmq::Context, endpoint: &str) -> Native {
        Native {
            sock: socket(ctx, zmq::DEALER, endpoint),
            log: crate::client::detached_log(),
            next_id: 1,
            early: VecDeque::new(),
        }
    }

    /// A fresh request id.
    pub fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Sends these frames as they are.
    pub fn send_raw<F: AsRef<[u8]>>(&self, frames: &[F]) {
        let parts: Vec<&[u8]> = frames.iter().map(AsRef::as_ref).collect();
        self.sock
            .send_multipart(parts, 0)
            .unwrap_or_else(|e| panic!("native send failed: {e}"));
    }

    /// Receives one message as it is, or fails the test.
    pub fn recv_raw(&self) -> Vec<Vec<u8>> {
        self.recv_raw_within(REPLY_TIMEOUT).unwrap_or_else(|| {
            panic!(
                "no native message within {REPLY_TIMEOUT:?}; server output tail:\n{}",
                tail_of(&self.log)
            )
        })
    }

    /// Receives one message as it is within `timeout`, or `None`.
    pub fn recv_raw_within(&self, timeout: Duration) -> Option<Vec<Vec<u8>>> {
        recv_within(&self.sock, timeout)
    }

    /// Sends `request` under `id`.
    pub fn send(&self, id: u64, request: &Request) {
        self.send_raw(&encode_request(id, request).expect("an encodable request"));
    }

    /// Receives and decodes one message.
    pub fn recv(&mut self) -> (u64, Reply) {
        if let Some(r) = self.early.pop_front() {
            return r;
        }
        self.recv_fresh()
    }

    fn recv_fresh(&self) -> (u64, Reply) {
        let m = self.recv_raw();
        decode_reply(&m).unwrap_or_else(|e| panic!("undecodable reply {}: {e}", show(&m)))
    }

    /// Decodes one message received within `timeout`.
    pub fn recv_within(&mut self, timeout: Duration) -> Option<(u64, Reply)> {
        if let Some(r) = self.early.pop_front() {
            return Some(r);
        }
        let m = self.recv_raw_within(timeout)?;
        Some(decode_reply(&m).unwrap_or_else(|e| panic!("undecodable reply {}: {e}", show(&m))))
    }

    /// The next message for request `id`; others are kept for later.
    pub fn recv_for(&mut self, id: u64) -> Reply {
        if let Some(i) = self.early.iter().position(|(r, _)| *r == id) {
            return self.early.remove(i).expect("found").1;
        }
        loop {
            let (r, reply) = self.recv_fresh();
            if r == id {
                return reply;
            }
            self.early.push_back((r, reply));
        }
    }

    /// Sends `request` under a fresh id and returns the first reply to it.
    pub fn call(&mut self, request: &Request) -> Reply {
        let id = self.id();
        self.send(id, request);
        self.recv_for(id)
    }

    /// An append: what it stored, or the error it got.
    pub fn append(&mut self, parts: Vec<StreamAppend>) -> Result<Vec<AppendedEvent>, ErrorReply> {
        match self.call(&Request::Append(parts)) {
            Reply::Appended(a) => Ok(a),
            Reply::Error(e) => Err(e),
            other => panic!("an append got {other:?}"),
        }
    }

    /// A read to its end: the events of every `EVENTS` (checking the batch
    /// limits), and the count of `END`.
    pub fn read(&mut self, request: &Request) -> Result<(Vec<Event>, u64), ErrorReply> {
        let id = self.id();
        self.send(id, request);
        let mut events = Vec::new();
        loop {
            match self.recv_for(id) {
                Reply::Events(batch) => {
                    assert!(
                        !batch.is_empty() && batch.len() <= 1000,
                        "a batch of {} events",
                        batch.len()
                    );
                    events.extend(batch);
                }
                Reply::End { count } => return Ok((events, count)),
                Reply::Error(e) => return Err(e),
                other => panic!("a read got {other:?}"),
            }
        }
    }

    /// Subscribes under a fresh id; returns the id and the start position
    /// of `SUBSCRIBED`.
    pub fn subscribe(&mut self, from: Option<u64>, credit: u64, filter: LogFilter) -> (u64, u64) {
        let id = self.id();
        self.send(
            id,
            &Request::Subscribe {
                from,
                credit,
                filter,
            },
        );
        match self.recv_for(id) {
            Reply::Subscribed { start, .. } => (id, start),
            other => panic!("SUBSCRIBE got {other:?}"),
        }
    }
}
