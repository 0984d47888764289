//! Broadcasting committed events, in commit order: the v1 streaming socket
//! gets `id, previous id, data` for each event of the default stream (an
//! empty previous id for a stream's first event), the v2 publish socket
//! `stream, id, data` for every event.
//!
//! Builds the frames and hands them to a [`Publisher`] (a PUB socket in the
//! server, a recorder in the tests); touches nothing else.

use crate::protocol;
use crate::store::CommittedAppend;

/// Where published events go; sending never blocks.
pub(super) trait Publisher {
    fn publish(&self, frames: &[&[u8]; 3]);
}

/// Publishes every event of `batch` on the sockets there are.
pub(super) fn publish_batch<P: Publisher>(
    batch: &[CommittedAppend],
    default_stream: &[u8],
    v1: Option<&P>,
    v2: Option<&P>,
) {
    for append in batch {
        let v1 = v1.filter(|_| append.stream == default_stream);
        for (ev, prev) in append.iter() {
            if let Some(s) = v1 {
                s.publish(&protocol::v1_stream_frames(ev.id, prev, ev.data));
            }
            if let Some(s) = v2 {
                s.publish(&protocol::v2_publish_frames(ev.stream, ev.id, ev.data));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    #[derive(Default)]
    struct Recorder(RefCell<Vec<[String; 3]>>);

    impl Publisher for Recorder {
        fn publish(&self, frames: &[&[u8]; 3]) {
            let text = |f: &[u8]| String::from_utf8(f.to_vec()).unwrap();
            self.0
                .borrow_mut()
                .push([text(frames[0]), text(frames[1]), text(frames[2])]);
        }
    }

    impl Recorder {
        fn messages(&self) -> Vec<[String; 3]> {
            self.0.take()
        }
    }

    fn msgs(want: &[[&str; 3]]) -> Vec<[String; 3]> {
        want.iter().map(|m| m.map(String::from)).collect()
    }

    fn append(stream: &str, prev: Option<&str>, events: &[(&str, &str)]) -> CommittedAppend {
        CommittedAppend {
            stream: stream.into(),
            prev_id: prev.map(Into::into),
            first_version: 0,
            first_position: 0,
            events: events
                .iter()
                .map(|(i, d)| crate::backend::PreparedEvent::new(*i, *d))
                .collect(),
        }
    }

    fn batch() -> Vec<CommittedAppend> {
        vec![
            append("default", None, &[("a", "1"), ("b", "2")]),
            append("other", Some("x"), &[("c", "3")]),
            append("default", Some("b"), &[("d", "4")]),
        ]
    }

    #[test]
    fn v1_streams_the_default_stream_with_previous_ids() {
        let v1 = Recorder::default();
        publish_batch(&batch(), b"default", Some(&v1), None);
        assert_eq!(
            v1.messages(),
            msgs(&[["a", "", "1"], ["b", "a", "2"], ["d", "b", "4"]])
        );
    }

    #[test]
    fn v2_publishes_every_stream_in_commit_order() {
        let v2 = Recorder::default();
        publish_batch(&batch(), b"default", None, Some(&v2));
        assert_eq!(
            v2.messages(),
            msgs(&[
                ["default", "a", "1"],
                ["default", "b", "2"],
                ["other", "c", "3"],
                ["default", "d", "4"]
            ])
        );
    }

    #[test]
    fn with_both_sockets_each_event_goes_to_v1_then_v2() {
        let both = Recorder::default();
        publish_batch(&batch()[..1], b"default", Some(&both), Some(&both));
        assert_eq!(
            both.messages(),
            msgs(&[
                ["a", "", "1"],
                ["default", "a", "1"],
                ["b", "a", "2"],
                ["default", "b", "2"]
            ])
        );
        let none: Option<&Recorder> = None;
        publish_batch(&batch(), b"default", none, none);
    }

    #[test]
    fn another_default_stream_changes_what_v1_streams() {
        let v1 = Recorder::default();
        publish_batch(&batch(), b"other", Some(&v1), None);
        assert_eq!(v1.messages(), msgs(&[["c", "x", "3"]]));
    }
}
