//! `SledJournal`: the [`Journal`] contract on [sled](https://docs.rs/sled/0.34), the
//! embedded default backend.
//!
//! # On-disk layout
//!
//! One sled database, five trees. Integers are big-endian so that sled's byte order is
//! numeric order.
//!
//! | tree        | key                                        | value                                    |
//! |-------------|--------------------------------------------|------------------------------------------|
//! | `events`    | position (u64)                             | the record ([`crate::record`] format)    |
//! | `by_stream` | stream length (u32) ‖ stream ‖ sequence (u64) | position (u64)                        |
//! | `streams`   | stream                                     | highest sequence (u64)                   |
//! | `ids`       | event id                                   | position (u64) ‖ sequence (u64) ‖ stream |
//! | `meta`      | `last_position`                            | the last position handed out (u64)       |
//!
//! The records live in position order, so `read_all` (what subscriptions and
//! projections tail) is one range scan. `read_stream` walks `by_stream`, then reads the
//! records of each run of consecutive positions with one range scan (a stream written
//! alone is one run), falling back to a lookup per event where runs break. The stream key is
//! length-prefixed rather than NUL-separated so that no stream name, whatever bytes it
//! holds, can fall inside another stream's key range. `streams` keeps the highest
//! sequence after `delete_to` removes the events; `ids` keeps the ids of deleted
//! events too, so a retried append of them stays a no-op (as in [`crate::InMemoryJournal`]).
//!
//! Every record is decoded through [`RecordCodec::decode`] and checked against where it
//! was found (stream, sequence, position); any failure is [`JournalError::Corrupt`]
//! naming the stream and sequence, never an event.
//!
//! # Atomicity and concurrency
//!
//! An append is one sled transaction over all five trees: after a crash either every
//! tree holds the batch or none does. Appends and deletes are also serialized by a
//! writer lock: every append touches `meta`, so concurrent transactions would only
//! conflict and retry; the lock turns that into a queue. Reads take no lock.
//!
//! Every sled call runs on tokio's blocking pool (`spawn_blocking`): sled can block on
//! I/O (page-ins after a cache miss, log writes), which must not stall async workers.
//! The hop costs a few microseconds a call.
//!
//! # Secondary reads
//!
//! `read_correlation`, `read_time_range` and `read_event_type` scan `events` in position
//! order, decoding every record until `max` match: their cost is proportional to the
//! journal's size, not to the answer's. Fine for tools and tests; a projection that
//! needs them often should keep its own index (a subscription feeding a tree).
//!
//! # Durability
//!
//! | [`Durability`] | an append returns            | a crash (power loss, kernel panic) loses                                    |
//! |----------------|------------------------------|-----------------------------------------------------------------------------|
//! | `Buffered`     | once committed in memory     | acknowledged appends of up to the last `flush_every_ms` (default 500 ms)    |
//! | `Durable`      | once fsynced to disk         | nothing acknowledged                                                        |
//!
//! With `Buffered`, a crash of the process alone can lose as much as a power loss:
//! sled keeps recent writes in its own buffers until it flushes them. In both modes a
//! batch is lost whole or kept whole, never in part, and what survives is a prefix of
//! the acknowledged appends.
//!
//! `Durable` appends use group commit: an appender whose write is not yet on disk
//! waits for the flush lock; whoever holds it (the leader) first lets the appends
//! already queued behind the writer lock commit, then fsyncs everything committed so
//! far, and those queued behind it find their write already durable and return without
//! a flush of their own. The leader waits only for appends that started before it
//! took the lock, so the wait is bounded by the queue, never by new arrivals. N concurrent appends cost far fewer than N fsyncs
//! ([`SledJournal::flush_count`] counts them). If the fsync fails the append returns
//! `Storage` although its write may survive: retry it with the same event ids, which
//! the journal deduplicates. `delete_to` does not wait for an fsync; the next flush
//! (group commit or background) covers it.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use crate::error::JournalError;
use crate::event::{Event, EventType, NewEvent, Timestamp, now_micros};
use crate::journal::{AppendResult, ExpectedVersion, Journal, deduplicated_append, validate_batch};
use crate::record::{Codec, DEFAULT_COMPRESS_ABOVE, RecordCodec};

