//! `ActorSystem`: the registry of live actors, spawning at the top level, dead letters,
//! lifecycle events and graceful shutdown.

use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

use crate::actor::Actor;
use crate::actor_ref::ActorRef;
use crate::bus::Subscription;
use crate::cell::{ActorHandle, Children, lock};
use crate::dead_letters::{DeadLetter, DeadLetterOffice};
use crate::error::{LookupError, SpawnError};
use crate::events::{EventBus, LifecycleEvent};
use crate::id::ActorPath;
use crate::spawn::{SpawnOptions, spawn_actor};

pub(crate) struct RegistryEntry {
    pub(crate) handle: ActorHandle,
    /// The actor's typed `ActorRef<M>`.
    pub(crate) typed: Box<dyn Any + Send + Sync>,
}

pub(crate) struct SystemShared {
    name: String,
    runtime: OnceLock<tokio::runtime::Handle>,
    registry: DashMap<ActorPath, RegistryEntry>,
    pub(crate) user_root: ActorPath,
    /// Top-level actors in start order.
    pub(crate) roots: Mutex<Children>,
    pub(crate) dead_letters: DeadLetterOffice,
    pub(crate) events: EventBus,
    shutting_down: AtomicBool,
    /// Live actors, named or not.
    live: AtomicUsize,
}

impl SystemShared {
    pub(crate) fn runtime(&self) -> Result<tokio::runtime::Handle, SpawnError> {
        if let Some(h) = self.runtime.get() {
            return Ok(h.clone());
        }
        let h = tokio::runtime::Handle::try_current().map_err(|_| SpawnError::NoRuntime)?;
        Ok(self.runtime.get_or_init(|| h).clone())
    }

    /// Counts a new actor in, and registers it under its path when it is named.
    pub(crate) fn register(&self, entry: Option<RegistryEntry>) -> Result<(), SpawnError> {
        if self.shutting_down.load(Ordering::Acquire) {
            return Err(SpawnError::ParentStopping {
                parent: self.user_root.clone(),
            });
        }
        if let Some(entry) = entry {
            match self.registry.entry(entry.handle.path().clone()) {
                Entry::Occupied(o) => {
                    return Err(SpawnError::NameTaken {
                        path: o.key().clone(),
                    });
                }
                Entry::Vacant(v) => {
                    v.insert(entry);
                }
            }
        }
        self.live.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    pub(crate) fn unregister(&self, path: &ActorPath, id: crate::id::ActorId) {
        self.live.fetch_sub(1, Ordering::Relaxed);
        if !path.is_anonymous() {
            self.registry.remove_if(path, |_, e| e.handle.id() == id);
        }
    }
}

/// The actor system: a registry of live actors by path, top-level spawning, dead letters,
/// lifecycle events and graceful shutdown. Cheap to clone (one reference count).
///
/// Actors run on the tokio runtime current when the first actor is spawned; spawning
/// outside any runtime fails with `SpawnError::NoRuntime`.
#[derive(Clone)]
pub struct ActorSystem {
    shared: Arc<SystemShared>,
}

/// What `ActorSystem::shutdown` achieved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Top-level actors that stopped gracefully within the deadline.
    pub stopped: usize,
    /// Top-level actors aborted when the deadline passed.
    pub killed: usize,
}

impl ActorSystem {
    /// A new, empty system called `name` (used in logs).
    pub fn new(name: impl Into<String>) -> Self {
        let runtime = OnceLock::new();
        if let Ok(h) = tokio::runtime::Handle::try_current() {
            let _ = runtime.set(h);
        }
        ActorSystem {
            shared: Arc::new(SystemShared {
                name: name.into(),
                runtime,
                registry: DashMap::new(),
                user_root: ActorPath::user_root(),
                roots: Mutex::new(Children::default()),
                dead_letters: DeadLetterOffice::new(),
                events: EventBus::new(),
                shutting_down: AtomicBool::new(false),
                live: AtomicUsize::new(0),
            }),
        }
    }

    pub(crate) fn from_shared(shared: Arc<SystemShared>) -> Self {
        ActorSystem { shared }
    }

