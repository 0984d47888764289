//! Reading the log, or one stream, from a place on, again and again: what
//! `cat`, `tail` and `--follow` are made of. Each read is a transaction of
//! its own, so a cursor sees what a server committed since the last one.

use crate::backend::Backend;
use crate::{EventRef, Result};

/// A place in the log (a position) or in a stream (a version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    stream: Option<Vec<u8>>,
    next: u64,
}

impl Cursor {
    /// The log from `position` on.
    pub fn log(position: u64) -> Cursor {
        Cursor {
            stream: None,
            next: position,
        }
    }

    /// `stream` from `version` on.
    pub fn stream(stream: impl Into<Vec<u8>>, version: u64) -> Cursor {
        Cursor {
            stream: Some(stream.into()),
            next: version,
        }
    }

    /// The last `n` events of the log (`stream` `None`) or of a stream.
    pub fn last(backend: &dyn Backend, stream: Option<&[u8]>, n: u64) -> Result<Cursor> {
        Ok(match stream {
            None => Cursor::log(backend.next_position()?.saturating_sub(n)),
            Some(s) => {
                let end = backend.stream_head(s)?.map_or(0, |h| h.version + 1);
                Cursor::stream(s, end.saturating_sub(n))
            }
        })
    }

    /// The position (or version) of the next event to read.
    pub fn next(&self) -> u64 {
        self.next
    }

    /// Visits up to `limit` events from the cursor on, and moves past them;
    /// `visit` returns `false` to stop after the event it was given.
    /// Returns how many events were visited (0: nothing new yet).
    pub fn read(
        &mut self,
        backend: &dyn Backend,
        limit: usize,
        mut visit: impl FnMut(EventRef<'_>) -> bool,
    ) -> Result<usize> {
        let mut n = 0;
        let from = self.next;
        let next = &mut self.next;
        let mut step = |e: EventRef<'_>, place: u64| {
            *next = place + 1;
            n += 1;
            visit(e)
        };
        match &self.stream {
            None => backend.read_log(from, limit, &mut |e| step(e, e.position))?,
            Some(s) => backend.read_stream(s, from, limit, &mut |e| step(e, e.version))?,
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryBackend;
    use crate::{ExpectedVersion, NewEvent, Store};
    use std::sync::Arc;

    #[test]
    fn a_cursor_reads_on_from_where_it_stopped_and_sees_new_events() {
        let backend = Arc::new(MemoryBackend::new());
        let store = Store::from_backend(backend.clone());
        for i in 0..5u8 {
            let s: &[u8] = if i % 2 == 0 { b"even" } else { b"odd" };
            store
                .append(s, vec![NewEvent::new(vec![i])], ExpectedVersion::Any)
                .unwrap();
        }
        let collect = |c: &mut Cursor, limit| {
            let mut out = Vec::new();
            c.read(&*backend, limit, |e| {
                out.push(e.data[0]);
                true
            })
            .unwrap();
            out
        };
        let mut log = Cursor::log(1);
        assert_eq!(collect(&mut log, 2), [1, 2]);
        assert_eq!(collect(&mut log, 10), [3, 4]);
        assert!(collect(&mut log, 10).is_empty());
        let mut even = Cursor::stream(&b"even"[..], 1);
        assert_eq!(collect(&mut even, 10), [2, 4]);
        store
            .append(b"even", vec![NewEvent::new(vec![5])], ExpectedVersion::Any)
            .unwrap();
        assert_eq!(collect(&mut log, 10), [5]);
        assert_eq!(collect(&mut even, 10), [5]);
        assert_eq!((log.next(), even.next()), (6, 4));

        let mut last = Cursor::last(&*backend, None, 2).unwrap();
        assert_eq!(collect(&mut last, 10), [4, 5]);
        let mut last = Cursor::last(&*backend, Some(b"odd"), 10).unwrap();
        assert_eq!(collect(&mut last, 10), [1, 3]);
        let mut none = Cursor::last(&*backend, Some(b"none"), 10).unwrap();
        assert!(collect(&mut none, 10).is_empty());
        // a visitor that stops still moves the cursor past its event
        let mut c = Cursor::log(0);
        assert_eq!(c.read(&*backend, 10, |_| false).unwrap(), 1);
        assert_eq!(c.next(), 1);
    }
}
