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
