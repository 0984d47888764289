//! [`RemoteSubscription`]: a subscription served by a Rewind server, with
//! the methods of the embedded [`Subscription`](crate::Subscription), and
//! [`RemoteStopHandle`], which stops it from any thread.
//!
//! Whoever reads the client's socket feeds it events through a channel;
//! it hands them out one by one (or in batches), keeps its position, and
//! tells the background thread how many it consumed, which is how credit
//! goes back to the server. Reconnects and server restarts are the
//! connection's business: here they show only as a pause.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::client::io::Command;
use crate::client::tracker::SubMsg;
use crate::client::{Client, Inner};
use crate::subscription::{Batch, SubscriptionItem};
use crate::{Error, Event, EventRef, Result};

struct StopState {
    stopped: AtomicBool,
    /// Wakes the subscriber if it waits.
    wake: Sender<SubMsg>,
    key: u64,
    client: Weak<Inner>,
}

impl StopState {
    fn stop(&self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        let _ = self.wake.send(SubMsg::Wake);
        if let Some(inner) = self.client.upgrade() {
            let _ = inner.command(Command::Unsubscribe { key: self.key });
        }
    }
}

/// Stops a [`RemoteSubscription`] from any thread; clones stop the same
/// one. Holds no strong reference to the client.
#[derive(Clone)]
pub struct RemoteStopHandle(Arc<StopState>);

impl RemoteStopHandle {
    /// Stops the subscription: a `next` blocked on it returns at once, and
    /// every later one returns `None`. The server is told to end it.
    pub fn stop(&self) {
        self.0.stop();
    }

    /// Whether the subscription has been stopped.
    pub fn is_stopped(&self) -> bool {
        self.0.stopped.load(Ordering::SeqCst)
    }
}

impl std::fmt::Debug for RemoteStopHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteStopHandle")
            .field("stopped", &self.is_stopped())
            .finish()
    }
}

/// A subscription served by a Rewind server; see
/// [`Client::subscribe`].
///
/// It hands out what the embedded [`Subscription`](crate::Subscription)
/// does, in the same order: every event from its start position on that
/// its filter passes, each exactly once, then
/// [`SubscriptionItem::CaughtUp`] once, then live events. When the
/// connection drops, the server restarts or goes silent, the client
/// subscribes again from where this subscription is, so nothing is missed
/// and nothing comes twice; the caller sees only a pause.
///
/// It ends when stopped ([`stop`](RemoteSubscription::stop), or a
/// [`RemoteStopHandle`]), with the error of a server that refuses to go on
/// (a storage failure), or with [`Error::Closed`] once the client is
/// closed. It holds a handle on its client (which stays open while the
/// subscription lives); dropping it ends it on the server.
pub struct RemoteSubscription {
    client: Client,
    key: u64,
    rx: Receiver<SubMsg>,
    stop: RemoteStopHandle,
    buf: VecDeque<Event>,
    /// The position after the last event handed out (or reported passed).
    position: u64,
    /// Events handed out and not yet reported to the background thread.
    unreported: u64,
    /// Report consumption once this many events are unreported.
    report_every: u64,
    /// The error that ended it, handed out again on every later call.
    failed: Option<Error>,
    ended: bool,
}

impl RemoteSubscription {
    pub(crate) fn new(
        client: Client,
        key: u64,
        rx: Receiver<SubMsg>,
        wake: Sender<SubMsg>,
        start: u64,
        window: u64,
    ) -> RemoteSubscription {
        let stop = RemoteStopHandle(Arc::new(StopState {
            stopped: AtomicBool::new(false),
            wake,
            key,
            client: Arc::downgrade(&client.inner),
        }));
        RemoteSubscription {
            client,
            key,
            rx,
            stop,
            buf: VecDeque::new(),
            position: start,
            unreported: 0,
            report_every: (window / 4).max(1),
            failed: None,
            ended: false,
        }
    }

    /// The next item, waiting up to `timeout` for one. `Ok(None)` when none
    /// came in time, or when the subscription is stopped. Fails with the
    /// error that ended the subscription ([`Error::Closed`] once the client
    /// is closed).
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<SubscriptionItem>> {
        self.next_until(Instant::now().checked_add(timeout))
    }

    /// The next item, waiting as long as it takes. `Ok(None)` only when the
    /// subscription is stopped; errors as for
    /// [`next_timeout`](RemoteSubscription::next_timeout).
    pub fn next_blocking(&mut self) -> Result<Option<SubscriptionItem>> {
        self.next_until(None)
    }

