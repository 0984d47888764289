//! End-to-end tests of the Prometheus metrics endpoint
//! (`--metrics-bind-address`): off by default, and when on, its figures
//! follow what clients do.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use rewind_testkit::prelude::*;

use crate::rewind;

/// The address the ready line names for the metrics.
pub(crate) fn metrics_address(server: &Rewind) -> String {
    let out = server.output();
    let start = out
        .find("metrics http://")
        .unwrap_or_else(|| panic!("no metrics in the ready line:\n{out}"))
        + "metrics http://".len();
    let rest = &out[start..];
    rest[..rest.find("/metrics").expect("a /metrics path")].to_string()
}

pub(crate) fn scrape(address: &str) -> String {
    let mut c = TcpStream::connect(address).expect("connect to the metrics endpoint");
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"GET /metrics HTTP/1.1\r\nHost: rewind\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    c.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    reply
}

/// The value of one sample (`name` with its labels, exactly as exposed).
pub(crate) fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no sample {name} in:\n{text}"))
        .parse()
        .unwrap()
}

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
