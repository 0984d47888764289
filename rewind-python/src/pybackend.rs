//! A [`Backend`] over an event store written in Python (an
//! `rewind.server.eventstores.EventStore`: one of the original file stores,
//! or a user's own class), so the Rust server can serve it.
//!
//! Such a store holds one sequence of events; it is the server's default
//! stream, and an event's version (and position) is its index in it. The
//! backend keeps an index of the keys (read once, when the store is opened)
//! so that it can map ids to versions without asking the store.
//!
//! Appends follow the rules every backend follows: a batch is planned with
//! [`plan_batch`] over the index (a [`StoreView`] of one stream: an append
//! to another stream is refused with `InvalidArgument`, and so is an id that
//! is not UTF-8, since the store's keys are `str`), and only the appends to
//! write are written, in order. Such a store keeps no event types and no
//! metadata: an append of an event with either is refused with
//! `InvalidArgument`. A retry (an append whose events the store holds
//! already, as they are) is told apart from a duplicate by reading those
//! events from the store before planning, and is not written again. An append of one event is written with
//! `add_event(key, event)`; an append of several with the store's
//! `add_events([(key, event), ...])` when it has one (the package's stores
//! do), which writes them all or none, and otherwise with one `add_event`
//! per event: if one fails, the events before it stay in the store (and in
//! the index) and the append is reported as failed. After a failed write,
//! the rest of the batch is planned again against what the store holds.
//!
//! Locking: the index lock is only ever held for short moments, never while
//! Python code runs, so a thread that holds the GIL and waits for the index
//! cannot block a thread that holds the index and waits for the GIL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};
use rewind_core::backend::{
    plan_batch, AppendOutcome, AppendRequest, Backend, PreparedEvent, StoreView, Visitor,
};
use rewind_core::server::ServerOptions;
use rewind_core::{Error, Event, EventRef, Result, Store, StreamHead};

use crate::store::PyStore;
use crate::types::bytes_arg;

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

    fn head(&self) -> Option<StreamHead> {
        self.ids.last().map(|id| {
            let v = self.ids.len() as u64 - 1;
            StreamHead {
                version: v,
                position: v,
                id: id.clone(),
            }
        })
    }
}

/// The events of a batch the store holds already (or why one could not be
/// read), by id.
type Known = HashMap<Vec<u8>, Result<Event, String>>;

/// The index as the batch planner sees it: the store before the batch.
struct IndexView<'a> {
    index: &'a Index,
    /// The one stream the store holds.
    stream: &'a [u8],
    /// The events the batch names that the store holds, read beforehand.
    known: &'a Known,
}

