//! Reliability tests: the real `rewind` binary under crashes, hostile
//! input, load, other processes, storage faults and slow subscribers, with
//! the harness of `rewind-testkit`.
//!
//! | module         | tests |
//! |----------------|-------|
//! | `crash`        | SIGKILL at random moments under load, restart, every acknowledged event checked |
//! | `crash_multi`  | SIGKILL of a process embedding the store mid multi-stream appends: each append all or nothing |
//! | `hostile`      | malformed and oversized requests, garbage, clients that vanish mid-request |
//! | `load`         | many clients and subscribers, a long soak with memory and file descriptors measured |
//! | `native_crash` | SIGKILL cycles under native clients' appends (one and several streams, expected versions) and live native subscriptions: every acknowledged append stored whole, every subscriber whole |
//! | `native_hostile` | raw ZeroMQ sockets on the native endpoint: bad envelopes, bodies, sizes, subscription commands, floods, vanishing and silent subscribers, random frames; a well-behaved client served throughout |
//! | `native_scale` | 200 native clients with 1,000 subscriptions while writers append: every subscription whole, writers not starved |
//! | `multiprocess` | another process reading the store while the server writes |
//! | `storage`      | a full disk or size limit, a crash during creation, stores that cannot be served |
//! | `subscribers`  | stalled subscribers: lost messages, recovery, publishers never slowed |
//!
//! Each test runs at a size that takes seconds; environment variables
//! (named in each module) and the scripts in `scripts/` run them long.
//! Every test first takes its module's turn (`TURNS`).
//! `REWIND_E2E_BIN=PATH` runs them against another build of the binary.

mod crash;
mod crash_multi;
mod hostile;
mod load;
mod multiprocess;
mod native_crash;
mod native_hostile;
mod native_scale;
mod storage;
mod subscribers;

use rewind_testkit::turns::Turns;
use rewind_testkit::Binary;

/// Each module's tests run side by side, as when each module was a test
/// binary of its own, but never beside another module's: several measure
/// throughput, which the others' load would distort.
static TURNS: Turns = Turns::new();

/// The binary under test: `REWIND_E2E_BIN` when set, else this package's
/// `rewind`.
fn rewind() -> Binary {
    Binary::from_env_or(env!("CARGO_BIN_EXE_rewind"))
}
