//! The server's side of the native protocol (`docs/native-protocol.md`),
//! beside the v1 and v2 machinery it shares (peers' reply slots, the pump,
//! the wake-up, the blocked list):
//!
//! | module    | owns |
//! |-----------|------|
//! | this one  | what a decoded request asks the event loop to do ([`answer`]): a reply now, an append, a read, or a subscription command; the `APPENDED` reply |
//! | `batcher` | cutting events into `EVENTS` batches within the limits |
//! | `reads`   | `READ_STREAM` and `READ_LOG` streamed a batch at a time with flow control |
//! | `subs`    | subscriptions: cursors, credit, live feeding, heartbeats, peer timeouts |
//!
//! Requests are decoded by [`crate::protocol::native`]; nothing here
//! touches a socket except through an [`Outlet`](super::pump::Outlet).

pub(super) mod batcher;
pub(super) mod reads;
pub(super) mod subs;

use crate::protocol::native::{
    self, encode_appended_body, encode_streams_body, BatchEncoder, ErrorReply, Reply, Request,
    ServerInfo, StreamListing, HEARTBEAT_INTERVAL_MS, VERSIONS,
};
use crate::{Appended, LogFilter, Result, Store, StreamAppend};
use reads::NativeRead;

/// What a native request asks of the event loop.
#[derive(Debug)]
pub(super) enum Answer {
    /// Send this reply (in the peer's reply order).
    Reply(Vec<Vec<u8>>),
    /// Hand these parts to the store; `APPENDED` once committed.
    Append(Vec<StreamAppend>),
    /// Stream this read.
    Read(Box<NativeRead>),
    /// Start a subscription.
    Subscribe {
        from: Option<u64>,
        credit: u64,
        filter: LogFilter,
    },
    /// More credit for the subscription named by the request id.
    Credit(u64),
    /// End the subscription named by the request id.
    Unsubscribe,
}

fn reply(request_id: u64, r: &Reply) -> Vec<Vec<u8>> {
    native::encode_reply(request_id, r).unwrap_or_else(|e| error_reply(request_id, &e))
}

fn error_reply(request_id: u64, e: &crate::Error) -> Vec<Vec<u8>> {
    native::encode_error(request_id, &ErrorReply::from_error(e))
}

/// A reply with one binary body frame.
fn body_reply(request_id: u64, kind: &str, body: Vec<u8>) -> Vec<Vec<u8>> {
    let mut f: Vec<Vec<u8>> = native::header(request_id, kind).into();
    f.push(body);
    f
}

/// What the event loop does for `request` (already decoded):
/// lookups and `INFO` are answered at once; a read is fixed to the store as
/// it is now.
pub(super) fn answer(
    store: &Store,
    max_message_size: usize,
    request_id: u64,
    request: Request,
) -> Answer {
    let now =
        |r: Result<Vec<Vec<u8>>>| Answer::Reply(r.unwrap_or_else(|e| error_reply(request_id, &e)));
    match request {
        Request::Ping => Answer::Reply(reply(request_id, &Reply::Pong)),
        Request::Info => now(store.next_position().map(|next_position| {
            reply(
                request_id,
                &Reply::Info(ServerInfo {
                    version: env!("CARGO_PKG_VERSION").into(),
                    next_position,
                    protocol_versions: VERSIONS.into(),
                    max_message_size: max_message_size as u64,
                    heartbeat_interval_ms: HEARTBEAT_INTERVAL_MS,
                }),
            )
        })),
        Request::Append(parts) => Answer::Append(parts),
        Request::ReadStream {
            stream,
            direction,
            from,
            limit,
        } => match NativeRead::stream(store, request_id, stream, direction, from, limit) {
            Ok(r) => Answer::Read(Box::new(r)),
            Err(e) => Answer::Reply(error_reply(request_id, &e)),
        },
        Request::ReadLog {
            direction,
            from,
            limit,
            filter,
        } => match NativeRead::log(store, request_id, direction, from, limit, filter) {
            Ok(r) => Answer::Read(Box::new(r)),
            Err(e) => Answer::Reply(error_reply(request_id, &e)),
        },
        Request::Get { id } => now(get(store, request_id, &id)),
        Request::Head { stream } => now(store.stream_head(&stream).map(|h| match h {
            Some(h) => reply(request_id, &Reply::Head(h)),
            None => reply(request_id, &Reply::None),
        })),
        Request::Streams { after, limit } => now(streams(store, request_id, &after, limit)),
        Request::Subscribe {
            from,
            credit,
            filter,
        } => Answer::Subscribe {
            from,
            credit,
            filter,
        },
        Request::Credit { credit } => Answer::Credit(credit),
        Request::Unsubscribe => Answer::Unsubscribe,
    }
}

