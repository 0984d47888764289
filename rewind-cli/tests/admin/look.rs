//! stats, streams, cat and tail on a store a server is writing; `--follow`
//! sees what is published after it started and stops on SIGTERM or when
//! its reader goes away.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rewind_testkit::prelude::*;

use crate::{admin_bin, admin_ok, b64, json_lines, server, server_growing, Publisher};

#[test]
fn stats_and_streams_count_what_the_server_stored_while_it_writes() {
    let dir = tempdir("admin-stats");
    let data = dir.path().join("data");
    let server = server_growing(&data);
    let d = server.dealer();
    for i in 0..30 {
        d.publish(b"orders-1", format!("o1-{i}").as_bytes());
    }
    let last2: Vec<Vec<u8>> = (0..20)
        .map(|i| d.publish(b"orders-2", format!("o2-{i}").as_bytes()))
        .collect();
    let req = server.req();
    for i in 0..10 {
        req.publish(format!("v1-{i}").as_bytes());
    }
    let stats = admin_ok(["stats".as_ref(), data.as_os_str(), "--json".as_ref()]);
    let v: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(v["events"], 60, "{v}");
    assert_eq!(v["streams"], 3, "{v}");
    assert_eq!(v["head_position"], 59, "{v}");
    assert_eq!(v["next_position"], 60, "{v}");
    assert_eq!(v["format"], "rewind-lmdb-2", "{v}");
    let (map_size, map_used) = (
        v["map_size"].as_u64().unwrap(),
        v["map_used"].as_u64().unwrap(),
    );
    assert!(map_used > 0 && map_used <= map_size, "{v}");
    // The server's map (it started at 1 MiB), not the reader's own.
    assert!(map_size < 64 << 20, "{v}");
    assert!(v["disk_bytes"].as_u64().unwrap() > 0, "{v}");

    let text = admin_ok(["stats".as_ref(), data.as_os_str()]);
    assert!(text.contains("\nevents         60\n"), "{text}");
    assert!(text.contains("\nhead position  59\n"), "{text}");
    assert!(text.contains("\nformat         rewind-lmdb-2\n"), "{text}");

    // While a client publishes, the tools keep working and counting.
    let publisher = Publisher::start(&server, b"busy");
    let v: serde_json::Value = serde_json::from_str(&admin_ok([
        "stats".as_ref(),
        data.as_os_str(),
        "--json".as_ref(),
    ]))
    .unwrap();
    assert!(v["events"].as_u64().unwrap() >= 80, "{v}");
    assert_eq!(v["streams"], 4, "{v}");
    let listed = admin_ok(["streams".as_ref(), data.as_os_str()]);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 4, "{listed}");
    assert!(lines[0].starts_with("busy "), "{listed}");
    assert_eq!(
        &lines[1..],
        ["default 10 9 59", "orders-1 30 29 29", "orders-2 20 19 49"]
    );
    let json = json_lines(&admin_ok([
        "streams".as_ref(),
        data.as_os_str(),
        "--json".as_ref(),
        "--prefix".as_ref(),
        "orders-".as_ref(),
    ]));
    assert_eq!(json.len(), 2);
    assert_eq!(b64(&json[1]["stream"]), b"orders-2");
    assert_eq!(json[1]["events"], 20);
    assert_eq!(json[1]["last_version"], 19);
    assert_eq!(json[1]["last_position"], 49);
    assert_eq!(b64(&json[1]["last_id"]), last2[19]);
    let acked = publisher.finish();
    let busy = json_lines(&admin_ok([
        "streams".as_ref(),
        data.as_os_str(),
        "--json".as_ref(),
        "--prefix".as_ref(),
        "busy".as_ref(),
    ]));
    assert_eq!(busy[0]["events"], acked.len() as u64);
    server.stop();
}

#[test]
fn cat_and_tail_print_the_log_and_streams_exactly() {
    let dir = tempdir("admin-cat");
    let data = dir.path().join("data");
    let server = server(&data);
    let d = server.dealer();
    let payloads: Vec<Vec<u8>> = vec![
        b"plain".to_vec(),
        b"two\nlines".to_vec(),
        vec![0, 0xff, 0x1b, b'[', b'2', b'J'],
        b"".to_vec(),
        "caf\u{e9} \\ end".as_bytes().to_vec(),
        b"last".to_vec(),
    ];
    let mut ids = Vec::new();
    for (i, p) in payloads.iter().enumerate() {
        let stream: &[u8] = if i % 2 == 0 { b"even" } else { b"odd stream" };
        ids.push(d.publish(stream, p));
    }
    let dir_arg = data.as_os_str();

    // The log in JSON Lines: every event, exact.
    let lines = json_lines(&admin_ok([
        "cat".as_ref(),
        dir_arg,
        "--format".as_ref(),
        "jsonl".as_ref(),
    ]));
    assert_eq!(lines.len(), 6);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["position"], i as u64);
        assert_eq!(l["version"], (i / 2) as u64);
        assert_eq!(b64(&l["id"]), ids[i]);
        assert_eq!(b64(&l["data"]), payloads[i]);
        let stream: &[u8] = if i % 2 == 0 { b"even" } else { b"odd stream" };
        assert_eq!(b64(&l["stream"]), stream);
    }

    // Text: one line per event, escaped.
    let text = admin_ok(["cat".as_ref(), dir_arg]);
    let id = |i: usize| String::from_utf8(ids[i].clone()).unwrap();
    let expected = [
        format!("0 even 0 {} plain", id(0)),
        format!("1 odd\\x20stream 0 {} two\\nlines", id(1)),
        format!("2 even 1 {} \\x00\\xff\\x1b[2J", id(2)),
        format!("3 odd\\x20stream 1 {} ", id(3)),
        format!("4 even 2 {} caf\u{e9} \\\\ end", id(4)),
        format!("5 odd\\x20stream 2 {} last", id(5)),
    ];
    assert_eq!(text.lines().collect::<Vec<_>>(), expected);

    // From a position, a limit; a stream from a version; data cut short.
    let text = admin_ok([
        "cat".as_ref(),
        dir_arg,
        "--from".as_ref(),
        "2".as_ref(),
        "--limit".as_ref(),
        "2".as_ref(),
    ]);
    assert_eq!(text.lines().collect::<Vec<_>>(), expected[2..4]);
    let text = admin_ok([
        "cat".as_ref(),
        dir_arg,
        "--stream".as_ref(),
        "odd stream".as_ref(),
        "--from".as_ref(),
        "1".as_ref(),
        "--max-data".as_ref(),
        "3".as_ref(),
    ]);
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            format!("3 odd\\x20stream 1 {} ", id(3)),
            format!("5 odd\\x20stream 2 {} las…(+1 bytes)", id(5))
        ]
    );

    // tail: the last events of the log or of a stream.
    let text = admin_ok(["tail".as_ref(), dir_arg, "-n".as_ref(), "2".as_ref()]);
    assert_eq!(text.lines().collect::<Vec<_>>(), expected[4..]);
    let text = admin_ok([
        "tail".as_ref(),
        dir_arg,
        "--stream".as_ref(),
        "even".as_ref(),
        "-n".as_ref(),
        "2".as_ref(),
    ]);
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [expected[2].clone(), expected[4].clone()]
    );
    assert_eq!(admin_ok(["tail".as_ref(), dir_arg]).lines().count(), 6);
    assert_eq!(
        admin_ok([
            "tail".as_ref(),
            dir_arg,
            "--stream".as_ref(),
            "none".as_ref()
        ]),
        ""
    );
    server.stop();
}

