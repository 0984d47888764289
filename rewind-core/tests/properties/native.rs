//! Property tests of the native protocol's decoders
//! (`rewind_core::protocol::native`) through the checks of
//! `rewind_testkit::native_decoding`: random and mangled requests, replies and
//! bodies never panic a decoder, whatever decodes round-trips, and every
//! refusal names the request id and code `docs/native-protocol.md` says.
//! The fuzzer's input format is replayed too, so a finding of the
//! `native_request` target becomes a case of [`regressions`].
//!
//! More cases: `PROPTEST_CASES=100000 cargo test --release -p rewind-core --test properties native::`.

use proptest::prelude::*;
use rewind_core::protocol::native::{encode_request, Request, TAG};
use rewind_core::{ExpectedVersion, LogFilter, NewEvent, StreamAppend};
use rewind_testkit::native_decoding::{check_body, check_input, check_request};

use crate::cases;

fn frame() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => Just(Vec::new()),
        2 => Just(TAG.to_vec()),
        1 => prop::sample::select(vec![
            &b"PING"[..], b"INFO", b"APPEND", b"READ_STREAM", b"READ_LOG", b"GET", b"HEAD",
            b"STREAMS", b"SUBSCRIBE", b"CREDIT", b"UNSUBSCRIBE", b"F", b"B",
        ])
        .prop_map(<[u8]>::to_vec),
        2 => any::<u64>().prop_map(|n| n.to_be_bytes().to_vec()),
        4 => prop::collection::vec(any::<u8>(), 0..40),
        1 => prop::collection::vec(any::<u8>(), 0..600),
    ]
}

/// A valid request of each kind that has a body or arguments.
fn valid() -> Vec<Vec<Vec<u8>>> {
    let append = Request::Append(vec![
        StreamAppend::new(
            "a",
            vec![
                NewEvent::with_id("i", "d")
                    .with_type("T")
                    .with_metadata("m"),
                NewEvent::new("e"),
            ],
            ExpectedVersion::Exact(3),
        ),
        StreamAppend::new("b", vec![NewEvent::new("")], ExpectedVersion::NoStream),
    ]);
    let subscribe = Request::Subscribe {
        from: Some(5),
        credit: 10,
        filter: LogFilter::all()
            .with_stream_prefix("a")
            .with_event_types(["T", "U"]),
    };
    [append, subscribe, Request::Info]
        .iter()
        .map(|r| encode_request(7, r).unwrap())
        .collect()
}

/// A valid request with a few bytes changed, frames cut, dropped or added.
fn mangled() -> impl Strategy<Value = Vec<Vec<u8>>> {
    (
        prop::sample::select(valid()),
        prop::collection::vec((any::<usize>(), any::<usize>(), any::<u8>()), 1..5),
    )
        .prop_map(|(mut frames, edits)| {
            for (f, at, byte) in edits {
                let n = frames.len();
                match byte % 5 {
                    0 if n > 0 => {
                        frames.remove(f % n);
                    }
                    1 => frames.push(vec![byte; at % 9]),
                    2 if n > 0 => {
                        let fr = &mut frames[f % n];
                        fr.truncate(at % (fr.len() + 1));
                    }
                    _ if n > 0 => {
                        let fr = &mut frames[f % n];
                        if fr.is_empty() {
                            fr.push(byte);
                        } else {
                            let i = at % fr.len();
                            fr[i] = byte;
                        }
                    }
                    _ => {}
                }
            }
            frames
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(1024), ..ProptestConfig::default() })]

    #[test]
    fn random_messages_are_decoded_or_refused_as_documented(
        frames in prop::collection::vec(frame(), 0..8),
    ) {
        check_request(&frames);
    }

    #[test]
    fn mangled_requests_are_decoded_or_refused_as_documented(frames in mangled()) {
        check_request(&frames);
        for body in frames.iter().skip(3) {
            check_body(body);
        }
    }

    #[test]
    fn random_bodies_never_panic_the_body_decoders(body in prop::collection::vec(any::<u8>(), 0..400)) {
        check_body(&body);
    }

    #[test]
    fn fuzzer_inputs_replay(data in prop::collection::vec(any::<u8>(), 0..300)) {
        check_input(&data);
    }
}

/// Regression cases (fuzzer findings are added here).
#[test]
fn regressions() {
    check_input(&[]);
    check_input(&[0]);
    check_input(&[1]);
    // A count of events far larger than the bytes behind it.
    check_body(&[
        0, 1, 1, b's', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,
    ]);
    check_body(&[0xff, 0xff, 0xff, 0xff]);
    // Two frames with a usable id: refused with it; one frame: no id.
    check_request(&[TAG.to_vec(), 9u64.to_be_bytes().to_vec()]);
    check_request(&[TAG.to_vec()]);
    check_request(&[b"rewind/2".to_vec(), vec![1; 8], b"PING".to_vec()]);
}
