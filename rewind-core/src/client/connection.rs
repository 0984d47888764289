//! One connection of a client: a ZeroMQ DEALER socket connected to the
//! server (with the CURVE keys, when given) and a monitor that tells the
//! client when the connection drops or a CURVE handshake fails.
//!
//! A connection is never repaired: when it is in doubt (a drop, a reply
//! that is late) the client opens a new one and resends what is in
//! flight there, so a reply on the old one can never be mistaken for one
//! on the new.

use crate::client::options::CurveBinary;
use crate::{Error, Result};

/// How long ZeroMQ waits before it tries a lost TCP connection again, at
/// first and at most.
const RECONNECT_IVL_MS: i32 = 100;
const RECONNECT_IVL_MAX_MS: i32 = 1000;

/// What the monitor reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LinkEvent {
    /// The connection to the server dropped.
    Disconnected,
    /// A CURVE handshake failed; the text says how.
    HandshakeFailed(String),
}

/// A DEALER socket and its monitor.
pub(crate) struct Connection {
    /// The DEALER socket.
    pub socket: zmq::Socket,
    /// The PAIR end of the socket's monitor.
    pub monitor: zmq::Socket,
}

impl Connection {
    /// Connects a new DEALER to `endpoint`; `n` makes the monitor's inproc
    /// name unique in `ctx`.
    pub fn open(
        ctx: &zmq::Context,
        endpoint: &str,
        curve: Option<&CurveBinary>,
        n: u64,
    ) -> Result<Connection> {
        let socket = ctx.socket(zmq::DEALER)?;
        socket.set_linger(0)?;
        // Never block a sender on the socket: requests queue while the
        // server is away (each caller waits for one reply at a time, so the
        // queue is bounded by the callers).
        socket.set_sndhwm(0)?;
        socket.set_reconnect_ivl(RECONNECT_IVL_MS)?;
        socket.set_reconnect_ivl_max(RECONNECT_IVL_MAX_MS)?;
        if let Some(keys) = curve {
            socket.set_curve_serverkey(&keys.server_public_key)?;
            socket.set_curve_publickey(&keys.public_key)?;
            socket.set_curve_secretkey(&keys.secret_key)?;
        }
        let name = format!("inproc://rewind-client-monitor-{n}");
        let events = [
            zmq::SocketEvent::DISCONNECTED,
            zmq::SocketEvent::HANDSHAKE_FAILED_NO_DETAIL,
            zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL,
            zmq::SocketEvent::HANDSHAKE_FAILED_AUTH,
        ]
        .iter()
        .fold(0, |m, e| m | i32::from(e.to_raw()));
        socket.monitor(&name, events)?;
        let monitor = ctx.socket(zmq::PAIR)?;
        monitor.set_linger(0)?;
        monitor.connect(&name)?;
        socket
            .connect(endpoint)
            .map_err(|e| Error::InvalidArgument(format!("cannot connect to {endpoint:?}: {e}")))?;
        Ok(Connection { socket, monitor })
    }

    /// The events the monitor has reported since the last call.
    pub fn events(&self) -> Vec<LinkEvent> {
        let mut out = Vec::new();
        while let Ok(frames) = self.monitor.recv_multipart(zmq::DONTWAIT) {
            let Some(head) = frames.first().filter(|f| f.len() >= 6) else {
                continue;
            };
            let event = u16::from_ne_bytes([head[0], head[1]]);
            let value = u32::from_ne_bytes([head[2], head[3], head[4], head[5]]);
            if event == zmq::SocketEvent::DISCONNECTED.to_raw() {
                out.push(LinkEvent::Disconnected);
            } else if event == zmq::SocketEvent::HANDSHAKE_FAILED_AUTH.to_raw() {
                out.push(LinkEvent::HandshakeFailed(format!(
                    "the server refused this client's CURVE key (status {value})"
                )));
            } else if event == zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL.to_raw()
                || event == zmq::SocketEvent::HANDSHAKE_FAILED_NO_DETAIL.to_raw()
            {
                out.push(LinkEvent::HandshakeFailed(
                    "the security handshake with the server failed (do both sides use CURVE, with matching keys?)"
                        .into(),
                ));
            }
        }
        out
    }
}
