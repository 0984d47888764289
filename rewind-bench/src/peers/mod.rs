//! The peer benchmark: Rewind beside UmaDB on the same machine in one run.
//! This module starts both servers as processes on loopback, each on a new
//! data directory on disk for every repetition, runs the six figures with
//! the two stores interleaved (the order alternating), stops the servers
//! and reports medians and the median of the per-repetition ratios.
//!
//! The Rewind side is measured in this process ([`rewind`]); the UmaDB side
//! by the `umadb-peer` harness (`rewind-bench/peers/umadb`, a project of its
//! own), one process per measurement, timed inside it the same way.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::report::rate;
use crate::{interleave, median, median_ratio, Result};

pub mod rewind;

/// Events per request in figure 3.
pub const BATCH: usize = 1_000;
/// Clients in figure 2.
pub const CLIENTS: usize = 32;

/// What to run, where, and how long.
#[derive(Debug, Clone)]
pub struct PeerSettings {
    /// Repetitions; every repetition starts both servers on new stores.
    pub reps: usize,
    /// How long each timed append measurement runs (figures 1, 2, 6).
    pub window: Duration,
    /// Events appended by figure 3, then read by figures 4 and 5.
    pub events: usize,
    /// Bytes of data per event.
    pub payload: usize,
    /// Where the data directories go (a temporary directory under it).
    pub dir: PathBuf,
    /// The figures to run (1 to 6); empty for all. Figure 3 always runs
    /// when 4 or 5 does: it loads the store they read.
    pub only: Vec<usize>,
    /// The `rewind` server binary.
    pub rewind_server: PathBuf,
    /// The `umadb` server binary.
    pub umadb_server: PathBuf,
    /// The UmaDB-side harness binary (`umadb-peer`).
    pub umadb_harness: PathBuf,
}

/// The processor time one side spent on the events it handled: its
/// server's and its client's (user + system, from `/proc/PID/stat`), summed
/// over every measurement of a figure.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cost {
    /// Events handled.
    pub events: u64,
    /// The server's processor seconds.
    pub server: f64,
    /// The client's processor seconds (for Rewind, this process, whose
    /// only work then is the client's).
    pub client: f64,
}

impl Cost {
    /// Milliseconds of the server's and the client's processor time per
    /// 1,000 events.
    pub fn per_thousand_ms(&self) -> (f64, f64) {
        let k = self.events as f64 / 1000.0;
        (self.server * 1000.0 / k, self.client * 1000.0 / k)
    }
}

/// The processor seconds (user + system) `pid` has used so far.
fn cpu_secs(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The fields after the command name (which is in parentheses and may
    // hold spaces) start with the state, field 3; utime and stime are
    // fields 14 and 15.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or("an unreadable /proc/PID/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Result<f64> {
        Ok(fields
            .get(i)
            .ok_or("a short /proc/PID/stat")?
            .parse::<f64>()?)
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok((ticks(11)? + ticks(12)?) / hz)
}

/// Runs `f` (which returns the events it handled and its result) and adds
/// its events and the processor time `server` and `client` spent to `cost`.
fn metered<T>(
    cost: &mut Cost,
    server: u32,
    client: u32,
    f: impl FnOnce() -> Result<(u64, T)>,
) -> Result<T> {
    let (s0, c0) = (cpu_secs(server)?, cpu_secs(client)?);
    let (events, r) = f()?;
    cost.server += cpu_secs(server)? - s0;
    cost.client += cpu_secs(client)? - c0;
    cost.events += events;
    Ok(r)
}

/// One figure: both stores' rates per repetition.
#[derive(Debug, Clone)]
pub struct PeerFigure {
    /// 1 to 6.
    pub number: usize,
    /// What is measured.
    pub name: &'static str,
    /// Rewind's rates, events/s.
    pub rewind: Vec<f64>,
    /// UmaDB's rates, events/s.
    pub umadb: Vec<f64>,
    /// Rewind's processor time, over all repetitions.
    pub rewind_cost: Cost,
    /// UmaDB's processor time, over all repetitions.
    pub umadb_cost: Cost,
}

impl PeerFigure {
    /// The median of Rewind's rates.
    pub fn rewind_median(&self) -> f64 {
        median(&self.rewind)
    }

    /// The median of UmaDB's rates.
    pub fn umadb_median(&self) -> f64 {
        median(&self.umadb)
    }

    /// The median of the per-repetition ratios Rewind / UmaDB.
    pub fn ratio(&self) -> f64 {
        median_ratio(&self.rewind, &self.umadb)
    }
}

/// The figures, in the order a repetition runs them: figure 3 loads the
/// store that figures 4 and 5 read, so they see exactly `events` events.
const ORDER: [usize; 6] = [3, 4, 5, 1, 2, 6];

fn figure_name(n: usize) -> &'static str {
    match n {
        1 => "1 event per request, 1 client",
        2 => "1 event per request, 32 clients",
        3 => "1,000 events per request, 1 client",
        4 => "reading every event",
        5 => "subscription catching up from position 0",
        _ => "conditional append (expected version), 1 client",
    }
}

