//! Status codes, the last error of each thread, and the panic boundary.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ffi::CString;
use std::os::raw::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use rewind_core::Error;

/// The outcome of every fallible `rewind_` function.
///
/// The numbers are stable and grouped in bands by origin: 1xx the caller's
/// arguments, 2xx the rules of the store (versions, ids, ranges), 3xx the
/// storage, 4xx the server and its configuration, 9xx the library itself.
/// A number is never reused for another meaning. Text for a status comes from
/// `rewind_status_text`; the message of the last error of the calling thread,
/// with details, from `rewind_last_error_message`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum rewind_status {
    /// Success.
    Ok = 0,
    /// A pointer argument that must not be NULL was NULL.
    NullParameter = 100,
    /// An argument is outside its domain: a stream name or id not 1 to 255
    /// bytes long, an append of no events, an unknown option value, an empty
    /// path, an endpoint that is not valid UTF-8, a length too large.
    InvalidArgument = 101,
    /// The append's expected version did not match the stream.
    WrongExpectedVersion = 200,
    /// An event with this id is already stored.
    DuplicateId = 201,
    /// No event has this id.
    UnknownId = 202,
    /// The id exists, but its event belongs to another stream.
    IdNotInStream = 203,
    /// In a range query, the `from` event comes after the `to` event.
    RangeOrder = 204,
    /// The store reached its size limit, or the disk is full. Nothing was
    /// written; reads keep working.
    StorageFull = 300,
    /// The store was opened read-only.
    ReadOnly = 301,
    /// The store has been closed.
    Closed = 302,
    /// The files are not a Rewind store, or are damaged.
    Corrupt = 303,
    /// An operating-system error (opening a directory, reading a file).
    Io = 304,
    /// The storage engine failed in a way no more specific status covers
    /// (`REWIND_STATUS_LMDB`, its former name, is kept as an alias).
    Storage = 305,
    /// An error of a store backend implemented outside the core.
    Backend = 306,
    /// The server's options are inconsistent (for example no query and no
    /// command endpoint).
    Config = 400,
    /// The messaging layer (ZeroMQ) failed: a context or socket could not
    /// be created or set up.
    Zmq = 401,
    /// An endpoint could not be bound: malformed, not allowed, or in use.
    /// The message names the endpoint.
    Bind = 402,
    /// A connected store (`rewind_store_connect`) could not reach its
    /// server: no reply came within the request timeout after every retry,
    /// the connection failed, or the CURVE handshake was refused. The
    /// message says which. Added in 0.6.0.
    Network = 403,
    /// A bug in librewind: a panic was caught at the boundary, or an
    /// internal thread of a server panicked. The object the call was
    /// working on may be in an unexpected state.
    Panic = 900,
    /// An error this version of the ABI does not know more about; the last
    /// error message says what it is.
    Other = 901,
}

impl rewind_status {
    /// The static, NUL-terminated text for this status.
    fn text(self) -> &'static str {
        match self {
            rewind_status::Ok => "ok\0",
            rewind_status::NullParameter => "a required pointer argument was NULL\0",
            rewind_status::InvalidArgument => "invalid argument\0",
            rewind_status::WrongExpectedVersion => "wrong expected version\0",
            rewind_status::DuplicateId => "an event with this id already exists\0",
            rewind_status::UnknownId => "unknown event id\0",
            rewind_status::IdNotInStream => "the event id belongs to another stream\0",
            rewind_status::RangeOrder => "the 'from' event comes after the 'to' event\0",
            rewind_status::StorageFull => "storage full\0",
            rewind_status::ReadOnly => "the store is open read-only\0",
            rewind_status::Closed => "the store is closed\0",
            rewind_status::Corrupt => "corrupt store\0",
            rewind_status::Io => "I/O error\0",
            rewind_status::Storage => "storage engine error\0",
            rewind_status::Backend => "backend error\0",
            rewind_status::Config => "configuration error\0",
            rewind_status::Zmq => "ZeroMQ error\0",
            rewind_status::Bind => "an endpoint could not be bound\0",
            rewind_status::Network => "the server could not be reached\0",
            rewind_status::Panic => "internal error (a bug in librewind)\0",
            rewind_status::Other => "other error\0",
        }
    }

    fn from_u32(code: u32) -> Option<rewind_status> {
        use rewind_status::*;
        [
            Ok,
            NullParameter,
            InvalidArgument,
            WrongExpectedVersion,
            DuplicateId,
            UnknownId,
            IdNotInStream,
            RangeOrder,
            StorageFull,
            ReadOnly,
            Closed,
            Corrupt,
            Io,
            Storage,
            Backend,
            Config,
            Zmq,
            Bind,
            Network,
            Panic,
            Other,
        ]
        .into_iter()
        .find(|s| *s as u32 == code)
    }
}

