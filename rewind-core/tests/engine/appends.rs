//! Appends with event types and metadata, to several streams at once, and
//! sent again (retries), on both backends.

use std::sync::{Arc, Mutex};

use rewind_core::{
    Appended, Error, Event, ExpectedVersion, NewEvent, Store, StreamAppend, MAX_TYPE_LEN,
};

use crate::{backends, ev};

use ExpectedVersion::{Any, Exact, NoStream, StreamExists};

fn part(stream: &str, events: Vec<NewEvent>, expected: ExpectedVersion) -> StreamAppend {
    StreamAppend::new(stream, events, expected)
}

fn given(id: &str, data: &str) -> NewEvent {
    NewEvent::with_id(id, data)
}

/// Every event a listener was told of, with the previous id it was given.
type Seen = Arc<Mutex<Vec<(Event, Option<Vec<u8>>)>>>;

/// What a listener registered at position `from` was told.
struct Told {
    seen: Seen,
    from: u64,
}

/// Registers a listener that records what it is told.
fn record_commits(s: &Store) -> Told {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2: Seen = seen.clone();
    s.add_listener(Box::new(move |batch| {
        for append in batch.iter() {
            for (e, prev) in append.iter() {
                s2.lock()
                    .unwrap()
                    .push((e.to_owned(), prev.map(<[u8]>::to_vec)));
            }
        }
    }));
    Told {
        seen,
        from: s.next_position().unwrap(),
    }
}

impl Told {
    /// What the listener was told of the commits since it was registered,
    /// once it has heard of every commit up to the log's head now (a
    /// PostgreSQL store's follower tells its listeners after the
    /// appenders are acknowledged, and may tell them of commits from just
    /// before the registration).
    fn told(&self, s: &Store) -> Vec<(Event, Option<Vec<u8>>)> {
        let head = s.next_position().unwrap();
        crate::wait_until("the listener hears every commit", || {
            head <= self.from
                || self
                    .seen
                    .lock()
                    .unwrap()
                    .last()
                    .is_some_and(|(e, _)| e.position + 1 >= head)
        });
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|(e, _)| e.position >= self.from)
            .cloned()
            .collect()
    }
}

fn at(a: &[Appended]) -> Vec<(String, u64, u64)> {
    a.iter()
        .map(|a| {
            (
                String::from_utf8(a.stream.clone()).unwrap(),
                a.version,
                a.position,
            )
        })
        .collect()
}

fn dup_id(r: rewind_core::Result<Vec<Appended>>) -> String {
    match r {
        Err(Error::DuplicateId(id)) => String::from_utf8(id).unwrap(),
        other => panic!("expected a duplicate id, got {other:?}"),
    }
}

#[test]
fn types_and_metadata_round_trip_through_every_read() {
    for (name, s, _d) in backends() {
        let typed = NewEvent::with_id("e1", "{\"total\":12}")
            .with_type("OrderPlaced")
            .with_metadata(vec![0u8, 0xFF, 1]);
        let long_type = "\u{e9}".repeat(MAX_TYPE_LEN / 2); // 254 bytes of UTF-8
        let others = vec![
            ev("plain"),
            NewEvent::new("meta only").with_metadata("m"),
            NewEvent::new("").with_type(long_type.as_str()),
        ];
        s.append(b"orders", vec![typed], NoStream).unwrap();
        s.append(b"orders", others, Exact(0)).unwrap();
        let log = s.read_log_vec(0, 10).unwrap();
        let summary: Vec<(&[u8], &[u8], &[u8])> = log
            .iter()
            .map(|e| (&e.event_type[..], &e.metadata[..], &e.data[..]))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    &b"OrderPlaced"[..],
                    &[0u8, 0xFF, 1][..],
                    &b"{\"total\":12}"[..]
                ),
                (b"", b"", b"plain"),
                (b"", b"m", b"meta only"),
                (long_type.as_bytes(), b"", b""),
            ],
            "{name}"
        );
        assert_eq!(s.read_stream_vec(b"orders", 0, 10).unwrap(), log, "{name}");
        assert_eq!(s.get(b"e1").unwrap().as_ref(), Some(&log[0]), "{name}");
        let mut visited = None;
        s.visit_id(b"e1", |e| {
            visited = Some((e.event_type.to_vec(), e.metadata.to_vec()))
        })
        .unwrap();
        assert_eq!(
            visited,
            Some((b"OrderPlaced".to_vec(), vec![0, 0xFF, 1])),
            "{name}"
        );
        let mut queried = Vec::new();
        s.query(b"orders", Some(b"e1"), None, 10, |e| {
            queried.push(e.to_owned());
            true
        })
        .unwrap();
        assert_eq!(queried, log[1..], "{name}");
        let mut back = s.read_log_backward_vec(None, 10).unwrap();
        back.reverse();
        assert_eq!(back, log, "{name}");
    }
}

