//! The stored snapshot record: how one [`ActorStateSnapshot`] is laid out in a durable
//! backend.
//!
//! A record is a fixed 16-byte header followed by the body:
//!
//! | offset | size | field          | value                                          |
//! |-------:|-----:|----------------|------------------------------------------------|
//! | 0      | 4    | magic          | `b"PLSS"`                                      |
//! | 4      | 1    | format version | `1`                                            |
//! | 5      | 1    | codec tag      | `1` = bincode 2 (serde, standard configuration) |
//! | 6      | 2    | reserved       | `0`                                            |
//! | 8      | 4    | body length    | u32, little-endian                             |
//! | 12     | 4    | CRC32          | u32, little-endian, of the body bytes          |
//!
//! The body is the whole snapshot (state bytes, `state_hash`, metadata and all) encoded
//! by the codec. Two checks protect a load, at two levels:
//!
//! - the record's CRC32 covers the body as stored, so a flipped bit anywhere in it is
//!   caught here, before the decoder sees the bytes;
//! - the snapshot's own `state_hash` covers the state as the writer took it, so a
//!   record that decodes fine around a tampered state (written that way, or by another
//!   tool) is still refused by [`ActorStateSnapshot::is_intact`] at load time.
//!
//! [`decode`] never panics, whatever the input, and never lets a corrupt length prefix
//! make the decoder reserve more than [`MAX_BODY_SIZE`].

use crate::error::SnapshotError;
use crate::snapshot::ActorStateSnapshot;
use palisade_event_store::record::{FrameError, frame, unframe};

/// The record's magic bytes.
pub const MAGIC: [u8; 4] = *b"PLSS";
/// The format version this module writes and reads.
pub const FORMAT_VERSION: u8 = 1;
/// The codec tag of bincode 2 (serde, standard configuration).
pub const CODEC_BINCODE: u8 = 1;
/// The header length in bytes.
pub const HEADER_LEN: usize = 16;
/// The largest body a record may hold (256 MiB): the largest encoded snapshot.
pub const MAX_BODY_SIZE: usize = 256 * 1024 * 1024;

/// Why a stored record could not be decoded.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    /// The frame failed a shared check: truncated, body length or CRC32 mismatch.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The record does not start with `PLSS`.
    #[error("bad magic: not a Palisade snapshot record")]
    BadMagic,
    /// A format version this build does not read.
    #[error("unsupported record format version {0}")]
    UnsupportedVersion(u8),
    /// A codec tag this build does not know.
    #[error("unknown codec tag {0}")]
    UnknownCodec(u8),
    /// The reserved header bytes are not zero (written by a newer format).
    #[error("reserved header bytes are {0:#06x}, not 0")]
    ReservedNotZero(u16),
    /// The body is not a valid snapshot for its codec.
    #[error("cannot decode body: {0}")]
    Decode(String),
}

impl RecordError {
    /// This error as a [`SnapshotError::Corrupt`] for the record of `actor_id` at
    /// `sequence`.
    pub fn into_snapshot_error(self, actor_id: &str, sequence: u64) -> SnapshotError {
        SnapshotError::Corrupt {
            actor_id: actor_id.to_owned(),
            sequence,
            reason: self.to_string(),
        }
    }
}

/// The record of `snapshot`. Costs one bincode encoding and one CRC32 of the body.
///
/// # Errors
/// `Codec` when bincode fails or the encoded snapshot exceeds [`MAX_BODY_SIZE`].
pub fn encode(snapshot: &ActorStateSnapshot) -> Result<Vec<u8>, SnapshotError> {
    let body = bincode::serde::encode_to_vec(snapshot, bincode::config::standard())
        .map_err(|e| SnapshotError::Codec(e.to_string()))?;
    if body.len() > MAX_BODY_SIZE {
        return Err(SnapshotError::Codec(format!(
            "encoded snapshot is {} bytes, more than the {MAX_BODY_SIZE}-byte limit",
            body.len()
        )));
    }
    let [m0, m1, m2, m3] = MAGIC;
    let head = [m0, m1, m2, m3, FORMAT_VERSION, CODEC_BINCODE, 0, 0];
    frame(head, &body).ok_or_else(|| SnapshotError::Codec("body longer than u32::MAX".to_owned()))
}

