//! The `Journal` trait: the storage contract every backend (in memory, sled, and later
//! PostgreSQL) implements, and the conformance rules it must meet.

use async_trait::async_trait;

use crate::error::JournalError;
use crate::event::{Event, EventType, NewEvent, Timestamp};

/// What the caller believes the stream's version to be when appending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// No check.
    Any,
    /// The stream must have no events yet (its highest sequence is 0).
    NoStream,
    /// The stream's highest sequence number must be exactly this.
    Exact(u64),
}

impl ExpectedVersion {
    /// Whether a stream at `highest` satisfies the expectation.
    pub fn admits(self, highest: u64) -> bool {
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => highest == 0,
            ExpectedVersion::Exact(n) => highest == n,
        }
    }

    pub(crate) fn describe(self) -> String {
        match self {
            ExpectedVersion::Any => "any".to_owned(),
            ExpectedVersion::NoStream => "no stream".to_owned(),
            ExpectedVersion::Exact(n) => n.to_string(),
        }
    }
}

/// What an append wrote (or, for a repeated append of stored ids, had written).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendResult {
    /// Sequence number of the first event of the batch.
    pub first_sequence: u64,
    /// Sequence number of the last event (the stream's version after the append).
    pub last_sequence: u64,
    /// Global position of the first event.
    pub first_position: u64,
    /// True when every id was already stored: nothing was written.
    pub deduplicated: bool,
}

/// A journal of event streams. Implementations are shared (`Arc<dyn Journal>`) and
/// safe to call concurrently.
///
/// The contract, checked by the conformance tests every backend runs
/// (`tests/conformance.rs`):
/// - Sequence numbers start at 1 per stream and have no gaps. A batch is atomic: all of
///   it is stored, or none.
/// - `expected` is checked atomically with the write; a mismatch is `SequenceConflict`
///   and writes nothing.
/// - Appending a batch whose event ids are all already stored (in that stream) returns
///   the original `AppendResult` with `deduplicated: true` and writes nothing. A batch
///   mixing stored and new ids is `InvalidAppend`. A backend may bound how far back it
///   recognises a retry that expects `Any` (`SledJournal` remembers the newest
///   `dedup_window` ids); a retry expecting `Exact(n)` or `NoStream` whose ids are the
///   stored events right after that version is always recognised.
/// - Global positions increase in append order.
/// - `delete_to` removes events up to a sequence number; the stream's highest sequence
///   number survives, so later appends continue after it.
/// - A record that fails its checksum or decoding is an error (`Corrupt`), never an
///   event.
#[async_trait]
pub trait Journal: Send + Sync + 'static {
    /// Appends `events` to `stream` if its version satisfies `expected`.
    ///
    /// # Errors
    /// `SequenceConflict`, `InvalidAppend` (no events, an empty id, a repeated id, stored
    /// and new ids mixed), `Storage`, `Closed`.
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, JournalError>;

    /// Events of `stream` with `from <= sequence <= to`, in order, at most `max`.
    ///
    /// # Errors
    /// `Corrupt`, `Storage`, `Closed`.
    async fn read_stream(
        &self,
        stream: &str,
        from: u64,
        to: u64,
        max: usize,
    ) -> Result<Vec<Event>, JournalError>;

    /// The stream's highest sequence number, 0 for an unknown stream (deleted events
    /// still count).
    ///
    /// # Errors
    /// `Storage`, `Closed`.
    async fn highest_sequence(&self, stream: &str) -> Result<u64, JournalError>;

    /// Events of every stream with `position >= from_position`, in position order, at
    /// most `max`.
    ///
    /// # Errors
    /// `Corrupt`, `Storage`, `Closed`.
    async fn read_all(&self, from_position: u64, max: usize) -> Result<Vec<Event>, JournalError>;

    /// The highest global position handed out so far, 0 for an empty journal.
    ///
    /// # Errors
    /// `Storage`, `Closed`.
    async fn highest_position(&self) -> Result<u64, JournalError>;

    /// Events carrying `correlation_id` with `position >= from_position`, in position
    /// order, at most `max` (page by passing the last position + 1).
    ///
    /// # Errors
    /// `Corrupt`, `Storage`, `Closed`.
    async fn read_correlation(
        &self,
        correlation_id: &str,
        from_position: u64,
        max: usize,
    ) -> Result<Vec<Event>, JournalError>;

    /// Events with `from <= timestamp <= to` (microseconds) and `position >=
    /// from_position`, in position order, at most `max`.
    ///
    /// # Errors
    /// `Corrupt`, `Storage`, `Closed`.
    async fn read_time_range(
        &self,
        from: Timestamp,
        to: Timestamp,
        from_position: u64,
        max: usize,
    ) -> Result<Vec<Event>, JournalError>;

    /// Events of `event_type` with `position >= from_position`, in position order, at
    /// most `max`.
    ///
    /// # Errors
    /// `Corrupt`, `Storage`, `Closed`.
    async fn read_event_type(
        &self,
        event_type: &EventType,
        from_position: u64,
        max: usize,
    ) -> Result<Vec<Event>, JournalError>;

    /// Removes the events of `stream` up to and including `sequence` (capped at the
    /// highest). The highest sequence number survives.
    ///
    /// # Errors
    /// `Storage`, `Closed`.
    async fn delete_to(&self, stream: &str, sequence: u64) -> Result<(), JournalError>;
}

