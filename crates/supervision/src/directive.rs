//! What a supervisor does about a failure: `SupervisionDirective` and the decider that
//! picks one.

use std::fmt;
use std::sync::Arc;

use palisade_actor_core::Failure;

/// The supervisor's answer to a child's failure (the origin design's vocabulary).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SupervisionDirective {
    /// Keep the failed instance and its state; continue with the next message. Not
    /// counted against the restart intensity.
    Resume,
    /// Replace the instance (and, under `AllForOne`/`RestForOne`, its siblings) with a
    /// fresh one from the factory, after the backoff delay.
    Restart,
    /// Stop the child for good.
    Stop,
    /// Give up: stop every child and fail the supervisor itself, so that its own
    /// supervisor decides.
    Escalate,
}

/// Picks a directive for a failure. The default restarts on every failure.
///
/// Deciders see the whole `Failure`: whether it was a panic, the error (downcast it with
/// `failure.error().and_then(|e| e.downcast_ref::<MyError>())`), and where it happened.
#[derive(Clone)]
pub struct Decider(Arc<dyn Fn(&Failure) -> SupervisionDirective + Send + Sync>);

impl Decider {
    /// A decider from a function.
    pub fn new(f: impl Fn(&Failure) -> SupervisionDirective + Send + Sync + 'static) -> Self {
        Decider(Arc::new(f))
    }

    /// Always the same directive.
    pub fn always(directive: SupervisionDirective) -> Self {
        Decider::new(move |_| directive)
    }

    /// The directive for `failure`.
    pub fn decide(&self, failure: &Failure) -> SupervisionDirective {
        (self.0)(failure)
    }
}

impl Default for Decider {
    fn default() -> Self {
        Decider::always(SupervisionDirective::Restart)
    }
}

impl fmt::Debug for Decider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Decider(..)")
    }
}
