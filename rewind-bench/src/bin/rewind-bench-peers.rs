//! `rewind-bench-peers`: Rewind beside UmaDB on this machine, in one run
//! (started by `scripts/bench-peers.sh`, which builds both). Prints a
//! markdown table of medians and the Rewind / UmaDB ratios.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use rewind_bench::machine::Machine;
use rewind_bench::peers::{self, PeerSettings};

/// Measures Rewind and UmaDB side by side: both servers durable, on
/// loopback, on new data directories under --dir, figures interleaved.
#[derive(Parser, Debug)]
#[command(name = "rewind-bench-peers", version)]
struct Args {
    /// Directory for the servers' data (on disk, not tmpfs).
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// The `rewind` server binary.
    #[arg(long, value_name = "PATH")]
    rewind_server: PathBuf,
    /// The `umadb` server binary.
    #[arg(long, value_name = "PATH")]
    umadb_server: PathBuf,
    /// The UmaDB-side harness (`umadb-peer`).
    #[arg(long, value_name = "PATH")]
    umadb_harness: PathBuf,
    /// Repetitions (medians are taken over them).
    #[arg(long, value_name = "N", default_value_t = 5)]
    reps: usize,
    /// Seconds each timed append measurement runs.
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    window: f64,
    /// Events appended in 1,000-event requests, then read and subscribed to.
    #[arg(long, value_name = "N", default_value_t = 200_000)]
    events: usize,
    /// Bytes of data per event.
    #[arg(long, value_name = "BYTES", default_value_t = 100)]
    payload: usize,
    /// Run only these figures (1 to 6), e.g. `--only 1,6`.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    only: Vec<usize>,
}

fn main() -> ExitCode {
    let a = Args::parse();
    if !(a.window.is_finite() && a.window > 0.0) {
        eprintln!("rewind-bench-peers: --window must be a positive number of seconds");
        return ExitCode::from(2);
    }
    if let Some(bad) = a.only.iter().find(|&&i| !(1..=6).contains(&i)) {
        eprintln!("rewind-bench-peers: there is no figure {bad} (figures are 1 to 6)");
        return ExitCode::from(2);
    }
    let s = PeerSettings {
        reps: a.reps.max(1),
        window: Duration::from_secs_f64(a.window),
        events: a.events.max(1),
        payload: a.payload,
        dir: a.dir,
        only: a.only,
        rewind_server: a.rewind_server,
        umadb_server: a.umadb_server,
        umadb_harness: a.umadb_harness,
    };
    println!("rewind-bench-peers {}", env!("CARGO_PKG_VERSION"));
    println!("machine: {}", Machine::detect());
    println!(
        "settings: {} repetitions, {:.1} s windows, {} events, {}-byte events, data in {}",
        s.reps,
        s.window.as_secs_f64(),
        s.events,
        s.payload,
        s.dir.display()
    );
    if cfg!(debug_assertions) {
        println!("warning: a debug build; run with --release for real figures");
    }
    let t = Instant::now();
    let figs = match peers::run(&s, &mut |line| eprintln!("  {line}")) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("rewind-bench-peers: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!();
    print!("{}", peers::table(&figs));
    println!();
    print!("{}", peers::cost_table(&figs));
    println!();
    print!("{}", peers::samples(&figs));
    println!("({:.0} s)", t.elapsed().as_secs_f64());
    ExitCode::SUCCESS
}
