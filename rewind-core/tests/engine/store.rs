//! The store, run against both backends.

use std::sync::{Arc, Mutex};

use rewind_core::lmdb::{LmdbBackend, LmdbOptions};
use rewind_core::{Error, ExpectedVersion, NewEvent, Store, StoreOptions};

use crate::{backends, ev};

#[test]
fn append_assigns_versions_positions_and_uuid_ids() {
    for (name, s, _d) in backends() {
        let a = s
            .append(b"a", vec![ev("1"), ev("2")], ExpectedVersion::Any)
            .unwrap();
        let b = s.append(b"b", vec![ev("3")], ExpectedVersion::Any).unwrap();
        let c = s.append(b"a", vec![ev("4")], ExpectedVersion::Any).unwrap();
        assert_eq!(
            a.iter()
                .chain(&b)
                .chain(&c)
                .map(|x| (x.version, x.position))
                .collect::<Vec<_>>(),
            vec![(0, 0), (1, 1), (0, 2), (2, 3)],
            "{name}"
        );
        assert!(a.iter().all(|x| x.id.len() == 36), "{name}");
        assert_eq!(s.next_position().unwrap(), 4);
        let log: Vec<_> = s
            .read_log_vec(0, 100)
            .unwrap()
            .into_iter()
            .map(|e| e.data)
            .collect();
        assert_eq!(
            log,
            vec![b"1".to_vec(), b"2".to_vec(), b"3".to_vec(), b"4".to_vec()],
            "{name}"
        );
        let a_events = s.read_stream_vec(b"a", 1, 10).unwrap();
        assert_eq!(a_events.len(), 2);
        assert_eq!((a_events[1].version, a_events[1].position), (2, 3));
        assert_eq!(s.read_log_vec(2, 1).unwrap()[0].stream, b"b");
        assert!(s.read_stream_vec(b"nope", 0, 10).unwrap().is_empty());
        let head = s.stream_head(b"a").unwrap().unwrap();
        assert_eq!(
            (head.version, head.position, head.id.clone()),
            (2, 3, c[0].id.clone())
        );
        let got = s.get(&b[0].id).unwrap().unwrap();
        assert_eq!(
            (got.stream.as_slice(), got.data.as_slice()),
            (&b"b"[..], &b"3"[..])
        );
        assert!(s.get(b"missing").unwrap().is_none());
    }
}

#[test]
fn expected_version_rules_are_enforced() {
    for (name, s, _d) in backends() {
        use ExpectedVersion::*;
        assert!(
            matches!(
                s.append(b"s", vec![ev("x")], StreamExists),
                Err(Error::WrongExpectedVersion { actual: None, .. })
            ),
            "{name}"
        );
        assert!(matches!(
            s.append(b"s", vec![ev("x")], Exact(0)),
            Err(Error::WrongExpectedVersion { .. })
        ));
        s.append(b"s", vec![ev("a"), ev("b")], NoStream).unwrap();
        assert!(matches!(
            s.append(b"s", vec![ev("x")], NoStream),
            Err(Error::WrongExpectedVersion {
                actual: Some(1),
                ..
            })
        ));
        assert!(matches!(
            s.append(b"s", vec![ev("x")], Exact(0)),
            Err(Error::WrongExpectedVersion { .. })
        ));
        s.append(b"s", vec![ev("c")], Exact(1)).unwrap();
        s.append(b"s", vec![ev("d")], StreamExists).unwrap();
        assert_eq!(
            s.read_stream_vec(b"s", 0, 10).unwrap().len(),
            4,
            "failed appends store nothing"
        );
    }
}

