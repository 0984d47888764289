//! Cutting a run of events into native `EVENTS` batches: at most 1,000
//! events and, unless one event alone is larger, at most 1 MiB each.
//!
//! The store hands events to a visitor one at a time, and an event that a
//! scan has visited counts as read; so an event that does not fit in the
//! batch being built is not refused but kept, encoded, as the start of the
//! next batch (the spill). Every event offered is encoded once, straight
//! from the store's borrowed record, and its batch is later handed to
//! ZeroMQ without another copy.

use crate::protocol::native::{BatchEncoder, MAX_BATCH_EVENTS};
use crate::EventRef;

/// An encoded batch ready to send, with its event count.
#[derive(Debug)]
pub(in crate::server) struct Ready {
    pub body: Vec<u8>,
    pub events: u64,
}

/// The batch being built and, when the last event offered did not fit, the
/// next one (holding that event).
#[derive(Debug, Default)]
pub(in crate::server) struct Batcher {
    current: BatchEncoder,
    /// The position of the first event in `current`.
    first_position: Option<u64>,
    spill: Option<(BatchEncoder, u64)>,
}

impl Batcher {
    pub fn new() -> Batcher {
        Batcher {
            current: BatchEncoder::new(),
            first_position: None,
            spill: None,
        }
    }

    /// Events encoded and not yet taken (the spill included).
    pub fn held(&self) -> usize {
        self.current.len() + self.spill.as_ref().map_or(0, |(b, _)| b.len())
    }

    /// The position of the first event held, if any: everything the
    /// reader passed below it has been taken.
    pub fn first_held_position(&self) -> Option<u64> {
        self.first_position
            .or_else(|| self.spill.as_ref().map(|(_, p)| *p))
    }

    /// Whether a batch is complete: full, or followed by a spilled event.
    pub fn has_complete_batch(&self) -> bool {
        self.spill.is_some() || self.current.len() >= MAX_BATCH_EVENTS
    }

    /// Adds `e`; returns `false` once a batch is complete (the reader
    /// should stop and send it).
    ///
    /// An event whose fields are too long for the encoding (which a store
    /// never holds) is logged and skipped.
    pub fn offer(&mut self, e: &EventRef<'_>) -> bool {
        debug_assert!(self.spill.is_none(), "offer after a complete batch");
        if self.current.has_room_for(e) {
            if let Err(err) = self.current.push(e) {
                log::error!("event at position {} not sent: {err}", e.position);
            } else if self.first_position.is_none() {
                self.first_position = Some(e.position);
            }
            return self.current.len() < MAX_BATCH_EVENTS;
        }
        let mut next = BatchEncoder::new();
        match next.push(e) {
            Ok(()) => self.spill = Some((next, e.position)),
            Err(err) => log::error!("event at position {} not sent: {err}", e.position),
        }
        false
    }

    /// Takes the batch built so far (none when it is empty); a spilled
    /// event starts the next one.
    pub fn take(&mut self) -> Option<Ready> {
        if self.current.is_empty() {
            return None;
        }
        let events = self.current.len() as u64;
        let body = self.current.take();
        self.first_position = None;
        if let Some((spill, position)) = self.spill.take() {
            self.current = spill;
            self.first_position = Some(position);
        }
        Some(Ready { body, events })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::native::{decode_batch, MAX_BATCH_BYTES};

    fn event(position: u64, data: &[u8]) -> EventRef<'_> {
        EventRef {
            id: b"i",
            event_type: b"",
            metadata: b"",
            data,
            stream: b"s",
            version: position,
            position,
        }
    }

    #[test]
    fn a_thousand_events_make_a_batch() {
        let mut b = Batcher::new();
        for p in 0..999 {
            assert!(b.offer(&event(p, b"d")));
        }
        assert!(!b.has_complete_batch());
        assert!(!b.offer(&event(999, b"d")), "the thousandth completes it");
        assert!(b.has_complete_batch());
        assert_eq!(b.first_held_position(), Some(0));
        let r = b.take().unwrap();
        assert_eq!(r.events, 1000);
        assert_eq!(decode_batch(&r.body).unwrap().len(), 1000);
        assert!(b.take().is_none());
        assert_eq!((b.held(), b.first_held_position()), (0, None));
    }

    #[test]
    fn an_event_that_does_not_fit_starts_the_next_batch() {
        let half = vec![7u8; MAX_BATCH_BYTES / 2];
        let mut b = Batcher::new();
        assert!(b.offer(&event(3, &half)));
        assert!(
            !b.offer(&event(4, &half)),
            "two halves and headers pass 1 MiB"
        );
        assert_eq!(b.held(), 2);
        let first = b.take().unwrap();
        assert_eq!(first.events, 1);
        assert!(first.body.len() <= MAX_BATCH_BYTES);
        assert_eq!(decode_batch(&first.body).unwrap()[0].position, 3);
        assert_eq!(b.first_held_position(), Some(4));
        let second = b.take().unwrap();
        assert_eq!(decode_batch(&second.body).unwrap()[0].position, 4);
        // One event larger than 1 MiB is a batch of its own.
        let big = vec![0u8; MAX_BATCH_BYTES + 1];
        let mut b = Batcher::new();
        assert!(b.offer(&event(9, &big)));
        assert_eq!(b.take().unwrap().events, 1);
    }
}
