//! The journal contract (and Akka's journal conformance behaviours), run against every
//! backend. A backend joins by adding a `backend!` line at the bottom.

use std::sync::Arc;

use palisade_event_store::{
    EventType, ExpectedVersion, InMemoryJournal, Journal, JournalError, NewEvent,
};

fn ev(id: &str) -> NewEvent {
    NewEvent::new(id, EventType::StateChanged, id.as_bytes().to_vec())
}

fn evs(prefix: &str, n: usize) -> Vec<NewEvent> {
    (1..=n).map(|i| ev(&format!("{prefix}-{i}"))).collect()
}

async fn seqs(j: &dyn Journal, stream: &str, from: u64, to: u64, max: usize) -> Vec<u64> {
    j.read_stream(stream, from, to, max)
        .await
        .expect("read")
        .iter()
        .map(|e| e.sequence)
        .collect()
}

async fn sequences_start_at_one_without_gaps(j: Arc<dyn Journal>) {
    let r = j
        .append("s", ExpectedVersion::Any, evs("a", 3))
        .await
        .expect("append");
    assert_eq!((r.first_sequence, r.last_sequence), (1, 3));
    let r = j
        .append("s", ExpectedVersion::Any, evs("b", 2))
        .await
        .expect("append");
    assert_eq!((r.first_sequence, r.last_sequence), (4, 5));
    assert_eq!(seqs(&*j, "s", 1, u64::MAX, 100).await, vec![1, 2, 3, 4, 5]);
    assert_eq!(j.highest_sequence("s").await.expect("highest"), 5);
    assert_eq!(j.highest_sequence("unknown").await.expect("highest"), 0);
}

async fn expected_version_mismatch_is_a_conflict_and_writes_nothing(j: Arc<dyn Journal>) {
    j.append("s", ExpectedVersion::NoStream, evs("a", 2))
        .await
        .expect("append");
    let err = j
        .append("s", ExpectedVersion::Exact(1), evs("b", 1))
        .await
        .expect_err("conflict");
    assert!(
        matches!(err, JournalError::SequenceConflict { actual: 2, .. }),
        "{err:?}"
    );
    let err = j
        .append("s", ExpectedVersion::NoStream, evs("c", 1))
        .await
        .expect_err("conflict");
    assert!(matches!(
        err,
        JournalError::SequenceConflict { actual: 2, .. }
    ));
    j.append("s", ExpectedVersion::Exact(2), evs("d", 1))
        .await
        .expect("matches");
    assert_eq!(j.highest_sequence("s").await.expect("highest"), 3);
}

async fn reappending_stored_ids_returns_the_original_result(j: Arc<dyn Journal>) {
    let first = j
        .append("s", ExpectedVersion::Any, evs("a", 2))
        .await
        .expect("append");
    let again = j
        .append("s", ExpectedVersion::Any, evs("a", 2))
        .await
        .expect("idempotent");
    assert!(again.deduplicated);
    assert_eq!(
        (again.first_sequence, again.last_sequence),
        (first.first_sequence, first.last_sequence)
    );
    assert_eq!(
        j.highest_sequence("s").await.expect("highest"),
        2,
        "nothing written"
    );
    let mixed = vec![ev("a-1"), ev("z-1")];
    assert!(matches!(
        j.append("s", ExpectedVersion::Any, mixed).await,
        Err(JournalError::InvalidAppend(_))
    ));
}

async fn invalid_batches_are_refused(j: Arc<dyn Journal>) {
    assert!(matches!(
        j.append("s", ExpectedVersion::Any, vec![]).await,
        Err(JournalError::InvalidAppend(_))
    ));
    assert!(matches!(
        j.append("s", ExpectedVersion::Any, vec![ev("x"), ev("x")])
            .await,
        Err(JournalError::InvalidAppend(_))
    ));
    assert!(matches!(
        j.append("s", ExpectedVersion::Any, vec![ev("")]).await,
        Err(JournalError::InvalidAppend(_))
    ));
    assert_eq!(j.highest_sequence("s").await.expect("highest"), 0);
}

async fn replay_honours_from_to_and_max(j: Arc<dyn Journal>) {
    j.append("s", ExpectedVersion::Any, evs("a", 5))
        .await
        .expect("append");
    assert_eq!(seqs(&*j, "s", 2, 4, 100).await, vec![2, 3, 4]);
    assert_eq!(seqs(&*j, "s", 2, u64::MAX, 2).await, vec![2, 3]);
    assert_eq!(
        seqs(&*j, "s", 4, 2, 100).await,
        Vec::<u64>::new(),
        "from > to"
    );
    assert_eq!(
        seqs(&*j, "s", 1, u64::MAX, 0).await,
        Vec::<u64>::new(),
        "max 0"
    );
    assert_eq!(
        seqs(&*j, "s", 6, u64::MAX, 100).await,
        Vec::<u64>::new(),
        "past the end"
    );
    assert_eq!(seqs(&*j, "s", 0, 1, 100).await, vec![1]);
}

async fn delete_to_keeps_the_highest_sequence(j: Arc<dyn Journal>) {
    j.append("s", ExpectedVersion::Any, evs("a", 5))
        .await
        .expect("append");
    j.delete_to("s", 3).await.expect("delete");
    assert_eq!(seqs(&*j, "s", 1, u64::MAX, 100).await, vec![4, 5]);
    j.delete_to("s", 100).await.expect("delete all");
    assert_eq!(seqs(&*j, "s", 1, u64::MAX, 100).await, Vec::<u64>::new());
    assert_eq!(
        j.highest_sequence("s").await.expect("highest"),
        5,
        "the highest survives"
    );
    let r = j
        .append("s", ExpectedVersion::Exact(5), evs("b", 1))
        .await
        .expect("append");
    assert_eq!(r.first_sequence, 6, "appends continue after it");
}

