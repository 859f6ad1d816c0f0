//! The stored record format: how one [`Event`] is laid out in a durable backend.
//!
//! A record is a fixed 16-byte header followed by the body:
//!
//! | offset | size | field          | value                                              |
//! |-------:|-----:|----------------|----------------------------------------------------|
//! | 0      | 4    | magic          | `b"PLEV"`                                          |
//! | 4      | 1    | format version | `1`                                                |
//! | 5      | 1    | codec tag      | `1` = bincode 2 (standard config), `2` = JSON      |
//! | 6      | 1    | flags          | bit 0: the body is zstd-compressed; others are `0` |
//! | 7      | 1    | reserved       | `0`                                                |
//! | 8      | 4    | body length    | u32, little-endian                                 |
//! | 12     | 4    | CRC32          | u32, little-endian, of the body bytes as stored    |
//!
//! The body is the event encoded by the codec, then compressed with zstd when the
//! encoding is longer than [`RecordCodec::compress_above`] bytes (and compression
//! actually shrinks it). The CRC covers the stored (possibly compressed) body, so a
//! flipped bit is caught before any decompressor or decoder sees the bytes.
//!
//! Decoding reads the codec from the tag, so records written with different codecs can
//! sit side by side in one journal, and the writer's codec can change at any time.
//! Decoding never panics, whatever the input, and never allocates more than
//! [`MAX_BODY_SIZE`] for a decompressed body (a guard against decompression bombs).

use serde::{Deserialize, Serialize};

use crate::event::{Event, Timestamp};

/// The record's magic bytes.
pub const MAGIC: [u8; 4] = *b"PLEV";
/// The format version this module writes and reads.
pub const FORMAT_VERSION: u8 = 1;
/// The header length in bytes.
pub const HEADER_LEN: usize = 16;
/// The largest body a record may decompress to (64 MiB), and the largest encoded event.
pub const MAX_BODY_SIZE: usize = 64 * 1024 * 1024;
/// The encoded size above which a body is compressed by default.
pub const DEFAULT_COMPRESS_ABOVE: usize = 512;

/// Flag bit 0: the body is zstd-compressed.
const FLAG_ZSTD: u8 = 0b0000_0001;
/// zstd level 1: the append path wants speed more than the last few percent of ratio.
const ZSTD_LEVEL: i32 = 1;

/// Why a frame could not be read: the checks every Palisade record format shares.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer bytes than a header.
    #[error("record truncated: shorter than its {HEADER_LEN}-byte header")]
    Truncated,
    /// The header's body length differs from the bytes that follow it.
    #[error("body length mismatch: header says {header}, {actual} bytes follow")]
    LengthMismatch {
        /// The length the header states.
        header: u32,
        /// The number of bytes after the header.
        actual: usize,
    },
    /// The body's CRC32 differs from the header's.
    #[error("checksum mismatch: header {expected:#010x}, body {actual:#010x}")]
    ChecksumMismatch {
        /// The CRC32 the header states.
        expected: u32,
        /// The CRC32 of the body as read.
        actual: u32,
    },
}

/// Lays out a record: the 8 leading header bytes `head` (magic, version, codec tag,
/// flags, reserved: their meaning is the caller's), the body length and the body's
/// CRC32 (both u32, little-endian), then the body. Every Palisade record format uses
/// this frame (events here, snapshots in `palisade-snapshot-store`).
///
/// Returns `None` when the body is longer than `u32::MAX` bytes.
pub fn frame(head: [u8; 8], body: &[u8]) -> Option<Vec<u8>> {
    let mut record = Vec::with_capacity(HEADER_LEN + body.len());
    record.resize(HEADER_LEN, 0);
    record.extend_from_slice(body);
    seal(&mut record, 0, head)?;
    Some(record)
}

