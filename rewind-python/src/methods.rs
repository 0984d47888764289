//! What `rewind.Store` and `rewind.Client` share, written once: the
//! Python methods over the core's [`EventStore`] (the macro
//! `event_store_class!`, which each class invokes with its own extra
//! methods), the argument conversions they use, and `EventIterator`, the
//! lazy iteration over either kind.

use std::collections::VecDeque;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};
use rewind_core::{Event, EventStore, LogFilter, NewEvent, StreamAppend};

use crate::errors::IntoPy;
use crate::types::{bytes_arg, expected_arg, opt_bytes_arg, PyEvent, PyNewEvent};

/// Defines the `#[pymethods]` of a class over an [`EventStore`] held in
/// field `$field`: the methods every event store has, with the same
/// arguments, results and exceptions (the class's `close(py)` is called on
/// leaving a `with` block), and the class's own `$extra` methods. The
/// invoking module has `pyo3::prelude::*` and `crate::errors::IntoPy` in
/// scope.
macro_rules! event_store_class {
    ($ty:ty, $field:ident, { $($extra:tt)* }) => {
        #[pymethods]
        impl $ty {
            $($extra)*

            /// Appends `events` to `stream` atomically, if the stream is at
            /// `expected_version`, and returns where each landed once the append is
            /// durable on disk.
            ///
            /// Each event is its data (bytes), an `(id, data)` pair to choose its
            /// id (an id of `None` is generated: a UUIDv7 in canonical text form),
            /// or a `NewEvent` (which can also carry a type and metadata).
            ///
            /// Raises `WrongExpectedVersionError` on a version conflict,
            /// `DuplicateIdError` when an id is taken, `InvalidArgumentError` for an
            /// empty list or a bad name, `StorageFullError`, `ClosedError`.
            #[pyo3(signature = (stream, events, expected_version = None))]
            fn append(
                &self,
                py: ::pyo3::Python<'_>,
                stream: &::pyo3::Bound<'_, ::pyo3::PyAny>,
                events: &::pyo3::Bound<'_, ::pyo3::PyAny>,
                expected_version: Option<&::pyo3::Bound<'_, ::pyo3::PyAny>>,
            ) -> ::pyo3::PyResult<Vec<$crate::types::PyAppended>> {
                let stream = $crate::types::bytes_arg(stream, "stream")?;
                let events = $crate::methods::new_events(events)?;
                let expected = $crate::types::expected_arg(expected_version)?;
                let store = &self.$field;
                let appended = py
                    .detach(|| store.append(&stream, events, expected))
                    .py_err()?;
                Ok(appended.into_iter().map($crate::types::PyAppended::from).collect())
            }

            /// Appends to several streams in one atomic commit: every part is
            /// appended, or none is. `parts` is a list of `(stream, events)` or
            /// `(stream, events, expected_version)` tuples (events as for `append`);
            /// a stream may appear in only one part. Returns where each event
            /// landed, part after part, each `Appended` naming its stream.
            ///
            /// Sending again an append that succeeded (every event with its id,
            /// stored identically) returns the positions of the first time and
            /// writes nothing. Raises as `append` does.
            fn append_multi(&self, py: ::pyo3::Python<'_>, parts: &::pyo3::Bound<'_, ::pyo3::PyAny>) -> ::pyo3::PyResult<Vec<$crate::types::PyAppended>> {
                let mut appends = Vec::new();
                for part in parts.try_iter()? {
                    appends.push($crate::methods::stream_append(&part?)?);
                }
                let store = &self.$field;
                let appended = py.detach(|| store.append_multi(appends)).py_err()?;
                Ok(appended.into_iter().map($crate::types::PyAppended::from).collect())
            }

            /// Up to `limit` events of `stream` from version `from_version` on, as a
            /// list (`limit=None`: all of them). See `iter_stream` to read a long
            /// stream without holding it in memory.
            #[pyo3(signature = (stream, from_version = 0, limit = None))]
            fn read_stream(
                &self,
                py: ::pyo3::Python<'_>,
                stream: &::pyo3::Bound<'_, ::pyo3::PyAny>,
                from_version: u64,
                limit: Option<usize>,
            ) -> ::pyo3::PyResult<Vec<$crate::types::PyEvent>> {
                let stream = $crate::types::bytes_arg(stream, "stream")?;
                let store = &self.$field;
                let events = py
                    .detach(|| store.read_stream_vec(&stream, from_version, limit.unwrap_or(usize::MAX)))
                    .py_err()?;
                Ok($crate::methods::events_to_py(py, &events))
            }

            /// Up to `limit` events of `stream` backwards, from version
            /// `from_version` (inclusive; `None`, or a version past the end: from
            /// the last event) down to version 0, as a list. A stream that does not
            /// exist has no events.
            #[pyo3(signature = (stream, from_version = None, limit = None))]
            fn read_stream_backward(
                &self,
                py: ::pyo3::Python<'_>,
                stream: &::pyo3::Bound<'_, ::pyo3::PyAny>,
                from_version: Option<u64>,
                limit: Option<usize>,
            ) -> ::pyo3::PyResult<Vec<$crate::types::PyEvent>> {
                let stream = $crate::types::bytes_arg(stream, "stream")?;
                let store = &self.$field;
                let events = py
                    .detach(|| {
                        store.read_stream_backward_vec(&stream, from_version, limit.unwrap_or(usize::MAX))
                    })
                    .py_err()?;
                Ok($crate::methods::events_to_py(py, &events))
            }

            /// Up to `limit` events of the store-wide log from `from_position` on,
            /// as a list (`limit=None`: all of them). See `iter_log`.
            ///
            /// `stream_prefix` keeps only the events of streams whose names start
            /// with it; `types` (a collection of event types) only the events of
            /// those types. With a filter, `limit` counts the events returned: the
            /// read goes on past the events the filter skips.
            #[pyo3(signature = (from_position = 0, limit = None, stream_prefix = None, types = None))]
            fn read_log(
                &self,
                py: ::pyo3::Python<'_>,
                from_position: u64,
                limit: Option<usize>,
                stream_prefix: Option<&::pyo3::Bound<'_, ::pyo3::PyAny>>,
                types: Option<&::pyo3::Bound<'_, ::pyo3::PyAny>>,
            ) -> ::pyo3::PyResult<Vec<$crate::types::PyEvent>> {
                let filter = $crate::methods::log_filter(stream_prefix, types)?;
                let limit = limit.unwrap_or(usize::MAX);
                let store = &self.$field;
                let events = py
                    .detach(|| {
                        if filter.passes_all() {
                            store.read_log_vec(from_position, limit)
                        } else {
                            store.read_log_filtered_vec(from_position, limit, &filter)
                        }
                    })
                    .py_err()?;
                Ok($crate::methods::events_to_py(py, &events))
            }

            /// Up to `limit` events of the store-wide log backwards, from position
            /// `from_position` (inclusive; `None`, or a position past the end: from
            /// the last event) down to position 0, as a list.
            #[pyo3(signature = (from_position = None, limit = None))]
            fn read_log_backward(
                &self,
                py: ::pyo3::Python<'_>,
                from_position: Option<u64>,
                limit: Option<usize>,
            ) -> ::pyo3::PyResult<Vec<$crate::types::PyEvent>> {
                let store = &self.$field;
                let events = py
                    .detach(|| store.read_log_backward_vec(from_position, limit.unwrap_or(usize::MAX)))
                    .py_err()?;
                Ok($crate::methods::events_to_py(py, &events))
            }

            /// Subscribes to the store-wide log from `from_position` (`None`: from
            /// the end of the log now), keeping the events `stream_prefix` and
            /// `types` pass (as for `read_log`). The subscription hands out the
            /// history, then `rewind.CAUGHT_UP` once, then every event as it
            /// commits: in log order, each exactly once. See `Subscription`.
            #[pyo3(signature = (from_position = None, *, stream_prefix = None, types = None))]
            fn subscribe(
                &self,
                py: ::pyo3::Python<'_>,
                from_position: Option<u64>,
                stream_prefix: Option<&::pyo3::Bound<'_, ::pyo3::PyAny>>,
                types: Option<&::pyo3::Bound<'_, ::pyo3::PyAny>>,
            ) -> ::pyo3::PyResult<$crate::subscription::PySubscription> {
                let filter = $crate::methods::log_filter(stream_prefix, types)?;
                let store = &self.$field;
                let sub = py
                    .detach(|| store.subscribe(from_position, filter))
                    .py_err()?;
                Ok($crate::subscription::PySubscription::new(sub))
            }

            /// Iterates over the events of `stream` from version `from_version` on,
            /// fetching `chunk_size` events at a time. Events appended while the
            /// iteration runs are included; it stops at the end of the stream.
            #[pyo3(signature = (stream, from_version = 0, *, chunk_size = 256))]
            fn iter_stream(
                &self,
                stream: &::pyo3::Bound<'_, ::pyo3::PyAny>,
                from_version: u64,
                chunk_size: usize,
            ) -> ::pyo3::PyResult<$crate::methods::EventIterator> {
                let stream = $crate::types::bytes_arg(stream, "stream")?;
                Ok($crate::methods::EventIterator::new(
                    Box::new(self.$field.clone()),
                    $crate::methods::Source::Stream(stream),
                    from_version,
                    None,
                    chunk_size,
                ))
            }

            /// Iterates over the store-wide log (every stream, in commit order)
            /// from `from_position` on, fetching `chunk_size` events at a time.
            #[pyo3(signature = (from_position = 0, *, chunk_size = 256))]
            fn iter_log(&self, from_position: u64, chunk_size: usize) -> $crate::methods::EventIterator {
                $crate::methods::EventIterator::new(
                    Box::new(self.$field.clone()),
                    $crate::methods::Source::Log,
                    from_position,
                    None,
                    chunk_size,
                )
            }

            /// The event with this id, or `None`.
            fn get(&self, py: ::pyo3::Python<'_>, id: &::pyo3::Bound<'_, ::pyo3::PyAny>) -> ::pyo3::PyResult<Option<$crate::types::PyEvent>> {
                let id = $crate::types::bytes_arg(id, "id")?;
                let store = &self.$field;
                let event = py.detach(|| store.get(&id)).py_err()?;
                Ok(event.map(|e| $crate::types::PyEvent::new(py, &e)))
            }

            /// Whether an event with this id is stored.
            fn contains(&self, py: ::pyo3::Python<'_>, id: &::pyo3::Bound<'_, ::pyo3::PyAny>) -> ::pyo3::PyResult<bool> {
                let id = $crate::types::bytes_arg(id, "id")?;
                let store = &self.$field;
                py.detach(|| store.contains(&id)).py_err()
            }

            fn __contains__(&self, py: ::pyo3::Python<'_>, id: &::pyo3::Bound<'_, ::pyo3::PyAny>) -> ::pyo3::PyResult<bool> {
                self.contains(py, id)
            }

            /// The last event of `stream` (its version, position and id), or `None`
            /// when the stream does not exist.
            fn stream_head(
                &self,
                py: ::pyo3::Python<'_>,
                stream: &::pyo3::Bound<'_, ::pyo3::PyAny>,
            ) -> ::pyo3::PyResult<Option<$crate::types::PyStreamHead>> {
                let stream = $crate::types::bytes_arg(stream, "stream")?;
                let store = &self.$field;
                let head = py.detach(|| store.stream_head(&stream)).py_err()?;
                Ok(head.map($crate::types::PyStreamHead::from))
            }

            /// The position the next appended event will get: the number of events
            /// in the store.
            fn next_position(&self, py: ::pyo3::Python<'_>) -> ::pyo3::PyResult<u64> {
                let store = &self.$field;
                py.detach(|| store.next_position()).py_err()
            }

            fn __enter__(slf: ::pyo3::Py<Self>) -> ::pyo3::Py<Self> {
                slf
            }

            #[pyo3(signature = (*_args))]
            fn __exit__(&self, py: ::pyo3::Python<'_>, _args: &::pyo3::Bound<'_, ::pyo3::types::PyTuple>) -> ::pyo3::PyResult<bool> {
                self.close(py)?;
                Ok(false)
            }

            /// Up to `limit` streams (1 to 1,000) whose names sort after `after`
            /// (byte-wise; empty to start), in name order, each with the version
            /// and position of its last event. Fewer than `limit` means the listing
            /// is complete; otherwise ask again with the last name as `after`.
            #[pyo3(signature = (after = None, limit = 1000))]
            fn list_streams(
                &self,
                py: ::pyo3::Python<'_>,
                after: Option<&::pyo3::Bound<'_, ::pyo3::PyAny>>,
                limit: usize,
            ) -> ::pyo3::PyResult<Vec<$crate::types::PyStreamListing>> {
                let after = $crate::types::opt_bytes_arg(after, "after")?.unwrap_or_default();
                let store = &self.$field;
                let page = py
                    .detach(|| ::rewind_core::EventStore::list_streams(store, &after, limit))
                    .py_err()?;
                Ok(page.into_iter().map($crate::types::PyStreamListing::from).collect())
            }

            /// What the store says of itself (a `StoreInfo`): the version of
            /// Rewind serving it, the next position and, for a server, its protocol
            /// versions, largest message and heartbeat interval.
            fn info(&self, py: ::pyo3::Python<'_>) -> ::pyo3::PyResult<$crate::types::PyStoreInfo> {
                let store = &self.$field;
                let info = py
                    .detach(|| ::rewind_core::EventStore::info(store))
                    .py_err()?;
                Ok(info.into())
            }

        }
    };
}
pub(crate) use event_store_class;

