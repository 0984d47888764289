//! Files and directories of a test: temporary directories, small files, and
//! opening a server's LMDB directory read-only as another process would.

use std::path::{Path, PathBuf};

/// A fresh temporary directory for a test, named after `what`.
pub fn tempdir(what: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("rewind-rel-{what}-"))
        .tempdir()
        .expect("create a temporary directory")
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Opens an LMDB store read-only (as another process would).
pub fn open_read_only(dir: &Path) -> rewind_core::Store {
    let mut o = rewind_core::lmdb::LmdbOptions::new(dir);
    o.read_only = true;
    rewind_core::Store::open(&rewind_core::StoreOptions::Lmdb(o))
        .unwrap_or_else(|e| panic!("open {} read-only: {e}", dir.display()))
}
