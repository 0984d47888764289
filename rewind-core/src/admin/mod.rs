//! The operator's tools, as a library: what `rewind-admin` does, without
//! its command line. Every tool but [`import`] opens the store read-only
//! ([`open_read_only`]) and never writes to it, so each may run while a
//! server writes the store.
//!
//! | item | what |
//! |------|------|
//! | [`open_read_only`] | opens a store directory for reading only, or says why it cannot |
//! | [`LmdbBackend::stats`], [`LmdbBackend::streams`], [`LmdbBackend::verify`] | statistics, the list of streams, the index check |
//! | [`format`] | the export format: header, one line per event, trailer with a SHA-256 |
//! | [`export`], [`import`] | a store to that format and back, exactly |
//! | [`backup`] | a compacted, consistent copy of a store that opens as a store |
//! | [`Cursor`] | reading the log or a stream from a position on, again and again (to follow a store) |
//! | [`text`] | showing stored bytes safely on a terminal |
//! | [`base64`], [`json`], [`sha256`] | the encodings the formats are made of |
//!
//! Long operations take a [`Progress`]: it is told how far they are, and
//! can ask them to stop (they then fail with an
//! [`Interrupted`](std::io::ErrorKind::Interrupted) I/O error and leave
//! nothing behind).

mod backup;
pub mod base64;
mod cursor;
pub mod format;
pub mod json;
pub mod sha256;
pub mod text;
mod transfer;

use std::path::Path;

pub use crate::lmdb::{LmdbBackend, LmdbStats, VerifyReport};
pub use backup::{backup, BackupSummary};
pub use cursor::Cursor;
pub use transfer::{export, import, import_into, ExportSummary, ImportSummary};

use crate::lmdb::LmdbOptions;
use crate::{Error, Result};

/// Told how far a long operation is; can ask it to stop.
pub trait Progress {
    /// `done` of `total` units (events, entries or bytes) are done.
    fn report(&mut self, done: u64, total: u64) {
        let _ = (done, total);
    }

    /// Whether the operation should stop now.
    fn stop_requested(&self) -> bool {
        false
    }
}

/// No progress reports, never stopped.
impl Progress for () {}

/// The error of an operation stopped by its [`Progress`].
pub fn interrupted() -> Error {
    Error::Io(std::io::Error::new(
        std::io::ErrorKind::Interrupted,
        "interrupted",
    ))
}

/// Opens the LMDB store in `dir` for reading only (a server may be
/// writing it). Nothing is created, and the data file is never written:
/// LMDB's lock file `lock.mdb` is where readers register, as every reader
/// of an LMDB environment does.
///
/// Errors: [`Error::Io`] (not found) when `dir` does not exist or holds no
/// store, [`Error::Corrupt`] when it is not a Rewind store.
pub fn open_read_only(dir: &Path) -> Result<LmdbBackend> {
    let not_found = |m: String| Error::Io(std::io::Error::new(std::io::ErrorKind::NotFound, m));
    if !dir.exists() {
        return Err(not_found(format!("{}: no such directory", dir.display())));
    }
    if !dir.is_dir() {
        return Err(not_found(format!(
            "{} is not a directory (a store is a directory)",
            dir.display()
        )));
    }
    if !dir.join("data.mdb").is_file() {
        return Err(not_found(format!(
            "{} is not a Rewind store (it has no data.mdb)",
            dir.display()
        )));
    }
    LmdbBackend::open(&LmdbOptions {
        read_only: true,
        ..LmdbOptions::new(dir)
    })
}

/// Whether `dir` is missing or an empty directory: a place a new store
/// may be put. Errors say why not.
pub(crate) fn check_new_target(dir: &Path, what: &str) -> Result<()> {
    match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if dir.exists() && !dir.is_dir() => Err(Error::InvalidArgument(format!(
            "{} exists and is not a directory ({e}); {what} needs a new or empty directory",
            dir.display()
        ))),
        Err(e) => Err(Error::Io(std::io::Error::new(
            e.kind(),
            format!("cannot read {}: {e}", dir.display()),
        ))),
        Ok(mut entries) => match entries.next() {
            None => Ok(()),
            Some(_) => Err(Error::InvalidArgument(format!(
                "{} is not empty; {what} needs a new or empty directory",
                dir.display()
            ))),
        },
    }
}

