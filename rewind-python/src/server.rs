//! The server, run in-process: the configuration is interpreted by the
//! core ([`Config::from_ini`], [`Overrides`]) and started by the core's one
//! start-up path ([`Service`]). What stays here is Python's part: building
//! a Python-level store, the GIL, and Ctrl-C.

use std::sync::Arc;
use std::time::Duration;

use pyo3::prelude::*;
use rewind_core::config::{Config, Ini, Overrides, StoreConfig, FLAGS};
use rewind_core::server::ExitReason;
use rewind_core::service::Service;
use rewind_core::Error;

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
    /// provides fallbacks), then the command line's `overrides`
    /// (`[(option, value or None), ...]`, options named as in `cli_flags()`).
    /// Raises `ConfigError` for a structural error and `InvalidArgumentError`
    /// for a value of the wrong type.
    #[staticmethod]
    #[pyo3(signature = (sections, overrides = Vec::new()))]
    fn from_sections(
        sections: Vec<(String, Vec<(String, String)>)>,
        overrides: Vec<(String, Option<String>)>,
    ) -> PyResult<Self> {
        let ini = Ini::from_sections(sections).py_err()?;
        let mut config = Config::from_ini(&ini).py_err()?;
        let mut o = Overrides::new();
        for (name, value) in overrides {
            o.set(&name, value).py_err()?;
        }
        o.apply(&mut config).py_err()?;
        Ok(PyServerConfig { config })
    }

    /// `"memory"`, `"lmdb"`, `"postgres"`, or `"class"` (a store built in
    /// Python).
    #[getter]
    fn store_kind(&self) -> &'static str {
        match &self.config.store {
            StoreConfig::InMemory => "memory",
            StoreConfig::Lmdb(_) => "lmdb",
            StoreConfig::Postgres(_) => "postgres",
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

/// The command line's options, as the core defines them:
/// `[(name, value_name or None for a switch, help), ...]`.
#[pyfunction]
pub fn cli_flags() -> Vec<(&'static str, Option<&'static str>, &'static str)> {
    FLAGS
        .iter()
        .map(|f| (f.name, f.value_name, f.help))
        .collect()
}

/// Serves a configuration until a client sends the exit codeword, or a
/// signal handler raises (Ctrl-C: `KeyboardInterrupt`), with the GIL
/// released. The store is the one the configuration names; a store of kind
/// `"class"` is the Python object `python_store`. `on_ready` is called with
/// the ready line (the store and the endpoints as bound) once every
/// endpoint is bound.
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
    let mut config = config.config.clone();
    if exit_codeword.is_some() {
        config.server.exit_codeword = exit_codeword;
    }
    let foreign = match (&config.store, python_store) {
        (StoreConfig::Class { .. }, Some(obj)) => {
            let stream = config.server.default_stream.clone();
            let backend = PyEventStoreBackend::new(py, obj, stream)?;
            Some(Arc::new(backend) as Arc<dyn rewind_core::Backend>)
        }
        (StoreConfig::Class { class, .. }, None) => {
            return Err(to_py_err(Error::Config(format!(
                "the store class {class} must be constructed in Python and passed as \
                 python_store"
            ))))
        }
        (_, Some(_)) => {
            return Err(to_py_err(Error::Config(
                "python_store is only for a store class the server cannot open itself".into(),
            )))
        }
        (_, None) => None,
    };
    let service = py
        .detach(|| Service::start_with(&config, foreign))
        .py_err()?;
    let stop = |service: Service, py: Python<'_>| {
        service.stop();
        py.detach(move || service.join())
    };
    if let Some(cb) = on_ready {
        if let Err(e) = cb.bind(py).call1((service.ready_line(),)) {
            let _ = stop(service, py);
            return Err(e);
        }
    }
    loop {
        if py.detach(|| service.wait_timeout(SIGNAL_POLL)) {
            break;
        }
        if let Err(e) = py.check_signals() {
            // Ctrl-C (or any signal handler that raised): stop gracefully,
            // then let the exception go on.
            let _ = stop(service, py);
            return Err(e);
        }
    }
    let reason = stop(service, py).py_err()?;
    Ok(match reason {
        ExitReason::ExitCodeword => "exit_codeword",
        _ => "stopped",
    })
}
