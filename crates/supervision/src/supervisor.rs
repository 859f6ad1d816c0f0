//! The `Supervisor` actor, its reference `SupervisorRef`, and `RootSupervisor`.

use std::sync::Arc;
use std::time::Duration;

use palisade_actor_core::{
    Actor, ActorError, ActorHandle, ActorRef, ActorResult, ActorSystem, ChildEnd, ChildReport,
    Context, ExitReason, Failure, HookClosed, LookupError, MailboxConfig, ReplyTo, RestartReason,
    Shutdown, SpawnOptions, SupervisionHook,
};
use tokio::time::Instant;

use crate::backoff::{BackoffState, SplitMix64};
use crate::directive::SupervisionDirective;
use crate::error::{Escalation, SupervisionError};
use crate::intensity::IntensityWindow;
use crate::policy::RestartPolicy;
use crate::spec::ChildSpec;
use crate::stats::{ChildStats, ChildStatus, FailureRecord, SupervisorStats, SupervisorTree};
use crate::strategy::{AutoShutdown, RestartStrategy, SupervisionStrategy};

/// A supervisor: an actor that starts its children from specs, watches over them through
/// the actor-core `SupervisionHook`, and applies its `SupervisionStrategy` when they end.
///
/// Spawn one with [`Supervisor::spawn`] (or [`RootSupervisor::start`], or nest one with
/// [`ChildSpec::supervisor`]); talk to it through [`SupervisorRef`].
pub struct Supervisor {
    config: Arc<SupervisionStrategy>,
    specs: Arc<Vec<ChildSpec>>,
    children: Vec<Child>,
    window: IntensityWindow,
    rng: SplitMix64,
    link: Option<Arc<dyn SupervisionHook>>,
}

struct Child {
    spec: ChildSpec,
    handle: ActorHandle,
    /// Reports from incarnations below this are stale (the child was restarted since).
    stale_below: u64,
    backoff: BackoffState,
    window: Option<IntensityWindow>,
    restarts: u64,
    last_failure: Option<FailureRecord>,
    status: ChildStatus,
}

/// The messages a supervisor takes. Opaque: use [`SupervisorRef`]'s methods.
pub struct SupervisorMsg(Command);

enum Command {
    Ended(ChildReport),
    Killed(ActorHandle),
    Add(ChildSpec, ReplyTo<Result<ActorHandle, SupervisionError>>),
    Remove(String, ReplyTo<Result<(), SupervisionError>>),
    Stats(ReplyTo<SupervisorStats>),
}

/// Forwards the children's reports into the supervisor's (unbounded) mailbox.
struct Link(ActorRef<SupervisorMsg>);

impl SupervisionHook for Link {
    fn child_ended(&self, report: ChildReport) -> Result<(), HookClosed> {
        self.0
            .try_tell(SupervisorMsg(Command::Ended(report)))
            .map_err(|_| HookClosed)
    }

    fn child_killed(&self, child: &ActorHandle) {
        if self.0.is_alive() {
            let _ = self
                .0
                .try_tell(SupervisorMsg(Command::Killed(child.clone())));
        }
    }
}

impl Supervisor {
    pub(crate) fn from_parts(config: Arc<SupervisionStrategy>, specs: Arc<Vec<ChildSpec>>) -> Self {
        Supervisor {
            window: IntensityWindow::new(config.max_failures, config.within_time_window),
            rng: SplitMix64::new(config.seed),
            config,
            specs,
            children: Vec::new(),
            link: None,
        }
    }

    /// Spawns a top-level supervisor at `/user/<name>` that starts `children` in order.
    ///
    /// # Errors
    /// `InvalidConfig` for an out-of-range strategy, `Spawn` if the name is invalid or
    /// taken. A child that fails to spawn makes the supervisor fail to start (it stops,
    /// watchers see the failure).
    pub fn spawn(
        system: &ActorSystem,
        name: &str,
        strategy: SupervisionStrategy,
        children: Vec<ChildSpec>,
    ) -> Result<SupervisorRef, SupervisionError> {
        strategy.validate()?;
        let (config, specs) = (Arc::new(strategy), Arc::new(children));
        let options = SpawnOptions::named(name)
            .mailbox(MailboxConfig::unbounded())
            .shutdown(Shutdown::Infinity);
        let actor = system.spawn_with(options, move || {
            Supervisor::from_parts(Arc::clone(&config), Arc::clone(&specs))
        })?;
        Ok(SupervisorRef {
            actor,
            system: system.clone(),
        })
    }

