//! `InMemoryJournal`: the journal contract in memory, for tests and ephemeral use.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::error::JournalError;
use crate::event::{Event, EventType, NewEvent, Timestamp, now_micros};
use crate::journal::{AppendResult, ExpectedVersion, Journal, deduplicated_append, validate_batch};

/// A journal held in memory behind one lock. Nothing survives the process.
#[derive(Debug, Default)]
pub struct InMemoryJournal {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Per stream: events by sequence (deleted ones removed) and the highest sequence.
    streams: HashMap<String, StreamState>,
    /// Every stored event by global position: (stream, sequence).
    positions: BTreeMap<u64, (String, u64)>,
    /// Event id → (stream, sequence, position), for idempotent appends.
    ids: HashMap<String, (String, u64, u64)>,
    next_position: u64,
}

#[derive(Debug, Default)]
struct StreamState {
    events: BTreeMap<u64, Event>,
    highest: u64,
}

impl InMemoryJournal {
    /// An empty journal.
    pub fn new() -> Self {
        InMemoryJournal::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn scan(&self, max: usize, keep: impl Fn(&Event) -> bool) -> Vec<Event> {
        let state = self.lock();
        state
            .positions
            .values()
            .filter_map(|(stream, seq)| state.streams.get(stream)?.events.get(seq))
            .filter(|e| keep(e))
            .take(max)
            .cloned()
            .collect()
    }
}

#[async_trait]
impl Journal for InMemoryJournal {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, JournalError> {
        validate_batch(&events)?;
        let mut state = self.lock();
        let stored = events
            .iter()
            .filter_map(|e| state.ids.get(&e.id))
            .map(|(s, seq, pos)| (s.as_str(), *seq, *pos));
        if let Some(retry) = deduplicated_append(stream, events.len(), stored)? {
            return Ok(retry);
        }
        let highest = state.streams.get(stream).map_or(0, |s| s.highest);
        if !expected.admits(highest) {
            return Err(JournalError::SequenceConflict {
                stream: stream.to_owned(),
                expected: expected.describe(),
                actual: highest,
            });
        }
        let now = now_micros();
        let first_position = state.next_position + 1;
        let n = events.len() as u64;
        for (i, new) in events.into_iter().enumerate() {
            let seq = highest + 1 + i as u64;
            let pos = first_position + i as u64;
            let event = new.into_event(stream, seq, pos, now);
            state
                .ids
                .insert(event.id.clone(), (stream.to_owned(), seq, pos));
            state.positions.insert(pos, (stream.to_owned(), seq));
            let s = state.streams.entry(stream.to_owned()).or_default();
            s.events.insert(seq, event);
            s.highest = seq;
        }
        state.next_position += n;
        Ok(AppendResult {
            first_sequence: highest + 1,
            last_sequence: highest + n,
            first_position,
            deduplicated: false,
        })
    }

    async fn read_stream(
        &self,
        stream: &str,
        from: u64,
        to: u64,
        max: usize,
    ) -> Result<Vec<Event>, JournalError> {
        if from > to {
            return Ok(Vec::new());
        }
        let state = self.lock();
        Ok(state.streams.get(stream).map_or_else(Vec::new, |s| {
            s.events
                .range(from..=to)
                .take(max)
                .map(|(_, e)| e.clone())
                .collect()
        }))
    }

    async fn highest_sequence(&self, stream: &str) -> Result<u64, JournalError> {
        Ok(self.lock().streams.get(stream).map_or(0, |s| s.highest))
    }

    async fn read_all(&self, from_position: u64, max: usize) -> Result<Vec<Event>, JournalError> {
        Ok(self.scan(max, |e| e.position >= from_position))
    }

    async fn highest_position(&self) -> Result<u64, JournalError> {
        Ok(self.lock().next_position)
    }

    async fn read_correlation(
        &self,
        correlation_id: &str,
        from_position: u64,
        max: usize,
    ) -> Result<Vec<Event>, JournalError> {
        Ok(self.scan(max, |e| {
            e.position >= from_position && e.correlation_id.as_deref() == Some(correlation_id)
        }))
    }

    async fn read_time_range(
        &self,
        from: Timestamp,
        to: Timestamp,
        from_position: u64,
        max: usize,
    ) -> Result<Vec<Event>, JournalError> {
        Ok(self.scan(max, |e| {
            e.position >= from_position && e.timestamp >= from && e.timestamp <= to
        }))
    }

    async fn read_event_type(
        &self,
        event_type: &EventType,
        from_position: u64,
        max: usize,
    ) -> Result<Vec<Event>, JournalError> {
        Ok(self.scan(max, |e| {
            e.position >= from_position && &e.event_type == event_type
        }))
    }

    async fn delete_to(&self, stream: &str, sequence: u64) -> Result<(), JournalError> {
        let mut state = self.lock();
        let Some(s) = state.streams.get_mut(stream) else {
            return Ok(());
        };
        let keep = s.events.split_off(&(sequence.saturating_add(1)));
        let removed = std::mem::replace(&mut s.events, keep);
        for e in removed.values() {
            state.positions.remove(&e.position);
        }
        Ok(())
    }
}