/// A directory beside `target` (same file system, so it can be renamed
/// onto it) for building `target` in, named after `what` and this
/// process; removed when dropped unless [`Staging::commit`] renamed it.
pub(crate) struct Staging {
    path: std::path::PathBuf,
    target: std::path::PathBuf,
    done: bool,
}

impl Staging {
    pub(crate) fn new(target: &Path, what: &str) -> Result<Staging> {
        let name = target.file_name().ok_or_else(|| {
            Error::InvalidArgument(format!("{} names no directory", target.display()))
        })?;
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        let mut staged = std::ffi::OsString::from(".");
        staged.push(name);
        staged.push(format!(".{what}-{}", std::process::id()));
        let path = parent.join(staged);
        std::fs::create_dir(&path).map_err(|e| {
            Error::Io(std::io::Error::new(
                e.kind(),
                format!("cannot create {}: {e}", path.display()),
            ))
        })?;
        Ok(Staging {
            path,
            target: target.to_path_buf(),
            done: false,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Syncs the staged directory, renames it onto the target (a missing
    /// or empty directory) and syncs the parent: the target appears whole
    /// or not at all.
    pub(crate) fn commit(mut self, what: &str) -> Result<()> {
        std::fs::File::open(&self.path)?.sync_all()?;
        std::fs::rename(&self.path, &self.target).map_err(|e| {
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOTEMPTY | libc::EEXIST | libc::ENOTDIR)
            ) {
                Error::InvalidArgument(format!(
                    "{} is not empty; {what} needs a new or empty directory",
                    self.target.display()
                ))
            } else {
                Error::Io(std::io::Error::new(
                    e.kind(),
                    format!("cannot move the result to {}: {e}", self.target.display()),
                ))
            }
        })?;
        self.done = true;
        let parent = self.path.parent().unwrap_or(Path::new("."));
        std::fs::File::open(parent)?.sync_all()?;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_read_only_says_why_it_cannot() {
        let dir = tempfile::tempdir().unwrap();
        let msg = |p: &Path| match open_read_only(p) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{} opened", p.display()),
        };
        assert!(msg(&dir.path().join("missing")).contains("no such directory"));
        std::fs::write(dir.path().join("file"), b"x").unwrap();
        assert!(msg(&dir.path().join("file")).contains("is not a directory"));
        assert!(msg(dir.path()).contains("is not a Rewind store (it has no data.mdb)"));
        // nothing was created
        assert!(!dir.path().join("missing").exists());
        assert!(!dir.path().join("lock.mdb").exists());
    }

    #[test]
    fn a_new_target_is_missing_or_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert!(check_new_target(&dir.path().join("new"), "x").is_ok());
        assert!(check_new_target(dir.path(), "x").is_ok());
        std::fs::write(dir.path().join("f"), b"x").unwrap();
        let e = check_new_target(dir.path(), "import")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("is not empty; import needs a new or empty directory"),
            "{e}"
        );
        let e = check_new_target(&dir.path().join("f"), "x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not a directory"), "{e}");
    }

    #[test]
    fn a_staging_directory_is_removed_unless_committed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        let s = Staging::new(&target, "test").unwrap();
        let staged = s.path().to_path_buf();
        assert!(staged.is_dir());
        assert_eq!(staged.parent(), Some(dir.path()));
        drop(s);
        assert!(!staged.exists() && !target.exists());

        let s = Staging::new(&target, "test").unwrap();
        std::fs::write(s.path().join("f"), b"x").unwrap();
        s.commit("test").unwrap();
        assert_eq!(std::fs::read(target.join("f")).unwrap(), b"x");

        // an empty target directory is replaced; a full one is refused
        let other = dir.path().join("other");
        std::fs::create_dir(&other).unwrap();
        let s = Staging::new(&other, "test").unwrap();
        s.commit("test").unwrap();
        let s = Staging::new(&target, "test").unwrap();
        let staged = s.path().to_path_buf();
        let e = s.commit("test").unwrap_err().to_string();
        assert!(e.contains("is not empty"), "{e}");
        assert!(!staged.exists());
    }
}
