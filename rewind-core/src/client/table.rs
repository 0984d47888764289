//! The request table of a client's connection (no sockets): every request
//! in flight under its request id, with the time its reply is due and the
//! number of times it was sent. It hands out fresh ids, says which requests
//! have waited too long, and re-keys every request for a resend after a
//! reconnect, so an id is never used twice on one client.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A request in flight.
#[derive(Debug)]
pub(crate) struct Entry<R> {
    /// What was asked, and where its reply goes.
    pub req: R,
    /// When the (next part of the) reply is due.
    pub deadline: Instant,
    /// How many times it has been sent.
    pub sends: u32,
}

/// What [`RequestTable::expire`] found.
#[derive(Debug)]
pub(crate) struct Expired<R> {
    /// Requests past their deadline that may be sent again: the connection
    /// is to be renewed and every request resent.
    pub retry: bool,
    /// Requests past their deadline that were sent as often as allowed,
    /// removed from the table, with how many times they were sent.
    pub failed: Vec<(R, u32)>,
}

/// The requests in flight on one client.
#[derive(Debug)]
pub(crate) struct RequestTable<R> {
    next_id: u64,
    entries: HashMap<u64, Entry<R>>,
    timeout: Duration,
    /// How many times a request may be sent again after its first send.
    retries: u32,
}

impl<R> RequestTable<R> {
    /// An empty table: replies are due `timeout` after a send, and a request
    /// is sent at most `1 + retries` times.
    pub fn new(timeout: Duration, retries: u32) -> RequestTable<R> {
        RequestTable {
            next_id: 1,
            entries: HashMap::new(),
            timeout,
            retries,
        }
    }

    /// A fresh request id (never 0, never handed out before).
    pub fn fresh_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Registers a request about to be sent for the first time; returns
    /// its id.
    pub fn insert(&mut self, req: R, now: Instant) -> u64 {
        let id = self.fresh_id();
        self.entries.insert(
            id,
            Entry {
                req,
                deadline: now + self.timeout,
                sends: 1,
            },
        );
        id
    }

    /// The request with this id, if it is in flight.
    pub fn get_mut(&mut self, id: u64) -> Option<&mut Entry<R>> {
        self.entries.get_mut(&id)
    }

    /// A part of the reply to `id` arrived: the next part is due a timeout
    /// from now.
    pub fn touch(&mut self, id: u64, now: Instant) {
        let timeout = self.timeout;
        if let Some(e) = self.entries.get_mut(&id) {
            e.deadline = now + timeout;
        }
    }

    /// Removes a request (answered, or given up).
    pub fn remove(&mut self, id: u64) -> Option<R> {
        self.entries.remove(&id).map(|e| e.req)
    }

    /// How many requests are in flight.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether request `id` is in flight.
    pub fn contains(&self, id: u64) -> bool {
        self.entries.contains_key(&id)
    }

