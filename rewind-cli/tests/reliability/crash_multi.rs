//! Crash durability of multi-stream appends: a helper process (this test
//! binary run again on one hidden test, as `multiprocess` does) embeds an
//! LMDB store and appends to several streams at once from several threads,
//! printing each acknowledged (and each refused) append on stdout. The test
//! SIGKILLs it at random moments, again and again on the same directory,
//! and after every kill opens the store and checks it: every append is all
//! or nothing (each event's id names its append, its part and how many
//! parts and events the append has), every acknowledged append is there at
//! the positions it was given, no refused one is, positions and versions
//! are contiguous, no id is stored twice, and what was stored before a kill
//! is still there after the next.
//!
//! Fast: `cargo test -p rewind-cli --test reliability crash_multi::` (15 kills).
//! Long: `REWIND_CRASH_MULTI_KILLS=500 cargo test --release -p rewind-cli
//! --test reliability crash_multi::` (`REWIND_CRASH_MULTI_MAX_RUN_MS`, default
//! 300, bounds how long the helper runs between kills; `REWIND_SEED` replays).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use rewind_core::{Error, Event, ExpectedVersion, NewEvent, Store, StreamAppend};
use rewind_testkit::prelude::*;

/// The streams the helper's appends share.
const STREAMS: u64 = 5;
/// The helper's writer threads.
const WRITERS: u64 = 4;

