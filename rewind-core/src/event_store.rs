//! [`EventStore`]: what the embedded [`Store`] and the
//! [`Client`](Client) of a server both do, so that code
//! written against it moves from one to the other by changing its
//! constructor only; [`EventSubscription`] and [`SubscriptionStop`], the
//! same for their subscriptions; [`StoreInfo`], what a store says of
//! itself.
//!
//! ```
//! use rewind_core::{EventStore, ExpectedVersion, NewEvent, Store};
//!
//! fn place_order<S: EventStore>(store: &S, id: &str) -> rewind_core::Result<u64> {
//!     let stream = format!("order-{id}");
//!     let done = store.append(stream.as_bytes(), vec![NewEvent::new("placed")], ExpectedVersion::NoStream)?;
//!     Ok(done[0].position)
//! }
//!
//! let store = Store::in_memory(); // or rewind_core::Client::connect("tcp://…")
//! assert_eq!(place_order(&store, "1").unwrap(), 0);
//! ```

use std::ops::Range;
use std::time::Duration;

use crate::client::{Client, RemoteStopHandle, RemoteSubscription};
use crate::store::range_between;
use crate::subscription::{Batch, StopHandle, Subscription, SubscriptionItem};
use crate::{
    Appended, Event, EventRef, ExpectedVersion, LogFilter, NewEvent, Result, Store, StreamAppend,
    StreamHead,
};

pub use crate::protocol::native::StreamListing;

/// What a store says of itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreInfo {
    /// The version of Rewind serving it (this crate's, for an embedded
    /// store).
    pub version: String,
    /// The position the next event will get: the number of events stored.
    pub next_position: u64,
    /// The native protocol versions the server speaks (none for an
    /// embedded store).
    pub protocol_versions: Vec<String>,
    /// The largest message the server accepts, in bytes (`None`: no
    /// messages, an embedded store).
    pub max_message_size: Option<u64>,
    /// The server's heartbeat interval (`None` for an embedded store).
    pub heartbeat: Option<Duration>,
}

/// Stops a subscription from any thread.
pub trait SubscriptionStop: Clone + Send + Sync + 'static {
    /// Stops the subscription: a `next` blocked on it returns at once.
    fn stop(&self);
    /// Whether the subscription has been stopped.
    fn is_stopped(&self) -> bool;
}

/// A subscription to the log: [`Subscription`] or
/// [`RemoteSubscription`](RemoteSubscription). See
/// [`Subscription`] for what each method promises.
pub trait EventSubscription: Send {
    /// The type of its stop handle.
    type StopHandle: SubscriptionStop;
    /// The next item, waiting up to `timeout`; `Ok(None)` when none came
    /// or the subscription is stopped.
    fn next_timeout(&mut self, timeout: Duration) -> Result<Option<SubscriptionItem>>;
    /// The next item, waiting as long as it takes; `Ok(None)` only when
    /// stopped.
    fn next_blocking(&mut self) -> Result<Option<SubscriptionItem>>;
    /// Up to `limit` events to `visit`, or `CaughtUp`, waiting up to
    /// `timeout`.
    fn next_batch(
        &mut self,
        timeout: Duration,
        limit: usize,
        visit: impl FnMut(EventRef<'_>) -> bool,
    ) -> Result<Option<Batch>>;
    /// A handle that stops the subscription from any thread.
    fn stop_handle(&self) -> Self::StopHandle;
    /// Stops the subscription.
    fn stop(&self);
    /// Whether the subscription has been stopped.
    fn is_stopped(&self) -> bool;
    /// The position to resume from.
    fn position(&self) -> u64;
}

/// An event store, embedded ([`Store`]) or served
/// ([`Client`](Client)): the same methods, arguments,
/// results and errors. See [`Store`] for what each method promises.
pub trait EventStore: Send + Sync {
    /// The type of its subscriptions.
    type Subscription: EventSubscription;

