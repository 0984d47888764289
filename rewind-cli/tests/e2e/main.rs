//! End-to-end tests: the real `rewind` binary, started as a child process
//! on loopback ports, driven through its command line and both wire
//! protocols with the harness of `rewind-testkit`.
//!
//! | module  | tests |
//! |---------|-------|
//! | `cli`   | command line, INI files, start-up errors, signals, restarts, the exit codeword, the embedded default |
//! | `client` | the Rust client: one suite on an embedded store and on a served one; retries, restarts, subscriptions |
//! | `curve` | ZeroMQ CURVE: allowed clients on every endpoint, refusals logged, key errors, keygen |
//! | `data`  | both protocols together: one event, one id; exact data round-trips; bad input; concurrent clients |
//! | `metrics` | the Prometheus endpoint: off by default; its figures follow what clients do |
//! | `postgres` | the binary on PostgreSQL: by flag and by configuration file, two servers on one database, an unreachable database; three servers whose native and PUB subscribers all see one log through a SIGKILL of a server and a restart of PostgreSQL |
//! | `store` | what the server promises about storage: durability, graceful stop, growth, other processes |
//! | `v1`    | wire protocol v1 (REQ/REP query endpoint, PUB streaming endpoint) |
//! | `v2`    | wire protocol v2 (ROUTER command endpoint, PUB publish endpoint) |
//! | `native` | the native protocol (ROUTER native endpoint): every command and error, reads, subscriptions |
//!
//! `REWIND_E2E_BIN=PATH` runs them against another build of the binary.

mod cli;
mod client;
mod curve;
mod data;
mod metrics;
mod native;
mod postgres;
mod store;
mod v1;
mod v2;

use rewind_testkit::Binary;

/// The binary under test: `REWIND_E2E_BIN` when set, else this package's
/// `rewind`.
fn rewind() -> Binary {
    Binary::from_env_or(env!("CARGO_BIN_EXE_rewind"))
}
