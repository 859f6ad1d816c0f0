//! `EventStore`: the handle every higher layer uses. It delegates to a [`Journal`] and
//! tells subscriptions when something new was appended.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::error::JournalError;
use crate::event::{Event, EventType, NewEvent, Timestamp, now_micros};
use crate::journal::{AppendResult, ExpectedVersion, Journal};

/// How many events `apply_retention` reads at a time while looking for its cut point.
const RETENTION_PAGE: usize = 256;

/// A cheap-to-clone handle over a shared [`Journal`].
///
/// Every method delegates to the journal. In addition, each successful append that
/// wrote something (not a deduplicated retry) publishes the highest global position
/// written so far on a `tokio::sync::watch` channel; [`Subscription`](crate::Subscription)s
/// wait on it to go live without polling.
///
/// Appends made directly on the journal, or through a different `EventStore` built over
/// the same journal, do not wake this store's subscriptions: share one `EventStore`
/// (clone it) between writers and readers.
///
/// Clones share the journal and the notification channel; cloning costs two `Arc`
/// increments.
#[derive(Clone)]
pub struct EventStore {
    journal: Arc<dyn Journal>,
    appended: Arc<watch::Sender<u64>>,
}

impl fmt::Debug for EventStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStore")
            .field("published_position", &*self.appended.borrow())
            .finish_non_exhaustive()
    }
}

impl EventStore {
    /// A store over `journal`. Nothing is read; the published position starts at 0.
    pub fn new(journal: Arc<dyn Journal>) -> Self {
        let (appended, _) = watch::channel(0);
        EventStore {
            journal,
            appended: Arc::new(appended),
        }
    }

    /// The journal this store delegates to.
    pub fn journal(&self) -> &Arc<dyn Journal> {
        &self.journal
    }

    /// The highest global position appended through this store (0 before the first
    /// append). Events appended before the store was built are not counted.
    pub fn published_position(&self) -> u64 {
        *self.appended.borrow()
    }

    /// A receiver of the published position, marked as having seen the current value.
    pub(crate) fn notifications(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }

    /// Appends `events` to `stream` (see [`Journal::append`]) and, when something was
    /// written, wakes the subscriptions.
    ///
    /// # Errors
    /// Those of [`Journal::append`]: `SequenceConflict`, `InvalidAppend`, `Storage`,
    /// `Closed`. Nothing is published on error.
    ///
    /// # Cost
    /// The journal's append plus one uncontended watch update (it wakes every waiting
    /// subscription).
    pub async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, JournalError> {
        let result = self.journal.append(stream, expected, events).await?;
        if !result.deduplicated {
            let last =
                result.first_position + result.last_sequence.saturating_sub(result.first_sequence);
            // Concurrent appends may finish out of order: only ever move forward.
            self.appended.send_if_modified(|published| {
                let advanced = last > *published;
                if advanced {
                    *published = last;
                }
                advanced
            });
        }
        Ok(result)
    }

    /// See [`Journal::read_stream`].
    ///
    /// # Errors
    /// `Corrupt`, `Storage`, `Closed`.
    pub async fn read_stream(
        &self,
        stream: &str,
        from: u64,
        to: u64,
        max: usize,
    ) -> Result<Vec<Event>, JournalError> {
        self.journal.read_stream(stream, from, to, max).await
    }

    /// See [`Journal::highest_sequence`].
    ///
    /// # Errors
    /// `Storage`, `Closed`.
    pub async fn highest_sequence(&self, stream: &str) -> Result<u64, JournalError> {
        self.journal.highest_sequence(stream).await
    }

    /// See [`Journal::read_all`].
    ///
    /// # Errors
    /// `Corrupt`, `Storage`, `Closed`.
    pub async fn read_all(
        &self,
        from_position: u64,
        max: usize,
    ) -> Result<Vec<Event>, JournalError> {
        self.journal.read_all(from_position, max).await
    }

    /// See [`Journal::read_correlation`].
    ///
    /// # Errors
    /// `Corrupt`, `Storage`, `Closed`.
    pub async fn read_correlation(
        &self,
        correlation_id: &str,
        from_position: u64,
        max: usize,
    ) -> Result<Vec<Event>, JournalError> {
        self.journal
            .read_correlation(correlation_id, from_position, max)
            .await
    }

