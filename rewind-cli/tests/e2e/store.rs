//! End-to-end tests of what the server promises about storage: an
//! acknowledged event is durable, a graceful stop acknowledges what it
//! commits, the LMDB store grows by itself (or reports a configured limit as
//! an error), and another process can read the data directory while the
//! server runs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use rewind_core::lmdb::LmdbOptions;
use rewind_core::{Store, StoreOptions};
use rewind_testkit::prelude::*;

use crate::rewind;

#[test]
fn acknowledged_events_survive_a_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let spawn = Spawn::lmdb(rewind(), &dir.path().join("data"));
    let mut server = spawn.start();
    let req = server.req();
    for i in 0..30 {
        req.publish(format!("v1-{i}").as_bytes());
    }
    let d = server.dealer();
    for i in 0..200 {
        d.send(&[b"PUBLISH".as_slice(), b"s", format!("v2-{i}").as_bytes()]);
    }
    let ids: Vec<Vec<u8>> = (0..200).map(|_| parse_published(&d.recv())).collect();
    server.signal(libc::SIGKILL);
    server.wait_exit();
    drop(server);

    let server = spawn.refresh_ports().start();
    let v1 = server.req().query_all();
    let data: Vec<String> = v1
        .iter()
        .map(|e| String::from_utf8_lossy(&e.1).into_owned())
        .collect();
    assert_eq!(
        data,
        (0..30).map(|i| format!("v1-{i}")).collect::<Vec<_>>(),
        "acknowledged v1 events after kill -9"
    );
    let v2 = server.dealer().query(b"s", b"", b"");
    assert_eq!(
        v2.iter().map(|e| &e.0).collect::<Vec<_>>(),
        ids.iter().collect::<Vec<_>>(),
        "acknowledged v2 events after kill -9"
    );
}

#[test]
fn every_publish_acknowledged_before_sigterm_is_kept_and_every_kept_one_was_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let spawn = Spawn::lmdb(rewind(), &dir.path().join("data"));
    let mut server = spawn.start();
    let clients = 4;
    // Set once the server process has exited.
    let exited = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let d = server.dealer();
            let exited = exited.clone();
            thread::spawn(move || {
                let stream = format!("load-{c}");
                let mut acked = Vec::new();
                let mut n = 0usize;
                'outer: while !exited.load(Ordering::SeqCst) {
                    let mut sent = 0;
                    for _ in 0..20 {
                        // Never block on a server that is gone.
                        let msg = [b"".as_slice(), b"PUBLISH", stream.as_bytes(), &tagged(c, n)];
                        if d.sock.send_multipart(msg, zmq::DONTWAIT).is_err() {
                            break;
                        }
                        n += 1;
                        sent += 1;
                    }
                    let mut got = 0;
                    while got < sent {
                        match d.try_recv(200) {
                            Some(m) => {
                                acked.push(parse_published(&m));
                                got += 1;
                            }
                            // A slow commit is waited for while the server runs.
                            None if exited.load(Ordering::SeqCst) => break 'outer,
                            None => {}
                        }
                    }
                }
                // Acknowledgements sent just before the exit.
                while let Some(m) = d.try_recv(300) {
                    acked.push(parse_published(&m));
                }
                (stream, acked)
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(400));
    server.signal(libc::SIGTERM);
    let status = server.wait_exit();
    exited.store(true, Ordering::SeqCst);
    assert_eq!(status.code(), Some(0), "output:\n{}", server.output());
    let results: Vec<(String, Vec<Vec<u8>>)> =
        handles.into_iter().map(|h| h.join().unwrap()).collect();
    drop(server);

    let server = spawn.refresh_ports().start();
    let d = server.dealer();
    let mut total = 0;
    for (stream, acked) in &results {
        let stored: Vec<Vec<u8>> = d
            .query(stream.as_bytes(), b"", b"")
            .into_iter()
            .map(|e| e.0)
            .collect();
        let missing = acked.iter().filter(|id| !stored.contains(id)).count();
        assert_eq!(missing, 0, "{stream}: acknowledged events lost by SIGTERM");
        assert_eq!(
            &stored, acked,
            "{stream}: stored {} events but acknowledged {} (in-flight commits must be acknowledged)",
            stored.len(),
            acked.len()
        );
        total += acked.len();
    }
    assert!(total > 0, "the clients published something before the stop");
}

#[test]
fn the_lmdb_store_grows_past_its_initial_size_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let server = Spawn::lmdb(rewind(), &dir.path().join("data")).start();
    let d = server.dealer();
    // 96 MiB of events: more than a small initial LMDB map.
    let n = 96;
    let mut blob = vec![0u8; 1 << 20];
    for i in 0..n {
        blob[0] = i as u8;
        d.send(&[b"PUBLISH".as_slice(), b"big", &blob]);
    }
    let ids: Vec<Vec<u8>> = (0..n).map(|_| parse_published(&d.recv())).collect();
    let all = d.query(b"big", b"", b"");
    assert_eq!(all.len(), n);
    for (i, (id, data)) in all.iter().enumerate() {
        assert_eq!(id, &ids[i]);
        assert_eq!((data.len(), data[0]), (1 << 20, i as u8));
    }
}

#[test]
fn publishing_past_the_map_size_limit_is_an_error_and_reads_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Spawn::lmdb(rewind(), &dir.path().join("data"))
        .arg("--map-size-limit")
        .arg((8u64 << 20).to_string())
        .start();
    let req = server.req();
    let d = server.dealer();
    let blob = vec![b'x'; 1 << 20];
    let mut stored = 0;
    let mut error = None;
    for _ in 0..32 {
        let reply = req.request(&[b"PUBLISH".as_slice(), &blob]);
        if reply == [b"PUBLISHED".to_vec()] {
            stored += 1;
        } else {
            error = Some(assert_error_frame(&reply, "publish past the limit"));
            break;
        }
    }
    assert!(
        error.is_some(),
        "32 MiB went into a store limited to 8 MiB without an error"
    );
    assert!(stored > 0, "some events fit under the limit");
    let v2 = d.request(&[b"PUBLISH".as_slice(), b"s", &blob]);
    assert_error_frame(&v2, "v2 publish past the limit");
    server.assert_running();
    assert_eq!(req.query_all().len(), stored, "reads go on after the error");
}

#[test]
fn another_process_can_read_the_data_dir_while_the_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Spawn::lmdb(rewind(), &data).start();
    let d = server.dealer();
    let mut ids = HashMap::new();
    for i in 0..10 {
        let id = d.publish(b"shared", format!("{i}").as_bytes());
        ids.insert(id, i);
    }
    let mut options = LmdbOptions::new(&data);
    options.read_only = true;
    let reader =
        Store::open(&StoreOptions::Lmdb(options)).expect("open read-only beside the server");
    let events = reader.read_stream_vec(b"shared", 0, 1000).unwrap();
    assert_eq!(events.len(), 10);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(ids.get(&e.id), Some(&i), "same ids, same order");
    }
    // Events published afterwards are visible to the reader too.
    d.publish(b"shared", b"later");
    let events = reader.read_stream_vec(b"shared", 0, 1000).unwrap();
    assert_eq!(events.len(), 11);
    assert_eq!(events[10].data, b"later");
    d.assert_still_serving();
}
