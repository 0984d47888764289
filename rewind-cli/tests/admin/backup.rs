//! backup while the server writes: the copy opens as a store (a server
//! serves it), holds every event acknowledged before the backup started,
//! and passes verify.

use std::ffi::OsStr;

use rewind_testkit::prelude::*;

use crate::{admin, admin_ok, server_growing, Publisher};

#[test]
fn a_backup_taken_while_the_server_writes_has_every_event_acknowledged_before_it() {
    let dir = tempdir("admin-backup");
    let data = dir.path().join("data");
    let server = server_growing(&data);
    let d = server.dealer();
    // The map starts at 1 MiB and grows: the copy must follow it.
    let big = vec![7u8; 4000];
    let first = d.publish_pipelined(b"big", 2000, 100, |_| big.clone());
    let publisher = Publisher::start(&server, b"busy");
    let before = publisher.acked();
    let dest = dir.path().join("backup");
    let f = admin([OsStr::new("backup"), data.as_os_str(), dest.as_os_str()]);
    assert!(f.status.success(), "{}", f.stderr);
    assert_eq!(f.stderr, "", "quiet when stderr is not a terminal");
    let acked = publisher.finish();
    assert!(acked.len() > before.len());
    let stats = admin_ok([OsStr::new("stats"), data.as_os_str(), "--json".as_ref()]);
    let map_size = serde_json::from_str::<serde_json::Value>(&stats).unwrap()["map_size"]
        .as_u64()
        .unwrap();
    assert!(map_size >= 8 << 20, "the map grew: {stats}");

    let names: Vec<_> = std::fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["data.mdb"]);
    let out = admin_ok([OsStr::new("verify"), dest.as_os_str()]);
    assert!(out.starts_with("ok: "), "{out}");

    // A server serves the copy.
    let copy = crate::server(&dest);
    let c = copy.dealer();
    let busy: Vec<Vec<u8>> = c
        .query(b"busy", b"", b"")
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert!(
        busy.len() >= before.len(),
        "{} of {}",
        busy.len(),
        before.len()
    );
    assert_eq!(
        busy[..before.len()],
        before[..],
        "every event acknowledged before the backup"
    );
    assert_eq!(
        busy[..],
        acked[..busy.len()],
        "and a prefix of what came after"
    );
    let big_ids: Vec<Vec<u8>> = c.query(b"big", b"", b"").into_iter().map(|e| e.0).collect();
    assert_eq!(big_ids, first);
    c.publish(b"busy", b"the copy takes appends");
    copy.stop();

    // Compacted: not larger than the source's data file.
    let src_len = std::fs::metadata(data.join("data.mdb")).unwrap().len();
    let copy_len = std::fs::metadata(dest.join("data.mdb")).unwrap().len();
    assert!(copy_len <= src_len, "{copy_len} > {src_len}");

    // Never over a directory that holds something.
    let f = admin([OsStr::new("backup"), data.as_os_str(), dest.as_os_str()]);
    let line = f.assert_clean_failure();
    assert!(line.contains("is not empty"), "{line}");
    server.stop();
}
