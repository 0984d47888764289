//! `rewind.Store`: the core's store, for Python.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};
use rewind_core::lmdb::LmdbOptions;
use rewind_core::postgres::PostgresOptions;
use rewind_core::{
    Event, LogFilter, NewEvent, StopHandle, Store, StoreOptions, StreamAppend, SubscriptionItem,
};

use crate::errors::IntoPy;
use crate::types::{
    bytes_arg, expected_arg, opt_bytes_arg, PyAppended, PyCaughtUp, PyEvent, PyNewEvent,
    PyStreamHead,
};

/// An event store: named streams of events, durable appends with optimistic
/// concurrency, and reads by version, position and id.
///
/// `Store(path)` opens (or creates) an LMDB store in directory `path`;
/// `Store.in_memory()` makes a store that lives in memory only. A store may
/// be shared by any number of threads. Every call that waits (opening, an
/// append until it is durable on disk, a read) releases the GIL.
///
/// Names and ids are byte strings of 1 to 255 bytes; a `str` is accepted
/// wherever one is expected and encoded as UTF-8. Event data are bytes.
#[pyclass(module = "rewind", name = "Store", frozen)]
pub struct PyStore {
    pub(crate) store: Store,
    description: String,
}

impl PyStore {
    /// Wraps a core store.
    pub fn from_store(store: Store, description: String) -> Self {
        PyStore { store, description }
    }
}

