//! The v1 client: a REQ socket on the query endpoint, one request at a time,
//! with PUBLISH, QUERY (one page, or paging to the end like the original
//! client) and checks of error replies.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::client::{detached_log, socket, RECV_TIMEOUT_MS};
use crate::frames::{assert_error_frame, parse_v1_page, show, Ev, Page};
use crate::process::{tail_of, Rewind};

/// A v1 REQ client.
pub struct Req {
    /// The socket.
    pub sock: zmq::Socket,
    log: Arc<Mutex<String>>,
}

impl Req {
    /// A REQ client in `ctx` on the query endpoint of `server`.
    pub fn connect(ctx: &zmq::Context, server: &Rewind) -> Req {
        Req {
            sock: socket(ctx, zmq::REQ, &server.endpoints.query),
            log: server.output.clone(),
        }
    }

    /// A client over a connected REQ socket.
    pub fn on(sock: zmq::Socket) -> Req {
        Req {
            sock,
            log: detached_log(),
        }
    }

    /// Sends one multipart request and returns the reply frames.
    pub fn request<F: AsRef<[u8]>>(&self, frames: &[F]) -> Vec<Vec<u8>> {
        let parts: Vec<&[u8]> = frames.iter().map(|f| f.as_ref()).collect();
        self.sock
            .send_multipart(parts, 0)
            .unwrap_or_else(|e| panic!("REQ send failed: {e}"));
        self.sock.recv_multipart(0).unwrap_or_else(|e| {
            panic!(
                "no v1 reply within {RECV_TIMEOUT_MS} ms ({e}); server output tail:\n{}",
                tail_of(&self.log)
            )
        })
    }

    /// PUBLISH data; asserts the reply is the single frame `PUBLISHED`.
    pub fn publish(&self, data: &[u8]) {
        let reply = self.request(&[b"PUBLISH".as_slice(), data]);
        assert_eq!(
            reply,
            vec![b"PUBLISHED".to_vec()],
            "PUBLISH reply: {}",
            show(&reply)
        );
    }

    /// One QUERY page.
    pub fn page(&self, from: &[u8], to: &[u8]) -> Page {
        let reply = self.request(&[b"QUERY".as_slice(), from, to]);
        parse_v1_page(&reply)
    }

    /// QUERY from..to, asserting a single reply with END (fewer than 100 events).
    pub fn query(&self, from: &[u8], to: &[u8]) -> Vec<Ev> {
        let p = self.page(from, to);
        assert!(p.end, "expected END in the reply");
        p.events
    }

    /// Pages through QUERY from `from` to `to` like the original client.
    pub fn query_all_range(&self, from: &[u8], to: &[u8]) -> Vec<Ev> {
        let mut all = Vec::new();
        let mut from = from.to_vec();
        for _ in 0..100_000 {
            let p = self.page(&from, to);
            if let Some((last, _)) = p.events.last() {
                from = last.clone();
            }
            all.extend(p.events);
            if p.end {
                return all;
            }
        }
        panic!("paging never reached END");
    }

    /// Every event of the v1 stream, paging as needed.
    pub fn query_all(&self) -> Vec<Ev> {
        self.query_all_range(b"", b"")
    }

    /// Sends a request that must be answered with one `ERROR <reason>` frame.
    pub fn expect_error<F: AsRef<[u8]>>(&self, frames: &[F], what: &str) -> String {
        let reply = self.request(frames);
        assert_error_frame(&reply, what)
    }

    /// Asserts the server still answers this client: a PUBLISH, then a QUERY
    /// whose last event is the one just published.
    pub fn assert_still_serving(&self) {
        static N: AtomicUsize = AtomicUsize::new(0);
        let marker = format!("still-serving-{}", N.fetch_add(1, Ordering::Relaxed));
        self.publish(marker.as_bytes());
        let all = self.query_all();
        assert_eq!(
            all.last().map(|e| e.1.as_slice()),
            Some(marker.as_bytes()),
            "the event just published must be the last one"
        );
    }
}
