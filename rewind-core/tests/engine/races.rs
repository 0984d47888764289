//! Racing writers never leave partial state: thousands of short trials on
//! both backends, each with several threads saving "two aggregates at once"
//! (an append to two or three overlapping streams, each with the exact
//! version its writer read just before), then a check of the store against
//! what the writers were told: every stream's versions contiguous, every
//! successful append whole at the positions it was given and at the
//! versions its expected versions promised, every refused append wholly
//! absent, and the log exactly the union of the successful appends.
//!
//! Long: `RACE_TRIALS=20000 cargo test --release -p rewind-core --test engine races::`
//! (`RACE_TRIALS` is the number of trials per backend; `REWIND_SEED`
//! replays a run).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Barrier, Mutex};

use rewind_core::{Appended, Error, Event, ExpectedVersion, NewEvent, Store, StreamAppend};
use rewind_testkit::env::{env_usize, Rng};

use crate::backends;

/// Threads racing in each trial.
const WRITERS: usize = 4;
/// Streams each trial shares among its writers.
const STREAMS: usize = 3;

/// One append a writer sent, and what the store answered.
struct Attempt {
    parts: Vec<StreamAppend>,
    /// The stream heads the writer read before sending (`None`: no stream).
    read: Vec<Option<u64>>,
    outcome: std::result::Result<Vec<Appended>, Error>,
}

fn expected_from(head: Option<u64>) -> ExpectedVersion {
    match head {
        None => ExpectedVersion::NoStream,
        Some(v) => ExpectedVersion::Exact(v),
    }
}

/// One writer's append in one trial: reads the heads of the streams it
/// picked, then (after the barrier, when `barrier` is set, so that the
/// writers collide) appends to all of them at those exact versions.
fn write_once(
    store: &Store,
    trial: usize,
    writer: usize,
    round: usize,
    rng: &mut Rng,
    streams: &[String],
    barrier: Option<&Barrier>,
) -> Attempt {
    // Two or three of the trial's streams, in a random order.
    let mut picked: Vec<&String> = streams.iter().collect();
    for i in (1..picked.len()).rev() {
        picked.swap(i, rng.below(i as u64 + 1) as usize);
    }
    picked.truncate(2 + rng.below(2) as usize);
    let read: Vec<Option<u64>> = picked
        .iter()
        .map(|s| store.stream_head(s.as_bytes()).unwrap().map(|h| h.version))
        .collect();
    let parts: Vec<StreamAppend> = picked
        .iter()
        .zip(&read)
        .enumerate()
        .map(|(p, (s, head))| {
            let n = 1 + rng.below(3) as usize;
            let events = (0..n)
                .map(|i| {
                    NewEvent::with_id(
                        format!("t{trial}-w{writer}-r{round}-p{p}-e{i}"),
                        format!("{s} from writer {writer} round {round} event {i}"),
                    )
                    .with_type(format!("Part{p}"))
                })
                .collect();
            StreamAppend::new(s.as_bytes(), events, expected_from(*head))
        })
        .collect();
    if let Some(b) = barrier {
        b.wait();
    }
    let outcome = store.append_multi(parts.clone());
    Attempt {
        parts,
        read,
        outcome,
    }
}

/// The version the first event of a part must get when its append succeeds
/// as a new append.
fn first_version(expected: ExpectedVersion) -> u64 {
    match expected {
        ExpectedVersion::NoStream => 0,
        ExpectedVersion::Exact(v) => v + 1,
        other => panic!("the races only use exact expectations, not {other:?}"),
    }
}

