//! Replay: read a stream, a correlated flow or the whole journal back, in order, at full
//! speed or at (a multiple of) the pace it was recorded, into a handler.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::JournalError;
use crate::event::Event;
use crate::store::EventStore;
use crate::subscription::DEFAULT_PAGE_SIZE;

/// Which events a [`Replay`] reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplaySource {
    /// One stream, in sequence order, up to its highest sequence number when the replay
    /// starts.
    Stream(String),
    /// Every event carrying this correlation id, across streams, in global order.
    /// Read by paging through the whole journal (see [`Replay::run`]'s cost).
    Correlation(String),
    /// Every event of the journal, in global order.
    All,
}

/// How fast a [`Replay`] delivers events.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum ReplaySpeed {
    /// No waiting between events.
    #[default]
    AsFastAsPossible,
    /// Keeps the recorded gaps between event timestamps, divided by `factor`: 1.0 is the
    /// original pace, 10.0 ten times faster. Waits use `tokio::time`, so tests with
    /// paused time run instantly.
    RealTime {
        /// Speed-up factor; must be finite and greater than zero.
        factor: f64,
    },
}

/// Progress of a replay, given to the [`Replay::on_progress`] callback and returned by
/// `run` when it finishes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReplayProgress {
    /// Events delivered to the handler so far.
    pub done: u64,
    /// How many events the replay will deliver, when known without reading them: for a
    /// `Stream` source without a filter.
    pub total: Option<u64>,
    /// `done` per second of (tokio) time since the replay started; 0.0 until time has
    /// passed.
    pub rate_per_sec: f64,
    /// Global position of the last delivered event.
    pub last_position: Option<u64>,
}

/// Why a replay stopped before the end.
#[derive(thiserror::Error, Debug)]
pub enum ReplayError<E> {
    /// Reading the journal failed.
    #[error("replay read failed: {0}")]
    Journal(#[from] JournalError),
    /// The handler returned an error; the events after that one were not delivered.
    #[error("replay handler failed at position {position}: {error}")]
    Handler {
        /// Global position of the event the handler failed on.
        position: u64,
        /// The handler's error.
        #[source]
        error: E,
    },
    /// The `RealTime` factor is not finite and positive.
    #[error("invalid replay speed factor {factor}: it must be finite and greater than zero")]
    InvalidSpeed {
        /// The factor given.
        factor: f64,
    },
}

type Filter = Box<dyn Fn(&Event) -> bool + Send + Sync>;
type ProgressCallback = Box<dyn Fn(&ReplayProgress) + Send + Sync>;

/// A replay of stored events into a handler, built step by step:
///
/// ```
/// use std::sync::Arc;
/// use palisade_event_store::{
///     EventStore, EventType, ExpectedVersion, InMemoryJournal, NewEvent, Replay, ReplaySource,
/// };
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = EventStore::new(Arc::new(InMemoryJournal::new()));
/// let deposit = |id: &str| NewEvent::new(id, EventType::Custom("deposited".into()), b"10".to_vec());
/// store.append("account-7", ExpectedVersion::Any, vec![deposit("d-1"), deposit("d-2")]).await?;
///
/// let mut balance = 0;
/// let finished = Replay::new(&store, ReplaySource::Stream("account-7".into()))
///     .run(|_event| {
///         balance += 10;
///         Ok::<(), std::convert::Infallible>(())
///     })
///     .await?;
/// assert_eq!((finished.done, balance), (2, 20));
/// # Ok(())
/// # }
/// ```
///
/// The handler is a closure (`run`, `run_async`); replaying into an actor's mailbox is a
/// later addition (wrap the actor's `send` in `run_async` meanwhile).
///
/// Memory is bounded: events are read a page at a time (256 by default, see
/// [`Replay::page_size`]).
pub struct Replay {
    store: EventStore,
    source: ReplaySource,
    filter: Option<Filter>,
    speed: ReplaySpeed,
    page_size: usize,
    progress_every: Option<u64>,
    progress_interval: Option<Duration>,
    on_progress: Option<ProgressCallback>,
}

impl fmt::Debug for Replay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replay")
            .field("source", &self.source)
            .field("filtered", &self.filter.is_some())
            .field("speed", &self.speed)
            .field("page_size", &self.page_size)
            .field("progress_every", &self.progress_every)
            .field("progress_interval", &self.progress_interval)
            .finish_non_exhaustive()
    }
}

impl Replay {
    /// A replay of `source` from `store`, as fast as possible, unfiltered, without
    /// progress reports.
    pub fn new(store: &EventStore, source: ReplaySource) -> Self {
        Replay {
            store: store.clone(),
            source,
            filter: None,
            speed: ReplaySpeed::AsFastAsPossible,
            page_size: DEFAULT_PAGE_SIZE,
            progress_every: None,
            progress_interval: None,
            on_progress: None,
        }
    }

