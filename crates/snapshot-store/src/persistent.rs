//! Event-sourced actors: commands produce events, events fold into state, and the state
//! is recovered from the newest valid snapshot plus the journal after it.

use std::marker::PhantomData;
use std::sync::Arc;

use palisade_actor_core::{Actor, ActorError, ActorResult, Context, ReplyTo};
use palisade_event_store::{EventStore, EventType, ExpectedVersion, NewEvent};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::snapshot::{ActorStateSnapshot, SnapshotCriteria, SnapshotStore, StateCodec};

/// The behaviour of an event-sourced actor (the origin design's `EventSourcedActor`).
///
/// `handle_command` decides, from the current state, which events a command produces;
/// `apply` folds one event into the state. Only `apply` changes state, and it runs for
/// each event after the event is safely in the journal, and again during recovery, so
/// the state is always the fold of the journal.
pub trait EventSourcedActor: Send + 'static {
    /// The commands it takes (its mailbox's message type).
    type Command: Send + 'static;
    /// The events it persists (stored as JSON in the event payload).
    type Event: Serialize + DeserializeOwned + Send + 'static;
    /// The state the events fold into (stored as JSON in snapshots).
    type State: Serialize + DeserializeOwned + Default + Send + 'static;

    /// The journal stream of this actor (its persistence id); stable across restarts.
    fn persistence_id(&self) -> String;

    /// Decides what a command does. `Err` fails the actor (nothing is persisted).
    fn handle_command(
        &mut self,
        state: &Self::State,
        command: Self::Command,
    ) -> Result<Effect<Self>, ActorError>
    where
        Self: Sized;

    /// Folds one event into the state. Must be deterministic and must not fail.
    fn apply(state: &mut Self::State, event: &Self::Event);

    /// Take a snapshot every this many events (`None`: only on demand). Default 100.
    fn snapshot_every(&self) -> Option<u64> {
        Some(100)
    }
}

type After<A> = Box<dyn FnOnce(&<A as EventSourcedActor>::State, &mut Control) + Send + 'static>;

/// What a command does: events to persist, then (after they are persisted and applied)
/// an optional action such as a reply. Inside `handle_command`, name the actor type so
/// that closures know the state's type: `Effect::<Self>::persist(events).reply(r, |s| s.x)`.
pub struct Effect<A: EventSourcedActor> {
    events: Vec<A::Event>,
    correlation: Option<String>,
    after: Option<After<A>>,
}

/// What the action after a command may ask of the runtime.
#[derive(Debug, Default)]
pub struct Control {
    snapshot: bool,
}

impl Control {
    /// Take a snapshot now (after this command's events).
    pub fn snapshot(&mut self) {
        self.snapshot = true;
    }
}

impl<A: EventSourcedActor> Effect<A> {
    /// Persist `events` (in one atomic append).
    pub fn persist(events: Vec<A::Event>) -> Self {
        Effect {
            events,
            correlation: None,
            after: None,
        }
    }

    /// Persist nothing.
    pub fn none() -> Self {
        Effect {
            events: Vec::new(),
            correlation: None,
            after: None,
        }
    }

    /// Tags the events with a correlation id (the origin design's scenario), so that
    /// the flow can be read and replayed across actors.
    pub fn correlation(mut self, id: impl Into<String>) -> Self {
        self.correlation = Some(id.into());
        self
    }

    /// After persisting and applying, run `f` with the new state.
    pub fn then(mut self, f: impl FnOnce(&A::State, &mut Control) + Send + 'static) -> Self {
        self.after = Some(Box::new(f));
        self
    }

    /// After persisting and applying, answer `reply` with `f(state)`: the asker hears
    /// back only once the events are in the journal.
    pub fn reply<R: Send + 'static>(
        self,
        reply: ReplyTo<R>,
        f: impl FnOnce(&A::State) -> R + Send + 'static,
    ) -> Self {
        self.then(move |state, _| {
            let _ = reply.send(f(state));
        })
    }
}

/// Where an event-sourced actor keeps its events and snapshots. Cheap to clone.
#[derive(Clone)]
pub struct Persistence {
    /// The event store (journal).
    pub events: EventStore,
    /// The snapshot store.
    pub snapshots: Arc<dyn SnapshotStore>,
}

/// The actor-core actor that runs an [`EventSourcedActor`]: recovery in `pre_start`, one
/// atomic append per command, state changes only after a successful append.
///
/// A failed append fails the actor (its state cannot diverge from the journal); under a
/// supervisor it is restarted (with backoff) and recovers from the store, so no
/// acknowledged event is lost and none is applied twice.
pub struct PersistentActor<A: EventSourcedActor> {
    behavior: A,
    persistence: Persistence,
    state: A::State,
    /// The sequence number of the last event folded into `state`.
    sequence: u64,
    last_snapshot: u64,
    _marker: PhantomData<fn() -> A>,
}

/// What recovery found, for logs and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// The snapshot used, if any (its sequence).
    pub snapshot: Option<u64>,
    /// Events replayed after it.
    pub replayed: u64,
    /// Newer snapshots skipped as corrupt.
    pub skipped_snapshots: usize,
}

const PAGE: usize = 1_000;

