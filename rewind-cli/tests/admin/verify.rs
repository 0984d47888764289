//! verify: a store a server is writing passes; after an index entry is
//! deleted and a head changed behind the server's back, verify names each
//! problem and exits non-zero.

use std::ffi::OsStr;

use lmdb::{Environment, Transaction, WriteFlags};
use rewind_testkit::prelude::*;

use crate::{admin, admin_ok, server, Publisher};

#[test]
fn verify_passes_a_good_store_and_names_the_problems_of_a_damaged_one() {
    let dir = tempdir("admin-verify");
    let data = dir.path().join("data");
    let server = server(&data);
    let d = server.dealer();
    let ids: Vec<Vec<u8>> = (0..40)
        .map(|i| d.publish(format!("s{}", i % 4).as_bytes(), b"x"))
        .collect();
    let publisher = Publisher::start(&server, b"busy");
    let out = admin_ok([OsStr::new("verify"), data.as_os_str()]);
    assert!(out.starts_with("ok: ") && out.lines().count() == 1, "{out}");
    drop(publisher);
    server.stop();

    // Damage the store directly: an id index entry goes, a head lies.
    {
        let env = Environment::new().set_max_dbs(8).open(&data).unwrap();
        let ids_db = env.open_db(Some("ids")).unwrap();
        let heads = env.open_db(Some("heads")).unwrap();
        let mut txn = env.begin_rw_txn().unwrap();
        txn.del(ids_db, &ids[5], None).unwrap();
        let mut head = Vec::new();
        head.extend_from_slice(&0u64.to_be_bytes());
        head.extend_from_slice(&2u64.to_be_bytes());
        head.extend_from_slice(&ids[2]);
        txn.put(heads, b"s2", &head, WriteFlags::empty()).unwrap();
        txn.commit().unwrap();
    }
    let f = admin([OsStr::new("verify"), data.as_os_str()]);
    assert_eq!(
        f.status.code(),
        Some(2),
        "stdout:\n{}\nstderr:\n{}",
        f.stdout,
        f.stderr
    );
    let lines: Vec<&str> = f.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", f.stdout);
    assert_eq!(
        lines[0],
        format!(
            "id index: id {} (position 5) is missing",
            String::from_utf8_lossy(&ids[5])
        )
    );
    assert!(
        lines[1].starts_with("heads: stream s2: the head names version 0 at position 2"),
        "{}",
        lines[1]
    );
    assert!(lines[2].starts_with("2 problem(s) in "), "{}", lines[2]);

    let f = admin([
        OsStr::new("verify"),
        data.as_os_str(),
        "--max-problems".as_ref(),
        "1".as_ref(),
    ]);
    assert_eq!(f.status.code(), Some(2));
    assert_eq!(f.stdout.lines().count(), 2, "{}", f.stdout);
}
