//! The Rewind benchmark: each Rewind figure beside the raw baseline it is
//! bounded by, measured by the same program on the same machine.
//!
//! | figure | Rewind | baseline |
//! |--------|--------|----------|
//! | 1 | v1 `PUBLISH`, one REQ client, durable | ZeroMQ REQ/REP round trip + one durable LMDB commit per request |
//! | 2 | v1 `PUBLISH`, 32 REQ clients, durable | figure 1 (group commit should give 10×) |
//! | 3 | v2 `PUBLISH`, 8 DEALERs × 1000 in flight, durable | ZeroMQ DEALER/ROUTER echo, same clients, no storage |
//! | 4 | v2 streamed `QUERY` of a stream of N events | ZeroMQ PUB/SUB of N messages of the same frames |
//! | 5 | `Store::read_log` over N events | LMDB cursor scan of N records of the same size |
//! | 6 | `Store::append` of 100 events per call, durable | LMDB, 100 puts per durable transaction |
//! | 7 | `Store::read_log_filtered` over N events, 1% passing an event-type filter | figure 5's cursor scan |
//! | 8 | `Store::append_multi`, 2 streams × 5 events per append, 16 threads, durable | LMDB, the same records per durable transaction, one per append, 16 threads |
//! | 9 | a subscription catching up on N events of history | figure 5's cursor scan |
//! | 10 | a subscription following live appends (figure 6's), events delivered | figure 6's baseline |
//!
//! Every measurement runs several times, Rewind and baseline interleaved
//! (their order alternating from one repetition to the next), and the
//! report gives medians: the machine is shared and noisy.
//!
//! The modules: [`machine`] describes the host, [`net`] holds the ZeroMQ
//! figures (1 to 4), [`embedded`] the Rust API figures (5 to 7),
//! [`streams`] those of appends across streams and subscriptions (8 to 10),
//! and [`report`] the table. [`postgres`] holds the PostgreSQL figures
//! (the `rewind-bench-postgres` binary), measured beside raw PostgreSQL
//! inserts and beside LMDB.

use std::path::PathBuf;
use std::time::{Duration, Instant};

pub mod embedded;
pub mod machine;
pub mod net;
pub mod peers;
pub mod postgres;
pub mod report;
pub mod streams;

/// Any failure of a benchmark: it stops the run.
pub type BenchError = Box<dyn std::error::Error + Send + Sync>;
/// The result of a benchmark step.
pub type Result<T> = std::result::Result<T, BenchError>;

/// What to measure, and how long.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Repetitions of every measurement; the report gives medians.
    pub reps: usize,
    /// How long each timed publish/append measurement runs.
    pub window: Duration,
    /// Events in the streamed query and the log scans (figures 4, 5 and 7).
    pub events: usize,
    /// Concurrent REQ clients of figure 2.
    pub v1_clients: usize,
    /// DEALER clients of figure 3.
    pub dealers: usize,
    /// Requests each DEALER keeps in flight in figure 3.
    pub in_flight: usize,
    /// Events per append call (and puts per transaction) in figure 6.
    pub batch: usize,
    /// Threads and the shape of their appends in figure 8.
    pub multi: streams::MultiShape,
    /// Bytes of event data everywhere.
    pub payload: usize,
    /// Where the LMDB directories go (a temporary directory under it);
    /// `None` for the system's temporary directory.
    pub dir: Option<PathBuf>,
    /// The figures to run (1 to 10); empty for all. Figure 2 brings figure 1.
    pub only: Vec<usize>,
}

impl Settings {
    /// The full benchmark: 5 repetitions, 2 s windows, 1,000,000 events.
    pub fn full() -> Settings {
        Settings {
            reps: 5,
            window: Duration::from_secs(2),
            events: 1_000_000,
            v1_clients: 32,
            dealers: 8,
            in_flight: 1000,
            batch: 100,
            multi: streams::MultiShape {
                threads: 16,
                streams: 2,
                per_stream: 5,
            },
            payload: 32,
            dir: None,
            only: Vec::new(),
        }
    }

    /// A quick look: 3 repetitions, 0.5 s windows, 100,000 events.
    pub fn quick() -> Settings {
        Settings {
            reps: 3,
            window: Duration::from_millis(500),
            events: 100_000,
            ..Settings::full()
        }
    }

