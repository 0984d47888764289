//! End-to-end tests of the `rewind` binary itself: CLI, INI config files,
//! start-up errors, signals, persistence across restarts, the exit codeword
//! and the embedded default.

use std::net::TcpListener;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use rewind_testkit::prelude::*;

use crate::rewind;

/// The original INI format with all four endpoints of `e` and a store section.
fn ini(e: &Endpoints, store: &str) -> String {
    format!(
        "[general]\n\
         query-bind-endpoint={}\n\
         streaming-bind-endpoint={}\n\
         command-bind-endpoint={}\n\
         publish-bind-endpoint={}\n\
         zmq-nthreads=3\n\
         {store}",
        e.query, e.streaming, e.command, e.publish
    )
}

fn lmdb_section(path: &Path) -> String {
    format!(
        "storage-backend=mystore\n\n\
         [mystore]\n\
         class=rewind.server.eventstores.LMDBEventStore\n\
         path={}\n",
        path.display()
    )
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn help_exits_zero_and_lists_the_flags() {
    let out = Spawn::bare(rewind()).arg("--help").run_to_exit();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = format!("{}{}", out.stdout, out.stderr);
    for flag in [
        "--exit-codeword",
        "--data-dir",
        "--in-memory",
        "--postgres",
        "--query-bind-endpoint",
        "--streaming-bind-endpoint",
        "--command-bind-endpoint",
        "--publish-bind-endpoint",
        "--zmq-nthreads",
        "--max-message-size",
        "--default-stream",
        "--map-size-limit",
    ] {
        assert!(text.contains(flag), "--help does not list {flag}:\n{text}");
    }
    assert_no_panic(&text);
}

#[test]
fn ini_config_with_an_lmdb_event_store_serves_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let e = Endpoints::fresh();
    let conf = write_file(dir.path(), "rewind.conf", &ini(&e, &lmdb_section(&db)));
    let spawn = Spawn::bare(rewind()).config(&conf);
    let server = spawn.start_at(e.clone());
    let req = server.req();
    req.publish(b"kept");
    let id = server.dealer().publish(b"orders", b"also kept");
    let before = req.query_all();
    drop(req);
    server.stop();
    assert!(db.is_dir(), "the LMDB store lives in the configured path");
    assert!(!entries(&db).is_empty(), "the store directory holds files");

    let server = spawn.start_at(e);
    assert_eq!(server.req().query_all(), before);
    assert_eq!(
        server.dealer().query(b"orders", b"", b""),
        vec![(id, b"also kept".to_vec())]
    );
}

#[test]
fn the_spec_example_config_with_its_inline_comment_works() {
    // SPEC.md's example line, verbatim apart from the store section:
    // `storage-backend=mystore          ; optional: without it, events live in memory`
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let e = Endpoints::fresh();
    let text = format!(
        "[general]\n\
         query-bind-endpoint={}\n\
         streaming-bind-endpoint={}\n\
         zmq-nthreads=3\n\
         storage-backend=mystore          ; optional: without it, events live in memory\n\
         \n\
         [mystore]\n\
         class=rewind.server.eventstores.LMDBEventStore\n\
         path={}\n",
        e.query,
        e.streaming,
        db.display()
    );
    let conf = write_file(dir.path(), "example.conf", &text);
    let server = Spawn::bare(rewind()).config(&conf).start_at(e);
    server.req().publish(b"x");
    server.stop();
    assert!(db.is_dir(), "events went to the configured LMDB store");
}

#[test]
fn ini_config_without_storage_backend_keeps_events_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let e = Endpoints::fresh();
    let conf = write_file(dir.path(), "rewind.conf", &ini(&e, ""));
    let spawn = Spawn::bare(rewind()).config(&conf).cwd(dir.path());
    let server = spawn.start_at(e.clone());
    server.req().publish(b"ephemeral");
    assert_eq!(server.req().query_all().len(), 1);
    server.stop();
    assert_eq!(
        entries(dir.path()),
        vec!["rewind.conf"],
        "no files created without a storage backend"
    );
    let server = spawn.start_at(e);
    assert!(
        server.req().query_all().is_empty(),
        "in memory: gone after restart"
    );
}

#[test]
fn ini_config_with_the_in_memory_event_store_class_serves() {
    let dir = tempfile::tempdir().unwrap();
    let e = Endpoints::fresh();
    let store =
        "storage-backend=mem\n\n[mem]\nclass=rewind.server.eventstores.InMemoryEventStore\n";
    let conf = write_file(dir.path(), "rewind.conf", &ini(&e, store));
    let server = Spawn::bare(rewind())
        .config(&conf)
        .cwd(dir.path())
        .start_at(e);
    let req = server.req();
    req.publish(b"a");
    assert_eq!(req.query_all().len(), 1);
    server.stop();
    assert_eq!(entries(dir.path()), vec!["rewind.conf"]);
}