    /// Delivers only the events for which `keep` returns true (the others are read but
    /// neither delivered, counted nor waited for).
    pub fn filter(mut self, keep: impl Fn(&Event) -> bool + Send + Sync + 'static) -> Self {
        self.filter = Some(Box::new(keep));
        self
    }

    /// Sets the speed.
    pub fn speed(mut self, speed: ReplaySpeed) -> Self {
        self.speed = speed;
        self
    }

    /// Sets how many events are read from the journal at a time. 0 is taken as 1.
    pub fn page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size.max(1);
        self
    }

    /// Reports progress every `events` delivered events (0 = never by count).
    pub fn progress_every(mut self, events: u64) -> Self {
        self.progress_every = (events > 0).then_some(events);
        self
    }

    /// Reports progress when `period` of (tokio) time has passed since the last report,
    /// checked after each event and during `RealTime` waits.
    pub fn progress_interval(mut self, period: Duration) -> Self {
        self.progress_interval = (!period.is_zero()).then_some(period);
        self
    }

    /// Sets the progress callback. It is called as set by `progress_every` and
    /// `progress_interval`, and once at the end with the final count (unless the last
    /// report already had it). It runs on the replay's task: keep it short.
    pub fn on_progress(mut self, report: impl Fn(&ReplayProgress) + Send + Sync + 'static) -> Self {
        self.on_progress = Some(Box::new(report));
        self
    }

    /// Runs the replay, calling `handler` for each event in order, and returns the final
    /// progress.
    ///
    /// # Errors
    /// `Handler` with the handler's first error (nothing after that event is delivered),
    /// `Journal` when a read fails, `InvalidSpeed` for a bad `RealTime` factor (before
    /// anything is read).
    ///
    /// # Cost
    /// One journal read per page (`read_stream`, `read_all` or `read_correlation`,
    /// each starting after the last event delivered).
    pub async fn run<E, F>(self, mut handler: F) -> Result<ReplayProgress, ReplayError<E>>
    where
        F: FnMut(&Event) -> Result<(), E>,
    {
        self.run_async(move |event| std::future::ready(handler(&event)))
            .await
    }

    /// As [`Replay::run`], with a handler that is awaited for each event before the next
    /// is delivered (it receives the event by value).
    ///
    /// # Errors
    /// As [`Replay::run`].
    pub async fn run_async<E, F, Fut>(
        self,
        mut handler: F,
    ) -> Result<ReplayProgress, ReplayError<E>>
    where
        F: FnMut(Event) -> Fut,
        Fut: Future<Output = Result<(), E>>,
    {
        let factor = match self.speed {
            ReplaySpeed::AsFastAsPossible => None,
            ReplaySpeed::RealTime { factor } if factor.is_finite() && factor > 0.0 => Some(factor),
            ReplaySpeed::RealTime { factor } => return Err(ReplayError::InvalidSpeed { factor }),
        };
        let mut pages = Pages::new(&self.store, &self.source, self.page_size).await?;
        let mut reporter = Reporter {
            started: Instant::now(),
            progress: ReplayProgress {
                done: 0,
                total: pages.total.filter(|_| self.filter.is_none()),
                rate_per_sec: 0.0,
                last_position: None,
            },
            every: self.progress_every,
            interval: self.progress_interval,
            next_report_at: self.progress_interval.map(|p| Instant::now() + p),
            last_reported: None,
            callback: self.on_progress.as_deref(),
        };
        // The recorded timestamp of the first delivered event, the time origin of RealTime.
        let mut first_timestamp = None;
        while let Some(page) = pages.next_page().await? {
            for event in page {
                if self.filter.as_ref().is_some_and(|keep| !keep(&event)) {
                    continue;
                }
                if let Some(factor) = factor {
                    let origin = *first_timestamp.get_or_insert(event.timestamp);
                    let recorded = event.timestamp.saturating_sub(origin);
                    let offset = Duration::try_from_secs_f64(recorded as f64 / 1e6 / factor)
                        .unwrap_or(Duration::MAX);
                    reporter.wait_until(offset).await;
                }
                let position = event.position;
                handler(event)
                    .await
                    .map_err(|error| ReplayError::Handler { position, error })?;
                reporter.delivered(position);
            }
        }
        Ok(reporter.finish())
    }
}

/// Reads a source page by page, after the last event read.
struct Pages<'a> {
    store: &'a EventStore,
    source: &'a ReplaySource,
    page_size: usize,
    /// Next sequence number (Stream) or global position (All, Correlation) to read.
    next: u64,
    /// Last sequence number to read (Stream only).
    end: u64,
    /// The number of events, when known up front.
    total: Option<u64>,
    finished: bool,
    /// The first page, read to learn `total`.
    first: Option<Vec<Event>>,
}

