//! Helpers shared by Rewind's test suites and fuzz targets. Not published;
//! nothing here is part of Rewind's API.
//!
//! | module         | owns |
//! |----------------|------|
//! | [`model`]      | a naive reference model of the store, the operations run against both, their decoding from fuzzer bytes |
//! | [`protocol`]   | a reference parser of both wire protocols' requests, and the check against `rewind_core::protocol` |
//! | [`native_decoding`] | checks of the native protocol's decoders on arbitrary bytes (round trips, refusals as the document says) |
//! | [`endpoints`]  | free loopback ports and a server's endpoints |
//! | [`spawn`]      | which binary to run and how: [`Spawn`], [`ServerSpec`], [`Finished`] |
//! | [`process`]    | a running `rewind` process ([`Rewind`]): its output, signals, exit |
//! | [`metrics`]    | a server's metrics endpoint: its address, a scrape, one sample |
//! | [`procfs`]     | what `/proc` tells about a running server: memory, file descriptors |
//! | [`client`]     | ZeroMQ sockets with timeouts, SUB clients, receiving within a deadline |
//! | [`req`]        | the v1 REQ client ([`Req`]) |
//! | [`dealer`]     | the v2 DEALER client ([`Dealer`]) |
//! | [`native`]     | the native protocol client ([`Native`]) |
//! | [`frames`]     | rendering and checking reply frames, test data |
//! | [`env`](mod@env) | sizes of long runs and random seeds from the environment |
//! | [`files`]      | temporary directories, files, read-only stores |
//! | [`postgres`](mod@postgres) | a throwaway PostgreSQL cluster: installed if missing, started unprivileged on a free port, removed at exit |
//! | [`turns`]      | tests of one group of a test binary run together, never beside another group's |
//!
//! The `rewind` binary belongs to the `rewind-cli` package, so only that
//! package's tests know its path (`env!("CARGO_BIN_EXE_rewind")`); they
//! hand it in as a [`Binary`]. [`prelude`] brings everything the
//! end-to-end and reliability tests use into scope.
//!
//! Every wait on a server is bounded: a server that hangs fails the test that
//! waits for it instead of hanging the suite.

#![warn(missing_docs)]

pub mod client;
pub mod dealer;
pub mod endpoints;
pub mod env;
pub mod files;
pub mod frames;
pub mod metrics;
pub mod model;
pub mod native;
pub mod native_decoding;
pub mod postgres;
pub mod process;
pub mod procfs;
pub mod protocol;
pub mod req;
pub mod spawn;
pub mod turns;

pub use dealer::Dealer;
pub use native::Native;
pub use process::Rewind;
pub use req::Req;
pub use spawn::{Binary, Finished, ServerSpec, Spawn};

/// Everything the tests that run the binary use, for a glob import.
pub mod prelude {
    pub use crate::client::*;
    pub use crate::dealer::*;
    pub use crate::endpoints::*;
    pub use crate::env::*;
    pub use crate::files::*;
    pub use crate::frames::*;
    pub use crate::metrics::*;
    pub use crate::native::*;
    pub use crate::process::*;
    pub use crate::procfs::*;
    pub use crate::req::*;
    pub use crate::spawn::*;
    pub use crate::turns::*;
}
