//! The ZeroMQ server, run in-process.

use std::ffi::CString;
use std::os::raw::c_char;
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use rewind_core::config::{set_curve, split_endpoints, Config, StoreConfig};
use rewind_core::lmdb::LmdbOptions;
use rewind_core::server::{ExitReason, ServerOptions, StopHandle};
use rewind_core::service::Service;

use crate::status::{guard, guard_value, rewind_status, FfiError, FfiResult};
use crate::store::rewind_store;
use crate::util::{c_path, c_str, optional_bytes, out_ptr, required_bytes};

/// The options of a server: the same as the `rewind` command line's.
///
/// Created by `rewind_server_options_new` with the embedded default (v1 query
/// `tcp://127.0.0.1:9090` and streaming `tcp://127.0.0.1:9091`, v2 command
/// `tcp://127.0.0.1:9002` and publish `tcp://127.0.0.1:9003`, 1 ZeroMQ I/O
/// thread, no exit codeword, 16 MiB largest request, default stream
/// `default`), changed by the `rewind_server_options_set_` functions, freed
/// by `rewind_server_options_free`. Not synchronized: use one options object
/// from one thread at a time. A server copies what it needs at start, so the
/// options may be changed or freed afterwards.
pub struct rewind_server_options {
    options: ServerOptions,
}

/// A server running in-process, on threads of its own.
///
/// Created by `rewind_server_start` or `rewind_server_start_lmdb`, released
/// by `rewind_server_free`. `rewind_server_stop` and `rewind_server_wait`
/// may be called from any number of threads at once; `rewind_server_free`
/// must not overlap with any other call on the same server.
pub struct rewind_server {
    stop: StopHandle,
    /// The endpoints as bound, one comma-separated list per
    /// `REWIND_ENDPOINT_` kind, in the order of their numbers.
    endpoints: [CString; 6],
    /// The running server, until a wait has seen it stop and joined it.
    running: RwLock<Option<Service>>,
    /// How the server ended, once it has.
    outcome: Mutex<Option<Result<ExitReason, (rewind_status, String)>>>,
}

/// What `rewind_server_wait` saw.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum rewind_server_state {
    /// The server is still running (the wait timed out).
    Running = 0,
    /// The server stopped because `rewind_server_stop` asked it to.
    Stopped = 1,
    /// The server stopped because a client sent the exit codeword.
    ExitCodeword = 2,
}

/// One kind of endpoint of a server: one of the `REWIND_ENDPOINT_`
/// constants.
pub type rewind_endpoint_kind = u32;

/// The v1 query endpoints (clients connect REQ sockets).
pub const REWIND_ENDPOINT_QUERY: rewind_endpoint_kind = 0;
/// The v1 streaming endpoints (PUB: id, previous id, data).
pub const REWIND_ENDPOINT_STREAMING: rewind_endpoint_kind = 1;
/// The v2 command endpoints (clients connect DEALER sockets).
pub const REWIND_ENDPOINT_COMMAND: rewind_endpoint_kind = 2;
/// The v2 publish endpoints (PUB: stream, id, data).
pub const REWIND_ENDPOINT_PUBLISH: rewind_endpoint_kind = 3;
/// The metrics endpoint, as `HOST:PORT` (HTTP, `GET /metrics`); `""` when
/// the server serves no metrics.
pub const REWIND_ENDPOINT_METRICS: rewind_endpoint_kind = 4;
/// The native protocol endpoints (clients connect DEALER sockets; see
/// `docs/native-protocol.md`).
pub const REWIND_ENDPOINT_NATIVE: rewind_endpoint_kind = 5;

unsafe fn options_mut<'a>(options: *mut rewind_server_options) -> FfiResult<&'a mut ServerOptions> {
    options
        .as_mut()
        .map(|o| &mut o.options)
        .ok_or_else(|| FfiError::null("options"))
}

unsafe fn server_ref<'a>(server: *const rewind_server) -> FfiResult<&'a rewind_server> {
    server.as_ref().ok_or_else(|| FfiError::null("server"))
}

/// Creates server options holding the embedded default (see
/// `rewind_server_options`).
///
/// `out` receives on success a new object owned by the caller, to be freed
/// with `rewind_server_options_free`. Does not block; thread-safe.
///
/// Returns REWIND_STATUS_OK or NULL_PARAMETER (`out` NULL).
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn rewind_server_options_new(
    out: *mut *mut rewind_server_options,
) -> rewind_status {
    guard(|| {
        let out = out_ptr(out, "out")?;
        *out = Box::into_raw(Box::new(rewind_server_options {
            options: ServerOptions::default(),
        }));
        Ok(())
    })
}

