//! PUBLISH requests (and native APPENDs) on their way to the store: each is handed to the
//! group-commit writer with a completion that posts its outcome back to
//! the server thread as a [`Note::Done`] for the peer's slot. The count in
//! flight tells the graceful stop when every append has been answered.
//!
//! Knows nothing of sockets or of the peer's queue.

use super::peer::PeerKey;
use super::wake::{Mailer, Note};
use crate::{ExpectedVersion, NewEvent, Store, StreamAppend};

/// The server's PUBLISHes on their way to the store.
pub(super) struct Appends {
    mailer: Mailer,
    /// Submitted and not yet completed.
    in_flight: usize,
}

impl Appends {
    pub fn new(mailer: Mailer) -> Appends {
        Appends {
            mailer,
            in_flight: 0,
        }
    }

    /// Appends submitted whose [`Note::Done`] has not been taken yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Hands a PUBLISH to the store: one event under a new id, at any
    /// version of `stream` ([`submit_native`](Appends::submit_native) with
    /// one part).
    pub fn submit(
        &mut self,
        store: &Store,
        key: &PeerKey,
        epoch: u64,
        seq: u64,
        stream: Vec<u8>,
        data: Vec<u8>,
    ) {
        let part = StreamAppend::new(stream, vec![NewEvent::new(data)], ExpectedVersion::Any);
        self.submit_native(store, key, epoch, seq, vec![part]);
    }

    /// Hands a native APPEND to the store (so that it shares the group
    /// commit with every other append waiting); its outcome comes back as
    /// a [`Note::Done`] for the peer's slot `seq`.
    pub fn submit_native(
        &mut self,
        store: &Store,
        key: &PeerKey,
        epoch: u64,
        seq: u64,
        parts: Vec<StreamAppend>,
    ) {
        self.in_flight += 1;
        let mailer = self.mailer.clone();
        let peer = key.clone();
        store.append_multi_async(
            parts,
            Box::new(move |result| {
                mailer.post(Note::Done {
                    peer,
                    epoch,
                    seq,
                    result,
                });
            }),
        );
    }

    /// Counts the [`Note::Done`] just taken from the mailbox.
    pub fn completed(&mut self) {
        self.in_flight -= 1;
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::protocol::Protocol;
    use crate::server::wake::Mailbox;

    fn next_note(mailbox: &Mailbox) -> Note {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(n) = mailbox.next() {
                return n;
            }
            assert!(Instant::now() < deadline, "no note arrived");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn an_append_comes_back_as_a_note_for_its_slot() {
        let ctx = zmq::Context::new();
        let (mailer, mailbox) = Mailbox::open(&ctx).unwrap();
        let store = Store::in_memory();
        let mut appends = Appends::new(mailer);
        let key = PeerKey {
            proto: Protocol::V2,
            id: b"peer".to_vec(),
        };
        appends.submit(&store, &key, 7, 3, b"s".to_vec(), b"data".to_vec());
        assert_eq!(appends.in_flight(), 1);
        match next_note(&mailbox) {
            Note::Done {
                peer,
                epoch,
                seq,
                result,
            } => {
                assert_eq!((peer, epoch, seq), (key.clone(), 7, 3));
                let appended = result.unwrap();
                let stored = store.get(&appended[0].id).unwrap().unwrap();
                assert_eq!(
                    (stored.stream, stored.data),
                    (b"s".to_vec(), b"data".to_vec())
                );
            }
            Note::Committed(_) => panic!("no listener was registered"),
        }
        appends.completed();
        assert_eq!(appends.in_flight(), 0);

        // A refused append is answered too.
        store.close().unwrap();
        appends.submit(&store, &key, 7, 4, b"s".to_vec(), b"late".to_vec());
        match next_note(&mailbox) {
            Note::Done { seq: 4, result, .. } => {
                assert!(matches!(result, Err(crate::Error::Closed)))
            }
            _ => panic!("expected the refusal of slot 4"),
        }
    }
}
