//! Concurrency across processes: while the `rewind` binary writes to an
//! LMDB directory, this test process opens the same directory read-only,
//! again and again, and must always see a consistent prefix of the log:
//! positions contiguous from 0, every event complete, versions of each
//! stream contiguous, and the id and stream indexes agreeing with the log.
//! One writer sends large events so that the server grows LMDB's map while
//! the reader has it open.
//!
//! Long: `REWIND_MP_SECONDS=120 cargo test --release -p rewind-cli --test reliability multiprocess::`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rewind_core::Error;
use rewind_testkit::prelude::*;

use crate::rewind;

fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Data that carries its own length and checksum: `mp|LEN|SUM|payload`.
fn self_checking(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let payload: Vec<u8> = (0..len)
        .map(|_| b'a' + (rng.next_u64() % 26) as u8)
        .collect();
    let mut d = format!("mp|{len}|{:016x}|", fnv(&payload)).into_bytes();
    d.extend_from_slice(&payload);
    d
}

fn is_complete(data: &[u8]) -> bool {
    let mut parts = data.splitn(4, |b| *b == b'|');
    let (Some(b"mp"), Some(len), Some(sum), Some(payload)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let len: usize = std::str::from_utf8(len).unwrap().parse().unwrap();
    payload.len() == len && format!("{:016x}", fnv(payload)).as_bytes() == sum
}

#[test]
fn a_reader_process_always_sees_a_consistent_prefix_while_the_server_writes() {
    let _turn = crate::TURNS.take(module_path!());
    let seconds = env_usize("REWIND_MP_SECONDS", 6) as u64;
    let dir = tempdir("mp");
    let store_dir = dir.path().join("store");
    let server = ServerSpec::lmdb(rewind(), &store_dir).start();
    let ctx = zmq::Context::new();
    let stop = Arc::new(AtomicBool::new(false));

    // Writers: small events on three streams, large ones on a fourth (about
    // 100 MiB in all, past LMDB's initial 64 MiB map), and a v1 client.
    let mut writers = Vec::new();
    for w in 0..4u64 {
        let ctx = ctx.clone();
        let ep = server.endpoints.command.clone();
        let stop = stop.clone();
        writers.push(thread::spawn(move || {
            let v2 = Dealer::on(socket(&ctx, zmq::DEALER, &ep));
            let stream = format!("mp-{w}");
            let mut i = 0u64;
            let mut big_bytes = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let big = w == 3;
                if big && big_bytes > 100 << 20 {
                    break;
                }
                let batch = if big { 8 } else { 200 };
                v2.publish_pipelined(stream.as_bytes(), batch, 64, |k| {
                    let len = if big {
                        16_384 + (k * 4099) % 32_768
                    } else {
                        (k * 37) % 300
                    };
                    big_bytes += len;
                    self_checking(w << 32 | (i + k as u64), len)
                });
                i += batch as u64;
            }
        }));
    }
    {
        let ctx = ctx.clone();
        let ep = server.endpoints.query.clone();
        let stop = stop.clone();
        writers.push(thread::spawn(move || {
            let req = Req::on(socket(&ctx, zmq::REQ, &ep));
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                req.publish(&self_checking(1 << 40 | i, (i as usize * 13) % 200));
                i += 1;
            }
        }));
    }

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut snapshots = 0;
    let mut last_len = 0usize;
    let mut reader = open_read_only(&store_dir);
    let start_map = std::fs::metadata(store_dir.join("data.mdb")).unwrap().len();
    while Instant::now() < deadline {
        // Sometimes a fresh open, as a new process would.
        if snapshots % 4 == 3 {
            drop(reader);
            reader = open_read_only(&store_dir);
        }
        // One read transaction: the whole log.
        let mut n = 0u64;
        let mut versions: HashMap<Vec<u8>, u64> = HashMap::new();
        let mut events: Vec<(Vec<u8>, Vec<u8>, u64)> = Vec::new();
        reader
            .read_log(0, usize::MAX, |e| {
                assert_eq!(e.position, n, "positions are contiguous from 0");
                assert!(is_complete(e.data), "event at position {n} is incomplete");
                let v = versions.entry(e.stream.to_vec()).or_insert(0);
                assert_eq!(e.version, *v, "versions of {:?} are contiguous", e.stream);
                *v += 1;
                events.push((e.id.to_vec(), e.stream.to_vec(), e.version));
                n += 1;
                true
            })
            .unwrap();
        assert!(
            events.len() >= last_len,
            "the log seen by a reader shrank from {last_len} to {}",
            events.len()
        );
        last_len = events.len();
        // Later transactions see at least this prefix, indexes included.
        assert!(reader.next_position().unwrap() >= n);
        for (id, stream, version) in events.iter().step_by(7) {
            let e = reader
                .get(id)
                .unwrap()
                .expect("the id index has every event");
            assert_eq!((&e.stream, e.version), (stream, *version));
        }
        for (stream, count) in &versions {
            let s = reader.read_stream_vec(stream, 0, *count as usize).unwrap();
            assert_eq!(s.len() as u64, *count);
            let head = reader.stream_head(stream).unwrap().unwrap();
            assert!(head.version + 1 >= *count);
        }
        snapshots += 1;
    }
    // A read-only store refuses to write.
    let e = reader.append(
        b"mp-0",
        vec![rewind_core::NewEvent::new("x")],
        Default::default(),
    );
    assert!(matches!(e, Err(Error::ReadOnly)), "{e:?}");

    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.join().expect("a writer failed");
    }
    let end_map = std::fs::metadata(store_dir.join("data.mdb")).unwrap().len();
    let final_len = reader.next_position().unwrap();
    eprintln!(
        "[multiprocess] {snapshots} consistent snapshots in {seconds}s; log grew to {final_len} \
         events; data.mdb {} -> {} MiB",
        start_map >> 20,
        end_map >> 20
    );
    assert!(snapshots >= 3);
    drop(reader);
    server.stop();
}

