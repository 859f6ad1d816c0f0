//! The task behind every actor: the message loop, failure capture, the restart protocol
//! and the orderly end. One runner serves every incarnation of an actor, so its mailbox
//! (and every `ActorRef` to it) outlives restarts.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Poll, Waker};
use std::time::Duration;

use crate::actor::{Actor, Context};
use crate::cell::{Cell, ChildEnd, ChildReport, Parent, Signal, lock};
use crate::dead_letters::DeadLetterReason;
use crate::error::ActorError;
use crate::events::LifecycleEvent;
use crate::failure::{
    ExitReason, Failure, FailureKind, FailurePhase, RestartReason, Terminated, panic_message,
};
use crate::mailbox::MailboxRx;
use crate::panic::catch_unwind_future;

enum State {
    Starting(Option<Box<RestartReason>>),
    Running,
    Parked(Box<ChildEnd>),
    Halted,
    Finishing(Box<ExitReason>),
}

pub(crate) struct Runner<A: Actor, F> {
    cell: Arc<Cell>,
    factory: F,
    actor: Option<A>,
    /// The current instance's `pre_start` succeeded, so it is owed a `post_stop`.
    started: bool,
    rx: MailboxRx<A::Msg>,
    ctx: Context<A>,
    /// Watch signals that arrived while no instance was running.
    /// State needed only around restarts and watches, boxed to keep the task small.
    cold: Option<Box<Cold>>,
    /// The waker last given to the cell (for signals); re-registered only if it changes.
    registered: Option<Waker>,
    finalized: bool,
}

#[derive(Default)]
struct Cold {
    /// Watch signals that arrived while no instance was running.
    deferred: Vec<Terminated>,
    /// Why the current halt happened, handed to the next instance's `post_restart`.
    last_restart_reason: Option<RestartReason>,
    /// Told when the instance being started has finished starting.
    start_ack: Option<tokio::sync::oneshot::Sender<()>>,
}

/// What the running loop waits for: a message, a signal, or the end of the mailbox.
enum Next<M> {
    Message(M),
    Signal,
    Closed,
}

/// Runs `make()` and polls its future, turning a panic in either into `Err(text)`.
#[inline]
async fn guarded<Fut: Future>(make: impl FnOnce() -> Fut) -> Result<Fut::Output, String> {
    let fut = catch_unwind(AssertUnwindSafe(make)).map_err(|p| panic_message(&*p))?;
    let fut = pin!(fut);
    catch_unwind_future(fut)
        .await
        .map_err(|p| panic_message(&*p))
}

