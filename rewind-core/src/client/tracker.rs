//! The state of one remote subscription as the client's connection keeps
//! it (no sockets): where to resume, whether `CaughtUp` was handed out, its credit,
//! when the server was last heard from, and what to do next (wait, send
//! `SUBSCRIBE` again, renew the connection, or give up).
//!
//! Across reconnects and server restarts the caller sees one subscription:
//! the tracker resubscribes from the position after the last event handed
//! on, drops any event below it (so none is seen twice), and passes
//! `CaughtUp` on only the first time.

use std::time::{Duration, Instant};

use crate::client::credit::CreditWindow;
use crate::protocol::native::{ErrorCode, Request, PEER_TIMEOUT_INTERVALS};
use crate::{Event, LogFilter};

/// What the caller's side of a subscription receives, in order.
#[derive(Debug)]
pub(crate) enum SubMsg {
    /// Events, in position order, none seen before.
    Events(Vec<Event>),
    /// The subscription reached the head of the log at this position
    /// (sent once).
    CaughtUp(u64),
    /// Every event below this position that passes the filter has been
    /// sent.
    Progress(u64),
    /// The subscription ended with this error.
    Failed(crate::Error),
    /// Look at the stop flag (sent by a stop from another thread).
    Wake,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// `SUBSCRIBE` sent at `since`, `sends` times so far while never
    /// established.
    Subscribing { since: Instant, sends: u32 },
    /// Established; the server was last heard from at `heard`.
    Live { heard: Instant },
    /// Waiting to subscribe again at `until` (the server ended the
    /// subscription with a reason that passes).
    Waiting { until: Instant },
}

/// What a subscription needs at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// Nothing.
    Nothing,
    /// Send `SUBSCRIBE` again (on the same connection).
    Resubscribe,
    /// The server is silent, or did not answer a `SUBSCRIBE` in time:
    /// renew the connection (which resubscribes).
    Reconnect,
    /// The first `SUBSCRIBE` got no answer after every retry.
    GiveUp,
}

/// What to do with an `ERROR` on a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnError {
    /// The reason passes (the server timed the client out, or is
    /// stopping): subscribe again (after a pause).
    Resubscribe,
    /// The subscription is over: hand the error to the caller.
    Fail,
}

/// How long to wait before subscribing again after the server ended a
/// subscription for a passing reason.
const RESUBSCRIBE_PAUSE: Duration = Duration::from_millis(200);

/// One subscription's state.
#[derive(Debug)]
pub(crate) struct Tracker {
    filter: LogFilter,
    /// The filter as sent: a filter with an empty set of types cannot
    /// travel, so it goes without types and `filter` is applied here.
    wire_filter: LogFilter,
    /// The position to resume from; `None` until the first `SUBSCRIBED`
    /// of a subscription "from now".
    next: Option<u64>,
    caught_up: bool,
    established: bool,
    credit: CreditWindow,
    heartbeat: Duration,
    timeout: Duration,
    retries: u32,
    phase: Phase,
}

impl Tracker {
    /// A subscription from `from` (`None`: from the end of the log when the
    /// server receives it), not yet sent.
    pub fn new(
        from: Option<u64>,
        filter: LogFilter,
        window: u64,
        heartbeat: Duration,
        timeout: Duration,
        retries: u32,
        now: Instant,
    ) -> Tracker {
        let wire_filter = crate::client::wire_filter(&filter);
        Tracker {
            filter,
            wire_filter,
            next: from,
            caught_up: false,
            established: false,
            credit: CreditWindow::new(window),
            heartbeat,
            timeout,
            retries,
            phase: Phase::Subscribing {
                since: now,
                sends: 0,
            },
        }
    }

    /// The `SUBSCRIBE` to send now (first or again): from the resume
    /// position, with the credit the window allows.
    pub fn subscribe(&mut self, now: Instant) -> Request {
        let sends = match self.phase {
            Phase::Subscribing { sends, .. } if !self.established => sends + 1,
            _ => 1,
        };
        self.phase = Phase::Subscribing { since: now, sends };
        Request::Subscribe {
            from: self.next,
            credit: self.credit.start(),
            filter: self.wire_filter.clone(),
        }
    }