/// Frees server options. NULL does nothing. Never blocks.
///
/// # Safety
/// `options` is NULL or a live object, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn rewind_server_options_free(options: *mut rewind_server_options) {
    guard_value((), || {
        if !options.is_null() {
            drop(Box::from_raw(options));
        }
    })
}

unsafe fn set_endpoints(
    options: *mut rewind_server_options,
    endpoints: *const c_char,
    field: fn(&mut ServerOptions) -> &mut Vec<String>,
) -> rewind_status {
    guard(|| {
        let options = options_mut(options)?;
        let text = c_str(endpoints, "endpoints")?
            .to_str()
            .map_err(|_| FfiError::invalid("endpoints are not valid UTF-8"))?;
        *field(options) = split_endpoints(text);
        Ok(())
    })
}

/// Sets the v1 query endpoints (clients connect REQ sockets), replacing the
/// current ones: `endpoints` is a NUL-terminated, comma-separated list such
/// as `"tcp://127.0.0.1:9090,ipc:///tmp/rewind"`, as in the configuration
/// file; `""` disables the v1 query endpoint. Borrowed for the call.
///
/// The endpoints are checked when the server starts. Does not block.
///
/// Returns REWIND_STATUS_OK, NULL_PARAMETER, INVALID_ARGUMENT (not UTF-8).
///
/// Not synchronized: no other thread may use `options` during the call.
///
/// # Safety
/// `options` is NULL or live; `endpoints` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn rewind_server_options_set_query_endpoints(
    options: *mut rewind_server_options,
    endpoints: *const c_char,
) -> rewind_status {
    set_endpoints(options, endpoints, |o| &mut o.query_endpoints)
}

/// Sets the v1 streaming endpoints (a PUB socket sending id, previous id,
/// data for each event), as `rewind_server_options_set_query_endpoints`
/// does for query endpoints; `""` disables them.
///
/// Returns REWIND_STATUS_OK, NULL_PARAMETER, INVALID_ARGUMENT (not UTF-8).
///
/// Not synchronized: no other thread may use `options` during the call.
///
/// # Safety
/// `options` is NULL or live; `endpoints` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn rewind_server_options_set_streaming_endpoints(
    options: *mut rewind_server_options,
    endpoints: *const c_char,
) -> rewind_status {
    set_endpoints(options, endpoints, |o| &mut o.streaming_endpoints)
}

/// Sets the v2 command endpoints (clients connect DEALER sockets), as
/// `rewind_server_options_set_query_endpoints` does for query endpoints;
/// `""` disables them. A server needs a query or a command endpoint.
///
/// Returns REWIND_STATUS_OK, NULL_PARAMETER, INVALID_ARGUMENT (not UTF-8).
///
/// Not synchronized: no other thread may use `options` during the call.
///
/// # Safety
/// `options` is NULL or live; `endpoints` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn rewind_server_options_set_command_endpoints(
    options: *mut rewind_server_options,
    endpoints: *const c_char,
) -> rewind_status {
    set_endpoints(options, endpoints, |o| &mut o.command_endpoints)
}

/// Sets the v2 publish endpoints (a PUB socket sending stream, id, data for
/// each event), as `rewind_server_options_set_query_endpoints` does for
/// query endpoints; `""` disables them.
///
/// Returns REWIND_STATUS_OK, NULL_PARAMETER, INVALID_ARGUMENT (not UTF-8).
///
/// Not synchronized: no other thread may use `options` during the call.
///
/// # Safety
/// `options` is NULL or live; `endpoints` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn rewind_server_options_set_publish_endpoints(
    options: *mut rewind_server_options,
    endpoints: *const c_char,
) -> rewind_status {
    set_endpoints(options, endpoints, |o| &mut o.publish_endpoints)
}

