//! Crash durability: the real `rewind` binary is killed with SIGKILL at
//! random moments while publishers on both protocols write to it, and
//! restarted on the same LMDB directory, again and again. After every
//! restart the whole store is checked against what the clients were told.
//!
//! Fast: `cargo test -p rewind-cli --test reliability crash::` (20 kills).
//! Long: `scripts/crash-cycles.sh [CYCLES]` (REWIND_CRASH_CYCLES, release build).

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rewind_core::Event;
use rewind_testkit::prelude::*;

use crate::rewind;

const DEFAULT: &[u8] = b"default";
const V2_STREAM: &[u8] = b"crash-v2";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Proto {
    /// A REQ client: one request at a time.
    V1,
    /// A DEALER client with up to this many unanswered requests.
    V2 { window: usize },
}

struct Publisher {
    proto: Proto,
    stream: &'static [u8],
}

const PUBLISHERS: [Publisher; 5] = [
    Publisher {
        proto: Proto::V1,
        stream: DEFAULT,
    },
    Publisher {
        proto: Proto::V1,
        stream: DEFAULT,
    },
    Publisher {
        proto: Proto::V2 { window: 8 },
        stream: DEFAULT,
    },
    Publisher {
        proto: Proto::V2 { window: 32 },
        stream: V2_STREAM,
    },
    Publisher {
        proto: Proto::V2 { window: 1 },
        stream: V2_STREAM,
    },
];

/// Acknowledged sequence numbers with the id a v2 reply named.
type Acks = Vec<(u64, Option<Vec<u8>>)>;

/// What one publisher sent and was told, across all server lifetimes.
#[derive(Default)]
struct PubState {
    /// Sequence numbers `0..sent` were handed to a socket (or about to be).
    sent: u64,
    /// Acknowledged sequence numbers, in acknowledgement order, with the id
    /// the v2 reply named.
    acked: Acks,
}

fn data_for(tag: &str, p: usize, seq: u64) -> Vec<u8> {
    let pad = "x".repeat((seq as usize * 7 + p * 13) % 97);
    format!("rel-crash/{tag}/p{p}/s{seq}/{pad}").into_bytes()
}

/// Parses data written by [`data_for`]; `None` for anything else.
fn parse_data(tag: &str, data: &[u8]) -> Option<(usize, u64)> {
    let text = std::str::from_utf8(data).ok()?;
    let mut parts = text.splitn(5, '/');
    if parts.next()? != "rel-crash" || parts.next()? != tag {
        return None;
    }
    let p = parts.next()?.strip_prefix('p')?.parse().ok()?;
    let seq = parts.next()?.strip_prefix('s')?.parse().ok()?;
    let pad = parts.next()?;
    (data_for(tag, p, seq) == data && pad.bytes().all(|b| b == b'x')).then_some((p, seq))
}

fn publisher_thread(
    p: usize,
    tag: String,
    endpoint: String,
    state: Arc<Mutex<PubState>>,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let ctx = zmq::Context::new();
        let spec = &PUBLISHERS[p];
        let (kind, window) = match spec.proto {
            Proto::V1 => (zmq::REQ, 1),
            Proto::V2 { window } => (zmq::DEALER, window),
        };
        let sock = socket(&ctx, kind, &endpoint);
        let mut outstanding: VecDeque<u64> = VecDeque::new();
        while !stop.load(Ordering::SeqCst) {
            while outstanding.len() < window {
                let seq = {
                    let mut st = state.lock().unwrap();
                    st.sent += 1;
                    st.sent - 1
                };
                let data = data_for(&tag, p, seq);
                let frames: Vec<&[u8]> = match spec.proto {
                    Proto::V1 => vec![b"PUBLISH", &data],
                    Proto::V2 { .. } => vec![b"", b"PUBLISH", spec.stream, &data],
                };
                if sock.send_multipart(frames, zmq::DONTWAIT).is_err() {
                    // Not handed to the socket after all; it may still be
                    // counted as sent, which only widens "maybe stored".
                    break;
                }
                outstanding.push_back(seq);
            }
            let Some(mut reply) = recv_within(&sock, Duration::from_millis(50)) else {
                continue;
            };
            if spec.proto != Proto::V1 {
                assert!(!reply.is_empty() && reply[0].is_empty(), "{}", show(&reply));
                reply.remove(0);
            }
            let seq = outstanding
                .pop_front()
                .expect("a reply to a request never sent");
            let id = match spec.proto {
                Proto::V1 => {
                    assert_eq!(
                        reply,
                        vec![b"PUBLISHED".to_vec()],
                        "publisher {p} seq {seq}: {}",
                        show(&reply)
                    );
                    None
                }
                Proto::V2 { .. } => {
                    assert!(
                        reply.len() == 2 && reply[0] == b"PUBLISHED",
                        "publisher {p} seq {seq}: {}",
                        show(&reply)
                    );
                    Some(reply[1].clone())
                }
            };
            state.lock().unwrap().acked.push((seq, id));
        }
    })
}

