//! Opening the files of a store: creating the directory and, in one
//! transaction, the databases and the format marker of a new store; and
//! refusing what is not a whole Rewind store (not a directory, a foreign or
//! damaged LMDB environment, missing databases, an unknown format, a
//! truncated data file).
//!
//! It runs once, before any other transaction, and hands an
//! [`Environment`] and its [`Databases`] to [`Env`](super::env::Env); it
//! does not read or write events, nor change the map size afterwards.

use std::path::Path;

use lmdb::{Database, DatabaseFlags, Environment, EnvironmentFlags, Transaction, WriteFlags};

use super::codec::{FORMAT, FORMAT_KEY};
use crate::{Error, Result};

/// The named databases, in the order they are created.
const NAMES: [&str; 5] = ["log", "ids", "streams", "heads", "meta"];

/// The databases events live in (the table in the [module docs](super)).
#[derive(Debug, Clone, Copy)]
pub(super) struct Databases {
    pub log: Database,
    pub ids: Database,
    pub streams: Database,
    pub heads: Database,
}

/// Opens (or, unless `read_only`, creates) the store in `path` with the
/// map size `map_size`.
///
/// Errors: [`Error::Corrupt`] when `path` holds something that is not a
/// Rewind store, [`Error::Io`] when it cannot be created or read.
pub(super) fn open_store(
    path: &Path,
    read_only: bool,
    map_size: usize,
) -> Result<(Environment, Databases)> {
    prepare_dir(path, read_only)?;
    let env = open_environment(path, read_only, map_size)?;
    check_not_truncated(&env, path)?;
    if !read_only {
        create_if_fresh(&env)?;
    }
    let dbs = open_databases(&env, path)?;
    Ok((env, dbs))
}

/// Creates the directory of a writable store, or checks that a read-only
/// one has a data file.
fn prepare_dir(path: &Path, read_only: bool) -> Result<()> {
    if read_only {
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
    Ok(())
}

/// Opens the LMDB environment in `path` with the map size `map_size`.
fn open_environment(path: &Path, read_only: bool, map_size: usize) -> Result<Environment> {
    let mut flags = EnvironmentFlags::NO_TLS;
    if read_only {
        flags |= EnvironmentFlags::READ_ONLY;
    }
    Environment::new()
        .set_flags(flags)
        .set_max_dbs(8)
        .set_max_readers(1022)
        .set_map_size(map_size)
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

fn not_rewind(path: &Path, what: &str) -> Error {
    Error::Corrupt(format!("{} is not a Rewind store ({what})", path.display()))
}

/// Creates the databases and the format marker when nothing was ever
/// stored in `env`.
///
/// The main database lists the named ones: when it is empty, nothing was
/// ever stored here (a new directory, or a process that died while creating
/// the store), and the store is created in one transaction, so a crash
/// leaves either nothing or a whole store.
fn create_if_fresh(env: &Environment) -> Result<()> {
    if env.stat()?.entries() != 0 {
        return Ok(());
    }
    let mut txn = env.begin_rw_txn()?;
    let mut meta = None;
    for n in NAMES {
        // SAFETY: no other transaction of this environment exists yet.
        let db = unsafe { txn.create_db(Some(n), DatabaseFlags::empty())? };
        meta = Some(db);
    }
    let meta = meta.expect("NAMES is not empty");
    txn.put(meta, &FORMAT_KEY, &FORMAT, WriteFlags::empty())?;
    txn.commit()?;
    Ok(())
}

/// Opens the named databases and checks the format marker.
fn open_databases(env: &Environment, path: &Path) -> Result<Databases> {
    let dbs: Vec<Database> = NAMES
        .iter()
        .map(|n| match env.open_db(Some(n)) {
            Ok(db) => Ok(db),
            Err(lmdb::Error::NotFound) => Err(not_rewind(path, "missing tables")),
            Err(lmdb::Error::Incompatible) => Err(not_rewind(path, "foreign tables")),
            Err(e) => Err(e.into()),
        })
        .collect::<Result<_>>()?;
    let txn = env.begin_ro_txn()?;
    match txn.get(dbs[4], &FORMAT_KEY) {
        Ok(f) if f == FORMAT => {}
        Ok(f) => {
            return Err(not_rewind(
                path,
                &format!("unknown format {}", crate::error::Printable(f)),
            ))
        }
        Err(lmdb::Error::NotFound) => return Err(not_rewind(path, "no format marker")),
        Err(e) => return Err(e.into()),
    }
    Ok(Databases {
        log: dbs[0],
        ids: dbs[1],
        streams: dbs[2],
        heads: dbs[3],
    })
}