fn new_events(events: &Bound<'_, PyAny>) -> PyResult<Vec<NewEvent>> {
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
fn stream_append(part: &Bound<'_, PyAny>) -> PyResult<StreamAppend> {
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
fn log_filter(
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

fn events_to_py(py: Python<'_>, events: &[Event]) -> Vec<PyEvent> {
    events.iter().map(|e| PyEvent::new(py, e)).collect()
}

#[pymethods]
impl PyStore {
    /// Opens (or creates) the LMDB store in directory `path`.
    ///
    /// `read_only` opens an existing store for reading (other processes may
    /// write to it meanwhile). `map_size_limit` caps the size the store may
    /// grow to, in bytes (by default it grows as long as the disk allows);
    /// `initial_map_size` is the size of the first memory map.
    #[new]
    #[pyo3(signature = (path, *, read_only = false, map_size_limit = None, initial_map_size = None))]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        read_only: bool,
        map_size_limit: Option<usize>,
        initial_map_size: Option<usize>,
    ) -> PyResult<Self> {
        let mut o = LmdbOptions::new(path.clone());
        o.read_only = read_only;
        o.max_map_size = map_size_limit;
        if let Some(s) = initial_map_size {
            o.initial_map_size = s;
        }
        let store = py.detach(|| Store::open(&StoreOptions::Lmdb(o))).py_err()?;
        Ok(PyStore {
            store,
            description: format!("Store({:?})", path.display().to_string()),
        })
    }

    /// Opens the PostgreSQL store in the database `dsn` names (libpq's
    /// `key=value` form or a `postgresql://` URL), creating Rewind's tables
    /// there when it has none. Several stores (and servers) may share one
    /// database and its one gap-free log. `max_idle_connections` bounds the
    /// idle connections kept for reads (default 8).
    #[staticmethod]
    #[pyo3(signature = (dsn, *, max_idle_connections = None))]
    fn postgres(
        py: Python<'_>,
        dsn: String,
        max_idle_connections: Option<usize>,
    ) -> PyResult<Self> {
        let mut o = PostgresOptions::new(dsn);
        if let Some(n) = max_idle_connections {
            o.max_idle_connections = n;
        }
        let description = format!("Store.postgres({:?})", o.describe());
        let store = py
            .detach(|| Store::open(&StoreOptions::Postgres(o)))
            .py_err()?;
        Ok(PyStore { store, description })
    }

    /// A new, empty store that lives in memory and is lost with the process.
    #[staticmethod]
    fn in_memory() -> Self {
        PyStore {
            store: Store::in_memory(),
            description: "Store.in_memory()".into(),
        }
    }

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
        py: Python<'_>,
        stream: &Bound<'_, PyAny>,
        events: &Bound<'_, PyAny>,
        expected_version: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Vec<PyAppended>> {
        let stream = bytes_arg(stream, "stream")?;
        let events = new_events(events)?;
        let expected = expected_arg(expected_version)?;
        let store = &self.store;
        let appended = py
            .detach(|| store.append(&stream, events, expected))
            .py_err()?;
        Ok(appended.into_iter().map(PyAppended::from).collect())
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
    fn append_multi(&self, py: Python<'_>, parts: &Bound<'_, PyAny>) -> PyResult<Vec<PyAppended>> {
        let mut appends = Vec::new();
        for part in parts.try_iter()? {
            appends.push(stream_append(&part?)?);
        }
        let store = &self.store;
        let appended = py.detach(|| store.append_multi(appends)).py_err()?;
        Ok(appended.into_iter().map(PyAppended::from).collect())
    }

    /// Up to `limit` events of `stream` from version `from_version` on, as a
    /// list (`limit=None`: all of them). See `iter_stream` to read a long
    /// stream without holding it in memory.
    #[pyo3(signature = (stream, from_version = 0, limit = None))]
    fn read_stream(
        &self,
        py: Python<'_>,
        stream: &Bound<'_, PyAny>,
        from_version: u64,
        limit: Option<usize>,
    ) -> PyResult<Vec<PyEvent>> {
        let stream = bytes_arg(stream, "stream")?;
        let store = &self.store;
        let events = py
            .detach(|| store.read_stream_vec(&stream, from_version, limit.unwrap_or(usize::MAX)))
            .py_err()?;
        Ok(events_to_py(py, &events))
    }

    /// Up to `limit` events of `stream` backwards, from version
    /// `from_version` (inclusive; `None`, or a version past the end: from
    /// the last event) down to version 0, as a list. A stream that does not
    /// exist has no events.
    #[pyo3(signature = (stream, from_version = None, limit = None))]
    fn read_stream_backward(
        &self,
        py: Python<'_>,
        stream: &Bound<'_, PyAny>,
        from_version: Option<u64>,
        limit: Option<usize>,
    ) -> PyResult<Vec<PyEvent>> {
        let stream = bytes_arg(stream, "stream")?;
        let store = &self.store;
        let events = py
            .detach(|| {
                store.read_stream_backward_vec(&stream, from_version, limit.unwrap_or(usize::MAX))
            })
            .py_err()?;
        Ok(events_to_py(py, &events))
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
        py: Python<'_>,
        from_position: u64,
        limit: Option<usize>,
        stream_prefix: Option<&Bound<'_, PyAny>>,
        types: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Vec<PyEvent>> {
        let filter = log_filter(stream_prefix, types)?;
        let limit = limit.unwrap_or(usize::MAX);
        let store = &self.store;
        let events = py
            .detach(|| {
                if filter.passes_all() {
                    store.read_log_vec(from_position, limit)
                } else {
                    store.read_log_filtered_vec(from_position, limit, &filter)
                }
            })
            .py_err()?;
        Ok(events_to_py(py, &events))
    }

    /// Up to `limit` events of the store-wide log backwards, from position
    /// `from_position` (inclusive; `None`, or a position past the end: from
    /// the last event) down to position 0, as a list.
    #[pyo3(signature = (from_position = None, limit = None))]
    fn read_log_backward(
        &self,
        py: Python<'_>,
        from_position: Option<u64>,
        limit: Option<usize>,
    ) -> PyResult<Vec<PyEvent>> {
        let store = &self.store;
        let events = py
            .detach(|| store.read_log_backward_vec(from_position, limit.unwrap_or(usize::MAX)))
            .py_err()?;
        Ok(events_to_py(py, &events))
    }

    /// Subscribes to the store-wide log from `from_position` (`None`: from
    /// the end of the log now), keeping the events `stream_prefix` and
    /// `types` pass (as for `read_log`). The subscription hands out the
    /// history, then `rewind.CAUGHT_UP` once, then every event as it
    /// commits: in log order, each exactly once. See `Subscription`.
    #[pyo3(signature = (from_position = None, *, stream_prefix = None, types = None))]
    fn subscribe(
        &self,
        py: Python<'_>,
        from_position: Option<u64>,
        stream_prefix: Option<&Bound<'_, PyAny>>,
        types: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PySubscription> {
        let filter = log_filter(stream_prefix, types)?;
        let store = &self.store;
        let sub = py
            .detach(|| store.subscribe(from_position, filter))
            .py_err()?;
        Ok(PySubscription {
            stop: sub.stop_handle(),
            position: AtomicU64::new(sub.position()),
            sub: Mutex::new(sub),
        })
    }

    /// Iterates over the events of `stream` from version `from_version` on,
    /// fetching `chunk_size` events at a time. Events appended while the
    /// iteration runs are included; it stops at the end of the stream.
    #[pyo3(signature = (stream, from_version = 0, *, chunk_size = 256))]
    fn iter_stream(
        &self,
        stream: &Bound<'_, PyAny>,
        from_version: u64,
        chunk_size: usize,
    ) -> PyResult<EventIterator> {
        let stream = bytes_arg(stream, "stream")?;
        Ok(EventIterator::new(
            self.store.clone(),
            Source::Stream(stream),
            from_version,
            None,
            chunk_size,
        ))
    }

    /// Iterates over the store-wide log (every stream, in commit order)
    /// from `from_position` on, fetching `chunk_size` events at a time.
    #[pyo3(signature = (from_position = 0, *, chunk_size = 256))]
    fn iter_log(&self, from_position: u64, chunk_size: usize) -> EventIterator {
        EventIterator::new(
            self.store.clone(),
            Source::Log,
            from_position,
            None,
            chunk_size,
        )
    }

    /// Iterates over the events of `stream` after the event `from_id`
    /// (exclusive) up to the event `to_id` (inclusive), as the wire
    /// protocols define a query; `None` leaves that end open (an open end is
    /// the stream's last event now).
    ///
    /// The range is checked when this is called: `UnknownIdError` for an id
    /// that is not stored or not in `stream`, `RangeOrderError` when
    /// `from_id` comes after `to_id`.
    #[pyo3(signature = (stream, from_id = None, to_id = None, *, chunk_size = 256))]
    fn query(
        &self,
        py: Python<'_>,
        stream: &Bound<'_, PyAny>,
        from_id: Option<&Bound<'_, PyAny>>,
        to_id: Option<&Bound<'_, PyAny>>,
        chunk_size: usize,
    ) -> PyResult<EventIterator> {
        let stream = bytes_arg(stream, "stream")?;
        let from = opt_bytes_arg(from_id, "from_id")?;
        let to = opt_bytes_arg(to_id, "to_id")?;
        let store = &self.store;
        let range = py
            .detach(|| store.resolve_range(&stream, from.as_deref(), to.as_deref()))
            .py_err()?;
        Ok(EventIterator::new(
            self.store.clone(),
            Source::Stream(stream),
            range.start,
            Some(range.end),
            chunk_size,
        ))
    }

    /// The events `query` would iterate over, read at once into a list of
    /// `(id, data)` pairs, each id a `str` (UTF-8; bytes that are not are
    /// kept as surrogate escapes): what the event stores of
    /// `rewind.server.eventstores` return from `get_events`. The range is
    /// checked as `query` checks it; the events are read a chunk at a time
    /// with the GIL released.
    #[pyo3(name = "_query_pairs", signature = (stream, from_id = None, to_id = None))]
    fn query_pairs<'py>(
        &self,
        py: Python<'py>,
        stream: &Bound<'py, PyAny>,
        from_id: Option<&Bound<'py, PyAny>>,
        to_id: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        const CHUNK: u64 = 4096;
        let stream = bytes_arg(stream, "stream")?;
        let from = opt_bytes_arg(from_id, "from_id")?;
        let to = opt_bytes_arg(to_id, "to_id")?;
        let store = &self.store;
        let range = py
            .detach(|| store.resolve_range(&stream, from.as_deref(), to.as_deref()))
            .py_err()?;
        let pairs = PyList::empty(py);
        let mut next = range.start;
        while next < range.end {
            let limit = usize::try_from((range.end - next).min(CHUNK)).unwrap_or(usize::MAX);
            let events = py
                .detach(|| store.read_stream_vec(&stream, next, limit))
                .py_err()?;
            let Some(last) = events.last() else { break };
            next = last.version + 1;
            for e in &events {
                let id = match std::str::from_utf8(&e.id) {
                    Ok(text) => PyString::new(py, text),
                    Err(_) => PyString::from_encoded_object(
                        PyBytes::new(py, &e.id).as_any(),
                        Some(c"utf-8"),
                        Some(c"surrogateescape"),
                    )?,
                };
                pairs.append((id, PyBytes::new(py, &e.data)))?;
            }
        }
        Ok(pairs)
    }

    /// The event with this id, or `None`.
    fn get(&self, py: Python<'_>, id: &Bound<'_, PyAny>) -> PyResult<Option<PyEvent>> {
        let id = bytes_arg(id, "id")?;
        let store = &self.store;
        let event = py.detach(|| store.get(&id)).py_err()?;
        Ok(event.map(|e| PyEvent::new(py, &e)))
    }

    /// Whether an event with this id is stored.
    fn contains(&self, py: Python<'_>, id: &Bound<'_, PyAny>) -> PyResult<bool> {
        let id = bytes_arg(id, "id")?;
        let store = &self.store;
        py.detach(|| store.contains(&id)).py_err()
    }

    fn __contains__(&self, py: Python<'_>, id: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.contains(py, id)
    }

    /// The last event of `stream` (its version, position and id), or `None`
    /// when the stream does not exist.
    fn stream_head(
        &self,
        py: Python<'_>,
        stream: &Bound<'_, PyAny>,
    ) -> PyResult<Option<PyStreamHead>> {
        let stream = bytes_arg(stream, "stream")?;
        let store = &self.store;
        let head = py.detach(|| store.stream_head(&stream)).py_err()?;
        Ok(head.map(PyStreamHead::from))
    }

    /// The position the next appended event will get: the number of events
    /// in the store.
    fn next_position(&self, py: Python<'_>) -> PyResult<u64> {
        let store = &self.store;
        py.detach(|| store.next_position()).py_err()
    }

    /// Commits every append already made, and closes the store for appends
    /// (they raise `ClosedError`). Closing twice is harmless. The files are
    /// released when the last reference to the store goes away.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let store = &self.store;
        py.detach(|| store.close()).py_err()
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        self.description.clone()
    }
}

enum Source {
    Stream(Vec<u8>),
    Log,
}

/// A lazy iteration over events: it fetches a chunk at a time, with the GIL
/// released, and never holds more than one chunk.
#[pyclass(module = "rewind", name = "EventIterator")]
pub struct EventIterator {
    store: Store,
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
    fn new(store: Store, source: Source, next: u64, end: Option<u64>, chunk: usize) -> Self {
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
            Source::Stream(s) => self.store.read_stream_vec(s, self.next, limit)?,
            Source::Log => self.store.read_log_vec(self.next, limit)?,
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

/// The one `rewind.CAUGHT_UP`.
pub fn caught_up(py: Python<'_>) -> PyResult<Py<PyCaughtUp>> {
    static CAUGHT_UP: PyOnceLock<Py<PyCaughtUp>> = PyOnceLock::new();
    CAUGHT_UP
        .get_or_try_init(py, || Py::new(py, PyCaughtUp))
        .map(|c| c.clone_ref(py))
}

/// How long a blocking `__next__` waits between two looks at the
/// interpreter's signals (so that Ctrl-C interrupts it).
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// A live subscription to the log, made by `Store.subscribe`.
///
/// Iterating over it yields `Event`s and, once, `rewind.CAUGHT_UP`; it
/// waits for new commits as long as it takes (with the GIL released) and
/// ends when the subscription is stopped. `next(timeout)` waits at most
/// `timeout` seconds and returns `None` when nothing came (or the
/// subscription is stopped). `stop()` may be called from any thread: it
/// wakes a waiting `next`. Once the store is closed and everything
/// committed before was handed out, `next` raises `ClosedError`. Usable as
/// a context manager, which stops it on exit.
#[pyclass(module = "rewind", name = "Subscription", frozen)]
pub struct PySubscription {
    sub: Mutex<rewind_core::Subscription>,
    stop: StopHandle,
    /// The position to resume from, as of the last item handed out.
    position: AtomicU64,
}

impl PySubscription {
    fn next_item(&self, py: Python<'_>, timeout: Duration) -> PyResult<Option<Py<PyAny>>> {
        let item = py
            .detach(|| {
                let mut sub = self.sub.lock().unwrap_or_else(|e| e.into_inner());
                let item = sub.next_timeout(timeout);
                self.position.store(sub.position(), Ordering::Release);
                item
            })
            .py_err()?;
        Ok(match item {
            None => None,
            Some(SubscriptionItem::Event(e)) => Some(Py::new(py, PyEvent::new(py, &e))?.into_any()),
            Some(SubscriptionItem::CaughtUp) => Some(caught_up(py)?.into_any()),
        })
    }
}

#[pymethods]
impl PySubscription {
    /// The next event (or `rewind.CAUGHT_UP`), waiting at most `timeout`
    /// seconds (`None`: as long as it takes); `None` if nothing came in time
    /// or the subscription is stopped.
    #[pyo3(signature = (timeout = None))]
    fn next(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<Py<PyAny>>> {
        match timeout {
            Some(t) => {
                let t = Duration::try_from_secs_f64(t.max(0.0)).map_err(|_| {
                    PyValueError::new_err("timeout must be a finite number of seconds")
                })?;
                self.next_item(py, t)
            }
            None => loop {
                if let Some(item) = self.next_item(py, SIGNAL_CHECK)? {
                    return Ok(Some(item));
                }
                if self.stop.is_stopped() {
                    return Ok(None);
                }
                py.check_signals()?;
            },
        }
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.next(py, None)
    }

    /// Stops the subscription, from any thread: a waiting `next` returns
    /// `None` (the iteration ends). Stopping twice is harmless.
    fn stop(&self) {
        self.stop.stop();
    }

    /// Whether the subscription has been stopped.
    #[getter]
    fn stopped(&self) -> bool {
        self.stop.is_stopped()
    }

    /// The position to resume from: every event before it has been handed
    /// out or skipped by the filter.
    #[getter]
    fn position(&self) -> u64 {
        self.position.load(Ordering::Acquire)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, PyTuple>) -> bool {
        self.stop();
        false
    }

    fn __repr__(&self) -> String {
        format!(
            "<rewind.Subscription position={}{}>",
            self.position(),
            if self.stopped() { " stopped" } else { "" }
        )
    }
}
