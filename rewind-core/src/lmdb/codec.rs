//! The byte layout of the LMDB store: how the keys and values of every
//! database are encoded and decoded (the table in the [module
//! docs](super)).
//!
//! Pure functions over bytes: nothing here touches LMDB, files or locks.
//! Everything written to disk goes through this module, so a change here is
//! a change of the on-disk format ([`FORMAT`]); stores written before must
//! keep opening. Decoders never panic: bytes that do not decode are
//! [`Error::Corrupt`].
//!
//! Records of `log` come in two layouts. Rewind 0.4.0 wrote version 1:
//! stream length, stream, id length, id, version, data — its first byte is
//! the length of a stream name, 1 to 255. Later versions write tagged
//! records: a 0 byte (never the first byte of a version-1 record), the
//! record version ([`RECORD_VERSION`]), then the fields. Both decode.

use crate::{Error, EventRef, Result, StreamHead};

/// The format marker stored in the `meta` database by this version: its
/// stores hold tagged records (and may hold version-1 records, written
/// before the store was upgraded).
pub const FORMAT: &[u8] = b"rewind-lmdb-2";

/// The format marker of a store written by Rewind 0.4.0: version-1 records
/// only. Opening such a store for writing upgrades its marker to [`FORMAT`]
/// (so that 0.4.0, which cannot read tagged records, refuses it); read-only
/// opens leave it as it is.
pub const FORMAT_V1: &[u8] = b"rewind-lmdb-1";

/// The key of the format marker in the `meta` database.
pub(super) const FORMAT_KEY: &[u8] = b"format";

/// The first byte of a tagged record.
const RECORD_TAG: u8 = 0;

/// The version of the tagged records this version writes: stream length
/// (one byte), stream, id length (one byte), id, version (u64, big-endian),
/// type length (one byte), type, metadata length (LEB128), metadata, data.
pub(super) const RECORD_VERSION: u8 = 2;

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

/// Appends `n` to `buf` in LEB128: seven bits a byte, least significant
/// first, the high bit set on every byte but the last.
#[inline]
fn push_varint(buf: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        buf.push(n as u8 | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
}

/// The LEB128 integer at the start of `b`, and its length in bytes; `None`
/// when it is cut short, longer than a u64, or not in its shortest form
/// (so that every decodable record has exactly one encoding).
#[inline]
fn read_varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut n = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        if i == 9 && byte > 1 {
            return None;
        }
        n |= u64::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            if i > 0 && byte == 0 {
                return None;
            }
            return Some((n, i + 1));
        }
    }
    None
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

/// Encodes an event as a value of `log` into `buf` (cleared first), as a
/// tagged record of [`RECORD_VERSION`]. The position is the record's key,
/// not part of it. Stream, id and type have at most 255 bytes.
#[inline]
pub(super) fn encode_record(buf: &mut Vec<u8>, ev: &EventRef<'_>) {
    debug_assert!(
        ev.stream.len() <= crate::MAX_NAME_LEN
            && ev.id.len() <= crate::MAX_NAME_LEN
            && ev.event_type.len() <= crate::MAX_TYPE_LEN
    );
    buf.clear();
    buf.reserve(
        2 + 2
            + ev.stream.len()
            + ev.id.len()
            + 8
            + 1
            + ev.event_type.len()
            + 10
            + ev.metadata.len()
            + ev.data.len(),
    );
    buf.push(RECORD_TAG);
    buf.push(RECORD_VERSION);
    buf.push(ev.stream.len() as u8);
    buf.extend_from_slice(ev.stream);
    buf.push(ev.id.len() as u8);
    buf.extend_from_slice(ev.id);
    buf.extend_from_slice(&ev.version.to_be_bytes());
    buf.push(ev.event_type.len() as u8);
    buf.extend_from_slice(ev.event_type);
    push_varint(buf, ev.metadata.len() as u64);
    buf.extend_from_slice(ev.metadata);
    buf.extend_from_slice(ev.data);
}

/// Reads the fields of a record in order.
struct Fields<'a> {
    rec: &'a [u8],
    at: usize,
}

impl<'a> Fields<'a> {
    #[inline]
    fn byte(&mut self) -> Option<u8> {
        let b = *self.rec.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    #[inline]
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let b = self.rec.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(b)
    }

    /// A length byte, then that many bytes.
    #[inline]
    fn short(&mut self) -> Option<&'a [u8]> {
        let n = self.byte()?;
        self.bytes(usize::from(n))
    }

    #[inline]
    fn u64(&mut self) -> Option<u64> {
        let b = self.bytes(8)?;
        Some(u64::from_be_bytes(b.try_into().ok()?))
    }

    #[inline]
    fn varint(&mut self) -> Option<u64> {
        let (n, len) = read_varint(self.rec.get(self.at..)?)?;
        self.at += len;
        Some(n)
    }

    #[inline]
    fn rest(&mut self) -> &'a [u8] {
        let b = self.rec.get(self.at..).unwrap_or_default();
        self.at = self.rec.len();
        b
    }
}

