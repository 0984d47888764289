//! Counting the connections of the server's sockets for the metrics:
//! clients of the request sockets, subscribers of the PUB sockets.
//!
//! ZeroMQ reports connections through socket monitors (an inproc PAIR per
//! socket). A thread of its own reads them, so the event loop, the hot path
//! of every request, polls nothing more. It never touches the monitored
//! sockets: it only reads events and updates two gauges.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::metrics::Metrics;
use crate::{Error, Result};

/// How often the monitor thread looks at its stop flag, in ms.
const TICK_MS: i64 = 200;

/// Tells inproc endpoints of several servers in one process apart.
static NEXT: AtomicU64 = AtomicU64::new(0);

/// A running monitor thread; [`Watch::stop`] ends it.
pub(super) struct Watch {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Watch {
    /// Starts counting the connections of `clients` (request sockets) and
    /// `subscribers` (PUB sockets) into `metrics`.
    pub fn start(
        ctx: &zmq::Context,
        clients: &[&zmq::Socket],
        subscribers: &[&zmq::Socket],
        metrics: Arc<Metrics>,
    ) -> Result<Watch> {
        let events = (zmq::SocketEvent::ACCEPTED as i32)
            | (zmq::SocketEvent::DISCONNECTED as i32)
            | (zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL as i32)
            | (zmq::SocketEvent::HANDSHAKE_FAILED_NO_DETAIL as i32);
        let mut pairs = Vec::new();
        let kinds = clients
            .iter()
            .map(|s| (s, true))
            .chain(subscribers.iter().map(|s| (s, false)));
        for (socket, is_client) in kinds {
            let endpoint = format!(
                "inproc://rewind-monitor-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            socket.monitor(&endpoint, events)?;
            let pair = ctx.socket(zmq::PAIR)?;
            pair.set_linger(0)?;
            pair.connect(&endpoint)?;
            pairs.push((pair, is_client));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("rewind-monitor".into())
                .spawn(move || watch(pairs, &metrics, &stop))
                .map_err(Error::Io)?
        };
        Ok(Watch {
            stop,
            thread: Some(thread),
        })
    }

    /// Ends the thread (and closes its sockets, which the context's end
    /// waits for).
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn watch(pairs: Vec<(zmq::Socket, bool)>, metrics: &Metrics, stop: &AtomicBool) {
    let mut counts = [0i64; 2];
    while !stop.load(Ordering::Acquire) {
        let mut items: Vec<_> = pairs
            .iter()
            .map(|(p, _)| p.as_poll_item(zmq::POLLIN))
            .collect();
        match zmq::poll(&mut items, TICK_MS) {
            Ok(0) | Err(zmq::Error::EINTR) => continue,
            Ok(_) => {}
            Err(_) => break,
        }
        let ready: Vec<bool> = items.iter().map(|i| i.is_readable()).collect();
        for ((pair, is_client), ready) in pairs.iter().zip(ready) {
            if !ready {
                continue;
            }
            while let Ok(frames) = pair.recv_multipart(zmq::DONTWAIT) {
                if let Some(why) = frames.first().and_then(|f| handshake_failure(f)) {
                    let endpoint = frames.get(1).map(|e| String::from_utf8_lossy(e));
                    log::warn!(
                        "refused a client on {}: {why}",
                        endpoint.as_deref().unwrap_or("?")
                    );
                }
                let Some(delta) = frames.first().and_then(|f| change(f)) else {
                    continue;
                };
                let (i, gauge): (usize, &AtomicI64) = if *is_client {
                    (0, &metrics.clients)
                } else {
                    (1, &metrics.subscribers)
                };
                counts[i] += delta;
                gauge.fetch_add(delta, Ordering::Relaxed);
            }
        }
    }
    // The sockets are closing: their connections go with them.
    metrics.clients.fetch_sub(counts[0], Ordering::Relaxed);
    metrics.subscribers.fetch_sub(counts[1], Ordering::Relaxed);
}

/// What a monitor event does to a connection count: its first frame is the
/// event number (u16, native byte order) and a value (u32).
fn change(frame: &[u8]) -> Option<i64> {
    let raw = u16::from_ne_bytes(frame.get(..2)?.try_into().ok()?);
    match zmq::SocketEvent::from_raw(raw) {
        zmq::SocketEvent::ACCEPTED => Some(1),
        zmq::SocketEvent::DISCONNECTED => Some(-1),
        _ => None,
    }
}

/// Why a handshake failed, when the monitor event says one did (the
/// refusals of the ZAP handler are logged by it, with the client's key).
fn handshake_failure(frame: &[u8]) -> Option<String> {
    let raw = u16::from_ne_bytes(frame.get(..2)?.try_into().ok()?);
    let value = u32::from_ne_bytes(frame.get(2..6)?.try_into().ok()?);
    match zmq::SocketEvent::from_raw(raw) {
        zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL
            if value == zmq_sys::ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH =>
        {
            Some("its security mechanism is not the server's (CURVE on one side only)".into())
        }
        zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL => Some(format!(
            "the handshake failed (ZeroMQ protocol error {value:#x})"
        )),
        zmq::SocketEvent::HANDSHAKE_FAILED_NO_DETAIL => Some(format!(
            "the handshake failed ({})",
            std::io::Error::from_raw_os_error(value as i32)
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn eventually(f: impl Fn() -> bool) -> bool {
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if f() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    #[test]
    fn events_map_to_changes() {
        let frame = |e: zmq::SocketEvent| {
            let mut f = (e as u16).to_ne_bytes().to_vec();
            f.extend_from_slice(&7u32.to_ne_bytes());
            f
        };
        assert_eq!(change(&frame(zmq::SocketEvent::ACCEPTED)), Some(1));
        assert_eq!(change(&frame(zmq::SocketEvent::DISCONNECTED)), Some(-1));
        assert_eq!(change(&frame(zmq::SocketEvent::LISTENING)), None);
        assert_eq!(change(&[1]), None);
    }

    #[test]
    fn failed_handshakes_are_described() {
        let frame = |e: zmq::SocketEvent, v: u32| {
            let mut f = (e as u16).to_ne_bytes().to_vec();
            f.extend_from_slice(&v.to_ne_bytes());
            f
        };
        let mismatch = zmq_sys::ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH;
        let why = handshake_failure(&frame(
            zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL,
            mismatch,
        ));
        assert!(why.unwrap().contains("CURVE on one side only"));
        let why = handshake_failure(&frame(
            zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL,
            0x1000_0000,
        ));
        assert!(why.unwrap().contains("0x10000000"));
        assert!(
            handshake_failure(&frame(zmq::SocketEvent::HANDSHAKE_FAILED_NO_DETAIL, 104)).is_some()
        );
        assert_eq!(
            handshake_failure(&frame(zmq::SocketEvent::ACCEPTED, 7)),
            None
        );
        assert_eq!(handshake_failure(&[1, 0]), None);
    }

    #[test]
    fn connections_are_counted_and_uncounted() {
        let ctx = zmq::Context::new();
        let router = ctx.socket(zmq::ROUTER).unwrap();
        router.bind("tcp://127.0.0.1:*").unwrap();
        let publisher = ctx.socket(zmq::PUB).unwrap();
        publisher.bind("tcp://127.0.0.1:*").unwrap();
        let metrics = Arc::new(Metrics::default());
        let watch = Watch::start(&ctx, &[&router], &[&publisher], metrics.clone()).unwrap();
        let ep = |s: &zmq::Socket| s.get_last_endpoint().unwrap().unwrap();
        let clients: Vec<_> = (0..3)
            .map(|_| {
                let c = ctx.socket(zmq::DEALER).unwrap();
                c.set_linger(0).unwrap();
                c.connect(&ep(&router)).unwrap();
                c
            })
            .collect();
        let sub = ctx.socket(zmq::SUB).unwrap();
        sub.set_linger(0).unwrap();
        sub.connect(&ep(&publisher)).unwrap();
        assert!(eventually(|| metrics.clients.load(Ordering::Relaxed) == 3));
        assert!(eventually(
            || metrics.subscribers.load(Ordering::Relaxed) == 1
        ));
        drop(clients);
        assert!(eventually(|| metrics.clients.load(Ordering::Relaxed) == 0));
        watch.stop();
        assert_eq!(metrics.subscribers.load(Ordering::Relaxed), 0);
    }
}
