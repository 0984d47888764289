//! Looking at a store from the operator's side: its statistics, the list
//! of its streams, a check of every index against the log, and a compacted
//! copy made while a server writes.
//!
//! Everything here reads (a store opened read-only is enough); it decodes
//! with [`codec`](super::codec) and runs its transactions through
//! [`Env`]. What the tools print, and the export format, are
//! [`admin`](crate::admin)'s.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;

use lmdb::{Cursor, Database, RoTransaction, Transaction};

use super::codec::{
    decode_head, decode_record, decode_stream_key, pos_key, read_u64, stream_key, FORMAT_KEY,
};
use super::env::Env;
use super::read::{next_position_in, not_found_is_none};
use crate::error::Printable;
use crate::{Result, StreamHead};

/// What a store holds and how much room it takes, at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LmdbStats {
    /// The format marker of the store (`rewind-lmdb-2`; `rewind-lmdb-1` for a
    /// store of Rewind 0.4.0 not yet opened for writing).
    pub format: Vec<u8>,
    /// The number of events in the log.
    pub events: u64,
    /// The number of streams.
    pub streams: u64,
    /// The position the next event will get; the head position is one less.
    pub next_position: u64,
    /// LMDB's map size: how large the data file may grow before the server
    /// grows the map (it does so by itself).
    pub map_size: u64,
    /// The part of the map in use: the pages up to the last one written.
    pub map_used: u64,
    /// The bytes of the used part that are free pages, kept for reuse (a
    /// compacted backup leaves them out).
    pub map_free: u64,
    /// LMDB's page size.
    pub page_size: u32,
    /// The length of `data.mdb`.
    pub data_file_bytes: u64,
    /// The disk space the store's files take (`data.mdb` and `lock.mdb`).
    pub disk_bytes: u64,
    /// The id of the last committed LMDB transaction.
    pub last_txn: u64,
}

impl LmdbStats {
    /// The position of the last event; `None` for an empty store.
    pub fn head_position(&self) -> Option<u64> {
        self.next_position.checked_sub(1)
    }
}

/// The result of a [`verify`] run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// The events of the log that were checked.
    pub events: u64,
    /// The streams found in the log.
    pub streams: u64,
    /// The entries of the id index, the stream index and the heads that
    /// were checked.
    pub index_entries: u64,
    /// The first problems found, one line each.
    pub problems: Vec<String>,
    /// How many problems were found in all.
    pub problem_count: u64,
}

impl VerifyReport {
    /// Whether the store is consistent.
    pub fn is_ok(&self) -> bool {
        self.problem_count == 0
    }
}

fn entries(txn: &RoTransaction<'_>, db: Database) -> Result<u64> {
    // SAFETY: the transaction and the database handle are valid; `st` is a
    // valid out-pointer.
    let mut st: lmdb_sys::MDB_stat = unsafe { std::mem::zeroed() };
    let rc = unsafe { lmdb_sys::mdb_stat(txn.txn(), db.dbi(), &mut st) };
    if rc != 0 {
        return Err(lmdb::Error::from_err_code(rc).into());
    }
    Ok(st.ms_entries as u64)
}

/// The statistics of the store.
pub(super) fn stats(env: &Env) -> Result<LmdbStats> {
    // The map size a writer last recorded, rather than this process's.
    env.adopt_resize()?;
    let dbs = env.dbs();
    let (format, events, streams, next_position) = env.with_read(|txn| {
        let format = not_found_is_none(txn.get(dbs.meta, &FORMAT_KEY))?
            .unwrap_or_default()
            .to_vec();
        Ok((
            format,
            entries(txn, dbs.log)?,
            entries(txn, dbs.heads)?,
            next_position_in(txn, dbs.log)?,
        ))
    })?;
    let (info, page_size, free_pages) = env.with_env(|e| {
        let free = e.freelist()?;
        Ok((e.info()?, e.stat()?.page_size(), free))
    })?;
    let data = std::fs::metadata(env.path().join("data.mdb"))?;
    let lock_blocks = std::fs::metadata(env.path().join("lock.mdb")).map_or(0, |m| m.blocks());
    Ok(LmdbStats {
        format,
        events,
        streams,
        next_position,
        map_size: info.map_size() as u64,
        map_used: (info.last_pgno() as u64 + 1) * u64::from(page_size),
        map_free: free_pages as u64 * u64::from(page_size),
        page_size,
        data_file_bytes: data.len(),
        disk_bytes: (data.blocks() + lock_blocks) * 512,
        last_txn: info.last_txnid() as u64,
    })
}

