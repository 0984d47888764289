//! Tests of the native codec: byte layouts written out by hand from the
//! document, round trips of every message, and garbage that must decode to
//! an error without a panic.

use proptest::prelude::*;

use super::*;

fn id_frame(id: u64) -> Vec<u8> {
    id.to_be_bytes().to_vec()
}

fn frames(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.to_vec()).collect()
}

#[test]
fn info_request_and_reply_have_the_documented_bytes() {
    let req = encode_request(7, &Request::Info).unwrap();
    assert_eq!(
        req,
        frames(&[b"rewind/1", &[0, 0, 0, 0, 0, 0, 0, 7], b"INFO"])
    );
    assert_eq!(decode_request(&req).unwrap(), (7, Request::Info));

    let reply = frames(&[
        b"rewind/1",
        &[0, 0, 0, 0, 0, 0, 0, 7],
        b"INFO",
        b"0.6.0",
        &[0, 0, 0, 0, 0, 0, 0, 42],
        b"1",
        &[0, 0, 0, 0, 0, 0x10, 0, 0],
        &[0, 0, 0, 0, 0, 0, 0x03, 0xe8],
    ]);
    let info = ServerInfo {
        version: "0.6.0".into(),
        next_position: 42,
        protocol_versions: "1".into(),
        max_message_size: 1 << 20,
        heartbeat_interval_ms: 1000,
    };
    assert_eq!(
        decode_reply(&reply).unwrap(),
        (7, Reply::Info(info.clone()))
    );
    assert_eq!(encode_reply(7, &Reply::Info(info)).unwrap(), reply);
}

#[test]
fn an_append_body_has_the_documented_bytes() {
    let parts = vec![StreamAppend::new(
        "s",
        vec![
            NewEvent::with_id("e1", "D")
                .with_type("T")
                .with_metadata("M"),
            NewEvent::new(""),
        ],
        ExpectedVersion::Exact(5),
    )];
    #[rustfmt::skip]
    let body: Vec<u8> = vec![
        0, 1,                   // one part
        1, b's',                // stream "s"
        3, 0, 0, 0, 0, 0, 0, 0, 5, // exact version 5
        0, 0, 0, 2,             // two events
        2, b'e', b'1',          // id "e1"
        1, b'T',                // type "T"
        0, 0, 0, 1, b'M',       // metadata "M"
        0, 0, 0, 1, b'D',       // data "D"
        0,                      // no id: the server assigns one
        0,                      // no type
        0, 0, 0, 0,             // no metadata
        0, 0, 0, 0,             // no data
    ];
    let mut out = Vec::new();
    encode_append_body(&mut out, &parts).unwrap();
    assert_eq!(out, body);
    assert_eq!(decode_append_body(&body).unwrap(), parts);
    let req = encode_request(1, &Request::Append(parts.clone())).unwrap();
    assert_eq!(req[2], b"APPEND");
    assert_eq!(req[3], body);
    assert_eq!(decode_request(&req).unwrap(), (1, Request::Append(parts)));
}

#[test]
fn an_event_record_and_appended_body_have_the_documented_bytes() {
    let e = Event {
        id: b"i".to_vec(),
        event_type: b"T".to_vec(),
        metadata: vec![],
        data: b"xy".to_vec(),
        stream: b"s".to_vec(),
        version: 2,
        position: 9,
    };
    let mut batch = BatchEncoder::new();
    batch.push(&e.as_ref()).unwrap();
    #[rustfmt::skip]
    let want: Vec<u8> = vec![
        0, 0, 0, 1,                 // one event
        0, 0, 0, 0, 0, 0, 0, 9,     // position
        0, 0, 0, 0, 0, 0, 0, 2,     // version
        1, b's', 1, b'i', 1, b'T',  // stream, id, type
        0, 0, 0, 0,                 // metadata
        0, 0, 0, 2, b'x', b'y',     // data
    ];
    assert_eq!(batch.bytes(), &want[..]);
    assert_eq!(decode_batch(&want).unwrap(), vec![e.clone()]);
    let borrowed: Vec<_> = BatchIter::new(&want).unwrap().collect();
    assert_eq!(borrowed, vec![Ok(e.as_ref())]);

    let appended = [Appended {
        id: b"ab".to_vec(),
        stream: b"s".to_vec(),
        version: 1,
        position: 258,
    }];
    let mut out = Vec::new();
    encode_appended_body(&mut out, &appended).unwrap();
    #[rustfmt::skip]
    let want: Vec<u8> = vec![
        0, 0, 0, 1, 2, b'a', b'b',
        0, 0, 0, 0, 0, 0, 0, 1,
        0, 0, 0, 0, 0, 0, 1, 2,
    ];
    assert_eq!(out, want);
    assert_eq!(
        decode_appended_body(&want).unwrap(),
        vec![AppendedEvent {
            id: b"ab".to_vec(),
            version: 1,
            position: 258
        }]
    );
}

