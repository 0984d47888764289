//! Native `READ_STREAM` and `READ_LOG`: a read's cursor, fixed when the
//! request arrives, and its turns: batches read straight from the store's
//! borrowed records, sent as `EVENTS` messages (the batch handed to ZeroMQ
//! without a copy), pausing when the client's pipe is full and going on
//! where it stopped, until `END` (or `ERROR` when the store fails).
//!
//! The read is a slot of its peer's queue ([`Slot::NativeRead`]); the pump
//! gives it turns. Nothing here changes the queue.
//!
//! [`Slot::NativeRead`]: crate::server::peer::Slot::NativeRead

use super::batcher::{Batcher, Ready};
use crate::protocol::native::{self, Direction, ErrorReply, FROM_LAST, MAX_BATCH_EVENTS};
use crate::server::pump::{Outlet, Sent};
use crate::{EventRef, LogFilter, Result, Store};

/// The most log positions one turn of a backward filtered read examines.
const BACKWARD_SCAN: usize = 4096;

/// Where a read stands.
#[derive(Debug)]
enum Cursor {
    /// Versions `next..end` of `stream`.
    StreamForward {
        stream: Vec<u8>,
        next: u64,
        end: u64,
    },
    /// Versions `next` down to 0 of `stream` (`None`: done).
    StreamBackward { stream: Vec<u8>, next: Option<u64> },
    /// Positions `next..end` of the log.
    LogForward {
        next: u64,
        end: u64,
        filter: LogFilter,
    },
    /// Positions `next` down to 0 of the log (`None`: done).
    LogBackward {
        next: Option<u64>,
        filter: LogFilter,
    },
}

/// A read being streamed to its client.
#[derive(Debug)]
pub(in crate::server) struct NativeRead {
    request_id: u64,
    cursor: Cursor,
    /// Events still to send (the limit, less what has been read).
    left: u64,
    /// Events sent so far.
    sent: u64,
    batcher: Batcher,
    /// A batch read and not yet sent (the pipe was full).
    ready: Option<Ready>,
}

/// Reads are compared by identity (the peer's slots are compared in tests).
impl PartialEq for NativeRead {
    fn eq(&self, other: &NativeRead) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for NativeRead {}

/// What one turn of a read came to.
#[derive(Debug, PartialEq, Eq)]
pub(in crate::server) enum ReadTurn {
    /// The read is over: this message (`END` or `ERROR`) ends it.
    Done(Vec<Vec<u8>>),
    /// The budget is spent with events left: other peers get a turn.
    OutOfBudget,
    /// The peer's pipe is full: go on when it drains.
    Blocked,
    /// The peer's connection is gone.
    Gone,
}

fn limit_of(limit: u64) -> u64 {
    if limit == 0 {
        u64::MAX
    } else {
        limit
    }
}

impl NativeRead {
    /// A `READ_STREAM` of the stream as it is now: forward up to its last
    /// event now, backward from `from` (or the last event) down.
    pub fn stream(
        store: &Store,
        request_id: u64,
        stream: Vec<u8>,
        direction: Direction,
        from: u64,
        limit: u64,
    ) -> Result<NativeRead> {
        let len = store.stream_head(&stream)?.map_or(0, |h| h.version + 1);
        let cursor = match direction {
            Direction::Forward => Cursor::StreamForward {
                stream,
                next: from,
                end: len,
            },
            Direction::Backward => Cursor::StreamBackward {
                stream,
                next: crate::backend::backward_start((from != FROM_LAST).then_some(from), len),
            },
        };
        Ok(NativeRead::new(request_id, cursor, limit))
    }

    /// A `READ_LOG` of the log as it is now.
    pub fn log(
        store: &Store,
        request_id: u64,
        direction: Direction,
        from: u64,
        limit: u64,
        filter: LogFilter,
    ) -> Result<NativeRead> {
        let end = store.next_position()?;
        let cursor = match direction {
            Direction::Forward => Cursor::LogForward {
                next: from,
                end,
                filter,
            },
            Direction::Backward => Cursor::LogBackward {
                next: crate::backend::backward_start((from != FROM_LAST).then_some(from), end),
                filter,
            },
        };
        Ok(NativeRead::new(request_id, cursor, limit))
    }

