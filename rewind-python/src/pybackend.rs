//! A [`Backend`] over an event store written in Python (an
//! `rewind.server.eventstores.EventStore`: one of the original file stores,
//! or a user's own class), so the Rust server can serve it.
//!
//! Such a store holds one sequence of events; it is the server's default
//! stream, and an event's version (and position) is its index in it. The
//! backend keeps an index of the keys (read once, when the store is opened)
//! so that it can map ids to versions without asking the store.
//!
//! Locking: the index lock is only ever held for short moments, never while
//! Python code runs, so a thread that holds the GIL and waits for the index
//! cannot block a thread that holds the index and waits for the GIL.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use rewind_core::backend::{AppendOutcome, AppendRequest, Backend, Visitor};
use rewind_core::{Error, EventRef, Result, StreamHead};

#[derive(Default)]
struct Index {
    /// Every key, in order: the key of version `v` is `ids[v]`.
    ids: Vec<Vec<u8>>,
    versions: HashMap<Vec<u8>, u64>,
}

impl Index {
    fn push(&mut self, id: Vec<u8>) {
        self.versions.insert(id.clone(), self.ids.len() as u64);
        self.ids.push(id);
    }
}

/// Serves a Python event store (see the module documentation).
pub struct PyEventStoreBackend {
    store: Py<PyAny>,
    stream: Vec<u8>,
    index: Mutex<Index>,
}

/// Describes a Python exception for an error message (and logs its traceback).
fn describe(py: Python<'_>, what: &str, e: &PyErr) -> String {
    let kind = e
        .get_type(py)
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".into());
    let msg = format!("{what}: {kind}: {}", e.value(py));
    log::error!("{msg}");
    msg
}

fn backend_err(py: Python<'_>, what: &str, e: &PyErr) -> Error {
    Error::Backend(describe(py, what, e))
}

/// A key or event from Python: `str` (UTF-8) or bytes-like.
fn to_bytes(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(s.to_cow()?.as_bytes().to_vec());
    }
    let b = obj.py().get_type::<PyBytes>().call1((obj,))?;
    Ok(b.cast::<PyBytes>()?.as_bytes().to_vec())
}

fn key_str(id: &[u8]) -> Result<&str> {
    std::str::from_utf8(id)
        .map_err(|_| Error::InvalidArgument("this event store takes UTF-8 text ids only".into()))
}

