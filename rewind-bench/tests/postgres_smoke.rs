//! Keeps the PostgreSQL benchmark from rotting: every setting runs at a
//! tiny size on a durable cluster the benchmark starts, and must give a
//! positive, finite rate.

use rewind_bench::postgres::{run, table, PgSettings, TARGETS};

#[test]
fn every_setting_measures_a_positive_finite_rate() {
    let s = PgSettings::smoke();
    let rows = run(&s, &mut |_| {}).expect("the benchmark runs");
    assert_eq!(rows.len(), s.clients.len());
    for row in &rows {
        for (t, rates) in TARGETS.iter().zip(&row.rates) {
            assert_eq!(rates.len(), s.reps, "{t:?}");
            for r in rates {
                assert!(r.is_finite() && *r > 0.0, "{t:?}: rate {r}");
            }
            assert!(row.ratio(*t).is_finite(), "{t:?}");
        }
    }
    let text = table(&rows, s.shared_stores);
    assert!(text.contains("raw PostgreSQL INSERT"), "{text}");
    assert!(text.contains("Rewind PostgreSQL, 3 stores"), "{text}");
}