#[test]
fn unknown_config_options_are_warned_about_and_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let e = Endpoints::fresh();
    let text = ini(&e, "frobnication-level=11\n");
    let conf = write_file(dir.path(), "rewind.conf", &text);
    let server = Spawn::bare(rewind())
        .config(&conf)
        .cwd(dir.path())
        .start_at(e);
    server.req().assert_still_serving();
    assert!(
        server.output().contains("frobnication-level"),
        "a warning names the unknown option; output:\n{}",
        server.output()
    );
}

#[test]
fn endpoint_lists_and_command_line_overrides_of_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let e = Endpoints::fresh();
    let second_query = tcp(free_port());
    let override_command = tcp(free_port());
    let mut conf_endpoints = e.clone();
    conf_endpoints.query = format!("{},{}", e.query, second_query);
    let conf = write_file(dir.path(), "rewind.conf", &ini(&conf_endpoints, ""));
    let spawn = Spawn::bare(rewind())
        .config(&conf)
        .arg("--command-bind-endpoint")
        .arg(&override_command)
        .arg("--publish-bind-endpoint")
        .arg("");
    let mut served = e.clone();
    served.command = override_command.clone();
    let server = spawn.start_at(served);

    // Both endpoints of the comma-separated list answer v1.
    server.req().publish(b"via first");
    let other = server.raw(zmq::REQ, &second_query);
    other
        .send_multipart([&b"PUBLISH"[..], b"via second"], 0)
        .unwrap();
    assert_eq!(
        other
            .recv_multipart(0)
            .expect("reply on the second endpoint"),
        vec![b"PUBLISHED".to_vec()]
    );
    assert_eq!(server.req().query_all().len(), 2);
    // The flag replaced the config's command endpoint.
    assert_eq!(server.dealer().query(b"default", b"", b"").len(), 2);
    let port = |ep: &str| ep.rsplit(':').next().unwrap().parse::<u16>().unwrap();
    TcpListener::bind(("127.0.0.1", port(&e.command)))
        .expect("the config's command endpoint is not bound once a flag overrides it");
    // An empty value disabled the publish endpoint.
    TcpListener::bind(("127.0.0.1", port(&e.publish)))
        .expect("an empty --publish-bind-endpoint disables that endpoint");
}

#[test]
fn a_config_with_only_one_protocol_serves_that_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let e = Endpoints::fresh();
    let v2_only = format!(
        "[general]\ncommand-bind-endpoint={}\npublish-bind-endpoint={}\n",
        e.command, e.publish
    );
    let conf = write_file(dir.path(), "v2.conf", &v2_only);
    let server = Spawn::bare(rewind())
        .config(&conf)
        .cwd(dir.path())
        .start_at(e.clone());
    server.dealer().assert_still_serving();
    server.stop();

    let v1_only = format!(
        "[general]\nquery-bind-endpoint={}\nstreaming-bind-endpoint={}\n",
        e.query, e.streaming
    );
    let conf = write_file(dir.path(), "v1.conf", &v1_only);
    let server = Spawn::bare(rewind())
        .config(&conf)
        .cwd(dir.path())
        .start_at(e);
    server.req().assert_still_serving();
    server.stop();
    assert_eq!(entries(dir.path()), vec!["v1.conf", "v2.conf"]);
}

#[test]
fn config_without_general_section_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write_file(
        dir.path(),
        "bad.conf",
        "[server]\nquery-bind-endpoint=tcp://127.0.0.1:1\n",
    );
    let out = Spawn::bare(rewind())
        .config(&conf)
        .cwd(dir.path())
        .run_to_exit();
    out.assert_clean_failure();
    assert_eq!(entries(dir.path()), vec!["bad.conf"], "no file created");
}

#[test]
fn config_without_query_or_command_endpoint_fails_cleanly_before_creating_files() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let text = format!(
        "[general]\nstreaming-bind-endpoint={}\npublish-bind-endpoint={}\n{}",
        tcp(free_port()),
        tcp(free_port()),
        lmdb_section(&db)
    );
    let conf = write_file(dir.path(), "bad.conf", &text);
    let out = Spawn::bare(rewind())
        .config(&conf)
        .cwd(dir.path())
        .run_to_exit();
    out.assert_clean_failure();
    assert!(
        !db.exists(),
        "a configuration error is detected before any file is created"
    );
    assert_eq!(entries(dir.path()), vec!["bad.conf"]);
}

