//! Checks of the native protocol's decoders (`rewind_core::protocol::native`)
//! on arbitrary bytes, from `docs/native-protocol.md`: nothing panics; a
//! request or body that decodes encodes again and decodes to the same
//! thing; a refused request names the request id section 6 says (the
//! message's own, or 0 when frame 0 or 1 is unusable, or none for a
//! message too short to have one) with a one-line reason. Shared by the
//! property tests (`rewind-core/tests/properties/native.rs`) and the
//! cargo-fuzz target `native_request`, so a fuzzer finding replays as a
//! test.

use rewind_core::protocol::native::{
    decode_append_body, decode_appended_body, decode_batch, decode_reply, decode_request,
    decode_streams_body, encode_append_body, encode_reply, encode_request, encode_streams_body,
    request_id_of, BatchEncoder, BatchIter, ErrorCode, Refusal, NO_REQUEST_ID, TAG,
};

/// The longest reason a refusal may give (excerpts of bad frames are
/// escaped, so a reason grows with the bytes it quotes, within this).
const MAX_REASON: usize = 4096;

/// Decodes fuzzer bytes as the target does: one byte of settings, then
/// either frames ([`frames_of`](crate::protocol::frames_of)) for [`check_request`], or one body for
/// [`check_body`]. Settings: bit 0 chooses a body; bit 1 makes frame 0
/// the tag and bit 2 makes frame 1 an 8-byte id (so that the decoder is
/// reached beyond the envelope more often).
pub fn check_input(data: &[u8]) {
    let Some((&settings, rest)) = data.split_first() else {
        return;
    };
    if settings & 1 != 0 {
        check_body(rest);
        return;
    }
    let mut frames = crate::protocol::frames_of(rest);
    if settings & 2 != 0 {
        frames.insert(0, TAG.to_vec());
    }
    if settings & 4 != 0 && frames.len() >= 2 {
        let mut id = frames[1].clone();
        id.resize(8, 0);
        frames[1] = id;
    }
    check_request(&frames);
    check_reply(&frames);
}

/// A request message (frames from the tag on): decoded, re-encoded when it
/// decodes, refused as section 6 says when it does not.
pub fn check_request(frames: &[Vec<u8>]) {
    match decode_request(frames) {
        Ok((id, request)) => {
            assert!(frames.len() >= 3 && frames[0] == TAG, "accepted {frames:?}");
            assert_eq!(request_id_of(frames), Some(id));
            assert_eq!(frames[2], request.kind().as_bytes());
            let again = encode_request(id, &request)
                .unwrap_or_else(|e| panic!("{request:?} decoded but does not encode: {e}"));
            let back = decode_request(&again)
                .unwrap_or_else(|r| panic!("{request:?} encoded does not decode: {r:?}"));
            assert_eq!(back, (id, request), "a round trip");
        }
        Err(Refusal { request_id, error }) => {
            assert!(
                !error.message.is_empty()
                    && !error.message.contains('\n')
                    && error.message.len() <= MAX_REASON,
                "the reason {:?}",
                error.message
            );
            let want = if frames.len() < 3 {
                request_id_of(frames)
            } else if frames[0] != TAG {
                assert_eq!(error.code, ErrorCode::UnsupportedVersion);
                Some(NO_REQUEST_ID)
            } else {
                Some(request_id_of(frames).unwrap_or(NO_REQUEST_ID))
            };
            assert_eq!(request_id, want, "the request id of {error:?}");
            if frames.len() < 3 || request_id_of(frames).is_none() {
                assert!(
                    matches!(
                        error.code,
                        ErrorCode::Malformed | ErrorCode::UnsupportedVersion
                    ),
                    "{error:?}"
                );
            }
        }
    }
}

/// A reply message: decoded without a panic; one that decodes encodes
/// again to the same reply.
pub fn check_reply(frames: &[Vec<u8>]) {
    if let Ok((id, reply)) = decode_reply(frames) {
        let again = encode_reply(id, &reply)
            .unwrap_or_else(|e| panic!("{reply:?} decoded but does not encode: {e}"));
        assert_eq!(decode_reply(&again), Ok((id, reply)), "a round trip");
    }
}

/// One binary body through every body decoder: append bodies, event
/// batches (owned and borrowed, which must agree), `APPENDED` and
/// `STREAMS` bodies; each that decodes encodes again to the same value.
pub fn check_body(body: &[u8]) {
    match decode_append_body(body) {
        Ok(parts) => {
            let mut again = Vec::new();
            encode_append_body(&mut again, &parts)
                .unwrap_or_else(|e| panic!("{parts:?} decoded but does not encode: {e}"));
            assert_eq!(decode_append_body(&again), Ok(parts), "a round trip");
        }
        Err(e) => assert!(
            matches!(e.code, ErrorCode::Malformed | ErrorCode::InvalidArgument)
                && !e.message.is_empty()
                && !e.message.contains('\n'),
            "{e:?}"
        ),
    }
    let owned = decode_batch(body);
    let borrowed: Option<Result<Vec<_>, String>> = BatchIter::new(body)
        .ok()
        .map(|it| it.map(|e| e.map(|e| e.to_owned())).collect());
    match (&owned, &borrowed) {
        (Ok(events), Some(Ok(walked))) => {
            assert_eq!(events, walked, "owned and borrowed decoding agree");
            let mut enc = BatchEncoder::new();
            for e in events {
                enc.push(&e.as_ref()).unwrap();
            }
            assert_eq!(decode_batch(&enc.take()).as_ref(), Ok(events));
        }
        (Err(_), None | Some(Err(_))) => {}
        other => panic!("owned and borrowed decoding disagree: {other:?}"),
    }
    let _ = decode_appended_body(body);
    if let Ok(streams) = decode_streams_body(body) {
        let mut again = Vec::new();
        encode_streams_body(&mut again, &streams).unwrap();
        assert_eq!(decode_streams_body(&again), Ok(streams));
    }
}
