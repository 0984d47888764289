//! The server's ZeroMQ sockets: creating and binding them with their
//! options, receiving requests, sending replies without blocking (with
//! `ROUTER_MANDATORY` errors turned into [`Sent`] outcomes) and publishing.
//!
//! Every ZeroMQ call on a request or PUB socket is here; what to send, and
//! to whom, is decided elsewhere (the pump, the event loop, publish.rs).
//! Every bound socket is made by [`Setup::open`], which applies the
//! server's security: with CURVE keys configured, each socket is a CURVE
//! server whose clients the ZAP handler (`zap`) checks.

use super::options::ServerOptions;
use super::publish::Publisher;
use super::pump::{Outlet, Sent};
use super::zap::Zap;
use crate::curve::KEY_LEN;
use crate::protocol::Protocol;
use crate::{Error, Result};

/// How long a closing socket keeps trying to deliver what is queued, in ms.
const LINGER_MS: i32 = 2000;
/// The high-water mark of a PUB socket, in messages per subscriber.
const PUB_SNDHWM: i32 = 10_000;

/// The request and PUB sockets; a kind without endpoints has none.
pub(super) struct Sockets {
    /// The request sockets (ROUTER), indexed by [`index`]: v1, v2, native.
    requests: [Option<zmq::Socket>; COUNT],
    pub v1_pub: Option<zmq::Socket>,
    pub v2_pub: Option<zmq::Socket>,
}

/// The number of request sockets (one per protocol).
pub(super) const COUNT: usize = 3;

/// The protocol of each request socket, in [`index`] order.
pub(super) const PROTOCOLS: [Protocol; COUNT] = [Protocol::V1, Protocol::V2, Protocol::Native];

/// The position of a protocol's request socket in [`Sockets`], and of its
/// blocked peers in the event loop.
pub(super) fn index(proto: Protocol) -> usize {
    match proto {
        Protocol::V1 => 0,
        Protocol::V2 => 1,
        Protocol::Native => 2,
    }
}

impl Sockets {
    /// Creates and binds every socket `options` asks for, in the order
    /// query, streaming, command, publish; returns them with the options as
    /// bound (wildcard ports resolved). With CURVE keys in `options`, `zap`
    /// is the running ZAP handler, and every socket is a CURVE server that
    /// asks it about each client.
    ///
    /// Errors: [`Error::Bind`] naming the first endpoint that cannot be
    /// bound, [`Error::Network`] when a socket cannot be made,
    /// [`Error::Internal`] for CURVE keys without a ZAP handler.
    pub fn bind(
        ctx: &zmq::Context,
        options: &ServerOptions,
        zap: Option<&Zap>,
    ) -> Result<(Sockets, ServerOptions)> {
        let mut bound = options.without_endpoints();
        let setup = Setup::new(ctx, options, zap)?;
        let v1 = setup.open(
            zmq::ROUTER,
            "v1 query",
            &options.query_endpoints,
            &mut bound.query_endpoints,
        )?;
        let v1_pub = setup.open(
            zmq::PUB,
            "v1 streaming",
            &options.streaming_endpoints,
            &mut bound.streaming_endpoints,
        )?;
        let v2 = setup.open(
            zmq::ROUTER,
            "v2 command",
            &options.command_endpoints,
            &mut bound.command_endpoints,
        )?;
        let v2_pub = setup.open(
            zmq::PUB,
            "v2 publish",
            &options.publish_endpoints,
            &mut bound.publish_endpoints,
        )?;
        let native = setup.open(
            zmq::ROUTER,
            "native",
            &options.native_endpoints,
            &mut bound.native_endpoints,
        )?;
        let sockets = Sockets {
            requests: [v1, v2, native],
            v1_pub,
            v2_pub,
        };
        Ok((sockets, bound))
    }

    /// The request socket at `index` (see [`index`]).
    pub fn request(&self, index: usize) -> Option<&zmq::Socket> {
        self.requests[index].as_ref()
    }
}

