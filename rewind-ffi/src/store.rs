//! Opening a store (embedded, or a server's through `rewind_store_connect`
//! in `client.rs`), appending, reading. Every function works on both kinds
//! of handle: `on_store!` runs one body on whichever the handle holds.

use std::os::raw::{c_char, c_void};

use rewind_core::lmdb::LmdbOptions;
use rewind_core::postgres::PostgresOptions;
use rewind_core::{
    Client, EventRef, EventStore, ExpectedVersion, LogFilter, NewEvent, Store, StoreOptions,
    StreamAppend,
};

use crate::events::{rewind_appended, rewind_event, rewind_events, rewind_visitor, EventsBuilder};
use crate::status::{guard, rewind_status, FfiError, FfiResult};
use crate::util::{
    array, c_path, c_str, data_bytes, event_id, event_type, optional_event_id, out_ptr, stream_name,
};

/// An open event store: an LMDB directory, a PostgreSQL database, an
/// in-memory store, or the store of a Rewind server reached over the
/// network.
///
/// Created by `rewind_store_open_lmdb`, `rewind_store_open_postgres`,
/// `rewind_store_open_in_memory` or `rewind_store_connect`, released by
/// `rewind_store_close`. Every `rewind_store_` function works on each kind,
/// with the same semantics and statuses (a connected store adds
/// REWIND_STATUS_NETWORK). A store handle may be used by any number of
/// threads at once (appends from several threads share one disk commit);
/// only `rewind_store_close` must not overlap with other calls on the same
/// handle.
pub struct rewind_store {
    pub(crate) backing: Backing,
}

/// What a store handle holds.
pub(crate) enum Backing {
    /// An embedded store.
    Local(Store),
    /// A server's store, through the native protocol.
    Remote(Client),
}

/// Evaluates `$body` with `$s` bound to the store behind a `&Backing`, the
/// embedded `Store` or the `Client` (both have the methods of
/// `EventStore`), so each function is written once for both. `$body` gives
/// a `rewind_core::Result`; the macro gives an `FfiResult`, in which a
/// connected store's network failures are REWIND_STATUS_NETWORK.
macro_rules! on_store {
    ($store:expr, |$s:ident| $body:expr) => {
        match $store {
            $crate::store::Backing::Local($s) => ($body).map_err($crate::status::FfiError::from),
            $crate::store::Backing::Remote($s) => ($body).map_err($crate::status::FfiError::remote),
        }
    };
}
pub(crate) use on_store;

/// Which condition an append puts on the stream's current version: one of
/// the `REWIND_EXPECTED_` constants.
pub type rewind_expected_kind = u32;

/// Append whatever the state of the stream.
pub const REWIND_EXPECTED_ANY: rewind_expected_kind = 0;
/// The stream must not exist yet (hold no event).
pub const REWIND_EXPECTED_NO_STREAM: rewind_expected_kind = 1;
/// The stream must exist (hold at least one event).
pub const REWIND_EXPECTED_STREAM_EXISTS: rewind_expected_kind = 2;
/// The last event of the stream must have exactly the version given with it.
pub const REWIND_EXPECTED_EXACT: rewind_expected_kind = 3;

/// An event to append. The pointers are borrowed for the duration of the
/// append call only.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct rewind_new_event {
    /// The id to store the event under (1 to 255 bytes, unique in the
    /// store), or NULL to let the store generate a UUIDv7 id.
    pub id: *const u8,
    /// The length of `id` in bytes; ignored when `id` is NULL.
    pub id_len: usize,
    /// The event's data; may be NULL when `data_len` is 0.
    pub data: *const u8,
    /// The length of `data` in bytes.
    pub data_len: usize,
}

/// An event to append with a type and metadata (added in 0.5.0;
/// `rewind_new_event` is the same without them). The pointers are borrowed
/// for the duration of the append call only.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct rewind_new_event_ex {
    /// The id to store the event under (1 to 255 bytes, unique in the
    /// store), or NULL to let the store generate a UUIDv7 id.
    pub id: *const u8,
    /// The length of `id` in bytes; ignored when `id` is NULL.
    pub id_len: usize,
    /// The event's type: UTF-8, 0 to 255 bytes; may be NULL when
    /// `event_type_len` is 0 (no type).
    pub event_type: *const u8,
    /// The length of `event_type` in bytes.
    pub event_type_len: usize,
    /// The event's metadata, opaque bytes; may be NULL when `metadata_len`
    /// is 0 (no metadata).
    pub metadata: *const u8,
    /// The length of `metadata` in bytes.
    pub metadata_len: usize,
    /// The event's data; may be NULL when `data_len` is 0.
    pub data: *const u8,
    /// The length of `data` in bytes.
    pub data_len: usize,
}

/// One stream's share of `rewind_store_append_multi` (added in 0.5.0).
/// The pointers are borrowed for the duration of the call only.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct rewind_stream_append {
    /// The stream name: 1 to 255 bytes.
    pub stream: *const u8,
    /// The length of `stream` in bytes.
    pub stream_len: usize,
    /// One of the `REWIND_EXPECTED_` constants: the condition on this
    /// stream's version before the append.
    pub expected: rewind_expected_kind,
    /// The version the stream's last event must have with
    /// REWIND_EXPECTED_EXACT; ignored otherwise.
    pub expected_version: u64,
    /// The events to append to this stream, in order (at least one).
    pub events: *const rewind_new_event_ex,
    /// The number of items in `events`.
    pub n_events: usize,
}

/// A `from_version` or `from_position` of a backward read that starts at
/// the last event (of the stream, or of the log).
pub const REWIND_FROM_END: u64 = u64::MAX;

