//! Live subscriptions to the log: [`Subscription`], made by
//! [`Store::subscribe`], hands out the history from a position, a
//! [`SubscriptionItem::CaughtUp`] marker once it reaches the head of the
//! log, then every event as it commits: in position order, each exactly
//! once, with no gap.
//!
//! How it works. A subscription registers a commit listener that only
//! records how far the log reaches (the head) and wakes the subscription if
//! it is waiting: constant work on the writer thread (on PostgreSQL, the
//! follower's thread, which hears the commits of every server on the
//! database), with a lock no one holds for more than a few instructions. The events themselves are always
//! read from the store, in chunks, by the subscriber's own thread. So a
//! subscriber that falls behind simply reads more history later: it never
//! slows a writer, and it cannot lose an event. A subscription waiting for
//! commits sleeps on a condition variable (no polling) until a commit, a
//! stop or the store's close wakes it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::store::{CommittedAppend, ListenerId};
use crate::{Error, Event, EventRef, LogFilter, Result, Store};

/// The most events one read of the store puts in a subscription's buffer.
const READ_CHUNK: usize = 256;
/// The most log positions one read of the store examines, so that a
/// subscription with a selective filter still looks at its stop flag and
/// deadline between reads of a long history.
const SCAN_SPAN: u64 = 1 << 16;

/// What [`Subscription::next_batch`] handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batch {
    /// This many events (at least one) went to the visitor.
    Events(usize),
    /// The subscription has reached the head of the log, as
    /// [`SubscriptionItem::CaughtUp`] says.
    CaughtUp,
}

/// What a [`Subscription`] hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionItem {
    /// The next event the filter passes.
    Event(Event),
    /// The subscription has reached the head of the log: every event
    /// committed before this point has been handed out (or skipped by the
    /// filter); what follows is live. Handed out once per subscription.
    CaughtUp,
}

/// What the commit listener and a stop share with the subscriber.
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    stopped: AtomicBool,
}

struct State {
    /// The log's end as the commits have reported it: every position below
    /// is committed and readable.
    head: u64,
    /// The store has been closed: the head moves no more.
    closed: bool,
    /// The subscriber is waiting on `wake`.
    waiting: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A commit reached `end`: raise the head, wake the subscriber if it
    /// waits. Constant time; the lock is only ever held for a few
    /// instructions.
    fn advance(&self, end: u64) {
        let mut st = self.lock();
        if end > st.head {
            st.head = end;
            if st.waiting {
                self.wake.notify_one();
            }
        }
    }

    fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_all();
    }

    fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        // Taking the lock orders the flag before a waiter's last look at it.
        let _st = self.lock();
        self.wake.notify_all();
    }

    fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }
}

/// Held by the commit listener: when the store drops its listeners (at
/// close), the subscription learns that the store is closed.
struct ClosesOnDrop(Arc<Shared>);

impl Drop for ClosesOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// The end of the log after a committed batch: one past its last event.
/// Positions are assigned in order within a batch, so the last append holds
/// the highest.
fn batch_end(batch: &[CommittedAppend]) -> Option<u64> {
    batch
        .last()
        .map(|a| a.first_position + a.events.len() as u64)
}

/// Stops a [`Subscription`] from any thread; clones stop the same one.
#[derive(Clone)]
pub struct StopHandle(Arc<Shared>);

impl StopHandle {
    /// Stops the subscription: a `next` blocked on it returns at once, and
    /// every later one returns `None`.
    pub fn stop(&self) {
        self.0.stop();
    }

    /// Whether the subscription has been stopped.
    pub fn is_stopped(&self) -> bool {
        self.0.is_stopped()
    }
}

impl std::fmt::Debug for StopHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StopHandle")
            .field("stopped", &self.is_stopped())
            .finish()
    }
}