/// How many streams one read transaction of [`streams`] lists: a slow
/// consumer (a pipe) never holds a snapshot for long.
const STREAMS_PER_TXN: usize = 1024;

/// Visits every stream whose name starts with `prefix`, in byte order of
/// the names, with its head; `visit` returns `false` to stop.
pub(super) fn streams(
    env: &Env,
    prefix: &[u8],
    visit: &mut dyn FnMut(&[u8], StreamHead) -> bool,
) -> Result<()> {
    streams_after(env, prefix, None, visit)
}

/// Visits the streams whose names start with `prefix` and sort after
/// `after` (byte-wise; `None`: from the first), in name order, with their
/// heads; `visit` returns `false` to stop.
pub(super) fn streams_after(
    env: &Env,
    prefix: &[u8],
    after: Option<&[u8]>,
    visit: &mut dyn FnMut(&[u8], StreamHead) -> bool,
) -> Result<()> {
    let heads = env.dbs().heads;
    let mut after: Option<Vec<u8>> = after.map(<[u8]>::to_vec);
    loop {
        let page = env.with_read(|txn| {
            let mut cur = txn.open_ro_cursor(heads)?;
            let start = after.as_deref().unwrap_or(prefix);
            let mut page = Vec::new();
            // LMDB has no empty keys to start from.
            let iter = if start.is_empty() {
                cur.iter_start()
            } else {
                cur.iter_from(start)
            };
            for item in iter {
                let (k, v) = item?;
                if after.as_deref() == Some(k) {
                    continue;
                }
                if !k.starts_with(prefix) || page.len() == STREAMS_PER_TXN {
                    break;
                }
                page.push((k.to_vec(), decode_head(v)?));
            }
            Ok(page)
        })?;
        let full = page.len() == STREAMS_PER_TXN;
        for (name, head) in &page {
            if !visit(name, head.clone()) {
                return Ok(());
            }
        }
        match page.into_iter().last() {
            Some((name, _)) if full => after = Some(name),
            _ => return Ok(()),
        }
    }
}

/// What [`verify`] knows of a stream from the log.
struct Seen {
    next_version: u64,
    last_position: u64,
    last_id: Vec<u8>,
}

/// The stream, id and version of the record an index entry points at.
type Pointee = (Vec<u8>, Vec<u8>, u64);

/// Collects problems: keeps the first `max`, counts them all.
struct Problems<'r> {
    report: &'r mut VerifyReport,
    max: usize,
}

impl Problems<'_> {
    fn add(&mut self, p: String) {
        self.report.problem_count += 1;
        if self.report.problems.len() < self.max {
            self.report.problems.push(p);
        }
    }
}