/// The events of a typed append, checked: `events[i].id` 1 to 255 bytes
/// when present, `events[i].event_type` UTF-8 of 0 to 255 bytes.
/// The events of `rewind_store_append` (no type, no metadata).
unsafe fn new_events(events: &[rewind_new_event], what: &str) -> FfiResult<Vec<NewEvent>> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let id = optional_event_id(e.id, e.id_len, &format!("{what}[{i}].id"))?;
            let data = data_bytes(e.data, e.data_len, &format!("{what}[{i}].data"))?;
            Ok(NewEvent {
                id: id.map(<[u8]>::to_vec),
                data: data.to_vec(),
                ..NewEvent::default()
            })
        })
        .collect()
}

/// The one body of the one-stream appends: append, then hand the result
/// out through `out` when it is not NULL.
unsafe fn append_into(
    store: &Backing,
    stream: &[u8],
    events: Vec<NewEvent>,
    expected: rewind_expected_kind,
    expected_version: u64,
    out: *mut *mut rewind_appended,
) -> FfiResult<()> {
    let expected = to_expected(expected, expected_version)?;
    let appended = on_store!(store, |s| s.append(stream, events, expected))?;
    if !out.is_null() {
        *out = Box::into_raw(rewind_appended::new(&appended));
    }
    Ok(())
}

unsafe fn new_events_ex(events: &[rewind_new_event_ex], what: &str) -> FfiResult<Vec<NewEvent>> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let id = optional_event_id(e.id, e.id_len, &format!("{what}[{i}].id"))?;
            let ty = event_type(
                e.event_type,
                e.event_type_len,
                &format!("{what}[{i}].event_type"),
            )?;
            let metadata =
                data_bytes(e.metadata, e.metadata_len, &format!("{what}[{i}].metadata"))?;
            let data = data_bytes(e.data, e.data_len, &format!("{what}[{i}].data"))?;
            Ok(NewEvent {
                id: id.map(<[u8]>::to_vec),
                event_type: ty.to_vec(),
                metadata: metadata.to_vec(),
                data: data.to_vec(),
            })
        })
        .collect()
}

