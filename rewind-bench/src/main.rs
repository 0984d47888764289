//! `cargo run --release -p rewind-bench [-- --quick] [--reps N]`: every
//! Rewind figure beside its raw baseline, medians of several repetitions.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use rewind_bench::{machine::Machine, report, run, Settings};

/// Measures Rewind against the raw ZeroMQ and LMDB baselines it is bounded
/// by, on this machine, and prints a table of medians.
#[derive(Parser, Debug)]
#[command(name = "rewind-bench", version)]
struct Args {
    /// Fewer repetitions, shorter windows and 100,000 events instead of 1,000,000.
    #[arg(long)]
    quick: bool,
    /// Repetitions of every measurement (default 5, or 3 with --quick).
    #[arg(long, value_name = "N")]
    reps: Option<usize>,
    /// Seconds each timed publish/append measurement runs (default 2, or 0.5 with --quick).
    #[arg(long, value_name = "SECS")]
    window: Option<f64>,
    /// Events in the streamed query and the log scans.
    #[arg(long, value_name = "N")]
    events: Option<usize>,
    /// Directory for the temporary LMDB stores (default: the system's temporary directory).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Run only these figures (1 to 10), e.g. `--only 1,4`.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    only: Vec<usize>,
    /// Exit with status 1 when a figure misses its target.
    #[arg(long)]
    check: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut s = if args.quick {
        Settings::quick()
    } else {
        Settings::full()
    };
    if let Some(r) = args.reps {
        s.reps = r.max(1);
    }
    if let Some(w) = args.window {
        if !(w.is_finite() && w > 0.0) {
            eprintln!("rewind-bench: --window must be a positive number of seconds");
            return ExitCode::from(2);
        }
        s.window = Duration::from_secs_f64(w);
    }
    if let Some(e) = args.events {
        s.events = e.max(1);
    }
    s.dir = args.dir;
    if let Some(bad) = args.only.iter().find(|&&i| !(1..=10).contains(&i)) {
        eprintln!("rewind-bench: there is no figure {bad} (figures are 1 to 10)");
        return ExitCode::from(2);
    }
    s.only = args.only;

    println!("rewind-bench {}", env!("CARGO_PKG_VERSION"));
    println!("machine: {}", Machine::detect());
    println!(
        "settings: {} repetitions, {:.1} s windows, {} events for query/scan, {}-byte events, Rewind and baseline interleaved",
        s.reps,
        s.window.as_secs_f64(),
        s.events,
        s.payload
    );
    if cfg!(debug_assertions) {
        println!("warning: a debug build; run with --release for real figures");
    }
    let t = Instant::now();
    let figs = match run(&s, &mut |line| eprintln!("  {line}")) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("rewind-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!();
    print!("{}", report::table(&figs));
    let passed = figs.iter().filter(|f| f.passes()).count();
    println!(
        "\n{passed} of {} figures meet their targets ({:.0} s)",
        figs.len(),
        t.elapsed().as_secs_f64()
    );
    if args.check && passed < figs.len() {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