mod keys;
mod tail;
use keys::{IdEntry, be_u64, parse_stream_key, stream_key};

const LAST_POSITION: &[u8] = b"last_position";

/// When an append is acknowledged relative to the fsync that makes it survive a crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Durability {
    /// Acknowledged before fsync; sled flushes every `flush_every_ms`. A crash loses up
    /// to that interval of acknowledged appends. Fastest.
    Buffered,
    /// Acknowledged after fsync, with group commit. A crash loses no acknowledged append.
    #[default]
    Durable,
}

/// How to open a [`SledJournal`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SledConfig {
    /// When appends are acknowledged. Default `Durable`.
    pub durability: Durability,
    /// The codec new records are written with. Default bincode. Records written with
    /// another codec stay readable.
    pub codec: Codec,
    /// Bodies encoded longer than this many bytes are zstd-compressed. Default 512.
    pub compress_above: usize,
    /// sled's page cache, in bytes. Default 64 MiB.
    pub cache_capacity: u64,
    /// How often sled flushes in the background, in milliseconds (at least 1). Bounds
    /// what `Buffered` can lose. Default 500.
    pub flush_every_ms: u64,
    /// The hot tail: this many of the most recent events are kept in memory and serve
    /// stream reads that fall entirely inside it. 0 disables it. Default 10,000.
    pub max_memory_events: usize,
}

impl Default for SledConfig {
    fn default() -> Self {
        SledConfig {
            durability: Durability::default(),
            codec: Codec::default(),
            compress_above: DEFAULT_COMPRESS_ABOVE,
            cache_capacity: 64 * 1024 * 1024,
            flush_every_ms: 500,
            max_memory_events: 10_000,
        }
    }
}

impl SledConfig {
    /// Sets the durability.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Sets the codec new records are written with.
    pub fn codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    /// Sets the compression threshold in bytes.
    pub fn compress_above(mut self, bytes: usize) -> Self {
        self.compress_above = bytes;
        self
    }

    /// Sets sled's page cache size in bytes.
    pub fn cache_capacity(mut self, bytes: u64) -> Self {
        self.cache_capacity = bytes;
        self
    }

    /// Sets the size of the hot in-memory tail (0 disables it).
    pub fn max_memory_events(mut self, events: usize) -> Self {
        self.max_memory_events = events;
        self
    }

    /// Sets sled's background flush interval in milliseconds.
    pub fn flush_every_ms(mut self, ms: u64) -> Self {
        self.flush_every_ms = ms;
        self
    }

    fn sled_config(&self) -> Result<sled::Config, JournalError> {
        if self.flush_every_ms == 0 {
            return Err(JournalError::Storage(
                "invalid sled config: flush_every_ms must be at least 1".to_owned(),
            ));
        }
        Ok(sled::Config::new()
            .cache_capacity(self.cache_capacity)
            .flush_every_ms(Some(self.flush_every_ms)))
    }
}

