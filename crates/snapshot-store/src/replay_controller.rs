//! `ReplayController`: rebuild the state of the actors in a scenario (a correlation) in
//! isolation, step by step, with checkpoints, and find where a replay and the live
//! history diverge.
//!
//! Isolation by construction: replay folds the recorded events with
//! [`EventSourcedActor::apply`] into fresh states. No command handler runs, so no message
//! can reach another actor and nothing touches the live system or its stores (the
//! journal is only read).

use std::collections::BTreeMap;
use std::time::Duration;

use palisade_event_store::{Event, EventStore, JournalError};

use crate::error::SnapshotError;
use crate::persistent::EventSourcedActor;
use crate::snapshot::{SnapshotCriteria, SnapshotStore};

/// How fast `run` replays.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ScenarioSpeed {
    /// No waiting.
    AsFastAsPossible,
    /// Waits the recorded gaps between events divided by `factor` (10.0 = ten times
    /// faster than it happened).
    RealTime {
        /// The speed-up (> 0).
        factor: f64,
    },
}

/// Rebuilds scenarios from an event store.
#[derive(Clone)]
pub struct ReplayController {
    events: EventStore,
}

impl ReplayController {
    /// A controller reading `events`.
    pub fn new(events: EventStore) -> Self {
        ReplayController { events }
    }

    /// Loads every event of `correlation` (in global order) for actors of behaviour `A`,
    /// ready to step through. Nothing is applied yet.
    ///
    /// # Errors
    /// A journal failure.
    pub async fn replay_scenario<A: EventSourcedActor>(
        &self,
        correlation: &str,
    ) -> Result<ScenarioReplay<A>, JournalError> {
        let mut events = Vec::new();
        let mut from = 0;
        loop {
            let page = self
                .events
                .read_correlation(correlation, from, 1_000)
                .await?;
            let done = page.len() < 1_000;
            if let Some(last) = page.last() {
                from = last.position + 1;
            }
            events.extend(page);
            if done {
                break;
            }
        }
        Ok(ScenarioReplay {
            events,
            cursor: 0,
            states: BTreeMap::new(),
            checkpoints: BTreeMap::new(),
        })
    }
}

/// A scenario being replayed: its events, how far the replay is, the rebuilt state of
/// each actor (by persistence id), and named checkpoints.
pub struct ScenarioReplay<A: EventSourcedActor> {
    events: Vec<Event>,
    cursor: usize,
    states: BTreeMap<String, A::State>,
    checkpoints: BTreeMap<String, usize>,
}

impl<A: EventSourcedActor> ScenarioReplay<A> {
    /// Every event of the scenario, in global order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// How many events have been applied.
    pub fn position(&self) -> usize {
        self.cursor
    }

    /// True when every event has been applied.
    pub fn is_done(&self) -> bool {
        self.cursor >= self.events.len()
    }

    /// Applies the next event and returns it (`Ok(None)` at the end).
    ///
    /// # Errors
    /// The event's payload does not decode as `A::Event`.
    pub fn step(&mut self) -> Result<Option<&Event>, SnapshotError> {
        let Some(event) = self.events.get(self.cursor) else {
            return Ok(None);
        };
        let decoded: A::Event = serde_json::from_slice(&event.payload).map_err(|e| {
            SnapshotError::Codec(format!("event {} of {}: {e}", event.sequence, event.stream))
        })?;
        A::apply(
            self.states.entry(event.stream.clone()).or_default(),
            &decoded,
        );
        self.cursor += 1;
        Ok(self.events.get(self.cursor - 1))
    }

