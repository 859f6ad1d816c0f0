//! Subscriptions: catch-up then live, each event exactly once and in order, with a
//! bounded buffer. Run on `InMemoryJournal`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use palisade_event_store::{
    AppendResult, Event, EventStore, EventType, ExpectedVersion, InMemoryJournal, Journal,
    JournalError, NewEvent, Timestamp,
};

fn store() -> EventStore {
    EventStore::new(Arc::new(InMemoryJournal::new()))
}

fn ev(id: &str) -> NewEvent {
    NewEvent::new(id, EventType::StateChanged, id.as_bytes().to_vec())
}

async fn append(store: &EventStore, stream: &str, ids: &[&str]) {
    store
        .append(
            stream,
            ExpectedVersion::Any,
            ids.iter().map(|id| ev(id)).collect(),
        )
        .await
        .expect("append");
}

fn ids(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.id.as_str()).collect()
}

#[tokio::test(start_paused = true)]
async fn catch_up_delivers_history_in_order_then_live_events() {
    let store = store();
    append(&store, "a", &["a1", "a2"]).await;
    append(&store, "b", &["b1"]).await;
    let mut sub = store.subscribe_all(0).page_size(2);

    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(sub.next().await.expect("history"));
    }
    assert_eq!(ids(&seen), ["a1", "a2", "b1"]);
    assert!(sub.try_next().await.expect("read").is_none());
    assert!(sub.is_live());

    let writer = store.clone();
    let live = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        append(&writer, "a", &["a3"]).await;
    });
    let event = tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .expect("woken by the append")
        .expect("live event");
    assert_eq!((event.id.as_str(), event.position), ("a3", 4));
    live.await.expect("writer");
}

