//! Filtered log reads: [`LogFilter`], which events of the log a filtered
//! read or a subscription passes on (by stream-name prefix and event type),
//! and the scan behind [`Store::read_log_filtered`](crate::Store::read_log_filtered).
//!
//! The scan runs inside the core over the events the backend lends out: an
//! event the filter skips is never copied. It reads the backend in chunks of
//! 4096 events, so that no single backend read (an LMDB read transaction,
//! the in-memory backend's read lock) lasts for the whole of a long scan.

use crate::backend::Backend;
use crate::{EventRef, Result};

/// The most events one backend read of a filtered scan examines.
pub(crate) const SCAN_CHUNK: usize = 4096;

/// Which events of the log to pass on: those of streams whose names start
/// with a prefix, and of a set of event types. A part left at `None` passes
/// everything; the default filter passes every event.
///
/// ```
/// use rewind_core::LogFilter;
///
/// let f = LogFilter::all()
///     .with_stream_prefix("order-")
///     .with_event_types(["created", "paid"]);
/// assert!(f.matches_stream(b"order-17"));
/// assert!(!f.matches_stream(b"cart-3"));
/// assert!(f.matches_type(b"paid"));
/// assert!(!f.matches_type(b"shipped"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct LogFilter {
    /// Pass only events of streams whose names start with these bytes
    /// (`Some(b"")` passes every stream).
    pub stream_prefix: Option<Vec<u8>>,
    /// Pass only events of one of these types. `Some` of an empty list
    /// passes nothing; events that arrived without a type have the empty
    /// type, `b""`.
    pub event_types: Option<Vec<Vec<u8>>>,
}

impl LogFilter {
    /// The filter that passes every event.
    pub fn all() -> LogFilter {
        LogFilter::default()
    }

    /// The same filter, passing only streams whose names start with `prefix`.
    pub fn with_stream_prefix(mut self, prefix: impl Into<Vec<u8>>) -> LogFilter {
        self.stream_prefix = Some(prefix.into());
        self
    }

    /// The same filter, passing only events of these types (replacing any
    /// set given before). An empty set passes nothing.
    pub fn with_event_types<T: Into<Vec<u8>>>(
        mut self,
        types: impl IntoIterator<Item = T>,
    ) -> LogFilter {
        self.event_types = Some(types.into_iter().map(Into::into).collect());
        self
    }

    /// The same filter, passing events of type `event_type` as well as those
    /// of the types given before (if no set was given before, the set is
    /// this one type).
    pub fn with_event_type(mut self, event_type: impl Into<Vec<u8>>) -> LogFilter {
        self.event_types
            .get_or_insert_with(Vec::new)
            .push(event_type.into());
        self
    }

    /// Whether the filter passes every event (and so a read can skip it).
    pub fn passes_all(&self) -> bool {
        let any_stream = match &self.stream_prefix {
            None => true,
            Some(p) => p.is_empty(),
        };
        any_stream && self.event_types.is_none()
    }

    /// Whether the stream part of the filter passes events of `stream`.
    #[inline]
    pub fn matches_stream(&self, stream: &[u8]) -> bool {
        match &self.stream_prefix {
            None => true,
            Some(p) => stream.starts_with(p),
        }
    }

    /// Whether the type part of the filter passes events of type
    /// `event_type`.
    #[inline]
    pub fn matches_type(&self, event_type: &[u8]) -> bool {
        match &self.event_types {
            None => true,
            Some(types) => types.iter().any(|t| t == event_type),
        }
    }

    /// Whether the filter passes `e`.
    #[inline]
    pub fn matches(&self, e: &EventRef<'_>) -> bool {
        self.matches_stream(e.stream) && self.matches_type(event_type_of(e))
    }
}

/// The type of an event (empty for an untyped one).
#[inline]
fn event_type_of<'a>(e: &EventRef<'a>) -> &'a [u8] {
    e.event_type
}

