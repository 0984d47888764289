//! `rewind.Store`: the core's store, for Python.

use std::collections::VecDeque;
use std::path::PathBuf;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};
use rewind_core::lmdb::LmdbOptions;
use rewind_core::{Event, NewEvent, Store, StoreOptions};

use crate::errors::IntoPy;
use crate::types::{bytes_arg, expected_arg, opt_bytes_arg, PyAppended, PyEvent, PyStreamHead};

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
            "events must be a list of events (data, or (id, data) pairs), not a single bytes or str",
        ));
    }
    let mut out = Vec::new();
    for item in events.try_iter()? {
        let item = item?;
        if let Ok(t) = item.cast::<PyTuple>() {
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
    /// Each event is its data (bytes), or an `(id, data)` pair to choose its
    /// id (an id of `None` is generated: a UUIDv7 in canonical text form).
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

    /// Up to `limit` events of the store-wide log from `from_position` on,
    /// as a list (`limit=None`: all of them). See `iter_log`.
    #[pyo3(signature = (from_position = 0, limit = None))]
    fn read_log(
        &self,
        py: Python<'_>,
        from_position: u64,
        limit: Option<usize>,
    ) -> PyResult<Vec<PyEvent>> {
        let store = &self.store;
        let events = py
            .detach(|| store.read_log_vec(from_position, limit.unwrap_or(usize::MAX)))
            .py_err()?;
        Ok(events_to_py(py, &events))
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
