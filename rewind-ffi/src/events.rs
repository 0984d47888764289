//! Read results: events borrowed during a visitor call, or held by one
//! `rewind_events` object; and the result of an append.
//!
//! `rewind_event` grew `event_type` and `metadata` at its end in 0.5.0. A
//! program built against an earlier header reads it only through pointers
//! the library hands out (`rewind_events_at`, visitors), which still work,
//! and through the array of `rewind_events_items`, whose stride is the old
//! size: that exported symbol keeps returning an array of the old layout,
//! and the header maps the name `rewind_events_items` to
//! `rewind_events_array` (the array of the new layout) for new programs.

use std::os::raw::c_void;
use std::ptr;
use std::sync::OnceLock;

use rewind_core::{Appended, EventRef};

use crate::status::guard_value;

/// One event, as a read hands it out. Every pointer is borrowed: from the
/// store during a visitor call (valid only until the visitor returns), or
/// from the `rewind_events` object that holds it (valid until that object is
/// freed). Byte strings are not NUL-terminated; an empty `data` has
/// `data_len` 0 and a pointer that must not be read.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct rewind_event {
    /// The event's id: 1 to 255 bytes, unique in the store.
    pub id: *const u8,
    /// The length of `id` in bytes.
    pub id_len: usize,
    /// The event's data: opaque bytes.
    pub data: *const u8,
    /// The length of `data` in bytes (may be 0).
    pub data_len: usize,
    /// The name of the stream the event belongs to: 1 to 255 bytes.
    pub stream: *const u8,
    /// The length of `stream` in bytes.
    pub stream_len: usize,
    /// The event's version in its stream: 0, 1, 2, ...
    pub version: u64,
    /// The event's position in the store-wide log: 0, 1, 2, ...
    pub position: u64,
    /// The event's type: UTF-8, 0 to 255 bytes (0 for an event appended
    /// without one, as every event that arrives through the v1 or v2 wire
    /// protocol). Added in 0.5.0.
    pub event_type: *const u8,
    /// The length of `event_type` in bytes (may be 0). Added in 0.5.0.
    pub event_type_len: usize,
    /// The event's metadata: opaque bytes, empty for an event appended
    /// without any. Added in 0.5.0.
    pub metadata: *const u8,
    /// The length of `metadata` in bytes (may be 0). Added in 0.5.0.
    pub metadata_len: usize,
}

impl rewind_event {
    pub(crate) fn borrowed(e: &EventRef<'_>) -> rewind_event {
        rewind_event {
            id: e.id.as_ptr(),
            id_len: e.id.len(),
            data: e.data.as_ptr(),
            data_len: e.data.len(),
            stream: e.stream.as_ptr(),
            stream_len: e.stream.len(),
            version: e.version,
            position: e.position,
            event_type: e.event_type.as_ptr(),
            event_type_len: e.event_type.len(),
            metadata: e.metadata.as_ptr(),
            metadata_len: e.metadata.len(),
        }
    }
}

/// `rewind_event` as headers of 0.4.0 declare it: the array stride that
/// programs built against them use with `rewind_events_items`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct LegacyEvent {
    id: *const u8,
    id_len: usize,
    data: *const u8,
    data_len: usize,
    stream: *const u8,
    stream_len: usize,
    version: u64,
    position: u64,
}

/// A function a read calls once per event, in order, with the `userdata`
/// given to the read and the event, borrowed from the store.
///
/// The event and every pointer in it are valid only until the function
/// returns: copy what you keep. Return `true` to go on, `false` to stop the
/// read early (the read still returns REWIND_STATUS_OK).
///
/// The function runs on the thread that called the read, while the read
/// holds a read transaction of the store. It must not call any `rewind_`
/// function on the same store (it may deadlock), must not unwind (no C++
/// exception and no `longjmp` may leave it), and should be quick: a long read
/// transaction delays the store from reusing freed space.
pub type rewind_visitor =
    Option<unsafe extern "C" fn(userdata: *mut c_void, event: *const rewind_event) -> bool>;

