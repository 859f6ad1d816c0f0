//! The hot in-memory tail: the most recent events, kept so that reads of what was just
//! written (subscribers catching up, recovery after a snapshot) skip sled and the
//! blocking pool.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::event::Event;

/// At most `max` recent events, per stream a contiguous run ending at the stream's
/// highest sequence (eviction is oldest first across streams, which is oldest first
/// within each stream, so every stream keeps a suffix).
#[derive(Debug)]
pub(super) struct Tail {
    max: usize,
    state: Mutex<TailState>,
    hits: AtomicU64,
}

#[derive(Debug, Default)]
struct TailState {
    streams: FxHashMap<Arc<str>, VecDeque<Event>>,
    /// The stream of every cached event in append order (may hold entries of events
    /// already deleted; eviction then drops nothing for them).
    order: VecDeque<Arc<str>>,
    len: usize,
}

impl Tail {
    pub(super) fn new(max: usize) -> Self {
        Tail {
            max,
            state: Mutex::new(TailState::default()),
            hits: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TailState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads served from the tail since open.
    pub(super) fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Adds events just committed (in sequence order, one stream). Called under the
    /// journal's writer lock, before the append is acknowledged.
    pub(super) fn push(&self, stream: &str, events: Vec<Event>) {
        if self.max == 0 || events.is_empty() {
            return;
        }
        let mut guard = self.lock();
        let st = &mut *guard;
        let n = events.len();
        // One allocation for the name per stream cached, not per push.
        let name = match st.streams.get_key_value(stream) {
            Some((name, _)) => name.clone(),
            None => Arc::from(stream),
        };
        st.streams.entry(name.clone()).or_default().extend(events);
        st.order.extend(std::iter::repeat_n(name, n));
        st.len += n;
        while st.len > self.max {
            let Some(oldest) = st.order.pop_front() else {
                break;
            };
            if let Some(q) = st.streams.get_mut(&oldest) {
                if q.pop_front().is_some() {
                    st.len -= 1;
                }
                if q.is_empty() {
                    st.streams.remove(&oldest);
                }
            }
        }
        if st.order.len() > 2 * self.max {
            // Deletes left stale entries: rebuild the order from what is cached.
            let mut all: Vec<(u64, Arc<str>)> = st
                .streams
                .iter()
                .flat_map(|(s, q)| q.iter().map(move |e| (e.position, s.clone())))
                .collect();
            all.sort_unstable();
            st.order = all.into_iter().map(|(_, s)| s).collect();
        }
    }

    /// Forgets the events of `stream` up to `sequence` (after a `delete_to`).
    pub(super) fn delete_to(&self, stream: &str, sequence: u64) {
        let mut guard = self.lock();
        let st = &mut *guard;
        let Some(q) = st.streams.get_mut(stream) else {
            return;
        };
        let before = q.len();
        while q.front().is_some_and(|e| e.sequence <= sequence) {
            q.pop_front();
        }
        let removed = before - q.len();
        if q.is_empty() {
            st.streams.remove(stream);
        }
        st.len -= removed;
    }

    /// The events of `stream` with `from <= sequence <= to`, at most `max`, when the tail
    /// holds the whole range from `from` on; `None` when the read must go to sled.
    pub(super) fn read(&self, stream: &str, from: u64, to: u64, max: usize) -> Option<Vec<Event>> {
        let st = self.lock();
        let q = st.streams.get(stream)?;
        if q.front()?.sequence > from {
            return None;
        }
        let out: Vec<Event> = q
            .iter()
            .skip_while(|e| e.sequence < from)
            .take_while(|e| e.sequence <= to)
            .take(max)
            .cloned()
            .collect();
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventType, NewEvent};

    fn events(stream: &str, seqs: std::ops::RangeInclusive<u64>, pos0: u64) -> Vec<Event> {
        seqs.map(|s| {
            NewEvent::new(format!("{stream}-{s}"), EventType::StateChanged, vec![]).into_event(
                stream,
                s,
                pos0 + s,
                0,
            )
        })
        .collect()
    }

    fn seqs(v: Option<Vec<Event>>) -> Option<Vec<u64>> {
        v.map(|v| v.iter().map(|e| e.sequence).collect())
    }

    #[test]
    fn serves_a_suffix_and_refuses_what_it_no_longer_holds() {
        let tail = Tail::new(4);
        tail.push("a", events("a", 1..=3, 0));
        tail.push("b", events("b", 1..=2, 10));
        // 5 events, max 4: a-1 was evicted.
        assert_eq!(seqs(tail.read("a", 1, u64::MAX, 10)), None);
        assert_eq!(seqs(tail.read("a", 2, u64::MAX, 10)), Some(vec![2, 3]));
        assert_eq!(seqs(tail.read("a", 2, 2, 10)), Some(vec![2]));
        assert_eq!(seqs(tail.read("b", 1, u64::MAX, 1)), Some(vec![1]));
        assert_eq!(seqs(tail.read("c", 1, u64::MAX, 1)), None);
    }

    #[test]
    fn deletes_drop_the_prefix() {
        let tail = Tail::new(10);
        tail.push("a", events("a", 1..=5, 0));
        tail.delete_to("a", 3);
        assert_eq!(seqs(tail.read("a", 4, u64::MAX, 10)), Some(vec![4, 5]));
        assert_eq!(seqs(tail.read("a", 1, u64::MAX, 10)), None);
    }

    #[test]
    fn a_zero_sized_tail_holds_nothing() {
        let tail = Tail::new(0);
        tail.push("a", events("a", 1..=2, 0));
        assert_eq!(seqs(tail.read("a", 1, u64::MAX, 10)), None);
    }
}