#[test]
fn wrong_expected_version_maps_both_ways_with_its_details() {
    let err = Error::WrongExpectedVersion {
        stream: b"s".to_vec(),
        expected: ExpectedVersion::NoStream,
        actual: Some(3),
    };
    let reply = ErrorReply::from_error(&err);
    let wire = encode_error(4, &reply);
    assert_eq!(
        wire,
        frames(&[
            b"rewind/1",
            &[0, 0, 0, 0, 0, 0, 0, 4],
            b"ERROR",
            b"WRONG_EXPECTED_VERSION",
            err.to_string().as_bytes(),
            b"s",
            &[0, 0, 0, 0, 0, 0, 0, 3],
        ])
    );
    let (id, back) = decode_reply(&wire).unwrap();
    assert_eq!(id, 4);
    let Reply::Error(back) = back else {
        panic!("not an error: {back:?}")
    };
    let parts = [StreamAppend::new("s", vec![], ExpectedVersion::NoStream)];
    match back.into_error(Some(&parts)) {
        Error::WrongExpectedVersion {
            stream,
            expected,
            actual,
        } => {
            assert_eq!(
                (stream, expected, actual),
                (b"s".to_vec(), ExpectedVersion::NoStream, Some(3))
            );
        }
        other => panic!("{other:?}"),
    }
    // No events: an empty frame.
    let none = ErrorReply::from_error(&Error::WrongExpectedVersion {
        stream: b"t".to_vec(),
        expected: ExpectedVersion::Exact(0),
        actual: None,
    });
    let wire = encode_error(1, &none);
    assert_eq!(wire[6], b"");
    assert_eq!(decode_reply(&wire).unwrap().1, Reply::Error(none));
}

#[test]
fn errors_map_to_codes_and_back() {
    let cases: Vec<(Error, ErrorCode)> = vec![
        (Error::DuplicateId(b"x".to_vec()), ErrorCode::DuplicateId),
        (
            Error::InvalidArgument("no".into()),
            ErrorCode::InvalidArgument,
        ),
        (Error::StorageFull("full".into()), ErrorCode::StorageFull),
        (Error::ReadOnly, ErrorCode::ReadOnly),
        (Error::Closed, ErrorCode::ShuttingDown),
        (Error::Storage("lmdb".into()), ErrorCode::Storage),
        (Error::Corrupt("bad".into()), ErrorCode::Storage),
        (Error::Internal("bug".into()), ErrorCode::Internal),
    ];
    for (err, code) in cases {
        let reply = ErrorReply::from_error(&err);
        assert_eq!(reply.code, code, "{err}");
        let back = reply.into_error(None);
        assert_eq!(
            std::mem::discriminant(&back),
            std::mem::discriminant(&match err {
                Error::Corrupt(_) => Error::Storage(String::new()),
                e => e,
            }),
            "{back}"
        );
    }
    match ErrorReply::from_error(&Error::DuplicateId(b"x".to_vec())).into_error(None) {
        Error::DuplicateId(id) => assert_eq!(id, b"x"),
        other => panic!("{other:?}"),
    }
    match ErrorReply::from_error(&Error::InvalidArgument("no".into())).into_error(None) {
        Error::InvalidArgument(m) => assert_eq!(m, "no"),
        other => panic!("{other:?}"),
    }
    // The server's wording comes back once, not under a second prefix.
    let back = ErrorReply::from_error(&Error::Storage("disk gone".into())).into_error(None);
    assert_eq!(back.to_string(), "storage error: disk gone");
    for code in ErrorCode::ALL {
        assert_eq!(ErrorCode::from_name(code.name().as_bytes()), Some(code));
    }
    // An unknown code reads as INTERNAL, keeping its name.
    let wire = frames(&[b"rewind/1", &[0; 8], b"ERROR", b"NEW_CODE", b"m"]);
    let Reply::Error(e) = decode_reply(&wire).unwrap().1 else {
        panic!()
    };
    assert_eq!(e.code, ErrorCode::Internal);
    assert!(e.message.contains("NEW_CODE"));
}

