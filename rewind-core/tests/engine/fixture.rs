//! A store written by Rewind 0.4.0 (`tests/fixtures/store-0.4.0`: its
//! `data.mdb` and `events.txt`, the listing of what it holds) opens and
//! keeps working with this version: read-only as it is, for writing after
//! its format marker is upgraded, with old and new records side by side.

use std::path::{Path, PathBuf};

use lmdb::Transaction;
use rewind_core::lmdb::{LmdbOptions, FORMAT, FORMAT_V1};
use rewind_core::{Event, ExpectedVersion, NewEvent, Store, StoreOptions, StreamAppend};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-0.4.0")
}

fn unhex(s: &str) -> Vec<u8> {
    if s == "-" {
        return Vec::new();
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// The events the listing says the fixture holds, in log order.
fn listed_events() -> Vec<Event> {
    let text = std::fs::read_to_string(fixture_dir().join("events.txt")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            assert_eq!(f.len(), 5, "a listing line has 5 fields: {l}");
            Event {
                position: f[0].parse().unwrap(),
                version: f[1].parse().unwrap(),
                stream: unhex(f[2]),
                id: unhex(f[3]),
                data: unhex(f[4]),
                event_type: Vec::new(),
                metadata: Vec::new(),
            }
        })
        .collect()
}

/// A copy of the fixture in a temporary directory (the original is never
/// opened: opening creates a lock file, and opening for writing may change
/// the store).
fn fixture_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    std::fs::create_dir(&path).unwrap();
    std::fs::copy(fixture_dir().join("data.mdb"), path.join("data.mdb")).unwrap();
    (dir, path)
}

/// Every way of reading `store` shows exactly `events`.
fn check_holds(store: &Store, events: &[Event]) {
    assert_eq!(store.read_log_vec(0, usize::MAX).unwrap(), events);
    assert_eq!(store.next_position().unwrap(), events.len() as u64);
    let mut streams: Vec<&[u8]> = events.iter().map(|e| e.stream.as_slice()).collect();
    streams.sort();
    streams.dedup();
    for s in streams {
        let want: Vec<Event> = events.iter().filter(|e| e.stream == s).cloned().collect();
        assert_eq!(store.read_stream_vec(s, 0, usize::MAX).unwrap(), want);
        let head = store.stream_head(s).unwrap().unwrap();
        let last = want.last().unwrap();
        assert_eq!(
            (head.version, head.position, &head.id),
            (last.version, last.position, &last.id)
        );
    }
    for e in events {
        assert_eq!(store.get(&e.id).unwrap().as_ref(), Some(e));
    }
}

#[test]
fn the_listing_describes_a_varied_store() {
    let events = listed_events();
    assert!(events.len() >= 15);
    let streams: std::collections::HashSet<&[u8]> =
        events.iter().map(|e| e.stream.as_slice()).collect();
    assert_eq!(streams.len(), 3);
    assert!(events.iter().any(|e| e.data.is_empty()));
    assert!(events.iter().any(|e| std::str::from_utf8(&e.data).is_err()));
    assert!(events.iter().any(|e| e.id.len() == 36), "generated ids");
    assert!(events.iter().any(|e| e.id.len() != 36), "given ids");
    assert!(events
        .iter()
        .enumerate()
        .all(|(p, e)| e.position == p as u64));
    let data = std::fs::metadata(fixture_dir().join("data.mdb")).unwrap();
    assert!(data.len() <= 64 << 10, "the fixture stays small");
}

/// The format marker of the store in `path`, read with LMDB alone.
fn format_marker(path: &Path) -> Vec<u8> {
    let env = lmdb::Environment::new()
        .set_max_dbs(8)
        .set_flags(lmdb::EnvironmentFlags::READ_ONLY)
        .open(path)
        .unwrap();
    let meta = env.open_db(Some("meta")).unwrap();
    let txn = env.begin_ro_txn().unwrap();
    let marker = txn.get(meta, b"format").unwrap().to_vec();
    marker
}

#[test]
fn a_store_of_rewind_0_4_0_opens_read_only_and_stays_as_it_is() {
    let (_dir, path) = fixture_copy();
    let before = std::fs::read(path.join("data.mdb")).unwrap();
    let mut o = LmdbOptions::new(&path);
    o.read_only = true;
    let store = Store::open(&StoreOptions::Lmdb(o)).unwrap();
    let events = listed_events();
    check_holds(&store, &events);
    let mut back = store.read_log_backward_vec(None, usize::MAX).unwrap();
    back.reverse();
    assert_eq!(back, events);
    drop(store);
    assert_eq!(format_marker(&path), FORMAT_V1);
    assert!(
        std::fs::read(path.join("data.mdb")).unwrap() == before,
        "not written"
    );
}

#[test]
fn a_store_of_rewind_0_4_0_is_upgraded_takes_new_events_and_reopens() {
    let (_dir, path) = fixture_copy();
    assert_eq!(format_marker(&path), FORMAT_V1);
    let mut events = listed_events();
    let orders = events
        .iter()
        .rev()
        .find(|e| e.stream == b"orders")
        .cloned()
        .expect("the fixture has an orders stream");
    let first = events[0].clone();
    {
        let store = Store::open_lmdb(&path).unwrap();
        assert_eq!(format_marker(&path), FORMAT, "upgraded on opening");
        check_holds(&store, &events);
        // An append of 0.4.0 sent again is a retry of it.
        let retry = store
            .append(
                &first.stream,
                vec![NewEvent::with_id(first.id.clone(), first.data.clone())],
                ExpectedVersion::NoStream,
            )
            .unwrap();
        assert_eq!((retry[0].version, retry[0].position), (0, 0));
        // New events, typed, next to the old ones.
        let n = events.len() as u64;
        let done = store
            .append_multi(vec![
                StreamAppend::new(
                    "orders",
                    vec![
                        NewEvent::with_id("new-1", "refunded")
                            .with_type("OrderRefunded")
                            .with_metadata(r#"{"by":"ann"}"#),
                        NewEvent::new(vec![0u8, 0xFF]),
                    ],
                    ExpectedVersion::Exact(orders.version),
                ),
                StreamAppend::new(
                    "ledger",
                    vec![NewEvent::new("credit").with_type("Credited")],
                    ExpectedVersion::NoStream,
                ),
            ])
            .unwrap();
        let positions: Vec<u64> = done.iter().map(|a| a.position).collect();
        assert_eq!(positions, [n, n + 1, n + 2]);
        let new = store.read_log_vec(n, 10).unwrap();
        assert_eq!(new.len(), 3);
        assert_eq!(new[0].version, orders.version + 1);
        assert_eq!(
            (&new[0].event_type[..], &new[0].metadata[..]),
            (&b"OrderRefunded"[..], &br#"{"by":"ann"}"#[..])
        );
        assert_eq!(new[2].event_type, b"Credited");
        events.extend(new);
        check_holds(&store, &events);
        store.close().unwrap();
    }
    let store = Store::open_lmdb(&path).unwrap();
    check_holds(&store, &events);
    let mut back = store
        .read_stream_backward_vec(b"orders", None, usize::MAX)
        .unwrap();
    back.reverse();
    let orders_events: Vec<Event> = events
        .iter()
        .filter(|e| e.stream == b"orders")
        .cloned()
        .collect();
    assert_eq!(back, orders_events);
    drop(store);
    let mut o = LmdbOptions::new(&path);
    o.read_only = true;
    let ro = Store::open(&StoreOptions::Lmdb(o)).unwrap();
    check_holds(&ro, &events);
    assert_eq!(format_marker(&path), FORMAT);
}
