//! Costs of the sled journal: an append of one 256-byte event with `Buffered`
//! durability; `Durable` appends one at a time (one fsync each) and from 64 concurrent
//! appenders (group commit shares the fsyncs), per append; and replaying one stream of
//! 100,000 events through `read_stream` pages of 1,000 (and through [`Replay`], which
//! pages the same way); and the scans that find 100 events among 100,000 by
//! correlation, custom type and a narrow time range. Run with
//! `cargo bench -p palisade-event-store --bench journal`;
//! the comparison with raw sled (and bytes on disk per event) lives in `bench-compare/`
//! (`--only journal`).
//!
//! `Durable` cases write to a directory under the system temp dir, which must be a real
//! disk for the fsync to mean anything (sled's own `temporary` databases may live in
//! `/dev/shm`). After the Durable cases the bench prints the fsyncs per append that
//! [`SledJournal::flush_count`] saw.

#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use palisade_event_store::{
    Durability, EventStore, EventType, ExpectedVersion, Journal, NewEvent, Replay, ReplaySource,
    SledConfig, SledJournal,
};
use tokio::runtime::Runtime;

const PAYLOAD_BYTES: usize = 256;
const APPENDERS: u64 = 64;
const REPLAY_EVENTS: u64 = 100_000;
const PAGE: usize = 1_000;

/// Unique event ids across every iteration of every case of a run.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

fn new_event() -> NewEvent {
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    NewEvent::new(
        format!("e-{n}"),
        EventType::StateChanged,
        vec![b'x'; PAYLOAD_BYTES],
    )
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn durable_on_disk() -> (tempfile::TempDir, SledJournal) {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = SledJournal::open(
        dir.path(),
        SledConfig::default().durability(Durability::Durable),
    )
    .expect("open a durable journal");
    (dir, journal)
}

fn append_buffered(c: &mut Criterion) {
    let rt = runtime();
    let journal = SledJournal::temporary().expect("temporary journal");
    let mut group = c.benchmark_group("journal append");
    group.throughput(Throughput::Elements(1));
    group.bench_function("buffered, one 256 B event", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let written = journal
                        .append("bench", ExpectedVersion::Any, vec![new_event()])
                        .await
                        .expect("append");
                    black_box(written);
                }
                start.elapsed()
            })
        });
    });
    group.finish();
}

fn append_durable(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("journal append durable");
    group.throughput(Throughput::Elements(1));

    let (_dir, journal) = durable_on_disk();
    let (mut appends, flushes_before) = (0u64, journal.flush_count());
    group.bench_function("one at a time (fsync per append)", |b| {
        b.iter_custom(|iters| {
            appends += iters;
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    journal
                        .append("bench", ExpectedVersion::Any, vec![new_event()])
                        .await
                        .expect("append");
                }
                start.elapsed()
            })
        });
    });
    report_fsyncs(
        "one at a time",
        journal.flush_count() - flushes_before,
        appends,
    );

    let (_dir, journal) = durable_on_disk();
    let journal = Arc::new(journal);
    let (mut appends, flushes_before) = (0u64, journal.flush_count());
    group.bench_function("64 concurrent appenders (per append)", |b| {
        b.iter_custom(|iters| {
            let per_appender = iters.div_ceil(APPENDERS);
            appends += per_appender * APPENDERS;
            let elapsed = rt.block_on(async {
                let start = Instant::now();
                let tasks: Vec<_> = (0..APPENDERS)
                    .map(|a| {
                        let journal = journal.clone();
                        tokio::spawn(async move {
                            let stream = format!("bench-{a}");
                            for _ in 0..per_appender {
                                journal
                                    .append(&stream, ExpectedVersion::Any, vec![new_event()])
                                    .await
                                    .expect("append");
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.expect("appender task");
                }
                start.elapsed()
            });
            // Scale to the `iters` appends criterion asked for (rounding up to a multiple
            // of 64 ran a few more).
            elapsed.mul_f64(iters as f64 / (per_appender * APPENDERS) as f64)
        });
    });
    report_fsyncs(
        "64 concurrent appenders",
        journal.flush_count() - flushes_before,
        appends,
    );
    group.finish();
}

fn report_fsyncs(case: &str, flushes: u64, appends: u64) {
    if appends > 0 {
        eprintln!(
            "journal append durable, {case}: {flushes} fsyncs for {appends} appends ({:.3} per append)",
            flushes as f64 / appends as f64
        );
    }
}

fn replay(c: &mut Criterion) {
    let rt = runtime();
    let journal = SledJournal::temporary().expect("temporary journal");
    rt.block_on(async {
        for _ in 0..REPLAY_EVENTS / PAGE as u64 {
            let batch = (0..PAGE).map(|_| new_event()).collect();
            journal
                .append("replayed", ExpectedVersion::Any, batch)
                .await
                .expect("fill the stream");
        }
    });
    let store = EventStore::new(Arc::new(journal.clone()));
    let mut group = c.benchmark_group("journal replay, one stream of 100,000 events");
    group.throughput(Throughput::Elements(REPLAY_EVENTS));
    group.sample_size(10);
    group.bench_function("read_stream pages of 1,000", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let (mut from, mut seen) = (1, 0u64);
                    loop {
                        let page = journal
                            .read_stream("replayed", from, u64::MAX, PAGE)
                            .await
                            .expect("read_stream");
                        let Some(last) = page.last() else { break };
                        from = last.sequence + 1;
                        seen += page.len() as u64;
                        black_box(&page);
                    }
                    assert_eq!(seen, REPLAY_EVENTS, "replayed every event");
                }
                start.elapsed()
            })
        });
    });
    group.bench_function("Replay (stream source)", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let mut seen = 0u64;
                    Replay::new(&store, ReplaySource::Stream("replayed".to_owned()))
                        .page_size(PAGE)
                        .run(|e| {
                            seen += 1;
                            black_box(e);
                            Ok::<(), ()>(())
                        })
                        .await
                        .expect("replay");
                    assert_eq!(seen, REPLAY_EVENTS, "replayed every event");
                }
                start.elapsed()
            })
        });
    });
    group.finish();
}