    fn new(request_id: u64, cursor: Cursor, limit: u64) -> NativeRead {
        NativeRead {
            request_id,
            cursor,
            left: limit_of(limit),
            sent: 0,
            batcher: Batcher::new(),
            ready: None,
        }
    }

    /// Whether the store has nothing more for this read.
    fn exhausted(&self) -> bool {
        self.left == 0
            || match &self.cursor {
                Cursor::StreamForward { next, end, .. } | Cursor::LogForward { next, end, .. } => {
                    next >= end
                }
                Cursor::StreamBackward { next, .. } | Cursor::LogBackward { next, .. } => {
                    next.is_none()
                }
            }
    }

    /// Sends batches to the peer behind `envelope`, at most `budget`
    /// events' worth of reading (counted down), counting messages in `sent`.
    pub fn turn<O: Outlet>(
        &mut self,
        store: &Store,
        out: &O,
        envelope: &[Vec<u8>],
        budget: &mut usize,
        sent: &mut u64,
    ) -> ReadTurn {
        let id = self.request_id.to_be_bytes();
        let head: [&[u8]; 3] = [native::TAG, &id, b"EVENTS"];
        loop {
            if let Some(mut ready) = self.ready.take() {
                match out.send_owned(envelope, &head, &mut ready.body) {
                    Sent::Yes => {
                        *sent += 1;
                        self.sent += ready.events;
                    }
                    Sent::WouldBlock => {
                        self.ready = Some(ready);
                        return ReadTurn::Blocked;
                    }
                    Sent::Gone => return ReadTurn::Gone,
                }
            }
            if self.exhausted() {
                match self.batcher.take() {
                    Some(r) => {
                        self.ready = Some(r);
                        continue;
                    }
                    None => {
                        return ReadTurn::Done(
                            native::encode_reply(
                                self.request_id,
                                &native::Reply::End { count: self.sent },
                            )
                            .unwrap_or_default(),
                        )
                    }
                }
            }
            if *budget == 0 {
                return ReadTurn::OutOfBudget;
            }
            match self.read_some(store) {
                Ok(examined) => *budget = budget.saturating_sub(examined.max(1)),
                Err(e) => {
                    return ReadTurn::Done(native::encode_error(
                        self.request_id,
                        &ErrorReply::from_error(&e),
                    ))
                }
            }
            if self.batcher.has_complete_batch() {
                self.ready = self.batcher.take();
            }
        }
    }

    /// The reply that ends the read when the server stops before it is done.
    pub fn shutting_down(&self) -> Vec<Vec<u8>> {
        native::encode_error(
            self.request_id,
            &ErrorReply::new(
                native::ErrorCode::ShuttingDown,
                "the server is shutting down",
            ),
        )
    }

