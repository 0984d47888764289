//! Rewind: an event store for event-sourced systems, on LMDB, speaking
//! ZeroMQ.
//!
//! The crate owns everything the C ABI, the Python package and the `rewind`
//! binary build on:
//!
//! | module      | owns |
//! |-------------|------|
//! | [`model`]   | events, streams, versions, positions, expected versions |
//! | [`backend`] | the [`Backend`] trait and the append rules all backends share |
//! | [`lmdb`]    | the LMDB backend (a directory; grows its map by itself) |
//! | [`memory`]  | the in-memory backend |
//! | [`postgres`] | the PostgreSQL backend (several servers on one database, one gap-free log; cargo feature `postgres`, on by default) |
//! | [`metrics`] | counters of the store and server, and their Prometheus exposition |
//! | [`store`]   | [`Store`]: group commit in front of a backend, reads, listeners |
//! | [`filter`]  | [`LogFilter`]: log reads filtered by stream-name prefix and event type |
//! | [`subscription`] | [`Subscription`]: the log's history, then live events as they commit |
//! | [`event_store`] | [`EventStore`]: what the embedded store and a server's client both do |
//! | [`client`]  | [`Client`]: a server's store through the native protocol, with `Store`'s methods |
//! | [`protocol`]| parsing requests and encoding replies of the v1 and v2 wire protocols; [`protocol::native`], the native protocol's codec |
//! | [`server`]  | the ZeroMQ server: sockets, dispatch, streaming, shutdown |
//! | [`curve`]   | ZeroMQ CURVE keys: generating, parsing, deriving the public key |
//! | [`config`]  | the INI configuration file, the embedded default, the command line's options |
//! | [`service`] | the one start-up path: configuration → store → server → ready line |
//! | [`admin`]   | the operator's tools: stats, streams, verify, export/import, backup, following a store |
//!
//! Embedding the store:
//!
//! ```
//! use rewind_core::{ExpectedVersion, NewEvent, Store};
//!
//! let dir = std::env::temp_dir().join(format!("rewind-doc-{}", std::process::id()));
//! let store = Store::open_lmdb(&dir).unwrap();
//! let ids = store
//!     .append(b"cart-7", vec![NewEvent::new("added apple")], ExpectedVersion::Any)
//!     .unwrap(); // durable on disk when this returns
//! let event = store.get(&ids[0].id).unwrap().unwrap();
//! assert_eq!(event.data, b"added apple");
//! drop(store);
//! std::fs::remove_dir_all(dir).unwrap();
//! ```
#![warn(missing_docs)]

pub mod admin;
pub mod backend;
pub mod client;
pub mod config;
pub mod curve;
mod error;
pub mod event_store;
pub mod filter;
pub mod lmdb;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod postgres;
pub mod protocol;
pub mod server;
pub mod service;
pub mod store;
pub mod subscription;

pub use backend::Backend;
pub use client::{Client, ClientOptions, RemoteSubscription};
pub use error::{Error, ErrorCategory, Printable, Result};
pub use event_store::{EventStore, EventSubscription, StoreInfo, SubscriptionStop};
pub use filter::LogFilter;
pub use model::{
    Appended, Event, EventRef, ExpectedVersion, NewEvent, StreamAppend, StreamHead, MAX_NAME_LEN,
    MAX_TYPE_LEN,
};
pub use store::{CommittedAppend, Store, StoreOptions};
pub use subscription::{Batch, StopHandle, Subscription, SubscriptionItem};