/// A journal in an embedded sled database. Cheap to clone (clones share the database).
/// See the module documentation for the layout and the durability guarantees.
///
/// ```
/// use palisade_event_store::{
///     Durability, EventType, ExpectedVersion, Journal, NewEvent, SledConfig, SledJournal,
/// };
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let config = SledConfig::default().durability(Durability::Durable);
/// {
///     let journal = SledJournal::open(dir.path(), config)?;
///     let opened = NewEvent::new("evt-1", EventType::Custom("opened".into()), b"{}".to_vec());
///     journal.append("account-7", ExpectedVersion::NoStream, vec![opened]).await?;
/// } // acknowledged after fsync: it survives a crash from here on
/// let journal = SledJournal::open(dir.path(), config)?;
/// assert_eq!(journal.highest_sequence("account-7").await?, 1);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct SledJournal {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: sled::Db,
    events: sled::Tree,
    by_stream: sled::Tree,
    streams: sled::Tree,
    ids: sled::Tree,
    meta: sled::Tree,
    codec: RecordCodec,
    durability: Durability,
    /// Serializes appends and deletes (see the module docs).
    writer: Mutex<()>,
    /// Writes committed since open; a write's ticket is this count just after it.
    committed: AtomicU64,
    /// Tickets up to this one are fsynced.
    durable: AtomicU64,
    /// Held by the appender doing the group's fsync.
    flush_lock: tokio::sync::Mutex<()>,
    /// Appends that have reached the blocking pool, and those done there (committed or
    /// refused): the flush leader waits for the ones already queued to join its group.
    started: AtomicU64,
    settled: tokio::sync::watch::Sender<u64>,
    flushes: AtomicU64,
    tail: tail::Tail,
}

impl SledJournal {
    /// Opens (or creates) the journal in directory `path`.
    ///
    /// # Errors
    /// `Storage` when the config is invalid or sled cannot open the directory (for
    /// instance another process holds it).
    pub fn open(path: impl AsRef<Path>, config: SledConfig) -> Result<Self, JournalError> {
        let db = config.sled_config()?.path(path).open().map_err(storage)?;
        SledJournal::with_db(db, &config)
    }

    /// A journal in a temporary database, removed when the last clone is dropped, with
    /// `Buffered` durability (an fsync buys nothing for data that dies with the process).
    /// For tests and demos.
    ///
    /// # Errors
    /// `Storage` when sled cannot create the database.
    pub fn temporary() -> Result<Self, JournalError> {
        SledJournal::temporary_with(SledConfig::default().durability(Durability::Buffered))
    }

    /// A temporary journal with `config`.
    ///
    /// # Errors
    /// `Storage` when the config is invalid or sled cannot create the database.
    pub fn temporary_with(config: SledConfig) -> Result<Self, JournalError> {
        let db = config
            .sled_config()?
            .temporary(true)
            .open()
            .map_err(storage)?;
        SledJournal::with_db(db, &config)
    }

    fn with_db(db: sled::Db, config: &SledConfig) -> Result<Self, JournalError> {
        let tree = |name: &str| db.open_tree(name).map_err(storage);
        let inner = Inner {
            events: tree("events")?,
            by_stream: tree("by_stream")?,
            streams: tree("streams")?,
            ids: tree("ids")?,
            meta: tree("meta")?,
            db,
            codec: RecordCodec::new(config.codec).with_compress_above(config.compress_above),
            durability: config.durability,
            writer: Mutex::new(()),
            committed: AtomicU64::new(0),
            durable: AtomicU64::new(0),
            flush_lock: tokio::sync::Mutex::new(()),
            started: AtomicU64::new(0),
            settled: tokio::sync::watch::Sender::new(0),
            flushes: AtomicU64::new(0),
            tail: tail::Tail::new(config.max_memory_events),
        };
        Ok(SledJournal {
            inner: Arc::new(inner),
        })
    }

    /// How many stream reads the hot in-memory tail has served since open.
    pub fn tail_hits(&self) -> u64 {
        self.inner.tail.hits()
    }

    /// How many fsyncs this journal has made for its callers (group commits and
    /// [`SledJournal::flush`]) since it was opened; sled's own background flushes are
    /// not counted.
    pub fn flush_count(&self) -> u64 {
        self.inner.flushes.load(Ordering::Relaxed)
    }