async fn global_positions_follow_append_order(j: Arc<dyn Journal>) {
    j.append("a", ExpectedVersion::Any, evs("a", 2))
        .await
        .expect("append");
    j.append("b", ExpectedVersion::Any, evs("b", 2))
        .await
        .expect("append");
    j.append("a", ExpectedVersion::Any, evs("c", 1))
        .await
        .expect("append");
    let all = j.read_all(0, 100).await.expect("all");
    let order: Vec<(String, u64)> = all.iter().map(|e| (e.stream.clone(), e.sequence)).collect();
    assert_eq!(
        order,
        vec![
            ("a".into(), 1),
            ("a".into(), 2),
            ("b".into(), 1),
            ("b".into(), 2),
            ("a".into(), 3)
        ]
    );
    assert!(all.windows(2).all(|w| w[0].position < w[1].position));
    let tail = j
        .read_all(all[2].position, 2)
        .await
        .expect("from a position");
    assert_eq!(tail.len(), 2);
    assert_eq!(tail[0].position, all[2].position);
}

async fn reads_by_correlation_time_and_type(j: Arc<dyn Journal>) {
    let batch = vec![
        ev("1").correlation("flow-1").at(1_000),
        NewEvent::new("2", EventType::Custom("audit".into()), vec![]).at(2_000),
        ev("3").correlation("flow-1").at(3_000),
    ];
    j.append("s", ExpectedVersion::Any, batch)
        .await
        .expect("append");
    let ids = |v: Vec<palisade_event_store::Event>| v.into_iter().map(|e| e.id).collect::<Vec<_>>();
    assert_eq!(
        ids(j.read_correlation("flow-1", 0, 10).await.expect("read")),
        vec!["1", "3"]
    );
    assert_eq!(
        ids(j.read_time_range(1_500, 3_000, 0, 10).await.expect("read")),
        vec!["2", "3"]
    );
    assert_eq!(
        ids(j
            .read_event_type(&EventType::Custom("audit".into()), 0, 10)
            .await
            .expect("read")),
        vec!["2"]
    );
}

async fn stored_events_keep_every_field(j: Arc<dyn Journal>) {
    let new = ev("full")
        .correlation("c")
        .causation("k")
        .meta("m", "v")
        .at(42);
    j.append("s", ExpectedVersion::Any, vec![new.clone()])
        .await
        .expect("append");
    let e = &j.read_stream("s", 1, 1, 1).await.expect("read")[0];
    assert_eq!(
        (e.id.as_str(), e.stream.as_str(), e.sequence),
        ("full", "s", 1)
    );
    assert_eq!(
        (e.correlation_id.as_deref(), e.causation_id.as_deref()),
        (Some("c"), Some("k"))
    );
    assert_eq!(e.metadata.get("m").map(String::as_str), Some("v"));
    assert_eq!(
        (e.timestamp, &e.payload, &e.event_type),
        (42, &new.payload, &new.event_type)
    );
}

async fn concurrent_appenders_never_lose_or_duplicate(j: Arc<dyn Journal>) {
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let j = j.clone();
            tokio::spawn(async move {
                for i in 0..25 {
                    j.append(
                        "shared",
                        ExpectedVersion::Any,
                        vec![ev(&format!("t{t}-{i}"))],
                    )
                    .await
                    .expect("append");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    assert_eq!(
        seqs(&*j, "shared", 1, u64::MAX, 1000).await,
        (1..=200).collect::<Vec<_>>()
    );
}

async fn secondary_reads_page_by_position(j: Arc<dyn Journal>) {
    assert_eq!(j.highest_position().await.expect("position"), 0);
    let batch: Vec<NewEvent> = (1..=5)
        .map(|i| ev(&format!("p{i}")).correlation("flow"))
        .collect();
    j.append("s", ExpectedVersion::Any, batch)
        .await
        .expect("append");
    let last = j.highest_position().await.expect("position");
    let first = j.read_correlation("flow", 0, 2).await.expect("page 1");
    assert_eq!(first.len(), 2);
    let next = first[1].position + 1;
    let rest = j.read_correlation("flow", next, 10).await.expect("page 2");
    assert_eq!(rest.len(), 3);
    assert_eq!(rest.last().map(|e| e.position), Some(last));
    let typed = j
        .read_event_type(&EventType::StateChanged, next, 10)
        .await
        .expect("typed");
    assert_eq!(typed.len(), 3);
    let timed = j
        .read_time_range(0, u64::MAX, last, 10)
        .await
        .expect("timed");
    assert_eq!(timed.len(), 1);
}

macro_rules! backend {
    ($module:ident, $make:expr) => {
        mod $module {
            use super::*;
            macro_rules! case {
                ($name:ident) => {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        let journal: Arc<dyn Journal> = $make;
                        super::$name(journal).await;
                    }
                };
            }
            case!(sequences_start_at_one_without_gaps);
            case!(expected_version_mismatch_is_a_conflict_and_writes_nothing);
            case!(reappending_stored_ids_returns_the_original_result);
            case!(invalid_batches_are_refused);
            case!(replay_honours_from_to_and_max);
            case!(delete_to_keeps_the_highest_sequence);
            case!(global_positions_follow_append_order);
            case!(reads_by_correlation_time_and_type);
            case!(stored_events_keep_every_field);
            case!(concurrent_appenders_never_lose_or_duplicate);
            case!(secondary_reads_page_by_position);
        }
    };
}

backend!(in_memory, Arc::new(InMemoryJournal::new()));
backend!(
    sled,
    Arc::new(palisade_event_store::SledJournal::temporary().expect("sled"))
);