pub(crate) fn new_events(events: &Bound<'_, PyAny>) -> PyResult<Vec<NewEvent>> {
    if events.is_instance_of::<PyBytes>() || events.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(
            "events must be a list of events (data, (id, data) pairs or NewEvent), not a single bytes or str",
        ));
    }
    let mut out = Vec::new();
    for item in events.try_iter()? {
        let item = item?;
        if let Ok(e) = item.cast::<PyNewEvent>() {
            out.push(e.get().event.clone());
        } else if let Ok(t) = item.cast::<PyTuple>() {
            if t.len() != 2 {
                return Err(PyTypeError::new_err(
                    "an event given as a tuple must be a pair (id, data)",
                ));
            }
            let id = opt_bytes_arg(Some(&t.get_item(0)?), "an event id")?;
            let data = bytes_arg(&t.get_item(1)?, "event data")?;
            out.push(NewEvent {
                id,
                data,
                ..NewEvent::default()
            });
        } else {
            out.push(NewEvent::new(bytes_arg(&item, "event data")?));
        }
    }
    Ok(out)
}

/// Reads one part of `append_multi`: a `(stream, events)` or
/// `(stream, events, expected_version)` tuple.
pub(crate) fn stream_append(part: &Bound<'_, PyAny>) -> PyResult<StreamAppend> {
    let t = part.cast::<PyTuple>().map_err(|_| {
        PyTypeError::new_err(
            "each part of append_multi must be a tuple (stream, events) or (stream, events, expected_version)",
        )
    })?;
    if t.len() != 2 && t.len() != 3 {
        return Err(PyTypeError::new_err(
            "each part of append_multi must be a tuple (stream, events) or (stream, events, expected_version)",
        ));
    }
    let stream = bytes_arg(&t.get_item(0)?, "stream")?;
    let events = new_events(&t.get_item(1)?)?;
    let expected = if t.len() == 3 {
        expected_arg(Some(&t.get_item(2)?))?
    } else {
        expected_arg(None)?
    };
    Ok(StreamAppend::new(stream, events, expected))
}

