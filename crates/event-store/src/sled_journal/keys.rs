//! Keys and index values of the sled trees (layout in the parent module's docs).

/// `by_stream` key: stream length (u32 BE) ‖ stream ‖ sequence (u64 BE).
pub(super) fn stream_key(stream: &str, sequence: u64) -> Vec<u8> {
    // Names over 4 GiB are not a real concern; saturating keeps this total.
    let len = u32::try_from(stream.len()).unwrap_or(u32::MAX);
    let mut key = Vec::with_capacity(4 + stream.len() + 8);
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(stream.as_bytes());
    key.extend_from_slice(&sequence.to_be_bytes());
    key
}

pub(super) fn parse_stream_key(key: &[u8]) -> Option<(String, u64)> {
    let (len, rest) = key.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
    if rest.len() != len.checked_add(8)? {
        return None;
    }
    let (name, seq) = rest.split_at(len);
    Some((String::from_utf8(name.to_vec()).ok()?, be_u64(seq)?))
}

pub(super) fn be_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_keys_of_different_streams_never_interleave() {
        // With a NUL separator, "a" and "a\0b" would share a key range.
        let a_hi = stream_key("a", u64::MAX);
        let a_lo = stream_key("a", 0);
        let other = stream_key("a\0b", 1);
        assert!(!(a_lo <= other && other <= a_hi));
        assert_eq!(
            parse_stream_key(&stream_key("a\0b", 7)),
            Some(("a\0b".into(), 7))
        );
    }
}
