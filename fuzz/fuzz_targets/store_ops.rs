//! Fuzzes the store (in-memory backend) with operation sequences decoded
//! from the input, checked step by step against the test suite's model
//! (rewind-core/tests/rel_model/mod.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../rewind-core/tests/rel_model/mod.rs"]
mod rel_model;

fuzz_target!(|data: &[u8]| {
    let ops = rel_model::decode_ops(data);
    let mut model = rel_model::Model::default();
    rel_model::run_ops(rewind_core::Store::in_memory(), &mut model, &ops, None);
});