/// Where the bytes of one event are in the buffer of a `rewind_events`.
struct Span {
    id: (usize, usize),
    data: (usize, usize),
    stream: (usize, usize),
    event_type: (usize, usize),
    metadata: (usize, usize),
    version: u64,
    position: u64,
}

/// The events of a read, copied out of the store into one buffer.
///
/// Owned by the caller, who frees it with `rewind_events_free`. Every
/// `rewind_event` it hands out, and every pointer inside one, stays valid
/// until then. It is immutable: any number of threads may read it at once.
pub struct rewind_events {
    items: Vec<rewind_event>,
    /// The items in the layout of headers of 0.4.0, made on first use.
    legacy: OnceLock<Vec<LegacyEvent>>,
    _buf: Vec<u8>,
}

/// Collects the events of a read into one buffer, one copy of the bytes and
/// no allocation per event.
#[derive(Default)]
pub(crate) struct EventsBuilder {
    buf: Vec<u8>,
    spans: Vec<Span>,
}

impl EventsBuilder {
    fn put(&mut self, bytes: &[u8]) -> (usize, usize) {
        let at = self.buf.len();
        self.buf.extend_from_slice(bytes);
        (at, bytes.len())
    }

    pub(crate) fn push(&mut self, e: &EventRef<'_>) {
        // Reads of one stream repeat the stream name: keep it once.
        let stream = match self.spans.last() {
            Some(last) if &self.buf[last.stream.0..last.stream.0 + last.stream.1] == e.stream => {
                last.stream
            }
            _ => self.put(e.stream),
        };
        let id = self.put(e.id);
        let data = self.put(e.data);
        let event_type = self.put(e.event_type);
        let metadata = self.put(e.metadata);
        self.spans.push(Span {
            id,
            data,
            stream,
            event_type,
            metadata,
            version: e.version,
            position: e.position,
        });
    }

    pub(crate) fn finish(self) -> Box<rewind_events> {
        let buf = self.buf;
        // The buffer is never written again, so these pointers stay valid
        // for as long as the object lives (moving a Vec keeps its heap).
        let base = buf.as_ptr();
        let at = |(off, _): (usize, usize)| base.wrapping_add(off);
        let items = self
            .spans
            .iter()
            .map(|s| rewind_event {
                id: at(s.id),
                id_len: s.id.1,
                data: at(s.data),
                data_len: s.data.1,
                stream: at(s.stream),
                stream_len: s.stream.1,
                version: s.version,
                position: s.position,
                event_type: at(s.event_type),
                event_type_len: s.event_type.1,
                metadata: at(s.metadata),
                metadata_len: s.metadata.1,
            })
            .collect();
        Box::new(rewind_events {
            items,
            legacy: OnceLock::new(),
            _buf: buf,
        })
    }
}

/// The number of events in `events`; 0 for NULL.
///
/// Never fails or blocks; thread-safe.
///
/// # Safety
/// `events` is NULL or a live object from a read.
#[no_mangle]
pub unsafe extern "C" fn rewind_events_count(events: *const rewind_events) -> usize {
    guard_value(0, || events.as_ref().map_or(0, |e| e.items.len()))
}

/// The events of `events` as an array of `rewind_events_count(events)`
/// items, in read order; NULL when there are none or `events` is NULL.
///
/// The header also names this function `rewind_events_items` (a macro),
/// its name in 0.4.0. The array belongs to `events` and is valid until
/// `rewind_events_free`. Never fails or blocks; thread-safe.
///
/// # Safety
/// `events` is NULL or a live object from a read.
#[no_mangle]
pub unsafe extern "C" fn rewind_events_array(events: *const rewind_events) -> *const rewind_event {
    guard_value(ptr::null(), || match events.as_ref() {
        Some(e) if !e.items.is_empty() => e.items.as_ptr(),
        _ => ptr::null(),
    })
}

