//! Log filters and subscriptions: `rewind_log_filter` (the stream-name
//! prefix and event types a filtered read or a subscription passes) and the
//! `rewind_subscription` handle (history, a caught-up marker, then live
//! events), with its thread-safe cancel, on an embedded store or a
//! connected one.

use std::ptr;
use std::sync::Mutex;
use std::time::Duration;

use rewind_core::client::RemoteStopHandle;
use rewind_core::{
    Event, EventSubscription, LogFilter, RemoteSubscription, StopHandle, Subscription,
    SubscriptionItem, SubscriptionStop,
};

use crate::events::rewind_event;
use crate::status::{guard, guard_value, rewind_status, FfiError, FfiResult};
use crate::store::{on_store, rewind_store, store_ref};
use crate::util::{array, data_bytes, event_type, out_ptr};

/// A byte string borrowed for the duration of a call: `len` bytes at `ptr`
/// (NULL allowed when `len` is 0). Added in 0.5.0.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct rewind_bytes {
    /// The bytes; may be NULL when `len` is 0.
    pub ptr: *const u8,
    /// The number of bytes.
    pub len: usize,
}

/// Which events a filtered read or a subscription passes (added in
/// 0.5.0): those whose stream name starts with `stream_prefix` and, when
/// `match_types` is true, whose type is one of `event_types`. A zeroed
/// struct (`{0}`) passes every event. Every pointer is borrowed for the
/// duration of the call that takes the filter only.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct rewind_log_filter {
    /// The prefix stream names must start with (0 to 255 bytes); NULL with a
    /// length of 0 passes every stream.
    pub stream_prefix: *const u8,
    /// The length of `stream_prefix` in bytes.
    pub stream_prefix_len: usize,
    /// Whether to filter by type: false passes every type (`event_types` is
    /// then ignored); true passes only the types listed, so an empty list
    /// passes nothing. An event appended without a type has the empty type.
    pub match_types: bool,
    /// The types to pass, each UTF-8 of 0 to 255 bytes; may be NULL when
    /// `n_event_types` is 0.
    pub event_types: *const rewind_bytes,
    /// The number of items in `event_types`.
    pub n_event_types: usize,
}

/// The filter a C caller gave (NULL: every event), checked.
///
/// # Safety
/// `filter` is NULL or points to a filter valid as its fields say.
pub(crate) unsafe fn to_filter(filter: *const rewind_log_filter) -> FfiResult<LogFilter> {
    let Some(f) = filter.as_ref() else {
        return Ok(LogFilter::all());
    };
    let mut out = LogFilter::all();
    let prefix = data_bytes(f.stream_prefix, f.stream_prefix_len, "filter.stream_prefix")?;
    if prefix.len() > 255 {
        return Err(FfiError::invalid(format!(
            "filter.stream_prefix: {} bytes, more than a stream name's 255",
            prefix.len()
        )));
    }
    if !prefix.is_empty() {
        out = out.with_stream_prefix(prefix);
    }
    if f.match_types {
        let types = array(f.event_types, f.n_event_types, "filter.event_types")?
            .iter()
            .enumerate()
            .map(|(i, t)| event_type(t.ptr, t.len, &format!("filter.event_types[{i}]")))
            .collect::<FfiResult<Vec<_>>>()?;
        out = out.with_event_types(types);
    }
    Ok(out)
}

/// What `rewind_subscription_next` handed out: one of the
/// `REWIND_SUBSCRIPTION_` constants. Added in 0.5.0.
pub type rewind_subscription_item_kind = u32;

/// No item came before the timeout; call again.
pub const REWIND_SUBSCRIPTION_TIMEOUT: rewind_subscription_item_kind = 0;
/// An event: the item's `event` points to it.
pub const REWIND_SUBSCRIPTION_EVENT: rewind_subscription_item_kind = 1;
/// The caught-up marker: every event committed before it has been handed
/// out (or skipped by the filter); the events after it are live. Comes once
/// per subscription.
pub const REWIND_SUBSCRIPTION_CAUGHT_UP: rewind_subscription_item_kind = 2;
/// The subscription was cancelled (`rewind_subscription_cancel`): no item
/// will come again.
pub const REWIND_SUBSCRIPTION_CANCELLED: rewind_subscription_item_kind = 3;

/// A `timeout_ms` of `rewind_subscription_next` that waits as long as it
/// takes (until an item comes or the subscription is cancelled).
pub const REWIND_WAIT_FOREVER: u64 = u64::MAX;

/// A `from_position` of `rewind_store_subscribe` that starts at the end of
/// the log now: no history, the caught-up marker first, then live events.
pub const REWIND_FROM_NOW: u64 = u64::MAX;

/// The outcome of `rewind_subscription_next`, written by the library into a
/// struct the caller provides. Added in 0.5.0.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct rewind_subscription_item {
    /// One of the `REWIND_SUBSCRIPTION_` constants.
    pub kind: rewind_subscription_item_kind,
    /// With REWIND_SUBSCRIPTION_EVENT, the event, owned by the subscription:
    /// it and every pointer in it stay valid until the next call of
    /// `rewind_subscription_next` on the same subscription or
    /// `rewind_subscription_free`. NULL with any other kind.
    pub event: *const rewind_event,
}