impl PyEventStoreBackend {
    /// Wraps `store`, whose events become stream `stream`; reads its keys
    /// once to build the index.
    pub fn new(py: Python<'_>, store: Py<PyAny>, stream: Vec<u8>) -> PyResult<Self> {
        let mut index = Index::default();
        let events = store.bind(py).call_method0("get_events")?;
        for item in events.try_iter()? {
            let (key, _data): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item?.extract()?;
            let key = to_bytes(&key)?;
            if index.versions.contains_key(&key) {
                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "the event store holds the key {} twice",
                    rewind_core::Printable(&key)
                )));
            }
            index.push(key);
        }
        Ok(PyEventStoreBackend {
            store,
            stream,
            index: Mutex::new(index),
        })
    }

    fn index(&self) -> MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn len(&self) -> u64 {
        self.index().ids.len() as u64
    }

    fn is_key_exists_error(py: Python<'_>, e: &PyErr) -> bool {
        let check = || -> PyResult<bool> {
            let class = py
                .import("rewind.server.eventstores")?
                .getattr("EventStore")?
                .getattr("EventKeyAlreadyExistError")?;
            e.value(py).is_instance(&class)
        };
        check().unwrap_or(false)
    }

    fn append_one(&self, py: Python<'_>, req: &AppendRequest) -> Result<AppendOutcome> {
        if req.stream != self.stream {
            return Err(Error::InvalidArgument(format!(
                "this event store holds one stream, {}, not {}",
                rewind_core::Printable(&self.stream),
                rewind_core::Printable(&req.stream)
            )));
        }
        let (first, prev_id) = {
            let idx = self.index();
            let len = idx.ids.len() as u64;
            let actual = len.checked_sub(1);
            if !req.expected.allows(actual) {
                return Err(Error::WrongExpectedVersion {
                    stream: req.stream.clone(),
                    expected: req.expected,
                    actual,
                });
            }
            let mut seen = HashSet::new();
            for (id, _) in &req.events {
                key_str(id)?;
                if !seen.insert(id.as_slice()) || idx.versions.contains_key(id) {
                    return Err(Error::DuplicateId(id.clone()));
                }
            }
            (len, idx.ids.last().cloned())
        };
        let store = self.store.bind(py);
        for (id, data) in &req.events {
            let key = key_str(id)?;
            if let Err(e) = store.call_method1("add_event", (key, PyBytes::new(py, data))) {
                if Self::is_key_exists_error(py, &e) {
                    return Err(Error::DuplicateId(id.clone()));
                }
                return Err(backend_err(py, "add_event failed", &e));
            }
            self.index().push(id.clone());
        }
        Ok(AppendOutcome {
            first_version: first,
            first_position: first,
            prev_id,
        })
    }

    /// Visits up to `limit` events from version `from` on.
    fn visit_from(&self, from: u64, limit: usize, visit: &mut Visitor<'_>) -> Result<()> {
        let (from_key, to_key, count) = {
            let idx = self.index();
            let len = idx.ids.len() as u64;
            if from >= len || limit == 0 {
                return Ok(());
            }
            let count = (len - from).min(limit as u64);
            let end = from + count;
            let from_key = (from > 0).then(|| idx.ids[from as usize - 1].clone());
            (from_key, idx.ids[end as usize - 1].clone(), count)
        };
        Python::attach(|py| {
            let from_key = from_key.as_deref().map(key_str).transpose()?;
            let to_key = key_str(&to_key)?;
            let events = self
                .store
                .bind(py)
                .call_method1("get_events", (from_key, to_key))
                .and_then(|events| events.try_iter())
                .map_err(|e| backend_err(py, "get_events failed", &e))?;
            for (version, item) in (from..from + count).zip(events) {
                let pair = item
                    .and_then(|i| {
                        let (k, d): (Bound<'_, PyAny>, Bound<'_, PyAny>) = i.extract()?;
                        Ok((to_bytes(&k)?, to_bytes(&d)?))
                    })
                    .map_err(|e| backend_err(py, "get_events failed", &e))?;
                let (id, data) = pair;
                let ev = EventRef {
                    id: &id,
                    data: &data,
                    stream: &self.stream,
                    version,
                    position: version,
                };
                if !visit(ev) {
                    break;
                }
            }
            Ok(())
        })
    }
}

impl Backend for PyEventStoreBackend {
    fn append_batch(&self, batch: &[AppendRequest]) -> Result<Vec<Result<AppendOutcome>>> {
        Python::attach(|py| Ok(batch.iter().map(|req| self.append_one(py, req)).collect()))
    }

    fn read_log(&self, from_position: u64, limit: usize, visit: &mut Visitor<'_>) -> Result<()> {
        self.visit_from(from_position, limit, visit)
    }

    fn read_stream(
        &self,
        stream: &[u8],
        from_version: u64,
        limit: usize,
        visit: &mut Visitor<'_>,
    ) -> Result<()> {
        if stream != self.stream.as_slice() {
            return Ok(());
        }
        self.visit_from(from_version, limit, visit)
    }

    fn get(&self, id: &[u8], visit: &mut Visitor<'_>) -> Result<bool> {
        let version = match self.index().versions.get(id) {
            Some(&v) => v,
            None => return Ok(false),
        };
        let mut found = false;
        self.visit_from(version, 1, &mut |e| {
            if e.id != id {
                return false;
            }
            found = true;
            visit(e)
        })?;
        if !found {
            return Err(Error::Backend(format!(
                "the event store did not return the event {} it holds",
                rewind_core::Printable(id)
            )));
        }
        Ok(true)
    }

    fn stream_head(&self, stream: &[u8]) -> Result<Option<StreamHead>> {
        if stream != self.stream.as_slice() {
            return Ok(None);
        }
        let idx = self.index();
        Ok(idx.ids.last().map(|id| {
            let v = idx.ids.len() as u64 - 1;
            StreamHead {
                version: v,
                position: v,
                id: id.clone(),
            }
        }))
    }

    fn next_position(&self) -> Result<u64> {
        Ok(self.len())
    }
}