#[test]
fn bad_envelopes_are_refused_as_the_document_says() {
    // Too few frames, no id: dropped.
    let r = decode_request(&frames(&[b"rewind/1"])).unwrap_err();
    assert_eq!(r.request_id, None);
    // Too few frames with an id: MALFORMED under that id.
    let r = decode_request(&frames(&[b"rewind/1", &id_frame(5)])).unwrap_err();
    assert_eq!(
        (r.request_id, r.error.code),
        (Some(5), ErrorCode::Malformed)
    );
    // Another version: UNSUPPORTED_VERSION under id 0, with the versions.
    let r = decode_request(&frames(&[b"rewind/2", &id_frame(5), b"PING"])).unwrap_err();
    assert_eq!(r.request_id, Some(0));
    assert_eq!(r.error.code, ErrorCode::UnsupportedVersion);
    assert_eq!(r.error.details, ErrorDetails::Versions("1".into()));
    // A short id: MALFORMED under id 0.
    let r = decode_request(&frames(&[b"rewind/1", b"1234", b"PING"])).unwrap_err();
    assert_eq!(
        (r.request_id, r.error.code),
        (Some(0), ErrorCode::Malformed)
    );
    let r = decode_request(&frames(&[b"rewind/1", &id_frame(9), b"PONG"])).unwrap_err();
    assert_eq!(
        (r.request_id, r.error.code),
        (Some(9), ErrorCode::UnknownCommand)
    );
}

fn refused(parts: &[&[u8]]) -> ErrorReply {
    let mut f = frames(&[b"rewind/1", &id_frame(3)]);
    f.extend(frames(parts));
    let r = decode_request(&f).unwrap_err();
    assert_eq!(r.request_id, Some(3));
    r.error
}

