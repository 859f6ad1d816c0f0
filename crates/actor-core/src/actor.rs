//! The `Actor` trait and the `Context` an actor sees while it runs.

use std::future::Future;

use crate::actor_ref::ActorRef;
use crate::cell::ActorHandle;
use crate::error::{ActorResult, SpawnError};
use crate::failure::{RestartReason, Terminated};
use crate::id::{ActorId, ActorPath};
use crate::spawn::{SpawnOptions, spawn_actor};
use crate::system::ActorSystem;

/// An actor: state plus a handler for one message type.
///
/// The runtime calls the handler for one message at a time, so `&mut self` needs no lock.
/// Handler futures must be `Send`; write them as `async fn` in the impl. A panic or an
/// `Err` anywhere in a handler or hook is caught and becomes a failure of this actor only
/// (see `docs/runtime-semantics.md`).
///
/// Lifecycle of one instance: `pre_start` → (`post_restart` after a restart) → `handle`…
/// → `pre_restart` (only when it is being replaced) → `post_stop`.
pub trait Actor: Send + Sized + 'static {
    /// The messages this actor takes. For request/response, put a `ReplyTo<R>` in a
    /// variant and use `ActorRef::ask`.
    type Msg: Send + 'static;

    /// Handles one message. `Err` (or a panic) is a failure: the message goes to dead
    /// letters with the error and the supervisor decides what happens next.
    fn handle(
        &mut self,
        msg: Self::Msg,
        ctx: &mut Context<Self>,
    ) -> impl Future<Output = ActorResult> + Send;

    /// Runs before the first message of each instance. `Err` is a start failure.
    fn pre_start(&mut self, ctx: &mut Context<Self>) -> impl Future<Output = ActorResult> + Send {
        let _ = ctx;
        async { Ok(()) }
    }

    /// Runs once when an instance ends (stop or restart), after its children have
    /// stopped. Not run for an instance whose `pre_start` failed, nor on a kill. Errors
    /// and panics here are logged, not escalated.
    fn post_stop(&mut self, ctx: &mut Context<Self>) -> impl Future<Output = ()> + Send {
        let _ = ctx;
        async {}
    }

    /// Runs on the old instance just before it is replaced, before `post_stop`.
    fn pre_restart(
        &mut self,
        reason: &RestartReason,
        ctx: &mut Context<Self>,
    ) -> impl Future<Output = ()> + Send {
        let _ = (reason, ctx);
        async {}
    }

    /// Runs on the new instance after `pre_start`, when it replaces an old one.
    /// `Err` is a start failure.
    fn post_restart(
        &mut self,
        reason: &RestartReason,
        ctx: &mut Context<Self>,
    ) -> impl Future<Output = ActorResult> + Send {
        let _ = (reason, ctx);
        async { Ok(()) }
    }

    /// A watched actor has ended (see `Context::watch`). Delivered once per watch, on the
    /// priority lane. `Err` is a failure.
    fn on_terminated(
        &mut self,
        terminated: Terminated,
        ctx: &mut Context<Self>,
    ) -> impl Future<Output = ActorResult> + Send {
        let _ = (terminated, ctx);
        async { Ok(()) }
    }
}

/// What a running actor knows about itself and can do to the system.
pub struct Context<A: Actor> {
    myself: ActorRef<A::Msg>,
    pub(crate) stop_requested: bool,
}

impl<A: Actor> Context<A> {
    pub(crate) fn new(myself: ActorRef<A::Msg>) -> Self {
        Context {
            myself,
            stop_requested: false,
        }
    }

    /// A reference to this actor.
    pub fn myself(&self) -> &ActorRef<A::Msg> {
        &self.myself
    }

    /// This actor's id.
    pub fn id(&self) -> ActorId {
        self.myself.id()
    }

    /// This actor's path.
    pub fn path(&self) -> &ActorPath {
        self.myself.path()
    }

    /// The running instance: 1 for the first, +1 per restart.
    pub fn incarnation(&self) -> u64 {
        self.myself.handle().incarnation()
    }

    /// The system this actor belongs to.
    pub fn system(&self) -> ActorSystem {
        ActorSystem::from_shared(self.myself.cell().system.clone())
    }

    /// Stops this actor once the current handler returns (exit reason `Normal`). A
    /// supervised actor asks its supervisor first (restart policies `Always`/`OnStop`
    /// restart it).
    pub fn stop(&mut self) {
        self.stop_requested = true;
    }

    /// Spawns a child named `name` under this actor. Children stop before their parent,
    /// in reverse start order. See `ActorSystem::spawn` for the factory and errors.
    pub fn spawn<C, F>(&self, name: &str, factory: F) -> Result<ActorRef<C::Msg>, SpawnError>
    where
        C: Actor,
        F: FnMut() -> C + Send + 'static,
    {
        self.spawn_with(SpawnOptions::named(name), factory)
    }

    /// Spawns a child with explicit options.
    pub fn spawn_with<C, F>(
        &self,
        options: SpawnOptions,
        factory: F,
    ) -> Result<ActorRef<C::Msg>, SpawnError>
    where
        C: Actor,
        F: FnMut() -> C + Send + 'static,
    {
        let cell = self.myself.cell();
        spawn_actor(&cell.system, Some(cell), options, factory)
    }

    /// Watches `other`: this actor's `on_terminated` runs once when it ends for good. If
    /// it has already ended, the signal comes at once.
    pub fn watch(&self, other: &ActorHandle) {
        other.0.add_watcher(self.myself.handle());
    }

    /// Stops watching `other`. A `Terminated` already queued may still arrive.
    pub fn unwatch(&self, other: &ActorHandle) {
        other.0.remove_watcher(self.id());
    }

    /// This actor's children, in start order.
    pub fn children(&self) -> Vec<ActorHandle> {
        self.myself.cell().children()
    }
}
