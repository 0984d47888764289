//! End-to-end tests of ZeroMQ CURVE (`--curve-secret-key`,
//! `--curve-allowed-clients`, the same keys in `[general]`): an allowed
//! client works on every endpoint; a client with another key, or without
//! CURVE, gets nothing and its refusal is logged; bad keys stop the start
//! before any file is created; `rewind-admin keygen` prints keys that work
//! as they are.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rewind_core::curve::{generate_keypair, KeyPair};
use rewind_testkit::prelude::*;

use crate::rewind;

/// How long a refused client waits to be sure it gets nothing.
const REFUSED_WAIT: Duration = Duration::from_millis(1500);

/// A server with CURVE on, admitting `allowed`; returns it with the
/// server's public key.
fn curve_server(allowed: &[&KeyPair]) -> (Rewind, String) {
    let server = generate_keypair().unwrap();
    let list: Vec<&str> = allowed.iter().map(|k| k.public.as_str()).collect();
    let rewind = Spawn::in_memory(rewind())
        .arg(format!("--curve-secret-key={}", server.secret))
        .arg(format!("--curve-public-key={}", server.public))
        .arg(format!("--curve-allowed-clients={}", list.join(",")))
        .start();
    (rewind, server.public)
}

/// Makes `s` a CURVE client of the server with public key `server`, with
/// the key pair `keys`.
fn as_curve_client(s: &zmq::Socket, server: &str, keys: &KeyPair) {
    s.set_curve_serverkey(server.as_bytes()).unwrap();
    s.set_curve_publickey(keys.public.as_bytes()).unwrap();
    s.set_curve_secretkey(keys.secret.as_bytes()).unwrap();
}

/// A socket of `kind` connected to `endpoint`, set up by `setup` first.
fn client(
    r: &Rewind,
    kind: zmq::SocketType,
    endpoint: &str,
    setup: impl FnOnce(&zmq::Socket),
) -> zmq::Socket {
    let s = unconnected(&r.ctx, kind);
    setup(&s);
    if kind == zmq::SUB {
        s.set_subscribe(b"").unwrap();
    }
    s.connect(endpoint).unwrap();
    s
}

/// Waits until the server's output contains every one of `needles`.
fn logged(r: &Rewind, needles: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = r.output();
        if needles.iter().all(|n| out.contains(n)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the server never logged {needles:?}; its output:\n{out}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_allowed_client_works_on_every_endpoint() {
    let alice = generate_keypair().unwrap();
    let bob = generate_keypair().unwrap();
    let (r, server) = curve_server(&[&alice, &bob]);
    let e = r.endpoints.clone();
    let secure = |s: &zmq::Socket| as_curve_client(s, &server, &alice);
    let v1_sub = subscriber(&r.ctx, &e.streaming, secure);
    let v2_sub = subscriber(&r.ctx, &e.publish, |s| as_curve_client(s, &server, &bob));
    let req = Req::on(client(&r, zmq::REQ, &e.query, secure));
    let dealer = Dealer::on(client(&r, zmq::DEALER, &e.command, secure));

    // Probes until both subscriptions have reached the server.
    settle_subscription(&v1_sub, || req.publish(b"probe-v1"));
    settle_subscription(&v2_sub, || {
        dealer.publish(b"probe", b"probe-v2");
    });
    while recv_within(&v1_sub, Duration::from_millis(200)).is_some() {}

    req.publish(b"over v1");
    let id = dealer.publish(b"orders", b"over v2");
    let data: Vec<Vec<u8>> = req.query_all().into_iter().map(|(_, data)| data).collect();
    assert_eq!(data.last(), Some(&b"over v1".to_vec()));
    let got = dealer.query(b"orders", b"", b"");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0], (id.clone(), b"over v2".to_vec()));

    // v1 streams the default stream, v2 publishes every stream.
    assert_eq!(recv(&v1_sub, "v1 event")[2], b"over v1");
    let v2_events: Vec<Vec<Vec<u8>>> = (0..2).map(|_| recv(&v2_sub, "v2 event")).collect();
    assert_eq!(
        v2_events[1],
        vec![b"orders".to_vec(), id, b"over v2".to_vec()]
    );
    assert!(!r.output().contains("refused"), "{}", r.output());
}