    /// Every code path at a tiny size, for the smoke test.
    pub fn smoke() -> Settings {
        Settings {
            reps: 1,
            window: Duration::from_millis(150),
            events: 2_000,
            v1_clients: 4,
            dealers: 2,
            in_flight: 50,
            batch: 10,
            multi: streams::MultiShape {
                threads: 4,
                streams: 2,
                per_stream: 5,
            },
            ..Settings::full()
        }
    }
}

/// One row of the report: a Rewind figure and the baseline it is held to.
#[derive(Debug, Clone)]
pub struct Figure {
    /// The figure's number, 1 to 10.
    pub number: usize,
    /// What Rewind does.
    pub name: String,
    /// What the baseline does.
    pub baseline_name: String,
    /// Rewind's rate in each repetition, events per second.
    pub rewind: Vec<f64>,
    /// The baseline's rate in each repetition, events per second.
    pub baseline: Vec<f64>,
    /// The least acceptable ratio Rewind / baseline.
    pub target: f64,
}

impl Figure {
    fn new(number: usize, name: String, baseline_name: String, target: f64) -> Figure {
        Figure {
            number,
            name,
            baseline_name,
            rewind: Vec::new(),
            baseline: Vec::new(),
            target,
        }
    }

    /// The median of Rewind's rates.
    pub fn rewind_median(&self) -> f64 {
        median(&self.rewind)
    }

    /// The median of the baseline's rates.
    pub fn baseline_median(&self) -> f64 {
        median(&self.baseline)
    }

    /// The median of the per-repetition ratios Rewind / baseline. Each
    /// repetition measures both sides under the same load on the machine,
    /// so their ratio is steadier than either rate.
    pub fn ratio(&self) -> f64 {
        median_ratio(&self.rewind, &self.baseline)
    }

    /// Whether the ratio meets the target.
    pub fn passes(&self) -> bool {
        self.ratio() >= self.target
    }
}

/// The median of the ratios `a[i] / b[i]`, one per repetition.
pub fn median_ratio(a: &[f64], b: &[f64]) -> f64 {
    let ratios: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
    median(&ratios)
}