/// How every bound socket of the server is made: the one place a server
/// socket is created, so every endpoint, whatever its protocol, gets the
/// same options and the same security. A new endpoint calls
/// [`Setup::open`] and is covered by construction.
struct Setup<'a> {
    ctx: &'a zmq::Context,
    max_message_size: usize,
    /// The server's CURVE secret key, when CURVE is on (its ZAP handler is
    /// then running: [`Setup::new`] checks).
    curve: Option<&'a [u8; KEY_LEN]>,
}

impl<'a> Setup<'a> {
    fn new(
        ctx: &'a zmq::Context,
        options: &ServerOptions,
        zap: Option<&'a Zap>,
    ) -> Result<Setup<'a>> {
        if options.curve_secret_key.is_some() != zap.is_some() {
            return Err(Error::Internal(
                "CURVE needs its ZAP handler, and the handler CURVE keys".into(),
            ));
        }
        Ok(Setup {
            ctx,
            max_message_size: options.max_message_size,
            curve: zap.map(Zap::secret_key),
        })
    }

    /// A socket of `kind` bound to each of `endpoints` (none when there
    /// are no endpoints); each endpoint as bound is pushed onto `bound`.
    /// `name` (say `v2 command`) is the socket's ZAP domain, which the ZAP
    /// handler's log lines show.
    fn open(
        &self,
        kind: zmq::SocketType,
        name: &str,
        endpoints: &[String],
        bound: &mut Vec<String>,
    ) -> Result<Option<zmq::Socket>> {
        if endpoints.is_empty() {
            return Ok(None);
        }
        let s = self.ctx.socket(kind)?;
        self.configure(&s, kind, name)?;
        for ep in endpoints {
            s.bind(ep).map_err(|e| Error::Bind {
                endpoint: ep.clone(),
                reason: e.to_string(),
            })?;
            // The endpoint as bound: a wildcard port is resolved.
            let last = s.get_last_endpoint()?.unwrap_or_else(|_| ep.clone());
            bound.push(last);
        }
        Ok(Some(s))
    }

    /// Sets a socket's options; all of them before its first bind, as
    /// ZeroMQ applies the security options to connections accepted later.
    fn configure(&self, s: &zmq::Socket, kind: zmq::SocketType, name: &str) -> Result<()> {
        s.set_linger(LINGER_MS)?;
        if kind == zmq::ROUTER {
            s.set_router_mandatory(true)?;
            s.set_maxmsgsize(router_max_msg_size(self.max_message_size))?;
        } else {
            s.set_sndhwm(PUB_SNDHWM)?;
        }
        if let Some(secret) = self.curve {
            s.set_curve_server(true)?;
            s.set_curve_secretkey(secret)?;
            s.set_zap_domain(name)?;
        }
        Ok(())
    }
}

/// ZeroMQ's own limit on an incoming request: a request larger than this
/// closes the connection; requests up to it get an `ERROR` reply when over
/// `max_message_size`.
fn router_max_msg_size(max_message_size: usize) -> i64 {
    let hard = max_message_size.saturating_mul(4).max(1 << 20);
    i64::try_from(hard).unwrap_or(i64::MAX)
}