/// Sets the native protocol endpoints (a ROUTER socket; clients connect
/// DEALER sockets and speak `docs/native-protocol.md`), as
/// `rewind_server_options_set_query_endpoints` does for query endpoints;
/// `""` disables them. New options have none (the embedded default
/// configuration of the binary binds `tcp://127.0.0.1:9004`).
///
/// Returns REWIND_STATUS_OK, NULL_PARAMETER, INVALID_ARGUMENT (not UTF-8).
///
/// Not synchronized: no other thread may use `options` during the call.
///
/// # Safety
/// `options` is NULL or live; `endpoints` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn rewind_server_options_set_native_endpoints(
    options: *mut rewind_server_options,
    endpoints: *const c_char,
) -> rewind_status {
    set_endpoints(options, endpoints, |o| &mut o.native_endpoints)
}

/// Sets the number of ZeroMQ I/O threads (`zmq-nthreads`; default 1).
/// A value below 1 makes the server's start fail with INVALID_ARGUMENT.
/// Does not block.
///
/// Returns REWIND_STATUS_OK or NULL_PARAMETER (`options` NULL).
///
/// Not synchronized: no other thread may use `options` during the call.
///
/// # Safety
/// `options` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn rewind_server_options_set_zmq_io_threads(
    options: *mut rewind_server_options,
    threads: i32,
) -> rewind_status {
    guard(|| {
        options_mut(options)?.zmq_io_threads = threads;
        Ok(())
    })
}

/// Sets the exit codeword: a request on the v1 query or v2 command endpoint
/// whose first frame equals these `len` bytes gets the reply `QUIT` and stops
/// the server. `codeword` NULL removes the codeword (the default); an empty
/// one makes the start fail with INVALID_ARGUMENT. Borrowed for the call.
/// Does not block.
///
/// Returns REWIND_STATUS_OK or NULL_PARAMETER (`options` NULL).
///
/// Not synchronized: no other thread may use `options` during the call.
///
/// # Safety
/// `options` is NULL or live; a non-NULL `codeword` points to `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn rewind_server_options_set_exit_codeword(
    options: *mut rewind_server_options,
    codeword: *const u8,
    len: usize,
) -> rewind_status {
    guard(|| {
        let options = options_mut(options)?;
        options.exit_codeword = optional_bytes(codeword, len, "codeword")?.map(<[u8]>::to_vec);
        Ok(())
    })
}

/// Sets the address of the metrics endpoint: the server serves its metrics
/// in the Prometheus text format over HTTP at `http://ADDRESS/metrics`.
/// `address` is a NUL-terminated `HOST:PORT` (port 0 picks a free one; see
/// `rewind_server_endpoints` with `REWIND_ENDPOINT_METRICS`), borrowed for
/// the call; `""` (the default) serves no metrics. The address is bound
/// when the server starts (BIND when it cannot be). Does not block.
///
/// Returns REWIND_STATUS_OK, NULL_PARAMETER, INVALID_ARGUMENT (not UTF-8).
///
/// Not synchronized: no other thread may use `options` during the call.
///
/// # Safety
/// `options` is NULL or live; `address` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn rewind_server_options_set_metrics_address(
    options: *mut rewind_server_options,
    address: *const c_char,
) -> rewind_status {
    guard(|| {
        let options = options_mut(options)?;
        let text = c_str(address, "address")?
            .to_str()
            .map_err(|_| FfiError::invalid("the metrics address is not valid UTF-8"))?
            .trim();
        options.metrics_address = (!text.is_empty()).then(|| text.to_string());
        Ok(())
    })
}

unsafe fn set_text(
    options: *mut rewind_server_options,
    text: *const c_char,
    what: &str,
    set: fn(&mut ServerOptions, &str),
) -> rewind_status {
    guard(|| {
        let options = options_mut(options)?;
        let text = c_str(text, what)?
            .to_str()
            .map_err(|_| FfiError::invalid(format!("{what}: not valid UTF-8")))?;
        set(options, text);
        Ok(())
    })
}

/// Sets the server's ZeroMQ CURVE secret key: `key` is a NUL-terminated
/// Z85 text of 40 characters (as `rewind-admin keygen` prints), borrowed
/// for the call; `""` (the default) unsets it. With a secret key, every
/// endpoint requires CURVE and admits only the clients set with
/// `rewind_server_options_set_curve_allowed_clients` (which must then not
/// be empty). The keys are checked when the server starts: a malformed key,
/// a missing allow-list, or a libzmq without CURVE make the start fail with
/// CONFIG before any file is created. Does not block.
///
/// Returns REWIND_STATUS_OK, NULL_PARAMETER, INVALID_ARGUMENT (not UTF-8).
///
/// Not synchronized: no other thread may use `options` during the call.
///
/// # Safety
/// `options` is NULL or live; `key` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn rewind_server_options_set_curve_secret_key(
    options: *mut rewind_server_options,
    key: *const c_char,
) -> rewind_status {
    set_text(options, key, "CURVE key", |o, t| {
        set_curve(o, Some(t), None, None)
    })
}

