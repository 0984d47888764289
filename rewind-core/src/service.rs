//! The one start-up path of every front end: a [`Config`] (already
//! overridden by the command line) → open its store → start the server →
//! the ready line with the endpoints as bound → stop → close the store.
//!
//! The `rewind` binary, the Python package's server and command, and the C
//! ABI's `rewind_server_start*` all start a server through [`Service`]; what
//! differs between them (signals, logging, the GIL) stays in the front end.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, StoreConfig};
use crate::server::{ExitReason, Server, ServerOptions, StopHandle};
use crate::{Backend, Error, Result, Store, StoreOptions};

/// A server running on a store, and what it serves.
pub struct Service {
    server: Server,
    store: Store,
    /// Whether the service opened the store, and so closes it.
    owns_store: bool,
    what: String,
}

impl Service {
    /// Opens the store `config` names and serves it.
    ///
    /// The server's options are checked before the store is opened, so a
    /// configuration error creates no file. A store class the core cannot
    /// open itself ([`StoreConfig::Class`]) needs [`Service::start_with`].
    ///
    /// Errors: those of [`ServerOptions::validate`], of opening the store,
    /// and of [`Server::start`] ([`Error::Bind`] for an endpoint that cannot
    /// be bound).
    pub fn start(config: &Config) -> Result<Service> {
        Service::start_with(config, None)
    }

    /// As [`Service::start`], serving `foreign` (a backend built by the
    /// caller, such as a Python event store) when the configuration names a
    /// store class the core cannot open itself. The service does not close a
    /// foreign backend's owner; it closes the store in front of it.
    pub fn start_with(config: &Config, foreign: Option<Arc<dyn Backend>>) -> Result<Service> {
        config.server.validate()?;
        let what = config.store.describe();
        let store = match (&config.store, foreign) {
            (StoreConfig::InMemory, None) => Store::in_memory(),
            (StoreConfig::Lmdb(o), None) => Store::open(&StoreOptions::Lmdb(o.clone()))?,
            (StoreConfig::Postgres(o), None) => Store::open(&StoreOptions::Postgres(o.clone()))?,
            (StoreConfig::Class { .. }, Some(backend)) => Store::from_backend(backend),
            (StoreConfig::Class { class, section }, None) => {
                return Err(Error::Config(format!(
                    "store class {class} (section [{section}]) cannot be served by this \
                     binary, which serves LMDBEventStore, PostgresEventStore and \
                     InMemoryEventStore; the Python \
                     package (pip install rewind) serves the original Python stores"
                )))
            }
            (_, Some(_)) => {
                return Err(Error::Config(
                    "a store built by the caller serves only a store class the core cannot \
                     open itself"
                        .into(),
                ))
            }
        };
        Service::serve(store, true, &config.server, what)
    }

    /// Serves a store the caller opened and keeps: stopping the service
    /// leaves it open. `what` describes it in the ready line.
    pub fn on_store(
        store: Store,
        options: &ServerOptions,
        what: impl Into<String>,
    ) -> Result<Service> {
        options.validate()?;
        Service::serve(store, false, options, what.into())
    }

    fn serve(
        store: Store,
        owns_store: bool,
        options: &ServerOptions,
        what: String,
    ) -> Result<Service> {
        match Server::start(store.clone(), options.clone()) {
            Ok(server) => Ok(Service {
                server,
                store,
                owns_store,
                what,
            }),
            Err(e) => {
                if owns_store {
                    if let Err(c) = store.close() {
                        log::error!("closing the store after a failed start: {c}");
                    }
                }
                Err(e)
            }
        }
    }

    /// The line every front end prints once the server is ready: the store
    /// and the endpoints as bound (a wildcard port shows the port chosen).
    pub fn ready_line(&self) -> String {
        format!(
            "rewind is ready: serving {} on {}",
            self.what,
            self.server.bound_options().describe()
        )
    }

    /// The server's options, endpoints as bound.
    pub fn bound_options(&self) -> &ServerOptions {
        self.server.bound_options()
    }