impl<A: Actor, F: FnMut() -> A + Send + 'static> Runner<A, F> {
    pub(crate) fn new(cell: Arc<Cell>, factory: F, rx: MailboxRx<A::Msg>, ctx: Context<A>) -> Self {
        Runner {
            cell,
            factory,
            actor: None,
            started: false,
            rx,
            ctx,
            cold: None,
            registered: None,
            finalized: false,
        }
    }

    pub(crate) fn run(self) -> impl Future<Output = ()> + Send {
        // A plain fn around an async block: an `async fn` taking `self` by value may keep
        // two copies of it in the task.
        let mut this = self;
        async move {
            let mut state = State::Starting(None);
            loop {
                state = match state {
                    State::Starting(reason) => {
                        let next = this.start_instance(reason).await;
                        if let Some(ack) = this.cold.as_mut().and_then(|c| c.start_ack.take()) {
                            let _ = ack.send(());
                        }
                        next
                    }
                    State::Running => this.run_instance().await,
                    // Cold paths are boxed so that every actor's task stays small.
                    State::Parked(end) => Box::pin(this.park(*end)).await,
                    State::Halted => Box::pin(this.wait_halted()).await,
                    State::Finishing(reason) => {
                        Box::pin(this.finish(*reason)).await;
                        return;
                    }
                }
            }
        }
    }

    fn failure(&self, phase: FailurePhase, kind: FailureKind) -> Failure {
        Failure {
            actor: self.cell.id,
            path: self.cell.path.clone(),
            phase,
            kind,
        }
    }

    fn outcome_to_failure(
        &self,
        phase: FailurePhase,
        outcome: Result<Result<(), ActorError>, String>,
    ) -> Option<Failure> {
        match outcome {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(self.failure(phase, FailureKind::Error(e.into_shared()))),
            Err(panic) => Some(self.failure(phase, FailureKind::Panic(panic))),
        }
    }

    async fn start_instance(&mut self, reason: Option<Box<RestartReason>>) -> State {
        self.ctx.stop_requested = false;
        self.started = false;
        let factory = &mut self.factory;
        let actor = match catch_unwind(AssertUnwindSafe(factory)) {
            Ok(actor) => actor,
            Err(p) => {
                let kind = FailureKind::Panic(panic_message(&*p));
                return State::Parked(Box::new(ChildEnd::Failed(
                    self.failure(FailurePhase::Start, kind),
                )));
            }
        };
        let incarnation = self.cell.incarnation.fetch_add(1, Ordering::AcqRel) + 1;
        let actor = self.actor.insert(actor);
        let ctx = &mut self.ctx;
        let mut outcome = guarded(|| actor.pre_start(ctx)).await;
        if let (Ok(Ok(())), Some(reason)) = (&outcome, &reason) {
            outcome = Box::pin(guarded(|| actor.post_restart(reason, ctx))).await;
        }
        if let Some(f) = self.outcome_to_failure(FailurePhase::Start, outcome) {
            return State::Parked(Box::new(ChildEnd::Failed(f)));
        }
        self.started = true;
        let (id, path) = (self.cell.id, &self.cell.path);
        self.cell.system.events.publish_with(|| match reason {
            None => LifecycleEvent::Started {
                id,
                path: path.clone(),
                incarnation,
            },
            Some(reason) => LifecycleEvent::Restarted {
                id,
                path: path.clone(),
                incarnation,
                reason: *reason,
            },
        });
        let deferred = self.cold.as_mut().map(|c| std::mem::take(&mut c.deferred));
        for t in deferred.into_iter().flatten() {
            self.cell.push_signal(Signal::Terminated(t));
        }
        State::Running
    }

    /// The state after the current instance stops, honouring supervision.
    fn after_stop(&self, exit: ExitReason, consult_parent: bool) -> State {
        if consult_parent && self.cell.hook.is_some() {
            State::Parked(Box::new(ChildEnd::Exited(exit)))
        } else {
            State::Finishing(Box::new(exit))
        }
    }

    async fn run_instance(&mut self) -> State {
        loop {
            while self.cell.has_signal() {
                let Some(signal) = self.cell.pop_signal() else {
                    break;
                };
                if let Signal::Stop { consult_parent } = signal {
                    return self.after_stop(ExitReason::Stopped, consult_parent);
                }
                // Boxed: other signals are rare, and this keeps every actor's task small.
                if let Some(state) = Box::pin(self.on_signal(signal)).await {
                    return state;
                }
            }

            let msg = match std::future::poll_fn(|cx| self.poll_next(cx)).await {
                Next::Message(msg) => msg,
                Next::Signal => continue,
                // Unreachable while the context holds a sender; end cleanly regardless.
                Next::Closed => return State::Finishing(Box::new(ExitReason::Normal)),
            };
            if let Some(state) = self.handle_message(msg).await {
                return state;
            }
            // Cooperative scheduling: a busy actor yields once its task budget is spent,
            // as a tokio channel consumer would.
            tokio::task::consume_budget().await;
        }
    }

    fn cold(&mut self) -> &mut Cold {
        self.cold.get_or_insert_with(Box::default)
    }

    /// A signal while running: `Some(state)` when it ends the running instance.
    async fn on_signal(&mut self, signal: Signal) -> Option<State> {
        match signal {
            Signal::Stop { consult_parent } => {
                Some(self.after_stop(ExitReason::Stopped, consult_parent))
            }
            Signal::Halt { reason, ack } => {
                self.halt_instance(&reason).await;
                if let Some(ack) = ack {
                    let _ = ack.send(());
                }
                Some(State::Halted)
            }
            Signal::Resume | Signal::Start { .. } => None,
            Signal::Terminated(t) => self.deliver_terminated(t).await,
        }
    }

    /// The next message, unless a signal is pending. The channel's own waker wakes the
    /// task for messages; the waker registered with the cell wakes it for signals.
    #[inline]
    fn poll_next(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Next<A::Msg>> {
        // The caller has just drained the signal lane; a signal arriving from here on is
        // seen before the next message (run_instance checks again) or wakes us below.
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(msg)) => Poll::Ready(Next::Message(msg)),
            Poll::Ready(None) => Poll::Ready(Next::Closed),
            Poll::Pending => match self.poll_signal(cx) {
                Poll::Ready(()) => Poll::Ready(Next::Signal),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    /// Ready once a signal is pending; otherwise makes sure a new signal wakes this task.
    fn poll_signal(&mut self, cx: &mut std::task::Context<'_>) -> Poll<()> {
        if self.cell.has_signal() {
            return Poll::Ready(());
        }
        if !self
            .registered
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            self.cell.set_waker(cx.waker().clone());
            self.registered = Some(cx.waker().clone());
        }
        // A signal pushed before the waker was in place would have woken nobody.
        if self.cell.has_signal() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    #[inline]
    async fn handle_message(&mut self, msg: A::Msg) -> Option<State> {
        let events = &self.cell.system.events;
        let timing = events.timing_enabled().then(tokio::time::Instant::now);
        let Some(actor) = self.actor.as_mut() else {
            return Some(State::Finishing(Box::new(ExitReason::Normal)));
        };
        let ctx = &mut self.ctx;
        let outcome = guarded(|| actor.handle(msg, ctx)).await;
        if let Some(start) = timing {
            let id = self.cell.id;
            events.publish_with(|| LifecycleEvent::MessageHandled {
                id,
                elapsed: start.elapsed(),
            });
        }
        if let Some(failure) = self.outcome_to_failure(FailurePhase::Message, outcome) {
            self.cell
                .dead_letter(DeadLetterReason::HandlerFailed(failure.clone()));
            return Some(State::Parked(Box::new(ChildEnd::Failed(failure))));
        }
        if self.ctx.stop_requested {
            return Some(self.after_stop(ExitReason::Normal, true));
        }
        None
    }

    async fn deliver_terminated(&mut self, t: Terminated) -> Option<State> {
        let Some(actor) = self.actor.as_mut() else {
            self.cold().deferred.push(t);
            return None;
        };
        let ctx = &mut self.ctx;
        let outcome = guarded(|| actor.on_terminated(t, ctx)).await;
        if let Some(failure) = self.outcome_to_failure(FailurePhase::Signal, outcome) {
            return Some(State::Parked(Box::new(ChildEnd::Failed(failure))));
        }
        if self.ctx.stop_requested {
            return Some(self.after_stop(ExitReason::Normal, true));
        }
        None
    }

    /// The instance has ended: report to the supervisor (if any) and wait for its word.
    async fn park(&mut self, end: ChildEnd) -> State {
        if let ChildEnd::Failed(f) = &end {
            tracing::debug!(target: "palisade::actor", "{f}");
            self.cell
                .system
                .events
                .publish_with(|| LifecycleEvent::Failed(f.clone()));
        }
        let exit = match &end {
            ChildEnd::Failed(f) => ExitReason::Failed(f.clone()),
            ChildEnd::Exited(reason) => reason.clone(),
        };
        let Some(hook) = self.cell.hook.clone() else {
            return State::Finishing(Box::new(exit));
        };
        let report = ChildReport {
            child: crate::cell::ActorHandle(Arc::clone(&self.cell)),
            incarnation: self.cell.incarnation.load(Ordering::Acquire),
            end,
        };
        if hook.child_ended(report).is_err() {
            return State::Finishing(Box::new(exit));
        }
        loop {
            let Some(signal) = self.next_signal().await else {
                continue;
            };
            match signal {
                Signal::Resume => {
                    if self.started {
                        self.ctx.stop_requested = false;
                        return State::Running;
                    }
                    // An instance that never started cannot resume; keep waiting.
                }
                Signal::Halt { reason, ack } => {
                    self.halt_instance(&reason).await;
                    if let Some(ack) = ack {
                        let _ = ack.send(());
                    }
                    return State::Halted;
                }
                Signal::Stop { .. } => return State::Finishing(Box::new(exit)),
                Signal::Start { .. } => {}
                Signal::Terminated(t) => self.cold().deferred.push(t),
            }
        }
    }

    /// Halted: the old instance is gone; wait for `Start` (after its delay) or `Stop`.
    async fn wait_halted(&mut self) -> State {
        loop {
            let Some(signal) = self.next_signal().await else {
                continue;
            };
            match signal {
                Signal::Start { delay, ack } => {
                    if !delay.is_zero() && self.sleep_unless_stopped(delay).await {
                        return State::Finishing(Box::new(ExitReason::Stopped));
                    }
                    self.cold().start_ack = ack;
                    return State::Starting(Some(self.pending_restart_reason()));
                }
                Signal::Stop { .. } => return State::Finishing(Box::new(ExitReason::Stopped)),
                Signal::Halt { ack, .. } => {
                    if let Some(ack) = ack {
                        let _ = ack.send(());
                    }
                }
                Signal::Resume => {}
                Signal::Terminated(t) => self.cold().deferred.push(t),
            }
        }
    }

    fn pending_restart_reason(&mut self) -> Box<RestartReason> {
        let reason = self.cold().last_restart_reason.take();
        Box::new(reason.unwrap_or(RestartReason::Exited(ExitReason::Stopped)))
    }

    /// Sleeps for a restart delay; returns true if a stop arrived meanwhile.
    async fn sleep_unless_stopped(&mut self, delay: Duration) -> bool {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            while let Some(signal) = self.cell.pop_signal() {
                match signal {
                    Signal::Stop { .. } => return true,
                    Signal::Terminated(t) => self.cold().deferred.push(t),
                    Signal::Halt { ack, .. } => {
                        if let Some(ack) = ack {
                            let _ = ack.send(());
                        }
                    }
                    Signal::Resume | Signal::Start { .. } => {}
                }
            }
            tokio::select! {
                () = &mut sleep => return false,
                () = std::future::poll_fn(|cx| self.poll_signal(cx)) => {}
            }
        }
    }

    async fn next_signal(&mut self) -> Option<Signal> {
        if let Some(s) = self.cell.pop_signal() {
            return Some(s);
        }
        std::future::poll_fn(|cx| self.poll_signal(cx)).await;
        self.cell.pop_signal()
    }

    /// The graceful end: children and `post_stop`, then the mailbox, then the books.
    async fn finish(&mut self, reason: ExitReason) {
        self.stop_instance().await;
        self.drain_mailbox();
        self.finalize(reason);
    }

    /// Closes the mailbox and dead-letters what it holds. Closing and taking happen under
    /// the mailbox lock, so a send either landed before (and is taken here) or fails
    /// after (and the sender dead-letters it): none is lost.
    fn drain_mailbox(&mut self) {
        self.rx.close();
        for msg in self.rx.take_all() {
            drop(msg);
            self.cell.dead_letter(DeadLetterReason::StoppedWithQueue);
        }
    }

    /// Ends the current instance for a restart: `pre_restart`, children, `post_stop`.
    async fn halt_instance(&mut self, reason: &RestartReason) {
        self.cold().last_restart_reason = Some(reason.clone());
        if self.started {
            if let Some(actor) = self.actor.as_mut() {
                let ctx = &mut self.ctx;
                if let Err(panic) = guarded(|| actor.pre_restart(reason, ctx)).await {
                    tracing::warn!(target: "palisade::actor", path = %self.cell.path,
                        "pre_restart panicked: {panic}");
                }
            }
        }
        self.stop_instance().await;
    }

    /// Stops the children (reverse start order) and runs `post_stop` once.
    async fn stop_instance(&mut self) {
        for child in self.cell.take_children(false).iter().rev() {
            child.shutdown(child.shutdown_policy()).await;
        }
        if std::mem::take(&mut self.started) {
            if let Some(actor) = self.actor.as_mut() {
                let ctx = &mut self.ctx;
                if let Err(panic) = guarded(|| actor.post_stop(ctx)).await {
                    tracing::warn!(target: "palisade::actor", path = %self.cell.path,
                        "post_stop panicked: {panic}");
                }
            }
        }
        self.actor = None;
    }
}