/// The filter of `read_log` and `subscribe`: a stream-name prefix and a set
/// of event types, each optional.
pub(crate) fn log_filter(
    stream_prefix: Option<&Bound<'_, PyAny>>,
    types: Option<&Bound<'_, PyAny>>,
) -> PyResult<LogFilter> {
    let mut filter = LogFilter::all();
    if let Some(prefix) = opt_bytes_arg(stream_prefix, "stream_prefix")? {
        filter = filter.with_stream_prefix(prefix);
    }
    if let Some(types) = types.filter(|t| !t.is_none()) {
        if types.is_instance_of::<PyString>() || types.is_instance_of::<PyBytes>() {
            return Err(PyTypeError::new_err(
                "types must be a collection of event types, not a single str or bytes",
            ));
        }
        let mut set = Vec::new();
        for t in types.try_iter()? {
            set.push(bytes_arg(&t?, "an event type")?);
        }
        filter = filter.with_event_types(set);
    }
    Ok(filter)
}

pub(crate) fn events_to_py(py: Python<'_>, events: &[Event]) -> Vec<PyEvent> {
    events.iter().map(|e| PyEvent::new(py, e)).collect()
}

/// What an [`EventIterator`] needs of a store, boxed: both kinds
/// ([`EventStore`]) have it.
pub(crate) trait ChunkReader: Send + Sync {
    fn stream_chunk(
        &self,
        stream: &[u8],
        from: u64,
        limit: usize,
    ) -> rewind_core::Result<Vec<Event>>;
    fn log_chunk(&self, from: u64, limit: usize) -> rewind_core::Result<Vec<Event>>;
}