#[test]
fn config_naming_a_store_class_the_binary_cannot_serve_fails_naming_the_class() {
    let dir = tempfile::tempdir().unwrap();
    let e = Endpoints::fresh();
    let sqlite = dir.path().join("db.sqlite");
    let store = format!(
        "storage-backend=mystore\n\n[mystore]\nclass=rewind.server.eventstores.SQLiteEventStore\npath={}\n",
        sqlite.display()
    );
    let conf = write_file(dir.path(), "rewind.conf", &ini(&e, &store));
    let out = Spawn::bare(rewind())
        .config(&conf)
        .cwd(dir.path())
        .run_to_exit();
    let line = out.assert_clean_failure();
    assert!(
        line.contains("SQLiteEventStore"),
        "the error names the class: {line}"
    );
    assert!(!sqlite.exists());
}

#[test]
fn non_integer_zmq_nthreads_exits_with_status_1() {
    let dir = tempfile::tempdir().unwrap();
    let e = Endpoints::fresh();
    let text = ini(&e, "").replace("zmq-nthreads=3", "zmq-nthreads=three");
    let conf = write_file(dir.path(), "rewind.conf", &text);
    let out = Spawn::bare(rewind())
        .config(&conf)
        .cwd(dir.path())
        .run_to_exit();
    out.assert_clean_failure();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

#[test]
fn a_missing_config_file_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let out = Spawn::bare(rewind())
        .config(&dir.path().join("nope.conf"))
        .cwd(dir.path())
        .run_to_exit();
    out.assert_clean_failure();
}

#[test]
fn an_unbindable_endpoint_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut e = Endpoints::fresh();
    e.query = tcp(held.local_addr().unwrap().port());
    let out = Spawn::in_memory(rewind())
        .endpoints(e)
        .cwd(dir.path())
        .run_to_exit();
    out.assert_clean_failure();

    let mut e = Endpoints::fresh();
    e.command = "bogus://nowhere".to_string();
    let out = Spawn::in_memory(rewind())
        .endpoints(e)
        .cwd(dir.path())
        .run_to_exit();
    out.assert_clean_failure();
    drop(held);
}

#[test]
fn an_unwritable_data_dir_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "a-file", "not a directory");
    let out = Spawn::lmdb(rewind(), &file.join("data"))
        .cwd(dir.path())
        .run_to_exit();
    out.assert_clean_failure();
}

fn signal_stops_cleanly_and_keeps_data(sig: i32) {
    let dir = tempfile::tempdir().unwrap();
    let spawn = Spawn::lmdb(rewind(), &dir.path().join("data"));
    let mut server = spawn.start();
    let req = server.req();
    for i in 0..20 {
        req.publish(format!("e{i}").as_bytes());
    }
    let before = req.query_all();
    drop(req);
    server.signal(sig);
    let status = server.wait_exit();
    assert_eq!(
        status.code(),
        Some(0),
        "exit status; output:\n{}",
        server.output()
    );
    drop(server);
    let server = spawn.refresh_ports().start();
    assert_eq!(
        server.req().query_all(),
        before,
        "data published before the signal"
    );
}

#[test]
fn sigterm_stops_with_status_0_and_keeps_published_data() {
    signal_stops_cleanly_and_keeps_data(libc::SIGTERM);
}

#[test]
fn sigint_stops_with_status_0_and_keeps_published_data() {
    signal_stops_cleanly_and_keeps_data(libc::SIGINT);
}

#[test]
fn lmdb_store_keeps_events_of_both_protocols_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let spawn = Spawn::lmdb(rewind(), &dir.path().join("data"));
    let server = spawn.start();
    let req = server.req();
    let d = server.dealer();
    for i in 0..5 {
        req.publish(format!("v1-{i}").as_bytes());
        d.publish(b"s1", format!("v2-{i}").as_bytes());
    }
    let v1 = req.query_all();
    let s1 = d.query(b"s1", b"", b"");
    drop((req, d));
    server.stop();

    let server = spawn.refresh_ports().start();
    let req = server.req();
    let d = server.dealer();
    assert_eq!(req.query_all(), v1);
    assert_eq!(d.query(b"s1", b"", b""), s1);
    // New events continue the same streams.
    req.publish(b"v1-5");
    let id = d.publish(b"s1", b"v2-5");
    assert_eq!(req.query(&v1[4].0, b"").len(), 1);
    assert_eq!(d.query(b"s1", &s1[4].0, b""), vec![(id, b"v2-5".to_vec())]);
}

