//! The ZeroMQ server: the v1, v2 and native wire protocols over one store.
//!
//! One thread owns every socket. Requests arrive on ROUTER sockets (v1
//! clients use REQ, v2 clients DEALER); each client (peer) gets a queue of
//! reply slots in request order, so pipelined requests are answered in
//! order while their appends are already on their way to the group-commit
//! writer. Appends complete on the writer thread, which hands the outcome
//! back through a channel and wakes the server through an inproc socket.
//! Committed events are published on the PUB sockets in commit order.
//!
//! Replies are sent without blocking and with `ROUTER_MANDATORY`, so a
//! client that reads slowly never stalls the others: when its pipe is at
//! the high-water mark, its streamed query pauses and resumes when the pipe
//! drains. Nothing is dropped: a peer whose connection is gone loses its
//! pending replies (there is no one to send them to) and nothing else.
//!
//! This module owns the public API ([`Server`], [`StopHandle`],
//! [`ExitReason`], and [`ServerOptions`] re-exported) and starting and
//! joining the server thread. The rest is in private modules:
//!
//! | module       | owns |
//! |--------------|------|
//! | `options`    | [`ServerOptions`], defaults, validation |
//! | `sockets`    | creating, binding and using the ZeroMQ sockets |
//! | `wake`       | notes from other threads and waking the server thread |
//! | `event_loop` | the server thread's state and its poll loop; `dispatch` handles requests and completions |
//! | `peer`       | peers, epochs and their queues of reply slots (no sockets) |
//! | `pump`       | sending a peer's replies in order, without blocking |
//! | `query`      | v1 capped replies and v2 streamed queries |
//! | `appends`    | PUBLISHes (and native APPENDs) on their way to the store and back |
//! | `native`     | the native protocol: answers, streamed reads, subscriptions |
//! | `publish`    | the PUB frames of committed events |
//! | `blocked`    | peers at the high-water mark and when to retry them |
//! | `monitor`    | counting connections; logging failed handshakes |
//! | `zap`        | the ZAP handler: which CURVE clients get in |

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::metrics::MetricsEndpoint;
use crate::store::ListenerId;
use crate::{Error, Result, Store};

mod appends;
mod blocked;
mod event_loop;
mod monitor;
mod native;
mod options;
mod peer;
mod publish;
mod pump;
mod query;
mod sockets;
mod wake;
mod zap;

pub use options::{
    ServerOptions, DEFAULT_COMMAND_ENDPOINT, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_NATIVE_ENDPOINT,
    DEFAULT_PUBLISH_ENDPOINT, DEFAULT_QUERY_ENDPOINT, DEFAULT_STREAMING_ENDPOINT,
};

use appends::Appends;
use event_loop::Core;
use monitor::Watch;
use sockets::Sockets;
use wake::{Mailbox, Mailer, Note, Waker};
use zap::Zap;

/// Why the server stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitReason {
    /// [`Server::stop`] (or a signal) asked it to.
    Stopped,
    /// A client sent the exit codeword.
    ExitCodeword,
}

/// Asks a running server to stop; cheap to clone and usable from any thread.
#[derive(Clone)]
pub struct StopHandle {
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
}

impl StopHandle {
    /// Asks the server to stop gracefully: it stops taking requests, waits
    /// for the appends in flight to be committed and acknowledged, and
    /// closes its sockets. Does not block; calling it again is harmless.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.waker.wake();
    }
}

/// How the server thread ended, once it has.
#[derive(Default)]
struct Outcome {
    result: Mutex<Option<Result<ExitReason>>>,
    done: Condvar,
}

impl Outcome {
    fn set(&self, r: Result<ExitReason>) {
        *self.result.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
        self.done.notify_all();
    }

    fn wait_timeout(&self, timeout: Duration) -> bool {
        let g = self.result.lock().unwrap_or_else(|e| e.into_inner());
        let (g, _) = self
            .done
            .wait_timeout_while(g, timeout, |r| r.is_none())
            .unwrap_or_else(|e| e.into_inner());
        g.is_some()
    }

