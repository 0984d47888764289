//! Builds the bundled libzmq with CURVE: links it against the libsodium
//! that `libsodium-sys-stable` builds from the source tarball it ships (no
//! network, no system libsodium). The published zmq-sys 0.12.0 builds
//! libzmq with `with_libsodium(None)`, which leaves CURVE out.

extern crate zeromq_src;

use std::env;
use zeromq_src::LibLocation;

fn main() {
    println!("cargo:rerun-if-changed=build/main.rs");
    println!("cargo:rerun-if-env-changed=PROFILE");
    let lib = env::var("DEP_SODIUM_LIB")
        .expect("libsodium-sys-stable reports where it put libsodium (DEP_SODIUM_LIB)");
    let include = env::var("DEP_SODIUM_INCLUDE")
        .expect("libsodium-sys-stable reports libsodium's headers (DEP_SODIUM_INCLUDE)");
    // libzmq's own compiler warnings: the published crate's are hidden by
    // cargo (a registry crate), a path crate's are shown on every build.
    // `-w` (added after cc's -Wall -Wextra) keeps them out of the output.
    let cxxflags = env::var("CXXFLAGS").unwrap_or_default();
    env::set_var("CXXFLAGS", format!("{cxxflags} -w").trim());
    zeromq_src::Build::new()
        .with_libsodium(Some(LibLocation::new(lib, include)))
        .build();
}