#[test]
fn in_memory_store_loses_events_on_restart() {
    let spawn = Spawn::in_memory(rewind());
    let server = spawn.start();
    server.req().publish(b"gone");
    server.dealer().publish(b"s", b"gone too");
    assert_eq!(server.req().query_all().len(), 1);
    server.stop();
    let server = spawn.refresh_ports().start();
    assert!(server.req().query_all().is_empty());
    assert!(server.dealer().query(b"s", b"", b"").is_empty());
}

#[test]
fn exit_codeword_on_the_v1_query_endpoint_replies_quit_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let spawn = Spawn::lmdb(rewind(), &dir.path().join("data"))
        .arg("--exit-codeword")
        .arg("EXIT");
    let mut server = spawn.start();
    let req = server.req();
    req.publish(b"before exit");
    req.expect_error(
        &[b"EXI".as_slice()],
        "a prefix of the codeword is no codeword",
    );
    let reply = req.request(&[b"EXIT".as_slice()]);
    assert_eq!(reply, vec![b"QUIT".to_vec()], "{}", show(&reply));
    let status = server.wait_exit();
    assert_eq!(status.code(), Some(0), "output:\n{}", server.output());
    drop(server);
    let server = spawn.refresh_ports().start();
    assert_eq!(
        server.req().query_all().len(),
        1,
        "data kept after a codeword exit"
    );
}

#[test]
fn exit_codeword_on_the_v2_command_endpoint_replies_quit_and_exits_0() {
    // The original form: rewind CONFIGFILE --exit-codeword MSG
    let dir = tempfile::tempdir().unwrap();
    let e = Endpoints::fresh();
    let conf = write_file(dir.path(), "rewind.conf", &ini(&e, ""));
    let mut server = Spawn::bare(rewind())
        .config(&conf)
        .arg("--exit-codeword")
        .arg("EXIT")
        .start_at(e);
    let d = server.dealer();
    d.publish(b"s", b"x");
    // A request whose first frame equals the codeword, whatever follows.
    d.send(&[b"EXIT".as_slice(), b"now"]);
    let raw = d.sock.recv_multipart(0).expect("a reply to the codeword");
    assert_eq!(raw, vec![b"".to_vec(), b"QUIT".to_vec()], "{}", show(&raw));
    let status = server.wait_exit();
    assert_eq!(status.code(), Some(0), "output:\n{}", server.output());
}

#[test]
fn no_arguments_serves_the_embedded_default_from_rewind_data_in_the_current_directory() {
    // The default ports are shared with anything else on this machine
    // (another run of this suite, a developer's server): wait up to 30 s for
    // them, then fail with a clear message rather than skip.
    let defaults = [9090u16, 9091, 9002, 9003, 9004];
    let dir = tempfile::tempdir().unwrap();
    let e = Endpoints {
        query: tcp(9090),
        streaming: tcp(9091),
        command: tcp(9002),
        publish: tcp(9003),
        native: tcp(9004),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let server = loop {
        let busy = defaults
            .iter()
            .find(|&&p| TcpListener::bind(("127.0.0.1", p)).is_err());
        let why = match busy {
            Some(port) => format!("port {port} on 127.0.0.1 is busy"),
            None => match Spawn::bare(rewind())
                .cwd(dir.path())
                .try_start_at(e.clone())
            {
                Ok(server) => break server,
                Err(out) if out.contains("in use") => out,
                Err(out) => panic!("rewind with no arguments did not start:\n{out}"),
            },
        };
        if Instant::now() >= deadline {
            panic!(
                "cannot test the embedded default: {why} for 30 s; stop whatever \
                 listens on 127.0.0.1:9090/9091/9002/9003/9004 and run again"
            );
        }
        thread::sleep(Duration::from_millis(200));
    };
    let log = server.output();
    for ep in [&e.query, &e.streaming, &e.command, &e.publish, &e.native] {
        assert!(
            log.contains(ep.as_str()),
            "the start-up log names {ep}:\n{log}"
        );
    }
    assert!(
        log.contains("rewind-data"),
        "the start-up log names the data directory:\n{log}"
    );
    server.req().publish(b"default");
    server.dealer().publish(b"default", b"v2");
    let sub = server.v1_sub();
    server.req().publish(b"streamed");
    assert_eq!(sub.recv()[2], b"streamed");
    assert_eq!(server.req().query_all().len(), 3);
    server.stop();
    let data = dir.path().join("rewind-data");
    assert!(data.is_dir(), "./rewind-data was created");
    assert!(!entries(&data).is_empty());
}
