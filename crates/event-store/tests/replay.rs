//! Replay (the origin design's scenarios): a stream, a correlated flow across streams,
//! everything filtered, at recorded pace, with progress, stopping on a handler error.
//! Run on `InMemoryJournal`, with paused time where time matters.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use palisade_event_store::{
    EventStore, EventType, ExpectedVersion, InMemoryJournal, NewEvent, Replay, ReplayError,
    ReplayProgress, ReplaySource, ReplaySpeed,
};

type Never = std::convert::Infallible;

fn store() -> EventStore {
    EventStore::new(Arc::new(InMemoryJournal::new()))
}

fn ev(id: &str) -> NewEvent {
    NewEvent::new(id, EventType::StateChanged, id.as_bytes().to_vec())
}

async fn append(store: &EventStore, stream: &str, events: Vec<NewEvent>) {
    store
        .append(stream, ExpectedVersion::Any, events)
        .await
        .expect("append");
}

/// Replays `replay` and returns the ids delivered, in order.
async fn replayed_ids(replay: Replay) -> Vec<String> {
    let mut ids = Vec::new();
    replay
        .run(|event| {
            ids.push(event.id.clone());
            Ok::<(), Never>(())
        })
        .await
        .expect("replay");
    ids
}

#[tokio::test(start_paused = true)]
async fn replays_a_stream_in_sequence_order() {
    let store = store();
    append(&store, "a", vec![ev("a1"), ev("a2")]).await;
    append(&store, "b", vec![ev("b1")]).await;
    append(&store, "a", vec![ev("a3")]).await;
    let replay = Replay::new(&store, ReplaySource::Stream("a".into())).page_size(2);
    assert_eq!(replayed_ids(replay).await, ["a1", "a2", "a3"]);
}

#[tokio::test(start_paused = true)]
async fn replays_a_correlation_across_streams_in_global_order() {
    let store = store();
    append(&store, "orders", vec![ev("o1").correlation("flow-1")]).await;
    append(&store, "payments", vec![ev("p0").correlation("flow-2")]).await;
    append(&store, "payments", vec![ev("p1").correlation("flow-1")]).await;
    append(&store, "orders", vec![ev("o2")]).await;
    append(&store, "shipping", vec![ev("s1").correlation("flow-1")]).await;
    let replay = Replay::new(&store, ReplaySource::Correlation("flow-1".into())).page_size(2);
    assert_eq!(replayed_ids(replay).await, ["o1", "p1", "s1"]);
}

#[tokio::test(start_paused = true)]
async fn replays_everything_through_a_filter() {
    let store = store();
    for i in 1..=10 {
        let kind = if i % 2 == 0 { "even" } else { "odd" };
        append(
            &store,
            &format!("s{}", i % 3),
            vec![NewEvent::new(
                format!("e{i}"),
                EventType::Custom(kind.into()),
                vec![],
            )],
        )
        .await;
    }
    let replay = Replay::new(&store, ReplaySource::All)
        .page_size(3)
        .filter(|e| e.event_type.name() == "even");
    assert_eq!(replayed_ids(replay).await, ["e2", "e4", "e6", "e8", "e10"]);
}

