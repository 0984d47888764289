//! The value types of the native module: events (new and stored), append
//! results, stream heads, expected versions, the caught-up marker of
//! subscriptions; and the conversions of byte-string arguments.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyMemoryView, PyString};
use rewind_core::{
    client::StreamListing, Appended, Event, ExpectedVersion, NewEvent, StoreInfo, StreamHead,
};

/// Reads a name or data argument: `bytes`, `bytearray`, `memoryview` (any
/// buffer), or `str` (encoded as UTF-8).
pub fn bytes_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u8>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(s.to_cow()?.as_bytes().to_vec());
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(b.to_vec());
    }
    if obj.is_instance_of::<PyMemoryView>() {
        let b = obj.py().get_type::<PyBytes>().call1((obj,))?;
        return Ok(b.cast::<PyBytes>()?.as_bytes().to_vec());
    }
    Err(PyTypeError::new_err(format!(
        "{what} must be bytes or str, not {}",
        obj.get_type().name()?
    )))
}

/// Like [`bytes_arg`], for an optional argument (`None` is `None`).
pub fn opt_bytes_arg(obj: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Option<Vec<u8>>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => bytes_arg(o, what).map(Some),
    }
}

/// The optimistic-concurrency condition of an append.
///
/// `ExpectedVersion.ANY` (append whatever the stream's state),
/// `ExpectedVersion.NO_STREAM` (the stream must not exist),
/// `ExpectedVersion.STREAM_EXISTS` (it must hold at least one event), or
/// `ExpectedVersion.exact(n)` (its last event must have version `n`). An
/// `int` is accepted wherever an `ExpectedVersion` is, meaning `exact`.
#[pyclass(module = "rewind", name = "ExpectedVersion", frozen, eq, hash)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PyExpectedVersion(pub ExpectedVersion);

#[pymethods]
impl PyExpectedVersion {
    /// Append whatever the state of the stream.
    #[classattr]
    const ANY: PyExpectedVersion = PyExpectedVersion(ExpectedVersion::Any);
    /// The stream must not exist yet.
    #[classattr]
    const NO_STREAM: PyExpectedVersion = PyExpectedVersion(ExpectedVersion::NoStream);
    /// The stream must hold at least one event.
    #[classattr]
    const STREAM_EXISTS: PyExpectedVersion = PyExpectedVersion(ExpectedVersion::StreamExists);

    /// The last event of the stream must have exactly this version.
    #[staticmethod]
    fn exact(version: u64) -> Self {
        PyExpectedVersion(ExpectedVersion::Exact(version))
    }

    /// The exact version, or `None` for the other conditions.
    #[getter]
    fn version(&self) -> Option<u64> {
        match self.0 {
            ExpectedVersion::Exact(v) => Some(v),
            _ => None,
        }
    }

    fn __repr__(&self) -> String {
        match self.0 {
            ExpectedVersion::Any => "ExpectedVersion.ANY".into(),
            ExpectedVersion::NoStream => "ExpectedVersion.NO_STREAM".into(),
            ExpectedVersion::StreamExists => "ExpectedVersion.STREAM_EXISTS".into(),
            ExpectedVersion::Exact(v) => format!("ExpectedVersion.exact({v})"),
        }
    }
}

/// Reads an expected-version argument: `ExpectedVersion`, `int` (exact) or
/// `None` (any).
pub fn expected_arg(obj: Option<&Bound<'_, PyAny>>) -> PyResult<ExpectedVersion> {
    let Some(obj) = obj else {
        return Ok(ExpectedVersion::Any);
    };
    if obj.is_none() {
        return Ok(ExpectedVersion::Any);
    }
    if let Ok(v) = obj.cast::<PyExpectedVersion>() {
        return Ok(v.get().0);
    }
    if obj.is_instance_of::<pyo3::types::PyBool>() {
        return Err(PyTypeError::new_err(
            "expected_version must be an ExpectedVersion or an int, not bool",
        ));
    }
    match obj.extract::<u64>() {
        Ok(v) => Ok(ExpectedVersion::Exact(v)),
        Err(_) => Err(PyTypeError::new_err(format!(
            "expected_version must be an ExpectedVersion or a non-negative int, not {}",
            obj.repr()?
        ))),
    }
}

/// An event read from the store.
#[pyclass(module = "rewind", name = "Event", frozen)]
pub struct PyEvent {
    /// The event's id (unique in the store).
    #[pyo3(get)]
    id: Py<PyBytes>,
    /// The event's data.
    #[pyo3(get)]
    data: Py<PyBytes>,
    /// The event's type (`""` when it has none).
    #[pyo3(get, name = "type")]
    event_type: Py<PyString>,
    /// The event's metadata (`b""` when it has none).
    #[pyo3(get)]
    metadata: Py<PyBytes>,
    /// The stream the event belongs to.
    #[pyo3(get)]
    stream: Py<PyBytes>,
    /// Its version in its stream: 0, 1, 2, …
    #[pyo3(get)]
    version: u64,
    /// Its position in the store-wide log.
    #[pyo3(get)]
    position: u64,
}

