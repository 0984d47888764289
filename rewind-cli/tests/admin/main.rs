//! The operator's tools (`rewind-admin`) against stores that a real
//! `rewind` server is writing, with events published over ZeroMQ while
//! the tools run.
//!
//! | module     | tests |
//! |------------|-------|
//! | `look`     | stats, streams, cat and tail, `--follow`, a closed stdout |
//! | `transfer` | export and import: the byte-identical round trip, refusals |
//! | `backup`   | a backup taken while the server writes, opened as a store |
//! | `verify`   | a good store passes; a deliberately damaged one is reported |
//! | `safety`   | read-only tools never write the store; bad input is one line |
//!
//! `REWIND_E2E_BIN=PATH` runs the server from another build.

mod backup;
mod look;
mod safety;
mod transfer;
mod verify;

use std::ffi::OsString;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use rewind_testkit::prelude::*;
use rewind_testkit::Rewind;

/// The server binary: `REWIND_E2E_BIN` when set, else this package's `rewind`.
fn rewind() -> Binary {
    Binary::from_env_or(env!("CARGO_BIN_EXE_rewind"))
}

/// This package's `rewind-admin`.
fn admin_bin() -> Binary {
    Binary::at(env!("CARGO_BIN_EXE_rewind-admin"))
}

/// Runs `rewind-admin ARGS` to its end.
fn admin<A: Into<OsString>>(args: impl IntoIterator<Item = A>) -> Finished {
    let mut s = Spawn::bare(admin_bin());
    for a in args {
        s = s.arg(a);
    }
    s.run_to_exit()
}

/// Runs `rewind-admin ARGS`, asserts success, and returns its stdout.
fn admin_ok<A: Into<OsString>>(args: impl IntoIterator<Item = A>) -> String {
    let f = admin(args);
    assert!(
        f.status.success(),
        "rewind-admin failed ({:?}); stderr:\n{}",
        f.status,
        f.stderr
    );
    assert_no_panic(&f.stderr);
    f.stdout
}

/// A server on an LMDB store in `dir`.
fn server(dir: &Path) -> Rewind {
    ServerSpec::lmdb(rewind(), dir).start()
}

/// A server on an LMDB store in `dir` whose map starts at 1 MiB, so that
/// it grows (and readers must follow it) within a test.
fn server_growing(dir: &Path) -> Rewind {
    let parent = dir.parent().expect("a store directory in a test directory");
    let config = write_file(
        parent,
        "growing.ini",
        &format!(
            "[general]\nquery-bind-endpoint=tcp://127.0.0.1:1\nstorage-backend=store\n\n\
             [store]\nclass=rewind.server.eventstores.LMDBEventStore\npath={}\n\
             initial-map-size=1M\n",
            dir.display()
        ),
    );
    Spawn::new(rewind()).config(&config).start()
}

/// A client that publishes to `stream` on its own thread until stopped,
/// keeping the ids acknowledged, in order.
struct Publisher {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<Vec<u8>>>>,
    handle: Option<JoinHandle<()>>,
}

impl Publisher {
    fn start(server: &Rewind, stream: &'static [u8]) -> Publisher {
        let d = server.dealer();
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let handle = {
            let (stop, acked) = (stop.clone(), acked.clone());
            thread::spawn(move || {
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let id = d.publish(stream, &tagged(0, n));
                    acked.lock().unwrap().push(id);
                    n += 1;
                }
            })
        };
        // Some events are in before the tools run.
        while acked.lock().unwrap().len() < 20 {
            thread::sleep(std::time::Duration::from_millis(5));
        }
        Publisher {
            stop,
            acked,
            handle: Some(handle),
        }
    }

    /// The ids acknowledged so far.
    fn acked(&self) -> Vec<Vec<u8>> {
        self.acked.lock().unwrap().clone()
    }

    /// Stops publishing; returns every id acknowledged.
    fn finish(mut self) -> Vec<Vec<u8>> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take().unwrap().join().unwrap();
        self.acked()
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Base64 text from a JSON value, decoded.
fn b64(v: &serde_json::Value) -> Vec<u8> {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    rewind_core::admin::base64::decode(s).unwrap_or_else(|| panic!("not base64: {s}"))
}

/// The JSON lines of `text`.
fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}