/// A `rewind-admin` whose stdout is read line by line as it comes.
struct Follower {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
}

impl Follower {
    fn start(args: &[&std::ffi::OsStr]) -> Follower {
        let mut child = Command::new(admin_bin().path())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines() {
                if tx.send(l.unwrap()).is_err() {
                    break;
                }
            }
        });
        Follower { child, lines }
    }

    fn next_lines(&self, n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                self.lines
                    .recv_timeout(Duration::from_secs(20))
                    .unwrap_or_else(|_| panic!("line {i} of {n} did not come"))
            })
            .collect()
    }

    /// Waits for the exit; returns its status and stderr.
    fn wait(mut self) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                use std::io::Read;
                self.child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                return (status, err);
            }
            assert!(Instant::now() < deadline, "rewind-admin did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn follow_prints_events_published_after_it_started_and_stops_on_sigterm() {
    let dir = tempdir("admin-follow");
    let data = dir.path().join("data");
    let server = server(&data);
    let d = server.dealer();
    let mut ids: Vec<Vec<u8>> = (0..3)
        .map(|i| d.publish(b"s", format!("before-{i}").as_bytes()))
        .collect();
    let log = Follower::start(&[
        "cat".as_ref(),
        data.as_os_str(),
        "--follow".as_ref(),
        "--format".as_ref(),
        "jsonl".as_ref(),
    ]);
    let stream = Follower::start(&[
        "tail".as_ref(),
        data.as_os_str(),
        "--stream".as_ref(),
        "t".as_ref(),
        "-n".as_ref(),
        "1".as_ref(),
        "-f".as_ref(),
    ]);
    assert_eq!(log.next_lines(3).len(), 3);
    // Published once the follower has caught up.
    for i in 0..5 {
        ids.push(d.publish(b"s", format!("after-{i}").as_bytes()));
        d.publish(b"t", format!("t-{i}").as_bytes());
        std::thread::sleep(Duration::from_millis(30));
    }
    let lines: Vec<serde_json::Value> = log
        .next_lines(10)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let s_ids: Vec<Vec<u8>> = lines
        .iter()
        .filter(|l| crate::b64(&l["stream"]) == b"s")
        .map(|l| crate::b64(&l["id"]))
        .collect();
    assert_eq!(s_ids, ids[3..]);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(
            l["position"],
            3 + i as u64,
            "positions in order, none missed"
        );
    }
    let t: Vec<String> = stream.next_lines(5);
    assert!(t[0].ends_with(" t-0") && t[4].ends_with(" t-4"), "{t:?}");
    assert!(
        log.lines.recv_timeout(Duration::from_millis(300)).is_err(),
        "nothing more"
    );

    unsafe { libc::kill(log.child.id() as i32, libc::SIGTERM) };
    unsafe { libc::kill(stream.child.id() as i32, libc::SIGINT) };
    for f in [log, stream] {
        let (status, err) = f.wait();
        assert_eq!(status.code(), Some(0), "stderr: {err}");
        assert_eq!(err, "", "nothing on stderr");
    }
    server.stop();
}

#[test]
fn follow_stops_quietly_when_its_reader_goes_away() {
    let dir = tempdir("admin-epipe");
    let data = dir.path().join("data");
    let server = server(&data);
    let d = server.dealer();
    d.publish(b"s", b"one");
    let mut f = Follower::start(&["cat".as_ref(), data.as_os_str(), "-f".as_ref()]);
    assert_eq!(f.next_lines(1).len(), 1);
    // The reader of the pipe goes away while the follower waits for events.
    let (_, lines) = mpsc::channel();
    drop(std::mem::replace(&mut f.lines, lines));
    d.publish(b"s", b"two");
    let started = Instant::now();
    let (status, err) = f.wait();
    assert_eq!(status.code(), Some(0), "stderr: {err}");
    assert_eq!(err, "");
    assert!(started.elapsed() < Duration::from_secs(5));
    server.stop();
}