    /// `SUBSCRIBED`: the subscription starts at `start`. Returns whether it
    /// is the first time (the caller waits for that one).
    pub fn subscribed(&mut self, start: u64, heartbeat_ms: u64, now: Instant) -> bool {
        if heartbeat_ms > 0 {
            self.heartbeat = Duration::from_millis(heartbeat_ms);
        }
        self.next = Some(self.next.map_or(start, |n| n.max(start)));
        self.phase = Phase::Live { heard: now };
        let first = !self.established;
        self.established = true;
        first
    }

    /// An `EVENTS` batch: the events to hand on (those not seen before
    /// that the filter passes), and credit to give back for the events
    /// dropped here (which no caller will consume).
    pub fn events(&mut self, mut batch: Vec<Event>, now: Instant) -> (Vec<Event>, Option<u64>) {
        self.heard(now);
        self.credit.received(batch.len() as u64);
        let next = self.next.unwrap_or(0);
        if let Some(end) = batch.iter().map(|e| e.position + 1).max() {
            self.advance(end);
        }
        let before = batch.len();
        batch.retain(|e| e.position >= next && self.filter.matches(&e.as_ref()));
        let dropped = (before - batch.len()) as u64;
        let grant = if dropped > 0 {
            self.credit.consumed(dropped)
        } else {
            None
        };
        (batch, grant)
    }

    /// `CAUGHT_UP` at `position`: the message to hand on.
    pub fn caught_up(&mut self, position: u64, now: Instant) -> SubMsg {
        self.heard(now);
        self.advance(position);
        if self.caught_up {
            SubMsg::Progress(position)
        } else {
            self.caught_up = true;
            SubMsg::CaughtUp(position)
        }
    }

    /// `HEARTBEAT` at `position`: the message to hand on.
    pub fn heartbeat(&mut self, position: u64, now: Instant) -> SubMsg {
        self.heard(now);
        self.advance(position);
        SubMsg::Progress(position)
    }

    /// The subscription ended with `code` (or with an `END` nobody asked
    /// for, `None`).
    pub fn ended(&mut self, code: Option<ErrorCode>, now: Instant) -> OnError {
        let passes = matches!(
            code,
            None | Some(ErrorCode::Timeout | ErrorCode::ShuttingDown)
        );
        if passes && self.established {
            self.phase = Phase::Waiting {
                until: now + RESUBSCRIBE_PAUSE,
            };
            OnError::Resubscribe
        } else {
            OnError::Fail
        }
    }

    /// The caller consumed `n` events: credit to give, if any.
    pub fn consumed(&mut self, n: u64) -> Option<u64> {
        let starved = self.credit.exhausted();
        let grant = self.credit.consumed(n);
        if let (true, Some(_), Phase::Live { heard }) = (starved, grant, &mut self.phase) {
            // The server could send nothing until now: its silence so far
            // says nothing.
            *heard = Instant::now();
        }
        grant
    }

    /// What is due at `now`.
    pub fn due(&self, now: Instant) -> Due {
        match self.phase {
            Phase::Subscribing { since, sends } => {
                if now < since + self.timeout {
                    Due::Nothing
                } else if !self.established && sends > self.retries {
                    Due::GiveUp
                } else {
                    Due::Reconnect
                }
            }
            Phase::Live { heard } => {
                if !self.credit.exhausted() && now >= heard + self.peer_timeout() {
                    Due::Reconnect
                } else {
                    Due::Nothing
                }
            }
            Phase::Waiting { until } if now >= until => Due::Resubscribe,
            Phase::Waiting { .. } => Due::Nothing,
        }
    }