/// A live subscription to the log; see [`Store::subscribe`].
///
/// It hands out, in position order and each exactly once, every event from
/// its starting position on that its filter passes: first the history, then
/// [`SubscriptionItem::CaughtUp`] once, when it first reaches the head of
/// the log, then the events committed since, as they commit (never before
/// they are durable). It reads the store itself, up to 256 events at a
/// time, so a slow subscriber costs the writers nothing.
///
/// It ends in one of two ways:
/// - **stopped** ([`stop`](Subscription::stop), or a [`StopHandle`] from
///   another thread): [`next_timeout`](Subscription::next_timeout) returns
///   `Ok(None)` at once, and the iterator ends;
/// - **the store closed** ([`Store::close`]): the subscription hands out
///   what was committed before the close (and `CaughtUp`, if it had not
///   yet), then fails with [`Error::Closed`]; the iterator yields that error
///   once and ends.
///
/// As an [`Iterator`], `next` blocks until there is an item; it yields
/// `Err` for a failed read of the store (or the close) and then ends.
///
/// A subscription holds a handle on its store (which stays open while the
/// subscription lives) and a commit listener, removed when it is dropped.
///
/// ```
/// use std::time::Duration;
/// use rewind_core::{ExpectedVersion, LogFilter, NewEvent, Store, SubscriptionItem};
///
/// let store = Store::in_memory();
/// store.append(b"order-1", vec![NewEvent::new("created")], ExpectedVersion::Any).unwrap();
/// let mut sub = store.subscribe(Some(0), LogFilter::all()).unwrap();
/// let first = sub.next_timeout(Duration::from_secs(5)).unwrap();
/// assert!(matches!(first, Some(SubscriptionItem::Event(e)) if e.data == b"created"));
/// assert_eq!(sub.next_timeout(Duration::from_secs(5)).unwrap(), Some(SubscriptionItem::CaughtUp));
/// store.append(b"order-1", vec![NewEvent::new("paid")], ExpectedVersion::Any).unwrap();
/// let live = sub.next_timeout(Duration::from_secs(5)).unwrap();
/// assert!(matches!(live, Some(SubscriptionItem::Event(e)) if e.data == b"paid"));
/// assert_eq!(sub.next_timeout(Duration::from_millis(10)).unwrap(), None);
/// ```
pub struct Subscription {
    store: Store,
    filter: LogFilter,
    shared: Arc<Shared>,
    listener: ListenerId,
    /// The next position to examine.
    next: u64,
    /// Events read but not yet handed out, in position order.
    buf: VecDeque<Event>,
    caught_up: bool,
    /// The iterator has ended.
    ended: bool,
}