/// The filtered read of both kinds of store: visits the events `filter`
/// passes from `from_position` on, up to `limit`, and returns the position
/// to resume from (see `rewind_store_read_log_filtered`).
///
/// A server's reply does not say where its scan ended, so for a connected
/// store the end of the log is asked first: when the read stops short of
/// `limit`, every event before that end has been returned or skipped, and
/// so has every event up to the last one returned (events appended since
/// are scanned again by the next read, never skipped).
fn read_log_filtered(
    store: &Backing,
    from_position: u64,
    limit: usize,
    filter: &LogFilter,
    mut visit: impl FnMut(EventRef<'_>) -> bool,
) -> FfiResult<u64> {
    let client = match store {
        Backing::Local(s) => {
            return Ok(s.read_log_filtered(from_position, limit, filter, visit)?)
        }
        Backing::Remote(c) => c,
    };
    let remote = |e| FfiError::remote(e);
    let end = client.next_position().map_err(remote)?;
    let events = client
        .read_log_filtered_vec(from_position, limit, filter)
        .map_err(remote)?;
    let mut next = from_position;
    let mut visited = 0usize;
    for e in &events {
        next = e.position + 1;
        visited += 1;
        if !visit(e.as_ref()) {
            return Ok(next);
        }
    }
    if visited < limit {
        next = next.max(end);
    }
    Ok(next)
}

fn backward_from(from: u64) -> Option<u64> {
    (from != REWIND_FROM_END).then_some(from)
}

fn to_expected(kind: rewind_expected_kind, version: u64) -> FfiResult<ExpectedVersion> {
    match kind {
        REWIND_EXPECTED_ANY => Ok(ExpectedVersion::Any),
        REWIND_EXPECTED_NO_STREAM => Ok(ExpectedVersion::NoStream),
        REWIND_EXPECTED_STREAM_EXISTS => Ok(ExpectedVersion::StreamExists),
        REWIND_EXPECTED_EXACT => Ok(ExpectedVersion::Exact(version)),
        other => Err(FfiError::invalid(format!(
            "unknown expected-version kind {other}"
        ))),
    }
}

pub(crate) unsafe fn store_ref<'a>(store: *const rewind_store) -> FfiResult<&'a Backing> {
    store
        .as_ref()
        .map(|s| &s.backing)
        .ok_or_else(|| FfiError::null("store"))
}

fn visitor_fn(
    visitor: rewind_visitor,
) -> FfiResult<unsafe extern "C" fn(*mut c_void, *const rewind_event) -> bool> {
    visitor.ok_or_else(|| FfiError::null("visitor"))
}

/// Copies every event `read` visits into one new `rewind_events`, handed to
/// the caller through `out` (already checked non-NULL) on success only.
unsafe fn collect_into(
    out: *mut *mut rewind_events,
    read: impl FnOnce(&mut dyn FnMut(EventRef<'_>) -> bool) -> FfiResult<()>,
) -> FfiResult<()> {
    let mut b = EventsBuilder::default();
    read(&mut |e| {
        b.push(&e);
        true
    })?;
    *out = Box::into_raw(b.finish());
    Ok(())
}

/// Calls a C visitor for one borrowed event.
fn visit_with(
    visitor: unsafe extern "C" fn(*mut c_void, *const rewind_event) -> bool,
    userdata: *mut c_void,
) -> impl FnMut(EventRef<'_>) -> bool {
    move |e| {
        let ev = rewind_event::borrowed(&e);
        // SAFETY: the caller promised a valid function; `ev` lives across
        // the call.
        unsafe { visitor(userdata, &ev) }
    }
}

/// Opens (creating it when missing) the LMDB store in directory `path`.
///
/// - `path`: NUL-terminated, borrowed for the call. The directory and its
///   parents are created unless `read_only`.
/// - `initial_map_size`: bytes to map at first; 0 for the default (64 MiB).
///   The map grows by itself as the store fills.
/// - `max_map_size`: the size the store may grow to, in bytes; 0 for no
///   limit but the disk. An append that does not fit fails with
///   REWIND_STATUS_STORAGE_FULL.
/// - `read_only`: open for reading only (another process may be writing);
///   appends fail with REWIND_STATUS_READ_ONLY.
/// - `out`: on success receives a new handle, owned by the caller, to be
///   released with `rewind_store_close`; untouched on failure.
///
/// Blocks while the files are opened. Thread-safe. Several processes may
/// open the same directory.
///
/// Returns REWIND_STATUS_OK, NULL_PARAMETER (`path` or `out` NULL),
/// INVALID_ARGUMENT (empty path), IO, CORRUPT (not a Rewind store), STORAGE.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn rewind_store_open_lmdb(
    path: *const c_char,
    initial_map_size: usize,
    max_map_size: usize,
    read_only: bool,
    out: *mut *mut rewind_store,
) -> rewind_status {
    guard(|| {
        let path = c_path(path, "path")?;
        let out = out_ptr(out, "out")?;
        let mut options = LmdbOptions::new(path);
        if initial_map_size != 0 {
            options.initial_map_size = initial_map_size;
        }
        options.max_map_size = (max_map_size != 0).then_some(max_map_size);
        options.read_only = read_only;
        let store = Store::open(&StoreOptions::Lmdb(options))?;
        *out = Box::into_raw(Box::new(rewind_store {
            backing: Backing::Local(store),
        }));
        Ok(())
    })
}

/// Opens the PostgreSQL store in the database `dsn` names, creating
/// Rewind's tables there when it has none. Several processes (servers) may
/// open one database: they share one gap-free log.
///
/// - `dsn`: NUL-terminated UTF-8, borrowed for the call: libpq's key-value
///   form (`host=db1 dbname=events user=rewind`) or a URL
///   (`postgresql://rewind@db1/events`); several hosts with
///   `target_session_attrs=read-write` reach the primary. Without a
///   password in it, the `PGPASSWORD` environment variable is used.
/// - `out`: on success receives a new handle, owned by the caller, to be
///   released with `rewind_store_close`; untouched on failure.
///
/// Blocks while it connects (10 seconds at most unless the string sets
/// `connect_timeout`). Thread-safe. The error message never shows the
/// password.
///
/// Returns REWIND_STATUS_OK, NULL_PARAMETER (`dsn` or `out` NULL),
/// INVALID_ARGUMENT (`dsn` not UTF-8), CONFIG (a malformed connection
/// string, or a library built without PostgreSQL), STORAGE (the database
/// cannot be reached, refuses, or holds tables of a newer Rewind).
///
/// # Safety
/// `dsn` is NULL or a NUL-terminated string; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn rewind_store_open_postgres(
    dsn: *const c_char,
    out: *mut *mut rewind_store,
) -> rewind_status {
    guard(|| {
        let dsn = c_str(dsn, "dsn")?
            .to_str()
            .map_err(|_| FfiError::invalid("dsn is not valid UTF-8"))?;
        let out = out_ptr(out, "out")?;
        let store = Store::open(&StoreOptions::Postgres(PostgresOptions::new(dsn)))?;
        *out = Box::into_raw(Box::new(rewind_store {
            backing: Backing::Local(store),
        }));
        Ok(())
    })
}

/// Opens a new, empty, in-memory store; its events are lost when it is
/// closed.
///
/// `out` receives on success a new handle owned by the caller, to be released
/// with `rewind_store_close`. Does not block. Thread-safe.
///
/// Returns REWIND_STATUS_OK or NULL_PARAMETER (`out` NULL).
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn rewind_store_open_in_memory(out: *mut *mut rewind_store) -> rewind_status {
    guard(|| {
        let out = out_ptr(out, "out")?;
        *out = Box::into_raw(Box::new(rewind_store {
            backing: Backing::Local(Store::in_memory()),
        }));
        Ok(())
    })
}

/// Closes the store and frees the handle. NULL does nothing (returns OK).
///
/// A store from `rewind_store_connect` closes its connection: its
/// subscriptions then fail with REWIND_STATUS_CLOSED, and nothing changes on
/// the server. The rest of this paragraph is about embedded stores.
///
/// Appends already submitted by other threads are committed first; then the
/// store is synced to disk and its writer stops. A server started on this
/// store with `rewind_server_start` keeps the store's files open, but its
/// appends fail with REWIND_STATUS_CLOSED from then on: free servers first.
///
/// The handle is freed even when an error returns, and must not be used
/// again; no other thread may be using it during the call. Blocks until the
/// writer has stopped and the files are synced.
///
/// Returns REWIND_STATUS_OK, or IO/STORAGE when the final sync failed.
///
/// # Safety
/// `store` is NULL or a live handle that no other thread uses during the
/// call and nothing uses afterwards.
#[no_mangle]
pub unsafe extern "C" fn rewind_store_close(store: *mut rewind_store) -> rewind_status {
    guard(|| {
        if store.is_null() {
            return Ok(());
        }
        match Box::from_raw(store).backing {
            Backing::Local(store) => store.close()?,
            Backing::Remote(client) => client.close(),
        }
        Ok(())
    })
}

/// Appends `count` events to `stream`, atomically, if the stream satisfies
/// the expected version; blocks until the events are durable on disk.
///
/// - `store`: a live handle, borrowed.
/// - `stream`, `stream_len`: the stream name, 1 to 255 bytes, borrowed for
///   the call.
/// - `events`, `count`: an array of at least one event, borrowed for the
///   call (NULL only with a `count` of 0, which is INVALID_ARGUMENT). Each
///   event's `id` may be NULL to have one generated.
/// - `expected`: one of the `REWIND_EXPECTED_` constants; `expected_version`
///   is the version the stream's last event must have with
///   REWIND_EXPECTED_EXACT, and is ignored otherwise.
/// - `out`: may be NULL when the caller does not need the result. Otherwise,
///   on success it receives a new `rewind_appended` owned by the caller
///   (free it with `rewind_appended_free`) holding each event's id,
///   version and position; untouched on failure.
///
/// Blocks until the commit that carries the append is synced. Thread-safe:
/// appends from several threads at once share one commit.
///
/// Returns REWIND_STATUS_OK, NULL_PARAMETER (`store` or `stream` NULL,
/// `events` NULL with a non-zero `count`, or an event's `data` NULL with a
/// non-zero length),
/// INVALID_ARGUMENT (no events, a name or id of the wrong length, an unknown
/// `expected`), WRONG_EXPECTED_VERSION, DUPLICATE_ID, STORAGE_FULL,
/// READ_ONLY, CLOSED, IO, STORAGE.
///
/// # Safety
/// Every non-NULL pointer points to what its length says; `store` is live.
#[no_mangle]
pub unsafe extern "C" fn rewind_store_append(
    store: *const rewind_store,
    stream: *const u8,
    stream_len: usize,
    events: *const rewind_new_event,
    count: usize,
    expected: rewind_expected_kind,
    expected_version: u64,
    out: *mut *mut rewind_appended,
) -> rewind_status {
    guard(|| {
        let store = store_ref(store)?;
        let stream = stream_name(stream, stream_len)?;
        let events = new_events(array(events, count, "events")?, "events")?;
        append_into(store, stream, events, expected, expected_version, out)
    })
}

/// Reads up to `limit` events of `stream` from version `from_version` on,
/// in version order, into a new `rewind_events`.
///
/// `stream` is 1 to 255 bytes, borrowed for the call. A stream that does not
/// exist has no events (the result is empty). `limit` may be SIZE_MAX to
/// read every event. `out` receives on success a new object owned by the
/// caller (free it with `rewind_events_free`); untouched on failure.
/// The bytes of all events are copied once, into one buffer the object owns.
///
/// Blocks while reading. Thread-safe; sees every append acknowledged before
/// it started.
///
/// Returns REWIND_STATUS_OK, NULL_PARAMETER (`store`, `stream` or `out`
/// NULL), INVALID_ARGUMENT (a stream name that is not 1 to 255 bytes long),
/// CORRUPT, IO, STORAGE.
///
/// # Safety
/// Every non-NULL pointer points to what its length says; `store` is live;
/// `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn rewind_store_read_stream(
    store: *const rewind_store,
    stream: *const u8,
    stream_len: usize,
    from_version: u64,
    limit: usize,
    out: *mut *mut rewind_events,
) -> rewind_status {
    guard(|| {
        let store = store_ref(store)?;
        let stream = stream_name(stream, stream_len)?;
        let out = out_ptr(out, "out")?;
        collect_into(out, |v| {
            on_store!(store, |s| s.read_stream(stream, from_version, limit, v))
        })
    })
}

