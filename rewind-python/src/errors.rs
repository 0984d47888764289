//! The exceptions of the package, and the one function that maps
//! [`rewind_core::Error`] to them.
//!
//! Every exception derives from `RewindError`; each failure family has one
//! subclass. Some also derive from the built-in exception a Python caller
//! would expect (`ValueError` for bad arguments, `LookupError` for unknown
//! ids, `OSError` for storage failures), so generic handlers keep working.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple, PyType};
use pyo3::IntoPyObjectExt;
use rewind_core::Error;

use crate::types::PyExpectedVersion;

/// The exception classes, created once when the module is imported.
pub struct Exceptions {
    pub base: Py<PyType>,
    pub wrong_expected_version: Py<PyType>,
    pub duplicate_id: Py<PyType>,
    pub unknown_id: Py<PyType>,
    pub range_order: Py<PyType>,
    pub invalid_argument: Py<PyType>,
    pub storage_full: Py<PyType>,
    pub read_only: Py<PyType>,
    pub closed: Py<PyType>,
    pub corrupt: Py<PyType>,
    pub config: Py<PyType>,
    pub storage: Py<PyType>,
    pub network: Py<PyType>,
    pub bind: Py<PyType>,
    pub backend: Py<PyType>,
    pub internal: Py<PyType>,
}

static EXCEPTIONS: PyOnceLock<Exceptions> = PyOnceLock::new();

fn new_class<'py>(
    py: Python<'py>,
    name: &str,
    bases: Vec<Bound<'py, PyAny>>,
    doc: &str,
) -> PyResult<Py<PyType>> {
    let ns = PyDict::new(py);
    ns.set_item("__module__", "rewind")?;
    ns.set_item("__doc__", doc)?;
    let class = py
        .get_type::<PyType>()
        .call1((name, PyTuple::new(py, bases)?, ns))?;
    Ok(class.cast_into::<PyType>()?.unbind())
}

/// Creates the exception classes and adds them to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let exc = |name: &str| -> PyResult<Bound<'_, PyAny>> { py.import("builtins")?.getattr(name) };
    let base = new_class(
        py,
        "RewindError",
        vec![exc("Exception")?],
        "Base class of every error raised by the Rewind store.",
    )?;
    let b = || base.bind(py).clone().into_any();
    let network = new_class(
        py,
        "NetworkError",
        vec![b()],
        "The messaging layer (ZeroMQ) failed: a context or socket could not be set up, or \
         an endpoint bound (see `BindError`).",
    )?;
    let e = Exceptions {
        wrong_expected_version: new_class(
            py,
            "WrongExpectedVersionError",
            vec![b()],
            "An append's expected version did not match the stream (optimistic concurrency \
             conflict). Attributes: `stream` (bytes), `expected` (ExpectedVersion), `actual` \
             (the stream's last version, or None when the stream does not exist). Nothing was \
             appended.",
        )?,
        duplicate_id: new_class(
            py,
            "DuplicateIdError",
            vec![b()],
            "An event with this id is already stored. Attribute: `id` (bytes).",
        )?,
        unknown_id: new_class(
            py,
            "UnknownIdError",
            vec![b(), exc("LookupError")?],
            "No event has this id (or, when `stream` is set, the event belongs to another \
             stream). Attributes: `id` (bytes), `stream` (bytes or None).",
        )?,
        range_order: new_class(
            py,
            "RangeOrderError",
            vec![b(), exc("ValueError")?],
            "In a range query, the `from` event comes after the `to` event.",
        )?,
        invalid_argument: new_class(
            py,
            "InvalidArgumentError",
            vec![b(), exc("ValueError")?],
            "An argument is out of its domain: an id or stream name that is empty or longer \
             than 255 bytes, an empty append, an oversized event. Attribute: `reason`.",
        )?,
        storage_full: new_class(
            py,
            "StorageFullError",
            vec![b()],
            "The store reached its size limit, or the disk is full. Nothing was written; \
             reads keep working.",
        )?,
        read_only: new_class(
            py,
            "ReadOnlyError",
            vec![b()],
            "The store was opened read-only.",
        )?,
        closed: new_class(py, "ClosedError", vec![b()], "The store has been closed.")?,
        corrupt: new_class(
            py,
            "CorruptStoreError",
            vec![b()],
            "The files are not a Rewind store, or are damaged.",
        )?,
        config: new_class(
            py,
            "ConfigError",
            vec![b()],
            "A configuration error, detected before any file is created. Attribute: `reason` \
             (the message without its prefix).",
        )?,
        storage: new_class(
            py,
            "StorageError",
            vec![b(), exc("OSError")?],
            "The operating system or the storage engine (LMDB) reported an error.",
        )?,
        network: network.clone_ref(py),
        bind: new_class(
            py,
            "BindError",
            vec![network.bind(py).clone().into_any()],
            "A server endpoint could not be bound (malformed, not allowed, or in use). \
             Attributes: `endpoint`, `reason`.",
        )?,
        backend: new_class(
            py,
            "BackendError",
            vec![b()],
            "An event store implemented outside the core (a Python event store served by \
             the Rust server) failed.",
        )?,
        internal: new_class(
            py,
            "InternalError",
            vec![b()],
            "A bug in Rewind: an internal thread (such as the server's) panicked.",
        )?,
        base,
    };
    for (name, t) in [
        ("RewindError", &e.base),
        ("WrongExpectedVersionError", &e.wrong_expected_version),
        ("DuplicateIdError", &e.duplicate_id),
        ("UnknownIdError", &e.unknown_id),
        ("RangeOrderError", &e.range_order),
        ("InvalidArgumentError", &e.invalid_argument),
        ("StorageFullError", &e.storage_full),
        ("ReadOnlyError", &e.read_only),
        ("ClosedError", &e.closed),
        ("CorruptStoreError", &e.corrupt),
        ("ConfigError", &e.config),
        ("StorageError", &e.storage),
        ("NetworkError", &e.network),
        ("BindError", &e.bind),
        ("BackendError", &e.backend),
        ("InternalError", &e.internal),
    ] {
        m.add(name, t.bind(py))?;
    }
    let _ = EXCEPTIONS.set(py, e);
    Ok(())
}