/// Sets the server's CURVE public key (Z85, optional), as
/// `rewind_server_options_set_curve_secret_key` does the secret key: when
/// set, the start checks that it belongs to the secret key (CONFIG when it
/// does not). `""` unsets it. Does not block.
///
/// Returns REWIND_STATUS_OK, NULL_PARAMETER, INVALID_ARGUMENT (not UTF-8).
///
/// Not synchronized: no other thread may use `options` during the call.
///
/// # Safety
/// `options` is NULL or live; `key` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn rewind_server_options_set_curve_public_key(
    options: *mut rewind_server_options,
    key: *const c_char,
) -> rewind_status {
    set_text(options, key, "CURVE key", |o, t| {
        set_curve(o, None, Some(t), None)
    })
}

/// Sets the CURVE public keys of the clients the server lets in, replacing
/// the current ones: `keys` is a NUL-terminated, comma-separated list of
/// Z85 keys, borrowed for the call, as `curve-allowed-clients` in the
/// configuration file; `""` empties it. Checked when the server starts
/// (CONFIG for a malformed key, or keys without a secret key). Does not
/// block.
///
/// Returns REWIND_STATUS_OK, NULL_PARAMETER, INVALID_ARGUMENT (not UTF-8).
///
/// Not synchronized: no other thread may use `options` during the call.
///
/// # Safety
/// `options` is NULL or live; `keys` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn rewind_server_options_set_curve_allowed_clients(
    options: *mut rewind_server_options,
    keys: *const c_char,
) -> rewind_status {
    set_text(options, keys, "CURVE keys", |o, t| {
        set_curve(o, None, None, Some(t))
    })
}

/// Sets the largest request accepted, all frames together, in bytes
/// (default 16 MiB); a larger request gets an ERROR reply. 0 makes the start
/// fail with INVALID_ARGUMENT. Does not block.
///
/// Returns REWIND_STATUS_OK or NULL_PARAMETER (`options` NULL).
///
/// Not synchronized: no other thread may use `options` during the call.
///
/// # Safety
/// `options` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn rewind_server_options_set_max_message_size(
    options: *mut rewind_server_options,
    bytes: usize,
) -> rewind_status {
    guard(|| {
        options_mut(options)?.max_message_size = bytes;
        Ok(())
    })
}

/// Sets the stream that the v1 protocol works on (default `default`):
/// `len` bytes at `stream`, borrowed for the call. A name that is not 1 to
/// 255 bytes long makes the start fail with INVALID_ARGUMENT. Does not
/// block.
///
/// Returns REWIND_STATUS_OK or NULL_PARAMETER (`options` or `stream` NULL).
///
/// Not synchronized: no other thread may use `options` during the call.
///
/// # Safety
/// `options` is NULL or live; a non-NULL `stream` points to `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn rewind_server_options_set_default_stream(
    options: *mut rewind_server_options,
    stream: *const u8,
    len: usize,
) -> rewind_status {
    guard(|| {
        let options = options_mut(options)?;
        options.default_stream = required_bytes(stream, len, "stream")?.to_vec();
        Ok(())
    })
}

fn boxed(server: Service) -> Box<rewind_server> {
    let bound = server.bound_options();
    // Endpoints come from C strings and from ZeroMQ: they hold no NUL.
    let list = |eps: &[String]| CString::new(eps.join(",")).unwrap_or_default();
    let endpoints = [
        list(&bound.query_endpoints),
        list(&bound.streaming_endpoints),
        list(&bound.command_endpoints),
        list(&bound.publish_endpoints),
        list(bound.metrics_address.as_slice()),
        list(&bound.native_endpoints),
    ];
    Box::new(rewind_server {
        stop: server.stop_handle(),
        endpoints,
        running: RwLock::new(Some(server)),
        outcome: Mutex::new(None),
    })
}

