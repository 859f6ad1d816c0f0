//! Errors of the event store.

/// Errors about a single event's encoding.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum EventError {
    /// The JSON form is malformed.
    #[error("invalid event JSON: {0}")]
    Json(String),
}

/// Why a journal operation failed.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum JournalError {
    /// The stream's version was not the expected one; nothing was written.
    #[error("sequence conflict on {stream}: expected {expected}, actual {actual}")]
    SequenceConflict {
        /// The stream.
        stream: String,
        /// What the caller expected.
        expected: String,
        /// The stream's highest sequence number.
        actual: u64,
    },
    /// An append carried no events, or an event with an empty id, or the same id twice.
    #[error("invalid append: {0}")]
    InvalidAppend(&'static str),
    /// A stored record failed its checksum or could not be decoded: it is reported,
    /// never returned as an event.
    #[error("corrupt record in {stream} at sequence {sequence}: {reason}")]
    Corrupt {
        /// The stream.
        stream: String,
        /// The record's sequence number (0 when unknown).
        sequence: u64,
        /// What is wrong.
        reason: String,
    },
    /// The journal's directory is held by another open journal, in this process or
    /// another (an embedded database allows one at a time). Holds the directory.
    #[error("the journal at {0} is in use by another open journal")]
    InUse(String),
    /// The storage backend failed (I/O, the database).
    #[error("storage failure: {0}")]
    Storage(String),
    /// The journal was closed.
    #[error("the journal is closed")]
    Closed,
}
