//! `ChildSpec`: how a supervisor starts, restarts and stops one child.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use palisade_actor_core::{
    Actor, ActorHandle, Context, MailboxConfig, Shutdown, SpawnError, SpawnOptions,
};

use crate::error::SupervisionError;
use crate::policy::RestartPolicy;
use crate::strategy::SupervisionStrategy;
use crate::supervisor::Supervisor;

type StartFn =
    dyn Fn(&Context<Supervisor>, SpawnOptions) -> Result<ActorHandle, SpawnError> + Send + Sync;

/// The recipe for one child (OTP's child specification).
///
/// | setting | default | meaning |
/// |---|---|---|
/// | `restart` | `Always` | see `RestartPolicy` |
/// | `shutdown` | 5 s timeout (`Infinity` for supervisors) | how it is stopped |
/// | `significant` | false | counts for the supervisor's `AutoShutdown` |
/// | `mailbox` | bounded 1024, backpressure | its mailbox |
/// | `max_restarts` | none | an extra per-child intensity limit |
#[derive(Clone)]
pub struct ChildSpec {
    pub(crate) name: String,
    pub(crate) start: Arc<StartFn>,
    pub(crate) restart: RestartPolicy,
    pub(crate) shutdown: Shutdown,
    pub(crate) significant: bool,
    pub(crate) mailbox: MailboxConfig,
    pub(crate) max_restarts: Option<(u32, Duration)>,
    pub(crate) is_supervisor: bool,
}

impl ChildSpec {
    /// A child named `name` built by `factory`; the factory runs again for each restart.
    pub fn new<A, F>(name: impl Into<String>, factory: F) -> Self
    where
        A: Actor,
        F: Fn() -> A + Send + Sync + 'static,
    {
        let factory = Arc::new(factory);
        ChildSpec {
            name: name.into(),
            start: Arc::new(move |ctx: &Context<Supervisor>, options: SpawnOptions| {
                let factory = Arc::clone(&factory);
                ctx.spawn_with(options, move || factory())
                    .map(|r| r.handle())
            }),
            restart: RestartPolicy::default(),
            shutdown: Shutdown::default(),
            significant: false,
            mailbox: MailboxConfig::default(),
            max_restarts: None,
            is_supervisor: false,
        }
    }

    /// A nested supervisor as a child: the way to build a supervision tree.
    ///
    /// # Errors
    /// `InvalidConfig` when `strategy` is out of range.
    pub fn supervisor(
        name: impl Into<String>,
        strategy: SupervisionStrategy,
        children: Vec<ChildSpec>,
    ) -> Result<Self, SupervisionError> {
        strategy.validate()?;
        let (strategy, children) = (Arc::new(strategy), Arc::new(children));
        let mut spec = ChildSpec::new(name, move || {
            Supervisor::from_parts(Arc::clone(&strategy), Arc::clone(&children))
        });
        spec.shutdown = Shutdown::Infinity;
        spec.mailbox = MailboxConfig::unbounded();
        spec.is_supervisor = true;
        Ok(spec)
    }

    /// The restart policy.
    pub fn restart(mut self, policy: RestartPolicy) -> Self {
        self.restart = policy;
        self
    }

    /// How the supervisor stops this child.
    pub fn shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// Marks the child significant for `AutoShutdown`.
    pub fn significant(mut self, significant: bool) -> Self {
        self.significant = significant;
        self
    }

    /// The child's mailbox.
    pub fn mailbox(mut self, mailbox: MailboxConfig) -> Self {
        self.mailbox = mailbox;
        self
    }

    /// A per-child limit on top of the supervisor-wide one: more than `max` restarts of
    /// this child within `window` make the supervisor escalate.
    pub fn max_restarts(mut self, max: u32, window: Duration) -> Self {
        self.max_restarts = Some((max, window));
        self
    }

    /// The child's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn spawn(
        &self,
        ctx: &Context<Supervisor>,
        hook: Arc<dyn palisade_actor_core::SupervisionHook>,
    ) -> Result<ActorHandle, SpawnError> {
        let options = SpawnOptions::named(self.name.clone())
            .mailbox(self.mailbox)
            .shutdown(self.shutdown)
            .supervised_by(hook);
        (self.start)(ctx, options)
    }
}

impl fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("name", &self.name)
            .field("restart", &self.restart)
            .field("shutdown", &self.shutdown)
            .field("significant", &self.significant)
            .field("supervisor", &self.is_supervisor)
            .finish()
    }
}
