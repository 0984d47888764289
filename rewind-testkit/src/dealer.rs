//! The v2 client: a DEALER socket on the command endpoint that sends the
//! empty delimiter itself, with PUBLISH (one at a time or pipelined),
//! streamed QUERY and checks of error replies.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::client::{detached_log, socket, RECV_TIMEOUT_MS};
use crate::frames::{assert_error_frame, parse_published, show, Ev};
use crate::process::{tail_of, Rewind};

/// A v2 DEALER client (sends the empty delimiter itself).
pub struct Dealer {
    /// The socket.
    pub sock: zmq::Socket,
    log: Arc<Mutex<String>>,
}

impl Dealer {
    /// A DEALER client in `ctx` on the command endpoint of `server`.
    pub fn connect(ctx: &zmq::Context, server: &Rewind) -> Dealer {
        Dealer::with_log(
            socket(ctx, zmq::DEALER, &server.endpoints.command),
            server.output.clone(),
        )
    }

    /// A client over a connected DEALER socket.
    pub fn on(sock: zmq::Socket) -> Dealer {
        Dealer::with_log(sock, detached_log())
    }

    /// A client whose failure messages quote the tail of `log`.
    pub(crate) fn with_log(sock: zmq::Socket, log: Arc<Mutex<String>>) -> Dealer {
        Dealer { sock, log }
    }

    /// Sends [``, frames...].
    pub fn send<F: AsRef<[u8]>>(&self, frames: &[F]) {
        let mut parts: Vec<&[u8]> = vec![b""];
        parts.extend(frames.iter().map(|f| f.as_ref()));
        self.sock
            .send_multipart(parts, 0)
            .unwrap_or_else(|e| panic!("DEALER send failed: {e}"));
    }

    /// Receives one message, asserts the empty delimiter and strips it.
    pub fn recv(&self) -> Vec<Vec<u8>> {
        let mut msg = self.sock.recv_multipart(0).unwrap_or_else(|e| {
            panic!(
                "no v2 message within {RECV_TIMEOUT_MS} ms ({e}); server output tail:\n{}",
                tail_of(&self.log)
            )
        });
        assert!(
            !msg.is_empty() && msg[0].is_empty(),
            "a v2 reply must start with the empty delimiter; got {}",
            show(&msg)
        );
        msg.remove(0);
        msg
    }

    /// Receives within `ms` milliseconds, or None.
    pub fn try_recv(&self, ms: i64) -> Option<Vec<Vec<u8>>> {
        if self.sock.poll(zmq::POLLIN, ms).unwrap() == 0 {
            return None;
        }
        Some(self.recv())
    }

    /// Asserts nothing arrives within `ms` milliseconds.
    pub fn assert_silent(&self, ms: i64, what: &str) {
        if let Some(m) = self.try_recv(ms) {
            panic!("{what}: expected nothing more, got {}", show(&m));
        }
    }

    /// One request, one reply message.
    pub fn request<F: AsRef<[u8]>>(&self, frames: &[F]) -> Vec<Vec<u8>> {
        self.send(frames);
        self.recv()
    }

    /// PUBLISH stream data; asserts [PUBLISHED, id] and returns the id.
    pub fn publish(&self, stream: &[u8], data: &[u8]) -> Vec<u8> {
        let reply = self.request(&[b"PUBLISH".as_slice(), stream, data]);
        parse_published(&reply)
    }

    /// Sends `n` PUBLISH requests to `stream` with at most `window`
    /// unanswered at once, data from `data(i)`; returns the ids in order.
    pub fn publish_pipelined(
        &self,
        stream: &[u8],
        n: usize,
        window: usize,
        mut data: impl FnMut(usize) -> Vec<u8>,
    ) -> Vec<Vec<u8>> {
        let mut ids = Vec::with_capacity(n);
        let mut sent = 0;
        let mut outstanding = VecDeque::new();
        while ids.len() < n {
            while sent < n && outstanding.len() < window {
                self.send(&[b"PUBLISH".as_slice(), stream, &data(sent)]);
                outstanding.push_back(sent);
                sent += 1;
            }
            let r = self.recv();
            assert!(
                r.len() == 2 && r[0] == b"PUBLISHED",
                "v2 PUBLISH: {}",
                show(&r)
            );
            outstanding.pop_front();
            ids.push(r[1].clone());
        }
        ids
    }

    /// Reads one streamed QUERY result: EVENT messages then END, or an ERROR.
    pub fn read_query(&self) -> Result<Vec<Ev>, String> {
        let mut events = Vec::new();
        loop {
            let msg = self.recv();
            match msg.first().map(|f| f.as_slice()) {
                Some(b"EVENT") => {
                    assert_eq!(msg.len(), 3, "EVENT message: {}", show(&msg));
                    let mut it = msg.into_iter().skip(1);
                    events.push((it.next().unwrap(), it.next().unwrap()));
                }
                Some(b"END") => {
                    assert_eq!(msg.len(), 1, "END message: {}", show(&msg));
                    return Ok(events);
                }
                _ => {
                    let e = assert_error_frame(&msg, "v2 QUERY");
                    assert!(
                        events.is_empty(),
                        "ERROR after {} events of a query",
                        events.len()
                    );
                    return Err(e);
                }
            }
        }
    }

    /// QUERY stream from to: `Ok(events)` or `Err(error text)`.
    pub fn try_query(&self, stream: &[u8], from: &[u8], to: &[u8]) -> Result<Vec<Ev>, String> {
        self.send(&[b"QUERY".as_slice(), stream, from, to]);
        self.read_query()
    }

    /// QUERY stream from to; panics on an error reply.
    pub fn query(&self, stream: &[u8], from: &[u8], to: &[u8]) -> Vec<Ev> {
        self.try_query(stream, from, to)
            .unwrap_or_else(|e| panic!("QUERY failed: {e}"))
    }

    /// Sends a request that must be answered with one `ERROR <reason>`
    /// message and nothing after it.
    pub fn expect_error<F: AsRef<[u8]>>(&self, frames: &[F], what: &str) -> String {
        let reply = self.request(frames);
        let e = assert_error_frame(&reply, what);
        self.assert_silent(150, what);
        e
    }

    /// Asserts the server still answers this client.
    pub fn assert_still_serving(&self) {
        let id = self.publish(b"still-serving", b"x");
        let all = self.query(b"still-serving", b"", b"");
        assert_eq!(all.last().map(|e| &e.0), Some(&id));
    }
}