fn fnv(bytes: &[u8], h: u64) -> u64 {
    bytes
        .iter()
        .fold(h, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// The data of an event: its id, then padding whose length the id decides.
fn data_for(id: &str) -> Vec<u8> {
    let h = fnv(id.as_bytes(), 0xcbf2_9ce4_8422_2325);
    let mut d = format!("{id}|").into_bytes();
    d.resize(d.len() + (h % 400) as usize, b'a' + (h % 26) as u8);
    d
}

/// A digest of everything stored of an event, to compare the log across
/// kills without keeping it.
fn digest(e: &Event) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325;
    for f in [&e.id, &e.stream, &e.event_type, &e.metadata, &e.data] {
        h = fnv(f, fnv(&(f.len() as u64).to_le_bytes(), h));
    }
    fnv(&e.version.to_le_bytes(), fnv(&e.position.to_le_bytes(), h))
}

/// An event id: `KEY/pP.PARTS/eI.EVENTS/nTOTAL`, where KEY names the append,
/// P is the part (of PARTS), I the event in its part (of EVENTS in the
/// part), and TOTAL the events of the whole append.
struct IdParts {
    key: String,
    part: usize,
    parts: usize,
    event: usize,
    events: usize,
    total: usize,
}

fn parse_id(id: &[u8]) -> IdParts {
    let text = std::str::from_utf8(id).expect("ids are text");
    let f: Vec<&str> = text.split('/').collect();
    assert_eq!(f.len(), 4, "an id the helper did not write: {text}");
    let pair = |s: &str, tag: char| -> (usize, usize) {
        let (a, b) = s.strip_prefix(tag).unwrap().split_once('.').unwrap();
        (a.parse().unwrap(), b.parse().unwrap())
    };
    let (part, parts) = pair(f[1], 'p');
    let (event, events) = pair(f[2], 'e');
    IdParts {
        key: f[0].to_string(),
        part,
        parts,
        event,
        events,
        total: f[3].strip_prefix('n').unwrap().parse().unwrap(),
    }
}

/// The helper: with `REWIND_HELPER_MULTI_WRITER=DIR` and
/// `REWIND_HELPER_MULTI_LIFE=N`, opens the LMDB store in DIR and appends to
/// several streams at once from several threads until it is killed,
/// printing `ack KEY FIRST COUNT end` for each acknowledged append and
/// `refused KEY end` for each refused one. Without the variables it does
/// nothing.
#[test]
fn helper_embedded_writer_appends_to_several_streams() {
    let _turn = crate::TURNS.take(module_path!());
    let Ok(dir) = std::env::var("REWIND_HELPER_MULTI_WRITER") else {
        return;
    };
    let life: u64 = std::env::var("REWIND_HELPER_MULTI_LIFE")
        .unwrap()
        .parse()
        .unwrap();
    let store = Store::open_lmdb(&dir).unwrap();
    println!("writing");
    std::io::stdout().flush().unwrap();
    let threads: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            thread::spawn(move || {
                let mut rng = Rng::new(life << 8 | w);
                for n in 0.. {
                    let key = format!("L{life}-W{w}-A{n}");
                    let mut streams: Vec<u64> = (0..STREAMS).collect();
                    for i in (1..streams.len()).rev() {
                        streams.swap(i, rng.below(i as u64 + 1) as usize);
                    }
                    streams.truncate(1 + rng.below(3) as usize);
                    let sizes: Vec<usize> =
                        streams.iter().map(|_| 1 + rng.below(4) as usize).collect();
                    let total: usize = sizes.iter().sum();
                    let exact = rng.below(2) == 0;
                    let parts: Vec<StreamAppend> = streams
                        .iter()
                        .zip(&sizes)
                        .enumerate()
                        .map(|(p, (s, &size))| {
                            let stream = format!("multi-{s}");
                            let expected = if exact {
                                match store.stream_head(stream.as_bytes()).unwrap() {
                                    Some(h) => ExpectedVersion::Exact(h.version),
                                    None => ExpectedVersion::NoStream,
                                }
                            } else {
                                ExpectedVersion::Any
                            };
                            let events = (0..size)
                                .map(|i| {
                                    let id = format!(
                                        "{key}/p{p}.{}/e{i}.{size}/n{total}",
                                        streams.len()
                                    );
                                    let data = data_for(&id);
                                    NewEvent::with_id(id, data).with_type(format!("Part{p}"))
                                })
                                .collect();
                            StreamAppend::new(stream, events, expected)
                        })
                        .collect();
                    match store.append_multi(parts) {
                        Ok(done) => {
                            assert_eq!(done.len(), total);
                            println!("ack {key} {} {total} end", done[0].position);
                        }
                        Err(Error::WrongExpectedVersion { .. }) => println!("refused {key} end"),
                        Err(e) => panic!("append {key}: {e}"),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// What the helpers reported, across all their lives.
#[derive(Default)]
struct Reports {
    /// Acknowledged appends: key → (first position, event count).
    acked: HashMap<String, (u64, usize)>,
    /// Refused appends.
    refused: Vec<String>,
}

impl Reports {
    fn take(&mut self, line: &str) {
        let f: Vec<&str> = line.split(' ').collect();
        match f.as_slice() {
            ["ack", key, first, count, "end"] => {
                let prev = self.acked.insert(
                    key.to_string(),
                    (first.parse().unwrap(), count.parse().unwrap()),
                );
                assert!(prev.is_none(), "{key} acknowledged twice");
            }
            ["refused", key, "end"] => self.refused.push(key.to_string()),
            // A line cut short by the kill acknowledges nothing.
            _ => {}
        }
    }
}

/// Checks the store in `dir` after a kill, against what the helpers
/// reported and the digests of the log after the previous kill; returns the
/// log's digests and how many multi-stream appends it holds.
fn check_store(dir: &Path, reports: &Reports, prev_log: &[u64], label: &str) -> (Vec<u64>, usize) {
    let store = Store::open_lmdb(dir).unwrap();
    let log = store.read_log_vec(0, usize::MAX).unwrap();
    for (p, e) in log.iter().enumerate() {
        assert_eq!(e.position, p as u64, "{label}: positions contiguous from 0");
    }
    assert_eq!(store.next_position().unwrap(), log.len() as u64, "{label}");
    let digests: Vec<u64> = log.iter().map(digest).collect();
    assert!(
        digests.len() >= prev_log.len() && digests[..prev_log.len()] == *prev_log,
        "{label}: what was stored before the kill is still there, unchanged"
    );

    // Every append all or nothing, its events consecutive in request order.
    let mut appends: BTreeMap<String, Vec<&Event>> = BTreeMap::new();
    for e in &log {
        let key = parse_id(&e.id).key;
        appends.entry(key).or_default().push(e);
    }
    for (key, events) in &appends {
        let first = parse_id(&events[0].id);
        assert_eq!(
            events.len(),
            first.total,
            "{label}: append {key} is partly stored"
        );
        let mut want = (0, 0);
        for (k, e) in events.iter().enumerate() {
            let id = parse_id(&e.id);
            assert_eq!(e.position, events[0].position + k as u64, "{label}: {key}");
            assert_eq!((id.part, id.event), want, "{label}: {key} in request order");
            assert_eq!((id.parts, id.total), (first.parts, first.total), "{label}");
            assert_eq!(e.data, data_for(std::str::from_utf8(&e.id).unwrap()));
            assert_eq!(e.event_type, format!("Part{}", id.part).as_bytes());
            want = if id.event + 1 == id.events {
                (id.part + 1, 0)
            } else {
                (id.part, id.event + 1)
            };
        }
        assert_eq!(want, (first.parts, 0), "{label}: {key} has every part");
    }
    let ids = log
        .iter()
        .map(|e| e.id.as_slice())
        .collect::<std::collections::HashSet<_>>();
    assert_eq!(ids.len(), log.len(), "{label}: no id stored twice");

    for (key, (first, count)) in &reports.acked {
        let events = appends
            .get(key)
            .unwrap_or_else(|| panic!("{label}: acknowledged append {key} LOST"));
        assert_eq!(
            (events[0].position, events.len()),
            (*first, *count),
            "{label}: {key} where it was acknowledged"
        );
    }
    for key in &reports.refused {
        assert!(!appends.contains_key(key), "{label}: refused {key} stored");
    }

    // Every stream: versions contiguous, the same events as in the log.
    for s in 0..STREAMS {
        let name = format!("multi-{s}");
        let events = store
            .read_stream_vec(name.as_bytes(), 0, usize::MAX)
            .unwrap();
        let in_log: Vec<&Event> = log.iter().filter(|e| e.stream == name.as_bytes()).collect();
        assert_eq!(events.len(), in_log.len(), "{label}: {name}");
        for (v, (e, l)) in events.iter().zip(in_log).enumerate() {
            assert_eq!(e.version, v as u64, "{label}: {name} versions contiguous");
            assert_eq!(e, l, "{label}: {name}");
        }
    }
    store.close().unwrap();
    let multi = appends
        .values()
        .filter(|events| parse_id(&events[0].id).parts > 1)
        .count();
    (digests, multi)
}

#[test]
fn multi_stream_appends_are_all_or_nothing_across_sigkills() {
    let _turn = crate::TURNS.take(module_path!());
    let kills = env_usize("REWIND_CRASH_MULTI_KILLS", 15);
    let max_run_ms = env_usize("REWIND_CRASH_MULTI_MAX_RUN_MS", 300) as u64;
    let mut rng = Rng::from_env("crash-multi");
    let dir = tempdir("crash-multi");
    let store_dir = dir.path().join("store");
    let helper_name = concat!(
        module_path!(),
        "::helper_embedded_writer_appends_to_several_streams"
    )
    .split_once("::")
    .unwrap()
    .1;
    let started = Instant::now();
    let mut reports = Reports::default();
    let mut log = Vec::new();
    let mut multi = 0;
    let mut killed_writing = 0;
    for life in 0..kills {
        let mut helper = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", helper_name, "--nocapture"])
            .env("REWIND_HELPER_MULTI_WRITER", &store_dir)
            .env("REWIND_HELPER_MULTI_LIFE", life.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = helper.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line == "writing" {
                    let _ = tx.send(());
                }
                lines.push(line);
            }
            lines
        });
        // Now and then a kill while the store opens; else once it writes.
        if rng.below(5) == 0 {
            thread::sleep(Duration::from_millis(rng.below(30)));
        } else {
            rx.recv_timeout(Duration::from_secs(60))
                .expect("the helper never started writing");
            thread::sleep(Duration::from_millis(rng.below(max_run_ms)));
            killed_writing += 1;
        }
        if let Some(status) = helper.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut helper.stderr.take().unwrap(), &mut err).unwrap();
            panic!("the helper exited by itself ({status}): {err}");
        }
        helper.kill().unwrap();
        helper.wait().unwrap();
        for line in reader.join().unwrap() {
            reports.take(&line);
        }
        (log, multi) = check_store(&store_dir, &reports, &log, &format!("after kill {life}"));
    }
    assert!(
        killed_writing > 0 || kills < 3,
        "no kill hit the helper writing"
    );
    assert!(
        !reports.acked.is_empty() && multi > 0,
        "the helpers never acknowledged an append"
    );
    eprintln!(
        "[crash-multi] {kills} SIGKILLs ({killed_writing} while writing) in {:?}: \
         {} appends acknowledged ({} refused), {} events, {} multi-stream appends checked",
        started.elapsed(),
        reports.acked.len(),
        reports.refused.len(),
        log.len(),
        multi
    );
}