/// What a subscriber saw: v1 (id, prev id, data) or v2 (stream, id, data).
type Seen = Arc<Mutex<Vec<[Vec<u8>; 3]>>>;

fn subscriber_thread(
    ctx: zmq::Context,
    endpoint: String,
    seen: Seen,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<()> {
    let sock = subscriber(&ctx, &endpoint, |s| s.set_rcvhwm(0).unwrap());
    thread::spawn(move || {
        let _ctx = ctx;
        while !stop.load(Ordering::SeqCst) {
            if let Some(m) = recv_within(&sock, Duration::from_millis(50)) {
                assert_eq!(m.len(), 3, "a published message has 3 frames: {}", show(&m));
                let [a, b, c]: [Vec<u8>; 3] = m.try_into().unwrap();
                seen.lock().unwrap().push([a, b, c]);
            }
        }
    })
}

/// Everything the test knows, checked after every restart.
struct Checker {
    tag: String,
    states: Vec<Arc<Mutex<PubState>>>,
    /// The log as it was at the previous check.
    prev_log: Vec<Event>,
    v1_seen: Seen,
    v2_seen: Seen,
    /// How many subscriber observations were already checked.
    seen_checked: [usize; 2],
    events_verified: u64,
}

impl Checker {
    /// Checks the store; `full` also reads every event back over the wire.
    fn check(&mut self, dir: &Path, server: &Rewind, ctx: &zmq::Context, label: &str, full: bool) {
        // The store as another process sees it.
        let store = open_read_only(dir);
        let log = store.read_log_vec(0, usize::MAX).unwrap();
        let states: Vec<(u64, Acks)> = self
            .states
            .iter()
            .map(|s| {
                let s = s.lock().unwrap();
                (s.sent, s.acked.clone())
            })
            .collect();

        // Nothing that was ever seen in the store disappears or changes.
        assert!(
            log.len() >= self.prev_log.len(),
            "{label}: the log shrank from {} to {} events",
            self.prev_log.len(),
            log.len()
        );
        for (old, new) in self.prev_log.iter().zip(&log) {
            assert_eq!(old, new, "{label}: a stored event changed");
        }

        let mut versions: HashMap<&[u8], u64> = HashMap::new();
        let mut present: HashSet<(usize, u64)> = HashSet::new();
        let mut last_seq: Vec<Option<u64>> = vec![None; PUBLISHERS.len()];
        let mut by_id: HashMap<&[u8], &Event> = HashMap::new();
        let mut prev_in_stream: HashMap<&[u8], &[u8]> = HashMap::new();
        let mut prev_of: HashMap<&[u8], &[u8]> = HashMap::new();
        for (i, ev) in log.iter().enumerate() {
            assert_eq!(
                ev.position, i as u64,
                "{label}: positions are not contiguous"
            );
            let (p, seq) = parse_data(&self.tag, &ev.data).unwrap_or_else(|| {
                panic!(
                    "{label}: an event that was never published: {:?}",
                    ev.data.escape_ascii().to_string()
                )
            });
            assert!(
                seq < states[p].0,
                "{label}: publisher {p} never sent seq {seq}"
            );
            assert!(
                present.insert((p, seq)),
                "{label}: publisher {p} seq {seq} is stored twice"
            );
            assert_eq!(ev.stream, PUBLISHERS[p].stream, "{label}: wrong stream");
            let v = versions.entry(&ev.stream).or_insert(0);
            assert_eq!(
                ev.version, *v,
                "{label}: versions of a stream are not contiguous"
            );
            *v += 1;
            if let Some(last) = last_seq[p] {
                assert!(
                    seq > last,
                    "{label}: publisher {p}: seq {seq} stored after seq {last}"
                );
            }
            last_seq[p] = Some(seq);
            assert!(
                by_id.insert(&ev.id, ev).is_none(),
                "{label}: id stored twice"
            );
            if i >= self.prev_log.len() {
                // Older events were checked before (and are unchanged).
                let got = store.get(&ev.id).unwrap();
                assert_eq!(got.as_ref(), Some(ev), "{label}: the id index disagrees");
            }
            let prev = prev_in_stream.insert(&ev.stream, &ev.id).unwrap_or(b"");
            prev_of.insert(&ev.id, prev);
        }
        for (stream, n) in &versions {
            let head = store.stream_head(stream).unwrap().expect("stream head");
            assert_eq!(head.version + 1, *n, "{label}: stream head version");
            assert_eq!(head.id, prev_in_stream[stream], "{label}: stream head id");
        }
        assert_eq!(store.next_position().unwrap(), log.len() as u64);

        // Every acknowledged event is there, with the id it was given.
        let mut stored_ids: HashMap<(usize, u64), &[u8]> = HashMap::new();
        for ev in &log {
            stored_ids.insert(parse_data(&self.tag, &ev.data).unwrap(), &ev.id);
        }
        let mut acked = 0u64;
        let mut sent = 0u64;
        for (p, (n_sent, acks)) in states.iter().enumerate() {
            sent += n_sent;
            let mut last = None;
            for (seq, id) in acks {
                assert!(
                    last < Some(*seq),
                    "publisher {p}: acknowledgements out of order ({last:?} then {seq})"
                );
                last = Some(*seq);
                let stored = stored_ids.get(&(p, *seq)).unwrap_or_else(|| {
                    panic!("{label}: LOST acknowledged event: publisher {p} seq {seq}")
                });
                if let Some(id) = id {
                    assert_eq!(
                        *stored,
                        id.as_slice(),
                        "{label}: publisher {p} seq {seq} is stored under another id"
                    );
                }
                acked += 1;
            }
        }

        // What subscribers saw was committed: present, with its previous id.
        let v1_seen = self.v1_seen.lock().unwrap();
        let v2_seen = self.v2_seen.lock().unwrap();
        for [id, prev, data] in &v1_seen[self.seen_checked[0]..] {
            let ev = by_id.get(id.as_slice()).unwrap_or_else(|| {
                panic!("{label}: an event sent on the v1 streaming socket is not stored")
            });
            assert_eq!(&ev.data, data, "{label}: v1 streaming data");
            assert_eq!(ev.stream, DEFAULT);
            assert_eq!(
                prev_of[id.as_slice()],
                prev.as_slice(),
                "{label}: the v1 previous-id chain is broken at {}",
                String::from_utf8_lossy(id)
            );
        }
        for [stream, id, data] in &v2_seen[self.seen_checked[1]..] {
            let ev = by_id.get(id.as_slice()).unwrap_or_else(|| {
                panic!("{label}: an event sent on the v2 publish socket is not stored")
            });
            assert_eq!(
                (&ev.stream, &ev.data),
                (stream, data),
                "{label}: v2 publish"
            );
        }

        self.seen_checked = [v1_seen.len(), v2_seen.len()];
        drop((v1_seen, v2_seen));

        // The server serves exactly this, over both protocols: everything
        // after what the previous check saw (everything, at the last check).
        let since = |s: &[u8]| -> Vec<u8> {
            if full {
                return Vec::new();
            }
            let prev = self.prev_log.iter().rev().find(|e| e.stream == s);
            prev.map(|e| e.id.clone()).unwrap_or_default()
        };
        let stream_after = |s: &[u8], from: &[u8]| -> Vec<Ev> {
            let mut evs = log.iter().filter(|e| e.stream == s);
            if !from.is_empty() {
                evs.by_ref().find(|e| e.id == from).expect("from id");
            }
            evs.map(|e| (e.id.clone(), e.data.clone())).collect()
        };
        let v1 = Req::connect(ctx, server);
        let from = since(DEFAULT);
        assert!(
            v1.query_all_range(&from, b"") == stream_after(DEFAULT, &from),
            "{label}: v1 QUERY differs from the store"
        );
        let v2 = Dealer::connect(ctx, server);
        let from = since(V2_STREAM);
        assert!(
            v2.try_query(V2_STREAM, &from, b"").unwrap() == stream_after(V2_STREAM, &from),
            "{label}: v2 QUERY differs from the store"
        );

        eprintln!(
            "[crash] {label}: {} events stored, {acked} acknowledged of {sent} sent, \
             {} unacknowledged present",
            log.len(),
            log.len() as u64 - acked
        );
        self.events_verified = log.len() as u64;
        drop(store);
        self.prev_log = log;
    }
}

fn crash_cycles(cycles: usize, max_run_ms: u64) {
    let mut rng = Rng::from_env("crash");
    let dir = tempdir("crash");
    let data_dir = dir.path().join("store");
    let spec = ServerSpec::lmdb(rewind(), &data_dir);
    let tag = format!("{:x}", rng.next_u64());
    let ctx = zmq::Context::new();
    let mut checker = Checker {
        tag: tag.clone(),
        states: (0..PUBLISHERS.len()).map(|_| Arc::default()).collect(),
        prev_log: Vec::new(),
        v1_seen: Arc::default(),
        v2_seen: Arc::default(),
        seen_checked: [0, 0],
        events_verified: 0,
    };
    let started = Instant::now();
    let mut early_kills = 0;
    for cycle in 0..cycles {
        // Now and then, kill the server while it opens the store.
        if rng.below(6) == 0 {
            let mut s = spec.spawn_unready();
            thread::sleep(Duration::from_millis(rng.below(40)));
            s.kill9();
            early_kills += 1;
        }
        let mut server = spec.start();
        checker.check(&data_dir, &server, &ctx, &format!("restart {cycle}"), false);

        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = vec![
            subscriber_thread(
                ctx.clone(),
                server.endpoints.streaming.clone(),
                checker.v1_seen.clone(),
                stop.clone(),
            ),
            subscriber_thread(
                ctx.clone(),
                server.endpoints.publish.clone(),
                checker.v2_seen.clone(),
                stop.clone(),
            ),
        ];
        for (p, spec) in PUBLISHERS.iter().enumerate() {
            let ep = match spec.proto {
                Proto::V1 => server.endpoints.query.clone(),
                Proto::V2 { .. } => server.endpoints.command.clone(),
            };
            threads.push(publisher_thread(
                p,
                tag.clone(),
                ep,
                checker.states[p].clone(),
                stop.clone(),
            ));
        }
        thread::sleep(Duration::from_millis(rng.below(max_run_ms)));
        server.assert_running();
        server.kill9();
        stop.store(true, Ordering::SeqCst);
        for t in threads {
            t.join().expect("a client thread failed");
        }
    }
    let server = spec.start();
    checker.check(&data_dir, &server, &ctx, "final restart", true);
    server.stop();
    checker.check_after_stop(&data_dir, &spec, &ctx);
    eprintln!(
        "[crash] {cycles} SIGKILLs under load (+{early_kills} during start-up) in {:?}; \
         {} events verified",
        started.elapsed(),
        checker.events_verified
    );
}

impl Checker {
    fn check_after_stop(&mut self, dir: &Path, spec: &ServerSpec, ctx: &zmq::Context) {
        let server = spec.start();
        self.check(dir, &server, ctx, "after a clean stop", true);
        server.stop();
    }
}

#[test]
fn acknowledged_events_survive_sigkill_cycles() {
    let _turn = crate::TURNS.take(module_path!());
    let cycles = env_usize("REWIND_CRASH_CYCLES", 20);
    assert!(cycles >= 20, "at least 20 kill cycles per run");
    crash_cycles(cycles, env_usize("REWIND_CRASH_MAX_RUN_MS", 300) as u64);
}