impl<'a> Pages<'a> {
    async fn new(
        store: &'a EventStore,
        source: &'a ReplaySource,
        page_size: usize,
    ) -> Result<Pages<'a>, JournalError> {
        let mut pages = Pages {
            store,
            source,
            page_size,
            next: 0,
            end: u64::MAX,
            total: None,
            finished: false,
            first: None,
        };
        if let ReplaySource::Stream(name) = source {
            pages.end = store.highest_sequence(name).await?;
            let first = pages.read().await?;
            // Deletes only remove a prefix, so the sequences left have no gap.
            pages.total = Some(
                first
                    .first()
                    .map_or(0, |e| pages.end.saturating_sub(e.sequence) + 1),
            );
            pages.first = Some(first);
        }
        Ok(pages)
    }

    async fn next_page(&mut self) -> Result<Option<Vec<Event>>, JournalError> {
        if let Some(first) = self.first.take() {
            return Ok(Some(first));
        }
        if self.finished {
            return Ok(None);
        }
        let page = self.read().await?;
        Ok((!page.is_empty() || !self.finished).then_some(page))
    }

    async fn read(&mut self) -> Result<Vec<Event>, JournalError> {
        let raw = match self.source {
            ReplaySource::Stream(name) => {
                if self.next > self.end {
                    self.finished = true;
                    return Ok(Vec::new());
                }
                self.store
                    .read_stream(name, self.next, self.end, self.page_size)
                    .await?
            }
            ReplaySource::All => self.store.read_all(self.next, self.page_size).await?,
            ReplaySource::Correlation(id) => {
                self.store
                    .read_correlation(id, self.next, self.page_size)
                    .await?
            }
        };
        self.finished = raw.len() < self.page_size;
        if let Some(last) = raw.last() {
            self.next = match self.source {
                ReplaySource::Stream(_) => last.sequence.saturating_add(1),
                _ => last.position.saturating_add(1),
            };
        }
        Ok(raw)
    }
}

/// Keeps the count and calls the progress callback when due.
struct Reporter<'a> {
    started: Instant,
    progress: ReplayProgress,
    every: Option<u64>,
    interval: Option<Duration>,
    next_report_at: Option<Instant>,
    last_reported: Option<u64>,
    callback: Option<&'a (dyn Fn(&ReplayProgress) + Send + Sync)>,
}

impl Reporter<'_> {
    fn delivered(&mut self, position: u64) {
        self.progress.done += 1;
        self.progress.last_position = Some(position);
        let by_count = self
            .every
            .is_some_and(|every| self.progress.done % every == 0);
        let by_time = self.next_report_at.is_some_and(|at| Instant::now() >= at);
        if by_count || by_time {
            self.report();
        }
    }

    /// Waits until `offset` after the start, reporting on the interval meanwhile.
    async fn wait_until(&mut self, offset: Duration) {
        // `None`: beyond what an `Instant` can hold, so never reached.
        let deadline = self.started.checked_add(offset);
        loop {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return;
            }
            match (deadline, self.next_report_at) {
                (Some(d), Some(at)) => tokio::time::sleep_until(d.min(at)).await,
                (Some(d), None) => tokio::time::sleep_until(d).await,
                (None, Some(at)) => tokio::time::sleep_until(at).await,
                // tokio caps the duration at its far future.
                (None, None) => tokio::time::sleep(Duration::MAX).await,
            }
            if self.next_report_at.is_some_and(|at| Instant::now() >= at) {
                self.report();
            }
        }
    }

    fn report(&mut self) {
        let elapsed = self.started.elapsed().as_secs_f64();
        self.progress.rate_per_sec = if elapsed > 0.0 {
            self.progress.done as f64 / elapsed
        } else {
            0.0
        };
        if let Some(interval) = self.interval {
            self.next_report_at = Some(Instant::now() + interval);
        }
        self.last_reported = Some(self.progress.done);
        if let Some(callback) = self.callback {
            callback(&self.progress);
        }
    }

    fn finish(mut self) -> ReplayProgress {
        if self.callback.is_some() && self.last_reported != Some(self.progress.done) {
            self.report();
        } else {
            let elapsed = self.started.elapsed().as_secs_f64();
            if elapsed > 0.0 {
                self.progress.rate_per_sec = self.progress.done as f64 / elapsed;
            }
        }
        self.progress
    }
}

#[cfg(feature = "actors")]
impl Replay {
    /// Replays into an actor (feature `actors`): each event becomes a message through
    /// `make` and is sent with `tell`, which waits for room in a bounded mailbox, so the
    /// actor paces the replay. Point it at an actor of a separate `ActorSystem` to
    /// replay in isolation.
    ///
    /// # Errors
    /// As [`Replay::run`]; a `tell` that fails (the actor stopped, a rejecting mailbox
    /// is full) stops the replay as a `Handler` error.
    pub async fn run_into<M: Send + 'static>(
        self,
        actor: &palisade_actor_core::ActorRef<M>,
        mut make: impl FnMut(&Event) -> M,
    ) -> Result<ReplayProgress, ReplayError<palisade_actor_core::SendError<M>>> {
        self.run_async(move |event| {
            let message = make(&event);
            let actor = actor.clone();
            async move { actor.tell(message).await }
        })
        .await
    }
}