    /// The system's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Spawns a top-level actor at `/user/<name>`, built by `factory`. The factory is
    /// called again for each restart, so it must build a fresh actor each time.
    ///
    /// Cost: two small allocations for the control block and ref, the mailbox, one
    /// registry insert and one tokio task.
    ///
    /// # Errors
    /// `InvalidName`, `NameTaken`, `ParentStopping` (the system is shutting down),
    /// `NoRuntime`.
    pub fn spawn<A, F>(&self, name: &str, factory: F) -> Result<ActorRef<A::Msg>, SpawnError>
    where
        A: Actor,
        F: FnMut() -> A + Send + 'static,
    {
        spawn_actor(&self.shared, None, SpawnOptions::named(name), factory)
    }

    /// Spawns a top-level actor with explicit options.
    ///
    /// # Errors
    /// As `spawn`, plus `ZeroCapacity` for a bounded mailbox of capacity 0.
    pub fn spawn_with<A, F>(
        &self,
        options: SpawnOptions,
        factory: F,
    ) -> Result<ActorRef<A::Msg>, SpawnError>
    where
        A: Actor,
        F: FnMut() -> A + Send + 'static,
    {
        spawn_actor(&self.shared, None, options, factory)
    }

    /// The live actor at `path`, typed.
    ///
    /// # Errors
    /// `NotFound`, or `WrongMessageType` when `M` is not the actor's message type.
    pub fn lookup<M: Send + 'static>(&self, path: &str) -> Result<ActorRef<M>, LookupError> {
        let key = ActorPath::from_str_unchecked(path);
        let entry = self
            .shared
            .registry
            .get(&key)
            .ok_or_else(|| LookupError::NotFound(path.to_owned()))?;
        match entry.typed.downcast_ref::<ActorRef<M>>() {
            Some(actor) => Ok(actor.clone()),
            None => Err(LookupError::WrongMessageType {
                path: path.to_owned(),
                actual: entry.handle.message_type(),
                requested: std::any::type_name::<M>(),
            }),
        }
    }

    /// The live actor at `path`, untyped.
    pub fn lookup_handle(&self, path: &str) -> Option<ActorHandle> {
        let key = ActorPath::from_str_unchecked(path);
        self.shared.registry.get(&key).map(|e| e.handle.clone())
    }

    /// Every live actor, in no particular order.
    pub fn actors(&self) -> Vec<ActorHandle> {
        self.shared
            .registry
            .iter()
            .map(|e| e.handle.clone())
            .collect()
    }

    /// How many actors are alive.
    pub fn actor_count(&self) -> usize {
        self.shared.registry.len()
    }

    /// Subscribes to dead letters (best effort: see `Subscription`).
    pub fn subscribe_dead_letters(&self) -> Subscription<DeadLetter> {
        self.shared.dead_letters.subscribe()
    }

    /// Exact number of dead letters published since the system started.
    pub fn dead_letter_count(&self) -> u64 {
        self.shared.dead_letters.count()
    }

    /// Subscribes to lifecycle events (started, failed, restarted, stopped, and per
    /// message timings once `set_message_timing(true)`). Costs nothing while nobody
    /// subscribes.
    pub fn subscribe_events(&self) -> Subscription<LifecycleEvent> {
        self.shared.events.subscribe()
    }

    /// Switches per-message timing events on or off (off by default). While on, each
    /// handled message costs two clock reads and one broadcast send.
    pub fn set_message_timing(&self, on: bool) {
        self.shared.events.set_timing(on);
    }

    /// Stops every actor: top-level actors in reverse start order, each stopping its own
    /// children first (reverse start order, by their shutdown policies). Whatever has not
    /// ended when `deadline` passes is aborted. New spawns are refused from the start.
    pub async fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        self.shared.shutting_down.store(true, Ordering::Release);
        let roots = lock(&self.shared.roots).take(true);
        let mut report = ShutdownReport::default();
        let graceful = async {
            for actor in roots.iter().rev() {
                actor.terminate();
                actor.wait_stopped().await;
            }
        };
        if tokio::time::timeout(deadline, graceful).await.is_err() {
            for actor in &roots {
                if actor.is_alive() {
                    actor.kill();
                }
            }
        }
        for actor in &roots {
            match actor.wait_stopped().await {
                crate::failure::ExitReason::Killed => report.killed += 1,
                _ => report.stopped += 1,
            }
        }
        report
    }
}

impl std::fmt::Debug for ActorSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActorSystem")
            .field("name", &self.shared.name)
            .field("actors", &self.shared.registry.len())
            .finish()
    }
}
