//! Errors of the actor core: sending, asking, spawning, looking up, and handler failures.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use crate::id::ActorPath;

/// Why a `tell` did not enqueue the message.
///
/// `ActorStopped` means the message went to dead letters; `MailboxFull` hands the message
/// back to the caller (the reject overflow policy) so nothing is lost silently.
#[derive(thiserror::Error)]
pub enum SendError<M> {
    /// The target has stopped; the message was published to dead letters.
    #[error("actor {path} has stopped; the message went to dead letters")]
    ActorStopped {
        /// The target's path.
        path: ActorPath,
    },
    /// The bounded mailbox is full and its policy is to reject; the message is returned.
    #[error("mailbox of {path} is full")]
    MailboxFull {
        /// The target's path.
        path: ActorPath,
        /// The message that was not enqueued.
        message: M,
    },
    /// The mailbox was full and its policy is to drop; the message went to dead letters.
    #[error("mailbox of {path} is full; the message went to dead letters")]
    Dropped {
        /// The target's path.
        path: ActorPath,
    },
}

impl<M> fmt::Debug for SendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::ActorStopped { path } => write!(f, "ActorStopped({path})"),
            SendError::MailboxFull { path, .. } => write!(f, "MailboxFull({path})"),
            SendError::Dropped { path } => write!(f, "Dropped({path})"),
        }
    }
}

impl<M> SendError<M> {
    /// The message, when the error hands it back (`MailboxFull`).
    pub fn into_message(self) -> Option<M> {
        match self {
            SendError::MailboxFull { message, .. } => Some(message),
            _ => None,
        }
    }
}

/// Why an `ask` produced no reply.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum AskError {
    /// The target had stopped before the request was enqueued (it went to dead letters),
    /// or stopped before replying.
    #[error("actor {path} stopped before replying")]
    ActorStopped {
        /// The target's path.
        path: ActorPath,
    },
    /// The target's bounded mailbox is full and rejects new messages.
    #[error("mailbox of {path} is full")]
    MailboxFull {
        /// The target's path.
        path: ActorPath,
    },
    /// No reply arrived within the timeout.
    #[error("no reply from {path} within {timeout:?}")]
    Timeout {
        /// The target's path.
        path: ActorPath,
        /// The timeout that elapsed.
        timeout: std::time::Duration,
    },
    /// The handler dropped the reply port without answering (it failed, or chose not to).
    #[error("actor {path} dropped the request without replying")]
    NoReply {
        /// The target's path.
        path: ActorPath,
    },
}

/// Why a spawn was refused.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum SpawnError {
    /// The name is not a valid path segment.
    #[error("invalid actor name {name:?}: {reason}")]
    InvalidName {
        /// The rejected name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Another live actor already has this path.
    #[error("an actor is already registered at {path}")]
    NameTaken {
        /// The contested path.
        path: ActorPath,
    },
    /// The parent has stopped, or the system is shutting down.
    #[error("cannot spawn under {parent}: it is stopping")]
    ParentStopping {
        /// The parent's path.
        parent: ActorPath,
    },
    /// No tokio runtime is running on this thread, and the system has none recorded.
    #[error("no tokio runtime: spawn actors from within a tokio runtime")]
    NoRuntime,
    /// A bounded mailbox needs a capacity of at least one.
    #[error("mailbox capacity must be at least 1")]
    ZeroCapacity,
}

/// Why a registry lookup failed.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum LookupError {
    /// No live actor at this path.
    #[error("no actor at {0}")]
    NotFound(String),
    /// An actor lives there, but its message type is not the one asked for.
    #[error("actor at {path} takes {actual}, not {requested}")]
    WrongMessageType {
        /// The looked-up path.
        path: String,
        /// The message type of the live actor.
        actual: &'static str,
        /// The message type the caller asked for.
        requested: &'static str,
    },
}

/// The error a handler or hook returns to say it failed.
///
/// Any `std::error::Error + Send + Sync` converts into it with `?`; `ActorError::msg`
/// builds one from text. A failure is reported to the actor's supervisor, or stops the
/// actor when it has none.
pub struct ActorError(Arc<dyn StdError + Send + Sync + 'static>);

impl ActorError {
    /// A failure described by `message`.
    pub fn msg(message: impl Into<String>) -> Self {
        ActorError(Arc::new(Message(message.into())))
    }

    /// The underlying error, for downcasting in a supervision decider.
    pub fn inner(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.0
    }

    pub(crate) fn into_shared(self) -> Arc<dyn StdError + Send + Sync + 'static> {
        self.0
    }
}

impl<E: StdError + Send + Sync + 'static> From<E> for ActorError {
    fn from(e: E) -> Self {
        ActorError(Arc::new(e))
    }
}

impl fmt::Debug for ActorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for ActorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[derive(Debug)]
struct Message(String);

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for Message {}

/// What a handler returns: `Ok(())`, or a failure for the supervisor.
pub type ActorResult = Result<(), ActorError>;