    /// Appends `events` to `stream` atomically if the stream is at
    /// `expected`, durably.
    fn append(
        &self,
        stream: &[u8],
        events: Vec<NewEvent>,
        expected: ExpectedVersion,
    ) -> Result<Vec<Appended>>;
    /// Appends to several streams in one atomic step.
    fn append_multi(&self, parts: Vec<StreamAppend>) -> Result<Vec<Appended>>;
    /// Visits up to `limit` events of `stream` from `from_version` on.
    fn read_stream(
        &self,
        stream: &[u8],
        from_version: u64,
        limit: usize,
        visit: impl FnMut(EventRef<'_>) -> bool,
    ) -> Result<()>;
    /// Up to `limit` events of `stream` from `from_version` on.
    fn read_stream_vec(&self, stream: &[u8], from_version: u64, limit: usize)
        -> Result<Vec<Event>>;
    /// Visits up to `limit` events of `stream` backwards.
    fn read_stream_backward(
        &self,
        stream: &[u8],
        from_version: Option<u64>,
        limit: usize,
        visit: impl FnMut(EventRef<'_>) -> bool,
    ) -> Result<()>;
    /// Up to `limit` events of `stream` backwards.
    fn read_stream_backward_vec(
        &self,
        stream: &[u8],
        from_version: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Event>>;
    /// Visits up to `limit` events of the log from `from_position` on.
    fn read_log(
        &self,
        from_position: u64,
        limit: usize,
        visit: impl FnMut(EventRef<'_>) -> bool,
    ) -> Result<()>;
    /// Up to `limit` events of the log from `from_position` on.
    fn read_log_vec(&self, from_position: u64, limit: usize) -> Result<Vec<Event>>;
    /// Visits up to `limit` events of the log backwards.
    fn read_log_backward(
        &self,
        from_position: Option<u64>,
        limit: usize,
        visit: impl FnMut(EventRef<'_>) -> bool,
    ) -> Result<()>;
    /// Up to `limit` events of the log backwards.
    fn read_log_backward_vec(&self, from_position: Option<u64>, limit: usize)
        -> Result<Vec<Event>>;
    /// Up to `limit` events of the log from `from_position` on that
    /// `filter` passes.
    fn read_log_filtered_vec(
        &self,
        from_position: u64,
        limit: usize,
        filter: &LogFilter,
    ) -> Result<Vec<Event>>;
    /// The event with this id, if any.
    fn get(&self, id: &[u8]) -> Result<Option<Event>>;
    /// Whether an event with this id is stored.
    fn contains(&self, id: &[u8]) -> Result<bool>;
    /// The last event of `stream`, if it has any.
    fn stream_head(&self, stream: &[u8]) -> Result<Option<StreamHead>>;
    /// The position the next event will get.
    fn next_position(&self) -> Result<u64>;
    /// Up to `limit` streams whose names sort after `after`, in name order,
    /// with their heads (`limit` 1 to 1,000 for a server).
    fn list_streams(&self, after: &[u8], limit: usize) -> Result<Vec<StreamListing>>;
    /// What the store says of itself.
    fn info(&self) -> Result<StoreInfo>;
    /// Subscribes to the log from `from_position` (`None`: from now).
    fn subscribe(
        &self,
        from_position: Option<u64>,
        filter: LogFilter,
    ) -> Result<Self::Subscription>;

    /// The versions of `stream` after the event `from` (exclusive) up to
    /// the event `to` (inclusive), as the wire protocols' range query
    /// defines them (see [`Store::resolve_range`]). This default asks for
    /// each id with [`get`](EventStore::get).
    fn resolve_range(
        &self,
        stream: &[u8],
        from: Option<&[u8]>,
        to: Option<&[u8]>,
    ) -> Result<Range<u64>> {
        range_between(
            stream,
            from,
            to,
            |id| Ok(self.get(id)?.map(|e| (e.stream == stream, e.version))),
            || self.stream_head(stream),
        )
    }

    /// Visits up to `limit` events of `stream` in the range
    /// [`resolve_range`](EventStore::resolve_range) gives.
    fn query(
        &self,
        stream: &[u8],
        from: Option<&[u8]>,
        to: Option<&[u8]>,
        limit: usize,
        visit: impl FnMut(EventRef<'_>) -> bool,
    ) -> Result<()> {
        let range = self.resolve_range(stream, from, to)?;
        let n = usize::try_from(range.end - range.start).unwrap_or(usize::MAX);
        self.read_stream(stream, range.start, n.min(limit), visit)
    }
}

/// The [`EventSubscription`] methods, forwarded to the inherent methods of
/// the same name (one list for both implementations).
macro_rules! forward_event_subscription {
    ($ty:ty, $stop:ty) => {
        impl EventSubscription for $ty {
            type StopHandle = $stop;
            fn next_timeout(&mut self, timeout: Duration) -> Result<Option<SubscriptionItem>> {
                <$ty>::next_timeout(self, timeout)
            }
            fn next_blocking(&mut self) -> Result<Option<SubscriptionItem>> {
                <$ty>::next_blocking(self)
            }
            fn next_batch(
                &mut self,
                timeout: Duration,
                limit: usize,
                visit: impl FnMut(EventRef<'_>) -> bool,
            ) -> Result<Option<Batch>> {
                <$ty>::next_batch(self, timeout, limit, visit)
            }
            fn stop_handle(&self) -> $stop {
                <$ty>::stop_handle(self)
            }
            fn stop(&self) {
                <$ty>::stop(self)
            }
            fn is_stopped(&self) -> bool {
                <$ty>::is_stopped(self)
            }
            fn position(&self) -> u64 {
                <$ty>::position(self)
            }
        }

        impl SubscriptionStop for $stop {
            fn stop(&self) {
                <$stop>::stop(self)
            }
            fn is_stopped(&self) -> bool {
                <$stop>::is_stopped(self)
            }
        }
    };
}

forward_event_subscription!(Subscription, StopHandle);
forward_event_subscription!(RemoteSubscription, RemoteStopHandle);

/// The one list of [`EventStore`] methods that both implementations
/// forward to their own inherent methods of the same name.
macro_rules! forward_event_store {
    ($ty:ty) => {
        fn append(
            &self,
            stream: &[u8],
            events: Vec<NewEvent>,
            expected: ExpectedVersion,
        ) -> Result<Vec<Appended>> {
            <$ty>::append(self, stream, events, expected)
        }
        fn append_multi(&self, parts: Vec<StreamAppend>) -> Result<Vec<Appended>> {
            <$ty>::append_multi(self, parts)
        }
        fn read_stream(
            &self,
            stream: &[u8],
            from_version: u64,
            limit: usize,
            visit: impl FnMut(EventRef<'_>) -> bool,
        ) -> Result<()> {
            <$ty>::read_stream(self, stream, from_version, limit, visit)
        }
        fn read_stream_vec(
            &self,
            stream: &[u8],
            from_version: u64,
            limit: usize,
        ) -> Result<Vec<Event>> {
            <$ty>::read_stream_vec(self, stream, from_version, limit)
        }
        fn read_stream_backward(
            &self,
            stream: &[u8],
            from_version: Option<u64>,
            limit: usize,
            visit: impl FnMut(EventRef<'_>) -> bool,
        ) -> Result<()> {
            <$ty>::read_stream_backward(self, stream, from_version, limit, visit)
        }
        fn read_stream_backward_vec(
            &self,
            stream: &[u8],
            from_version: Option<u64>,
            limit: usize,
        ) -> Result<Vec<Event>> {
            <$ty>::read_stream_backward_vec(self, stream, from_version, limit)
        }
        fn read_log(
            &self,
            from_position: u64,
            limit: usize,
            visit: impl FnMut(EventRef<'_>) -> bool,
        ) -> Result<()> {
            <$ty>::read_log(self, from_position, limit, visit)
        }
        fn read_log_vec(&self, from_position: u64, limit: usize) -> Result<Vec<Event>> {
            <$ty>::read_log_vec(self, from_position, limit)
        }
        fn read_log_backward(
            &self,
            from_position: Option<u64>,
            limit: usize,
            visit: impl FnMut(EventRef<'_>) -> bool,
        ) -> Result<()> {
            <$ty>::read_log_backward(self, from_position, limit, visit)
        }
        fn read_log_backward_vec(
            &self,
            from_position: Option<u64>,
            limit: usize,
        ) -> Result<Vec<Event>> {
            <$ty>::read_log_backward_vec(self, from_position, limit)
        }
        fn read_log_filtered_vec(
            &self,
            from_position: u64,
            limit: usize,
            filter: &LogFilter,
        ) -> Result<Vec<Event>> {
            <$ty>::read_log_filtered_vec(self, from_position, limit, filter)
        }
        fn get(&self, id: &[u8]) -> Result<Option<Event>> {
            <$ty>::get(self, id)
        }
        fn contains(&self, id: &[u8]) -> Result<bool> {
            <$ty>::contains(self, id)
        }
        fn stream_head(&self, stream: &[u8]) -> Result<Option<StreamHead>> {
            <$ty>::stream_head(self, stream)
        }
        fn next_position(&self) -> Result<u64> {
            <$ty>::next_position(self)
        }
    };
}

impl EventStore for Store {
    type Subscription = Subscription;
    forward_event_store!(Store);

    fn list_streams(&self, after: &[u8], limit: usize) -> Result<Vec<StreamListing>> {
        let mut out = Vec::new();
        Store::list_streams(self, after, limit, |name, head| {
            out.push(StreamListing {
                name: name.to_vec(),
                version: head.version,
                position: head.position,
            });
            true
        })?;
        Ok(out)
    }

    fn info(&self) -> Result<StoreInfo> {
        Ok(StoreInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            next_position: Store::next_position(self)?,
            protocol_versions: Vec::new(),
            max_message_size: None,
            heartbeat: None,
        })
    }

    fn subscribe(&self, from_position: Option<u64>, filter: LogFilter) -> Result<Subscription> {
        Store::subscribe(self, from_position, filter)
    }

    fn resolve_range(
        &self,
        stream: &[u8],
        from: Option<&[u8]>,
        to: Option<&[u8]>,
    ) -> Result<Range<u64>> {
        Store::resolve_range(self, stream, from, to)
    }
}

impl EventStore for Client {
    type Subscription = RemoteSubscription;
    forward_event_store!(Client);

    fn list_streams(&self, after: &[u8], limit: usize) -> Result<Vec<StreamListing>> {
        Self::list_streams(self, after, limit)
    }

    fn info(&self) -> Result<StoreInfo> {
        Self::info(self)
    }

    fn subscribe(
        &self,
        from_position: Option<u64>,
        filter: LogFilter,
    ) -> Result<RemoteSubscription> {
        Self::subscribe(self, from_position, filter)
    }
}
