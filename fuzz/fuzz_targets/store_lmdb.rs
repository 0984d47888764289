//! Fuzzes the LMDB store with operation sequences decoded from the input
//! (including closing and reopening it), checked step by step against the
//! test suite's model (`rewind_testkit::model`). Stores live in
//! /dev/shm when it exists, so that commits do not wait for a disk.
#![no_main]

use std::sync::atomic::{AtomicU64, Ordering};

use libfuzzer_sys::fuzz_target;
use rewind_core::Store;
use rewind_testkit::model::{decode_ops, run_ops, Model};

static N: AtomicU64 = AtomicU64::new(0);

fuzz_target!(|data: &[u8]| {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        std::path::PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let path = base.join(format!(
        "rewind-fuzz-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let ops = decode_ops(data);
    let mut model = Model::default();
    let mut reopen = |old: Store| {
        old.close().unwrap();
        drop(old);
        Store::open_lmdb(&path).unwrap()
    };
    let store = Store::open_lmdb(&path).unwrap();
    let store = run_ops(store, &mut model, &ops, Some(&mut reopen));
    store.close().unwrap();
    drop(store);
    let _ = std::fs::remove_dir_all(&path);
});
