//! The task behind every actor: the message loop, failure capture, the restart protocol
//! and the orderly end. One runner serves every incarnation of an actor, so its mailbox
//! (and every `ActorRef` to it) outlives restarts.

use std::collections::VecDeque;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc::error::TryRecvError;

use crate::actor::{Actor, Context};
use crate::cell::{Cell, ChildEnd, ChildReport, Parent, Signal, lock};
use crate::dead_letters::{DeadLetter, DeadLetterReason};
use crate::error::ActorError;
use crate::events::LifecycleEvent;
use crate::failure::{
    ExitReason, Failure, FailureKind, FailurePhase, RestartReason, Terminated, panic_message,
};
use crate::mailbox::MailboxRx;
use crate::panic::catch_unwind_future;

enum State {
    Starting(Option<RestartReason>),
    Running,
    Parked(ChildEnd),
    Halted,
    Finishing(ExitReason),
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
    deferred: VecDeque<Terminated>,
    /// Why the current halt happened, handed to the next instance's `post_restart`.
    last_restart_reason: Option<RestartReason>,
    /// Told when the instance being started has finished starting.
    start_ack: Option<tokio::sync::oneshot::Sender<()>>,
    finalized: bool,
}

/// Runs `make()` and polls its future, turning a panic in either into `Err(text)`.
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
            deferred: VecDeque::new(),
            last_restart_reason: None,
            start_ack: None,
            finalized: false,
        }
    }

    pub(crate) async fn run(mut self) {
        let mut state = State::Starting(None);
        loop {
            state = match state {
                State::Starting(reason) => {
                    let next = self.start_instance(reason).await;
                    if let Some(ack) = self.start_ack.take() {
                        let _ = ack.send(());
                    }
                    next
                }
                State::Running => self.run_instance().await,
                State::Parked(end) => self.park(end).await,
                State::Halted => self.wait_halted().await,
                State::Finishing(reason) => {
                    self.stop_instance().await;
                    self.finalize(reason);
                    return;
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

    async fn start_instance(&mut self, reason: Option<RestartReason>) -> State {
        self.ctx.stop_requested = false;
        self.started = false;
        let factory = &mut self.factory;
        let actor = match catch_unwind(AssertUnwindSafe(factory)) {
            Ok(actor) => actor,
            Err(p) => {
                let kind = FailureKind::Panic(panic_message(&*p));
                return State::Parked(ChildEnd::Failed(self.failure(FailurePhase::Start, kind)));
            }
        };
        let incarnation = self.cell.incarnation.fetch_add(1, Ordering::AcqRel) + 1;
        let actor = self.actor.insert(actor);
        let ctx = &mut self.ctx;
        let mut outcome = guarded(|| actor.pre_start(ctx)).await;
        if let (Ok(Ok(())), Some(reason)) = (&outcome, &reason) {
            outcome = guarded(|| actor.post_restart(reason, ctx)).await;
        }
        if let Some(f) = self.outcome_to_failure(FailurePhase::Start, outcome) {
            return State::Parked(ChildEnd::Failed(f));
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
                reason,
            },
        });
        for t in self.deferred.drain(..) {
            self.cell.push_signal(Signal::Terminated(t));
        }
        State::Running
    }

    /// The state after the current instance stops, honouring supervision.
    fn after_stop(&self, exit: ExitReason, consult_parent: bool) -> State {
        if consult_parent && self.cell.hook.is_some() {
            State::Parked(ChildEnd::Exited(exit))
        } else {
            State::Finishing(exit)
        }
    }

    async fn run_instance(&mut self) -> State {
        loop {
            while self.cell.has_signal() {
                let Some(signal) = self.cell.pop_signal() else {
                    break;
                };
                match signal {
                    Signal::Stop { consult_parent } => {
                        return self.after_stop(ExitReason::Stopped, consult_parent);
                    }
                    Signal::Halt { reason, ack } => {
                        self.halt_instance(&reason).await;
                        if let Some(ack) = ack {
                            let _ = ack.send(());
                        }
                        return State::Halted;
                    }
                    Signal::Resume | Signal::Start { .. } => {}
                    Signal::Terminated(t) => {
                        if let Some(state) = self.deliver_terminated(t).await {
                            return state;
                        }
                    }
                }
            }

            let msg = match self.rx.try_recv() {
                Ok(msg) => msg,
                Err(TryRecvError::Empty) => {
                    tokio::select! {
                        biased;
                        () = self.cell.wake.notified() => continue,
                        msg = self.rx.recv() => match msg {
                            Some(msg) => msg,
                            None => return State::Finishing(ExitReason::Normal),
                        },
                    }
                }
                // Unreachable while the context holds a sender; end cleanly regardless.
                Err(TryRecvError::Disconnected) => return State::Finishing(ExitReason::Normal),
            };
            // Cooperative scheduling: a busy actor yields after its task budget, like any
            // tokio channel consumer.
            tokio::task::consume_budget().await;
            if let Some(state) = self.handle_message(msg).await {
                return state;
            }
        }
    }

    #[inline]
    async fn handle_message(&mut self, msg: A::Msg) -> Option<State> {
        let events = &self.cell.system.events;
        let timing = events.timing_enabled().then(tokio::time::Instant::now);
        let Some(actor) = self.actor.as_mut() else {
            return Some(State::Finishing(ExitReason::Normal));
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
            self.cell.system.dead_letters.publish(DeadLetter {
                target: self.cell.id,
                path: self.cell.path.clone(),
                message_type: self.cell.message_type,
                reason: DeadLetterReason::HandlerFailed(failure.clone()),
            });
            return Some(State::Parked(ChildEnd::Failed(failure)));
        }
        if self.ctx.stop_requested {
            return Some(self.after_stop(ExitReason::Normal, true));
        }
        None
    }

    async fn deliver_terminated(&mut self, t: Terminated) -> Option<State> {
        let Some(actor) = self.actor.as_mut() else {
            self.deferred.push_back(t);
            return None;
        };
        let ctx = &mut self.ctx;
        let outcome = guarded(|| actor.on_terminated(t, ctx)).await;
        if let Some(failure) = self.outcome_to_failure(FailurePhase::Signal, outcome) {
            return Some(State::Parked(ChildEnd::Failed(failure)));
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
            return State::Finishing(exit);
        };
        let report = ChildReport {
            child: crate::cell::ActorHandle(Arc::clone(&self.cell)),
            incarnation: self.cell.incarnation.load(Ordering::Acquire),
            end,
        };
        if hook.child_ended(report).is_err() {
            return State::Finishing(exit);
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
                Signal::Stop { .. } => return State::Finishing(exit),
                Signal::Start { .. } => {}
                Signal::Terminated(t) => self.deferred.push_back(t),
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
                        return State::Finishing(ExitReason::Stopped);
                    }
                    self.start_ack = ack;
                    return State::Starting(Some(self.pending_restart_reason()));
                }
                Signal::Stop { .. } => return State::Finishing(ExitReason::Stopped),
                Signal::Halt { ack, .. } => {
                    if let Some(ack) = ack {
                        let _ = ack.send(());
                    }
                }
                Signal::Resume => {}
                Signal::Terminated(t) => self.deferred.push_back(t),
            }
        }
    }

    fn pending_restart_reason(&mut self) -> RestartReason {
        self.last_restart_reason
            .take()
            .unwrap_or(RestartReason::Exited(ExitReason::Stopped))
    }

    /// Sleeps for a restart delay; returns true if a stop arrived meanwhile.
    async fn sleep_unless_stopped(&mut self, delay: Duration) -> bool {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            while let Some(signal) = self.cell.pop_signal() {
                match signal {
                    Signal::Stop { .. } => return true,
                    Signal::Terminated(t) => self.deferred.push_back(t),
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
                () = self.cell.wake.notified() => {}
            }
        }
    }

    async fn next_signal(&mut self) -> Option<Signal> {
        if let Some(s) = self.cell.pop_signal() {
            return Some(s);
        }
        self.cell.wake.notified().await;
        self.cell.pop_signal()
    }

    /// Ends the current instance for a restart: `pre_restart`, children, `post_stop`.
    async fn halt_instance(&mut self, reason: &RestartReason) {
        self.last_restart_reason = Some(reason.clone());
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
        let children = std::mem::take(&mut lock(&self.cell.children).list);
        for child in children.iter().rev() {
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
        lock(&cell.children).closed = true;
        self.rx.close();
        while let Ok(msg) = self.rx.try_recv() {
            drop(msg);
            cell.system.dead_letters.publish(DeadLetter {
                target: cell.id,
                path: cell.path.clone(),
                message_type: cell.message_type,
                reason: DeadLetterReason::StoppedWithQueue,
            });
        }
        cell.system.unregister(&cell.path, cell.id);
        match &cell.parent {
            Parent::Root => lock(&cell.system.roots).list.retain(|h| h.id() != cell.id),
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
        // Aborted (kill, deadline) or unwinding: children go down with us.
        let children = std::mem::take(&mut lock(&self.cell.children).list);
        for child in &children {
            child.kill();
        }
        self.finalize(ExitReason::Killed);
    }
}