/// Checks every index of the store against the log, in one read
/// transaction (one snapshot, while a server goes on writing):
///
/// - the log: positions contiguous from 0, every record decodes, names of
///   1 to 255 bytes, versions contiguous from 0 in each stream;
/// - the id index: every event's id maps to its position, and every entry
///   maps an id to the record that has it;
/// - the stream index: every event has its entry, and every entry points at
///   the record of that stream and version;
/// - the heads: one per stream, naming its last event; none for a stream
///   the log does not have.
///
/// Keeps the first `max_problems` problems. `progress` is told the entries
/// checked and the entries to check (the log's and the three indexes'),
/// and returns `false` to stop (the run then fails with an interruption).
pub(super) fn verify(
    env: &Env,
    max_problems: usize,
    progress: &mut dyn FnMut(u64, u64) -> bool,
) -> Result<VerifyReport> {
    let dbs = env.dbs();
    env.with_read(|txn| {
        let mut report = VerifyReport::default();
        let total = entries(txn, dbs.log)?
            + entries(txn, dbs.ids)?
            + entries(txn, dbs.streams)?
            + entries(txn, dbs.heads)?;
        let mut done = 0u64;
        let mut tick = |done: u64| -> Result<()> {
            if done % 4096 == 0 && !progress(done, total) {
                return Err(crate::admin::interrupted());
            }
            Ok(())
        };
        let mut seen: HashMap<Vec<u8>, Seen> = HashMap::new();
        let mut problems = Problems {
            report: &mut report,
            max: max_problems,
        };

        let position_text = |p: &[u8]| match read_u64(p) {
            Ok(n) if p.len() == 8 => n.to_string(),
            _ => format!("a malformed position ({} bytes)", p.len()),
        };

        // The log, and each event's entries in the indexes.
        let mut expected = 0u64;
        for item in txn.open_ro_cursor(dbs.log)?.iter_start() {
            let (k, v) = item?;
            done += 1;
            tick(done)?;
            if k.len() != 8 {
                problems.add(format!("log: a key of {} bytes, not 8", k.len()));
                continue;
            }
            let position = read_u64(k)?;
            if position != expected {
                problems.add(format!(
                    "log: positions {expected} to {} are missing",
                    position - 1
                ));
            }
            expected = position + 1;
            let ev = match decode_record(position, v) {
                Ok(ev) => ev,
                Err(_) => {
                    problems.add(format!("log: the record at position {position} does not decode"));
                    continue;
                }
            };
            let (stream, id) = (Printable(ev.stream), Printable(ev.id));
            for (what, name) in [("stream name", ev.stream), ("id", ev.id)] {
                if name.is_empty() || name.len() > crate::MAX_NAME_LEN {
                    problems.add(format!(
                        "log: position {position}: an empty or too long {what} ({} bytes)",
                        name.len()
                    ));
                }
            }
            let s = seen.entry(ev.stream.to_vec()).or_insert(Seen {
                next_version: 0,
                last_position: 0,
                last_id: Vec::new(),
            });
            if ev.version != s.next_version {
                problems.add(format!(
                    "log: position {position}: stream {stream} has version {} where {} was expected",
                    ev.version, s.next_version
                ));
            }
            s.next_version = ev.version.saturating_add(1);
            s.last_position = position;
            s.last_id = ev.id.to_vec();
            match not_found_is_none(txn.get(dbs.ids, &ev.id))? {
                None => problems.add(format!(
                    "id index: id {id} (position {position}) is missing"
                )),
                Some(p) if p != pos_key(position) => problems.add(format!(
                    "id index: id {id} maps to position {}, its record is at {position}",
                    position_text(p)
                )),
                Some(_) => {}
            }
            match not_found_is_none(txn.get(dbs.streams, &stream_key(ev.stream, ev.version)))? {
                None => problems.add(format!(
                    "stream index: stream {stream} version {} (position {position}) is missing",
                    ev.version
                )),
                Some(p) if p != pos_key(position) => problems.add(format!(
                    "stream index: stream {stream} version {} maps to position {}, its record is at {position}",
                    ev.version,
                    position_text(p)
                )),
                Some(_) => {}
            }
            problems.report.events += 1;
        }

        // Where an index entry points: the record there, decoded, if any.
        let record_at = |p: &[u8]| -> Result<Option<Pointee>> {
            let Ok(position) = read_u64(p) else {
                return Ok(None);
            };
            Ok(not_found_is_none(txn.get(dbs.log, &pos_key(position)))?
                .and_then(|rec| decode_record(position, rec).ok())
                .map(|e| (e.stream.to_vec(), e.id.to_vec(), e.version)))
        };

        // The id index: nothing but the ids of the log.
        for item in txn.open_ro_cursor(dbs.ids)?.iter_start() {
            let (id, p) = item?;
            done += 1;
            tick(done)?;
            problems.report.index_entries += 1;
            match record_at(p)? {
                Some((_, rid, _)) if rid == id => {}
                Some((_, rid, _)) => problems.add(format!(
                    "id index: id {} points at position {}, which holds id {}",
                    Printable(id),
                    position_text(p),
                    Printable(&rid)
                )),
                None => problems.add(format!(
                    "id index: id {} points at {}, where there is no event",
                    Printable(id),
                    position_text(p)
                )),
            }
        }

        // The stream index: nothing but the events of the log.
        for item in txn.open_ro_cursor(dbs.streams)?.iter_start() {
            let (k, p) = item?;
            done += 1;
            tick(done)?;
            problems.report.index_entries += 1;
            let Ok((stream, version)) = decode_stream_key(k) else {
                problems.add(format!("stream index: a malformed key ({} bytes)", k.len()));
                continue;
            };
            match record_at(p)? {
                Some((s, _, v)) if s == stream && v == version => {}
                Some((s, _, v)) => problems.add(format!(
                    "stream index: stream {} version {version} points at position {}, which holds stream {} version {v}",
                    Printable(stream),
                    position_text(p),
                    Printable(&s)
                )),
                None => problems.add(format!(
                    "stream index: stream {} version {version} points at {}, where there is no event",
                    Printable(stream),
                    position_text(p)
                )),
            }
        }

        // The heads: one per stream of the log, naming its last event.
        let mut headless = seen.len();
        for item in txn.open_ro_cursor(dbs.heads)?.iter_start() {
            let (stream, v) = item?;
            done += 1;
            tick(done)?;
            problems.report.index_entries += 1;
            let name = Printable(stream);
            let Ok(head) = decode_head(v) else {
                problems.add(format!("heads: the head of stream {name} does not decode"));
                continue;
            };
            match seen.get(stream) {
                None => problems.add(format!(
                    "heads: stream {name} has a head but no events in the log"
                )),
                Some(s) => {
                    headless -= 1;
                    let last = s.next_version - 1;
                    if head.version != last || head.position != s.last_position || head.id != s.last_id {
                        problems.add(format!(
                            "heads: stream {name}: the head names version {} at position {} (id {}), the log's last event is version {last} at position {} (id {})",
                            head.version,
                            head.position,
                            Printable(&head.id),
                            s.last_position,
                            Printable(&s.last_id)
                        ));
                    }
                }
            }
        }
        if headless > 0 {
            let heads = dbs.heads;
            for stream in seen.keys() {
                if not_found_is_none(txn.get(heads, stream))?.is_none() {
                    problems.add(format!("heads: stream {} has no head", Printable(stream)));
                }
            }
        }
        report.streams = seen.len() as u64;
        progress(total, total);
        Ok(report)
    })
}

