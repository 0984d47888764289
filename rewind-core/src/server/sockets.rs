//! The server's ZeroMQ sockets and every call that sends or receives on a
//! request socket: replies without blocking, with `ROUTER_MANDATORY`
//! errors turned into [`Sent`] outcomes.

use super::pump::{Outlet, Sent};

impl Outlet for zmq::Socket {
    fn send<F: AsRef<[u8]>>(&self, envelope: &[Vec<u8>], frames: &[F]) -> Sent {
        let total = envelope.len() + frames.len();
        let parts = envelope
            .iter()
            .map(Vec::as_slice)
            .chain(frames.iter().map(AsRef::as_ref));
        for (i, f) in parts.enumerate() {
            let first = i == 0;
            let more = if i + 1 < total { zmq::SNDMORE } else { 0 };
            let flags = if first { zmq::DONTWAIT | more } else { more };
            match zmq::Socket::send(self, f, flags) {
                Ok(()) => {}
                Err(zmq::Error::EAGAIN) if first => return Sent::WouldBlock,
                Err(zmq::Error::EHOSTUNREACH) if first => return Sent::Gone,
                Err(e) => {
                    // Later frames of a message are queued atomically with
                    // the first; an error here means the socket is closing.
                    log::warn!("sending a reply failed: {e}");
                    return Sent::Gone;
                }
            }
        }
        Sent::Yes
    }
}
