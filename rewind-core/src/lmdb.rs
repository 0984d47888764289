//! The LMDB backend: a directory, durable on every commit.
//!
//! Layout (named databases in one environment):
//!
//! | database  | key                                   | value                                   |
//! |-----------|---------------------------------------|-----------------------------------------|
//! | `log`     | position (u64, big-endian)            | stream len, stream, id len, id, version, data |
//! | `ids`     | event id                              | position                                |
//! | `streams` | stream len, stream, version (BE)      | position                                |
//! | `heads`   | stream                                | version, position, id of the last event |
//! | `meta`    | `format`                              | [`FORMAT`]                              |
//!
//! Nothing is cached in memory between transactions, so every process that
//! opens the directory sees the same store. When LMDB's map is full the
//! writer grows it (doubling, up to the configured limit) and retries.

use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard};

use lmdb::{
    Cursor, Database, DatabaseFlags, Environment, EnvironmentFlags, RoCursor, RoTransaction,
    RwTransaction, Transaction, WriteFlags,
};

use crate::backend::{plan_batch, AppendOutcome, AppendRequest, Backend, StoreView, Visitor};
use crate::{Error, EventRef, Result, StreamHead};

/// The format marker stored in the `meta` database.
pub const FORMAT: &[u8] = b"rewind-lmdb-1";

/// Options of an LMDB store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LmdbOptions {
    /// The directory of the store; created (with its parents) when missing,
    /// unless the store is read-only.
    pub path: PathBuf,
    /// The map size to start with, in bytes. It grows by itself.
    pub initial_map_size: usize,
    /// The size the store may grow to, in bytes; `None` for no limit but the
    /// disk. An append that does not fit gets [`Error::StorageFull`].
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
    env: Environment,
    log: Database,
    ids: Database,
    streams: Database,
    heads: Database,
    /// Held shared by every transaction of this process and exclusively to
    /// change the map size, which LMDB allows only with no transaction active.
    resize: RwLock<()>,
    max_map_size: Option<usize>,
    read_only: bool,
    path: PathBuf,
    /// Commits since dead readers were last looked for.
    commits: std::sync::atomic::AtomicU32,
}

fn pos_key(p: u64) -> [u8; 8] {
    p.to_be_bytes()
}

fn read_u64(b: &[u8]) -> Result<u64> {
    let arr: [u8; 8] = b
        .get(..8)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| Error::Corrupt("truncated integer".into()))?;
    Ok(u64::from_be_bytes(arr))
}

fn stream_key(stream: &[u8], version: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(stream.len() + 9);
    push_stream_key(&mut k, stream, version);
    k
}

fn push_stream_key(buf: &mut Vec<u8>, stream: &[u8], version: u64) {
    buf.push(stream.len() as u8);
    buf.extend_from_slice(stream);
    buf.extend_from_slice(&version.to_be_bytes());
}

fn record_len(stream: &[u8], id: &[u8], data: &[u8]) -> usize {
    2 + stream.len() + id.len() + 8 + data.len()
}

fn write_record(buf: &mut [u8], stream: &[u8], id: &[u8], version: u64, data: &[u8]) {
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        buf[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    put(&[stream.len() as u8]);
    put(stream);
    put(&[id.len() as u8]);
    put(id);
    put(&version.to_be_bytes());
    put(data);
}

fn decode_record(position: u64, rec: &[u8]) -> Result<EventRef<'_>> {
    let bad = || Error::Corrupt(format!("malformed record at position {position}"));
    let slen = *rec.first().ok_or_else(bad)? as usize;
    let stream = rec.get(1..1 + slen).ok_or_else(bad)?;
    let ilen = *rec.get(1 + slen).ok_or_else(bad)? as usize;
    let id_start = 2 + slen;
    let id = rec.get(id_start..id_start + ilen).ok_or_else(bad)?;
    let v_start = id_start + ilen;
    let version = read_u64(rec.get(v_start..).ok_or_else(bad)?)?;
    let data = rec.get(v_start + 8..).ok_or_else(bad)?;
    Ok(EventRef {
        id,
        data,
        stream,
        version,
        position,
    })
}