/// Writes a compacted copy of the store's data file to `file` (empty, open
/// for writing): LMDB's `mdb_env_copyfd2` with `MDB_CP_COMPACT`, one read
/// transaction, so the copy is the store as of one commit, without its free
/// pages. The file is synced before this returns.
pub(super) fn copy_compacted(env: &Env, file: &File) -> Result<()> {
    env.with_env(|e| {
        // A retry (the map was resized) starts the file over.
        file.set_len(0).map_err(io_to_lmdb)?;
        // SAFETY: the descriptor is open for the duration of the call.
        let rc = unsafe {
            libc::lseek(file.as_raw_fd(), 0, libc::SEEK_SET);
            lmdb_sys::mdb_env_copyfd2(e.env(), file.as_raw_fd(), lmdb_sys::MDB_CP_COMPACT)
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(lmdb::Error::from_err_code(rc))
        }
    })?;
    file.sync_all()?;
    Ok(())
}

fn io_to_lmdb(e: std::io::Error) -> lmdb::Error {
    lmdb::Error::Other(e.raw_os_error().unwrap_or(libc::EIO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{AppendRequest, PreparedEvent};
    use crate::lmdb::write::append_batch;
    use crate::lmdb::LmdbOptions;
    use crate::{Error, ExpectedVersion};
    use lmdb::WriteFlags;

    fn store(events: &[(&[u8], &[u8])]) -> (tempfile::TempDir, Env) {
        let dir = tempfile::tempdir().unwrap();
        let env = Env::open(&LmdbOptions::new(dir.path().join("db"))).unwrap();
        for (stream, id) in events {
            let req = AppendRequest::single(
                stream.to_vec(),
                ExpectedVersion::Any,
                vec![PreparedEvent::new(
                    id.to_vec(),
                    format!("data of {}", Printable(id)).into_bytes(),
                )],
            );
            append_batch(&env, &[req]).unwrap().pop().unwrap().unwrap();
        }
        (dir, env)
    }

    const EVENTS: [(&[u8], &[u8]); 6] = [
        (b"a", b"id0"),
        (b"b", b"id1"),
        (b"a", b"id2"),
        (b"ab", b"id3"),
        (b"a", b"id4"),
        (b"c", b"id5"),
    ];

    fn verify_all(env: &Env) -> VerifyReport {
        verify(env, 100, &mut |_, _| true).unwrap()
    }

    /// Changes the databases directly, as a damaged store would have them.
    fn tamper(
        env: &Env,
        f: impl FnOnce(&mut lmdb::RwTransaction<'_>, super::super::open::Databases),
    ) {
        let dbs = env.dbs();
        env.with_write(|mut txn| {
            f(&mut txn, dbs);
            txn.commit()
        })
        .unwrap();
    }

    #[test]
    fn stats_count_events_and_streams_and_measure_the_map() {
        let (_d, env) = store(&EVENTS);
        let s = stats(&env).unwrap();
        assert_eq!(s.format, super::super::FORMAT);
        assert_eq!((s.events, s.streams, s.next_position), (6, 4, 6));
        assert_eq!(s.head_position(), Some(5));
        assert_eq!(s.map_size, 64 << 20);
        assert_eq!(s.page_size, 4096);
        assert!(s.map_used >= 8 * 4096 && s.map_used <= s.map_size, "{s:?}");
        assert!(s.map_free < s.map_used);
        assert_eq!(s.data_file_bytes, s.map_used, "{s:?}");
        assert!(s.disk_bytes > 0);
        assert!(s.last_txn >= 6);
        let (_d, empty) = store(&[]);
        let s = stats(&empty).unwrap();
        assert_eq!((s.events, s.streams, s.head_position()), (0, 0, None));
    }

    #[test]
    fn streams_are_listed_by_prefix_in_name_order_with_their_heads() {
        let (_d, env) = store(&EVENTS);
        let list = |prefix: &[u8]| {
            let mut out = Vec::new();
            streams(&env, prefix, &mut |s, h| {
                out.push((s.to_vec(), h.version, h.position, h.id));
                true
            })
            .unwrap();
            out
        };
        assert_eq!(
            list(b""),
            vec![
                (b"a".to_vec(), 2, 4, b"id4".to_vec()),
                (b"ab".to_vec(), 0, 3, b"id3".to_vec()),
                (b"b".to_vec(), 0, 1, b"id1".to_vec()),
                (b"c".to_vec(), 0, 5, b"id5".to_vec()),
            ]
        );
        assert_eq!(list(b"a").len(), 2);
        assert_eq!(list(b"ab").len(), 1);
        assert!(list(b"d").is_empty());
        let mut n = 0;
        streams(&env, b"", &mut |_, _| {
            n += 1;
            false
        })
        .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn many_streams_are_listed_across_transactions() {
        let names: Vec<Vec<u8>> = (0..2500).map(|i| format!("s{i:05}").into_bytes()).collect();
        let ids: Vec<Vec<u8>> = (0..2500).map(|i| format!("i{i}").into_bytes()).collect();
        let events: Vec<(&[u8], &[u8])> = names
            .iter()
            .zip(&ids)
            .map(|(s, i)| (s.as_slice(), i.as_slice()))
            .collect();
        let (_d, env) = store(&events);
        let mut out = Vec::new();
        streams(&env, b"s", &mut |s, _| {
            out.push(s.to_vec());
            true
        })
        .unwrap();
        assert_eq!(out, names);
    }

    #[test]
    fn a_consistent_store_verifies() {
        let (_d, env) = store(&EVENTS);
        let mut calls = Vec::new();
        let r = verify(&env, 10, &mut |done, total| {
            calls.push((done, total));
            true
        })
        .unwrap();
        assert!(r.is_ok(), "{r:?}");
        assert_eq!((r.events, r.streams, r.index_entries), (6, 4, 6 + 6 + 4));
        assert_eq!(calls.last(), Some(&(22, 22)));
        let (_d, empty) = store(&[]);
        assert!(verify_all(&empty).is_ok());
    }

    #[test]
    fn a_missing_id_entry_is_reported() {
        let (_d, env) = store(&EVENTS);
        tamper(&env, |t, dbs| t.del(dbs.ids, b"id2", None).unwrap());
        let r = verify_all(&env);
        assert_eq!(r.problems, ["id index: id id2 (position 2) is missing"]);
    }

    #[test]
    fn a_stray_or_misdirected_id_entry_is_reported() {
        let (_d, env) = store(&EVENTS);
        tamper(&env, |t, dbs| {
            t.put(dbs.ids, b"ghost", &pos_key(9), WriteFlags::empty())
                .unwrap();
            t.put(dbs.ids, b"id1", &pos_key(0), WriteFlags::empty())
                .unwrap();
        });
        let r = verify_all(&env);
        assert_eq!(r.problem_count, 3, "{r:?}");
        assert!(
            r.problems
                .contains(&"id index: id id1 maps to position 0, its record is at 1".to_string()),
            "{r:?}"
        );
        assert!(
            r.problems
                .contains(&"id index: id ghost points at 9, where there is no event".to_string()),
            "{r:?}"
        );
        assert!(
            r.problems
                .contains(&"id index: id id1 points at position 0, which holds id id0".to_string()),
            "{r:?}"
        );
    }

    #[test]
    fn a_gap_in_the_log_and_its_dangling_entries_are_reported() {
        let (_d, env) = store(&EVENTS);
        tamper(&env, |t, dbs| t.del(dbs.log, &pos_key(2), None).unwrap());
        let r = verify_all(&env);
        let all = r.problems.join("\n");
        assert!(all.contains("log: positions 2 to 2 are missing"), "{all}");
        assert!(
            all.contains("stream a has version 2 where 1 was expected"),
            "{all}"
        );
        assert!(
            all.contains("id index: id id2 points at 2, where there is no event"),
            "{all}"
        );
        assert!(
            all.contains("stream index: stream a version 1 points at 2, where there is no event"),
            "{all}"
        );
        assert_eq!(r.problem_count, 4, "{all}");
    }

    #[test]
    fn stream_index_and_head_damage_is_reported() {
        let (_d, env) = store(&EVENTS);
        tamper(&env, |t, dbs| {
            t.del(dbs.streams, &stream_key(b"ab", 0), None).unwrap();
            t.put(
                dbs.streams,
                &stream_key(b"zz", 0),
                &pos_key(5),
                WriteFlags::empty(),
            )
            .unwrap();
            t.del(dbs.heads, b"b", None).unwrap();
            let mut buf = Vec::new();
            super::super::codec::encode_head(&mut buf, 1, 2, b"id2");
            t.put(dbs.heads, b"a", &buf, WriteFlags::empty()).unwrap();
            t.put(dbs.heads, b"nothing", &buf, WriteFlags::empty())
                .unwrap();
        });
        let r = verify_all(&env);
        let all = r.problems.join("\n");
        for expected in [
            "stream index: stream ab version 0 (position 3) is missing",
            "stream index: stream zz version 0 points at position 5, which holds stream c version 0",
            "heads: stream b has no head",
            "heads: stream a: the head names version 1 at position 2 (id id2), the log's last event is version 2 at position 4 (id id4)",
            "heads: stream nothing has a head but no events in the log",
        ] {
            assert!(all.contains(expected), "{expected}\nnot in:\n{all}");
        }
        assert_eq!(r.problem_count, 5, "{all}");
    }

    #[test]
    fn an_undecodable_record_is_reported_and_problems_are_capped() {
        let (_d, env) = store(&EVENTS);
        tamper(&env, |t, dbs| {
            t.put(dbs.log, &pos_key(1), &[9, 1], WriteFlags::empty())
                .unwrap()
        });
        let r = verify(&env, 1, &mut |_, _| true).unwrap();
        assert_eq!(
            r.problems,
            ["log: the record at position 1 does not decode"]
        );
        assert!(r.problem_count > 1, "{r:?}");
    }

    #[test]
    fn a_stopped_verify_is_an_interruption() {
        let names: Vec<Vec<u8>> = (0..5000).map(|i| format!("{i}").into_bytes()).collect();
        let events: Vec<(&[u8], &[u8])> = names.iter().map(|n| (&b"s"[..], n.as_slice())).collect();
        let (_d, env) = store(&events);
        match verify(&env, 10, &mut |_, _| false) {
            Err(Error::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::Interrupted),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_compacted_copy_opens_as_the_same_store() {
        let (dir, env) = store(&EVENTS);
        let dest = dir.path().join("copy");
        std::fs::create_dir(&dest).unwrap();
        let file = File::create(dest.join("data.mdb")).unwrap();
        copy_compacted(&env, &file).unwrap();
        drop(file);
        let copy = Env::open(&LmdbOptions {
            read_only: true,
            ..LmdbOptions::new(&dest)
        })
        .unwrap();
        assert!(verify_all(&copy).is_ok());
        let mut ids = Vec::new();
        super::super::read::read_log(&copy, 0, 100, &mut |e| {
            ids.push(e.id.to_vec());
            true
        })
        .unwrap();
        assert_eq!(ids, EVENTS.map(|(_, id)| id.to_vec()));
        assert!(stats(&copy).unwrap().data_file_bytes <= stats(&env).unwrap().data_file_bytes);
    }
}