/// Visits up to `limit` events of the log that `filter` passes, examining
/// positions from `from_position` up to `end` (exclusive; `u64::MAX` for
/// the whole log). `visit` returns `false` to stop early.
///
/// Returns the position to resume from: one past the last event examined
/// (`from_position` when there was none). Events before it that were not
/// visited were skipped by the filter.
pub(crate) fn scan_log(
    backend: &dyn Backend,
    from_position: u64,
    end: u64,
    limit: usize,
    filter: &LogFilter,
    visit: &mut dyn FnMut(EventRef<'_>) -> bool,
) -> Result<u64> {
    let mut next = from_position;
    let mut matched = 0usize;
    let all = filter.passes_all();
    while matched < limit && next < end {
        let chunk = usize::try_from(end - next).map_or(SCAN_CHUNK, |left| left.min(SCAN_CHUNK));
        let mut examined = 0usize;
        let mut stopped = false;
        backend.read_log(next, chunk, &mut |e| {
            examined += 1;
            next = e.position + 1;
            if all || filter.matches(&e) {
                matched += 1;
                if !visit(e) || matched >= limit {
                    stopped = true;
                    return false;
                }
            }
            true
        })?;
        if stopped || examined < chunk {
            break;
        }
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ExpectedVersion, NewEvent, Store};

    fn event(stream: &[u8]) -> EventRef<'_> {
        typed(stream, b"")
    }

    fn typed<'a>(stream: &'a [u8], event_type: &'a [u8]) -> EventRef<'a> {
        EventRef {
            id: b"id",
            data: b"data",
            stream,
            version: 0,
            position: 0,
            event_type,
            metadata: b"",
        }
    }

    #[test]
    fn the_default_filter_passes_everything() {
        let f = LogFilter::all();
        assert!(f.passes_all());
        assert!(f.matches(&event(b"a")));
        assert!(f.matches_type(b"anything"));
        assert!(LogFilter::all().with_stream_prefix("").passes_all());
        assert!(!LogFilter::all().with_stream_prefix("a").passes_all());
        assert!(!LogFilter::all().with_event_types([""]).passes_all());
    }

    #[test]
    fn a_prefix_passes_streams_that_start_with_it() {
        let f = LogFilter::all().with_stream_prefix("order-");
        assert!(f.matches(&event(b"order-1")));
        assert!(f.matches(&event(b"order-")));
        assert!(!f.matches(&event(b"order")));
        assert!(!f.matches(&event(b"xorder-1")));
        assert!(!f.matches(&event(b"Order-1")));
        let empty = LogFilter::all().with_stream_prefix(Vec::new());
        assert!(empty.matches(&event(b"x")));
    }

    #[test]
    fn a_type_set_passes_exactly_its_types() {
        let f = LogFilter::all().with_event_types(["created", "paid"]);
        assert!(f.matches_type(b"created"));
        assert!(f.matches_type(b"paid"));
        assert!(!f.matches_type(b"create"));
        assert!(!f.matches_type(b""));
        let none = LogFilter::all().with_event_types(Vec::<Vec<u8>>::new());
        assert!(!none.matches_type(b""));
        assert!(!none.matches_type(b"paid"));
        let grown = LogFilter::all().with_event_type("a").with_event_type("b");
        assert_eq!(grown.event_types, Some(vec![b"a".to_vec(), b"b".to_vec()]));
        assert!(grown.matches_type(b"b"));
    }

    #[test]
    fn matches_asks_the_events_type() {
        assert_eq!(event_type_of(&event(b"s")), b"");
        assert_eq!(event_type_of(&typed(b"s", b"paid")), b"paid");
        assert!(LogFilter::all()
            .with_event_types(["paid"])
            .matches(&typed(b"s", b"paid")));
        assert!(!LogFilter::all()
            .with_event_types(["paid"])
            .matches(&typed(b"s", b"made")));
        let untyped = LogFilter::all().with_event_types([""]);
        assert!(untyped.matches(&event(b"s")));
        let typed = LogFilter::all().with_event_types(["paid"]);
        assert!(!typed.matches(&event(b"s")));
        let both = LogFilter::all()
            .with_stream_prefix("s")
            .with_event_types(["", "paid"]);
        assert!(both.matches(&event(b"s1")));
        assert!(!both.matches(&event(b"t1")));
    }

    /// A store whose log alternates between streams `a-<i>` and `b-<i>`,
    /// `n` events in all, event `i` holding data `i`.
    fn alternating(n: usize) -> Store {
        let s = Store::in_memory();
        for i in 0..n {
            let stream = if i % 2 == 0 { "a-" } else { "b-" };
            let stream = format!("{stream}{}", i % 7);
            s.append(
                stream.as_bytes(),
                vec![NewEvent::new(i.to_string())],
                ExpectedVersion::Any,
            )
            .unwrap();
        }
        s
    }

    fn scan(s: &Store, from: u64, end: u64, limit: usize, f: &LogFilter) -> (Vec<u64>, u64) {
        let mut seen = Vec::new();
        let next = s
            .scan_log(from, end, limit, f, &mut |e| {
                seen.push(e.position);
                true
            })
            .unwrap();
        (seen, next)
    }

    #[test]
    fn the_scan_crosses_chunks_and_counts_only_matches() {
        let n = SCAN_CHUNK * 2 + 10;
        let s = alternating(n);
        let b = LogFilter::all().with_stream_prefix("b-");
        let (seen, next) = scan(&s, 0, u64::MAX, usize::MAX, &b);
        let want: Vec<u64> = (0..n as u64).filter(|p| p % 2 == 1).collect();
        assert_eq!(seen, want);
        assert_eq!(next, n as u64);
        // The limit counts matches; the scan resumes after the last one.
        let (seen, next) = scan(&s, 0, u64::MAX, 3, &b);
        assert_eq!(seen, vec![1, 3, 5]);
        assert_eq!(next, 6);
        let (seen, next) = scan(&s, 6, u64::MAX, 2, &b);
        assert_eq!((seen, next), (vec![7, 9], 10));
        // A filter nothing passes scans to the end.
        let none = LogFilter::all().with_stream_prefix("c-");
        let (seen, next) = scan(&s, 5, u64::MAX, 10, &none);
        assert!(seen.is_empty());
        assert_eq!(next, n as u64);
        // The end bound stops the scan.
        let (seen, next) = scan(&s, 0, 8, usize::MAX, &b);
        assert_eq!((seen, next), (vec![1, 3, 5, 7], 8));
        let (seen, next) = scan(&s, 0, SCAN_CHUNK as u64 + 3, usize::MAX, &none);
        assert_eq!((seen.len(), next), (0, SCAN_CHUNK as u64 + 3));
        // Past the end, and a zero limit, examine nothing.
        assert_eq!(
            scan(&s, n as u64 + 5, u64::MAX, 10, &b),
            (vec![], n as u64 + 5)
        );
        assert_eq!(scan(&s, 2, u64::MAX, 0, &b), (vec![], 2));
    }

    #[test]
    fn the_visitor_can_stop_the_scan() {
        let s = alternating(20);
        let mut seen = Vec::new();
        let next = s
            .scan_log(
                0,
                u64::MAX,
                usize::MAX,
                &LogFilter::all().with_stream_prefix("a-"),
                &mut |e| {
                    seen.push(e.position);
                    seen.len() < 2
                },
            )
            .unwrap();
        assert_eq!((seen, next), (vec![0, 2], 3));
    }
}
