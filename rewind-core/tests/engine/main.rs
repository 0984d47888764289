//! Tests of the engine through its public API: the store on both backends
//! (`store`), and the in-process server (`server_api`).

mod server_api;
mod store;
