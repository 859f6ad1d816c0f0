//! Mailboxes: bounded (with an overflow policy) or unbounded queues of user messages.

use tokio::sync::mpsc;

/// What a bounded mailbox does when a message arrives and it is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OverflowPolicy {
    /// `tell` waits for room (backpressure); `try_tell` returns `MailboxFull`.
    #[default]
    Wait,
    /// `tell` and `try_tell` return `MailboxFull` with the message.
    Reject,
    /// The message goes to dead letters (`DeadLetterReason::MailboxFull`) and the
    /// sender gets `SendError::Dropped`.
    DropToDeadLetters,
}

/// The shape of an actor's user-message queue.
///
/// The default is bounded at 1024 with backpressure: an actor that falls behind slows its
/// senders instead of growing without limit. System signals (stop, supervision, watch)
/// travel on a separate unbounded lane and never count against the capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MailboxConfig {
    /// At most `capacity` queued messages.
    Bounded {
        /// Maximum queued messages (at least 1).
        capacity: usize,
        /// What happens when full.
        overflow: OverflowPolicy,
    },
    /// No limit: memory is the limit.
    Unbounded,
}

impl Default for MailboxConfig {
    fn default() -> Self {
        MailboxConfig::Bounded {
            capacity: 1024,
            overflow: OverflowPolicy::Wait,
        }
    }
}

impl MailboxConfig {
    /// A bounded mailbox of `capacity` with the given policy.
    pub fn bounded(capacity: usize, overflow: OverflowPolicy) -> Self {
        MailboxConfig::Bounded { capacity, overflow }
    }

    /// An unbounded mailbox.
    pub fn unbounded() -> Self {
        MailboxConfig::Unbounded
    }
}

pub(crate) enum MailboxTx<M> {
    Bounded(mpsc::Sender<M>, OverflowPolicy),
    Unbounded(mpsc::UnboundedSender<M>),
}

impl<M> Clone for MailboxTx<M> {
    fn clone(&self) -> Self {
        match self {
            MailboxTx::Bounded(tx, policy) => MailboxTx::Bounded(tx.clone(), *policy),
            MailboxTx::Unbounded(tx) => MailboxTx::Unbounded(tx.clone()),
        }
    }
}

pub(crate) enum MailboxRx<M> {
    Bounded(mpsc::Receiver<M>),
    Unbounded(mpsc::UnboundedReceiver<M>),
}

pub(crate) fn mailbox<M>(config: MailboxConfig) -> (MailboxTx<M>, MailboxRx<M>) {
    match config {
        MailboxConfig::Bounded { capacity, overflow } => {
            let (tx, rx) = mpsc::channel(capacity.max(1));
            (MailboxTx::Bounded(tx, overflow), MailboxRx::Bounded(rx))
        }
        MailboxConfig::Unbounded => {
            let (tx, rx) = mpsc::unbounded_channel();
            (MailboxTx::Unbounded(tx), MailboxRx::Unbounded(rx))
        }
    }
}

impl<M> MailboxRx<M> {
    /// Polls for the next message; registers the task's waker with the channel when
    /// empty. Counts against tokio's cooperative budget like `recv`.
    #[inline]
    pub(crate) fn poll_recv(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<M>> {
        match self {
            MailboxRx::Bounded(rx) => rx.poll_recv(cx),
            MailboxRx::Unbounded(rx) => rx.poll_recv(cx),
        }
    }

    pub(crate) async fn recv(&mut self) -> Option<M> {
        match self {
            MailboxRx::Bounded(rx) => rx.recv().await,
            MailboxRx::Unbounded(rx) => rx.recv().await,
        }
    }

    #[inline]
    pub(crate) fn try_recv(&mut self) -> Result<M, mpsc::error::TryRecvError> {
        match self {
            MailboxRx::Bounded(rx) => rx.try_recv(),
            MailboxRx::Unbounded(rx) => rx.try_recv(),
        }
    }

    pub(crate) fn close(&mut self) {
        match self {
            MailboxRx::Bounded(rx) => rx.close(),
            MailboxRx::Unbounded(rx) => rx.close(),
        }
    }
}