/// The symbol that programs built against headers of 0.4.0 call: the
/// events in the layout those headers declare (without type and metadata).
/// Not in the header, which maps the name to `rewind_events_array`.
///
/// # Safety
/// `events` is NULL or a live object from a read.
#[no_mangle]
pub unsafe extern "C" fn rewind_events_items(events: *const rewind_events) -> *const c_void {
    guard_value(ptr::null(), || match events.as_ref() {
        Some(e) if !e.items.is_empty() => {
            let legacy = e.legacy.get_or_init(|| {
                e.items
                    .iter()
                    .map(|i| LegacyEvent {
                        id: i.id,
                        id_len: i.id_len,
                        data: i.data,
                        data_len: i.data_len,
                        stream: i.stream,
                        stream_len: i.stream_len,
                        version: i.version,
                        position: i.position,
                    })
                    .collect()
            });
            legacy.as_ptr().cast()
        }
        _ => ptr::null(),
    })
}

/// The event at `index` (0-based, in read order) of `events`; NULL when
/// `index` is out of range or `events` is NULL.
///
/// The event belongs to `events` and is valid until `rewind_events_free`.
/// Never fails or blocks; thread-safe.
///
/// # Safety
/// `events` is NULL or a live object from a read.
#[no_mangle]
pub unsafe extern "C" fn rewind_events_at(
    events: *const rewind_events,
    index: usize,
) -> *const rewind_event {
    guard_value(ptr::null(), || {
        events
            .as_ref()
            .and_then(|e| e.items.get(index))
            .map_or(ptr::null(), |e| e as *const rewind_event)
    })
}

/// Frees a read result and everything it holds. NULL does nothing.
///
/// Afterwards no pointer obtained from `events` may be used. Never blocks.
/// Free each object once, when no other thread uses it.
///
/// # Safety
/// `events` is NULL or a live object from a read, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn rewind_events_free(events: *mut rewind_events) {
    guard_value((), || {
        if !events.is_null() {
            drop(Box::from_raw(events));
        }
    })
}

/// Where one appended event landed. `id` points into the
/// `rewind_appended` object that holds this item (not NUL-terminated).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct rewind_append_info {
    /// The event's id: the one given, or the UUIDv7 the store generated (36
    /// characters, canonical lowercase form).
    pub id: *const u8,
    /// The length of `id` in bytes.
    pub id_len: usize,
    /// The event's version in its stream.
    pub version: u64,
    /// The event's position in the store-wide log.
    pub position: u64,
}

/// Where one appended event landed, with its stream (an append across
/// streams names several). `id` and `stream` point into the
/// `rewind_appended` object that holds this item (not NUL-terminated).
/// Added in 0.5.0.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct rewind_append_result {
    /// The event's id: the one given, or the UUIDv7 the store generated.
    pub id: *const u8,
    /// The length of `id` in bytes.
    pub id_len: usize,
    /// The stream the event was appended to: 1 to 255 bytes.
    pub stream: *const u8,
    /// The length of `stream` in bytes.
    pub stream_len: usize,
    /// The event's version in its stream.
    pub version: u64,
    /// The event's position in the store-wide log.
    pub position: u64,
}

/// The outcome of one append: the id, stream, version and position of each
/// event, in the order they were given (part by part for an append across
/// streams).
///
/// Owned by the caller, who frees it with `rewind_appended_free`. Immutable:
/// any number of threads may read it at once.
pub struct rewind_appended {
    items: Vec<rewind_append_info>,
    results: Vec<rewind_append_result>,
    _bytes: Vec<u8>,
}

impl rewind_appended {
    pub(crate) fn new(appended: &[Appended]) -> Box<rewind_appended> {
        // Ids, then stream names, in one buffer that is never written again.
        let mut bytes = Vec::new();
        let mut spans = Vec::with_capacity(appended.len());
        for a in appended {
            let id = bytes.len();
            bytes.extend_from_slice(&a.id);
            let stream = bytes.len();
            bytes.extend_from_slice(&a.stream);
            spans.push((id, stream));
        }
        let base = bytes.as_ptr();
        let results: Vec<rewind_append_result> = appended
            .iter()
            .zip(&spans)
            .map(|(a, &(id, stream))| rewind_append_result {
                id: base.wrapping_add(id),
                id_len: a.id.len(),
                stream: base.wrapping_add(stream),
                stream_len: a.stream.len(),
                version: a.version,
                position: a.position,
            })
            .collect();
        let items = results
            .iter()
            .map(|r| rewind_append_info {
                id: r.id,
                id_len: r.id_len,
                version: r.version,
                position: r.position,
            })
            .collect();
        Box::new(rewind_appended {
            items,
            results,
            _bytes: bytes,
        })
    }
}