/// The exception classes (the module is imported whenever this runs).
pub fn exceptions(py: Python<'_>) -> &Exceptions {
    EXCEPTIONS
        .get(py)
        .expect("the exception classes are created when rewind._native is imported")
}

fn raise(
    py: Python<'_>,
    class: &Py<PyType>,
    message: String,
    attrs: &[(&str, Bound<'_, PyAny>)],
) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let value = class.bind(py).call1((message.clone(),))?;
        for (k, v) in attrs {
            value.setattr(*k, v)?;
        }
        Ok(PyErr::from_value(value))
    };
    build().unwrap_or_else(|e| e)
}

/// Maps an error of the core to the exception of its family: the one place
/// where that mapping lives.
pub fn to_py_err(e: Error) -> PyErr {
    Python::attach(|py| {
        let x = exceptions(py);
        let msg = e.to_string();
        let bytes = |b: &[u8]| PyBytes::new(py, b).into_any();
        match e {
            Error::WrongExpectedVersion {
                stream,
                expected,
                actual,
            } => {
                let expected = match Bound::new(py, PyExpectedVersion(expected)) {
                    Ok(v) => v.into_any(),
                    Err(err) => return err,
                };
                let actual = match actual.into_bound_py_any(py) {
                    Ok(a) => a,
                    Err(err) => return err,
                };
                raise(
                    py,
                    &x.wrong_expected_version,
                    msg,
                    &[
                        ("stream", bytes(&stream)),
                        ("expected", expected),
                        ("actual", actual),
                    ],
                )
            }
            Error::DuplicateId(id) => raise(py, &x.duplicate_id, msg, &[("id", bytes(&id))]),
            Error::UnknownId(id) => raise(
                py,
                &x.unknown_id,
                msg,
                &[("id", bytes(&id)), ("stream", py.None().into_bound(py))],
            ),
            Error::IdNotInStream { id, stream } => raise(
                py,
                &x.unknown_id,
                msg,
                &[("id", bytes(&id)), ("stream", bytes(&stream))],
            ),
            Error::RangeOrder => raise(py, &x.range_order, msg, &[]),
            Error::InvalidArgument(ref m) => {
                let reason = PyString::new(py, m).into_any();
                raise(py, &x.invalid_argument, msg, &[("reason", reason)])
            }
            Error::StorageFull(_) => raise(py, &x.storage_full, msg, &[]),
            Error::ReadOnly => raise(py, &x.read_only, msg, &[]),
            Error::Closed => raise(py, &x.closed, msg, &[]),
            Error::Corrupt(_) => raise(py, &x.corrupt, msg, &[]),
            Error::Config(ref m) => {
                let reason = PyString::new(py, m).into_any();
                raise(py, &x.config, msg, &[("reason", reason)])
            }
            Error::Io(_) | Error::Storage(_) => raise(py, &x.storage, msg, &[]),
            Error::Backend(_) => raise(py, &x.backend, msg, &[]),
            Error::Network(_) => raise(py, &x.network, msg, &[]),
            Error::Bind {
                ref endpoint,
                ref reason,
            } => {
                let endpoint = PyString::new(py, endpoint).into_any();
                let reason = PyString::new(py, reason).into_any();
                raise(
                    py,
                    &x.bind,
                    msg,
                    &[("endpoint", endpoint), ("reason", reason)],
                )
            }
            Error::Internal(_) => raise(py, &x.internal, msg, &[]),
            _ => raise(py, &x.base, msg, &[]),
        }
    })
}

/// `Result` of the core into `PyResult`.
pub trait IntoPy<T> {
    /// Maps the error with [`to_py_err`].
    fn py_err(self) -> PyResult<T>;
}

impl<T> IntoPy<T> for rewind_core::Result<T> {
    fn py_err(self) -> PyResult<T> {
        self.map_err(to_py_err)
    }
}