impl<A: Actor, F> Runner<A, F> {
    /// The end for good: dead-letter the queue, leave the registry and the parent, tell
    /// watchers and the supervisor. Synchronous so that it also runs on abort (Drop).
    fn finalize(&mut self, reason: ExitReason) {
        if std::mem::replace(&mut self.finalized, true) {
            return;
        }
        let cell = &self.cell;
        let orphans = cell.take_children(true);
        for child in orphans {
            child.kill();
        }
        // Graceful ends have drained the mailbox already; after a kill, this does.
        self.rx.close();
        for msg in self.rx.take_all() {
            drop(msg);
            cell.dead_letter(DeadLetterReason::StoppedWithQueue);
        }
        cell.system.unregister(&cell.path, cell.id);
        match &cell.parent {
            Parent::Root => lock(&cell.system.roots).remove(cell.id),
            Parent::Actor(weak) => {
                if let Some(parent) = weak.upgrade() {
                    parent.forget_child(cell.id);
                }
            }
        }
        let handle = crate::cell::ActorHandle(Arc::clone(cell));
        if let (Some(hook), ExitReason::Killed) = (&cell.hook, &reason) {
            hook.child_killed(&handle);
        }
        cell.notify_terminated(Terminated {
            id: cell.id,
            path: cell.path.clone(),
            reason: reason.clone(),
        });
        let (id, path) = (cell.id, &cell.path);
        cell.system.events.publish_with(|| LifecycleEvent::Stopped {
            id,
            path: path.clone(),
            reason,
        });
        cell.mark_done();
    }
}

