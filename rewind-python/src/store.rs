//! `rewind.Store`: the core's embedded store, for Python. Its methods
//! shared with `rewind.Client` are in `methods`; here are those of its own
//! (opening, range queries, closing).

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};
use rewind_core::lmdb::LmdbOptions;
use rewind_core::postgres::PostgresOptions;
use rewind_core::{Store, StoreOptions};

use crate::errors::IntoPy;
use crate::methods::{event_store_class, EventIterator, Source};
use crate::types::{bytes_arg, opt_bytes_arg};

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

event_store_class!(PyStore, store, {
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
            Box::new(self.store.clone()),
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

    /// Commits every append already made, and closes the store for appends
    /// (they raise `ClosedError`). Closing twice is harmless. The files are
    /// released when the last reference to the store goes away.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let store = &self.store;
        py.detach(|| store.close()).py_err()
    }

    fn __repr__(&self) -> String {
        self.description.clone()
    }
});
