//! The C ABI of the Rewind event store: `librewind.so`, `librewind.a` and
//! the header `include/rewind.h` that cbindgen generates from this crate.
//!
//! The ABI is a thin layer over [`rewind_core`]: every function converts its
//! arguments, calls the core, and converts the result back. It follows a few
//! rules everywhere:
//!
//! - Every symbol starts with `rewind_` (`REWIND_` for constants).
//! - Every fallible function returns a [`rewind_status`]; its outputs go
//!   through trailing out-parameters that are written only when it returns
//!   [`rewind_status::Ok`]. A message for the last error of the calling thread
//!   is available from [`status::rewind_last_error_message`].
//! - Objects are opaque pointers created by `_open`/`_new`/`_start` functions
//!   and released by their `_close`/`_free` function; releasing NULL does
//!   nothing.
//! - No panic crosses the boundary (it becomes [`rewind_status::Panic`]), and
//!   a NULL argument where one is not allowed is
//!   [`rewind_status::NullParameter`], never a crash.
//!
//! Modules: [`status`] (status codes, the last error, the panic boundary),
//! [`store`] (opening a store, appends, reads), [`events`] (read results),
//! [`subscription`] (log filters and subscriptions), [`server`] (the ZeroMQ
//! server in-process), [`client`] (a store handle on a server's store,
//! CURVE keys).
#![warn(missing_docs)]
#![allow(non_camel_case_types)]

// The order of the modules is the order of the sections of rewind.h.
pub mod status;

pub mod store;

pub mod events;

pub mod subscription;

pub mod server;

pub mod client;

mod util;

pub use client::rewind_client_options;
pub use events::{
    rewind_append_info, rewind_append_result, rewind_appended, rewind_event, rewind_events,
    rewind_visitor,
};
pub use server::{rewind_endpoint_kind, rewind_server, rewind_server_options, rewind_server_state};
pub use status::rewind_status;
pub use store::{
    rewind_expected_kind, rewind_new_event, rewind_new_event_ex, rewind_store, rewind_stream_append,
};
pub use subscription::{
    rewind_bytes, rewind_log_filter, rewind_subscription, rewind_subscription_item,
    rewind_subscription_item_kind,
};

/// The version of librewind, as a NUL-terminated string such as `"0.6.0"`.
///
/// The string is static: never free it. Never fails; thread-safe.
#[no_mangle]
pub extern "C" fn rewind_version() -> *const std::os::raw::c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
