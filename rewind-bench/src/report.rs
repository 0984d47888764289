//! The results table.

use std::fmt::Write;

use crate::{median, Figure};

/// A rate for people: `1234567.8` is `1.23M`, `45678` is `45.7k`.
pub fn rate(r: f64) -> String {
    if !r.is_finite() {
        return format!("{r}");
    }
    if r >= 1e6 {
        format!("{:.2}M", r / 1e6)
    } else if r >= 1e4 {
        format!("{:.1}k", r / 1e3)
    } else {
        format!("{r:.0}")
    }
}

fn spread(xs: &[f64]) -> String {
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{}..{}", rate(lo), rate(hi))
}

/// The table: one row per figure with medians, ratio, target and verdict,
/// then the baselines in full and every sample.
pub fn table(figs: &[Figure]) -> String {
    let mut out = String::new();
    let w = figs.iter().map(|f| f.name.len()).max().unwrap_or(6) + 3;
    let _ = writeln!(
        out,
        "{:<w$} {:>10} {:>10} {:>7} {:>7}  result",
        "figure (events/s, medians)", "Rewind", "baseline", "ratio", "target"
    );
    let _ = writeln!(out, "{}", "-".repeat(w + 47));
    for f in figs {
        let _ = writeln!(
            out,
            "{:<w$} {:>10} {:>10} {:>7} {:>7}  {}",
            format!("{}. {}", f.number, f.name),
            rate(f.rewind_median()),
            rate(f.baseline_median()),
            format!("{:.2}", f.ratio()),
            format!(">={}", f.target),
            if f.passes() { "pass" } else { "FAIL" }
        );
    }
    let _ = writeln!(
        out,
        "ratio: the median of the per-repetition ratios (both sides of a repetition run under the same load)"
    );
    let _ = writeln!(out, "\nbaselines:");
    for f in figs {
        let _ = writeln!(out, "  {}. {}", f.number, f.baseline_name);
    }
    let _ = writeln!(
        out,
        "\nsamples (min..max over {} repetitions):",
        figs.first().map_or(0, |f| f.rewind.len())
    );
    for f in figs {
        let _ = writeln!(
            out,
            "  {}. Rewind {} (median {}), baseline {} (median {}), ratios {}",
            f.number,
            spread(&f.rewind),
            rate(median(&f.rewind)),
            spread(&f.baseline),
            rate(median(&f.baseline)),
            f.rewind
                .iter()
                .zip(&f.baseline)
                .map(|(r, b)| format!("{:.2}", r / b))
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    out
}