/// Starts a server on `store` with `options`, on threads of its own, and
/// returns once every endpoint is bound.
///
/// - `store`: borrowed; the server holds its own reference to the store, so
///   the store stays open while the server runs. Free the server before
///   closing the store (`rewind_store_close` stops the store's writer, and
///   the server's appends would then fail).
/// - `options`: borrowed for the call; the server copies them.
/// - `out`: on success receives a new server owned by the caller, to be
///   released with `rewind_server_free`; untouched on failure.
///
/// Blocks while the sockets are bound. Thread-safe.
///
/// Returns REWIND_STATUS_OK, NULL_PARAMETER (any argument NULL), CONFIG (no
/// query and no command endpoint), BIND (an endpoint that cannot be bound:
/// the message names it), INVALID_ARGUMENT (an option out of its domain),
/// ZMQ.
///
/// # Safety
/// `store` and `options` are NULL or live; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn rewind_server_start(
    store: *const rewind_store,
    options: *const rewind_server_options,
    out: *mut *mut rewind_server,
) -> rewind_status {
    guard(|| {
        let store = store.as_ref().ok_or_else(|| FfiError::null("store"))?;
        let options = options.as_ref().ok_or_else(|| FfiError::null("options"))?;
        let out = out_ptr(out, "out")?;
        let service = Service::on_store(store.store.clone(), &options.options, "a store")?;
        *out = Box::into_raw(boxed(service));
        Ok(())
    })
}

/// Opens (creating it when missing) the LMDB store in directory `path` and
/// starts a server on it, as the `rewind` binary does with `--data-dir PATH`
/// and `--map-size-limit MAX_MAP_SIZE`. The server owns the store and closes
/// it when it is freed.
///
/// - `path`: NUL-terminated, borrowed for the call.
/// - `max_map_size`: the size the store may grow to, in bytes; 0 for no
///   limit but the disk.
/// - `options`, `out`: as for `rewind_server_start`.
///
/// Blocks while the store is opened and the sockets are bound. Thread-safe.
///
/// Returns REWIND_STATUS_OK, NULL_PARAMETER, INVALID_ARGUMENT, CONFIG, BIND,
/// ZMQ, and the statuses of `rewind_store_open_lmdb`.
///
/// # Safety
/// `path` is NULL or NUL-terminated; `options` is NULL or live; `out` is
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn rewind_server_start_lmdb(
    path: *const c_char,
    max_map_size: usize,
    options: *const rewind_server_options,
    out: *mut *mut rewind_server,
) -> rewind_status {
    guard(|| {
        let path = c_path(path, "path")?;
        let options = options.as_ref().ok_or_else(|| FfiError::null("options"))?;
        let out = out_ptr(out, "out")?;
        let mut lmdb = LmdbOptions::new(path);
        lmdb.max_map_size = (max_map_size != 0).then_some(max_map_size);
        let config = Config {
            server: options.options.clone(),
            store: StoreConfig::Lmdb(lmdb),
        };
        // The options are checked before any file is created.
        *out = Box::into_raw(boxed(Service::start(&config)?));
        Ok(())
    })
}

/// The endpoints of one kind that the server bound, as a NUL-terminated,
/// comma-separated list in the form the options take (for example
/// `"tcp://127.0.0.1:9090,ipc:///tmp/rewind"`), or `""` when the server has
/// none of this kind. An endpoint given with a wildcard port, such as
/// `tcp://127.0.0.1:*`, appears with the port the system chose
/// (`tcp://127.0.0.1:41253`): this is how a caller learns it.
///
/// - `server`: a live server, borrowed.
/// - `kind`: one of the `REWIND_ENDPOINT_` constants.
/// - `out`: on success receives the list. The string is owned by the server:
///   do not free it; it stays valid and unchanged until
///   `rewind_server_free`, also after the server has stopped. Untouched on
///   failure.
///
/// Does not block. Thread-safe.
///
/// Returns REWIND_STATUS_OK, NULL_PARAMETER (`server` or `out` NULL),
/// INVALID_ARGUMENT (an unknown `kind`).
///
/// # Safety
/// `server` is NULL or live; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn rewind_server_endpoints(
    server: *const rewind_server,
    kind: rewind_endpoint_kind,
    out: *mut *const c_char,
) -> rewind_status {
    guard(|| {
        let server = server_ref(server)?;
        let out = out_ptr(out, "out")?;
        let list = usize::try_from(kind)
            .ok()
            .and_then(|k| server.endpoints.get(k))
            .ok_or_else(|| FfiError::invalid(format!("unknown endpoint kind {kind}")))?;
        *out = list.as_ptr();
        Ok(())
    })
}