/// Like `rewind_store_read_stream`, but without any copy: calls `visitor`
/// with `userdata` for each event, borrowed from the store and valid only
/// during that call (see `rewind_visitor`). The visitor may stop the read by
/// returning false.
///
/// Blocks while reading, on the calling thread. Thread-safe.
///
/// Returns REWIND_STATUS_OK (also when the visitor stopped early),
/// NULL_PARAMETER (`store`, `stream` or `visitor` NULL), INVALID_ARGUMENT
/// (a stream name that is not 1 to 255 bytes long), CORRUPT, IO, STORAGE.
/// `userdata` may be NULL; it is only passed on.
///
/// # Safety
/// Every non-NULL pointer points to what its length says; `store` is live;
/// `visitor` follows the rules of `rewind_visitor`.
#[no_mangle]
pub unsafe extern "C" fn rewind_store_read_stream_visit(
    store: *const rewind_store,
    stream: *const u8,
    stream_len: usize,
    from_version: u64,
    limit: usize,
    visitor: rewind_visitor,
    userdata: *mut c_void,
) -> rewind_status {
    guard(|| {
        let store = store_ref(store)?;
        let stream = stream_name(stream, stream_len)?;
        let visitor = visitor_fn(visitor)?;
        on_store!(store, |s| s.read_stream(
            stream,
            from_version,
            limit,
            visit_with(visitor, userdata)
        ))?;
        Ok(())
    })
}

/// Reads up to `limit` events of the whole store-wide log from position
/// `from_position` on, in position (commit) order, into a new
/// `rewind_events`.
///
/// `limit` may be SIZE_MAX to read every event. `out` receives on success a new object
/// owned by the caller (free it with `rewind_events_free`); untouched on
/// failure.
///
/// Blocks while reading. Thread-safe.
///
/// Returns REWIND_STATUS_OK, NULL_PARAMETER (`store` or `out` NULL),
/// CORRUPT, IO, STORAGE.
///
/// # Safety
/// `store` is NULL or live; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn rewind_store_read_log(
    store: *const rewind_store,
    from_position: u64,
    limit: usize,
    out: *mut *mut rewind_events,
) -> rewind_status {
    guard(|| {
        let store = store_ref(store)?;
        let out = out_ptr(out, "out")?;
        collect_into(out, |v| {
            on_store!(store, |s| s.read_log(from_position, limit, v))
        })
    })
}

/// Like `rewind_store_read_log`, but without any copy: calls `visitor` with
/// `userdata` for each event, borrowed from the store and valid only during
/// that call (see `rewind_visitor`).
///
/// Blocks while reading, on the calling thread. Thread-safe.
///
/// Returns REWIND_STATUS_OK (also when the visitor stopped early),
/// NULL_PARAMETER (`store` or `visitor` NULL), CORRUPT, IO, STORAGE.
///
/// # Safety
/// `store` is NULL or live; `visitor` follows the rules of `rewind_visitor`.
#[no_mangle]
pub unsafe extern "C" fn rewind_store_read_log_visit(
    store: *const rewind_store,
    from_position: u64,
    limit: usize,
    visitor: rewind_visitor,
    userdata: *mut c_void,
) -> rewind_status {
    guard(|| {
        let store = store_ref(store)?;
        let visitor = visitor_fn(visitor)?;
        on_store!(store, |s| s.read_log(
            from_position,
            limit,
            visit_with(visitor, userdata)
        ))?;
        Ok(())
    })
}

