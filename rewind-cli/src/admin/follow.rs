//! `cat` and `tail`: print events from a [`Cursor`], and with `--follow`
//! keep printing what a server commits. The server is another process, so
//! following re-reads the store: after catching up it waits 100 ms (on a
//! `poll` of stdout, which also tells when the reader of a pipe has gone)
//! and reads again. SIGINT, SIGTERM or a closed stdout end it cleanly.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use rewind_core::admin::{Cursor, LmdbBackend};
use rewind_core::Error;

use crate::args::EventOutput;
use crate::show::event_line;
use crate::Failure;

/// How long to wait before looking for new events again.
const POLL_MS: i32 = 100;
/// Events read per read transaction.
const CHUNK: u64 = 1024;

/// Whether the reader of stdout has gone (a pipe whose reader closed it).
/// Waits up to `ms` milliseconds for that, or for a signal.
fn stdout_closed_within(ms: i32) -> bool {
    let mut fds = libc::pollfd {
        fd: libc::STDOUT_FILENO,
        events: 0,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut fds, 1, ms) };
    n > 0 && fds.revents & (libc::POLLERR | libc::POLLHUP) != 0
}

/// Prints events from `cursor` on: at most `limit`, and with `follow`,
/// new ones as they are committed until `stop` is set or stdout closes.
pub fn print_events(
    backend: &LmdbBackend,
    mut cursor: Cursor,
    limit: Option<u64>,
    how: &EventOutput,
    stop: &AtomicBool,
) -> Result<(), Failure> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut line = String::new();
    let mut printed = 0u64;
    loop {
        let left = limit.map_or(u64::MAX, |l| l - printed);
        if left == 0 || stop.load(Ordering::Relaxed) {
            break;
        }
        let want = left.min(CHUNK);
        let mut failed = None;
        let n = cursor.read(backend, want as usize, |e| {
            line.clear();
            event_line(&mut line, &e, how.format, how.max_data);
            match out.write_all(line.as_bytes()) {
                Ok(()) => true,
                Err(x) => {
                    failed = Some(x);
                    false
                }
            }
        })?;
        if let Some(e) = failed {
            return Err(Error::from(e).into());
        }
        printed += n as u64;
        if n as u64 == want {
            continue;
        }
        if !how.follow {
            break;
        }
        out.flush().map_err(Error::from)?;
        if stdout_closed_within(POLL_MS) {
            return Err(Failure::BrokenPipe);
        }
    }
    out.flush().map_err(Error::from)?;
    Ok(())
}
