//! Palisade's sled journal (`palisade-event-store`) against sled 0.34 used directly: what
//! the journal's layer (the record format with its CRC, the group entry header, the
//! in-memory stream index and its index rounds, group commit) costs over the store
//! underneath.
//!
//! Groups (the first row of each is its reference):
//! - `journal (sled)`: one 256-byte value per operation, no fsync. Raw: `Tree::insert`
//!   with an increasing 8-byte key; and, as the limit of gathering inserts, one insert
//!   of an 8 KiB value per 32 payloads, per payload. Palisade: `Journal::append` of one
//!   256-byte event with `Durability::Buffered` (the record joins the pending group,
//!   inserted into sled once it holds 8 KiB, about 21 records; every 4,096 events an
//!   index round persists the stream index, and its cost is in the figure).
//! - `journal durable, 64 appenders`: per acknowledged, fsynced append. Reference: raw
//!   sled, one insert then `Db::flush` each, serialized (no group commit); sled's flush
//!   uses `sync_file_range`, which does not survive a power loss. Second row: the same
//!   plus an `fdatasync` of sled's file, the guarantee Palisade's `Durable` gives. Third
//!   row, the ceiling of group commit into sled on this machine: per 64 appends, one
//!   group of their records inserted into sled by a second thread while the same bytes
//!   are written to a log and `fdatasync`ed, with nothing else (no gathering, encoding
//!   or waking). Then Palisade `Durable` (its own commit log, `fdatasync`ed) with one
//!   appender (one fsync per append too) and with 64 concurrent appenders on the
//!   2-worker runtime (group commit shares fsyncs).
//! - `journal replay`: per event, reading 100,000 events of one stream. Raw: a scan of a
//!   sled tree of 100,000 records in Palisade's record format (keyed by position, as the
//!   journal's `events` tree) decoding each with `RecordCodec::decode`. Palisade:
//!   `read_stream` in pages of 1,000 (which also looks the positions up in the stream
//!   index and checks each record's stream, sequence and position).
//! - `journal bytes on disk`: size of the sled directory (sum of file lengths) after
//!   100,000 events with a repetitive JSON-like 256-byte payload and a flush, divided by
//!   100,000. Raw sled with the 256-byte value under an 8-byte key is the reference;
//!   Palisade without compression, and with `compress_above(0)` (every record body
//!   zstd-compressed, one record at a time).
//!
//! Durable and on-disk cases write under the system temp directory (a real disk here; a
//! tmpfs would make fsync free), each in a fresh directory removed afterwards.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use palisade_event_store::{
    Codec, Durability, Event, EventType, ExpectedVersion, Journal, NewEvent, RecordCodec,
    SledConfig, SledJournal,
};
use tokio::runtime::Runtime;

use crate::harness::{Config, err, measure, run_batch, setup, timed};

/// Payload size of every event and value.
pub const PAYLOAD_BYTES: usize = 256;
/// Operations per repetition of the append cases.
const APPENDS_PER_REP: u64 = 100;
/// Concurrent appenders in the group-commit case.
const APPENDERS: u64 = 64;
/// Events in the replay and bytes-on-disk cases.
pub const JOURNAL_EVENTS: u64 = 100_000;
/// `read_stream` page size, and the batch size used to fill journals.
const PAGE: usize = 1_000;

/// Unique ids and directory names across the whole run.
static NEXT: AtomicU64 = AtomicU64::new(0);

