//! Answering queries: fixing a query's range when it reaches the head of
//! its peer's queue, the v1 reply (one message of at most
//! [`V1_QUERY_CAP`] events, with `END` only when the range is exhausted),
//! and the v2 reply streamed one event message at a time, a budget at a
//! time, pausing when the peer's pipe is full.
//!
//! Reads the store and sends through an [`Outlet`]; the peer's queue of
//! slots is the pump's to change, not this module's.

use std::ops::Range;

use super::peer::Slot;
use super::pump::{Outlet, Sent};
use crate::protocol::{self, Protocol, V1_QUERY_CAP};
use crate::Store;

/// The reply slot of a query whose range is fixed now: v1 gets its whole
/// reply, v2 a stream to send; a bad range is an error reply.
pub(super) fn resolve(
    store: &Store,
    proto: Protocol,
    stream: &mut Vec<u8>,
    from: Option<&[u8]>,
    to: Option<&[u8]>,
) -> Slot {
    match (store.resolve_range(stream, from, to), proto) {
        (Err(e), _) => Slot::error(&e.to_string()),
        (Ok(r), Protocol::V1) => Slot::Ready(v1_reply(store, stream, r)),
        (Ok(r), Protocol::V2 | Protocol::Native) => Slot::Streaming {
            stream: std::mem::take(stream),
            next: r.start,
            end: r.end,
        },
    }
}

/// The frames of a v1 query reply: `id, data` per event of the range, up
/// to the cap, then `END` if the reply is not full.
pub(super) fn v1_reply(store: &Store, stream: &[u8], range: Range<u64>) -> Vec<Vec<u8>> {
    let want = v1_page_len(&range);
    let mut page = V1Page::with_room(want);
    let r = store.read_stream(stream, range.start, want, |ev| {
        page.push(ev.id, ev.data);
        true
    });
    match r {
        Ok(()) => page.finish(),
        Err(e) => vec![protocol::error_frame(&e.to_string())],
    }
}

/// How many events of `range` one v1 reply carries.
fn v1_page_len(range: &Range<u64>) -> usize {
    usize::try_from(range.end - range.start)
        .unwrap_or(usize::MAX)
        .min(V1_QUERY_CAP)
}

/// A v1 reply being built.
struct V1Page {
    frames: Vec<Vec<u8>>,
    events: usize,
}

impl V1Page {
    fn with_room(events: usize) -> V1Page {
        V1Page {
            frames: Vec::with_capacity(2 * events + 1),
            events: 0,
        }
    }

    fn push(&mut self, id: &[u8], data: &[u8]) {
        self.frames.push(id.to_vec());
        self.frames.push(data.to_vec());
        self.events += 1;
    }

    /// The frames; a full reply has no `END`, so the client asks again from
    /// its last id (and a range of exactly the cap ends with an `END` alone).
    fn finish(mut self) -> Vec<Vec<u8>> {
        if self.events < V1_QUERY_CAP {
            self.frames.push(protocol::END.to_vec());
        }
        self.frames
    }
}

/// What one turn of a streamed query came to.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Streamed {
    /// Every event of the range is sent: `END` is next.
    Finished,
    /// Events went out within the budget; there may be more.
    Progress,
    /// The budget is used up with events left: other peers get their turn.
    OutOfBudget,
    /// The peer's pipe is full: resume where it stopped when it drains.
    Blocked,
    /// The peer's connection is gone.
    Gone,
    /// The reply ends with this error.
    Failed(String),
}