    /// Hands up to `limit` events that are there now to `visit` (or waits
    /// up to `timeout` for one). `visit` returns `false` to stop after the
    /// event it was given; the rest stays for the next call. Returns
    /// `Ok(Some(Batch::Events(n)))`, `Ok(Some(Batch::CaughtUp))` once at
    /// the head, or `Ok(None)` (timed out, or stopped); errors as for
    /// `next_timeout`.
    pub fn next_batch(
        &mut self,
        timeout: Duration,
        limit: usize,
        mut visit: impl FnMut(EventRef<'_>) -> bool,
    ) -> Result<Option<Batch>> {
        if limit == 0 {
            return Ok(None);
        }
        match self.next_until(Instant::now().checked_add(timeout))? {
            None => Ok(None),
            Some(SubscriptionItem::CaughtUp) => Ok(Some(Batch::CaughtUp)),
            Some(SubscriptionItem::Event(first)) => {
                let mut n = 1;
                let mut go_on = visit(first.as_ref());
                while go_on && n < limit {
                    let Some(e) = self.buf.pop_front() else {
                        break;
                    };
                    self.handed(&e);
                    n += 1;
                    go_on = visit(e.as_ref());
                }
                Ok(Some(Batch::Events(n)))
            }
        }
    }

    /// A handle that stops this subscription from any thread.
    pub fn stop_handle(&self) -> RemoteStopHandle {
        self.stop.clone()
    }

    /// Stops the subscription (as its [`RemoteStopHandle`] does).
    pub fn stop(&self) {
        self.stop.stop();
    }

    /// Whether the subscription has been stopped.
    pub fn is_stopped(&self) -> bool {
        self.stop.is_stopped()
    }

    /// The position to resume from: every event before it has been handed
    /// out or skipped by the filter.
    pub fn position(&self) -> u64 {
        self.buf.front().map_or(self.position, |e| e.position)
    }

    fn handed(&mut self, e: &Event) {
        self.position = e.position + 1;
        self.unreported += 1;
        if self.unreported >= self.report_every {
            self.report();
        }
    }

    /// Tells the background thread what was consumed (so credit goes back).
    fn report(&mut self) {
        if self.unreported > 0 {
            let n = std::mem::take(&mut self.unreported);
            let _ = self
                .client
                .inner
                .command(Command::Consumed { key: self.key, n });
        }
    }

    fn next_until(&mut self, deadline: Option<Instant>) -> Result<Option<SubscriptionItem>> {
        loop {
            if self.is_stopped() {
                return Ok(None);
            }
            if let Some(e) = &self.failed {
                return Err(e.replicate());
            }
            if let Some(e) = self.buf.pop_front() {
                self.handed(&e);
                return Ok(Some(SubscriptionItem::Event(e)));
            }
            let msg = match self.rx.try_recv() {
                Ok(m) => m,
                Err(_) => {
                    // About to wait: let the server send more first.
                    self.report();
                    let got = match deadline {
                        None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                        Some(d) => self
                            .rx
                            .recv_timeout(d.saturating_duration_since(Instant::now())),
                    };
                    match got {
                        Ok(m) => m,
                        Err(RecvTimeoutError::Timeout) => return Ok(None),
                        Err(RecvTimeoutError::Disconnected) => SubMsg::Failed(Error::Closed),
                    }
                }
            };
            match msg {
                SubMsg::Events(events) => self.buf.extend(events),
                SubMsg::CaughtUp(p) => {
                    self.position = self.position.max(p);
                    return Ok(Some(SubscriptionItem::CaughtUp));
                }
                SubMsg::Progress(p) => self.position = self.position.max(p),
                SubMsg::Failed(e) => self.failed = Some(e),
                SubMsg::Wake => {}
            }
        }
    }
}

impl Iterator for RemoteSubscription {
    type Item = Result<SubscriptionItem>;

    /// Blocks until the next item; ends when the subscription is stopped,
    /// or after yielding an error.
    fn next(&mut self) -> Option<Self::Item> {
        if self.ended {
            return None;
        }
        let step = self.next_until(None).transpose();
        self.ended = !matches!(step, Some(Ok(_)));
        step
    }
}

impl std::iter::FusedIterator for RemoteSubscription {}

impl Drop for RemoteSubscription {
    fn drop(&mut self) {
        self.stop.stop();
    }
}

impl std::fmt::Debug for RemoteSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSubscription")
            .field("position", &self.position())
            .field("stopped", &self.is_stopped())
            .finish()
    }
}