impl StoreView for IndexView<'_> {
    fn head(&mut self, stream: &[u8]) -> Result<Option<StreamHead>> {
        if stream != self.stream {
            return Err(Error::InvalidArgument(format!(
                "this event store holds one stream, {}, not {}",
                rewind_core::Printable(self.stream),
                rewind_core::Printable(stream)
            )));
        }
        Ok(self.index.head())
    }

    fn contains_id(&mut self, id: &[u8]) -> Result<bool> {
        // Asked about every id of an append the plan accepts.
        key_str(id)?;
        Ok(self.index.versions.contains_key(id))
    }

    fn event(&mut self, id: &[u8]) -> Result<Option<Event>> {
        if !self.index.versions.contains_key(id) {
            return Ok(None);
        }
        match self.known.get(id) {
            Some(Ok(e)) => Ok(Some(e.clone())),
            Some(Err(m)) => Err(Error::Backend(m.clone())),
            None => Err(Error::Backend(format!(
                "the event {} was not read before the append",
                rewind_core::Printable(id)
            ))),
        }
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

    /// Plans `batch` against the index (see [`plan_batch`]), after reading
    /// the events of the batch the store holds already (without holding
    /// the index: that runs Python code), to tell retries from duplicates.
    /// Only this thread (the store's writer) changes the index, so it is
    /// the same when planning as when those were looked up.
    fn plan(&self, batch: &[AppendRequest]) -> Result<Vec<Result<AppendOutcome>>> {
        let held: Vec<(Vec<u8>, u64)> = {
            let idx = self.index();
            batch
                .iter()
                .flat_map(AppendRequest::events)
                .filter_map(|(_, e)| idx.versions.get(&e.id).map(|&v| (e.id.clone(), v)))
                .collect()
        };
        let mut known = Known::new();
        for (id, version) in held {
            let event = self.event_at(version).map_err(|e| e.to_string());
            known.insert(id, event);
        }
        let idx = self.index();
        let next = idx.ids.len() as u64;
        let mut view = IndexView {
            index: &idx,
            stream: &self.stream,
            known: &known,
        };
        plan_batch(&mut view, next, batch)
    }

    /// The event at `version`, read from the store.
    fn event_at(&self, version: u64) -> Result<Event> {
        let mut found = None;
        self.visit_from(version, 1, &mut |e| {
            found = Some(e.to_owned());
            false
        })?;
        found.ok_or_else(|| {
            Error::Backend(format!(
                "the event store did not return its event {version}"
            ))
        })
    }

    /// Writes the events of an accepted append to the store, and what the
    /// store took to the index (see the module documentation).
    fn write(&self, py: Python<'_>, req: &AppendRequest) -> Result<()> {
        let events: Vec<&PreparedEvent> = req.events().map(|(_, e)| e).collect();
        if events
            .iter()
            .any(|e| !e.event_type.is_empty() || !e.metadata.is_empty())
        {
            return Err(Error::InvalidArgument(
                "this event store keeps no event types or metadata".into(),
            ));
        }
        let keys = events
            .iter()
            .map(|e| key_str(&e.id))
            .collect::<Result<Vec<&str>>>()?;
        let store = self.store.bind(py);
        if events.len() > 1 {
            let add_events = store
                .getattr_opt("add_events")
                .map_err(|e| backend_err(py, "add_events failed", &e))?
                .filter(|m| m.is_callable());
            if let Some(add_events) = add_events {
                let pairs = events
                    .iter()
                    .zip(&keys)
                    .map(|(e, key)| (*key, PyBytes::new(py, &e.data)));
                let written = PyList::new(py, pairs).and_then(|l| add_events.call1((l,)));
                return match written {
                    Ok(_) => {
                        let mut idx = self.index();
                        for e in &events {
                            idx.push(e.id.clone());
                        }
                        Ok(())
                    }
                    Err(e) => Err(self.add_events_failed(py, &events, &keys, &e)),
                };
            }
        }
        for (event, key) in events.iter().zip(&keys) {
            if let Err(e) = store.call_method1("add_event", (*key, PyBytes::new(py, &event.data))) {
                if Self::is_key_exists_error(py, &e) {
                    return Err(Error::DuplicateId(event.id.clone()));
                }
                return Err(backend_err(py, "add_event failed", &e));
            }
            self.index().push(event.id.clone());
        }
        Ok(())
    }

    /// The error for a failed `add_events`, after bringing the index in step
    /// with the store.
    ///
    /// `add_events` writes all or none. A store that refuses a key the index
    /// does not know wrote nothing: the error names the key when the store
    /// holds it. A store that could not keep the promise after a failure
    /// (a rotated store over a class without `add_events`; synced stores of
    /// which a later one failed) may hold the first events of the append:
    /// those the store reports holding are added to the index.
    fn add_events_failed(
        &self,
        py: Python<'_>,
        events: &[&PreparedEvent],
        keys: &[&str],
        e: &PyErr,
    ) -> Error {
        let store = self.store.bind(py);
        let holds = |key: &str| {
            store
                .call_method1("key_exists", (key,))
                .and_then(|r| r.is_truthy())
                .unwrap_or(false)
        };
        if Self::is_key_exists_error(py, e) {
            return match events.iter().zip(keys).find(|(_, key)| holds(key)) {
                Some((event, _)) => Error::DuplicateId(event.id.clone()),
                None => backend_err(py, "add_events failed", e),
            };
        }
        let err = backend_err(py, "add_events failed", e);
        let kept = keys.iter().take_while(|key| holds(key)).count();
        if kept > 0 {
            log::warn!(
                "the event store kept {kept} of the {} events of an append that failed",
                keys.len()
            );
            let mut idx = self.index();
            for e in &events[..kept] {
                idx.push(e.id.clone());
            }
        }
        err
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
                    event_type: &[],
                    metadata: &[],
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
        Python::attach(|py| {
            let mut outcomes = Vec::with_capacity(batch.len());
            'plan: while outcomes.len() < batch.len() {
                let rest = &batch[outcomes.len()..];
                let plan = match self.plan(rest) {
                    Ok(plan) => plan,
                    Err(e) if outcomes.is_empty() => return Err(e),
                    Err(e) => {
                        // Part of the batch is written: fail only the rest.
                        let msg = e.to_string();
                        outcomes.extend(rest.iter().map(|_| Err(Error::Backend(msg.clone()))));
                        break;
                    }
                };
                for (req, planned) in rest.iter().zip(plan) {
                    let outcome = match planned {
                        Ok(o @ AppendOutcome::Written(_)) => o,
                        // A retry is not written again; a refusal not at all.
                        other => {
                            outcomes.push(other);
                            continue;
                        }
                    };
                    if let Err(e) = self.write(py, req) {
                        outcomes.push(Err(e));
                        // The plan of the appends after it counted on this
                        // one: plan them again.
                        continue 'plan;
                    }
                    outcomes.push(Ok(outcome));
                }
            }
            Ok(outcomes)
        })
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
        Ok(self.index().head())
    }

    fn next_position(&self) -> Result<u64> {
        Ok(self.len())
    }
}

/// `_store_over_event_store(event_store, stream=b"default")`: a
/// `rewind.Store` whose one stream `stream` is the Python event store
/// `event_store`, through the backend the server serves such a store with
/// (appends planned and written as the module documentation says). Closing
/// the `Store` does not close the event store.
#[pyfunction]
#[pyo3(name = "_store_over_event_store", signature = (event_store, stream = None))]
pub fn store_over_event_store(
    py: Python<'_>,
    event_store: Py<PyAny>,
    stream: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyStore> {
    let stream = match stream {
        Some(s) => bytes_arg(s, "stream")?,
        None => ServerOptions::default().default_stream,
    };
    let description = format!(
        "Store over {} (stream {})",
        event_store.bind(py).repr()?,
        rewind_core::Printable(&stream)
    );
    let backend = PyEventStoreBackend::new(py, event_store, stream)?;
    Ok(PyStore::from_store(
        Store::from_backend(Arc::new(backend)),
        description,
    ))
}