#[test]
fn types_and_metadata_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let s = Store::open_lmdb(&path).unwrap();
    let e = NewEvent::with_id("k", "d")
        .with_type("T")
        .with_metadata(vec![7u8; 300]);
    s.append(b"s", vec![e], Any).unwrap();
    let before = s.read_log_vec(0, 10).unwrap();
    s.close().unwrap();
    drop(s);
    let s = Store::open_lmdb(&path).unwrap();
    assert_eq!(s.read_log_vec(0, 10).unwrap(), before);
    assert_eq!(before[0].event_type, b"T");
    assert_eq!(before[0].metadata, vec![7u8; 300]);
}

#[test]
fn a_type_too_long_or_not_utf8_is_refused() {
    for (name, s, _d) in backends() {
        let bad_types: Vec<Vec<u8>> = vec![
            vec![b't'; MAX_TYPE_LEN + 1],
            format!("{}\u{e9}", "t".repeat(254)).into_bytes(), // 256 bytes
            b"caf\xe9".to_vec(),
            vec![0xC3],
        ];
        for t in bad_types {
            let r = s.append(b"s", vec![ev("ok"), ev("x").with_type(t.clone())], Any);
            assert!(
                matches!(r, Err(Error::InvalidArgument(ref m)) if m.contains("event type")),
                "{name}: type {t:?}: {r:?}"
            );
            let multi = s.append_multi(vec![
                part("fine", vec![ev("a")], Any),
                part("s", vec![ev("x").with_type(t.clone())], Any),
            ]);
            assert!(matches!(multi, Err(Error::InvalidArgument(_))), "{name}");
        }
        let longest = vec![b't'; MAX_TYPE_LEN];
        s.append(b"s", vec![ev("x").with_type(longest.clone())], Any)
            .unwrap();
        assert_eq!(s.next_position().unwrap(), 1, "{name}: only the valid one");
        assert_eq!(s.read_log_vec(0, 1).unwrap()[0].event_type, longest);
    }
}

#[test]
fn an_append_to_several_streams_lands_whole_at_consecutive_positions() {
    for (name, s, _d) in backends() {
        s.append(b"a", vec![ev("a0")], NoStream).unwrap();
        let seen = record_commits(&s);
        let done = s
            .append_multi(vec![
                part("b", vec![ev("b0"), ev("b1")], NoStream),
                part("a", vec![ev("a1").with_type("T")], Exact(0)),
                part("c", vec![ev("c0")], Any),
            ])
            .unwrap();
        assert_eq!(
            at(&done),
            [
                ("b".into(), 0, 1),
                ("b".into(), 1, 2),
                ("a".into(), 1, 3),
                ("c".into(), 0, 4)
            ],
            "{name}"
        );
        let log = s.read_log_vec(0, 10).unwrap();
        let ids: Vec<&[u8]> = log.iter().map(|e| e.id.as_slice()).collect();
        let want: Vec<&[u8]> = std::iter::once(&log[0].id[..])
            .chain(done.iter().map(|a| &a.id[..]))
            .collect();
        assert_eq!(ids, want, "{name}");
        assert_eq!(s.stream_head(b"a").unwrap().unwrap().id, done[2].id);
        assert_eq!(s.stream_head(b"b").unwrap().unwrap().version, 1);
        // Listeners see it once, each event with the previous one of its
        // stream.
        let seen = seen.told(&s);
        let told: Vec<(&[u8], Option<&[u8]>)> = seen
            .iter()
            .map(|(e, prev)| (&e.id[..], prev.as_deref()))
            .collect();
        assert_eq!(
            told,
            [
                (&done[0].id[..], None),
                (&done[1].id[..], Some(&done[0].id[..])),
                (&done[2].id[..], Some(&log[0].id[..])),
                (&done[3].id[..], None),
            ],
            "{name}"
        );
        assert_eq!(seen[2].0.event_type, b"T");
    }
}