    /// Reads up to one batch into the batcher; returns how many events the
    /// store visited.
    fn read_some(&mut self, store: &Store) -> Result<usize> {
        let room = MAX_BATCH_EVENTS.saturating_sub(self.batcher.held()).max(1);
        let want = usize::try_from(self.left).map_or(room, |l| l.min(room));
        let batcher = &mut self.batcher;
        let mut taken = 0u64;
        let mut examined = 0usize;
        let mut stopped = false;
        let mut offer = |e: &EventRef<'_>| {
            taken += 1;
            let go = batcher.offer(e);
            stopped |= !go;
            go
        };
        match &mut self.cursor {
            Cursor::StreamForward { stream, next, end } => {
                let want = usize::try_from(*end - *next).map_or(want, |n| n.min(want));
                store.read_stream(stream, *next, want, |e| {
                    examined += 1;
                    *next = e.version + 1;
                    offer(&e)
                })?;
                if examined < want && !stopped {
                    // The stream ended early (it cannot shrink): done.
                    *next = *end;
                }
            }
            Cursor::StreamBackward { stream, next } => {
                let Some(from) = *next else { return Ok(0) };
                store.read_stream_backward(stream, Some(from), want, |e| {
                    examined += 1;
                    *next = e.version.checked_sub(1);
                    offer(&e)
                })?;
                if examined == 0 {
                    *next = None;
                }
            }
            Cursor::LogForward { next, end, filter } => {
                let before = *next;
                *next = store.scan_log(*next, *end, want, filter, &mut |e| offer(&e))?;
                examined = usize::try_from(*next - before).unwrap_or(usize::MAX);
                if *next == before {
                    *next = *end;
                }
            }
            Cursor::LogBackward { next, filter } => {
                let Some(from) = *next else { return Ok(0) };
                let all = filter.passes_all();
                let chunk = if all { want } else { BACKWARD_SCAN };
                let mut matched = 0usize;
                store.read_log_backward(Some(from), chunk, |e| {
                    examined += 1;
                    *next = e.position.checked_sub(1);
                    if all || filter.matches(&e) {
                        matched += 1;
                        return offer(&e) && matched < want;
                    }
                    true
                })?;
                if examined == 0 {
                    *next = None;
                }
            }
        }
        self.left = self.left.saturating_sub(taken);
        Ok(examined)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::protocol::native::{decode_reply, Reply};
    use crate::server::query::tests::FakeOutlet;
    use crate::{ExpectedVersion, NewEvent};

    /// A store with `n` events alternating between streams `a` and `b`,
    /// typed `t0`/`t1` by position parity, with data `d<position>`.
    fn store(n: u64) -> Store {
        let store = Store::in_memory();
        for p in 0..n {
            let s = if p % 2 == 0 { "a" } else { "b" };
            let e = NewEvent::new(format!("d{p}")).with_type(format!("t{}", p % 3));
            store
                .append(s.as_bytes(), vec![e], ExpectedVersion::Any)
                .unwrap();
        }
        store
    }

    /// Runs the read to its end with room for `room` messages at a time;
    /// returns the positions sent, the batch sizes and the last message.
    fn run(store: &Store, mut read: NativeRead, room: usize) -> (Vec<u64>, Vec<usize>, Reply) {
        let out = FakeOutlet::with_room(room);
        let (mut positions, mut sizes) = (Vec::new(), Vec::new());
        let mut sent = 0;
        loop {
            let mut budget = 700;
            let turn = read.turn(store, &out, &[b"peer".to_vec()], &mut budget, &mut sent);
            for m in out.take() {
                let (id, reply) = decode_reply(&m[1..]).unwrap();
                assert_eq!(id, 7);
                let Reply::Events(events) = reply else {
                    panic!("{reply:?}")
                };
                sizes.push(events.len());
                positions.extend(events.iter().map(|e| e.position));
            }
            match turn {
                ReadTurn::Done(last) => {
                    return (positions, sizes, decode_reply(&last).unwrap().1);
                }
                ReadTurn::Blocked => out.room.set(room),
                ReadTurn::OutOfBudget => {}
                ReadTurn::Gone => panic!("gone"),
            }
        }
    }

    #[test]
    fn a_forward_log_read_larger_than_a_batch_arrives_whole_through_a_full_pipe() {
        let s = store(2500);
        let read = NativeRead::log(&s, 7, Direction::Forward, 0, 0, LogFilter::all()).unwrap();
        let (positions, sizes, last) = run(&s, read, 1);
        assert_eq!(positions, (0..2500).collect::<Vec<_>>());
        assert_eq!(sizes, vec![1000, 1000, 500]);
        assert_eq!(last, Reply::End { count: 2500 });
    }

