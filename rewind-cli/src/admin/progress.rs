//! Progress of long operations on a terminal, and the operator's request
//! to stop: a [`Meter`] draws one line on stderr when stderr is a terminal
//! (nothing when it is not), and reports SIGINT or SIGTERM as a request to
//! stop.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rewind_core::admin::Progress;

/// Set by SIGINT and SIGTERM once [`stop_on_signals`] has run.
pub fn stop_on_signals() -> std::io::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    Ok(stop)
}

/// Whether stderr is a terminal (progress and summaries go there only then).
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// What a meter counts.
#[derive(Debug, Clone, Copy)]
pub enum Unit {
    /// Events or index entries.
    Items(&'static str),
    /// Bytes, shown in KiB, MiB, …
    Bytes,
}

/// One line of progress on a terminal.
pub struct Meter {
    label: &'static str,
    unit: Unit,
    tty: bool,
    last: Option<Instant>,
    shown: bool,
    stop: Arc<AtomicBool>,
}

impl Meter {
    /// A meter for `label`, stopped by `stop`.
    pub fn new(label: &'static str, unit: Unit, stop: Arc<AtomicBool>) -> Meter {
        Meter {
            label,
            unit,
            tty: stderr_is_terminal(),
            last: None,
            shown: false,
            stop,
        }
    }

    /// Removes the line drawn, if any.
    pub fn clear(&mut self) {
        if self.shown {
            eprint!("\r\x1b[K");
            let _ = std::io::stderr().flush();
            self.shown = false;
        }
    }

    fn amount(&self, n: u64) -> String {
        match self.unit {
            Unit::Items(_) => n.to_string(),
            Unit::Bytes => human_bytes(n),
        }
    }
}

impl Progress for Meter {
    fn report(&mut self, done: u64, total: u64) {
        if !self.tty {
            return;
        }
        let now = Instant::now();
        if matches!(self.last, Some(t) if now - t < Duration::from_millis(100)) && done < total {
            return;
        }
        self.last = Some(now);
        let pct = if total == 0 {
            100.0
        } else {
            done as f64 * 100.0 / total as f64
        };
        let unit = match self.unit {
            Unit::Items(u) => format!(" {u}"),
            Unit::Bytes => String::new(),
        };
        eprint!(
            "\r\x1b[K{}: {} of {}{unit} ({pct:.0}%)",
            self.label,
            self.amount(done),
            self.amount(total)
        );
        let _ = std::io::stderr().flush();
        self.shown = true;
    }

    fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        self.clear();
    }
}

/// `n` bytes in the largest binary unit that keeps a number ≥ 1.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_say_them() {
        assert_eq!(human_bytes(0), "0 bytes");
        assert_eq!(human_bytes(1023), "1023 bytes");
        assert_eq!(human_bytes(1024), "1.0 KiB");
        assert_eq!(human_bytes(64 << 20), "64.0 MiB");
        assert_eq!(human_bytes(3 << 29), "1.5 GiB");
    }
}