    fn index_of(&self, id: palisade_actor_core::ActorId) -> Option<usize> {
        self.children.iter().position(|c| c.handle.id() == id)
    }

    fn link(&self) -> Result<Arc<dyn SupervisionHook>, ActorError> {
        self.link
            .clone()
            .ok_or_else(|| ActorError::msg("supervisor link missing"))
    }

    fn start_child(
        &mut self,
        spec: ChildSpec,
        ctx: &Context<Self>,
    ) -> Result<ActorHandle, SupervisionError> {
        if self
            .children
            .iter()
            .any(|c| c.spec.name == spec.name && c.status == ChildStatus::Alive)
        {
            return Err(SupervisionError::DuplicateChild(spec.name));
        }
        self.children.retain(|c| c.spec.name != spec.name);
        let link = self
            .link()
            .map_err(|_| SupervisionError::InvalidConfig("not started"))?;
        let handle = spec.spawn(ctx, link)?;
        let window = spec
            .max_restarts
            .map(|(max, w)| IntensityWindow::new(max, w));
        self.children.push(Child {
            spec,
            handle: handle.clone(),
            stale_below: 0,
            backoff: BackoffState::default(),
            window,
            restarts: 0,
            last_failure: None,
            status: ChildStatus::Alive,
        });
        Ok(handle)
    }

    async fn on_child_ended(
        &mut self,
        report: ChildReport,
        ctx: &mut Context<Self>,
    ) -> ActorResult {
        let Some(i) = self.index_of(report.child.id()) else {
            report.child.terminate();
            return Ok(());
        };
        let child = &mut self.children[i];
        if report.incarnation < child.stale_below || child.status == ChildStatus::Terminated {
            return Ok(());
        }
        let policy = child.spec.restart;
        let (directive, reason, cause) = match &report.end {
            ChildEnd::Failed(f) => {
                child.last_failure = Some(FailureRecord {
                    description: f.to_string(),
                    at: Instant::now(),
                    panic: f.is_panic(),
                });
                let d = match self.config.decider.decide(f) {
                    SupervisionDirective::Restart if !policy.restarts_after(&report.end) => {
                        SupervisionDirective::Stop
                    }
                    d => d,
                };
                (d, RestartReason::Failed(f.clone()), Some(f.clone()))
            }
            ChildEnd::Exited(exit) => {
                let d = if policy.restarts_after(&report.end) {
                    SupervisionDirective::Restart
                } else {
                    SupervisionDirective::Stop
                };
                (d, RestartReason::Exited(exit.clone()), None)
            }
        };
        match directive {
            SupervisionDirective::Resume => report.child.resume(),
            SupervisionDirective::Stop => self.retire(i, ctx),
            SupervisionDirective::Escalate => {
                let what = cause.as_ref().map_or_else(String::new, ToString::to_string);
                return self
                    .escalate(format!("decider escalated: {what}"), cause, ctx)
                    .await;
            }
            SupervisionDirective::Restart => {
                self.restart(i, report.incarnation, reason, cause, ctx)
                    .await?;
            }
        }
        Ok(())
    }

    /// Records a restart against the intensity limits; `Err` means escalate.
    fn count_restart(&mut self, i: usize, now: Instant) -> Result<(), String> {
        let over_all = self.window.record(now);
        let child = &mut self.children[i];
        let over_child = child.window.as_mut().is_some_and(|w| w.record(now));
        if over_all {
            return Err(format!(
                "restart intensity exceeded: more than {} restarts within {:?}",
                self.config.max_failures, self.config.within_time_window
            ));
        }
        if over_child {
            let (max, w) = child.spec.max_restarts.unwrap_or_default();
            return Err(format!(
                "child {} exceeded its limit of {max} restarts within {w:?}",
                child.spec.name
            ));
        }
        Ok(())
    }