/// `EVENT` (encoded straight from the stored record) or `NONE`.
fn get(store: &Store, request_id: u64, id: &[u8]) -> Result<Vec<Vec<u8>>> {
    let mut batch = BatchEncoder::new();
    let mut failed = None;
    let found = store.visit_id(id, |e| {
        if let Err(err) = batch.push(&e) {
            failed = Some(err);
        }
    })?;
    if let Some(err) = failed {
        return Err(err);
    }
    Ok(if found {
        body_reply(request_id, "EVENT", batch.take())
    } else {
        reply(request_id, &Reply::None)
    })
}

/// A page of `STREAMS`.
fn streams(store: &Store, request_id: u64, after: &[u8], limit: u64) -> Result<Vec<Vec<u8>>> {
    let mut page = Vec::new();
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    store.list_streams(after, limit, |name, head| {
        page.push(StreamListing {
            name: name.to_vec(),
            version: head.version,
            position: head.position,
        });
        true
    })?;
    let mut body = Vec::new();
    encode_streams_body(&mut body, &page)?;
    Ok(body_reply(request_id, "STREAMS", body))
}

/// The reply to an append once the writer is done with it.
pub(super) fn appended_reply(request_id: u64, result: Result<Vec<Appended>>) -> Vec<Vec<u8>> {
    let appended = match result {
        Ok(a) => a,
        Err(e) => return error_reply(request_id, &e),
    };
    let mut body = Vec::new();
    match encode_appended_body(&mut body, &appended) {
        Ok(()) => body_reply(request_id, "APPENDED", body),
        Err(e) => error_reply(request_id, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::native::{decode_reply, AppendedEvent, ErrorCode};
    use crate::{Error, ExpectedVersion, NewEvent};

    fn reply_of(a: Answer) -> Reply {
        match a {
            Answer::Reply(f) => decode_reply(&f).unwrap().1,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lookups_and_info_are_answered_at_once() {
        let store = Store::in_memory();
        store
            .append(
                b"s",
                vec![NewEvent::with_id("e1", "d").with_type("T")],
                ExpectedVersion::Any,
            )
            .unwrap();
        let Reply::Info(info) = reply_of(answer(&store, 99, 1, Request::Info)) else {
            panic!()
        };
        assert_eq!((info.next_position, info.max_message_size), (1, 99));
        assert_eq!(info.heartbeat_interval_ms, 1000);
        assert_eq!(reply_of(answer(&store, 9, 1, Request::Ping)), Reply::Pong);
        let Reply::Event(e) = reply_of(answer(&store, 9, 1, Request::Get { id: b"e1".to_vec() }))
        else {
            panic!()
        };
        assert_eq!((e.stream, e.event_type), (b"s".to_vec(), b"T".to_vec()));
        let none = Request::Get { id: b"no".to_vec() };
        assert_eq!(reply_of(answer(&store, 9, 1, none)), Reply::None);
        let Reply::Head(h) = reply_of(answer(
            &store,
            9,
            1,
            Request::Head {
                stream: b"s".to_vec(),
            },
        )) else {
            panic!()
        };
        assert_eq!((h.version, h.position, h.id), (0, 0, b"e1".to_vec()));
        let head = Request::Head {
            stream: b"x".to_vec(),
        };
        assert_eq!(reply_of(answer(&store, 9, 1, head)), Reply::None);
        let page = Request::Streams {
            after: vec![],
            limit: 10,
        };
        let Reply::Streams(list) = reply_of(answer(&store, 9, 1, page)) else {
            panic!()
        };
        assert_eq!(list.len(), 1);
        let broken = Store::from_backend(std::sync::Arc::new(reads::tests::Failing));
        let Reply::Error(e) = reply_of(answer(&broken, 9, 1, Request::Get { id: b"x".to_vec() }))
        else {
            panic!()
        };
        assert_eq!(e.code, ErrorCode::Storage);
        let Reply::Error(e) = reply_of(answer(
            &broken,
            9,
            1,
            Request::Head {
                stream: b"s".to_vec(),
            },
        )) else {
            panic!()
        };
        assert_eq!(e.code, ErrorCode::Storage);
    }

    #[test]
    fn appended_replies_list_every_event_or_the_error() {
        let ok = appended_reply(
            5,
            Ok(vec![Appended {
                id: b"i".to_vec(),
                stream: b"s".to_vec(),
                version: 2,
                position: 7,
            }]),
        );
        assert_eq!(
            decode_reply(&ok).unwrap(),
            (
                5,
                Reply::Appended(vec![AppendedEvent {
                    id: b"i".to_vec(),
                    version: 2,
                    position: 7
                }])
            )
        );
        let err = appended_reply(5, Err(Error::DuplicateId(b"i".to_vec())));
        let Reply::Error(e) = decode_reply(&err).unwrap().1 else {
            panic!()
        };
        assert_eq!(e.code, ErrorCode::DuplicateId);
    }
}
