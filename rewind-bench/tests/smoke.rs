//! Keeps the benchmark from rotting: every measurement runs at a tiny size
//! and must give a positive, finite rate.

use rewind_bench::{report, run, Settings};

#[test]
fn every_figure_measures_a_positive_finite_rate() {
    let figs = run(&Settings::smoke(), &mut |_| {}).expect("the benchmark runs");
    assert_eq!(figs.len(), 10);
    for f in &figs {
        assert_eq!(f.rewind.len(), 1, "{}", f.name);
        assert_eq!(f.baseline.len(), 1, "{}", f.name);
        for r in f.rewind.iter().chain(&f.baseline) {
            assert!(r.is_finite() && *r > 0.0, "{}: rate {r}", f.name);
        }
        assert!(f.ratio().is_finite() && f.ratio() > 0.0, "{}", f.name);
    }
    let table = report::table(&figs);
    assert!(table.contains("v2 streamed QUERY"), "{table}");
    assert!(table.contains("read_log_filtered"), "{table}");
    assert!(table.contains("append_multi"), "{table}");
    assert!(table.contains("subscription catching up"), "{table}");
    assert!(table.contains("following live appends"), "{table}");
}