    async fn restart(
        &mut self,
        i: usize,
        incarnation: u64,
        reason: RestartReason,
        cause: Option<Failure>,
        ctx: &mut Context<Self>,
    ) -> ActorResult {
        let now = Instant::now();
        if let Err(why) = self.count_restart(i, now) {
            return self.escalate(why, cause, ctx).await;
        }
        let delay = self.children[i]
            .backoff
            .next_delay(now, &self.config.backoff, &mut self.rng);
        let failed_path = self.children[i].handle.path().clone();
        let affected: Vec<usize> = self
            .config
            .strategy
            .affected(i, self.children.len())
            .filter(|&j| j == i || self.children[j].status == ChildStatus::Alive)
            .collect();
        if affected.len() == 1 {
            let child = &mut self.children[i];
            child.stale_below = incarnation + 1;
            child.restarts += 1;
            child.handle.restart(reason, delay);
            return Ok(());
        }
        // Several children: stop them in reverse start order, then start them again in
        // start order after the delay, each waiting for the previous one's pre_start.
        for &j in affected.iter().rev() {
            let child = &mut self.children[j];
            let why = if j == i {
                child.stale_below = incarnation + 1;
                reason.clone()
            } else {
                child.stale_below = child.handle.incarnation() + 1;
                RestartReason::SiblingRestarted(failed_path.clone())
            };
            child.restarts += 1;
            if j != i {
                child.backoff.current = delay;
            }
            child.handle.halt(why).await;
        }
        let handles: Vec<ActorHandle> = affected
            .iter()
            .map(|&j| self.children[j].handle.clone())
            .collect();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            for h in handles {
                h.start(Duration::ZERO).await;
            }
        });
        Ok(())
    }

    /// A child ends for good: terminate it and apply auto-shutdown.
    fn retire(&mut self, i: usize, ctx: &mut Context<Self>) {
        let child = &mut self.children[i];
        child.status = ChildStatus::Terminated;
        child.handle.terminate();
        if !child.spec.significant {
            // OTP forgets a temporary child once it ends: a supervisor of many
            // short-lived workers must not keep a record of each.
            if child.spec.restart == RestartPolicy::Never {
                self.children.remove(i);
            }
            return;
        }
        let significant = || self.children.iter().filter(|c| c.spec.significant);
        let stop = match self.config.auto_shutdown {
            AutoShutdown::Never => false,
            AutoShutdown::AnySignificant => true,
            AutoShutdown::AllSignificant => {
                significant().all(|c| c.status == ChildStatus::Terminated)
            }
        };
        if stop {
            ctx.stop();
        }
    }

    /// Stops every child (reverse start order) and fails, for the parent to decide.
    async fn escalate(
        &mut self,
        reason: String,
        cause: Option<Failure>,
        ctx: &mut Context<Self>,
    ) -> ActorResult {
        tracing::warn!(target: "palisade::supervision", supervisor = %ctx.path(), "{reason}");
        self.stop_all_children().await;
        Err(ActorError::from(Escalation {
            supervisor: ctx.path().to_string(),
            reason,
            cause,
        }))
    }

    async fn stop_all_children(&mut self) {
        for child in self.children.iter_mut().rev() {
            if child.status == ChildStatus::Alive {
                child.status = ChildStatus::Terminated;
                child.handle.shutdown(child.spec.shutdown).await;
            }
        }
    }

    async fn on_child_killed(
        &mut self,
        handle: ActorHandle,
        ctx: &mut Context<Self>,
    ) -> ActorResult {
        let Some(i) = self.index_of(handle.id()) else {
            return Ok(());
        };
        if self.children[i].status == ChildStatus::Terminated {
            return Ok(());
        }
        let end = ChildEnd::Exited(ExitReason::Killed);
        if !self.children[i].spec.restart.restarts_after(&end) {
            self.retire(i, ctx);
            return Ok(());
        }
        if let Err(why) = self.count_restart(i, Instant::now()) {
            return self.escalate(why, None, ctx).await;
        }
        // The task is gone: spawn a fresh actor from the spec at the same path.
        let link = self.link()?;
        let child = &mut self.children[i];
        child.handle = child.spec.spawn(ctx, link)?;
        child.stale_below = 0;
        child.restarts += 1;
        Ok(())
    }

    fn stats(&self, ctx: &Context<Self>) -> SupervisorStats {
        SupervisorStats {
            path: ctx.path().clone(),
            strategy: self.config.strategy,
            restarts_in_window: self.window.count(),
            children: self
                .children
                .iter()
                .map(|c| ChildStats {
                    name: c.spec.name.clone(),
                    path: c.handle.path().clone(),
                    status: c.status,
                    policy: c.spec.restart,
                    is_supervisor: c.spec.is_supervisor,
                    restarts: c.restarts,
                    incarnation: c.handle.incarnation(),
                    last_failure: c.last_failure.clone(),
                    current_backoff: c.backoff.current,
                    consecutive_restarts: c.backoff.consecutive(),
                })
                .collect(),
        }
    }
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;

    async fn pre_start(&mut self, ctx: &mut Context<Self>) -> ActorResult {
        self.link = Some(Arc::new(Link(ctx.myself().clone())));
        let specs = Arc::clone(&self.specs);
        for spec in specs.iter() {
            self.start_child(spec.clone(), ctx)?;
        }
        Ok(())
    }

    async fn handle(&mut self, msg: SupervisorMsg, ctx: &mut Context<Self>) -> ActorResult {
        match msg.0 {
            Command::Ended(report) => return self.on_child_ended(report, ctx).await,
            Command::Killed(handle) => return self.on_child_killed(handle, ctx).await,
            Command::Add(spec, reply) => {
                let _ = reply.send(self.start_child(spec, ctx));
            }
            Command::Remove(name, reply) => {
                let found = self
                    .children
                    .iter()
                    .position(|c| c.spec.name == name && c.status == ChildStatus::Alive);
                let result = match found {
                    Some(i) => {
                        let child = self.children.remove(i);
                        child.handle.shutdown(child.spec.shutdown).await;
                        Ok(())
                    }
                    None => Err(SupervisionError::ChildNotFound(name)),
                };
                let _ = reply.send(result);
            }
            Command::Stats(reply) => {
                let _ = reply.send(self.stats(ctx));
            }
        }
        Ok(())
    }

    async fn post_stop(&mut self, _ctx: &mut Context<Self>) {
        // The runtime has already stopped the children (reverse start order, by their
        // shutdown policies); forget them so a restarted supervisor starts clean.
        self.children.clear();
    }
}

