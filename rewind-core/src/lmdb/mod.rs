//! The LMDB backend: a directory, durable on every commit.
//!
//! Layout (named databases in one environment):
//!
//! | database  | key                                   | value                                   |
//! |-----------|---------------------------------------|-----------------------------------------|
//! | `log`     | position (u64, big-endian)            | the event: a record (see below)         |
//! | `ids`     | event id                              | position                                |
//! | `streams` | stream len, stream, version (BE)      | position                                |
//! | `heads`   | stream                                | version, position, id of the last event |
//! | `meta`    | `format`                              | [`FORMAT`]                              |
//!
//! A record of `log` is, since format `rewind-lmdb-2`: a 0 byte, the record
//! version (2), stream len, stream, id len, id, version (u64, big-endian),
//! type len, type, metadata len (LEB128), metadata, data. Stores of Rewind
//! 0.4.0 (format `rewind-lmdb-1`, [`FORMAT_V1`]) hold records without the
//! first two bytes, the type and the metadata (stream len, stream, id len,
//! id, version, data); they still read, and opening such a store for
//! writing upgrades its marker in one transaction (new records are then in
//! the new layout, the old ones stay as they are).
//!
//! Nothing is cached in memory between transactions, so every process that
//! opens the directory sees the same store. When LMDB's map is full the
//! writer grows it (doubling, up to the configured limit) and retries.
//!
//! This file holds the public types and the [`Backend`] implementation,
//! which only delegates to the parts:
//!
//! | module    | owns |
//! |-----------|------|
//! | `codec`   | the bytes of every key and value (the format); pure functions |
//! | `open`    | opening or creating the files, refusing what is not a whole store |
//! | `env`     | the open environment: map size and growth, reader slots, transactions |
//! | `read`    | reads by position and stream (both ways) and id, heads, the next position |
//! | `write`   | the batch append transaction and its retry when the map is full |
//! | `inspect` | statistics, the list of streams, the index check, the compacted copy (the operator's tools) |

mod codec;
mod env;
mod inspect;
mod open;
mod read;
mod write;

use std::path::{Path, PathBuf};

use crate::backend::{AppendOutcome, AppendRequest, Backend, Visitor};
use crate::metrics::StorageUse;
use crate::{Result, StreamHead};

pub use codec::{FORMAT, FORMAT_V1};
pub use inspect::{LmdbStats, VerifyReport};

/// Options of an LMDB store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LmdbOptions {
    /// The directory of the store; created (with its parents) when missing,
    /// unless the store is read-only.
    pub path: PathBuf,
    /// The map size to start with, in bytes. It grows by itself.
    pub initial_map_size: usize,
    /// The size the store may grow to, in bytes; `None` for no limit but the
    /// disk. An append that does not fit gets [`Error::StorageFull`](crate::Error::StorageFull).
    pub max_map_size: Option<usize>,
    /// Open for reading only (another process may be writing).
    pub read_only: bool,
}

impl LmdbOptions {
    /// Defaults for a store at `path`: 64 MiB to start, no size limit.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        LmdbOptions {
            path: path.into(),
            initial_map_size: 64 << 20,
            max_map_size: None,
            read_only: false,
        }
    }
}

/// A store in an LMDB environment.
pub struct LmdbBackend {
    env: env::Env,
}

impl LmdbBackend {
    /// Opens (or creates) the store described by `options`.
    ///
    /// Errors: [`Error::Corrupt`](crate::Error::Corrupt) when the directory
    /// holds something that is not a Rewind store,
    /// [`Error::Io`](crate::Error::Io) when it cannot be created or read.
    pub fn open(options: &LmdbOptions) -> Result<Self> {
        Ok(LmdbBackend {
            env: env::Env::open(options)?,
        })
    }

    /// The directory of the store.
    pub fn path(&self) -> &Path {
        self.env.path()
    }

    /// The current size of LMDB's map, in bytes.
    pub fn map_size(&self) -> Result<usize> {
        self.env.map_size()
    }