/// Helper for the test below, run as a separate process: with
/// `REWIND_HELPER_HOLD_READ=DIR` it opens DIR read-only, starts a read
/// transaction, says so on stdout and waits to be killed. Without the
/// variable it does nothing.
#[test]
fn helper_reader_holds_a_read_transaction() {
    let _turn = crate::TURNS.take(module_path!());
    let Ok(dir) = std::env::var("REWIND_HELPER_HOLD_READ") else {
        return;
    };
    let store = open_read_only(std::path::Path::new(&dir));
    store
        .read_log(0, 1, |_| {
            use std::io::Write;
            println!("holding a read transaction");
            std::io::stdout().flush().unwrap();
            thread::sleep(Duration::from_secs(600));
            false
        })
        .unwrap();
}

/// A reader process that dies in the middle of a read transaction leaves
/// its slot in LMDB's reader table. While any other process keeps the
/// store open, LMDB would keep every page that snapshot could see, and the
/// file would grow with every commit. The server clears dead readers' slots.
#[test]
fn a_reader_killed_mid_transaction_does_not_make_the_store_grow_without_bound() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let _turn = crate::TURNS.take(module_path!());
    let dir = tempdir("stale-reader");
    let store_dir = dir.path().join("store");
    let server = ServerSpec::lmdb(rewind(), &store_dir).start();
    let ctx = zmq::Context::new();
    let req = Req::connect(&ctx, &server);
    for i in 0..100 {
        req.publish(format!("before-{i}").as_bytes());
    }
    drop(req);
    server.stop();

    // Another process keeps the store open all along (so LMDB never resets
    // its reader table), and a reader process dies holding a snapshot.
    let keeper = open_read_only(&store_dir);
    // The helper's name in this test binary: its module path without the
    // crate's name.
    let helper_name = concat!(module_path!(), "::helper_reader_holds_a_read_transaction")
        .split_once("::")
        .unwrap()
        .1;
    let mut helper = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", helper_name, "--nocapture"])
        .env("REWIND_HELPER_HOLD_READ", &store_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(helper.stdout.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("the helper said nothing").unwrap();
        if line.contains("holding a read transaction") {
            break;
        }
    }
    helper.kill().unwrap();
    helper.wait().unwrap();

    let server = ServerSpec::lmdb(rewind(), &store_dir).start();
    let req = Req::connect(&ctx, &server);
    let n = 3000;
    for i in 0..n {
        req.publish(format!("after-{i}").as_bytes());
    }
    drop(req);
    server.stop();
    let size = std::fs::metadata(store_dir.join("data.mdb")).unwrap().len();
    eprintln!(
        "[stale-reader] data.mdb is {} KiB after {n} single-event commits",
        size >> 10
    );
    assert!(
        size < 8 << 20,
        "data.mdb grew to {} MiB for {n} small events: a dead reader pins old pages",
        size >> 20
    );
    assert_eq!(keeper.next_position().unwrap(), 100 + n as u64);
}
