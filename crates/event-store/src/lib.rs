//! # palisade-event-store
//!
//! Layer 3 of Palisade: events and the journal that keeps them. The [`Journal`] trait is
//! the storage contract (async, so that a PostgreSQL backend fits without changing the
//! API); [`InMemoryJournal`] implements it for tests, and the embedded sled backend is
//! the default for real use.
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

pub use error::{EventError, JournalError};
pub use event::{Event, EventType, NewEvent, Timestamp, now_micros};
pub use journal::{AppendResult, ExpectedVersion, Journal};
pub use memory::InMemoryJournal;