    /// Makes every append acknowledged so far durable (one fsync, shared with
    /// concurrent callers). Useful with `Buffered` durability before a planned stop.
    ///
    /// # Errors
    /// `Storage` when the fsync fails.
    pub async fn flush(&self) -> Result<(), JournalError> {
        let ticket = self.inner.committed.load(Ordering::Acquire);
        self.inner.wait_durable(ticket).await
    }

    /// Runs `f` on the blocking pool with the shared state.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> Result<T, JournalError> + Send + 'static,
    ) -> Result<T, JournalError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| JournalError::Storage(format!("blocking task failed: {e}")))?
    }
}

impl Inner {
    /// Waits until write `ticket` is fsynced, doing the fsync for the whole group when
    /// nobody else is.
    async fn wait_durable(&self, ticket: u64) -> Result<(), JournalError> {
        if self.durable.load(Ordering::Acquire) >= ticket {
            return Ok(());
        }
        let _leader = self.flush_lock.lock().await;
        if self.durable.load(Ordering::Acquire) >= ticket {
            return Ok(());
        }
        // Let the appends already queued behind the writer lock commit first, so that
        // this one fsync covers them too. Bounded: only appends started before now.
        let queued = self.started.load(Ordering::Acquire);
        self.settled
            .subscribe()
            .wait_for(|settled| *settled >= queued)
            .await
            .map_err(|_| JournalError::Closed)?;
        // Tickets are taken after their commit, so every write up to `target` is in
        // sled's log before this flush starts.
        let target = self.committed.load(Ordering::Acquire);
        self.db.flush_async().await.map_err(storage)?;
        self.flushes.fetch_add(1, Ordering::Relaxed);
        self.durable.fetch_max(target, Ordering::AcqRel);
        Ok(())
    }