/// The next request waiting on `socket`, all its frames; `None` when there
/// is none (or a signal interrupted the read).
pub(super) fn receive(socket: &zmq::Socket) -> Result<Option<Vec<Vec<u8>>>> {
    match socket.recv_multipart(zmq::DONTWAIT) {
        Ok(f) => Ok(Some(f)),
        Err(zmq::Error::EAGAIN | zmq::Error::EINTR) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

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

    fn send_owned(&self, envelope: &[Vec<u8>], head: &[&[u8]], body: &mut Vec<u8>) -> Sent {
        let mut parts = envelope
            .iter()
            .map(Vec::as_slice)
            .chain(head.iter().copied());
        let Some(first) = parts.next() else {
            return Sent::Gone;
        };
        match zmq::Socket::send(self, first, zmq::DONTWAIT | zmq::SNDMORE) {
            Ok(()) => {}
            Err(zmq::Error::EAGAIN) => return Sent::WouldBlock,
            Err(zmq::Error::EHOSTUNREACH) => return Sent::Gone,
            Err(e) => {
                log::warn!("sending a reply failed: {e}");
                return Sent::Gone;
            }
        }
        for f in parts {
            if let Err(e) = zmq::Socket::send(self, f, zmq::SNDMORE) {
                log::warn!("sending a reply failed: {e}");
                return Sent::Gone;
            }
        }
        // The body goes to ZeroMQ as it is: no copy.
        let message = zmq::Message::from(std::mem::take(body));
        if let Err(e) = zmq::Socket::send(self, message, 0) {
            log::warn!("sending a reply failed: {e}");
            return Sent::Gone;
        }
        Sent::Yes
    }
}

impl Publisher for zmq::Socket {
    fn publish(&self, frames: &[&[u8]; 3]) {
        for (i, f) in frames.iter().enumerate() {
            let flags = if i < 2 { zmq::SNDMORE } else { 0 };
            if let Err(e) = zmq::Socket::send(self, *f, flags | zmq::DONTWAIT) {
                log::warn!("publishing an event failed: {e}");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> Vec<String> {
        vec!["tcp://127.0.0.1:*".into()]
    }

    fn v2_only() -> ServerOptions {
        ServerOptions {
            query_endpoints: vec![],
            streaming_endpoints: vec![],
            command_endpoints: local(),
            publish_endpoints: vec![],
            ..ServerOptions::default()
        }
    }

    #[test]
    fn the_router_limit_leaves_room_for_an_error_reply() {
        assert_eq!(router_max_msg_size(16 << 20), 64 << 20);
        assert_eq!(router_max_msg_size(1), 1 << 20);
        assert_eq!(router_max_msg_size(usize::MAX), i64::MAX);
    }

    #[test]
    fn only_the_sockets_asked_for_are_made_and_wildcards_are_resolved() {
        let ctx = zmq::Context::new();
        let (s, bound) = Sockets::bind(&ctx, &v2_only(), None).unwrap();
        assert!(s.request(0).is_none() && s.v1_pub.is_none() && s.v2_pub.is_none());
        let router = s.request(1).unwrap();
        assert_eq!(router.get_socket_type().unwrap(), zmq::ROUTER);
        assert_eq!(router.get_linger().unwrap(), LINGER_MS);
        assert_eq!(router.get_maxmsgsize().unwrap(), 64 << 20);
        let ep = &bound.command_endpoints[0];
        assert!(
            ep.starts_with("tcp://127.0.0.1:") && !ep.ends_with('*'),
            "{ep}"
        );
        assert!(bound.query_endpoints.is_empty() && bound.publish_endpoints.is_empty());
        assert_eq!(bound.max_message_size, v2_only().max_message_size);

        let all = ServerOptions {
            query_endpoints: local(),
            streaming_endpoints: local(),
            publish_endpoints: vec!["tcp://127.0.0.1:*".into(), "inproc://pub-test".into()],
            ..v2_only()
        };
        let (s, bound) = Sockets::bind(&ctx, &all, None).unwrap();
        assert!(s.request(0).is_some() && s.request(1).is_some());
        let publisher = s.v2_pub.as_ref().unwrap();
        assert_eq!(publisher.get_socket_type().unwrap(), zmq::PUB);
        assert_eq!(publisher.get_sndhwm().unwrap(), PUB_SNDHWM);
        assert_eq!(bound.publish_endpoints.len(), 2);
        assert_eq!(bound.publish_endpoints[1], "inproc://pub-test");
        for (i, p) in PROTOCOLS.into_iter().enumerate() {
            assert_eq!(index(p), i);
        }
    }

    #[test]
    fn with_curve_every_socket_is_a_curve_server_asking_the_zap_handler() {
        let ctx = zmq::Context::new();
        let server = crate::curve::generate_keypair().unwrap();
        let client = crate::curve::generate_keypair().unwrap();
        let options = ServerOptions {
            query_endpoints: local(),
            streaming_endpoints: local(),
            publish_endpoints: local(),
            curve_secret_key: Some(server.secret.clone()),
            curve_allowed_clients: vec![client.public.clone()],
            ..v2_only()
        };
        // CURVE keys without the handler, or the handler without keys: no.
        assert!(matches!(
            Sockets::bind(&ctx, &options, None),
            Err(Error::Internal(_))
        ));
        let zap = Zap::start(&ctx, &server.secret, &options.curve_allowed_clients).unwrap();
        assert!(matches!(
            Sockets::bind(&ctx, &v2_only(), Some(&zap)),
            Err(Error::Internal(_))
        ));
        let (s, _) = Sockets::bind(&ctx, &options, Some(&zap)).unwrap();
        let all = [
            (s.request(0), "v1 query"),
            (s.v1_pub.as_ref(), "v1 streaming"),
            (s.request(1), "v2 command"),
            (s.v2_pub.as_ref(), "v2 publish"),
        ];
        for (socket, name) in all {
            let socket = socket.unwrap();
            assert!(socket.is_curve_server().unwrap(), "{name}");
            assert_eq!(socket.get_zap_domain().unwrap().unwrap(), name);
            let secret = socket.get_curve_secretkey().unwrap();
            assert_eq!(
                crate::curve::encode(&secret.try_into().unwrap()),
                server.secret
            );
        }
    }

    #[test]
    fn an_endpoint_that_cannot_be_bound_is_named() {
        let ctx = zmq::Context::new();
        let (_held, bound) = Sockets::bind(&ctx, &v2_only(), None).unwrap();
        let taken = bound.command_endpoints[0].clone();
        let clash = ServerOptions {
            query_endpoints: local(),
            command_endpoints: vec![taken.clone()],
            ..v2_only()
        };
        match Sockets::bind(&ctx, &clash, None) {
            Err(Error::Bind { endpoint, reason }) => {
                assert_eq!(endpoint, taken);
                assert!(!reason.is_empty());
            }
            Err(e) => panic!("{e:?}"),
            Ok(_) => panic!("bound a taken endpoint"),
        }
    }

    #[test]
    fn replies_reach_their_peer_and_an_unknown_peer_is_gone() {
        let ctx = zmq::Context::new();
        let (s, bound) = Sockets::bind(&ctx, &v2_only(), None).unwrap();
        let router = s.request(1).unwrap();
        assert_eq!(receive(router).unwrap(), None);

        let dealer = ctx.socket(zmq::DEALER).unwrap();
        dealer.set_identity(b"client").unwrap();
        dealer.set_rcvtimeo(10_000).unwrap();
        dealer.connect(&bound.command_endpoints[0]).unwrap();
        dealer.send_multipart([&b""[..], b"PING"], 0).unwrap();
        let mut request = None;
        for _ in 0..1000 {
            request = receive(router).unwrap();
            if request.is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let request = request.expect("no request arrived");
        assert_eq!(request, vec![b"client".to_vec(), vec![], b"PING".to_vec()]);

        let envelope = &request[..2];
        assert_eq!(Outlet::send(router, envelope, &[b"A", b"B"]), Sent::Yes);
        let reply = dealer.recv_multipart(0).unwrap();
        assert_eq!(reply, vec![vec![], b"A".to_vec(), b"B".to_vec()]);

        let stranger = [b"nobody".to_vec(), vec![]];
        assert_eq!(Outlet::send(router, &stranger, &[b"X"]), Sent::Gone);
    }

    #[test]
    fn published_events_are_three_frames() {
        let ctx = zmq::Context::new();
        let publisher = ctx.socket(zmq::PUB).unwrap();
        publisher.bind("inproc://publish-frames").unwrap();
        let sub = ctx.socket(zmq::SUB).unwrap();
        sub.set_subscribe(b"").unwrap();
        sub.set_rcvtimeo(10).unwrap();
        sub.connect("inproc://publish-frames").unwrap();
        // A subscription takes a moment to reach the publisher.
        for _ in 0..1000 {
            publisher.publish(&[b"s", b"id", b"data"]);
            if let Ok(m) = sub.recv_multipart(0) {
                assert_eq!(m, vec![b"s".to_vec(), b"id".to_vec(), b"data".to_vec()]);
                return;
            }
        }
        panic!("nothing was published");
    }
}