#[test]
fn duplicate_and_invalid_ids_fail_the_whole_append() {
    for (name, s, _d) in backends() {
        s.append(
            b"s",
            vec![NewEvent::with_id("k1", "a")],
            ExpectedVersion::Any,
        )
        .unwrap();
        let dup = s.append(
            b"s",
            vec![NewEvent::with_id("k2", "b"), NewEvent::with_id("k1", "c")],
            ExpectedVersion::Any,
        );
        assert!(
            matches!(dup, Err(Error::DuplicateId(ref id)) if id == b"k1"),
            "{name}"
        );
        let dup_in_append = s.append(
            b"t",
            vec![NewEvent::with_id("k3", "b"), NewEvent::with_id("k3", "c")],
            ExpectedVersion::Any,
        );
        assert!(matches!(dup_in_append, Err(Error::DuplicateId(_))));
        assert!(matches!(
            s.append(b"s", vec![NewEvent::with_id("", "b")], ExpectedVersion::Any),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            s.append(
                b"s",
                vec![NewEvent::with_id(vec![b'x'; 256], "b")],
                ExpectedVersion::Any
            ),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            s.append(b"", vec![ev("b")], ExpectedVersion::Any),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            s.append(&[b's'; 256], vec![ev("b")], ExpectedVersion::Any),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            s.append(b"s", vec![], ExpectedVersion::Any),
            Err(Error::InvalidArgument(_))
        ));
        assert_eq!(
            s.next_position().unwrap(),
            1,
            "{name}: nothing but the first event is stored"
        );
        assert!(s.get(b"k2").unwrap().is_none());
    }
}

#[test]
fn range_query_is_exclusive_from_inclusive_to() {
    for (name, s, _d) in backends() {
        let ids: Vec<Vec<u8>> = (0..5)
            .map(|i| {
                s.append(b"q", vec![ev(&i.to_string())], ExpectedVersion::Any)
                    .unwrap()[0]
                    .id
                    .clone()
            })
            .collect();
        let other = s
            .append(b"other", vec![ev("o")], ExpectedVersion::Any)
            .unwrap()[0]
            .id
            .clone();
        let q = |from: Option<&[u8]>, to: Option<&[u8]>| -> rewind_core::Result<Vec<Vec<u8>>> {
            let mut out = vec![];
            s.query(b"q", from, to, usize::MAX, |e| {
                out.push(e.data.to_vec());
                true
            })?;
            Ok(out)
        };
        let d = |v: &[i32]| {
            v.iter()
                .map(|i| i.to_string().into_bytes())
                .collect::<Vec<_>>()
        };
        assert_eq!(q(None, None).unwrap(), d(&[0, 1, 2, 3, 4]), "{name}");
        assert_eq!(q(Some(&ids[1]), None).unwrap(), d(&[2, 3, 4]));
        assert_eq!(q(None, Some(&ids[1])).unwrap(), d(&[0, 1]));
        assert_eq!(q(Some(&ids[1]), Some(&ids[3])).unwrap(), d(&[2, 3]));
        assert_eq!(q(Some(&ids[2]), Some(&ids[2])).unwrap(), d(&[]));
        assert!(matches!(
            q(Some(&ids[3]), Some(&ids[1])),
            Err(Error::RangeOrder)
        ));
        assert!(matches!(q(Some(b"nope"), None), Err(Error::UnknownId(_))));
        assert!(matches!(q(None, Some(b"nope")), Err(Error::UnknownId(_))));
        assert!(matches!(
            q(Some(&other), None),
            Err(Error::IdNotInStream { .. })
        ));
        let mut limited = 0;
        s.query(b"q", None, None, 2, |_| {
            limited += 1;
            true
        })
        .unwrap();
        assert_eq!(limited, 2);
    }
}

#[test]
fn lmdb_store_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let ids = {
        let s = Store::open_lmdb(&path).unwrap();
        let a = s
            .append(b"x", vec![ev("one"), ev("two")], ExpectedVersion::NoStream)
            .unwrap();
        s.close().unwrap();
        a
    };
    let s = Store::open_lmdb(&path).unwrap();
    assert_eq!(s.next_position().unwrap(), 2);
    assert_eq!(s.stream_head(b"x").unwrap().unwrap().id, ids[1].id);
    let next = s
        .append(b"x", vec![ev("three")], ExpectedVersion::Exact(1))
        .unwrap();
    assert_eq!((next[0].version, next[0].position), (2, 2));
    assert!(matches!(
        s.append(
            b"x",
            vec![NewEvent::with_id(ids[0].id.clone(), "dup")],
            ExpectedVersion::Any
        ),
        Err(Error::DuplicateId(_))
    ));
}

