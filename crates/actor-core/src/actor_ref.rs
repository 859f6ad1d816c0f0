//! `ActorRef<M>`: the typed address of an actor, and request/response with `ReplyTo`.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::cell::{ActorHandle, Cell};
use crate::dead_letters::DeadLetterReason;
use crate::error::{AskError, SendError};
use crate::id::{ActorId, ActorPath};
use crate::mailbox::{MailboxTx, OverflowPolicy, TrySendError};

/// The typed address of an actor taking messages of type `M`.
///
/// Cheap to clone (one reference count), `Send + Sync`, compared and hashed by actor id,
/// printed as `path#id`. It stays valid across restarts: it addresses the actor, not one
/// instance, and messages queued before a restart are handled by the next instance.
pub struct ActorRef<M> {
    cell: Arc<Cell>,
    tx: MailboxTx<M>,
}

impl<M> Clone for ActorRef<M> {
    fn clone(&self) -> Self {
        ActorRef {
            cell: Arc::clone(&self.cell),
            tx: self.tx.clone(),
        }
    }
}

impl<M: Send + 'static> ActorRef<M> {
    pub(crate) fn new(cell: Arc<Cell>, tx: MailboxTx<M>) -> Self {
        ActorRef { cell, tx }
    }

    pub(crate) fn cell(&self) -> &Arc<Cell> {
        &self.cell
    }

    /// The actor's id.
    pub fn id(&self) -> ActorId {
        self.cell.id
    }

    /// The actor's path.
    pub fn path(&self) -> &ActorPath {
        &self.cell.path
    }

    /// The untyped handle (watch, stop, supervise).
    pub fn handle(&self) -> ActorHandle {
        ActorHandle(Arc::clone(&self.cell))
    }

    /// True until the actor has ended for good.
    pub fn is_alive(&self) -> bool {
        !self.cell.is_done()
    }

    /// Asks the actor to stop; see `ActorHandle::stop`.
    pub fn stop(&self) {
        self.handle().stop();
    }

    /// Sends `msg` without waiting for it to be handled. Messages from one sender arrive
    /// in the order sent.
    ///
    /// With a bounded mailbox under `OverflowPolicy::Wait` this waits for room; under
    /// `Reject` or `DropToDeadLetters` it never waits. Cost: one channel send, no
    /// allocation beyond the channel's own block reuse, no lock.
    ///
    /// # Errors
    /// `ActorStopped` (message dead-lettered), `MailboxFull` (message handed back), or
    /// `Dropped` (message dead-lettered by the drop policy).
    #[inline]
    pub async fn tell(&self, msg: M) -> Result<(), SendError<M>> {
        match self.tx.policy() {
            Some(OverflowPolicy::Wait) => match self.tx.send(msg).await {
                Ok(()) => Ok(()),
                Err(msg) => Err(self.stopped(msg)),
            },
            _ => self.try_tell(msg),
        }
    }

    /// Sends `msg` if it can be enqueued now; never waits.
    ///
    /// # Errors
    /// As `tell`; a full mailbox under `Wait` returns `MailboxFull` with the message.
    #[inline]
    pub fn try_tell(&self, msg: M) -> Result<(), SendError<M>> {
        match self.tx.try_send(msg) {
            Ok(()) => Ok(()),
            Err(TrySendError::Closed(msg)) => Err(self.stopped(msg)),
            Err(TrySendError::Full(msg)) => {
                Err(self.full(msg, self.tx.policy().unwrap_or(OverflowPolicy::Wait)))
            }
        }
    }

    /// Sends a request built around a fresh reply port and waits for the answer.
    ///
    /// ```ignore
    /// let total = counter.ask(|reply| CounterMsg::Get(reply)).await?;
    /// ```
    ///
    /// # Errors
    /// `ActorStopped` if the actor had stopped (the request went to dead letters) or
    /// stopped before replying, `MailboxFull` if a rejecting mailbox is full, `NoReply`
    /// if the handler dropped the port without answering.
    pub async fn ask<R>(&self, make: impl FnOnce(ReplyTo<R>) -> M) -> Result<R, AskError> {
        let (tx, rx) = oneshot::channel();
        self.tell(make(ReplyTo(tx)))
            .await
            .map_err(|e| self.ask_send_error(e))?;
        rx.await.map_err(|_| self.no_reply())
    }

    /// `ask` with a deadline covering both enqueueing and the reply.
    ///
    /// # Errors
    /// As `ask`, plus `Timeout` when no reply came within `timeout`.
    pub async fn ask_timeout<R>(
        &self,
        make: impl FnOnce(ReplyTo<R>) -> M,
        timeout: Duration,
    ) -> Result<R, AskError> {
        match tokio::time::timeout(timeout, self.ask(make)).await {
            Ok(result) => result,
            Err(_) => Err(AskError::Timeout {
                path: self.path().clone(),
                timeout,
            }),
        }
    }

    #[cold]
    fn stopped(&self, msg: M) -> SendError<M> {
        self.dead_letter(msg, DeadLetterReason::ActorStopped);
        SendError::ActorStopped {
            path: self.path().clone(),
        }
    }

    #[cold]
    fn full(&self, msg: M, policy: OverflowPolicy) -> SendError<M> {
        match policy {
            OverflowPolicy::DropToDeadLetters => {
                self.dead_letter(msg, DeadLetterReason::MailboxFull);
                SendError::Dropped {
                    path: self.path().clone(),
                }
            }
            OverflowPolicy::Wait | OverflowPolicy::Reject => SendError::MailboxFull {
                path: self.path().clone(),
                message: msg,
            },
        }
    }

    fn dead_letter(&self, msg: M, reason: DeadLetterReason) {
        drop(msg);
        self.cell.dead_letter(reason);
    }

    fn ask_send_error(&self, e: SendError<M>) -> AskError {
        let path = self.path().clone();
        match e {
            SendError::MailboxFull { .. } => AskError::MailboxFull { path },
            SendError::ActorStopped { .. } | SendError::Dropped { .. } => {
                AskError::ActorStopped { path }
            }
        }
    }

    fn no_reply(&self) -> AskError {
        let path = self.path().clone();
        if self.is_alive() {
            AskError::NoReply { path }
        } else {
            AskError::ActorStopped { path }
        }
    }
}

impl<M> PartialEq for ActorRef<M> {
    fn eq(&self, other: &Self) -> bool {
        self.cell.id == other.cell.id
    }
}

impl<M> Eq for ActorRef<M> {}

impl<M> Hash for ActorRef<M> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.cell.id.hash(state);
    }
}

impl<M> fmt::Debug for ActorRef<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ActorRef({}{})", self.cell.path, self.cell.id)
    }
}

impl<M> fmt::Display for ActorRef<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.cell.path, self.cell.id)
    }
}

/// The reply port of an `ask`: put it in a message variant and call `send` once.
/// Dropping it unanswered makes the asker's call fail with `NoReply`.
pub struct ReplyTo<R>(oneshot::Sender<R>);

impl<R> ReplyTo<R> {
    /// Answers the request. Returns the value back if the asker has given up (timed out
    /// or dropped its future).
    pub fn send(self, value: R) -> Result<(), R> {
        self.0.send(value)
    }

    /// True when the asker has given up; a handler may skip expensive work.
    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}

impl<R> fmt::Debug for ReplyTo<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReplyTo")
    }
}