    fn lock_writer(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The append itself; returns the result and the write's durability ticket.
    fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<(AppendResult, u64), JournalError> {
        self.started.fetch_add(1, Ordering::AcqRel);
        // Declared before the writer guard, so it counts the append as settled after
        // the lock is released, on every path (errors and panics included).
        let _settled = Settled(&self.settled);
        let _writer = self.lock_writer();
        let now = now_micros();
        let trees = (
            &self.events,
            &self.by_stream,
            &self.streams,
            &self.ids,
            &self.meta,
        );
        // The events of the attempt that commits, for the hot tail (sled may retry the
        // closure; each attempt starts afresh).
        let written = std::cell::RefCell::new(Vec::new());
        let result = trees.transaction(|(t_events, t_by_stream, t_streams, t_ids, t_meta)| {
            let abort = ConflictableTransactionError::Abort;
            written.borrow_mut().clear();
            let mut stored = Vec::new();
            for e in events {
                if let Some(v) = t_ids.get(e.id.as_bytes())? {
                    stored.push(
                        IdEntry::parse(&v)
                            .ok_or_else(|| abort(corrupt_index(stream, "unreadable id entry")))?,
                    );
                }
            }
            let stored = stored
                .iter()
                .map(|s| (s.stream.as_str(), s.sequence, s.position));
            if let Some(retry) = deduplicated_append(stream, events.len(), stored).map_err(abort)? {
                return Ok(retry);
            }
            let highest = match t_streams.get(stream.as_bytes())? {
                Some(v) => be_u64(&v)
                    .ok_or_else(|| abort(corrupt_index(stream, "unreadable highest sequence")))?,
                None => 0,
            };
            if !expected.admits(highest) {
                return Err(abort(JournalError::SequenceConflict {
                    stream: stream.to_owned(),
                    expected: expected.describe(),
                    actual: highest,
                }));
            }
            let last_position = match t_meta.get(LAST_POSITION)? {
                Some(v) => be_u64(&v)
                    .ok_or_else(|| abort(corrupt_index(stream, "unreadable last position")))?,
                None => 0,
            };
            let mut sequence = highest;
            let mut position = last_position;
            for new in events {
                sequence += 1;
                position += 1;
                let event = new.clone().into_event(stream, sequence, position, now);
                let record = self.codec.encode(&event).map_err(|e| {
                    abort(JournalError::Storage(format!(
                        "cannot encode event {}: {e}",
                        event.id
                    )))
                })?;
                let pos = position.to_be_bytes();
                t_events.insert(&pos[..], record)?;
                t_by_stream.insert(stream_key(stream, sequence), &pos[..])?;
                t_ids.insert(
                    event.id.as_bytes(),
                    IdEntry::encode(position, sequence, stream),
                )?;
                written.borrow_mut().push(event);
            }
            t_streams.insert(stream.as_bytes(), &sequence.to_be_bytes()[..])?;
            t_meta.insert(LAST_POSITION, &position.to_be_bytes()[..])?;
            Ok(AppendResult {
                first_sequence: highest + 1,
                last_sequence: sequence,
                first_position: last_position + 1,
                deduplicated: false,
            })
        });
        let result = result.map_err(from_tx)?;
        if !result.deduplicated {
            // Still under the writer lock and before the acknowledgement: a read that
            // starts after the append returns finds the events in the tail.
            self.tail.push(stream, written.into_inner());
        }
        // A deduplicated append still waits for whatever is committed now: the
        // original write may be another appender's, not yet fsynced.
        let ticket = if result.deduplicated {
            self.committed.load(Ordering::Acquire)
        } else {
            self.committed.fetch_add(1, Ordering::AcqRel) + 1
        };
        Ok((result, ticket))
    }

    fn read_stream(
        &self,
        stream: &str,
        from: u64,
        to: u64,
        max: usize,
    ) -> Result<Vec<Event>, JournalError> {
        if from > to || max == 0 {
            return Ok(Vec::new());
        }
        // First the index entries (sequence, position), then the records: a run of
        // consecutive positions (a stream written without others in between) is read with
        // one range scan instead of a lookup per event.
        let mut entries = Vec::new();
        for entry in self
            .by_stream
            .range(stream_key(stream, from)..=stream_key(stream, to))
            .take(max)
        {
            let (key, value) = entry.map_err(storage)?;
            let sequence = key
                .len()
                .checked_sub(8)
                .and_then(|at| be_u64(&key[at..]))
                .ok_or_else(|| corrupt_index(stream, "unreadable stream key"))?;
            let position = be_u64(&value).ok_or_else(|| JournalError::Corrupt {
                stream: stream.to_owned(),
                sequence,
                reason: "unreadable position".to_owned(),
            })?;
            entries.push((sequence, position, key));
        }
        let mut out = Vec::with_capacity(entries.len());
        let mut i = 0;
        while i < entries.len() {
            let mut j = i + 1;
            while j < entries.len() && entries[j].1 == entries[j - 1].1 + 1 {
                j += 1;
            }
            let run = &entries[i..j];
            let (first, last) = (run[0].1, run[run.len() - 1].1);
            let records: Vec<(sled::IVec, sled::IVec)> = self
                .events
                .range(first.to_be_bytes()..=last.to_be_bytes())
                .collect::<Result<_, _>>()
                .map_err(storage)?;
            if records.len() == run.len() {
                for ((sequence, position, _), (_, record)) in run.iter().zip(&records) {
                    let event = check(record, stream, *sequence, *position).map_err(|reason| {
                        JournalError::Corrupt {
                            stream: stream.to_owned(),
                            sequence: *sequence,
                            reason,
                        }
                    })?;
                    out.push(event);
                }
            } else {
                // Something is missing (a concurrent delete, or damage): one by one.
                for (sequence, position, key) in run {
                    if let Some(event) = self.read_one(stream, *sequence, *position, key)? {
                        out.push(event);
                    }
                }
            }
            i = j;
        }
        Ok(out)
    }

    /// The record of one index entry; `None` when a concurrent `delete_to` removed both.
    fn read_one(
        &self,
        stream: &str,
        sequence: u64,
        position: u64,
        key: &sled::IVec,
    ) -> Result<Option<Event>, JournalError> {
        let corrupt = |reason: String| JournalError::Corrupt {
            stream: stream.to_owned(),
            sequence,
            reason,
        };
        let Some(record) = self.events.get(position.to_be_bytes()).map_err(storage)? else {
            // An index entry that outlives its record is damage.
            if self.by_stream.get(key).map_err(storage)?.is_none() {
                return Ok(None);
            }
            return Err(corrupt(format!("no record at position {position}")));
        };
        check(&record, stream, sequence, position)
            .map(Some)
            .map_err(corrupt)
    }

    fn last_position(&self) -> Result<u64, JournalError> {
        match self.meta.get(LAST_POSITION).map_err(storage)? {
            Some(v) => be_u64(&v).ok_or_else(|| corrupt_index("", "unreadable last position")),
            None => Ok(0),
        }
    }

    fn highest_sequence(&self, stream: &str) -> Result<u64, JournalError> {
        match self.streams.get(stream.as_bytes()).map_err(storage)? {
            Some(v) => {
                be_u64(&v).ok_or_else(|| corrupt_index(stream, "unreadable highest sequence"))
            }
            None => Ok(0),
        }
    }

    /// Events from `from_position` on, in position order, that `keep` accepts, at most
    /// `max`. Decodes every record it passes.
    fn scan(
        &self,
        from_position: u64,
        max: usize,
        keep: impl Fn(&Event) -> bool,
    ) -> Result<Vec<Event>, JournalError> {
        let mut out = Vec::new();
        if max == 0 {
            return Ok(out);
        }
        for entry in self.events.range(from_position.to_be_bytes()..) {
            let (key, record) = entry.map_err(storage)?;
            let Some(position) = be_u64(&key) else {
                return Err(corrupt_index("", "unreadable position key"));
            };
            let event = RecordCodec::decode(&record)
                .map_err(|e| e.to_string())
                .and_then(|e| {
                    if e.position == position {
                        Ok(e)
                    } else {
                        Err(format!("record at position {position} says {}", e.position))
                    }
                })
                .map_err(|reason| self.corrupt_at(position, reason))?;
            if keep(&event) {
                out.push(event);
                if out.len() == max {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// `Corrupt` for the record at `position`, naming its stream and sequence when the
    /// index knows them (a scan of `by_stream`, on this error path only).
    fn corrupt_at(&self, position: u64, reason: String) -> JournalError {
        tracing::warn!(position, %reason, "corrupt record in the sled journal");
        let wanted = position.to_be_bytes();
        let found = self
            .by_stream
            .iter()
            .filter_map(Result::ok)
            .find_map(|(k, v)| {
                (v.as_ref() == wanted)
                    .then(|| parse_stream_key(&k))
                    .flatten()
            });
        let (stream, sequence) = found.unwrap_or_default();
        JournalError::Corrupt {
            stream,
            sequence,
            reason: format!("position {position}: {reason}"),
        }
    }

    fn delete_to(&self, stream: &str, sequence: u64) -> Result<(), JournalError> {
        let _writer = self.lock_writer();
        let mut doomed = Vec::new();
        for entry in self
            .by_stream
            .range(stream_key(stream, 0)..=stream_key(stream, sequence))
        {
            let (key, position) = entry.map_err(storage)?;
            doomed.push((key, position));
        }
        if doomed.is_empty() {
            return Ok(());
        }
        (&self.events, &self.by_stream)
            .transaction(|(t_events, t_by_stream)| {
                for (key, position) in &doomed {
                    t_events.remove(position)?;
                    t_by_stream.remove(key)?;
                }
                Ok::<_, ConflictableTransactionError<JournalError>>(())
            })
            .map_err(from_tx)?;
        self.tail.delete_to(stream, sequence);
        // Deletion is not acknowledged as durable; the next flush covers it.
        self.committed.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }
}

/// Counts an append as settled when dropped.
struct Settled<'a>(&'a tokio::sync::watch::Sender<u64>);

impl Drop for Settled<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n += 1);
    }
}

/// Decodes `record` and checks it is the event the index says is there.
fn check(record: &[u8], stream: &str, sequence: u64, position: u64) -> Result<Event, String> {
    let event = RecordCodec::decode(record).map_err(|e| e.to_string())?;
    if event.stream != stream || event.sequence != sequence || event.position != position {
        return Err(format!(
            "record holds {}#{} at position {}",
            event.stream, event.sequence, event.position
        ));
    }
    Ok(event)
}

fn corrupt_index(stream: &str, reason: &str) -> JournalError {
    JournalError::Corrupt {
        stream: stream.to_owned(),
        sequence: 0,
        reason: reason.to_owned(),
    }
}

fn storage(e: sled::Error) -> JournalError {
    JournalError::Storage(e.to_string())
}

fn from_tx(e: TransactionError<JournalError>) -> JournalError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => storage(e),
    }
}