#[test]
fn lmdb_map_grows_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = LmdbOptions::new(dir.path().join("db"));
    o.initial_map_size = 1 << 20;
    let backend = Arc::new(LmdbBackend::open(&o).unwrap());
    let s = Store::from_backend(backend.clone());
    let before = backend.map_size().unwrap();
    let big = vec![7u8; 256 << 10];
    for _ in 0..40 {
        s.append(
            b"big",
            vec![NewEvent::new(big.clone())],
            ExpectedVersion::Any,
        )
        .unwrap();
    }
    assert!(backend.map_size().unwrap() > before);
    assert_eq!(s.read_stream_vec(b"big", 0, 100).unwrap().len(), 40);
}

#[test]
fn lmdb_size_limit_gives_storage_full_and_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = LmdbOptions::new(dir.path().join("db"));
    o.initial_map_size = 1 << 20;
    o.max_map_size = Some(4 << 20);
    let s = Store::open(&StoreOptions::Lmdb(o)).unwrap();
    let chunk = vec![1u8; 512 << 10];
    let mut stored = 0;
    let err = loop {
        match s.append(
            b"f",
            vec![NewEvent::new(chunk.clone())],
            ExpectedVersion::Any,
        ) {
            Ok(_) => stored += 1,
            Err(e) => break e,
        }
        assert!(stored < 100, "the limit was never hit");
    };
    assert!(matches!(err, Error::StorageFull(_)), "{err}");
    assert!(stored > 0);
    assert_eq!(
        s.read_log_vec(0, 1000).unwrap().len(),
        stored,
        "reads keep working"
    );
    // Small appends may still fit in the pages that are left.
    s.append(b"f", vec![ev("small")], ExpectedVersion::Any)
        .unwrap();
}

#[test]
fn lmdb_refuses_a_directory_that_is_not_a_store() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("data.mdb"), vec![0xAB; 64 << 10]).unwrap();
    let e = Store::open_lmdb(dir.path())
        .err()
        .expect("garbage opened as a store");
    assert!(matches!(e, Error::Corrupt(_)), "{e}");
    let file = dir.path().join("plainfile");
    std::fs::write(&file, b"x").unwrap();
    assert!(Store::open_lmdb(&file).is_err());
}

#[test]
fn read_only_open_sees_committed_events() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let w = Store::open_lmdb(&path).unwrap();
    w.append(b"r", vec![ev("a")], ExpectedVersion::Any).unwrap();
    let mut o = LmdbOptions::new(&path);
    o.read_only = true;
    let r = Store::open(&StoreOptions::Lmdb(o)).unwrap();
    assert_eq!(r.read_log_vec(0, 10).unwrap().len(), 1);
    w.append(b"r", vec![ev("b")], ExpectedVersion::Any).unwrap();
    assert_eq!(r.read_log_vec(0, 10).unwrap().len(), 2);
    assert!(matches!(
        r.append(b"r", vec![ev("c")], ExpectedVersion::Any),
        Err(Error::ReadOnly)
    ));
}

