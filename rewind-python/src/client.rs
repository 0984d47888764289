//! `rewind.Client`: the core's client of a Rewind server
//! ([`rewind_core::Client`]), for Python, with the methods of `rewind.Store`
//! (shared in `methods`); and `rewind.curve_keypair`.

use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use rewind_core::{Client, ClientOptions, Error};

use crate::errors::IntoPy;
use crate::methods::event_store_class;

/// A connection to a Rewind server (its native endpoint), with the methods
/// of `rewind.Store`: the same arguments, results and exceptions, so code
/// moves between an embedded store and a server by changing its
/// constructor only.
///
/// `Client(endpoint, *, timeout=None, retries=None, server_public_key=None,
/// public_key=None, secret_key=None)`: `endpoint` is the server's native
/// endpoint (`tcp://host:port`). The connection is made lazily: a server
/// that is not there yet is found when it comes. Every request waits up to
/// `timeout` seconds (default 5) for its reply, then the client reconnects
/// and sends it again, up to `retries` times (default 3) before raising
/// `NetworkError`. Appends are safe to resend: events without an id get
/// one (a UUIDv7) before they are sent, so the server recognises a resend
/// and returns the positions of the first time.
///
/// For a server that requires CURVE, give its public key and this client's
/// key pair (`rewind.curve_keypair()`), each as 40 characters of Z85; the
/// client's public key must be on the server's allow-list.
///
/// A client may be shared by any number of threads; their requests are in
/// flight together. Every call that waits releases the GIL. `close()` (or
/// leaving a `with` block) ends the connection: later calls raise
/// `ClosedError`.
#[pyclass(module = "rewind", name = "Client", frozen)]
pub struct PyClient {
    client: Client,
    endpoint: String,
}

event_store_class!(PyClient, client, {
    #[new]
    #[pyo3(signature = (
        endpoint,
        *,
        timeout = None,
        retries = None,
        server_public_key = None,
        public_key = None,
        secret_key = None
    ))]
    fn new(
        py: Python<'_>,
        endpoint: String,
        timeout: Option<f64>,
        retries: Option<u32>,
        server_public_key: Option<String>,
        public_key: Option<String>,
        secret_key: Option<String>,
    ) -> PyResult<Self> {
        let mut options = ClientOptions::default();
        if let Some(t) = timeout {
            let t = Duration::try_from_secs_f64(t)
                .map_err(|_| PyValueError::new_err("timeout must be a finite number of seconds"))?;
            options = options.with_request_timeout(t);
        }
        if let Some(r) = retries {
            options = options.with_retries(r);
        }
        match (server_public_key, public_key, secret_key) {
            (None, None, None) => {}
            (Some(server), Some(public), Some(secret)) => {
                options = options.with_curve(server, public, secret);
            }
            _ => {
                return Err(Error::Config(
                    "CURVE needs all three keys: server_public_key, public_key and secret_key"
                        .into(),
                ))
                .py_err()
            }
        }
        let client = py
            .detach(|| Client::connect_with(&endpoint, options))
            .py_err()?;
        Ok(PyClient { client, endpoint })
    }

    /// Ends the connection: requests in flight and later ones raise
    /// `ClosedError`, subscriptions end with it. Closing twice is harmless.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let client = &self.client;
        py.detach(|| client.close());
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!("Client({:?})", self.endpoint)
    }
});

/// A new CURVE key pair `(public, secret)`, each as 40 characters of Z85,
/// for `Client(..., public_key=, secret_key=)` and a server's
/// `curve-allowed-clients`. The keys contain no `%` and do not start with
/// `-`, so they paste into configuration files and command lines. Raises
/// `ConfigError` when this build of ZeroMQ has no CURVE.
#[pyfunction]
pub fn curve_keypair() -> PyResult<(String, String)> {
    let pair = rewind_core::curve::generate_keypair().py_err()?;
    Ok((pair.public, pair.secret))
}