/// The number of events of the append; 0 for NULL.
///
/// Never fails or blocks; thread-safe.
///
/// # Safety
/// `appended` is NULL or a live object from `rewind_store_append`.
#[no_mangle]
pub unsafe extern "C" fn rewind_appended_count(appended: *const rewind_appended) -> usize {
    guard_value(0, || appended.as_ref().map_or(0, |a| a.items.len()))
}

/// The appended events as an array of `rewind_appended_count(appended)`
/// items, in append order; NULL when `appended` is NULL.
///
/// The array belongs to `appended` and is valid until
/// `rewind_appended_free`. Never fails or blocks; thread-safe.
///
/// # Safety
/// `appended` is NULL or a live object from `rewind_store_append`.
#[no_mangle]
pub unsafe extern "C" fn rewind_appended_items(
    appended: *const rewind_appended,
) -> *const rewind_append_info {
    guard_value(ptr::null(), || match appended.as_ref() {
        Some(a) if !a.items.is_empty() => a.items.as_ptr(),
        _ => ptr::null(),
    })
}

/// The appended event at `index` (0-based, in append order); NULL when
/// `index` is out of range or `appended` is NULL.
///
/// The item belongs to `appended` and is valid until `rewind_appended_free`.
/// Never fails or blocks; thread-safe.
///
/// # Safety
/// `appended` is NULL or a live object from `rewind_store_append`.
#[no_mangle]
pub unsafe extern "C" fn rewind_appended_at(
    appended: *const rewind_appended,
    index: usize,
) -> *const rewind_append_info {
    guard_value(ptr::null(), || {
        appended
            .as_ref()
            .and_then(|a| a.items.get(index))
            .map_or(ptr::null(), |i| i as *const rewind_append_info)
    })
}

/// The appended events with their streams, as an array of
/// `rewind_appended_count(appended)` items in append order; NULL when
/// `appended` is NULL or holds no event. Added in 0.5.0.
///
/// The array belongs to `appended` and is valid until
/// `rewind_appended_free`. Never fails or blocks; thread-safe.
///
/// # Safety
/// `appended` is NULL or a live object from an append.
#[no_mangle]
pub unsafe extern "C" fn rewind_appended_results(
    appended: *const rewind_appended,
) -> *const rewind_append_result {
    guard_value(ptr::null(), || match appended.as_ref() {
        Some(a) if !a.results.is_empty() => a.results.as_ptr(),
        _ => ptr::null(),
    })
}

/// The appended event at `index` (0-based, in append order) with its
/// stream; NULL when `index` is out of range or `appended` is NULL. Added
/// in 0.5.0.
///
/// The item belongs to `appended` and is valid until `rewind_appended_free`.
/// Never fails or blocks; thread-safe.
///
/// # Safety
/// `appended` is NULL or a live object from an append.
#[no_mangle]
pub unsafe extern "C" fn rewind_appended_result_at(
    appended: *const rewind_appended,
    index: usize,
) -> *const rewind_append_result {
    guard_value(ptr::null(), || {
        appended
            .as_ref()
            .and_then(|a| a.results.get(index))
            .map_or(ptr::null(), |r| r as *const rewind_append_result)
    })
}

/// Frees the result of an append. NULL does nothing.
///
/// Afterwards no pointer obtained from `appended` may be used. Never blocks.
///
/// # Safety
/// `appended` is NULL or a live object from `rewind_store_append`, not used
/// afterwards.
#[no_mangle]
pub unsafe extern "C" fn rewind_appended_free(appended: *mut rewind_appended) {
    guard_value((), || {
        if !appended.is_null() {
            drop(Box::from_raw(appended));
        }
    })
}