#[tokio::test(start_paused = true)]
async fn real_time_at_factor_ten_takes_a_tenth_of_the_recorded_gaps() {
    let store = store();
    let t0 = 1_700_000_000_000_000;
    let second = 1_000_000;
    append(
        &store,
        "s",
        vec![
            ev("e1").at(t0),
            ev("e2").at(t0 + 10 * second),
            ev("e3").at(t0 + 30 * second),
        ],
    )
    .await;
    let started = tokio::time::Instant::now();
    let mut arrivals = Vec::new();
    Replay::new(&store, ReplaySource::Stream("s".into()))
        .speed(ReplaySpeed::RealTime { factor: 10.0 })
        .run(|_| {
            arrivals.push(started.elapsed());
            Ok::<(), Never>(())
        })
        .await
        .expect("replay");
    assert_eq!(
        arrivals,
        [
            Duration::ZERO,
            Duration::from_secs(1),
            Duration::from_secs(3)
        ]
    );
    assert_eq!(started.elapsed(), Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn as_fast_as_possible_does_not_wait() {
    let store = store();
    append(
        &store,
        "s",
        vec![ev("e1").at(0), ev("e2").at(3_600_000_000)],
    )
    .await;
    let started = tokio::time::Instant::now();
    let done = Replay::new(&store, ReplaySource::All)
        .run(|_| Ok::<(), Never>(()))
        .await
        .expect("replay");
    assert_eq!(done.done, 2);
    assert_eq!(started.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn invalid_speed_factor_is_refused() {
    let store = store();
    let err = Replay::new(&store, ReplaySource::All)
        .speed(ReplaySpeed::RealTime { factor: 0.0 })
        .run(|_| Ok::<(), Never>(()))
        .await
        .expect_err("refused");
    assert!(matches!(err, ReplayError::InvalidSpeed { .. }), "{err:?}");
}

#[tokio::test(start_paused = true)]
async fn progress_sees_increasing_counts_and_the_final_one() {
    let store = store();
    let events = (1..=25).map(|i| ev(&format!("e{i}"))).collect();
    append(&store, "s", events).await;
    let reports: Arc<Mutex<Vec<ReplayProgress>>> = Arc::default();
    let sink = Arc::clone(&reports);
    let finished = Replay::new(&store, ReplaySource::Stream("s".into()))
        .page_size(4)
        .progress_every(10)
        .on_progress(move |p| sink.lock().expect("lock").push(*p))
        .run(|_| Ok::<(), Never>(()))
        .await
        .expect("replay");
    let reports = reports.lock().expect("lock");
    let done: Vec<u64> = reports.iter().map(|p| p.done).collect();
    assert_eq!(done, [10, 20, 25]);
    assert!(reports.iter().all(|p| p.total == Some(25)));
    assert_eq!(reports.last().and_then(|p| p.last_position), Some(25));
    assert_eq!(finished.done, 25);
}

#[tokio::test(start_paused = true)]
async fn progress_on_an_interval_reports_during_real_time_waits() {
    let store = store();
    let second = 1_000_000;
    append(&store, "s", vec![ev("e1").at(0), ev("e2").at(10 * second)]).await;
    let reports: Arc<Mutex<Vec<ReplayProgress>>> = Arc::default();
    let sink = Arc::clone(&reports);
    Replay::new(&store, ReplaySource::All)
        .speed(ReplaySpeed::RealTime { factor: 1.0 })
        .progress_interval(Duration::from_secs(3))
        .on_progress(move |p| sink.lock().expect("lock").push(*p))
        .run(|_| Ok::<(), Never>(()))
        .await
        .expect("replay");
    let reports = reports.lock().expect("lock");
    let done: Vec<u64> = reports.iter().map(|p| p.done).collect();
    // At 3 s, 6 s and 9 s while waiting for e2 (recorded at 10 s), then the final count.
    assert_eq!(done, [1, 1, 1, 2]);
    let rates: Vec<f64> = reports.iter().map(|p| p.rate_per_sec).collect();
    assert_eq!(rates, [1.0 / 3.0, 1.0 / 6.0, 1.0 / 9.0, 2.0 / 10.0]);
}

#[tokio::test(start_paused = true)]
async fn handler_error_stops_the_replay_and_is_returned() {
    let store = store();
    append(&store, "s", vec![ev("e1"), ev("e2"), ev("e3")]).await;
    let mut seen = Vec::new();
    let err = Replay::new(&store, ReplaySource::Stream("s".into()))
        .run(|event| {
            seen.push(event.id.clone());
            if event.id == "e2" {
                Err(format!("cannot apply {}", event.id))
            } else {
                Ok(())
            }
        })
        .await
        .expect_err("handler failed");
    assert_eq!(seen, ["e1", "e2"]);
    match err {
        ReplayError::Handler { position, error } => {
            assert_eq!((position, error.as_str()), (2, "cannot apply e2"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn async_handler_is_awaited_in_order() {
    let store = store();
    append(&store, "s", vec![ev("e1"), ev("e2")]).await;
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = Arc::clone(&seen);
    Replay::new(&store, ReplaySource::All)
        .run_async(move |event| {
            let sink = Arc::clone(&sink);
            async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                sink.lock().expect("lock").push(event.id);
                Ok::<(), Never>(())
            }
        })
        .await
        .expect("replay");
    assert_eq!(*seen.lock().expect("lock"), ["e1", "e2"]);
}

#[tokio::test(start_paused = true)]
async fn stream_replay_stops_at_the_highest_sequence_seen_at_start() {
    let store = store();
    append(&store, "s", vec![ev("e1"), ev("e2")]).await;
    let writer = store.clone();
    let mut seen = Vec::new();
    let done = Replay::new(&store, ReplaySource::Stream("s".into()))
        .page_size(1)
        .run_async(|event| {
            seen.push(event.id);
            let writer = writer.clone();
            async move {
                let id = format!("late-{}", writer.highest_sequence("s").await.expect("hi"));
                append(&writer, "s", vec![ev(&id)]).await;
                Ok::<(), Never>(())
            }
        })
        .await
        .expect("replay");
    assert_eq!(seen, ["e1", "e2"]);
    assert_eq!(done.total, Some(2));
}

#[cfg(feature = "actors")]
#[tokio::test]
async fn replay_into_an_actor_delivers_every_event_as_a_message() {
    use palisade_actor_core::{Actor, ActorResult, ActorSystem, Context, ReplyTo};

    enum Msg {
        Event(u64),
        Seen(ReplyTo<Vec<u64>>),
    }
    struct Collector(Vec<u64>);
    impl Actor for Collector {
        type Msg = Msg;
        async fn handle(&mut self, msg: Msg, _ctx: &mut Context<Self>) -> ActorResult {
            match msg {
                Msg::Event(seq) => self.0.push(seq),
                Msg::Seen(reply) => {
                    let _ = reply.send(self.0.clone());
                }
            }
            Ok(())
        }
    }

    let store = store();
    append(&store, "s", vec![ev("a"), ev("b"), ev("c")]).await;
    let isolated = ActorSystem::new("replay");
    let collector = isolated
        .spawn("collector", || Collector(Vec::new()))
        .expect("spawn");
    let progress = Replay::new(&store, ReplaySource::Stream("s".into()))
        .run_into(&collector, |event| Msg::Event(event.sequence))
        .await
        .expect("replay");
    assert_eq!(progress.done, 3);
    assert_eq!(collector.ask(Msg::Seen).await.expect("ask"), vec![1, 2, 3]);
}
