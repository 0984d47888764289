//! Property tests, checked against the reference model and parser of
//! `rewind-testkit`: random operation sequences against both stores
//! (`store`), random requests against the parser of both protocols
//! (`protocol`), random bytes and mangled messages against the native
//! protocol's decoders (`native`).
//!
//! More cases: `PROPTEST_CASES=N cargo test --release -p rewind-core --test properties`
//! (add `store::`, `protocol::` or `native::` to run one part).

mod native;
mod protocol;
mod store;

/// The number of cases: `PROPTEST_CASES` when set (long runs), else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
