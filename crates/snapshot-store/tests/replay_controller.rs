//! Isolated scenario replay: step by step, checkpoints, real time, divergence.

use std::sync::Arc;
use std::time::Duration;

use palisade_actor_core::ActorError;
use palisade_event_store::{EventStore, EventType, ExpectedVersion, InMemoryJournal, NewEvent};
use palisade_snapshot_store::{
    ActorStateSnapshot, Effect, EventSourcedActor, InMemorySnapshotStore, ReplayController,
    ScenarioSpeed, SnapshotStore, StateCodec, find_divergence,
};
use serde::{Deserialize, Serialize};

struct Counter;

#[derive(Serialize, Deserialize)]
struct Added(i64);

#[derive(Default, Serialize, Deserialize, PartialEq, Debug)]
struct Total(i64);

impl EventSourcedActor for Counter {
    type Command = ();
    type Event = Added;
    type State = Total;
    fn persistence_id(&self) -> String {
        "counter".into()
    }
    fn handle_command(&mut self, _s: &Total, _c: ()) -> Result<Effect<Self>, ActorError> {
        Ok(Effect::<Self>::none())
    }
    fn apply(state: &mut Total, event: &Added) {
        state.0 += event.0;
    }
}

fn added(id: &str, n: i64, at: u64, flow: &str) -> NewEvent {
    let payload = serde_json::to_vec(&Added(n)).expect("json");
    NewEvent::new(id, EventType::Custom("added".into()), payload)
        .at(at)
        .correlation(flow)
}

async fn store() -> EventStore {
    let store = EventStore::new(Arc::new(InMemoryJournal::new()));
    let s = 1_000_000; // one second in microseconds
    store
        .append("a", ExpectedVersion::Any, vec![added("a1", 1, 0, "flow")])
        .await
        .expect("append");
    store
        .append(
            "b",
            ExpectedVersion::Any,
            vec![added("b1", 10, 2 * s, "flow")],
        )
        .await
        .expect("append");
    store
        .append(
            "a",
            ExpectedVersion::Any,
            vec![added("a2", 100, 4 * s, "other")],
        )
        .await
        .expect("append");
    store
        .append(
            "a",
            ExpectedVersion::Any,
            vec![added("a3", 1000, 6 * s, "flow")],
        )
        .await
        .expect("append");
    store
}

#[tokio::test]
async fn a_scenario_rebuilds_every_actor_involved_step_by_step() {
    let store = store().await;
    let controller = ReplayController::new(store);
    let mut replay = controller
        .replay_scenario::<Counter>("flow")
        .await
        .expect("load");
    assert_eq!(replay.events().len(), 3, "only the scenario's events");
    replay.step().expect("step");
    replay.mark_checkpoint("after a1");
    while replay.step().expect("step").is_some() {}
    assert_eq!(replay.state("a"), Some(&Total(1001)));
    assert_eq!(replay.state("b"), Some(&Total(10)));
    assert!(replay.restore_checkpoint("after a1").expect("restore"));
    assert_eq!(
        (replay.position(), replay.state("a"), replay.state("b")),
        (1, Some(&Total(1)), None)
    );
    assert!(!replay.restore_checkpoint("unknown").expect("restore"));
}

#[tokio::test(start_paused = true)]
async fn real_time_replay_at_ten_times_waits_a_tenth_of_the_gaps() {
    let controller = ReplayController::new(store().await);
    let mut replay = controller
        .replay_scenario::<Counter>("flow")
        .await
        .expect("load");
    let started = tokio::time::Instant::now();
    let mut seen = Vec::new();
    replay
        .run(ScenarioSpeed::RealTime { factor: 10.0 }, |done, total| {
            seen.push((done, total))
        })
        .await
        .expect("run");
    // Recorded gaps: 2 s then 4 s, so 0.2 s + 0.4 s.
    assert_eq!(started.elapsed(), Duration::from_millis(600));
    assert_eq!(seen, vec![(1, 3), (2, 3), (3, 3)]);
}

#[tokio::test]
async fn divergence_is_found_at_the_first_snapshot_that_disagrees() {
    let store = EventStore::new(Arc::new(InMemoryJournal::new()));
    let events: Vec<NewEvent> = (1..=6)
        .map(|i| added(&format!("c{i}"), i, 0, "f"))
        .collect();
    store
        .append("counter", ExpectedVersion::Any, events)
        .await
        .expect("append");
    let snapshots = InMemorySnapshotStore::new();
    let snap = |seq: u64, total: i64| {
        let state = serde_json::to_vec(&Total(total)).expect("json");
        ActorStateSnapshot::new("counter", "Counter", seq, state, StateCodec::Json)
    };
    snapshots.save(snap(2, 3)).await.expect("save");
    snapshots.save(snap(4, 10)).await.expect("save");
    assert_eq!(
        find_divergence::<Counter>(&store, &snapshots, "counter")
            .await
            .expect("check"),
        None
    );
    // A live state that drifted: at sequence 6 the fold says 21, the snapshot says 22.
    snapshots.save(snap(6, 22)).await.expect("save");
    assert_eq!(
        find_divergence::<Counter>(&store, &snapshots, "counter")
            .await
            .expect("check"),
        Some(6)
    );
}