    /// When [`due`](Tracker::due) may next say something (`None`: not
    /// before the caller consumes events).
    pub fn next_timer(&self) -> Option<Instant> {
        match self.phase {
            Phase::Subscribing { since, .. } => Some(since + self.timeout),
            Phase::Live { .. } if self.credit.exhausted() => None,
            Phase::Live { heard } => Some(heard + self.peer_timeout()),
            Phase::Waiting { until } => Some(until),
        }
    }

    /// The heartbeat interval the server asked for.
    pub fn heartbeat_interval(&self) -> Duration {
        self.heartbeat
    }

    /// Whether a `SUBSCRIBE` for this subscription has been sent and no
    /// answer came yet, or it is live (so the server expects signs of
    /// life).
    pub fn is_active(&self) -> bool {
        !matches!(self.phase, Phase::Waiting { .. })
    }

    fn peer_timeout(&self) -> Duration {
        self.heartbeat * PEER_TIMEOUT_INTERVALS as u32
    }

    fn heard(&mut self, now: Instant) {
        if let Phase::Live { heard } = &mut self.phase {
            *heard = now;
        }
    }

    fn advance(&mut self, position: u64) {
        self.next = Some(self.next.map_or(position, |n| n.max(position)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HB: Duration = Duration::from_millis(100);
    const TIMEOUT: Duration = Duration::from_secs(1);

    fn event(position: u64, stream: &str) -> Event {
        Event {
            id: format!("id-{position}").into_bytes(),
            event_type: b"t".to_vec(),
            metadata: Vec::new(),
            data: Vec::new(),
            stream: stream.as_bytes().to_vec(),
            version: position,
            position,
        }
    }

    fn tracker(from: Option<u64>, now: Instant) -> Tracker {
        Tracker::new(from, LogFilter::all(), 10, HB, TIMEOUT, 2, now)
    }

    fn positions(events: &[Event]) -> Vec<u64> {
        events.iter().map(|e| e.position).collect()
    }

    fn from_of(r: &Request) -> (Option<u64>, u64) {
        match r {
            Request::Subscribe { from, credit, .. } => (*from, *credit),
            other => panic!("not a SUBSCRIBE: {other:?}"),
        }
    }

    #[test]
    fn a_resubscription_resumes_after_the_last_event_and_repeats_nothing() {
        let now = Instant::now();
        let mut t = tracker(None, now);
        assert_eq!(from_of(&t.subscribe(now)), (None, 10), "from now");
        assert!(t.subscribed(5, 100, now));
        let (got, _) = t.events(vec![event(5, "a"), event(6, "a")], now);
        assert_eq!(positions(&got), vec![5, 6]);
        // The connection is renewed: subscribe again from 7.
        assert_eq!(
            from_of(&t.subscribe(now)),
            (Some(7), 8),
            "2 not consumed yet"
        );
        assert!(!t.subscribed(7, 100, now), "not the first SUBSCRIBED");
        // A server that sends again what was handed on is filtered.
        let (got, grant) = t.events(vec![event(6, "a"), event(7, "a")], now);
        assert_eq!(positions(&got), vec![7]);
        assert_eq!(grant, None, "one dropped: not half a window");
    }

    #[test]
    fn caught_up_is_handed_on_once_and_moves_the_resume_position() {
        let now = Instant::now();
        let mut t = tracker(Some(0), now);
        t.subscribe(now);
        t.subscribed(0, 100, now);
        assert!(matches!(t.caught_up(4, now), SubMsg::CaughtUp(4)));
        assert_eq!(from_of(&t.subscribe(now)).0, Some(4));
        t.subscribed(4, 100, now);
        assert!(matches!(t.caught_up(4, now), SubMsg::Progress(4)));
        assert!(matches!(t.heartbeat(9, now), SubMsg::Progress(9)));
        assert_eq!(from_of(&t.subscribe(now)).0, Some(9));
        // A position never goes back.
        t.subscribed(9, 100, now);
        t.heartbeat(3, now);
        assert_eq!(from_of(&t.subscribe(now)).0, Some(9));
    }

    #[test]
    fn a_silent_server_is_noticed_after_ten_heartbeats_unless_it_has_no_credit() {
        let now = Instant::now();
        let mut t = tracker(Some(0), now);
        t.subscribe(now);
        t.subscribed(0, 100, now);
        assert_eq!(t.due(now + 9 * HB), Due::Nothing);
        t.heartbeat(0, now + 5 * HB);
        assert_eq!(t.due(now + 14 * HB), Due::Nothing);
        assert_eq!(t.due(now + 15 * HB), Due::Reconnect);
        assert_eq!(t.next_timer(), Some(now + 15 * HB));
        // The whole window sent and not consumed: silence is expected.
        let all: Vec<Event> = (0..10).map(|p| event(p, "a")).collect();
        assert_eq!(t.events(all, now).0.len(), 10);
        assert_eq!(t.due(now + 100 * HB), Due::Nothing);
        assert_eq!(t.next_timer(), None, "no timer to spin on");
        assert_eq!(t.consumed(10), Some(10));
        let later = Instant::now();
        assert_eq!(
            t.due(later + 5 * HB),
            Due::Nothing,
            "the clock starts again"
        );
        assert_eq!(t.due(later + 11 * HB), Due::Reconnect);
    }

    #[test]
    fn an_unanswered_first_subscribe_is_given_up_after_its_retries() {
        let mut now = Instant::now();
        let mut t = tracker(Some(0), now);
        // One send and two retries.
        for _ in 0..2 {
            t.subscribe(now);
            assert_eq!(t.due(now + TIMEOUT / 2), Due::Nothing);
            now += TIMEOUT;
            let due = t.due(now);
            assert_eq!(due, Due::Reconnect, "not given up too early");
        }
        t.subscribe(now);
        assert_eq!(t.due(now + TIMEOUT), Due::GiveUp);
    }

    #[test]
    fn an_established_subscription_never_gives_up_and_passes_timeouts_and_shutdowns() {
        let now = Instant::now();
        let mut t = tracker(Some(0), now);
        t.subscribe(now);
        t.subscribed(0, 100, now);
        for i in 0..10u32 {
            t.subscribe(now + TIMEOUT * i);
        }
        assert_eq!(t.due(now + TIMEOUT * 11), Due::Reconnect);
        assert_eq!(
            t.ended(Some(ErrorCode::ShuttingDown), now),
            OnError::Resubscribe
        );
        assert!(!t.is_active());
        assert_eq!(t.due(now), Due::Nothing);
        assert_eq!(t.due(now + RESUBSCRIBE_PAUSE), Due::Resubscribe);
        assert_eq!(t.ended(Some(ErrorCode::Timeout), now), OnError::Resubscribe);
        assert_eq!(t.ended(Some(ErrorCode::Storage), now), OnError::Fail);
        let mut fresh = tracker(Some(0), now);
        fresh.subscribe(now);
        assert_eq!(
            fresh.ended(Some(ErrorCode::InvalidArgument), now),
            OnError::Fail,
            "a refused first SUBSCRIBE fails"
        );
    }

    #[test]
    fn a_filter_that_passes_nothing_travels_without_types_and_is_applied_here() {
        let now = Instant::now();
        let none = LogFilter::all()
            .with_stream_prefix("a")
            .with_event_types(Vec::<Vec<u8>>::new());
        let mut t = Tracker::new(Some(0), none, 10, HB, TIMEOUT, 2, now);
        match t.subscribe(now) {
            Request::Subscribe { filter, .. } => {
                assert_eq!(filter, LogFilter::all().with_stream_prefix("a"))
            }
            other => panic!("{other:?}"),
        }
        t.subscribed(0, 100, now);
        let batch: Vec<Event> = (0..6).map(|p| event(p, "a")).collect();
        let (got, grant) = t.events(batch, now);
        assert!(got.is_empty());
        assert_eq!(grant, Some(6), "dropped ones are consumed at once");
        assert_eq!(
            from_of(&t.subscribe(now)),
            (Some(6), 10),
            "and the resume position moves past them"
        );
    }
}
