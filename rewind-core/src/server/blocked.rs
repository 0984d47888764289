//! Peers blocked at the high-water mark, and when the event loop retries
//! them.
//!
//! A ROUTER socket is writable (POLLOUT) when any peer's pipe has room.
//! While retries move messages, a blocked peer's pipe is draining and
//! POLLOUT tells when; once a retry moves nothing, the room was another
//! peer's, and blocked peers are retried on a timer instead, so the loop
//! neither spins nor sleeps. Also here: how long the loop's poll may wait.
//!
//! Plain bookkeeping of peer keys and instants: no sockets, no peers' state.

use std::time::{Duration, Instant};

use super::peer::PeerKey;

/// How often peers blocked at the high-water mark are retried when POLLOUT
/// cannot tell that their pipe drained.
pub(super) const BLOCKED_RETRY: Duration = Duration::from_millis(2);

/// The peers waiting for their pipe to drain, per request socket.
pub(super) struct BlockedPeers {
    lists: [Vec<PeerKey>; super::sockets::COUNT],
    /// Whether blocked peers wait for POLLOUT (else for the timer).
    pollout: bool,
    /// When blocked peers were last retried.
    last_retry: Instant,
}

impl BlockedPeers {
    pub fn new(now: Instant) -> BlockedPeers {
        BlockedPeers {
            lists: Default::default(),
            pollout: true,
            last_retry: now,
        }
    }

    /// Lists a peer whose pipe on request socket `i` is full.
    pub fn push(&mut self, i: usize, key: PeerKey) {
        self.lists[i].push(key);
    }

    /// Whether the poll should watch request socket `i` for POLLOUT.
    pub fn wants_pollout(&self, i: usize) -> bool {
        self.pollout && !self.lists[i].is_empty()
    }

    /// Whether some peer is blocked and only the timer will retry it.
    pub fn on_timer(&self) -> bool {
        !self.pollout && self.lists.iter().any(|b| !b.is_empty())
    }

    /// How long until the timer retry is due.
    pub fn retry_in(&self, now: Instant) -> Duration {
        BLOCKED_RETRY.saturating_sub(now.saturating_duration_since(self.last_retry))
    }

    /// Whether the peers blocked on socket `i` are retried now: it has
    /// some, and it is writable or (when `on_timer`) the timer is due.
    pub fn due(&self, i: usize, writable: bool, on_timer: bool) -> bool {
        !self.lists[i].is_empty()
            && (writable || (on_timer && self.last_retry.elapsed() >= BLOCKED_RETRY))
    }

    /// Takes the peers blocked on socket `i` for a retry.
    pub fn take(&mut self, i: usize) -> Vec<PeerKey> {
        std::mem::take(&mut self.lists[i])
    }

    /// After a retry at `now`: POLLOUT tells again only if it moved messages.
    pub fn retried(&mut self, moved: bool, now: Instant) {
        self.pollout = moved;
        self.last_retry = now;
    }
}

/// How long the poll may wait, in milliseconds (-1: until a socket is
/// ready): not at all when peers wait for another turn, until the retry
/// timer when it runs, a while when stopping (to see the appends in flight
/// finish), else for ever.
pub(super) fn poll_timeout(runnable: bool, retry_in: Option<Duration>, stopping: bool) -> i64 {
    if runnable {
        0
    } else if let Some(left) = retry_in {
        left.as_millis() as i64
    } else if stopping {
        100
    } else {
        -1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Protocol;

    fn key(id: &str) -> PeerKey {
        PeerKey {
            proto: Protocol::V2,
            id: id.as_bytes().to_vec(),
        }
    }

    #[test]
    fn blocked_peers_wait_for_pollout_while_retries_move_messages() {
        let t0 = Instant::now();
        let mut b = BlockedPeers::new(t0);
        assert!(!b.wants_pollout(1) && !b.on_timer());
        assert!(!b.due(1, true, false), "nobody to retry");
        b.push(1, key("a"));
        b.push(1, key("b"));
        assert!(b.wants_pollout(1));
        assert!(!b.wants_pollout(0));
        assert!(!b.on_timer());
        assert!(b.due(1, true, false));
        assert!(!b.due(1, false, false));
        assert_eq!(b.take(1), vec![key("a"), key("b")]);
        assert!(!b.due(1, true, false));
        b.retried(true, t0);
        b.push(1, key("a"));
        assert!(b.wants_pollout(1) && !b.on_timer());
    }

    #[test]
    fn a_retry_that_moves_nothing_switches_to_the_timer() {
        let t0 = Instant::now();
        let mut b = BlockedPeers::new(t0);
        b.push(0, key("a"));
        let _ = b.take(0);
        b.push(0, key("a"));
        b.retried(false, t0);
        assert!(!b.wants_pollout(0), "POLLOUT would spin");
        assert!(b.on_timer());
        assert_eq!(b.retry_in(t0), BLOCKED_RETRY);
        assert_eq!(
            b.retry_in(t0 + Duration::from_millis(1)),
            Duration::from_millis(1)
        );
        assert_eq!(b.retry_in(t0 + Duration::from_secs(1)), Duration::ZERO);
        // The timer is measured from the last retry.
        let mut recent = BlockedPeers::new(Instant::now());
        recent.push(0, key("a"));
        recent.retried(false, Instant::now() + Duration::from_secs(60));
        assert!(!recent.due(0, false, true));
        recent.retried(false, Instant::now() - BLOCKED_RETRY);
        assert!(recent.due(0, false, true));
        assert!(!recent.due(0, false, false), "not when POLLOUT is watched");
        assert!(!recent.due(1, false, true), "nobody blocked on socket 1");
        // A retry that moves messages goes back to POLLOUT.
        recent.retried(true, Instant::now());
        assert!(!recent.on_timer() && recent.wants_pollout(0));
    }

    #[test]
    fn the_poll_waits_only_as_long_as_nothing_is_due() {
        let ms = Duration::from_millis;
        assert_eq!(poll_timeout(true, Some(ms(2)), true), 0);
        assert_eq!(poll_timeout(false, Some(ms(2)), true), 2);
        assert_eq!(poll_timeout(false, Some(Duration::ZERO), false), 0);
        assert_eq!(poll_timeout(false, None, true), 100);
        assert_eq!(poll_timeout(false, None, false), -1);
    }
}
