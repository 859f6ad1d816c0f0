//! # palisade-event-store
//!
//! Layer 3 of Palisade: events and the journal that keeps them.
//!
//! - [`Journal`] is the storage contract (async, object-safe, so that a PostgreSQL
//!   backend fits without changing the API): atomic batches, expected-version checks,
//!   idempotent re-appends by event id, reads by stream range, global position,
//!   correlation, time and type (all pageable by position), and `delete_to` that keeps
//!   the highest sequence number. Every backend runs the same conformance suite.
//! - [`SledJournal`] is the embedded default (no service needed); [`InMemoryJournal`]
//!   serves tests.
//! - Every stored record (see [`record`]) carries a magic number, a format version, a
//!   codec tag (bincode 2 or JSON, switchable per record), a compression flag (zstd above
//!   a size threshold) and a CRC32; a bad record is a typed `Corrupt` error naming its
//!   stream and sequence, never a garbage event.
//! - [`EventStore`] wraps a journal for the layers above: it wakes [`Subscription`]s
//!   (catch-up from a position, then live; no gap and no duplicate across the switch;
//!   a bounded page buffer, so a slow reader applies backpressure) and drives
//!   [`Replay`] (a stream, a correlation or everything; as fast as possible or real time
//!   times a factor; filters; progress reports; into a callback or, with the `actors`
//!   feature, into an actor) and retention.
//! - [`SledJournal`] keeps the most recent events (`max_memory_events`, 1,024 by
//!   default) in a hot in-memory tail: stream reads inside it skip sled and the blocking
//!   pool (subscribers catching up, recovery after a recent snapshot).
//!
//! ## Feature flags
//! - `actors`: `Replay::run_into`, replay into a `palisade-actor-core` actor.
//!
//! ## Durability
//! | mode | an append is acknowledged | a crash can lose |
//! |---|---|---|
//! | [`Durability::Buffered`] | after the write, before fsync | acknowledged appends of the last `flush_every_ms` (500 ms by default) plus 1 ms; a batch is kept or lost whole |
//! | [`Durability::Durable`] (default for `open`) | after fsync; concurrent appenders share one fsync (group commit) | nothing acknowledged |
//!
//! ```
//! use palisade_event_store::{EventType, ExpectedVersion, InMemoryJournal, Journal, NewEvent};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let journal = InMemoryJournal::new();
//! let deposit = NewEvent::new("evt-1", EventType::Custom("deposited".into()), b"100".to_vec());
//! let written = journal.append("account-7", ExpectedVersion::NoStream, vec![deposit.clone()]).await?;
//! assert_eq!(written.last_sequence, 1);
//! // Retrying the same append is harmless: the id is already stored.
//! let again = journal.append("account-7", ExpectedVersion::NoStream, vec![deposit]).await?;
//! assert!(again.deduplicated);
//! let events = journal.read_stream("account-7", 1, u64::MAX, 100).await?;
//! assert_eq!(events[0].payload, b"100");
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod error;
mod event;
mod journal;
mod memory;
pub mod record;
mod replay;
pub mod sled_journal;
pub mod sled_sync;
mod store;
mod subscription;

pub use error::{EventError, JournalError};
pub use event::{Event, EventType, NewEvent, Timestamp, now_micros};
pub use journal::{AppendResult, ExpectedVersion, Journal};
pub use memory::InMemoryJournal;
pub use record::{Codec, RecordCodec, RecordError};
pub use replay::{Replay, ReplayError, ReplayProgress, ReplaySource, ReplaySpeed};
pub use sled_journal::{Durability, SledConfig, SledJournal};
pub use sled_sync::SledFileSync;
pub use store::{EventStore, RetentionPolicy};
pub use subscription::{DEFAULT_PAGE_SIZE, Subscription};
