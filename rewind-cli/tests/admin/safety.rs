//! The tools that read never write the store (its data file keeps its
//! bytes and its modification time), and bad input gets one line
//! `rewind-admin: error: …` and a non-zero exit.

use std::ffi::OsStr;
use std::time::SystemTime;

use rewind_testkit::prelude::*;

use crate::{admin, admin_ok, server};

fn snapshot(dir: &std::path::Path) -> (Vec<u8>, SystemTime, Vec<String>) {
    let data = dir.join("data.mdb");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    (
        std::fs::read(&data).unwrap(),
        std::fs::metadata(&data).unwrap().modified().unwrap(),
        names,
    )
}

#[test]
fn read_only_tools_never_write_the_store() {
    let dir = tempdir("admin-ro");
    let data = dir.path().join("data");
    let server = server(&data);
    let d = server.dealer();
    for i in 0..200 {
        d.publish(
            format!("s{}", i % 5).as_bytes(),
            format!("event {i}").as_bytes(),
        );
    }
    server.stop();
    let before = snapshot(&data);
    // A coarse clock would hide a write.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let out = dir.path().join("out.jsonl");
    let d = data.as_os_str();
    let runs: Vec<Vec<&OsStr>> = vec![
        vec!["stats".as_ref(), d],
        vec!["stats".as_ref(), d, "--json".as_ref()],
        vec!["streams".as_ref(), d],
        vec!["cat".as_ref(), d],
        vec!["tail".as_ref(), d, "--stream".as_ref(), "s1".as_ref()],
        vec!["verify".as_ref(), d],
        vec!["export".as_ref(), d, "-o".as_ref(), out.as_os_str()],
        vec![
            "backup".as_ref(),
            d,
            dir.path().join("bk").into_os_string().leak(),
        ],
    ];
    for args in runs {
        admin_ok(args.clone());
        let after = snapshot(&data);
        assert!(after.0 == before.0, "{args:?} changed data.mdb");
        assert_eq!(after.1, before.1, "{args:?} touched data.mdb");
        assert_eq!(after.2, before.2, "{args:?} changed the directory");
    }
}

#[test]
fn bad_input_is_one_clear_line_and_a_non_zero_exit() {
    let dir = tempdir("admin-bad");
    let data = dir.path().join("data");
    let server = server(&data);
    server.dealer().publish(b"s", b"x");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let file = write_file(dir.path(), "file", "not a store");
    let missing = dir.path().join("missing");
    let cases: Vec<(Vec<&OsStr>, &str)> = vec![
        (
            vec!["stats".as_ref(), missing.as_os_str()],
            "no such directory",
        ),
        (
            vec!["streams".as_ref(), empty.as_os_str()],
            "is not a Rewind store",
        ),
        (
            vec!["verify".as_ref(), file.as_os_str()],
            "is not a directory",
        ),
        (
            vec![
                "cat".as_ref(),
                data.as_os_str(),
                "--from".as_ref(),
                "-3".as_ref(),
            ],
            "(see rewind-admin --help)",
        ),
        (
            vec!["tail".as_ref(), data.as_os_str(), "--bogus".as_ref()],
            "unexpected argument '--bogus'",
        ),
        (vec!["frobnicate".as_ref()], "unrecognized subcommand"),
        (vec![], "a subcommand is needed"),
        (
            vec!["export".as_ref()],
            "required arguments were not provided",
        ),
        (
            vec!["backup".as_ref(), data.as_os_str(), file.as_os_str()],
            "is not a directory",
        ),
        (
            vec![
                "import".as_ref(),
                dir.path().join("new").into_os_string().leak(),
                "-i".as_ref(),
                file.as_os_str(),
            ],
            "line 1",
        ),
        (
            vec![
                "export".as_ref(),
                data.as_os_str(),
                "-o".as_ref(),
                missing.join("x.jsonl").into_os_string().leak(),
            ],
            "cannot create",
        ),
    ];
    for (args, wanted) in cases {
        let f = admin(args.clone());
        let line = f.assert_clean_failure();
        assert_eq!(f.status.code(), Some(1), "{args:?}");
        assert!(
            line.starts_with("rewind-admin: error: "),
            "{args:?}: {line}"
        );
        assert!(line.contains(wanted), "{args:?}: {line} (wanted {wanted})");
        assert_eq!(f.stdout, "", "{args:?}");
    }
    assert!(!dir.path().join("new").exists());
    // --help and --version are not errors.
    assert!(admin_ok(["--help"]).contains("export"));
    assert!(admin_ok(["--version"]).starts_with("rewind-admin "));
    server.stop();
}