#[test]
fn a_conflict_on_one_stream_writes_nothing_on_any() {
    for (name, s, _d) in backends() {
        s.append(b"a", vec![ev("a0")], NoStream).unwrap();
        s.append(b"b", vec![ev("b0")], NoStream).unwrap();
        let seen = record_commits(&s);
        let cases = [
            (Exact(0), Exact(5), "b", Some(0)),
            (NoStream, Exact(0), "a", Some(0)),
            (Exact(0), StreamExists, "c", None),
        ];
        for (a, c, stream, actual) in cases {
            let r = s.append_multi(vec![
                part("a", vec![given("x1", "1")], a),
                part(
                    if stream == "b" { "b" } else { "c" },
                    vec![given("x2", "2")],
                    c,
                ),
            ]);
            match r {
                Err(Error::WrongExpectedVersion {
                    stream: st,
                    actual: act,
                    ..
                }) => assert_eq!((st, act), (stream.as_bytes().to_vec(), actual), "{name}"),
                other => panic!("{name}: expected a conflict, got {other:?}"),
            }
        }
        assert_eq!(s.next_position().unwrap(), 2, "{name}");
        assert!(s.get(b"x1").unwrap().is_none() && s.get(b"x2").unwrap().is_none());
        assert!(s.stream_head(b"c").unwrap().is_none(), "{name}");
        assert!(seen.told(&s).is_empty(), "{name}: nothing to tell");
        // The same ids are free for an append that fits.
        let ok = s
            .append_multi(vec![
                part("a", vec![given("x1", "1")], Exact(0)),
                part("c", vec![given("x2", "2")], NoStream),
            ])
            .unwrap();
        assert_eq!(at(&ok), [("a".into(), 1, 2), ("c".into(), 0, 3)], "{name}");
    }
}

#[test]
fn a_duplicate_id_in_one_part_refuses_every_part() {
    for (name, s, _d) in backends() {
        s.append(b"a", vec![given("taken", "t")], Any).unwrap();
        let r = s.append_multi(vec![
            part("b", vec![given("new", "n")], Any),
            part("c", vec![given("new2", "n"), given("taken", "other")], Any),
        ]);
        assert_eq!(dup_id(r), "taken", "{name}");
        let twice = s.append_multi(vec![
            part("b", vec![given("same", "n")], Any),
            part("c", vec![given("same", "n")], Any),
        ]);
        assert_eq!(dup_id(twice), "same", "{name}");
        assert_eq!(s.next_position().unwrap(), 1, "{name}");
    }
}

#[test]
fn a_stream_named_twice_or_an_empty_append_is_invalid() {
    for (name, s, _d) in backends() {
        let twice = s.append_multi(vec![
            part("a", vec![ev("1")], Any),
            part("b", vec![ev("2")], Any),
            part("a", vec![ev("3")], Any),
        ]);
        match twice {
            Err(Error::InvalidArgument(m)) => assert!(m.contains("stream a is named twice"), "{m}"),
            other => panic!("{name}: {other:?}"),
        }
        let empties = [
            s.append_multi(vec![]),
            s.append_multi(vec![part("a", vec![ev("1")], Any), part("b", vec![], Any)]),
            s.append_multi(vec![part("a", vec![], Any)]),
            s.append(b"a", vec![], Any),
            s.append_multi(vec![part("", vec![ev("1")], Any)]),
        ];
        for r in empties {
            assert!(matches!(r, Err(Error::InvalidArgument(_))), "{name}: {r:?}");
        }
        assert_eq!(s.next_position().unwrap(), 0, "{name}");
    }
}

#[test]
fn a_retry_returns_the_original_positions_and_writes_nothing() {
    for (name, s, _d) in backends() {
        s.append(b"a", vec![ev("a0")], NoStream).unwrap();
        let request = vec![
            part(
                "a",
                vec![
                    given("r1", "1").with_type("T").with_metadata("m"),
                    given("r2", "2"),
                ],
                Exact(0),
            ),
            part("b", vec![given("r3", "3")], NoStream),
        ];
        let first = s.append_multi(request.clone()).unwrap();
        s.append(b"a", vec![ev("later")], Any).unwrap();
        s.append(b"b", vec![ev("later")], Any).unwrap();
        let next = s.next_position().unwrap();
        let log = s.read_log_vec(0, 100).unwrap();
        let seen = record_commits(&s);
        let appends_before = s
            .metrics()
            .events_appended
            .load(std::sync::atomic::Ordering::Relaxed);

        // As it was: the same answer, though both streams moved on.
        assert_eq!(s.append_multi(request.clone()).unwrap(), first, "{name}");
        // Only the first part, through the one-stream form.
        let one = s.append(b"a", request[0].events.clone(), Exact(0)).unwrap();
        assert_eq!(one, first[..2], "{name}");
        // Its parts the other way round.
        let mut reversed = request.clone();
        reversed.reverse();
        let again = s.append_multi(reversed).unwrap();
        assert_eq!(
            again,
            [first[2].clone(), first[0].clone(), first[1].clone()]
        );
        // A prefix of a part, expecting any version.
        let prefix = s
            .append(b"a", vec![request[0].events[0].clone()], Any)
            .unwrap();
        assert_eq!(prefix, first[..1], "{name}");

        assert_eq!(s.next_position().unwrap(), next, "{name}: nothing written");
        assert_eq!(s.read_log_vec(0, 100).unwrap(), log, "{name}");
        assert!(seen.told(&s).is_empty(), "{name}: nothing told");
        assert_eq!(
            s.metrics()
                .events_appended
                .load(std::sync::atomic::Ordering::Relaxed),
            appends_before,
            "{name}"
        );
    }
}