/// The versions of `stream` between two event ids, as the wire protocols
/// define a query: after `from_id` (exclusive) up to and including `to_id`.
///
/// `from_id` NULL means from the start of the stream; `to_id` NULL means up
/// to the stream's last event now (lengths are then ignored); a non-NULL id
/// has 1 to 255 bytes. On success `*out_start` receives the first version
/// of the range and `*out_end` one past its last (equal when the range is
/// empty); both untouched on failure.
///
/// Blocks while reading. Thread-safe.
///
/// Returns REWIND_STATUS_OK, NULL_PARAMETER (`store`, `stream`, `out_start`
/// or `out_end` NULL), UNKNOWN_ID, ID_NOT_IN_STREAM, RANGE_ORDER (`from_id`
/// comes after `to_id`), INVALID_ARGUMENT (a stream name or id that is not 1
/// to 255 bytes long), CORRUPT, IO, STORAGE.
///
/// # Safety
/// Every non-NULL pointer points to what its length says; `store` is live;
/// the out-parameters are writable.
#[no_mangle]
pub unsafe extern "C" fn rewind_store_resolve_range(
    store: *const rewind_store,
    stream: *const u8,
    stream_len: usize,
    from_id: *const u8,
    from_id_len: usize,
    to_id: *const u8,
    to_id_len: usize,
    out_start: *mut u64,
    out_end: *mut u64,
) -> rewind_status {
    guard(|| {
        let store = store_ref(store)?;
        let stream = stream_name(stream, stream_len)?;
        let from = optional_event_id(from_id, from_id_len, "from_id")?;
        let to = optional_event_id(to_id, to_id_len, "to_id")?;
        let out_start = out_ptr(out_start, "out_start")?;
        let out_end = out_ptr(out_end, "out_end")?;
        let range = on_store!(store, |s| s.resolve_range(stream, from, to))?;
        *out_start = range.start;
        *out_end = range.end;
        Ok(())
    })
}

/// The range query of both wire protocols: up to `limit` events of `stream`
/// after `from_id` (exclusive) up to and including `to_id`, in version
/// order, into a new `rewind_events`.
///
/// `from_id` NULL means from the start of the stream, `to_id` NULL up to its
/// last event (lengths are then ignored); a non-NULL id has 1 to 255 bytes.
/// `limit` may be SIZE_MAX to read every event. `out` receives on success a
/// new object owned by the caller (free it with `rewind_events_free`);
/// untouched on failure.
///
/// Blocks while reading. Thread-safe.
///
/// Returns REWIND_STATUS_OK, NULL_PARAMETER (`store`, `stream` or `out`
/// NULL), UNKNOWN_ID, ID_NOT_IN_STREAM, RANGE_ORDER, INVALID_ARGUMENT (a
/// stream name or id that is not 1 to 255 bytes long), CORRUPT, IO, STORAGE.
///
/// # Safety
/// Every non-NULL pointer points to what its length says; `store` is live;
/// `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn rewind_store_query(
    store: *const rewind_store,
    stream: *const u8,
    stream_len: usize,
    from_id: *const u8,
    from_id_len: usize,
    to_id: *const u8,
    to_id_len: usize,
    limit: usize,
    out: *mut *mut rewind_events,
) -> rewind_status {
    guard(|| {
        let store = store_ref(store)?;
        let stream = stream_name(stream, stream_len)?;
        let from = optional_event_id(from_id, from_id_len, "from_id")?;
        let to = optional_event_id(to_id, to_id_len, "to_id")?;
        let out = out_ptr(out, "out")?;
        collect_into(out, |v| {
            on_store!(store, |s| s.query(stream, from, to, limit, v))
        })
    })
}

/// Like `rewind_store_query`, but without any copy: calls `visitor` with
/// `userdata` for each event, borrowed from the store and valid only during
/// that call (see `rewind_visitor`).
///
/// Blocks while reading, on the calling thread. Thread-safe.
///
/// Returns REWIND_STATUS_OK (also when the visitor stopped early),
/// NULL_PARAMETER (`store`, `stream` or `visitor` NULL), UNKNOWN_ID,
/// ID_NOT_IN_STREAM, RANGE_ORDER, INVALID_ARGUMENT (a stream name or id that
/// is not 1 to 255 bytes long), CORRUPT, IO, STORAGE.
///
/// # Safety
/// Every non-NULL pointer points to what its length says; `store` is live;
/// `visitor` follows the rules of `rewind_visitor`.
#[no_mangle]
pub unsafe extern "C" fn rewind_store_query_visit(
    store: *const rewind_store,
    stream: *const u8,
    stream_len: usize,
    from_id: *const u8,
    from_id_len: usize,
    to_id: *const u8,
    to_id_len: usize,
    limit: usize,
    visitor: rewind_visitor,
    userdata: *mut c_void,
) -> rewind_status {
    guard(|| {
        let store = store_ref(store)?;
        let stream = stream_name(stream, stream_len)?;
        let from = optional_event_id(from_id, from_id_len, "from_id")?;
        let to = optional_event_id(to_id, to_id_len, "to_id")?;
        let visitor = visitor_fn(visitor)?;
        on_store!(store, |s| s.query(
            stream,
            from,
            to,
            limit,
            visit_with(visitor, userdata)
        ))?;
        Ok(())
    })
}