fn decode_head(v: &[u8]) -> Result<StreamHead> {
    if v.len() < 16 {
        return Err(Error::Corrupt("malformed stream head".into()));
    }
    Ok(StreamHead {
        version: read_u64(&v[..8])?,
        position: read_u64(&v[8..16])?,
        id: v[16..].to_vec(),
    })
}

/// Refuses a data file shorter than the pages its meta page names (a
/// truncated copy): reading past its end would kill the process with SIGBUS.
fn check_not_truncated(env: &Environment, path: &Path) -> Result<()> {
    let last_page = env.info()?.last_pgno() as u64;
    let page_size = u64::from(env.stat()?.page_size());
    let needed = (last_page + 1) * page_size;
    let actual = std::fs::metadata(path.join("data.mdb"))?.len();
    if actual < needed {
        return Err(Error::Corrupt(format!(
            "{} is truncated: data.mdb has {actual} bytes, its pages need {needed}",
            path.display()
        )));
    }
    Ok(())
}

/// Whether the file system of `path` has less than `needed` bytes free.
fn disk_nearly_full(path: &Path, needed: u64) -> bool {
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

/// The position the next event gets: one past the last key of `log`.
fn next_position_in(txn: &impl Transaction, log: Database) -> Result<u64> {
    let cur = txn.open_ro_cursor(log)?;
    match cur.get(None, None, lmdb_sys::MDB_LAST) {
        Ok((Some(k), _)) => Ok(read_u64(k)? + 1),
        Ok((None, _)) | Err(lmdb::Error::NotFound) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

/// The last event of `stream`, from the `heads` database.
fn head_in(txn: &impl Transaction, heads: Database, stream: &[u8]) -> Result<Option<StreamHead>> {
    not_found_is_none(txn.get(heads, &stream))?
        .map(decode_head)
        .transpose()
}

fn not_found_is_none<T>(r: lmdb::Result<T>) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(lmdb::Error::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

struct TxnView<'a, 't> {
    txn: &'a RwTransaction<'t>,
    /// Looks ids up; a cursor kept across lookups skips the descent from
    /// the root when the next id falls on the same leaf (generated ids are
    /// time-ordered, so they mostly do).
    ids: RoCursor<'a>,
    b: &'a LmdbBackend,
}

impl StoreView for TxnView<'_, '_> {
    fn head(&mut self, stream: &[u8]) -> Result<Option<StreamHead>> {
        head_in(self.txn, self.b.heads, stream)
    }

    fn contains_id(&mut self, id: &[u8]) -> Result<bool> {
        Ok(not_found_is_none(self.ids.get(Some(id), None, lmdb_sys::MDB_SET))?.is_some())
    }
}

impl LmdbBackend {
    /// Opens (or creates) the store described by `options`.
    ///
    /// Errors: [`Error::Corrupt`] when the directory holds something that is
    /// not a Rewind store, [`Error::Io`] when it cannot be created or read.
    pub fn open(options: &LmdbOptions) -> Result<Self> {
        let path = &options.path;
        if options.read_only {
            if !path.join("data.mdb").is_file() {
                return Err(Error::Io(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("no Rewind store at {}", path.display()),
                )));
            }
        } else {
            std::fs::create_dir_all(path).map_err(|e| {
                Error::Io(std::io::Error::new(
                    e.kind(),
                    format!("cannot create store directory {}: {e}", path.display()),
                ))
            })?;
        }
        if path.exists() && !path.is_dir() {
            return Err(Error::Corrupt(format!(
                "{} is not a directory",
                path.display()
            )));
        }
        let mut flags = EnvironmentFlags::NO_TLS;
        if options.read_only {
            flags |= EnvironmentFlags::READ_ONLY;
        }
        // The map never starts above the limit: LMDB would otherwise let the
        // file grow to the initial size whatever the limit says.
        let initial = match options.max_map_size {
            Some(limit) => options.initial_map_size.min(limit),
            None => options.initial_map_size,
        };
        let env = Environment::new()
            .set_flags(flags)
            .set_max_dbs(8)
            .set_max_readers(1022)
            .set_map_size(initial)
            .open(path)
            .map_err(|e| match e {
                lmdb::Error::Other(code) if code != libc::ENOSPC && code != libc::EDQUOT => {
                    let os = std::io::Error::from_raw_os_error(code);
                    Error::Io(std::io::Error::new(
                        os.kind(),
                        format!("cannot open store {}: {os}", path.display()),
                    ))
                }
                e => match Error::from(e) {
                    Error::Corrupt(m) => {
                        Error::Corrupt(format!("{} is not a Rewind store: {m}", path.display()))
                    }
                    other => other,
                },
            })?;
        check_not_truncated(&env, path)?;
        let names = ["log", "ids", "streams", "heads", "meta"];
        let not_rewind = |what: &str| {
            Error::Corrupt(format!("{} is not a Rewind store ({what})", path.display()))
        };
        // The main database lists the named ones: when it is empty, nothing
        // was ever stored here (a new directory, or a process that died
        // while creating the store), and the store is created in one
        // transaction, so a crash leaves either nothing or a whole store.
        let fresh = env.stat()?.entries() == 0;
        if fresh && !options.read_only {
            let mut txn = env.begin_rw_txn()?;
            let mut meta = None;
            for n in names {
                // SAFETY: no other transaction of this environment exists yet.
                let db = unsafe { txn.create_db(Some(n), DatabaseFlags::empty())? };
                meta = Some(db);
            }
            let meta = meta.expect("names is not empty");
            txn.put(meta, b"format", &FORMAT, WriteFlags::empty())?;
            txn.commit()?;
        }
        let dbs: Vec<Database> = names
            .iter()
            .map(|n| match env.open_db(Some(n)) {
                Ok(db) => Ok(db),
                Err(lmdb::Error::NotFound) => Err(not_rewind("missing tables")),
                Err(lmdb::Error::Incompatible) => Err(not_rewind("foreign tables")),
                Err(e) => Err(e.into()),
            })
            .collect::<Result<_>>()?;
        let meta = dbs[4];
        {
            let txn = env.begin_ro_txn()?;
            match txn.get(meta, b"format") {
                Ok(f) if f == FORMAT => {}
                Ok(f) => {
                    return Err(not_rewind(&format!(
                        "unknown format {}",
                        crate::error::Printable(f)
                    )))
                }
                Err(lmdb::Error::NotFound) => return Err(not_rewind("no format marker")),
                Err(e) => return Err(e.into()),
            }
        }
        let backend = LmdbBackend {
            env,
            log: dbs[0],
            ids: dbs[1],
            streams: dbs[2],
            heads: dbs[3],
            resize: RwLock::new(()),
            max_map_size: options.max_map_size,
            read_only: options.read_only,
            path: path.clone(),
            commits: Default::default(),
        };
        backend.clear_dead_readers();
        Ok(backend)
    }

    /// Frees the reader-table slots of processes that died in the middle of
    /// a read transaction. Until then LMDB keeps every page such a dead
    /// snapshot could see, and the file grows with every commit (LMDB only
    /// resets the table when no process at all has the store open).
    /// Returns how many slots were freed.
    fn clear_dead_readers(&self) -> usize {
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

    /// The directory of the store.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current size of LMDB's map, in bytes.
    pub fn map_size(&self) -> Result<usize> {
        Ok(self.env.info()?.map_size())
    }

    fn shared(&self) -> RwLockReadGuard<'_, ()> {
        self.resize.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Adopts a map grown by another process.
    fn adopt_resize(&self) -> Result<()> {
        let _g = self.resize.write().unwrap_or_else(|e| e.into_inner());
        self.env.set_map_size(0)?;
        Ok(())
    }

    /// Grows the map after MDB_MAP_FULL, or reports the store full.
    fn grow(&self, at_least: usize) -> Result<()> {
        let _g = self.resize.write().unwrap_or_else(|e| e.into_inner());
        let current = self.env.info()?.map_size();
        let mut wanted = current
            .saturating_mul(2)
            .max(current.saturating_add(at_least * 2));
        if let Some(limit) = self.max_map_size {
            if current >= limit {
                return Err(Error::StorageFull(format!(
                    "the store reached its size limit of {limit} bytes"
                )));
            }
            wanted = wanted.min(limit);
        }
        log::info!(
            "growing LMDB map of {} from {} to {} bytes",
            self.path.display(),
            current,
            wanted
        );
        self.env.set_map_size(wanted)?;
        Ok(())
    }

    /// Runs `f` in a read transaction.
    fn with_read<T>(&self, f: impl FnOnce(&RoTransaction<'_>) -> Result<T>) -> Result<T> {
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

    fn visit_positions<'t>(
        &self,
        txn: &'t RoTransaction<'_>,
        position: u64,
    ) -> Result<Option<EventRef<'t>>> {
        match not_found_is_none(txn.get(self.log, &pos_key(position)))? {
            Some(rec) => Ok(Some(decode_record(position, rec)?)),
            None => Ok(None),
        }
    }

    fn try_append(
        &self,
        batch: &[AppendRequest],
    ) -> lmdb::Result<Result<Vec<Result<AppendOutcome>>>> {
        let mut txn = self.env.begin_rw_txn()?;
        let next = match next_position_in(&txn, self.log) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        let outcomes = {
            let mut view = TxnView {
                txn: &txn,
                ids: txn.open_ro_cursor(self.ids)?,
                b: self,
            };
            match plan_batch(&mut view, next, batch) {
                Ok(o) => o,
                Err(e) => return Ok(Err(e)),
            }
        };
        // The accepted events with their versions and positions.
        let events = || {
            batch
                .iter()
                .zip(&outcomes)
                .filter_map(|(req, o)| o.as_ref().ok().map(|o| (req, o)))
                .flat_map(|(req, o)| {
                    req.events.iter().enumerate().map(move |(i, (id, data))| {
                        let i = i as u64;
                        (req, id, data, o.first_version + i, o.first_position + i)
                    })
                })
        };
        // One database at a time, each through one cursor: a put next to
        // the previous one finds its leaf without a descent from the root.
        // (MDB_APPEND would look the last key up from the root on every
        // put; LMDB packs sequential inserts as tightly without it.)
        let mut buf = Vec::new();
        {
            let mut cur = txn.open_rw_cursor(self.log)?;
            for (req, id, data, version, position) in events() {
                buf.clear();
                buf.resize(record_len(&req.stream, id, data), 0);
                write_record(&mut buf, &req.stream, id, version, data);
                cur.put(&pos_key(position), &buf, WriteFlags::NO_OVERWRITE)?;
            }
        }
        {
            let mut cur = txn.open_rw_cursor(self.ids)?;
            for (_, id, _, _, position) in events() {
                cur.put(id, &pos_key(position), WriteFlags::NO_OVERWRITE)?;
            }
        }
        {
            let mut cur = txn.open_rw_cursor(self.streams)?;
            for (req, _, _, version, position) in events() {
                buf.clear();
                push_stream_key(&mut buf, &req.stream, version);
                cur.put(&buf, &pos_key(position), WriteFlags::empty())?;
            }
        }
        for (req, outcome) in batch.iter().zip(&outcomes) {
            let Ok(o) = outcome else { continue };
            let n = req.events.len() as u64;
            let (id, _) = req.events.last().expect("an accepted append has events");
            let mut head = Vec::with_capacity(16 + id.len());
            head.extend_from_slice(&(o.first_version + n - 1).to_be_bytes());
            head.extend_from_slice(&(o.first_position + n - 1).to_be_bytes());
            head.extend_from_slice(id);
            txn.put(self.heads, &req.stream, &head, WriteFlags::empty())?;
        }
        txn.commit()?;
        Ok(Ok(outcomes))
    }
}

impl Backend for LmdbBackend {
    fn append_batch(&self, batch: &[AppendRequest]) -> Result<Vec<Result<AppendOutcome>>> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        let bytes: usize = batch
            .iter()
            .flat_map(|r| r.events.iter())
            .map(|(id, data)| 2 * id.len() + data.len() + 128)
            .sum();
        // A reader process may die mid-read while the server runs.
        if self
            .commits
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            % 1024
            == 1023
        {
            self.clear_dead_readers();
        }
        loop {
            let guard = self.shared();
            let r = self.try_append(batch);
            drop(guard);
            match r {
                Ok(outcome) => return outcome,
                Err(lmdb::Error::MapFull) => {
                    // Pages pinned by a dead reader become free again.
                    if self.clear_dead_readers() == 0 {
                        self.grow(bytes)?;
                    }
                }
                Err(lmdb::Error::MapResized) => self.adopt_resize()?,
                // LMDB reports a short write as EIO: on a full disk that is
                // the first sign, before writes fail with ENOSPC.
                Err(lmdb::Error::Other(libc::EIO))
                    if disk_nearly_full(&self.path, 2 * bytes as u64 + (1 << 20)) =>
                {
                    return Err(Error::StorageFull("no space left on device".into()))
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn read_log(&self, from_position: u64, limit: usize, visit: &mut Visitor<'_>) -> Result<()> {
        if limit == 0 {
            return Ok(());
        }
        self.with_read(|txn| {
            let mut cur = txn.open_ro_cursor(self.log)?;
            for (n, item) in cur.iter_from(pos_key(from_position)).enumerate() {
                let (k, v) = item?;
                let ev = decode_record(read_u64(k)?, v)?;
                if !visit(ev) || n + 1 >= limit {
                    break;
                }
            }
            Ok(())
        })
    }

    fn read_stream(
        &self,
        stream: &[u8],
        from_version: u64,
        limit: usize,
        visit: &mut Visitor<'_>,
    ) -> Result<()> {
        if limit == 0 || stream.is_empty() || stream.len() > crate::MAX_NAME_LEN {
            return Ok(());
        }
        let start = stream_key(stream, from_version);
        let prefix = &start[..start.len() - 8];
        self.with_read(|txn| {
            let mut cur = txn.open_ro_cursor(self.streams)?;
            for (n, item) in cur.iter_from(&start).enumerate() {
                let (k, v) = item?;
                if k.len() != start.len() || !k.starts_with(prefix) {
                    break;
                }
                let position = read_u64(v)?;
                let ev = self.visit_positions(txn, position)?.ok_or_else(|| {
                    Error::Corrupt(format!(
                        "stream index points at missing position {position}"
                    ))
                })?;
                if !visit(ev) || n + 1 >= limit {
                    break;
                }
            }
            Ok(())
        })
    }

    fn get(&self, id: &[u8], visit: &mut Visitor<'_>) -> Result<bool> {
        if id.is_empty() || id.len() > crate::MAX_NAME_LEN {
            return Ok(false);
        }
        self.with_read(|txn| {
            let Some(p) = not_found_is_none(txn.get(self.ids, &id))? else {
                return Ok(false);
            };
            let position = read_u64(p)?;
            let ev = self.visit_positions(txn, position)?.ok_or_else(|| {
                Error::Corrupt(format!("id index points at missing position {position}"))
            })?;
            visit(ev);
            Ok(true)
        })
    }

    fn stream_head(&self, stream: &[u8]) -> Result<Option<StreamHead>> {
        if stream.is_empty() || stream.len() > crate::MAX_NAME_LEN {
            return Ok(None);
        }
        self.with_read(|txn| head_in(txn, self.heads, stream))
    }

    fn next_position(&self) -> Result<u64> {
        self.with_read(|txn| next_position_in(txn, self.log))
    }

    fn sync(&self) -> Result<()> {
        if !self.read_only {
            self.env.sync(true)?;
        }
        Ok(())
    }
}
