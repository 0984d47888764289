//! What other threads tell the server thread, and how they wake it.
//!
//! The writer thread (commit listener, append completions) posts a
//! [`Note`] on a channel and wakes the server's poll through an inproc
//! PUSH/PULL pair; [`StopHandle`](super::StopHandle) wakes it the same way.
//! Wake-ups coalesce: one message at most is on its way until the server
//! drains the wake socket and re-arms the [`Waker`].
//!
//! Owns the channel and the wake sockets, nothing else: what a note means
//! is the event loop's business.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};

use super::peer::PeerKey;
use crate::store::CommittedAppend;
use crate::{Appended, Result};

/// What other threads tell the server thread.
pub(super) enum Note {
    /// A batch is durable: publish its events.
    Committed(Arc<Vec<CommittedAppend>>),
    /// The append of a peer's slot `seq` is done.
    Done {
        peer: PeerKey,
        epoch: u64,
        seq: u64,
        result: Result<Vec<Appended>>,
    },
}

/// Wakes the server thread from another thread.
pub(super) struct Waker {
    /// A wake-up message is on its way and not yet drained.
    pending: AtomicBool,
    socket: Mutex<zmq::Socket>,
}

impl Waker {
    /// Wakes the server thread; on the store's writer thread, handing out
    /// a commit, once that commit's listeners and completions are all
    /// done (they post a note each: the server wakes once for them all).
    pub fn wake(self: &Arc<Self>) {
        if !self.pending.swap(true, Ordering::SeqCst) {
            let me = self.clone();
            if let Err(now) = crate::store::after_batch(Box::new(move || me.send())) {
                now();
            }
        }
    }

    fn send(&self) {
        let s = self.socket.lock().unwrap_or_else(|e| e.into_inner());
        // The wake socket's queue is never full (one message at most is
        // pending), so a failure here means the server is gone.
        let _ = s.send(&b""[..], zmq::DONTWAIT);
    }
}

/// Posts notes to the server thread; cheap to clone, usable anywhere.
#[derive(Clone)]
pub(super) struct Mailer {
    notes: Sender<Note>,
    waker: Arc<Waker>,
}

impl Mailer {
    /// Hands `note` to the server thread and wakes it.
    pub fn post(&self, note: Note) {
        let _ = self.notes.send(note);
        self.waker.wake();
    }

    pub fn waker(&self) -> &Arc<Waker> {
        &self.waker
    }
}

/// The server thread's end: the notes and the socket its poll watches.
pub(super) struct Mailbox {
    notes: Receiver<Note>,
    socket: zmq::Socket,
    waker: Arc<Waker>,
}

impl Mailbox {
    /// A mailbox and the mailer that posts to it, over a wake socket pair
    /// of its own in `ctx`.
    pub fn open(ctx: &zmq::Context) -> Result<(Mailer, Mailbox)> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let endpoint = format!(
            "inproc://rewind-wake-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let rx = ctx.socket(zmq::PULL)?;
        rx.bind(&endpoint)?;
        let tx = ctx.socket(zmq::PUSH)?;
        tx.set_linger(0)?;
        tx.connect(&endpoint)?;
        let waker = Arc::new(Waker {
            pending: AtomicBool::new(false),
            socket: Mutex::new(tx),
        });
        let (notes_tx, notes_rx) = mpsc::channel();
        let mailer = Mailer {
            notes: notes_tx,
            waker: waker.clone(),
        };
        let mailbox = Mailbox {
            notes: notes_rx,
            socket: rx,
            waker,
        };
        Ok((mailer, mailbox))
    }

    /// What the poll watches: readable once someone woke the server.
    pub fn poll_item(&self) -> zmq::PollItem<'_> {
        self.socket.as_poll_item(zmq::POLLIN)
    }

    /// After a wake-up: drains the wake socket and lets the next
    /// [`Waker::wake`] send again. Notes posted before are in the channel.
    pub fn rearm(&self) {
        while self.socket.recv_bytes(zmq::DONTWAIT).is_ok() {}
        self.waker.pending.store(false, Ordering::SeqCst);
    }

    /// The next note, if any.
    pub fn next(&self) -> Option<Note> {
        self.notes.try_recv().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn woken(mailbox: &Mailbox, timeout_ms: i64) -> bool {
        let mut items = [mailbox.poll_item()];
        zmq::poll(&mut items, timeout_ms).unwrap();
        items[0].is_readable()
    }

    fn pending_messages(mailbox: &Mailbox) -> usize {
        let mut n = 0;
        while mailbox.socket.recv_bytes(zmq::DONTWAIT).is_ok() {
            n += 1;
        }
        n
    }

    fn committed(stream: &str) -> Note {
        Note::Committed(Arc::new(vec![CommittedAppend {
            stream: stream.into(),
            prev_id: None,
            first_version: 0,
            first_position: 0,
            events: vec![],
        }]))
    }

    #[test]
    fn a_note_from_another_thread_wakes_the_poll() {
        let ctx = zmq::Context::new();
        let (mailer, mailbox) = Mailbox::open(&ctx).unwrap();
        assert!(!woken(&mailbox, 0));
        assert!(mailbox.next().is_none());
        let t = std::thread::spawn(move || mailer.post(committed("s")));
        assert!(woken(&mailbox, 10_000));
        t.join().unwrap();
        mailbox.rearm();
        assert!(!woken(&mailbox, 0));
        match mailbox.next() {
            Some(Note::Committed(b)) => assert_eq!(b[0].stream, b"s"),
            _ => panic!("the committed note is missing"),
        }
        assert!(mailbox.next().is_none());
    }

    #[test]
    fn wake_ups_coalesce_until_the_mailbox_is_rearmed() {
        let ctx = zmq::Context::new();
        let (mailer, mailbox) = Mailbox::open(&ctx).unwrap();
        for s in ["a", "b", "c"] {
            mailer.post(committed(s));
        }
        mailer.waker().wake();
        assert!(woken(&mailbox, 10_000));
        assert_eq!(pending_messages(&mailbox), 1);
        // Drained but not re-armed: a wake sends nothing.
        mailer.waker().wake();
        assert!(!woken(&mailbox, 50));
        mailbox.rearm();
        mailer.waker().wake();
        assert!(woken(&mailbox, 10_000));
        mailbox.rearm();
        let mut streams = Vec::new();
        while let Some(Note::Committed(b)) = mailbox.next() {
            streams.push(b[0].stream.clone());
        }
        assert_eq!(streams, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    }

    #[test]
    fn each_mailbox_has_its_own_wake_sockets() {
        let ctx = zmq::Context::new();
        let (one, first) = Mailbox::open(&ctx).unwrap();
        let (_two, second) = Mailbox::open(&ctx).unwrap();
        one.waker().wake();
        assert!(woken(&first, 10_000));
        assert!(!woken(&second, 50));
    }
}
