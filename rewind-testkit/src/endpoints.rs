//! Loopback ports for servers under test, and the endpoints of one server
//! (v1, v2 and native).

use std::collections::HashSet;
use std::ffi::OsString;
use std::net::TcpListener;
use std::sync::{Mutex, OnceLock};

/// A loopback TCP port that was free a moment ago and that no other test in
/// this process has been handed.
pub fn free_port() -> u16 {
    static GIVEN: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let given = GIVEN.get_or_init(Default::default);
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("bind an ephemeral loopback port")
            .local_addr()
            .unwrap()
            .port();
        if given.lock().unwrap().insert(port) {
            return port;
        }
    }
}

/// `tcp://127.0.0.1:PORT`
pub fn tcp(port: u16) -> String {
    format!("tcp://127.0.0.1:{port}")
}

/// The endpoints of one server.
#[derive(Clone, Debug)]
pub struct Endpoints {
    /// v1 REQ/REP endpoint.
    pub query: String,
    /// v1 PUB endpoint.
    pub streaming: String,
    /// v2 ROUTER endpoint.
    pub command: String,
    /// v2 PUB endpoint.
    pub publish: String,
    /// Native protocol ROUTER endpoint.
    pub native: String,
}

impl Endpoints {
    /// Fresh loopback endpoints.
    pub fn fresh() -> Endpoints {
        Endpoints {
            query: tcp(free_port()),
            streaming: tcp(free_port()),
            command: tcp(free_port()),
            publish: tcp(free_port()),
            native: tcp(free_port()),
        }
    }

    /// The command-line flags that bind these endpoints.
    pub fn flags(&self) -> Vec<OsString> {
        [
            ("--query-bind-endpoint", &self.query),
            ("--streaming-bind-endpoint", &self.streaming),
            ("--command-bind-endpoint", &self.command),
            ("--publish-bind-endpoint", &self.publish),
            ("--native-bind-endpoint", &self.native),
        ]
        .iter()
        .flat_map(|(f, v)| [OsString::from(f), OsString::from(v)])
        .collect()
    }
}
