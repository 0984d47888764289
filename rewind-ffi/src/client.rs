//! The client of a Rewind server: `rewind_store_connect`, which gives a
//! `rewind_store` that every `rewind_store_` function works on, its options
//! (`rewind_client_options`), and `rewind_curve_keypair`.

use std::os::raw::c_char;
use std::time::Duration;

use rewind_core::{Client, ClientOptions};

use crate::status::{guard, guard_value, rewind_status, FfiError, FfiResult};
use crate::store::{rewind_store, Backing};
use crate::util::{c_str, out_ptr};

/// How a connected store talks to its server (added in 0.6.0).
///
/// Created by `rewind_client_options_new` with the defaults (a request
/// timeout of 5 seconds, 3 retries, no CURVE), changed by the
/// `rewind_client_options_set_` functions, freed by
/// `rewind_client_options_free`. Not synchronized: use one options object
/// from one thread at a time. `rewind_store_connect` copies them, so they
/// may be changed or freed afterwards.
pub struct rewind_client_options {
    options: ClientOptions,
}

unsafe fn options_mut<'a>(options: *mut rewind_client_options) -> FfiResult<&'a mut ClientOptions> {
    options
        .as_mut()
        .map(|o| &mut o.options)
        .ok_or_else(|| FfiError::null("options"))
}

/// A NUL-terminated string that must be valid UTF-8.
unsafe fn utf8<'a>(ptr: *const c_char, what: &str) -> FfiResult<&'a str> {
    c_str(ptr, what)?
        .to_str()
        .map_err(|_| FfiError::invalid(format!("{what} is not valid UTF-8")))
}

/// Creates client options holding the defaults (see
/// `rewind_client_options`). Added in 0.6.0.
///
/// `out` receives on success a new object owned by the caller, to be freed
/// with `rewind_client_options_free`; untouched on failure. Does not block;
/// thread-safe.
///
/// Returns REWIND_STATUS_OK or NULL_PARAMETER (`out` NULL).
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn rewind_client_options_new(
    out: *mut *mut rewind_client_options,
) -> rewind_status {
    guard(|| {
        let out = out_ptr(out, "out")?;
        *out = Box::into_raw(Box::new(rewind_client_options {
            options: ClientOptions::default(),
        }));
        Ok(())
    })
}

/// Frees client options. NULL does nothing. Never blocks. Added in 0.6.0.
///
/// # Safety
/// `options` is NULL or a live object, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn rewind_client_options_free(options: *mut rewind_client_options) {
    guard_value((), || {
        if !options.is_null() {
            drop(Box::from_raw(options));
        }
    })
}

/// Sets how long a request waits for its reply (or the next part of a long
/// read's reply), in milliseconds, before the client reconnects and sends it
/// again (default 5000). Added in 0.6.0.
///
/// A request fails with REWIND_STATUS_NETWORK after the retries (see
/// `rewind_client_options_set_retries`), so with no server it returns after
/// about `timeout_ms * (retries + 1)`. Does not block.
///
/// Returns REWIND_STATUS_OK, NULL_PARAMETER (`options` NULL),
/// INVALID_ARGUMENT (0).
///
/// Not synchronized: no other thread may use `options` during the call.
///
/// # Safety
/// `options` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn rewind_client_options_set_timeout_ms(
    options: *mut rewind_client_options,
    timeout_ms: u64,
) -> rewind_status {
    guard(|| {
        let options = options_mut(options)?;
        if timeout_ms == 0 {
            return Err(FfiError::invalid("the request timeout must not be 0 ms"));
        }
        options.request_timeout = Duration::from_millis(timeout_ms);
        Ok(())
    })
}

/// Sets how many times a request is sent again, after a timeout or a lost
/// connection, before it fails with REWIND_STATUS_NETWORK (default 3; 0
/// sends each request once). Appends are safe to resend: the client gives
/// every event without an id a UUIDv7 first, so the server recognises a
/// retry and answers with the original versions and positions. Added in
/// 0.6.0. Does not block.
///
/// Returns REWIND_STATUS_OK or NULL_PARAMETER (`options` NULL).
///
/// Not synchronized: no other thread may use `options` during the call.
///
/// # Safety
/// `options` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn rewind_client_options_set_retries(
    options: *mut rewind_client_options,
    retries: u32,
) -> rewind_status {
    guard(|| {
        options_mut(options)?.retries = retries;
        Ok(())
    })
}

/// Turns CURVE on for a server that requires it (added in 0.6.0): the
/// server's public key, and this client's public and secret keys (its public
/// key must be on the server's allow-list), each a NUL-terminated string of
/// 40 Z85 characters such as `rewind_curve_keypair` writes, borrowed for the
/// call (the options keep copies). NULL for all three turns CURVE off again.
///
/// The keys are checked by `rewind_store_connect` (CONFIG for a key that is
/// not 40 characters of Z85, or a libzmq without CURVE). A server that
/// refuses the keys answers nothing: requests then fail with
/// REWIND_STATUS_NETWORK, with a message naming CURVE. Does not block.
///
/// Returns REWIND_STATUS_OK, NULL_PARAMETER (some but not all keys NULL),
/// INVALID_ARGUMENT (a key that is not UTF-8).
///
/// Not synchronized: no other thread may use `options` during the call.
///
/// # Safety
/// `options` is NULL or live; each key is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn rewind_client_options_set_curve(
    options: *mut rewind_client_options,
    server_public_key: *const c_char,
    public_key: *const c_char,
    secret_key: *const c_char,
) -> rewind_status {
    guard(|| {
        let options = options_mut(options)?;
        if server_public_key.is_null() && public_key.is_null() && secret_key.is_null() {
            options.curve = None;
            return Ok(());
        }
        let server = utf8(server_public_key, "server_public_key")?;
        let public = utf8(public_key, "public_key")?;
        let secret = utf8(secret_key, "secret_key")?;
        *options = options.clone().with_curve(server, public, secret);
        Ok(())
    })
}

