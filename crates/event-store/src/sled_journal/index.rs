//! The stream index: which positions hold which sequence numbers of a stream, as runs
//! (a run is consecutive sequence numbers at consecutive positions: a batch, or a stream
//! written with nobody in between). Persisted in chunks (one `by_stream` value per
//! stream per index round) and kept in memory for what is not persisted yet.

use rustc_hash::FxHashMap;

/// Consecutive sequence numbers `first_seq..first_seq + count` at consecutive positions
/// from `first_pos`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Run {
    pub(super) first_seq: u64,
    pub(super) first_pos: u64,
    pub(super) count: u64,
}

impl Run {
    pub(super) fn last_seq(&self) -> u64 {
        self.first_seq + self.count - 1
    }

    /// The (sequence, position) pairs of the run with `from <= sequence <= to`.
    pub(super) fn pairs(&self, from: u64, to: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
        let lo = from.max(self.first_seq);
        let hi = to.min(self.last_seq());
        (lo..=hi).map(move |seq| (seq, self.first_pos + (seq - self.first_seq)))
    }

    /// The run without its sequence numbers up to `sequence`; `None` when nothing is
    /// left.
    pub(super) fn after(&self, sequence: u64) -> Option<Run> {
        if sequence >= self.last_seq() {
            return None;
        }
        let skip = sequence.saturating_add(1).saturating_sub(self.first_seq);
        Some(Run {
            first_seq: self.first_seq + skip,
            first_pos: self.first_pos + skip,
            count: self.count - skip,
        })
    }
}

/// Adds (sequence, position) to `runs`, extending the last run when both continue it.
pub(super) fn push(runs: &mut Vec<Run>, sequence: u64, position: u64) {
    if let Some(last) = runs.last_mut() {
        if last.last_seq() + 1 == sequence && last.first_pos + last.count == position {
            last.count += 1;
            return;
        }
    }
    runs.push(Run {
        first_seq: sequence,
        first_pos: position,
        count: 1,
    });
}

const CHUNK_VERSION: u8 = 1;

/// A `by_stream` value: a version byte, then each run as three big-endian u64.
pub(super) fn encode(runs: &[Run]) -> Vec<u8> {
    let mut v = Vec::with_capacity(1 + runs.len() * 24);
    v.push(CHUNK_VERSION);
    for r in runs {
        v.extend_from_slice(&r.first_seq.to_be_bytes());
        v.extend_from_slice(&r.first_pos.to_be_bytes());
        v.extend_from_slice(&r.count.to_be_bytes());
    }
    v
}

/// The runs of a `by_stream` value; `None` when it is not one (wrong version or length,
/// an empty run, or runs out of order).
pub(super) fn decode(bytes: &[u8]) -> Option<Vec<Run>> {
    let (&version, rest) = bytes.split_first()?;
    if version != CHUNK_VERSION || rest.len() % 24 != 0 {
        return None;
    }
    let mut runs: Vec<Run> = Vec::with_capacity(rest.len() / 24);
    for c in rest.chunks_exact(24) {
        let u = |i: usize| {
            c.get(i..i + 8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
        };
        let run = Run {
            first_seq: u(0)?,
            first_pos: u(8)?,
            count: u(16)?,
        };
        let ordered = runs.last().is_none_or(|l| l.last_seq() < run.first_seq);
        if run.count == 0 || run.first_seq == 0 || !ordered {
            return None;
        }
        run.first_seq.checked_add(run.count)?;
        run.first_pos.checked_add(run.count)?;
        runs.push(run);
    }
    Some(runs)
}

/// What the writer has written and the `by_stream` and `streams` trees do not hold yet:
/// the runs, and the highest sequence of every stream written since the last index
/// round (older heads are read from `streams`).
#[derive(Debug, Default)]
pub(super) struct Unindexed {
    pub(super) runs: FxHashMap<String, Vec<Run>>,
    pub(super) events: usize,
    pub(super) heads: FxHashMap<String, u64>,
}

impl Unindexed {
    /// Records an event written at (sequence, position) of `stream`.
    pub(super) fn add(&mut self, stream: &str, sequence: u64, position: u64) {
        match self.runs.get_mut(stream) {
            Some(runs) => push(runs, sequence, position),
            None => {
                let mut runs = Vec::new();
                push(&mut runs, sequence, position);
                self.runs.insert(stream.to_owned(), runs);
            }
        }
        match self.heads.get_mut(stream) {
            Some(h) => *h = sequence,
            None => {
                self.heads.insert(stream.to_owned(), sequence);
            }
        }
        self.events += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_merge_only_when_sequence_and_position_both_continue() {
        let mut runs = Vec::new();
        for (s, p) in [(1, 10), (2, 11), (3, 13), (4, 14)] {
            push(&mut runs, s, p);
        }
        assert_eq!(runs.len(), 2);
        assert_eq!(
            runs[1].pairs(0, u64::MAX).collect::<Vec<_>>(),
            vec![(3, 13), (4, 14)]
        );
        assert_eq!(runs[0].pairs(2, 9).collect::<Vec<_>>(), vec![(2, 11)]);
        assert_eq!(decode(&encode(&runs)), Some(runs.clone()));
        assert_eq!(
            runs[1]
                .after(3)
                .map(|r| (r.first_seq, r.first_pos, r.count)),
            Some((4, 14, 1))
        );
        assert_eq!(runs[1].after(4), None);
        assert_eq!(runs[1].after(1), Some(runs[1]));
    }

    #[test]
    fn chunks_that_are_not_chunks_are_refused() {
        assert_eq!(decode(&[]), None);
        assert_eq!(decode(&[2]), None);
        assert_eq!(decode(&[1, 0]), None);
        let zero = encode(&[Run {
            first_seq: 1,
            first_pos: 1,
            count: 0,
        }]);
        assert_eq!(decode(&zero), None);
        let a = Run {
            first_seq: 5,
            first_pos: 1,
            count: 2,
        };
        let b = Run {
            first_seq: 1,
            first_pos: 9,
            count: 1,
        };
        assert_eq!(decode(&encode(&[a, b])), None, "out of order");
        assert_eq!(decode(&[1]), Some(vec![]));
    }
}