impl Subscription {
    pub(crate) fn new(
        store: Store,
        from_position: Option<u64>,
        filter: LogFilter,
    ) -> Result<Subscription> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                head: 0,
                closed: false,
                waiting: false,
            }),
            wake: Condvar::new(),
            stopped: AtomicBool::new(false),
        });
        let signal = ClosesOnDrop(shared.clone());
        let listener = store.add_listener(Box::new(move |batch| {
            if let Some(end) = batch_end(batch) {
                signal.0.advance(end);
            }
        }));
        let mut sub = Subscription {
            store,
            filter,
            shared,
            listener,
            next: 0,
            buf: VecDeque::new(),
            caught_up: false,
            ended: false,
        };
        // The listener is in place: no commit from here on goes unnoticed,
        // and every commit before is counted in the log's end.
        let head = sub.store.next_position()?;
        sub.shared.advance(head);
        if sub.store.is_closed() {
            // Closed before the listener was registered, which may then
            // never be dropped by the close.
            sub.shared.close();
        }
        if let Some(p) = from_position.filter(|p| *p > head) {
            return Err(Error::InvalidArgument(format!(
                "position {p} is past the end of the log (the next event will be at {head})"
            )));
        }
        sub.next = from_position.unwrap_or(head);
        Ok(sub)
    }

    /// The next item, waiting up to `timeout` for one. `Ok(None)` when none
    /// came in time, or when the subscription is stopped (see
    /// [`is_stopped`](Subscription::is_stopped)). Fails with
    /// [`Error::Closed`] once the store is closed and everything committed
    /// before has been handed out, or with the error of a failed read.
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<SubscriptionItem>> {
        self.next_until(Instant::now().checked_add(timeout))
    }

    /// The next item, waiting as long as it takes. `Ok(None)` only when
    /// the subscription is stopped; errors as for
    /// [`next_timeout`](Subscription::next_timeout).
    pub fn next_blocking(&mut self) -> Result<Option<SubscriptionItem>> {
        self.next_until(None)
    }

    /// The batch form of [`next_timeout`](Subscription::next_timeout), for
    /// a reader that needs no owned events: hands up to `limit` events that
    /// are there now to `visit`, borrowed from the store with no copy (or
    /// waits up to `timeout` for one). `visit` returns `false` to stop after
    /// the event it was given; the rest stays for the next call. Returns
    /// `Ok(Some(Batch::Events(n)))`, `Ok(Some(Batch::CaughtUp))` once at
    /// the head, or `Ok(None)` (timed out, or stopped); errors as for
    /// `next_timeout`. Batches and single items may be mixed: each event is
    /// handed out once, in position order.
    pub fn next_batch(
        &mut self,
        timeout: Duration,
        limit: usize,
        mut visit: impl FnMut(EventRef<'_>) -> bool,
    ) -> Result<Option<Batch>> {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            if self.shared.is_stopped() || limit == 0 {
                return Ok(None);
            }
            if !self.buf.is_empty() {
                let mut n = 0;
                while let Some(e) = self.buf.pop_front() {
                    n += 1;
                    if !visit(e.as_ref()) || n == limit {
                        break;
                    }
                }
                return Ok(Some(Batch::Events(n)));
            }
            let (head, closed) = {
                let st = self.shared.lock();
                (st.head, st.closed)
            };
            if self.next < head {
                let end = head.min(self.next.saturating_add(SCAN_SPAN));
                let mut n = 0;
                let resume =
                    self.store
                        .scan_log(self.next, end, limit, &self.filter, &mut |e| {
                            n += 1;
                            visit(e)
                        })?;
                if resume <= self.next {
                    return Err(Error::Internal(format!(
                        "the log ends at position {resume}, but a commit reached {head}"
                    )));
                }
                self.next = resume;
                if n > 0 {
                    return Ok(Some(Batch::Events(n)));
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok(None);
                }
                continue;
            }
            if !self.caught_up {
                self.caught_up = true;
                return Ok(Some(Batch::CaughtUp));
            }
            if closed {
                return Err(Error::Closed);
            }
            if !self.wait(deadline) {
                return Ok(None);
            }
        }
    }

    /// A handle that stops this subscription from any thread.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle(self.shared.clone())
    }

    /// Stops the subscription (as its [`StopHandle`] does).
    pub fn stop(&self) {
        self.shared.stop();
    }

    /// Whether the subscription has been stopped.
    pub fn is_stopped(&self) -> bool {
        self.shared.is_stopped()
    }

    /// The position to resume from: every event before it has been handed
    /// out or skipped by the filter. A new subscription from here goes on
    /// where this one is (without the history already handed out).
    pub fn position(&self) -> u64 {
        self.buf.front().map_or(self.next, |e| e.position)
    }

    /// The filter the subscription applies.
    pub fn filter(&self) -> &LogFilter {
        &self.filter
    }

    fn next_until(&mut self, deadline: Option<Instant>) -> Result<Option<SubscriptionItem>> {
        loop {
            if self.shared.is_stopped() {
                return Ok(None);
            }
            if let Some(e) = self.buf.pop_front() {
                return Ok(Some(SubscriptionItem::Event(e)));
            }
            let (head, closed) = {
                let st = self.shared.lock();
                (st.head, st.closed)
            };
            if self.next < head {
                self.fill(head)?;
                if self.buf.is_empty() && deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok(None);
                }
                continue;
            }
            if !self.caught_up {
                self.caught_up = true;
                return Ok(Some(SubscriptionItem::CaughtUp));
            }
            if closed {
                return Err(Error::Closed);
            }
            if !self.wait(deadline) {
                return Ok(None);
            }
        }
    }

    /// Reads the next events the filter passes, below `head`, into the
    /// buffer (which is empty).
    fn fill(&mut self, head: u64) -> Result<()> {
        let end = head.min(self.next.saturating_add(SCAN_SPAN));
        let buf = &mut self.buf;
        let read = self
            .store
            .scan_log(self.next, end, READ_CHUNK, &self.filter, &mut |e| {
                buf.push_back(e.to_owned());
                true
            });
        match read {
            Ok(resume) if resume > self.next => {
                self.next = resume;
                Ok(())
            }
            Ok(resume) => Err(Error::Internal(format!(
                "the log ends at position {resume}, but a commit reached {head}"
            ))),
            Err(e) => {
                // Read again from the same position next time.
                self.buf.clear();
                Err(e)
            }
        }
    }

    /// Sleeps until the head passes the next position, the store closes,
    /// the subscription is stopped, or `deadline`; returns `false` at the
    /// deadline.
    fn wait(&self, deadline: Option<Instant>) -> bool {
        let mut st = self.shared.lock();
        while st.head <= self.next && !st.closed && !self.shared.is_stopped() {
            st.waiting = true;
            st = match deadline {
                None => self.shared.wake.wait(st).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        st.waiting = false;
                        return false;
                    }
                    self.shared
                        .wake
                        .wait_timeout(st, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
            st.waiting = false;
        }
        true
    }
}

impl Iterator for Subscription {
    type Item = Result<SubscriptionItem>;

