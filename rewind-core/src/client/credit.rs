//! The credit window of one remote subscription (pure arithmetic, no
//! sockets): how much credit to give the server when a subscription starts
//! or starts again, and when to give more as the caller consumes events.
//!
//! The window bounds the events on their way to the caller: those the
//! server may still send (its credit) plus those received and not yet
//! handed out. Credit goes back in steps of at least half the window, so
//! a steady subscriber sends one `CREDIT` per half window of events.

/// The credit accounting of one subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CreditWindow {
    window: u64,
    /// Credit given to the server's current subscription, in all.
    granted: u64,
    /// Events the server's current subscription has sent.
    received: u64,
    /// Events received (from any subscription so far) that the caller has
    /// not consumed yet.
    buffered: u64,
}

impl CreditWindow {
    /// A window of `window` events (at least 1).
    pub fn new(window: u64) -> CreditWindow {
        CreditWindow {
            window: window.max(1),
            granted: 0,
            received: 0,
            buffered: 0,
        }
    }

    /// The initial credit of a (new or renewed) server subscription: the
    /// window less what the caller still has to consume. Forgets the
    /// credit of the subscription before, which is gone with it.
    pub fn start(&mut self) -> u64 {
        self.granted = self.window.saturating_sub(self.buffered);
        self.received = 0;
        self.granted
    }

    /// The server sent `n` events.
    pub fn received(&mut self, n: u64) {
        self.received += n;
        self.buffered += n;
    }

    /// The caller consumed `n` events; returns the credit to give now, if
    /// any.
    pub fn consumed(&mut self, n: u64) -> Option<u64> {
        self.buffered = self.buffered.saturating_sub(n);
        let outstanding = self.granted.saturating_sub(self.received);
        let room = self
            .window
            .saturating_sub(self.buffered)
            .saturating_sub(outstanding);
        if room > 0 && room >= self.window.div_ceil(2) {
            self.granted += room;
            Some(room)
        } else {
            None
        }
    }

    /// Whether the server has no credit left: its silence then says nothing
    /// about whether it is alive.
    pub fn exhausted(&self) -> bool {
        self.received >= self.granted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credit_comes_back_in_half_windows_as_events_are_consumed() {
        let mut c = CreditWindow::new(100);
        assert_eq!(c.start(), 100);
        c.received(60);
        assert_eq!(c.consumed(30), None, "40 outstanding + 30 buffered");
        assert_eq!(c.consumed(30), Some(60), "the window is full again");
        c.received(100);
        assert!(c.exhausted());
        assert_eq!(c.consumed(49), None);
        assert_eq!(c.consumed(1), Some(50));
        assert!(!c.exhausted());
    }

    #[test]
    fn the_window_bounds_what_is_on_the_way() {
        let mut c = CreditWindow::new(10);
        c.start();
        let mut on_the_way = 0u64;
        let mut given = 10u64;
        // The server sends all it may; the caller takes one at a time.
        for _ in 0..1000 {
            let n = given;
            c.received(n);
            on_the_way += n;
            given = 0;
            assert!(on_the_way <= 10);
            on_the_way -= 1;
            given += c.consumed(1).unwrap_or(0);
            assert!(on_the_way + given <= 10);
        }
    }

    #[test]
    fn a_new_subscription_starts_with_the_window_less_what_is_buffered() {
        let mut c = CreditWindow::new(10);
        c.start();
        c.received(8);
        assert_eq!(c.start(), 2, "8 still to be consumed");
        assert_eq!(c.consumed(8), Some(8));
        c.received(10);
        assert_eq!(c.start(), 0, "the whole window is buffered");
        assert!(c.exhausted());
        assert_eq!(c.consumed(10), Some(10));
    }
}
