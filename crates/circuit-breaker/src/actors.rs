//! Breakers in front of actors (feature `actors`): an ask through a breaker fails fast
//! while the actor is known to be failing, instead of queueing behind a sick mailbox.

use std::time::Duration;

use palisade_actor_core::{ActorRef, AskError, ReplyTo};

use crate::breaker::CircuitBreaker;
use crate::error::ResilienceError;

/// An `ActorRef` whose asks go through a circuit breaker. Cheap to clone.
///
/// Every ask is bounded by `timeout`; `AskError`s (timeout, stopped actor, full mailbox,
/// no reply) are failures for the breaker, classified by its predicates like any error.
#[derive(Clone, Debug)]
pub struct GuardedRef<M> {
    actor: ActorRef<M>,
    breaker: CircuitBreaker,
    timeout: Duration,
}

impl<M: Send + 'static> GuardedRef<M> {
    /// Guards `actor` with `breaker`, each ask bounded by `timeout`.
    pub fn new(actor: ActorRef<M>, breaker: CircuitBreaker, timeout: Duration) -> Self {
        GuardedRef {
            actor,
            breaker,
            timeout,
        }
    }

    /// The guarded actor.
    pub fn actor(&self) -> &ActorRef<M> {
        &self.actor
    }

    /// The breaker.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// Asks through the breaker.
    ///
    /// # Errors
    /// `CircuitBreakerOpen` at once (the message is not sent) while the breaker refuses;
    /// `Inner(AskError)` when the ask itself fails.
    pub async fn ask<R>(
        &self,
        make: impl FnOnce(ReplyTo<R>) -> M,
    ) -> Result<R, ResilienceError<AskError>> {
        self.breaker
            .call(|| self.actor.ask_timeout(make, self.timeout))
            .await
    }
}
