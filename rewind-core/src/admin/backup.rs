//! Backup: a consistent, compacted copy of a store, made while a server
//! writes it. The source is opened read-only; LMDB copies it as of one
//! commit (one read transaction), leaving free pages out, into a new
//! directory built beside the destination and renamed onto it once the
//! copy is synced and opens as a store.

use std::fs::File;
use std::path::Path;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use super::{check_new_target, interrupted, open_read_only, Progress, Staging};
use crate::backend::Backend;
use crate::lmdb::{LmdbBackend, LmdbOptions};
use crate::{Error, Result};

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    /// The number of events in the copy: every event committed before the
    /// backup began, and perhaps some committed while it ran.
    pub events: u64,
    /// The size of the copy's `data.mdb`.
    pub bytes: u64,
}

/// Copies the store in `source` to `dest` (which must not exist, or be an
/// empty directory). `dest` then holds one file, `data.mdb`, and opens as
/// a store. `progress` is told the bytes copied of about how many there
/// will be; when it asks to stop, the partial copy is removed at once.
///
/// Errors: those of [`open_read_only`] for the source;
/// [`Error::InvalidArgument`] for a destination that is not empty.
pub fn backup(source: &Path, dest: &Path, progress: &mut dyn Progress) -> Result<BackupSummary> {
    check_new_target(dest, "backup")?;
    let src = Arc::new(open_read_only(source)?);
    let expected = {
        let s = src.stats()?;
        s.map_used.saturating_sub(s.map_free)
    };
    let staging = Staging::new(dest, "backup")?;
    let data = staging.path().join("data.mdb");
    let file = File::options().write(true).create_new(true).open(&data)?;
    let (tx, rx) = mpsc::channel();
    let copier = {
        let src = src.clone();
        std::thread::Builder::new()
            .name("rewind-backup".into())
            .spawn(move || {
                let _ = tx.send(src.copy_compacted(&file));
            })?
    };
    progress.report(0, expected);
    let copied = loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(r) => break r,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if progress.stop_requested() {
                    // The copy goes on into a file no longer in any
                    // directory, and ends with the process.
                    drop(staging);
                    return Err(interrupted());
                }
                let done = std::fs::metadata(&data).map_or(0, |m| m.len());
                progress.report(done.min(expected), expected);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break Err(Error::Internal(
                    "the copy thread ended without a word".into(),
                ))
            }
        }
    };
    let _ = copier.join();
    copied?;
    let events = {
        let copy = LmdbBackend::open(&LmdbOptions {
            read_only: true,
            ..LmdbOptions::new(staging.path())
        })?;
        copy.next_position()?
    };
    // Opening the copy made its lock file; the backup is the data file.
    std::fs::remove_file(staging.path().join("lock.mdb"))?;
    let bytes = std::fs::metadata(&data)?.len();
    progress.report(expected, expected);
    staging.commit("backup")?;
    Ok(BackupSummary { events, bytes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ExpectedVersion, NewEvent, Store};

    #[test]
    fn a_backup_is_the_store_in_a_new_directory() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let store = Store::open_lmdb(&src).unwrap();
        for i in 0..500u32 {
            store
                .append(
                    b"s",
                    vec![NewEvent::new(i.to_be_bytes())],
                    ExpectedVersion::Any,
                )
                .unwrap();
        }
        let dest = dir.path().join("backup");
        let summary = backup(&src, &dest, &mut ()).unwrap();
        assert_eq!(summary.events, 500);
        let names: Vec<_> = std::fs::read_dir(&dest)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["data.mdb"]);
        let copy = Store::open_lmdb(&dest).unwrap();
        assert_eq!(
            copy.read_log_vec(0, usize::MAX).unwrap(),
            store.read_log_vec(0, usize::MAX).unwrap()
        );
        // and it is a store like any other: it takes appends
        copy.append(
            b"s",
            vec![NewEvent::new("more")],
            ExpectedVersion::Exact(499),
        )
        .unwrap();

        let e = backup(&src, &dest, &mut ()).unwrap_err().to_string();
        assert!(e.contains("is not empty"), "{e}");
        let e = backup(&dir.path().join("none"), &dir.path().join("b2"), &mut ())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no such directory"), "{e}");
        assert!(!dir.path().join("b2").exists());
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 2, "no staging directory is left behind");
    }
}