/// Checks the store against the attempts of one trial, whose events are the
/// log from position `start` on.
fn check_trial(name: &str, store: &Store, trial: usize, start: u64, attempts: &[Attempt]) {
    let ctx = format!("{name}, trial {trial}");
    let log = store.read_log_vec(start, usize::MAX).unwrap();
    for (i, e) in log.iter().enumerate() {
        assert_eq!(
            e.position,
            start + i as u64,
            "{ctx}: log positions contiguous"
        );
    }
    let by_id: HashMap<&[u8], &Event> = log.iter().map(|e| (e.id.as_slice(), e)).collect();
    assert_eq!(by_id.len(), log.len(), "{ctx}: ids unique in the log");

    let mut expected_log: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut successes = 0;
    for a in attempts {
        let sent: Vec<(&[u8], &NewEvent)> = a
            .parts
            .iter()
            .flat_map(|p| p.events.iter().map(move |e| (p.stream.as_slice(), e)))
            .collect();
        match &a.outcome {
            Ok(done) => {
                successes += 1;
                assert_eq!(done.len(), sent.len(), "{ctx}: one answer per event");
                // A new append takes consecutive positions, part after part.
                for (k, d) in done.iter().enumerate() {
                    assert_eq!(d.position, done[0].position + k as u64, "{ctx}");
                }
                let mut k = 0;
                for p in &a.parts {
                    let v0 = first_version(p.expected);
                    for (i, e) in p.events.iter().enumerate() {
                        let d = &done[k];
                        k += 1;
                        let id = e.id.as_deref().unwrap();
                        assert_eq!((&d.id[..], &d.stream[..]), (id, &p.stream[..]), "{ctx}");
                        assert_eq!(d.version, v0 + i as u64, "{ctx}: version as expected");
                        let stored = by_id.get(id).unwrap_or_else(|| {
                            panic!("{ctx}: acknowledged event {} missing", d.position)
                        });
                        assert_eq!(
                            (
                                stored.position,
                                stored.version,
                                &stored.stream,
                                &stored.data
                            ),
                            (d.position, d.version, &p.stream, &e.data),
                            "{ctx}: event stored where it was acknowledged"
                        );
                        assert_eq!(stored.event_type, e.event_type, "{ctx}");
                        assert_eq!(store.get(id).unwrap().as_ref(), Some(*stored), "{ctx}");
                        assert!(
                            expected_log.insert(d.position, id.to_vec()).is_none(),
                            "{ctx}: two appends given position {}",
                            d.position
                        );
                    }
                }
            }
            Err(Error::WrongExpectedVersion { .. }) => {
                for (_, e) in &sent {
                    let id = e.id.as_deref().unwrap();
                    assert!(
                        !by_id.contains_key(id) && !store.contains(id).unwrap(),
                        "{ctx}: an event of a refused append was stored: {}",
                        String::from_utf8_lossy(id)
                    );
                }
                // A refusal is only right if some stream had moved on.
                let moved = a.parts.iter().zip(&a.read).any(|(p, r)| {
                    log.iter()
                        .any(|e| e.stream == p.stream && (r.is_none() || Some(e.version) > *r))
                });
                assert!(moved, "{ctx}: refused though no stream it read had moved");
            }
            Err(e) => panic!("{ctx}: unexpected error {e}"),
        }
    }
    assert!(successes > 0, "{ctx}: some append of each trial succeeds");
    let actual: BTreeMap<u64, Vec<u8>> = log.iter().map(|e| (e.position, e.id.clone())).collect();
    assert_eq!(
        actual, expected_log,
        "{ctx}: the log is the union of the successful appends"
    );

    // Every stream: versions contiguous from 0, heads agreeing.
    let streams: HashSet<&[u8]> = log.iter().map(|e| e.stream.as_slice()).collect();
    for s in streams {
        let events = store.read_stream_vec(s, 0, usize::MAX).unwrap();
        for (v, e) in events.iter().enumerate() {
            assert_eq!(e.version, v as u64, "{ctx}: versions contiguous");
            assert_eq!(Some(e), by_id.get(e.id.as_slice()).copied(), "{ctx}");
        }
        let head = store.stream_head(s).unwrap().unwrap();
        assert_eq!(head.version + 1, events.len() as u64, "{ctx}: stream head");
    }
}

#[test]
fn racing_multi_stream_appends_never_leave_partial_state() {
    let trials = env_usize("RACE_TRIALS", 2000);
    let mut seed_rng = Rng::from_env("races");
    for (name, store, dir) in backends() {
        let started = std::time::Instant::now();
        let mut all_ids: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut conflicts = 0usize;
        for trial in 0..trials {
            let start = store.next_position().unwrap();
            let streams: Vec<String> = (0..STREAMS).map(|s| format!("race-{trial}-{s}")).collect();
            // Some trials start from existing streams, some from none.
            if trial % 3 == 1 {
                for s in &streams[..2] {
                    store
                        .append(
                            s.as_bytes(),
                            vec![NewEvent::with_id(format!("{s}-seed"), "seed")],
                            ExpectedVersion::NoStream,
                        )
                        .unwrap();
                }
            }
            let collide = trial % 4 != 3;
            let rounds = 1 + trial % 3;
            let barrier = Barrier::new(WRITERS);
            let attempts = Mutex::new(Vec::new());
            std::thread::scope(|scope| {
                for w in 0..WRITERS {
                    let mut rng = Rng::new(seed_rng.next_u64());
                    let (store, streams, barrier, attempts) =
                        (&store, &streams, &barrier, &attempts);
                    scope.spawn(move || {
                        for round in 0..rounds {
                            let b = collide.then_some(barrier);
                            let a = write_once(store, trial, w, round, &mut rng, streams, b);
                            attempts.lock().unwrap().push(a);
                        }
                    });
                }
            });
            let mut attempts = attempts.into_inner().unwrap();
            // The seeding appends belong to the trial's log too.
            if trial % 3 == 1 {
                for s in &streams[..2] {
                    let id = format!("{s}-seed");
                    let e = store.get(id.as_bytes()).unwrap().unwrap();
                    attempts.push(Attempt {
                        parts: vec![StreamAppend::new(
                            s.as_bytes(),
                            vec![NewEvent::with_id(id, "seed")],
                            ExpectedVersion::NoStream,
                        )],
                        read: vec![None],
                        outcome: Ok(vec![Appended {
                            id: e.id.clone(),
                            stream: e.stream.clone(),
                            version: e.version,
                            position: e.position,
                        }]),
                    });
                }
            }
            check_trial(name, &store, trial, start, &attempts);
            for a in &attempts {
                match &a.outcome {
                    Ok(done) => all_ids.extend(done.iter().map(|d| (d.position, d.id.clone()))),
                    Err(_) => conflicts += 1,
                }
            }
        }
        assert!(
            conflicts > 0,
            "{name}: the writers never collided, so the test tested nothing"
        );
        eprintln!(
            "[races] {name}: {trials} trials, {} events, {conflicts} refused appends, {:?}",
            all_ids.len(),
            started.elapsed()
        );
        // The whole log, and after a reopen for LMDB, is every success.
        all_ids.sort();
        let check_whole = |s: &Store| {
            let log: Vec<(u64, Vec<u8>)> = s
                .read_log_vec(0, usize::MAX)
                .unwrap()
                .into_iter()
                .map(|e| (e.position, e.id))
                .collect();
            assert_eq!(log, all_ids, "{name}: the whole log");
        };
        check_whole(&store);
        store.close().unwrap();
        if let Some(dir) = dir {
            let reopened = Store::open_lmdb(dir.path().join("db")).unwrap();
            check_whole(&reopened);
        }
    }
}