/// Looks up the event with id `id` (`id_len` bytes, 1 to 255, borrowed for
/// the call).
///
/// On success `out` receives a new `rewind_events` owned by the caller (free
/// it with `rewind_events_free`) that holds the event, or no event when the
/// id is not stored; untouched on failure.
///
/// Blocks while reading. Thread-safe.
///
/// Returns REWIND_STATUS_OK, NULL_PARAMETER (`store`, `id` or `out` NULL),
/// INVALID_ARGUMENT (an id that is not 1 to 255 bytes long), CORRUPT, IO,
/// STORAGE.
///
/// # Safety
/// Every non-NULL pointer points to what its length says; `store` is live;
/// `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn rewind_store_get(
    store: *const rewind_store,
    id: *const u8,
    id_len: usize,
    out: *mut *mut rewind_events,
) -> rewind_status {
    guard(|| {
        let store = store_ref(store)?;
        let id = event_id(id, id_len, "id")?;
        let out = out_ptr(out, "out")?;
        collect_into(out, |v| match store {
            // Borrowed from the store and copied once, into the result.
            Backing::Local(s) => {
                s.visit_id(id, |e| {
                    v(e);
                })?;
                Ok(())
            }
            Backing::Remote(c) => {
                if let Some(e) = c.get(id).map_err(FfiError::remote)? {
                    v(e.as_ref());
                }
                Ok(())
            }
        })
    })
}

/// Whether an event with id `id` (`id_len` bytes, 1 to 255, borrowed for the
/// call) is stored: on success `*out` receives true or false; untouched on
/// failure.
///
/// Blocks while reading. Thread-safe.
///
/// Returns REWIND_STATUS_OK, NULL_PARAMETER (`store`, `id` or `out` NULL),
/// INVALID_ARGUMENT (an id that is not 1 to 255 bytes long), CORRUPT, IO,
/// STORAGE.
///
/// # Safety
/// Every non-NULL pointer points to what its length says; `store` is live;
/// `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn rewind_store_contains(
    store: *const rewind_store,
    id: *const u8,
    id_len: usize,
    out: *mut bool,
) -> rewind_status {
    guard(|| {
        let store = store_ref(store)?;
        let id = event_id(id, id_len, "id")?;
        let out = out_ptr(out, "out")?;
        *out = on_store!(store, |s| s.contains(id))?;
        Ok(())
    })
}

/// The last event of `stream` (1 to 255 bytes, borrowed for the call): on
/// success `*out_exists` receives whether the stream exists and, when it
/// does, `*out_version` and `*out_position` the version and position of its
/// last event (the stream holds `*out_version + 1` events). When it does
/// not, those two are left untouched. Nothing is written on failure.
///
/// Blocks while reading. Thread-safe.
///
/// Returns REWIND_STATUS_OK, NULL_PARAMETER (any pointer NULL),
/// INVALID_ARGUMENT (a stream name that is not 1 to 255 bytes long),
/// CORRUPT, IO, STORAGE.
///
/// # Safety
/// Every non-NULL pointer points to what its length says; `store` is live;
/// the out-parameters are writable.
#[no_mangle]
pub unsafe extern "C" fn rewind_store_stream_head(
    store: *const rewind_store,
    stream: *const u8,
    stream_len: usize,
    out_exists: *mut bool,
    out_version: *mut u64,
    out_position: *mut u64,
) -> rewind_status {
    guard(|| {
        let store = store_ref(store)?;
        let stream = stream_name(stream, stream_len)?;
        let out_exists = out_ptr(out_exists, "out_exists")?;
        let out_version = out_ptr(out_version, "out_version")?;
        let out_position = out_ptr(out_position, "out_position")?;
        let head = on_store!(store, |s| s.stream_head(stream))?;
        *out_exists = head.is_some();
        if let Some(h) = head {
            *out_version = h.version;
            *out_position = h.position;
        }
        Ok(())
    })
}

/// The position the next appended event will get, which is the number of
/// events in the store: written to `*out` on success, untouched on failure.
///
/// Blocks while reading. Thread-safe.
///
/// Returns REWIND_STATUS_OK, NULL_PARAMETER (`store` or `out` NULL),
/// CORRUPT, IO, STORAGE.
///
/// # Safety
/// `store` is NULL or live; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn rewind_store_next_position(
    store: *const rewind_store,
    out: *mut u64,
) -> rewind_status {
    guard(|| {
        let store = store_ref(store)?;
        let out = out_ptr(out, "out")?;
        *out = on_store!(store, |s| s.next_position())?;
        Ok(())
    })
}

/// `rewind_store_append` with types and metadata (added in 0.5.0):
/// appends `count` events to `stream`, atomically, if the stream satisfies
/// the expected version; blocks until the events are durable on disk.
///
/// The arguments are those of `rewind_store_append`, except that `events`
/// are `rewind_new_event_ex`: each may carry a type (UTF-8, 0 to 255
/// bytes) and metadata (opaque bytes). Re-sending an append whose events
/// (by id) are already stored identically succeeds and gives the original
/// versions and positions (a safe retry after a lost acknowledgement);
/// a known id with anything different is DUPLICATE_ID.
///
/// `out` may be NULL; otherwise on success it receives a new
/// `rewind_appended` owned by the caller (free it with
/// `rewind_appended_free`); untouched on failure.
///
/// Blocks until the commit that carries the append is synced. Thread-safe.
///
/// Returns REWIND_STATUS_OK, NULL_PARAMETER (`store` or `stream` NULL,
/// `events` NULL with a non-zero `count`, a type, metadata or data NULL
/// with a non-zero length), INVALID_ARGUMENT (no events, a name, id or type
/// of the wrong length, a type that is not UTF-8, an unknown `expected`),
/// WRONG_EXPECTED_VERSION, DUPLICATE_ID, STORAGE_FULL, READ_ONLY, CLOSED,
/// IO, STORAGE.
///
/// # Safety
/// Every non-NULL pointer points to what its length says; `store` is live.
#[no_mangle]
pub unsafe extern "C" fn rewind_store_append_ex(
    store: *const rewind_store,
    stream: *const u8,
    stream_len: usize,
    events: *const rewind_new_event_ex,
    count: usize,
    expected: rewind_expected_kind,
    expected_version: u64,
    out: *mut *mut rewind_appended,
) -> rewind_status {
    guard(|| {
        let store = store_ref(store)?;
        let stream = stream_name(stream, stream_len)?;
        let events = new_events_ex(array(events, count, "events")?, "events")?;
        append_into(store, stream, events, expected, expected_version, out)
    })
}