/// Connects to the Rewind server whose native protocol endpoint is
/// `endpoint` (such as `"tcp://127.0.0.1:9004"`; see
/// `REWIND_ENDPOINT_NATIVE`), and gives a store handle that every
/// `rewind_store_` and `rewind_subscription_` function works on as on an
/// embedded store, with the same semantics and statuses; code moves from
/// an embedded store to a server by changing this one call. Added in 0.6.0.
///
/// - `endpoint`: NUL-terminated, borrowed for the call.
/// - `options`: NULL for the defaults; otherwise borrowed for the call (the
///   handle keeps a copy).
/// - `out`: on success receives a new handle owned by the caller, to be
///   released with `rewind_store_close` (which closes the connection;
///   subscriptions made from it then fail with REWIND_STATUS_CLOSED).
///   Untouched on failure.
///
/// The connection is made in the background: this call does not wait for
/// the server, and a server that is not there yet is found when it comes.
/// Every call on the handle then waits up to the request timeout for its
/// reply, reconnects and resends up to the retries, and fails with
/// REWIND_STATUS_NETWORK when no reply came (the message says why). Appends
/// are durable on the server when they return. A connected store cannot be
/// served by `rewind_server_start` (INVALID_ARGUMENT).
///
/// Does not block (beyond creating a socket and a thread). Thread-safe; the
/// handle may be used by any number of threads at once, their requests in
/// flight together.
///
/// Returns REWIND_STATUS_OK, NULL_PARAMETER (`endpoint` or `out` NULL),
/// INVALID_ARGUMENT (an endpoint that is not UTF-8 or that ZeroMQ cannot
/// connect to), CONFIG (CURVE keys that are not Z85 keys, or a libzmq
/// without CURVE), NETWORK (the messaging layer failed).
///
/// # Safety
/// `endpoint` is NULL or NUL-terminated; `options` is NULL or live; `out`
/// is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn rewind_store_connect(
    endpoint: *const c_char,
    options: *const rewind_client_options,
    out: *mut *mut rewind_store,
) -> rewind_status {
    guard(|| {
        let endpoint = utf8(endpoint, "endpoint")?;
        let out = out_ptr(out, "out")?;
        let options = options
            .as_ref()
            .map_or_else(ClientOptions::default, |o| o.options.clone());
        let client = Client::connect_with(endpoint, options).map_err(FfiError::remote)?;
        *out = Box::into_raw(Box::new(rewind_store {
            backing: Backing::Remote(client),
        }));
        Ok(())
    })
}

/// The length of a CURVE key in Z85 text, plus its NUL: the size of each
/// buffer `rewind_curve_keypair` writes.
pub const REWIND_CURVE_KEY_BUFFER: usize = 41;

/// Generates a new CURVE key pair (added in 0.6.0): writes the public key
/// and the secret key, each 40 Z85 characters and a NUL, into the caller's
/// buffers of at least REWIND_CURVE_KEY_BUFFER (41) bytes. The keys contain
/// no `%` and do not start with `-`, so they paste as they are into a
/// configuration file and a command line. Give the public key to the other
/// side (a client's to the server's allow-list, the server's to
/// `rewind_client_options_set_curve`); keep the secret key. Nothing is
/// written on failure.
///
/// Does not block. Thread-safe.
///
/// Returns REWIND_STATUS_OK, NULL_PARAMETER (a buffer NULL), CONFIG (this
/// build's libzmq has no CURVE).
///
/// # Safety
/// Each buffer is NULL or writable for 41 bytes.
#[no_mangle]
pub unsafe extern "C" fn rewind_curve_keypair(
    public_out: *mut c_char,
    secret_out: *mut c_char,
) -> rewind_status {
    guard(|| {
        let public_out = out_ptr(public_out, "public_out")?;
        let secret_out = out_ptr(secret_out, "secret_out")?;
        let pair = rewind_core::curve::generate_keypair()?;
        let keys = [(&pair.public, public_out), (&pair.secret, secret_out)];
        if let Some((key, _)) = keys
            .iter()
            .find(|(key, _)| key.len() + 1 != REWIND_CURVE_KEY_BUFFER)
        {
            return Err(FfiError::from(rewind_core::Error::Internal(format!(
                "a generated CURVE key of {} characters",
                key.len()
            ))));
        }
        for (key, buf) in keys {
            std::ptr::copy_nonoverlapping(key.as_ptr().cast::<c_char>(), buf, key.len());
            *buf.add(key.len()) = 0;
        }
        Ok(())
    })
}