    /// See [`Journal::read_time_range`].
    ///
    /// # Errors
    /// `Corrupt`, `Storage`, `Closed`.
    pub async fn read_time_range(
        &self,
        from: Timestamp,
        to: Timestamp,
        from_position: u64,
        max: usize,
    ) -> Result<Vec<Event>, JournalError> {
        self.journal
            .read_time_range(from, to, from_position, max)
            .await
    }

    /// See [`Journal::read_event_type`].
    ///
    /// # Errors
    /// `Corrupt`, `Storage`, `Closed`.
    pub async fn read_event_type(
        &self,
        event_type: &EventType,
        from_position: u64,
        max: usize,
    ) -> Result<Vec<Event>, JournalError> {
        self.journal
            .read_event_type(event_type, from_position, max)
            .await
    }

    /// See [`Journal::delete_to`].
    ///
    /// # Errors
    /// `Storage`, `Closed`.
    pub async fn delete_to(&self, stream: &str, sequence: u64) -> Result<(), JournalError> {
        self.journal.delete_to(stream, sequence).await
    }

    /// Deletes the oldest events of `stream` that `policy` no longer keeps, with one
    /// [`Journal::delete_to`]. Returns the sequence number deleted up to, or `None`
    /// when nothing had to go.
    ///
    /// - `max_count: Some(n)` keeps the newest `n` sequence numbers (events already
    ///   deleted count as gone, not as kept).
    /// - `max_age: Some(age)` deletes the leading run of events whose timestamp is older
    ///   than now − `age` (wall clock, [`now_micros`]). Deletion is a prefix: it stops at
    ///   the first event young enough, even if an older timestamp follows it.
    /// - Both: whichever deletes more.
    ///
    /// # Errors
    /// Those of the reads and of `delete_to`: `Corrupt`, `Storage`, `Closed`.
    ///
    /// # Cost
    /// `max_count` alone: one `highest_sequence`, a read of one event and one
    /// `delete_to`. `max_age` also reads the stream from its first surviving event, a
    /// page of 256 at a time, up to the first young-enough event.
    pub async fn apply_retention(
        &self,
        stream: &str,
        policy: RetentionPolicy,
    ) -> Result<Option<u64>, JournalError> {
        let highest = self.journal.highest_sequence(stream).await?;
        let mut cut = policy
            .max_count
            .map_or(0, |keep| highest.saturating_sub(keep));
        if let Some(age) = policy.max_age {
            let age_micros = u64::try_from(age.as_micros()).unwrap_or(u64::MAX);
            let threshold = now_micros().saturating_sub(age_micros);
            cut = cut.max(self.last_older_than(stream, threshold, highest).await?);
        }
        if cut == 0 {
            return Ok(None);
        }
        // Nothing to do when every event up to the cut is already gone.
        if self
            .journal
            .read_stream(stream, 0, cut, 1)
            .await?
            .is_empty()
        {
            return Ok(None);
        }
        self.journal.delete_to(stream, cut).await?;
        Ok(Some(cut))
    }

    /// The sequence number of the last event in the leading run of events of `stream`
    /// with a timestamp before `threshold` (0 when the first event is young enough).
    async fn last_older_than(
        &self,
        stream: &str,
        threshold: Timestamp,
        highest: u64,
    ) -> Result<u64, JournalError> {
        let mut cut = 0;
        let mut from = 1;
        while from <= highest {
            let page = self
                .journal
                .read_stream(stream, from, highest, RETENTION_PAGE)
                .await?;
            for event in &page {
                if event.timestamp >= threshold {
                    return Ok(cut);
                }
                cut = event.sequence;
            }
            match page.last() {
                Some(last) if page.len() == RETENTION_PAGE => from = last.sequence + 1,
                _ => break,
            }
        }
        Ok(cut)
    }
}

/// What [`EventStore::apply_retention`] keeps of a stream. The default keeps everything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    /// Delete events older than this (by their recorded timestamp).
    pub max_age: Option<Duration>,
    /// Keep at most the newest this many events.
    pub max_count: Option<u64>,
}