#[async_trait]
impl Journal for SledJournal {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, JournalError> {
        validate_batch(&events)?;
        let owned = stream.to_owned();
        let (result, ticket) = self
            .blocking(move |inner| inner.append(&owned, expected, &events))
            .await?;
        if self.inner.durability == Durability::Durable {
            self.inner.wait_durable(ticket).await?;
        }
        Ok(result)
    }

    async fn read_stream(
        &self,
        stream: &str,
        from: u64,
        to: u64,
        max: usize,
    ) -> Result<Vec<Event>, JournalError> {
        if from <= to && max > 0 {
            if let Some(hit) = self.inner.tail.read(stream, from, to, max) {
                return Ok(hit);
            }
        }
        let stream = stream.to_owned();
        self.blocking(move |inner| inner.read_stream(&stream, from, to, max))
            .await
    }

    async fn highest_sequence(&self, stream: &str) -> Result<u64, JournalError> {
        let stream = stream.to_owned();
        self.blocking(move |inner| inner.highest_sequence(&stream))
            .await
    }

    async fn read_all(&self, from_position: u64, max: usize) -> Result<Vec<Event>, JournalError> {
        self.blocking(move |inner| inner.scan(from_position, max, |_| true))
            .await
    }

    async fn highest_position(&self) -> Result<u64, JournalError> {
        self.blocking(move |inner| inner.last_position()).await
    }

