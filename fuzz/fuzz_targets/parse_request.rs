//! Fuzzes request parsing of both wire protocols against the reference
//! parser of the test suite (`rewind_testkit::protocol`).
//!
//! Input: one byte of settings (protocol, exit codeword, a small maximum
//! message size), then frames, each a length byte (255: a two-byte length
//! follows) and its bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rewind_core::protocol::Protocol;
use rewind_testkit::protocol;

fuzz_target!(|data: &[u8]| {
    let Some((&settings, rest)) = data.split_first() else {
        return;
    };
    let proto = if settings & 1 == 0 {
        Protocol::V1
    } else {
        Protocol::V2
    };
    let codeword: Option<&[u8]> = (settings & 2 != 0).then_some(b"BYE".as_slice());
    let max = if settings & 4 != 0 {
        usize::from(settings >> 3) * 64
    } else {
        16 << 20
    };
    let frames = protocol::frames_of(rest);
    protocol::check(proto, &frames, max, codeword);
});
