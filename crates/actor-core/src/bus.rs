//! A broadcast bus that costs one relaxed atomic load per publish when nobody listens.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::broadcast;

/// How many events a slow subscriber may fall behind before it misses some.
pub(crate) const BUS_CAPACITY: usize = 4096;

pub(crate) struct Bus<T> {
    tx: broadcast::Sender<T>,
    subscribers: Arc<AtomicUsize>,
}

impl<T: Clone> Bus<T> {
    pub(crate) fn new() -> Self {
        let (tx, _) = broadcast::channel(BUS_CAPACITY);
        Bus {
            tx,
            subscribers: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// True when at least one subscription is alive; callers skip building the event
    /// when false.
    #[inline]
    pub(crate) fn has_subscribers(&self) -> bool {
        self.subscribers.load(Ordering::Relaxed) != 0
    }

    pub(crate) fn publish(&self, event: T) {
        if self.has_subscribers() {
            // An error only means the last subscriber left meanwhile.
            let _ = self.tx.send(event);
        }
    }

    pub(crate) fn subscribe(&self) -> Subscription<T> {
        self.subscribers.fetch_add(1, Ordering::Relaxed);
        Subscription {
            rx: self.tx.subscribe(),
            subscribers: Arc::clone(&self.subscribers),
        }
    }
}

/// A live subscription to a bus (dead letters or lifecycle events).
///
/// Delivery is best effort for observers: a subscriber more than 4096 events behind
/// misses the oldest ones and is told how many (`RecvError::Lagged`). Counters that must
/// be exact (such as `ActorSystem::dead_letter_count`) do not depend on subscribers.
pub struct Subscription<T> {
    rx: broadcast::Receiver<T>,
    subscribers: Arc<AtomicUsize>,
}

/// Why a subscription yielded no event.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvError {
    /// The subscriber fell behind and this many events were skipped.
    #[error("subscriber lagged; {0} events were skipped")]
    Lagged(u64),
    /// The system was dropped; no more events will come.
    #[error("the bus is closed")]
    Closed,
}

impl<T: Clone> Subscription<T> {
    /// Waits for the next event.
    ///
    /// # Errors
    /// `Lagged(n)` when `n` events were skipped (the next call resumes with the oldest
    /// kept one); `Closed` when the system is gone.
    pub async fn recv(&mut self) -> Result<T, RecvError> {
        self.rx.recv().await.map_err(|e| match e {
            broadcast::error::RecvError::Lagged(n) => RecvError::Lagged(n),
            broadcast::error::RecvError::Closed => RecvError::Closed,
        })
    }

    /// Returns the next event if one is ready, without waiting.
    pub fn try_recv(&mut self) -> Option<Result<T, RecvError>> {
        match self.rx.try_recv() {
            Ok(v) => Some(Ok(v)),
            Err(broadcast::error::TryRecvError::Empty) => None,
            Err(broadcast::error::TryRecvError::Lagged(n)) => Some(Err(RecvError::Lagged(n))),
            Err(broadcast::error::TryRecvError::Closed) => Some(Err(RecvError::Closed)),
        }
    }
}

impl<T> Drop for Subscription<T> {
    fn drop(&mut self) {
        self.subscribers.fetch_sub(1, Ordering::Relaxed);
    }
}