    /// The store served.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A handle that stops the server from any thread (a signal handler's
    /// thread, say).
    pub fn stop_handle(&self) -> StopHandle {
        self.server.stop_handle()
    }

    /// Asks the server to stop gracefully; see [`StopHandle::stop`].
    pub fn stop(&self) {
        self.server.stop();
    }

    /// Waits up to `timeout` for the server to stop; returns whether it has.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.server.wait_timeout(timeout)
    }

    /// Waits for the server to stop, closes the store if the service opened
    /// it, and tells why the server stopped. An error that stopped the
    /// server comes first; otherwise an error closing the store.
    pub fn join(self) -> Result<ExitReason> {
        let reason = self.server.join();
        let closed = if self.owns_store {
            self.store.close()
        } else {
            Ok(())
        };
        let reason = reason?;
        closed?;
        Ok(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback() -> Config {
        let mut c = Config::embedded_default();
        c.store = StoreConfig::InMemory;
        c.server.query_endpoints = vec!["tcp://127.0.0.1:*".into()];
        c.server.streaming_endpoints = vec![];
        c.server.command_endpoints = vec!["tcp://127.0.0.1:*".into()];
        c.server.publish_endpoints = vec![];
        c.server.native_endpoints = vec!["tcp://127.0.0.1:*".into()];
        c
    }

    #[test]
    fn the_ready_line_names_the_store_and_the_bound_ports() {
        let service = Service::start(&loopback()).unwrap();
        let line = service.ready_line();
        assert!(line.starts_with(
            "rewind is ready: serving an in-memory store on v1 query tcp://127.0.0.1:"
        ));
        assert!(!line.contains('*'), "{line}");
        assert!(line.contains("; native tcp://127.0.0.1:"), "{line}");
        service.stop();
        assert_eq!(service.join().unwrap(), ExitReason::Stopped);
    }

    #[test]
    fn a_store_class_needs_a_backend_from_the_caller() {
        let mut c = loopback();
        c.store = StoreConfig::Class {
            class: "my.Store".into(),
            section: "s".into(),
        };
        let err = Service::start(&c).err().expect("refused");
        assert!(
            matches!(err, Error::Config(ref m) if m.contains("my.Store")),
            "{err}"
        );
        let backend: Arc<dyn Backend> = Arc::new(crate::memory::MemoryBackend::new());
        let service = Service::start_with(&c, Some(backend.clone())).unwrap();
        assert!(service.ready_line().contains("my.Store (section [s])"));
        service.stop();
        service.join().unwrap();
        let err = Service::start_with(&loopback(), Some(backend))
            .err()
            .expect("refused");
        assert!(matches!(err, Error::Config(_)), "{err}");
    }

    #[test]
    fn bad_options_create_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("never");
        let mut c = loopback();
        c.store = StoreConfig::Lmdb(crate::lmdb::LmdbOptions::new(&path));
        c.server.query_endpoints.clear();
        c.server.command_endpoints.clear();
        c.server.native_endpoints.clear();
        assert!(matches!(Service::start(&c), Err(Error::Config(_))));
        assert!(!path.exists());
    }

    #[test]
    fn a_service_on_a_callers_store_leaves_it_open() {
        let store = Store::in_memory();
        let service = Service::on_store(store.clone(), &loopback().server, "mine").unwrap();
        assert!(service.ready_line().contains("serving mine on"));
        service.stop();
        service.join().unwrap();
        store
            .append(
                b"s",
                vec![crate::NewEvent::new("still open")],
                crate::ExpectedVersion::Any,
            )
            .unwrap();
    }

    #[test]
    fn an_endpoint_that_cannot_be_bound_is_a_bind_error() {
        let mut c = loopback();
        c.server.query_endpoints = vec!["nonsense://here".into()];
        let err = Service::start(&c).err().expect("refused");
        assert!(
            matches!(err, Error::Bind { ref endpoint, .. } if endpoint == "nonsense://here"),
            "{err}"
        );
    }
}
