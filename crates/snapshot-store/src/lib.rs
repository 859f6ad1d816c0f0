//! # palisade-snapshot-store
//!
//! Layer 4 of Palisade: snapshots of actor state, event-sourced actors that recover from
//! them, and isolated replay.
//!
//! - [`ActorStateSnapshot`] (actor id, type, sequence, timestamp, state bytes, codec,
//!   state hash, metadata) in a [`SnapshotStore`]: [`SledSnapshotStore`] (embedded) or
//!   [`InMemorySnapshotStore`]. Saving at the same sequence overwrites; loading picks the
//!   newest snapshot matching [`SnapshotCriteria`] (by sequence and time) whose hash
//!   checks out: a corrupt one is skipped, reported, and the next older one is used,
//!   never silently wrong state. Deletion by sequence, by criteria, or keeping the
//!   newest N.
//! - [`EventSourcedActor`]: commands produce events ([`Effect`]), `apply` folds them into
//!   state. [`PersistentActor`] runs one on actor-core: it recovers in `pre_start` (the
//!   newest valid snapshot, then the journal after it), appends each command's events
//!   atomically with an exact expected version, applies them only once they are stored,
//!   replies after that, and snapshots every N events. A failed append fails the actor,
//!   so its state cannot diverge from the journal; under a supervisor it restarts with
//!   backoff and recovers, losing no acknowledged event.
//! - [`ReplayController`]: rebuilds the states of the actors of one scenario (a
//!   correlation) in isolation (only `apply` runs, so no message leaves the replay), step
//!   by step or in real time times a factor, with checkpoints to return to;
//!   [`find_divergence`] replays a stream and names the first snapshot whose recorded
//!   state the replay does not reproduce.
//!
//! Events and states are stored as JSON by `PersistentActor` (readable, and tolerant of
//! added fields); the snapshot record itself is bincode with a format version and a CRC.

#![forbid(unsafe_code)]

mod error;
mod memory;
mod persistent;
pub mod record;
mod replay_controller;
mod sled_store;
mod snapshot;

pub use error::SnapshotError;
pub use memory::InMemorySnapshotStore;
pub use persistent::{Control, Effect, EventSourcedActor, Persistence, PersistentActor, Recovery};
pub use replay_controller::{ReplayController, ScenarioReplay, ScenarioSpeed, find_divergence};
pub use sled_store::SledSnapshotStore;
pub use snapshot::{ActorStateSnapshot, Loaded, SnapshotCriteria, SnapshotStore, StateCodec};
