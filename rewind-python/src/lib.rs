//! The native module of the `rewind` Python package (`rewind._native`).
//!
//! A thin layer over `rewind_core`: the store ([`store`]), its value types
//! ([`types`]), the exceptions and the one mapping of core errors to them
//! ([`errors`]), the server run in-process ([`server`]), and the backend that
//! lets the server serve an event store written in Python ([`pybackend`]).

use pyo3::prelude::*;

mod errors;
mod pybackend;
mod server;
mod store;
mod types;

/// Parses a size in bytes with an optional K, M, G or T suffix (powers of
/// 1024), as the configuration file writes sizes; `None` if malformed.
#[pyfunction]
#[pyo3(name = "_parse_size")]
fn parse_size(text: &str) -> Option<usize> {
    rewind_core::config::parse_size(text)
}

/// The embedded default (what `rewind` serves without a configuration file)
/// as configuration sections: `[(section, [(key, value), ...]), ...]`.
#[pyfunction]
#[pyo3(name = "_embedded_default_sections")]
fn embedded_default_sections() -> Vec<(String, Vec<(String, String)>)> {
    rewind_core::config::embedded_default_sections()
}

/// The native module: `rewind` re-exports everything public from it.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // Log records of the core go to Python's `logging` (loggers named after
    // the Rust modules, such as `rewind_core.server`).
    let _ = pyo3_log::try_init();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)?;
    m.add_class::<types::PyExpectedVersion>()?;
    m.add_class::<types::PyEvent>()?;
    m.add_class::<types::PyAppended>()?;
    m.add_class::<types::PyStreamHead>()?;
    m.add_class::<store::PyStore>()?;
    m.add_class::<store::EventIterator>()?;
    m.add_class::<server::PyServerConfig>()?;
    m.add_function(wrap_pyfunction!(server::serve, m)?)?;
    m.add_function(wrap_pyfunction!(pybackend::store_over_event_store, m)?)?;
    m.add_function(wrap_pyfunction!(parse_size, m)?)?;
    m.add_function(wrap_pyfunction!(embedded_default_sections, m)?)?;
    m.add("_DEFAULT_DATA_DIR", rewind_core::config::DEFAULT_DATA_DIR)?;
    m.add(
        "_EMBEDDED_STORE_SECTION",
        rewind_core::config::EMBEDDED_STORE_SECTION,
    )?;
    Ok(())
}
