//! Tests of the engine through its public API: the store on both backends
//! (`store`), its filtered log reads (`log_filter`) and subscriptions
//! (`subscriptions`), and the in-process server (`server_api`).

mod log_filter;
mod server_api;
mod store;
mod subscriptions;
