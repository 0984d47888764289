//! Turning C arguments into Rust values.

use std::ffi::CStr;
use std::os::raw::c_char;
use std::path::PathBuf;

use rewind_core::model::{check_event_id, check_event_type, check_stream_name};

use crate::status::{FfiError, FfiResult};

/// A byte string that must be present: NULL is a NULL_PARAMETER error, even
/// with a length of 0.
///
/// # Safety
/// A non-NULL `ptr` must point to `len` readable bytes that stay valid and
/// unchanged for `'a`.
pub(crate) unsafe fn required_bytes<'a>(
    ptr: *const u8,
    len: usize,
    what: &str,
) -> FfiResult<&'a [u8]> {
    if ptr.is_null() {
        return Err(FfiError::null(what));
    }
    bytes(ptr, len, what)
}

/// A byte string that may be empty: NULL is allowed with a length of 0.
///
/// # Safety
/// As [`required_bytes`].
pub(crate) unsafe fn data_bytes<'a>(ptr: *const u8, len: usize, what: &str) -> FfiResult<&'a [u8]> {
    if ptr.is_null() {
        if len == 0 {
            return Ok(&[]);
        }
        return Err(FfiError::null(what));
    }
    bytes(ptr, len, what)
}

/// An optional byte string: NULL means absent (whatever the length).
///
/// # Safety
/// As [`required_bytes`].
pub(crate) unsafe fn optional_bytes<'a>(
    ptr: *const u8,
    len: usize,
    what: &str,
) -> FfiResult<Option<&'a [u8]>> {
    if ptr.is_null() {
        return Ok(None);
    }
    bytes(ptr, len, what).map(Some)
}

unsafe fn bytes<'a>(ptr: *const u8, len: usize, what: &str) -> FfiResult<&'a [u8]> {
    if len > isize::MAX as usize {
        return Err(FfiError::invalid(format!(
            "{what}: length {len} is too large"
        )));
    }
    Ok(std::slice::from_raw_parts(ptr, len))
}

/// Applies one of the core's checks of a name or id (`check_stream_name`,
/// `check_event_id`), naming the argument in the message.
fn checked<'a>(
    bytes: &'a [u8],
    what: &str,
    check: fn(&[u8]) -> rewind_core::Result<()>,
) -> FfiResult<&'a [u8]> {
    check(bytes).map_err(|e| {
        let mut e = FfiError::from(e);
        e.message = format!("{what}: {}", e.message);
        e
    })?;
    Ok(bytes)
}

/// A stream name: present, and 1 to 255 bytes long (INVALID_ARGUMENT
/// otherwise), as every function that takes one checks it.
///
/// # Safety
/// As [`required_bytes`].
pub(crate) unsafe fn stream_name<'a>(ptr: *const u8, len: usize) -> FfiResult<&'a [u8]> {
    checked(
        required_bytes(ptr, len, "stream")?,
        "stream",
        check_stream_name,
    )
}

/// An event id: present, and 1 to 255 bytes long (INVALID_ARGUMENT
/// otherwise).
///
/// # Safety
/// As [`required_bytes`].
pub(crate) unsafe fn event_id<'a>(ptr: *const u8, len: usize, what: &str) -> FfiResult<&'a [u8]> {
    checked(required_bytes(ptr, len, what)?, what, check_event_id)
}

/// An event type: UTF-8 of 0 to 255 bytes (INVALID_ARGUMENT otherwise);
/// NULL is allowed with a length of 0 (no type).
///
/// # Safety
/// As [`required_bytes`].
pub(crate) unsafe fn event_type<'a>(ptr: *const u8, len: usize, what: &str) -> FfiResult<&'a [u8]> {
    checked(data_bytes(ptr, len, what)?, what, check_event_type)
}

/// An optional event id: NULL means absent (whatever the length); a present
/// one is 1 to 255 bytes long (INVALID_ARGUMENT otherwise).
///
/// # Safety
/// As [`required_bytes`].
pub(crate) unsafe fn optional_event_id<'a>(
    ptr: *const u8,
    len: usize,
    what: &str,
) -> FfiResult<Option<&'a [u8]>> {
    match optional_bytes(ptr, len, what)? {
        Some(id) => checked(id, what, check_event_id).map(Some),
        None => Ok(None),
    }
}

/// An array of `len` items; NULL is allowed only when `len` is 0.
///
/// # Safety
/// A non-NULL `ptr` must point to `len` initialized items valid for `'a`.
pub(crate) unsafe fn array<'a, T>(ptr: *const T, len: usize, what: &str) -> FfiResult<&'a [T]> {
    if ptr.is_null() {
        if len == 0 {
            return Ok(&[]);
        }
        return Err(FfiError::null(what));
    }
    if len > isize::MAX as usize / std::mem::size_of::<T>().max(1) {
        return Err(FfiError::invalid(format!(
            "{what}: count {len} is too large"
        )));
    }
    Ok(std::slice::from_raw_parts(ptr, len))
}

/// A NUL-terminated string that must be present.
///
/// # Safety
/// A non-NULL `ptr` must point to a NUL-terminated string valid for `'a`.
pub(crate) unsafe fn c_str<'a>(ptr: *const c_char, what: &str) -> FfiResult<&'a CStr> {
    if ptr.is_null() {
        return Err(FfiError::null(what));
    }
    Ok(CStr::from_ptr(ptr))
}

/// A NUL-terminated file-system path. On POSIX systems its bytes go to the
/// operating system as they are: a path need not be UTF-8 (only empty is
/// refused).
///
/// # Safety
/// As [`c_str`].
pub(crate) unsafe fn c_path(ptr: *const c_char, what: &str) -> FfiResult<PathBuf> {
    let s = c_str(ptr, what)?;
    if s.to_bytes().is_empty() {
        return Err(FfiError::invalid(format!("{what} must not be empty")));
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Ok(PathBuf::from(std::ffi::OsStr::from_bytes(s.to_bytes())))
    }
    #[cfg(not(unix))]
    {
        let text = s
            .to_str()
            .map_err(|_| FfiError::invalid(format!("{what} is not valid UTF-8")))?;
        Ok(PathBuf::from(text))
    }
}

/// Checks an out-parameter before any work is done, so that a NULL one
/// fails early and nothing is written on failure.
pub(crate) fn out_ptr<T>(ptr: *mut T, what: &str) -> FfiResult<*mut T> {
    if ptr.is_null() {
        Err(FfiError::null(what))
    } else {
        Ok(ptr)
    }
}
