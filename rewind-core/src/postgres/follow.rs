//! The follower: the one source of a PostgreSQL store's commit listeners.
//! Every server on the database appends to one log, so a server's
//! subscribers and PUB sockets must hear of every server's commits, not
//! only of their own server's writer.
//!
//! A thread with a connection of its own `LISTEN`s on [`CHANNEL`], which
//! every batch transaction notifies before it commits (PostgreSQL delivers
//! a notification at commit, to every listening session). Woken, the
//! thread reads the log from the position after the last one it announced
//! up to the committed head, a page at a time, and hands each page to the
//! listeners as one batch, in position order. Appends serialise on the
//! log's head row, so what a read sees is always a gap-free prefix of the
//! log: nothing is announced twice, and nothing is skipped.
//!
//! It never polls: it sleeps until a notification comes, or for
//! [`IDLE_CHECK`] at most (then it looks at the head once, which costs one
//! query, and would catch a notification a proxy lost). When the
//! connection breaks (PostgreSQL restarted, the network failed), it
//! reconnects with a growing delay and catches up from its last position;
//! as it starts `LISTEN` before it reads, no commit falls between the two.
//! A stop wakes it through a channel of its own.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use ::postgres::fallible_iterator::FallibleIterator;
use ::postgres::{Client, Row, Statement};

use super::conn::{Conn, Pool};
use super::read::{big, event_ref};
use crate::backend::{Announce, Follower, PreparedEvent};
use crate::store::CommittedAppend;
use crate::{Error, Result};

/// The channel every batch transaction notifies, with the log's new head
/// as the payload.
pub(super) const CHANNEL: &str = "rewind_log";

/// The most events the follower reads (and announces) in one batch.
const PAGE: usize = 512;
/// The longest the follower sleeps without a notification before it looks
/// at the head once.
const IDLE_CHECK: Duration = Duration::from_secs(10);
/// The first delay before reconnecting; it doubles up to [`RETRY_MAX`].
const RETRY_MIN: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(2);
/// How long a stop waits for the follower's last catch-up.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// A page of the log from a position on, each event with the id of the
/// event before it in its stream (looked up by the unique stream and
/// version).
const READ_FROM: &str = "SELECT e.position, e.id, e.stream, e.version, e.event_type, e.metadata, \
     e.data, (SELECT p.id FROM rewind_events p WHERE p.stream = e.stream \
     AND p.version = e.version - 1) FROM rewind_events e WHERE e.position >= $1::bigint \
     ORDER BY e.position LIMIT $2::bigint";

/// The stop flag, and the condition variable a follower waiting to
/// reconnect sleeps on.
#[derive(Default)]
struct Stop {
    stopping: Mutex<bool>,
    wake: Condvar,
    /// The follower has a listening connection (a stop wakes it with a
    /// notification; otherwise the condition variable does).
    listening: AtomicBool,
}

impl Stop {
    fn is_set(&self) -> bool {
        *self.stopping.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self) {
        *self.stopping.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.wake.notify_all();
    }

    /// Sleeps for `d`, or until the stop.
    fn sleep(&self, d: Duration) {
        let guard = self.stopping.lock().unwrap_or_else(|e| e.into_inner());
        let _ = self
            .wake
            .wait_timeout_while(guard, d, |stopping| !*stopping)
            .unwrap_or_else(|e| e.into_inner());
    }
}

/// The handle of a running follower.
pub(super) struct LogFollower {
    pool: Arc<Pool>,
    stop: Arc<Stop>,
    /// The follower's own channel, which a stop notifies to wake it.
    wake_channel: String,
    thread: Option<JoinHandle<()>>,
    ended: Receiver<()>,
}

impl LogFollower {
    /// Starts following the log from position `from`, handing every batch
    /// to `announce`.
    pub fn start(pool: Arc<Pool>, from: u64, announce: Announce) -> LogFollower {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let wake_channel = format!(
            "rewind_follower_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let stop = Arc::new(Stop::default());
        let (ended_tx, ended) = mpsc::channel();
        let thread = {
            let pool = pool.clone();
            let stop = stop.clone();
            let wake_channel = wake_channel.clone();
            std::thread::Builder::new()
                .name("rewind-follower".into())
                .spawn(move || {
                    Following {
                        pool,
                        stop,
                        wake_channel,
                        next: from,
                        announce,
                    }
                    .run();
                    let _ = ended_tx.send(());
                })
                .expect("spawning the follower thread")
        };
        LogFollower {
            pool,
            stop,
            wake_channel,
            thread: Some(thread),
            ended,
        }
    }
}

impl Follower for LogFollower {
    fn stop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.stop.set();
        if self.stop.listening.load(Ordering::SeqCst) {
            let woken = self.pool.with_reader(|conn| {
                conn.client
                    .execute("SELECT pg_notify($1, '')", &[&self.wake_channel])
            });
            if let Err(e) = woken {
                log::debug!("cannot wake the follower of the log: {e}");
            }
        }
        if self.ended.recv_timeout(STOP_WAIT).is_ok() {
            let _ = thread.join();
        } else {
            log::warn!("the follower of the log did not stop in time; leaving it");
        }
    }
}