/// The event the subscription handed out last, with its C view (which
/// points into `event`).
struct Current {
    _event: Event,
    view: rewind_event,
}

/// A subscription to a store's log (added in 0.5.0): the events a filter
/// passes from a position on, in position order, each exactly once; then a
/// caught-up marker; then each event as it commits.
///
/// Created by `rewind_store_subscribe`, released by
/// `rewind_subscription_free`. It holds its own reference to the store: it
/// may outlive the `rewind_store` handle, and once the store is closed it
/// hands out what was committed before and then fails with
/// REWIND_STATUS_CLOSED. A slow subscriber reads from the store and never
/// slows appends.
///
/// Thread safety: `rewind_subscription_next` is for one thread at a time
/// (calls from several threads are serialized, and each invalidates the
/// event of the previous one); `rewind_subscription_cancel` may be called
/// from any thread at any time before `rewind_subscription_free`.
pub struct rewind_subscription {
    stop: Stop,
    inner: Mutex<(Sub, Option<Box<Current>>)>,
}

/// The subscription itself: to an embedded store or to a server's.
enum Sub {
    Local(Subscription),
    Remote(RemoteSubscription),
}

/// Its stop handle.
enum Stop {
    Local(StopHandle),
    Remote(RemoteStopHandle),
}

/// Evaluates `$body` with `$s` bound to the subscription behind a `Sub`
/// (both kinds have the methods of `EventSubscription`); a fallible body's
/// errors become `FfiError`s, a connected store's network failures
/// REWIND_STATUS_NETWORK.
macro_rules! on_sub {
    ($sub:expr, |$s:ident| $body:expr) => {
        match $sub {
            Sub::Local($s) => ($body).map_err(FfiError::from),
            Sub::Remote($s) => ($body).map_err(FfiError::remote),
        }
    };
}

impl Sub {
    fn position(&self) -> u64 {
        match self {
            Sub::Local(s) => s.position(),
            Sub::Remote(s) => s.position(),
        }
    }

    fn is_stopped(&self) -> bool {
        match self {
            Sub::Local(s) => EventSubscription::is_stopped(s),
            Sub::Remote(s) => EventSubscription::is_stopped(s),
        }
    }
}

/// A core subscription wrapped with its stop handle.
trait Wrap {
    fn wrap(self) -> (Sub, Stop);
}

impl Wrap for Subscription {
    fn wrap(self) -> (Sub, Stop) {
        let stop = Stop::Local(self.stop_handle());
        (Sub::Local(self), stop)
    }
}

impl Wrap for RemoteSubscription {
    fn wrap(self) -> (Sub, Stop) {
        let stop = Stop::Remote(self.stop_handle());
        (Sub::Remote(self), stop)
    }
}

impl Stop {
    fn stop(&self) {
        match self {
            Stop::Local(s) => SubscriptionStop::stop(s),
            Stop::Remote(s) => SubscriptionStop::stop(s),
        }
    }
}

/// Subscribes to the log of `store` (added in 0.5.0).
///
/// - `from_position`: the first position to hand out, history included;
///   REWIND_FROM_NOW starts at the end of the log now (no history).
/// - `filter`: NULL passes every event; otherwise borrowed for the call (the
///   subscription keeps its own copy). See `rewind_log_filter`.
/// - `out`: on success receives a new handle owned by the caller, to be
///   released with `rewind_subscription_free`; untouched on failure.
///
/// Does not wait for events (reads nothing but the log's end). Thread-safe.
///
/// Returns REWIND_STATUS_OK, NULL_PARAMETER (`store` or `out` NULL, or a
/// NULL pointer with a non-zero length in `filter`), INVALID_ARGUMENT (a
/// prefix or type in `filter` longer than 255 bytes, a type that is not
/// UTF-8), CLOSED, CORRUPT, IO, STORAGE.
///
/// # Safety
/// `store` is NULL or live; `filter` is NULL or valid as its fields say;
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn rewind_store_subscribe(
    store: *const rewind_store,
    from_position: u64,
    filter: *const rewind_log_filter,
    out: *mut *mut rewind_subscription,
) -> rewind_status {
    guard(|| {
        let store = store_ref(store)?;
        let filter = to_filter(filter)?;
        let out = out_ptr(out, "out")?;
        let from = (from_position != REWIND_FROM_NOW).then_some(from_position);
        let (sub, stop) = on_store!(store, |s| s.subscribe(from, filter).map(Wrap::wrap))?;
        *out = Box::into_raw(Box::new(rewind_subscription {
            stop,
            inner: Mutex::new((sub, None)),
        }));
        Ok(())
    })
}

