//! Opening the files of a store: creating the directory and, in one
//! transaction, the databases and the format marker of a new store;
//! upgrading the format marker of a store of Rewind 0.4.0 opened for
//! writing; and refusing what is not a whole Rewind store (not a directory,
//! a foreign or damaged LMDB environment, missing databases, an unknown
//! format, a truncated data file).
//!
//! It runs once, before any other transaction, and hands an
//! [`Environment`] and its [`Databases`] to [`Env`](super::env::Env); it
//! does not read or write events, nor change the map size afterwards.

use std::path::Path;

use lmdb::{Database, DatabaseFlags, Environment, EnvironmentFlags, Transaction, WriteFlags};

use super::codec::{FORMAT, FORMAT_KEY, FORMAT_V1};
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
    pub meta: Database,
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
    let dbs = open_databases(&env, path, read_only)?;
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

/// Opens the named databases and checks the format marker: [`FORMAT`], or
/// [`FORMAT_V1`], which a store opened for writing upgrades to [`FORMAT`].
fn open_databases(env: &Environment, path: &Path, read_only: bool) -> Result<Databases> {
    let dbs: Vec<Database> = NAMES
        .iter()
        .map(|n| match env.open_db(Some(n)) {
            Ok(db) => Ok(db),
            Err(lmdb::Error::NotFound) => Err(not_rewind(path, "missing tables")),
            Err(lmdb::Error::Incompatible) => Err(not_rewind(path, "foreign tables")),
            Err(e) => Err(e.into()),
        })
        .collect::<Result<_>>()?;
    let meta = dbs[4];
    let marker = {
        let txn = env.begin_ro_txn()?;
        match txn.get(meta, &FORMAT_KEY) {
            Ok(f) => f.to_vec(),
            Err(lmdb::Error::NotFound) => return Err(not_rewind(path, "no format marker")),
            Err(e) => return Err(e.into()),
        }
    };
    if marker == FORMAT_V1 && !read_only {
        upgrade_format(env, meta, path)?;
    } else if marker != FORMAT && marker != FORMAT_V1 {
        return Err(not_rewind(
            path,
            &format!("unknown format {}", crate::error::Printable(&marker)),
        ));
    }
    Ok(Databases {
        log: dbs[0],
        ids: dbs[1],
        streams: dbs[2],
        heads: dbs[3],
        meta: dbs[4],
    })
}

