//! The lifecycle event bus that higher layers (supervision stats, observability) read.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::bus::{Bus, Subscription};
use crate::failure::{ExitReason, Failure, RestartReason};
use crate::id::{ActorId, ActorPath};

/// Something that happened to an actor.
#[derive(Clone, Debug)]
pub enum LifecycleEvent {
    /// An instance finished `pre_start` (and `post_restart` after a restart).
    Started {
        /// The actor.
        id: ActorId,
        /// Its path.
        path: ActorPath,
        /// 1 for the first instance, +1 for each restart.
        incarnation: u64,
    },
    /// An instance failed.
    Failed(Failure),
    /// A new instance replaced the old one.
    Restarted {
        /// The actor.
        id: ActorId,
        /// Its path.
        path: ActorPath,
        /// The new instance's incarnation.
        incarnation: u64,
        /// Why it was restarted.
        reason: RestartReason,
    },
    /// The actor ended for good.
    Stopped {
        /// The actor.
        id: ActorId,
        /// Its path.
        path: ActorPath,
        /// Why.
        reason: ExitReason,
    },
    /// One message was handled (only while timing is switched on).
    MessageHandled {
        /// The actor.
        id: ActorId,
        /// Time spent in `handle`.
        elapsed: Duration,
    },
}

pub(crate) struct EventBus {
    bus: Bus<LifecycleEvent>,
    timing: AtomicBool,
}

impl EventBus {
    pub(crate) fn new() -> Self {
        EventBus {
            bus: Bus::new(),
            timing: AtomicBool::new(false),
        }
    }

    #[inline]
    pub(crate) fn publish_with(&self, event: impl FnOnce() -> LifecycleEvent) {
        if self.bus.has_subscribers() {
            self.bus.publish(event());
        }
    }

    #[inline]
    pub(crate) fn timing_enabled(&self) -> bool {
        self.timing.load(Ordering::Relaxed) && self.bus.has_subscribers()
    }

    pub(crate) fn set_timing(&self, on: bool) {
        self.timing.store(on, Ordering::Relaxed);
    }

    pub(crate) fn subscribe(&self) -> Subscription<LifecycleEvent> {
        self.bus.subscribe()
    }
}