    /// Applies every remaining event, waiting between them per `speed`, calling
    /// `progress(done, total)` after each.
    ///
    /// # Errors
    /// As `step`; `Codec` for a non-positive real-time factor.
    pub async fn run(
        &mut self,
        speed: ScenarioSpeed,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<(), SnapshotError> {
        let factor = match speed {
            ScenarioSpeed::AsFastAsPossible => None,
            ScenarioSpeed::RealTime { factor } if factor > 0.0 && factor.is_finite() => {
                Some(factor)
            }
            ScenarioSpeed::RealTime { .. } => {
                return Err(SnapshotError::Codec(
                    "real-time factor must be positive".into(),
                ));
            }
        };
        let total = self.events.len();
        while !self.is_done() {
            if let (Some(factor), Some(prev)) = (factor, self.cursor.checked_sub(1)) {
                let gap = self.events[self.cursor]
                    .timestamp
                    .saturating_sub(self.events[prev].timestamp);
                tokio::time::sleep(Duration::from_micros(gap).div_f64(factor)).await;
            }
            self.step()?;
            progress(self.cursor, total);
        }
        Ok(())
    }

    /// The rebuilt state of the actor `persistence_id` (as far as the replay has got).
    pub fn state(&self, persistence_id: &str) -> Option<&A::State> {
        self.states.get(persistence_id)
    }

    /// The CRC32 of the JSON form of the rebuilt state, the same hash snapshots carry.
    pub fn state_hash(&self, persistence_id: &str) -> Option<u32> {
        let state = self.states.get(persistence_id)?;
        serde_json::to_vec(state)
            .ok()
            .map(|bytes| crc32fast::hash(&bytes))
    }

    /// Remembers the current position as `name`.
    pub fn mark_checkpoint(&mut self, name: impl Into<String>) {
        self.checkpoints.insert(name.into(), self.cursor);
    }

    /// Rewinds (or fast-forwards) to checkpoint `name`: the states are rebuilt from the
    /// start up to it. Returns false when there is no such checkpoint.
    ///
    /// # Errors
    /// As `step`.
    pub fn restore_checkpoint(&mut self, name: &str) -> Result<bool, SnapshotError> {
        let Some(&target) = self.checkpoints.get(name) else {
            return Ok(false);
        };
        self.states.clear();
        self.cursor = 0;
        while self.cursor < target {
            self.step()?;
        }
        Ok(true)
    }
}

/// Replays the whole history of `persistence_id` from its journal and compares the state
/// after each snapshot's sequence with that snapshot's recorded state hash. Returns the
/// sequence of the first snapshot that disagrees (the live actor and the replay diverged
/// between the previous snapshot and it), or `None` when every snapshot matches.
///
/// Snapshots are taken from the JSON form of the state, as `PersistentActor` writes them.
///
/// # Errors
/// A journal or snapshot-store failure, or an event that does not decode.
pub async fn find_divergence<A: EventSourcedActor>(
    events: &EventStore,
    snapshots: &dyn SnapshotStore,
    persistence_id: &str,
) -> Result<Option<u64>, SnapshotError> {
    let mut checkpoints = Vec::new();
    for sequence in snapshots.list(persistence_id).await? {
        let loaded = snapshots
            .load(
                persistence_id,
                SnapshotCriteria::at_or_before_sequence(sequence),
            )
            .await?;
        if let Some(s) = loaded.snapshot.filter(|s| s.sequence == sequence) {
            checkpoints.push((s.sequence, crc32fast::hash(&s.state)));
        }
    }
    let mut state = A::State::default();
    let mut applied = 0u64;
    let mut next = 1;
    let mut pending = checkpoints.into_iter().peekable();
    loop {
        let page = events
            .read_stream(persistence_id, next, u64::MAX, 1_000)
            .await?;
        for event in &page {
            let decoded: A::Event = serde_json::from_slice(&event.payload)
                .map_err(|e| SnapshotError::Codec(format!("event {}: {e}", event.sequence)))?;
            A::apply(&mut state, &decoded);
            applied = event.sequence;
            while let Some(&(sequence, hash)) = pending.peek() {
                if sequence > applied {
                    break;
                }
                pending.next();
                let replayed = serde_json::to_vec(&state)
                    .map(|b| crc32fast::hash(&b))
                    .map_err(|e| SnapshotError::Codec(e.to_string()))?;
                if sequence == applied && replayed != hash {
                    return Ok(Some(sequence));
                }
            }
        }
        if page.len() < 1_000 {
            return Ok(None);
        }
        next = applied + 1;
    }
}
