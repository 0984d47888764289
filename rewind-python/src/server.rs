//! The server, run in-process: the configuration is interpreted by the
//! core ([`Config::from_ini`]) and served by [`Server`], both protocols.

use std::sync::Arc;
use std::time::Duration;

use pyo3::prelude::*;
use rewind_core::config::{Config, Ini, StoreConfig};
use rewind_core::server::{ExitReason, Server};
use rewind_core::{Error, Store, StoreOptions};

use crate::errors::{to_py_err, IntoPy};
use crate::pybackend::PyEventStoreBackend;

/// How often the waiting thread looks for signals (Ctrl-C).
const SIGNAL_POLL: Duration = Duration::from_millis(100);

/// A configuration, as the core interprets it.
#[pyclass(module = "rewind._native", name = "ServerConfig", frozen)]
pub struct PyServerConfig {
    config: Config,
}

#[pymethods]
impl PyServerConfig {
    /// Interprets the sections of a configuration file, given as
    /// `[(section, [(option, value), ...]), ...]` (a section `DEFAULT`
    /// provides fallbacks). Raises `ConfigError` for a structural error and
    /// `InvalidArgumentError` for a value of the wrong type.
    #[staticmethod]
    fn from_sections(sections: Vec<(String, Vec<(String, String)>)>) -> PyResult<Self> {
        let ini = Ini::from_sections(sections).py_err()?;
        let config = Config::from_ini(&ini).py_err()?;
        Ok(PyServerConfig { config })
    }

    /// `"memory"`, `"lmdb"`, or `"class"` (a store built in Python).
    #[getter]
    fn store_kind(&self) -> &'static str {
        match &self.config.store {
            StoreConfig::InMemory => "memory",
            StoreConfig::Lmdb(_) => "lmdb",
            _ => "class",
        }
    }

    /// The section that configures a store of kind `"class"`.
    #[getter]
    fn store_section(&self) -> Option<String> {
        match &self.config.store {
            StoreConfig::Class { section, .. } => Some(section.clone()),
            _ => None,
        }
    }

    /// The class a store of kind `"class"` names.
    #[getter]
    fn store_class(&self) -> Option<String> {
        match &self.config.store {
            StoreConfig::Class { class, .. } => Some(class.clone()),
            _ => None,
        }
    }

    /// The directory of an LMDB store.
    #[getter]
    fn store_path(&self) -> Option<String> {
        match &self.config.store {
            StoreConfig::Lmdb(o) => Some(o.path.display().to_string()),
            _ => None,
        }
    }

    /// The stream the v1 protocol (and a Python store) works on.
    #[getter]
    fn default_stream(&self) -> Vec<u8> {
        self.config.server.default_stream.clone()
    }

    /// The endpoints, one phrase per kind.
    fn describe(&self) -> String {
        self.config.server.describe()
    }
}

fn open_store(
    py: Python<'_>,
    config: &Config,
    python_store: Option<Py<PyAny>>,
) -> PyResult<(Store, String)> {
    match (&config.store, python_store) {
        (StoreConfig::InMemory, None) => Ok((Store::in_memory(), "an in-memory store".into())),
        (StoreConfig::Lmdb(o), None) => {
            let options = StoreOptions::Lmdb(o.clone());
            let store = py.detach(|| Store::open(&options)).py_err()?;
            Ok((store, format!("the LMDB store in {}", o.path.display())))
        }
        (StoreConfig::Class { class, section }, Some(obj)) => {
            let stream = config.server.default_stream.clone();
            let backend = PyEventStoreBackend::new(py, obj, stream)?;
            let store = Store::from_backend(Arc::new(backend));
            Ok((store, format!("{class} (section [{section}])")))
        }
        (StoreConfig::Class { class, .. }, None) => Err(to_py_err(Error::Config(format!(
            "the store class {class} must be constructed in Python and passed as python_store"
        )))),
        (_, Some(_)) => Err(to_py_err(Error::Config(
            "python_store is only for a store class the server cannot open itself".into(),
        ))),
    }
}

fn serve_store(
    py: Python<'_>,
    store: Store,
    options: rewind_core::server::ServerOptions,
    what: String,
    on_ready: Option<Py<PyAny>>,
) -> PyResult<&'static str> {
    let server = {
        let store = store.clone();
        let options = options.clone();
        py.detach(move || Server::start(store, options))
    };
    let server = match server {
        Ok(s) => s,
        Err(e) => {
            let _ = py.detach(|| store.close());
            return Err(to_py_err(e));
        }
    };
    let stop = |server: Server, py: Python<'_>| {
        server.stop();
        py.detach(move || {
            let r = server.join();
            let closed = store.close();
            (r, closed)
        })
    };
    if let Some(cb) = on_ready {
        let line = format!("rewind is ready: serving {what} on {}", options.describe());
        if let Err(e) = cb.bind(py).call1((line,)) {
            let _ = stop(server, py);
            return Err(e);
        }
    }
    loop {
        if py.detach(|| server.wait_timeout(SIGNAL_POLL)) {
            break;
        }
        if let Err(e) = py.check_signals() {
            // Ctrl-C (or any signal handler that raised): stop gracefully,
            // then let the exception go on.
            let _ = stop(server, py);
            return Err(e);
        }
    }
    let (reason, closed) = stop(server, py);
    let reason = reason.py_err()?;
    closed.py_err()?;
    Ok(match reason {
        ExitReason::ExitCodeword => "exit_codeword",
        _ => "stopped",
    })
}

/// Serves a configuration until a client sends the exit codeword, or a
/// signal handler raises (Ctrl-C: `KeyboardInterrupt`), with the GIL
/// released. The store is the one the configuration names; a store of kind
/// `"class"` is the Python object `python_store`. `on_ready` is called with
/// a line saying where the server listens, once every endpoint is bound.
///
/// Returns `"exit_codeword"` or `"stopped"`. The store is closed (and a
/// `python_store` is not: its owner closes it).
#[pyfunction]
#[pyo3(signature = (config, exit_codeword = None, python_store = None, on_ready = None))]
pub fn serve(
    py: Python<'_>,
    config: &PyServerConfig,
    exit_codeword: Option<Vec<u8>>,
    python_store: Option<Py<PyAny>>,
    on_ready: Option<Py<PyAny>>,
) -> PyResult<&'static str> {
    let mut options = config.config.server.clone();
    if exit_codeword.is_some() {
        options.exit_codeword = exit_codeword;
    }
    options.validate().py_err()?;
    let (store, what) = open_store(py, &config.config, python_store)?;
    serve_store(py, store, options, what, on_ready)
}
