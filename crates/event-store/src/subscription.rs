//! Subscriptions: catch up on what the journal holds, then follow new appends live,
//! with no gap and no duplicate across the switch.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use tokio::sync::watch;

use crate::error::JournalError;
use crate::event::Event;
use crate::journal::Journal;
use crate::store::EventStore;

/// Events a subscription reads from the journal at a time, unless told otherwise.
pub const DEFAULT_PAGE_SIZE: usize = 256;

/// What a subscription follows and where it resumes.
#[derive(Clone, Debug)]
enum Target {
    /// Every stream, from this global position (inclusive).
    All { next_position: u64 },
    /// One stream, from this sequence number (inclusive).
    Stream { name: String, next_sequence: u64 },
}

/// A pull-based subscription made by [`EventStore::subscribe_all`] or
/// [`EventStore::subscribe_stream`].
///
/// It first delivers what the journal already holds (catch-up), then waits for new
/// appends made through the store (live). Each event is delivered once, in order
/// (global position for `subscribe_all`, sequence number for `subscribe_stream`): the
/// subscription remembers the last one it delivered and always reads after it.
///
/// Backpressure is built in: the subscription holds at most one page (`page_size`
/// events, 256 by default) and reads the next page only when the consumer has taken
/// the whole of the previous one. A slow consumer slows its subscription and nothing
/// else.
///
/// Live delivery relies on the store's notification: events appended directly on the
/// journal are only seen at the next read another append triggers.
pub struct Subscription {
    journal: Arc<dyn Journal>,
    notifications: watch::Receiver<u64>,
    target: Target,
    buffer: VecDeque<Event>,
    page_size: usize,
    reached_end: bool,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("target", &self.target)
            .field("buffered", &self.buffer.len())
            .field("page_size", &self.page_size)
            .field("live", &self.is_live())
            .finish_non_exhaustive()
    }
}

impl EventStore {
    /// A subscription to every stream, starting at global position `from_position`
    /// (inclusive; 0 or 1 = from the beginning).
    ///
    /// Cost: nothing is read until the first [`Subscription::next`].
    pub fn subscribe_all(&self, from_position: u64) -> Subscription {
        self.subscription(Target::All {
            next_position: from_position,
        })
    }

    /// A subscription to `stream`, starting at sequence number `from_sequence`
    /// (inclusive; 0 or 1 = from the beginning). Other streams' events are never read.
    ///
    /// Cost: nothing is read until the first [`Subscription::next`].
    pub fn subscribe_stream(&self, stream: impl Into<String>, from_sequence: u64) -> Subscription {
        self.subscription(Target::Stream {
            name: stream.into(),
            next_sequence: from_sequence,
        })
    }

    fn subscription(&self, target: Target) -> Subscription {
        Subscription {
            journal: Arc::clone(self.journal()),
            // Taken before any read, so no append after it can go unnoticed.
            notifications: self.notifications(),
            target,
            buffer: VecDeque::new(),
            page_size: DEFAULT_PAGE_SIZE,
            reached_end: false,
        }
    }
}

impl Subscription {
    /// Sets how many events are read from the journal at a time (and so the most the
    /// subscription ever holds). 0 is taken as 1.
    pub fn page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size.max(1);
        self
    }

    /// The next event, waiting for one to be appended if the subscription is caught up.
    ///
    /// Cancel-safe: dropping the future (in a `select!`, on a timeout) loses no event.
    ///
    /// # Errors
    /// The journal's read errors (`Corrupt`, `Storage`, `Closed`); the subscription can be
    /// retried afterwards and resumes where it was. `Closed` also when every
    /// [`EventStore`] handle was dropped while the subscription was caught up: no append
    /// can wake it any more.
    ///
    /// # Cost
    /// A pop from the buffer; one journal read per `page_size` events; when caught up,
    /// one read per wake-up (every append through the store wakes every subscription).
    pub async fn next(&mut self) -> Result<Event, JournalError> {
        loop {
            if let Some(event) = self.try_next().await? {
                return Ok(event);
            }
            // `try_next` marked the notification seen before it read: any append that
            // completed after the read has changed it since.
            if self.notifications.changed().await.is_err() {
                return Err(JournalError::Closed);
            }
        }
    }

    /// The next event if one is buffered or in the journal now; `None` when caught up.
    /// Never waits for an append.
    ///
    /// # Errors
    /// The journal's read errors (`Corrupt`, `Storage`, `Closed`).
    ///
    /// # Cost
    /// A pop from the buffer, or one journal read of at most `page_size` events.
    pub async fn try_next(&mut self) -> Result<Option<Event>, JournalError> {
        if self.buffer.is_empty() {
            self.notifications.borrow_and_update();
            self.read_page().await?;
        }
        Ok(self.pop())
    }

    /// Whether the subscription has caught up: its buffer is empty and its last read
    /// found the end of what the journal held then. A slow consumer may fall behind
    /// again; this turns false at the next read that fills a whole page.
    pub fn is_live(&self) -> bool {
        self.reached_end && self.buffer.is_empty()
    }

    /// How many events are read and not yet delivered (never more than `page_size`).
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Where to resume after the last delivered event: pass it to `subscribe_all` (a
    /// global position) or `subscribe_stream` (a sequence number) of a new subscription.
    pub fn resume_from(&self) -> u64 {
        match &self.target {
            Target::All { next_position } => *next_position,
            Target::Stream { next_sequence, .. } => *next_sequence,
        }
    }

    fn pop(&mut self) -> Option<Event> {
        let event = self.buffer.pop_front()?;
        match &mut self.target {
            Target::All { next_position } => *next_position = event.position.saturating_add(1),
            Target::Stream { next_sequence, .. } => {
                *next_sequence = event.sequence.saturating_add(1);
            }
        }
        Some(event)
    }

    /// Reads the page after the last delivered event into the (empty) buffer.
    async fn read_page(&mut self) -> Result<(), JournalError> {
        let page = match &self.target {
            Target::All { next_position } => {
                self.journal
                    .read_all(*next_position, self.page_size)
                    .await?
            }
            Target::Stream {
                name,
                next_sequence,
            } => {
                self.journal
                    .read_stream(name, *next_sequence, u64::MAX, self.page_size)
                    .await?
            }
        };
        self.reached_end = page.len() < self.page_size;
        self.buffer.extend(page);
        Ok(())
    }
}