/// Fills in the header of the frame starting at `out[start]`, whose body is everything
/// after its `HEADER_LEN` bytes: `head`, the body length and the body's CRC32. `None`
/// (and `out` untouched) when the body is longer than `u32::MAX` bytes.
fn seal(out: &mut [u8], start: usize, head: [u8; 8]) -> Option<()> {
    let body = out.get(start + HEADER_LEN..)?;
    let body_len = u32::try_from(body.len()).ok()?;
    let crc = crc32fast::hash(body);
    let header = out.get_mut(start..start + HEADER_LEN)?;
    header[..8].copy_from_slice(&head);
    header[8..12].copy_from_slice(&body_len.to_le_bytes());
    header[12..].copy_from_slice(&crc.to_le_bytes());
    Some(())
}

/// Splits a framed record into its 8 leading header bytes and its body, after checking
/// the body length and CRC32 the header states. Never panics.
///
/// # Errors
/// `Truncated`, `LengthMismatch` or `ChecksumMismatch`.
pub fn unframe(bytes: &[u8]) -> Result<([u8; 8], &[u8]), FrameError> {
    let (header, body) = bytes
        .split_first_chunk::<HEADER_LEN>()
        .ok_or(FrameError::Truncated)?;
    // Constant indices into a `[u8; 16]`: checked at compile time, cannot panic.
    let body_len = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    if usize::try_from(body_len).ok() != Some(body.len()) {
        return Err(FrameError::LengthMismatch {
            header: body_len,
            actual: body.len(),
        });
    }
    let expected = u32::from_le_bytes([header[12], header[13], header[14], header[15]]);
    let actual = crc32fast::hash(body);
    if expected != actual {
        return Err(FrameError::ChecksumMismatch { expected, actual });
    }
    let [h0, h1, h2, h3, h4, h5, h6, h7, ..] = *header;
    Ok(([h0, h1, h2, h3, h4, h5, h6, h7], body))
}

/// Why a record could not be encoded or decoded.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    /// The frame failed a shared check: truncated, body length or CRC32 mismatch.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The record does not start with `PLEV`.
    #[error("bad magic: not a Palisade event record")]
    BadMagic,
    /// A format version this build does not read.
    #[error("unsupported record format version {0}")]
    UnsupportedVersion(u8),
    /// A codec tag this build does not know.
    #[error("unknown codec tag {0}")]
    UnknownCodec(u8),
    /// Flag bits this build does not know are set.
    #[error("unknown flag bits {0:#010b}")]
    UnknownFlags(u8),
    /// The reserved header byte is not zero.
    #[error("reserved header byte is {0}, not 0")]
    ReservedNotZero(u8),
    /// The compressed body could not be decompressed (or would exceed `MAX_BODY_SIZE`).
    #[error("cannot decompress body: {0}")]
    Decompress(String),
    /// The body is not a valid event for its codec.
    #[error("cannot decode body: {0}")]
    Decode(String),
    /// The event could not be encoded (too large, or the codec failed).
    #[error("cannot encode event: {0}")]
    Encode(String),
}

/// How an event's body is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Codec {
    /// bincode 2, standard configuration: compact and fast. Tag `1`.
    #[default]
    Bincode,
    /// JSON (serde_json): larger, readable with common tools. Tag `2`.
    Json,
}

impl Codec {
    /// The tag stored in the header.
    pub fn tag(self) -> u8 {
        match self {
            Codec::Bincode => 1,
            Codec::Json => 2,
        }
    }

    /// The codec of a header tag.
    ///
    /// # Errors
    /// `UnknownCodec` for a tag other than 1 or 2.
    pub fn from_tag(tag: u8) -> Result<Self, RecordError> {
        match tag {
            1 => Ok(Codec::Bincode),
            2 => Ok(Codec::Json),
            other => Err(RecordError::UnknownCodec(other)),
        }
    }
}

/// Encodes events into records (with a chosen codec and compression threshold) and
/// decodes records of any codec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordCodec {
    codec: Codec,
    compress_above: usize,
}

impl Default for RecordCodec {
    /// bincode, compressing bodies above [`DEFAULT_COMPRESS_ABOVE`] bytes.
    fn default() -> Self {
        RecordCodec::new(Codec::Bincode)
    }
}

