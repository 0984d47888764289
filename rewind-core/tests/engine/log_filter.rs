//! Filtered log reads (`Store::read_log_filtered`), run against both
//! backends.

use crate::backends;
use rewind_core::{ExpectedVersion, LogFilter, NewEvent, Store};

/// Appends `n` events in runs of `run` events, the runs alternating between
/// streams `order-<k>` and `cart-<k>`; the data of event `i` is `i`.
fn load(s: &Store, n: usize, run: usize) {
    let mut i = 0;
    let mut k = 0;
    while i < n {
        let m = run.min(n - i);
        let stream = if k % 2 == 0 { "order-" } else { "cart-" };
        let stream = format!("{stream}{}", k % 3);
        let events = (i..i + m).map(|j| NewEvent::new(j.to_string())).collect();
        s.append(stream.as_bytes(), events, ExpectedVersion::Any)
            .unwrap();
        i += m;
        k += 1;
    }
}

fn positions(events: &[rewind_core::Event]) -> Vec<u64> {
    events.iter().map(|e| e.position).collect()
}

#[test]
fn a_prefix_filter_reads_only_its_streams_across_many_chunks() {
    for (name, s, _d) in backends() {
        // Runs of 1000: long stretches of skipped events, over several of
        // the scan's chunks.
        let n = 20_000;
        load(&s, n, 1000);
        let orders = LogFilter::all().with_stream_prefix("order-");
        let all = s.read_log_vec(0, usize::MAX).unwrap();
        let want: Vec<_> = all
            .iter()
            .filter(|e| e.stream.starts_with(b"order-"))
            .cloned()
            .collect();
        assert_eq!(want.len(), n / 2, "{name}");
        let got = s.read_log_filtered_vec(0, usize::MAX, &orders).unwrap();
        assert_eq!(got, want, "{name}");
        // The limit counts matches: 1500 orders span 2500 positions.
        let got = s.read_log_filtered_vec(0, 1500, &orders).unwrap();
        assert_eq!(positions(&got), positions(&want[..1500]), "{name}");
        // From the middle of a skipped run.
        let got = s.read_log_filtered_vec(1500, 3, &orders).unwrap();
        assert_eq!(positions(&got), vec![2000, 2001, 2002], "{name}");
        let carts = LogFilter::all().with_stream_prefix("cart-2");
        let got = s.read_log_filtered_vec(0, usize::MAX, &carts).unwrap();
        assert!(got.iter().all(|e| e.stream == b"cart-2"), "{name}");
        assert_eq!(got.len(), 3000, "{name}");
        let nothing = LogFilter::all().with_stream_prefix("zzz");
        assert!(s
            .read_log_filtered_vec(0, usize::MAX, &nothing)
            .unwrap()
            .is_empty());
    }
}

#[test]
fn the_resume_position_pages_through_a_filtered_log() {
    for (name, s, _d) in backends() {
        load(&s, 5000, 7);
        let carts = LogFilter::all().with_stream_prefix("cart-");
        let want = s.read_log_filtered_vec(0, usize::MAX, &carts).unwrap();
        let mut got = Vec::new();
        let mut from = 0;
        loop {
            let mut page = Vec::new();
            let next = s
                .read_log_filtered(from, 100, &carts, |e| {
                    page.push(e.to_owned());
                    true
                })
                .unwrap();
            assert!(next >= from, "{name}");
            if page.is_empty() {
                assert_eq!(next, 5000, "{name}: an empty page ends at the log's end");
                break;
            }
            if page.len() == 100 {
                assert_eq!(next, page.last().unwrap().position + 1, "{name}");
            } else {
                assert_eq!(next, 5000, "{name}: a short page ends at the log's end");
            }
            got.extend(page);
            from = next;
        }
        assert_eq!(got, want, "{name}");
        // A visitor that stops early: the resume position is after the
        // last event it saw.
        let mut seen = 0;
        let next = s
            .read_log_filtered(0, usize::MAX, &carts, |_| {
                seen += 1;
                seen < 10
            })
            .unwrap();
        assert_eq!(next, want[9].position + 1, "{name}");
        assert_eq!(
            s.read_log_filtered(9999, 10, &carts, |_| true).unwrap(),
            9999,
            "{name}: past the end"
        );
    }
}

#[test]
fn the_type_filter_sees_untyped_events_as_the_empty_type() {
    for (name, s, _d) in backends() {
        load(&s, 50, 3);
        let untyped = LogFilter::all().with_event_types([""]);
        assert_eq!(
            s.read_log_filtered_vec(0, usize::MAX, &untyped).unwrap(),
            s.read_log_vec(0, usize::MAX).unwrap(),
            "{name}"
        );
        let typed = LogFilter::all().with_event_types(["created"]);
        assert!(
            s.read_log_filtered_vec(0, usize::MAX, &typed)
                .unwrap()
                .is_empty(),
            "{name}"
        );
        let both = LogFilter::all()
            .with_stream_prefix("order-1")
            .with_event_types(["", "created"]);
        let got = s.read_log_filtered_vec(0, usize::MAX, &both).unwrap();
        assert!(!got.is_empty(), "{name}");
        assert!(got.iter().all(|e| e.stream == b"order-1"), "{name}");
    }
}

#[test]
fn a_filtered_read_is_one_read_of_the_store() {
    for (name, s, _d) in backends() {
        load(&s, 10_000, 500);
        let before = s.metrics().reads.load(std::sync::atomic::Ordering::Relaxed);
        let orders = LogFilter::all().with_stream_prefix("order-");
        s.read_log_filtered(0, usize::MAX, &orders, |_| true)
            .unwrap();
        let after = s.metrics().reads.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(after - before, 1, "{name}");
    }
}