/// Asks the server to stop gracefully: it stops taking requests, lets the
/// appends in flight be committed and acknowledged, and closes its sockets.
/// Does not block (see `rewind_server_wait`); calling it again, or after the
/// server stopped, does nothing. Thread-safe.
///
/// Returns REWIND_STATUS_OK or NULL_PARAMETER (`server` NULL).
///
/// # Safety
/// `server` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn rewind_server_stop(server: *const rewind_server) -> rewind_status {
    guard(|| {
        server_ref(server)?.stop.stop();
        Ok(())
    })
}

impl rewind_server {
    /// Waits up to `timeout` (forever when `None`) and records the outcome
    /// once the server has stopped.
    fn wait(&self, timeout: Option<Duration>) -> FfiResult<rewind_server_state> {
        {
            let running = self.running.read().unwrap_or_else(|e| e.into_inner());
            if let Some(server) = running.as_ref() {
                let stopped = match timeout {
                    Some(t) => server.wait_timeout(t),
                    None => {
                        while !server.wait_timeout(Duration::from_secs(3600)) {}
                        true
                    }
                };
                if !stopped {
                    return Ok(rewind_server_state::Running);
                }
            }
        }
        // Whoever joins the server records the outcome under this lock, so
        // a waiter that finds no server to join finds the outcome.
        let mut outcome = self.outcome.lock().unwrap_or_else(|e| e.into_inner());
        if outcome.is_none() {
            let server = self
                .running
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            if let Some(server) = server {
                *outcome = Some(server.join().map_err(|e| {
                    let e = FfiError::from(e);
                    (e.status, e.message)
                }));
            }
        }
        match outcome.as_ref() {
            Some(Ok(ExitReason::Stopped)) => Ok(rewind_server_state::Stopped),
            Some(Ok(ExitReason::ExitCodeword)) => Ok(rewind_server_state::ExitCodeword),
            Some(Err((status, message))) => Err(FfiError {
                status: *status,
                message: format!("the server failed: {message}"),
            }),
            // Not reachable: the server is either still to be joined or
            // its outcome is recorded.
            None => Ok(rewind_server_state::Stopped),
        }
    }
}

/// Waits until the server has stopped, or `timeout_ms` milliseconds have
/// passed (a negative `timeout_ms` waits for as long as it takes; 0 only
/// looks). On success `*out_state` receives REWIND_SERVER_STATE_RUNNING when
/// the time ran out, or why the server stopped; untouched on failure.
///
/// Blocks up to the timeout. Thread-safe: several threads may wait at once.
/// The server stops by `rewind_server_stop`, by the exit codeword, or by
/// failing; a failure is returned by this and every later wait.
///
/// Returns REWIND_STATUS_OK, NULL_PARAMETER (`server` or `out_state` NULL),
/// or the status of the error that stopped the server (ZMQ, IO, PANIC when
/// the server's thread panicked, ...).
///
/// # Safety
/// `server` is NULL or live; `out_state` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn rewind_server_wait(
    server: *const rewind_server,
    timeout_ms: i64,
    out_state: *mut rewind_server_state,
) -> rewind_status {
    guard(|| {
        let server = server_ref(server)?;
        let out_state = out_ptr(out_state, "out_state")?;
        let timeout = u64::try_from(timeout_ms).ok().map(Duration::from_millis);
        *out_state = server.wait(timeout)?;
        Ok(())
    })
}

/// Stops the server if it still runs, waits until it has stopped, and frees
/// it. NULL does nothing.
///
/// Blocks until the server's threads have finished (appends in flight are
/// committed and acknowledged first). A store opened by
/// `rewind_server_start_lmdb` is closed; a store handle given to
/// `rewind_server_start` stays open. No other call on `server` may overlap
/// with this one, and `server` must not be used afterwards.
///
/// # Safety
/// `server` is NULL or live, not used by other threads during the call nor
/// by anyone afterwards.
#[no_mangle]
pub unsafe extern "C" fn rewind_server_free(server: *mut rewind_server) {
    guard_value((), || {
        if !server.is_null() {
            let server = Box::from_raw(server);
            server.stop.stop();
            // Dropping the core server joins its thread.
            drop(server);
        }
    })
}

// The header promises that a server may be shared between threads.
const _: fn() = || {
    fn is_send_sync<T: Send + Sync>() {}
    is_send_sync::<rewind_server>();
};
