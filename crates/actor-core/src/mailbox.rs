//! Mailboxes: bounded (with an overflow policy) or unbounded queues of user messages.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

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

/// One mailbox: a queue behind a mutex, shared by the actor's refs (senders) and its
/// task (the receiver).
///
/// Why not `tokio::sync::mpsc`: its channel allocates a 32-slot block up front (512
/// bytes for a 16-byte message, per idle actor), its bounded form takes a lock on every
/// receive to give the permit back, and it wakes through an atomic waker on every send.
/// Here the queue allocates when the first message arrives, a send is one uncontended
/// lock, and the receiver is woken only when it is actually waiting.
struct Shared<M> {
    queue: Mutex<Queue<M>>,
    /// Maximum queued messages (`usize::MAX` when unbounded).
    capacity: usize,
    policy: OverflowPolicy,
}

struct Queue<M> {
    items: VecDeque<M>,
    closed: bool,
    /// The actor's task, registered when it found the queue empty.
    receiver: Option<Waker>,
    receiver_waiting: bool,
    /// Senders waiting for room (`OverflowPolicy::Wait`), oldest first.
    senders: VecDeque<(u64, Waker)>,
    next_sender: u64,
}

/// The sending side, held by every `ActorRef`. Cheap to clone (one reference count).
pub(crate) struct MailboxTx<M>(Arc<Shared<M>>);

/// The receiving side, owned by the actor's task.
pub(crate) struct MailboxRx<M>(Arc<Shared<M>>);

impl<M> Clone for MailboxTx<M> {
    fn clone(&self) -> Self {
        MailboxTx(Arc::clone(&self.0))
    }
}

/// Why `try_send` did not enqueue.
pub(crate) enum TrySendError<M> {
    Closed(M),
    Full(M),
}

pub(crate) fn mailbox<M>(config: MailboxConfig) -> (MailboxTx<M>, MailboxRx<M>) {
    let (capacity, policy) = match config {
        MailboxConfig::Bounded { capacity, overflow } => (capacity.max(1), overflow),
        MailboxConfig::Unbounded => (usize::MAX, OverflowPolicy::Wait),
    };
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue {
            items: VecDeque::new(),
            closed: false,
            receiver: None,
            receiver_waiting: false,
            senders: VecDeque::new(),
            next_sender: 0,
        }),
        capacity,
        policy,
    });
    (MailboxTx(Arc::clone(&shared)), MailboxRx(shared))
}

impl<M> Shared<M> {
    fn lock(&self) -> MutexGuard<'_, Queue<M>> {
        crate::cell::lock(&self.queue)
    }
}

impl<M> Queue<M> {
    /// Enqueues and wakes the receiver if it waits. The caller checked room and `closed`.
    #[inline]
    fn push(&mut self, msg: M) {
        self.items.push_back(msg);
        if self.receiver_waiting {
            self.receiver_waiting = false;
            if let Some(w) = &self.receiver {
                w.wake_by_ref();
            }
        }
    }

    /// Wakes the oldest sender waiting for room, if any.
    fn wake_one_sender(&mut self) {
        if let Some((_, w)) = self.senders.pop_front() {
            w.wake();
        }
    }
}

impl<M> MailboxTx<M> {
    /// The overflow policy of a bounded mailbox; `None` when unbounded.
    #[inline]
    pub(crate) fn policy(&self) -> Option<OverflowPolicy> {
        (self.0.capacity != usize::MAX).then_some(self.0.policy)
    }

    /// Enqueues if there is room now.
    #[inline]
    pub(crate) fn try_send(&self, msg: M) -> Result<(), TrySendError<M>> {
        let mut q = self.0.lock();
        if q.closed {
            return Err(TrySendError::Closed(msg));
        }
        if q.items.len() >= self.0.capacity {
            return Err(TrySendError::Full(msg));
        }
        q.push(msg);
        Ok(())
    }

    /// Enqueues, waiting for room (backpressure). `Err(msg)` when the mailbox closed.
    pub(crate) fn send(&self, msg: M) -> SendWait<'_, M> {
        SendWait {
            shared: &self.0,
            msg: Some(msg),
            waiter: None,
        }
    }
}

/// A send waiting for room. Dropped while waiting, it leaves the queue of waiters (and
/// hands a wake-up it received on to the next waiter).
pub(crate) struct SendWait<'a, M> {
    shared: &'a Shared<M>,
    msg: Option<M>,
    waiter: Option<u64>,
}

// The message is moved out, never pinned in place.
impl<M> Unpin for SendWait<'_, M> {}

