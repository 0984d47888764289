//! Tests of the engine through its public API: the store on both backends
//! (`store`), a store written by an earlier version (`fixture`), and the
//! in-process server (`server_api`).

mod fixture;
mod server_api;
mod store;