impl PyEvent {
    pub fn new(py: Python<'_>, e: &Event) -> PyEvent {
        PyEvent {
            id: PyBytes::new(py, &e.id).unbind(),
            data: PyBytes::new(py, &e.data).unbind(),
            // The store only accepts UTF-8 types; a lossy decoding guards
            // against a damaged record.
            event_type: PyString::new(py, &String::from_utf8_lossy(&e.event_type)).unbind(),
            metadata: PyBytes::new(py, &e.metadata).unbind(),
            stream: PyBytes::new(py, &e.stream).unbind(),
            version: e.version,
            position: e.position,
        }
    }
}

#[pymethods]
impl PyEvent {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let mut extra = String::new();
        if !self.event_type.bind(py).to_cow()?.is_empty() {
            extra.push_str(&format!(", type={}", self.event_type.bind(py).repr()?));
        }
        if !self.metadata.bind(py).as_bytes().is_empty() {
            extra.push_str(&format!(
                ", metadata={}",
                short_repr(self.metadata.bind(py))?
            ));
        }
        Ok(format!(
            "Event(id={}, stream={}, version={}, position={}{extra}, data={})",
            self.id.bind(py).repr()?,
            self.stream.bind(py).repr()?,
            self.version,
            self.position,
            short_repr(self.data.bind(py))?
        ))
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(o) = other.cast::<PyEvent>() else {
            return Ok(false);
        };
        let o = o.get();
        Ok(self.version == o.version
            && self.position == o.position
            && self.id.bind(py).as_bytes() == o.id.bind(py).as_bytes()
            && self.stream.bind(py).as_bytes() == o.stream.bind(py).as_bytes()
            && self.data.bind(py).as_bytes() == o.data.bind(py).as_bytes()
            && self.metadata.bind(py).as_bytes() == o.metadata.bind(py).as_bytes()
            && self.event_type.bind(py).to_cow()? == o.event_type.bind(py).to_cow()?)
    }

    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        (self.id.bind(py), self.position).into_pyobject(py)?.hash()
    }
}

fn short_repr(b: &Bound<'_, PyBytes>) -> PyResult<String> {
    let bytes = b.as_bytes();
    if bytes.len() <= 40 {
        return Ok(b.repr()?.to_string());
    }
    let head = PyBytes::new(b.py(), &bytes[..32]).repr()?.to_string();
    Ok(format!("{head}… ({} bytes)", bytes.len()))
}

/// Where one appended event landed.
#[pyclass(module = "rewind", name = "Appended", frozen, eq)]
#[derive(PartialEq)]
pub struct PyAppended {
    id: Vec<u8>,
    stream: Vec<u8>,
    /// Its version in its stream.
    #[pyo3(get)]
    version: u64,
    /// Its position in the store-wide log.
    #[pyo3(get)]
    position: u64,
}

impl From<Appended> for PyAppended {
    fn from(a: Appended) -> Self {
        PyAppended {
            id: a.id,
            stream: a.stream,
            version: a.version,
            position: a.position,
        }
    }
}

#[pymethods]
impl PyAppended {
    /// The event's id (the one given, or the one the store generated).
    #[getter]
    fn id<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.id)
    }

    /// The stream it was appended to.
    #[getter]
    fn stream<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.stream)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Appended(id={}, stream={}, version={}, position={})",
            PyBytes::new(py, &self.id).repr()?,
            PyBytes::new(py, &self.stream).repr()?,
            self.version,
            self.position
        ))
    }
}

/// The last event of a stream.
#[pyclass(module = "rewind", name = "StreamHead", frozen, eq)]
#[derive(PartialEq)]
pub struct PyStreamHead {
    /// The version of the last event (the stream holds `version + 1` events).
    #[pyo3(get)]
    version: u64,
    /// The position of the last event.
    #[pyo3(get)]
    position: u64,
    id: Vec<u8>,
}

impl From<StreamHead> for PyStreamHead {
    fn from(h: StreamHead) -> Self {
        PyStreamHead {
            version: h.version,
            position: h.position,
            id: h.id,
        }
    }
}

#[pymethods]
impl PyStreamHead {
    /// The id of the last event.
    #[getter]
    fn id<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.id)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "StreamHead(version={}, position={}, id={})",
            self.version,
            self.position,
            PyBytes::new(py, &self.id).repr()?
        ))
    }
}

/// An event to append, with what only this form can give: a type and
/// metadata.
///
/// `NewEvent(data, id=None, type="", metadata=b"")`: `data` and `metadata`
/// are bytes (a `str` is encoded as UTF-8), `id` is chosen by the caller or
/// `None` (the store generates a UUIDv7), `type` is text of at most 255
/// bytes in UTF-8.
#[pyclass(module = "rewind", name = "NewEvent", frozen)]
pub struct PyNewEvent {
    pub(crate) event: NewEvent,
}