fn next() -> u64 {
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn payload() -> Vec<u8> {
    vec![b'x'; PAYLOAD_BYTES]
}

/// 256 bytes of repetitive JSON-like text: what compression is for.
fn json_payload(n: u64) -> Vec<u8> {
    let mut text = format!(
        "{{\"account\":\"acct-{:06}\",\"kind\":\"deposit\",\"currency\":\"EUR\",\"amount\":100,\"note\":\"",
        n % 1_000
    );
    while text.len() < PAYLOAD_BYTES - 2 {
        text.push_str("monthly deposit ");
    }
    text.truncate(PAYLOAD_BYTES - 2);
    text.push_str("\"}");
    text.into_bytes()
}

fn new_event(payload: Vec<u8>) -> NewEvent {
    NewEvent::new(format!("e-{}", next()), EventType::StateChanged, payload)
}

/// An event as the journal stores it: id `e-{position}`, a 256-byte payload.
fn stored_event(stream: String, sequence: u64, position: u64) -> Event {
    Event {
        id: format!("e-{position}"),
        stream,
        sequence,
        position,
        event_type: EventType::StateChanged,
        payload: payload(),
        timestamp: palisade_event_store::now_micros(),
        correlation_id: None,
        causation_id: None,
        metadata: BTreeMap::new(),
    }
}

/// A fresh directory under the temp dir, removed on drop.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(what: &str) -> Result<Self, String> {
        let path = std::env::temp_dir().join(format!(
            "bench-compare-{what}-{}-{}",
            std::process::id(),
            next()
        ));
        std::fs::create_dir_all(&path).map_err(err)?;
        Ok(ScratchDir(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Sum of the lengths of every file under `dir`.
fn dir_bytes(dir: &Path) -> Result<u64, String> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).map_err(err)? {
        let entry = entry.map_err(err)?;
        let meta = entry.metadata().map_err(err)?;
        total += if meta.is_dir() {
            dir_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

fn temporary_sled() -> Result<sled::Db, String> {
    sled::Config::new().temporary(true).open().map_err(err)
}

// ----- journal (sled) -----------------------------------------------------------------

/// Raw sled: one insert of a 256-byte value under an increasing key, no flush.
pub fn raw_insert(cfg: &Config) -> Result<f64, String> {
    raw_inserts(cfg, 1, APPENDS_PER_REP)
}

/// Payloads per value in the batched raw case: 8 KiB values, the size at which the
/// journal inserts its pending `Buffered` group.
const PAYLOADS_PER_VALUE: u64 = 32;

/// Raw sled, the physical limit of gathering inserts: one insert of an 8 KiB value
/// (32 payloads of 256 bytes) under an increasing key, per 256-byte payload.
pub fn raw_insert_batched(cfg: &Config) -> Result<f64, String> {
    raw_inserts(cfg, PAYLOADS_PER_VALUE, 1)
}

/// `inserts` inserts per repetition of values of `payloads` 256-byte payloads, timed
/// per payload.
fn raw_inserts(cfg: &Config, payloads: u64, inserts: u64) -> Result<f64, String> {
    let db = temporary_sled()?;
    let tree = db.open_tree("events").map_err(err)?;
    let value = vec![b'x'; PAYLOAD_BYTES * payloads as usize];
    let mut key = 0u64;
    measure(cfg, payloads * inserts, |reps| {
        let start = Instant::now();
        for _ in 0..reps * inserts {
            key += 1;
            tree.insert(key.to_be_bytes(), value.as_slice())
                .map_err(err)?;
        }
        Ok(start.elapsed())
    })
}

/// Palisade: one `Buffered` append of one 256-byte event.
pub fn buffered_append(rt: &Runtime, cfg: &Config) -> Result<f64, String> {
    let journal = setup(rt, async { SledJournal::temporary().map_err(err) })?;
    measure(cfg, APPENDS_PER_REP, |reps| {
        let journal = journal.clone();
        run_batch(rt, async move {
            timed(async {
                for _ in 0..reps * APPENDS_PER_REP {
                    let written = journal
                        .append("bench", ExpectedVersion::Any, vec![new_event(payload())])
                        .await
                        .map_err(err)?;
                    black_box(written);
                }
                Ok(())
            })
            .await
        })
    })
}

// ----- journal durable, 64 appenders ----------------------------------------------------

/// Raw sled: one insert, then `Db::flush`, serialized. sled's flush waits for its
/// write with `sync_file_range`, which does not flush the device cache.
pub fn raw_flush_per_append(cfg: &Config) -> Result<f64, String> {
    raw_flush_each(cfg, false)
}

/// Raw sled with Palisade's `Durable` guarantee: one insert, `Db::flush`, then an
/// `fdatasync` of sled's log file (what the journal adds to each flush), serialized.
pub fn raw_flush_and_fdatasync_per_append(cfg: &Config) -> Result<f64, String> {
    raw_flush_each(cfg, true)
}

fn raw_flush_each(cfg: &Config, fdatasync: bool) -> Result<f64, String> {
    let dir = ScratchDir::new("flush-per-append")?;
    let db = sled::open(dir.path()).map_err(err)?;
    let tree = db.open_tree("events").map_err(err)?;
    let log = std::fs::File::open(dir.path().join("db")).map_err(err)?;
    let value = payload();
    let mut key = 0u64;
    let result = measure(cfg, 1, |reps| {
        let start = Instant::now();
        for _ in 0..reps {
            key += 1;
            tree.insert(key.to_be_bytes(), value.as_slice())
                .map_err(err)?;
            db.flush().map_err(err)?;
            if fdatasync {
                log.sync_data().map_err(err)?;
            }
        }
        Ok(start.elapsed())
    });
    drop(tree);
    drop(db);
    result
}

/// Bytes a group entry header takes besides the stream and id (see the journal's
/// `group` module): position, sequence, two lengths and a CRC32.
const ENTRY_HEADER_BYTES: usize = 8 + 8 + 4 + 4 + 4;

/// The size of one 64-append group of the benchmark's events: each record in
/// Palisade's format behind its entry header.
fn group_of_appenders() -> Result<Vec<u8>, String> {
    let codec = RecordCodec::new(Codec::default());
    let mut group = Vec::new();
    for n in 0..APPENDERS {
        let event = stored_event(format!("bench-{n}"), 1, n + 1);
        let record = codec.encode(&event).map_err(err)?;
        let header = ENTRY_HEADER_BYTES + event.stream.len() + event.id.len();
        group.resize(group.len() + header, 0);
        group.extend_from_slice(&record);
    }
    Ok(group)
}

/// Raw, the ceiling of group commit into sled on this machine: per turn, a thread of
/// its own inserts one 64-append group (as one value) into sled while this thread
/// `pwrite`s the same bytes to a preallocated log and `fdatasync`s it, per append.
/// No gathering, placing, encoding or waking of appenders: what is left is the fsync
/// under sled's own writes. The insert thread may fall at most two groups behind.
pub fn raw_group_commit_ceiling(cfg: &Config) -> Result<f64, String> {
    use std::os::unix::fs::FileExt;

    const LOG_BYTES: u64 = 64 << 20;
    let dir = ScratchDir::new("group-commit-ceiling")?;
    let db = sled::open(dir.path().join("db")).map_err(err)?;
    let tree = db.open_tree("events").map_err(err)?;
    let log = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dir.path().join("log"))
        .map_err(err)?;
    // Written and synced ahead, as the journal's log is: a commit's fdatasync then
    // has no file length or block allocation to commit.
    let zeros = vec![0u8; 1 << 20];
    for mib in 0..LOG_BYTES >> 20 {
        log.write_all_at(&zeros, mib << 20).map_err(err)?;
    }
    log.sync_all().map_err(err)?;
    let group = group_of_appenders()?;
    let (groups, inserts) = std::sync::mpsc::sync_channel::<(u64, Vec<u8>)>(2);
    let inserter = std::thread::spawn(move || -> Result<(), String> {
        for (key, value) in inserts {
            tree.insert(key.to_be_bytes(), value).map_err(err)?;
        }
        Ok(())
    });
    let (mut key, mut at) = (0u64, 0u64);
    let result = measure(cfg, APPENDERS, |reps| {
        let start = Instant::now();
        for _ in 0..reps {
            key += APPENDERS;
            groups
                .send((key, group.clone()))
                .map_err(|_| "the insert thread stopped".to_owned())?;
            if at + group.len() as u64 > LOG_BYTES {
                at = 0;
            }
            log.write_all_at(&group, at).map_err(err)?;
            log.sync_data().map_err(err)?;
            at += group.len() as u64;
        }
        Ok(start.elapsed())
    });
    drop(groups);
    inserter
        .join()
        .map_err(|_| "the insert thread panicked".to_owned())??;
    drop(db);
    result
}

fn open_durable(dir: &ScratchDir) -> Result<SledJournal, String> {
    SledJournal::open(
        dir.path(),
        SledConfig::default().durability(Durability::Durable),
    )
    .map_err(err)
}

/// Palisade `Durable`, one appender: each append waits for its own fsync.
pub fn durable_one_appender(rt: &Runtime, cfg: &Config) -> Result<f64, String> {
    let dir = ScratchDir::new("durable-one")?;
    let journal = setup(rt, async { open_durable(&dir) })?;
    let result = measure(cfg, 1, |reps| {
        let journal = journal.clone();
        run_batch(rt, async move {
            timed(async {
                for _ in 0..reps {
                    journal
                        .append("bench", ExpectedVersion::Any, vec![new_event(payload())])
                        .await
                        .map_err(err)?;
                }
                Ok(())
            })
            .await
        })
    });
    drop(journal);
    result
}

/// Palisade `Durable`, 64 tasks appending at once (one stream each): per append.
pub fn durable_concurrent(rt: &Runtime, cfg: &Config) -> Result<f64, String> {
    let dir = ScratchDir::new("durable-64")?;
    let journal = setup(rt, async { open_durable(&dir) })?;
    let (flushes_before, mut appends) = (journal.flush_count(), 0u64);
    let result = measure(cfg, APPENDERS, |reps| {
        appends += reps * APPENDERS;
        let journal = journal.clone();
        run_batch(rt, async move {
            timed(async {
                let tasks: Vec<_> = (0..APPENDERS)
                    .map(|a| {
                        let journal = journal.clone();
                        tokio::spawn(async move {
                            let stream = format!("bench-{a}");
                            for _ in 0..reps {
                                journal
                                    .append(
                                        &stream,
                                        ExpectedVersion::Any,
                                        vec![new_event(payload())],
                                    )
                                    .await
                                    .map_err(err)?;
                            }
                            Ok::<(), String>(())
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.map_err(err)??;
                }
                Ok(())
            })
            .await
        })
    });
    // On stderr, so that the table on stdout stays a table.
    eprintln!(
        "  (durable, 64 appenders: {} fsyncs for {appends} appends: {:.3} per append)",
        journal.flush_count() - flushes_before,
        (journal.flush_count() - flushes_before) as f64 / appends.max(1) as f64
    );
    drop(journal);
    result
}

// ----- journal replay -----------------------------------------------------------------

/// Raw sled: scan a tree of 100,000 Palisade records and decode each.
pub fn raw_scan_decode(cfg: &Config) -> Result<f64, String> {
    let db = temporary_sled()?;
    let tree = db.open_tree("events").map_err(err)?;
    let codec = RecordCodec::new(Codec::default());
    for n in 1..=JOURNAL_EVENTS {
        let event = stored_event("replayed".to_owned(), n, n);
        let record = codec.encode(&event).map_err(err)?;
        tree.insert(n.to_be_bytes(), record).map_err(err)?;
    }
    measure(cfg, JOURNAL_EVENTS, |reps| {
        let start = Instant::now();
        for _ in 0..reps {
            let mut seen = 0u64;
            for entry in tree.iter() {
                let (_, record) = entry.map_err(err)?;
                black_box(RecordCodec::decode(&record).map_err(err)?);
                seen += 1;
            }
            if seen != JOURNAL_EVENTS {
                return Err(format!("scanned {seen} records, expected {JOURNAL_EVENTS}"));
            }
        }
        Ok(start.elapsed())
    })
}

async fn fill(
    journal: &SledJournal,
    stream: &str,
    payload: impl Fn(u64) -> Vec<u8>,
) -> Result<(), String> {
    let mut n = 0;
    for _ in 0..JOURNAL_EVENTS / PAGE as u64 {
        let batch = (0..PAGE)
            .map(|_| {
                n += 1;
                new_event(payload(n))
            })
            .collect();
        journal
            .append(stream, ExpectedVersion::Any, batch)
            .await
            .map_err(err)?;
    }
    Ok(())
}

/// Palisade: `read_stream` over one stream of 100,000 events, pages of 1,000.
pub fn read_stream(rt: &Runtime, cfg: &Config) -> Result<f64, String> {
    let journal = setup(rt, async {
        let journal = SledJournal::temporary().map_err(err)?;
        fill(&journal, "replayed", |_| payload()).await?;
        Ok(journal)
    })?;
    measure(cfg, JOURNAL_EVENTS, |reps| {
        let journal = journal.clone();
        run_batch(rt, async move {
            timed(async {
                for _ in 0..reps {
                    let (mut from, mut seen) = (1, 0u64);
                    loop {
                        let page = journal
                            .read_stream("replayed", from, u64::MAX, PAGE)
                            .await
                            .map_err(err)?;
                        let Some(last) = page.last() else { break };
                        from = last.sequence + 1;
                        seen += page.len() as u64;
                        black_box(&page);
                    }
                    if seen != JOURNAL_EVENTS {
                        return Err(format!("read {seen} events, expected {JOURNAL_EVENTS}"));
                    }
                }
                Ok(())
            })
            .await
        })
    })
}

// ----- journal bytes on disk ------------------------------------------------------------

/// Raw sled: 100,000 JSON-like 256-byte values under 8-byte keys, flushed.
pub fn raw_bytes_on_disk(_cfg: &Config) -> Result<f64, String> {
    let dir = ScratchDir::new("bytes-raw")?;
    {
        let db = sled::open(dir.path()).map_err(err)?;
        let tree = db.open_tree("events").map_err(err)?;
        for n in 1..=JOURNAL_EVENTS {
            tree.insert(n.to_be_bytes(), json_payload(n)).map_err(err)?;
        }
        db.flush().map_err(err)?;
    }
    Ok(dir_bytes(dir.path())? as f64 / JOURNAL_EVENTS as f64)
}

fn palisade_bytes_on_disk(rt: &Runtime, compress_above: usize) -> Result<f64, String> {
    let dir = ScratchDir::new("bytes-palisade")?;
    setup(rt, async {
        let journal = SledJournal::open(
            dir.path(),
            SledConfig::default()
                .durability(Durability::Buffered)
                .compress_above(compress_above),
        )
        .map_err(err)?;
        fill(&journal, "stored", json_payload).await?;
        journal.flush().await.map_err(err)
    })?;
    // The journal is dropped (sled closed) before the directory is measured.
    Ok(dir_bytes(dir.path())? as f64 / JOURNAL_EVENTS as f64)
}

/// Palisade without compression (`compress_above(usize::MAX)`).
pub fn bytes_uncompressed(rt: &Runtime, _cfg: &Config) -> Result<f64, String> {
    palisade_bytes_on_disk(rt, usize::MAX)
}

/// Palisade with every record body zstd-compressed (`compress_above(0)`).
pub fn bytes_compressed(rt: &Runtime, _cfg: &Config) -> Result<f64, String> {
    palisade_bytes_on_disk(rt, 0)
}