impl<M> Future for SendWait<'_, M> {
    type Output = Result<(), M>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let Some(msg) = this.msg.take() else {
            return Poll::Ready(Ok(())); // polled after completion
        };
        let mut q = this.shared.lock();
        if q.closed {
            return Poll::Ready(Err(msg));
        }
        if q.items.len() < this.shared.capacity {
            if let Some(id) = this.waiter.take() {
                q.senders.retain(|(w, _)| *w != id);
            }
            q.push(msg);
            return Poll::Ready(Ok(()));
        }
        this.msg = Some(msg);
        match this.waiter {
            Some(id) => match q.senders.iter_mut().find(|(w, _)| *w == id) {
                Some(entry) => entry.1.clone_from(cx.waker()),
                // Woken but beaten to the slot: wait again, at the back.
                None => q.senders.push_back((id, cx.waker().clone())),
            },
            None => {
                let id = q.next_sender;
                q.next_sender += 1;
                q.senders.push_back((id, cx.waker().clone()));
                this.waiter = Some(id);
            }
        }
        Poll::Pending
    }
}

impl<M> Drop for SendWait<'_, M> {
    fn drop(&mut self) {
        let (Some(id), Some(_)) = (self.waiter, &self.msg) else {
            return;
        };
        let mut q = self.shared.lock();
        let before = q.senders.len();
        q.senders.retain(|(w, _)| *w != id);
        if q.senders.len() == before && q.items.len() < self.shared.capacity {
            // We had been woken for a free slot and will not use it: pass it on.
            q.wake_one_sender();
        }
    }
}

impl<M> MailboxRx<M> {
    /// The next message; when empty, registers the task's waker and returns `Pending`
    /// (`Ready(None)` once closed and empty).
    #[inline]
    pub(crate) fn poll_recv(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Option<M>> {
        let mut q = self.0.lock();
        if let Some(msg) = q.items.pop_front() {
            if !q.senders.is_empty() {
                q.wake_one_sender();
            }
            return Poll::Ready(Some(msg));
        }
        if q.closed {
            return Poll::Ready(None);
        }
        if !q.receiver.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            q.receiver = Some(cx.waker().clone());
        }
        q.receiver_waiting = true;
        Poll::Pending
    }

    /// Refuses further sends (they fail, and their messages go to dead letters) and
    /// wakes every waiting sender so that it sees the close.
    pub(crate) fn close(&mut self) {
        let mut q = self.0.lock();
        q.closed = true;
        for (_, w) in q.senders.drain(..) {
            w.wake();
        }
    }

    /// Takes every queued message (after `close`, nothing can arrive later).
    pub(crate) fn take_all(&mut self) -> VecDeque<M> {
        std::mem::take(&mut self.0.lock().items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;

    fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
        let waker = Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        Pin::new(f).poll(&mut cx)
    }

    #[test]
    fn an_idle_mailbox_allocates_nothing() {
        let (tx, rx) = mailbox::<u64>(MailboxConfig::default());
        assert_eq!(rx.0.lock().items.capacity(), 0);
        drop(tx);
    }

    #[test]
    fn a_cancelled_waiting_sender_passes_its_wakeup_on() {
        let (tx, mut rx) = mailbox::<u32>(MailboxConfig::bounded(1, OverflowPolicy::Wait));
        assert!(tx.try_send(0).is_ok());
        let mut a = tx.send(1);
        let mut b = tx.send(2);
        assert!(poll_once(&mut a).is_pending());
        assert!(poll_once(&mut b).is_pending());
        // The receiver frees the slot and wakes the oldest waiter, `a`, which gives up.
        let waker = Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        assert!(matches!(rx.poll_recv(&mut cx), Poll::Ready(Some(0))));
        assert_eq!(
            rx.0.lock().senders.len(),
            1,
            "a was woken and left the queue"
        );
        drop(a);
        assert!(rx.0.lock().senders.is_empty(), "its wake-up went to b");
        assert!(matches!(poll_once(&mut b), Poll::Ready(Ok(()))));
        assert!(matches!(rx.poll_recv(&mut cx), Poll::Ready(Some(2))));
    }

    #[test]
    fn closing_fails_waiting_senders_with_their_message() {
        let (tx, mut rx) = mailbox::<u32>(MailboxConfig::bounded(1, OverflowPolicy::Wait));
        assert!(tx.try_send(0).is_ok());
        let mut waiting = tx.send(7);
        assert!(poll_once(&mut waiting).is_pending());
        rx.close();
        assert!(matches!(poll_once(&mut waiting), Poll::Ready(Err(7))));
        assert!(matches!(tx.try_send(8), Err(TrySendError::Closed(8))));
        assert_eq!(rx.take_all(), [0]);
    }

    #[tokio::test]
    async fn a_waiting_receiver_is_woken_by_a_send() {
        let (tx, mut rx) = mailbox::<u32>(MailboxConfig::unbounded());
        let receiver = tokio::spawn(async move { poll_fn(|cx| rx.poll_recv(cx)).await });
        tokio::task::yield_now().await;
        assert!(tx.try_send(5).is_ok());
        assert_eq!(receiver.await.ok().flatten(), Some(5));
    }
}
