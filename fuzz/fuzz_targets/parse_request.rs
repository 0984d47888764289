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
    let Some((&settings, mut rest)) = data.split_first() else {
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
    let mut frames = Vec::new();
    while let Some((&len, r)) = rest.split_first() {
        let (len, r) = if len == 255 && r.len() >= 2 {
            (usize::from(u16::from_le_bytes([r[0], r[1]])), &r[2..])
        } else {
            (usize::from(len), r)
        };
        let len = len.min(r.len());
        frames.push(r[..len].to_vec());
        rest = &r[len..];
    }
    protocol::check(proto, &frames, max, codeword);
});
