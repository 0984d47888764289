//! Gives the shared library its SONAME, `librewind.so.<major>`, so that
//! programs linked against it ask for the ABI version they were built with
//! (an install tree holds `librewind.so -> librewind.so.0 ->
//! librewind.so.0.4.0`; `scripts/package.sh` makes one). The flag goes to
//! the cdylib only: the static library and the Rust tests are not linked
//! with it.

fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the version");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" {
        println!("cargo::rustc-cdylib-link-arg=-Wl,-soname,librewind.so.{major}");
    }
    println!("cargo::rerun-if-changed=build.rs");
}
