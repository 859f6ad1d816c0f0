//! Errors of the supervision layer.

use palisade_actor_core::{AskError, Failure, SpawnError};

/// What can go wrong configuring or talking to a supervisor.
#[derive(thiserror::Error, Debug, Clone)]
pub enum SupervisionError {
    /// A setting is out of range; the message names it.
    #[error("invalid supervision config: {0}")]
    InvalidConfig(&'static str),
    /// Two children share a name.
    #[error("a child named {0:?} already exists")]
    DuplicateChild(String),
    /// No child by that name.
    #[error("no child named {0:?}")]
    ChildNotFound(String),
    /// Spawning a child or the supervisor failed.
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    /// The supervisor did not answer (it has stopped).
    #[error("supervisor unavailable: {0}")]
    Unavailable(#[from] AskError),
}

/// The failure a supervisor reports when it gives up and escalates to its own
/// supervisor. Parents' deciders can downcast to it.
#[derive(thiserror::Error, Debug, Clone)]
#[error("supervisor {supervisor} escalated: {reason}")]
pub struct Escalation {
    /// The supervisor's path.
    pub supervisor: String,
    /// Why it gave up.
    pub reason: String,
    /// The child failure that triggered it, if any.
    pub cause: Option<Failure>,
}