#[test]
fn a_retry_that_shares_a_commit_with_its_original_finds_it() {
    for (name, s, _d) in backends() {
        let seen = record_commits(&s);
        // Many copies of one append at once: the first to be planned
        // writes, the others are retries of it, in the same commit or later.
        let request = vec![
            part("a", vec![given("c1", "1"), given("c2", "2")], NoStream),
            part("b", vec![given("c3", "3")], Any),
        ];
        let rxs: Vec<_> = (0..20)
            .map(|_| {
                let (tx, rx) = std::sync::mpsc::channel();
                s.append_multi_async(
                    request.clone(),
                    Box::new(move |r| {
                        let _ = tx.send(r);
                    }),
                );
                rx
            })
            .collect();
        let results: Vec<_> = rxs
            .into_iter()
            .map(|rx| rx.recv().unwrap().unwrap())
            .collect();
        assert!(results.iter().all(|r| *r == results[0]), "{name}");
        assert_eq!(
            at(&results[0]),
            [("a".into(), 0, 0), ("a".into(), 1, 1), ("b".into(), 0, 2)]
        );
        assert_eq!(s.next_position().unwrap(), 3, "{name}");
        assert_eq!(seen.told(&s).len(), 3, "{name}: told once");
    }
}

#[test]
fn a_partial_overlap_or_a_changed_event_is_a_duplicate_id() {
    for (name, s, _d) in backends() {
        s.append_multi(vec![
            part(
                "a",
                vec![given("p1", "1").with_type("T"), given("p2", "2")],
                NoStream,
            ),
            part("b", vec![given("p3", "3").with_metadata("m")], NoStream),
        ])
        .unwrap();
        let next = s.next_position().unwrap();
        let cases: Vec<(Vec<StreamAppend>, &str)> = vec![
            // some stored, some new
            (
                vec![part("a", vec![given("p2", "2"), given("new", "n")], Any)],
                "p2",
            ),
            (
                vec![part("a", vec![given("new", "n"), given("p1", "1")], Any)],
                "p1",
            ),
            (
                vec![
                    part("a", vec![given("p1", "1").with_type("T")], NoStream),
                    part("c", vec![given("new", "n")], Any),
                ],
                "p1",
            ),
            // all stored, one changed: data, type, metadata, stream, version
            (
                vec![part(
                    "a",
                    vec![given("p1", "1").with_type("T"), given("p2", "X")],
                    NoStream,
                )],
                "p2",
            ),
            (vec![part("a", vec![given("p1", "1")], NoStream)], "p1"),
            (vec![part("b", vec![given("p3", "3")], NoStream)], "p3"),
            (
                vec![part("a", vec![given("p3", "3").with_metadata("m")], Any)],
                "p3",
            ),
            (
                vec![part(
                    "a",
                    vec![given("p2", "2"), given("p1", "1").with_type("T")],
                    Any,
                )],
                "p1",
            ),
        ];
        for (i, (req, id)) in cases.into_iter().enumerate() {
            assert_eq!(dup_id(s.append_multi(req)), id, "{name}: case {i}");
        }
        // All stored but at versions the request does not allow (which it
        // would conflict with besides): a duplicate too.
        for expected in [Exact(5), NoStream, Exact(1)] {
            let r = s.append(b"a", vec![given("p2", "2")], expected);
            assert_eq!(dup_id(r), "p2", "{name}: {expected:?}");
        }
        // A new id with a conflict is the conflict.
        let r = s.append(b"a", vec![given("new", "2")], Exact(0));
        assert!(
            matches!(r, Err(Error::WrongExpectedVersion { .. })),
            "{name}: {r:?}"
        );
        assert_eq!(s.next_position().unwrap(), next, "{name}");
    }
}