#[test]
fn bad_arguments_get_precise_messages() {
    let e = refused(&[b"PING", b"x"]);
    assert_eq!(e.code, ErrorCode::Malformed);
    assert_eq!(e.message, "PING takes 0 argument frames (none), not 1");
    let e = refused(&[b"READ_STREAM", b"s", b"X", &[0; 8], &[0; 8]]);
    assert_eq!(
        e.message,
        "READ_STREAM: the direction must be F or B, not X"
    );
    let e = refused(&[b"READ_STREAM", b"s", b"F", &[0; 7], &[0; 8]]);
    assert_eq!(
        e.message,
        "READ_STREAM: the from version must be a u64 frame of 8 bytes, not 7"
    );
    let e = refused(&[b"READ_STREAM", b"", b"F", &[0; 8], &[0; 8]]);
    assert_eq!(e.code, ErrorCode::InvalidArgument);
    let e = refused(&[b"READ_LOG", b"F", &[0; 8], &[0; 8]]);
    assert!(e.message.contains("at least 4"), "{}", e.message);
    let e = refused(&[b"STREAMS", b"", &[0; 8]]);
    assert_eq!(e.code, ErrorCode::InvalidArgument);
    let e = refused(&[b"STREAMS", b"", &1001u64.to_be_bytes()]);
    assert_eq!(e.code, ErrorCode::InvalidArgument);
    let e = refused(&[b"SUBSCRIBE", b"abc", &[0; 8], b""]);
    assert_eq!(e.code, ErrorCode::Malformed);
    let e = refused(&[b"SUBSCRIBE", b"", &[0; 8], b"", b"\xff"]);
    assert!(e.message.contains("not UTF-8"), "{}", e.message);
    // Append bodies.
    let e = refused(&[b"APPEND", &[0, 0]]);
    assert_eq!(e.code, ErrorCode::InvalidArgument);
    let e = refused(&[b"APPEND", &[0, 1, 1, b's', 4, 0, 0, 0, 0, 0, 0, 0, 0]]);
    assert_eq!(
        e.message,
        "append body: part 0: expected version kind must be 0 to 3, not 4"
    );
    let e = refused(&[b"APPEND", &[0, 1, 1, b's', 0, 0, 0, 0, 0, 0, 0, 0, 0]]);
    assert_eq!(
        e.message,
        "append body: part 0: event count needs 4 bytes at offset 13 but only 0 remain"
    );
    let e = refused(&[
        b"APPEND",
        &[
            0, 1, 1, b's', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,
        ],
    ]);
    assert!(
        e.message.contains("4294967295 events need"),
        "{}",
        e.message
    );
    let e = refused(&[
        b"APPEND",
        &[0, 1, 1, b's', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ]);
    assert_eq!(e.code, ErrorCode::InvalidArgument);
    let mut body = Vec::new();
    encode_append_body(
        &mut body,
        &[StreamAppend::new(
            "s",
            vec![NewEvent::new("d")],
            ExpectedVersion::Any,
        )],
    )
    .unwrap();
    body.push(0);
    let e = refused(&[b"APPEND", &body]);
    assert_eq!(
        e.message,
        "append body: 1 bytes left over after the last field"
    );
}

#[test]
fn filters_travel_as_frames() {
    let mut f = Vec::new();
    encode_filter(&mut f, &LogFilter::all()).unwrap();
    assert_eq!(f, vec![Vec::<u8>::new()]);
    assert_eq!(decode_filter(&f).unwrap(), LogFilter::all());
    let filter = LogFilter::all()
        .with_stream_prefix("o-")
        .with_event_types(["a", "b"]);
    let mut f = Vec::new();
    encode_filter(&mut f, &filter).unwrap();
    assert_eq!(f, frames(&[b"o-", b"a", b"b"]));
    assert_eq!(decode_filter(&f).unwrap(), filter);
    let nothing = LogFilter::all().with_event_types(Vec::<Vec<u8>>::new());
    assert!(encode_filter(&mut Vec::new(), &nothing).is_err());
}

#[test]
fn batches_respect_their_limits() {
    let big = vec![0u8; 600 << 10];
    let e = EventRef {
        id: b"i",
        event_type: b"",
        metadata: b"",
        data: &big,
        stream: b"s",
        version: 0,
        position: 0,
    };
    let mut b = BatchEncoder::new();
    assert!(b.has_room_for(&e));
    b.push(&e).unwrap();
    assert!(!b.has_room_for(&e), "two would pass 1 MiB");
    let small = EventRef { data: b"", ..e };
    let mut b = BatchEncoder::new();
    for _ in 0..MAX_BATCH_EVENTS {
        assert!(b.has_room_for(&small));
        b.push(&small).unwrap();
    }
    assert!(!b.has_room_for(&small));
    assert_eq!(decode_batch(b.bytes()).unwrap().len(), MAX_BATCH_EVENTS);
    let taken = b.take();
    assert_eq!(&taken[..4], &1000u32.to_be_bytes());
    assert!(b.is_empty() && b.bytes() == [0, 0, 0, 0]);
    // A field too long for its encoding leaves the batch as it was.
    let long = [b'x'; 256];
    assert!(b
        .push(&EventRef {
            stream: &long,
            ..small
        })
        .is_err());
    assert_eq!(b.bytes(), [0, 0, 0, 0]);
}

#[test]
fn broken_batches_are_errors() {
    assert!(decode_batch(&[0, 0, 0]).is_err());
    assert!(decode_batch(&[0, 0, 0, 1])
        .unwrap_err()
        .contains("need at least"));
    assert_eq!(decode_batch(&[0, 0, 0, 0]).unwrap(), vec![]);
    assert!(decode_batch(&[0, 0, 0, 0, 1])
        .unwrap_err()
        .contains("left over"));
    let mut iter = BatchIter::new(&[0, 0, 0, 0, 1]).unwrap();
    assert!(iter.next().unwrap().is_err());
    assert!(iter.next().is_none());
}

// ---------------------------------------------------------------------------
// Round trips and garbage

fn bytes(min: usize, max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), min..=max)
}

fn name() -> impl Strategy<Value = Vec<u8>> {
    bytes(1, 20)
}

