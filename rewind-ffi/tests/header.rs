//! The committed `include/rewind.h` must be exactly what the pinned
//! cbindgen generates from this crate: a stale header fails here.
//! `REWIND_BLESS=1 cargo test -p rewind-ffi --test header` rewrites it.

use std::path::PathBuf;

fn generate() -> String {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("reading cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen could not generate the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("the header is UTF-8")
}

#[test]
fn the_committed_header_is_up_to_date() {
    let header = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../include/rewind.h");
    let generated = generate();
    if std::env::var_os("REWIND_BLESS").is_some() {
        std::fs::write(&header, &generated).expect("writing include/rewind.h");
        return;
    }
    let committed = std::fs::read_to_string(&header).unwrap_or_default();
    if committed != generated {
        let first = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(generated.lines().count()));
        panic!(
            "include/rewind.h is stale (first difference at line {}).\n\
             Regenerate it with: REWIND_BLESS=1 cargo test -p rewind-ffi --test header",
            first + 1
        );
    }
}
