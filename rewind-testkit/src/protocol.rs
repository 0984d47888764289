//! A reference parser of both protocols' requests, written from the wire
//! specification, and a checker that compares
//! [`rewind_core::protocol::parse_request`] with it. Shared by the property
//! tests (`rewind-core/tests/properties/protocol.rs`) and the cargo-fuzz
//! target `parse_request`.

use rewind_core::protocol::{error_frame, parse_request, ParseOptions, Protocol, Request};

/// The specification of both protocols' requests, as plainly as possible.
pub fn reference(proto: Protocol, frames: &[Vec<u8>], o: &ParseOptions<'_>) -> Option<Request> {
    let first = frames.first()?;
    if o.exit_codeword == Some(first.as_slice()) {
        return Some(Request::Exit);
    }
    if frames.iter().map(Vec::len).sum::<usize>() > o.max_message_size {
        return None;
    }
    let name_ok = |f: &Vec<u8>| (1..=255).contains(&f.len());
    let bound = |f: &Vec<u8>| -> Option<Option<Vec<u8>>> {
        match f.len() {
            0 => Some(None),
            1..=255 => Some(Some(f.clone())),
            _ => None,
        }
    };
    match (proto, first.as_slice(), frames.len()) {
        (Protocol::V1, b"PUBLISH", 2) => Some(Request::Publish {
            stream: o.default_stream.to_vec(),
            data: frames[1].clone(),
        }),
        (Protocol::V1, b"QUERY", 3) => Some(Request::Query {
            stream: o.default_stream.to_vec(),
            from: bound(&frames[1])?,
            to: bound(&frames[2])?,
        }),
        (Protocol::V2, b"PUBLISH", 3) if name_ok(&frames[1]) => Some(Request::Publish {
            stream: frames[1].clone(),
            data: frames[2].clone(),
        }),
        (Protocol::V2, b"QUERY", 4) if name_ok(&frames[1]) => Some(Request::Query {
            stream: frames[1].clone(),
            from: bound(&frames[2])?,
            to: bound(&frames[3])?,
        }),
        _ => None,
    }
}

/// Parses `frames` and checks the outcome: the same request as the
/// reference parser, or an error that is one short printable line.
pub fn check(proto: Protocol, frames: &[Vec<u8>], max: usize, codeword: Option<&[u8]>) {
    let o = ParseOptions {
        default_stream: b"default",
        exit_codeword: codeword,
        max_message_size: max,
    };
    let got = parse_request(proto, frames, &o);
    let want = reference(proto, frames, &o);
    match (&got, &want) {
        (Ok(g), Some(w)) => assert_eq!(g, w),
        (Err(e), None) => {
            let frame = error_frame(&e.0);
            let text = String::from_utf8(frame).expect("an error reply is UTF-8 text");
            assert!(text.starts_with("ERROR ") && text.len() > 6, "{text:?}");
            assert!(
                !text.contains('\n') && !text.contains('\r') && !text.contains('\0'),
                "an error reason is one printable line: {text:?}"
            );
            // The parser quotes at most 64 bytes of a frame, and escapes each
            // unprintable byte in at most 8 characters.
            assert!(
                text.len() <= 640,
                "an error reason stays short: {} bytes",
                text.len()
            );
        }
        _ => panic!("{proto:?} {frames:?}: parser {got:?}, specification {want:?}"),
    }
    // The same frames as borrowed slices parse the same way.
    let slices: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    assert_eq!(parse_request(proto, &slices, &o), got);
}

/// Splits fuzzer bytes into frames: each a length byte (255: a two-byte
/// little-endian length follows) and that many bytes (fewer at the end).
pub fn frames_of(mut data: &[u8]) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    while let Some((&len, rest)) = data.split_first() {
        let (len, rest) = if len == 255 && rest.len() >= 2 {
            (
                usize::from(u16::from_le_bytes([rest[0], rest[1]])),
                &rest[2..],
            )
        } else {
            (usize::from(len), rest)
        };
        let len = len.min(rest.len());
        frames.push(rest[..len].to_vec());
        data = &rest[len..];
    }
    frames
}