impl<A: EventSourcedActor> PersistentActor<A> {
    /// A persistent actor running `behavior` on `persistence`. Spawn it through a factory
    /// (`move || PersistentActor::new(Account::new(id), persistence.clone())`) so that
    /// restarts recover a fresh instance from the store.
    pub fn new(behavior: A, persistence: Persistence) -> Self {
        PersistentActor {
            behavior,
            persistence,
            state: A::State::default(),
            sequence: 0,
            last_snapshot: 0,
            _marker: PhantomData,
        }
    }

    /// The recovered (or current) state.
    pub fn state(&self) -> &A::State {
        &self.state
    }

    /// The sequence number of the last applied event.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Rebuilds the state: the newest intact snapshot, then every later event.
    ///
    /// # Errors
    /// A journal or snapshot-store failure, or an event or snapshot that does not decode.
    pub async fn recover(&mut self) -> Result<Recovery, ActorError> {
        let pid = self.behavior.persistence_id();
        let loaded = self
            .persistence
            .snapshots
            .load(&pid, SnapshotCriteria::latest())
            .await
            .map_err(ActorError::from)?;
        let mut report = Recovery {
            skipped_snapshots: loaded.skipped.len(),
            ..Recovery::default()
        };
        self.state = A::State::default();
        self.sequence = 0;
        if let Some(snapshot) = loaded.snapshot {
            self.state = serde_json::from_slice(&snapshot.state)
                .map_err(|e| ActorError::msg(format!("snapshot of {pid} does not decode: {e}")))?;
            self.sequence = snapshot.sequence;
            self.last_snapshot = snapshot.sequence;
            report.snapshot = Some(snapshot.sequence);
        }
        loop {
            let page = self
                .persistence
                .events
                .read_stream(&pid, self.sequence + 1, u64::MAX, PAGE)
                .await
                .map_err(ActorError::from)?;
            for stored in &page {
                let event: A::Event = serde_json::from_slice(&stored.payload).map_err(|e| {
                    ActorError::msg(format!(
                        "event {} of {pid} does not decode: {e}",
                        stored.sequence
                    ))
                })?;
                A::apply(&mut self.state, &event);
                self.sequence = stored.sequence;
                report.replayed += 1;
            }
            if page.len() < PAGE {
                break;
            }
        }
        // Events deleted below a snapshot are fine; the stream's version is what counts
        // for the next append.
        self.sequence = self.sequence.max(
            self.persistence
                .events
                .highest_sequence(&pid)
                .await
                .map_err(ActorError::from)?,
        );
        Ok(report)
    }

    async fn persist(&mut self, events: Vec<A::Event>, correlation: Option<String>) -> ActorResult {
        let pid = self.behavior.persistence_id();
        let type_name = std::any::type_name::<A::Event>();
        let mut batch = Vec::with_capacity(events.len());
        for (i, event) in events.iter().enumerate() {
            let sequence = self.sequence + 1 + i as u64;
            let payload = serde_json::to_vec(event)
                .map_err(|e| ActorError::msg(format!("event does not encode: {e}")))?;
            let mut new = NewEvent::new(
                format!("{pid}:{sequence}"),
                EventType::Custom(type_name.to_owned()),
                payload,
            );
            new.correlation_id = correlation.clone();
            batch.push(new);
        }
        // Exact version: a concurrent writer of the same stream (a second incarnation
        // that should not exist) is refused instead of interleaving.
        self.persistence
            .events
            .append(&pid, ExpectedVersion::Exact(self.sequence), batch)
            .await
            .map_err(ActorError::from)?;
        for event in &events {
            A::apply(&mut self.state, event);
        }
        self.sequence += events.len() as u64;
        Ok(())
    }

    /// Saves a snapshot of the current state now.
    ///
    /// # Errors
    /// The state does not encode, or the snapshot store fails.
    pub async fn save_snapshot(&mut self) -> ActorResult {
        let state = serde_json::to_vec(&self.state)
            .map_err(|e| ActorError::msg(format!("state does not encode: {e}")))?;
        let snapshot = ActorStateSnapshot::new(
            self.behavior.persistence_id(),
            std::any::type_name::<A>(),
            self.sequence,
            state,
            StateCodec::Json,
        );
        self.persistence
            .snapshots
            .save(snapshot)
            .await
            .map_err(ActorError::from)?;
        self.last_snapshot = self.sequence;
        Ok(())
    }
}

impl<A: EventSourcedActor> Actor for PersistentActor<A> {
    type Msg = A::Command;

    async fn pre_start(&mut self, ctx: &mut Context<Self>) -> ActorResult {
        let report = self.recover().await?;
        tracing::debug!(target: "palisade::persistence", actor = %ctx.path(),
            snapshot = ?report.snapshot, replayed = report.replayed, "recovered");
        Ok(())
    }

    async fn handle(&mut self, command: A::Command, _ctx: &mut Context<Self>) -> ActorResult {
        let effect = self.behavior.handle_command(&self.state, command)?;
        if !effect.events.is_empty() {
            self.persist(effect.events, effect.correlation).await?;
        }
        let mut control = Control::default();
        if let Some(after) = effect.after {
            after(&self.state, &mut control);
        }
        let due = self
            .behavior
            .snapshot_every()
            .is_some_and(|every| every > 0 && self.sequence >= self.last_snapshot + every);
        if control.snapshot || due {
            // A failed snapshot costs only recovery time: the journal has everything.
            if let Err(e) = self.save_snapshot().await {
                tracing::warn!(target: "palisade::persistence", "snapshot failed: {e}");
            }
        }
        Ok(())
    }
}