/// The median of `xs` (the mean of the middle two for an even count); NaN
/// when empty.
pub fn median(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Figure 8's target: appends sharing group commits beat one durable
/// transaction per append.
pub const TARGET_MULTI: f64 = 1.0;
/// Figure 9's target.
pub const TARGET_CATCH_UP: f64 = 0.3;
/// Figure 10's target.
pub const TARGET_LIVE: f64 = 0.5;

/// How long one side runs before the other takes its turn, in the figures
/// measured in alternating slices.
pub const SLICE: Duration = Duration::from_millis(100);

/// Runs `a` and `b` in alternating slices (A B, B A, A B, ...) until each
/// has run for about `window`, so that both see the same machine: on a
/// shared host the disk and CPUs slow down and speed up by the second.
/// Each closure runs for the duration it is given and returns how many
/// events it handled; returns the rates of `a` and `b`, events/s.
pub fn interleave(
    window: Duration,
    a: &mut dyn FnMut(Duration) -> Result<usize>,
    b: &mut dyn FnMut(Duration) -> Result<usize>,
) -> Result<(f64, f64)> {
    let slices = (window.as_secs_f64() / SLICE.as_secs_f64())
        .round()
        .max(2.0) as u32;
    let slice = window / slices;
    let (mut na, mut nb) = (0, 0);
    let (mut ta, mut tb) = (Duration::ZERO, Duration::ZERO);
    let timed = |f: &mut dyn FnMut(Duration) -> Result<usize>,
                 n: &mut usize,
                 t: &mut Duration|
     -> Result<()> {
        let start = Instant::now();
        *n += f(slice)?;
        *t += start.elapsed();
        Ok(())
    };
    for i in 0..slices {
        if i % 2 == 0 {
            timed(a, &mut na, &mut ta)?;
            timed(b, &mut nb, &mut tb)?;
        } else {
            timed(b, &mut nb, &mut tb)?;
            timed(a, &mut na, &mut ta)?;
        }
    }
    Ok((embedded::rate(na, ta), embedded::rate(nb, tb)))
}

/// Runs every figure `settings.reps` times and returns the ten figures.
/// `progress` hears one line per measurement.
pub fn run(settings: &Settings, progress: &mut dyn FnMut(&str)) -> Result<Vec<Figure>> {
    let s = settings;
    let scratch = match &s.dir {
        Some(d) => tempfile::Builder::new()
            .prefix("rewind-bench-")
            .tempdir_in(d)?,
        None => tempfile::Builder::new().prefix("rewind-bench-").tempdir()?,
    };
    let root = scratch.path();
    let mut figs = vec![
        Figure::new(
            1,
            "v1 PUBLISH, 1 REQ client, durable".into(),
            "ZeroMQ REQ/REP + 1 durable LMDB commit per request".into(),
            0.8,
        ),
        Figure::new(
            2,
            format!("v1 PUBLISH, {} REQ clients, durable", s.v1_clients),
            "figure 1 (v1 PUBLISH, 1 REQ client)".into(),
            10.0,
        ),
        Figure::new(
            3,
            format!(
                "v2 PUBLISH, {} DEALERs x {} in flight, durable",
                s.dealers, s.in_flight
            ),
            "ZeroMQ DEALER/ROUTER echo, same clients, no storage".into(),
            0.2,
        ),
        Figure::new(
            4,
            format!("v2 streamed QUERY of {} events", s.events),
            format!("ZeroMQ PUB/SUB of {} messages, same frames", s.events),
            0.5,
        ),
        Figure::new(
            5,
            format!("embedded read_log of {} events", s.events),
            format!("LMDB cursor scan of {} records, same size", s.events),
            0.5,
        ),
        Figure::new(
            6,
            format!("embedded durable append, {} events/call", s.batch),
            format!("LMDB, {} puts per durable transaction", s.batch),
            0.7,
        ),
        Figure::new(
            7,
            format!(
                "embedded read_log_filtered of {} events, 1% of one type",
                s.events
            ),
            format!("LMDB cursor scan of {} records, same size", s.events),
            0.5,
        ),
        Figure::new(
            8,
            format!(
                "embedded durable append_multi, {} streams x {} events, {} threads",
                s.multi.streams, s.multi.per_stream, s.multi.threads
            ),
            format!(
                "LMDB, the same records, 1 durable transaction per append, {} threads",
                s.multi.threads
            ),
            TARGET_MULTI,
        ),
        Figure::new(
            9,
            format!("subscription catching up on {} events", s.events),
            format!("LMDB cursor scan of {} records, same size", s.events),
            TARGET_CATCH_UP,
        ),
        Figure::new(
            10,
            format!(
                "subscription following live appends of {} events, delivered",
                s.batch
            ),
            format!("LMDB, {} puts per durable transaction", s.batch),
            TARGET_LIVE,
        ),
    ];

    let on = |i: usize| s.only.is_empty() || s.only.contains(&i) || (i == 1 && s.only.contains(&2));
    let loaded = if on(4) || on(5) || on(9) {
        progress(&format!("preparing {} events in a Rewind store", s.events));
        let t = std::time::Instant::now();
        let loaded = embedded::LoadedStore::create(&root.join("loaded"), s.events, s.payload)?;
        progress(&format!("prepared in {:.1} s", t.elapsed().as_secs_f64()));
        Some(loaded)
    } else {
        None
    };
    let mixed = if on(7) {
        progress(&format!(
            "preparing {} events in a Rewind store, 1 in {} in another stream",
            s.events,
            embedded::MATCH_EVERY
        ));
        let t = std::time::Instant::now();
        let mixed = embedded::MixedStore::create(&root.join("mixed"), s.events, s.payload)?;
        progress(&format!("prepared in {:.1} s", t.elapsed().as_secs_f64()));
        Some(mixed)
    } else {
        None
    };
    let raw_scan = if on(5) || on(7) || on(9) {
        progress(&format!(
            "preparing {} records in a raw LMDB database",
            s.events
        ));
        let t = std::time::Instant::now();
        let raw_scan = embedded::RawScanDb::create(
            &root.join("raw-scan"),
            s.events,
            embedded::rewind_record_len(s.payload),
        )?;
        progress(&format!("prepared in {:.1} s", t.elapsed().as_secs_f64()));
        Some(raw_scan)
    } else {
        None
    };

    let mut n = 0usize;
    let mut dir = |name: &str| {
        n += 1;
        root.join(format!("{name}-{n}"))
    };
    for rep in 0..s.reps {
        // Alternate which side goes first, so a drift in the machine's load
        // does not favour one side.
        let rewind_first = rep % 2 == 0;
        let record = |fig: &mut Figure, r: f64, b: f64, progress: &mut dyn FnMut(&str)| {
            progress(&format!(
                "rep {}/{} {}: rewind {} /s, baseline {} /s",
                rep + 1,
                s.reps,
                fig.name,
                report::rate(r),
                report::rate(b)
            ));
            fig.rewind.push(r);
            fig.baseline.push(b);
        };
        // The figures measured in one go each: Rewind and baseline take
        // turns, the first one alternating from one repetition to the next.
        let pair = |fig: &mut Figure,
                    rewind: &mut dyn FnMut() -> Result<f64>,
                    baseline: &mut dyn FnMut() -> Result<f64>,
                    progress: &mut dyn FnMut(&str)|
         -> Result<()> {
            let (r, b) = if rewind_first {
                let r = rewind()?;
                (r, baseline()?)
            } else {
                let b = baseline()?;
                (rewind()?, b)
            };
            record(fig, r, b, progress);
            Ok(())
        };

        if on(1) {
            let (d1, d2) = (dir("v1-one"), dir("raw-reqrep"));
            let (r, b) = net::v1_publish_one_vs_raw(&d1, &d2, s.window, s.payload)?;
            record(&mut figs[0], r, b, progress);
        }

        if on(2) {
            let d = dir("v1-many");
            let r = net::v1_publish_rewind(&d, s.v1_clients, s.window, s.payload)?;
            let one = *figs[0].rewind.last().expect("figure 1 ran");
            progress(&format!(
                "rep {}/{} {}: rewind {} /s (1 client: {} /s)",
                rep + 1,
                s.reps,
                figs[1].name,
                report::rate(r),
                report::rate(one)
            ));
            figs[1].rewind.push(r);
            figs[1].baseline.push(one);
        }

        if on(3) {
            let d = dir("v2-publish");
            pair(
                &mut figs[2],
                &mut || net::v2_publish_rewind(&d, s.dealers, s.in_flight, s.window, s.payload),
                &mut || net::dealer_router_raw(s.dealers, s.in_flight, s.window, s.payload),
                progress,
            )?;
        }

        if let Some(loaded) = &loaded {
            if on(4) {
                pair(
                    &mut figs[3],
                    &mut || net::v2_query_rewind(loaded),
                    &mut || net::pubsub_raw(s.events, s.payload),
                    progress,
                )?;
            }
        }
        if let (Some(loaded), Some(raw_scan)) = (&loaded, &raw_scan) {
            if on(5) {
                pair(
                    &mut figs[4],
                    &mut || loaded.read_log_rate(),
                    &mut || raw_scan.scan_rate(),
                    progress,
                )?;
            }
        }
        if let (Some(mixed), Some(raw_scan)) = (&mixed, &raw_scan) {
            pair(
                &mut figs[6],
                &mut || mixed.filtered_read_rate(),
                &mut || raw_scan.scan_rate(),
                progress,
            )?;
        }

        if on(6) {
            let (d1, d2) = (dir("append"), dir("raw-append"));
            let (r, b) = embedded::append_vs_raw(&d1, &d2, s.batch, s.window, s.payload)?;
            record(&mut figs[5], r, b, progress);
        }

        if on(8) {
            let (d1, d2) = (dir("append-multi"), dir("raw-append-multi"));
            let (r, b) = streams::multi_append_vs_raw(&d1, &d2, s.multi, s.window, s.payload)?;
            record(&mut figs[7], r, b, progress);
        }

        if let (Some(loaded), Some(raw_scan)) = (&loaded, &raw_scan) {
            if on(9) {
                pair(
                    &mut figs[8],
                    &mut || streams::catch_up_rate(&loaded.store, loaded.events),
                    &mut || raw_scan.scan_rate(),
                    progress,
                )?;
            }
        }

        if on(10) {
            let (d1, d2) = (dir("live"), dir("raw-live"));
            let (r, b) = streams::live_delivery_vs_raw(&d1, &d2, s.batch, s.window, s.payload)?;
            record(&mut figs[9], r, b, progress);
        }
    }
    Ok(figs.into_iter().filter(|f| !f.rewind.is_empty()).collect())
}