/// Appends to several streams in one atomic commit (added in 0.5.0):
/// either every part is written or none is. Each part names its stream,
/// its own expected version and its events; a stream may appear in only
/// one part. Retries are safe as with `rewind_store_append_ex`.
///
/// - `parts`, `n_parts`: at least one part, borrowed for the call.
/// - `out`: may be NULL; otherwise on success it receives a new
///   `rewind_appended` owned by the caller (free it with
///   `rewind_appended_free`) with one item per event, part by part in the
///   order given; `rewind_appended_results` gives each one's stream,
///   version and position. Untouched on failure.
///
/// Blocks until the commit that carries the append is synced. Thread-safe.
///
/// Returns REWIND_STATUS_OK, NULL_PARAMETER (`store` NULL, `parts` NULL with
/// a non-zero `n_parts`, a part's `stream` NULL, or a NULL pointer with a
/// non-zero length in a part), INVALID_ARGUMENT (no parts, a part without
/// events, a stream named in two parts, a name, id or type of the wrong
/// length, a type that is not UTF-8, an unknown `expected`),
/// WRONG_EXPECTED_VERSION (any part's), DUPLICATE_ID, STORAGE_FULL,
/// READ_ONLY, CLOSED, IO, STORAGE.
///
/// # Safety
/// Every non-NULL pointer points to what its length says; `store` is live.
#[no_mangle]
pub unsafe extern "C" fn rewind_store_append_multi(
    store: *const rewind_store,
    parts: *const rewind_stream_append,
    n_parts: usize,
    out: *mut *mut rewind_appended,
) -> rewind_status {
    guard(|| {
        let store = store_ref(store)?;
        let parts = array(parts, n_parts, "parts")?
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let stream = stream_name(p.stream, p.stream_len).map_err(|mut e| {
                    e.message = format!("parts[{i}].{}", e.message);
                    e
                })?;
                let what = format!("parts[{i}].events");
                let events = new_events_ex(array(p.events, p.n_events, &what)?, &what)?;
                let expected = to_expected(p.expected, p.expected_version)?;
                Ok(StreamAppend::new(stream, events, expected))
            })
            .collect::<FfiResult<Vec<_>>>()?;
        let appended = on_store!(store, |s| s.append_multi(parts))?;
        if !out.is_null() {
            *out = Box::into_raw(rewind_appended::new(&appended));
        }
        Ok(())
    })
}

/// Reads up to `limit` events of `stream` backwards, from version
/// `from_version` (inclusive; REWIND_FROM_END, or any version past the
/// last, starts at the stream's last event) down to version 0, into a new
/// `rewind_events` (added in 0.5.0).
///
/// `stream` is 1 to 255 bytes, borrowed for the call; a stream that does
/// not exist has no events. `limit` may be SIZE_MAX. `out` receives on
/// success a new object owned by the caller (free it with
/// `rewind_events_free`); untouched on failure.
///
/// Blocks while reading. Thread-safe.
///
/// Returns REWIND_STATUS_OK, NULL_PARAMETER (`store`, `stream` or `out`
/// NULL), INVALID_ARGUMENT (a stream name that is not 1 to 255 bytes long),
/// CORRUPT, IO, STORAGE.
///
/// # Safety
/// Every non-NULL pointer points to what its length says; `store` is live;
/// `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn rewind_store_read_stream_backward(
    store: *const rewind_store,
    stream: *const u8,
    stream_len: usize,
    from_version: u64,
    limit: usize,
    out: *mut *mut rewind_events,
) -> rewind_status {
    guard(|| {
        let store = store_ref(store)?;
        let stream = stream_name(stream, stream_len)?;
        let out = out_ptr(out, "out")?;
        collect_into(out, |v| {
            on_store!(store, |s| s.read_stream_backward(
                stream,
                backward_from(from_version),
                limit,
                v
            ))
        })
    })
}

/// Like `rewind_store_read_stream_backward`, but without any copy: calls
/// `visitor` with `userdata` for each event, borrowed from the store and
/// valid only during that call (see `rewind_visitor`). Added in 0.5.0.
///
/// Blocks while reading, on the calling thread. Thread-safe.
///
/// Returns REWIND_STATUS_OK (also when the visitor stopped early),
/// NULL_PARAMETER (`store`, `stream` or `visitor` NULL), INVALID_ARGUMENT
/// (a stream name that is not 1 to 255 bytes long), CORRUPT, IO, STORAGE.
///
/// # Safety
/// Every non-NULL pointer points to what its length says; `store` is live;
/// `visitor` follows the rules of `rewind_visitor`.
#[no_mangle]
pub unsafe extern "C" fn rewind_store_read_stream_backward_visit(
    store: *const rewind_store,
    stream: *const u8,
    stream_len: usize,
    from_version: u64,
    limit: usize,
    visitor: rewind_visitor,
    userdata: *mut c_void,
) -> rewind_status {
    guard(|| {
        let store = store_ref(store)?;
        let stream = stream_name(stream, stream_len)?;
        let visitor = visitor_fn(visitor)?;
        on_store!(store, |s| s.read_stream_backward(
            stream,
            backward_from(from_version),
            limit,
            visit_with(visitor, userdata),
        ))?;
        Ok(())
    })
}

