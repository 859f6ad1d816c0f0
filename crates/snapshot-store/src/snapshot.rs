//! `ActorStateSnapshot` and the `SnapshotStore` contract.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::SnapshotError;

/// How the state bytes of a snapshot are encoded (the store does not interpret them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StateCodec {
    /// bincode 2 (serde).
    Bincode,
    /// JSON.
    Json,
    /// Your own encoding.
    Raw,
}

/// A point-in-time copy of an actor's state (the origin design's `ActorStateSnapshot`),
/// taken after the event at `sequence` was applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorStateSnapshot {
    /// The actor's persistence id (its event stream).
    pub actor_id: String,
    /// The actor's type, for tooling.
    pub actor_type: String,
    /// The sequence number of the last event folded into `state`.
    pub sequence: u64,
    /// When it was taken, microseconds since the Unix epoch.
    pub timestamp: u64,
    /// The encoded state.
    pub state: Vec<u8>,
    /// How `state` is encoded.
    pub codec: StateCodec,
    /// CRC32 of `state`, checked on every load.
    pub state_hash: u32,
    /// Free-form metadata.
    pub metadata: BTreeMap<String, String>,
}

impl ActorStateSnapshot {
    /// A snapshot of `state` at `sequence`, stamped now, with its hash computed.
    pub fn new(
        actor_id: impl Into<String>,
        actor_type: impl Into<String>,
        sequence: u64,
        state: Vec<u8>,
        codec: StateCodec,
    ) -> Self {
        let state_hash = crc32fast::hash(&state);
        ActorStateSnapshot {
            actor_id: actor_id.into(),
            actor_type: actor_type.into(),
            sequence,
            timestamp: palisade_event_store::now_micros(),
            state,
            codec,
            state_hash,
            metadata: BTreeMap::new(),
        }
    }

    /// True when `state` still matches `state_hash`.
    pub fn is_intact(&self) -> bool {
        crc32fast::hash(&self.state) == self.state_hash
    }
}

/// Which snapshots a deletion or a load considers (Akka's `SnapshotSelectionCriteria`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotCriteria {
    /// Only snapshots with `sequence <= max_sequence`.
    pub max_sequence: u64,
    /// Only snapshots with `timestamp <= max_timestamp`.
    pub max_timestamp: u64,
    /// Only snapshots with `sequence >= min_sequence`.
    pub min_sequence: u64,
    /// Only snapshots with `timestamp >= min_timestamp`.
    pub min_timestamp: u64,
}

impl SnapshotCriteria {
    /// Every snapshot.
    pub fn latest() -> Self {
        SnapshotCriteria {
            max_sequence: u64::MAX,
            max_timestamp: u64::MAX,
            min_sequence: 0,
            min_timestamp: 0,
        }
    }

    /// Snapshots at or before `sequence`.
    pub fn at_or_before_sequence(sequence: u64) -> Self {
        SnapshotCriteria {
            max_sequence: sequence,
            ..Self::latest()
        }
    }

    /// Snapshots taken at or before `timestamp`.
    pub fn at_or_before_time(timestamp: u64) -> Self {
        SnapshotCriteria {
            max_timestamp: timestamp,
            ..Self::latest()
        }
    }

    /// Whether `snapshot` matches.
    pub fn matches(&self, snapshot: &ActorStateSnapshot) -> bool {
        (self.min_sequence..=self.max_sequence).contains(&snapshot.sequence)
            && (self.min_timestamp..=self.max_timestamp).contains(&snapshot.timestamp)
    }
}

/// Keeps snapshots per actor. Implementations are shared (`Arc<dyn SnapshotStore>`) and
/// safe to call concurrently. Every backend runs the same conformance tests.
///
/// The contract:
/// - `save` at a sequence that already has a snapshot overwrites it.
/// - `load` returns the newest snapshot (highest sequence) matching the criteria whose
///   hash checks out; a corrupt one is skipped (and reported through `tracing` and the
///   returned [`Loaded::skipped`]) and the next older one is used: never silently wrong
///   state.
#[async_trait]
pub trait SnapshotStore: Send + Sync + 'static {
    /// Stores `snapshot`, replacing any snapshot of the same actor at the same sequence.
    ///
    /// # Errors
    /// `Storage`.
    async fn save(&self, snapshot: ActorStateSnapshot) -> Result<(), SnapshotError>;

    /// The newest intact snapshot of `actor_id` matching `criteria`.
    ///
    /// # Errors
    /// `Storage`.
    async fn load(
        &self,
        actor_id: &str,
        criteria: SnapshotCriteria,
    ) -> Result<Loaded, SnapshotError>;

    /// Deletes the snapshot of `actor_id` at `sequence`, if any.
    ///
    /// # Errors
    /// `Storage`.
    async fn delete(&self, actor_id: &str, sequence: u64) -> Result<(), SnapshotError>;

    /// Deletes every snapshot of `actor_id` matching `criteria`; returns how many.
    ///
    /// # Errors
    /// `Storage`.
    async fn delete_matching(
        &self,
        actor_id: &str,
        criteria: SnapshotCriteria,
    ) -> Result<usize, SnapshotError>;

    /// Keeps the newest `n` snapshots of `actor_id`, deletes the rest; returns how many.
    ///
    /// # Errors
    /// `Storage`.
    async fn keep_newest(&self, actor_id: &str, n: usize) -> Result<usize, SnapshotError>;

    /// The sequences of the stored snapshots of `actor_id`, ascending (intact or not).
    ///
    /// # Errors
    /// `Storage`.
    async fn list(&self, actor_id: &str) -> Result<Vec<u64>, SnapshotError>;
}

/// What `load` found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    /// The newest intact matching snapshot, if any.
    pub snapshot: Option<ActorStateSnapshot>,
    /// Sequences of newer matching snapshots that failed their check and were skipped.
    pub skipped: Vec<u64>,
}
