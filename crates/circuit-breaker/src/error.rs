//! Errors of the resilience primitives, in the origin design's `FailureType` vocabulary.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::state::CircuitState;

/// What kind of failure an error is (the origin design's `FailureType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum FailureType {
    /// The call did not finish in time.
    Timeout,
    /// The call itself failed.
    Error,
    /// The call was refused without running (open breaker).
    Rejection,
    /// No capacity: bulkhead full, retry budget spent.
    ResourceExhausted,
    /// An anomaly detector flagged the call (cascade prevention).
    AnomalyDetected,
    /// Replicas disagreed (cascade prevention).
    ConsensusFailure,
}

/// Why a protected call did not produce a value. `E` is the call's own error type.
#[derive(Debug, Clone, PartialEq)]
pub enum ResilienceError<E> {
    /// The breaker refused the call without running it.
    CircuitBreakerOpen {
        /// The breaker's name.
        name: Arc<str>,
        /// Its state when it refused.
        state: CircuitState,
        /// How long until it lets a trial call through, when known (`None` while forced
        /// open, or while half-open trials are out).
        retry_after: Option<Duration>,
    },
    /// The call exceeded its time limit and was cancelled.
    Timeout(Duration),
    /// The bulkhead had no free slot within its maximum wait.
    BulkheadFull {
        /// The bulkhead's name.
        name: Arc<str>,
        /// Its limit.
        max_concurrent: usize,
    },
    /// The retry budget (retries as a share of recent calls) refused the next retry; the
    /// error of the last attempt is attached.
    RetryBudgetExhausted {
        /// Attempts made.
        attempts: u32,
        /// The error of the last attempt.
        last_error: Box<ResilienceError<E>>,
    },
    /// Every attempt failed; the last error is attached.
    RetriesExhausted {
        /// Attempts made (the first call plus retries).
        attempts: u32,
        /// The error of the last attempt.
        last_error: Box<ResilienceError<E>>,
    },
    /// The protected call's own error.
    Inner(E),
}

impl<E: fmt::Display> fmt::Display for ResilienceError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResilienceError::CircuitBreakerOpen {
                name,
                state,
                retry_after,
            } => match retry_after {
                Some(after) => write!(
                    f,
                    "circuit breaker {name} is {state:?}; retry after {after:?}"
                ),
                None => write!(f, "circuit breaker {name} is {state:?}"),
            },
            ResilienceError::Timeout(d) => write!(f, "timed out after {d:?}"),
            ResilienceError::BulkheadFull {
                name,
                max_concurrent,
            } => {
                write!(
                    f,
                    "bulkhead {name} is full ({max_concurrent} concurrent calls)"
                )
            }
            ResilienceError::RetryBudgetExhausted {
                attempts,
                last_error,
            } => {
                write!(
                    f,
                    "retry budget exhausted after {attempts} attempts: {last_error}"
                )
            }
            ResilienceError::RetriesExhausted {
                attempts,
                last_error,
            } => {
                write!(
                    f,
                    "retries exhausted after {attempts} attempts: {last_error}"
                )
            }
            ResilienceError::Inner(e) => e.fmt(f),
        }
    }
}

impl<E: StdError + 'static> StdError for ResilienceError<E> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            ResilienceError::Inner(e) => Some(e),
            ResilienceError::RetriesExhausted { last_error, .. }
            | ResilienceError::RetryBudgetExhausted { last_error, .. } => Some(&**last_error),
            _ => None,
        }
    }
}

impl<E> ResilienceError<E> {
    /// The origin design's failure type of this error.
    pub fn failure_type(&self) -> FailureType {
        match self {
            ResilienceError::CircuitBreakerOpen { .. } => FailureType::Rejection,
            ResilienceError::Timeout(_) => FailureType::Timeout,
            ResilienceError::BulkheadFull { .. } | ResilienceError::RetryBudgetExhausted { .. } => {
                FailureType::ResourceExhausted
            }
            ResilienceError::RetriesExhausted { last_error, .. } => last_error.failure_type(),
            ResilienceError::Inner(_) => FailureType::Error,
        }
    }

    /// The call's own error, if that is what this is (looking through retries).
    pub fn inner(&self) -> Option<&E> {
        match self {
            ResilienceError::Inner(e) => Some(e),
            ResilienceError::RetriesExhausted { last_error, .. }
            | ResilienceError::RetryBudgetExhausted { last_error, .. } => last_error.inner(),
            _ => None,
        }
    }

    /// True when the call never ran because a protection refused it (breaker open,
    /// bulkhead full).
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            ResilienceError::CircuitBreakerOpen { .. } | ResilienceError::BulkheadFull { .. }
        )
    }
}

/// A setting out of range, reported when a configuration is built.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[error("invalid {setting}: {reason}")]
pub struct ConfigError {
    /// The setting's name.
    pub setting: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl ConfigError {
    pub(crate) fn new(setting: &'static str, reason: &'static str) -> Self {
        ConfigError { setting, reason }
    }
}
