//! The ZAP handler (ZeroMQ's authentication protocol, RFC 27): a thread
//! with a REP socket on `inproc://zeromq.zap.01` in the server's context.
//! Every CURVE handshake on a server socket asks it whether to let the
//! client in; it admits only CURVE clients whose public key is on the
//! allow-list and logs every refusal (the socket, the client's address and
//! its key in Z85).
//!
//! It must be running before any socket is bound with CURVE: without a
//! handler, libzmq would let every CURVE client in. [`Zap`] is what
//! `sockets` asks for to bind CURVE sockets, so the order holds by
//! construction.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::curve::{self, KEY_LEN};
use crate::{Error, Result};

/// The endpoint libzmq sends ZAP requests to.
const ZAP_ENDPOINT: &str = "inproc://zeromq.zap.01";
/// How often the thread looks at its stop flag, in ms.
const TICK_MS: i64 = 200;

/// A running ZAP handler; dropping it stops the thread.
pub(super) struct Zap {
    secret: [u8; KEY_LEN],
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Zap {
    /// Starts the handler in `ctx` for a server with CURVE secret key
    /// `secret_key`, admitting the clients of `allowed` (all keys in Z85).
    ///
    /// Errors: [`Error::Config`] for a malformed key; [`Error::Network`]
    /// when the socket cannot be made or bound (a second handler in the same
    /// context).
    pub fn start(ctx: &zmq::Context, secret_key: &str, allowed: &[String]) -> Result<Zap> {
        let secret = curve::parse_key("curve-secret-key", secret_key)?;
        let allowed = allowed
            .iter()
            .map(|k| curve::parse_key("curve-allowed-clients", k))
            .collect::<Result<HashSet<_>>>()?;
        let rep = ctx.socket(zmq::REP)?;
        rep.set_linger(0)?;
        rep.bind(ZAP_ENDPOINT)?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("rewind-zap".into())
                .spawn(move || serve(&rep, &allowed, &stop))
                .map_err(Error::Io)?
        };
        Ok(Zap {
            secret,
            stop,
            thread: Some(thread),
        })
    }

    /// The server's secret key, for the sockets to use.
    pub fn secret_key(&self) -> &[u8; KEY_LEN] {
        &self.secret
    }
}

impl Drop for Zap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(rep: &zmq::Socket, allowed: &HashSet<[u8; KEY_LEN]>, stop: &AtomicBool) {
    while !stop.load(Ordering::Acquire) {
        match rep.poll(zmq::POLLIN, TICK_MS) {
            Ok(0) | Err(zmq::Error::EINTR) => continue,
            Ok(_) => {}
            Err(e) => {
                log::error!("the ZAP handler stopped: {e}");
                return;
            }
        }
        let Ok(request) = rep.recv_multipart(zmq::DONTWAIT) else {
            continue;
        };
        let reply = answer(&request, allowed);
        if let Err(e) = rep.send_multipart(reply, 0) {
            log::error!("the ZAP handler could not reply: {e}");
        }
    }
}

/// The reply to one ZAP request: frames version, request id, domain,
/// address, routing id, mechanism, then the mechanism's credentials (for
/// CURVE, the client's 32-byte public key).
fn answer(request: &[Vec<u8>], allowed: &HashSet<[u8; KEY_LEN]>) -> Vec<Vec<u8>> {
    let frame = |i: usize| request.get(i).map(Vec::as_slice).unwrap_or_default();
    let text = |i: usize| String::from_utf8_lossy(frame(i)).into_owned();
    let (status, why): (&[u8], &[u8]) = if frame(0) != b"1.0" || request.len() < 6 {
        log::warn!("refused a client: malformed ZAP request");
        (b"500", b"malformed request")
    } else if frame(5) != b"CURVE" {
        log::warn!(
            "refused a client on {} from {}: mechanism {}, not CURVE",
            text(2),
            text(3),
            text(5)
        );
        (b"400", b"CURVE required")
    } else {
        match <[u8; KEY_LEN]>::try_from(frame(6)) {
            Ok(key) if allowed.contains(&key) => (b"200", b"OK"),
            Ok(key) => {
                log::warn!(
                    "refused a CURVE client on {} from {}: its key {} is not on curve-allowed-clients",
                    text(2),
                    text(3),
                    curve::encode(&key)
                );
                (b"400", b"key not allowed")
            }
            Err(_) => {
                log::warn!(
                    "refused a CURVE client on {} from {}: no 32-byte key",
                    text(2),
                    text(3)
                );
                (b"400", b"no key")
            }
        }
    };
    vec![
        b"1.0".to_vec(),
        frame(1).to_vec(),
        status.to_vec(),
        why.to_vec(),
        Vec::new(),
        Vec::new(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(mechanism: &[u8], key: &[u8]) -> Vec<Vec<u8>> {
        vec![
            b"1.0".to_vec(),
            b"7".to_vec(),
            b"v2 command".to_vec(),
            b"127.0.0.1".to_vec(),
            Vec::new(),
            mechanism.to_vec(),
            key.to_vec(),
        ]
    }

    #[test]
    fn only_curve_clients_on_the_list_are_admitted() {
        let allowed: HashSet<_> = [[1u8; 32]].into();
        let status = |r: &[Vec<u8>]| {
            let reply = answer(r, &allowed);
            assert_eq!(reply.len(), 6);
            assert_eq!(reply[0], b"1.0");
            String::from_utf8(reply[2].clone()).unwrap()
        };
        assert_eq!(status(&request(b"CURVE", &[1; 32])), "200");
        assert_eq!(answer(&request(b"CURVE", &[1; 32]), &allowed)[1], b"7");
        assert_eq!(status(&request(b"CURVE", &[2; 32])), "400");
        assert_eq!(status(&request(b"CURVE", &[1; 31])), "400");
        assert_eq!(status(&request(b"NULL", &[1; 32])), "400");
        assert_eq!(status(&request(b"PLAIN", b"user")), "400");
        assert_eq!(status(&[b"2.0".to_vec()]), "500");
        assert_eq!(status(&[]), "500");
    }
}
