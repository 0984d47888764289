//! `rewind_store_open_postgres` through the C ABI, against a PostgreSQL
//! cluster this test binary starts: two handles on one database share its
//! log; an unreachable database, a malformed string and NULL arguments
//! are the statuses the header promises, with a message that never shows
//! the password.

use std::ffi::{CStr, CString};
use std::ptr;

use rewind::status::rewind_last_error_message;
use rewind::store::REWIND_EXPECTED_ANY;
use rewind::store::{
    rewind_store_append, rewind_store_close, rewind_store_next_position, rewind_store_open_postgres,
};
use rewind::{rewind_new_event, rewind_status, rewind_store};
use rewind_testkit::postgres::Cluster;

fn open(dsn: &str) -> Result<*mut rewind_store, (rewind_status, String)> {
    let dsn = CString::new(dsn).unwrap();
    let mut out = ptr::null_mut();
    let status = unsafe { rewind_store_open_postgres(dsn.as_ptr(), &mut out) };
    if status == rewind_status::Ok {
        assert!(!out.is_null());
        Ok(out)
    } else {
        assert!(out.is_null(), "untouched on failure");
        let msg = unsafe { CStr::from_ptr(rewind_last_error_message()) };
        Err((status, msg.to_string_lossy().into_owned()))
    }
}

fn append_one(store: *mut rewind_store, data: &[u8]) {
    let event = rewind_new_event {
        id: ptr::null(),
        id_len: 0,
        data: data.as_ptr(),
        data_len: data.len(),
    };
    let stream = b"c-stream";
    let status = unsafe {
        rewind_store_append(
            store,
            stream.as_ptr(),
            stream.len(),
            &event,
            1,
            REWIND_EXPECTED_ANY,
            0,
            ptr::null_mut(),
        )
    };
    assert_eq!(status, rewind_status::Ok);
}

fn next_position(store: *mut rewind_store) -> u64 {
    let mut n = u64::MAX;
    assert_eq!(
        unsafe { rewind_store_next_position(store, &mut n) },
        rewind_status::Ok
    );
    n
}

#[test]
fn two_handles_on_one_database_share_its_log() {
    let cluster = Cluster::shared();
    let db = cluster.new_database();
    let a = open(&cluster.dsn(&db)).unwrap();
    let b = open(&cluster.url(&db)).unwrap();
    append_one(a, b"one");
    append_one(b, b"two");
    append_one(a, b"three");
    assert_eq!(next_position(a), 3);
    assert_eq!(next_position(b), 3);
    unsafe {
        assert_eq!(rewind_store_close(a), rewind_status::Ok);
        assert_eq!(rewind_store_close(b), rewind_status::Ok);
    }
}

#[test]
fn failures_have_their_statuses() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (status, msg) = open(&format!(
        "host=127.0.0.1 port={port} dbname=events user=u password=hunter2"
    ))
    .unwrap_err();
    assert_eq!(status, rewind_status::Storage, "{msg}");
    assert!(msg.contains("cannot connect to"), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");

    let (status, msg) = open("host=x port=notaport").unwrap_err();
    assert_eq!(status, rewind_status::Config, "{msg}");

    let mut out = ptr::null_mut();
    let status = unsafe { rewind_store_open_postgres(ptr::null(), &mut out) };
    assert_eq!(status, rewind_status::NullParameter);
    let dsn = CString::new("host=x").unwrap();
    let status = unsafe { rewind_store_open_postgres(dsn.as_ptr(), ptr::null_mut()) };
    assert_eq!(status, rewind_status::NullParameter);
}