    async fn read_correlation(
        &self,
        correlation_id: &str,
        from_position: u64,
        max: usize,
    ) -> Result<Vec<Event>, JournalError> {
        let id = correlation_id.to_owned();
        self.blocking(move |inner| {
            inner.scan(from_position, max, |e| {
                e.correlation_id.as_deref() == Some(id.as_str())
            })
        })
        .await
    }

    async fn read_time_range(
        &self,
        from: Timestamp,
        to: Timestamp,
        from_position: u64,
        max: usize,
    ) -> Result<Vec<Event>, JournalError> {
        self.blocking(move |inner| {
            inner.scan(from_position, max, |e| {
                e.timestamp >= from && e.timestamp <= to
            })
        })
        .await
    }

    async fn read_event_type(
        &self,
        event_type: &EventType,
        from_position: u64,
        max: usize,
    ) -> Result<Vec<Event>, JournalError> {
        let wanted = event_type.clone();
        self.blocking(move |inner| inner.scan(from_position, max, |e| e.event_type == wanted))
            .await
    }

    async fn delete_to(&self, stream: &str, sequence: u64) -> Result<(), JournalError> {
        let stream = stream.to_owned();
        self.blocking(move |inner| inner.delete_to(&stream, sequence))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_flush_interval_is_refused() {
        assert!(matches!(
            SledJournal::temporary_with(SledConfig::default().flush_every_ms(0)),
            Err(JournalError::Storage(_))
        ));
    }
}
