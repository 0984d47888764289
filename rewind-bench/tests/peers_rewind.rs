//! Keeps the Rewind side of the peer benchmark from rotting: every
//! measurement of `rewind_bench::peers::rewind` runs at a tiny size against
//! an in-process server on its native endpoint, and the events it wrote
//! are there afterwards.

use std::time::Duration;

use rewind_bench::peers::rewind::{self, Session, BULK, CONDITIONAL};
use rewind_core::server::{Server, ServerOptions};
use rewind_core::Store;

#[test]
fn every_rewind_side_measurement_runs_against_a_native_server() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_lmdb(dir.path().join("store")).unwrap();
    let server = Server::start(
        store.clone(),
        ServerOptions {
            native_endpoints: vec!["tcp://127.0.0.1:*".into()],
            query_endpoints: Vec::new(),
            streaming_endpoints: Vec::new(),
            command_endpoints: Vec::new(),
            publish_endpoints: Vec::new(),
            ..ServerOptions::default()
        },
    )
    .unwrap();
    let ep = server.bound_options().native_endpoints[0].clone();
    let (events, payload) = (2_500, 100);

    let (n, secs) = rewind::append_batches(&ep, events, 1_000, payload).unwrap();
    assert_eq!(n, events as u64);
    assert!(secs > 0.0);
    let bulk = store.read_stream_vec(BULK, 0, usize::MAX).unwrap();
    assert_eq!(bulk.len(), events);
    assert!(bulk
        .iter()
        .all(|e| e.data.len() == payload && e.event_type == rewind::EVENT_TYPE));

    assert_eq!(
        rewind::read_all(&ep, events, payload).unwrap().0,
        events as u64
    );
    assert_eq!(
        rewind::subscribe_all(&ep, events, payload).unwrap().0,
        events as u64
    );
    // A count that does not match is an error, not a figure.
    assert!(rewind::read_all(&ep, events + 1, payload).is_err());

    let mut s = Session::new(&ep, payload);
    let window = Duration::from_millis(100);
    let one = s.append_one_by_one(1, window).unwrap();
    let many = s.append_one_by_one(4, window).unwrap();
    let first = s.append_conditional(window).unwrap();
    let second = s.append_conditional(window).unwrap();
    assert!(one > 0 && many > 0 && first > 0 && second > 0);
    // Every conditional append went in at the version it expected.
    let cond = store.read_stream_vec(CONDITIONAL, 0, usize::MAX).unwrap();
    assert_eq!(cond.len(), first + second);
    assert!(cond.iter().enumerate().all(|(i, e)| e.version == i as u64));
    // The warm-up appends (one per client) and the timed ones.
    let appended: usize = (0..4)
        .map(|c| {
            store
                .read_stream_vec(format!("one-{c}").as_bytes(), 0, usize::MAX)
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(appended, 4 + one + many);

    drop(s);
    server.stop();
    server.join().unwrap();
}