fn text() -> impl Strategy<Value = Vec<u8>> {
    "[a-zA-Z\u{e9}]{0,8}".prop_map(String::into_bytes)
}

fn filter() -> impl Strategy<Value = LogFilter> {
    (
        proptest::option::of(name()),
        proptest::option::of(proptest::collection::vec(text(), 1..4)),
    )
        .prop_map(|(stream_prefix, event_types)| LogFilter {
            stream_prefix,
            event_types,
        })
}

fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![Just(Direction::Forward), Just(Direction::Backward)]
}

fn expected() -> impl Strategy<Value = ExpectedVersion> {
    prop_oneof![
        Just(ExpectedVersion::Any),
        Just(ExpectedVersion::NoStream),
        Just(ExpectedVersion::StreamExists),
        any::<u64>().prop_map(ExpectedVersion::Exact),
    ]
}

fn new_event() -> impl Strategy<Value = NewEvent> {
    (
        proptest::option::of(name()),
        text(),
        bytes(0, 20),
        bytes(0, 40),
    )
        .prop_map(|(id, event_type, metadata, data)| NewEvent {
            id,
            event_type,
            metadata,
            data,
        })
}

fn parts() -> impl Strategy<Value = Vec<StreamAppend>> {
    proptest::collection::vec(
        (
            name(),
            expected(),
            proptest::collection::vec(new_event(), 1..4),
        )
            .prop_map(|(stream, expected, events)| StreamAppend {
                stream,
                expected,
                events,
            }),
        1..4,
    )
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        Just(Request::Ping),
        Just(Request::Info),
        Just(Request::Unsubscribe),
        parts().prop_map(Request::Append),
        (name(), direction(), any::<u64>(), any::<u64>()).prop_map(
            |(stream, direction, from, limit)| Request::ReadStream {
                stream,
                direction,
                from,
                limit
            }
        ),
        (direction(), any::<u64>(), any::<u64>(), filter()).prop_map(
            |(direction, from, limit, filter)| Request::ReadLog {
                direction,
                from,
                limit,
                filter
            }
        ),
        name().prop_map(|id| Request::Get { id }),
        name().prop_map(|stream| Request::Head { stream }),
        (bytes(0, 20), 1..=MAX_STREAMS_PAGE)
            .prop_map(|(after, limit)| Request::Streams { after, limit }),
        (proptest::option::of(any::<u64>()), any::<u64>(), filter()).prop_map(
            |(from, credit, filter)| Request::Subscribe {
                from,
                credit,
                filter
            }
        ),
        any::<u64>().prop_map(|credit| Request::Credit { credit }),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    (
        name(),
        text(),
        bytes(0, 20),
        bytes(0, 40),
        name(),
        any::<u64>(),
        any::<u64>(),
    )
        .prop_map(
            |(id, event_type, metadata, data, stream, version, position)| Event {
                id,
                event_type,
                metadata,
                data,
                stream,
                version,
                position,
            },
        )
}

fn error_reply() -> impl Strategy<Value = ErrorReply> {
    let plain = proptest::sample::select(
        ErrorCode::ALL
            .iter()
            .copied()
            .filter(|c| {
                !matches!(
                    c,
                    ErrorCode::UnsupportedVersion
                        | ErrorCode::WrongExpectedVersion
                        | ErrorCode::DuplicateId
                )
            })
            .collect::<Vec<_>>(),
    );
    let message = "[ -~]{0,30}";
    prop_oneof![
        (plain, message).prop_map(|(code, m)| ErrorReply::new(code, m)),
        message.prop_map(|m| ErrorReply {
            code: ErrorCode::UnsupportedVersion,
            message: m,
            details: ErrorDetails::Versions("1".into()),
        }),
        (message, name(), proptest::option::of(any::<u64>())).prop_map(|(m, stream, actual)| {
            ErrorReply {
                code: ErrorCode::WrongExpectedVersion,
                message: m,
                details: ErrorDetails::WrongExpectedVersion { stream, actual },
            }
        }),
        (message, name()).prop_map(|(m, id)| ErrorReply {
            code: ErrorCode::DuplicateId,
            message: m,
            details: ErrorDetails::DuplicateId(id),
        }),
    ]
}