/// Upgrades the format marker of a store of Rewind 0.4.0 to [`FORMAT`], in
/// one transaction, before anything else is written: its records stay as
/// they are (they decode as they did), new ones are tagged, and Rewind
/// 0.4.0, which cannot read those, refuses the store from now on instead of
/// misreading it.
fn upgrade_format(env: &Environment, meta: Database, path: &Path) -> Result<()> {
    let mut txn = env.begin_rw_txn()?;
    // Another process may have upgraded it since we looked.
    if txn.get(meta, &FORMAT_KEY)? == FORMAT_V1 {
        txn.put(meta, &FORMAT_KEY, &FORMAT, WriteFlags::empty())?;
        txn.commit()?;
        log::info!(
            "upgraded the store at {} from format {} to {}",
            path.display(),
            crate::error::Printable(FORMAT_V1),
            crate::error::Printable(FORMAT)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lmdb::LmdbOptions;
    use lmdb::Cursor;

    fn options(dir: &Path) -> LmdbOptions {
        LmdbOptions::new(dir.join("db"))
    }

    fn open(o: &LmdbOptions) -> Result<(Environment, Databases)> {
        open_store(&o.path, o.read_only, o.initial_map_size)
    }

    fn corrupt_message(r: Result<(Environment, Databases)>) -> String {
        match r {
            Err(Error::Corrupt(m)) => m,
            Err(e) => panic!("expected Corrupt, got {e:?}"),
            Ok(_) => panic!("expected Corrupt, got a store"),
        }
    }

    #[test]
    fn a_fresh_directory_becomes_a_store_with_its_format_marker() {
        let dir = tempfile::tempdir().unwrap();
        let o = options(dir.path());
        let (env, dbs) = open(&o).unwrap();
        assert!(o.path.join("data.mdb").is_file());
        let main = env.open_db(None).unwrap();
        let meta = env.open_db(Some("meta")).unwrap();
        let txn = env.begin_ro_txn().unwrap();
        // the main database lists the named ones, in byte order
        let mut cur = txn.open_ro_cursor(main).unwrap();
        let names: Vec<&[u8]> = cur.iter_start().map(|kv| kv.unwrap().0).collect();
        assert_eq!(names, [&b"heads"[..], b"ids", b"log", b"meta", b"streams"]);
        drop(cur);
        assert_eq!(txn.get(meta, &FORMAT_KEY).unwrap(), FORMAT);
        assert!(txn.get(dbs.log, &[0u8; 8]).is_err()); // empty
        drop(txn);
        drop(env);
        // and opens again, read-only too
        open(&o).unwrap();
        open(&LmdbOptions {
            read_only: true,
            ..o
        })
        .unwrap();
    }

    #[test]
    fn a_path_that_is_a_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, b"not a store").unwrap();
        match open(&LmdbOptions::new(&file)) {
            Err(Error::Io(e)) => {
                assert!(
                    e.to_string().contains("cannot create store directory"),
                    "{e}"
                )
            }
            other => panic!("expected Io, got {:?}", other.err()),
        }
        let ro = LmdbOptions {
            read_only: true,
            ..LmdbOptions::new(&file)
        };
        assert!(matches!(open(&ro), Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound));
    }

    #[test]
    fn a_missing_store_is_not_created_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let o = LmdbOptions {
            read_only: true,
            ..options(dir.path())
        };
        match open(&o) {
            Err(Error::Io(e)) => {
                assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
                assert!(e.to_string().contains("no Rewind store"), "{e}");
            }
            other => panic!("expected Io, got {:?}", other.err()),
        }
        assert!(!o.path.exists());
    }

    #[test]
    fn a_foreign_lmdb_environment_is_not_a_store() {
        let dir = tempfile::tempdir().unwrap();
        let o = options(dir.path());
        std::fs::create_dir(&o.path).unwrap();
        {
            let env = Environment::new().set_max_dbs(4).open(&o.path).unwrap();
            let mut txn = env.begin_rw_txn().unwrap();
            let db = unsafe { txn.create_db(Some("accounts"), DatabaseFlags::empty()) }.unwrap();
            txn.put(db, b"k", b"v", WriteFlags::empty()).unwrap();
            txn.commit().unwrap();
        }
        assert!(corrupt_message(open(&o)).contains("missing tables"));
    }

    #[test]
    fn an_unknown_format_marker_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let o = options(dir.path());
        drop(open(&o).unwrap());
        {
            let env = Environment::new().set_max_dbs(8).open(&o.path).unwrap();
            let meta = env.open_db(Some("meta")).unwrap();
            let mut txn = env.begin_rw_txn().unwrap();
            txn.put(meta, &FORMAT_KEY, b"rewind-lmdb-99", WriteFlags::empty())
                .unwrap();
            txn.commit().unwrap();
        }
        assert!(corrupt_message(open(&o)).contains("unknown format rewind-lmdb-99"));
        let ro = LmdbOptions {
            read_only: true,
            ..o.clone()
        };
        assert!(corrupt_message(open(&ro)).contains("unknown format rewind-lmdb-99"));
        {
            let env = Environment::new().set_max_dbs(8).open(&o.path).unwrap();
            let meta = env.open_db(Some("meta")).unwrap();
            let mut txn = env.begin_rw_txn().unwrap();
            txn.del(meta, &FORMAT_KEY, None).unwrap();
            txn.commit().unwrap();
        }
        assert!(corrupt_message(open(&o)).contains("no format marker"));
    }

    /// The format marker of the store at `o.path`, read with LMDB alone.
    fn marker(o: &LmdbOptions) -> Vec<u8> {
        let env = Environment::new()
            .set_max_dbs(8)
            .set_flags(EnvironmentFlags::READ_ONLY)
            .open(&o.path)
            .unwrap();
        let meta = env.open_db(Some("meta")).unwrap();
        let txn = env.begin_ro_txn().unwrap();
        let m = txn.get(meta, &FORMAT_KEY).unwrap().to_vec();
        m
    }

    fn set_marker(o: &LmdbOptions, m: &[u8]) {
        let env = Environment::new().set_max_dbs(8).open(&o.path).unwrap();
        let meta = env.open_db(Some("meta")).unwrap();
        let mut txn = env.begin_rw_txn().unwrap();
        txn.put(meta, &FORMAT_KEY, &m, WriteFlags::empty()).unwrap();
        txn.commit().unwrap();
    }

    #[test]
    fn a_store_of_rewind_0_4_0_is_upgraded_when_opened_for_writing_only() {
        let dir = tempfile::tempdir().unwrap();
        let o = options(dir.path());
        drop(open(&o).unwrap());
        assert_eq!(marker(&o), FORMAT);
        set_marker(&o, FORMAT_V1);
        // read-only: opens, and leaves the marker as it is
        let ro = LmdbOptions {
            read_only: true,
            ..o.clone()
        };
        drop(open(&ro).unwrap());
        assert_eq!(marker(&o), FORMAT_V1);
        // for writing: upgraded
        drop(open(&o).unwrap());
        assert_eq!(marker(&o), FORMAT);
        // and both open it still
        drop(open(&o).unwrap());
        drop(open(&ro).unwrap());
        assert_eq!(marker(&o), FORMAT);
    }

    #[test]
    fn a_truncated_data_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let o = options(dir.path());
        {
            let (env, dbs) = open(&o).unwrap();
            let mut txn = env.begin_rw_txn().unwrap();
            for i in 0u64..200 {
                txn.put(dbs.log, &i.to_be_bytes(), &[7u8; 500], WriteFlags::empty())
                    .unwrap();
            }
            txn.commit().unwrap();
        }
        let data = o.path.join("data.mdb");
        let len = std::fs::metadata(&data).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&data)
            .unwrap()
            .set_len(len / 2)
            .unwrap();
        assert!(corrupt_message(open(&o)).contains("is truncated"));
    }

    #[test]
    fn garbage_in_the_data_file_is_not_a_store() {
        let dir = tempfile::tempdir().unwrap();
        let o = options(dir.path());
        std::fs::create_dir(&o.path).unwrap();
        std::fs::write(o.path.join("data.mdb"), vec![0x5A; 64 << 10]).unwrap();
        assert!(corrupt_message(open(&o)).contains("is not a Rewind store"));
    }
}