impl<S: EventStore> ChunkReader for S {
    fn stream_chunk(
        &self,
        stream: &[u8],
        from: u64,
        limit: usize,
    ) -> rewind_core::Result<Vec<Event>> {
        self.read_stream_vec(stream, from, limit)
    }
    fn log_chunk(&self, from: u64, limit: usize) -> rewind_core::Result<Vec<Event>> {
        self.read_log_vec(from, limit)
    }
}

/// What an [`EventIterator`] reads: one stream, or the whole log.
pub(crate) enum Source {
    Stream(Vec<u8>),
    Log,
}

/// A lazy iteration over events: it fetches a chunk at a time, with the GIL
/// released, and never holds more than one chunk.
#[pyclass(module = "rewind", name = "EventIterator")]
pub struct EventIterator {
    store: Box<dyn ChunkReader>,
    source: Source,
    /// The next version (stream) or position (log) to fetch.
    next: u64,
    /// Where to stop (exclusive), if anywhere.
    end: Option<u64>,
    chunk: usize,
    buffer: VecDeque<Event>,
    exhausted: bool,
}

impl EventIterator {
    pub(crate) fn new(
        store: Box<dyn ChunkReader>,
        source: Source,
        next: u64,
        end: Option<u64>,
        chunk: usize,
    ) -> Self {
        EventIterator {
            store,
            source,
            next,
            end,
            chunk: chunk.max(1),
            buffer: VecDeque::new(),
            exhausted: false,
        }
    }

    fn fetch(&mut self) -> rewind_core::Result<()> {
        let mut limit = self.chunk;
        if let Some(end) = self.end {
            let left = end.saturating_sub(self.next);
            limit = limit.min(usize::try_from(left).unwrap_or(usize::MAX));
        }
        if limit == 0 {
            self.exhausted = true;
            return Ok(());
        }
        let events = match &self.source {
            Source::Stream(s) => self.store.stream_chunk(s, self.next, limit)?,
            Source::Log => self.store.log_chunk(self.next, limit)?,
        };
        match (&self.source, events.last()) {
            (_, None) => self.exhausted = true,
            (Source::Stream(_), Some(last)) => self.next = last.version + 1,
            (Source::Log, Some(last)) => self.next = last.position + 1,
        }
        self.buffer.extend(events);
        Ok(())
    }
}

#[pymethods]
impl EventIterator {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<PyEvent>> {
        if self.buffer.is_empty() && !self.exhausted {
            py.detach(|| self.fetch()).py_err()?;
        }
        Ok(self.buffer.pop_front().map(|e| PyEvent::new(py, &e)))
    }
}
