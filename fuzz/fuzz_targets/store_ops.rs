//! Fuzzes the store (in-memory backend) with operation sequences decoded
//! from the input, checked step by step against the test suite's model
//! (`rewind_testkit::model`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rewind_testkit::model::{decode_ops, run_ops, Model};

fuzz_target!(|data: &[u8]| {
    let ops = decode_ops(data);
    let mut model = Model::default();
    run_ops(rewind_core::Store::in_memory(), &mut model, &ops, None);
});
