//! `SledJournal` against the in-memory journal as a model: random appends (single and
//! batched, with every kind of expectation), deletes and reopens, with tiny index
//! rounds so that reads mix persisted chunks with the in-memory index. After every
//! step both journals must answer every read the same way.

use palisade_event_store::{
    Durability, Event, EventType, ExpectedVersion, InMemoryJournal, Journal, NewEvent, SledConfig,
    SledJournal,
};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Append { stream: usize, n: usize, expect: u8 },
    Concurrent { streams: Vec<usize> },
    DeleteTo { stream: usize, sequence: u64 },
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..3usize, 1..4usize, 0..3u8).prop_map(|(stream, n, expect)| Op::Append { stream, n, expect }),
        2 => prop::collection::vec(0..3usize, 2..6).prop_map(|streams| Op::Concurrent { streams }),
        2 => (0..3usize, 0..8u64).prop_map(|(stream, sequence)| Op::DeleteTo { stream, sequence }),
        1 => Just(Op::Reopen),
    ]
}

const STREAMS: [&str; 3] = ["a", "b\0c", "b"];

fn config(durability: Durability) -> SledConfig {
    SledConfig::default()
        .durability(durability)
        .index_every(3)
        .max_memory_events(2)
}

/// (stream, sequence, position, id, payload) of every event, as a journal sees them.
async fn view(
    j: &dyn Journal,
) -> (
    Vec<Vec<(u64, u64, String)>>,
    Vec<(String, u64, u64)>,
    Vec<u64>,
) {
    let mut streams = Vec::new();
    let mut heads = Vec::new();
    for s in STREAMS {
        let events = j
            .read_stream(s, 1, u64::MAX, 1_000)
            .await
            .expect("read stream");
        streams.push(
            events
                .iter()
                .map(|e| (e.sequence, e.position, e.id.clone()))
                .collect(),
        );
        heads.push(j.highest_sequence(s).await.expect("highest"));
        // A read from the middle, with a small max, agrees with the whole read.
        let middle: Vec<Event> = j.read_stream(s, 2, 4, 2).await.expect("read middle");
        let expected: Vec<&Event> = events
            .iter()
            .filter(|e| (2..=4).contains(&e.sequence))
            .take(2)
            .collect();
        assert_eq!(middle.iter().collect::<Vec<_>>(), expected);
    }
    let all = j.read_all(0, 10_000).await.expect("read all");
    let all = all
        .into_iter()
        .map(|e| (e.stream, e.sequence, e.position))
        .collect();
    (streams, all, heads)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn sled_journal_behaves_like_the_model(ops in prop::collection::vec(op(), 1..30)) {
        check(ops, Durability::Buffered);
    }
}

proptest! {
    // Durable appends go through the commit leader (fsyncs: fewer cases).
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    #[test]
    fn durable_sled_journal_behaves_like_the_model(ops in prop::collection::vec(op(), 1..30)) {
        check(ops, Durability::Durable);
    }
}

fn check(ops: Vec<Op>, durability: Durability) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let dir = tempfile::tempdir().expect("tempdir");
        let model = InMemoryJournal::new();
        let mut sled = SledJournal::open(dir.path(), config(durability)).expect("open");
        let mut next_id = 0u64;
        let mut ids = |n: usize| -> Vec<NewEvent> {
            (0..n)
                .map(|_| {
                    next_id += 1;
                    NewEvent::new(
                        format!("id-{next_id}"),
                        EventType::StateChanged,
                        next_id.to_be_bytes().to_vec(),
                    )
                })
                .collect()
        };
        for op in ops {
            let described = format!("{op:?}");
            // A step that never ends is a lost wakeup: fail naming the step, not hang.
            let step = async {
                match op {
                    Op::Append { stream, n, expect } => {
                        let s = STREAMS[stream];
                        let head = model.highest_sequence(s).await.expect("head");
                        let expected = match expect {
                            0 => ExpectedVersion::Any,
                            1 => ExpectedVersion::Exact(head),
                            _ => ExpectedVersion::Exact(head + 1), // a conflict
                        };
                        let batch = ids(n);
                        let m = model.append(s, expected, batch.clone()).await;
                        let j = sled.append(s, expected, batch.clone()).await;
                        assert_eq!(m, j, "append {s} {expected:?}");
                        // An immediate retry is deduplicated by both.
                        if let Ok(first) = m {
                            let again = sled.append(s, expected, batch).await.expect("retry");
                            assert!(again.deduplicated);
                            assert_eq!(
                                (again.first_sequence, again.first_position),
                                (first.first_sequence, first.first_position)
                            );
                        }
                    }
                    Op::Concurrent { streams } => {
                        // Appends racing on the sled journal (combined into groups);
                        // the model gets the same events in the order sled placed them.
                        let batches: Vec<_> =
                            streams.iter().map(|s| (STREAMS[*s], ids(1))).collect();
                        let tasks: Vec<_> = batches
                            .iter()
                            .cloned()
                            .map(|(s, batch)| {
                                let sled = sled.clone();
                                tokio::spawn(async move {
                                    sled.append(s, ExpectedVersion::Any, batch).await
                                })
                            })
                            .collect();
                        let mut placed = Vec::new();
                        for (task, (s, batch)) in tasks.into_iter().zip(batches) {
                            let r = task.await.expect("task").expect("append");
                            placed.push((r.first_position, s, batch));
                        }
                        placed.sort_by_key(|p| p.0);
                        for (_, s, batch) in placed {
                            model
                                .append(s, ExpectedVersion::Any, batch)
                                .await
                                .expect("model append");
                        }
                    }
                    Op::DeleteTo { stream, sequence } => {
                        let s = STREAMS[stream];
                        model.delete_to(s, sequence).await.expect("model delete");
                        sled.delete_to(s, sequence).await.expect("sled delete");
                    }
                    Op::Reopen => {
                        // Close first: an open journal locks its directory.
                        let stand_in =
                            SledJournal::temporary_with(config(durability)).expect("stand-in");
                        drop(std::mem::replace(&mut sled, stand_in));
                        sled = SledJournal::open(dir.path(), config(durability)).expect("reopen");
                    }
                }
                assert_eq!(view(&model).await, view(&sled).await);
                assert_eq!(
                    model.highest_position().await.expect("model position"),
                    sled.highest_position().await.expect("sled position")
                );
            };
            tokio::time::timeout(std::time::Duration::from_secs(30), step)
                .await
                .unwrap_or_else(|_| panic!("step {described} did not finish"));
        }
    });
}
