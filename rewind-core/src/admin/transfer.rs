//! Export and import: a store to the [export format](super::format) and
//! back, exactly (same ids, streams, versions, positions and data).
//!
//! Export reads the log up to the position that was next when it began
//! (a committed prefix of the log: the store as of one commit), in chunks,
//! each in its own short read transaction. Import appends through the
//! store's normal path ([`Store::append_async`], with expected versions, so
//! the store checks every version), many events per commit, into a new
//! store built beside the target and renamed onto it only once the whole
//! file, its count and its checksum are checked: an import is there whole
//! or not at all.

use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

use super::format::{Checked, ExportReader, ExportWriter};
use super::{check_new_target, interrupted, Progress, Staging};
use crate::backend::Backend;
use crate::error::Printable;
use crate::lmdb::LmdbOptions;
use crate::{Error, ExpectedVersion, NewEvent, Result, Store, StoreOptions};

/// What an export wrote: the number of events and the file's checksum.
pub type ExportSummary = Checked;
/// What an import stored: the number of events and the file's checksum.
pub type ImportSummary = Checked;

/// Events read from the log per read transaction.
const EXPORT_CHUNK: u64 = 4096;
/// The most events in one append of an import (one stream's consecutive
/// events go in one append).
const RUN_EVENTS: usize = 1024;
/// The most data bytes in one append of an import.
const RUN_BYTES: usize = 4 << 20;
/// The most appends an import has waiting for their commit.
const FLIGHT_APPENDS: usize = 4096;
/// The most data bytes an import has waiting for their commit.
const FLIGHT_BYTES: usize = 64 << 20;