    /// The result; `None` when the thread ended without one (it panicked).
    fn take(&self) -> Option<Result<ExitReason>> {
        self.result.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// A running server.
pub struct Server {
    handle: StopHandle,
    bound: ServerOptions,
    thread: Option<JoinHandle<()>>,
    finished: Arc<Outcome>,
    /// The metrics endpoint, when configured; it stops with the server.
    _metrics: Option<MetricsEndpoint>,
}

impl Server {
    /// Binds every endpoint of `options` and starts serving `store` on a
    /// thread of its own. Returns once every socket is bound.
    ///
    /// Errors: [`Error::Config`] / [`Error::InvalidArgument`] for bad
    /// options, [`Error::Bind`] naming an endpoint that cannot be bound,
    /// [`Error::Network`] when ZeroMQ cannot make a socket.
    pub fn start(store: Store, options: ServerOptions) -> Result<Server> {
        options.validate()?;
        let ctx = zmq::Context::new();
        ctx.set_io_threads(options.zmq_io_threads)?;
        // The ZAP handler runs before the first CURVE socket is bound.
        let zap = match &options.curve_secret_key {
            Some(secret) => Some(Zap::start(&ctx, secret, &options.curve_allowed_clients)?),
            None => None,
        };
        let (sockets, mut bound) = Sockets::bind(&ctx, &options, zap.as_ref())?;
        let metrics = match &options.metrics_address {
            Some(address) => {
                let store = store.clone();
                let render = Arc::new(move || {
                    let storage = store.storage_use().unwrap_or_else(|e| {
                        log::warn!("metrics: storage use unknown: {e}");
                        None
                    });
                    store.metrics().render(storage)
                });
                let endpoint = MetricsEndpoint::start(address, render)?;
                bound.metrics_address = Some(endpoint.local_addr().to_string());
                Some(endpoint)
            }
            None => None,
        };
        let watch = {
            let clients: Vec<_> = (0..sockets::COUNT)
                .filter_map(|i| sockets.request(i))
                .collect();
            let subscribers: Vec<_> = [&sockets.v1_pub, &sockets.v2_pub]
                .into_iter()
                .flatten()
                .collect();
            let curve = zap.is_some();
            Watch::start(&ctx, &clients, &subscribers, store.metrics().clone(), curve)?
        };
        let (mailer, mailbox) = Mailbox::open(&ctx)?;
        let handle = StopHandle {
            stop: Arc::new(AtomicBool::new(false)),
            waker: mailer.waker().clone(),
        };
        let listener = announce_commits(&store, mailer.clone());
        let core = Core::new(
            store,
            listener,
            options,
            sockets,
            mailbox,
            Appends::new(mailer),
            handle.stop.clone(),
        );
        let finished = Arc::new(Outcome::default());
        let thread = spawn(core, watch, zap, ctx, finished.clone())?;
        Ok(Server {
            handle,
            bound,
            thread: Some(thread),
            finished,
            _metrics: metrics,
        })
    }

    /// The options the server runs with, its endpoints as bound: an endpoint
    /// given with a wildcard port (`tcp://127.0.0.1:*`) shows the port the
    /// system chose.
    pub fn bound_options(&self) -> &ServerOptions {
        &self.bound
    }

    /// Asks the server to stop; see [`StopHandle::stop`].
    pub fn stop(&self) {
        self.handle.stop();
    }

    /// A handle that can stop the server from any thread.
    pub fn stop_handle(&self) -> StopHandle {
        self.handle.clone()
    }

    /// Waits up to `timeout` for the server to stop; returns whether it has.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.finished.wait_timeout(timeout)
    }

    /// Whether the server has stopped.
    pub fn is_finished(&self) -> bool {
        self.wait_timeout(Duration::ZERO)
    }

    /// Blocks until the server has stopped and tells why.
    pub fn join(mut self) -> Result<ExitReason> {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.finished
            .take()
            .unwrap_or(Err(Error::Internal("the server thread panicked".into())))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.handle.stop();
            let _ = t.join();
        }
    }
}

/// Registers the listener that tells the server thread of every committed
/// batch (embedded appends included; on PostgreSQL, those of every server
/// on the database, from the store's follower), for it to publish and to
/// feed the live native subscriptions.
fn announce_commits(store: &Store, mailer: Mailer) -> ListenerId {
    store.add_listener(Box::new(move |batch| {
        mailer.post(Note::Committed(batch.clone()));
    }))
}

/// Starts the server thread: it serves until stopped, shuts down
/// gracefully, closes its sockets and reports in `finished`.
fn spawn(
    mut core: Core,
    watch: Watch,
    zap: Option<Zap>,
    ctx: zmq::Context,
    finished: Arc<Outcome>,
) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("rewind-server".into())
        .spawn(move || {
            let r = core.run();
            core.shutdown();
            watch.stop();
            drop(core);
            drop(zap);
            drop(ctx);
            finished.set(r);
        })
        .map_err(Error::Io)
}
