//! Recovery of an event-sourced actor: 1,000,000 events in a sled journal, a snapshot
//! 10,000 events from the end; one op = `PersistentActor::recover` (load the newest
//! snapshot, replay the journal after it) on a journal whose hot tail is off, as after
//! a process restart.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use palisade_actor_core::ActorError;
use palisade_event_store::{
    Durability, EventStore, EventType, ExpectedVersion, Journal, NewEvent, SledConfig, SledJournal,
};
use palisade_snapshot_store::{
    ActorStateSnapshot, Effect, EventSourcedActor, Persistence, PersistentActor, SledSnapshotStore,
    SnapshotStore, StateCodec,
};
use serde::{Deserialize, Serialize};
use tokio::runtime::Runtime;

use crate::harness::{Config, err, measure, run_batch, timed};

const EVENTS: u64 = 1_000_000;
const TAIL: u64 = 10_000;
const BATCH: u64 = 1_000;

struct Counter;

#[derive(Serialize, Deserialize)]
struct Added(u64);

#[derive(Default, Serialize, Deserialize)]
struct Total(u64);

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
    fn snapshot_every(&self) -> Option<u64> {
        None
    }
}

/// One recovery, in microseconds.
pub fn recover(rt: &Runtime, cfg: &Config) -> Result<f64, String> {
    // Writing a million events takes ~20 s: longer than the harness's setup limit.
    let persistence = rt.block_on(async {
        let config = SledConfig::default()
            .durability(Durability::Buffered)
            .max_memory_events(0);
        let journal = SledJournal::temporary_with(config).map_err(err)?;
        let snapshots = SledSnapshotStore::temporary().map_err(err)?;
        let started = Instant::now();
        let payload = serde_json::to_vec(&Added(1)).map_err(err)?;
        let mut sequence = 0;
        while sequence < EVENTS {
            let batch = (0..BATCH)
                .map(|i| {
                    NewEvent::new(
                        format!("c-{}", sequence + i + 1),
                        EventType::StateChanged,
                        payload.clone(),
                    )
                })
                .collect();
            journal
                .append("counter", ExpectedVersion::Exact(sequence), batch)
                .await
                .map_err(err)?;
            sequence += BATCH;
        }
        let state = serde_json::to_vec(&Total(EVENTS - TAIL)).map_err(err)?;
        snapshots
            .save(ActorStateSnapshot::new(
                "counter",
                "Counter",
                EVENTS - TAIL,
                state,
                StateCodec::Json,
            ))
            .await
            .map_err(err)?;
        eprintln!(
            "  (recovery setup: {EVENTS} events written in {:?})",
            started.elapsed()
        );
        let journal: Arc<dyn Journal> = Arc::new(journal);
        Ok::<_, String>(Persistence {
            events: EventStore::new(journal),
            snapshots: Arc::new(snapshots),
        })
    })?;
    measure(cfg, 1, |reps| {
        let persistence = persistence.clone();
        run_batch(rt, async move {
            timed(async {
                for _ in 0..reps {
                    let mut actor = PersistentActor::new(Counter, persistence.clone());
                    let report = actor.recover().await.map_err(|e| e.to_string())?;
                    if actor.state().0 != EVENTS || report.replayed != TAIL {
                        return Err(format!(
                            "recovered {} after {} events",
                            actor.state().0,
                            report.replayed
                        ));
                    }
                    black_box(&actor);
                }
                Ok(())
            })
            .await
        })
    })
    .map(|ns| ns / 1000.0)
}