impl RecordCodec {
    /// A codec writing `codec`, compressing bodies above [`DEFAULT_COMPRESS_ABOVE`] bytes.
    pub fn new(codec: Codec) -> Self {
        RecordCodec {
            codec,
            compress_above: DEFAULT_COMPRESS_ABOVE,
        }
    }

    /// Compresses bodies whose encoding is longer than `bytes` (`usize::MAX`: never).
    pub fn with_compress_above(mut self, bytes: usize) -> Self {
        self.compress_above = bytes;
        self
    }

    /// The codec new records are written with.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// The encoded size above which bodies are compressed.
    pub fn compress_above(&self) -> usize {
        self.compress_above
    }

    /// The record of `event`. Costs one encoding, and one zstd compression for bodies
    /// above the threshold (kept only when it is smaller).
    ///
    /// # Errors
    /// `Encode` when the codec fails or the encoded event exceeds [`MAX_BODY_SIZE`].
    pub fn encode(&self, event: &Event) -> Result<Vec<u8>, RecordError> {
        let mut record = Vec::new();
        self.encode_into(event, &mut record)?;
        Ok(record)
    }

    /// Appends the record of `event` to `out` (what [`RecordCodec::encode`] returns,
    /// without a buffer of its own). On error `out` is left as it was.
    ///
    /// # Errors
    /// As [`RecordCodec::encode`].
    pub fn encode_into(&self, event: &Event, out: &mut Vec<u8>) -> Result<(), RecordError> {
        let start = out.len();
        let body = start + HEADER_LEN;
        out.resize(body, 0);
        let encoded = match self.codec {
            Codec::Bincode => {
                bincode::serde::encode_into_std_write(event, out, bincode::config::standard())
                    .map(|_| ())
                    .map_err(|e| RecordError::Encode(e.to_string()))
            }
            Codec::Json => serde_json::to_writer(&mut *out, event)
                .map_err(|e| RecordError::Encode(e.to_string())),
        };
        let body_len = out.len() - body;
        let checked = encoded.and_then(|()| {
            if body_len > MAX_BODY_SIZE {
                Err(RecordError::Encode(format!(
                    "encoded event is {body_len} bytes, more than the {MAX_BODY_SIZE}-byte limit"
                )))
            } else {
                Ok(())
            }
        });
        if let Err(e) = checked {
            out.truncate(start);
            return Err(e);
        }
        let mut flags = 0;
        if body_len > self.compress_above {
            // Incompressible (or the compressor failed): store it as it is.
            if let Ok(compressed) = zstd::bulk::compress(&out[body..], ZSTD_LEVEL) {
                if compressed.len() < body_len {
                    out.truncate(body);
                    out.extend_from_slice(&compressed);
                    flags = FLAG_ZSTD;
                }
            }
        }
        let [m0, m1, m2, m3] = MAGIC;
        let head = [m0, m1, m2, m3, FORMAT_VERSION, self.codec.tag(), flags, 0];
        if seal(out, start, head).is_none() {
            out.truncate(start);
            return Err(RecordError::Encode("body longer than u32::MAX".to_owned()));
        }
        Ok(())
    }

    /// The event stored in `bytes`, whatever codec wrote it. Checks, in order: length,
    /// body length and CRC32 (the frame), magic, version, codec tag, flags, reserved
    /// byte; then decompresses (at most [`MAX_BODY_SIZE`]) and decodes. Never panics.
    ///
    /// # Errors
    /// The first check that fails, as its `RecordError` variant.
    pub fn decode(bytes: &[u8]) -> Result<Event, RecordError> {
        let (head, body) = unframe(bytes)?;
        match read_head(head)? {
            (codec, true) => decode_body(codec, &decompress(body)?),
            (codec, false) => decode_body(codec, body),
        }
    }
}