/// The UmaDB harness's name for figure `n`.
fn umadb_figure(n: usize) -> &'static str {
    match n {
        1 => "append-1",
        2 => "append-32",
        3 => "append-batch",
        4 => "read",
        5 => "subscribe",
        _ => "conditional",
    }
}

/// A server process with its output in a log file; stopped with SIGTERM.
struct ServerProcess {
    name: &'static str,
    child: Option<Child>,
    log: PathBuf,
}

impl ServerProcess {
    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Starts `cmd` with its output going to `log`, and waits until the log
    /// has a line containing `ready`.
    fn start(name: &'static str, mut cmd: Command, log: &Path, ready: &str) -> Result<Self> {
        let out = File::create(log)?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .map_err(|e| format!("starting {name} ({:?}): {e}", cmd.get_program()))?;
        let mut p = ServerProcess {
            name,
            child: Some(child),
            log: log.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = p.log_text();
            if text.contains(ready) {
                return Ok(p);
            }
            if let Some(c) = p.child.as_mut() {
                if let Some(status) = c.try_wait()? {
                    p.child = None;
                    return Err(
                        format!("{name} exited ({status}) before it was ready:\n{text}").into(),
                    );
                }
            }
            if Instant::now() > deadline {
                return Err(format!("{name} was not ready after 30 s:\n{text}").into());
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn log_text(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// SIGTERM, then waits (up to 30 s, then kills); fails unless the
    /// server exited successfully.
    fn stop(mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let pid = libc::pid_t::try_from(child.id())?;
        // SAFETY: signals our own child, which has not been reaped yet.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait()? {
                if !status.success() {
                    return Err(format!(
                        "{} stopped with {status}:\n{}",
                        self.name,
                        self.log_text()
                    )
                    .into());
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{} did not stop within 30 s of SIGTERM", self.name).into());
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A loopback port free at this moment.
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Both servers of one repetition.
struct Servers {
    rewind: ServerProcess,
    rewind_ep: String,
    umadb: ServerProcess,
    umadb_url: String,
}

impl Servers {
    fn start(s: &PeerSettings, dir: &Path) -> Result<Servers> {
        std::fs::create_dir_all(dir)?;
        let rewind_ep = format!("tcp://127.0.0.1:{}", free_port()?);
        let mut cmd = Command::new(&s.rewind_server);
        cmd.arg("--data-dir")
            .arg(dir.join("rewind"))
            .args(["--native-bind-endpoint", &rewind_ep])
            .args(["--command-bind-endpoint", ""])
            .args(["--query-bind-endpoint", ""])
            .args(["--streaming-bind-endpoint", ""])
            .args(["--publish-bind-endpoint", ""]);
        let rewind =
            ServerProcess::start("rewind", cmd, &dir.join("rewind.log"), "rewind is ready")?;
        let umadb_addr = format!("127.0.0.1:{}", free_port()?);
        let mut cmd = Command::new(&s.umadb_server);
        // The defaults otherwise: synchronous writer, every commit fsynced.
        cmd.args(["--listen", &umadb_addr])
            .arg("--db-path")
            .arg(dir.join("umadb.db"));
        let umadb = ServerProcess::start(
            "umadb",
            cmd,
            &dir.join("umadb.log"),
            "UmaDB is listening on",
        )?;
        Ok(Servers {
            rewind,
            rewind_ep,
            umadb,
            umadb_url: format!("http://{umadb_addr}"),
        })
    }

    fn stop(self) -> Result<()> {
        let r = self.rewind.stop();
        let u = self.umadb.stop();
        r.and(u)
    }
}

fn to_rate((events, secs): (u64, f64)) -> f64 {
    events as f64 / secs
}

/// The UmaDB harness in `--serve` mode: one process for a repetition, its
/// clients connected from one command to the next.
struct UmadbSession {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl UmadbSession {
    fn start(s: &PeerSettings, url: &str) -> Result<UmadbSession> {
        let mut child = Command::new(&s.umadb_harness)
            .args(["--url", url, "--serve"])
            .args(["--events", &s.events.to_string()])
            .args(["--payload", &s.payload.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("running {}: {e}", s.umadb_harness.display()))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("no harness stdout")?;
        Ok(UmadbSession {
            child,
            stdin,
            stdout: BufReader::new(stdout),
        })
    }

    /// Runs `figure` (for `window`, when it is timed) and returns its
    /// (events, seconds).
    fn call(&mut self, figure: &str, window: Duration) -> Result<(u64, f64)> {
        let stdin = self.stdin.as_mut().ok_or("the harness is closed")?;
        writeln!(stdin, "{figure} {}", window.as_secs_f64())?;
        stdin.flush()?;
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        if line.is_empty() {
            let status = self.child.wait()?;
            return Err(format!("the UmaDB harness stopped ({status}) on {figure}").into());
        }
        parse_result(&line)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn finish(mut self) -> Result<()> {
        drop(self.stdin.take());
        let status = self.child.wait()?;
        if !status.success() {
            return Err(format!("the UmaDB harness ended with {status}").into());
        }
        Ok(())
    }
}

impl Drop for UmadbSession {
    fn drop(&mut self) {
        if self.stdin.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One-shot figure `n` (3, 4 or 5) on the Rewind side; (events, seconds).
fn one_shot_rewind(n: usize, s: &PeerSettings, ep: &str) -> Result<(u64, f64)> {
    match n {
        3 => rewind::append_batches(ep, s.events, BATCH, s.payload),
        4 => rewind::read_all(ep, s.events, s.payload),
        _ => rewind::subscribe_all(ep, s.events, s.payload),
    }
}

/// Timed figure `n` (1, 2 or 6) on the Rewind side for `window`: the
/// events appended.
fn timed_rewind(n: usize, r: &mut rewind::Session, window: Duration) -> Result<usize> {
    match n {
        1 => r.append_one_by_one(1, window),
        2 => r.append_one_by_one(CLIENTS, window),
        _ => r.append_conditional(window),
    }
}

/// What a timed figure works with.
struct Sides<'a> {
    rewind: &'a mut rewind::Session,
    umadb: &'a mut UmadbSession,
    servers: &'a Servers,
    rewind_cost: &'a mut Cost,
    umadb_cost: &'a mut Cost,
}

/// Timed figure `n` on both sides, in alternating slices (see
/// [`interleave`]) so that both see the same disk; (Rewind, UmaDB) rates.
fn timed_both(
    n: usize,
    s: &PeerSettings,
    sides: Sides<'_>,
    rewind_first: bool,
) -> Result<(f64, f64)> {
    let figure = umadb_figure(n);
    let Sides {
        rewind: r,
        umadb: u,
        servers,
        rewind_cost,
        umadb_cost,
    } = sides;
    let (rs, us, me) = (
        servers.rewind.pid(),
        servers.umadb.pid(),
        std::process::id(),
    );
    let mut rw = |d: Duration| {
        metered(rewind_cost, rs, me, || {
            let n = timed_rewind(n, r, d)?;
            Ok((n as u64, n))
        })
    };
    let uc = u.pid();
    let mut um = |d: Duration| -> Result<usize> {
        metered(umadb_cost, us, uc, || {
            let (n, _) = u.call(figure, d)?;
            Ok((n, usize::try_from(n)?))
        })
    };
    let (rr, ur) = if rewind_first {
        interleave(s.window, &mut rw, &mut um)?
    } else {
        let (ur, rr) = interleave(s.window, &mut um, &mut rw)?;
        (rr, ur)
    };
    Ok((rr, ur))
}

/// Reads `events=N seconds=S`.
pub fn parse_result(line: &str) -> Result<(u64, f64)> {
    let mut events = None;
    let mut secs = None;
    for word in line.split_whitespace() {
        if let Some(v) = word.strip_prefix("events=") {
            events = v.parse().ok();
        } else if let Some(v) = word.strip_prefix("seconds=") {
            secs = v.parse().ok();
        }
    }
    match (events, secs) {
        (Some(e), Some(s)) if s > 0.0 => Ok((e, s)),
        _ => Err(format!("unexpected harness output {line:?}").into()),
    }
}

/// Runs every figure `s.reps` times; `progress` hears one line per
/// measurement.
pub fn run(s: &PeerSettings, progress: &mut dyn FnMut(&str)) -> Result<Vec<PeerFigure>> {
    std::fs::create_dir_all(&s.dir)?;
    let scratch = tempfile::Builder::new()
        .prefix("rewind-peers-")
        .tempdir_in(&s.dir)?;
    let mut figs: Vec<PeerFigure> = (1..=6)
        .map(|number| PeerFigure {
            number,
            name: figure_name(number),
            rewind: Vec::new(),
            umadb: Vec::new(),
            rewind_cost: Cost::default(),
            umadb_cost: Cost::default(),
        })
        .collect();
    for rep in 0..s.reps {
        let dir = scratch.path().join(format!("rep-{rep}"));
        let servers = Servers::start(s, &dir)?;
        let mut umadb = UmadbSession::start(s, &servers.umadb_url)?;
        let mut rewind = rewind::Session::new(&servers.rewind_ep, s.payload);
        let wanted = |n: usize| {
            s.only.is_empty()
                || s.only.contains(&n)
                || (n == 3 && s.only.iter().any(|&o| o == 4 || o == 5))
        };
        for (i, &n) in ORDER.iter().enumerate().filter(|(_, &n)| wanted(n)) {
            let rewind_first = (rep + i) % 2 == 0;
            let fig = &mut figs[n - 1];
            let (r, u) = if matches!(n, 1 | 2 | 6) {
                let sides = Sides {
                    rewind: &mut rewind,
                    umadb: &mut umadb,
                    servers: &servers,
                    rewind_cost: &mut fig.rewind_cost,
                    umadb_cost: &mut fig.umadb_cost,
                };
                timed_both(n, s, sides, rewind_first).map_err(|e| format!("figure {n}: {e}"))?
            } else {
                let (mut r, mut u) = (0.0, 0.0);
                let (rs, us, me) = (
                    servers.rewind.pid(),
                    servers.umadb.pid(),
                    std::process::id(),
                );
                for turn in 0..2 {
                    if (turn == 0) == rewind_first {
                        r = metered(&mut fig.rewind_cost, rs, me, || {
                            let m = one_shot_rewind(n, s, &servers.rewind_ep)
                                .map_err(|e| format!("Rewind, figure {n}: {e}"))?;
                            Ok((m.0, to_rate(m)))
                        })?;
                    } else {
                        let uc = umadb.pid();
                        u = metered(&mut fig.umadb_cost, us, uc, || {
                            let m = umadb.call(umadb_figure(n), s.window)?;
                            Ok((m.0, to_rate(m)))
                        })?;
                    }
                }
                (r, u)
            };
            progress(&format!(
                "rep {}/{}, figure {n}: Rewind {}, UmaDB {}",
                rep + 1,
                s.reps,
                rate(r),
                rate(u)
            ));
            fig.rewind.push(r);
            fig.umadb.push(u);
        }
        drop(rewind);
        umadb.finish()?;
        servers.stop()?;
        std::fs::remove_dir_all(&dir)?;
    }
    figs.retain(|f| !f.rewind.is_empty());
    Ok(figs)
}

/// The markdown table: medians and the median per-repetition ratio.
pub fn table(figs: &[PeerFigure]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| figure (events/s, medians) | Rewind | UmaDB | Rewind / UmaDB |"
    );
    let _ = writeln!(out, "|---|---|---|---|");
    for f in figs {
        let _ = writeln!(
            out,
            "| {}. {} | {}/s | {}/s | {:.2} |",
            f.number,
            f.name,
            rate(f.rewind_median()),
            rate(f.umadb_median()),
            f.ratio()
        );
    }
    out
}

/// The processor time per 1,000 events of each side's server and client,
/// over all repetitions.
pub fn cost_table(figs: &[PeerFigure]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| figure (processor ms per 1,000 events) | Rewind server | Rewind client | UmaDB server | UmaDB client |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for f in figs {
        let (rs, rc) = f.rewind_cost.per_thousand_ms();
        let (us, uc) = f.umadb_cost.per_thousand_ms();
        let _ = writeln!(
            out,
            "| {}. {} | {rs:.1} | {rc:.1} | {us:.1} | {uc:.1} |",
            f.number, f.name
        );
    }
    out
}

/// Every sample, for the record.
pub fn samples(figs: &[PeerFigure]) -> String {
    let mut out = String::new();
    let list = |xs: &[f64]| xs.iter().map(|&x| rate(x)).collect::<Vec<_>>().join(" ");
    for f in figs {
        let _ = writeln!(
            out,
            "figure {}: Rewind {} | UmaDB {}",
            f.number,
            list(&f.rewind),
            list(&f.umadb)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_harness_line_is_read_and_bad_lines_are_refused() {
        assert_eq!(
            parse_result("events=2000 seconds=0.5\n").unwrap(),
            (2000, 0.5)
        );
        assert!(parse_result("events=2000").is_err());
        assert!(parse_result("events=2000 seconds=0").is_err());
        assert!(parse_result("umadb-peer: read: connection refused").is_err());
    }

    #[test]
    fn the_table_gives_medians_and_the_median_of_the_ratios() {
        let f = PeerFigure {
            number: 2,
            name: figure_name(2),
            rewind: vec![300.0, 100.0, 240.0],
            umadb: vec![100.0, 100.0, 200.0],
            rewind_cost: Cost {
                events: 4000,
                server: 0.2,
                client: 0.1,
            },
            umadb_cost: Cost::default(),
        };
        assert_eq!(f.rewind_cost.per_thousand_ms(), (50.0, 25.0));
        assert_eq!(f.rewind_median(), 240.0);
        assert_eq!(f.umadb_median(), 100.0);
        // Ratios 3.0, 1.0 and 1.2: the median is not 240 / 100.
        assert_eq!(f.ratio(), 1.2);
        let t = table(&[f]);
        assert!(
            t.contains("| 2. 1 event per request, 32 clients | 240/s | 100/s | 1.20 |"),
            "{t}"
        );
    }

    #[test]
    fn processor_time_is_read_from_proc_and_agrees_with_getrusage() {
        fn rusage_secs() -> f64 {
            // SAFETY: getrusage writes into the struct it is given.
            let mut u: libc::rusage = unsafe { std::mem::zeroed() };
            assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) }, 0);
            let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
            tv(u.ru_utime) + tv(u.ru_stime)
        }
        let me = std::process::id();
        let (before, r0) = (cpu_secs(me).unwrap(), rusage_secs());
        // Work until the kernel has counted 0.3 s of it, however loaded
        // the machine is.
        let mut x = 0u64;
        while rusage_secs() - r0 < 0.3 {
            for _ in 0..100_000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
        }
        std::hint::black_box(x);
        let (after, r1) = (cpu_secs(me).unwrap(), rusage_secs());
        // /proc counts in clock ticks (10 ms here); other test threads
        // may add their own time to both.
        assert!(
            (after - before - (r1 - r0)).abs() < 0.05,
            "/proc: {before} -> {after}, getrusage: {r0} -> {r1}"
        );
        assert!(cpu_secs(u32::MAX).is_err());
    }
}