/// Checks a batch before any backend writes it: not empty, no empty id, no id twice.
pub(crate) fn validate_batch(events: &[NewEvent]) -> Result<(), JournalError> {
    if events.is_empty() {
        return Err(JournalError::InvalidAppend("no events"));
    }
    if let [one] = events {
        return if one.id.is_empty() {
            Err(JournalError::InvalidAppend("an event id is empty"))
        } else {
            Ok(())
        };
    }
    let mut ids = std::collections::HashSet::with_capacity(events.len());
    for e in events {
        if e.id.is_empty() {
            return Err(JournalError::InvalidAppend("an event id is empty"));
        }
        if !ids.insert(e.id.as_str()) {
            return Err(JournalError::InvalidAppend(
                "the same event id appears twice",
            ));
        }
    }
    Ok(())
}

/// The answer to a batch some of whose ids are stored already (`stored` yields their
/// stream, sequence and position). `None` when none are: the batch is new. When all are,
/// and in `stream`, the batch is a retry and gets the original placement with
/// `deduplicated` set; nothing is written again.
///
/// # Errors
/// `InvalidAppend` when the batch mixes stored and new ids, or names ids stored in
/// another stream.
pub(crate) fn deduplicated_append<'a>(
    stream: &str,
    batch_len: usize,
    stored: impl IntoIterator<Item = (&'a str, u64, u64)>,
) -> Result<Option<AppendResult>, JournalError> {
    let mixed = || JournalError::InvalidAppend("stored and new event ids are mixed");
    let mut count = 0;
    let mut first: Option<(u64, u64)> = None;
    let mut last_sequence = 0;
    for (s, sequence, position) in stored {
        if s != stream {
            return Err(mixed());
        }
        count += 1;
        first = Some(first.map_or((sequence, position), |f| f.min((sequence, position))));
        last_sequence = last_sequence.max(sequence);
    }
    let Some((first_sequence, first_position)) = first else {
        return Ok(None);
    };
    if count != batch_len {
        return Err(mixed());
    }
    Ok(Some(AppendResult {
        first_sequence,
        last_sequence,
        first_position,
        deduplicated: true,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_of_stored_ids_gets_its_original_placement() {
        let stored = [("s", 4, 11), ("s", 3, 10)];
        let retry = deduplicated_append("s", 2, stored).expect("retry");
        let r = retry.expect("all stored");
        assert_eq!(
            (r.first_sequence, r.last_sequence, r.first_position),
            (3, 4, 10)
        );
        assert!(r.deduplicated);
        assert!(matches!(deduplicated_append("s", 2, []), Ok(None)));
    }

    #[test]
    fn mixed_or_foreign_ids_are_refused() {
        assert!(matches!(
            deduplicated_append("s", 2, [("s", 1, 1)]),
            Err(JournalError::InvalidAppend(_))
        ));
        assert!(matches!(
            deduplicated_append("s", 1, [("other", 1, 1)]),
            Err(JournalError::InvalidAppend(_))
        ));
    }
}