impl Drop for LogFollower {
    fn drop(&mut self) {
        Follower::stop(self);
    }
}

/// The follower's thread.
struct Following {
    pool: Arc<Pool>,
    stop: Arc<Stop>,
    wake_channel: String,
    /// The next position to announce.
    next: u64,
    announce: Announce,
}

/// The follower's connection, listening, and its statement.
struct Listening {
    conn: Conn,
    read_from: Statement,
}

impl Following {
    fn run(mut self) {
        let mut listening: Option<Listening> = None;
        let mut delay = RETRY_MIN;
        let mut failed = false;
        loop {
            // A stop seen here still gets one last catch-up.
            let stopping = self.stop.is_set();
            if listening.is_none() {
                listening = self.listen().map_err(|e| self.failed(&mut failed, e)).ok();
                self.stop
                    .listening
                    .store(listening.is_some(), Ordering::SeqCst);
            }
            let result = match listening.as_mut() {
                Some(l) => self.catch_up(l, &mut failed),
                None => Err(()),
            };
            match result {
                Ok(()) => {
                    if failed {
                        log::info!("following the log again from position {}", self.next);
                        failed = false;
                    }
                    delay = RETRY_MIN;
                }
                Err(()) => {
                    listening = None;
                    self.stop.listening.store(false, Ordering::SeqCst);
                    if stopping {
                        return;
                    }
                    self.stop.sleep(delay);
                    delay = (delay * 2).min(RETRY_MAX);
                    continue;
                }
            }
            if stopping {
                return;
            }
            if self.stop.is_set() {
                // Stopped since the top (perhaps while it was not
                // listening, so no notification comes): a last catch-up.
                continue;
            }
            if let Some(l) = listening.as_mut() {
                if wait(&mut l.conn.client).is_err() {
                    listening = None;
                    self.stop.listening.store(false, Ordering::SeqCst);
                }
            }
        }
    }

    /// Notes a failure (logged once until the follower recovers).
    fn failed(&self, failed: &mut bool, e: Error) {
        if !*failed {
            log::warn!(
                "following the log failed at position {} ({e}); retrying",
                self.next
            );
        }
        *failed = true;
    }

    /// A new connection listening on the log's channel and the follower's.
    fn listen(&self) -> Result<Listening> {
        let mut conn = self.pool.connect()?;
        let listen = format!("LISTEN {CHANNEL}; LISTEN {}", self.wake_channel);
        conn.client.batch_execute(&listen).map_err(Error::from)?;
        let read_from = conn.client.prepare(READ_FROM).map_err(Error::from)?;
        Ok(Listening { conn, read_from })
    }

    /// Announces every event committed from `next` on; a failure is
    /// noted in `failed`.
    fn catch_up(&mut self, l: &mut Listening, failed: &mut bool) -> std::result::Result<(), ()> {
        self.read_to_head(l).map_err(|e| self.failed(failed, e))
    }

    fn read_to_head(&mut self, l: &mut Listening) -> Result<()> {
        loop {
            let rows = l
                .conn
                .client
                .query(&l.read_from, &[&big(self.next), &(PAGE as i64)])
                .map_err(Error::from)?;
            let (batch, end) = batch_of(&rows, self.next)?;
            if !batch.is_empty() {
                (self.announce)(batch);
                self.next = end;
            }
            if rows.len() < PAGE {
                return Ok(());
            }
        }
    }
}

/// Sleeps until a notification comes (or [`IDLE_CHECK`] passes), then
/// takes every notification already there: one catch-up answers them all.
fn wait(client: &mut Client) -> std::result::Result<(), ::postgres::Error> {
    let mut n = client.notifications();
    if n.timeout_iter(IDLE_CHECK).next()?.is_some() {
        let mut pending = n.iter();
        while pending.next()?.is_some() {}
    }
    Ok(())
}

/// The rows of a page of the log from position `from` as a batch: runs of
/// consecutive events of one stream are one append. Returns the batch and
/// the position after it. A row that does not follow the one before is an
/// error (a log with a hole, which appends never make).
fn batch_of(rows: &[Row], from: u64) -> Result<(Vec<CommittedAppend>, u64)> {
    let mut batch: Vec<CommittedAppend> = Vec::new();
    let mut next = from;
    for row in rows {
        let e = event_ref(row);
        if e.position != next {
            return Err(Error::Corrupt(format!(
                "the log has no event at position {next} (the next one is at {})",
                e.position
            )));
        }
        next += 1;
        let event = PreparedEvent {
            id: e.id.to_vec(),
            event_type: e.event_type.to_vec(),
            metadata: e.metadata.to_vec(),
            data: e.data.to_vec(),
        };
        if let Some(last) = batch.last_mut() {
            if last.stream == e.stream && last.first_version + last.events.len() as u64 == e.version
            {
                last.events.push(event);
                continue;
            }
        }
        batch.push(CommittedAppend {
            stream: e.stream.to_vec(),
            prev_id: row.get::<_, Option<Vec<u8>>>(7),
            first_version: e.version,
            first_position: e.position,
            events: vec![event],
        });
    }
    Ok((batch, next))
}