impl RetentionPolicy {
    /// Keeps events younger than `age`.
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    /// Keeps the newest `count` events.
    pub fn max_count(mut self, count: u64) -> Self {
        self.max_count = Some(count);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::InMemoryJournal;

    fn store() -> EventStore {
        EventStore::new(Arc::new(InMemoryJournal::new()))
    }

    fn ev(id: &str) -> NewEvent {
        NewEvent::new(id, EventType::StateChanged, Vec::new())
    }

    async fn sequences(store: &EventStore, stream: &str) -> Vec<u64> {
        store
            .read_stream(stream, 0, u64::MAX, 1000)
            .await
            .expect("read")
            .iter()
            .map(|e| e.sequence)
            .collect()
    }

    #[tokio::test]
    async fn append_publishes_the_highest_position_written() {
        let store = store();
        assert_eq!(store.published_position(), 0);
        store
            .append("a", ExpectedVersion::Any, vec![ev("a1"), ev("a2")])
            .await
            .expect("append");
        assert_eq!(store.published_position(), 2);
        store
            .append("b", ExpectedVersion::Any, vec![ev("b1")])
            .await
            .expect("append");
        assert_eq!(store.published_position(), 3);
    }

    #[tokio::test]
    async fn deduplicated_and_failed_appends_publish_nothing() {
        let store = store();
        store
            .append("a", ExpectedVersion::Any, vec![ev("a1")])
            .await
            .expect("append");
        let mut rx = store.notifications();
        let again = store
            .append("a", ExpectedVersion::Any, vec![ev("a1")])
            .await
            .expect("retry");
        assert!(again.deduplicated);
        store
            .append("a", ExpectedVersion::NoStream, vec![ev("a2")])
            .await
            .expect_err("conflict");
        assert!(!rx.has_changed().expect("open"));
        assert_eq!(*rx.borrow_and_update(), 1);
    }

    #[tokio::test]
    async fn retention_by_count_keeps_the_newest() {
        let store = store();
        let events = (1..=10).map(|i| ev(&format!("e{i}"))).collect();
        store
            .append("s", ExpectedVersion::Any, events)
            .await
            .expect("append");
        let policy = RetentionPolicy::default().max_count(3);
        assert_eq!(
            store.apply_retention("s", policy).await.expect("retention"),
            Some(7)
        );
        assert_eq!(sequences(&store, "s").await, [8, 9, 10]);
        // Already within the policy: nothing more goes.
        assert_eq!(
            store.apply_retention("s", policy).await.expect("retention"),
            None
        );
        assert_eq!(sequences(&store, "s").await, [8, 9, 10]);
        let keep_all = RetentionPolicy::default().max_count(100);
        assert_eq!(
            store
                .apply_retention("s", keep_all)
                .await
                .expect("retention"),
            None
        );
    }

    #[tokio::test]
    async fn retention_by_age_deletes_the_leading_old_events() {
        let store = store();
        let hour = 3_600_000_000;
        let now = now_micros();
        // Pages of 256 are read: 300 old events make the cut point cross a page.
        let mut events: Vec<NewEvent> = (1..=300)
            .map(|i| ev(&format!("old-{i}")).at(now - 3 * hour))
            .collect();
        events.push(ev("young-1").at(now));
        // Old again, but after a young one: deletion is a prefix, so it stays.
        events.push(ev("old-late").at(now - 3 * hour));
        store
            .append("s", ExpectedVersion::Any, events)
            .await
            .expect("append");
        let policy = RetentionPolicy::default().max_age(Duration::from_secs(3600));
        assert_eq!(
            store.apply_retention("s", policy).await.expect("retention"),
            Some(300)
        );
        assert_eq!(sequences(&store, "s").await, [301, 302]);
    }

    #[tokio::test]
    async fn retention_with_both_limits_deletes_what_either_requires() {
        let store = store();
        let hour = 3_600_000_000;
        let now = now_micros();
        let events = (1..=6)
            .map(|i| ev(&format!("e{i}")).at(if i <= 2 { now - 2 * hour } else { now }))
            .collect();
        store
            .append("s", ExpectedVersion::Any, events)
            .await
            .expect("append");
        let by_age = RetentionPolicy::default()
            .max_age(Duration::from_secs(3600))
            .max_count(5);
        assert_eq!(
            store.apply_retention("s", by_age).await.expect("retention"),
            Some(2)
        );
        let by_count = by_age.max_count(1);
        assert_eq!(
            store
                .apply_retention("s", by_count)
                .await
                .expect("retention"),
            Some(5)
        );
        assert_eq!(sequences(&store, "s").await, [6]);
    }

    #[tokio::test]
    async fn retention_of_an_unknown_stream_deletes_nothing() {
        let policy = RetentionPolicy::default()
            .max_count(1)
            .max_age(Duration::from_secs(1));
        assert_eq!(
            store().apply_retention("none", policy).await.expect("ok"),
            None
        );
    }
}
