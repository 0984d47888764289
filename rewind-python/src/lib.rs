//! The native module of the `rewind` Python package (`rewind._native`).
//!
//! A thin layer over `rewind_core`: the store ([`store`]) and the client of
//! a server ([`client`]), with the methods they share written once
//! ([`methods`]), subscriptions of either ([`subscription`]), their value
//! types ([`types`]), the exceptions and the one mapping of core errors to them
//! ([`errors`]), the server run in-process ([`server`]), and the backend that
//! lets the server serve an event store written in Python ([`pybackend`]).

use pyo3::prelude::*;

mod client;
mod errors;
mod methods;
mod pybackend;
mod server;
mod store;
mod subscription;
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

/// Reads the options of an `LMDBEventStore` configuration section with the
/// core's one reader of such sections: returns `(path, initial_map_size,
/// map_size_limit)`. Raises `ConfigError` (no `path`) or
/// `InvalidArgumentError` (a malformed size).
#[pyfunction]
#[pyo3(name = "_lmdb_store_options")]
fn lmdb_store_options(options: Vec<(String, String)>) -> PyResult<(String, usize, Option<usize>)> {
    use crate::errors::IntoPy;
    const SECTION: &str = "LMDBEventStore";
    let ini =
        rewind_core::config::Ini::from_sections(vec![(SECTION.to_string(), options)]).py_err()?;
    let o = rewind_core::config::lmdb_section(&ini, SECTION).py_err()?;
    Ok((
        o.path.display().to_string(),
        o.initial_map_size,
        o.max_map_size,
    ))
}

/// Reads the options of a `PostgresEventStore` configuration section with
/// the core's one reader of such sections: returns `(dsn,
/// max_idle_connections)`. Raises `ConfigError` (no `dsn`) or
/// `InvalidArgumentError` (a malformed number).
#[pyfunction]
#[pyo3(name = "_postgres_store_options")]
fn postgres_store_options(options: Vec<(String, String)>) -> PyResult<(String, usize)> {
    use crate::errors::IntoPy;
    const SECTION: &str = "PostgresEventStore";
    let ini =
        rewind_core::config::Ini::from_sections(vec![(SECTION.to_string(), options)]).py_err()?;
    let o = rewind_core::config::postgres_section(&ini, SECTION).py_err()?;
    Ok((o.dsn, o.max_idle_connections))
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
    m.add_class::<types::PyNewEvent>()?;
    m.add_class::<types::PyCaughtUp>()?;
    m.add_class::<types::PyStreamListing>()?;
    m.add_class::<types::PyStoreInfo>()?;
    m.add("CAUGHT_UP", subscription::caught_up(m.py())?)?;
    m.add_class::<subscription::PySubscription>()?;
    m.add_class::<store::PyStore>()?;
    m.add_class::<client::PyClient>()?;
    m.add_class::<methods::EventIterator>()?;
    m.add_function(wrap_pyfunction!(client::curve_keypair, m)?)?;
    m.add_class::<server::PyServerConfig>()?;
    m.add_function(wrap_pyfunction!(server::serve, m)?)?;
    m.add_function(wrap_pyfunction!(server::cli_flags, m)?)?;
    m.add_function(wrap_pyfunction!(pybackend::store_over_event_store, m)?)?;
    m.add_function(wrap_pyfunction!(parse_size, m)?)?;
    m.add_function(wrap_pyfunction!(embedded_default_sections, m)?)?;
    m.add_function(wrap_pyfunction!(lmdb_store_options, m)?)?;
    m.add_function(wrap_pyfunction!(postgres_store_options, m)?)?;
    m.add("_DEFAULT_DATA_DIR", rewind_core::config::DEFAULT_DATA_DIR)?;
    m.add(
        "_EMBEDDED_STORE_SECTION",
        rewind_core::config::EMBEDDED_STORE_SECTION,
    )?;
    Ok(())
}