    #[test]
    fn log_reads_filter_and_limit_both_ways() {
        let s = store(30);
        let f = LogFilter::all()
            .with_stream_prefix("b")
            .with_event_type("t0");
        let read = NativeRead::log(&s, 7, Direction::Forward, 4, 3, f.clone()).unwrap();
        // b: odd positions; t0: multiples of 3 → 9, 15, 21, 27
        let (positions, _, last) = run(&s, read, 100);
        assert_eq!(positions, vec![9, 15, 21]);
        assert_eq!(last, Reply::End { count: 3 });
        let read = NativeRead::log(&s, 7, Direction::Backward, FROM_LAST, 0, f.clone()).unwrap();
        assert_eq!(run(&s, read, 100).0, vec![27, 21, 15, 9, 3]);
        let read = NativeRead::log(&s, 7, Direction::Backward, 20, 2, f).unwrap();
        assert_eq!(run(&s, read, 100).0, vec![15, 9]);
        let read = NativeRead::log(&s, 7, Direction::Backward, 2, 0, LogFilter::all()).unwrap();
        assert_eq!(run(&s, read, 100).0, vec![2, 1, 0]);
        // Past the end: nothing forward, everything backward.
        let read = NativeRead::log(&s, 7, Direction::Forward, 99, 0, LogFilter::all()).unwrap();
        assert_eq!(run(&s, read, 100).2, Reply::End { count: 0 });
    }

    #[test]
    fn stream_reads_go_both_ways_and_stop_at_the_stream_as_it_was() {
        let s = store(10);
        let read = NativeRead::stream(&s, 7, b"a".to_vec(), Direction::Forward, 1, 0).unwrap();
        // The read is fixed now: a later event is not part of it.
        s.append(b"a", vec![NewEvent::new("late")], ExpectedVersion::Any)
            .unwrap();
        assert_eq!(run(&s, read, 100).0, vec![2, 4, 6, 8]);
        let read =
            NativeRead::stream(&s, 7, b"a".to_vec(), Direction::Backward, FROM_LAST, 2).unwrap();
        assert_eq!(run(&s, read, 100).0, vec![10, 8]);
        let read = NativeRead::stream(&s, 7, b"a".to_vec(), Direction::Backward, 1, 0).unwrap();
        assert_eq!(run(&s, read, 100).0, vec![2, 0]);
        let read = NativeRead::stream(&s, 7, b"zz".to_vec(), Direction::Backward, 5, 0).unwrap();
        assert_eq!(run(&s, read, 100).2, Reply::End { count: 0 });
    }

    /// A backend whose reads fail (its log claims five events).
    pub(in crate::server) struct Failing;

    impl crate::Backend for Failing {
        fn append_batch(
            &self,
            _: &[crate::backend::AppendRequest],
        ) -> Result<Vec<Result<crate::backend::AppendOutcome>>> {
            Err(crate::Error::Storage("broken".into()))
        }
        fn read_log(&self, _: u64, _: usize, _: &mut crate::backend::Visitor<'_>) -> Result<()> {
            Err(crate::Error::Storage("broken".into()))
        }
        fn read_stream(
            &self,
            _: &[u8],
            _: u64,
            _: usize,
            _: &mut crate::backend::Visitor<'_>,
        ) -> Result<()> {
            Err(crate::Error::Storage("broken".into()))
        }
        fn get(&self, _: &[u8], _: &mut crate::backend::Visitor<'_>) -> Result<bool> {
            Err(crate::Error::Storage("broken".into()))
        }
        fn stream_head(&self, _: &[u8]) -> Result<Option<crate::StreamHead>> {
            Err(crate::Error::Storage("broken".into()))
        }
        fn next_position(&self) -> Result<u64> {
            Ok(5)
        }
    }

    #[test]
    fn a_failing_store_ends_the_read_with_an_error() {
        let s = Store::from_backend(std::sync::Arc::new(Failing));
        let read = NativeRead::log(&s, 7, Direction::Forward, 0, 0, LogFilter::all()).unwrap();
        let out = FakeOutlet::with_room(10);
        let mut read = read;
        let turn = read.turn(&s, &out, &[], &mut 100, &mut 0);
        let ReadTurn::Done(last) = turn else {
            panic!("{turn:?}")
        };
        let Reply::Error(e) = decode_reply(&last).unwrap().1 else {
            panic!()
        };
        assert_eq!(e.code, native::ErrorCode::Storage);
        assert!(out.take().is_empty());
    }
}
