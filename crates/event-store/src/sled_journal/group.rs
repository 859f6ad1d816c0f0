//! A group: the value under one key of the `events` tree. It holds the records of one
//! or more appends written together, each behind a small entry header:
//!
//! | field        | size | value                                                   |
//! |--------------|-----:|---------------------------------------------------------|
//! | position     | 8    | u64, big-endian                                         |
//! | sequence     | 8    | u64, big-endian                                         |
//! | stream length| 4    | u32, big-endian                                         |
//! | id length    | 4    | u32, big-endian                                         |
//! | stream, id   | …    | UTF-8                                                   |
//! | header CRC32 | 4    | u32, big-endian, of every header byte before it         |
//! | record       | …    | the [`crate::record`] frame (self-delimiting)           |
//!
//! The header says where the record belongs without decoding it, so that open rebuilds
//! the stream index from headers alone, and a record whose body is damaged is still
//! filed under its stream and reported as corrupt when read, never skipped. The key is
//! the position of the group's first entry when written; a group trimmed by
//! `delete_to` keeps its key, so a key is at most the group's first position.

use std::ops::Range;

use crate::record::HEADER_LEN;

const FIXED: usize = 8 + 8 + 4 + 4;

/// Adds the entry header of `stream`#`sequence` (event `id`) at `position` to `group`;
/// its record must follow.
pub(super) fn push_header(
    group: &mut Vec<u8>,
    position: u64,
    sequence: u64,
    stream: &str,
    id: &str,
) {
    let start = group.len();
    group.extend_from_slice(&position.to_be_bytes());
    group.extend_from_slice(&sequence.to_be_bytes());
    // Names and ids over 4 GiB are not a real concern; saturating keeps this total.
    group.extend_from_slice(
        &u32::try_from(stream.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    group.extend_from_slice(&u32::try_from(id.len()).unwrap_or(u32::MAX).to_be_bytes());
    group.extend_from_slice(stream.as_bytes());
    group.extend_from_slice(id.as_bytes());
    let crc = crc32fast::hash(&group[start..]);
    group.extend_from_slice(&crc.to_be_bytes());
}

/// One entry of a group, as byte ranges into it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) position: u64,
    pub(super) sequence: u64,
    pub(super) stream: Range<usize>,
    pub(super) id: Range<usize>,
    pub(super) record: Range<usize>,
    /// The whole entry, header included.
    pub(super) whole: Range<usize>,
}

/// The entries of a group, in order.
///
/// # Errors
/// A description of the first entry whose header is unreadable (truncated, a CRC
/// mismatch, a position that does not increase, a record overrunning the group).
pub(super) fn entries(group: &[u8]) -> Result<Vec<Entry>, String> {
    let mut out: Vec<Entry> = Vec::new();
    let mut at = 0;
    while at < group.len() {
        let u64_at = |i: usize| {
            group
                .get(i..i + 8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
        };
        let u32_at = |i: usize| {
            group
                .get(i..i + 4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes)
        };
        let truncated = || format!("group entry at byte {at} truncated");
        let (Some(position), Some(sequence), Some(stream_len), Some(id_len)) =
            (u64_at(at), u64_at(at + 8), u32_at(at + 16), u32_at(at + 20))
        else {
            return Err(truncated());
        };
        let stream_start = at + FIXED;
        let id_start = stream_start
            .checked_add(usize::try_from(stream_len).map_err(|_| truncated())?)
            .ok_or_else(truncated)?;
        let crc_at = id_start
            .checked_add(usize::try_from(id_len).map_err(|_| truncated())?)
            .ok_or_else(truncated)?;
        let (Some(header), Some(crc)) = (group.get(at..crc_at), u32_at(crc_at)) else {
            return Err(truncated());
        };
        if crc32fast::hash(header) != crc {
            return Err(format!(
                "group entry at byte {at}: header checksum mismatch"
            ));
        }
        let record_start = crc_at + 4;
        let Some(frame) = group.get(record_start..record_start + HEADER_LEN) else {
            return Err(format!(
                "record at position {position} truncated in its group"
            ));
        };
        let body_len = u32::from_le_bytes([frame[8], frame[9], frame[10], frame[11]]);
        let end = usize::try_from(body_len)
            .ok()
            .and_then(|b| b.checked_add(record_start + HEADER_LEN))
            .filter(|end| *end <= group.len())
            .ok_or_else(|| format!("record at position {position} overruns its group"))?;
        if out.last().is_some_and(|last| last.position >= position) {
            return Err(format!("position {position} out of order in its group"));
        }
        out.push(Entry {
            position,
            sequence,
            stream: stream_start..id_start,
            id: id_start..crc_at,
            record: record_start..end,
            whole: at..end,
        });
        at = end;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventType, NewEvent};
    use crate::record::RecordCodec;

    fn push(
        group: &mut Vec<u8>,
        position: u64,
        sequence: u64,
        stream: &str,
        id: &str,
        record: &[u8],
    ) {
        push_header(group, position, sequence, stream, id);
        group.extend_from_slice(record);
    }

    fn record(position: u64) -> Vec<u8> {
        let event = NewEvent::new(format!("e-{position}"), EventType::StateChanged, vec![1; 9])
            .into_event("s", position, position, 0);
        RecordCodec::default().encode(&event).expect("encode")
    }

    #[test]
    fn entries_find_every_record_and_refuse_bad_framing() {
        let mut group = Vec::new();
        push(&mut group, 7, 1, "s", "e-7", &record(7));
        push(&mut group, 9, 2, "s", "e-9", &record(9));
        let found = entries(&group).expect("entries");
        assert_eq!(
            found
                .iter()
                .map(|e| (e.position, e.sequence))
                .collect::<Vec<_>>(),
            vec![(7, 1), (9, 2)]
        );
        assert_eq!(&group[found[1].stream.clone()], b"s");
        assert_eq!(&group[found[1].id.clone()], b"e-9");
        let decoded = RecordCodec::decode(&group[found[1].record.clone()]).expect("decode");
        assert_eq!(decoded.position, 9);
        assert_eq!(found[1].whole.end, group.len());
        assert!(entries(&group[..group.len() - 1]).is_err(), "truncated");
        assert!(entries(&group[..5]).is_err(), "short header");
        let mut flipped = group.clone();
        flipped[9] ^= 1; // the first entry's sequence
        assert!(entries(&flipped).is_err(), "header checksum");
        let mut backwards = Vec::new();
        push(&mut backwards, 9, 1, "s", "a", &record(9));
        push(&mut backwards, 7, 2, "s", "b", &record(7));
        assert!(entries(&backwards).is_err(), "out of order");
        assert_eq!(entries(&[]).expect("empty"), vec![]);
    }
}