/// Sends the events of `stream` from version `*next` (up to `end`, and no
/// more than `*budget` of them) as `EVENT, id, data` messages, advancing
/// `*next` past each one sent and counting it in `*sent` and `*budget`.
#[allow(clippy::too_many_arguments)]
pub(super) fn stream_events<O: Outlet>(
    store: &Store,
    out: &O,
    envelope: &[Vec<u8>],
    stream: &[u8],
    next: &mut u64,
    end: u64,
    budget: &mut usize,
    sent: &mut u64,
) -> Streamed {
    if *next >= end {
        return Streamed::Finished;
    }
    if *budget == 0 {
        return Streamed::OutOfBudget;
    }
    let want = usize::try_from(end - *next)
        .unwrap_or(usize::MAX)
        .min(*budget);
    let mut outcome = Sent::Yes;
    let mut n = 0usize;
    let read = store.read_stream(stream, *next, want, |ev| {
        outcome = out.send(envelope, &[protocol::EVENT, ev.id, ev.data]);
        if matches!(outcome, Sent::Yes) {
            n += 1;
            true
        } else {
            false
        }
    });
    *next += n as u64;
    *sent += n as u64;
    *budget -= n.min(*budget);
    match (read, outcome) {
        (Err(e), _) => Streamed::Failed(e.to_string()),
        (Ok(()), Sent::WouldBlock) => Streamed::Blocked,
        (Ok(()), Sent::Gone) => Streamed::Gone,
        // The stream ended early: events vanished from under the range,
        // which an append-only store never does.
        (Ok(()), Sent::Yes) if n < want => {
            Streamed::Failed("the query range is no longer in the store".into())
        }
        (Ok(()), Sent::Yes) => Streamed::Progress,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::cell::{Cell, RefCell};

    use super::*;
    use crate::{ExpectedVersion, NewEvent};

    /// An outlet that records what is sent and takes `room` messages
    /// before it reports a full pipe (or, once `gone`, a lost peer).
    #[derive(Default)]
    pub struct FakeOutlet {
        pub room: Cell<usize>,
        pub gone: Cell<bool>,
        pub sent: RefCell<Vec<Vec<Vec<u8>>>>,
    }

    impl FakeOutlet {
        pub fn with_room(room: usize) -> FakeOutlet {
            let o = FakeOutlet::default();
            o.room.set(room);
            o
        }

        pub fn take(&self) -> Vec<Vec<Vec<u8>>> {
            std::mem::take(&mut *self.sent.borrow_mut())
        }
    }

    impl Outlet for FakeOutlet {
        fn send<F: AsRef<[u8]>>(&self, envelope: &[Vec<u8>], frames: &[F]) -> Sent {
            if self.gone.get() {
                return Sent::Gone;
            }
            if self.room.get() == 0 {
                return Sent::WouldBlock;
            }
            self.room.set(self.room.get() - 1);
            let message = envelope
                .iter()
                .cloned()
                .chain(frames.iter().map(|f| f.as_ref().to_vec()))
                .collect();
            self.sent.borrow_mut().push(message);
            Sent::Yes
        }
    }

    /// A store whose stream `s` holds events `e0`.. with data `d0`..
    pub fn store_with(n: usize) -> Store {
        let store = Store::in_memory();
        if n > 0 {
            let events = (0..n)
                .map(|i| NewEvent::with_id(format!("e{i}"), format!("d{i}")))
                .collect();
            store.append(b"s", events, ExpectedVersion::Any).unwrap();
        }
        store
    }

    fn frames(parts: &[&str]) -> Vec<Vec<u8>> {
        parts.iter().map(|p| p.as_bytes().to_vec()).collect()
    }

    fn v1_all(store: &Store, from: Option<&str>) -> Vec<Vec<u8>> {
        let mut stream = b"s".to_vec();
        match resolve(
            store,
            Protocol::V1,
            &mut stream,
            from.map(str::as_bytes),
            None,
        ) {
            Slot::Ready(f) => f,
            other => panic!("v1 query gave {other:?}"),
        }
    }

    #[test]
    fn a_v1_page_holds_at_most_the_cap_and_ends_when_not_full() {
        assert_eq!(v1_page_len(&(0..0)), 0);
        assert_eq!(v1_page_len(&(5..8)), 3);
        assert_eq!(v1_page_len(&(0..100)), 100);
        assert_eq!(v1_page_len(&(0..u64::MAX)), 100);

        assert_eq!(V1Page::with_room(0).finish(), frames(&["END"]));
        let mut p = V1Page::with_room(2);
        p.push(b"a", b"1");
        p.push(b"b", b"");
        assert_eq!(p.finish(), frames(&["a", "1", "b", "", "END"]));

        let mut full = V1Page::with_room(V1_QUERY_CAP);
        for _ in 0..V1_QUERY_CAP {
            full.push(b"i", b"d");
        }
        let f = full.finish();
        assert_eq!(f.len(), 2 * V1_QUERY_CAP, "a full page has no END");
        assert_eq!(f.last().unwrap(), b"d");
    }

    #[test]
    fn v1_replies_page_through_the_store() {
        let store = store_with(101);
        let first = v1_all(&store, None);
        assert_eq!(first.len(), 200);
        assert_eq!((&first[0][..], &first[1][..]), (&b"e0"[..], &b"d0"[..]));
        assert_eq!(&first[198][..], b"e99");
        // The client asks again from its last id: one event, then END.
        assert_eq!(
            v1_all(&store, Some("e99")),
            frames(&["e100", "d100", "END"])
        );
        assert_eq!(v1_all(&store, Some("e100")), frames(&["END"]));

        // Exactly the cap: no END until the next, empty page.
        let exact = store_with(100);
        assert_eq!(v1_all(&exact, None).len(), 200);
        assert_eq!(v1_all(&exact, Some("e99")), frames(&["END"]));
        let short = store_with(99);
        assert_eq!(v1_all(&short, None).last().unwrap(), b"END");
        assert_eq!(v1_all(&short, None).len(), 199);
    }

    #[test]
    fn a_v2_query_becomes_a_stream_of_the_range_fixed_now() {
        let store = store_with(5);
        let mut stream = b"s".to_vec();
        let slot = resolve(&store, Protocol::V2, &mut stream, Some(b"e1"), Some(b"e3"));
        assert_eq!(
            slot,
            Slot::Streaming {
                stream: b"s".to_vec(),
                next: 2,
                end: 4
            }
        );
        let mut stream = b"s".to_vec();
        let open = resolve(&store, Protocol::V2, &mut stream, None, None);
        assert!(matches!(
            open,
            Slot::Streaming {
                next: 0,
                end: 5,
                ..
            }
        ));
    }

    #[test]
    fn a_bad_range_is_an_error_reply_in_both_protocols() {
        let store = store_with(3);
        for proto in [Protocol::V1, Protocol::V2] {
            let mut stream = b"s".to_vec();
            let unknown = resolve(&store, proto, &mut stream, Some(b"nope"), None);
            let want = crate::Error::UnknownId(b"nope".to_vec()).to_string();
            assert_eq!(unknown, Slot::error(&want));
            let backwards = resolve(&store, proto, &mut stream, Some(b"e2"), Some(b"e0"));
            assert_eq!(
                backwards,
                Slot::error(&crate::Error::RangeOrder.to_string())
            );
        }
    }

    #[test]
    fn streaming_sends_event_messages_within_the_budget() {
        let store = store_with(5);
        let out = FakeOutlet::with_room(100);
        let env = frames(&["peer", ""]);
        let (mut next, mut budget, mut sent) = (1, 3, 0);
        let r = stream_events(
            &store,
            &out,
            &env,
            b"s",
            &mut next,
            5,
            &mut budget,
            &mut sent,
        );
        assert_eq!(r, Streamed::Progress);
        assert_eq!((next, budget, sent), (4, 0, 3));
        assert_eq!(
            out.take(),
            vec![
                frames(&["peer", "", "EVENT", "e1", "d1"]),
                frames(&["peer", "", "EVENT", "e2", "d2"]),
                frames(&["peer", "", "EVENT", "e3", "d3"]),
            ]
        );
        let r = stream_events(
            &store,
            &out,
            &env,
            b"s",
            &mut next,
            5,
            &mut budget,
            &mut sent,
        );
        assert_eq!(r, Streamed::OutOfBudget);
        let mut budget = 10;
        let r = stream_events(
            &store,
            &out,
            &env,
            b"s",
            &mut next,
            5,
            &mut budget,
            &mut sent,
        );
        assert_eq!(r, Streamed::Progress);
        assert_eq!((next, budget, sent), (5, 9, 4));
        let r = stream_events(
            &store,
            &out,
            &env,
            b"s",
            &mut next,
            5,
            &mut budget,
            &mut sent,
        );
        assert_eq!(r, Streamed::Finished);
        assert_eq!(out.take().len(), 1);
    }

    #[test]
    fn streaming_pauses_at_a_full_pipe_and_resumes_where_it_stopped() {
        let store = store_with(4);
        let out = FakeOutlet::with_room(2);
        let (mut next, mut budget, mut sent) = (0, 512, 0);
        let r = stream_events(
            &store,
            &out,
            &[],
            b"s",
            &mut next,
            4,
            &mut budget,
            &mut sent,
        );
        assert_eq!(r, Streamed::Blocked);
        assert_eq!((next, sent), (2, 2));
        assert_eq!(out.take()[1], frames(&["EVENT", "e1", "d1"]));
        out.room.set(10);
        let r = stream_events(
            &store,
            &out,
            &[],
            b"s",
            &mut next,
            4,
            &mut budget,
            &mut sent,
        );
        assert_eq!(r, Streamed::Progress);
        let resumed = out.take();
        assert_eq!(resumed.len(), 2);
        assert_eq!(resumed[0], frames(&["EVENT", "e2", "d2"]));
        out.gone.set(true);
        let (mut next, mut sent) = (0, 0);
        let r = stream_events(
            &store,
            &out,
            &[],
            b"s",
            &mut next,
            4,
            &mut budget,
            &mut sent,
        );
        assert_eq!((r, next, sent), (Streamed::Gone, 0, 0));
    }

    #[test]
    fn a_range_that_is_no_longer_in_the_store_is_an_error() {
        // The range says ten events; the stream has three.
        let store = store_with(3);
        let out = FakeOutlet::with_room(100);
        let (mut next, mut budget, mut sent) = (0, 512, 0);
        let r = stream_events(
            &store,
            &out,
            &[],
            b"s",
            &mut next,
            10,
            &mut budget,
            &mut sent,
        );
        assert_eq!(
            r,
            Streamed::Failed("the query range is no longer in the store".into())
        );
        assert_eq!((next, sent), (3, 3));
    }
}