impl<A: Actor, F> Drop for Runner<A, F> {
    fn drop(&mut self) {
        if self.finalized {
            return;
        }
        // Aborted (kill, deadline) or unwinding: children go down with us (finalize kills
        // them).
        self.finalize(ExitReason::Killed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::Context;
    use crate::error::ActorResult;
    use crate::mailbox::{MailboxConfig, mailbox};
    use crate::system::ActorSystem;

    struct Counter(u64);

    impl Actor for Counter {
        type Msg = u64;
        async fn handle(&mut self, n: u64, _ctx: &mut Context<Self>) -> ActorResult {
            self.0 += n;
            Ok(())
        }
    }

    /// Every actor is one task: its future must stay small (cold paths are boxed). The
    /// idle-memory benchmark measures the whole cost; this guards the largest part.
    #[tokio::test]
    async fn the_actor_task_stays_small() {
        let system = ActorSystem::new("t");
        let actor = system.spawn("a", || Counter(0)).expect("spawn");
        let (_tx, rx) = mailbox::<u64>(MailboxConfig::default());
        let ctx = Context::<Counter>::new(actor.clone());
        let runner = Runner::new(
            actor.cell().clone(),
            (|| Counter(0)) as fn() -> Counter,
            rx,
            ctx,
        );
        let task = runner.run();
        assert!(
            std::mem::size_of_val(&task) <= 320,
            "{} bytes",
            std::mem::size_of_val(&task)
        );
    }
}
