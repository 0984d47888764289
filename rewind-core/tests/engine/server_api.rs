//! The in-process server API: wildcard ports, stop and join, a store shared
//! with embedded appends.

use std::time::Duration;

use rewind_core::server::{ExitReason, Server, ServerOptions};
use rewind_core::{ExpectedVersion, NewEvent, Store};

fn wildcard_options() -> ServerOptions {
    ServerOptions {
        query_endpoints: vec!["tcp://127.0.0.1:*".into()],
        streaming_endpoints: vec![],
        command_endpoints: vec!["tcp://127.0.0.1:*".into()],
        publish_endpoints: vec!["tcp://127.0.0.1:*".into()],
        ..ServerOptions::default()
    }
}

#[test]
fn wildcard_ports_are_reported_as_bound_and_serve() {
    let store = Store::in_memory();
    let server = Server::start(store.clone(), wildcard_options()).unwrap();
    let bound = server.bound_options().clone();
    assert!(bound.streaming_endpoints.is_empty());
    let cmd = &bound.command_endpoints[0];
    assert!(
        cmd.starts_with("tcp://127.0.0.1:") && !cmd.ends_with('*'),
        "{cmd}"
    );

    let ctx = zmq::Context::new();
    let sub = ctx.socket(zmq::SUB).unwrap();
    sub.set_subscribe(b"").unwrap();
    sub.set_rcvtimeo(10_000).unwrap();
    sub.connect(&bound.publish_endpoints[0]).unwrap();
    let req = ctx.socket(zmq::REQ).unwrap();
    req.set_rcvtimeo(10_000).unwrap();
    req.connect(&bound.query_endpoints[0]).unwrap();

    // An embedded append is broadcast like a wire one; retry until the
    // subscription has reached the server.
    let mut got = None;
    for _ in 0..50 {
        store
            .append(b"emb", vec![NewEvent::new("x")], ExpectedVersion::Any)
            .unwrap();
        if let Ok(m) = sub.recv_multipart(zmq::DONTWAIT) {
            got = Some(m);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        if let Ok(m) = sub.recv_multipart(zmq::DONTWAIT) {
            got = Some(m);
            break;
        }
    }
    let got = got.expect("no event on the publish socket");
    assert_eq!(
        (got[0].as_slice(), got[2].as_slice()),
        (&b"emb"[..], &b"x"[..])
    );

    req.send_multipart([&b"PUBLISH"[..], b"over the wire"], 0)
        .unwrap();
    assert_eq!(req.recv_multipart(0).unwrap(), vec![b"PUBLISHED".to_vec()]);
    let default = store.read_stream_vec(b"default", 0, 10).unwrap();
    assert_eq!(default[0].data, b"over the wire");

    assert!(!server.is_finished());
    server.stop();
    assert!(server.wait_timeout(Duration::from_secs(10)));
    assert_eq!(server.join().unwrap(), ExitReason::Stopped);
    // The store outlives the server.
    store
        .append(b"emb", vec![NewEvent::new("after")], ExpectedVersion::Any)
        .unwrap();
}

#[test]
fn a_server_can_be_started_again_on_the_same_store() {
    let store = Store::in_memory();
    for round in 0..3 {
        let server = Server::start(store.clone(), wildcard_options()).unwrap();
        let ctx = zmq::Context::new();
        let req = ctx.socket(zmq::REQ).unwrap();
        req.set_rcvtimeo(10_000).unwrap();
        req.connect(&server.bound_options().query_endpoints[0])
            .unwrap();
        req.send_multipart([&b"PUBLISH"[..], b"e"], 0).unwrap();
        assert_eq!(req.recv_multipart(0).unwrap(), vec![b"PUBLISHED".to_vec()]);
        drop(server); // dropping stops it
        assert_eq!(store.next_position().unwrap(), round + 1);
    }
}

#[test]
fn options_without_a_request_endpoint_are_refused() {
    let options = ServerOptions {
        query_endpoints: vec![],
        command_endpoints: vec![],
        ..ServerOptions::default()
    };
    let err = Server::start(Store::in_memory(), options).err().unwrap();
    assert!(
        err.to_string()
            .contains("query, command or native endpoint"),
        "{err}"
    );
}