/// The snapshot stored in `bytes`. Checks, in order: the frame (length, body length,
/// CRC32, shared with the event records), magic, version, codec tag, reserved bytes; then decodes, refusing trailing bytes. Does not
/// check the snapshot's `state_hash` (the store does, on load). Never panics.
///
/// # Errors
/// The first check that fails, as its `RecordError` variant.
pub fn decode(bytes: &[u8]) -> Result<ActorStateSnapshot, RecordError> {
    let (head, body) = unframe(bytes)?;
    if head[..4] != MAGIC {
        return Err(RecordError::BadMagic);
    }
    let (version, tag) = (head[4], head[5]);
    if version != FORMAT_VERSION {
        return Err(RecordError::UnsupportedVersion(version));
    }
    if tag != CODEC_BINCODE {
        return Err(RecordError::UnknownCodec(tag));
    }
    let reserved = u16::from_le_bytes([head[6], head[7]]);
    if reserved != 0 {
        return Err(RecordError::ReservedNotZero(reserved));
    }
    // The limit bounds what a corrupt length prefix can make bincode reserve.
    let config = bincode::config::standard().with_limit::<MAX_BODY_SIZE>();
    let (snapshot, read) = bincode::serde::decode_from_slice::<ActorStateSnapshot, _>(body, config)
        .map_err(|e| RecordError::Decode(e.to_string()))?;
    if read != body.len() {
        return Err(RecordError::Decode(format!(
            "{} trailing bytes after the snapshot",
            body.len() - read
        )));
    }
    Ok(snapshot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::StateCodec;
    use proptest::prelude::*;

    fn snapshot(state_len: usize) -> ActorStateSnapshot {
        let mut s = ActorStateSnapshot::new(
            "account-1",
            "Account",
            42,
            vec![b'x'; state_len],
            StateCodec::Bincode,
        );
        s.metadata.insert("node".into(), "n1".into());
        s
    }

    /// A record whose body decodes (the CRC recomputed) with `change` applied.
    fn reencoded(record: &[u8], change: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut header = record[..HEADER_LEN].to_vec();
        let mut body = record[HEADER_LEN..].to_vec();
        change(&mut body);
        header[8..12].copy_from_slice(&u32::try_from(body.len()).expect("len").to_le_bytes());
        header[12..16].copy_from_slice(&crc32fast::hash(&body).to_le_bytes());
        header.extend_from_slice(&body);
        header
    }

    #[test]
    fn snapshots_round_trip_with_every_field() {
        let s = snapshot(100);
        let record = encode(&s).expect("encode");
        assert_eq!(&record[..4], b"PLSS");
        assert_eq!(record[4], FORMAT_VERSION);
        assert_eq!(record[5], CODEC_BINCODE);
        assert_eq!(decode(&record).expect("decode"), s);
    }

    #[test]
    fn header_corruptions_name_what_is_wrong() {
        let record = encode(&snapshot(10)).expect("encode");
        let with = |i: usize, v: u8| {
            let mut r = record.clone();
            r[i] = v;
            decode(&r)
        };
        assert_eq!(
            decode(&record[..10]),
            Err(RecordError::Frame(FrameError::Truncated))
        );
        assert_eq!(decode(&[]), Err(RecordError::Frame(FrameError::Truncated)));
        assert_eq!(with(0, b'X'), Err(RecordError::BadMagic));
        assert_eq!(with(4, 9), Err(RecordError::UnsupportedVersion(9)));
        assert_eq!(with(5, 7), Err(RecordError::UnknownCodec(7)));
        assert_eq!(with(7, 1), Err(RecordError::ReservedNotZero(0x0100)));
        assert!(matches!(
            decode(&record[..record.len() - 1]),
            Err(RecordError::Frame(FrameError::LengthMismatch { .. }))
        ));
        let mut longer = record.clone();
        longer.push(0);
        assert!(matches!(
            decode(&longer),
            Err(RecordError::Frame(FrameError::LengthMismatch { .. }))
        ));
        assert!(matches!(
            with(12, record[12] ^ 1),
            Err(RecordError::Frame(FrameError::ChecksumMismatch { .. }))
        ));
    }

    #[test]
    fn a_body_with_a_valid_checksum_but_bad_content_is_a_decode_error() {
        let record = encode(&snapshot(10)).expect("encode");
        let garbage = reencoded(&record, |body| body.truncate(3));
        assert!(matches!(decode(&garbage), Err(RecordError::Decode(_))));
        let trailing = reencoded(&record, |body| body.push(0));
        assert!(matches!(decode(&trailing), Err(RecordError::Decode(_))));
    }

    #[test]
    fn a_tampered_state_decodes_but_is_not_intact() {
        let s = snapshot(10);
        let record = encode(&s).expect("encode");
        // Change the last state byte ('x' -> 'y') and fix the record's CRC, as a
        // tool rewriting the record would: the record checks out, the state does not.
        let tampered = reencoded(&record, |body| {
            let at = body
                .windows(10)
                .position(|w| w == [b'x'; 10])
                .expect("state in body");
            body[at + 9] = b'y';
        });
        let decoded = decode(&tampered).expect("the record itself is valid");
        assert_ne!(decoded.state, s.state);
        assert!(!decoded.is_intact());
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn decoding_arbitrary_bodies_behind_a_valid_header_never_panics(
            body in proptest::collection::vec(any::<u8>(), 0..256)
        ) {
            let record = encode(&snapshot(0)).expect("encode");
            let _ = decode(&reencoded(&record, |b| *b = body));
        }

        #[test]
        fn any_single_bit_flip_in_the_body_is_detected(
            state_len in 0usize..2048,
            bit in any::<prop::sample::Index>(),
        ) {
            let record = encode(&snapshot(state_len)).expect("encode");
            let body_bits = (record.len() - HEADER_LEN) * 8;
            let bit = bit.index(body_bits);
            let mut flipped = record.clone();
            flipped[HEADER_LEN + bit / 8] ^= 1 << (bit % 8);
            prop_assert!(
                matches!(decode(&flipped), Err(RecordError::Frame(FrameError::ChecksumMismatch { .. }))),
                "bit {} not detected", bit
            );
        }

        #[test]
        fn any_single_bit_flip_anywhere_is_an_error_not_a_panic(
            bit in any::<prop::sample::Index>(),
        ) {
            let record = encode(&snapshot(64)).expect("encode");
            let bit = bit.index(record.len() * 8);
            let mut flipped = record.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(decode(&flipped).is_err());
        }
    }
}