#[tokio::test(start_paused = true)]
async fn next_waits_while_caught_up() {
    let store = store();
    append(&store, "a", &["a1"]).await;
    let mut sub = store.subscribe_all(0);
    sub.next().await.expect("a1");
    let waited = tokio::time::timeout(Duration::from_secs(60), sub.next()).await;
    assert!(waited.is_err(), "nothing was appended: {waited:?}");
    // The timed-out `next` lost nothing: the next append is delivered.
    append(&store, "a", &["a2"]).await;
    assert_eq!(sub.next().await.expect("a2").id, "a2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_appended_during_catch_up_arrive_exactly_once_in_order() {
    const HISTORY: u64 = 50;
    const CONCURRENT: u64 = 1000;
    let store = store();
    for i in 1..=HISTORY {
        let stream = if i % 2 == 0 { "even" } else { "odd" };
        append(&store, stream, &[&format!("h-{i}")]).await;
    }
    let mut sub = store.subscribe_all(0).page_size(7);

    let writer = store.clone();
    let appender = tokio::spawn(async move {
        for i in 1..=CONCURRENT {
            let stream = if i % 3 == 0 { "x" } else { "y" };
            append(&writer, stream, &[&format!("c-{i}")]).await;
            if i % 10 == 0 {
                tokio::task::yield_now().await;
            }
        }
    });

    let mut positions = Vec::new();
    while (positions.len() as u64) < HISTORY + CONCURRENT {
        let event = tokio::time::timeout(Duration::from_secs(30), sub.next())
            .await
            .expect("no event is missed, so next never hangs")
            .expect("next");
        assert!(sub.buffered() <= 7);
        positions.push(event.position);
    }
    appender.await.expect("appender");
    assert_eq!(positions, (1..=HISTORY + CONCURRENT).collect::<Vec<_>>());
    assert!(
        sub.try_next().await.expect("read").is_none(),
        "no duplicate"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_events_appended_during_catch_up_arrive_exactly_once_in_order() {
    let store = store();
    append(&store, "s", &["s-0"]).await;
    let mut sub = store.subscribe_stream("s", 1).page_size(7);
    let writer = store.clone();
    let appender = tokio::spawn(async move {
        for i in 1..=500 {
            append(&writer, "s", &[&format!("s-{i}")]).await;
            append(&writer, "other", &[&format!("o-{i}")]).await;
        }
    });
    let mut sequences = Vec::new();
    while sequences.len() < 501 {
        let event = tokio::time::timeout(Duration::from_secs(30), sub.next())
            .await
            .expect("no event is missed")
            .expect("next");
        sequences.push(event.sequence);
    }
    appender.await.expect("appender");
    assert_eq!(sequences, (1..=501).collect::<Vec<u64>>());
}

#[tokio::test(start_paused = true)]
async fn stream_subscription_ignores_other_streams() {
    let store = store();
    append(&store, "mine", &["m1"]).await;
    append(&store, "theirs", &["t1", "t2"]).await;
    append(&store, "mine", &["m2"]).await;
    let mut sub = store.subscribe_stream("mine", 0);
    let first = sub.next().await.expect("m1");
    let second = sub.next().await.expect("m2");
    assert_eq!(ids(&[first, second]), ["m1", "m2"]);

    append(&store, "theirs", &["t3"]).await;
    append(&store, "mine", &["m3"]).await;
    let third = sub.next().await.expect("m3");
    assert_eq!((third.id.as_str(), third.sequence), ("m3", 3));
    assert!(sub.try_next().await.expect("read").is_none());
}

#[tokio::test(start_paused = true)]
async fn subscription_from_the_middle_starts_there() {
    let store = store();
    append(&store, "s", &["e1", "e2", "e3", "e4", "e5"]).await;

    let mut all = store.subscribe_all(3);
    assert_eq!(all.next().await.expect("e3").position, 3);
    let mut stream = store.subscribe_stream("s", 4);
    assert_eq!(stream.next().await.expect("e4").sequence, 4);
    assert_eq!(stream.next().await.expect("e5").sequence, 5);
}

#[tokio::test(start_paused = true)]
async fn resume_from_continues_after_the_last_delivered_event() {
    let store = store();
    append(&store, "s", &["e1", "e2", "e3"]).await;
    let mut first = store.subscribe_all(0);
    first.next().await.expect("e1");
    first.next().await.expect("e2");
    let mut resumed = store.subscribe_all(first.resume_from());
    assert_eq!(resumed.next().await.expect("e3").id, "e3");
}

#[tokio::test(start_paused = true)]
async fn subscription_never_holds_more_than_a_page() {
    let store = store();
    let ids: Vec<String> = (1..=100).map(|i| format!("e{i}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    append(&store, "s", &refs).await;

    let mut sub = store.subscribe_all(0).page_size(10);
    assert_eq!(sub.buffered(), 0, "nothing is read before the first next");
    let mut delivered = 0;
    while sub.try_next().await.expect("read").is_some() {
        delivered += 1;
        assert!(sub.buffered() < 10, "holds {} events", sub.buffered());
        // A page is read only once the previous one is drained.
        assert_eq!(sub.buffered(), (10 - delivered % 10) % 10);
    }
    assert_eq!(delivered, 100);
    assert!(sub.is_live());
}

#[tokio::test(start_paused = true)]
async fn deduplicated_append_delivers_nothing_twice() {
    let store = store();
    append(&store, "s", &["e1"]).await;
    let mut sub = store.subscribe_stream("s", 0);
    sub.next().await.expect("e1");
    append(&store, "s", &["e1"]).await;
    assert!(sub.try_next().await.expect("read").is_none());
}

#[tokio::test(start_paused = true)]
async fn dropping_every_store_closes_a_caught_up_subscription() {
    let store = store();
    let mut sub = store.subscribe_all(0);
    drop(store);
    let err = sub.next().await.expect_err("closed");
    assert_eq!(err, palisade_event_store::JournalError::Closed);
}

/// A journal that, the first time a read of everything finds nothing, appends an event
/// through the store after the read and before returning its (now stale) result: the
/// exact window between a subscription's catch-up read and its wait.
#[derive(Default)]
struct AppendsDuringRead {
    inner: InMemoryJournal,
    store: OnceLock<EventStore>,
    fired: AtomicBool,
}

#[async_trait]
impl Journal for AppendsDuringRead {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, JournalError> {
        self.inner.append(stream, expected, events).await
    }
    async fn read_stream(
        &self,
        stream: &str,
        from: u64,
        to: u64,
        max: usize,
    ) -> Result<Vec<Event>, JournalError> {
        self.inner.read_stream(stream, from, to, max).await
    }
    async fn highest_sequence(&self, stream: &str) -> Result<u64, JournalError> {
        self.inner.highest_sequence(stream).await
    }
    async fn read_all(&self, from_position: u64, max: usize) -> Result<Vec<Event>, JournalError> {
        let found = self.inner.read_all(from_position, max).await?;
        if found.is_empty() && !self.fired.swap(true, Ordering::SeqCst) {
            let store = self.store.get().expect("store set");
            append(store, "s", &["raced"]).await;
        }
        Ok(found)
    }
    async fn highest_position(&self) -> Result<u64, JournalError> {
        self.inner.highest_position().await
    }
    async fn read_correlation(
        &self,
        id: &str,
        from_position: u64,
        max: usize,
    ) -> Result<Vec<Event>, JournalError> {
        self.inner.read_correlation(id, from_position, max).await
    }
    async fn read_time_range(
        &self,
        from: Timestamp,
        to: Timestamp,
        from_position: u64,
        max: usize,
    ) -> Result<Vec<Event>, JournalError> {
        self.inner
            .read_time_range(from, to, from_position, max)
            .await
    }
    async fn read_event_type(
        &self,
        event_type: &EventType,
        from_position: u64,
        max: usize,
    ) -> Result<Vec<Event>, JournalError> {
        self.inner
            .read_event_type(event_type, from_position, max)
            .await
    }
    async fn delete_to(&self, stream: &str, sequence: u64) -> Result<(), JournalError> {
        self.inner.delete_to(stream, sequence).await
    }
}

#[tokio::test(start_paused = true)]
async fn append_between_catch_up_read_and_wait_is_not_missed() {
    let journal = Arc::new(AppendsDuringRead::default());
    let store = EventStore::new(journal.clone());
    assert!(journal.store.set(store.clone()).is_ok());
    let mut sub = store.subscribe_all(0);
    let event = tokio::time::timeout(Duration::from_secs(60), sub.next())
        .await
        .expect("the append made during the read wakes the wait")
        .expect("next");
    assert_eq!(event.id, "raced");
}