    /// The earliest deadline, if any request is in flight.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.entries.values().map(|e| e.deadline).min()
    }

    /// Finds the requests past their deadline at `now`: those sent as often
    /// as allowed are removed and returned; whether any other is late says
    /// that the connection should be renewed and everything resent.
    pub fn expire(&mut self, now: Instant) -> Expired<R> {
        let late: Vec<u64> = self
            .entries
            .iter()
            .filter(|(_, e)| e.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        let mut out = Expired {
            retry: false,
            failed: Vec::new(),
        };
        for id in late {
            if self.entries[&id].sends > self.retries {
                let e = self.entries.remove(&id).expect("a late entry");
                out.failed.push((e.req, e.sends));
            } else {
                out.retry = true;
            }
        }
        out
    }

    /// Every request again under a fresh id, for a resend on a new
    /// connection (replies to the old ids, should any still come, match
    /// nothing). Each counts one more send; a request sent as often as
    /// allowed is removed and returned in `.1` instead. Returns the new ids
    /// in the order of the old ones, so requests go out again in the order
    /// they were first sent.
    pub fn rekey_all(&mut self, now: Instant) -> (Vec<u64>, Vec<(R, u32)>) {
        let mut old: Vec<(u64, Entry<R>)> = self.entries.drain().collect();
        old.sort_by_key(|(id, _)| *id);
        let mut ids = Vec::with_capacity(old.len());
        let mut failed = Vec::new();
        for (_, mut e) in old {
            if e.sends > self.retries {
                failed.push((e.req, e.sends));
                continue;
            }
            e.sends += 1;
            e.deadline = now + self.timeout;
            let id = self.fresh_id();
            self.entries.insert(id, e);
            ids.push(id);
        }
        (ids, failed)
    }

    /// Removes every request (the client is closing).
    pub fn drain(&mut self) -> Vec<R> {
        self.entries.drain().map(|(_, e)| e.req).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_millis(100);

    #[test]
    fn ids_are_fresh_and_replies_find_their_request() {
        let now = Instant::now();
        let mut t = RequestTable::new(T, 2);
        let a = t.insert("a", now);
        let b = t.insert("b", now);
        assert_ne!(a, b);
        assert_ne!(a, 0);
        assert_eq!(t.len(), 2);
        assert_eq!(t.get_mut(b).map(|e| e.req), Some("b"));
        assert_eq!(t.remove(a), Some("a"));
        assert_eq!(t.remove(a), None, "a reply comes once");
        assert!(t.get_mut(12345).is_none());
    }

    #[test]
    fn nothing_expires_before_its_deadline_and_a_touch_moves_it() {
        let now = Instant::now();
        let mut t = RequestTable::new(T, 0);
        let a = t.insert("a", now);
        assert_eq!(t.next_deadline(), Some(now + T));
        let e = t.expire(now + T / 2);
        assert!(!e.retry && e.failed.is_empty());
        t.touch(a, now + T / 2);
        assert_eq!(t.next_deadline(), Some(now + T / 2 + T));
        assert!(t.expire(now + T).failed.is_empty());
        let e = t.expire(now + 2 * T);
        assert_eq!(e.failed, vec![("a", 1)], "no retries allowed");
        assert_eq!(t.len(), 0);
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn a_late_request_is_resent_under_a_new_id_until_its_retries_run_out() {
        let mut now = Instant::now();
        let mut t = RequestTable::new(T, 2);
        let first = t.insert("append", now);
        let other = t.insert("read", now + T / 2);
        let mut sends = 1;
        let mut ids = vec![first];
        loop {
            now += T;
            let e = t.expire(now);
            if !e.failed.is_empty() {
                // Resent together, the two are due together.
                let mut failed = e.failed;
                failed.sort();
                assert_eq!(failed, vec![("append", 3), ("read", 3)]);
                break;
            }
            assert!(e.retry);
            let (new, failed) = t.rekey_all(now);
            assert!(failed.is_empty());
            sends += 1;
            // Resent in the order first sent: "append" first.
            assert_eq!(new.len(), 2);
            assert_eq!(t.get_mut(new[0]).unwrap().req, "append");
            assert_eq!(t.get_mut(new[0]).unwrap().sends, sends);
            assert!(!ids.contains(&new[0]) && new[0] != other);
            assert!(
                t.get_mut(ids[ids.len() - 1]).is_none(),
                "the old id is gone"
            );
            ids.push(new[0]);
        }
        assert_eq!(sends, 3, "one send and two retries");
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn a_resend_drops_requests_that_used_their_sends() {
        let now = Instant::now();
        let mut t = RequestTable::new(T, 1);
        t.insert("x", now);
        let (ids, failed) = t.rekey_all(now);
        assert_eq!((ids.len(), failed.len()), (1, 0));
        let (ids, failed) = t.rekey_all(now);
        assert_eq!((ids.len(), failed), (0, vec![("x", 2)]));
        t.insert("y", now);
        assert_eq!(t.drain(), vec!["y"]);
    }
}
