//! End-to-end tests of the Prometheus metrics endpoint
//! (`--metrics-bind-address`): off by default, and when on, its figures
//! follow what clients do.

use std::time::{Duration, Instant};

use rewind_testkit::prelude::*;

use crate::rewind;

pub(crate) use rewind_testkit::metrics::{metrics_address, sample, scrape};

#[test]
fn metrics_follow_appends_reads_clients_subscribers_and_storage() {
    let dir = tempfile::tempdir().unwrap();
    let server = Spawn::lmdb(rewind(), &dir.path().join("store"))
        .arg("--metrics-bind-address")
        .arg("127.0.0.1:0")
        .start();
    let address = metrics_address(&server);
    let sub = server.v2_sub(b"");
    let req = server.req();
    let dealer = server.dealer();
    for i in 0..5 {
        req.publish(format!("v1-{i}").as_bytes());
    }
    for i in 0..3 {
        dealer.publish(b"orders", format!("v2-{i}").as_bytes());
    }
    assert_eq!(req.query_all().len(), 5);
    let deadline = Instant::now() + Duration::from_secs(20);
    let text = loop {
        let text = scrape(&address);
        if sample(&text, "rewind_subscribers") >= 1.0 && sample(&text, "rewind_clients") >= 2.0 {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "connections never counted:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(sample(&text, "rewind_appends_total"), 8.0, "{text}");
    assert_eq!(sample(&text, "rewind_events_appended_total"), 8.0);
    assert_eq!(sample(&text, "rewind_events"), 8.0);
    assert_eq!(sample(&text, "rewind_append_errors_total"), 0.0);
    assert!(sample(&text, "rewind_requests_total{protocol=\"v1\"}") >= 6.0);
    assert!(sample(&text, "rewind_requests_total{protocol=\"v2\"}") >= 3.0);
    assert!(sample(&text, "rewind_reads_total") >= 1.0);
    let commits = sample(&text, "rewind_commit_batch_appends_count");
    assert!((1.0..=8.0).contains(&commits), "{commits} commits");
    assert_eq!(sample(&text, "rewind_commit_seconds_count"), commits);
    assert!(sample(&text, "rewind_storage_bytes") > 0.0);
    assert!(
        sample(&text, "rewind_storage_used_bytes") <= sample(&text, "rewind_storage_map_bytes")
    );
    // A refused request counts as an error, not an append.
    dealer.request(&[b"PUBLISH".as_slice(), b"", b"no stream name"]);
    drop(sub);
    let text = scrape(&address);
    assert_eq!(sample(&text, "rewind_appends_total"), 8.0);
}

#[test]
fn there_is_no_metrics_endpoint_unless_asked_for() {
    let server = Spawn::in_memory(rewind()).start();
    let out = server.output();
    assert!(out.contains("rewind is ready"), "{out}");
    assert!(!out.contains("metrics"), "{out}");
}

#[test]
fn a_metrics_address_in_use_is_a_clean_start_up_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let err = Spawn::in_memory(rewind())
        .arg("--metrics-bind-address")
        .arg(&address)
        .run_to_exit()
        .assert_refused();
    assert!(err.contains(&address), "{err}");
}