/// Events of the secondary-read journal, and how many of them each read finds.
const SCANNED_EVENTS: u64 = 100_000;
const FOUND: usize = 100;

fn secondary_reads(c: &mut Criterion) {
    let rt = runtime();
    let journal = SledJournal::temporary().expect("temporary journal");
    // One event in a thousand carries the correlation `flow-7` and the custom type
    // `audited`, and is stamped inside the narrow range; the rest are not.
    let stamp = |n: u64| 1_000_000 + n;
    let (rare_from, rare_to) = (stamp(50_000), stamp(50_000 + FOUND as u64 - 1));
    rt.block_on(async {
        let mut n = 0;
        for page in 0..SCANNED_EVENTS / PAGE as u64 {
            let batch = (0..PAGE)
                .map(|i| {
                    n += 1;
                    let rare = i == 0;
                    let kind = if rare { "audited" } else { "posted" };
                    let event = NewEvent::new(
                        format!("scan-{n}"),
                        EventType::Custom(kind.to_owned()),
                        vec![b'x'; PAYLOAD_BYTES],
                    )
                    .correlation(if rare { "flow-7" } else { "flow-other" });
                    // The narrow range holds `FOUND` consecutive events mid-journal.
                    event.at(stamp(n))
                })
                .collect();
            journal
                .append(&format!("scanned-{page}"), ExpectedVersion::Any, batch)
                .await
                .expect("fill the journal");
        }
    });
    let mut group = c.benchmark_group("journal secondary reads, 100 of 100,000 events");
    group.throughput(Throughput::Elements(SCANNED_EVENTS));
    group.sample_size(10);
    let max = 2 * FOUND;
    group.bench_function("read_correlation", |b| {
        b.iter(|| {
            let found = rt
                .block_on(journal.read_correlation("flow-7", 0, max))
                .expect("read_correlation");
            assert_eq!(found.len(), FOUND);
        });
    });
    group.bench_function("read_event_type (custom)", |b| {
        let audited = EventType::Custom("audited".to_owned());
        b.iter(|| {
            let found = rt
                .block_on(journal.read_event_type(&audited, 0, max))
                .expect("read_event_type");
            assert_eq!(found.len(), FOUND);
        });
    });
    // The reference: a built-in type is a variant number in the record, so this scan
    // decodes every record (and finds none).
    group.bench_function("read_event_type (built-in, decodes every record)", |b| {
        b.iter(|| {
            let found = rt
                .block_on(journal.read_event_type(&EventType::StateChanged, 0, max))
                .expect("read_event_type");
            assert!(found.is_empty());
        });
    });
    group.bench_function("read_time_range (narrow)", |b| {
        b.iter(|| {
            let found = rt
                .block_on(journal.read_time_range(rare_from, rare_to, 0, max))
                .expect("read_time_range");
            assert_eq!(found.len(), FOUND);
        });
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = append_buffered, append_durable, replay, secondary_reads
}
criterion_main!(benches);