/// A typed reference to a supervisor. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SupervisorRef {
    actor: ActorRef<SupervisorMsg>,
    system: ActorSystem,
}

impl SupervisorRef {
    /// The supervisor at `path`, if one lives there.
    ///
    /// # Errors
    /// `NotFound`, or `WrongMessageType` when the actor there is not a supervisor.
    pub fn lookup(system: &ActorSystem, path: &str) -> Result<Self, LookupError> {
        let actor = system.lookup::<SupervisorMsg>(path)?;
        Ok(SupervisorRef {
            actor,
            system: system.clone(),
        })
    }

    /// The supervisor's untyped handle (watch, stop, wait).
    pub fn handle(&self) -> ActorHandle {
        self.actor.handle()
    }

    /// The supervisor's path.
    pub fn path(&self) -> &palisade_actor_core::ActorPath {
        self.actor.path()
    }

    /// Starts a child at run time (OTP `start_child`); it is started after the others.
    ///
    /// # Errors
    /// `DuplicateChild`, `Spawn`, or `Unavailable` when the supervisor has stopped.
    pub async fn add_child(&self, spec: ChildSpec) -> Result<ActorHandle, SupervisionError> {
        self.actor
            .ask(|reply| SupervisorMsg(Command::Add(spec, reply)))
            .await?
    }

