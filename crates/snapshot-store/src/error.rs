//! Errors of the snapshot store and of event-sourced actors.

use palisade_event_store::JournalError;

/// Why a snapshot operation failed.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum SnapshotError {
    /// The storage backend failed.
    #[error("snapshot storage failure: {0}")]
    Storage(String),
    /// The store's directory is held by another open store, in this process or another
    /// (an embedded database allows one at a time). Holds the directory.
    #[error("the snapshot store at {0} is in use by another open store")]
    InUse(String),
    /// A stored snapshot record could not be read (bad format, bad checksum).
    #[error("corrupt snapshot of {actor_id} at {sequence}: {reason}")]
    Corrupt {
        /// The actor.
        actor_id: String,
        /// The snapshot's sequence.
        sequence: u64,
        /// What is wrong.
        reason: String,
    },
    /// The journal failed (during recovery or persistence).
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// State could not be encoded or decoded.
    #[error("state codec: {0}")]
    Codec(String),
}
