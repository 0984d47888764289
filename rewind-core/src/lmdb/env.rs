//! The open environment of a store ([`Env`]): its map size (the initial
//! size, its limit, growing it, adopting a size another process set), the
//! reader table, and the transactions.
//!
//! It owns the lock that keeps this process's transactions out of the way
//! of a map resize: every transaction runs through [`Env::with_read`] or
//! [`Env::with_write`]. Opening and checking the files is
//! [`open`](super::open)'s; the bytes stored are [`codec`](super::codec)'s;
//! the reads and writes are in [`read`](super::read) and
//! [`write`](super::write). Nothing here knows of events.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{RwLock, RwLockReadGuard};

use lmdb::{Environment, RoTransaction, RwTransaction};

use super::open::{open_store, Databases};
use super::LmdbOptions;
use crate::{Error, Result};

/// Dead readers are looked for once every this many commits.
const READER_CHECK_EVERY: u32 = 1024;

/// An open environment holding a Rewind store.
pub(super) struct Env {
    env: Environment,
    dbs: Databases,
    /// Held shared by every transaction of this process and exclusively to
    /// change the map size, which LMDB allows only with no transaction active.
    resize: RwLock<()>,
    max_map_size: Option<usize>,
    read_only: bool,
    path: PathBuf,
    /// Commits since dead readers were last looked for.
    commits: AtomicU32,
}

/// The map size to open with: the initial size, but never above the limit
/// (LMDB would otherwise let the file grow to the initial size whatever the
/// limit says).
fn initial_map_size(initial: usize, limit: Option<usize>) -> usize {
    match limit {
        Some(limit) => initial.min(limit),
        None => initial,
    }
}

/// The map size to grow to from `current` for a write of about `at_least`
/// bytes: double, or more when the write needs it, but not above the limit;
/// `None` when the map is at the limit already.
fn grown_map_size(current: usize, at_least: usize, limit: Option<usize>) -> Option<usize> {
    let wanted = current
        .saturating_mul(2)
        .max(current.saturating_add(at_least.saturating_mul(2)));
    match limit {
        Some(limit) if current >= limit => None,
        Some(limit) => Some(wanted.min(limit)),
        None => Some(wanted),
    }
}

/// Whether the `n`-th commit (counting from 0) is one after which dead
/// readers are looked for.
fn reader_check_due(n: u32) -> bool {
    n % READER_CHECK_EVERY == READER_CHECK_EVERY - 1
}

/// Whether the file system of `path` has less than `needed` bytes free.
pub(super) fn disk_nearly_full(path: &Path, needed: u64) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is a valid C string and st a valid out-pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return false;
    }
    (st.f_bavail as u64).saturating_mul(st.f_frsize as u64) < needed
}

impl Env {
    /// Opens (or creates) the store described by `options`.
    pub fn open(options: &LmdbOptions) -> Result<Env> {
        let initial = initial_map_size(options.initial_map_size, options.max_map_size);
        let (env, dbs) = open_store(&options.path, options.read_only, initial)?;
        let env = Env {
            env,
            dbs,
            resize: RwLock::new(()),
            max_map_size: options.max_map_size,
            read_only: options.read_only,
            path: options.path.clone(),
            commits: AtomicU32::new(0),
        };
        env.clear_dead_readers();
        Ok(env)
    }

    /// The databases of the store.
    #[inline]
    pub fn dbs(&self) -> Databases {
        self.dbs
    }

    /// The directory of the store.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the store was opened read-only.
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// The current size of LMDB's map, in bytes.
    pub fn map_size(&self) -> Result<usize> {
        Ok(self.env.info()?.map_size())
    }

    /// Forces everything committed to disk.
    pub fn sync(&self) -> Result<()> {
        self.env.sync(true)?;
        Ok(())
    }

    /// Frees the reader-table slots of processes that died in the middle of
    /// a read transaction. Until then LMDB keeps every page such a dead
    /// snapshot could see, and the file grows with every commit (LMDB only
    /// resets the table when no process at all has the store open).
    /// Returns how many slots were freed.
    pub fn clear_dead_readers(&self) -> usize {
        let mut dead: libc::c_int = 0;
        // SAFETY: the environment is open; `dead` is a valid out-pointer.
        let rc = unsafe { lmdb_sys::mdb_reader_check(self.env.env(), &mut dead) };
        if rc != 0 || dead <= 0 {
            return 0;
        }
        log::warn!(
            "freed {dead} LMDB reader slot(s) of processes that died while reading {}",
            self.path.display()
        );
        dead as usize
    }

    /// Counts a commit, and every [`READER_CHECK_EVERY`] commits frees the
    /// slots of dead readers (a reader process may die mid-read while the
    /// server runs).
    pub fn count_commit(&self) {
        if reader_check_due(self.commits.fetch_add(1, Ordering::Relaxed)) {
            self.clear_dead_readers();
        }
    }

    fn shared(&self) -> RwLockReadGuard<'_, ()> {
        self.resize.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Adopts a map grown by another process.
    pub fn adopt_resize(&self) -> Result<()> {
        let _g = self.resize.write().unwrap_or_else(|e| e.into_inner());
        self.env.set_map_size(0)?;
        Ok(())
    }

    /// Grows the map after MDB_MAP_FULL for a write of about `at_least`
    /// bytes, or reports the store full.
    pub fn grow(&self, at_least: usize) -> Result<()> {
        let _g = self.resize.write().unwrap_or_else(|e| e.into_inner());
        let current = self.env.info()?.map_size();
        let Some(wanted) = grown_map_size(current, at_least, self.max_map_size) else {
            return Err(Error::StorageFull(format!(
                "the store reached its size limit of {} bytes",
                self.max_map_size.unwrap_or(current)
            )));
        };
        log::info!(
            "growing LMDB map of {} from {} to {} bytes",
            self.path.display(),
            current,
            wanted
        );
        self.env.set_map_size(wanted)?;
        Ok(())
    }

    /// Runs `f` in a read transaction, adopting a map another process grew
    /// first when LMDB asks for it.
    pub fn with_read<T>(&self, f: impl FnOnce(&RoTransaction<'_>) -> Result<T>) -> Result<T> {
        loop {
            let guard = self.shared();
            match self.env.begin_ro_txn() {
                Ok(txn) => {
                    let r = f(&txn);
                    drop(txn);
                    drop(guard);
                    return r;
                }
                Err(lmdb::Error::MapResized) => {
                    drop(guard);
                    self.adopt_resize()?;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Runs `f` on a new write transaction with the map size held steady;
    /// `f` commits or aborts it. One attempt: the caller decides what to do
    /// about a full or resized map.
    #[inline]
    pub fn with_write<T>(
        &self,
        f: impl FnOnce(RwTransaction<'_>) -> lmdb::Result<T>,
    ) -> lmdb::Result<T> {
        let _g = self.shared();
        f(self.env.begin_rw_txn()?)
    }
}