#[pymethods]
impl PyNewEvent {
    #[new]
    #[pyo3(signature = (data, id = None, r#type = "", metadata = None))]
    fn new(
        data: &Bound<'_, PyAny>,
        id: Option<&Bound<'_, PyAny>>,
        r#type: &str,
        metadata: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        Ok(PyNewEvent {
            event: NewEvent {
                id: opt_bytes_arg(id, "an event id")?,
                event_type: r#type.as_bytes().to_vec(),
                metadata: opt_bytes_arg(metadata, "metadata")?.unwrap_or_default(),
                data: bytes_arg(data, "event data")?,
            },
        })
    }

    /// The id chosen, or `None` (the store will generate one).
    #[getter]
    fn id<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.event.id.as_ref().map(|id| PyBytes::new(py, id))
    }

    /// The event's data.
    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.event.data)
    }

    /// The event's type.
    #[getter(r#type)]
    fn event_type(&self) -> String {
        String::from_utf8_lossy(&self.event.event_type).into_owned()
    }

    /// The event's metadata.
    #[getter]
    fn metadata<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.event.metadata)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyNewEvent>()
            .is_ok_and(|o| o.get().event == self.event)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let e = &self.event;
        let mut text = format!("NewEvent({}", short_repr(&PyBytes::new(py, &e.data))?);
        if let Some(id) = &e.id {
            text.push_str(&format!(", id={}", PyBytes::new(py, id).repr()?));
        }
        if !e.event_type.is_empty() {
            text.push_str(&format!(
                ", type={}",
                PyString::new(py, &String::from_utf8_lossy(&e.event_type)).repr()?
            ));
        }
        if !e.metadata.is_empty() {
            text.push_str(&format!(
                ", metadata={}",
                short_repr(&PyBytes::new(py, &e.metadata))?
            ));
        }
        text.push(')');
        Ok(text)
    }
}

/// The marker a subscription hands out once, when it has handed out the
/// whole history and what follows is live: `rewind.CAUGHT_UP`, the one
/// instance of this class.
#[pyclass(module = "rewind", name = "CaughtUp", frozen)]
pub struct PyCaughtUp;

#[pymethods]
impl PyCaughtUp {
    fn __repr__(&self) -> &'static str {
        "rewind.CAUGHT_UP"
    }
}

/// A stream and its head, as `list_streams` returns them.
#[pyclass(module = "rewind", name = "StreamListing", frozen, eq)]
#[derive(PartialEq)]
pub struct PyStreamListing {
    name: Vec<u8>,
    /// The version of the stream's last event.
    #[pyo3(get)]
    version: u64,
    /// The position of the stream's last event.
    #[pyo3(get)]
    position: u64,
}

impl From<StreamListing> for PyStreamListing {
    fn from(s: StreamListing) -> Self {
        PyStreamListing {
            name: s.name,
            version: s.version,
            position: s.position,
        }
    }
}

#[pymethods]
impl PyStreamListing {
    /// The stream's name.
    #[getter]
    fn name<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.name)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "StreamListing(name={}, version={}, position={})",
            PyBytes::new(py, &self.name).repr()?,
            self.version,
            self.position
        ))
    }
}

/// What a store (embedded, or a server) says of itself, as `info()`
/// returns it.
#[pyclass(module = "rewind", name = "StoreInfo", frozen, eq)]
#[derive(PartialEq)]
pub struct PyStoreInfo {
    /// The version of Rewind serving it (this package's, for an embedded
    /// store).
    #[pyo3(get)]
    version: String,
    /// The position the next event will get: the number of events stored.
    #[pyo3(get)]
    next_position: u64,
    /// The native protocol versions the server speaks (empty for an
    /// embedded store).
    #[pyo3(get)]
    protocol_versions: Vec<String>,
    /// The largest message the server accepts, in bytes (`None` for an
    /// embedded store).
    #[pyo3(get)]
    max_message_size: Option<u64>,
    /// The server's heartbeat interval in seconds (`None` for an embedded
    /// store).
    #[pyo3(get)]
    heartbeat: Option<f64>,
}

impl From<StoreInfo> for PyStoreInfo {
    fn from(i: StoreInfo) -> Self {
        PyStoreInfo {
            version: i.version,
            next_position: i.next_position,
            protocol_versions: i.protocol_versions,
            max_message_size: i.max_message_size,
            heartbeat: i.heartbeat.map(|h| h.as_secs_f64()),
        }
    }
}

#[pymethods]
impl PyStoreInfo {
    fn __repr__(&self) -> String {
        format!(
            "StoreInfo(version={:?}, next_position={}, protocol_versions={:?}, \
             max_message_size={:?}, heartbeat={:?})",
            self.version,
            self.next_position,
            self.protocol_versions,
            self.max_message_size,
            self.heartbeat
        )
    }
}