/// Waits up to `timeout_ms` milliseconds for the subscription's next item
/// and writes it to `*out_item` (added in 0.5.0).
///
/// `timeout_ms` 0 only looks; REWIND_WAIT_FOREVER waits until an item
/// comes or the subscription is cancelled. On REWIND_STATUS_OK `*out_item`
/// holds an event, the caught-up marker, REWIND_SUBSCRIPTION_TIMEOUT (none
/// came in time) or REWIND_SUBSCRIPTION_CANCELLED (cancelled, before or
/// during the wait: every later call says so too). An event belongs to the
/// subscription and is valid until the next call on it or its free.
/// Nothing is written on failure.
///
/// Blocks the calling thread up to the timeout; `rewind_subscription_cancel`
/// from another thread wakes it. For one thread at a time (see
/// `rewind_subscription`).
///
/// Returns REWIND_STATUS_OK, NULL_PARAMETER (`sub` or `out_item` NULL),
/// CLOSED (the store was closed and everything committed before was handed
/// out), CORRUPT, IO, STORAGE.
///
/// # Safety
/// `sub` is NULL or live; `out_item` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn rewind_subscription_next(
    sub: *mut rewind_subscription,
    timeout_ms: u64,
    out_item: *mut rewind_subscription_item,
) -> rewind_status {
    guard(|| {
        let sub = sub.as_ref().ok_or_else(|| FfiError::null("sub"))?;
        let out_item = out_ptr(out_item, "out_item")?;
        // A panic while the lock was held leaves nothing half-changed that
        // matters here: go on with the state as it is.
        let mut inner = sub.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (subscription, current) = &mut *inner;
        // The previous event is released now, as documented.
        *current = None;
        let item = if timeout_ms == REWIND_WAIT_FOREVER {
            on_sub!(subscription, |s| s.next_blocking())?
        } else {
            on_sub!(subscription, |s| s
                .next_timeout(Duration::from_millis(timeout_ms)))?
        };
        *out_item = match item {
            Some(SubscriptionItem::Event(event)) => {
                // The view points into the event's heap buffers, which stay
                // where they are when the event moves into the Box.
                let view = rewind_event::borrowed(&event.as_ref());
                let cur = Box::new(Current {
                    _event: event,
                    view,
                });
                let view: *const rewind_event = &cur.view;
                *current = Some(cur);
                rewind_subscription_item {
                    kind: REWIND_SUBSCRIPTION_EVENT,
                    event: view,
                }
            }
            Some(SubscriptionItem::CaughtUp) => rewind_subscription_item {
                kind: REWIND_SUBSCRIPTION_CAUGHT_UP,
                event: ptr::null(),
            },
            None if subscription.is_stopped() => rewind_subscription_item {
                kind: REWIND_SUBSCRIPTION_CANCELLED,
                event: ptr::null(),
            },
            None => rewind_subscription_item {
                kind: REWIND_SUBSCRIPTION_TIMEOUT,
                event: ptr::null(),
            },
        };
        Ok(())
    })
}

/// Cancels the subscription (added in 0.5.0): a `rewind_subscription_next`
/// blocked in another thread returns at once with
/// REWIND_SUBSCRIPTION_CANCELLED, and so does every later call. Cancelling
/// twice does nothing more. NULL does nothing. The handle must still be
/// freed with `rewind_subscription_free`.
///
/// Never blocks (beyond a brief lock). Thread-safe: may be called from any
/// thread, at any time before `rewind_subscription_free`.
///
/// # Safety
/// `sub` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn rewind_subscription_cancel(sub: *const rewind_subscription) {
    guard_value((), || {
        if let Some(sub) = sub.as_ref() {
            sub.stop.stop();
        }
    })
}

/// The position to resume from (added in 0.5.0): every event before it
/// has been handed out or skipped by the filter, so a new subscription from
/// here goes on where this one is. 0 for NULL.
///
/// Never fails; waits while a `rewind_subscription_next` runs on another
/// thread. Thread-safe.
///
/// # Safety
/// `sub` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn rewind_subscription_position(sub: *const rewind_subscription) -> u64 {
    guard_value(0, || {
        sub.as_ref().map_or(0, |s| {
            s.inner
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .0
                .position()
        })
    })
}

/// Stops and frees the subscription, and the event it handed out last. NULL
/// does nothing.
///
/// No other thread may use `sub` during or after the call (cancel first,
/// and wait for a thread blocked in `rewind_subscription_next` to return).
/// Never blocks.
///
/// # Safety
/// `sub` is NULL or a live handle that no other thread uses during the call
/// and nothing uses afterwards.
#[no_mangle]
pub unsafe extern "C" fn rewind_subscription_free(sub: *mut rewind_subscription) {
    guard_value((), || {
        if !sub.is_null() {
            let sub = Box::from_raw(sub);
            sub.stop.stop();
            drop(sub);
        }
    })
}

// The header promises that cancel may come from any thread, and next from
// whichever thread holds the handle.
const _: fn() = || {
    fn is_send_sync<T: Send + Sync>() {}
    is_send_sync::<Stop>();
    is_send_sync::<Mutex<Sub>>();
};
