//! Reads that were cut off (no socket): what a read streamed in `EVENTS`
//! batches has handed out so far, and the request that asks for the rest
//! after a reconnect, so that a resent read neither repeats nor skips an
//! event.

use crate::protocol::native::{Direction, Request};
use crate::Event;

/// How far a streamed read got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ReadProgress {
    /// Events handed out so far.
    pub delivered: u64,
    /// The version and position of the last one.
    pub last: Option<(u64, u64)>,
}

impl ReadProgress {
    /// A batch of the read arrived.
    pub fn saw(&mut self, batch: &[Event]) {
        self.delivered += batch.len() as u64;
        if let Some(e) = batch.last() {
            self.last = Some((e.version, e.position));
        }
    }
}

/// What is left of a read after `progress`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rest {
    /// Nothing more to send: the request is not a read, or has not
    /// delivered anything yet; send it again as it is.
    Unchanged,
    /// Ask for the rest with this request.
    Ask(Request),
    /// The read has everything it asked for (its limit is reached, or it
    /// went down to the first event): it is complete.
    Done,
}

/// The request for the rest of `request` after `progress`.
pub(crate) fn rest_of(request: &Request, progress: ReadProgress) -> Rest {
    let Some((version, position)) = progress.last else {
        return Rest::Unchanged;
    };
    let left = |limit: u64| -> Option<u64> {
        if limit == 0 {
            Some(0)
        } else if progress.delivered >= limit {
            None
        } else {
            Some(limit - progress.delivered)
        }
    };
    let from = |direction: Direction, last: u64| -> Option<u64> {
        match direction {
            Direction::Forward => last.checked_add(1),
            Direction::Backward => last.checked_sub(1),
        }
    };
    match request {
        Request::ReadStream {
            stream,
            direction,
            limit,
            ..
        } => match (left(*limit), from(*direction, version)) {
            (Some(limit), Some(from)) => Rest::Ask(Request::ReadStream {
                stream: stream.clone(),
                direction: *direction,
                from,
                limit,
            }),
            _ => Rest::Done,
        },
        Request::ReadLog {
            direction,
            limit,
            filter,
            ..
        } => match (left(*limit), from(*direction, position)) {
            (Some(limit), Some(from)) => Rest::Ask(Request::ReadLog {
                direction: *direction,
                from,
                limit,
                filter: filter.clone(),
            }),
            _ => Rest::Done,
        },
        _ => Rest::Unchanged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LogFilter;

    fn event(version: u64, position: u64) -> Event {
        Event {
            id: b"id".to_vec(),
            event_type: Vec::new(),
            metadata: Vec::new(),
            data: Vec::new(),
            stream: b"s".to_vec(),
            version,
            position,
        }
    }

    fn stream(direction: Direction, from: u64, limit: u64) -> Request {
        Request::ReadStream {
            stream: b"s".to_vec(),
            direction,
            from,
            limit,
        }
    }

    #[test]
    fn a_read_with_nothing_delivered_is_sent_again_as_it_was() {
        let r = stream(Direction::Forward, 3, 10);
        assert_eq!(rest_of(&r, ReadProgress::default()), Rest::Unchanged);
        let mut p = ReadProgress::default();
        p.saw(&[event(0, 0)]);
        assert_eq!(rest_of(&Request::Info, p), Rest::Unchanged);
    }

    #[test]
    fn a_forward_read_goes_on_after_its_last_event_with_what_is_left_of_its_limit() {
        let mut p = ReadProgress::default();
        p.saw(&[event(3, 30), event(4, 41)]);
        p.saw(&[event(5, 52)]);
        assert_eq!(p.delivered, 3);
        assert_eq!(
            rest_of(&stream(Direction::Forward, 3, 10), p),
            Rest::Ask(stream(Direction::Forward, 6, 7))
        );
        assert_eq!(
            rest_of(&stream(Direction::Forward, 3, 0), p),
            Rest::Ask(stream(Direction::Forward, 6, 0)),
            "no limit stays no limit"
        );
        assert_eq!(rest_of(&stream(Direction::Forward, 3, 3), p), Rest::Done);
        let log = Request::ReadLog {
            direction: Direction::Forward,
            from: 0,
            limit: 5,
            filter: LogFilter::all().with_stream_prefix("s"),
        };
        assert_eq!(
            rest_of(&log, p),
            Rest::Ask(Request::ReadLog {
                direction: Direction::Forward,
                from: 53,
                limit: 2,
                filter: LogFilter::all().with_stream_prefix("s"),
            })
        );
    }

    #[test]
    fn a_backward_read_goes_on_below_its_last_event_and_ends_at_zero() {
        let mut p = ReadProgress::default();
        p.saw(&[event(9, 90), event(8, 80)]);
        assert_eq!(
            rest_of(&stream(Direction::Backward, u64::MAX, 0), p),
            Rest::Ask(stream(Direction::Backward, 7, 0))
        );
        let log = Request::ReadLog {
            direction: Direction::Backward,
            from: u64::MAX,
            limit: 3,
            filter: LogFilter::all(),
        };
        assert_eq!(
            rest_of(&log, p),
            Rest::Ask(Request::ReadLog {
                direction: Direction::Backward,
                from: 79,
                limit: 1,
                filter: LogFilter::all(),
            })
        );
        let mut bottom = ReadProgress::default();
        bottom.saw(&[event(0, 0)]);
        assert_eq!(
            rest_of(&stream(Direction::Backward, 5, 0), bottom),
            Rest::Done
        );
    }
}