/// The codec and whether the body is compressed, from a record's 8 leading header
/// bytes, after checking magic, version, codec tag, flags and reserved byte (which the
/// CRC does not cover: it covers the body).
fn read_head(head: [u8; 8]) -> Result<(Codec, bool), RecordError> {
    let (version, tag, flags, reserved) = (head[4], head[5], head[6], head[7]);
    if head[..4] != MAGIC {
        return Err(RecordError::BadMagic);
    }
    if version != FORMAT_VERSION {
        return Err(RecordError::UnsupportedVersion(version));
    }
    let codec = Codec::from_tag(tag)?;
    if flags & !FLAG_ZSTD != 0 {
        return Err(RecordError::UnknownFlags(flags));
    }
    if reserved != 0 {
        return Err(RecordError::ReservedNotZero(reserved));
    }
    Ok((codec, flags & FLAG_ZSTD != 0))
}

/// Whether the record `bytes` may hold a string field equal to `needle`: false only
/// when the record is one `decode` accepts (frame, CRC and header alike) and its
/// body, bincode without compression (which stores strings as their own bytes), does
/// not contain `needle` anywhere. A scan for one field value (a correlation id) skips
/// decoding the records this rules out; any other record, a damaged one included, is
/// decoded as usual, so damage is still reported. Costs the CRC32 and a byte search
/// (`needle` is built once per scan).
pub(crate) fn may_contain(bytes: &[u8], needle: &memchr::memmem::Finder<'_>) -> bool {
    plain_bincode_body(bytes).is_none_or(|body| needle.find(body).is_some())
}

/// The body of a record that `decode` accepts as far as its frame, CRC and header
/// go, when that body is bincode without compression; `None` for any other record
/// (JSON, compressed, damaged), which a scan must decode to judge.
fn plain_bincode_body(bytes: &[u8]) -> Option<&[u8]> {
    let (head, body) = unframe(bytes).ok()?;
    matches!(read_head(head), Ok((Codec::Bincode, false))).then_some(body)
}

/// `EventType::Custom`'s variant number in bincode (its place in the enum): the one
/// variant with a field, its name.
const CUSTOM_TYPE_VARIANT: u64 = 7;

/// Reads the bincode varint (standard config) at `at` and moves past it: one byte up
/// to 250, else a marker (251, 252, 253) and 2, 4 or 8 little-endian bytes.
fn read_varint(body: &[u8], at: &mut usize) -> Option<u64> {
    let first = *body.get(*at)?;
    *at += 1;
    let width = match first {
        0..=250 => return Some(u64::from(first)),
        251 => 2,
        252 => 4,
        253 => 8,
        _ => return None,
    };
    let bytes = body.get(*at..at.checked_add(width)?)?;
    *at += width;
    let mut value = [0u8; 8];
    value.get_mut(..width)?.copy_from_slice(bytes);
    Some(u64::from_le_bytes(value))
}

/// Moves `at` past a length-prefixed string or byte string.
fn skip_bytes(body: &[u8], at: &mut usize) -> Option<()> {
    let len = usize::try_from(read_varint(body, at)?).ok()?;
    *at = at.checked_add(len)?;
    (*at <= body.len()).then_some(())
}

/// The timestamp of a bincode event body, read past the fields before it (id, stream,
/// sequence, position, type, payload) without decoding them; `None` when the body
/// does not read that way. The tests check it against `decode` for every type.
fn bincode_timestamp(body: &[u8]) -> Option<Timestamp> {
    let mut at = 0;
    skip_bytes(body, &mut at)?; // id
    skip_bytes(body, &mut at)?; // stream
    read_varint(body, &mut at)?; // sequence
    read_varint(body, &mut at)?; // position
    match read_varint(body, &mut at)? {
        CUSTOM_TYPE_VARIANT => skip_bytes(body, &mut at)?,
        v if v < CUSTOM_TYPE_VARIANT => {}
        _ => return None,
    }
    skip_bytes(body, &mut at)?; // payload
    read_varint(body, &mut at)
}