/// The one mapping from core errors to status codes.
pub(crate) fn status_of(e: &Error) -> rewind_status {
    match e {
        Error::WrongExpectedVersion { .. } => rewind_status::WrongExpectedVersion,
        Error::DuplicateId(_) => rewind_status::DuplicateId,
        Error::UnknownId(_) => rewind_status::UnknownId,
        Error::IdNotInStream { .. } => rewind_status::IdNotInStream,
        Error::RangeOrder => rewind_status::RangeOrder,
        Error::InvalidArgument(_) => rewind_status::InvalidArgument,
        Error::StorageFull(_) => rewind_status::StorageFull,
        Error::ReadOnly => rewind_status::ReadOnly,
        Error::Closed => rewind_status::Closed,
        Error::Corrupt(_) => rewind_status::Corrupt,
        Error::Io(_) => rewind_status::Io,
        Error::Storage(_) => rewind_status::Storage,
        Error::Backend(_) => rewind_status::Backend,
        Error::Config(_) => rewind_status::Config,
        Error::Bind { .. } => rewind_status::Bind,
        Error::Network(_) => rewind_status::Zmq,
        Error::Internal(_) => rewind_status::Panic,
        _ => rewind_status::Other,
    }
}

/// An error on its way to the caller: a status and its message.
#[derive(Debug)]
pub(crate) struct FfiError {
    pub(crate) status: rewind_status,
    pub(crate) message: String,
}

impl FfiError {
    pub(crate) fn null(what: &str) -> FfiError {
        FfiError {
            status: rewind_status::NullParameter,
            message: format!("{what} must not be NULL"),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> FfiError {
        FfiError {
            status: rewind_status::InvalidArgument,
            message: message.into(),
        }
    }
}

impl FfiError {
    /// The error of a call on a connected store: as `From<Error>`, except
    /// that the network failures of the client are NETWORK, not ZMQ.
    pub(crate) fn remote(e: Error) -> FfiError {
        let status = match e {
            Error::Network(_) => rewind_status::Network,
            ref other => status_of(other),
        };
        FfiError {
            status,
            message: e.to_string(),
        }
    }
}

impl From<Error> for FfiError {
    fn from(e: Error) -> FfiError {
        FfiError {
            status: status_of(&e),
            message: e.to_string(),
        }
    }
}

pub(crate) type FfiResult<T> = Result<T, FfiError>;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: &str) {
    // Messages are one line of text; a NUL inside one would cut it short.
    let text = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    let _ = LAST_ERROR.try_with(|e| *e.borrow_mut() = text);
}

fn clear_last_error() {
    let _ = LAST_ERROR.try_with(|e| {
        let mut e = e.borrow_mut();
        if !e.as_bytes().is_empty() {
            *e = CString::default();
        }
    });
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("panic in librewind: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("panic in librewind: {s}")
    } else {
        "panic in librewind".to_string()
    }
}

/// Keeps a reference to the handle (`std::thread::Thread`) of the process's
/// main thread once that thread has called into the library.
///
/// Rust's standard library gives a thread a handle when the thread first
/// blocks in it (a C caller waiting for its append's commit does), keeps it
/// in a thread-local as a pointer into the middle of its allocation, and
/// frees it from a pthread key destructor when the thread exits. The main
/// thread of a C program never runs those destructors: it ends in `exit()`.
/// Its handle then stays allocated until the process ends, known only
/// through that interior pointer, which memory checkers (Valgrind's
/// memcheck) report as "possibly lost". The reference kept here points to
/// the start of the allocation, so they see the handle as what it is: still
/// reachable, one per process. Other threads free their handle when they
/// exit, and are left alone.
fn keep_main_thread_handle() {
    thread_local! {
        static SEEN: Cell<bool> = const { Cell::new(false) };
    }
    static MAIN_THREAD: OnceLock<std::thread::Thread> = OnceLock::new();
    if SEEN.try_with(|seen| seen.replace(true)) == Ok(false) && is_main_thread() {
        // A panic here (a thread whose handle is already destroyed) only
        // means there is nothing to keep.
        let _ = catch_unwind(|| MAIN_THREAD.get_or_init(std::thread::current));
    }
}

/// Whether the calling thread is the process's main thread.
fn is_main_thread() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: both calls take no argument and cannot fail.
        unsafe { libc::syscall(libc::SYS_gettid) == libc::c_long::from(libc::getpid()) }
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// Runs the body of a fallible extern function: clears the thread's last
/// error, catches panics, and turns the outcome into a status (recording the
/// message of a failure).
pub(crate) fn guard(body: impl FnOnce() -> FfiResult<()>) -> rewind_status {
    keep_main_thread_handle();
    clear_last_error();
    let e = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => return rewind_status::Ok,
        Ok(Err(e)) => e,
        Err(payload) => FfiError {
            status: rewind_status::Panic,
            message: panic_message(&*payload),
        },
    };
    set_last_error(&e.message);
    e.status
}

