//! The byte layout of the LMDB store: how the keys and values of every
//! database are encoded and decoded (the table in the [module
//! docs](super)).
//!
//! Pure functions over bytes: nothing here touches LMDB, files or locks.
//! Everything written to disk goes through this module, so a change here is
//! a change of the on-disk format ([`FORMAT`]); stores written before must
//! keep opening. Decoders never panic: bytes that do not decode are
//! [`Error::Corrupt`].

use crate::{Error, EventRef, Result, StreamHead};

/// The format marker stored in the `meta` database.
pub const FORMAT: &[u8] = b"rewind-lmdb-1";

/// The key of the format marker in the `meta` database.
pub(super) const FORMAT_KEY: &[u8] = b"format";

/// A position as a key of `log` (and as the value of `ids` and `streams`):
/// big-endian, so that byte order is number order.
#[inline]
pub(super) fn pos_key(p: u64) -> [u8; 8] {
    p.to_be_bytes()
}

/// The big-endian integer in the first 8 bytes of `b`.
#[inline]
pub(super) fn read_u64(b: &[u8]) -> Result<u64> {
    let arr: [u8; 8] = b
        .get(..8)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| Error::Corrupt("truncated integer".into()))?;
    Ok(u64::from_be_bytes(arr))
}

/// The key of the event of `stream` at `version` in `streams`: stream
/// length (one byte), stream, version (big-endian). The keys of one stream
/// are contiguous and in version order.
pub(super) fn stream_key(stream: &[u8], version: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(stream.len() + 9);
    push_stream_key(&mut k, stream, version);
    k
}

/// Appends the [`stream_key`] of `stream` at `version` to `buf`.
#[inline]
pub(super) fn push_stream_key(buf: &mut Vec<u8>, stream: &[u8], version: u64) {
    debug_assert!(stream.len() <= crate::MAX_NAME_LEN);
    buf.push(stream.len() as u8);
    buf.extend_from_slice(stream);
    buf.extend_from_slice(&version.to_be_bytes());
}

/// The stream and version of a key of `streams` (the inverse of
/// [`stream_key`]).
pub(super) fn decode_stream_key(key: &[u8]) -> Result<(&[u8], u64)> {
    let bad = || Error::Corrupt("malformed stream index key".into());
    let len = *key.first().ok_or_else(bad)? as usize;
    if key.len() != 1 + len + 8 {
        return Err(bad());
    }
    Ok((&key[1..1 + len], read_u64(&key[1 + len..])?))
}

/// Whether `key`, a key of `streams`, belongs to the stream of `start`, a
/// [`stream_key`].
#[inline]
pub(super) fn same_stream(key: &[u8], start: &[u8]) -> bool {
    let prefix = &start[..start.len() - 8];
    key.len() == start.len() && key.starts_with(prefix)
}

/// Encodes an event as a value of `log` into `buf` (cleared first): stream
/// length, stream, id length, id, version (big-endian), data.
#[inline]
pub(super) fn encode_record(
    buf: &mut Vec<u8>,
    stream: &[u8],
    id: &[u8],
    version: u64,
    data: &[u8],
) {
    debug_assert!(stream.len() <= crate::MAX_NAME_LEN && id.len() <= crate::MAX_NAME_LEN);
    buf.clear();
    buf.reserve(2 + stream.len() + id.len() + 8 + data.len());
    buf.push(stream.len() as u8);
    buf.extend_from_slice(stream);
    buf.push(id.len() as u8);
    buf.extend_from_slice(id);
    buf.extend_from_slice(&version.to_be_bytes());
    buf.extend_from_slice(data);
}

/// Decodes a value of `log`, stored at `position`, without copying.
#[inline]
pub(super) fn decode_record(position: u64, rec: &[u8]) -> Result<EventRef<'_>> {
    let bad = || Error::Corrupt(format!("malformed record at position {position}"));
    let slen = *rec.first().ok_or_else(bad)? as usize;
    let stream = rec.get(1..1 + slen).ok_or_else(bad)?;
    let ilen = *rec.get(1 + slen).ok_or_else(bad)? as usize;
    let id_start = 2 + slen;
    let id = rec.get(id_start..id_start + ilen).ok_or_else(bad)?;
    let v_start = id_start + ilen;
    let version = read_u64(rec.get(v_start..).ok_or_else(bad)?)?;
    let data = rec.get(v_start + 8..).ok_or_else(bad)?;
    Ok(EventRef {
        id,
        data,
        stream,
        version,
        position,
    })
}

/// Encodes the head of a stream as a value of `heads` into `buf` (cleared
/// first): version and position of the last event (big-endian), its id.
#[inline]
pub(super) fn encode_head(buf: &mut Vec<u8>, version: u64, position: u64, id: &[u8]) {
    buf.clear();
    buf.reserve(16 + id.len());
    buf.extend_from_slice(&version.to_be_bytes());
    buf.extend_from_slice(&position.to_be_bytes());
    buf.extend_from_slice(id);
}