/// Writes every event of `backend`, as of now, to `out` in the export
/// format, and flushes it.
///
/// Errors: [`Error::Corrupt`] when the log has a gap; the errors of `out`
/// as [`Error::Io`]; an interruption when `progress` asks to stop.
pub fn export(
    backend: &dyn Backend,
    out: &mut dyn Write,
    progress: &mut dyn Progress,
) -> Result<ExportSummary> {
    let end = backend.next_position()?;
    let mut w = ExportWriter::new(out, end)?;
    let mut next = 0u64;
    progress.report(0, end);
    while next < end {
        if progress.stop_requested() {
            return Err(interrupted());
        }
        let want = (end - next).min(EXPORT_CHUNK) as usize;
        let mut failed: Option<Error> = None;
        let mut got = 0u64;
        backend.read_log(next, want, &mut |e| {
            if e.position != next + got {
                failed = Some(missing(next + got));
                return false;
            }
            if let Err(x) = w.event(&e) {
                failed = Some(x.into());
                return false;
            }
            got += 1;
            true
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        if got == 0 {
            return Err(missing(next));
        }
        next += got;
        progress.report(next, end);
    }
    Ok(w.finish()?.1)
}

fn missing(position: u64) -> Error {
    Error::Corrupt(format!(
        "position {position} is missing from the log (rewind-admin verify tells more)"
    ))
}

/// Imports the export read from `input` into a new store in `dir` (which
/// must not exist, or be an empty directory). The store is built in a
/// directory beside `dir` and renamed onto it once everything is checked
/// and durable; on any failure nothing is left behind.
///
/// Errors: [`Error::InvalidArgument`] for a target that is not empty and
/// for an input that is not a whole, undamaged export (the message names
/// the line); an interruption when `progress` asks to stop.
pub fn import(
    dir: &Path,
    input: &mut dyn BufRead,
    progress: &mut dyn Progress,
) -> Result<ImportSummary> {
    check_new_target(dir, "import")?;
    let staging = Staging::new(dir, "import")?;
    let summary = {
        let store = Store::open(&StoreOptions::Lmdb(LmdbOptions::new(staging.path())))?;
        let imported = import_into(&store, input, progress);
        let closed = store.close();
        let summary = imported?;
        closed?;
        summary
    };
    staging.commit("import")?;
    Ok(summary)
}

/// One stream's consecutive events of the file: one append.
struct Run {
    stream: Vec<u8>,
    first_version: u64,
    first_position: u64,
    first_line: u64,
    events: Vec<NewEvent>,
    bytes: usize,
}

/// The appends submitted and not yet committed, and the first failure.
#[derive(Default)]
struct Flight {
    state: Mutex<FlightState>,
    landed: Condvar,
}

#[derive(Default)]
struct FlightState {
    appends: usize,
    bytes: usize,
    error: Option<Error>,
}

impl Flight {
    fn lock(&self) -> std::sync::MutexGuard<'_, FlightState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until `done` holds or an append failed.
    fn wait(&self, done: impl Fn(&FlightState) -> bool) -> Result<()> {
        let mut st = self.lock();
        while st.error.is_none() && !done(&st) {
            st = self.landed.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        match &st.error {
            Some(e) => Err(e.replicate()),
            None => Ok(()),
        }
    }
}

fn refused(line: u64, version: u64, e: Error) -> Error {
    let why = match e {
        Error::WrongExpectedVersion { stream, actual, .. } => format!(
            "stream {}: version {version} does not follow {}",
            Printable(&stream),
            match actual {
                Some(v) => format!("version {v}"),
                None => "nothing (a stream starts at version 0)".into(),
            }
        ),
        Error::DuplicateId(id) => format!("the id {} appears twice", Printable(&id)),
        e => format!("the store refused the event: {e}"),
    };
    Error::InvalidArgument(format!("line {line}: {why}"))
}

fn submit(store: &Store, flight: &Arc<Flight>, run: Run) -> Result<()> {
    flight.wait(|st| st.appends < FLIGHT_APPENDS && st.bytes < FLIGHT_BYTES)?;
    {
        let mut st = flight.lock();
        st.appends += 1;
        st.bytes += run.bytes;
    }
    let expected = match run.first_version {
        0 => ExpectedVersion::NoStream,
        v => ExpectedVersion::Exact(v - 1),
    };
    let (position, version, line, bytes) = (
        run.first_position,
        run.first_version,
        run.first_line,
        run.bytes,
    );
    let flight = flight.clone();
    store.append_async(
        &run.stream,
        run.events,
        expected,
        Box::new(move |r| {
            let problem = match r {
                Ok(appended) => appended.iter().zip(0u64..).find_map(|(a, i)| {
                    (a.position != position + i || a.version != version + i).then(|| {
                        Error::Internal(format!(
                            "line {}: stored at position {} version {}, not at position {} version {}",
                            line + i,
                            a.position,
                            a.version,
                            position + i,
                            version + i
                        ))
                    })
                }),
                Err(e) => Some(refused(line, version, e)),
            };
            let mut st = flight.lock();
            st.appends -= 1;
            st.bytes -= bytes;
            if st.error.is_none() {
                st.error = problem;
            }
            flight.landed.notify_all();
        }),
    );
    Ok(())
}

/// Appends the export read from `input` to `store`, which must be empty,
/// reproducing every position and version; returns once every event is
/// durable. The store is left with whatever was appended when this
/// fails: [`import`] builds a store aside for that reason.
pub fn import_into(
    store: &Store,
    input: &mut dyn BufRead,
    progress: &mut dyn Progress,
) -> Result<ImportSummary> {
    let mut reader = ExportReader::new(input)?;
    if store.next_position()? != 0 {
        return Err(Error::InvalidArgument(
            "the target store is not empty".into(),
        ));
    }
    let total = reader.declared_events();
    let flight = Arc::new(Flight::default());
    let mut run: Option<Run> = None;
    let mut read = 0u64;
    progress.report(0, total);
    while let Some(ev) = reader.next_event()? {
        let follows = |r: &Run| {
            r.stream == ev.stream
                && r.first_version.checked_add(r.events.len() as u64) == Some(ev.version)
                && r.events.len() < RUN_EVENTS
                && r.bytes < RUN_BYTES
        };
        match run.as_mut() {
            Some(r) if follows(r) => {
                r.bytes += ev.data.len() + ev.metadata.len();
                r.events.push(new_event(ev));
            }
            _ => {
                if let Some(r) = run.take() {
                    submit(store, &flight, r)?;
                }
                run = Some(Run {
                    bytes: ev.data.len() + ev.metadata.len(),
                    first_line: reader.line_number(),
                    first_version: ev.version,
                    first_position: ev.position,
                    stream: ev.stream.clone(),
                    events: vec![new_event(ev)],
                });
            }
        }
        read += 1;
        if read % 1024 == 0 {
            progress.report(read, total);
            if progress.stop_requested() {
                return Err(interrupted());
            }
        }
    }
    if let Some(r) = run.take() {
        submit(store, &flight, r)?;
    }
    flight.wait(|st| st.appends == 0)?;
    progress.report(total, total);
    Ok(reader
        .checked()
        .expect("the reader ends after the trailer")
        .clone())
}

/// The event to append for one read from an export: the same id, type,
/// metadata and data.
fn new_event(ev: crate::Event) -> NewEvent {
    NewEvent::with_id(ev.id, ev.data)
        .with_type(ev.event_type)
        .with_metadata(ev.metadata)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::format::{header_line, trailer_line};
    use crate::admin::sha256::Sha256;
    use crate::memory::MemoryBackend;
    use crate::Event;

    /// A store and its backend, with events in several streams, one
    /// append of many events, and binary data.
    fn filled() -> (Arc<MemoryBackend>, Store) {
        let backend = Arc::new(MemoryBackend::new());
        let store = Store::from_backend(backend.clone());
        for i in 0..3000u32 {
            let stream = format!("s{}", i % 7);
            let data: Vec<u8> = (0..(i % 50)).map(|b| (b * i) as u8).collect();
            store
                .append(
                    stream.as_bytes(),
                    vec![NewEvent::with_id(format!("id-{i}"), data)],
                    ExpectedVersion::Any,
                )
                .unwrap();
        }
        store
            .append(
                b"batch",
                (0..10).map(|i| NewEvent::new(vec![i; 3])).collect(),
                ExpectedVersion::Any,
            )
            .unwrap();
        (backend, store)
    }

    fn export_bytes(backend: &dyn Backend) -> Vec<u8> {
        let mut out = Vec::new();
        export(backend, &mut out, &mut ()).unwrap();
        out
    }

    fn new_store() -> (Arc<MemoryBackend>, Store) {
        let backend = Arc::new(MemoryBackend::new());
        (backend.clone(), Store::from_backend(backend))
    }

    fn all(store: &Store) -> Vec<Event> {
        store.read_log_vec(0, usize::MAX).unwrap()
    }

    #[test]
    fn a_store_round_trips_exactly_through_an_export() {
        let (backend, store) = filled();
        let first = export_bytes(&*backend);
        let (copy_backend, copy) = new_store();
        let summary = import_into(&copy, &mut first.as_slice(), &mut ()).unwrap();
        assert_eq!(summary.events, 3010);
        assert_eq!(all(&copy), all(&store));
        assert_eq!(export_bytes(&*copy_backend), first);
    }

    #[test]
    fn an_import_goes_to_a_new_directory_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = export_bytes(&*filled().0);
        let target = dir.path().join("imported");
        import(&target, &mut bytes.as_slice(), &mut ()).unwrap();
        let store = crate::admin::open_read_only(&target).unwrap();
        assert_eq!(export_bytes(&store), bytes);
        drop(store);
        // not again on a store with events
        let e = import(&target, &mut bytes.as_slice(), &mut ()).unwrap_err();
        assert!(e.to_string().contains("is not empty"), "{e}");

        // a damaged file leaves nothing behind
        let mut damaged = bytes.clone();
        let at = damaged.len() / 2;
        damaged[at] = if damaged[at] == b'A' { b'B' } else { b'A' };
        let other = dir.path().join("other");
        let e = import(&other, &mut damaged.as_slice(), &mut ()).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
        assert!(!other.exists());
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "only the first import is there");
    }

    #[test]
    fn an_import_into_a_store_with_events_is_refused() {
        let (backend, store) = filled();
        let bytes = export_bytes(&*backend);
        let e = import_into(&store, &mut bytes.as_slice(), &mut ()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid argument: the target store is not empty"
        );
    }

    /// A file made by hand, with a good checksum.
    fn file_of(events: &[(u64, &str, u64, &str)]) -> Vec<u8> {
        let mut body = header_line(events.len() as u64);
        for (p, s, v, id) in events {
            let e = Event {
                position: *p,
                stream: s.as_bytes().to_vec(),
                version: *v,
                id: id.as_bytes().to_vec(),
                data: vec![],
                event_type: vec![],
                metadata: vec![],
            };
            crate::admin::format::push_event_line(&mut body, &e.as_ref());
            body.push('\n');
        }
        let mut h = Sha256::new();
        h.update(body.as_bytes());
        body.push_str(&trailer_line(events.len() as u64, &h.finish_hex()));
        body.into_bytes()
    }

    #[test]
    fn versions_that_do_not_follow_and_repeated_ids_are_refused() {
        let refusal = |f: &[u8]| {
            import_into(&Store::in_memory(), &mut &f[..], &mut ())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            refusal(&file_of(&[(0, "s", 0, "a"), (1, "s", 2, "b")])),
            "invalid argument: line 3: stream s: version 2 does not follow version 0"
        );
        assert_eq!(
            refusal(&file_of(&[(0, "s", 1, "a")])),
            "invalid argument: line 2: stream s: version 1 does not follow nothing (a stream starts at version 0)"
        );
        assert_eq!(
            refusal(&file_of(&[(0, "s", 0, "a"), (1, "t", 0, "a")])),
            "invalid argument: line 3: the id a appears twice"
        );
        assert!(import_into(
            &Store::in_memory(),
            &mut &file_of(&[(0, "s", 0, "a"), (1, "t", 0, "b"), (2, "s", 1, "c")])[..],
            &mut ()
        )
        .is_ok());
    }

    struct StopAfter(u64, u64);

    impl Progress for StopAfter {
        fn report(&mut self, done: u64, _total: u64) {
            self.1 = done;
        }
        fn stop_requested(&self) -> bool {
            self.1 >= self.0
        }
    }

    #[test]
    fn long_operations_report_progress_and_stop_when_asked() {
        let (backend, store) = filled();
        let more = (0..5000)
            .map(|i: u32| NewEvent::new(i.to_be_bytes()))
            .collect();
        store.append(b"more", more, ExpectedVersion::Any).unwrap();
        let mut out = Vec::new();
        let e = export(&*backend, &mut out, &mut StopAfter(1, 0)).unwrap_err();
        assert!(
            matches!(&e, Error::Io(io) if io.kind() == std::io::ErrorKind::Interrupted),
            "{e:?}"
        );
        let bytes = export_bytes(&*backend);
        let e = import_into(
            &Store::in_memory(),
            &mut bytes.as_slice(),
            &mut StopAfter(1024, 0),
        )
        .unwrap_err();
        assert!(
            matches!(&e, Error::Io(io) if io.kind() == std::io::ErrorKind::Interrupted),
            "{e:?}"
        );
    }
}
