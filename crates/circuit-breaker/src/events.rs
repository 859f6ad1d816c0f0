//! Breaker events: listeners (the origin design's `state_change_listeners`) and channel
//! subscribers. Nothing is built or sent while nobody listens.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use tokio::sync::broadcast;

use crate::breaker::Inner;
use crate::state::CircuitState;

/// What happened.
#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    /// The state changed.
    ///
    /// Published after the change, by the thread that made it: two changes made by
    /// different threads in quick succession may reach listeners in either order;
    /// `generation` (one more per change) orders them.
    StateTransition {
        /// Before.
        from: CircuitState,
        /// After.
        to: CircuitState,
        /// The breaker's state generation after the change.
        generation: u64,
    },
    /// A call succeeded.
    Success {
        /// How long it took (zero when slow-call detection is off).
        elapsed: Duration,
    },
    /// A call failed and was recorded as a failure.
    Error {
        /// How long it took (zero when slow-call detection is off).
        elapsed: Duration,
    },
    /// A call failed with an error the breaker ignores.
    IgnoredError,
    /// A call was refused.
    NotPermitted,
    /// A call took at least `slow_call_duration` (reported besides Success/Error).
    SlowCall {
        /// How long it took.
        elapsed: Duration,
    },
    /// The breaker was reset by hand.
    Reset,
}

/// One breaker event with its time on the breaker's clock.
#[derive(Clone, Debug, PartialEq)]
pub struct CircuitBreakerEvent {
    /// The breaker's name.
    pub breaker: Arc<str>,
    /// When, on the breaker's clock (time since its origin).
    pub at: Duration,
    /// What.
    pub kind: EventKind,
}

type Listener = Arc<dyn Fn(&CircuitBreakerEvent) + Send + Sync>;

pub(crate) struct Events {
    listeners: RwLock<Vec<Listener>>,
    tx: broadcast::Sender<CircuitBreakerEvent>,
    /// Listeners plus live channel subscriptions.
    audience: AtomicUsize,
}

impl Events {
    pub(crate) fn new() -> Self {
        let (tx, _) = broadcast::channel(1024);
        Events {
            listeners: RwLock::new(Vec::new()),
            tx,
            audience: AtomicUsize::new(0),
        }
    }

    #[inline]
    pub(crate) fn wanted(&self) -> bool {
        self.audience.load(Ordering::Relaxed) != 0
    }

    pub(crate) fn publish(&self, event: CircuitBreakerEvent) {
        let listeners = self.listeners.read().map(|l| l.clone()).unwrap_or_default();
        for l in &listeners {
            l(&event);
        }
        if self.tx.receiver_count() > 0 {
            let _ = self.tx.send(event);
        }
    }

    pub(crate) fn add_listener(&self, listener: Listener) {
        if let Ok(mut l) = self.listeners.write() {
            l.push(listener);
            self.audience.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A subscription; `owner` is the breaker, told when the subscription ends.
    pub(crate) fn subscribe(&self, owner: Weak<Inner>) -> EventSubscription {
        self.audience.fetch_add(1, Ordering::Relaxed);
        EventSubscription {
            rx: self.tx.subscribe(),
            owner,
        }
    }

    fn unsubscribe(&self) {
        self.audience.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A channel subscription to a breaker's events. Best effort: a subscriber more than 1024
/// events behind misses the oldest and is told how many.
pub struct EventSubscription {
    rx: broadcast::Receiver<CircuitBreakerEvent>,
    owner: Weak<Inner>,
}

impl EventSubscription {
    /// The next event; `Err(n)` when `n` events were missed, `Ok(None)` when the breaker
    /// is gone.
    pub async fn recv(&mut self) -> Result<Option<CircuitBreakerEvent>, u64> {
        match self.rx.recv().await {
            Ok(e) => Ok(Some(e)),
            Err(broadcast::error::RecvError::Lagged(n)) => Err(n),
            Err(broadcast::error::RecvError::Closed) => Ok(None),
        }
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<CircuitBreakerEvent> {
        loop {
            match self.rx.try_recv() {
                Ok(e) => return Some(e),
                Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
                Err(_) => return None,
            }
        }
    }
}

impl Drop for EventSubscription {
    fn drop(&mut self) {
        if let Some(inner) = self.owner.upgrade() {
            inner.events().unsubscribe();
        }
    }
}