/// Whether the record `bytes` may hold an event stamped within `from..=to`: false only
/// when the record is one `decode` accepts (frame, CRC and header alike), its body is
/// bincode without compression, and the timestamp read from the body's first fields
/// is outside the range. A time-range scan skips decoding the records this rules out;
/// any other record, a damaged one included, is decoded as usual. Costs the CRC32 and
/// stepping over the fields before the timestamp (no allocation).
pub(crate) fn may_be_within(bytes: &[u8], from: Timestamp, to: Timestamp) -> bool {
    plain_bincode_body(bytes)
        .and_then(bincode_timestamp)
        .is_none_or(|at| (from..=to).contains(&at))
}

/// Decompresses a body, allocating only what its frame header declares (at most
/// `MAX_BODY_SIZE`): our writer always records the size, so a frame without one is
/// refused rather than given a 64 MiB buffer on trust.
fn decompress(body: &[u8]) -> Result<Vec<u8>, RecordError> {
    let declared = zstd::bulk::Decompressor::upper_bound(body).ok_or_else(|| {
        RecordError::Decompress("the zstd frame does not declare its size".to_owned())
    })?;
    if declared > MAX_BODY_SIZE {
        return Err(RecordError::Decompress(format!(
            "declared size {declared} exceeds the {MAX_BODY_SIZE}-byte limit"
        )));
    }
    zstd::bulk::decompress(body, declared).map_err(|e| RecordError::Decompress(e.to_string()))
}