fn reply() -> impl Strategy<Value = Reply> {
    prop_oneof![
        Just(Reply::Pong),
        Just(Reply::None),
        ("[0-9.]{1,8}", any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(v, n, m, h)| {
            Reply::Info(ServerInfo {
                version: v,
                next_position: n,
                protocol_versions: "1".into(),
                max_message_size: m,
                heartbeat_interval_ms: h,
            })
        }),
        proptest::collection::vec(
            (name(), any::<u64>(), any::<u64>()).prop_map(|(id, version, position)| {
                AppendedEvent {
                    id,
                    version,
                    position,
                }
            }),
            0..5
        )
        .prop_map(Reply::Appended),
        proptest::collection::vec(event(), 1..5).prop_map(Reply::Events),
        event().prop_map(Reply::Event),
        any::<u64>().prop_map(|count| Reply::End { count }),
        (any::<u64>(), any::<u64>(), name()).prop_map(|(version, position, id)| {
            Reply::Head(StreamHead {
                version,
                position,
                id,
            })
        }),
        proptest::collection::vec(
            (name(), any::<u64>(), any::<u64>()).prop_map(|(name, version, position)| {
                StreamListing {
                    name,
                    version,
                    position,
                }
            }),
            0..5
        )
        .prop_map(Reply::Streams),
        (any::<u64>(), any::<u64>()).prop_map(|(start, h)| Reply::Subscribed {
            start,
            heartbeat_interval_ms: h
        }),
        any::<u64>().prop_map(|next_position| Reply::CaughtUp { next_position }),
        any::<u64>().prop_map(|position| Reply::Heartbeat { position }),
        error_reply().prop_map(Reply::Error),
    ]
}

/// Changes a few bytes of a few frames, drops or adds frames.
fn mangle(mut frames: Vec<Vec<u8>>, edits: &[(usize, usize, u8)]) -> Vec<Vec<u8>> {
    for &(f, at, byte) in edits {
        match byte % 8 {
            0 if !frames.is_empty() => {
                let n = frames.len();
                frames.remove(f % n);
            }
            1 => frames.push(vec![byte; at % 5]),
            2 if !frames.is_empty() => {
                let n = frames.len();
                let fr = &mut frames[f % n];
                let cut = at % (fr.len() + 1);
                fr.truncate(cut);
            }
            _ if !frames.is_empty() => {
                let n = frames.len();
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
}

proptest! {
    #[test]
    fn requests_round_trip(id in any::<u64>(), req in request()) {
        let frames = encode_request(id, &req).unwrap();
        prop_assert_eq!(decode_request(&frames).unwrap(), (id, req));
    }

    #[test]
    fn replies_round_trip(id in any::<u64>(), rep in reply()) {
        let frames = encode_reply(id, &rep).unwrap();
        prop_assert_eq!(decode_reply(&frames).unwrap(), (id, rep));
    }

    #[test]
    fn mangled_requests_never_panic(
        req in request(),
        edits in proptest::collection::vec((any::<usize>(), any::<usize>(), any::<u8>()), 1..4),
    ) {
        let frames = mangle(encode_request(1, &req).unwrap(), &edits);
        if let Err(r) = decode_request(&frames) {
            prop_assert!(!r.error.message.is_empty());
        }
    }

    #[test]
    fn mangled_replies_never_panic(
        rep in reply(),
        edits in proptest::collection::vec((any::<usize>(), any::<usize>(), any::<u8>()), 1..4),
    ) {
        let frames = mangle(encode_reply(1, &rep).unwrap(), &edits);
        if let Err(m) = decode_reply(&frames) {
            prop_assert!(!m.is_empty());
        }
    }

    #[test]
    fn random_frames_never_panic(frames in proptest::collection::vec(bytes(0, 40), 0..8)) {
        let _ = decode_request(&frames);
        let _ = decode_reply(&frames);
    }

    #[test]
    fn random_bodies_never_panic(body in bytes(0, 200)) {
        let _ = decode_append_body(&body);
        let _ = decode_batch(&body);
        let _ = decode_appended_body(&body);
        let _ = decode_streams_body(&body);
        if let Ok(iter) = BatchIter::new(&body) {
            for e in iter {
                if e.is_err() { break; }
            }
        }
    }
}