#[test]
fn concurrent_appends_share_commits_and_all_land_once() {
    for (name, s, _d) in backends() {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let b2 = batches.clone();
        s.add_listener(Box::new(move |c| {
            let events = c.iter().map(|a| a.events.len()).sum::<usize>();
            b2.lock().unwrap().push(events);
        }));
        let threads: Vec<_> = (0..16)
            .map(|t| {
                let s = s.clone();
                std::thread::spawn(move || {
                    (0..50)
                        .map(|i| {
                            s.append(
                                format!("t{t}").as_bytes(),
                                vec![ev(&format!("{t}-{i}"))],
                                ExpectedVersion::Exact(i).max_any(i),
                            )
                            .unwrap()[0]
                                .clone()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let all: Vec<_> = threads
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        assert_eq!(all.len(), 800);
        let mut positions: Vec<u64> = all.iter().map(|a| a.position).collect();
        positions.sort();
        assert_eq!(positions, (0..800).collect::<Vec<_>>(), "{name}");
        let log = s.read_log_vec(0, 10_000).unwrap();
        assert_eq!(log.len(), 800);
        // (A PostgreSQL store's listeners hear of commits from its
        // follower, after the appenders are acknowledged.)
        crate::wait_until("the listener hears every commit", || {
            batches.lock().unwrap().iter().sum::<usize>() >= 800
        });
        let b = batches.lock().unwrap();
        assert_eq!(b.iter().sum::<usize>(), 800, "{name}");
        assert!(
            b.len() < 800,
            "{name}: no commit was shared ({} commits)",
            b.len()
        );
    }
}

trait MaxAny {
    fn max_any(self, i: u64) -> ExpectedVersion;
}
impl MaxAny for ExpectedVersion {
    /// Exact(i - 1) for the i-th append of a stream, NoStream for the first.
    fn max_any(self, i: u64) -> ExpectedVersion {
        if i == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(i - 1)
        }
    }
}

#[test]
fn listeners_see_every_commit_with_previous_ids() {
    let s = Store::in_memory();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let id = s.add_listener(Box::new(move |c| {
        for a in c.iter() {
            for (e, prev) in a.iter() {
                s2.lock()
                    .unwrap()
                    .push((e.id.to_vec(), prev.map(<[u8]>::to_vec)));
            }
        }
    }));
    let a = s
        .append(b"d", vec![ev("1"), ev("2")], ExpectedVersion::Any)
        .unwrap();
    let b = s.append(b"d", vec![ev("3")], ExpectedVersion::Any).unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            (a[0].id.clone(), None),
            (a[1].id.clone(), Some(a[0].id.clone())),
            (b[0].id.clone(), Some(a[1].id.clone())),
        ]
    );
    assert!(s.remove_listener(id));
    s.append(b"d", vec![ev("4")], ExpectedVersion::Any).unwrap();
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[test]
fn appends_after_close_fail_cleanly() {
    let s = Store::in_memory();
    s.append(b"c", vec![ev("a")], ExpectedVersion::Any).unwrap();
    s.close().unwrap();
    assert!(matches!(
        s.append(b"c", vec![ev("b")], ExpectedVersion::Any),
        Err(Error::Closed)
    ));
    assert_eq!(s.read_log_vec(0, 10).unwrap().len(), 1);
}

#[test]
fn streams_are_listed_in_name_order_a_page_at_a_time() {
    for (name, store, _dir) in crate::backends() {
        for s in ["b", "a", "ab", "c", "a"] {
            store
                .append(s.as_bytes(), vec![crate::ev("x")], ExpectedVersion::Any)
                .unwrap();
        }
        let page = |after: &[u8], limit: usize| {
            let mut out = Vec::new();
            store
                .list_streams(after, limit, |n, h| {
                    out.push((
                        String::from_utf8(n.to_vec()).unwrap(),
                        h.version,
                        h.position,
                    ));
                    true
                })
                .unwrap();
            out
        };
        let all = page(b"", 100);
        assert_eq!(
            all,
            vec![
                ("a".to_string(), 1, 4),
                ("ab".to_string(), 0, 2),
                ("b".to_string(), 0, 0),
                ("c".to_string(), 0, 3)
            ],
            "{name}"
        );
        assert_eq!(page(b"", 2), all[..2], "{name}");
        assert_eq!(page(b"ab", 2), all[2..], "{name}");
        assert_eq!(page(b"aa", 1), all[1..2], "{name}");
        assert!(page(b"c", 5).is_empty(), "{name}");
        assert!(page(b"", 0).is_empty(), "{name}");
    }
}