fn decode_body(codec: Codec, body: &[u8]) -> Result<Event, RecordError> {
    match codec {
        Codec::Bincode => {
            // The limit bounds what a corrupt length prefix can make bincode reserve.
            let config = bincode::config::standard().with_limit::<MAX_BODY_SIZE>();
            let (event, read) = bincode::serde::decode_from_slice::<Event, _>(body, config)
                .map_err(|e| RecordError::Decode(e.to_string()))?;
            if read != body.len() {
                return Err(RecordError::Decode(format!(
                    "{} trailing bytes after the event",
                    body.len() - read
                )));
            }
            Ok(event)
        }
        Codec::Json => serde_json::from_slice(body).map_err(|e| RecordError::Decode(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventType, NewEvent};
    use memchr::memmem::Finder;
    use proptest::prelude::*;

    fn event(payload_len: usize) -> Event {
        NewEvent::new(
            "e-1",
            EventType::Custom("deposited".into()),
            vec![b'x'; payload_len],
        )
        .correlation("c-9")
        .causation("cmd-3")
        .meta("user", "ada")
        .at(1_700_000_000_000_000)
        .into_event("account-1", 3, 42, 0)
    }

    fn flags_of(record: &[u8]) -> u8 {
        record[6]
    }

    #[test]
    fn may_contain_rules_out_only_whole_plain_bincode_records_without_the_bytes() {
        let e = event(10);
        let record = RecordCodec::default().encode(&e).expect("encode");
        let (found, absent) = (Finder::new(b"c-9"), Finder::new(b"c-10"));
        assert!(may_contain(&record, &found));
        assert!(!may_contain(&record, &absent));
        // JSON, compressed or damaged records are never ruled out.
        let json = RecordCodec::new(Codec::Json).encode(&e).expect("encode");
        assert!(may_contain(&json, &absent));
        let compressed = RecordCodec::default()
            .with_compress_above(0)
            .encode(&event(1_000))
            .expect("encode");
        assert_eq!(flags_of(&compressed), FLAG_ZSTD);
        assert!(may_contain(&compressed, &absent));
        let mut damaged = record.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        assert!(may_contain(&damaged, &absent));
        // The header is outside the CRC: a damaged reserved byte is decoded (and
        // reported), never ruled out.
        let mut reserved = record.clone();
        reserved[7] = 1;
        assert!(may_contain(&reserved, &absent));
    }

    /// Values of every varint width.
    fn widths() -> impl Strategy<Value = u64> {
        prop_oneof![
            0..251u64,
            251..65_536u64,
            65_536..(1u64 << 32),
            any::<u64>()
        ]
    }

    proptest! {
        /// The timestamp `may_be_within` reads past a body's first fields is the one
        /// `decode` returns, whatever the fields before it (their order, the varint
        /// widths, the custom type's variant number); records it cannot read that way
        /// are never ruled out.
        #[test]
        fn may_be_within_reads_the_decoded_timestamp(
            id in ".{0,12}",
            stream in ".{0,12}",
            sequence in widths(),
            position in widths(),
            variant in 0usize..8,
            name in ".{0,12}",
            payload in proptest::collection::vec(any::<u8>(), 0..300),
            at in widths().prop_map(|t| t.max(1)),
            correlation in proptest::option::of(".{0,8}"),
            json in any::<bool>(),
            compress in any::<bool>(),
        ) {
            let event_type = match variant {
                0 => EventType::ActorCreated,
                1 => EventType::ActorDestroyed,
                2 => EventType::MessageSent,
                3 => EventType::MessageProcessed,
                4 => EventType::StateChanged,
                5 => EventType::SnapshotTaken,
                6 => EventType::FailureOccurred,
                _ => EventType::Custom(name),
            };
            let mut new = NewEvent::new(id, event_type, payload).at(at).meta("k", "v");
            if let Some(c) = correlation {
                new = new.correlation(c);
            }
            let e = new.into_event(&stream, sequence, position, 0);
            let codec = RecordCodec::new(if json { Codec::Json } else { Codec::Bincode })
                .with_compress_above(if compress { 0 } else { usize::MAX });
            let record = codec.encode(&e).expect("encode");
            prop_assert_eq!(RecordCodec::decode(&record).expect("decode").timestamp, at);
            prop_assert!(may_be_within(&record, at, at));
            // Compression keeps a body as it is when it would not shrink.
            let plain = !json && flags_of(&record) & FLAG_ZSTD == 0;
            prop_assert_eq!(may_be_within(&record, 0, at - 1), !plain);
        }

        /// No false negative: a record whose event carries the correlation id (or the
        /// custom type name) is never ruled out, whatever the value, codec and
        /// compression.
        #[test]
        fn may_contain_never_rules_out_a_match(
            correlation in ".{0,12}",
            other in ".{0,12}",
            json in any::<bool>(),
            compress in any::<bool>(),
        ) {
            let codec = RecordCodec::new(if json { Codec::Json } else { Codec::Bincode })
                .with_compress_above(if compress { 0 } else { usize::MAX });
            let e = NewEvent::new("e-1", EventType::StateChanged, other.clone().into_bytes())
                .correlation(correlation.clone())
                .into_event("s", 1, 1, 0);
            let record = codec.encode(&e).expect("encode");
            prop_assert!(may_contain(&record, &Finder::new(correlation.as_bytes())));
            // The same for a custom event type's name (`read_event_type`).
            let typed = NewEvent::new("e-1", EventType::Custom(correlation.clone()), other.clone().into_bytes())
                .into_event("s", 1, 1, 0);
            let record_typed = codec.encode(&typed).expect("encode");
            prop_assert!(may_contain(&record_typed, &Finder::new(correlation.as_bytes())));
            let decoded = RecordCodec::decode(&record).expect("decode");
            if decoded.correlation_id.as_deref() == Some(other.as_str()) {
                prop_assert!(may_contain(&record, &Finder::new(other.as_bytes())));
            }
        }
    }

    #[test]
    fn may_be_within_rules_out_only_whole_plain_bincode_records_outside_the_range() {
        let e = event(10); // stamped 1_700_000_000_000_000
        let at = e.timestamp;
        let record = RecordCodec::default().encode(&e).expect("encode");
        assert!(may_be_within(&record, at, at));
        assert!(may_be_within(&record, 0, u64::MAX));
        assert!(!may_be_within(&record, at + 1, u64::MAX));
        assert!(!may_be_within(&record, 0, at - 1));
        // JSON, compressed or damaged records are never ruled out.
        let json = RecordCodec::new(Codec::Json).encode(&e).expect("encode");
        assert!(may_be_within(&json, 0, at - 1));
        let compressed = RecordCodec::default()
            .with_compress_above(0)
            .encode(&event(1_000))
            .expect("encode");
        assert!(may_be_within(&compressed, 0, at - 1));
        let mut damaged = record.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        assert!(may_be_within(&damaged, 0, at - 1));
        let mut reserved = record.clone();
        reserved[7] = 1;
        assert!(may_be_within(&reserved, 0, at - 1));
    }

    #[test]
    fn small_events_round_trip_uncompressed_with_both_codecs() {
        for codec in [Codec::Bincode, Codec::Json] {
            let e = event(10);
            let record = RecordCodec::new(codec).encode(&e).expect("encode");
            assert_eq!(record[5], codec.tag());
            assert_eq!(flags_of(&record), 0, "{codec:?}");
            assert_eq!(RecordCodec::decode(&record).expect("decode"), e);
        }
    }

    #[test]
    fn large_events_round_trip_compressed_with_both_codecs() {
        for codec in [Codec::Bincode, Codec::Json] {
            let e = event(10_000);
            let record = RecordCodec::new(codec).encode(&e).expect("encode");
            assert_eq!(flags_of(&record), FLAG_ZSTD, "{codec:?}");
            assert!(record.len() < 10_000, "compressed: {}", record.len());
            assert_eq!(RecordCodec::decode(&record).expect("decode"), e);
        }
    }

    #[test]
    fn the_threshold_is_configurable() {
        let e = event(100);
        let never = RecordCodec::default().with_compress_above(usize::MAX);
        assert_eq!(flags_of(&never.encode(&e).expect("encode")), 0);
        let always = RecordCodec::default().with_compress_above(0);
        let record = always.encode(&e).expect("encode");
        assert_eq!(flags_of(&record), FLAG_ZSTD);
        assert_eq!(RecordCodec::decode(&record).expect("decode"), e);
    }

    #[test]
    fn incompressible_bodies_are_stored_as_they_are() {
        let mut e = event(0);
        // A pseudo-random payload zstd cannot shrink.
        let mut x: u32 = 0x9e37_79b9;
        e.payload = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x.to_le_bytes()[0]
            })
            .collect();
        let record = RecordCodec::default().encode(&e).expect("encode");
        assert_eq!(flags_of(&record), 0);
        assert_eq!(RecordCodec::decode(&record).expect("decode"), e);
    }

    #[test]
    fn a_decoder_reads_whichever_codec_wrote_the_record() {
        let e = event(10);
        let json = RecordCodec::new(Codec::Json).encode(&e).expect("encode");
        let bin = RecordCodec::new(Codec::Bincode).encode(&e).expect("encode");
        assert_ne!(json, bin);
        assert_eq!(RecordCodec::decode(&json).expect("json"), e);
        assert_eq!(RecordCodec::decode(&bin).expect("bincode"), e);
    }

    #[test]
    fn header_corruptions_name_what_is_wrong() {
        let record = RecordCodec::default().encode(&event(10)).expect("encode");
        let with = |i: usize, v: u8| {
            let mut r = record.clone();
            r[i] = v;
            RecordCodec::decode(&r)
        };
        assert_eq!(
            RecordCodec::decode(&record[..10]),
            Err(RecordError::Frame(FrameError::Truncated))
        );
        assert_eq!(with(0, b'X'), Err(RecordError::BadMagic));
        assert_eq!(with(4, 9), Err(RecordError::UnsupportedVersion(9)));
        assert_eq!(with(5, 7), Err(RecordError::UnknownCodec(7)));
        assert_eq!(with(6, 0b10), Err(RecordError::UnknownFlags(0b10)));
        assert_eq!(with(7, 1), Err(RecordError::ReservedNotZero(1)));
        let body = record.len() - HEADER_LEN;
        assert_eq!(
            RecordCodec::decode(&record[..record.len() - 1]),
            Err(RecordError::Frame(FrameError::LengthMismatch {
                header: body as u32,
                actual: body - 1
            }))
        );
    }

    #[test]
    fn a_zstd_bomb_is_refused_before_allocating() {
        // A frame declaring one byte more than the limit, with a valid CRC.
        let huge = vec![0u8; MAX_BODY_SIZE + 1];
        let bomb = zstd::bulk::compress(&huge, 1).expect("compress");
        drop(huge);
        let mut record = RecordCodec::default().encode(&event(0)).expect("encode");
        record.truncate(HEADER_LEN);
        record[6] = FLAG_ZSTD;
        record[8..12].copy_from_slice(&(bomb.len() as u32).to_le_bytes());
        record[12..16].copy_from_slice(&crc32fast::hash(&bomb).to_le_bytes());
        record.extend_from_slice(&bomb);
        assert!(
            matches!(RecordCodec::decode(&record), Err(RecordError::Decompress(m)) if m.contains("limit"))
        );
    }

    fn codec_strategy() -> impl Strategy<Value = RecordCodec> {
        (
            prop_oneof![Just(Codec::Bincode), Just(Codec::Json)],
            0usize..2048,
        )
            .prop_map(|(c, above)| RecordCodec::new(c).with_compress_above(above))
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = RecordCodec::decode(&bytes);
        }

        #[test]
        fn arbitrary_bodies_behind_a_valid_header_never_panic(
            tag in 1u8..=2,
            compressed in any::<bool>(),
            body in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            let mut record = Vec::from(MAGIC);
            record.extend_from_slice(&[FORMAT_VERSION, tag, u8::from(compressed), 0]);
            record.extend_from_slice(&(body.len() as u32).to_le_bytes());
            record.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
            record.extend_from_slice(&body);
            let _ = RecordCodec::decode(&record);
        }

        #[test]
        fn any_single_bit_flip_in_body_or_crc_is_a_checksum_mismatch(
            codec in codec_strategy(),
            payload in proptest::collection::vec(any::<u8>(), 0..2048),
            bit in any::<proptest::sample::Index>(),
        ) {
            let mut e = event(0);
            e.payload = payload;
            let mut record = codec.encode(&e).expect("encode");
            // Bits of the CRC field and the body: everything from byte 12 on.
            let span = (record.len() - 12) * 8;
            let bit = 12 * 8 + bit.index(span);
            record[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(
                matches!(RecordCodec::decode(&record), Err(RecordError::Frame(FrameError::ChecksumMismatch { .. }))),
                "bit {bit}"
            );
        }

        #[test]
        fn single_bit_flips_in_the_header_give_the_field_error(
            codec in codec_strategy(),
            payload in proptest::collection::vec(any::<u8>(), 0..2048),
            bit in 0usize..96,
        ) {
            let mut e = event(0);
            e.payload = payload;
            let mut record = codec.encode(&e).expect("encode");
            record[bit / 8] ^= 1 << (bit % 8);
            let result = RecordCodec::decode(&record);
            let ok = match bit / 8 {
                0..=3 => matches!(result, Err(RecordError::BadMagic)),
                4 => matches!(result, Err(RecordError::UnsupportedVersion(_))),
                // One bit never turns tag 1 into tag 2 or back.
                5 => matches!(result, Err(RecordError::UnknownCodec(_))),
                // The compression bit is not covered by the CRC: the decompressor or the
                // decoder refuses the body instead.
                6 if bit % 8 == 0 => matches!(
                    result,
                    Err(RecordError::Decompress(_) | RecordError::Decode(_))
                ),
                6 => matches!(result, Err(RecordError::UnknownFlags(_))),
                7 => matches!(result, Err(RecordError::ReservedNotZero(_))),
                _ => matches!(result, Err(RecordError::Frame(FrameError::LengthMismatch { .. }))),
            };
            prop_assert!(ok, "bit {bit}: {result:?}");
        }
    }
}
