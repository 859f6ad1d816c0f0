//! Dead letters: every message that could not be delivered, with the reason.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::bus::{Bus, Subscription};
use crate::failure::Failure;
use crate::id::{ActorId, ActorPath};

/// Why a message became a dead letter.
#[derive(Clone, Debug)]
pub enum DeadLetterReason {
    /// The target had already stopped when the message was sent.
    ActorStopped,
    /// The target's bounded mailbox was full and its overflow policy drops.
    MailboxFull,
    /// The message was still queued when the target stopped for good.
    StoppedWithQueue,
    /// Handling this message failed (panic or error); the failure is attached.
    HandlerFailed(Failure),
}

/// A message that was not (or not successfully) handled.
///
/// The payload itself is dropped after publication; the record says what it was
/// (its type name), where it was going, and why it did not arrive.
#[derive(Clone, Debug)]
pub struct DeadLetter {
    /// The intended recipient.
    pub target: ActorId,
    /// The recipient's path.
    pub path: ActorPath,
    /// The message's Rust type name.
    pub message_type: &'static str,
    /// Why it was not delivered.
    pub reason: DeadLetterReason,
}

/// Collects dead letters: an exact counter plus a best-effort broadcast to subscribers.
pub(crate) struct DeadLetterOffice {
    count: AtomicU64,
    bus: Bus<DeadLetter>,
}

impl DeadLetterOffice {
    pub(crate) fn new() -> Self {
        DeadLetterOffice {
            count: AtomicU64::new(0),
            bus: Bus::new(),
        }
    }

    #[cold]
    pub(crate) fn publish(&self, letter: DeadLetter) {
        self.count.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(target: "palisade::dead_letters", path = %letter.path,
            message_type = letter.message_type, reason = ?letter.reason, "dead letter");
        self.bus.publish(letter);
    }

    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub(crate) fn subscribe(&self) -> Subscription<DeadLetter> {
        self.bus.subscribe()
    }
}
