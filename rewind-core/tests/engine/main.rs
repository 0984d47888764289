//! Tests of the engine through its public API: the store on both backends
//! (`store`; appends with types, metadata, several streams and retries in
//! `appends`; reads backwards in `backward`), a store written by an earlier
//! version (`fixture`), filtered log reads (`log_filter`), subscriptions
//! (`subscriptions`), racing writers of multi-stream appends (`races`) and
//! the in-process server (`server_api`). Every suite that runs on both
//! backends runs on PostgreSQL too (a cluster started by the binary); the
//! PostgreSQL backend's own tests are in `postgres`, and its failover to a
//! promoted synchronous replica in `failover`.

mod appends;
mod backward;
#[cfg(feature = "postgres")]
mod failover;
mod fixture;
mod log_filter;
#[cfg(feature = "postgres")]
mod postgres;
mod races;
mod server_api;
mod store;
mod subscriptions;

use rewind_core::{NewEvent, Store};

/// A fresh store on each backend, with its name (and its directory, kept
/// alive as long as the store). PostgreSQL's is a new database of the
/// cluster this test binary starts.
pub fn backends() -> Vec<(&'static str, Store, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let lmdb = Store::open_lmdb(dir.path().join("db")).unwrap();
    #[allow(unused_mut)]
    let mut all = vec![
        ("memory", Store::in_memory(), None),
        ("lmdb", lmdb, Some(dir)),
    ];
    #[cfg(feature = "postgres")]
    all.push(("postgres", postgres_store(), None));
    all
}

/// A store in a new database of this binary's PostgreSQL cluster.
#[cfg(feature = "postgres")]
pub fn postgres_store() -> Store {
    let cluster = rewind_testkit::postgres::Cluster::shared();
    Store::open_postgres(cluster.dsn(&cluster.new_database())).unwrap()
}

/// Waits up to 10 seconds for `done` to hold; panics naming `what` when it
/// does not.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// An event with this data, a generated id, no type and no metadata.
pub fn ev(d: &str) -> NewEvent {
    NewEvent::new(d.as_bytes())
}