/// Decodes a value of `heads`.
pub(super) fn decode_head(v: &[u8]) -> Result<StreamHead> {
    if v.len() < 16 {
        return Err(Error::Corrupt("malformed stream head".into()));
    }
    Ok(StreamHead {
        version: read_u64(&v[..8])?,
        position: read_u64(&v[8..16])?,
        id: v[16..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record(stream: &[u8], id: &[u8], version: u64, data: &[u8]) -> Vec<u8> {
        let mut buf = vec![0xAA; 3]; // stale content must be cleared
        encode_record(&mut buf, stream, id, version, data);
        buf
    }

    fn head(version: u64, position: u64, id: &[u8]) -> Vec<u8> {
        let mut buf = vec![0xAA; 40];
        encode_head(&mut buf, version, position, id);
        buf
    }

    fn is_corrupt<T: std::fmt::Debug>(r: Result<T>) -> bool {
        matches!(r, Err(Error::Corrupt(_)))
    }

    /// The exact bytes of each encoding: these are the on-disk format.
    #[test]
    fn layouts_are_the_documented_bytes() {
        assert_eq!(pos_key(0x0102), [0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(
            record(b"st", b"i", 0x0304, b"dd"),
            [2, b's', b't', 1, b'i', 0, 0, 0, 0, 0, 0, 3, 4, b'd', b'd']
        );
        assert_eq!(
            stream_key(b"st", 5),
            [2, b's', b't', 0, 0, 0, 0, 0, 0, 0, 5]
        );
        assert_eq!(
            head(1, 2, b"id"),
            [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, b'i', b'd']
        );
        assert_eq!(FORMAT, b"rewind-lmdb-1");
        assert_eq!(FORMAT_KEY, b"format");
    }

    #[test]
    fn records_round_trip_at_the_edges() {
        let long = vec![0xFF; 255];
        type Case<'a> = (&'a [u8], &'a [u8], u64, &'a [u8]);
        let cases: [Case<'_>; 5] = [
            (b"s", b"i", 0, b""),
            (&long, &long, u64::MAX, b""),
            (&long, b"i", u64::MAX, &[0; 1000]),
            (b"", b"", 7, b"only data"),
            (b"\0", b"\0", 1, b"\0"),
        ];
        for (stream, id, version, data) in cases {
            let rec = record(stream, id, version, data);
            assert_eq!(rec.len(), 2 + stream.len() + id.len() + 8 + data.len());
            let ev = decode_record(u64::MAX, &rec).unwrap();
            assert_eq!(
                (ev.stream, ev.id, ev.version, ev.data, ev.position),
                (stream, id, version, data, u64::MAX)
            );
        }
    }

    #[test]
    fn heads_round_trip_at_the_edges() {
        for (version, position, id) in [
            (0, 0, &b""[..]),
            (u64::MAX, u64::MAX, &[0xFF; 255][..]),
            (1, u64::MAX - 1, b"x"),
        ] {
            let h = decode_head(&head(version, position, id)).unwrap();
            assert_eq!(
                (h.version, h.position, h.id.as_slice()),
                (version, position, id)
            );
        }
    }

    #[test]
    fn positions_round_trip_at_the_edges() {
        for p in [0, 1, 255, 256, u64::MAX - 1, u64::MAX] {
            assert_eq!(read_u64(&pos_key(p)).unwrap(), p);
        }
    }

    #[test]
    fn stream_keys_decode_to_their_stream_and_version() {
        assert_eq!(
            decode_stream_key(&stream_key(b"ab", 7)).unwrap(),
            (&b"ab"[..], 7)
        );
        let long = vec![0xFF; 255];
        assert_eq!(
            decode_stream_key(&stream_key(&long, u64::MAX)).unwrap(),
            (&long[..], u64::MAX)
        );
        let k = stream_key(b"ab", 7);
        assert!(is_corrupt(decode_stream_key(&[])));
        assert!(is_corrupt(decode_stream_key(&k[..k.len() - 1])));
        let mut longer = k.clone();
        longer.push(0);
        assert!(is_corrupt(decode_stream_key(&longer)));
    }

    #[test]
    fn stream_keys_of_one_stream_are_recognised() {
        let start = stream_key(b"ab", 3);
        assert!(same_stream(&stream_key(b"ab", 0), &start));
        assert!(same_stream(&stream_key(b"ab", u64::MAX), &start));
        assert!(!same_stream(&stream_key(b"abc", 3), &start));
        assert!(!same_stream(&stream_key(b"ac", 3), &start));
        assert!(!same_stream(&stream_key(b"a", 3), &start));
        let long = vec![b'z'; 255];
        assert!(same_stream(
            &stream_key(&long, 0),
            &stream_key(&long, u64::MAX)
        ));
        // A key one byte short or long is not of the stream.
        let mut k = stream_key(b"ab", 3);
        k.push(0);
        assert!(!same_stream(&k, &start));
        assert!(!same_stream(&k[..k.len() - 2], &start));
    }

    #[test]
    fn short_or_garbage_bytes_are_corrupt() {
        assert!(is_corrupt(read_u64(&[])));
        assert!(is_corrupt(read_u64(&[1; 7])));
        assert!(is_corrupt(decode_head(&[0; 15])));
        assert!(is_corrupt(decode_record(0, &[])));
        // stream length says 5, only 2 bytes follow
        assert!(is_corrupt(decode_record(0, &[5, 1, 2])));
        // no id length
        assert!(is_corrupt(decode_record(0, &[1, b's'])));
        // id runs past the end
        assert!(is_corrupt(decode_record(0, &[1, b's', 9, b'i'])));
        // version cut short
        assert!(is_corrupt(decode_record(0, &[1, b's', 1, b'i', 0, 0, 0])));
        let rec = record(b"stream", b"id", 9, b"");
        for n in 0..rec.len() {
            assert!(
                is_corrupt(decode_record(3, &rec[..n])),
                "prefix of {n} bytes"
            );
        }
    }

    fn name() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>(), 0..=255)
    }

    /// Names that often share prefixes, lengths or all their bytes, for the
    /// ordering properties.
    fn close_name() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(0u8..3, 0..4),
            prop::collection::vec(prop_oneof![Just(0u8), Just(255u8)], 250..=255),
            name(),
        ]
    }

    fn close_u64() -> impl Strategy<Value = u64> {
        prop_oneof![
            0u64..3,
            255u64..258,
            (u64::MAX - 2)..=u64::MAX,
            any::<u64>()
        ]
    }

    proptest! {
        #[test]
        fn any_record_round_trips(
            stream in name(),
            id in name(),
            version in any::<u64>(),
            position in any::<u64>(),
            data in prop::collection::vec(any::<u8>(), 0..600),
        ) {
            let rec = record(&stream, &id, version, &data);
            let ev = decode_record(position, &rec).unwrap();
            prop_assert_eq!(ev.stream, &stream[..]);
            prop_assert_eq!(ev.id, &id[..]);
            prop_assert_eq!(ev.version, version);
            prop_assert_eq!(ev.data, &data[..]);
            prop_assert_eq!(ev.position, position);
        }

        #[test]
        fn any_head_round_trips(version in any::<u64>(), position in any::<u64>(), id in name()) {
            let h = decode_head(&head(version, position, &id)).unwrap();
            prop_assert_eq!(h, StreamHead { version, position, id });
        }

        #[test]
        fn any_position_round_trips(p in any::<u64>()) {
            prop_assert_eq!(read_u64(&pos_key(p)).unwrap(), p);
        }

        #[test]
        fn position_keys_sort_as_numbers(a in close_u64(), b in close_u64()) {
            prop_assert_eq!(pos_key(a).cmp(&pos_key(b)), a.cmp(&b));
        }

        /// LMDB orders `streams` by bytes: that must be the order of
        /// (stream length, stream, version), so that a stream's keys are
        /// contiguous and in version order.
        #[test]
        fn stream_keys_sort_as_their_tuples(
            s1 in close_name(), v1 in close_u64(), s2 in close_name(), v2 in close_u64(),
            same in any::<bool>(),
        ) {
            let s2 = if same { s1.clone() } else { s2 };
            let by_bytes = stream_key(&s1, v1).cmp(&stream_key(&s2, v2));
            let by_tuple = (s1.len(), &s1, v1).cmp(&(s2.len(), &s2, v2));
            prop_assert_eq!(by_bytes, by_tuple);
            prop_assert_eq!(same_stream(&stream_key(&s1, v1), &stream_key(&s2, v2)), s1 == s2);
        }

        #[test]
        fn stream_keys_of_one_stream_sort_by_version(
            s in name(), v1 in any::<u64>(), v2 in any::<u64>(),
        ) {
            prop_assert_eq!(stream_key(&s, v1).cmp(&stream_key(&s, v2)), v1.cmp(&v2));
        }

        #[test]
        fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600), position in any::<u64>()) {
            match decode_record(position, &bytes) {
                Ok(ev) => {
                    // What decodes re-encodes to the same bytes.
                    prop_assert_eq!(&record(ev.stream, ev.id, ev.version, ev.data), &bytes);
                }
                Err(e) => prop_assert!(matches!(e, Error::Corrupt(_)), "{e:?}"),
            }
            match decode_head(&bytes) {
                Ok(h) => prop_assert_eq!(&head(h.version, h.position, &h.id), &bytes),
                Err(e) => prop_assert!(matches!(e, Error::Corrupt(_)), "{e:?}"),
            }
            match read_u64(&bytes) {
                Ok(n) => prop_assert_eq!(&pos_key(n)[..], &bytes[..8]),
                Err(e) => prop_assert!(matches!(e, Error::Corrupt(_)), "{e:?}"),
            }
        }

        #[test]
        fn truncated_records_are_corrupt(
            stream in name(),
            id in name(),
            version in any::<u64>(),
            data in prop::collection::vec(any::<u8>(), 0..50),
            cut in any::<prop::sample::Index>(),
        ) {
            let rec = record(&stream, &id, version, &data);
            // Every prefix that cuts into the header is corrupt; cutting
            // into the data yields a shorter event, which the layout cannot
            // tell apart (LMDB stores the value's length).
            let header = 2 + stream.len() + id.len() + 8;
            let n = cut.index(header);
            prop_assert!(is_corrupt(decode_record(0, &rec[..n])));
        }
    }
}