    /// Stops a child by its shutdown policy and forgets it (OTP `terminate_child` plus
    /// `delete_child`).
    ///
    /// # Errors
    /// `ChildNotFound`, or `Unavailable` when the supervisor has stopped.
    pub async fn remove_child(&self, name: &str) -> Result<(), SupervisionError> {
        let name = name.to_owned();
        self.actor
            .ask(|reply| SupervisorMsg(Command::Remove(name, reply)))
            .await?
    }

    /// Statistics of this supervisor and its children.
    ///
    /// # Errors
    /// `Unavailable` when the supervisor has stopped.
    pub async fn stats(&self) -> Result<SupervisorStats, SupervisionError> {
        Ok(self
            .actor
            .ask(|reply| SupervisorMsg(Command::Stats(reply)))
            .await?)
    }

    /// Statistics of the whole tree below this supervisor (nested supervisors included).
    ///
    /// # Errors
    /// `Unavailable` when this supervisor has stopped; nested supervisors that stopped
    /// meanwhile are left out.
    pub async fn tree(&self) -> Result<SupervisorTree, SupervisionError> {
        let stats = self.stats().await?;
        let mut subtrees = Vec::new();
        for child in stats.children.iter().filter(|c| c.is_supervisor) {
            if let Ok(sub) = SupervisorRef::lookup(&self.system, &child.path.to_string()) {
                if let Ok(tree) = Box::pin(sub.tree()).await {
                    subtrees.push(tree);
                }
            }
        }
        Ok(SupervisorTree { stats, subtrees })
    }

    /// The typed ref of the child `name`.
    ///
    /// # Errors
    /// `NotFound` or `WrongMessageType`.
    pub fn child<M: Send + 'static>(&self, name: &str) -> Result<ActorRef<M>, LookupError> {
        self.system
            .lookup::<M>(&format!("{}/{name}", self.actor.path()))
    }

    /// Asks the supervisor to stop: its children stop first, in reverse start order.
    pub fn stop(&self) {
        self.actor.handle().terminate();
    }

    /// Waits until the supervisor has ended and returns why.
    pub async fn wait_stopped(&self) -> ExitReason {
        self.actor.handle().wait_stopped().await
    }
}

/// The top of a supervision tree (the origin design's `RootSupervisor`), at `/user/root`.
/// When its own intensity is exceeded it stops the whole tree and ends with the failure;
/// the rest of the actor system is untouched.
#[derive(Clone, Debug)]
pub struct RootSupervisor {
    supervisor: SupervisorRef,
}

impl RootSupervisor {
    /// The path of the root supervisor.
    pub const PATH: &'static str = "/user/root";

    /// Starts the root supervisor with `children`.
    ///
    /// # Errors
    /// As `Supervisor::spawn`; `Spawn(NameTaken)` if a root already runs.
    pub fn start(
        system: &ActorSystem,
        strategy: SupervisionStrategy,
        children: Vec<ChildSpec>,
    ) -> Result<Self, SupervisionError> {
        Ok(RootSupervisor {
            supervisor: Supervisor::spawn(system, "root", strategy, children)?,
        })
    }

    /// The root as a `SupervisorRef`.
    pub fn supervisor(&self) -> &SupervisorRef {
        &self.supervisor
    }

    /// Graceful shutdown of the tree (origin `system_shutdown`): children-first in
    /// reverse start order; whatever is still running after `deadline` is aborted.
    pub async fn shutdown(&self, deadline: Duration) -> ExitReason {
        self.supervisor
            .handle()
            .shutdown(Shutdown::Timeout(deadline))
            .await
    }

    /// Aborts the whole tree at once (origin `emergency_stop`): no `post_stop` runs.
    pub async fn emergency_stop(&self) -> ExitReason {
        self.supervisor
            .handle()
            .shutdown(Shutdown::BrutalKill)
            .await
    }
}

impl std::ops::Deref for RootSupervisor {
    type Target = SupervisorRef;
    fn deref(&self) -> &SupervisorRef {
        &self.supervisor
    }
}

#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<SupervisorRef>();
    is::<RestartPolicy>();
    is::<RestartStrategy>();
}
