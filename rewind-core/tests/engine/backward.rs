//! Reading a stream and the log backwards, on both backends.

use rewind_core::{Event, ExpectedVersion, Store};

use crate::{backends, ev};

fn positions(events: &[Event]) -> Vec<u64> {
    events.iter().map(|e| e.position).collect()
}

fn versions(events: &[Event]) -> Vec<u64> {
    events.iter().map(|e| e.version).collect()
}

/// Streams a (versions 0..5 at positions 0, 2, 4, 6, 7) and b (versions
/// 0..3 at positions 1, 3, 5).
fn fill(s: &Store) {
    for i in 0..3 {
        s.append(b"a", vec![ev(&format!("a{i}"))], ExpectedVersion::Any)
            .unwrap();
        s.append(b"b", vec![ev(&format!("b{i}"))], ExpectedVersion::Any)
            .unwrap();
    }
    s.append(b"a", vec![ev("a3"), ev("a4")], ExpectedVersion::Any)
        .unwrap();
}

#[test]
fn the_log_backwards_from_a_position_or_the_end() {
    for (name, s, _d) in backends() {
        assert!(
            s.read_log_backward_vec(None, 10).unwrap().is_empty(),
            "{name}"
        );
        assert!(s.read_log_backward_vec(Some(0), 10).unwrap().is_empty());
        fill(&s);
        let all = s.read_log_vec(0, 100).unwrap();
        let mut reversed = all.clone();
        reversed.reverse();
        assert_eq!(
            s.read_log_backward_vec(None, usize::MAX).unwrap(),
            reversed,
            "{name}"
        );
        let cases: [(Option<u64>, usize, &[u64]); 9] = [
            (None, 3, &[7, 6, 5]),
            (Some(7), 2, &[7, 6]),
            (Some(4), usize::MAX, &[4, 3, 2, 1, 0]),
            (Some(4), 1, &[4]),
            (Some(0), 5, &[0]),
            (Some(8), 2, &[7, 6]),
            (Some(u64::MAX), 1, &[7]),
            (None, 0, &[]),
            (Some(3), 0, &[]),
        ];
        for (from, limit, want) in cases {
            let got = s.read_log_backward_vec(from, limit).unwrap();
            assert_eq!(
                positions(&got),
                want,
                "{name}: from {from:?}, limit {limit}"
            );
        }
        // The events are whole.
        assert_eq!(s.read_log_backward_vec(Some(5), 1).unwrap()[0], all[5]);
    }
}

#[test]
fn a_stream_backwards_from_a_version_or_its_end() {
    for (name, s, _d) in backends() {
        fill(&s);
        let a = s.read_stream_vec(b"a", 0, 100).unwrap();
        let mut reversed = a.clone();
        reversed.reverse();
        assert_eq!(
            s.read_stream_backward_vec(b"a", None, usize::MAX).unwrap(),
            reversed,
            "{name}"
        );
        /// A stream, where to start, the limit, the versions read.
        type Case<'a> = (&'a [u8], Option<u64>, usize, &'a [u64]);
        let cases: [Case<'_>; 10] = [
            (b"a", None, 2, &[4, 3]),
            (b"a", Some(2), usize::MAX, &[2, 1, 0]),
            (b"a", Some(0), 3, &[0]),
            (b"a", Some(5), 1, &[4]),
            (b"a", Some(u64::MAX), 2, &[4, 3]),
            (b"b", None, usize::MAX, &[2, 1, 0]),
            (b"b", Some(1), 1, &[1]),
            (b"a", None, 0, &[]),
            (b"nope", None, 10, &[]),
            (b"", None, 10, &[]),
        ];
        for (stream, from, limit, want) in cases {
            let got = s.read_stream_backward_vec(stream, from, limit).unwrap();
            assert_eq!(
                versions(&got),
                want,
                "{name}: {stream:?} from {from:?}, limit {limit}"
            );
            assert!(got.iter().all(|e| e.stream == stream), "{name}");
        }
        let b = s.read_stream_backward_vec(b"b", None, 10).unwrap();
        assert_eq!(positions(&b), [5, 3, 1], "{name}");
        assert!(s
            .read_stream_backward_vec(&[b's'; 256], None, 10)
            .unwrap()
            .is_empty());
    }
}

#[test]
fn a_visitor_stops_a_backward_read() {
    for (name, s, _d) in backends() {
        fill(&s);
        let mut seen = Vec::new();
        s.read_log_backward(None, 10, |e| {
            seen.push(e.position);
            seen.len() < 2
        })
        .unwrap();
        assert_eq!(seen, [7, 6], "{name}");
        let mut seen = Vec::new();
        s.read_stream_backward(b"a", Some(3), 10, |e| {
            seen.push(e.version);
            false
        })
        .unwrap();
        assert_eq!(seen, [3], "{name}");
    }
}