#[test]
fn a_client_with_another_key_or_without_curve_gets_nothing_and_is_logged() {
    let alice = generate_keypair().unwrap();
    let mallory = generate_keypair().unwrap();
    let (r, server) = curve_server(&[&alice]);
    let e = r.endpoints.clone();
    let wrong = |s: &zmq::Socket| as_curve_client(s, &server, &mallory);
    let plain = |_: &zmq::Socket| {};

    let mut refused = Vec::new();
    for setup in [&wrong as &dyn Fn(&zmq::Socket), &plain] {
        let req = client(&r, zmq::REQ, &e.query, setup);
        req.send_multipart([&b"PUBLISH"[..], b"sneaked in"], zmq::DONTWAIT)
            .unwrap();
        let dealer = client(&r, zmq::DEALER, &e.command, setup);
        dealer
            .send_multipart([&b""[..], b"PUBLISH", b"s", b"sneaked in"], zmq::DONTWAIT)
            .unwrap();
        let v1_sub = client(&r, zmq::SUB, &e.streaming, setup);
        let v2_sub = client(&r, zmq::SUB, &e.publish, setup);
        refused.push([req, dealer, v1_sub, v2_sub]);
    }

    // The allowed client appends while the others wait: none of them gets a
    // reply or an event, and nothing they sent reached the store.
    let alice_req = Req::on(client(&r, zmq::REQ, &e.query, |s| {
        as_curve_client(s, &server, &alice)
    }));
    let until = Instant::now() + REFUSED_WAIT;
    while Instant::now() < until {
        alice_req.publish(b"from alice");
        for sockets in &refused {
            for s in sockets {
                assert_eq!(
                    s.poll(zmq::POLLIN, 0).unwrap(),
                    0,
                    "a refused client got a message"
                );
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for sockets in &refused {
        for s in sockets {
            assert_eq!(
                s.poll(zmq::POLLIN, 100).unwrap(),
                0,
                "a refused client got a message"
            );
        }
    }
    let stored = alice_req.query_all();
    assert!(!stored.is_empty());
    assert!(
        stored.iter().all(|(_, data)| data == b"from alice"),
        "{stored:?}"
    );
    let alice_dealer = Dealer::on(client(&r, zmq::DEALER, &e.command, |s| {
        as_curve_client(s, &server, &alice)
    }));
    assert_eq!(alice_dealer.query(b"s", b"", b""), vec![]);

    // Each refusal is logged: the CURVE ones with the socket, the address
    // and the key; the others with the endpoint (and why: the mechanisms
    // differ, or the client saw it first and hung up).
    let key = format!("its key {} is not on curve-allowed-clients", mallory.public);
    let mut needles: Vec<String> = ["v1 query", "v1 streaming", "v2 command", "v2 publish"]
        .iter()
        .map(|name| format!("refused a CURVE client on {name} from 127.0.0.1: {key}"))
        .collect();
    for ep in [&e.query, &e.streaming, &e.command, &e.publish] {
        needles.push(format!("refused a client on {ep}: "));
    }
    logged(&r, &needles.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        !r.output().contains(&alice.public),
        "the allowed key was refused"
    );
}

/// Runs `rewind-admin keygen` with `args`; its `NAME=VALUE` lines.
fn keygen(args: &[&str]) -> Vec<(String, String)> {
    let out = Command::new(env!("CARGO_BIN_EXE_rewind-admin"))
        .arg("keygen")
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or_else(|| panic!("{text}"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn value(lines: &[(String, String)], key: &str) -> String {
    lines
        .iter()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("no {key} in {lines:?}"))
        .1
        .clone()
}

#[test]
fn keygen_output_pastes_into_the_config_file_and_client_options() {
    let server = keygen(&["--server"]);
    let names: Vec<&str> = server.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["curve-public-key", "curve-secret-key"]);
    let client_lines = keygen(&[]);
    let names: Vec<&str> = client_lines.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["public-key", "secret-key"]);
    let alice = KeyPair {
        public: value(&client_lines, "public-key"),
        secret: value(&client_lines, "secret-key"),
    };
    assert_eq!(
        rewind_core::curve::public_key_of(&alice.secret).unwrap(),
        alice.public
    );

    // The server's lines, as printed, in [general].
    let e = Endpoints::fresh();
    let dir = tempfile::tempdir().unwrap();
    let mut ini = format!(
        "[general]\nquery-bind-endpoint={}\ncommand-bind-endpoint={}\n\
         curve-allowed-clients={}\n",
        e.query, e.command, alice.public
    );
    for (k, v) in &server {
        ini.push_str(&format!("{k}={v}\n"));
    }
    let path = dir.path().join("rewind.ini");
    std::fs::write(&path, ini).unwrap();
    let r = Spawn::bare(rewind()).config(&path).start_at(e.clone());
    let dealer = Dealer::on(client(&r, zmq::DEALER, &e.command, |s| {
        as_curve_client(s, &value(&server, "curve-public-key"), &alice)
    }));
    dealer.publish(b"s", b"with keys from keygen");
    assert_eq!(dealer.query(b"s", b"", b"").len(), 1);
}

/// Runs the binary with `args` on an LMDB directory that must not appear;
/// returns its one-line error.
fn refused(args: &[String]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("never-created");
    let mut spawn = Spawn::lmdb(rewind(), &store);
    for a in args {
        spawn = spawn.arg(a);
    }
    let line = spawn.run_to_exit().assert_refused();
    assert!(!Path::new(&store).exists(), "{line}");
    line
}

#[test]
fn bad_curve_options_are_configuration_errors_before_any_file() {
    let server = generate_keypair().unwrap();
    let client = generate_keypair().unwrap();
    let secret = format!("--curve-secret-key={}", server.secret);
    let allowed = format!("--curve-allowed-clients={}", client.public);
    let cases: [(Vec<String>, &str); 5] = [
        (vec![secret.clone()], "curve-allowed-clients"),
        (vec![allowed.clone()], "need curve-secret-key"),
        (
            vec!["--curve-secret-key=tooshort".into(), allowed.clone()],
            "curve-secret-key must be a CURVE key in Z85",
        ),
        (
            vec![
                secret.clone(),
                format!("--curve-allowed-clients={},nope", client.public),
            ],
            "curve-allowed-clients entry 'nope'",
        ),
        (
            vec![
                secret,
                allowed,
                format!("--curve-public-key={}", client.public),
            ],
            "curve-public-key is not the public key of curve-secret-key",
        ),
    ];
    for (args, needle) in cases {
        let line = refused(&args);
        assert!(
            line.contains("configuration error") && line.contains(needle),
            "{args:?}: {line}"
        );
    }
}
