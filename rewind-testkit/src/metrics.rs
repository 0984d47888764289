//! The metrics endpoint of a running server (`--metrics-bind-address`):
//! its address from the ready line, a scrape over HTTP, one sample read
//! from the text.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::process::Rewind;

/// The address the ready line names for the metrics.
pub fn metrics_address(server: &Rewind) -> String {
    let out = server.output();
    let start = out
        .find("metrics http://")
        .unwrap_or_else(|| panic!("no metrics in the ready line:\n{out}"))
        + "metrics http://".len();
    let rest = &out[start..];
    rest[..rest.find("/metrics").expect("a /metrics path")].to_string()
}

/// `GET /metrics` at `address`: the whole HTTP reply (status `200 OK`).
pub fn scrape(address: &str) -> String {
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
pub fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no sample {name} in:\n{text}"))
        .parse()
        .unwrap()
}
