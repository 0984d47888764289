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

    /// Runs `f` on the raw environment with the map size held steady (for
    /// what LMDB does in transactions of its own: copies, free-page counts).
    /// `f` reports a map another process grew as `MDB_MAP_RESIZED`; the
    /// size is then adopted and `f` runs again.
    pub fn with_env<T>(&self, mut f: impl FnMut(&Environment) -> lmdb::Result<T>) -> Result<T> {
        loop {
            let guard = self.shared();
            match f(&self.env) {
                Err(lmdb::Error::MapResized) => {
                    drop(guard);
                    self.adopt_resize()?;
                }
                r => return Ok(r?),
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use lmdb::Transaction;

    fn options(dir: &Path) -> LmdbOptions {
        LmdbOptions::new(dir.join("db"))
    }

    #[test]
    fn the_map_starts_at_the_initial_size_capped_by_the_limit() {
        assert_eq!(initial_map_size(64 << 20, None), 64 << 20);
        assert_eq!(initial_map_size(64 << 20, Some(1 << 30)), 64 << 20);
        assert_eq!(initial_map_size(64 << 20, Some(1 << 20)), 1 << 20);
        assert_eq!(initial_map_size(1 << 20, Some(1 << 20)), 1 << 20);
    }

    #[test]
    fn the_map_doubles_or_grows_by_twice_the_write() {
        assert_eq!(grown_map_size(1 << 20, 100, None), Some(2 << 20));
        // a write bigger than the map: the growth is twice the write
        assert_eq!(grown_map_size(1 << 20, 3 << 20, None), Some(7 << 20));
        assert_eq!(grown_map_size(1 << 20, 1 << 19, None), Some(2 << 20));
        assert_eq!(grown_map_size(0, 10, None), Some(20));
    }

    #[test]
    fn the_map_never_grows_past_the_limit() {
        assert_eq!(grown_map_size(1 << 20, 100, Some(3 << 20)), Some(2 << 20));
        assert_eq!(grown_map_size(2 << 20, 100, Some(3 << 20)), Some(3 << 20));
        assert_eq!(grown_map_size(3 << 20, 100, Some(3 << 20)), None);
        // a limit below the current size (the map was adopted from another
        // process, or opened before the limit was lowered)
        assert_eq!(grown_map_size(4 << 20, 100, Some(3 << 20)), None);
        assert_eq!(
            grown_map_size(1 << 20, 5 << 20, Some(3 << 20)),
            Some(3 << 20)
        );
    }

    #[test]
    fn map_growth_saturates_instead_of_overflowing() {
        assert_eq!(grown_map_size(usize::MAX - 1, 1, None), Some(usize::MAX));
        assert_eq!(grown_map_size(1, usize::MAX, None), Some(usize::MAX));
        assert_eq!(
            grown_map_size(usize::MAX / 2 + 1, 0, Some(usize::MAX)),
            Some(usize::MAX)
        );
    }

    #[test]
    fn dead_readers_are_looked_for_once_every_1024_commits() {
        let due: Vec<u32> = (0..4096).filter(|&n| reader_check_due(n)).collect();
        assert_eq!(due, [1023, 2047, 3071, 4095]);
        assert!(reader_check_due(u32::MAX)); // the counter wraps at a check
    }

    #[test]
    fn a_fresh_store_opens_at_its_initial_size_and_again_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let o = options(dir.path());
        let env = Env::open(&o).unwrap();
        assert_eq!(env.path(), o.path);
        assert!(!env.read_only());
        assert_eq!(env.map_size().unwrap(), o.initial_map_size);
        drop(env);
        Env::open(&o).unwrap();
        let ro = Env::open(&LmdbOptions {
            read_only: true,
            ..o
        })
        .unwrap();
        assert!(ro.read_only());
    }

    #[test]
    fn the_initial_map_is_capped_by_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let env = Env::open(&LmdbOptions {
            initial_map_size: 64 << 20,
            max_map_size: Some(1 << 20),
            ..options(dir.path())
        })
        .unwrap();
        assert_eq!(env.map_size().unwrap(), 1 << 20);
    }

    #[test]
    fn grow_doubles_the_map_up_to_the_limit_then_reports_full() {
        let dir = tempfile::tempdir().unwrap();
        let env = Env::open(&LmdbOptions {
            initial_map_size: 1 << 20,
            max_map_size: Some(3 << 20),
            ..options(dir.path())
        })
        .unwrap();
        env.grow(10).unwrap();
        assert_eq!(env.map_size().unwrap(), 2 << 20);
        env.grow(10).unwrap();
        assert_eq!(env.map_size().unwrap(), 3 << 20);
        match env.grow(10) {
            Err(Error::StorageFull(m)) => assert!(m.contains(&(3 << 20).to_string()), "{m}"),
            other => panic!("expected StorageFull, got {other:?}"),
        }
        assert_eq!(env.map_size().unwrap(), 3 << 20);
    }

    #[test]
    fn adopting_a_resize_takes_the_size_the_last_writer_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let o = LmdbOptions {
            initial_map_size: 1 << 20,
            ..options(dir.path())
        };
        {
            // an earlier writer grew the map and committed under it
            let env = Env::open(&o).unwrap();
            env.grow(10).unwrap();
            let log = env.dbs().log;
            env.with_write(|mut txn| {
                txn.put(log, &[0u8; 8], b"x", lmdb::WriteFlags::empty())?;
                txn.commit()
            })
            .unwrap();
        }
        let env = Env::open(&o).unwrap();
        assert_eq!(env.map_size().unwrap(), 1 << 20);
        env.adopt_resize().unwrap();
        assert_eq!(env.map_size().unwrap(), 2 << 20);
    }

    #[test]
    fn a_plentiful_disk_is_not_nearly_full() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!disk_nearly_full(dir.path(), 1));
        assert!(disk_nearly_full(dir.path(), u64::MAX));
        // a path that cannot be looked at is not reported full
        assert!(!disk_nearly_full(&dir.path().join("missing"), u64::MAX));
    }
}