/// Reads up to `limit` events of the whole log backwards, from position
/// `from_position` (inclusive; REWIND_FROM_END, or any position past the
/// last, starts at the last event) down to position 0, into a new
/// `rewind_events` (added in 0.5.0).
///
/// `out` receives on success a new object owned by the caller (free it
/// with `rewind_events_free`); untouched on failure.
///
/// Blocks while reading. Thread-safe.
///
/// Returns REWIND_STATUS_OK, NULL_PARAMETER (`store` or `out` NULL),
/// CORRUPT, IO, STORAGE.
///
/// # Safety
/// `store` is NULL or live; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn rewind_store_read_log_backward(
    store: *const rewind_store,
    from_position: u64,
    limit: usize,
    out: *mut *mut rewind_events,
) -> rewind_status {
    guard(|| {
        let store = store_ref(store)?;
        let out = out_ptr(out, "out")?;
        collect_into(out, |v| {
            on_store!(store, |s| s.read_log_backward(
                backward_from(from_position),
                limit,
                v
            ))
        })
    })
}

/// Like `rewind_store_read_log_backward`, but without any copy: calls
/// `visitor` with `userdata` for each event, borrowed from the store and
/// valid only during that call (see `rewind_visitor`). Added in 0.5.0.
///
/// Blocks while reading, on the calling thread. Thread-safe.
///
/// Returns REWIND_STATUS_OK (also when the visitor stopped early),
/// NULL_PARAMETER (`store` or `visitor` NULL), CORRUPT, IO, STORAGE.
///
/// # Safety
/// `store` is NULL or live; `visitor` follows the rules of `rewind_visitor`.
#[no_mangle]
pub unsafe extern "C" fn rewind_store_read_log_backward_visit(
    store: *const rewind_store,
    from_position: u64,
    limit: usize,
    visitor: rewind_visitor,
    userdata: *mut c_void,
) -> rewind_status {
    guard(|| {
        let store = store_ref(store)?;
        let visitor = visitor_fn(visitor)?;
        on_store!(store, |s| s.read_log_backward(
            backward_from(from_position),
            limit,
            visit_with(visitor, userdata),
        ))?;
        Ok(())
    })
}

/// Reads the log forwards from position `from_position`, passing only the
/// events `filter` passes, up to `limit` of them, into a new
/// `rewind_events` (added in 0.5.0).
///
/// - `filter`: NULL passes every event; see `rewind_log_filter`. Borrowed
///   for the call.
/// - `out`: on success receives a new object owned by the caller (free it
///   with `rewind_events_free`).
/// - `out_next`: on success receives the position to resume from: every
///   event before it has been returned or skipped by the filter (the log's
///   end when the read reached it). Reading again from there goes on
///   without a gap or a repeat.
///
/// Nothing is written on failure. Blocks while reading. Thread-safe.
///
/// Returns REWIND_STATUS_OK, NULL_PARAMETER (`store`, `out` or `out_next`
/// NULL, or a NULL pointer with a non-zero length in `filter`),
/// INVALID_ARGUMENT (a type in `filter` longer than 255 bytes), CORRUPT, IO,
/// STORAGE.
///
/// # Safety
/// `store` is NULL or live; `filter` is NULL or valid as its fields say;
/// the out-parameters are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn rewind_store_read_log_filtered(
    store: *const rewind_store,
    from_position: u64,
    limit: usize,
    filter: *const crate::subscription::rewind_log_filter,
    out: *mut *mut rewind_events,
    out_next: *mut u64,
) -> rewind_status {
    guard(|| {
        let store = store_ref(store)?;
        let filter = crate::subscription::to_filter(filter)?;
        let out = out_ptr(out, "out")?;
        let out_next = out_ptr(out_next, "out_next")?;
        let mut b = EventsBuilder::default();
        let next = read_log_filtered(store, from_position, limit, &filter, |e| {
            b.push(&e);
            true
        })?;
        *out = Box::into_raw(b.finish());
        *out_next = next;
        Ok(())
    })
}

/// Like `rewind_store_read_log_filtered`, but without any copy: calls
/// `visitor` with `userdata` for each event the filter passes, borrowed from
/// the store and valid only during that call (see `rewind_visitor`). Added
/// in 0.5.0.
///
/// `out_next` may be NULL; otherwise on success it receives the position to
/// resume from (after the last event visited when the visitor stopped the
/// read). Blocks while reading, on the calling thread. Thread-safe.
///
/// Returns REWIND_STATUS_OK (also when the visitor stopped early),
/// NULL_PARAMETER (`store` or `visitor` NULL, or a NULL pointer with a
/// non-zero length in `filter`), INVALID_ARGUMENT (a type in `filter`
/// longer than 255 bytes), CORRUPT, IO, STORAGE.
///
/// # Safety
/// `store` is NULL or live; `filter` is NULL or valid as its fields say;
/// `visitor` follows the rules of `rewind_visitor`; `out_next` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn rewind_store_read_log_filtered_visit(
    store: *const rewind_store,
    from_position: u64,
    limit: usize,
    filter: *const crate::subscription::rewind_log_filter,
    visitor: rewind_visitor,
    userdata: *mut c_void,
    out_next: *mut u64,
) -> rewind_status {
    guard(|| {
        let store = store_ref(store)?;
        let filter: LogFilter = crate::subscription::to_filter(filter)?;
        let visitor = visitor_fn(visitor)?;
        let next = read_log_filtered(
            store,
            from_position,
            limit,
            &filter,
            visit_with(visitor, userdata),
        )?;
        if !out_next.is_null() {
            *out_next = next;
        }
        Ok(())
    })
}

// The header promises that a handle may be shared between threads.
const _: fn() = || {
    fn is_send_sync<T: Send + Sync>() {}
    is_send_sync::<rewind_store>();
};
