//! `rewind-bench-postgres`: one-event appends through Rewind on PostgreSQL
//! (one store, and several on one database) beside raw PostgreSQL inserts,
//! Rewind on LMDB and in memory, on a durable throwaway cluster this
//! program starts. Prints a markdown table of medians.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use rewind_bench::machine::Machine;
use rewind_bench::postgres::{self, PgSettings};

/// Measures durable one-event appends on PostgreSQL against raw inserts,
/// beside LMDB, in one run.
#[derive(Parser, Debug)]
#[command(name = "rewind-bench-postgres", version)]
struct Args {
    /// Directory for the PostgreSQL cluster and the LMDB store (on disk,
    /// not tmpfs; default: the system's temporary directory).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Repetitions (medians are taken over them).
    #[arg(long, value_name = "N", default_value_t = 5)]
    reps: usize,
    /// Seconds each measurement runs.
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    window: f64,
    /// The numbers of concurrent clients.
    #[arg(long, value_name = "LIST", value_delimiter = ',', default_values_t = [1, 32])]
    clients: Vec<usize>,
    /// Stores (servers) sharing the database in the shared setting.
    #[arg(long, value_name = "N", default_value_t = 3)]
    stores: usize,
}

fn main() -> ExitCode {
    let a = Args::parse();
    if !(a.window.is_finite() && a.window > 0.0) {
        eprintln!("rewind-bench-postgres: --window must be a positive number of seconds");
        return ExitCode::from(2);
    }
    let s = PgSettings {
        reps: a.reps.max(1),
        window: Duration::from_secs_f64(a.window),
        clients: a.clients.into_iter().map(|c| c.max(1)).collect(),
        shared_stores: a.stores.max(1),
        ..PgSettings::full()
    };
    let s = PgSettings { dir: a.dir, ..s };
    println!("rewind-bench-postgres {}", env!("CARGO_PKG_VERSION"));
    println!("machine: {}", Machine::detect());
    println!(
        "settings: {} repetitions, {:.1} s windows, clients {:?}, {} stores shared, {}-byte events, fsync=on",
        s.reps,
        s.window.as_secs_f64(),
        s.clients,
        s.shared_stores,
        s.payload
    );
    if cfg!(debug_assertions) {
        println!("warning: a debug build; run with --release for real figures");
    }
    let t = Instant::now();
    let rows = match postgres::run(&s, &mut |line| eprintln!("  {line}")) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rewind-bench-postgres: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!();
    print!("{}", postgres::table(&rows, s.shared_stores));
    println!("\n({:.0} s)", t.elapsed().as_secs_f64());
    ExitCode::SUCCESS
}
