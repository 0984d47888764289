//! Fuzzes the native protocol's decoders (`rewind_core::protocol::native`):
//! requests, replies and the binary bodies (append bodies, event batches,
//! `APPENDED` and `STREAMS` bodies), with the checks of
//! `rewind_testkit::native_decoding` (no panic, round trips, refusals as
//! `docs/native-protocol.md` says).
//!
//! Input: one byte of settings (bit 0: a body rather than frames; bit 1:
//! put the tag first; bit 2: make frame 1 an 8-byte id), then the frames,
//! each a length byte (255: a two-byte length follows) and its bytes, or
//! the body.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rewind_testkit::native_decoding::check_input(data);
});