    /// Whether the store was opened read-only.
    pub fn read_only(&self) -> bool {
        self.env.read_only()
    }

    /// What the store holds and how much room it takes.
    pub fn stats(&self) -> Result<LmdbStats> {
        inspect::stats(&self.env)
    }

    /// Visits every stream whose name starts with `prefix`, in byte order,
    /// with its head (its event count is the head's version + 1); `visit`
    /// returns `false` to stop.
    pub fn streams(
        &self,
        prefix: &[u8],
        mut visit: impl FnMut(&[u8], StreamHead) -> bool,
    ) -> Result<()> {
        inspect::streams(&self.env, prefix, &mut visit)
    }

    /// Checks every index against the log in one snapshot, keeping the
    /// first `max_problems` problems found. `progress(done, total)` is
    /// called now and then and returns `false` to stop the check (it then
    /// fails with an [`Interrupted`](std::io::ErrorKind::Interrupted) I/O
    /// error).
    pub fn verify(
        &self,
        max_problems: usize,
        mut progress: impl FnMut(u64, u64) -> bool,
    ) -> Result<VerifyReport> {
        inspect::verify(&self.env, max_problems, &mut progress)
    }

    /// Writes a compacted copy of the data file, as of one commit, to
    /// `file` (empty, open for writing) and syncs it: a directory holding
    /// just that file as `data.mdb` opens as this store.
    pub fn copy_compacted(&self, file: &std::fs::File) -> Result<()> {
        inspect::copy_compacted(&self.env, file)
    }
}

impl Backend for LmdbBackend {
    fn append_batch(&self, batch: &[AppendRequest]) -> Result<Vec<Result<AppendOutcome>>> {
        write::append_batch(&self.env, batch)
    }

    fn read_log(&self, from_position: u64, limit: usize, visit: &mut Visitor<'_>) -> Result<()> {
        read::read_log(&self.env, from_position, limit, visit)
    }

    fn read_stream(
        &self,
        stream: &[u8],
        from_version: u64,
        limit: usize,
        visit: &mut Visitor<'_>,
    ) -> Result<()> {
        read::read_stream(&self.env, stream, from_version, limit, visit)
    }

    fn read_log_backward(
        &self,
        from_position: Option<u64>,
        limit: usize,
        visit: &mut Visitor<'_>,
    ) -> Result<()> {
        read::read_log_backward(&self.env, from_position, limit, visit)
    }

    fn read_stream_backward(
        &self,
        stream: &[u8],
        from_version: Option<u64>,
        limit: usize,
        visit: &mut Visitor<'_>,
    ) -> Result<()> {
        read::read_stream_backward(&self.env, stream, from_version, limit, visit)
    }

    fn get(&self, id: &[u8], visit: &mut Visitor<'_>) -> Result<bool> {
        read::get(&self.env, id, visit)
    }

    fn stream_head(&self, stream: &[u8]) -> Result<Option<StreamHead>> {
        read::stream_head(&self.env, stream)
    }

    fn next_position(&self) -> Result<u64> {
        read::next_position(&self.env)
    }

    fn list_streams(
        &self,
        after: &[u8],
        limit: usize,
        visit: &mut dyn FnMut(&[u8], StreamHead) -> bool,
    ) -> Result<()> {
        let mut left = limit;
        if left == 0 {
            return Ok(());
        }
        let after = (!after.is_empty()).then_some(after);
        inspect::streams_after(&self.env, b"", after, &mut |name, head| {
            left -= 1;
            visit(name, head) && left > 0
        })
    }

    fn storage_use(&self) -> Result<Option<StorageUse>> {
        let s = self.stats()?;
        Ok(Some(StorageUse {
            bytes_on_disk: s.disk_bytes,
            map_bytes: Some(s.map_size),
            used_bytes: Some(s.map_used),
            events: s.events,
        }))
    }

    fn sync(&self) -> Result<()> {
        if !self.env.read_only() {
            self.env.sync()?;
        }
        Ok(())
    }
}