    /// Blocks until the next item; ends when the subscription is stopped,
    /// or after yielding an error.
    fn next(&mut self) -> Option<Self::Item> {
        if self.ended {
            return None;
        }
        match self.next_until(None) {
            Ok(Some(item)) => Some(Ok(item)),
            Ok(None) => {
                self.ended = true;
                None
            }
            Err(e) => {
                self.ended = true;
                Some(Err(e))
            }
        }
    }
}

impl std::iter::FusedIterator for Subscription {}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.store.remove_listener(self.listener);
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("position", &self.position())
            .field("filter", &self.filter)
            .field("caught_up", &self.caught_up)
            .field("stopped", &self.is_stopped())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ExpectedVersion, NewEvent};

    const WAIT: Duration = Duration::from_secs(10);

    fn append(s: &Store, stream: &str, data: &str) -> u64 {
        s.append(
            stream.as_bytes(),
            vec![NewEvent::new(data)],
            ExpectedVersion::Any,
        )
        .unwrap()[0]
            .position
    }

    /// The next item, as `Some(data)` for an event and `None` for CaughtUp.
    fn next_data(sub: &mut Subscription) -> Option<String> {
        match sub.next_timeout(WAIT).unwrap().expect("an item in time") {
            SubscriptionItem::Event(e) => Some(String::from_utf8(e.data).unwrap()),
            SubscriptionItem::CaughtUp => None,
        }
    }

    #[test]
    fn history_then_caught_up_then_live() {
        let s = Store::in_memory();
        append(&s, "a", "1");
        append(&s, "a", "2");
        let mut sub = s.subscribe(Some(0), LogFilter::all()).unwrap();
        assert_eq!(next_data(&mut sub).as_deref(), Some("1"));
        assert_eq!(sub.position(), 1);
        assert_eq!(next_data(&mut sub).as_deref(), Some("2"));
        assert_eq!(next_data(&mut sub), None);
        assert_eq!(sub.next_timeout(Duration::from_millis(20)).unwrap(), None);
        append(&s, "b", "3");
        assert_eq!(next_data(&mut sub).as_deref(), Some("3"));
        assert_eq!(sub.position(), 3);
        // CaughtUp comes once only.
        assert_eq!(sub.next_timeout(Duration::from_millis(20)).unwrap(), None);
    }

    #[test]
    fn from_now_skips_the_history() {
        let s = Store::in_memory();
        append(&s, "a", "old");
        let mut sub = s.subscribe(None, LogFilter::all()).unwrap();
        assert_eq!(sub.position(), 1);
        assert_eq!(next_data(&mut sub), None);
        append(&s, "a", "new");
        assert_eq!(next_data(&mut sub).as_deref(), Some("new"));
    }

    #[test]
    fn a_start_past_the_end_is_refused_and_the_end_itself_is_not() {
        let s = Store::in_memory();
        let err = s.subscribe(Some(2), LogFilter::all()).expect_err("refused");
        assert!(
            matches!(err, Error::InvalidArgument(ref m) if m.contains("position 2")),
            "{err}"
        );
        let mut sub = s.subscribe(Some(0), LogFilter::all()).unwrap();
        assert_eq!(next_data(&mut sub), None);
        append(&s, "a", "0");
        assert_eq!(next_data(&mut sub).as_deref(), Some("0"));
    }

    #[test]
    fn the_filter_skips_events_and_the_position_moves_past_them() {
        let s = Store::in_memory();
        for i in 0..600 {
            append(
                &s,
                if i % 3 == 0 { "keep-1" } else { "drop-1" },
                &i.to_string(),
            );
        }
        let f = LogFilter::all().with_stream_prefix("keep-");
        let mut sub = s.subscribe(Some(0), f).unwrap();
        for i in (0..600).step_by(3) {
            assert_eq!(next_data(&mut sub), Some(i.to_string()));
        }
        assert_eq!(next_data(&mut sub), None);
        assert_eq!(sub.position(), 600);
        append(&s, "drop-1", "x");
        append(&s, "keep-2", "y");
        assert_eq!(next_data(&mut sub).as_deref(), Some("y"));
        assert_eq!(sub.position(), 602);
    }

    #[test]
    fn the_listener_only_raises_the_head() {
        let s = Store::in_memory();
        let sub = s.subscribe(None, LogFilter::all()).unwrap();
        s.append(
            b"a",
            vec![NewEvent::new("1"), NewEvent::new("2")],
            ExpectedVersion::Any,
        )
        .unwrap();
        // The listener ran before the append was acknowledged.
        assert_eq!(sub.shared.lock().head, 2);
        assert!(sub.buf.is_empty());
        sub.shared.advance(1);
        assert_eq!(sub.shared.lock().head, 2, "the head never goes back");
    }

    #[test]
    fn stop_ends_the_subscription() {
        let s = Store::in_memory();
        append(&s, "a", "1");
        let mut sub = s.subscribe(Some(0), LogFilter::all()).unwrap();
        let h = sub.stop_handle();
        assert!(!h.is_stopped());
        h.clone().stop();
        assert!(sub.is_stopped());
        assert_eq!(sub.next_timeout(WAIT).unwrap(), None);
        assert!(sub.next().is_none());
        assert!(sub.next().is_none());
    }

    #[test]
    fn drop_unregisters_the_listener() {
        let s = Store::in_memory();
        let sub = s.subscribe(None, LogFilter::all()).unwrap();
        let id = sub.listener;
        drop(sub);
        assert!(!s.remove_listener(id));
    }

    #[test]
    fn close_ends_the_subscription_after_what_was_committed() {
        let s = Store::in_memory();
        append(&s, "a", "1");
        let mut sub = s.subscribe(Some(0), LogFilter::all()).unwrap();
        s.close().unwrap();
        assert_eq!(next_data(&mut sub).as_deref(), Some("1"));
        assert_eq!(next_data(&mut sub), None);
        assert!(matches!(sub.next_timeout(WAIT), Err(Error::Closed)));
        assert!(matches!(sub.next(), Some(Err(Error::Closed))));
        assert!(sub.next().is_none());
        // A subscription made after the close ends as well.
        let mut late = s.subscribe(None, LogFilter::all()).unwrap();
        assert_eq!(next_data(&mut late), None);
        assert!(matches!(late.next_timeout(WAIT), Err(Error::Closed)));
    }

    #[test]
    fn batches_borrow_events_and_mix_with_single_items() {
        let s = Store::in_memory();
        for i in 0..10u8 {
            s.append(b"s", vec![NewEvent::new(vec![i])], ExpectedVersion::Any)
                .unwrap();
        }
        let mut sub = s.subscribe(Some(0), LogFilter::all()).unwrap();
        // One owned item first, then batches: each event once, in order.
        let first = sub.next_timeout(WAIT).unwrap();
        assert!(matches!(first, Some(SubscriptionItem::Event(e)) if e.data == [0]));
        let mut seen = Vec::new();
        let got = sub
            .next_batch(WAIT, 4, |e| {
                seen.push(e.data[0]);
                true
            })
            .unwrap();
        assert_eq!(
            (got, seen.clone()),
            (Some(Batch::Events(4)), vec![1, 2, 3, 4])
        );
        // The visitor stops early: the rest stays.
        let got = sub
            .next_batch(WAIT, 100, |e| {
                seen.push(e.data[0]);
                e.data[0] < 6
            })
            .unwrap();
        assert_eq!(got, Some(Batch::Events(2)));
        assert_eq!(sub.position(), 7);
        let got = sub
            .next_batch(WAIT, 100, |e| {
                seen.push(e.data[0]);
                true
            })
            .unwrap();
        assert_eq!(got, Some(Batch::Events(3)));
        assert_eq!(seen, (1..10).collect::<Vec<u8>>());
        assert_eq!(
            sub.next_batch(WAIT, 100, |_| true).unwrap(),
            Some(Batch::CaughtUp)
        );
        assert_eq!(
            sub.next_batch(Duration::from_millis(10), 100, |_| true)
                .unwrap(),
            None
        );
        s.append(b"s", vec![NewEvent::new("live")], ExpectedVersion::Any)
            .unwrap();
        let mut live = Vec::new();
        let got = sub
            .next_batch(WAIT, 100, |e| {
                live.push(e.data.to_vec());
                true
            })
            .unwrap();
        assert_eq!(
            (got, live),
            (Some(Batch::Events(1)), vec![b"live".to_vec()])
        );
    }

    #[test]
    fn batch_end_is_one_past_the_last_event() {
        let a = |first_position, n: usize| CommittedAppend {
            stream: b"s".to_vec(),
            prev_id: None,
            first_version: 0,
            first_position,
            events: vec![crate::backend::PreparedEvent::new(b"i".to_vec(), b"d".to_vec()); n],
        };
        assert_eq!(batch_end(&[]), None);
        assert_eq!(batch_end(&[a(0, 3), a(3, 2)]), Some(5));
    }
}
