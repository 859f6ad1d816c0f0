//! Spawning: options, name checks, registration and starting the actor's task.

use std::sync::Arc;

use crate::actor::{Actor, Context};
use crate::actor_ref::ActorRef;
use crate::cell::{ActorHandle, Cell, Parent, Shutdown, SupervisionHook, lock};
use crate::error::SpawnError;
use crate::id::validate_name;
use crate::mailbox::{MailboxConfig, mailbox};
use crate::runner::Runner;
use crate::system::{RegistryEntry, SystemShared};

/// How to spawn an actor: its name, mailbox, shutdown policy and supervisor hook.
#[derive(Clone, Default)]
pub struct SpawnOptions {
    pub(crate) name: Option<String>,
    pub(crate) mailbox: MailboxConfig,
    pub(crate) shutdown: Shutdown,
    pub(crate) hook: Option<Arc<dyn SupervisionHook>>,
}

impl SpawnOptions {
    /// Options for an actor named `name` (its path's last segment).
    pub fn named(name: impl Into<String>) -> Self {
        SpawnOptions {
            name: Some(name.into()),
            ..SpawnOptions::default()
        }
    }

    /// Options for an anonymous actor: its name is generated (`$<id>`) and it is not
    /// entered in the registry (cheaper to spawn; reach it through its ref).
    pub fn anonymous() -> Self {
        SpawnOptions::default()
    }

    /// The mailbox shape (default: bounded 1024, backpressure).
    pub fn mailbox(mut self, mailbox: MailboxConfig) -> Self {
        self.mailbox = mailbox;
        self
    }

    /// How the parent stops this actor (default: 5 s timeout, then abort).
    pub fn shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// Makes the actor supervised: its ends are reported to `hook`, which decides.
    pub fn supervised_by(mut self, hook: Arc<dyn SupervisionHook>) -> Self {
        self.hook = Some(hook);
        self
    }
}

impl std::fmt::Debug for SpawnOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpawnOptions")
            .field("name", &self.name)
            .field("mailbox", &self.mailbox)
            .field("shutdown", &self.shutdown)
            .field("supervised", &self.hook.is_some())
            .finish()
    }
}

pub(crate) fn spawn_actor<A, F>(
    system: &Arc<SystemShared>,
    parent: Option<&Arc<Cell>>,
    options: SpawnOptions,
    factory: F,
) -> Result<ActorRef<A::Msg>, SpawnError>
where
    A: Actor,
    F: FnMut() -> A + Send + 'static,
{
    let runtime = system.runtime()?;
    if let MailboxConfig::Bounded { capacity: 0, .. } = options.mailbox {
        return Err(SpawnError::ZeroCapacity);
    }
    if let Some(name) = &options.name {
        validate_name(name).map_err(|reason| SpawnError::InvalidName {
            name: name.clone(),
            reason,
        })?;
    }
    let parent_path = match parent {
        Some(p) => p.path.clone(),
        None => system.user_root.clone(),
    };
    let (tx, rx) = mailbox::<A::Msg>(options.mailbox);
    let parent_link = match parent {
        Some(p) => Parent::Actor(Arc::downgrade(p)),
        None => Parent::Root,
    };
    // The id is drawn when the cell is made; anonymous names are derived from it, so
    // make the cell with a provisional path first only when the name is given.
    let cell = match &options.name {
        Some(name) => Cell::new(
            parent_path.child(name),
            std::any::type_name::<A::Msg>,
            Arc::clone(system),
            parent_link,
            options.hook,
            options.shutdown,
        ),
        None => {
            let mut cell = Cell::new(
                parent_path.clone(),
                std::any::type_name::<A::Msg>,
                Arc::clone(system),
                parent_link,
                options.hook,
                options.shutdown,
            );
            cell.path = parent_path.anonymous_child(cell.id);
            cell
        }
    };
    let cell = Arc::new(cell);
    let actor_ref = ActorRef::new(Arc::clone(&cell), tx);
    let handle = ActorHandle(Arc::clone(&cell));

    // Join the parent's children first (refused once the parent is stopping), then the
    // registry; undo the first if the second fails.
    let joined = match parent {
        Some(p) => p.add_child(handle.clone()),
        None => lock(&system.roots).add(handle.clone()),
    };
    if !joined {
        return Err(SpawnError::ParentStopping {
            parent: parent_path,
        });
    }
    // Anonymous actors are reached through their refs only: the registry (and its cost)
    // is for names.
    let entry = options.name.is_some().then(|| RegistryEntry {
        handle: handle.clone(),
        typed: Box::new(actor_ref.clone()),
    });
    if let Err(e) = system.register(entry) {
        match parent {
            Some(p) => p.forget_child(cell.id),
            None => lock(&system.roots).remove(cell.id),
        }
        return Err(e);
    }

    let runner = Runner::new(
        cell.clone(),
        factory,
        rx,
        Context::<A>::new(actor_ref.clone()),
    );
    let task = runtime.spawn(runner.run());
    cell.set_abort(task.abort_handle());
    Ok(actor_ref)
}
