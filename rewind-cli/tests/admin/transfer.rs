//! export and import: a store exported while a server writes it imports
//! into an empty directory and exports again to the same bytes; a target
//! that is not empty and a damaged, truncated or foreign file are refused
//! with one line, and nothing is written.

use std::ffi::OsStr;

use rewind_testkit::prelude::*;

use crate::{admin, admin_ok, b64, json_lines, server, Publisher};

#[test]
fn an_export_taken_while_the_server_writes_round_trips_byte_for_byte() {
    let dir = tempdir("admin-export");
    let data = dir.path().join("data");
    let server = server(&data);
    let d = server.dealer();
    d.publish(b"bin", &[0, 1, 2, 0xff, b'\n']);
    server.req().publish(b"through v1");
    let publisher = Publisher::start(&server, b"busy");
    let first = dir.path().join("first.jsonl");
    admin_ok([
        OsStr::new("export"),
        data.as_os_str(),
        "-o".as_ref(),
        first.as_os_str(),
    ]);
    let acked_before_end = publisher.acked().len();
    let acked = publisher.finish();

    let text = std::fs::read_to_string(&first).unwrap();
    let lines = json_lines(&text);
    let n = lines.len() - 2;
    assert_eq!(lines[0]["format"], "rewind-export");
    assert_eq!(lines[0]["version"], 1);
    assert_eq!(lines[0]["events"], n as u64);
    assert_eq!(lines[n + 1]["end"], true);
    assert_eq!(lines[n + 1]["events"], n as u64);
    assert!(
        n >= 22 && n <= acked.len() + 2,
        "{n} events of {}",
        acked.len() + 2
    );
    assert!(n >= 2 + acked_before_end.min(20));
    assert_eq!(b64(&lines[1]["data"]), [0, 1, 2, 0xff, b'\n']);
    assert_eq!(b64(&lines[2]["stream"]), b"default");
    // The busy events exported are a prefix of those acknowledged, in order.
    let busy: Vec<Vec<u8>> = lines[3..=n].iter().map(|l| b64(&l["id"])).collect();
    assert_eq!(busy, acked[..busy.len()]);

    // Import into a new directory, export again: the same bytes.
    let copy = dir.path().join("copy");
    let f = admin([
        OsStr::new("import"),
        copy.as_os_str(),
        "-i".as_ref(),
        first.as_os_str(),
    ]);
    assert!(f.status.success(), "{}", f.stderr);
    assert_eq!(f.stderr, "", "quiet when stderr is not a terminal");
    let second = dir.path().join("second.jsonl");
    admin_ok([
        OsStr::new("export"),
        copy.as_os_str(),
        "-o".as_ref(),
        second.as_os_str(),
    ]);
    assert!(
        std::fs::read(&first).unwrap() == std::fs::read(&second).unwrap(),
        "the exports differ"
    );
    // ... and through stdout, the same bytes too
    let third = admin_ok([OsStr::new("export"), copy.as_os_str()]);
    assert!(third.as_bytes() == std::fs::read(&first).unwrap().as_slice());

    // The imported store is served like any other.
    let copy_server = crate::server(&copy);
    let ids: Vec<Vec<u8>> = copy_server
        .dealer()
        .query(b"busy", b"", b"")
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(ids, busy);
    copy_server.stop();
    server.stop();
}

#[test]
fn import_refuses_a_store_with_events_and_damaged_files_writing_nothing() {
    let dir = tempdir("admin-import");
    let data = dir.path().join("data");
    let server = server(&data);
    let d = server.dealer();
    for i in 0..50 {
        d.publish(
            format!("s{}", i % 3).as_bytes(),
            format!("event {i}").as_bytes(),
        );
    }
    let good = dir.path().join("good.jsonl");
    admin_ok([
        OsStr::new("export"),
        data.as_os_str(),
        "-o".as_ref(),
        good.as_os_str(),
    ]);
    let bytes = std::fs::read(&good).unwrap();

    let refused = |file: &std::path::Path, target: &std::path::Path| -> String {
        let f = admin([
            OsStr::new("import"),
            target.as_os_str(),
            "-i".as_ref(),
            file.as_os_str(),
        ]);
        let line = f.assert_clean_failure();
        assert!(
            line.starts_with("rewind-admin: error: cannot import "),
            "{line}"
        );
        line
    };
    // Into the server's own store, which has events.
    let line = refused(&good, &data);
    assert!(line.contains("is not empty"), "{line}");
    let stats = admin_ok([OsStr::new("stats"), data.as_os_str(), "--json".as_ref()]);
    assert!(stats.contains("\"events\":50,"), "{stats}");

    let target = dir.path().join("target");
    let write = |name: &str, b: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, b).unwrap();
        p
    };
    // One byte changed in the middle.
    let mut flipped = bytes.clone();
    let at = flipped.len() / 2;
    flipped[at] = if flipped[at] == b'A' { b'B' } else { b'A' };
    let line = refused(&write("flipped.jsonl", &flipped), &target);
    assert!(
        line.contains("line ") || line.contains("checksum"),
        "{line}"
    );
    // A data byte changed, JSON still valid: only the checksum tells.
    let text = String::from_utf8(bytes.clone()).unwrap();
    let changed = text.replacen("\"data\":\"ZXZlbnQgMA==\"", "\"data\":\"ZXZlbnQgMQ==\"", 1);
    assert_ne!(changed, text);
    let line = refused(&write("changed.jsonl", changed.as_bytes()), &target);
    assert!(
        line.ends_with("line 52: the checksum does not match: the file is damaged"),
        "{line}"
    );
    // Truncated, at a line end and in a line.
    let cut = text.rfind("{\"end\"").unwrap();
    let line = refused(&write("cut.jsonl", &bytes[..cut]), &target);
    assert!(line.contains("truncated"), "{line}");
    let line = refused(&write("cut2.jsonl", &bytes[..bytes.len() / 3]), &target);
    assert!(line.contains("truncated"), "{line}");
    // Another version, another format.
    let v2 = text.replacen("\"version\":1,", "\"version\":2,", 1);
    let line = refused(&write("v2.jsonl", v2.as_bytes()), &target);
    assert!(
        line.ends_with("line 1: export format version 2 is not supported (this reads version 1)"),
        "{line}"
    );
    let line = refused(&write("other.txt", b"id\tZGF0YQ==\n"), &target);
    assert!(line.contains("line 1"), "{line}");
    let missing = dir.path().join("missing.jsonl");
    let f = admin([
        OsStr::new("import"),
        target.as_os_str(),
        "-i".as_ref(),
        missing.as_os_str(),
    ]);
    let line = f.assert_clean_failure();
    assert!(
        line.starts_with("rewind-admin: error: cannot read "),
        "{line}"
    );

    assert!(!target.exists(), "a refused import writes nothing");
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(names.is_empty(), "left behind: {names:?}");

    // The good file into an empty directory works.
    std::fs::create_dir(&target).unwrap();
    admin_ok([
        OsStr::new("import"),
        target.as_os_str(),
        "-i".as_ref(),
        good.as_os_str(),
    ]);
    let stats = admin_ok([OsStr::new("stats"), target.as_os_str(), "--json".as_ref()]);
    assert!(stats.contains("\"events\":50,"), "{stats}");
    server.stop();
}