/// Decodes a value of `log`, stored at `position`, of either layout,
/// without copying. A version-1 record has no type and no metadata.
#[inline]
pub(super) fn decode_record(position: u64, rec: &[u8]) -> Result<EventRef<'_>> {
    let bad = || Error::Corrupt(format!("malformed record at position {position}"));
    let mut f = Fields { rec, at: 0 };
    if rec.first() != Some(&RECORD_TAG) {
        // Version 1 (or nothing at all).
        let stream = f.short().ok_or_else(bad)?;
        let id = f.short().ok_or_else(bad)?;
        let version = f.u64().ok_or_else(bad)?;
        return Ok(EventRef {
            id,
            event_type: &[],
            metadata: &[],
            data: f.rest(),
            stream,
            version,
            position,
        });
    }
    f.at = 1;
    match f.byte() {
        Some(RECORD_VERSION) => {}
        Some(v) => {
            return Err(Error::Corrupt(format!(
                "record at position {position} has version {v}, unknown to this version of Rewind"
            )))
        }
        None => return Err(bad()),
    }
    let stream = f.short().ok_or_else(bad)?;
    let id = f.short().ok_or_else(bad)?;
    let version = f.u64().ok_or_else(bad)?;
    let event_type = f.short().ok_or_else(bad)?;
    let metadata_len = f
        .varint()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(bad)?;
    let metadata = f.bytes(metadata_len).ok_or_else(bad)?;
    Ok(EventRef {
        id,
        event_type,
        metadata,
        data: f.rest(),
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

/// Encodes an event as Rewind 0.4.0 did (a version-1 record): stream
/// length, stream, id length, id, version (big-endian), data. Only tests
/// write these, to check that they still decode.
#[cfg(test)]
pub(super) fn encode_record_v1(
    buf: &mut Vec<u8>,
    stream: &[u8],
    id: &[u8],
    version: u64,
    data: &[u8],
) {
    buf.clear();
    buf.push(stream.len() as u8);
    buf.extend_from_slice(stream);
    buf.push(id.len() as u8);
    buf.extend_from_slice(id);
    buf.extend_from_slice(&version.to_be_bytes());
    buf.extend_from_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The fields of an event, owned, for building records.
    #[derive(Debug, Clone)]
    struct Ev {
        stream: Vec<u8>,
        id: Vec<u8>,
        version: u64,
        event_type: Vec<u8>,
        metadata: Vec<u8>,
        data: Vec<u8>,
    }

    impl Ev {
        fn new(stream: &[u8], id: &[u8], version: u64, t: &[u8], m: &[u8], data: &[u8]) -> Ev {
            Ev {
                stream: stream.to_vec(),
                id: id.to_vec(),
                version,
                event_type: t.to_vec(),
                metadata: m.to_vec(),
                data: data.to_vec(),
            }
        }

        fn as_ref(&self, position: u64) -> EventRef<'_> {
            EventRef {
                id: &self.id,
                event_type: &self.event_type,
                metadata: &self.metadata,
                data: &self.data,
                stream: &self.stream,
                version: self.version,
                position,
            }
        }

        fn record(&self) -> Vec<u8> {
            let mut buf = vec![0xAA; 3]; // stale content must be cleared
            encode_record(&mut buf, &self.as_ref(0));
            buf
        }

        fn record_v1(&self) -> Vec<u8> {
            let mut buf = vec![0xAA; 3];
            encode_record_v1(&mut buf, &self.stream, &self.id, self.version, &self.data);
            buf
        }

        /// The length of everything before the data.
        fn header_len(&self) -> usize {
            let mut m = Vec::new();
            push_varint(&mut m, self.metadata.len() as u64);
            2 + 1
                + self.stream.len()
                + 1
                + self.id.len()
                + 8
                + 1
                + self.event_type.len()
                + m.len()
                + self.metadata.len()
        }
    }

    fn head(version: u64, position: u64, id: &[u8]) -> Vec<u8> {
        let mut buf = vec![0xAA; 40];
        encode_head(&mut buf, version, position, id);
        buf
    }

    fn varint(n: u64) -> Vec<u8> {
        let mut buf = Vec::new();
        push_varint(&mut buf, n);
        buf
    }

    fn is_corrupt<T: std::fmt::Debug>(r: Result<T>) -> bool {
        matches!(r, Err(Error::Corrupt(_)))
    }

    /// The exact bytes of each encoding: these are the on-disk format.
    #[test]
    fn layouts_are_the_documented_bytes() {
        assert_eq!(pos_key(0x0102), [0, 0, 0, 0, 0, 0, 1, 2]);
        let ev = Ev::new(b"st", b"i", 0x0304, b"T", b"m", b"dd");
        assert_eq!(
            ev.record(),
            [0, 2, 2, b's', b't', 1, b'i', 0, 0, 0, 0, 0, 0, 3, 4, 1, b'T', 1, b'm', b'd', b'd']
        );
        let plain = Ev::new(b"st", b"i", 0x0304, b"", b"", b"dd");
        assert_eq!(
            plain.record(),
            [0, 2, 2, b's', b't', 1, b'i', 0, 0, 0, 0, 0, 0, 3, 4, 0, 0, b'd', b'd']
        );
        // the layout of Rewind 0.4.0
        assert_eq!(
            plain.record_v1(),
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
        assert_eq!(FORMAT, b"rewind-lmdb-2");
        assert_eq!(FORMAT_V1, b"rewind-lmdb-1");
        assert_eq!(FORMAT_KEY, b"format");
        assert_eq!(RECORD_VERSION, 2);
    }

    #[test]
    fn metadata_lengths_are_leb128_in_their_shortest_form() {
        assert_eq!(varint(0), [0]);
        assert_eq!(varint(127), [0x7F]);
        assert_eq!(varint(128), [0x80, 1]);
        assert_eq!(varint(300), [0xAC, 0x02]);
        assert_eq!(varint(16_384), [0x80, 0x80, 1]);
        assert_eq!(
            varint(u64::MAX),
            [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1]
        );
        assert_eq!(read_varint(&[0xAC, 0x02, 9]), Some((300, 2)));
        assert_eq!(read_varint(&varint(u64::MAX)), Some((u64::MAX, 10)));
        assert_eq!(read_varint(&[]), None);
        assert_eq!(read_varint(&[0x80]), None, "cut short");
        assert_eq!(read_varint(&[0x80, 0]), None, "not the shortest form");
        assert_eq!(read_varint(&[0xFF, 0x80, 0]), None, "not the shortest form");
        let mut over = vec![0xFF; 9];
        over.push(2);
        assert_eq!(read_varint(&over), None, "past u64");
        assert_eq!(read_varint(&[0x80; 11]), None, "too long");
    }

    #[test]
    fn records_round_trip_at_the_edges() {
        let long = vec![0xFF; 255];
        let cases = [
            Ev::new(b"s", b"i", 0, b"", b"", b""),
            Ev::new(&long, &long, u64::MAX, &long, b"", b""),
            Ev::new(&long, b"i", u64::MAX, b"T", &[0; 1000], &[0; 1000]),
            Ev::new(b"", b"", 7, b"", b"", b"only data"),
            Ev::new(b"\0", b"\0", 1, b"\0", b"\0", b"\0"),
            Ev::new(b"s", b"i", 1, "T\u{e9}".as_bytes(), &[1; 127], b"d"),
            Ev::new(b"s", b"i", 1, b"", &[2; 128], b""),
            Ev::new(b"s", b"i", 1, b"", &[3; 16_384], &[4; 3]),
        ];
        for ev in cases {
            let rec = ev.record();
            assert_eq!(rec.len(), ev.header_len() + ev.data.len());
            let got = decode_record(u64::MAX, &rec).unwrap();
            assert_eq!(got, ev.as_ref(u64::MAX));
        }
    }

    #[test]
    fn records_of_rewind_0_4_0_decode_with_no_type_or_metadata() {
        let long = vec![0xFF; 255];
        let cases = [
            Ev::new(b"s", b"i", 0, b"", b"", b""),
            Ev::new(&long, &long, u64::MAX, b"", b"", b""),
            Ev::new(&long, b"i", u64::MAX, b"", b"", &[0; 1000]),
            Ev::new(b"\0", b"\0", 1, b"", b"", b"\0"),
            // data that looks like a tagged record
            Ev::new(b"s", b"", 3, b"", b"", &[0, 2, 1, b's']),
        ];
        for ev in cases {
            let rec = ev.record_v1();
            assert_eq!(
                rec.len(),
                2 + ev.stream.len() + ev.id.len() + 8 + ev.data.len()
            );
            assert_ne!(rec[0], 0, "a version-1 record never starts with 0");
            let got = decode_record(5, &rec).unwrap();
            assert_eq!(got, ev.as_ref(5));
            assert!(got.event_type.is_empty() && got.metadata.is_empty());
        }
    }

    #[test]
    fn a_record_of_an_unknown_version_is_corrupt() {
        let mut rec = Ev::new(b"s", b"i", 0, b"", b"", b"d").record();
        for v in [0, 1, 3, 255] {
            rec[1] = v;
            match decode_record(9, &rec) {
                Err(Error::Corrupt(m)) => {
                    assert!(
                        m.contains(&format!("version {v}")) && m.contains("position 9"),
                        "{m}"
                    )
                }
                other => panic!("{other:?}"),
            }
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
        // version 1: stream length says 5, only 2 bytes follow
        assert!(is_corrupt(decode_record(0, &[5, 1, 2])));
        // no id length
        assert!(is_corrupt(decode_record(0, &[1, b's'])));
        // id runs past the end
        assert!(is_corrupt(decode_record(0, &[1, b's', 9, b'i'])));
        // version cut short
        assert!(is_corrupt(decode_record(0, &[1, b's', 1, b'i', 0, 0, 0])));
        // tagged: no version byte; metadata length past the end
        assert!(is_corrupt(decode_record(0, &[0])));
        let mut rec = Ev::new(b"s", b"i", 0, b"", b"m", b"").record();
        let m = rec.len() - 2;
        rec[m] = 5;
        assert!(is_corrupt(decode_record(0, &rec)));
        let v1 = Ev::new(b"stream", b"id", 9, b"", b"", b"").record_v1();
        for n in 0..v1.len() {
            assert!(
                is_corrupt(decode_record(3, &v1[..n])),
                "prefix of {n} bytes"
            );
        }
        let v2 = Ev::new(b"stream", b"id", 9, b"type", &[7; 200], b"").record();
        for n in 0..v2.len() {
            assert!(
                is_corrupt(decode_record(3, &v2[..n])),
                "prefix of {n} bytes"
            );
        }
    }

    fn name() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>(), 0..=255)
    }

    fn stream_name() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>(), 1..=255)
    }

    fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>(), 0..max)
    }

    fn ev() -> impl Strategy<Value = Ev> {
        (name(), name(), any::<u64>(), name(), bytes(300), bytes(300)).prop_map(
            |(stream, id, version, event_type, metadata, data)| Ev {
                stream,
                id,
                version,
                event_type,
                metadata,
                data,
            },
        )
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
        fn any_record_round_trips(ev in ev(), position in any::<u64>()) {
            let rec = ev.record();
            prop_assert_eq!(decode_record(position, &rec).unwrap(), ev.as_ref(position));
        }

        #[test]
        fn any_record_of_rewind_0_4_0_decodes(
            stream in stream_name(),
            id in name(),
            version in any::<u64>(),
            position in any::<u64>(),
            data in bytes(600),
        ) {
            let ev = Ev { stream, id, version, event_type: vec![], metadata: vec![], data };
            let rec = ev.record_v1();
            let got = decode_record(position, &rec).unwrap();
            prop_assert_eq!(got, ev.as_ref(position));
        }

        #[test]
        fn any_metadata_length_round_trips(n in any::<u64>()) {
            let b = varint(n);
            prop_assert_eq!(read_varint(&b), Some((n, b.len())));
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
        fn garbage_never_panics(bytes in bytes(600), tagged in any::<bool>(), position in any::<u64>()) {
            // Half the cases look like a tagged record of this version.
            let mut bytes = bytes;
            if tagged && bytes.len() >= 2 {
                bytes[0] = 0;
                bytes[1] = RECORD_VERSION;
            }
            match decode_record(position, &bytes) {
                Ok(ev) => {
                    // What decodes re-encodes to the same bytes, in its layout.
                    let ev = Ev::new(ev.stream, ev.id, ev.version, ev.event_type, ev.metadata, ev.data);
                    let again = if bytes[0] == 0 { ev.record() } else { ev.record_v1() };
                    prop_assert_eq!(&again, &bytes);
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
            ev in ev(),
            v1_stream in stream_name(),
            cut in any::<prop::sample::Index>(),
        ) {
            // Every prefix that cuts into the header (or the metadata) is
            // corrupt; cutting into the data yields a shorter event, which
            // the layout cannot tell apart (LMDB stores the value's length).
            let rec = ev.record();
            let n = cut.index(ev.header_len());
            prop_assert!(is_corrupt(decode_record(0, &rec[..n])));
            let v1 = Ev { stream: v1_stream, ..ev.clone() };
            let rec = v1.record_v1();
            let n = cut.index(2 + v1.stream.len() + v1.id.len() + 8);
            prop_assert!(is_corrupt(decode_record(0, &rec[..n])));
        }
    }
}