/// Runs the body of an infallible extern function (a `_free`, an accessor),
/// returning `fallback` if it panics.
pub(crate) fn guard_value<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    keep_main_thread_handle();
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// A static, NUL-terminated English text for a status code, such as
/// `"unknown event id"`.
///
/// `status` may be any number: one this version does not know gives
/// `"unknown status"`. The string is static: never free it. Never fails;
/// thread-safe.
#[no_mangle]
pub extern "C" fn rewind_status_text(status: u32) -> *const c_char {
    guard_value(c"unknown status".as_ptr(), || {
        let text = rewind_status::from_u32(status).map_or("unknown status\0", rewind_status::text);
        text.as_ptr().cast()
    })
}

/// The message of the last error on the calling thread, as NUL-terminated
/// UTF-8 text, such as `"wrong expected version for stream orders: expected
/// no stream, stream is at version 1"`.
///
/// Every function that returns a `rewind_status` clears the message when it
/// starts and sets it when it fails, so the message belongs to the most
/// recent such call on this thread; it is `""` after a success.
///
/// The string is owned by the library and stays valid until the next call
/// of a status-returning `rewind_` function on the same thread; copy it to
/// keep it. Never returns NULL; never fails; each thread has its own message.
#[no_mangle]
pub extern "C" fn rewind_last_error_message() -> *const c_char {
    guard_value(c"".as_ptr(), || {
        LAST_ERROR
            .try_with(|e| e.borrow().as_ptr())
            .unwrap_or(c"".as_ptr())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn last() -> String {
        unsafe { CStr::from_ptr(rewind_last_error_message()) }
            .to_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn a_panic_becomes_the_panic_status() {
        let s = guard(|| panic!("boom"));
        assert_eq!(s, rewind_status::Panic);
        assert!(last().contains("boom"), "{}", last());
        assert_eq!(guard(|| Ok(())), rewind_status::Ok);
        assert_eq!(last(), "");
    }

    #[test]
    fn every_status_has_text_and_unknown_codes_do_too() {
        for code in 0..1000 {
            let text = unsafe { CStr::from_ptr(rewind_status_text(code)) };
            match rewind_status::from_u32(code) {
                Some(s) => assert_eq!(text.to_bytes_with_nul(), s.text().as_bytes()),
                None => assert_eq!(text.to_bytes(), b"unknown status"),
            }
        }
    }

    #[test]
    fn messages_with_nul_bytes_survive() {
        let s = guard(|| Err(FfiError::invalid("a\0b")));
        assert_eq!(s, rewind_status::InvalidArgument);
        assert_eq!(last(), "a\\0b");
    }

    #[test]
    fn core_errors_map_to_their_status() {
        let cases: Vec<(Error, rewind_status)> = vec![
            (
                Error::DuplicateId(b"x".to_vec()),
                rewind_status::DuplicateId,
            ),
            (Error::UnknownId(b"x".to_vec()), rewind_status::UnknownId),
            (Error::RangeOrder, rewind_status::RangeOrder),
            (Error::ReadOnly, rewind_status::ReadOnly),
            (Error::Closed, rewind_status::Closed),
            (Error::StorageFull("x".into()), rewind_status::StorageFull),
            (Error::Config("x".into()), rewind_status::Config),
            (Error::Backend("x".into()), rewind_status::Backend),
            (Error::Storage("x".into()), rewind_status::Storage),
            (
                Error::Bind {
                    endpoint: "tcp://x:1".into(),
                    reason: "in use".into(),
                },
                rewind_status::Bind,
            ),
            (Error::Network("x".into()), rewind_status::Zmq),
            (Error::Internal("x".into()), rewind_status::Panic),
        ];
        for (e, s) in cases {
            assert_eq!(status_of(&e), s, "{e}");
        }
    }

    #[test]
    fn a_connected_stores_network_failure_is_network_and_the_rest_as_embedded() {
        let e = FfiError::remote(Error::Network("no reply from tcp://x:1".into()));
        assert_eq!(e.status, rewind_status::Network);
        assert!(e.message.contains("no reply"), "{}", e.message);
        assert_eq!(
            FfiError::remote(Error::DuplicateId(b"x".to_vec())).status,
            rewind_status::DuplicateId
        );
        assert_eq!(
            FfiError::remote(Error::Closed).status,
            rewind_status::Closed
        );
        // The embedded side keeps ZMQ for a failure of the messaging layer.
        assert_eq!(
            FfiError::from(Error::Network("x".into())).status,
            rewind_status::Zmq
        );
    }
}
