//! `SledJournal` promises beyond the shared conformance suite: what survives a reopen,
//! how corruption is reported, group commit, and codec switching.

use std::sync::Arc;

use palisade_event_store::{
    Codec, Durability, EventType, ExpectedVersion, Journal, JournalError, NewEvent, SledConfig,
    SledJournal,
};

fn ev(id: &str) -> NewEvent {
    NewEvent::new(id, EventType::StateChanged, id.as_bytes().to_vec()).correlation("flow")
}

fn evs(prefix: &str, n: usize) -> Vec<NewEvent> {
    (1..=n).map(|i| ev(&format!("{prefix}-{i}"))).collect()
}

/// sled opened directly, once the journal's background threads have let go of the
/// directory lock (they may hold it a moment after the journal is dropped).
fn raw_open(dir: &std::path::Path) -> sled::Db {
    for _ in 0..100 {
        if let Ok(db) = sled::open(dir) {
            return db;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    sled::open(dir).expect("raw open")
}

fn durable() -> SledConfig {
    SledConfig::default().durability(Durability::Durable)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_keeps_every_event_and_appends_continue_after_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let j = SledJournal::open(dir.path(), durable()).expect("open");
        j.append("a", ExpectedVersion::NoStream, evs("a", 3))
            .await
            .expect("append");
        j.append("b", ExpectedVersion::NoStream, evs("b", 2))
            .await
            .expect("append");
        j.delete_to("a", 1).await.expect("delete");
    }
    let j = SledJournal::open(dir.path(), durable()).expect("reopen");
    assert_eq!(j.highest_sequence("a").await.expect("highest"), 3);
    let a = j.read_stream("a", 1, u64::MAX, 100).await.expect("read");
    assert_eq!(
        a.iter()
            .map(|e| (e.sequence, e.id.as_str()))
            .collect::<Vec<_>>(),
        vec![(2, "a-2"), (3, "a-3")],
        "the delete survived too"
    );
    assert_eq!(j.read_all(0, 100).await.expect("all").len(), 4);

    let r = j
        .append("a", ExpectedVersion::Exact(3), evs("c", 1))
        .await
        .expect("append after reopen");
    assert_eq!((r.first_sequence, r.first_position), (4, 6));
    let again = j
        .append("b", ExpectedVersion::Any, evs("b", 2))
        .await
        .expect("retry");
    assert!(again.deduplicated, "ids survive a reopen");
    assert_eq!((again.first_sequence, again.first_position), (1, 4));
}

/// Three appends of one event to "acct" (three groups in the `events` tree), then one
/// byte of the second group, the one `at` picks from its length, flipped behind the
/// journal's back.
async fn three_groups_then_damage_the_second(
    dir: &std::path::Path,
    at: impl FnOnce(usize) -> usize,
) {
    {
        let j = SledJournal::open(dir, durable()).expect("open");
        for e in evs("e", 3) {
            j.append("acct", ExpectedVersion::Any, vec![e])
                .await
                .expect("append");
        }
    }
    let db = raw_open(dir);
    let events = db.open_tree("events").expect("tree");
    let (key, value) = events.iter().nth(1).expect("entry").expect("read");
    let mut damaged = value.to_vec();
    let i = at(damaged.len());
    damaged[i] ^= 0x01;
    events.insert(key, damaged).expect("overwrite");
    db.flush().expect("flush");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_record_is_reported_as_corrupt_with_its_stream_and_sequence() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The last byte of the second record.
    three_groups_then_damage_the_second(dir.path(), |len| len - 1).await;
    let j = SledJournal::open(dir.path(), durable()).expect("reopen");
    let first = j.read_stream("acct", 1, 1, 10).await.expect("intact");
    assert_eq!(first[0].id, "e-1", "undamaged records still read");
    let err = j
        .read_stream("acct", 1, u64::MAX, 10)
        .await
        .expect_err("corrupt");
    assert!(
        matches!(&err, JournalError::Corrupt { stream, sequence: 2, reason }
            if stream == "acct" && reason.contains("checksum")),
        "{err:?}"
    );
    for err in [
        j.read_all(0, 10).await.expect_err("scan"),
        j.read_correlation("flow", 0, 10).await.expect_err("scan"),
        // A name no record holds: the damaged record is decoded all the same.
        j.read_event_type(&EventType::Custom("absent".into()), 0, 10)
            .await
            .expect_err("scan"),
        // A range no event is in, the same.
        j.read_time_range(0, 1, 0, 10).await.expect_err("scan"),
    ] {
        assert!(
            matches!(&err, JournalError::Corrupt { stream, sequence: 2, .. } if stream == "acct"),
            "{err:?}"
        );
    }
}

/// A group whose framing is damaged after the last index round cannot be filed under
/// its streams at open: open reports it rather than let reads skip its records and
/// appends reuse their sequence numbers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_group_that_open_must_index_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The entry header's position field.
    three_groups_then_damage_the_second(dir.path(), |_| 7).await;
    let err = SledJournal::open(dir.path(), durable()).expect_err("reopen");
    assert!(
        matches!(&err, JournalError::Corrupt { reason, .. }
            if reason.contains("position 2") && reason.contains("unreadable")),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_durable_appends_share_fsyncs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let j = Arc::new(SledJournal::open(dir.path(), durable()).expect("open"));
    let start = Arc::new(tokio::sync::Barrier::new(64));
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let (j, start) = (j.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                j.append(
                    &format!("s{i}"),
                    ExpectedVersion::NoStream,
                    evs(&format!("t{i}"), 1),
                )
                .await
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task").expect("append");
    }
    let flushes = j.flush_count();
    assert!(flushes >= 1, "durable appends fsync");
    assert!(flushes <= 16, "64 appends took {flushes} fsyncs");
    assert_eq!(j.read_all(0, 100).await.expect("all").len(), 64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffered_appends_do_not_fsync_until_asked() {
    let j = SledJournal::temporary().expect("sled");
    for i in 0..10 {
        j.append("s", ExpectedVersion::Any, vec![ev(&format!("e{i}"))])
            .await
            .expect("append");
    }
    assert_eq!(j.flush_count(), 0);
    j.flush().await.expect("flush");
    assert_eq!(j.flush_count(), 1);
    j.flush().await.expect("nothing new");
    assert_eq!(j.flush_count(), 1, "nothing new to make durable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_of_either_codec_read_back_after_switching() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = NewEvent::new("big", EventType::StateChanged, vec![7u8; 4096]);
    {
        let j = SledJournal::open(dir.path(), durable().codec(Codec::Json)).expect("open");
        j.append("s", ExpectedVersion::Any, vec![ev("json"), big.clone()])
            .await
            .expect("append");
    }
    let j = SledJournal::open(dir.path(), durable().codec(Codec::Bincode)).expect("reopen");
    j.append("s", ExpectedVersion::Any, vec![ev("bincode")])
        .await
        .expect("append");
    let events = j.read_stream("s", 1, u64::MAX, 10).await.expect("read");
    assert_eq!(
        events.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        vec!["json", "big", "bincode"]
    );
    assert_eq!(events[1].payload, big.payload);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recent_reads_come_from_the_hot_tail_and_match_the_store() {
    let config = SledConfig::default()
        .durability(Durability::Buffered)
        .max_memory_events(5);
    let journal = SledJournal::temporary_with(config).expect("sled");
    for i in 1..=8 {
        let e = NewEvent::new(format!("t-{i}"), EventType::StateChanged, vec![i as u8]);
        journal
            .append("s", ExpectedVersion::Any, vec![e])
            .await
            .expect("append");
    }
    let before = journal.tail_hits();
    let recent = journal
        .read_stream("s", 5, u64::MAX, 100)
        .await
        .expect("read");
    assert_eq!(journal.tail_hits(), before + 1, "served from memory");
    let old = journal
        .read_stream("s", 1, u64::MAX, 100)
        .await
        .expect("read");
    assert_eq!(
        journal.tail_hits(),
        before + 1,
        "older than the tail: read from sled"
    );
    assert_eq!(recent, old[4..].to_vec(), "the tail agrees with the store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_retry_is_deduplicated_by_its_expected_version() {
    // A window of one id: the retry's ids are long gone from it.
    let config = SledConfig::default()
        .durability(Durability::Buffered)
        .dedup_window(1);
    let j = SledJournal::temporary_with(config).expect("sled");
    let first = j
        .append("s", ExpectedVersion::NoStream, evs("a", 2))
        .await
        .expect("append");
    j.append("s", ExpectedVersion::Exact(2), evs("b", 3))
        .await
        .expect("append");
    let late = j
        .append("s", ExpectedVersion::NoStream, evs("a", 2))
        .await
        .expect("late retry");
    assert!(late.deduplicated);
    assert_eq!(
        (late.first_sequence, late.last_sequence, late.first_position),
        (
            first.first_sequence,
            first.last_sequence,
            first.first_position
        )
    );
    let exact = j
        .append("s", ExpectedVersion::Exact(2), evs("b", 3))
        .await
        .expect("late retry");
    assert!(exact.deduplicated);
    assert_eq!(exact.first_sequence, 3);
    // Different ids at that version are a conflict, as before.
    assert!(matches!(
        j.append("s", ExpectedVersion::Exact(2), evs("c", 3)).await,
        Err(JournalError::SequenceConflict { actual: 5, .. })
    ));
    // Outside the window, a retry with `Any` cannot be recognised: it is written
    // again (documented; use an exact expectation where a retry may come late).
    let again = j
        .append("s", ExpectedVersion::Any, evs("a", 2))
        .await
        .expect("written again");
    assert!(!again.deduplicated);
    assert_eq!(j.highest_sequence("s").await.expect("highest"), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_buffered_appends_are_never_stranded() {
    // Regression: an appender that queued while a writer held the lock, just as that
    // writer found the queue empty and let go, was never written.
    let config = SledConfig::default()
        .durability(Durability::Buffered)
        .index_every(3)
        .max_memory_events(2);
    let j = SledJournal::temporary_with(config).expect("sled");
    let mut total = 0u64;
    for round in 0..6_000u64 {
        let racers = 3 + round % 5;
        let tasks: Vec<_> = (0..racers)
            .map(|t| {
                let j = j.clone();
                let e = ev(&format!("r{round}-{t}"));
                tokio::spawn(async move {
                    j.append(&format!("s{}", t % 3), ExpectedVersion::Any, vec![e])
                        .await
                })
            })
            .collect();
        let all = async {
            for task in tasks {
                task.await.expect("task").expect("append");
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(20), all)
            .await
            .unwrap_or_else(|_| panic!("round {round}: an append was never written"));
        total += racers;
    }
    assert_eq!(j.highest_position().await.expect("position"), total);
}

/// Copies the files of a journal directory as they are on disk right now (what a
/// power loss would leave, give or take what the kernel had not written yet).
fn copy_dir(from: &std::path::Path, to: &std::path::Path, with_log: bool) {
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        if !with_log && name == "palisade.wal" {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().expect("type").is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_dir(&entry.path(), &target, with_log);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A `Durable` journal that sled flushes only once a minute, with events e-1 to e-20
/// appended to "acct" once sled's flusher thread has made its first write: sled writes
/// its buffers once when that thread starts, then every minute here, so sled's copy of
/// the appends stays in its memory buffers and only the commit log holds them on disk.
/// (Not a timing assertion: the pause only orders the appends after a background
/// thread's start.)
async fn twenty_appends_only_the_log_holds(dir: &std::path::Path) -> (SledJournal, SledConfig) {
    let config = durable().flush_every_ms(60_000);
    let j = SledJournal::open(dir, config).expect("open");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    for i in 1..=20u64 {
        j.append(
            "acct",
            ExpectedVersion::Exact(i - 1),
            vec![ev(&format!("e-{i}"))],
        )
        .await
        .expect("append");
    }
    (j, config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_durable_appends_come_back_from_the_commit_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (j, config) = twenty_appends_only_the_log_holds(dir.path()).await;
    let with_log = tempfile::tempdir().expect("tempdir");
    let without_log = tempfile::tempdir().expect("tempdir");
    copy_dir(dir.path(), with_log.path(), true);
    copy_dir(dir.path(), without_log.path(), false);
    drop(j);

    let recovered = SledJournal::open(with_log.path(), config).expect("open the copy");
    assert_eq!(
        recovered.highest_sequence("acct").await.expect("highest"),
        20
    );
    let events = recovered
        .read_stream("acct", 1, u64::MAX, 100)
        .await
        .expect("read");
    assert_eq!(events.len(), 20);
    assert_eq!(events[19].id, "e-20");
    // And appends go on after them.
    recovered
        .append("acct", ExpectedVersion::Exact(20), vec![ev("e-21")])
        .await
        .expect("append after recovery");
    drop(recovered);
    let reopened = SledJournal::open(with_log.path(), config).expect("reopen");
    assert_eq!(
        reopened.highest_sequence("acct").await.expect("highest"),
        21
    );

    // Without the log, sled's files alone had lost them: the log is what kept them.
    let bare = SledJournal::open(without_log.path(), config).expect("open the bare copy");
    assert!(bare.highest_sequence("acct").await.expect("highest") < 20);
}

/// A `Durable` delete is durable when it returns: a crash right after it (a copy of
/// the directory, sled's buffers left behind) must not bring the events back from the
/// commit log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_delete_survives_a_crash_right_after_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (j, config) = twenty_appends_only_the_log_holds(dir.path()).await;
    j.delete_to("acct", 15).await.expect("delete");
    let copy = tempfile::tempdir().expect("tempdir");
    copy_dir(dir.path(), copy.path(), true);
    drop(j);

    let recovered = SledJournal::open(copy.path(), config).expect("open the copy");
    let events = recovered
        .read_stream("acct", 1, u64::MAX, 100)
        .await
        .expect("read");
    let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["e-16", "e-17", "e-18", "e-19", "e-20"]);
    assert_eq!(
        recovered.highest_sequence("acct").await.expect("highest"),
        20
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buffered_open_replays_and_drops_the_commit_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let j = SledJournal::open(dir.path(), durable()).expect("open");
    j.append("a", ExpectedVersion::NoStream, evs("a", 3))
        .await
        .expect("append");
    drop(j);
    assert!(dir.path().join("palisade.wal").exists());
    let buffered = SledConfig::default().durability(Durability::Buffered);
    let j = SledJournal::open(dir.path(), buffered).expect("open buffered");
    assert_eq!(j.highest_sequence("a").await.expect("highest"), 3);
    assert!(!dir.path().join("palisade.wal").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_log_without_a_valid_header_is_reported_not_ignored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = durable().flush_every_ms(60_000);
    let j = SledJournal::open(dir.path(), config).expect("open");
    j.append("a", ExpectedVersion::NoStream, evs("a", 2))
        .await
        .expect("append");
    let copy = tempfile::tempdir().expect("tempdir");
    copy_dir(dir.path(), copy.path(), true);
    drop(j);
    let log = copy.path().join("palisade.wal");
    let mut bytes = std::fs::read(&log).expect("read log");
    bytes[0] ^= 1;
    bytes[512] ^= 1;
    std::fs::write(&log, &bytes).expect("write log");
    match SledJournal::open(copy.path(), config) {
        Err(JournalError::Corrupt { reason, .. }) => assert!(reason.contains("commit log")),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_log_below_64_kib_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = durable().commit_log_bytes(1_000);
    assert!(matches!(
        SledJournal::open(dir.path(), config),
        Err(JournalError::Storage(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_commit_log_checkpoints_and_keeps_every_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = durable().commit_log_bytes(64 << 10);
    {
        let j = SledJournal::open(dir.path(), config).expect("open");
        // About 400 KB of frames: several checkpoints.
        for i in 0..400u64 {
            let payload = vec![b'x'; 1_000];
            let e = NewEvent::new(format!("e-{i}"), EventType::StateChanged, payload);
            j.append("big", ExpectedVersion::Exact(i), vec![e])
                .await
                .expect("append");
        }
        let log = std::fs::metadata(dir.path().join("palisade.wal")).expect("log");
        assert!(
            log.len() <= 256 << 10,
            "the log was reused: {} bytes",
            log.len()
        );
    }
    let j = SledJournal::open(dir.path(), config).expect("reopen");
    assert_eq!(j.highest_sequence("big").await.expect("highest"), 400);
    assert_eq!(
        j.read_stream("big", 1, u64::MAX, 1_000)
            .await
            .expect("read")
            .len(),
        400
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heads_persisted_by_index_rounds_are_read_back_from_the_store() {
    // An index round drops the heads it persisted from memory (the map stays as small
    // as one round): appends and reads after it must find them in `streams`.
    let config = SledConfig::default()
        .durability(Durability::Buffered)
        .index_every(10);
    let j = SledJournal::temporary_with(config).expect("open");
    for s in 0..100 {
        j.append(
            &format!("s-{s}"),
            ExpectedVersion::NoStream,
            evs(&format!("a{s}"), 1),
        )
        .await
        .expect("first append");
    }
    for s in 0..100 {
        let stream = format!("s-{s}");
        assert_eq!(j.highest_sequence(&stream).await.expect("highest"), 1);
        let r = j
            .append(&stream, ExpectedVersion::Exact(1), evs(&format!("b{s}"), 2))
            .await
            .expect("second append");
        assert_eq!((r.first_sequence, r.last_sequence), (2, 3));
        let conflict = j
            .append(&stream, ExpectedVersion::Exact(1), evs(&format!("c{s}"), 1))
            .await;
        assert!(matches!(
            conflict,
            Err(JournalError::SequenceConflict { .. })
        ));
    }
}

#[tokio::test]
async fn a_directory_held_by_an_open_journal_is_reported_as_in_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = SledJournal::open(dir.path(), durable()).expect("open");
    let second = SledJournal::open(dir.path(), durable());
    assert!(
        matches!(&second, Err(JournalError::InUse(path)) if path == &dir.path().display().to_string()),
        "{second:?}"
    );
    // The first is untouched, and once it is closed the directory opens again.
    first
        .append("s", ExpectedVersion::NoStream, evs("s", 1))
        .await
        .expect("append");
    drop(first);
    let again = SledJournal::open(dir.path(), durable()).expect("reopen");
    assert_eq!(again.highest_sequence("s").await.expect("highest"), 1);
}

/// Buffered appends (their records pending, then stored in groups) racing reads that
/// go to sled (no tail): every read succeeds and sees, per stream, a gap-free prefix
/// 1..k, and read_all a gap-free run of positions; at the end every event is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_racing_buffered_appends_see_gap_free_prefixes() {
    const WRITERS: usize = 4;
    const APPENDS: u64 = 1_500;
    let config = SledConfig::default()
        .durability(Durability::Buffered)
        .max_memory_events(0)
        .index_every(64);
    let j = Arc::new(SledJournal::temporary_with(config).expect("open"));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let j = j.clone();
            tokio::spawn(async move {
                for i in 1..=APPENDS {
                    j.append(
                        &format!("s-{w}"),
                        ExpectedVersion::Exact(i - 1),
                        vec![ev(&format!("w{w}-{i}"))],
                    )
                    .await
                    .expect("append");
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..WRITERS)
        .map(|r| {
            let (j, done) = (j.clone(), done.clone());
            tokio::spawn(async move {
                let mut reads = 0u64;
                while !done.load(std::sync::atomic::Ordering::Acquire) {
                    let events = j
                        .read_stream(&format!("s-{r}"), 1, u64::MAX, usize::MAX)
                        .await
                        .expect("read_stream");
                    for (i, e) in events.iter().enumerate() {
                        assert_eq!(e.sequence, i as u64 + 1, "a gap in s-{r}");
                    }
                    let all = j.read_all(1, usize::MAX).await.expect("read_all");
                    for (i, e) in all.iter().enumerate() {
                        assert_eq!(e.position, i as u64 + 1, "a gap in the positions");
                    }
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    for w in writers {
        w.await.expect("writer");
    }
    done.store(true, std::sync::atomic::Ordering::Release);
    for r in readers {
        assert!(r.await.expect("reader") > 0, "a reader never read");
    }
    let all = j.read_all(1, usize::MAX).await.expect("read_all");
    assert_eq!(all.len() as u64, WRITERS as u64 * APPENDS);
}
