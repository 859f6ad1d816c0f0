//! How actors end: failures, exit reasons, restart reasons and the `Terminated` signal.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use crate::id::{ActorId, ActorPath};

/// Where in an actor's life a failure happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailurePhase {
    /// In `pre_start` or `post_restart`: the instance never began handling messages.
    Start,
    /// In `handle` (a user message).
    Message,
    /// In `on_terminated` (a watch signal).
    Signal,
}

/// What went wrong.
#[derive(Clone)]
pub enum FailureKind {
    /// The code panicked; the panic payload's text.
    Panic(String),
    /// The code returned an error; downcast it with `error.downcast_ref::<T>()`.
    Error(Arc<dyn StdError + Send + Sync + 'static>),
}

impl fmt::Debug for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureKind::Panic(m) => write!(f, "Panic({m:?})"),
            FailureKind::Error(e) => write!(f, "Error({e})"),
        }
    }
}

/// A failure of one actor instance: who failed, where, and why.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The failed actor.
    pub actor: ActorId,
    /// Its path.
    pub path: ActorPath,
    /// Where it failed.
    pub phase: FailurePhase,
    /// What went wrong.
    pub kind: FailureKind,
}

impl Failure {
    /// True when the failure was a caught panic.
    pub fn is_panic(&self) -> bool {
        matches!(self.kind, FailureKind::Panic(_))
    }

    /// The error, when the failure was a returned error; for downcasting in deciders.
    pub fn error(&self) -> Option<&(dyn StdError + Send + Sync + 'static)> {
        match &self.kind {
            FailureKind::Error(e) => Some(&**e),
            _ => None,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = match self.phase {
            FailurePhase::Start => "starting",
            FailurePhase::Message => "handling a message",
            FailurePhase::Signal => "handling a signal",
        };
        match &self.kind {
            FailureKind::Panic(m) => {
                write!(f, "{} {} panicked {phase}: {m}", self.path, self.actor)
            }
            FailureKind::Error(e) => write!(f, "{} {} failed {phase}: {e}", self.path, self.actor),
        }
    }
}

/// Why an actor (or one instance of it) ended.
#[derive(Clone, Debug)]
pub enum ExitReason {
    /// The actor stopped itself with `Context::stop`.
    Normal,
    /// Someone else asked it to stop (`ActorRef::stop`, its parent, or system shutdown).
    Stopped,
    /// It failed, and nobody restarted it.
    Failed(Failure),
    /// Its task was aborted (brutal kill, or a shutdown deadline passed): `post_stop` did
    /// not run.
    Killed,
}

impl ExitReason {
    /// True for `Normal` and `Stopped`.
    pub fn is_graceful(&self) -> bool {
        matches!(self, ExitReason::Normal | ExitReason::Stopped)
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Normal => f.write_str("normal"),
            ExitReason::Stopped => f.write_str("stopped"),
            ExitReason::Failed(failure) => write!(f, "failed: {failure}"),
            ExitReason::Killed => f.write_str("killed"),
        }
    }
}

/// Why an instance is being replaced, passed to `pre_restart` and `post_restart`.
#[derive(Clone, Debug)]
pub enum RestartReason {
    /// This actor failed.
    Failed(Failure),
    /// This actor ended gracefully and its restart policy restarts it anyway.
    Exited(ExitReason),
    /// A sibling is being restarted and the supervisor's strategy (all-for-one or
    /// rest-for-one) restarts this actor with it.
    SiblingRestarted(ActorPath),
}

impl fmt::Display for RestartReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestartReason::Failed(failure) => write!(f, "{failure}"),
            RestartReason::Exited(exit) => write!(f, "exited ({exit})"),
            RestartReason::SiblingRestarted(path) => write!(f, "sibling {path} restarted"),
        }
    }
}

/// Delivered once to each watcher when a watched actor ends for good.
#[derive(Clone, Debug)]
pub struct Terminated {
    /// The actor that ended.
    pub id: ActorId,
    /// Its path.
    pub path: ActorPath,
    /// Why it ended.
    pub reason: ExitReason,
}

/// Turns a caught panic payload into text.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
